"""README "Tracing": a request's W3C traceparent (Trace Context Level 1) is
honoured and answered, its trace-id goes into the events it emits (a view
through the spool, a change through the outbox) and into the JSON log lines
written while it is served, in the API and, through /logs, in the auditor;
filter[traceId] finds exactly those events. Without a traceparent, or with
an invalid one, a new trace begins (never a 400)."""
import json
import os
import re
import secrets
import subprocess

from harness import BIN, Stack, raw_http, run, unique, wait_for

# Every request logged: the access log (each status line at info).
ENV = {"AUDITLOG_ACCESS_LOG": "true"}
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$")
RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def answered(hdrs):
    """(trace-id, span id) of an answer's traceparent, checked for form."""
    m = TRACEPARENT.match(hdrs.get("traceparent", ""))
    assert m, hdrs
    assert m.group(1) != "0" * 32 and m.group(2) != "0" * 16, hdrs
    return m.group(1), m.group(2)


def log_lines(path):
    """The daemon's log, each line parsed: every one must be a JSON object
    with time, level, daemon and msg."""
    out = []
    with open(path, "rb") as f:
        for raw in f.read().splitlines():
            line = json.loads(raw)  # fails the test on a line that is not JSON
            assert isinstance(line, dict), raw
            assert RFC3339_MS.match(line["time"]), line
            assert line["level"] in ("debug", "info", "warn", "error"), line
            assert line["daemon"].startswith("auditlog-") and isinstance(line["msg"], str), line
            assert set(line) <= {"time", "level", "daemon", "msg", "trace_id", "request_id"}, line
            out.append(line)
    return out


def traced(s, tok, trace, want):
    """The events whose traceId is trace, once there are want of them."""
    def found():
        ev = s.events(f"/data-events?filter[traceId]={trace}", tok)
        return ev if len(ev) >= want else None
    return wait_for(found, what=f"{want} events of trace {trace}")


def change_name(s, tok, uid, headers=None):
    return s.api("PATCH", f"/api/users/{uid}", token=tok, headers=headers, body={
        "data": {"type": "users", "id": uid, "attributes": {"name": unique("Traced ")[:64]}}})


