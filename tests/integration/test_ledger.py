"""The log of record through the auditor's endpoints: positions without
gaps, signed checkpoints, inclusion and consistency proofs checked here
with RFC 9162's own algorithms, /verify, and an exported bundle checked by
auditlog-verify (docs/ledger.md)."""
import base64
import email.utils
import hashlib
import json
import os
import re
import subprocess
import tempfile
import time

from harness import BIN, Stack, error_of, http, run, unique, wait_for


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def verify_inclusion(index, size, leaf, proof, root):
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, root1, root2, proof):
    """RFC 9162 section 2.1.4.2 (first > 0)."""
    if first == second:
        return not proof and root1 == root2
    if first & (first - 1) == 0:
        proof = [root1] + proof
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    if not proof:
        return False
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == root1 and sr == root2 and sn == 0


def parse_checkpoint(note):
    text = note.split("\n\n")[0]
    origin, size, root = text.split("\n")[:3]
    return origin, int(size), base64.b64decode(root)


def canonical_view(a, event_id):
    """The leaf of an event without changes (all ASCII here): RFC 8785 of
    its members, keys sorted."""
    leaf = {"action": a["action"], "actorId": a["actorId"], "actorType": a["actorType"],
            "id": event_id, "log": a["log"], "seq": a["seq"], "targetId": a["targetId"],
            "targetType": a["targetType"], "timestamp": a["timestamp"]}
    if a.get("eventName") is not None:
        leaf["eventName"] = a["eventName"]
    if a.get("targetVersion") is not None:
        leaf["targetVersion"] = a["targetVersion"]
    if a.get("traceId") is not None:  # the request's trace (README "Tracing")
        leaf["traceId"] = a["traceId"]
    return json.dumps(leaf, sort_keys=True, separators=(",", ":")).encode()


def checkpoint(s, at_least=0):
    def signed():
        status, _, body = http("GET", s.url("auditor", "/checkpoint"))
        if status != 200:
            return None
        note = body.decode()
        return note if parse_checkpoint(note)[1] >= at_least else None
    return wait_for(signed, timeout=10, what=f"a checkpoint of size {at_least} or more")


def make_events(s, tok, n):
    """n views of a fresh user; returns its events once all are stored."""
    uid = s.new_user(tok, "ledger")
    for _ in range(n):
        status, _, _ = s.api("GET", f"/api/users/{uid}", token=tok)
        assert status == 200
    return wait_for(lambda: (lambda ev: ev if len(ev) >= n + 1 else None)(
        s.events(f"/data-events?filter[target]=users:{uid}", tok)), what=f"{n + 1} events")


def test_positions_checkpoints_and_proofs():
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        events = make_events(s, tok, 5)
        seqs = sorted(e["attributes"]["seq"] for e in events)
        assert all(e["attributes"]["log"] == 0 for e in events), events
        assert len(set(seqs)) == len(seqs), seqs
        note = checkpoint(s, seqs[-1] + 1)
        origin, size, root = parse_checkpoint(note)
        assert origin.endswith("/0"), origin
        assert "\n\n\u2014 " in note, note
        status, hdrs, vkey = http("GET", s.url("auditor", "/.well-known/auditlog-vkey"))
        assert status == 200 and hdrs["content-type"].startswith("text/plain"), status
        assert vkey.decode().startswith(origin.rsplit("/", 1)[0] + "+"), vkey

        # Every view's inclusion proof, in the tree of the latest checkpoint.
        views = [e for e in events if e["attributes"]["action"] == "viewed"]
        assert views
        for e in views:
            status, hdrs, body = s.request("auditor", "GET", f"/data-events/{e['id']}/proof",
                                           token=tok, raw=True)
            assert status == 200, (status, body)
            text = body.decode()
            head, cp = text.split("\n\n", 1)
            lines = head.split("\n")
            assert lines[0] == "c2sp.org/tlog-proof@v1", lines
            assert lines[1] == f"index {e['attributes']['seq']}", lines
            proof = [base64.b64decode(x) for x in lines[2:]]
            _, cp_size, cp_root = parse_checkpoint(cp)
            leaf = leaf_hash(canonical_view(e["attributes"], e["id"]))
            assert verify_inclusion(e["attributes"]["seq"], cp_size, leaf, proof, cp_root), e
            # A proof for another position fails: the check can fail.
            assert not verify_inclusion(e["attributes"]["seq"] + 1, cp_size, leaf, proof,
                                        cp_root) or cp_size == 1

        # Consistency between two checkpoints.
        more = make_events(s, tok, 3)
        top = max(e["attributes"]["seq"] for e in more)
        note2 = checkpoint(s, top + 1)
        _, size2, root2 = parse_checkpoint(note2)
        assert size2 > size
        status, _, body = s.request("auditor", "GET", f"/consistency?from={size}&to={size2}",
                                    token=tok, raw=True)
        assert status == 200, (status, body)
        proof = [base64.b64decode(x) for x in body.decode().split("\n") if x]
        assert verify_consistency(size, size2, root, root2, proof)
        assert not verify_consistency(size, size2, root2, root, proof)


