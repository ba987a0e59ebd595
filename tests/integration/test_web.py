"""The web daemon serves web/ and nothing else."""
import os

from harness import SRC, Stack, error_of, http, raw_http, run

import json


def test_static_files():
    with Stack(daemons=("web",)) as s:
        status, hdrs, body = http("GET", s.url("web", "/"))
        assert status == 200 and hdrs["content-type"].startswith("text/html"), hdrs
        with open(os.path.join(SRC, "web", "index.html"), "rb") as f:
            assert body == f.read()
        assert hdrs["x-content-type-options"] == "nosniff"
        csp = hdrs["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, csp
        status, hdrs, _ = http("GET", s.url("web", "/app.js"))
        assert status == 200 and hdrs["content-type"].startswith("text/javascript"), hdrs
        status, hdrs, _ = http("GET", s.url("web", "/style.css"))
        assert status == 200 and hdrs["content-type"].startswith("text/css"), hdrs
        status, hdrs, body = http("HEAD", s.url("web", "/index.html"))
        assert status == 200 and body == b"", (status, body)
        status, hdrs, body = http("GET", s.url("web", "/config.json"))
        assert status == 200 and "apiUrl" in json.loads(body)

        status, hdrs, body = http("GET", s.url("web", "/missing.html"))
        assert status == 404
        error_of(json.loads(body))
        status, hdrs, body = http("POST", s.url("web", "/"), body=b"x")
        assert status == 405 and "GET" in hdrs["allow"], (status, hdrs)

        # Nothing outside web/, however the path is spelled.
        for path in ["/../README.md", "/..%2fREADME.md", "/%2e%2e/README.md",
                     "/%2e%2e%2fREADME.md", "/..%5cREADME.md", "/....//README.md",
                     "/index.html%00.png", "/%2e%2e/%2e%2e/etc/passwd", "/.%2e/run.sh",
                     "//etc/passwd", "/./index.html", "/.git/config"]:
            answer = raw_http(s.ports["web"], f"GET {path} HTTP/1.1\r\nHost: x\r\n"
                                              f"Connection: close\r\n\r\n".encode())
            status = int(answer.split(b" ", 2)[1])
            assert status in (400, 404), (path, answer[:200])
            assert b"#!/usr/bin/env bash" not in answer and b"root:" not in answer


def test_symlink_out_of_root():
    root = os.path.join(SRC, "web")
    link = os.path.join(root, "escape-test-link")
    try:
        os.symlink("/etc/passwd", link)
    except OSError:
        raise AssertionError("cannot create a symlink in web/ for the test")
    try:
        with Stack(daemons=("web",)) as s:
            status, _, body = http("GET", s.url("web", "/escape-test-link"))
            assert status == 404 and b"root:" not in body, (status, body[:100])
    finally:
        os.unlink(link)


if __name__ == "__main__":
    run([test_static_files, test_symlink_out_of_root])
