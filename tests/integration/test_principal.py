"""Who a token speaks for, now: a deleted user's token stops acting, roles
are read from the user's record (with a bounded staleness), the auditor asks
the API through token introspection, and a token handed out is recorded.
Also the e-mail uniqueness rule: case-insensitive and nothing else folded."""
import json
import os
import time
import unicodedata
import urllib.parse

from harness import JSONAPI, Stack, error_of, http, run, unique, wait_for
from test_hostile import jwt, sql_as

TTL = 1.0  # AUDITLOG_PRINCIPAL_TTL_MS's default, in seconds
SLACK = 1.5  # a lookup's own time on a busy machine under the sanitizers
API_DB = os.environ.get("AUDITLOG_API_DB", "audit-logging-api")
API_USER = (os.environ.get("AUDITLOG_MYSQL_USER", "dev"),
            os.environ.get("AUDITLOG_MYSQL_PASSWORD", "dev"))


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


def set_roles(uid, roles):
    """Changes a user's roles in the database, as its administrator does:
    elsewhere, not through this process."""
    ok, err = sql_as(*API_USER, API_DB, f"UPDATE users SET roles = '{roles}' WHERE id = {int(uid)}")
    assert ok, err


def expect_invalid_token(result, uid):
    status, hdrs, doc = result
    assert status == 401, (status, doc)
    assert 'error="invalid_token"' in hdrs.get("www-authenticate", ""), hdrs
    assert hdrs.get("content-type") == JSONAPI, hdrs
    e = error_of(doc)
    assert e["status"] == "401" and "no longer exists" in e["detail"] and uid in e["detail"], e


def introspect(s, token, content_type="application/x-www-form-urlencoded"):
    status, hdrs, body = http("POST", s.url("api", "/tokens/introspect"),
                              "token=" + urllib.parse.quote(token, safe=""),
                              {"Content-Type": content_type})
    return status, hdrs, json.loads(body) if body else None


def test_deleted_users_token_stops_acting():
    with Stack(daemons=("api", "auditor")) as s:
        admin = s.token(1)
        uid = s.new_user(admin, "gone")
        tok = s.token(uid)
        mine = f"/data-events?filter[target]=users:{uid}"
        assert s.api("GET", f"/api/users/{uid}", token=tok)[0] == 200
        assert s.auditor("GET", mine, token=tok)[0] == 200  # the auditor has it cached
        assert s.api("DELETE", f"/api/users/{uid}", token=admin)[0] == 204

        # The API deleted it: at once, for every route.
        t_deleted = time.monotonic()
        expect_invalid_token(s.api("GET", "/api/users/1", token=tok), uid)
        email = unique("ghost") + "@example.com"
        expect_invalid_token(create_user(s, tok, email), uid)
        expect_invalid_token(s.api("GET", f"/logs/for/users/{uid}", token=tok), uid)
        expect_invalid_token(s.api("GET", f"/logs/by/users/{uid}", token=tok), uid)
        status, _, doc = create_user(s, admin, email)  # the refused POST made nothing
        assert status == 201, doc

        # The auditor learns it from the API within the staleness bound.
        def refused():
            status, _, _ = s.auditor("GET", mine, token=tok)
            return status == 401
        wait_for(refused, timeout=TTL + SLACK, interval=0.05, what="the auditor to refuse")
        assert time.monotonic() - t_deleted <= TTL + SLACK
        expect_invalid_token(s.auditor("GET", mine, token=tok), uid)
        expect_invalid_token(s.auditor("GET", f"/api/users/{uid}/data-events", token=tok), uid)
        # A token for an id that never existed is refused alike. (Issued a
        # minute ago: for the first second after "iat" the auditor takes a
        # token's word, as it takes a cached answer's.)
        now = int(time.time())
        never = jwt({"alg": "RS256", "typ": "JWT"},
                    {"id": 4000000000, "iss": "localhost", "iat": now - 60, "exp": now + 600,
                     "roles": ["auditor"]})
        expect_invalid_token(s.api("GET", "/api/users/1", token=never), "4000000000")
        expect_invalid_token(s.auditor("GET", "/data-events?filter[actor]=users:1",
                                       token=never), "4000000000")
        # An "iat" ahead of the clock (within the leeway) earns no trust: it
        # would stretch the window the auditor takes the token's word.
        ahead = jwt({"alg": "RS256", "typ": "JWT"},
                    {"id": 4000000000, "iss": "localhost", "iat": now + 20, "exp": now + 600,
                     "roles": ["auditor"]})
        expect_invalid_token(s.auditor("GET", "/data-events?filter[actor]=users:1",
                                       token=ahead), "4000000000")
        assert s.api("GET", "/api/users/1", token=admin)[0] == 200