def test_a_given_trace_reaches_events_and_log_lines():
    with Stack(ENV, daemons=("api", "auditor")) as s:
        tok = s.token(1)
        uid = s.new_user(tok, "trace")
        trace = secrets.token_hex(16)
        parents = [secrets.token_hex(8) for _ in range(2)]

        # A view (through the spool) and a change (through the outbox), two
        # requests of one trace, as a client's two spans would send them.
        status, hdrs, doc = s.api("GET", f"/api/users/{uid}", token=tok,
                                  headers={"traceparent": f"00-{trace}-{parents[0]}-01"})
        assert status == 200, doc
        got, view_span = answered(hdrs)
        assert got == trace and view_span != parents[0], hdrs
        assert hdrs["traceparent"].endswith("-01")
        status, hdrs, doc = change_name(s, tok, uid,
                                        {"traceparent": f"00-{trace}-{parents[1]}-00"})
        assert status == 200, doc
        got, change_span = answered(hdrs)
        assert got == trace and change_span not in (parents[1], view_span), hdrs
        assert hdrs["traceparent"].endswith("-00")  # the caller's sampled flag, passed on

        # Read back from the auditor: exactly those requests' events carry
        # it: the GET's view, the PATCH's change and its view of the result.
        ev = traced(s, tok, trace, 3)
        assert sorted((e["attributes"]["action"], e["attributes"]["targetVersion"])
                      for e in ev) == [("changed", 2), ("viewed", 1), ("viewed", 2)], ev
        for e in ev:
            a = e["attributes"]
            assert a["traceId"] == trace, a
            assert (a["targetType"], a["targetId"], a["actorId"]) == ("users", uid, "1"), a
        ids = sorted(e["id"] for e in ev)
        changed = next(e["id"] for e in ev if e["attributes"]["action"] == "changed")
        # Every event carries the attribute: the user's creation has its own
        # request's trace, another one.
        history = s.events(f"/data-events?filter[target]=users:{uid}", tok)
        created = [e for e in history if e["attributes"]["action"] == "created"]
        assert len(created) == 1, history
        assert re.fullmatch(r"[0-9a-f]{32}", created[0]["attributes"]["traceId"]), created
        assert created[0]["attributes"]["traceId"] != trace
        assert sorted(e["id"] for e in history
                      if e["attributes"]["traceId"] == trace) == ids, history
        # Narrowed, and through the API's /logs.
        only = s.events(f"/data-events?filter[traceId]={trace}&filter[action]=changed", tok)
        assert [e["id"] for e in only] == [changed], only
        mine = s.events(f"/data-events?filter[traceId]={trace}&filter[actor]=users:1", tok)
        assert sorted(e["id"] for e in mine) == ids, mine
        via = s.events(f"/logs/data-events?filter[traceId]={trace}", tok, via="api")
        assert sorted(e["id"] for e in via) == ids, via
        via = s.events(f"/logs/for/users/{uid}?filter[traceId]={trace}", tok, via="api")
        assert sorted(e["id"] for e in via) == ids, via
        none = s.events(f"/data-events?filter[traceId]={secrets.token_hex(16)}", tok)
        assert none == [], none

        # The leaf commits to it (docs/ledger.md); the export carries it.
        status, _, line = s.request("auditor", "GET", f"/data-events/{changed}/leaf", token=tok,
                                    raw=True)
        assert status == 200 and json.loads(line)["traceId"] == trace, line
        status, _, body = s.request("auditor", "GET", f"/data-events?filter[traceId]={trace}",
                                    token=tok, headers={"Accept": "text/csv"}, raw=True)
        rows = body.decode().split("\r\n")
        assert status == 200 and rows[0].endswith(",flags,traceId"), rows[:1]
        assert len([r for r in rows[1:] if r.endswith("," + trace)]) >= 2, rows

        # The API's log lines of the two requests: the trace, and each
        # request's own id, the span it answered with.
        lines = [ln for ln in log_lines(s.daemons["api"].log_path) if ln.get("trace_id") == trace]
        assert {ln["request_id"] for ln in lines} == {view_span, change_span}, lines
        assert any(ln["msg"].startswith(f"GET /api/users/{uid} -> 200 in ") and
                   ln["level"] == "info" and ln["request_id"] == view_span
                   for ln in lines), lines
        assert any(ln["msg"].startswith(f"PATCH /api/users/{uid} -> 200 in ") and
                   ln["request_id"] == change_span and ln["daemon"] == "auditlog-api"
                   for ln in lines), lines


def test_the_trace_goes_through_logs_to_the_auditor():
    with Stack(ENV, daemons=("api", "auditor")) as s:
        tok = s.token(1)
        trace, parent = secrets.token_hex(16), secrets.token_hex(8)
        status, hdrs, doc = s.api("GET", "/logs/by/users/1?page[size]=1", token=tok,
                                  headers={"traceparent": f"00-{trace}-{parent}-01"})
        assert status == 200, doc
        got, api_span = answered(hdrs)
        assert got == trace
        # The auditor's lines for the query carry the same trace, and a
        # request id of its own.
        def auditor_line():
            return [ln for ln in log_lines(s.daemons["auditor"].log_path)
                    if ln.get("trace_id") == trace and ln["msg"].startswith("GET /data-events -> 200 in ")]
        lines = wait_for(auditor_line, what="the auditor's line of the forwarded query")
        assert all(ln["request_id"] not in (api_span, parent) for ln in lines), lines
        assert any(ln.get("trace_id") == trace and ln["request_id"] == api_span
                   for ln in log_lines(s.daemons["api"].log_path))
        # The auditor's record of that read (README "Reads are recorded") is
        # an event of the same trace.
        rec = traced(s, tok, trace, 1)
        assert len(rec) == 1, rec
        a = rec[0]["attributes"]
        assert (a["eventName"], a["actorId"], a["traceId"]) == ("audit.query", "1", trace), a


