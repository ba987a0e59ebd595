"""The integration harness: starts the three daemons on free ports against
the RabbitMQ and MariaDB that ./run.sh test provides, talks HTTP to them,
and stops them at the end, failing the test if a daemon crashed or (under
the sanitizers) exited non-zero, e.g. on a leak report.

Standard library only. Each test file is one ctest test:

    with Stack() as s:
        tok = s.token(1)
        status, headers, doc = s.api("GET", "/api/users/1", token=tok)
"""
import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

BIN = os.environ.get("AUDITLOG_BIN_DIR", os.path.join(os.path.dirname(__file__), "../../build/bin"))
SRC = os.environ.get("AUDITLOG_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
JSONAPI = "application/vnd.api+json"

_live = []


def _kill_all():
    for p in _live:
        if p.poll() is None:
            p.kill()


atexit.register(_kill_all)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=20.0, interval=0.05, what="condition"):
    """Polls predicate until it returns something truthy; returns that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def http(method, url, body=None, headers=None, timeout=30):
    """Returns (status, headers dict with lowercase names, body bytes)."""
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def raw_http(port, request_bytes, timeout=10):
    """Sends bytes as they are and returns the raw answer (for requests
    urllib refuses to make)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request_bytes)
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks)


class Daemon:
    def __init__(self, name, env, logdir):
        self.name = name
        self.log_path = os.path.join(logdir, name + ".log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([os.path.join(BIN, "auditlog-" + name)], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT, cwd=SRC)
        _live.append(self.proc)

    def stop(self, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"{self.name} did not stop within {timeout}s of SIGTERM")
        self.log.close()
        return self.proc.returncode

    def tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""


class Stack:
    """The three daemons, on free ports, with the test environment."""

    def __init__(self, extra_env=None, daemons=("api", "auditor", "web")):
        self.logdir = tempfile.mkdtemp(prefix="auditlog-test-")
        self.ports = {"api": free_port(), "auditor": free_port(), "web": free_port()}
        env = dict(os.environ)
        env.update({
            "AUDITLOG_API_PORT": str(self.ports["api"]),
            "AUDITLOG_AUDITOR_PORT": str(self.ports["auditor"]),
            "AUDITLOG_WEB_PORT": str(self.ports["web"]),
            "AUDITLOG_AUDITOR_URL": f"http://127.0.0.1:{self.ports['auditor']}",
            "AUDITLOG_API_URL": f"http://127.0.0.1:{self.ports['api']}",
            "AUDITLOG_SPOOL_DIR": os.path.join(self.logdir, "spool"),
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=66",
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
        })
        env.update(extra_env or {})
        self.env = env
        self.names = daemons
        self.daemons = {}

    def __enter__(self):
        for name in self.names:
            self.start(name)
        return self

    def start(self, name):
        d = self.daemons[name] = Daemon(name, self.env, self.logdir)

        def up():
            if d.proc.poll() is not None:
                raise AssertionError(f"{name} exited with {d.proc.returncode}:\n{d.tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.ports[name]), timeout=1).close()
                return True
            except OSError:
                return False

        wait_for(up, 30, what=f"{name} to listen")
        return d

    def stop(self, name):
        return self.daemons.pop(name).stop()

    def __exit__(self, exc_type, exc, tb):
        failures = []
        for name in list(self.daemons):
            d = self.daemons[name]
            crashed = d.proc.poll()
            code = self.stop(name)
            if crashed is not None:
                failures.append(f"{name} died during the test with status {crashed}:\n{d.tail()}")
            elif code != 0:
                failures.append(f"{name} exited with status {code} on SIGTERM:\n{d.tail()}")
        if exc_type is not None:
            for name in self.names:
                print(f"---- {name} log ----\n{Daemon.tail_of(self.logdir, name)}", file=sys.stderr)
        if failures and exc_type is None:
            raise AssertionError("\n".join(failures))
        return False

    def url(self, name, path):
        return f"http://127.0.0.1:{self.ports[name]}{path}"

    def request(self, name, method, path, body=None, token=None, headers=None, raw=False):
        h = {"Accept": JSONAPI}
        if body is not None:
            h["Content-Type"] = JSONAPI
            if not isinstance(body, (str, bytes)):
                body = json.dumps(body)
        if token:
            h["Authorization"] = "Bearer " + token
        h.update(headers or {})
        status, hdrs, data = http(method, self.url(name, path), body, h)
        if raw:
            return status, hdrs, data
        doc = json.loads(data) if data else None
        return status, hdrs, doc

    def api(self, method, path, body=None, token=None, headers=None):
        return self.request("api", method, path, body, token, headers)

    def auditor(self, method, path, token=None, headers=None):
        return self.request("auditor", method, path, None, token, headers)

    def token(self, user_id=1):
        status, _, data = http("GET", self.url("api", f"/tokens/{user_id}"))
        assert status == 201, (status, data)
        return data.decode()

    def events(self, path, token, via="auditor", page_size=1000):
        """All events of a query, following links.next."""
        out = []
        sep = "&" if "?" in path else "?"
        path = f"{path}{sep}page[size]={page_size}"
        while path:
            status, _, doc = self.request(via, "GET", path, token=token)
            assert status == 200, (status, doc)
            out.extend(doc["data"])
            path = doc["links"].get("next")
        return out


def tail_of(logdir, name, n=60):
    try:
        with open(os.path.join(logdir, name + ".log"), "rb") as f:
            return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
    except OSError:
        return ""


Daemon.tail_of = staticmethod(tail_of)


def error_of(doc):
    """The first error object of a JSON:API error document, checked for shape."""
    assert isinstance(doc, dict) and isinstance(doc.get("errors"), list) and doc["errors"], doc
    e = doc["errors"][0]
    for k in ("status", "title", "detail"):
        assert isinstance(e.get(k), str) and e[k], (k, doc)
    return e


def unique(prefix="t"):
    return f"{prefix}{time.time_ns()}{os.getpid()}"


def run(tests):
    """Runs test functions in order, reporting each; exit status is the verdict."""
    failed = 0
    for t in tests:
        start = time.monotonic()
        try:
            t()
            print(f"ok   {t.__name__} ({time.monotonic() - start:.2f}s)")
        except Exception as e:  # noqa: BLE001 - report every failure and go on
            failed += 1
            import traceback
            print(f"FAIL {t.__name__}: {e}")
            traceback.print_exc()
    print(f"{len(tests) - failed}/{len(tests)} passed")
    sys.exit(1 if failed else 0)
