"""The API streams what it forwards (issue 12): an export asked of /logs/...
(Accept: application/x-ndjson or text/csv) and /logs/stream are relayed
from the auditor as they come, chunked, in constant memory, without a
thread waiting for them (common/relay.c).

Against the real auditor: the exports through the API equal the auditor's
own byte for byte, on more events than one of its pages; a client that
leaves mid-export closes the API's connection to the auditor; an auditor
killed mid-export leaves the client a body without its last chunk.

Against a fake auditor that this test runs (the live stream is the
auditor's own work, landing separately): each Server-Sent Event arrives
within ~100 ms of being sent, the query and Last-Event-ID reach it, the
/logs deadline bounds only the head, a body cut short upstream is cut short
downstream, a client that goes away closes the upstream, and 200 relayed
streams at once work on a handful of threads."""
import base64
import json
import os
import random
import select
import socket
import threading
import time
import subprocess
import urllib.parse
import uuid

from harness import BIN, Stack, error_of, http, run, unique, wait_for
from test_filters import URL, query, stored_crafted

NDJSON = "application/x-ndjson"
CSV = "text/csv"


# ---- a raw HTTP/1.1 client that reads a chunked answer as it comes ----

class Cut(Exception):
    """The connection closed before the body's last chunk."""


class Client:
    def __init__(self, port, path, headers, timeout=10, rcvbuf=None):
        self.sock = socket.socket()
        if rcvbuf:  # before connecting, so that the window stays small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        lines = [f"GET {path} HTTP/1.1", "Host: x"] + [f"{k}: {v}" for k, v in headers.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        first, *rest = head.decode("latin-1").split("\r\n")
        self.status = int(first.split(" ")[1])
        self.headers = {k.strip().lower(): v.strip()
                        for k, _, v in (ln.partition(":") for ln in rest)}
        self.chunked = "chunked" in self.headers.get("transfer-encoding", "")
        self.ended = False

    def _more(self):
        b = self.sock.recv(65536)
        if not b:
            raise Cut()
        self.buf += b

    def chunk(self):
        """The next chunk's data; b"" after the last chunk. Raises Cut."""
        assert self.chunked, self.headers
        while b"\r\n" not in self.buf:
            self._more()
        line, _, rest = self.buf.partition(b"\r\n")
        n = int(line.split(b";")[0], 16)
        while len(rest) < n + 2:
            self._more()
            line, _, rest = self.buf.partition(b"\r\n")
        self.buf = rest[n + 2:]
        if n == 0:
            self.ended = True
        return rest[:n]

    def body(self):
        """The whole body; raises Cut if it ends without the last chunk."""
        out = []
        while True:
            c = self.chunk()
            if not c:
                return b"".join(out)
            out.append(c)

    def close(self):
        self.sock.close()


def established_to(port):
    """Established TCP connections whose far end is port (any process)."""
    n = 0
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                for ln in f.readlines()[1:]:
                    cols = ln.split()
                    if cols[3] == "01" and int(cols[2].rsplit(":", 1)[1], 16) == port:
                        n += 1
        except OSError:
            pass
    return n


def threads_of(pid):
    with open(f"/proc/{pid}/status") as f:
        for ln in f:
            if ln.startswith("Threads:"):
                return int(ln.split()[1])
    return -1


# ---- against the real auditor ----

def stored_heavy(s, tok, n, size=4000):
    """n events of a fresh actor with about 2 * size bytes of changes each:
    an export larger than every buffer between the auditor and a client
    that does not read (kernel buffers autotune to megabytes). Returns the
    actor's id."""
    actor = unique("heavy")
    t0 = int(time.time() * 1000) - 10_000
    events = [{"id": str(uuid.uuid4()), "action": "changed", "timestamp": t0 + i,
               "actorType": "service", "actorId": actor, "targetType": "documents",
               "targetId": actor, "changes": {"a": {"prev": "p" * size, "next": "n" * size}}}
              for i in range(n)]
    for i in range(0, n, 50):  # a message is at most 1 MiB
        subprocess.run([os.path.join(BIN, "mqtool"), "publish", URL, "api-stream",
                        "other.data.mutated", str(uuid.uuid4())],
                       input=json.dumps(events[i:i + 50]).encode(), check=True)
    wait_for(lambda: len(query(s, tok, {"actor": f"service:{actor}"}, size=1000)) == n,
             timeout=60, what="the heavy events stored")
    return actor


