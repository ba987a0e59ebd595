"""Client mistakes get the right 4xx and a JSON:API error document, and
change nothing."""
import base64
import hashlib
import hmac
import json
import os

from harness import JSONAPI, Stack, error_of, http, raw_http, run, unique, wait_for


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def forged_hs256(public_pem, claims):
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims).encode())
    sig = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(sig)}"


def expect_error(result, status, title=None):
    got, hdrs, doc = result
    assert got == status, (got, status, doc)
    e = error_of(doc)
    assert e["status"] == str(status), e
    if title:
        assert e["title"] == title, e
    assert hdrs.get("content-type") == JSONAPI, hdrs
    return hdrs


def test_authentication():
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        for name, headers in [("no header", {}),
                              ("not bearer", {"Authorization": "Basic ZGV2OmRldg=="}),
                              ("empty bearer", {"Authorization": "Bearer "}),
                              ("garbage", {"Authorization": "Bearer garbage"}),
                              ("tampered", {"Authorization": "Bearer " + tok[:-6] + "AAAAAA"})]:
            for daemon, path in [("api", "/api/users/1"),
                                 ("auditor", "/data-events?filter[actor]=users:1")]:
                hdrs = expect_error(s.request(daemon, "GET", path, headers=headers), 401,
                                    "Unauthorized")
                assert hdrs["www-authenticate"].startswith("Bearer"), (name, hdrs)

        claims = json.loads(base64.urlsafe_b64decode(tok.split(".")[1] + "=="))
        with open(os.environ.get("AUDITLOG_JWT_PUBLIC_KEY", ".state/keys/jwt-public.pem"),
                  "rb") as f:
            pem = f.read()
        for key in (pem, pem.rstrip(b"\n")):
            forged = forged_hs256(key, claims)
            expect_error(s.api("GET", "/api/users/1", token=forged), 401)
        none = b64url(b'{"alg":"none"}') + "." + tok.split(".")[1] + "."
        expect_error(s.api("GET", "/api/users/1", token=none), 401)

        # Two Authorization headers, even if both are valid: RFC 6750's
        # invalid_request.
        port = s.ports["api"]
        answer = raw_http(port, (f"GET /api/users/1 HTTP/1.1\r\nHost: x\r\n"
                                 f"Authorization: Bearer {tok}\r\nAuthorization: Bearer {tok}\r\n"
                                 f"Connection: close\r\n\r\n").encode())
        assert answer.startswith(b"HTTP/1.1 400"), answer[:100]
        assert b'error="invalid_request"' in answer, answer[:400]

        status, _, _ = s.api("GET", "/api/users/1", token=tok)
        assert status == 200


def test_routes_and_methods():
    with Stack(daemons=("api",)) as s:
        tok = s.token(1)
        expect_error(s.api("GET", "/nope", token=tok), 404)
        expect_error(s.api("GET", "/api/users/1/extra", token=tok), 404)
        hdrs = expect_error(s.api("PUT", "/api/users/1", token=tok, body="{}"), 405)
        allow = {m.strip() for m in hdrs["allow"].split(",")}
        assert {"GET", "PATCH", "DELETE"} <= allow, allow
        status, hdrs, _ = s.request("api", "OPTIONS", "/api/users/1", raw=True, headers={
            "Origin": "http://localhost:3002", "Access-Control-Request-Method": "PATCH"})
        assert status == 204, status
        assert "PATCH" in hdrs["access-control-allow-methods"], hdrs
        assert "Authorization" in hdrs["access-control-allow-headers"], hdrs
        assert hdrs["access-control-allow-origin"] == "*", hdrs
        _, hdrs, _ = s.api("GET", "/api/users/1", token=tok)
        assert hdrs["access-control-allow-origin"] == "*", hdrs

        expect_error(s.api("GET", "/tokens/999999999"), 404)
        for bad in ("abc", "0", "-1", "01", "99999999999", "1%00", "1;DROP%20TABLE%20users"):
            expect_error(s.api("GET", f"/api/users/{bad}", token=tok), 400)
            expect_error(s.api("GET", f"/tokens/{bad}"), 400)
        expect_error(s.api("GET", "/api/users/999999999", token=tok), 404, "Not found")
        expect_error(s.api("DELETE", "/api/users/999999999", token=tok), 404)
        expect_error(s.api("PATCH", "/api/users/999999999", token=tok, body={
            "data": {"type": "users", "id": "999999999", "attributes": {"name": "x"}}}), 404)
        for q in ("page[size]=0", "page[size]=5000", "page[size]=abc", "page[after]=-1",
                  "a=%zz", "a=%00", "page[size]=1&page[size]=2"):
            expect_error(s.api("GET", f"/api/users?{q}", token=tok), 400)


