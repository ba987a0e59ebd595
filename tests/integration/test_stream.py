"""The live stream (issue 12): GET /data-events/stream sends the stored
events that match the query filters as Server-Sent Events (WHATWG HTML
§9.2): `retry:` first, then `id: <seq>` and the event's JSON:API resource
as data, a comment line when idle. It resumes from Last-Event-ID or
?after= with exactly the stored matches after it and then the live ones,
no gap and no duplicate across the hand-off, even for a client killed and
reconnected at random moments under load; it refuses what it cannot serve
with JSON:API errors, reads only what the token may, ends when the token
expires, its user is deleted or the auditor stops, and feeds 200
subscribers at once."""
import json
import os
import random
import re
import socket
import threading
import time
import urllib.parse
import uuid

import harness
from harness import Stack, error_of, http, run, unique, wait_for
from test_erasure import erasure
from test_filters import publish
from test_hostile import jwt

# Small figures so that the test sees each path: a heartbeat in well under
# a second, a ring of 50 (older positions are read from the store), a
# backlog cap a test can pass, quick principal re-checks.
ENV = {"AUDITLOG_STREAM_HEARTBEAT_MS": "300", "AUDITLOG_STREAM_BUFFER": "50",
       "AUDITLOG_STREAM_BACKLOG_MAX": "3000", "AUDITLOG_STREAM_RETRY_MS": "1234",
       "AUDITLOG_PRINCIPAL_TTL_MS": "200"}