def own_lines(body):
    """An export's lines but the records of reads (eventName audit.*)."""
    return [ln for ln in body.split(b"\n") if b"audit." not in ln]


def test_exports_through_the_api_equal_the_auditors():
    rng = random.Random(1251)
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        # More than one auditor page (EXPORT_PAGE 1000) for one actor.
        events, actors, targets, _ = stored_crafted(s, tok, rng, 1500, actors=1, targets=2)
        a, t = actors[0], targets[0]
        auth = {"Authorization": "Bearer " + tok}
        cases = [
            (f"/logs/by/service/{a}", {"filter[actor]": f"service:{a}"}),
            (f"/logs/for/documents/{t}?sort=time", {"filter[target]": f"documents:{t}",
                                                    "sort": "time"}),
            ("/logs/data-events?" + urllib.parse.urlencode({"filter[actor]": f"service:{a}",
                                                            "filter[action]": "changed"}),
             {"filter[actor]": f"service:{a}", "filter[action]": "changed"}),
        ]
        for accept in (NDJSON, CSV):
            for via_api, params in cases:
                own = s.url("auditor", "/data-events?" + urllib.parse.urlencode(params))
                st1, h1, want = http("GET", own, None, dict(auth, Accept=accept))
                c = Client(s.ports["api"], via_api, dict(auth, Accept=accept))
                got = c.body()
                c.close()
                assert st1 == 200 and c.status == 200, (st1, c.status, via_api)
                assert c.chunked, c.headers
                assert c.headers["content-type"] == h1["content-type"], (c.headers, h1)
                # The target's history also holds the records of this
                # test's own reads of it (README "Reads are recorded"), one
                # more in the later export: those lines are left out, every
                # other byte must be equal.
                assert own_lines(got) == own_lines(want), (via_api, accept, len(got), len(want))
        status, _, body = http("GET", s.url("api", f"/logs/by/service/{a}"), None,
                               dict(auth, Accept=NDJSON))
        assert status == 200 and len(body.decode().splitlines()) == len(events)
        # A refusal passes through as the JSON:API error it is.
        status, hdrs, body = http("GET", s.url("api", "/logs/data-events?filter%5Baction%5D=x"),
                                  None, dict(auth, Accept=NDJSON))
        assert status == 400 and hdrs["content-type"].startswith("application/vnd.api+json")
        assert error_of(json.loads(body))["source"]["parameter"] == "filter[action]", body
        # Without an export in Accept, /logs/data-events is the JSON:API
        # page, its links pointing at the API.
        status, _, doc = s.api("GET", "/logs/data-events?filter%5Bactor%5D=service%3A" + a +
                               "&page%5Bsize%5D=10", token=tok)
        assert status == 200 and len(doc["data"]) == 10, doc
        assert doc["links"]["next"].startswith("/logs/data-events?"), doc["links"]
        status, _, doc2 = s.api("GET", doc["links"]["next"], token=tok)
        assert status == 200 and doc2["data"][0]["id"] != doc["data"][0]["id"]


