"""GET /metrics (issue 15): each daemon's exposition passes `promtool check
metrics` (Debian's prometheus package) without a complaint; /metrics needs
the metrics token (401 without it, 404 on a daemon that has none); and
under a known load the counters move by exactly what the load did: HTTP
requests by route, method and status class (with their histogram), events
emitted, outboxed, spooled, published and confirmed, consumed and stored,
batches and commits, the log's size and checkpoint, stream subscribers;
cutting the connections to MariaDB and RabbitMQ moves the reconnect
counters."""
import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse
import uuid

from harness import Stack, TcpProxy, error_of, http, raw_http, run, wait_for
from test_stream import SSE

TOKEN = "metrics-" + uuid.uuid4().hex
# Two consumers (the default is one), so the counts below count several.
ENV = {"AUDITLOG_METRICS_TOKEN": TOKEN, "AUDITLOG_CHECKPOINT_MS": "200",
       "AUDITLOG_CONSUMERS": "2", "AUDITLOG_STREAM_HEARTBEAT_MS": "100",
       "AUDITLOG_LINGER_MS": "5"}
DAEMONS = ("api", "auditor", "web")


def scrape(s, name, token=TOKEN):
    status, headers, body = http("GET", s.url(name, "/metrics"),
                                 headers={"Authorization": f"Bearer {token}"})
    assert status == 200, (name, status, body[:300])
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8", headers
    return body.decode("utf-8")


def promtool(text):
    """Fails on anything `promtool check metrics` says of text."""
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: install Debian's prometheus package (./run.sh test does)"
    p = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(), \
        f"promtool check metrics: status {p.returncode}\n{p.stdout}{p.stderr}"


LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset of label pairs): value} of every sample."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        name, _, labels = series.partition("{")
        pairs = frozenset((k, v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\"))
                          for k, v in LABEL.findall(labels))
        key = (name, pairs)
        assert key not in out, f"sample twice: {line}"
        out[key] = float(value)
    return out


def val(m, name, **labels):
    """A sample's value, 0 when absent (a labelled series appears once used)."""
    return m.get((name, frozenset(labels.items())), 0.0)


def metrics(s, name):
    return parse(scrape(s, name))


def test_exposition_and_access():
    with Stack(ENV) as s:
        tok = s.token(1)
        s.api("GET", "/api/users/1", token=tok)  # something in every family of the API
        for name in DAEMONS:
            text = scrape(s, name)
            promtool(text)
            m = parse(text)
            for family in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_virtual_memory_bytes", "process_open_fds",
                           "process_max_fds", "process_start_time_seconds"):
                assert (family, frozenset()) in m, (name, family)
            assert m[("process_resident_memory_bytes", frozenset())] > 1e6, name
            assert 0 < m[("process_open_fds", frozenset())] <= m[("process_max_fds", frozenset())]
            assert abs(m[("process_start_time_seconds", frozenset())] - time.time()) < 600, name
            # Without the token, with another, in another scheme, twice: 401.
            url = s.url(name, "/metrics")
            for headers in ({}, {"Authorization": f"Bearer {TOKEN}x"},
                            {"Authorization": f"Bearer {TOKEN[:-1]}"},
                            {"Authorization": f"Basic {TOKEN}"}, {"Authorization": "Bearer "}):
                status, hdrs, body = http("GET", url, headers=headers)
                assert status == 401, (name, headers, status)
                assert hdrs["www-authenticate"].startswith("Bearer"), hdrs
                assert TOKEN not in body.decode(), body
            answer = raw_http(s.ports[name],
                              f"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                              f"{TOKEN}\r\nAuthorization: Bearer {TOKEN}\r\n"
                              f"Connection: close\r\n\r\n".encode())
            assert answer.startswith(b"HTTP/1.1 401"), answer[:100]
            status, hdrs, _ = http("POST", url, body=b"",
                                   headers={"Authorization": f"Bearer {TOKEN}"})
            assert status == 405 and hdrs["allow"] == "GET, HEAD", (status, hdrs)
            status, hdrs, body = http("HEAD", url, headers={"Authorization": f"Bearer {TOKEN}"})
            assert status == 200 and body == b"", (status, body)
            # The refusals were counted, under /metrics, not under a route.
            m = metrics(s, name)
            assert val(m, "auditlog_http_requests_total", route="/metrics", method="GET",
                       status="4xx") == 7, name
    # No token: no /metrics, on the web daemon too (its "*" route answers).
    with Stack({"AUDITLOG_METRICS_TOKEN": ""}) as s:
        for name in DAEMONS:
            status, _, body = http("GET", s.url(name, "/metrics"),
                                   headers={"Authorization": f"Bearer {TOKEN}"})
            assert status == 404, (name, status)
            error_of(json.loads(body))


def wait_metric(s, name, pred, what, timeout=30):
    """Scrapes name until pred(metrics) holds; returns those metrics."""
    box = {}

    def ok():
        box["m"] = metrics(s, name)
        return pred(box["m"])
    wait_for(ok, timeout, 0.1, what)
    return box["m"]


def delta(after, before, name, **labels):
    return val(after, name, **labels) - val(before, name, **labels)


def expect(after, before, n, name, **labels):
    """The sample moved by exactly n between the two scrapes."""
    got = delta(after, before, name, **labels)
    assert got == n, f"{name}{labels} moved by {got:g}, not {n}"


def test_counters_follow_a_known_load():
    with Stack(ENV) as s:
        tok = s.token(1)
        uid = s.new_user(tok, "metrics")
        path = f"/api/users/{uid}"
        # Everything before the load reached the auditor and its checkpoint
        # (and whatever an earlier test left in the queue was consumed).
        drained = (lambda m: val(m, "auditlog_unconfirmed_events") == 0 and
                   val(m, "auditlog_outbox_backlog_events") == 0 and
                   val(m, "auditlog_spool_backlog_bytes") == 0)
        wait_metric(s, "api", drained, "the API to drain")
        # A scrape reads its samples one after another: the one that saw
        # the drain may have read a counter before the last confirm
        # counted (CI: confirmed moved by 61 for 60 published). The next,
        # with nothing in flight, is the baseline.
        time.sleep(0.2)
        a0 = metrics(s, "api")
        assert drained(a0), "the API drained, then sent more with no load"
        emitted0 = sum(val(a0, "auditlog_emitted_events_total", action=x)
                       for x in ("viewed", "created", "changed", "deleted"))
        last = {}

        def auditor_settled():
            # the pipeline's samples (not the scrapes' own) unchanged since the last look
            m = {k: v for k, v in metrics(s, "auditor").items()
                 if not k[0].startswith(("process_", "auditlog_http"))}
            settled = val(m, "auditlog_stored_events_total") >= emitted0 and \
                val(m, "auditlog_checkpoint_lag_events", log="0") == 0 and m == last
            last.clear()
            last.update(m)
            return settled
        wait_for(auditor_settled, 30, 0.3, "the auditor to store what came before")
        d0 = dict(last)
        w0 = metrics(s, "web")

        # The load: 50 GETs, 5 HEADs (a HEAD counts as its GET and views
        # nothing), 10 PATCHes (a change and a view each), a 404 and a 401 on
        # the same route, a path no route takes; 7 pages of the web UI.
        for _ in range(50):
            assert s.api("GET", path, token=tok)[0] == 200
        for _ in range(5):
            assert http("HEAD", s.url("api", path),
                        headers={"Authorization": f"Bearer {tok}"})[0] == 200
        for i in range(10):
            status, _, doc = s.api("PATCH", path, token=tok, body={"data": {
                "type": "users", "id": uid, "attributes": {"name": f"Metrics {i}"}}})
            assert status == 200, (status, doc)
        assert s.api("GET", "/api/users/4000000000", token=tok)[0] == 404
        assert s.api("GET", path)[0] == 401
        assert s.api("GET", "/no/such/path", token=tok)[0] == 404
        for _ in range(7):
            assert http("GET", s.url("web", "/"))[0] == 200

        a1 = wait_metric(s, "api", lambda m: delta(m, a0, "auditlog_confirmed_events_total",
                                                   source="spool") >= 60 and
                         delta(m, a0, "auditlog_confirmed_events_total", source="outbox") >= 10,
                         "the broker to confirm the load's events")
        d1 = wait_metric(s, "auditor", lambda m: delta(m, d0, "auditlog_stored_events_total")
                         >= 70 and val(m, "auditlog_checkpoint_lag_events", log="0") == 0,
                         "the auditor to store and sign them")
        time.sleep(0.5)  # nothing more may come
        a1, d1, w1 = metrics(s, "api"), metrics(s, "auditor"), metrics(s, "web")

        route = dict(route="/api/users/:id")
        requests = "auditlog_http_requests_total"
        expect(a1, a0, 55, requests, method="GET", status="2xx", **route)
        expect(a1, a0, 10, requests, method="PATCH", status="2xx", **route)
        expect(a1, a0, 2, requests, method="GET", status="4xx", **route)
        expect(a1, a0, 1, requests, route="unmatched", method="any", status="4xx")
        hist = "auditlog_http_request_duration_seconds"
        for method, n in (("GET", 55), ("PATCH", 10)):
            labels = dict(method=method, status="2xx", **route)
            expect(a1, a0, n, hist + "_count", **labels)
            expect(a1, a0, n, hist + "_bucket", le="+Inf", **labels)
            expect(a1, a0, n, hist + "_bucket", le="10", **labels)
            assert 0 < delta(a1, a0, hist + "_sum", **labels) < n * 10, method
            # cumulative buckets never fall
            les = sorted((float(dict(k[1])["le"]), v) for k, v in a1.items()
                         if k[0] == hist + "_bucket" and dict(k[1]).get("method") == method
                         and dict(k[1]).get("route") == route["route"]
                         and dict(k[1]).get("status") == "2xx")
            assert all(x[1] <= y[1] for x, y in zip(les, les[1:])), les
        expect(w1, w0, 7, requests, route="*", method="GET", status="2xx")

        expect(a1, a0, 60, "auditlog_emitted_events_total", action="viewed")
        expect(a1, a0, 10, "auditlog_emitted_events_total", action="changed")
        expect(a1, a0, 0, "auditlog_emitted_events_total", action="created")
        expect(a1, a0, 0, "auditlog_emitted_events_total", action="deleted")
        expect(a1, a0, 10, "auditlog_outboxed_events_total")
        expect(a1, a0, 60, "auditlog_spooled_events_total")
        expect(a1, a0, 0, "auditlog_spool_dropped_events_total")
        expect(a1, a0, 0, "auditlog_broker_reconnects_total")
        # No connection was lost, so nothing was sent twice.
        expect(a1, a0, 60, "auditlog_published_events_total", source="spool")
        expect(a1, a0, 10, "auditlog_published_events_total", source="outbox")
        expect(a1, a0, 60, "auditlog_confirmed_events_total", source="spool")
        expect(a1, a0, 10, "auditlog_confirmed_events_total", source="outbox")
        for kind in ("nacked", "returned"):
            for source in ("spool", "outbox"):
                expect(a1, a0, 0, f"auditlog_{kind}_events_total", source=source)
        messages = delta(a1, a0, "auditlog_published_messages_total")
        assert 1 <= messages <= 70, messages
        assert val(a1, "auditlog_unconfirmed_events") == 0
        assert val(a1, "auditlog_broker_connections") == 1
        assert val(a1, "auditlog_spool_backlog_bytes") == 0
        assert val(a1, "auditlog_outbox_backlog_events") == 0

        expect(d1, d0, messages, "auditlog_consumed_messages_total")
        expect(d1, d0, 70, "auditlog_consumed_events_total")
        expect(d1, d0, 70, "auditlog_stored_events_total")
        expect(d1, d0, 0, "auditlog_duplicate_events_total")
        expect(d1, d0, 0, "auditlog_dead_letters_total")
        batches = delta(d1, d0, "auditlog_consumer_batch_events_count")
        assert 1 <= batches <= messages, batches
        expect(d1, d0, 70, "auditlog_consumer_batch_events_sum")
        expect(d1, d0, batches, "auditlog_consumer_batch_events_bucket", le="+Inf")
        for h in ("auditlog_store_commit_duration_seconds",
                  "auditlog_store_transaction_duration_seconds"):
            expect(d1, d0, batches, h + "_count")
            assert delta(d1, d0, h + "_sum") > 0, h
        # Each stored event's lag, producer to COMMIT: 70 of them, each
        # under a minute (the load took seconds).
        expect(d1, d0, 70, "auditlog_event_delay_seconds_count")
        expect(d1, d0, 70, "auditlog_event_delay_seconds_bucket", le="60")
        for flag in ("gap", "late", "duplicate-version", "drift", "after-delete"):
            assert ("auditlog_flags_total", frozenset({("flag", flag)})) in d1, flag
            expect(d1, d0, 0, "auditlog_flags_total", flag=flag)
        assert ("auditlog_checker_unchecked_events", frozenset()) in d1
        expect(d1, d0, 70, "auditlog_log_size_events", log="0")
        assert val(d1, "auditlog_checkpoint_size_events", log="0") == \
            val(d1, "auditlog_log_size_events", log="0")
        assert delta(d1, d0, "auditlog_checkpoints_signed_total", log="0") >= 1
        assert val(d1, "auditlog_log_halted", log="0") == 0
        assert val(d1, "auditlog_broker_connections") == 2  # two consumers
        expect(d1, d0, 0, "auditlog_broker_reconnects_total")

        # A live stream is a subscriber while it is open.
        assert val(d1, "auditlog_stream_subscribers") == 0
        q = urllib.parse.quote(f"users:{uid}")
        sse = SSE(s.ports["auditor"], f"/data-events/stream?filter[target]={q}", tok)
        assert sse.status == 200, sse.headers
        sse.pump(5, lambda: sse.retry is not None)
        assert val(metrics(s, "auditor"), "auditlog_stream_subscribers") == 1
        sse.close()
        wait_metric(s, "auditor", lambda m: val(m, "auditlog_stream_subscribers") == 0,
                    "the stream's end to be noticed")
        for name in DAEMONS:
            promtool(scrape(s, name))


def test_reconnects_are_counted():
    amqp = urllib.parse.urlsplit(os.environ.get("AUDITLOG_AMQP_URL",
                                                "amqp://dev:dev@localhost:5672/"))
    mq = TcpProxy(amqp.hostname or "localhost", amqp.port or 5672)
    host = os.environ.get("AUDITLOG_MYSQL_HOST", "localhost")
    db = TcpProxy("127.0.0.1" if host == "localhost" else host,
                int(os.environ.get("AUDITLOG_MYSQL_PORT", "3306")))
    url = urllib.parse.urlunsplit(amqp._replace(
        netloc=f"{amqp.username}:{amqp.password}@127.0.0.1:{mq.port}"))
    env = dict(ENV, AUDITLOG_AMQP_URL=url, AUDITLOG_MYSQL_HOST="127.0.0.1",
               AUDITLOG_MYSQL_PORT=str(db.port), AUDITLOG_MYSQL_SOCKET="")
    with Stack(env, daemons=("api", "auditor")) as s:
        tok = s.token(1)
        assert s.api("GET", "/api/users/1", token=tok)[0] == 200
        a0 = wait_metric(s, "api", lambda m: val(m, "auditlog_broker_connections") == 1,
                         "the publisher to connect")
        d0 = wait_metric(s, "auditor", lambda m: val(m, "auditlog_broker_connections") == 2,
                         "the consumers to connect")
        assert db.drop() > 0 and mq.drop() > 0

        # The API finds its connections gone, says so, and comes back.
        def api_back():
            return s.api("GET", "/api/users/1", token=tok)[0] == 200 and \
                delta(metrics(s, "api"), a0, "auditlog_db_reconnects_total") >= 1
        wait_for(api_back, 30, 0.2, "the API to reconnect to the database")
        a1 = wait_metric(s, "api", lambda m: val(m, "auditlog_broker_connections") == 1 and
                         delta(m, a0, "auditlog_broker_reconnects_total") == 1,
                         "the publisher to reconnect")
        assert delta(a1, a0, "auditlog_db_connections_lost_total") >= 1
        d1 = wait_metric(s, "auditor", lambda m: val(m, "auditlog_broker_connections") == 2 and
                         delta(m, d0, "auditlog_broker_reconnects_total") == 2,
                         "both consumers to reconnect")
        # What the API emits still arrives (the consumers' database
        # connections, cut too, come back when they next store).
        stored = val(d1, "auditlog_stored_events_total")
        answer = s.api("GET", "/api/users/1", token=tok)
        assert answer[0] == 200, answer
        wait_metric(s, "auditor", lambda m: val(m, "auditlog_stored_events_total") > stored and
                    delta(m, d0, "auditlog_db_reconnects_total") >= 1,
                    "a new event stored after the cut")
        for name in ("api", "auditor"):
            promtool(scrape(s, name))


if __name__ == "__main__":
    run([test_exposition_and_access, test_counters_follow_a_known_load,
         test_reconnects_are_counted])
