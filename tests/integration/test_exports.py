"""Exports (issue 12): a /data-events query with Accept: application/x-ndjson
or text/csv streams every match, with no page cap, in the order asked, each
record with its seq: NDJSON lines are the JSON:API page's resources; CSV
follows RFC 4180 with a header row, one row per changed field, and cells
that a spreadsheet would run as formulas neutralised. A client that goes
away mid-export costs the auditor nothing lasting."""
import csv
import io
import json
import random
import socket
import time
import urllib.parse
import uuid

from harness import Stack, error_of, http, is_read_by, run, token_user, unique, wait_for
from test_filters import model, publish, query, stored_crafted

NDJSON = "application/x-ndjson"
CSV = "text/csv"
HEADER = ["seq", "log", "id", "timestamp", "action", "actorType", "actorId", "targetType",
          "targetId", "targetVersion", "eventName", "field", "prev", "next", "erased", "flags",
          "traceId"]


def export(s, tok, params, accept, via="auditor"):
    path = "/data-events?" + urllib.parse.urlencode(params)
    status, hdrs, body = http("GET", s.url(via, path), None,
                              {"Accept": accept, "Authorization": "Bearer " + tok})
    return status, hdrs, body


def pages(s, tok, params):
    """Every resource of the JSON:API pages of params, in order."""
    path = "/data-events?" + urllib.parse.urlencode(dict(params, **{"page[size]": 7}))
    out = []
    while path:
        status, _, doc = s.auditor("GET", path, token=tok)
        assert status == 200, (status, doc)
        out += [e for e in doc["data"] if not is_read_by(e, tok)]
        path = doc["links"].get("next")
    return out


def test_ndjson_and_csv_give_every_match():
    rng = random.Random(1201)
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        events, actors, targets, t0 = stored_crafted(s, tok, rng, 1500)
        a, t = f"service:{actors[0]}", f"documents:{targets[0]}"
        # An actor's export merges one range per action read apart, each
        # over several pages (the first of each is 100 events); a target's
        # and a field's are one range.
        for f in ({"actor": a}, {"actor": a, "sort": "time"}, {"target": t},
                  {"target": t, "since": t0 + 50, "until": t0 + 300, "sort": "time"},
                  {"actor": a, "field": "a"}, {"actor": a, "action": "created,deleted"},
                  {"actor": a, "action": "viewed", "sort": "time"},
                  {"actor": a, "since": t0 + 100, "until": t0 + 350, "eventName": "n1",
                   "sort": "time"}):
            params = {(k if k == "sort" else f"filter[{k}]"): v for k, v in f.items()}
            want = model(events, f)
            status, hdrs, body = export(s, tok, params, NDJSON)
            assert status == 200 and hdrs["content-type"] == NDJSON, (status, hdrs)
            assert hdrs.get("transfer-encoding") == "chunked", hdrs
            lines = body.decode().split("\n")
            assert lines[-1] == "", "NDJSON ends with a newline"
            # Less the records of this test's own reads of t (README "Reads
            # are recorded"), here and in the pages and rows below.
            got = [r for r in map(json.loads, lines[:-1]) if not is_read_by(r, tok)]
            assert [r["id"] for r in got] == want, (f, len(got), len(want))
            # The same resources as the JSON:API pages, seq included.
            assert got == pages(s, tok, params), f
            assert all(isinstance(r["attributes"]["seq"], int) for r in got)
            # CSV: a header, one row per changed field, the same order.
            status, hdrs, body = export(s, tok, params, CSV)
            assert status == 200 and hdrs["content-type"].startswith("text/csv"), hdrs
            assert b"\r\n" in body and body.endswith(b"\r\n")
            rows = list(csv.reader(io.StringIO(body.decode(), newline="")))
            assert rows[0] == HEADER, rows[0]
            rows[1:] = [r for r in rows[1:] if not (r[4] == "viewed" and r[5:7] == [
                "users", token_user(tok)] and r[10].startswith("audit."))]
            ids = []
            for r in rows[1:]:
                if not ids or ids[-1] != r[2]:
                    ids.append(r[2])
            assert ids == want, f
            by_id = {r["id"]: r for r in got}
            for r in rows[1:]:
                e = by_id[r[2]]
                at = e["attributes"]
                assert int(r[0]) == at["seq"] and int(r[1]) == at["log"], r
                assert r[16] == (at["traceId"] or ""), r
                changes = at.get("changes", {})
                if r[11]:
                    c = changes[r[11]]
                    assert json.loads(r[12]) == c["prev"] and json.loads(r[13]) == c["next"], r
                else:
                    assert not changes, r
            assert len(rows) - 1 == sum(max(1, len(r["attributes"].get("changes", {})))
                                        for r in got)
        # Accept decides; page[size] caps nothing in an export.
        params = {"filter[actor]": a, "page[size]": "2"}
        status, _, body = export(s, tok, params, "text/csv;q=0.5, application/x-ndjson")
        assert status == 200 and len(body.decode().splitlines()) == len(model(events, {"actor": a}))
        status, hdrs, _ = export(s, tok, params, "text/html, */*;q=0.1")
        assert status == 200 and hdrs["content-type"].startswith("application/vnd.api+json")
        # Mistakes are still JSON:API errors, before any export starts.
        status, hdrs, body = export(s, tok, {"filter[action]": "deleted"}, NDJSON)
        assert status == 400 and error_of(json.loads(body))["source"]["parameter"] == \
            "filter[action]", body
        plain = s.token(s.new_user(tok, "export"))  # no auditor role
        status, _, body = export(s, plain, {"filter[actor]": a}, CSV)
        assert status == 403, body