def test_leaving_and_dying_mid_export():
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        n = 3000
        path = f"/logs/by/service/{stored_heavy(s, tok, n)}"
        hdrs = {"Authorization": "Bearer " + tok, "Accept": NDJSON}
        aport = s.ports["auditor"]
        # A client that leaves after the first chunk: the API closes its
        # connection to the auditor at once, and both stay healthy.
        for _ in range(20):
            c = Client(s.ports["api"], path, hdrs)
            assert c.status == 200 and c.chunk()
            c.close()
            t0 = time.monotonic()
            wait_for(lambda: established_to(aport) == 0, timeout=3,
                     what="the API to close its connection to the auditor")
            assert time.monotonic() - t0 < 3
        status, _, body = http("GET", s.url("api", path), None, hdrs)
        assert status == 200 and len(body.decode().splitlines()) == n
        print(f"    the export: {len(body)} bytes")
        # The auditor killed mid-export: the client's body ends without its
        # last chunk, never "cleanly" short. A client that does not read
        # holds the auditor mid-export (the relay pauses, TCP pushes back).
        c = Client(s.ports["api"], path, hdrs, rcvbuf=16384)
        got = len(c.chunk())
        assert got
        time.sleep(0.5)
        assert established_to(aport) == 1, "the export ended before the auditor was killed"
        s.daemons["auditor"].proc.kill()
        s.daemons["auditor"].proc.wait()
        s.daemons.pop("auditor").log.close()
        try:
            while True:
                piece = c.chunk()
                if not piece:
                    raise AssertionError(f"the body ended with its last chunk ({got} bytes)")
                got += len(piece)
        except Cut:
            pass
        c.close()
        print(f"    the auditor killed: the client got {got} of {len(body)} bytes, cut short")
        assert got < len(body)
        # The API is still up, and says the auditor is gone.
        status, _, doc = s.api("GET", path, token=tok)
        assert status == 502, doc


# ---- against a fake auditor ----

class FakeAuditor:
    """Answers what the test asks by the query's mode: "sse" (n events,
    gap seconds apart, then idle until the client goes), "cut" (a chunked
    body that stops without its last chunk), "nohead" (never answers),
    "refuse" (a 403 JSON:API error). Records each request, when each event
    was sent, and when each connection was closed by the API."""

    def __init__(self):
        self.srv = socket.create_server(("127.0.0.1", 0), backlog=512)
        self.port = self.srv.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.requests = []  # (target, headers)
        self.sent = {}      # tag -> [monotonic time of event i]
        self.closed = {}    # tag -> monotonic time the API closed it
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn:
            buf = b""
            while b"\r\n\r\n" not in buf:
                b = conn.recv(65536)
                if not b:
                    return
                buf += b
            head = buf.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
            target = head[0].split(" ")[1]
            headers = {k.strip().lower(): v.strip()
                       for k, _, v in (ln.partition(":") for ln in head[1:])}
            q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(target).query))
            tag = q.get("tag", "")
            with self.lock:
                self.requests.append((target, headers))
            mode = q.get("mode", "sse")
            if mode == "refuse":
                body = json.dumps({"errors": [{"status": "403", "title": "Forbidden",
                                               "detail": "Not yours."}],
                                   "jsonapi": {"version": "1.1"}}).encode()
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/vnd.api+json"
                             b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
                return
            if mode == "nohead":
                conn.settimeout(30)
                try:
                    conn.recv(1)
                except OSError:
                    pass
                return
            ctype = "text/event-stream" if mode == "sse" else "application/x-ndjson"
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: " + q.get("type", ctype).encode() +
                         b"\r\nCache-Control: no-store\r\nTransfer-Encoding: chunked\r\n\r\n")
            if mode == "cut":
                for i in range(int(q.get("n", "3"))):
                    line = json.dumps({"i": i}).encode() + b"\n"
                    conn.sendall(b"%x\r\n%s\r\n" % (len(line), line))
                time.sleep(0.3)
                conn.shutdown(socket.SHUT_RDWR)  # no last chunk
                return
            n, gap = int(q.get("n", "5")), float(q.get("gap", "0.2"))
            beat = float(q.get("beat", "0"))
            times = []
            with self.lock:
                self.sent[tag] = times
            try:
                conn.sendall(b"a\r\nretry: 1\n\n\r\n")
                for i in range(n):
                    time.sleep(gap)
                    ev = f"id: {i}\ndata: {{\"i\":{i}}}\n\n".encode()
                    times.append(time.monotonic())
                    conn.sendall(b"%x\r\n%s\r\n" % (len(ev), ev))
                if q.get("end") == "1":
                    conn.sendall(b"0\r\n\r\n")
                # Then, as the auditor does, a comment now and then (beat
                # seconds apart) until the API goes, or silence (beat 0).
                while True:
                    if select.select([conn], [], [], beat or 60)[0]:
                        if not conn.recv(4096):
                            break
                    elif beat:
                        conn.sendall(b"8\r\n: beat\n\n\r\n")
            except OSError:
                pass
            with self.lock:
                self.closed[tag] = time.monotonic()

    def close(self):
        try:  # wakes the accepting thread, which close() alone does not
            self.srv.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.srv.close()


