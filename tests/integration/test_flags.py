"""Gaps and drift (issue 11): crafted events published straight to the
exchange; the checker flags, in log order, the mutations whose version or
values do not follow from what the log stored before them, shows the flags
in each event's meta, and counts them (GET /checks)."""
import json
import re
import os
import subprocess
import time
import uuid

from harness import BIN, Stack, run, unique, wait_for

URL = os.environ.get("AUDITLOG_AMQP_URL", "amqp://dev:dev@localhost:5672/")


def publish(events):
    subprocess.run([os.path.join(BIN, "mqtool"), "publish", URL, "api-stream",
                    "other.data.mutated", str(uuid.uuid4())],
                   input=json.dumps(events).encode(), check=True)


def checks(s, tok):
    status, _, doc = s.auditor("GET", "/checks", token=tok)
    assert status == 200, doc
    (c,) = doc["data"]
    assert c["type"] == "log-checks", c
    return c["attributes"]


def test_gap_late_duplicate_drift():
    with Stack(daemons=("api", "auditor"),
               # Its gaps are on purpose: each waits AUDITLOG_REORDER_MS for
               # the version before it (README "Per-target order").
               extra_env={"AUDITLOG_CHECK_MS": "50", "AUDITLOG_CHECK_GRACE_MS": "300",
                          "AUDITLOG_REORDER_MS": "300"}) as s:
        tok = s.token(1)
        target = unique("doc")
        t0 = int(time.time() * 1000)
        before = checks(s, tok)["flags"]

        def ev(name, action, version, changes=None, on=target):
            e = {"id": str(uuid.uuid4()), "action": action, "timestamp": t0 + version,
                 "actorType": "service", "actorId": "editor", "targetType": "documents",
                 "targetId": on, "eventName": name}
            if version:
                e["targetVersion"] = version
            if changes:
                e["changes"] = changes
            return e

        def x(prev, nxt):
            return {"x": {"prev": prev, "next": nxt}}

        def checked_past(ids, on=target):
            """Once every event of ids is stored and checked. The bookmark is
            read before the events: flags commit with the bookmark, so events
            read after it carry every flag of the positions below it (read
            the other way round, a check between the two reads was missed)."""
            c = checks(s, tok)
            got = s.events(f"/data-events?filter[target]=documents:{on}", tok)
            mine = [e for e in got if e["id"] in ids]
            if len(mine) < len(ids):
                return None
            return got if c["checkedTo"] > max(e["attributes"]["seq"] for e in mine) else None

        # One message, one batch: v3 is missing when v4 is checked (gap), and
        # v4's prev is not what v2 left (drift).
        # v2's prev of n is v1's next spelled otherwise (1.0 for 1): the same
        # value, no drift (a tester found it flagged).
        first = [ev("v1", "created", 1, {**x(None, 1), "n": {"prev": None, "next": 1}}),
                 ev("v2", "changed", 2, {**x(1, 2), "n": {"prev": 1.0, "next": 2}}),
                 ev("v4", "changed", 4, x(3, 4))]
        publish(first)
        wait_for(lambda: checked_past({e["id"] for e in first}), what="the first batch checked")
        # Then v3 comes, long after v4 (late); version 4 again (duplicate);
        # v5 with a prev nothing left (drift).
        second = [ev("v3", "changed", 3, x(2, 3)),
                  ev("v4again", "changed", 4, x(3, 5)),
                  ev("v5", "changed", 5, x(100, 6)),
                  ev("unversioned", "changed", 0, x(7, 8)),
                  ev("v6", "deleted", 6, x(6, None))]
        publish(second)
        wait_for(lambda: checked_past({e["id"] for e in second}), what="the second batch checked")
        # A change after the delete: what the API never makes.
        third = [ev("v7", "changed", 7, x(None, 9))]
        publish(third)
        got = wait_for(lambda: checked_past({e["id"] for e in third}),
                       what="the third batch checked")
        flags = {e["attributes"]["eventName"]: sorted(
            (f["kind"], f["field"]) for f in e.get("meta", {}).get("flags", [])) for e in got}
        assert flags == {
            "v1": [], "v2": [],
            "v4": [("drift", "x"), ("gap", None)],
            "v3": [("late", None)],
            "v4again": [("duplicate-version", None)],
            "v5": [("drift", "x")],
            "unversioned": [], "v6": [], "v7": [("after-delete", None)]}, flags
        for e in got:
            for f in e.get("meta", {}).get("flags", []):
                # words, never a value (100 is v5's prev; an event id may hold the digits)
                assert f["detail"] and not re.search(r"\b100\b", f["detail"]), f
        # Counted: /checks counts the whole log (other tests' events too, so
        # at least ours), filter[flag] this target's.
        want = {"gap": 1, "late": 1, "duplicate-version": 1, "drift": 2, "after-delete": 1}
        after = checks(s, tok)["flags"]
        for k, n in want.items():
            assert after[k] - before.get(k, 0) >= n, (k, before, after)
            flagged = s.events(f"/data-events?filter[target]=documents:{target}"
                               f"&filter[flag]={k}", tok)
            assert len(flagged) == n, (k, flagged)
        # A delete that comes after a higher version was checked: late, and
        # after-delete on the delete (the version above was checked without it).
        other = unique("doc")
        early = [ev("w1", "created", 1, x(None, 1), on=other),
                 ev("w3", "changed", 3, x(1, 3), on=other)]
        publish(early)
        wait_for(lambda: checked_past({e["id"] for e in early}, other), what="w1, w3 checked")
        gone = [ev("w2", "deleted", 2, x(1, None), on=other)]
        publish(gone)
        got = wait_for(lambda: checked_past({e["id"] for e in gone}, other), what="w2 checked")
        flags = {e["attributes"]["eventName"]: sorted(
            f["kind"] for f in e.get("meta", {}).get("flags", [])) for e in got}
        assert flags == {"w1": [], "w3": ["gap"], "w2": ["after-delete", "late"]}, flags
        # A delete without a version is outside the versions' order: the
        # versioned create checked beside it is not after it (a tester's
        # case: it was flagged after-delete, "version 0 ... deleted it").
        plain = unique("doc")
        mixed = [ev("u1", "created", 1, x(None, 1), on=plain),
                 ev("u0", "deleted", 0, x(1, None), on=plain)]
        mixed[1]["timestamp"] = t0 + 1000
        publish(mixed)
        got = wait_for(lambda: checked_past({mixed[0]["id"]}, plain), what="u1 checked")
        assert [e.get("meta", {}).get("flags", []) for e in got] == [[], []], got
        # Events without a version count for drift only when stamped at or
        # before the mutation checked (a tester's case: a later unversioned
        # delete was v2's reference, "not the value version 0 stored").
        old = unique("doc")
        history = [ev("p0", "created", 0, x(None, 1), on=old),
                   ev("p2", "changed", 2, x(1, 2), on=old),
                   ev("p0d", "deleted", 0, x(2, None), on=old),
                   ev("p3", "changed", 3, x(5, 6), on=old)]
        history[2]["timestamp"] = t0 + 2000
        publish(history)
        got = wait_for(lambda: checked_past({history[1]["id"], history[3]["id"]}, old),
                       what="p2, p3 checked")
        flags = {e["attributes"]["eventName"]: sorted(
            (f["kind"], f["detail"]) for f in e.get("meta", {}).get("flags", [])) for e in got}
        assert [k for k, _ in flags["p2"]] == ["gap"] and flags["p0"] == flags["p0d"] == [] and \
            flags["p3"][0][0] == "drift" and "not the value version 2 stored" in flags["p3"][0][1], \
            flags
        # One missing version is worded as one.
        gap = [f["detail"] for e in s.events(f"/data-events?filter[target]=documents:{other}",
                                             tok)
               for f in e.get("meta", {}).get("flags", []) if f["kind"] == "gap"]
        assert gap == ["version 2 of its target is not stored (the highest below it is 1)"], gap
        both = s.events(f"/data-events?filter[flag]=gap,late&filter[action]=changed"
                        f"&filter[actor]=service:editor", tok)
        assert {"v4", "v3"} <= {e["attributes"]["eventName"] for e in both
                                if e["attributes"]["targetId"] == target}, both

        # The API's own events carry versions that follow: no flag.
        uid = s.new_user(tok, "noflag")
        for i in range(3):
            status, _, doc = s.api("PATCH", f"/api/users/{uid}", token=tok, body={
                "data": {"type": "users", "id": uid, "attributes": {"name": f"N{i}"}}})
            assert status == 200, doc
        status, _, _ = s.api("DELETE", f"/api/users/{uid}", token=tok)
        assert status == 204

        def api_checked():
            c = checks(s, tok)
            got = [e for e in s.events(f"/data-events?filter[target]=users:{uid}", tok)
                   if e["attributes"]["action"] != "viewed"]
            if len(got) < 5:
                return None
            return got if c["checkedTo"] > max(e["attributes"]["seq"] for e in got) else None
        got = wait_for(api_checked, what="the API's events checked")
        assert all("meta" not in e for e in got), got


def test_checks_needs_the_auditor_role():
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        uid = s.new_user(tok, "checks")
        status, _, doc = s.auditor("GET", "/checks", token=s.token(uid))
        assert status == 403, doc


if __name__ == "__main__":
    run([test_gap_late_duplicate_drift, test_checks_needs_the_auditor_role])
