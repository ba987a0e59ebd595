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
          "targetId", "targetVersion", "eventName", "field", "prev", "next", "erased", "flags"]


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
        for f in ({"actor": a}, {"actor": a, "sort": "time"}, {"target": t},
                  {"target": t, "since": t0 + 50, "until": t0 + 300, "sort": "time"},
                  {"actor": a, "field": "a"}):
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
                assert c.recv(4096).startswith(b"HTTP/1.1 200")
        # Still answering, and a whole export still whole.
        status, _, body = export(s, tok, {"filter[actor]": a}, NDJSON)
        assert status == 200 and len(body.decode().splitlines()) == len(events)


if __name__ == "__main__":
    run([test_ndjson_and_csv_give_every_match, test_csv_neutralises_formulas_and_quotes,
         test_a_client_that_leaves_mid_export])