def test_csv_neutralises_formulas_and_quotes():
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        u = unique("inj")
        t0 = int(time.time() * 1000) - 5_000
        nasty = [("@" + u, "=SUM(1+2)", {"a": {"prev": -5, "next": "x,\"y\"\r\nz"}}),
                 ("+" + u, "+cmd", {"a": {"prev": "=1", "next": 7}}),
                 ("-" + u, "-2", None), (u + "-ok", "plain name", None)]
        events = []
        for i, (actor, name, changes) in enumerate(nasty):
            e = {"id": str(uuid.uuid4()), "action": "changed" if changes else "viewed",
                 "timestamp": t0 + i, "actorType": "service", "actorId": actor,
                 "targetType": "documents", "targetId": u, "eventName": name}
            if changes:
                e["changes"] = changes
            events.append(e)
        publish(events)
        t = f"documents:{u}"
        wait_for(lambda: len(query(s, tok, {"target": t}, size=100)) == len(events),
                 what="the events stored")
        status, _, body = export(s, tok, {"filter[target]": t, "sort": "time"}, CSV)
        assert status == 200
        rows = list(csv.reader(io.StringIO(body.decode(), newline="")))[1:]
        by_name = {}
        for r in rows:
            by_name.setdefault(r[10], r)
        # Each cell a spreadsheet would evaluate starts with ' once parsed.
        assert by_name["'=SUM(1+2)"][6] == "'@" + u
        assert by_name["'=SUM(1+2)"][12] == "'-5"
        assert json.loads(by_name["'=SUM(1+2)"][13]) == "x,\"y\"\r\nz"  # quoted, intact
        assert by_name["'+cmd"][6] == "'+" + u
        assert by_name["'+cmd"][12] == '"=1"'  # JSON text: starts with a quote, not =
        assert by_name["'-2"][6] == "'-" + u
        assert "plain name" in by_name
        for r in rows:
            for c in r:
                assert not c or c[0] not in "=+-@\t\r", (r, c)


def raw_pages(s, tok, params, size=7):
    """The JSON:API pages of params, as their bodies' bytes, in order."""
    path = "/data-events?" + urllib.parse.urlencode(dict(params, **{"page[size]": size}))
    bodies = []
    while path:
        status, _, body = http("GET", s.url("auditor", path), None,
                               {"Authorization": "Bearer " + tok})
        assert status == 200, body
        bodies.append(body)
        path = json.loads(body)["links"].get("next")
    return bodies


# Values of every JSON kind, and strings that need escapes or hold text
# beyond ASCII: the export writes them itself where it can, and must write
# them as jansson writes a page. (Not U+2028 or U+2029: the test database
# outlives a run, and tests that read the whole log split its bundle with
# str.splitlines, which breaks lines there too.)
VALUES = [None, True, False, 0, -7, 2**53 - 1, -(2**53 - 1), 0.1, -1.5e-300, 1e300, -0.0,
          123456789.125, "", "plain", "-5", "quote\" back\\ slash/", "\t\n\r \x01\x1f\x7f",
          "jos\u00e9 \u2603 \U0001f600", {"k": [1, {"\u00e9": None}], "a\"b": "c\\d"},
          [], {}, [[], [None, "x"]]]


