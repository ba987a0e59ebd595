"""The JSON:API schema check of the harness, on its own: the validator's
verdicts on documents known to be valid or not (so the check can fail), and
that http(), raw_http() and run() turn a refused document into a failure
naming the request. No daemons: a small local HTTP server plays the
service."""
import contextlib
import io
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import JSONAPI, SchemaError, http, raw_http, run  # noqa: E402

VALID = {
    "one resource": {"data": {"type": "users", "id": "1",
                              "attributes": {"name": "Ann", "agreedTos": True}},
                     "jsonapi": {"version": "1.1"}},
    "a collection with an encoded next link": {
        "data": [{"type": "users", "id": "1", "attributes": {"name": "Ann"}}],
        "links": {"next": "/api/users?page%5Bsize%5D=2&page%5Bafter%5D=1"}},
    "an empty collection, no links": {"data": []},
    "data null": {"data": None},
    "an error document": {"errors": [{"status": "400", "title": "Bad Request",
                                      "detail": "page[size] must be 1 to 1000",
                                      "source": {"parameter": "page[size]"}}]},
    "meta alone": {"meta": {"count": 3}},
}

INVALID = {
    # (document, a fragment the validator's errors must contain)
    "a resource without id": ({"data": {"type": "users"}}, "'id'"),
    "a resource with a numeric id": ({"data": {"type": "users", "id": 1}}, "/data/id"),
    "an error status as a number": ({"errors": [{"status": 400, "title": "Bad Request"}]},
                                    "/errors/0/status: must be string"),
    "errors not an array": ({"errors": {"status": "400"}}, "/errors: must be array"),
    "data and errors together": ({"data": [], "errors": []}, "additional properties"),
    "no data, errors or meta": ({"links": {"self": "/x"}}, "required property"),
    "an unencoded [ in a link": ({"data": [], "links": {"next": "/api/users?page[size]=2"}},
                                 "uri-reference"),
    "a jsonapi member with an unknown member": (
        {"data": None, "jsonapi": {"version": "1.1", "x": 1}}, "/jsonapi"),
    "an unknown top-level member": ({"data": None, "extra": 1}, "additional properties"),
    "an attribute named id": ({"data": {"type": "users", "id": "1", "attributes": {"id": "1"}}},
                              "/data/attributes"),
}


def test_valid_documents_pass():
    for name, doc in VALID.items():
        errors = harness.schema.verdict(json.dumps(doc))
        assert errors == [], (name, errors)


def test_invalid_documents_are_refused():
    for name, (doc, fragment) in INVALID.items():
        errors = harness.schema.verdict(json.dumps(doc))
        assert errors, f"{name}: the validator accepted {doc}"
        assert any(fragment in e for e in errors), (name, fragment, errors)
    # Not a document at all: text that is not JSON, JSON that is not an
    # object, and what Python's json would accept but JSON does not.
    for text in ("<html>", "[]", '"data"', '{"meta": {"n": NaN}}', ""):
        assert harness.schema.verdict(text), text


class Service(BaseHTTPRequestHandler):
    """Answers GET /<name> with a canned body and Content-Type."""
    ANSWERS = {
        "/good": (200, JSONAPI, json.dumps(VALID["one resource"])),
        "/good-with-ext": (200, JSONAPI + '; ext="https://example.com/ext"',
                           json.dumps(VALID["one resource"])),
        "/bad": (200, JSONAPI, json.dumps({"data": {"type": "users"}})),
        "/bad-error": (400, JSONAPI, json.dumps({"errors": [{"status": 400}]})),
        "/bad-but-plain-json": (200, "application/json", json.dumps({"data": {"type": "x"}})),
        "/text": (201, "text/plain", "a.token.here"),
        "/empty": (200, JSONAPI, ""),
        "/not-utf8": (200, JSONAPI, b'{"meta":{"n":"\xff"}}'),
    }

    def do_GET(self):
        status, ctype, body = self.ANSWERS.get(self.path.split("?")[0], (404, "text/plain", "no"))
        body = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self):
        status, ctype, body = self.ANSWERS.get(self.path, (404, "text/plain", "no"))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def service():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Service)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield srv.server_address[1]
    finally:
        srv.shutdown()
        srv.server_close()


