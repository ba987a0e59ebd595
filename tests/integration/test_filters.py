"""Filters (issue 11): every filter and combination the README documents
gives what a model of the stored events says, in both orders and across
pages; malformed values and unindexed combinations get 400 naming the
parameter; and EXPLAIN of each documented combination's statement, as the
auditor runs it (tests/tools/plan_sql), shows no full table scan."""
import itertools
import json
import os
import random
import secrets
import subprocess
import time
import urllib.parse
import uuid

from harness import BIN, Stack, error_of, is_read_by, run, unique, wait_for

URL = os.environ.get("AUDITLOG_AMQP_URL", "amqp://dev:dev@localhost:5672/")
AUDITOR_DB = os.environ.get("AUDITLOG_AUDITOR_DB", "audit-logging-auditor")
READER = (os.environ.get("AUDITLOG_AUDITOR_READER_USER", "auditor_reader"),
          os.environ.get("AUDITLOG_AUDITOR_READER_PASSWORD", "auditor_reader"))
ACTIONS = ("viewed", "created", "changed", "deleted")


def publish(events):
    for i in range(0, len(events), 100):
        subprocess.run([os.path.join(BIN, "mqtool"), "publish", URL, "api-stream",
                        "other.data.mutated", str(uuid.uuid4())],
                       input=json.dumps(events[i:i + 100]).encode(), check=True)


def crafted(rng, actors, targets, t0, n):
    """n events over the actors and targets, with every action, times
    that tie now and then, two event names, two fields, versions on three
    in four (the others have none: version 0, last newest first), and the
    trace of one of three requests on two in three (fresh trace-ids each
    run: the log keeps every run's)."""
    traces = [secrets.token_hex(16) for _ in range(3)]
    events = []
    for i in range(n):
        action = rng.choice(ACTIONS)
        e = {"id": str(uuid.uuid4()), "action": action,
             "timestamp": t0 + rng.randrange(0, 400),
             "actorType": "service", "actorId": rng.choice(actors),
             "targetType": "documents", "targetId": rng.choice(targets)}
        if rng.random() < 0.75:
            e["targetVersion"] = rng.randrange(1, 30)
        if rng.random() < 0.3:
            e["eventName"] = rng.choice(("n1", "n2"))
        if action != "viewed":
            fields = rng.sample(("a", "b"), rng.randrange(1, 3))
            prev = None if action == "created" else 1
            nxt = None if action == "deleted" else 2
            e["changes"] = {f: {"prev": prev, "next": nxt} for f in fields}
        if rng.random() < 2 / 3:
            e["traceId"] = rng.choice(traces)
        events.append(e)
    return events


def model(events, f):
    """The ids a query should give, in its order."""
    out = []
    for e in events:
        if "actor" in f and f"service:{e['actorId']}" != f["actor"]:
            continue
        if "target" in f and f"documents:{e['targetId']}" != f["target"]:
            continue
        if "action" in f and e["action"] not in f["action"].split(","):
            continue
        if "since" in f and e["timestamp"] < f["since"]:
            continue
        if "until" in f and e["timestamp"] >= f["until"]:
            continue
        if "field" in f and f["field"] not in e.get("changes", {}):
            continue
        if "eventName" in f and e.get("eventName") != f["eventName"]:
            continue
        if "traceId" in f and e.get("traceId") != f["traceId"]:
            continue
        out.append(e)
    if "target" in f:
        out.sort(key=lambda e: (e.get("targetVersion", 0), e["timestamp"], e["id"]))
    else:
        out.sort(key=lambda e: (e["timestamp"], e["id"]))
    if f.get("sort") != "time":
        out.reverse()
    return [e["id"] for e in out]


def query(s, tok, f, size=4, via="auditor"):
    params = {f"filter[{k}]" if k != "sort" else k: str(v) for k, v in f.items()}
    path = "/data-events?" + urllib.parse.urlencode(params) + f"&page[size]={size}"
    if via == "api":
        kind, ref = ("by", f["actor"]) if "actor" in f else ("for", f["target"])
        rest = {k: v for k, v in params.items() if k != f"filter[{'actor' if kind == 'by' else 'target'}]"}
        path = f"/logs/{kind}/{ref.replace(':', '/')}?" + urllib.parse.urlencode(rest) + \
            f"&page[size]={size}"
    ids = []
    while path:
        status, _, doc = s.request(via, "GET", path, token=tok)
        assert status == 200, (f, status, doc)
        # Less the records of this test's own reads (of its crafted
        # targets; README "Reads are recorded").
        ids += [e["id"] for e in doc["data"] if not is_read_by(e, tok)]
        assert len(ids) == len(set(ids)), (f, "an event twice: the cursor went back")
        path = doc["links"].get("next")
    return ids