def test_lines_are_the_pages_resources_byte_for_byte():
    """The export writes its lines from the rows, not through jansson: each
    NDJSON line is byte for byte a resource of the JSON:API pages (which
    jansson writes), members in the same order, for values of every kind,
    strings that need escapes, text beyond ASCII, erased values and the
    checker's flags; CSV holds the same values."""
    with Stack(daemons=("api", "auditor"),
               extra_env={"AUDITLOG_CHECK_MS": "50", "AUDITLOG_CHECK_GRACE_MS": "300"}) as s:
        tok = s.token(1)
        u = unique("esc")
        actor, target = "jos\u00e9-" + u, u
        t0 = int(time.time() * 1000) - 5_000
        events = []
        for i, v in enumerate(VALUES):
            events.append({"id": str(uuid.uuid4()), "action": "changed", "timestamp": t0 + i,
                           "actorType": "service", "actorId": actor,
                           "targetType": "documents", "targetId": target,
                           "targetVersion": i + 1, "eventName": f'n"{i}\\/\u00e9\U0001f600',
                           "changes": {"a": {"prev": v, "next": VALUES[-1 - i]},
                                       "b": {"prev": i, "next": v}}})
        # A version skipped: the checker flags a gap on the last event.
        events.append({"id": str(uuid.uuid4()), "action": "changed", "timestamp": t0 + 99,
                       "actorType": "service", "actorId": actor, "targetType": "documents",
                       "targetId": target, "targetVersion": len(VALUES) + 2,
                       "changes": {"a": {"prev": 1, "next": 2}}})
        events.append({"id": str(uuid.uuid4()), "action": "viewed", "timestamp": t0 + 100,
                       "actorType": "service", "actorId": actor, "targetType": "documents",
                       "targetId": target})
        publish(events)
        t = f"documents:{target}"
        flagged = events[-2]["id"]
        ours = {e["id"] for e in events}  # not the records of reads, if any

        def settled():
            got = query(s, tok, {"target": t}, size=100)
            return sum(r in ours for r in got) == len(events) and any(
                r["id"] == flagged and r.get("meta", {}).get("flags") for r in
                s.events(f"/data-events?filter[target]={t}", tok))
        wait_for(settled, what="the events stored and the gap flagged")
        status, _, doc = s.request("auditor", "POST", "/erasures", {"data": {
            "type": "erasures", "attributes": {"target": t, "field": "b",
                                               "reason": "export test " + u}}}, tok)
        assert status == 201, (status, doc)
        for params in ({"filter[target]": t}, {"filter[target]": t, "sort": "time"},
                       {"filter[actor]": f"service:{actor}"}):
            status, _, body = export(s, tok, params, NDJSON)
            assert status == 200, body
            lines = body.split(b"\n")
            assert lines[-1] == b"", params
            lines = [ln for ln in lines[:-1] if json.loads(ln)["id"] in ours]
            assert len(lines) == len(events), (params, len(lines))
            bodies = raw_pages(s, tok, params)
            for line in lines:
                assert any(b'[' + line + b']' in p or b'[' + line + b',' in p or
                           b',' + line + b',' in p or b',' + line + b']' in p
                           for p in bodies), (params, line)
            # The same resources in the same order, members in the same order.
            pairs = [json.loads(ln, object_pairs_hook=list) for ln in lines]
            paged = [r for p in bodies for r in
                     dict(json.loads(p, object_pairs_hook=list))["data"]
                     if dict(r)["id"] in ours]
            assert pairs == paged, params
        got = {r["id"]: r for r in (json.loads(ln) for ln in lines)}
        # The test saw what it means to: escapes, erasures, a flag.
        assert got[flagged]["meta"]["flags"][0]["kind"] == "gap", got[flagged]
        for e in events[:len(VALUES)]:
            c = got[e["id"]]["attributes"]["changes"]
            assert c["a"] == e["changes"]["a"] and c["b"] == {"erased": True}, (e, c)
            assert got[e["id"]]["attributes"]["eventName"] == e["eventName"]
        # CSV: the same values, as JSON text; erased cells empty; the flag.
        status, _, body = export(s, tok, {"filter[target]": t, "sort": "time"}, CSV)
        assert status == 200
        rows = list(csv.reader(io.StringIO(body.decode(), newline="")))[1:]
        by_event = {}
        for r in rows:
            if r[2] in ours:
                by_event.setdefault(r[2], []).append(r)
        for e in events[:len(VALUES)]:
            a, b = by_event[e["id"]]
            assert (a[11], a[14], b[11], b[12], b[13], b[14]) == ("a", "false", "b", "", "",
                                                                 "true"), (a, b)
            prev = a[12][1:] if a[12].startswith("'") else a[12]
            assert json.loads(prev) == e["changes"]["a"]["prev"], a
            assert json.loads(a[13].lstrip("'")) == e["changes"]["a"]["next"], a
            assert a[10].lstrip("'") == e["eventName"] and a[6] == actor, a
        kinds = [f["kind"] for f in got[flagged]["meta"]["flags"]]
        assert "gap" in kinds and [r[15] for r in by_event[flagged]] == [" ".join(kinds)], \
            (kinds, by_event[flagged])
        assert sum(map(len, by_event.values())) == 2 * len(VALUES) + 2