def test_deleted_elsewhere_logs_says_401():
    """A user deleted in the database, not through this API: /logs answers
    200 until the bound, then 401 invalid_token, and never a 503 between
    (the proxy looks the user up again before it forwards)."""
    with Stack(daemons=("api", "auditor")) as s:
        admin = s.token(1)
        uid = s.new_user(admin, "gone2")
        tok = s.token(uid)
        path = f"/logs/by/users/{uid}"
        assert s.api("GET", path, token=tok)[0] == 200
        ok, err = sql_as(*API_USER, API_DB, f"DELETE FROM users WHERE id = {int(uid)}")
        assert ok, err
        seen = []
        deadline = time.monotonic() + TTL + SLACK
        while time.monotonic() < deadline:
            status, _, doc = s.api("GET", path, token=tok)
            seen.append(status)
            if status == 401:
                break
            time.sleep(0.02)
        assert seen[-1] == 401 and set(seen) <= {200, 401}, seen
        expect_invalid_token(s.api("GET", path, token=tok), uid)


def test_roles_are_read_now():
    """An auditor whose role is removed in the database stops reading
    others' events with its older token, within the bound, on the API's
    proxy and on the auditor; and a role granted later works without a new
    token."""
    others = [("api", "/logs/by/users/1"), ("api", "/logs/for/users/1"),
              ("auditor", "/data-events?filter[actor]=users:1"),
              ("auditor", "/api/users/1/data-events")]
    with Stack(daemons=("api", "auditor")) as s:
        admin = s.token(1)
        uid = s.new_user(admin, "aud")
        set_roles(uid, "auditor")
        tok = s.token(uid)
        for daemon, path in others:
            status, _, doc = s.request(daemon, "GET", path, token=tok)
            assert status == 200, (daemon, path, status, doc)

        set_roles(uid, "reader")
        t_changed = time.monotonic()
        for daemon, path in others:
            def forbidden():
                return s.request(daemon, "GET", path, token=tok)[0] == 403
            wait_for(forbidden, timeout=TTL + SLACK, interval=0.05,
                     what=f"{daemon} {path} to refuse the former auditor")
        assert time.monotonic() - t_changed <= TTL + SLACK
        for daemon, path in others:
            status, hdrs, doc = s.request(daemon, "GET", path, token=tok)
            assert status == 403 and error_of(doc)["status"] == "403", (daemon, path, doc)
        # Its own events it still reads.
        assert s.api("GET", f"/logs/for/users/{uid}", token=tok)[0] == 200

        # Items are read without the white space around them.
        set_roles(uid, "reader, auditor ")
        for daemon, path in others:
            def allowed():
                return s.request(daemon, "GET", path, token=tok)[0] == 200
            wait_for(allowed, timeout=TTL + SLACK, interval=0.05,
                     what=f"{daemon} {path} to admit the new auditor")
        set_roles(uid, "")