def expect_refusal(call, *fragments):
    """call() must raise SchemaError whose message holds every fragment.
    The refusal was expected: it is taken off the failures run() counts."""
    try:
        call()
    except SchemaError as e:
        for f in fragments:
            assert f in str(e), (f, str(e))
        harness.schema.failures.remove(str(e))
        return str(e)
    raise AssertionError(f"no SchemaError; expected one naming {fragments}")


def test_http_fails_on_a_refused_document():
    with service() as port:
        base = f"http://127.0.0.1:{port}"
        before = len(harness.schema.failures)
        for path in ("/good", "/good-with-ext", "/bad-but-plain-json", "/text"):
            assert http("GET", base + path)[0] in (200, 201), path
        assert http("HEAD", base + "/bad")[0] == 200  # no body, nothing to check
        assert len(harness.schema.failures) == before
        expect_refusal(lambda: http("GET", base + "/bad?x=1"),
                       "GET /bad?x=1 answered 200", "must have required property 'id'")
        expect_refusal(lambda: http("GET", base + "/bad-error"),
                       "GET /bad-error answered 400", "/errors/0/status: must be string")
        expect_refusal(lambda: http("GET", base + "/empty"), "GET /empty", "empty body")
        expect_refusal(lambda: http("GET", base + "/not-utf8"), "GET /not-utf8", "not UTF-8")
        assert len(harness.schema.failures) == before


def test_raw_http_fails_on_a_refused_document():
    with service() as port:
        good = raw_http(port, b"GET /good HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert good.startswith(b"HTTP/1.0 200"), good[:80]
        expect_refusal(
            lambda: raw_http(port, b"GET /bad HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            "GET /bad answered 200", "'id'")
    # Several answers on one connection, the second refused; one cut short
    # (here: Content-Length beyond the bytes) is not judged.
    ok = json.dumps(VALID["meta alone"]).encode()
    bad = json.dumps({"errors": [{"status": 500}]}).encode()
    raw = (b"HTTP/1.1 200 OK\r\nContent-Type: " + JSONAPI.encode() +
           b"\r\nContent-Length: " + str(len(ok)).encode() + b"\r\n\r\n" + ok +
           b"HTTP/1.1 500 Internal\r\nContent-Type: " + JSONAPI.encode() +
           b"\r\nTransfer-Encoding: chunked\r\n\r\n" +
           f"{len(bad[:5]):x}\r\n".encode() + bad[:5] + b"\r\n" +
           f"{len(bad[5:]):x}\r\n".encode() + bad[5:] + b"\r\n0\r\n\r\n" +
           b"HTTP/1.1 200 OK\r\nContent-Type: " + JSONAPI.encode() +
           b"\r\nContent-Length: 999\r\n\r\n{\"data\":")
    answers = harness._split_answers(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", raw)
    assert [(m, t, s, b) for m, t, s, _, b in answers] == \
        [("GET", "/a", 200, ok), ("GET", "/b", 500, bad)], answers


def test_run_fails_a_test_that_swallows_the_error():
    with service() as port:
        def swallows():
            try:
                http("GET", f"http://127.0.0.1:{port}/bad")
            except AssertionError:
                pass

        def in_a_thread():
            t = threading.Thread(target=lambda: http("GET", f"http://127.0.0.1:{port}/bad-error"))
            t.start()
            t.join()

        def clean():
            http("GET", f"http://127.0.0.1:{port}/good")

        out = io.StringIO()
        before = len(harness.schema.failures)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                run([swallows, in_a_thread, clean])
            except SystemExit as e:
                code = e.code
            else:
                code = None
        refused = harness.schema.failures[before:]
        del harness.schema.failures[before:]  # expected: not this test's failures
    assert len(refused) == 2, refused
    text = out.getvalue()
    assert code == 1, text
    assert "FAIL swallows" in text and "GET /bad answered 200" in text, text
    assert "FAIL in_a_thread" in text and "GET /bad-error answered 400" in text, text
    assert "ok   clean" in text, text


if __name__ == "__main__":
    run([test_valid_documents_pass, test_invalid_documents_are_refused,
         test_http_fails_on_a_refused_document, test_raw_http_fails_on_a_refused_document,
         test_run_fails_a_test_that_swallows_the_error])