class SSE:
    """A Server-Sent Events client on a raw socket: the status, headers,
    and the body parsed as it arrives (chunked), as the spec's parser does:
    complete messages only (an event is dispatched at its blank line)."""

    def __init__(self, port, path, token, last_id=None, timeout=10):
        self.url = f"http://127.0.0.1:{port}{path}"
        self.text = ""  # the complete messages, for the harness's schema checks
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        head = f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n"
        if token:
            head += f"Authorization: Bearer {token}\r\n"
        for v in (last_id if isinstance(last_id, list) else
                  [] if last_id is None else [last_id]):  # a list: the header repeated
            head += f"Last-Event-ID: {v}\r\n"
        self.sock.sendall((head + "\r\n").encode())
        self.raw = b""
        while b"\r\n\r\n" not in self.raw:
            b = self.sock.recv(65536)
            assert b, "closed before the head"
            self.raw += b
        head, _, self.raw = self.raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split(" ")[1])
        self.headers = {k.strip().lower(): v.strip() for k, _, v in
                        (ln.partition(":") for ln in lines[1:])}
        self.body = b""       # dechunked, not yet parsed
        self.ended = False    # the last chunk came
        self.closed = False   # the connection closed
        self.events = []      # (id, data) of complete messages
        self.comments = 0
        self.last_id = None if isinstance(last_id, list) else last_id  # as an EventSource keeps it
        self.retry = None
        self.fields = []      # every field line, in order

    def error(self):
        """The JSON:API error document of a refused stream."""
        assert self.status != 200
        n = int(self.headers["content-length"])
        while len(self.raw) < n:
            self.raw += self.sock.recv(65536)
        self.close()
        harness.schema.check("GET", self.url, self.status, self.headers, self.raw[:n])
        return json.loads(self.raw[:n])

    def _dechunk(self):
        while not self.ended:
            line, sep, rest = self.raw.partition(b"\r\n")
            if not sep:
                return
            n = int(line.split(b";")[0], 16)
            if n == 0:
                self.ended = True
                return
            if len(rest) < n + 2:
                return
            self.body += rest[:n]
            self.raw = rest[n + 2:]

    def _parse(self):
        while b"\n\n" in self.body:
            msg, _, self.body = self.body.partition(b"\n\n")
            if self.text is not None and len(self.text) < (256 << 10):
                self.text += msg.decode() + "\n\n"
            ev_id, data = None, []
            for ln in msg.decode().split("\n"):
                self.fields.append(ln)
                if ln.startswith(":"):
                    self.comments += 1
                elif ln.startswith("retry: "):
                    self.retry = int(ln[7:])
                elif ln.startswith("id: "):  # a position; several logs': its text
                    ev_id = self.last_id = int(ln[4:]) if ln[4:].isdigit() else ln[4:]
                elif ln.startswith("data: "):
                    data.append(ln[6:])
            if data:
                self.events.append((ev_id, json.loads("\n".join(data))))

    def pump(self, seconds, pred=None):
        """Reads for up to seconds, until the body ends or pred() holds."""
        until = time.monotonic() + seconds
        while not self.ended and not self.closed and not (pred and pred()):
            left = until - time.monotonic()
            if left <= 0:
                return
            self.sock.settimeout(left)
            try:
                b = self.sock.recv(65536)
            except socket.timeout:
                return
            except OSError:
                b = b""
            if not b:
                self.closed = True
            self.raw += b
            self._dechunk()
            self._parse()

    def until(self, pred, timeout=20, what="the stream"):
        end = time.monotonic() + timeout
        while not pred():
            assert time.monotonic() < end, f"timed out waiting for {what}"
            assert not self.ended and not self.closed, f"the stream ended waiting for {what}"
            self.pump(0.5, pred)

    def ids(self):
        return [i for i, _ in self.events]

    def close(self):
        """Drops the connection at once (RST), as a killed client does; what
        a stream sent is then checked against the auditor's OpenAPI
        document (once)."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass
        self.sock.close()
        text, self.text = self.text, None
        if self.status == 200 and text:  # closed before any message: nothing to check
            harness.schema.check("GET", self.url, self.status, self.headers, text.encode())


def path(params):
    return "/data-events/stream" + ("?" + urllib.parse.urlencode(params) if params else "")


def events_for(actor, n, t0=None, rng=None, targets=("d1",)):
    rng = rng or random.Random(n)
    t0 = t0 or int(time.time() * 1000)
    out = []
    for i in range(n):
        action = rng.choice(("viewed", "created", "changed", "deleted"))
        e = {"id": str(uuid.uuid4()), "action": action, "timestamp": t0 + i,
             "actorType": "service", "actorId": actor, "targetType": "documents",
             "targetId": rng.choice(targets)}
        if action != "viewed":
            e["changes"] = {rng.choice(("a", "b")): {
                "prev": None if action == "created" else 1,
                "next": None if action == "deleted" else 2}}
        if rng.random() < 0.3:
            e["eventName"] = "n1"
        out.append(e)
    return out


def stored(s, tok, params):
    """The stored matches of the filters params, in position order."""
    q = "/data-events?" + urllib.parse.urlencode(params)
    return sorted(s.events(q, tok), key=lambda r: r["attributes"]["seq"])


def test_format_live_and_heartbeat():
    with Stack(ENV, daemons=("api", "auditor")) as s:
        tok = s.token(1)
        u = unique("live")
        c = SSE(s.ports["auditor"], path({"filter[actor]": f"service:{u}"}), tok)
        assert c.status == 200 and c.headers["content-type"] == "text/event-stream", c.headers
        assert c.headers.get("transfer-encoding") == "chunked"
        assert c.headers.get("cache-control") == "no-store"
        c.until(lambda: c.comments >= 2, what="two keep-alive comments")
        assert c.fields[0] == "retry: 1234" and c.retry == 1234, c.fields[:2]
        assert ": keep-alive" in c.fields and not c.events
        evs = events_for(u, 30, targets=(u,))
        evs[0]["changes"] = {"z": {"prev": "ü\n\r", "next": {"x": [1, None]}}}
        evs[0]["action"] = "changed"
        publish(evs)
        c.until(lambda: len(c.events) == 30, what="the 30 live events")
        # id is the position; data is the resource a /data-events page gives.
        page = stored(s, tok, {"filter[actor]": f"service:{u}"})
        assert [r["id"] for _, r in c.events] == [r["id"] for r in page]
        for (i, r), p in zip(c.events, page):
            p.pop("meta", None)
            assert i == r["attributes"]["seq"] and r == p, (i, r, p)
        seqs = c.ids()
        assert seqs == sorted(seqs) and len(set(seqs)) == 30
        c.close()
        # Values erased after they were streamed are not streamed again:
        # a resume (from the ring, where they were rendered) shows them
        # erased, as a page does.
        status, _, doc = s.request("auditor", "POST", "/erasures", erasure(
            f"documents:{evs[0]['targetId']}", "stream test"), tok)
        assert status == 201, doc
        c = SSE(s.ports["auditor"], path({"filter[actor]": f"service:{u}"}), tok,
                last_id=seqs[0] - 1)
        c.until(lambda: len(c.events) >= 30, what="the resumed events")
        first = c.events[0][1]["attributes"]["changes"]
        assert first == {"z": {"erased": True}}, first
        assert all("prev" not in ch for _, r in c.events
                   for ch in r["attributes"].get("changes", {}).values())
        c.close()


def test_resume_ahead_of_the_reader():
    """A position stored after the hub's last look (a page showed it) is
    resumable at once: the store decides, and it is not 'too old' (the
    distance to the hub's head once wrapped around below zero: 410). Since
    the writer wakes the hub at each COMMIT, the store is ahead of the hub
    only briefly: unit.stream holds a subscriber beyond the hub's head for
    as long as it likes; this checks the HTTP side answers 200, not 410."""
    with Stack(dict(ENV, AUDITLOG_STREAM_POLL_MS="3000"), daemons=("api", "auditor")) as s:
        tok = s.token(1)
        u = unique("ahead")
        publish(events_for(u, 3))
        got = wait_for(lambda: stored(s, tok, {"filter[actor]": f"service:{u}"}), what="stored")
        seq = max(r["attributes"]["seq"] for r in got)
        for how in ({"last_id": seq - 1}, {}):
            p = path({"filter[actor]": f"service:{u}"}) + ("" if how else f"&after={seq - 1}")
            c = SSE(s.ports["auditor"], p, tok, **how)
            assert c.status == 200, (c.status, c.raw[:300])
            c.until(lambda: c.ids() == [seq], what="the last event, once the hub reads it")
            c.close()


def test_keep_alive_carries_the_position():
    """A keep-alive comment comes with the position the stream has passed
    as its id (no data: an EventSource takes the id and dispatches
    nothing). A client whose filter matched nothing for longer than the
    backlog resumes from there; from its last match it would get 410."""
    with Stack(dict(ENV, AUDITLOG_STREAM_BACKLOG_MAX="40"), daemons=("api", "auditor")) as s:
        tok = s.token(1)
        u = unique("quiet")
        flt = path({"filter[actor]": f"service:{u}"})
        c = SSE(s.ports["auditor"], flt, tok)
        assert c.status == 200
        publish(events_for(u, 1))
        c.until(lambda: len(c.events) == 1, what="the quiet actor's event")
        first = c.events[0][0]
        other = unique("busy")
        publish(events_for(other, 60))
        got = wait_for(lambda: (lambda r: r if len(r) == 60 else None)(
            stored(s, tok, {"filter[actor]": f"service:{other}"})), what="60 other events")
        end = max(r["attributes"]["seq"] for r in got)
        c.until(lambda: c.last_id >= end, what="a keep-alive past the other events")
        assert len(c.events) == 1, c.events
        c.close()
        # From the last match: too far behind now.
        old = SSE(s.ports["auditor"], flt, tok, last_id=first)
        assert old.status == 410, old.status
        old.error()
        # From the keep-alive's id: served, and the next match comes once.
        r = SSE(s.ports["auditor"], flt, tok, last_id=c.last_id)
        assert r.status == 200, (r.status, r.raw[:300])
        publish(events_for(u, 1))
        r.until(lambda: len(r.events) == 1, what="the next match")
        r.pump(0.5)
        assert len(r.events) == 1 and r.events[0][0] > end, r.events
        r.close()


def test_resume_and_hand_off_under_load():
    with Stack(ENV, daemons=("api", "auditor")) as s:
        tok = s.token(1)
        u = unique("res")
        a = f"service:{u}"
        first = events_for(u, 300)  # history: more than the ring holds
        publish(first)
        wait_for(lambda: len(stored(s, tok, {"filter[actor]": a})) == 300, what="history")
        hist = stored(s, tok, {"filter[actor]": a})
        stop = threading.Event()
        published = []

        def load():  # keeps events coming, for this actor and for others
            rng = random.Random(7)
            while not stop.is_set():
                batch = events_for(u, 10, rng=rng) + events_for(unique("other"), 10, rng=rng)
                publish(batch)
                published.extend(batch[:10])
                time.sleep(0.05)

        t = threading.Thread(target=load)
        t.start()
        try:
            clients = []
            for k, cut in enumerate((0, 120, 270, 299)):
                after = hist[cut]["attributes"]["seq"]
                how = {"last_id": after} if k % 2 else {}
                params = {"filter[actor]": a, "filter[action]": "changed,created,deleted,viewed"}
                if not how:
                    params["after"] = after
                clients.append((after, cut, SSE(s.ports["auditor"], path(params), tok, **how)))
            # Each gets past the history into events published after it
            # subscribed.
            for after, cut, c in clients:
                assert c.status == 200
                c.until(lambda: len(c.ids()) >= 299 - cut + 40, what="history then live")
        finally:
            stop.set()
            t.join()
        want_all = stored(s, tok, {"filter[actor]": a})
        assert len(want_all) >= 340
        for after, _, c in clients:
            got = c.ids()
            want = [r["attributes"]["seq"] for r in want_all if r["attributes"]["seq"] > after]
            assert got == want[:len(got)], (after, got[:5], want[:5])
            c.close()
        # Both at once must agree; a position past the head is refused.
        head = want_all[-1]["attributes"]["seq"]
        c = SSE(s.ports["auditor"], path({"after": head, "filter[actor]": a}), tok, last_id=head)
        assert c.status == 200
        c.close()


def test_refusals_are_jsonapi_errors():
    with Stack(ENV, daemons=("api", "auditor")) as s:
        tok = s.token(1)
        u = unique("ref")
        publish(events_for(u, 3200))  # over the backlog cap of 3000
        wait_for(lambda: len(stored(s, tok, {"filter[actor]": f"service:{u}"})) == 3200,
                 timeout=60, what="3200 events")
        mine = [r["attributes"]["seq"] for r in stored(s, tok, {"filter[actor]": f"service:{u}"})]
        port = s.ports["auditor"]

        def refused(params, status, param=None, last_id=None, token=tok):
            c = SSE(port, path(params), token, last_id=last_id)
            assert c.status == status, (params, c.status)
            assert c.headers["content-type"] == "application/vnd.api+json"
            e = error_of(c.error())
            if param:
                assert e["source"]["parameter"] == param, e
            return e

        # The log's end, as a refusal (which records no read) names it: other
        # events may follow the crafted ones (a token's, a query's record).
        def end():
            e = refused({"after": 10 ** 15}, 400)
            return int(re.search(r"below (\d+)", e["detail"]).group(1))

        time.sleep(0.5)
        for _ in range(3):  # the end may move between the two requests: ask again
            head = end()
            c = SSE(port, path({"after": head - 3001, "filter[actor]": f"service:{u}"}), tok)
            if c.status == 200:
                break
            error_of(c.error())
        assert c.status == 200  # the oldest it serves: 3000 positions behind the end
        want = [x for x in mine if x > head - 3001]
        assert len(want) > 2500
        c.until(lambda: len(c.events) >= len(want), timeout=60, what="the backlog")
        assert c.ids() == want
        c.close()
        e = refused({"after": head - 3002}, 410)
        assert "3000" in e["detail"], e
        refused({"after": 0}, 410)
        refused({"after": head + 1000}, 400)
        refused({}, 400, last_id=head + 1000)
        refused({"after": "12x"}, 400, "after")
        refused({"after": "-1"}, 400, "after")
        refused({}, 400, last_id="abc")
        e = refused({}, 400, last_id=[head - 5, head - 5])  # the header twice: which?
        assert "more than once" in e["detail"], e
        refused({"after": 5}, 400, "after", last_id=6)
        for p in ("sort", "page[size]", "page[after]", "filter[flag]"):
            e = refused({p: "gap" if p == "filter[flag]" else "1"}, 400, p)
            assert "stream" in e["detail"], e
        refused({"nonsense": "1"}, 400, "nonsense")
        # The filters' mistakes read as they do on /data-events.
        for bad in ({"filter[actor]": "nocolon"}, {"filter[action]": "eaten"},
                    {"filter[since]": "yesterday"}, {"filter[field]": "a b"},
                    {"filter[since]": "2000", "filter[until]": "1000"}):
            e = refused(dict(bad, **{"filter[target]": "documents:x"}), 400)
            status, _, doc = s.auditor("GET", "/data-events?" + urllib.parse.urlencode(
                dict(bad, **{"filter[target]": "documents:x"})), token=tok)
            assert status == 400 and error_of(doc) == e, (bad, doc, e)
        refused({}, 401, token=None)


def test_authorization_and_the_end_of_a_token():
    with Stack(ENV, daemons=("api", "auditor")) as s:
        admin = s.token(1)
        uid = s.new_user(admin, "sse")
        plain = s.token(uid)
        port = s.ports["auditor"]
        for params in ({}, {"filter[actor]": "users:1"}, {"filter[target]": "documents:x"}):
            c = SSE(port, path(params), plain)
            assert c.status == 403, params
            error_of(c.error())
        # Its own events only: acting on itself through the API.
        mine = SSE(port, path({"filter[target]": f"users:{uid}"}), plain)
        assert mine.status == 200
        other = SSE(port, path({"filter[actor]": "service:" + unique("x")}), admin)
        status, _, _ = s.api("PATCH", f"/api/users/{uid}", token=plain, body={
            "data": {"type": "users", "id": str(uid), "attributes": {"name": "Renamed"}}})
        assert status == 200
        mine.until(lambda: any(r["attributes"]["action"] == "changed" for _, r in mine.events),
                   what="its own change")
        assert all(r["attributes"]["targetId"] == str(uid) for _, r in mine.events)
        # A token that expires mid-stream ends it with the last chunk, when
        # queries would refuse it too: at its exp plus the 30 s leeway.
        claims = json.loads(__import__("base64").urlsafe_b64decode(admin.split(".")[1] + "=="))
        claims["exp"] = int(time.time()) - 30 + 3
        short = jwt({"alg": "RS256", "typ": "JWT"}, claims)
        gone = dict(claims, exp=int(time.time()) - 31)
        c = SSE(port, path({}), jwt({"alg": "RS256", "typ": "JWT"}, gone))
        assert c.status == 401, c.status
        c.close()
        c = SSE(port, path({}), short)
        assert c.status == 200
        t0 = time.monotonic()
        c.pump(10)
        assert c.ended, "the stream outlived its token"
        assert 1.5 < time.monotonic() - t0 < 6
        # The deleted user's stream ends (within the principal ttl and a
        # re-check).
        status, _, _ = s.api("DELETE", f"/api/users/{uid}", token=admin)
        assert status == 204
        mine.pump(5)
        assert mine.ended, "a deleted user's stream went on"
        mine.close()
        # Its token is refused from then on.
        c = SSE(port, path({"filter[target]": f"users:{uid}"}), plain)
        assert c.status == 401
        c.close()
        # The auditor's own stream goes on; stopping the auditor ends it
        # cleanly.
        other.pump(0.5)
        assert not other.ended and not other.closed
        assert s.stop("auditor") == 0
        other.pump(5)
        assert other.ended, "stopping the auditor did not end the body with its last chunk"
        other.close()


def test_200_subscribers_get_every_event():
    with Stack(ENV, daemons=("api", "auditor")) as s:
        tok = s.token(1)
        u = unique("many")
        subs = [SSE(s.ports["auditor"], path({"filter[actor]": f"service:{u}"}), tok)
                for _ in range(200)]
        assert all(c.status == 200 for c in subs)
        evs = events_for(u, 60)
        publish(evs)
        deadline = time.monotonic() + 60
        for c in subs:
            c.until(lambda: len(c.events) >= 60, timeout=max(1, deadline - time.monotonic()),
                    what="60 events on each of 200 streams")
        ids = [e["id"] for e in evs]
        for c in subs:
            assert [r["id"] for _, r in c.events] == ids
            c.close()
        # Those events came to the stream from the writer's hands, at their
        # COMMIT, not read back from the store: the auditor says so as it
        # stops.
        log_path = s.daemons["auditor"].log_path
        assert s.stop("auditor") == 0
        with open(log_path, errors="replace") as f:
            said = re.findall(r"stream: (\d+) positions handed over by the log's writer, "
                              r"(\d+) read from the store", f.read())
        assert said and int(said[-1][0]) >= 60, said


def test_killed_and_reconnected_100_times():
    rng = random.Random(1212)
    # The default backlog: a client whose filter matched nothing for a
    # while resumes from the last event it got, however far behind.
    with Stack(dict(ENV, AUDITLOG_STREAM_BACKLOG_MAX="1000000"),
               daemons=("api", "auditor")) as s:
        tok = s.token(1)
        u = unique("kill")
        actors = [f"{u}-a{i}" for i in range(3)]
        stop = threading.Event()

        def load():  # a steady mixed load: three actors, every action
            r = random.Random(5)
            while not stop.is_set():
                batch = []
                for a in actors:
                    batch += events_for(a, r.randrange(1, 8), rng=r, targets=("d1", "d2"))
                r.shuffle(batch)
                publish(batch)
                time.sleep(0.02)

        flt = {"filter[actor]": f"service:{actors[0]}", "filter[action]": "changed,deleted"}
        publish(events_for(actors[0], 5))
        wait_for(lambda: stored(s, tok, {"filter[actor]": f"service:{actors[0]}"}),
                 what="a first event")
        start = stored(s, tok, {"filter[actor]": f"service:{actors[0]}"})[0]["attributes"]["seq"]
        t = threading.Thread(target=load)
        t.start()
        got, last = [], start
        try:
            for _ in range(100):
                c = SSE(s.ports["auditor"], path(flt), tok, last_id=last)
                assert c.status == 200, (c.status, c.raw[:400])
                c.pump(rng.uniform(0.0, 0.25))
                got += c.ids()
                if c.events:
                    last = c.events[-1][0]
                c.close()  # mid-message, maybe
        finally:
            stop.set()
            t.join()
        # Everything stored by now, then one last resume to the end.
        time.sleep(1)
        want = [r["attributes"]["seq"] for r in stored(s, tok, flt)
                if r["attributes"]["seq"] > start]
        c = SSE(s.ports["auditor"], path(flt), tok, last_id=last)
        c.until(lambda: (got + c.ids())[-1:] == want[-1:], what="the rest")
        got += c.ids()
        c.close()
        assert len(want) > 100
        assert len(got) == len(set(got)), "a duplicate"
        assert got == want, (len(got), len(want), "gaps" if set(want) - set(got) else "order")


if __name__ == "__main__":
    run([test_format_live_and_heartbeat, test_resume_ahead_of_the_reader,
         test_keep_alive_carries_the_position,
         test_resume_and_hand_off_under_load,
         test_refusals_are_jsonapi_errors, test_authorization_and_the_end_of_a_token,
         test_200_subscribers_get_every_event, test_killed_and_reconnected_100_times])