def test_refusals():
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        make_events(s, tok, 1)
        size = parse_checkpoint(checkpoint(s, 1))[1]
        for path, want in (("/data-events/not-a-uuid/proof", 404),
                           ("/data-events/01890a5d-ac96-774b-bcce-b302099a8057/proof", 404),
                           (f"/consistency?from={size}&to={size - 1}", 400),
                           (f"/consistency?from=0&to={size + 10**9}", 400),
                           ("/consistency?from=x&to=1", 400),
                           ("/consistency", 400),
                           ("/verify?from=5&to=2", 400),
                           # Past what was ever written: the client's mistake, not tampering.
                           (f"/verify?to={size + 10**6}", 400),
                           (f"/verify?from={size + 10**6}&to={size + 10**6 + 1}", 400),
                           ("/verify?to=9223372036854775807", 400),
                           # A pin is the size of a signed checkpoint.
                           (f"/export?pin={size + 10**6}", 400),
                           ("/export?from=0&to=99999999999", 400)):
            status, _, doc = s.auditor("GET", path, token=tok)
            assert status == want, (path, status, doc)
            assert doc["errors"][0]["status"] == str(want), doc
        status, _, doc = s.auditor("GET", "/verify")
        assert status == 401, (status, doc)
        # A user without the auditor role may ask proofs, not verify or export.
        uid = s.new_user(tok, "plain")
        plain = s.token(int(uid))
        for path in ("/verify", "/export"):
            status, _, doc = s.auditor("GET", path, token=plain)
            assert status == 403, (path, status, doc)


def test_verify_and_export():
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        first = make_events(s, tok, 4)
        pin_note = checkpoint(s, max(e["attributes"]["seq"] for e in first) + 1)
        pin_size = parse_checkpoint(pin_note)[1]
        more = make_events(s, tok, 4)
        checkpoint(s, max(e["attributes"]["seq"] for e in more) + 1)
        status, _, doc = s.auditor("GET", "/verify?log=0", token=tok)
        assert status == 200, (status, doc)
        a = doc["data"]["attributes"]
        assert a["valid"] is True and a["from"] == 0 and a["to"] >= pin_size, a
        assert a["checkpoints"] >= 2, a

        verifier = os.path.join(BIN, "auditlog-verify")
        status, _, vkey = http("GET", s.url("auditor", "/.well-known/auditlog-vkey"))
        with tempfile.TemporaryDirectory() as d:
            vfile, pfile, bfile = (os.path.join(d, n) for n in ("vkey", "pin", "bundle"))
            open(vfile, "wb").write(vkey)
            open(pfile, "w").write(pin_note)
            status, hdrs, bundle = s.request("auditor", "GET", f"/export?pin={pin_size}",
                                             token=tok, raw=True)
            assert status == 200, (status, bundle[:300])
            assert hdrs["content-type"].startswith("application/x-ndjson"), hdrs
            lines = bundle.decode().splitlines()
            header = json.loads(lines[0])
            assert header["from"] == 0 and len(lines) == header["to"] + 1, header
            open(bfile, "wb").write(bundle)
            if not os.path.exists(verifier):
                raise AssertionError(f"{verifier} is not built")
            r = subprocess.run([verifier, bfile, "--vkey", vfile, "--pin", pfile],
                               capture_output=True, text=True)
            assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
            # A slice of the middle, and one flipped byte in it.
            status, _, part = s.request("auditor", "GET", "/export?from=2&to=5", token=tok,
                                        raw=True)
            assert status == 200 and len(part.splitlines()) == 4, part[:300]
            open(bfile, "wb").write(part)
            r = subprocess.run([verifier, bfile, "--vkey", vfile], capture_output=True, text=True)
            assert r.returncode == 0, (r.stdout, r.stderr)
            # The first actor type's first letter, one bit flipped (whatever
            # produced these positions of a test database that lives on).
            bad = re.sub(rb'("actorType":")([a-z])', lambda m: m.group(1) + bytes([m.group(2)[0] ^ 1]),
                         part, count=1)
            assert bad != part and len(bad) == len(part)
            open(bfile, "wb").write(bad)
            r = subprocess.run([verifier, bfile, "--vkey", vfile], capture_output=True, text=True)
            assert r.returncode == 1 and "INVALID" in r.stdout, (r.stdout, r.stderr)


