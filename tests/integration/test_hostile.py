"""Hostile input: forged and broken tokens, requests that try to read what
they may not, injection strings through every parameter, oversized and
slow requests. Every one gets the right 4xx and a JSON:API error, nothing
is stored wrong, and the daemons keep serving."""
import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import tempfile
import time

from harness import JSONAPI, SRC, Stack, error_of, http, raw_http, run, unique

KEYS = os.path.join(SRC, ".state", "keys")
PRIVATE = os.environ.get("AUDITLOG_JWT_PRIVATE_KEY", os.path.join(KEYS, "jwt-private.pem"))
PUBLIC = os.environ.get("AUDITLOG_JWT_PUBLIC_KEY", os.path.join(KEYS, "jwt-public.pem"))


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def segment(obj):
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def openssl_sign(data, *extra, key=PRIVATE):
    out = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key, *extra],
                         input=data.encode(), capture_output=True, check=True)
    return b64url(out.stdout)


def jwt(header, claims, sign="rs256"):
    """A token with the given header and claims; sign is rs256 (our key),
    ps256 (our key, PSS), or bytes used as the signature."""
    head = f"{segment(header)}.{segment(claims)}"
    if sign == "rs256":
        return f"{head}.{openssl_sign(head)}"
    if sign == "ps256":
        return f"{head}.{openssl_sign(head, '-sigopt', 'rsa_padding_mode:pss')}"
    return f"{head}.{b64url(sign)}"


def hs(alg, key, claims):
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    head = f"{segment({'alg': alg, 'typ': 'JWT'})}.{segment(claims)}"
    return f"{head}.{b64url(hmac.new(key, head.encode(), digest).digest())}"


def public_pems():
    """The public key in every PEM form: SPKI and PKCS#1, with and without
    the trailing newline."""
    with open(PUBLIC, "rb") as f:
        spki = f.read()
    pkcs1 = subprocess.run(["openssl", "rsa", "-pubin", "-in", PUBLIC, "-RSAPublicKey_out"],
                           capture_output=True, check=True).stdout
    return [spki, spki.rstrip(b"\n"), pkcs1, pkcs1.rstrip(b"\n")]


def expect(result, status, daemon_alive=None):
    got, hdrs, doc = result
    assert got == status, (got, status, doc)
    error_of(doc)
    assert hdrs.get("content-type") == JSONAPI, hdrs
    return hdrs