def test_introspection():
    with Stack(daemons=("api", "auditor")) as s:
        admin = s.token(1)
        claims = json.loads(__import__("base64").urlsafe_b64decode(admin.split(".")[1] + "=="))
        status, hdrs, doc = introspect(s, admin)
        assert status == 200, (status, doc)
        assert hdrs["content-type"] == "application/json" and hdrs["cache-control"] == "no-store"
        assert doc["active"] is True and doc["sub"] == "1", doc
        assert doc["scope"].split(" ") == ["auditor"], doc
        assert doc["exp"] == claims["exp"] and doc["iss"] == claims["iss"], doc
        assert doc["token_type"] == "Bearer", doc

        uid = s.new_user(admin, "intro")
        set_roles(uid, "reader,auditor")
        tok = s.token(uid)
        status, _, doc = introspect(s, tok)
        assert doc["active"] is True and doc["sub"] == uid and doc["scope"] == "reader auditor"
        set_roles(uid, "")  # read from the database, not from the token or a cache
        assert introspect(s, tok)[2] == {"active": True, "sub": uid, "scope": "",
                                         "exp": doc["exp"], "iss": doc["iss"],
                                         "token_type": "Bearer"}
        assert s.api("DELETE", f"/api/users/{uid}", token=admin)[0] == 204
        assert introspect(s, tok)[2] == {"active": False}

        # Not tokens, or not ours: inactive, and nothing else said.
        now = int(time.time())
        for bad in ("garbage", admin[:-4] + "AAAA", admin + "x",
                    jwt({"alg": "RS256", "typ": "JWT"}, {"id": 1, "iss": "localhost",
                                                         "exp": now - 3600}),
                    jwt({"alg": "RS256", "typ": "JWT"}, {"id": 1, "iss": "evil",
                                                         "exp": now + 600})):
            status, _, doc = introspect(s, bad)
            assert status == 200 and doc == {"active": False}, (bad, status, doc)
        # Extra parameters (token_type_hint) are allowed; a form without a
        # token, a bad body or another media type is the client's error.
        status, _, doc = http("POST", s.url("api", "/tokens/introspect"),
                              f"token={admin}&token_type_hint=access_token",
                              {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 200 and json.loads(doc)["active"] is True, (status, doc)
        for body, ctype, want in (("", "application/x-www-form-urlencoded", 400),
                                  ("token=", "application/x-www-form-urlencoded", 400),
                                  ("token=a&token=b", "application/x-www-form-urlencoded", 400),
                                  ("token=%zz", "application/x-www-form-urlencoded", 400),
                                  (f"token={admin}", JSONAPI, 415),
                                  (f"token={admin}", "text/plain", 415)):
            status, hdrs, raw = http("POST", s.url("api", "/tokens/introspect"), body,
                                     {"Content-Type": ctype})
            assert status == want, (body, ctype, status, raw)
            assert hdrs["content-type"] == JSONAPI and error_of(json.loads(raw)), raw
        # Anyone may call it, so it holds little: 32 KiB, not the 1 MiB of
        # the authenticated routes.
        status, _, raw = http("POST", s.url("api", "/tokens/introspect"),
                              "token=" + "a" * 40000,
                              {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 413 and error_of(json.loads(raw))["status"] == "413", (status, raw)


def test_auditor_without_the_api():
    """The auditor cannot tell whether a token's user exists while the API
    is away: 503, not 401 (the token may be fine), once its cached answer
    is older than the bound; a cached answer is used until then."""
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        # A token issued less than the ttl ago is trusted as its issuer saw
        # the user (introspect.c): nothing is looked up, nothing cached. Its
        # iat is in whole seconds, so it may turn old between two requests
        # (the test failed so, at random): let it turn old first.
        time.sleep(TTL + 1.0)
        path = "/data-events?filter[actor]=users:1&page[size]=1"
        t_cached = time.monotonic()  # the cached answer is at most this old
        assert s.auditor("GET", path, token=tok)[0] == 200
        s.stop("api")
        status, _, doc = s.auditor("GET", path, token=tok)
        if time.monotonic() - t_cached < TTL * 0.8:
            assert status == 200, (status, doc)
        time.sleep(TTL)
        status, hdrs, doc = s.auditor("GET", path, token=tok)
        assert status == 503, (status, doc)
        assert error_of(doc)["status"] == "503" and "www-authenticate" not in hdrs, (hdrs, doc)
        s.start("api")
        wait_for(lambda: s.auditor("GET", path, token=tok)[0] == 200, timeout=10,
                 what="the auditor to serve again")


def test_logs_with_one_http_worker():
    """The API forwards /logs to the auditor from one of its workers; the
    auditor must not need to ask the API back about the token (with one
    worker, none would be free to answer: 503 after the auditor's wait)."""
    with Stack(daemons=("api", "auditor"), extra_env={"AUDITLOG_HTTP_THREADS": "1"}) as s:
        admin = s.token(1)
        uid = s.new_user(admin, "one")
        tok = s.token(uid)
        time.sleep(TTL)  # no token is fresh any more: the auditor would have to ask
        for token, path in ((tok, f"/logs/for/users/{uid}"), (admin, "/logs/by/users/1"),
                            (tok, f"/logs/by/users/{uid}")):
            t0 = time.monotonic()
            status, _, doc = s.api("GET", path + "?page[size]=1", token=token)
            assert status == 200, (path, status, doc)
            assert time.monotonic() - t0 < 1.9, (path, time.monotonic() - t0)  # not 2 s, then 503
        # Directly, the auditor asks the API, whose one worker is free.
        status, _, doc = s.auditor("GET", f"/data-events?filter[target]=users:{uid}", token=tok)
        assert status == 200, (status, doc)
        # The API forwards the roles it knows now, not the token's.
        set_roles(uid, "auditor")
        wait_for(lambda: s.api("GET", "/logs/by/users/1", token=tok)[0] == 200,
                 timeout=TTL + SLACK, what="the proxy to read with the new role")
        set_roles(uid, "")


def test_token_issued_is_recorded():
    with Stack(daemons=("api", "auditor")) as s:
        admin = s.token(1)
        uid = s.new_user(admin, "issued")
        tok = s.token(uid)
        assert tok

        def issued(via, path, token):
            ev = [e for e in s.events(path, token, via=via)
                  if e["attributes"]["eventName"] == "token-issued"]
            return ev or None
        for via, path, token in (("api", f"/logs/for/users/{uid}", admin),
                                 ("api", f"/logs/for/users/{uid}", tok),
                                 ("api", f"/logs/by/users/{uid}", tok),
                                 ("auditor", f"/data-events?filter[target]=users:{uid}", admin)):
            ev = wait_for(lambda: issued(via, path, token), what=f"token-issued in {path}")
            assert len(ev) == 1, ev
            a = ev[0]["attributes"]
            assert a["action"] == "viewed", a
            assert (a["actorType"], a["actorId"]) == ("users", uid), a
            assert (a["targetType"], a["targetId"]) == ("users", uid), a
        # A second token, a second event; no token, no event.
        s.token(uid)
        assert s.api("GET", "/tokens/999999999")[0] == 404
        wait_for(lambda: len(issued("api", f"/logs/for/users/{uid}", admin) or []) == 2,
                 what="the second token-issued event")


if __name__ == "__main__":
    run([test_email_unique_by_case_only, test_deleted_users_token_stops_acting,
         test_deleted_elsewhere_logs_says_401,
         test_roles_are_read_now, test_introspection, test_auditor_without_the_api,
         test_logs_with_one_http_worker, test_token_issued_is_recorded])