def test_without_or_with_an_invalid_traceparent_a_new_trace_begins():
    with Stack(ENV, daemons=("api", "auditor")) as s:
        tok = s.token(1)
        uid = s.new_user(tok, "untraced")
        # None sent: a new one, answered and used.
        status, hdrs, _ = s.api("GET", f"/api/users/{uid}", token=tok)
        assert status == 200
        fresh, _ = answered(hdrs)
        ev = traced(s, tok, fresh, 1)
        assert [(e["attributes"]["action"], e["attributes"]["traceId"]) for e in ev] == \
            [("viewed", fresh)], ev

        t, p = secrets.token_hex(16), secrets.token_hex(8)
        invalid = [
            f"00-{'0' * 32}-{p}-01",            # all-zero trace-id
            f"00-{t}-{'0' * 16}-01",            # all-zero parent-id
            f"ff-{t}-{p}-01",                   # version ff
            f"00-{t.upper()}-{p}-01",           # not lowercase
            f"00-{t}-{p}-01-extra",             # version 00 with more after the flags
            f"00-{t[:31]}-{p}-01",              # too short
            "not a traceparent",
        ]
        seen = set()
        for value in invalid:
            status, hdrs, doc = s.api("GET", f"/api/users/{uid}", token=tok,
                                      headers={"traceparent": value})
            assert status == 200, (value, doc)  # never a 400
            new, _ = answered(hdrs)
            assert new != t and new not in seen, (value, hdrs)
            seen.add(new)
        ev = traced(s, tok, new, 1)
        assert [e["attributes"]["traceId"] for e in ev] == [new], ev
        # A later version is read leniently (§3.2.4), and answered as 00.
        status, hdrs, _ = s.api("GET", f"/api/users/{uid}", token=tok,
                                headers={"traceparent": f"cc-{t}-{p}-01-what-comes-next"})
        assert status == 200 and answered(hdrs)[0] == t, hdrs
        # Sent twice: which one the client meant is unknown; a new trace.
        port = s.ports["api"]
        answer = raw_http(port, (f"GET /api/users/{uid} HTTP/1.1\r\nHost: x\r\n"
                                 f"Authorization: Bearer {tok}\r\n"
                                 f"traceparent: 00-{t}-{p}-01\r\n"
                                 f"traceparent: 00-{t}-{p}-01\r\nConnection: close\r\n\r\n")
                          .encode())
        head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
        assert head.startswith("http/1.1 200"), head
        value = re.search(r"\r\ntraceparent: (\S+)", head).group(1)
        assert TRACEPARENT.match(value) and t not in value, head
        # Every answer carries one, an error too, and scripts may read it.
        status, hdrs, _ = s.api("GET", "/api/nothing-here", token=tok,
                                headers={"traceparent": f"00-{t}-{p}-01"})
        assert status == 404 and answered(hdrs)[0] == t, hdrs
        assert "traceparent" in hdrs.get("access-control-expose-headers", ""), hdrs


def test_text_log_format_and_refused_settings():
    with Stack(dict(ENV, AUDITLOG_LOG_FORMAT="text"), daemons=("api",)) as s:
        tok = s.token(1)
        status, _, _ = s.api("GET", "/api/users/1", token=tok)
        assert status == 200
        with open(s.daemons["api"].log_path) as f:
            text = f.read().splitlines()
        assert text and all(
            re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z auditlog-api "
                     r"(debug|info|warn|error): ", ln) for ln in text), text[:5]
        assert any(re.search(r"GET /api/users/1 -> 200 in [0-9.]+ ms$", ln) for ln in text), text
    r = subprocess.run([os.path.join(BIN, "auditlog-web"), "--log-format=xml"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "log-format must be json or text" in r.stderr, r


if __name__ == "__main__":
    run([test_a_given_trace_reaches_events_and_log_lines,
         test_the_trace_goes_through_logs_to_the_auditor,
         test_without_or_with_an_invalid_traceparent_a_new_trace_begins,
         test_text_log_format_and_refused_settings])
