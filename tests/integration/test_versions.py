"""Complete object histories (issue 11): every row has a version, every
event names the version it produced or read, created carries every initial
value and deleted every last one, and a target's history is ordered by
version first and time second, so a read always stands before the change
it did not see."""
import json
import os
import subprocess
import threading
import time
import uuid

from harness import BIN, Stack, run, unique, wait_for

URL = os.environ.get("AUDITLOG_AMQP_URL", "amqp://dev:dev@localhost:5672/")


def publish(events):
    body = json.dumps(events)
    subprocess.run([os.path.join(BIN, "mqtool"), "publish", URL, "api-stream",
                    "other.data.mutated", str(uuid.uuid4())], input=body.encode(), check=True)


def history(s, tok, target, n):
    """The target's history, oldest first, once it holds n events."""
    def full():
        ev = s.events(f"/data-events?filter[target]={target}", tok)
        return ev if len(ev) >= n else None
    return list(reversed(wait_for(full, what=f"{n} events of {target}")))


def test_created_and_deleted_carry_values():
    """Fault 1: after a delete the log still says what the record was."""
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        email = unique("hist") + "@example.com"
        status, _, doc = s.api("POST", "/api/users", token=tok, body={
            "data": {"type": "users", "attributes": {"name": "Ann Example", "email": email}}})
        assert status == 201, doc
        uid = doc["data"]["id"]
        status, _, doc = s.api("PATCH", f"/api/users/{uid}", token=tok, body={
            "data": {"type": "users", "id": uid, "attributes": {"name": "Ann Changed",
                                                                "agreedTos": True}}})
        assert status == 200, doc
        status, _, _ = s.api("DELETE", f"/api/users/{uid}", token=tok)
        assert status == 204

        # created, its response's view, changed, its response's view, deleted
        events = history(s, tok, f"users:{uid}", 5)
        got = [(e["attributes"]["action"], e["attributes"]["targetVersion"]) for e in events]
        assert got == [("created", 1), ("viewed", 1), ("changed", 2), ("viewed", 2),
                       ("deleted", 3)], got
        created, deleted = events[0]["attributes"], events[4]["attributes"]
        assert created["changes"] == {
            "name": {"prev": None, "next": "Ann Example"},
            "email": {"prev": None, "next": email},
            "agreedTos": {"prev": None, "next": False}}, created
        assert deleted["changes"] == {
            "name": {"prev": "Ann Changed", "next": None},
            "email": {"prev": email, "next": None},
            "agreedTos": {"prev": True, "next": None}}, deleted
        assert events[2]["attributes"]["changes"] == {
            "name": {"prev": "Ann Example", "next": "Ann Changed"},
            "agreedTos": {"prev": False, "next": True}}, events[2]
        for e in (events[1], events[3]):
            assert "changes" not in e["attributes"], e

        # Notes too: created with its four attributes, deleted with the last.
        status, _, doc = s.api("POST", "/api/notes", token=tok, body={
            "data": {"type": "notes", "attributes": {
                "targetType": "users", "targetId": "1", "data": "remember"}}})
        assert status == 201, doc
        nid = doc["data"]["id"]
        status, _, _ = s.api("DELETE", f"/api/notes/{nid}", token=tok)
        assert status == 204
        events = history(s, tok, f"notes:{nid}", 3)
        got = [(e["attributes"]["action"], e["attributes"]["targetVersion"]) for e in events]
        assert got == [("created", 1), ("viewed", 1), ("deleted", 2)], got
        initial = {"targetType": "users", "targetId": "1", "fieldName": None, "data": "remember"}
        assert events[0]["attributes"]["changes"] == {
            k: {"prev": None, "next": v} for k, v in initial.items()}, events[0]
        assert events[2]["attributes"]["changes"] == {
            k: {"prev": v, "next": None} for k, v in initial.items()}, events[2]