def test_bodies():
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        _, _, before = s.api("GET", "/api/users/1", token=tok)
        email = unique("dup") + "@example.com"
        status, _, doc = s.api("POST", "/api/users", token=tok, body={
            "data": {"type": "users", "attributes": {"name": "Dup", "email": email}}})
        assert status == 201, doc
        uid = doc["data"]["id"]

        def post(body, headers=None):
            return s.api("POST", "/api/users", token=tok, body=body, headers=headers)

        good = {"data": {"type": "users", "attributes": {"name": "A", "email": "a@b.c"}}}
        expect_error(post(json.dumps(good), {"Content-Type": "text/plain"}), 415)
        expect_error(post(json.dumps(good), {"Content-Type": JSONAPI + "; charset=utf-8"}), 415)
        expect_error(post("{not json"), 400, "Malformed JSON")
        expect_error(post('{"data":{"type":"users","type":"users"}}'), 400, "Malformed JSON")
        expect_error(post(b'{"data":{"type":"users","attributes":{"name":"\xff"}}}'), 400)
        expect_error(post("[" * 100 + "]" * 100), 400)
        expect_error(post(""), 400)
        expect_error(post({"name": "A"}), 400, "Invalid document")
        expect_error(post({"data": [good["data"]]}), 400, "Invalid document")
        expect_error(post({"data": {"type": "notes", "attributes": {}}}), 409, "Type mismatch")
        expect_error(post({"data": {"type": "users", "id": "5", "attributes": {}}}), 403)
        expect_error(post({"data": {"type": "users", "attributes": {"name": "A"}}}), 422)
        expect_error(post({"data": {"type": "users", "attributes": {
            "name": "A", "email": "a@b.c", "isAdmin": True}}}), 422, "Unknown attribute")
        expect_error(post({"data": {"type": "users", "attributes": {
            "name": 5, "email": "a@b.c"}}}), 422, "Invalid attribute")
        expect_error(post({"data": {"type": "users", "attributes": {
            "name": "A", "email": "a@b.c", "agreedTos": "yes"}}}), 422, "Invalid attribute")
        expect_error(post({"data": {"type": "users", "attributes": {
            "name": "x" * 65, "email": "a@b.c"}}}), 422, "Invalid attribute")
        expect_error(post({"data": {"type": "users", "attributes": {
            "name": "A", "email": "e" * 120 + "@example.com"}}}), 422)
        result = post({"data": {"type": "users", "attributes": {
            "name": "A", "email": email.upper()}}})
        expect_error(result, 409, "Conflict")
        # The pointer names the field, so a form shows the error beside it.
        assert error_of(result[2])["source"] == {"pointer": "/data/attributes/email"}, result[2]
        # 64 characters (not bytes) fit.
        status, _, doc = post({"data": {"type": "users", "attributes": {
            "name": "é" * 64, "email": unique("long") + "@example.com"}}})
        assert status == 201, doc
        assert doc["data"]["attributes"]["name"] == "é" * 64

        def patch(body, target=uid):
            return s.api("PATCH", f"/api/users/{target}", token=tok, body=body)
        expect_error(patch({"data": {"type": "users", "id": "1", "attributes": {}}}), 409,
                     "Id mismatch")
        expect_error(patch({"data": {"type": "users", "attributes": {"name": "B"}}}), 400)
        expect_error(patch({"data": {"type": "users", "id": uid, "attributes": {
            "email": "jim.chavo@happi.com"}}}), 409, "Conflict")

        # Over the body cap: 413 as soon as Content-Length announces it,
        # before the body is read.
        answer = raw_http(s.ports["api"], (
            f"POST /api/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\n"
            f"Content-Type: {JSONAPI}\r\nContent-Length: {2 << 20}\r\n\r\n{{\"data\":").encode())
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b'"status":"413"' in answer, answer

        # Nothing changed: user 1 and the duplicate's user are as they were.
        _, _, after = s.api("GET", "/api/users/1", token=tok)
        assert after["data"] == before["data"], (before, after)
        status, _, doc = s.api("GET", f"/api/users/{uid}", token=tok)
        assert doc["data"]["attributes"]["email"] == email

        # The refused PATCHes recorded no event: a successful one, published
        # through the same outbox after them, is the only changed event.
        status, _, _ = patch({"data": {"type": "users", "id": uid, "attributes": {
            "name": "Marker"}}})
        assert status == 200

        def changed():
            ev = s.events(f"/data-events?filter[target]=users:{uid}", tok)
            c = [e for e in ev if e["attributes"]["action"] == "changed"]
            return c or None
        c = wait_for(changed, what="the marker's changed event")
        assert len(c) == 1 and c[0]["attributes"]["changes"] == {
            "name": {"prev": "Dup", "next": "Marker"}}, c


def test_auditor_queries():
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)  # the auditor asks the API whether its user exists
        for q in ("", "?filter[actor]=users", "?filter[actor]=:1", "?filter[target]=us%20ers:1",
                  "?filter[actor]=users:1&page[size]=0", "?filter[actor]=users:1&page[size]=1001",
                  "?filter[actor]=users:1&page[after]=bogus",
                  "?filter[actor]=users:1&page[after]=MTIzOmFiYw",
                  "?filter[actor]=users:1&sort=timestamp", "?filter[actor]=users:1%0d%0a"):
            expect_error(s.auditor("GET", "/data-events" + q, token=tok), 400)
        expect_error(s.auditor("GET", "/api/users/1/data-events?x=1", token=tok), 400)
        expect_error(s.auditor("GET", "/api/us%20ers/1/data-events", token=tok), 400)
        expect_error(s.auditor("POST", "/data-events", token=tok), 405)
        status, _, doc = s.auditor("GET", "/data-events?filter[actor]=users:1&page[size]=1",
                                   token=tok)
        assert status == 200, doc


if __name__ == "__main__":
    run([test_authentication, test_routes_and_methods, test_bodies, test_auditor_queries])
