"""The grammar of a type and an id (common/event.h): every route that names
an object refuses what breaks it with a 400 naming the parameter, the ids
producers use keep working on every route, and the auditor dead-letters an
event whose ids break it instead of storing what no query could name."""
import json
import os
import subprocess
import urllib.parse
import uuid

from harness import BIN, Stack, error_of, run, wait_for

URL = os.environ.get("AUDITLOG_AMQP_URL", "amqp://dev:dev@localhost:5672/")
DEAD = "data-mutation-audits.dead"

# As a client would write them in a URL (already percent-encoded).
BAD_IDS = ["1:2:3", "1:", "%271%27", "%221%22", "a%20b", "%20", "a%2Fb", "a%5Cb",
           "a%3Cb%3E", "a%C2%A0b", "a%E2%80%8Bb", "a%E2%80%AEb", "%FF%FE", "..", "x" * 65]
BAD_TYPES = ["us%20ers", "users%3B", "us%27ers", "us%C3%A9rs", "x" * 65]
GOOD_IDS = ["42", str(uuid.uuid4()), "inv-2026-0001", "a.b@c", "ann%2Baudit@example.com",
            "jos%C3%A9.x@example.com"]


def producers(data):
    """A page's events less the records of reads (README "Reads are
    recorded"): each query here of the object is one, in its history."""
    return [e for e in data if not (e["attributes"].get("eventName") or "").startswith("audit.")]


def expect_400(result, *words):
    status, _, doc = result
    assert status == 400, (status, doc)
    e = error_of(doc)
    for w in words:
        assert w in e["detail"], (w, e)
    return e


def publish(body, message_id):
    subprocess.run([os.path.join(BIN, "mqtool"), "publish", URL, "api-stream",
                    "other.data.mutated", message_id], input=body.encode(), check=True)


def dead_letters_hold(event_id, limit=2000):
    """Takes dead letters until one holds event_id; True if one did."""
    for _ in range(limit):
        got = subprocess.run([os.path.join(BIN, "mqtool"), "get", URL, DEAD],
                             capture_output=True)
        if got.returncode == 3:
            return False
        assert got.returncode == 0, got.stderr
        reason, _, body = got.stdout.partition(b"\n")
        if event_id.encode() in body:
            return reason.decode()
    return False


def test_refused_everywhere():
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        for bad in BAD_IDS:
            for name in ("filter[actor]", "filter[target]"):
                expect_400(s.auditor("GET", f"/data-events?{name}=users:{bad}", token=tok),
                           name, "id")
            expect_400(s.auditor("GET", f"/api/users/{bad}/data-events", token=tok), ":id")
            for side in ("by", "for"):
                expect_400(s.api("GET", f"/logs/{side}/users/{bad}", token=tok), ":id")
            expect_400(s.api("GET", f"/api/notes?filter[target]=users:{bad}", token=tok),
                       "filter[target]")
        for bad in BAD_TYPES:
            expect_400(s.auditor("GET", f"/data-events?filter[target]={bad}:1", token=tok),
                       "filter[target]", "type")
            expect_400(s.auditor("GET", f"/api/{bad}/1/data-events", token=tok), ":type")
            expect_400(s.api("GET", f"/logs/for/{bad}/1", token=tok), ":type")
            expect_400(s.api("GET", f"/api/notes?filter[target]={bad}:1", token=tok),
                       "filter[target]", "type")
        # In a query '+' is a space; a '+' in an id is sent as %2B.
        expect_400(s.auditor("GET", "/data-events?filter[target]=users:a+b", token=tok),
                   "filter[target]", "id")
        # Empty parts, and a reference that is not one.
        for bad in ("users:", ":1", "users", ""):
            expect_400(s.auditor("GET", f"/data-events?filter[actor]={bad}", token=tok),
                       "filter[actor]")
            expect_400(s.api("GET", f"/api/notes?filter[target]={bad}", token=tok),
                       "filter[target]")
        # A note's field has the grammar of a type.
        for bad in ("users:1:a:b", "users:1:", "users:1:e%20mail", "users:1:%C3%A9"):
            expect_400(s.api("GET", f"/api/notes?filter[target]={bad}", token=tok),
                       "filter[target]", "field")
        # And so does what a note is about, when it is created.
        for attrs, member in [({"targetType": "users", "targetId": "1:2"}, "targetId"),
                              ({"targetType": "users", "targetId": "a b"}, "targetId"),
                              ({"targetType": "users", "targetId": "'1'"}, "targetId"),
                              ({"targetType": "us ers", "targetId": "1"}, "targetType"),
                              ({"targetType": "users", "targetId": "1", "fieldName": "a:b"},
                               "fieldName")]:
            status, _, doc = s.api("POST", "/api/notes", token=tok, body={
                "data": {"type": "notes", "attributes": attrs}})
            assert status == 422, (attrs, doc)
            assert error_of(doc)["source"]["pointer"] == f"/data/attributes/{member}", doc