def test_reads_stand_before_the_change_they_did_not_see():
    """Fault 2: clients loop on GET while another changes the name and then
    deletes the user. Oldest first, every read of version n stands before
    the change that made n + 1, and none after the delete; and the reads
    that carried the old name are exactly the views of version 1."""
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        uid = s.new_user(tok, "race", name="Old Name")
        reader = s.new_user(tok, "reader", name="Reader")
        rtok = s.token(reader)
        seen = {"Old Name": 0, "New Name": 0}
        lock = threading.Lock()
        stop = threading.Event()
        gone = []

        def read():
            while not stop.is_set():
                status, _, doc = s.api("GET", f"/api/users/{uid}", token=rtok)
                if status == 404:
                    gone.append(1)
                    return
                assert status == 200, doc
                with lock:
                    seen[doc["data"]["attributes"]["name"]] += 1

        threads = [threading.Thread(target=read) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        status, _, doc = s.api("PATCH", f"/api/users/{uid}", token=tok, body={
            "data": {"type": "users", "id": uid, "attributes": {"name": "New Name"}}})
        assert status == 200, doc
        time.sleep(0.5)
        status, _, _ = s.api("DELETE", f"/api/users/{uid}", token=tok)
        assert status == 204
        for t in threads:
            t.join(timeout=30)
        stop.set()
        assert len(gone) == 4 and seen["Old Name"] > 0 and seen["New Name"] > 0, (gone, seen)

        # created + its view, the reads, changed + its view, deleted
        n = 2 + seen["Old Name"] + seen["New Name"] + 2 + 1
        events = history(s, tok, f"users:{uid}", n)
        assert len(events) == n, (len(events), n)
        versions = [e["attributes"]["targetVersion"] for e in events]
        assert versions == sorted(versions), versions
        actions = [e["attributes"]["action"] for e in events]
        assert actions[0] == "created" and actions[-1] == "deleted", actions
        changed = actions.index("changed")
        assert versions[changed] == 2 and versions[-1] == 3, versions
        assert all(v == 1 for v in versions[:changed]), versions
        assert all(v == 2 for v in versions[changed:-1]), versions
        reads = [e["attributes"]["targetVersion"] for e in events
                 if e["attributes"]["actorId"] == reader and e["attributes"]["action"] == "viewed"]
        assert reads.count(1) == seen["Old Name"], (reads, seen)
        assert reads.count(2) == seen["New Name"], (reads, seen)


def test_version_first_time_second():
    """Crafted events straight to the exchange: a history is ordered by
    version whatever the clocks say; events without a version keep time
    order (and come before versioned ones)."""
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        target, actor = unique("doc"), unique("svc")
        t0 = int(time.time() * 1000)

        def ev(name, action, ts, version=None, **extra):
            e = {"id": str(uuid.uuid4()), "action": action, "timestamp": ts,
                 "actorType": "service", "actorId": actor, "targetType": "documents",
                 "targetId": target, "eventName": name, **extra}
            if version is not None:
                e["targetVersion"] = version
            return e
        # The clocks disagree with the versions: v2's change is stamped
        # before a read of v1, and a read of v2 before everything. Version
        # first: every v1 event before every v2 one; time second, within a
        # version (so r2, stamped earliest, comes first among the v2 ones).
        evs = [ev("c2", "changed", t0 + 10, 2, changes={"x": {"prev": 1, "next": 2}}),
               ev("r1", "viewed", t0 + 50, 1),
               ev("c1", "created", t0 + 5, 1, changes={"x": {"prev": None, "next": 1}}),
               ev("r2", "viewed", t0 + 1, 2),
               ev("u2", "viewed", t0 + 3),
               ev("u1", "viewed", t0 + 2)]
        publish(evs)
        events = history(s, tok, f"documents:{target}", len(evs))
        got = [e["attributes"]["eventName"] for e in events]
        assert got == ["u1", "u2", "c1", "r1", "r2", "c2"], got
        # An actor's history is in time order alone.
        status, _, doc = s.api("GET", f"/logs/by/service/{actor}?page[size]=6", token=tok)
        assert status == 200, doc
        got = [e["attributes"]["eventName"] for e in reversed(doc["data"])]
        assert got == ["r2", "u1", "u2", "c1", "c2", "r1"], got
        # The cursor walks the same order a page at a time. The walk's own
        # pages are reads of the target, recorded in its history among the
        # unversioned events (README "Reads are recorded"): a record stored
        # while the walk goes on lists on a later page, and is left out.
        pages, path = [], f"/data-events?filter[target]=documents:{target}&page[size]=1"
        while path:
            status, _, doc = s.auditor("GET", path, token=tok)
            assert status == 200, doc
            pages += [e["attributes"]["eventName"] for e in doc["data"]
                      if not e["attributes"]["eventName"].startswith("audit.")]
            path = doc["links"].get("next")
        assert list(reversed(pages)) == ["u1", "u2", "c1", "r1", "r2", "c2"], pages


if __name__ == "__main__":
    run([test_created_and_deleted_carry_values,
         test_reads_stand_before_the_change_they_did_not_see,
         test_version_first_time_second])