def stored_crafted(s, tok, rng, n, actors=2, targets=2):
    """n crafted events over fresh actors and targets, published and
    stored: (events, actor ids, target ids, their time origin)."""
    u = unique("f")
    a = [f"{u}-a{i + 1}" for i in range(actors)]
    t = [f"{u}-t{i + 1}" for i in range(targets)]
    t0 = int(time.time() * 1000) - 10_000
    events = crafted(rng, a, t, t0, n)
    publish(events)
    wait_for(lambda: sum(len(query(s, tok, {"actor": f"service:{x}"}, size=1000)) for x in a) ==
             len(events), what="the crafted events stored")
    return events, a, t, t0


def before_reads(f, reads_from):
    """f, with filter[until] at reads_from when it has a target and no
    until. Every page read of a target is recorded in its history (README
    "Reads are recorded"), after reads_from: a walk of one event a page
    adds a record per page, so walk after walk the records would double
    (the test timed out). Left out of the answer, they need not be read."""
    return dict(f, until=reads_from) if "target" in f and "until" not in f else f


def test_filters_against_a_model():
    rng = random.Random(1111)
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        events, actors, targets, t0 = stored_crafted(s, tok, rng, 160)
        a, t = f"service:{actors[0]}", f"documents:{targets[0]}"
        iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((t0 + 100) // 1000)) + \
            f".{(t0 + 100) % 1000:03d}Z"
        narrowings = [{}, {"action": "deleted"}, {"action": "created,changed"},
                      {"since": t0 + 100}, {"until": t0 + 250},
                      {"since": t0 + 50, "until": t0 + 300}, {"field": "a"},
                      {"eventName": "n1"}, {"action": "viewed", "eventName": "n2"},
                      {"field": "b", "action": "changed", "since": t0 + 10}]
        cases = 0
        reads_from = int(time.time() * 1000)  # after every crafted event
        for base in ({"actor": a}, {"target": t}, {"actor": a, "target": t}):
            for n in narrowings:
                for sort in (None, "time"):
                    f = before_reads(dict(base, **n), reads_from)
                    if sort:
                        f["sort"] = sort
                    got = query(s, tok, f, size=rng.choice((1, 3, 7, 1000)))
                    assert got == model(events, f), (f, len(got), len(model(events, f)))
                    cases += 1
        assert cases == 60
        # One request's events (README "Tracing"): alone, or with any other
        # filter.
        tr = next(e["traceId"] for e in events if "traceId" in e)
        assert model(events, {"traceId": tr})
        for base in ({"traceId": tr}, {"traceId": tr, "actor": a}, {"traceId": tr, "target": t}):
            for n in narrowings[:8]:
                f = before_reads(dict(base, **n), reads_from)
                got = query(s, tok, f, size=rng.choice((1, 3, 1000)))
                assert got == model(events, f), (f, len(got), len(model(events, f)))
        # RFC 3339 and milliseconds are the same instant.
        assert query(s, tok, {"actor": a, "since": iso}) == \
            query(s, tok, {"actor": a, "since": t0 + 100})
        # Through the API's /logs/by and /logs/for, the same answers.
        for f in ({"actor": a, "action": "deleted,changed", "sort": "time"},
                  before_reads({"target": t, "field": "a", "since": t0 + 20}, reads_from),
                  {"actor": a, "traceId": tr}):
            assert query(s, tok, f, size=2, via="api") == model(events, f), f


def test_window_on_a_long_versioned_history():
    """A window on a history of 1,200 versions (five spans of 256) reads
    only the versions whose spans meet it, and still gives every event
    stamped in it: late reads of old versions stamped inside the window,
    an early-stamped read of a new version, and unversioned events too.
    The spans hold exactly the earliest and latest time of each block,
    rounded out, though the writer skips the blocks it knows cover a
    batch (the events arrive shuffled, in many batches)."""
    rng = random.Random(1212)
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        target = unique("vh")
        t0 = int(time.time() * 1000) - 200_000

        def ev(version, ts, action="changed"):
            e = {"id": str(uuid.uuid4()), "action": action, "timestamp": ts,
                 "actorType": "service", "actorId": "vh",
                 "targetType": "documents", "targetId": target}
            if version:
                e["targetVersion"] = version
            if action != "viewed":
                e["changes"] = {"a": {"prev": None if action == "created" else version - 1,
                                      "next": version}}
            return e
        events = [ev(v, t0 + 10 * v, "created" if v == 1 else "changed") for v in range(1, 1201)]
        events += [ev(5, t0 + 10 * 900 + 3, "viewed"),      # late: v5 read inside the window
                   ev(1150, t0 + 10 * 50 + 7, "viewed"),    # early clock: v1150 before it
                   ev(700, t0 + 10 * 1190, "viewed"),       # late, after the window
                   ev(0, t0 + 10 * 600 + 1, "viewed"), ev(0, t0 + 5, "viewed")]
        rng.shuffle(events)
        publish(events)
        t = f"documents:{target}"
        wait_for(lambda: len(query(s, tok, {"target": t}, size=1000)) == len(events),
                 timeout=60, what="the history stored")
        reads_from = int(time.time() * 1000)  # after every crafted event
        windows = [(t0 + 10 * 300, t0 + 10 * 700), (t0 + 10 * 899, t0 + 10 * 901),
                   (t0 + 10 * 50, t0 + 10 * 51), (t0 + 10 * 1189, t0 + 10 * 1191),
                   (t0 + 10 * 600 + 1, t0 + 10 * 600 + 2), (t0 - 100, t0),
                   (t0 + 10 * 1150, reads_from), (None, t0 + 10 * 260)]
        for since, until in windows:
            for sort in (None, "time"):
                f = {"target": t}
                if since is not None:
                    f["since"] = since
                if until is not None:
                    f["until"] = until
                if sort:
                    f["sort"] = sort
                got = query(s, tok, f, size=rng.choice((7, 1000)))
                assert got == model(events, f), (f, len(got), len(model(events, f)))
                assert query(s, tok, dict(f, field="a"), size=50) == \
                    model(events, dict(f, field="a")), f
        # The spans: per block, the earliest and latest time of its events,
        # rounded out to whole seconds (spans.h SPAN_QUANTUM_MS).
        want = {}
        for e in events:
            if e.get("targetVersion"):
                b, ts = e["targetVersion"] >> 8, e["timestamp"]
                lo, hi = want.get(b, (ts // 1000 * 1000, ts // 1000 * 1000 + 999))
                want[b] = (min(lo, ts // 1000 * 1000), max(hi, ts // 1000 * 1000 + 999))
        rows = reader_rows("SELECT block, first_at, last_at FROM data_event_version_spans "
                           f"WHERE target_type = 'documents' AND target_id = '{target}'")
        got = {int(r["block"]): (int(r["first_at"]), int(r["last_at"])) for r in rows}
        assert got == want, (got, want)


def test_bad_filters_get_400():
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        cases = [("filter[actor]=users:1&filter[action]=eaten", "filter[action]"),
                 ("filter[actor]=users:1&filter[action]=viewed,", "filter[action]"),
                 ("filter[actor]=users:1&filter[action]=viewed,viewed", "filter[action]"),
                 ("filter[actor]=users:1&filter[flag]=" + ",".join(["gap"] * 200),
                  "filter[flag]"),
                 ("filter[actor]=users:1&filter[since]=yesterday", "filter[since]"),
                 ("filter[actor]=users:1&filter[until]=2026-02-30T00:00:00Z", "filter[until]"),
                 ("filter[actor]=users:1&filter[since]=5&filter[until]=5", "filter[until]"),
                 ("filter[actor]=users:1&filter[field]=a%20b", "filter[field]"),
                 ("filter[actor]=users:1&filter[eventName]=", "filter[eventName]"),
                 ("filter[actor]=users:1&filter[flag]=odd", "filter[flag]"),
                 ("filter[actor]=users:1&sort=-timestamp", "sort"),
                 ("filter[actor]=users:1&filter[colour]=red", "filter[colour]"),
                 ("filter[actor]=users:1&sort=time&sort=-time", "sort"),
                 ("filter[actor]=users:1&filter%5Bactor%5D=users:2", "filter[actor]"),
                 # A trace-id: 32 lowercase hex digits, not all zero.
                 ("filter[traceId]=" + "0" * 32, "filter[traceId]"),
                 ("filter[traceId]=4BF92F3577B34DA6A3CE929D0E0E4736", "filter[traceId]"),
                 ("filter[traceId]=4bf92f3577b34da6a3ce929d0e0e473", "filter[traceId]"),
                 ("filter[traceId]=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                  "filter[traceId]"),
                 # No index answers these: 400 saying which filter to add.
                 ("filter[action]=deleted", "filter[action]"),
                 ("filter[since]=0", "filter[since]"),
                 ("filter[eventName]=n1", "filter[eventName]"),
                 ("filter[field]=name", "filter[field]"),
                 ("", "filter[actor]")]
        for qs, param in cases:
            status, _, doc = s.auditor("GET", "/data-events?" + qs, token=tok)
            assert status == 400, (qs, status, doc)
            e = error_of(doc)
            assert e["source"]["parameter"] == param, (qs, e)
        # The end of 9999, exclusive, is an end (a tester's finding: refused).
        status, _, doc = s.auditor("GET", "/data-events?filter[actor]=users:1&"
                                   "filter[until]=253402300800000", token=tok)
        assert status == 200, doc
        status, _, doc = s.auditor("GET", "/data-events?filter[actor]=users:1&"
                                   "filter[since]=253402300800000", token=tok)
        assert status == 400 and error_of(doc)["source"]["parameter"] == "filter[since]", doc
        status, _, doc = s.auditor("GET", "/data-events?filter[actor]=users:1&"
                                   "filter[until]=253402300800001", token=tok)
        assert status == 400 and error_of(doc)["source"]["parameter"] == "filter[until]", doc
        status, _, doc = s.auditor("GET", "/data-events?filter[field]=name", token=tok)
        assert "filter[target], filter[actor] or filter[traceId]" in error_of(doc)["detail"], doc
        status, _, doc = s.api("GET", "/logs/by/users/1?filter[action]=eaten", token=tok)
        assert status == 400 and error_of(doc)["source"]["parameter"] == "filter[action]", doc
        # Too long to forward: named too (a tester's finding: no parameter).
        status, _, doc = s.api("GET", "/logs/for/users/1?page[size]=3&page[after]=" + "A" * 5000,
                               token=tok)
        assert status == 400 and error_of(doc)["source"]["parameter"] == "page[after]", doc


def reader_rows(text):
    """The rows of one statement run as the reader, as dicts."""
    host = os.environ.get("AUDITLOG_MYSQL_HOST", "localhost")
    r = subprocess.run(["mariadb", "--protocol=tcp", "-h",
                        "127.0.0.1" if host == "localhost" else host,
                        "-P", os.environ.get("AUDITLOG_MYSQL_PORT", "3306"), "-u", READER[0],
                        "--batch", "-e", text, AUDITOR_DB],
                       env=dict(os.environ, MYSQL_PWD=READER[1]), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().split("\n")
    head = lines[0].split("\t")
    return [dict(zip(head, line.split("\t"))) for line in lines[1:]]


def explain(sql, params):
    """EXPLAIN of sql with params bound as literals, as the reader."""
    lits = []
    for p in params:
        if isinstance(p, int):
            lits.append(str(p))
        else:
            lits.append("'" + p.replace("\\", "\\\\").replace("'", "''") + "'")
    parts = sql.split("?")
    assert len(parts) == len(lits) + 1, (sql, params)
    text = parts[0] + "".join(lit + part for lit, part in zip(lits, parts[1:]))
    return reader_rows("EXPLAIN " + text)


# Every combination the README documents ("Filters"), with its index.
DOCUMENTED = [
    (["actor=users:1"], "data_events_actor"),
    (["actor=users:1", "action=deleted"], "data_events_actor"),
    (["actor=users:1", "action=created,deleted", "since=1", "until=2000000000000"],
     "data_events_actor"),
    (["actor=users:1", "name=token-issued"], "data_events_actor"),
    (["actor=users:1", "flag=gap"], "data_event_flags_time"),
    (["actor=users:1", "field=email"], "data_event_changes_actor"),
    (["actor=users:1", "field=email", "action=changed", "since=1", "name=x"],
     "data_event_changes_actor"),
    (["target=users:2"], "data_events_target"),
    (["target=users:2", "actor=users:1"], "data_events_target"),
    (["target=users:2", "action=changed", "since=1", "until=2000000000000", "name=x",
      "flag=drift"], "data_events_target"),
    (["target=users:2", "field=email"], "data_event_changes_field"),
    (["target=users:2", "field=email", "actor=users:1", "action=changed", "since=1"],
     "data_event_changes_field"),
    (["flag=gap"], "data_event_flags_time"),
    (["flag=gap,drift", "action=changed", "since=1", "actor=users:1", "name=x"],
     "data_event_flags_time"),
    (["trace=4bf92f3577b34da6a3ce929d0e0e4736"], "data_events_trace"),
    (["trace=4bf92f3577b34da6a3ce929d0e0e4736", "actor=users:1", "action=changed,viewed", "since=1",
      "until=2000000000000", "name=x", "flag=gap"], "data_events_trace"),
    (["trace=4bf92f3577b34da6a3ce929d0e0e4736", "field=email", "action=changed"], "data_events_trace"),
    (["target=users:2", "trace=4bf92f3577b34da6a3ce929d0e0e4736"], "data_events_target"),
    (["target=users:2", "field=email", "trace=4bf92f3577b34da6a3ce929d0e0e4736"], "data_event_changes_field"),
    (["actor=users:1", "field=email", "trace=4bf92f3577b34da6a3ce929d0e0e4736"], "data_event_changes_actor"),
]


def test_every_documented_combination_is_served_by_an_index():
    after = "after=3:1795833313144:0190b6a8-7c2e-7abc-8def-0123456789ab"
    after0 = "after=0:1795833313144:0190b6a8-7c2e-7abc-8def-0123456789ab"  # unversioned
    for args, index in DOCUMENTED:
        # A target's window reads the versions its spans give.
        spans = ([[], ["versions=2:768"]]
                 if any(a.startswith("target=") for a in args) and
                 any(a.startswith(("since=", "until=")) for a in args) else [[]])
        for extra, span in itertools.product(
                ([], ["sort=time"], [after], ["sort=time", after], [after0],
                 ["sort=time", after0]), spans):
            extra = extra + span
            r = subprocess.run([os.path.join(BIN, "plan_sql")] + args + extra,
                               capture_output=True, text=True)
            assert r.returncode == 0, (args, r.stdout, r.stderr)
            plan = json.loads(r.stdout)
            assert plan["index"] == index, (args, plan["index"])
            rows = explain(plan["sql"], plan["params"])
            tables = [row for row in rows if not row["table"].startswith("<")]
            for row in tables:
                assert row["type"] != "ALL", (args, extra, row)
                assert row["key"] != "NULL", (args, extra, row)
            assert any(row["key"] == index for row in tables), (args, extra, rows)
    # Which versions those are: one range of the spans' primary key
    # (store_read.c version_range, the same text).
    rows = explain("SELECT MIN(block), MAX(block) FROM data_event_version_spans "
                   "WHERE target_type = ? AND target_id = ? AND first_at < ? AND last_at >= ?",
                   ["users", "2", 2000000000000, 1])
    assert [(r["key"], r["type"]) for r in rows] == [("PRIMARY", "ref")], rows
    # And what no index answers is refused by the planner itself.
    for args in (["action=deleted"], ["since=1"], ["field=email"], ["name=x"]):
        r = subprocess.run([os.path.join(BIN, "plan_sql")] + args, capture_output=True,
                           text=True)
        assert r.returncode == 2 and "filter[" in json.loads(r.stdout)["error"], (args, r.stdout)


if __name__ == "__main__":
    run([test_filters_against_a_model, test_window_on_a_long_versioned_history,
         test_bad_filters_get_400,
         test_every_documented_combination_is_served_by_an_index])
