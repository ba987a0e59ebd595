"""Who a token speaks for, now: a deleted user's token stops acting, roles
are read from the user's record (with a bounded staleness), the auditor asks
the API through token introspection, and a token handed out is recorded.
Also the e-mail uniqueness rule: case-insensitive and nothing else folded."""
import unicodedata

from harness import Stack, error_of, run, unique


def create_user(s, token, email, name="Principal test"):
    return s.api("POST", "/api/users", token=token, body={
        "data": {"type": "users", "attributes": {"name": name, "email": email}}})


def test_email_unique_by_case_only():
    """Pairs that differ only in case collide; pairs that differ in
    anything else (accents, ß/ss, emoji, compatibility forms, dotless i,
    composed/decomposed, invisible characters) are distinct addresses."""
    tag = unique("")
    collide = [("Ann.{}@x.io", "ann.{}@x.io"),
               ("ÉVE.{}@x.io", "éve.{}@x.io"),
               ("STRASSE.{}@x.io", "strasse.{}@x.io"),
               ("ẞ.{}@x.io", "ß.{}@x.io"),            # capital sharp s is the case pair of ß
               ("ΣΟΦΙΑ.{}@x.io", "σοφια.{}@x.io")]
    distinct = [("jose.x.{}@example.com", "josé.x.{}@example.com"),
                ("strasse.x.{}@example.com", "straße.x.{}@example.com"),
                ("\U0001F600.{}@example.com", "\U0001F603.{}@example.com"),
                ("\U0001F436.{}@example.com", "\U0001F431.{}@example.com"),
                ("fi.{}@example.com", "\ufb01.{}@example.com"),                # ligature
                ("a.{}@example.com", "\uff41.{}@example.com"),                 # fullwidth
                ("ilkay.{}@example.com", "\u0131lkay.{}@example.com"),         # dotless i
                ("IDRIS.{}@example.com", "\u0130DRIS.{}@example.com"),         # dotted capital I
                ("ab.{}@example.com", "a\u00adb.{}@example.com"),              # soft hyphen
                ("%1.{}@example.com", "\u0131.{}@example.com")]                # the key's escape
    with Stack(daemons=("api",)) as s:
        tok = s.token(1)
        for a, b in distinct:
            a, b = a.format(tag), b.format(tag)
            for email in (a, b):
                status, _, doc = create_user(s, tok, email)
                assert status == 201, (a, b, email, status, doc)
                assert doc["data"]["attributes"]["email"] == email, doc  # stored as sent
        for a, b in collide:
            a, b = a.format(tag), b.format(tag)
            status, _, doc = create_user(s, tok, a)
            assert status == 201, (a, status, doc)
            status, _, doc = create_user(s, tok, b)
            assert status == 409, (a, b, status, doc)
            assert "email" in error_of(doc)["detail"], doc
        # Canonically equivalent forms are different strings too: nothing is
        # normalised.
        nfc = unicodedata.normalize("NFC", f"rené.{tag}@example.com")
        nfd = unicodedata.normalize("NFD", nfc)
        assert nfc != nfd
        for email in (nfc, nfd):
            status, _, doc = create_user(s, tok, email)
            assert status == 201, (email, status, doc)

        # A PATCH follows the same rule: another user's address in other
        # case is taken; one's own in other case is fine.
        status, _, doc = create_user(s, tok, f"patch.{tag}@x.io")
        assert status == 201, doc
        uid = doc["data"]["id"]
        for email, want in ((f"ANN.{tag}@X.IO", 409), (f"PATCH.{tag}@X.IO", 200),
                            (f"josé.x.{tag}@EXAMPLE.com", 409), (f"jośe.x.{tag}@x.io", 200)):
            status, _, doc = s.api("PATCH", f"/api/users/{uid}", token=tok, body={
                "data": {"type": "users", "id": uid, "attributes": {"email": email}}})
            assert status == want, (email, status, doc)


if __name__ == "__main__":
    run([test_email_unique_by_case_only])
