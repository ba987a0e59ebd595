"""The HTTP edge as hostile and standards-minded clients see it: oversized
heads, slow clients, bodies sent without a token, query parameters the
server does not support, RFC 6750 answers, CORS, the JSON:API version
member and its media type rules, and a stalled auditor behind /logs.
Loopback only; every wait is bounded."""
import json
import select
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import socket
import threading
import time

from harness import JSONAPI, Stack, error_of, http, raw_http, run, unique

AUDITOR_PATH = "/data-events?filter[actor]=users:1"


def status_of(answer):
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ", 2)[1])


def split_answer(answer):
    head, _, body = answer.partition(b"\r\n\r\n")
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode()] = v.strip().decode()
    return status_of(answer), headers, body


def answer_within(sock, seconds):
    """Reads one answer (until the peer closes or a whole Content-Length
    body is in) for at most seconds; returns the bytes read (b"" if none)."""
    deadline = time.monotonic() + seconds
    data = b""
    while time.monotonic() < deadline:
        r, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            break
        try:
            chunk = sock.recv(65536)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    if len(body) >= int(line.split(b":")[1]):
                        return data
    return data


def closed_within(sock, seconds):
    """True if the server closes sock within seconds (EOF or reset)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        r, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
        if r:
            try:
                if sock.recv(65536) == b"":
                    return True
            except OSError:
                return True
    return False


def plain_user_token(s, admin):
    """A token of a new user without the auditor role."""
    user = {"name": "Edge", "email": unique("edge") + "@example.com"}
    status, _, doc = s.api("POST", "/api/users", token=admin,
                           body={"data": {"type": "users", "attributes": user}})
    assert status == 201, doc
    return s.token(doc["data"]["id"])


def test_oversized_heads_get_431_before_authentication():
    with Stack() as s:
        tok = s.token(1)
        targets = (("api", "/api/users/1"), ("auditor", AUDITOR_PATH), ("web", "/index.html"))
        for daemon, path in targets:
            for size in (20_000, 64 * 1024, 200_000):
                answer = raw_http(s.ports[daemon], (
                    f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Big: {'a' * size}\r\n"
                    f"Connection: close\r\n\r\n").encode())
                assert status_of(answer) == 431, (daemon, size, answer[:300])
            # Many small fields adding up to too much are as big.
            fields = "".join(f"X-F{i}: {'b' * 1000}\r\n" for i in range(40))
            answer = raw_http(s.ports[daemon], (
                f"GET {path} HTTP/1.1\r\nHost: x\r\n{fields}Connection: close\r\n\r\n").encode())
            assert status_of(answer) == 431, (daemon, answer[:300])
        # Below the limit, a JSON:API error; a big token is refused as big.
        answer = raw_http(s.ports["api"], (
            f"GET /api/users/1 HTTP/1.1\r\nHost: x\r\nX-Big: {'a' * 20_000}\r\n"
            f"Connection: close\r\n\r\n").encode())
        status, hdrs, body = split_answer(answer)
        assert hdrs["content-type"] == JSONAPI, hdrs
        assert error_of(json.loads(body))["status"] == "431"
        answer = raw_http(s.ports["api"], (
            f"GET /api/users/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}{'A' * 100_000}"
            f"\r\nConnection: close\r\n\r\n").encode())
        assert status_of(answer) == 431, answer[:300]
        # A token just over 8 KiB is still a token: 401. Big but sane
        # headers beside a good token pass.
        answer = raw_http(s.ports["api"], (
            f"GET /api/users/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}{'A' * 9000}"
            f"\r\nConnection: close\r\n\r\n").encode())
        assert status_of(answer) == 401, answer[:300]
        status, _, _ = s.api("GET", "/api/users/1", token=tok,
                             headers={"X-Pad": "p" * 8000, "X-Pad2": "q" * 8000})
        assert status == 200, status


def test_bodies_are_not_read_before_authentication():
    with Stack(daemons=("api",)) as s:
        tok = s.token(1)
        port = s.ports["api"]

        def announce(headers, expect):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                start = time.monotonic()
                c.sendall((f"POST /api/users HTTP/1.1\r\nHost: x\r\n{headers}"
                           f"Content-Length: 1000000\r\n\r\n").encode())
                answer = answer_within(c, 3)
                took = time.monotonic() - start
            assert answer, f"no answer within 3 s to {headers!r}"
            status, hdrs, body = split_answer(answer)
            assert status == expect, (headers, answer[:300])
            assert took < 2, took
            error_of(json.loads(body))
            return hdrs

        ct = f"Content-Type: {JSONAPI}\r\n"
        hdrs = announce(ct, 401)
        assert hdrs["www-authenticate"].startswith("Bearer"), hdrs
        announce(ct + "Expect: 100-continue\r\n", 401)
        announce(ct + "Authorization: Bearer forged.token.here\r\n", 401)
        announce(f"Authorization: Bearer {tok}\r\nContent-Type: text/plain\r\n", 415)
        # A request with a token waits for its body, as it should.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall((f"POST /api/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\n"
                       f"{ct}Content-Length: 1000000\r\n\r\n").encode())
            assert answer_within(c, 1) == b""
        assert s.api("GET", "/api/users/1", token=tok)[0] == 200


def test_slow_clients_do_not_starve_others():
    with Stack(daemons=("api",), extra_env={"AUDITLOG_HTTP_HEADER_TIMEOUT": "1"}) as s:
        tok, port, slow = s.token(1), s.ports["api"], []
        try:
            for _ in range(300):
                c = socket.create_connection(("127.0.0.1", port), timeout=5)
                c.sendall(b"GET /api/us")
                slow.append(c)
            start = time.monotonic()
            status = s.api("GET", "/api/users/1", token=tok)[0]
            took = time.monotonic() - start
            assert status == 200 and took < 1.0, (status, took)
            # All are dropped once the header timeout has passed.
            deadline = time.monotonic() + 4
            open_ = [c for c in slow if not closed_within(c, max(0.0, deadline - time.monotonic()))]
            assert not open_, f"{len(open_)} of 300 half-sent requests still open after 4 s"
        finally:
            for c in slow:
                c.close()

        # A client that dribbles its head a byte at a time is dropped at
        # the deadline too, however often it sends.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            start = time.monotonic()
            c.sendall(b"GET /api/users/1 HTTP/1.1\r\nHost: x\r\n")
            dropped = False
            while time.monotonic() - start < 5 and not dropped:
                try:
                    c.sendall(b"X")
                except OSError:
                    dropped = True
                    break
                dropped = closed_within(c, 0.2)
            took = time.monotonic() - start
            assert dropped and took < 3, (dropped, took)

        # A head that arrives in pieces within the timeout is served, and
        # an idle keep-alive connection has the idle timeout, not the
        # header timeout, before its next request.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            request = (f"GET /api/users/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}"
                       f"\r\n\r\n").encode()
            for part in (request[:10], request[10:40], request[40:]):
                c.sendall(part)
                time.sleep(0.2)
            assert status_of(answer_within(c, 3)) == 200
            time.sleep(1.6)
            c.sendall(request)
            assert status_of(answer_within(c, 3)) == 200


def test_unsupported_query_parameters():
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        body = {"data": {"type": "users", "attributes": {
            "name": "Q", "email": unique("q") + "@example.com"}}}
        patch = {"data": {"type": "users", "id": "999999999", "attributes": {"name": "Q"}}}
        cases = [("GET", "/api/users", None), ("GET", "/api/users/1", None),
                 ("POST", "/api/users", body), ("PATCH", "/api/users/999999999", patch),
                 ("DELETE", "/api/users/999999999", None), ("GET", "/api/notes", None),
                 ("GET", "/api/notes/1", None), ("DELETE", "/api/notes/999999999", None),
                 ("GET", "/logs/by/users/1", None), ("GET", "/logs/for/users/1", None)]
        for method, path, b in cases:
            # On /logs the path gives the actor or the target: that filter
            # is refused; the others are the auditor's, which checks them.
            extra = (("filter[actor]=users:1", "filter[target]=", "filter[action]=")
                     if path.startswith("/logs/by/") else
                     ("filter[target]=users:1", "filter[actor]=", "filter[flag]=odd")
                     if path.startswith("/logs/for/") else ())
            for param in ("include=creator", "sort=name", "sort=-id", "fields%5Busers%5D=name",
                          "fields[users]=name", "page%5Bnumber%5D=2", "page[offset]=1",
                          "filter[name]=x", "foo=1", "Foo=1", "bar&page[size]=2") + extra:
                name = param.split("&")[0].split("=")[0].replace("%5B", "[").replace("%5D", "]")
                status, _, doc = s.api(method, f"{path}?{param}", token=tok, body=b)
                assert status == 400, (method, path, param, status, doc)
                e = error_of(doc)
                assert name in e["detail"], (param, e)
                assert e.get("source") == {"parameter": name}, (param, e)
        # The list of what a route takes is whole, even the longest beside
        # a long parameter name.
        status, _, doc = s.auditor("GET", "/data-events/stream?filter[" + "b" * 56 + "]=1",
                                   token=tok)
        assert status == 400 and error_of(doc)["detail"].endswith(
            "filter[eventName], filter[flag], sort, page[size], page[after], after."), doc
        # A long query goes through /logs whole, for the auditor to judge.
        status, _, doc = s.api("GET", "/logs/data-events?filter[actor]=users:1&page[after]=" +
                               "A" * 3000, token=tok)
        assert status == 400 and error_of(doc).get("source") == {"parameter": "page[after]"}, doc
        # What each route supports still works.
        assert s.api("GET", "/api/users?page[size]=2", token=tok)[0] == 200
        status, _, doc = s.api("GET", "/api/users?page[size]=1&page[after]=1", token=tok)
        assert status == 200, doc
        assert s.api("GET", "/logs/by/users/1?page[size]=2", token=tok)[0] == 200
        # The auditor refuses what it does not know, naming it as the API does,
        # and so does every other 400 about one query parameter.
        for param in ("include=x", "sort=x", "page[number]=1", "foo=1", "page[size]=0",
                      "page[after]=forged", "filter[target]=users:1:2"):
            name = param.split("=")[0]
            for path in (f"{AUDITOR_PATH}&{param}", f"/api/users/1/data-events?{param}"):
                if path.startswith("/api/") and name == "filter[target]":
                    continue
                status, _, doc = s.auditor("GET", path, token=tok)
                assert status == 400, (path, doc)
                assert error_of(doc).get("source") == {"parameter": name}, (path, doc)
        for query, name in (("filter[target]=users:1&page[size]=0", "page[size]"),
                            ("filter[target]=users:1&page[after]=x", "page[after]"),
                            ("filter[target]=users:1:2:3:4", "filter[target]"),
                            ("page[size]=2", "filter[target]")):
            status, _, doc = s.api("GET", f"/api/notes?{query}", token=tok)
            assert status == 400, (query, doc)
            assert error_of(doc).get("source") == {"parameter": name}, (query, doc)


def test_rfc6750_answers():
    with Stack(daemons=("api", "auditor")) as s:
        admin = s.token(1)
        mine = plain_user_token(s, admin)
        for daemon, path in (("api", "/logs/by/users/1"), ("api", "/logs/for/users/1"),
                             ("auditor", AUDITOR_PATH), ("auditor", "/api/users/1/data-events")):
            status, hdrs, doc = s.request(daemon, "GET", path, token=mine)
            assert status == 403, (path, status, doc)
            error_of(doc)
            assert hdrs.get("www-authenticate") == \
                'Bearer realm="auditlog", error="insufficient_scope"', (path, hdrs)
        for daemon, path in (("api", "/api/users/1"), ("auditor", AUDITOR_PATH)):
            for second in (admin, "other"):
                answer = raw_http(s.ports[daemon], (
                    f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n"
                    f"Authorization: Bearer {second}\r\nConnection: close\r\n\r\n").encode())
                status, hdrs, body = split_answer(answer)
                assert status == 400, (daemon, answer[:300])
                assert hdrs["www-authenticate"] == \
                    'Bearer realm="auditlog", error="invalid_request"', hdrs
                assert "Authorization" in error_of(json.loads(body))["detail"]


def test_cors_exposes_headers():
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        origin = {"Origin": "http://localhost:3002"}
        answers = [s.api("GET", "/api/users/1", token=tok, headers=origin),
                   s.api("GET", "/api/users/1", headers=origin),
                   s.api("PUT", "/api/users/1", token=tok, headers=origin, body="{}"),
                   s.api("POST", "/api/users", token=tok, headers=origin, body={
                       "data": {"type": "users", "attributes": {
                           "name": "C", "email": unique("cors") + "@example.com"}}}),
                   s.auditor("GET", AUDITOR_PATH, token=tok, headers=origin)]
        for status, hdrs, _ in answers:
            exposed = {h.strip().lower() for h in
                       hdrs.get("access-control-expose-headers", "").split(",")}
            assert {"location", "www-authenticate", "allow"} <= exposed, (status, hdrs)
        assert answers[3][0] == 201 and "location" in answers[3][1]


def test_jsonapi_version_member():
    with Stack() as s:
        tok = s.token(1)
        version = {"version": "1.1"}
        docs = [s.api("GET", "/api/users/1", token=tok), s.api("GET", "/api/users", token=tok),
                s.api("GET", "/api/users/999999999", token=tok), s.api("GET", "/api/users/1"),
                s.api("GET", "/nope", token=tok),
                s.auditor("GET", AUDITOR_PATH, token=tok), s.auditor("GET", "/data-events",
                                                                       token=tok)]
        for status, _, doc in docs:
            assert doc.get("jsonapi") == version, (status, doc)
        # Relayed by the proxy once, not twice.
        for path in ("/logs/by/users/1", "/logs/by/users/1?foo=1"):
            status, _, raw = s.request("api", "GET", path, token=tok, raw=True)
            assert raw.count(b'"jsonapi"') == 1, (status, raw[:300])
            assert json.loads(raw)["jsonapi"] == version
        status, hdrs, body = http("GET", s.url("web", "/missing.html"))
        assert status == 404 and json.loads(body)["jsonapi"] == version


def test_media_type_parameters():
    with Stack(daemons=("api",)) as s:
        tok = s.token(1)

        def post(content_type):
            return s.api("POST", "/api/users", token=tok, headers={"Content-Type": content_type},
                         body={"data": {"type": "users", "attributes": {
                             "name": "M", "email": unique("mt") + "@example.com"}}})

        def get(accept):
            return s.api("GET", "/api/users/1", token=tok, headers={"Accept": accept})

        # JSON:API 1.1: unrecognised profiles are ignored, not refused.
        for ct in (JSONAPI, JSONAPI + '; profile="https://example.com/p"',
                   JSONAPI + ';profile="https://a.example/1 https://b.example/2"',
                   JSONAPI + "; profile=x", JSONAPI + '; ext=""', JSONAPI + ";",
                   "Application/Vnd.Api+JSON"):
            status, _, doc = post(ct)
            assert status == 201, (ct, doc)
        # Extensions we do not support, and any other parameter: 415.
        for ct in (JSONAPI + '; ext="https://jsonapi.org/ext/atomic"',
                   JSONAPI + '; profile="x"; ext="https://x.example"', JSONAPI + "; charset=utf-8",
                   JSONAPI + '; version="1.1"', JSONAPI + '; profile="x',
                   "application/json", "text/plain"):
            status, _, doc = post(ct)
            assert status == 415, (ct, status, doc)
            assert error_of(doc)["status"] == "415"
        for accept in (JSONAPI, JSONAPI + '; profile="https://example.com/p"',
                       JSONAPI + '; profile="a,b"', JSONAPI + '; ext=""', "*/*",
                       "application/json, */*", JSONAPI + "; charset=utf-8, " + JSONAPI,
                       JSONAPI + '; ext="https://x.example", ' + JSONAPI + '; profile="p"',
                       JSONAPI + "; q=0.5", JSONAPI + ";q=1;charset=x"):
            status, _, doc = get(accept)
            assert status == 200, (accept, status, doc)
        for accept in (JSONAPI + '; ext="https://jsonapi.org/ext/atomic"',
                       JSONAPI + "; charset=utf-8", JSONAPI + '; version="1.1", ' + JSONAPI +
                       '; ext="https://x.example"', JSONAPI + '; profile="p"; charset=x',
                       JSONAPI + "; q=0"):
            status, _, doc = get(accept)
            assert status == 406, (accept, status, doc)
            assert error_of(doc)["status"] == "406"


class FakeAuditor:
    """Accepts connections and answers nothing (or one byte every period,
    forever), like an auditor that stalled."""

    def __init__(self, dribble=None):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.dribble = dribble
        self.conns = []
        self.stopping = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        self.sock.settimeout(0.1)
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(c)
            if self.dribble:
                threading.Thread(target=self.drip, args=(c,), daemon=True).start()

    def drip(self, c):
        try:
            for b in b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.api+json\r\n" * 100:
                if self.stopping:
                    return
                c.sendall(bytes([b]))
                time.sleep(self.dribble)
        except OSError:
            pass

    def close(self):
        self.stopping = True
        for c in self.conns:
            c.close()
        self.sock.close()


class RefusingAuditor:
    """Answers every request with status and a JSON:API error document."""

    def __init__(self, status):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = json.dumps({"errors": [{"status": str(outer.status), "title": "No",
                                               "detail": "Refused by the fake auditor."}],
                                   "jsonapi": {"version": "1.1"}}).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", JSONAPI)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.status = status
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_relayed_refusals_say_why():
    """A 401 or 403 from the auditor, relayed by /logs, carries RFC 6750's
    error attribute as the API's own refusals do."""
    for status, error in ((401, "invalid_token"), (403, "insufficient_scope")):
        fake = RefusingAuditor(status)
        try:
            env = {"AUDITLOG_AUDITOR_URL": f"http://127.0.0.1:{fake.port}"}
            with Stack(daemons=("api",), extra_env=env) as s:
                got, hdrs, doc = s.api("GET", "/logs/by/users/1", token=s.token(1))
                assert got == status, (got, doc)
                assert f'error="{error}"' in hdrs.get("www-authenticate", ""), hdrs
                assert error_of(doc)["status"] == str(status), doc
        finally:
            fake.close()