def test_tokens():
    with Stack(daemons=("api", "auditor")) as s:
        good = s.token(1)
        header = json.loads(base64.urlsafe_b64decode(good.split(".")[0] + "=="))
        claims = json.loads(base64.urlsafe_b64decode(good.split(".")[1] + "=="))
        now = int(time.time())
        rs = {"alg": "RS256", "typ": "JWT", "kid": header["kid"]}
        bad = []
        for alg in ("none", "None", "NONE", "nOnE"):
            bad.append((f"alg {alg}", f"{segment({'alg': alg})}.{segment(claims)}."))
        for alg in ("HS256", "HS384", "HS512"):
            for i, pem in enumerate(public_pems()):
                bad.append((f"{alg} with public key form {i}", hs(alg, pem, claims)))
        bad += [
            ("ES256", jwt({"alg": "ES256", "typ": "JWT"}, claims, os.urandom(64))),
            ("PS256 by our key", jwt({"alg": "PS256", "typ": "JWT"}, claims, "ps256")),
            ("unknown kid", jwt(dict(rs, kid="someone-else"), claims)),
            ("missing exp", jwt(rs, {k: v for k, v in claims.items() if k != "exp"})),
            ("non-numeric exp", jwt(rs, dict(claims, exp="tomorrow"))),
            ("exp long past", jwt(rs, dict(claims, exp=now - 3600))),
            ("exp past the leeway", jwt(rs, dict(claims, exp=now - 60))),
            ("nbf in the future", jwt(rs, dict(claims, nbf=now + 3600))),
            ("wrong iss", jwt(rs, dict(claims, iss="evil.example"))),
            ("no iss", jwt(rs, {k: v for k, v in claims.items() if k != "iss"})),
            ("tampered payload", good.split(".")[0] + "." + segment(dict(claims, id=2)) + "." +
             good.split(".")[2]),
            ("tampered signature", good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")),
            ("truncated", good[: len(good) // 2]),
            ("two segments", ".".join(good.split(".")[:2])),
            ("extra segment", good + ".AAAA"),
            ("9 KB", good + "A" * 9_000),
            ("not base64url", good.replace("-", "+").replace("_", "/") + "=="),
            ("spaces", good[:20] + " " + good[20:]),
            ("empty", ""),
        ]
        for name, token in bad:
            for daemon, path in (("api", "/api/users/1"),
                                 ("auditor", "/data-events?filter[actor]=users:1")):
                hdrs = expect(s.request(daemon, "GET", path,
                                        headers={"Authorization": "Bearer " + token}), 401)
                assert hdrs["www-authenticate"].startswith("Bearer"), (name, hdrs)
        for value in ("Bearer", "Bearer ", "Basic " + b64url(b"dev:dev"), good):
            expect(s.api("GET", "/api/users/1", headers={"Authorization": value}), 401)
        # A token too big for a request head is refused as a head: 431.
        for daemon, path in (("api", "/api/users/1"),
                             ("auditor", "/data-events?filter[actor]=users:1")):
            answer = raw_http(s.ports[daemon], (
                f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {good}{'A' * 100_000}"
                f"\r\nConnection: close\r\n\r\n").encode())
            assert answer.startswith(b"HTTP/1.1 431"), answer[:80]
        answer = raw_http(s.ports["api"], (
            f"GET /api/users/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {good}\r\n"
            f"Authorization: Bearer {good}\r\nConnection: close\r\n\r\n").encode())
        assert answer.startswith(b"HTTP/1.1 400"), answer[:80]
        # Still serving, and a well-signed token still works.
        assert s.api("GET", "/api/users/1", token=good)[0] == 200
        assert s.api("GET", "/api/users/1", token=jwt(rs, claims))[0] == 200


def test_reading_the_audit_log_needs_the_right_token():
    with Stack(daemons=("api", "auditor")) as s:
        admin = s.token(1)
        status, _, doc = s.api("POST", "/api/users", token=admin, body={
            "data": {"type": "users", "attributes": {
                "name": "Reader", "email": unique("reader") + "@example.com"}}})
        assert status == 201, doc
        uid = doc["data"]["id"]
        mine = s.token(uid)
        claims = json.loads(base64.urlsafe_b64decode(mine.split(".")[1] + "=="))
        assert claims["roles"] == [], claims
        admin_claims = json.loads(base64.urlsafe_b64decode(admin.split(".")[1] + "=="))
        assert admin_claims["roles"] == ["auditor"], admin_claims
        allowed = [("api", f"/logs/by/users/{uid}"), ("api", f"/logs/for/users/{uid}"),
                   ("auditor", f"/data-events?filter[actor]=users:{uid}"),
                   ("auditor", f"/data-events?filter[target]=users:{uid}"),
                   ("auditor", f"/data-events?filter[actor]=users:{uid}&filter[target]=users:1"),
                   ("auditor", f"/api/users/{uid}/data-events")]
        forbidden = [("api", "/logs/by/users/1"), ("api", "/logs/for/users/1"),
                     ("api", f"/logs/for/notes/{uid}"),
                     ("auditor", "/data-events?filter[actor]=users:1"),
                     ("auditor", f"/data-events?filter[target]=notes:{uid}"),
                     ("auditor", f"/data-events?filter[actor]=service:{uid}"),
                     ("auditor", "/api/users/1/data-events")]
        for daemon, path in allowed:
            status, _, doc = s.request(daemon, "GET", path, token=mine)
            assert status == 200, (path, doc)
            status, _, doc = s.request(daemon, "GET", path, token=admin)
            assert status == 200, (path, doc)
        for daemon, path in forbidden:
            expect(s.request(daemon, "GET", path, token=mine), 403)
            status, _, doc = s.request(daemon, "GET", path, token=admin)
            assert status == 200, (path, doc)
        # Any type that follows the grammar: events of other producers too.
        status, _, doc = s.api("GET", "/logs/by/things/1", token=admin)
        assert status == 200 and doc["data"] == [], doc
        expect(s.api("GET", "/logs/by/th%22ings/1", token=admin), 400)


def test_token_endpoint_can_be_turned_off():
    with Stack(daemons=("api",), extra_env={"AUDITLOG_TOKEN_ENDPOINT": "false"}) as s:
        expect(s.api("GET", "/tokens/1"), 404)
        expect(s.api("GET", "/api/users/1"), 401)


INJECTIONS = [
    "' OR '1'='1", "1 OR 1=1", "1; DROP TABLE users; --", "1' UNION SELECT password FROM users--",
    "\" OR \"\"=\"", "../../etc/passwd", "..%2f..%2fetc%2fpasswd", "%2e%2e%2f", "%00", "a%00b",
    "..\\..\\windows", "%0d%0aSet-Cookie:%20x=1", "%0aX-Injected:%201", "${jndi:ldap://x}",
    "<script>alert(1)</script>", "%ff%fe", "9" * 40, "-1", "0x10", "1e3", "%20", "users:1:2:3:4",
]


def test_injection_strings_everywhere():
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        _, _, before = s.api("GET", "/api/users?page[size]=1000", token=tok)
        paths = []
        for x in INJECTIONS:
            paths += [("api", f"/tokens/{x}"), ("api", f"/api/users/{x}"),
                      ("api", f"/api/notes/{x}"), ("api", f"/logs/by/{x}/1"),
                      ("api", f"/logs/by/users/{x}"), ("api", f"/logs/for/{x}/{x}"),
                      ("api", f"/api/users?page[size]={x}"), ("api", f"/api/users?page[after]={x}"),
                      ("api", f"/api/notes?filter[target]={x}"),
                      ("api", f"/api/notes?filter[target]=users:{x}"),
                      ("api", f"/logs/by/users/1?page[after]={x}"),
                      ("auditor", f"/data-events?filter[actor]={x}"),
                      ("auditor", f"/data-events?filter[target]=users:{x}"),
                      ("auditor", f"/data-events?filter[actor]=users:1&page[after]={x}"),
                      ("auditor", f"/data-events?filter[actor]=users:1&page[size]={x}"),
                      ("auditor", f"/api/{x}/1/data-events"), ("auditor", f"/api/users/{x}/data-events")]
        for daemon, path in paths:
            answer = raw_http(s.ports[daemon], (
                f"GET {path.replace(' ', '%20')} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\n"
                f"Connection: close\r\n\r\n").encode(errors="surrogateescape"))
            head, _, body = answer.partition(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            assert status < 500, (path, answer[:300])
            assert b"Set-Cookie" not in head and b"X-Injected" not in head, (path, head)
            if status >= 400:
                error_of(json.loads(body))
        # Through bodies: stored exactly as sent, because SQL never sees them
        # except as parameters.
        for x in INJECTIONS[:8]:
            status, _, doc = s.api("POST", "/api/users", token=tok, body={
                "data": {"type": "users", "attributes": {
                    "name": x[:64], "email": unique("inj") + "@example.com"}}})
            assert status == 201, doc
            uid = doc["data"]["id"]
            _, _, got = s.api("GET", f"/api/users/{uid}", token=tok)
            assert got["data"]["attributes"]["name"] == x[:64], got
            assert s.api("DELETE", f"/api/users/{uid}", token=tok)[0] == 204
        _, _, after = s.api("GET", "/api/users?page[size]=1000", token=tok)
        assert [u["id"] for u in before["data"]][:1] == [u["id"] for u in after["data"]][:1]
        assert s.api("GET", "/api/users/1", token=tok)[0] == 200


def test_http_edges():
    env = {"AUDITLOG_HTTP_TIMEOUT": "2", "AUDITLOG_HTTP_CONNECTIONS_PER_IP": "12"}
    with Stack(daemons=("api",), extra_env=env) as s:
        tok = s.token(1)
        port = s.ports["api"]
        # A chunked body over the cap: 413 once it is over, nothing buffered.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            c.sendall((f"POST /api/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\n"
                       f"Content-Type: {JSONAPI}\r\nTransfer-Encoding: chunked\r\n\r\n").encode())
            chunk = b"x" * 65536
            try:
                for _ in range(24):
                    c.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                c.sendall(b"0\r\n\r\n")
            except OSError:
                pass
            answer = c.recv(65536)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        # A request head over the limit: 431.
        answer = raw_http(port, (f"GET /api/users/1 HTTP/1.1\r\nHost: x\r\nX-Pad: {'a' * 200_000}"
                                 f"\r\n\r\n").encode())
        assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
        # Two Content-Length fields (RFC 9112 section 6.3): 400, JSON:API,
        # and nothing created (libmicrohttpd alone took the first; a proxy
        # taking the other would smuggle the rest of the body as a request).
        email = f"smuggle-{time.time_ns()}@example.com"
        body = json.dumps({"data": {"type": "users", "attributes": {
            "name": "Smuggled", "email": email}}}).encode()
        answer = raw_http(port, (f"POST /api/users HTTP/1.1\r\nHost: x\r\n"
                                 f"Authorization: Bearer {tok}\r\nContent-Type: {JSONAPI}\r\n"
                                 f"Content-Length: {len(body)}\r\nContent-Length: 5\r\n\r\n"
                                 ).encode() + body)
        assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
        err = json.loads(answer.split(b"\r\n\r\n", 1)[1])["errors"][0]
        assert err["status"] == "400" and "Content-Length" in err["detail"], err
        # Nothing was created: the email is free (a taken one answers 409).
        status, _, doc = s.api("POST", "/api/users", token=tok, body=json.loads(body))
        assert status == 201, doc
        # JSON:API media type rules.
        expect(s.api("GET", "/api/users/1", token=tok,
                     headers={"Accept": JSONAPI + '; ext="https://x"'}), 406)
        status, _, _ = s.api("GET", "/api/users/1", token=tok,
                             headers={"Accept": JSONAPI + '; ext="x", ' + JSONAPI})
        assert status == 200
        status, _, _ = s.api("GET", "/api/users/1", token=tok, headers={"Accept": "*/*"})
        assert status == 200
        body = {"data": {"type": "users", "attributes": {"name": "A", "email": "a@b.c"}}}
        expect(s.api("POST", "/api/users", token=tok, body=json.dumps(body),
                     headers={"Content-Type": JSONAPI + '; ext="https://x"'}), 415)
        for raw in ('{"data":{"type":"users","attributes":{"name":"A","email":"a@b.c","agreedTos":1e400}}}',
                    '{"data":{"type":"users","attributes":{"name":"A","email":"a@b.c","agreedTos":99999999999999999999999}}}',
                    "[" * 33 + "]" * 33):
            expect(s.api("POST", "/api/users", token=tok, body=raw), 400)

        # Slow clients: half-sent requests hold connections but do not
        # starve others, and are closed after the timeout.
        slow = []
        for _ in range(8):
            c = socket.create_connection(("127.0.0.1", port), timeout=10)
            c.sendall(b"GET /api/users/1 HTTP/1.1\r\nHost: x\r\n")
            slow.append(c)
        start = time.monotonic()
        assert s.api("GET", "/api/users/1", token=tok)[0] == 200
        assert time.monotonic() - start < 1.0
        time.sleep(3.5)
        closed = 0
        for c in slow:
            try:
                c.settimeout(1)
                if c.recv(1024) == b"":
                    closed += 1
            except OSError:
                closed += 1
            c.close()
        assert closed == len(slow), f"{closed} of {len(slow)} stalled connections closed"
        # Connections from one address are capped. Each held one is served
        # once (kept alive), so the server has surely accepted and counted
        # it before the extra one comes (on a busy machine it may not have
        # accepted the last of them yet).
        held = []
        for _ in range(12):
            c = socket.create_connection(("127.0.0.1", port), timeout=5)
            c.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
            assert c.recv(4096).startswith(b"HTTP/1.1 200"), "a held connection was not served"
            held.append(c)
        extra = socket.create_connection(("127.0.0.1", port), timeout=5)
        extra.sendall(b"GET /api/users/1 HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            refused = extra.recv(1024) == b""
        except OSError:
            refused = True
        assert refused, "a connection over the per-address limit was served"
        for c in held + [extra]:
            c.close()
        time.sleep(0.3)
        assert s.api("GET", "/api/users/1", token=tok)[0] == 200


def sql_as(user, password, db, statement):
    """Runs one statement with the mariadb client; returns (ok, stderr)."""
    host = os.environ.get("AUDITLOG_MYSQL_HOST", "localhost")
    r = subprocess.run(["mariadb", "--protocol=tcp", "-h",
                        "127.0.0.1" if host == "localhost" else host,
                        "-P", os.environ.get("AUDITLOG_MYSQL_PORT", "3306"), "-u", user,
                        "--batch", "-e", statement, db],
                       env=dict(os.environ, MYSQL_PWD=password), capture_output=True, text=True)
    return r.returncode == 0, r.stderr


def test_nobody_rewrites_the_audit_log():
    e = os.environ
    auditor_db = e.get("AUDITLOG_AUDITOR_DB", "audit-logging-auditor")
    writer = (e.get("AUDITLOG_AUDITOR_MYSQL_USER", "auditor"),
              e.get("AUDITLOG_AUDITOR_MYSQL_PASSWORD", "auditor"))
    reader = (e.get("AUDITLOG_AUDITOR_READER_USER", "auditor_reader"),
              e.get("AUDITLOG_AUDITOR_READER_PASSWORD", "auditor_reader"))
    api = (e.get("AUDITLOG_MYSQL_USER", "dev"), e.get("AUDITLOG_MYSQL_PASSWORD", "dev"))
    ok, err = sql_as(*writer, auditor_db, "SELECT COUNT(*) FROM data_events")
    assert ok, err
    # Neither may change or remove a row of any table of the log of record
    # or of its indexes (the checker's bookmark, log_checked, is the one
    # row the writer updates).
    tables = ("data_events", "data_event_changes", "data_event_values", "log_appends",
              "log_nodes", "log_checkpoints", "data_event_mutations", "data_event_flags",
              "data_event_version_spans", "log_leases", "data_event_ids", "log_retained",
              "data_event_retained_versions")
    rewrites = ["UPDATE data_events SET action = 'viewed' LIMIT 1",
                "UPDATE log_appends SET leaf_hashes = REVERSE(leaf_hashes) LIMIT 1",
                "UPDATE data_event_changes SET prev_commitment = next_commitment LIMIT 1",
                "UPDATE data_event_values SET next_value = 'null' LIMIT 1",
                "UPDATE log_nodes SET hash = REVERSE(hash) LIMIT 1",
                "UPDATE log_checkpoints SET note = '' LIMIT 1",
                "UPDATE data_event_mutations SET target_version = 1 LIMIT 1",
                "UPDATE data_event_flags SET detail = '' LIMIT 1",
                "UPDATE log_leases SET writer = '' LIMIT 1"]
    rewrites += [f"DELETE FROM {t} LIMIT 1" for t in tables]
    rewrites += [f"TRUNCATE TABLE {t}" for t in tables]
    for statement in rewrites + ["ALTER TABLE data_events ADD COLUMN x INT",
                                 "DROP TABLE data_event_changes", "CREATE TABLE sneaky (x INT)"]:
        ok, err = sql_as(*writer, auditor_db, statement)
        assert not ok and ("denied" in err), (statement, err)
    ok, err = sql_as(*reader, auditor_db, "SELECT COUNT(*) FROM data_event_changes")
    assert ok, err
    for statement in ["INSERT INTO data_events (event_id, action, occurred_at, actor_type, "
                      "actor_id, target_type, target_id) VALUES "
                      "('00000000-0000-7000-8000-000000000000', 'viewed', 1, 'a', 'b', 'c', 'd')",
                      "INSERT INTO log_checkpoints (log_id, size, root, note) "
                      "VALUES (9, 0, '', '')"] + rewrites:
        ok, err = sql_as(*reader, auditor_db, statement)
        assert not ok and "denied" in err, (statement, err)
    ok, err = sql_as(*api, auditor_db, "SELECT COUNT(*) FROM data_events")
    assert not ok and "denied" in err, err


if __name__ == "__main__":
    run([test_tokens, test_reading_the_audit_log_needs_the_right_token,
         test_token_endpoint_can_be_turned_off, test_injection_strings_everywhere,
         test_http_edges, test_nobody_rewrites_the_audit_log])
