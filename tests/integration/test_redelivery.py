"""The same event delivered twice is stored once; an event from another
producer is stored as sent."""
import json
import os
import subprocess
import uuid

from harness import BIN, Stack, run, wait_for

URL = os.environ.get("AUDITLOG_AMQP_URL", "amqp://dev:dev@localhost:5672/")


def publish(body, message_id):
    subprocess.run([os.path.join(BIN, "mqtool"), "publish", URL, "api-stream",
                    "other.data.mutated", message_id], input=body.encode(), check=True)


def test_duplicate_is_stored_once():
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        target = uuid.uuid4().hex[:12]
        eid = str(uuid.uuid4())
        event = {"id": eid, "action": "changed", "timestamp": 1700000000000,
                 "actorType": "service", "actorId": "billing", "targetType": "invoices",
                 "targetId": target, "eventName": "invoice.corrected",
                 "changes": {"total": {"prev": 10.5, "next": 12}, "memo": {"prev": None,
                                                                         "next": "x"}}}
        publish(json.dumps(event), eid)
        publish(json.dumps(event), eid)
        second = dict(event, id=str(uuid.uuid4()), action="viewed", timestamp=1700000000001)
        del second["changes"]
        publish(json.dumps(second), second["id"])

        def stored():
            ev = s.events(f"/data-events?filter[target]=invoices:{target}", tok)
            return ev if len(ev) >= 2 else None
        events = wait_for(stored, what="both events")
        assert [e["id"] for e in events] == [second["id"], eid], events
        a = events[1]["attributes"]
        assert a["eventName"] == "invoice.corrected"
        assert a["changes"] == event["changes"], a
        assert (a["actorType"], a["actorId"]) == ("service", "billing")


def test_same_id_with_other_content_keeps_the_first():
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        target = uuid.uuid4().hex[:12]
        eid = str(uuid.uuid4())
        first = {"id": eid, "action": "changed", "timestamp": 1700000000000,
                 "actorType": "service", "actorId": "billing", "targetType": "invoices",
                 "targetId": target, "changes": {"total": {"prev": 1, "next": 2}}}
        publish(json.dumps(first), eid)
        wait_for(lambda: s.events(f"/data-events?filter[target]=invoices:{target}", tok),
                 what="the first event")
        forged = dict(first, changes={"total": {"prev": 1, "next": 99},
                                      "owner": {"prev": "a", "next": "b"}})
        publish(json.dumps(forged), eid)
        marker = {"id": str(uuid.uuid4()), "action": "viewed", "timestamp": 1700000000005,
                  "actorType": "service", "actorId": "billing", "targetType": "invoices",
                  "targetId": target}
        publish(json.dumps(marker), marker["id"])
        events = wait_for(lambda: (lambda ev: ev if len(ev) >= 2 else None)(
            s.events(f"/data-events?filter[target]=invoices:{target}", tok)),
            what="the marker")
        assert len(events) == 2, events
        assert events[1]["id"] == eid
        assert events[1]["attributes"]["changes"] == first["changes"], events[1]


def test_array_message_with_a_repeat_and_a_bad_element():
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        target = uuid.uuid4().hex[:12]
        ev = lambda i: {"id": str(uuid.uuid4()), "action": "viewed", "timestamp": 1700000000000 + i,
                        "actorType": "service", "actorId": "batch", "targetType": "invoices",
                        "targetId": target}
        a, b = ev(1), ev(2)
        bad = dict(ev(3), action="eaten")
        publish(json.dumps([a, b, a, bad]), a["id"])
        events = wait_for(lambda: (lambda e: e if len(e) >= 2 else None)(
            s.events(f"/data-events?filter[target]=invoices:{target}", tok)), what="two events")
        assert sorted(e["id"] for e in events) == sorted([a["id"], b["id"]]), events


if __name__ == "__main__":
    run([test_duplicate_is_stored_once, test_same_id_with_other_content_keeps_the_first,
         test_array_message_with_a_repeat_and_a_bad_element])