def test_stalled_auditor_blocks_no_one_else():
    for dribble in (None, 0.3):
        fake = FakeAuditor(dribble)
        env = {"AUDITLOG_AUDITOR_URL": f"http://127.0.0.1:{fake.port}",
               "AUDITLOG_AUDITOR_TIMEOUT": "3", "AUDITLOG_HTTP_THREADS": "1"}
        try:
            with Stack(daemons=("api",), extra_env=env) as s:
                tok = s.token(1)
                results = []

                def logs():
                    start = time.monotonic()
                    status, _, doc = s.api("GET", "/logs/by/users/1", token=tok)
                    results.append((status, time.monotonic() - start, doc))

                threads = [threading.Thread(target=logs) for _ in range(6)]
                for t in threads:
                    t.start()
                time.sleep(0.3)
                for _ in range(5):
                    start = time.monotonic()
                    assert s.api("GET", "/api/users/1", token=tok)[0] == 200
                    took = time.monotonic() - start
                    assert took < 1.0, f"GET took {took:.2f}s beside a stalled auditor"
                for t in threads:
                    t.join(15)
                assert len(results) == 6, results
                for status, took, doc in results:
                    assert status == 502, (status, doc)
                    error_of(doc)
                    assert took < 5, f"/logs took {took:.2f}s with a 3 s deadline"
        finally:
            fake.close()


if __name__ == "__main__":
    run([test_oversized_heads_get_431_before_authentication,
         test_bodies_are_not_read_before_authentication, test_slow_clients_do_not_starve_others,
         test_unsupported_query_parameters, test_rfc6750_answers, test_cors_exposes_headers,
         test_jsonapi_version_member, test_media_type_parameters,
         test_relayed_refusals_say_why, test_stalled_auditor_blocks_no_one_else])