def test_a_client_that_leaves_mid_export():
    rng = random.Random(1203)
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        events, actors, _, _ = stored_crafted(s, tok, rng, 3000, actors=1, targets=1)
        a = f"service:{actors[0]}"
        path = "/data-events?" + urllib.parse.urlencode({"filter[actor]": a})
        for _ in range(20):
            with socket.create_connection(("127.0.0.1", s.ports["auditor"]), timeout=10) as c:
                c.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: {NDJSON}\r\n"
                          f"Authorization: Bearer {tok}\r\n\r\n".encode())
                head = c.recv(4096)
                assert head.startswith(b"HTTP/1.1 200"), head
        # Still answering, and a whole export still whole.
        status, _, body = export(s, tok, {"filter[actor]": a}, NDJSON)
        assert status == 200 and len(body.decode().splitlines()) == len(events)


def test_exports_at_once_are_capped():
    """AUDITLOG_EXPORTS_MAX exports run at once; the next gets a JSON:API
    503 before anything is sent, and one may start again once one ended.
    Two clients that do not read hold their exports open: the body (about
    12 MB of large values) is more than the sockets' buffers take."""
    with Stack({"AUDITLOG_EXPORTS_MAX": "2"}, daemons=("api", "auditor")) as s:
        tok = s.token(1)
        actor = unique("cap")
        big = "x" * 200_000
        t0 = int(time.time() * 1000) - 10_000
        events = [{"id": str(uuid.uuid4()), "action": "changed", "timestamp": t0 + i,
                   "actorType": "service", "actorId": actor, "targetType": "documents",
                   "targetId": "capped", "changes": {"a": {"prev": big, "next": i}}}
                  for i in range(60)]
        for e in events:  # one a message: a message of 100 would pass 1 MiB
            publish([e])
        params = {"filter[actor]": f"service:{actor}"}
        wait_for(lambda: len(query(s, tok, {"actor": f"service:{actor}"}, size=100)) == 60,
                 what="the large events stored")
        path = "/data-events?" + urllib.parse.urlencode(params)
        held = []
        for _ in range(2):
            c = socket.socket()
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            c.settimeout(10)
            c.connect(("127.0.0.1", s.ports["auditor"]))
            c.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: {NDJSON}\r\n"
                      f"Authorization: Bearer {tok}\r\n\r\n".encode())
            assert c.recv(4096).startswith(b"HTTP/1.1 200")
            held.append(c)
        status, hdrs, body = export(s, tok, params, NDJSON)
        assert status == 503, (status, body[:300])
        err = error_of(json.loads(body))
        assert err["status"] == "503" and "2 exports are running" in err["detail"], err
        assert hdrs.get("content-type", "").startswith("application/vnd.api+json"), hdrs
        assert hdrs.get("retry-after") == "1", hdrs
        held.pop().close()

        def whole():
            st, _, b = export(s, tok, params, NDJSON)
            return st == 200 and len(b.splitlines()) == 60
        wait_for(whole, what="an export once one of the two ended")
        for c in held:
            c.close()


if __name__ == "__main__":
    run([test_ndjson_and_csv_give_every_match, test_csv_neutralises_formulas_and_quotes,
         test_lines_are_the_pages_resources_byte_for_byte, test_a_client_that_leaves_mid_export,
         test_exports_at_once_are_capped])