def test_producer_ids_keep_working():
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        run_tag = uuid.uuid4().hex[:8]
        ids = {g: f"{urllib.parse.unquote(g)}" for g in GOOD_IDS}
        events = []
        for i, raw in enumerate(ids.values()):
            # A fresh target per id and run, so earlier runs do not count.
            events.append({"id": str(uuid.uuid4()), "action": "viewed",
                           "timestamp": 1700000000000 + i, "actorType": "service",
                           "actorId": f"{raw}", "targetType": f"t{run_tag}", "targetId": raw})
        publish(json.dumps(events), events[0]["id"])
        for enc, raw in ids.items():
            def stored():
                ev = s.events(f"/data-events?filter[target]=t{run_tag}:{enc}", tok)
                return ev or None
            got = wait_for(stored, what=f"the event about {raw}")
            assert len(got) == 1 and got[0]["attributes"]["targetId"] == raw, got
            status, _, doc = s.auditor("GET", f"/data-events?filter[actor]=service:{enc}"
                                              f"&filter[target]=t{run_tag}:{enc}", token=tok)
            assert status == 200 and len(producers(doc["data"])) == 1, doc
            status, _, doc = s.auditor("GET", f"/api/t{run_tag}/{enc}/data-events", token=tok)
            assert status == 200 and len(producers(doc["data"])) == 1, doc
            # The links name the same object again.
            status, _, doc = s.auditor("GET", doc["links"]["self"], token=tok)
            assert status == 200 and len(producers(doc["data"])) == 1, doc
            status, _, doc = s.api("GET", f"/logs/for/users/{enc}", token=tok)
            assert status == 200, doc
            # Any producer's types, not only the API's own, through /logs too.
            status, _, doc = s.api("GET", f"/logs/for/t{run_tag}/{enc}", token=tok)
            assert status == 200 and len(producers(doc["data"])) == 1, doc
            status, _, doc = s.api("GET", f"/logs/by/service/{enc}", token=tok)
            assert status == 200 and doc["data"], doc
            status, _, doc = s.api("GET", f"/api/notes?filter[target]=users:{enc}:email",
                                   token=tok)
            assert status == 200 and doc["data"] == [], doc


def test_decoder_refuses_what_no_query_could_name():
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        target = uuid.uuid4().hex[:12]

        def ev(i, **over):
            e = {"id": str(uuid.uuid4()), "action": "viewed", "timestamp": 1700000000000 + i,
                 "actorType": "service", "actorId": "billing", "targetType": "invoices",
                 "targetId": target}
            e.update(over)
            return e
        good = ev(1)
        bad = [ev(2, targetId=f"{target}:2"), ev(3, actorId="billing dept"),
               ev(4, targetId=f"'{target}'"), ev(5, actorId="a\u200bb")]
        publish(json.dumps([bad[0], good, bad[1]]), good["id"])
        publish(json.dumps(bad[2]), bad[2]["id"])
        publish(json.dumps(bad[3]), bad[3]["id"])
        marker = ev(9)
        publish(json.dumps(marker), marker["id"])
        stored = wait_for(lambda: (lambda e: e if len(e) >= 2 else None)(
            s.events(f"/data-events?filter[target]=invoices:{target}", tok)), what="two events")
        assert sorted(e["id"] for e in stored) == sorted([good["id"], marker["id"]]), stored
        for b in bad:
            reason = dead_letters_hold(b["id"])
            assert reason and "must be" in reason, (b, reason)


if __name__ == "__main__":
    run([test_refused_everywhere, test_producer_ids_keep_working,
         test_decoder_refuses_what_no_query_could_name])