def test_through_the_api():
    """The API passes the log's endpoints through under its own tokens."""
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        events = make_events(s, tok, 2)
        note = checkpoint(s, max(e["attributes"]["seq"] for e in events) + 1)
        status, hdrs, body = s.request("api", "GET", "/logs/checkpoint", token=tok, raw=True)
        assert status == 200 and hdrs["content-type"].startswith("text/plain"), (status, hdrs)
        assert parse_checkpoint(body.decode())[1] >= parse_checkpoint(note)[1]
        status, _, body = s.request("api", "GET", "/logs/.well-known/auditlog-vkey", token=tok,
                                    raw=True)
        assert status == 200 and b"+" in body, (status, body)
        status, _, body = s.request("api", "GET", f"/logs/data-events/{events[0]['id']}/proof",
                                    token=tok, raw=True)
        assert status == 200 and body.startswith(b"c2sp.org/tlog-proof@v1\n"), (status, body)
        # Every log there is (the test database's, whatever wrote them), one
        # verification each.
        status, _, doc = s.api("GET", "/logs/verify", token=tok)
        assert status == 200 and 0 in {r["attributes"]["log"] for r in doc["data"]}, (status, doc)
        assert all(r["attributes"]["valid"] is True for r in doc["data"]), doc
        status, _, doc = s.api("GET", "/logs/verify")
        assert status == 401, (status, doc)
        uid = s.new_user(tok, "plainapi")
        status, hdrs, doc = s.api("GET", "/logs/export", token=s.token(int(uid)))
        assert status == 403 and "insufficient_scope" in hdrs.get("www-authenticate", ""), status


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jcs(value):
    """RFC 8785 of the values these tests store (strings, integers, booleans,
    null, objects of them): sorted keys, no whitespace, raw UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def commitment(salt, value):
    """base64url(SHA-256(salt || JCS(value))), unpadded (docs/ledger.md)."""
    digest = hashlib.sha256(b64url_decode(salt) + jcs(value)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def leaf_of_line(line):
    """The leaf hash an opened event line (an export bundle's line, or
    /data-events/:id/leaf) recomputes to: each open side's commitment
    checked against its salt and value, each side replaced by its
    commitment, "leaf" left out, hashed as RFC 9162 leaves are."""
    ev = json.loads(line)
    ev.pop("leaf")
    for field, sides in (ev.get("changes") or {}).items():
        for side, opened in sides.items():
            if "erased" in opened:
                assert set(opened) == {"erased"}, (field, side, opened)
                sides[side] = opened["erased"]
                continue
            assert set(opened) == {"commitment", "salt", "value"}, (field, side, opened)
            assert commitment(opened["salt"], opened["value"]) == opened["commitment"], \
                (field, side, opened)
            sides[side] = opened["commitment"]
    return leaf_hash(jcs(ev))


def export_line(s, tok, seq):
    """The event line /export writes for position seq, without its newline."""
    status, _, body = s.request("auditor", "GET", f"/export?from={seq}&to={seq + 1}", token=tok,
                                raw=True)
    assert status == 200, (status, body[:300])
    lines = body.split(b"\n")
    assert len(lines) == 3 and lines[2] == b"", lines
    return lines[1]


def proven(s, tok, line):
    """Folds the event's inclusion proof from its line's leaf hash up to the
    checkpoint the proof names; returns whether it gives its root."""
    ev = json.loads(line)
    status, _, body = s.request("auditor", "GET", f"/data-events/{ev['id']}/proof", token=tok,
                                raw=True)
    assert status == 200, (status, body)
    head, cp = body.decode().split("\n\n", 1)
    lines = head.split("\n")
    assert lines[1] == f"index {ev['seq']}", lines
    _, size, root = parse_checkpoint(cp)
    return verify_inclusion(ev["seq"], size, base64.b64decode(ev["leaf"]),
                            [base64.b64decode(x) for x in lines[2:]], root)


def fresh_date(hdrs, what):
    """The Last-Modified header: an IMF-fixdate (RFC 9110 section 5.6.7)
    within a few seconds of now."""
    date = hdrs.get("last-modified")
    assert date and re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|"
                                 r"Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT", date), \
        (what, hdrs)
    age = time.time() - email.utils.parsedate_to_datetime(date).timestamp()
    assert -3 < age < 5, (what, date, age)


def test_checkpoint_signed_at():
    """/checkpoint's Last-Modified says when it was signed: just after an
    event, now; through the API too."""
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        events = make_events(s, tok, 1)
        checkpoint(s, max(e["attributes"]["seq"] for e in events) + 1)
        status, hdrs, _ = http("GET", s.url("auditor", "/checkpoint"))
        assert status == 200, status
        fresh_date(hdrs, "auditor")
        status, hdrs, _ = s.request("api", "GET", "/logs/checkpoint", token=tok, raw=True)
        assert status == 200, status
        fresh_date(hdrs, "api")


def test_opened_leaves():
    """GET /data-events/:id/leaf: an event as its export line holds it, from
    which the commitments, the leaf and the proof's root are recomputed;
    read as the event is, and recorded."""
    with Stack(daemons=("api", "auditor")) as s:
        admin = s.token(1)
        uid = s.new_user(admin, "leafown")
        other = s.new_user(admin, "leafother")
        status, _, doc = s.api("PATCH", f"/api/users/{uid}", token=admin, body={
            "data": {"type": "users", "id": uid, "attributes": {
                "email": unique("leafnew") + "@example.com", "name": "Ren\u00e9e"}}})
        assert status == 200, (status, doc)
        changed = wait_for(lambda: [e for e in s.events(f"/data-events?filter[target]=users:{uid}",
                                                       admin)
                                    if e["attributes"]["action"] == "changed"] or None,
                           what="the changed event stored")[0]
        seq = changed["attributes"]["seq"]
        checkpoint(s, seq + 1)

        path = f"/data-events/{changed['id']}/leaf"
        status, hdrs, line = s.request("auditor", "GET", path, token=admin, raw=True)
        assert status == 200, (status, line)
        assert hdrs["content-type"] == "application/json", hdrs
        assert hdrs.get("cache-control") == "no-store", hdrs
        assert line == export_line(s, admin, seq), (line, export_line(s, admin, seq))
        ev = json.loads(line)
        assert (ev["id"], ev["seq"], ev["log"], ev["action"]) == (changed["id"], seq, 0,
                                                                   "changed"), ev
        assert sorted(ev["changes"]) == ["email", "name"], ev
        assert ev["changes"]["name"]["next"]["value"] == "Ren\u00e9e", ev
        leaf = leaf_of_line(line)
        assert base64.b64encode(leaf).decode() == ev["leaf"], (ev, leaf)
        assert proven(s, admin, line), ev
        # The checks can fail: another value does not match its commitment,
        # and another member gives another leaf.
        assert commitment(ev["changes"]["name"]["next"]["salt"], "Renee") != \
            ev["changes"]["name"]["next"]["commitment"]
        assert leaf_of_line(line.replace(b'"action":"changed"', b'"action":"created"')) != leaf

        # Through the API: the same bytes.
        status, hdrs, through = s.request("api", "GET", "/logs" + path, token=admin, raw=True)
        assert status == 200 and through == line, (status, through)
        assert hdrs["content-type"] == "application/json", hdrs

        # A user reads its own event's leaf, not another's.
        own = s.token(int(uid))
        status, _, mine = s.request("auditor", "GET", path, token=own, raw=True)
        assert status == 200 and mine == line, (status, mine)
        theirs = wait_for(lambda: [e for e in s.events(f"/data-events?filter[target]=users:{other}",
                                                       admin)
                                   if e["attributes"]["action"] == "created"] or None,
                          what="the other user's creation stored")[0]
        for daemon, prefix in (("auditor", ""), ("api", "/logs")):
            status, hdrs, doc = s.request(daemon, "GET",
                                          f"{prefix}/data-events/{theirs['id']}/leaf", token=own)
            assert status == 403 and error_of(doc)["status"] == "403", (daemon, status, doc)
            assert "insufficient_scope" in hdrs.get("www-authenticate", ""), hdrs
        for bad in ("01890a5d-ac96-774b-bcce-b302099a8057", "not-a-uuid"):
            status, _, doc = s.auditor("GET", f"/data-events/{bad}/leaf", token=admin)
            assert status == 404 and error_of(doc)["status"] == "404", (bad, status, doc)

        # The read is recorded, and its record is an event like any other:
        # its leaf too is its export line and recomputes.
        def leaf_reads():
            return [e for e in s.events(f"/data-events?filter[target]=users:{uid}&filter[action]="
                                        "viewed&filter[eventName]=audit.leaf", admin)
                    if e["attributes"]["actorId"] == "1" and e["attributes"]["changes"] ==
                    {"read.event": {"prev": None, "next": changed["id"]}}]
        # Two by the admin (the auditor's and the API's), none by the owner's
        # token here (its reads are by users:<uid>).
        record = wait_for(lambda: (lambda r: r if len(r) == 2 else None)(leaf_reads()),
                          what="the admin's two leaf reads recorded")[0]
        checkpoint(s, record["attributes"]["seq"] + 1)
        status, _, rline = s.request("auditor", "GET", f"/data-events/{record['id']}/leaf",
                                     token=admin, raw=True)
        assert status == 200, (status, rline)
        assert rline == export_line(s, admin, record["attributes"]["seq"]), rline
        rev = json.loads(rline)
        assert (rev["action"], rev["eventName"], rev["targetId"]) == \
            ("viewed", "audit.leaf", str(uid)), rev
        assert rev["changes"]["read.event"]["next"]["value"] == changed["id"], rev
        assert base64.b64encode(leaf_of_line(rline)).decode() == rev["leaf"], rev
        assert proven(s, admin, rline), rev

        # An erased value shows as its commitment alone; the leaf is unchanged.
        status, _, doc = s.request("auditor", "POST", "/erasures", {"data": {
            "type": "erasures", "attributes": {"target": f"users:{uid}", "field": "email",
                                               "reason": "leaf test"}}}, admin)
        assert status == 201, (status, doc)
        status, _, erased = s.request("auditor", "GET", path, token=admin, raw=True)
        assert status == 200, (status, erased)
        assert erased == export_line(s, admin, seq), erased
        eev = json.loads(erased)
        for side in ("prev", "next"):
            assert eev["changes"]["email"][side] == \
                {"erased": ev["changes"]["email"][side]["commitment"]}, eev
        assert eev["changes"]["name"] == ev["changes"]["name"], eev
        assert eev["leaf"] == ev["leaf"] and leaf_of_line(erased) == leaf, eev


if __name__ == "__main__":
    run([test_positions_checkpoints_and_proofs, test_refusals, test_verify_and_export,
         test_through_the_api, test_checkpoint_signed_at, test_opened_leaves])
