"""The web daemon serves web/ and nothing else."""
from http.client import HTTPConnection
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from harness import SRC, Stack, error_of, http, raw_http, run


def test_static_files():
    with Stack(daemons=("web",)) as s:
        status, hdrs, body = http("GET", s.url("web", "/"))
        assert status == 200 and hdrs["content-type"].startswith("text/html"), hdrs
        with open(os.path.join(SRC, "web", "index.html"), "rb") as f:
            assert body == f.read()
        assert hdrs["x-content-type-options"] == "nosniff"
        csp = hdrs["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, csp
        status, hdrs, _ = http("GET", s.url("web", "/js/main.js"))
        assert status == 200 and hdrs["content-type"].startswith("text/javascript"), hdrs
        status, hdrs, _ = http("GET", s.url("web", "/style.css"))
        assert status == 200 and hdrs["content-type"].startswith("text/css"), hdrs
        status, hdrs, body = http("HEAD", s.url("web", "/index.html"))
        assert status == 200 and body == b"", (status, body)
        status, hdrs, body = http("GET", s.url("web", "/config.json"))
        assert status == 200 and "apiUrl" in json.loads(body)

        # The UI keeps its view in the page's query: any query, even one
        # the API would refuse (a name twice, a control character), gets
        # the page, never a JSON error.
        for q in ("?view=timeline&target=users:1&target=users:2", "?eventName=audit%09query",
                  "?a=%ZZ&&=&b", "?" + "x" * 3000):
            status, hdrs, body = http("GET", s.url("web", "/" + q))
            assert status == 200 and hdrs["content-type"].startswith("text/html"), (q, status, body[:200])
        status, hdrs, body = http("GET", s.url("web", "/config.json?v=1&v=2"))
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


# Swaps, as fast as it can, a file of the web root for a symlink to a
# secret outside it, and a folder of the web root for a symlink to a folder
# outside it, each time by rename so the path always exists.
SWAPPER = r"""
import os, sys
root, tmp = sys.argv[1], sys.argv[2]
target, sub = os.path.join(root, "f.txt"), os.path.join(root, "sub")
inside, secret = os.path.join(root, "inside.txt"), os.path.join(tmp, "secret.txt")
a, b, away = os.path.join(root, ".a"), os.path.join(root, ".b"), os.path.join(root, ".away")
while True:
    os.link(inside, a)
    os.rename(a, target)
    os.symlink(secret, b)
    os.rename(b, target)
    os.rename(sub, away)
    os.symlink(os.path.join(tmp, "outside"), sub)
    os.unlink(sub)
    os.rename(away, sub)
"""


def test_symlink_swapped_in_is_not_followed():
    """A path checked and then opened: a symlink swapped in between must
    not be followed."""
    tmp = tempfile.mkdtemp(prefix="auditlog-web-race-")
    root = os.path.join(tmp, "web")
    for folder in (root, os.path.join(root, "sub"), os.path.join(tmp, "outside")):
        os.mkdir(folder)
    for path, text in (("web/index.html", "<p>ui</p>"), ("web/inside.txt", "inside"),
                       ("web/f.txt", "inside"), ("web/sub/f.txt", "inside"),
                       ("secret.txt", "TOP-SECRET"), ("outside/f.txt", "TOP-SECRET")):
        with open(os.path.join(tmp, path), "w") as f:
            f.write(text)
    swapper = None
    try:
        with Stack(daemons=("web",), extra_env={"AUDITLOG_WEB_ROOT": root}) as s:
            swapper = subprocess.Popen([sys.executable, "-c", SWAPPER, root, tmp])
            conn = HTTPConnection("127.0.0.1", s.ports["web"], timeout=5)
            served, leaked, deadline = 0, 0, time.monotonic() + 4
            while time.monotonic() < deadline:
                for path in ("/f.txt", "/sub/f.txt"):
                    conn.request("GET", path)
                    r = conn.getresponse()
                    body = r.read()
                    leaked += b"TOP-SECRET" in body
                    served += r.status == 200 and body == b"inside"
            conn.close()
            assert swapper.poll() is None, "the swapper stopped"
            assert leaked == 0, f"a swapped-in symlink was followed {leaked} times"
            assert served > 0, "the race never served the inside file"
    finally:
        if swapper:
            swapper.kill()
            swapper.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    run([test_static_files, test_symlink_out_of_root, test_symlink_swapped_in_is_not_followed])