def claims_of(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def read_events(c, n):
    """The first n Server-Sent Events of c, as (id, monotonic time seen)."""
    out, text = [], b""
    while len(out) < n:
        text += c.chunk()
        while b"\n\n" in text:
            ev, _, text = text.partition(b"\n\n")
            fields = dict(ln.split(": ", 1) for ln in ev.decode().split("\n") if ": " in ln)
            if "id" in fields:
                out.append((int(fields["id"]), time.monotonic()))
    return out


def fake_stack(fake, timeout_s="2", **env):
    return Stack(daemons=("api",), extra_env=dict(env, AUDITLOG_AUDITOR_URL=fake.url,
                                                  AUDITLOG_AUDITOR_TIMEOUT=timeout_s))


def test_stream_relays_each_event_at_once():
    fake = FakeAuditor()
    try:
        with fake_stack(fake) as s:
            tok = s.token(1)
            # 16 events 0.25 s apart: 4 s, twice the /logs deadline of 2 s.
            c = Client(s.ports["api"], "/logs/stream?tag=one&n=16&gap=0.25&beat=0.2&"
                       "filter%5Bactor%5D=users%3A1&after=7",
                       {"Authorization": "Bearer " + tok, "Accept": "text/event-stream",
                        "Last-Event-ID": "41"})
            assert c.status == 200 and c.chunked, c.headers
            assert c.headers["content-type"] == "text/event-stream", c.headers
            assert c.headers.get("cache-control") == "no-store", c.headers
            got = read_events(c, 16)
            sent = fake.sent["one"]
            assert [i for i, _ in got] == list(range(16)), got
            lags = [(t - sent[i]) * 1000 for i, t in got]
            print(f"    one stream: lag max {max(lags):.1f} ms, mean "
                  f"{sum(lags) / len(lags):.1f} ms")
            assert max(lags) < 100, lags
            # The query and Last-Event-ID reached the auditor, with a token
            # the API signed for the same user.
            target, headers = fake.requests[-1]
            assert target.startswith("/data-events/stream?"), target
            q = dict(urllib.parse.parse_qsl(target.split("?", 1)[1]))
            assert q["filter[actor]"] == "users:1" and q["after"] == "7", q
            assert headers["last-event-id"] == "41", headers
            assert headers["accept"] == "text/event-stream", headers
            assert headers["authorization"].startswith("Bearer ") and \
                headers["authorization"] != "Bearer " + tok
            # ... which expires with the client's: the auditor ends a stream
            # when its token expires, and it should not end sooner.
            forwarded = claims_of(headers["authorization"][7:])
            assert forwarded["exp"] == claims_of(tok)["exp"], (forwarded, claims_of(tok))
            assert forwarded["id"] == 1
            # The client goes away: the upstream is closed as soon as the API
            # learns it, at the next bytes it sends (the auditor's
            # keep-alive comment; here one every 0.2 s).
            c.close()
            gone = time.monotonic()
            wait_for(lambda: "one" in fake.closed, timeout=5, what="the upstream closed")
            print(f"    a client gone: upstream closed {(fake.closed['one'] - gone) * 1000:.0f} ms "
                  f"after it left")
            assert fake.closed["one"] - gone < 1.5
            # An upstream that ends cleanly ends the stream cleanly.
            c = Client(s.ports["api"], "/logs/stream?tag=end&n=2&gap=0.05&end=1",
                       {"Authorization": "Bearer " + tok})
            body = c.body()
            assert body.count(b"id: ") == 2 and body.endswith(b"\n\n"), body
            c.close()
    finally:
        fake.close()


def test_a_quiet_stream_outlives_the_idle_timeout():
    """A stream waiting for its next event is not an idle connection: with
    the API's http-timeout at 2 s, events 3 s apart still arrive."""
    fake = FakeAuditor()
    try:
        with fake_stack(fake, AUDITLOG_HTTP_TIMEOUT="2") as s:
            tok = s.token(1)
            c = Client(s.ports["api"], "/logs/stream?tag=q&n=3&gap=3",
                       {"Authorization": "Bearer " + tok})
            assert [i for i, _ in read_events(c, 3)] == [0, 1, 2]
            c.close()
    finally:
        fake.close()


def test_an_idle_stream_whose_client_left():
    """With no bytes to relay, a client that goes away still closes the
    upstream within the relay's idle wake (RELAY_IDLE_WAKE_MS, 1 s): http.c
    looks at the client's socket before suspending a waiting stream."""
    fake = FakeAuditor()
    try:
        with fake_stack(fake) as s:
            tok = s.token(1)
            c = Client(s.ports["api"], "/logs/stream?tag=idle&n=1&gap=0",
                       {"Authorization": "Bearer " + tok})
            assert [i for i, _ in read_events(c, 1)] == [0]
            time.sleep(0.3)
            c.close()
            gone = time.monotonic()
            wait_for(lambda: "idle" in fake.closed, timeout=5, what="the upstream closed")
            print(f"    an idle stream's client gone: upstream closed "
                  f"{(fake.closed['idle'] - gone) * 1000:.0f} ms after it left")
            assert fake.closed["idle"] - gone < 2
    finally:
        fake.close()


def test_stopping_the_api():
    """The API stopping ends a live stream cleanly (its client resumes from
    its last event) and cuts an export short (it is incomplete)."""
    fake = FakeAuditor()
    try:
        with fake_stack(fake) as s:
            tok = s.token(1)
            auth = {"Authorization": "Bearer " + tok}
            live = Client(s.ports["api"], "/logs/stream?tag=l&n=1&gap=0", auth)
            export = Client(s.ports["api"], "/logs/stream?tag=x&n=1&gap=0&type=text/csv", auth)
            assert export.headers["content-type"] == "text/csv"
            assert [i for i, _ in read_events(live, 1)] == [0]
            assert export.chunk()
            # HEAD: the head only.
            status, hdrs, body = http("HEAD", s.url("api", "/logs/stream?tag=h&n=1&gap=0&end=1"),
                                      None, auth)
            assert status == 200 and body == b"" and \
                hdrs["content-type"] == "text/event-stream", (status, hdrs)
            assert s.stop("api") == 0
            live.body()  # ends with the last chunk, or raises Cut
            try:
                export.body()
                raise AssertionError("an export ended cleanly when the API stopped")
            except Cut:
                pass
            live.close()
            export.close()
    finally:
        fake.close()


def test_stream_failures_pass_through():
    fake = FakeAuditor()
    try:
        with fake_stack(fake) as s:
            tok = s.token(1)
            auth = {"Authorization": "Bearer " + tok}
            # No head within the deadline: 502, in about the deadline.
            t0 = time.monotonic()
            status, _, body = http("GET", s.url("api", "/logs/stream?mode=nohead"), None, auth)
            took = time.monotonic() - t0
            assert status == 502 and 1.5 < took < 5, (status, took)
            # A refusal is passed back as the error it is.
            status, hdrs, body = http("GET", s.url("api", "/logs/stream?mode=refuse"), None,
                                      auth)
            assert status == 403 and error_of(json.loads(body))["detail"] == "Not yours."
            assert "insufficient_scope" in hdrs.get("www-authenticate", ""), hdrs
            # An export cut short upstream is cut short downstream.
            c = Client(s.ports["api"], "/logs/stream?mode=cut&n=3",
                       dict(auth, Accept=NDJSON))
            assert c.status == 200 and c.headers["content-type"] == NDJSON
            data = b""
            try:
                while True:
                    piece = c.chunk()
                    if not piece:
                        raise AssertionError("a cut body ended with its last chunk")
                    data += piece
            except Cut:
                pass
            c.close()
            assert data == b"".join(json.dumps({"i": i}).encode() + b"\n" for i in range(3))
            # A repeated Last-Event-ID is refused, as the auditor refuses it,
            # not passed on as its first value.
            with socket.create_connection(("127.0.0.1", s.ports["api"]), timeout=10) as c:
                c.sendall(f"GET /logs/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}"
                          "\r\nLast-Event-ID: 5\r\nLast-Event-ID: 15000\r\nConnection: close"
                          "\r\n\r\n".encode())
                answer = b""
                while piece := c.recv(65536):
                    answer += piece
            assert answer.startswith(b"HTTP/1.1 400") and b"more than once" in answer, answer
            # No auditor at all: 502.
            fake.close()
            status, _, _ = http("GET", s.url("api", "/logs/stream"), None, auth)
            assert status == 502
    finally:
        fake.close()


def test_two_hundred_streams_at_once():
    fake = FakeAuditor()
    n, events = 200, 5
    try:
        with fake_stack(fake, timeout_s="10") as s:
            tok = s.token(1)
            pid = s.daemons["api"].proc.pid
            before = threads_of(pid)
            clients, lags, errors = [], [], []
            for i in range(n):
                clients.append(Client(s.ports["api"], f"/logs/stream?tag=m{i}&n={events}&gap=0.5&beat=0.5",
                                      {"Authorization": "Bearer " + tok}, timeout=30))
            assert all(c.status == 200 for c in clients)
            during = threads_of(pid)
            lock = threading.Lock()

            def reader(i, c):
                try:
                    got = read_events(c, events)
                    sent = fake.sent[f"m{i}"]
                    with lock:
                        lags.extend((t - sent[k]) * 1000 for k, t in got)
                    assert [k for k, _ in got] == list(range(events))
                except Exception as e:  # noqa: BLE001 - collected and reported
                    with lock:
                        errors.append(repr(e))
            ts = [threading.Thread(target=reader, args=(i, c)) for i, c in enumerate(clients)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(60)
            assert not errors, errors[:5]
            assert len(lags) == n * events
            lags.sort()
            p99 = lags[int(len(lags) * 0.99)]
            print(f"    {n} streams: API threads {before} before, {during} with them open; "
                  f"lag p50 {lags[len(lags) // 2]:.1f} ms, p99 {p99:.1f} ms, "
                  f"max {lags[-1]:.1f} ms")
            # No thread per stream: the server's workers, its pool, the relay.
            assert during - before <= 2, (before, during)
            for c in clients:
                c.close()
            wait_for(lambda: len(fake.closed) == n, timeout=10, what="every upstream closed")
    finally:
        fake.close()


if __name__ == "__main__":
    run([test_exports_through_the_api_equal_the_auditors, test_leaving_and_dying_mid_export,
         test_stream_relays_each_event_at_once, test_a_quiet_stream_outlives_the_idle_timeout,
         test_an_idle_stream_whose_client_left, test_stopping_the_api,
         test_stream_failures_pass_through,
         test_two_hundred_streams_at_once])
