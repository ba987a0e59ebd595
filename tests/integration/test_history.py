"""A target's state at any instant and one field's history (issue 11),
rebuilt from the events alone and checked against the API's real rows."""
import json
import os
import random
import subprocess
import time
import urllib.parse
import uuid

from harness import BIN, Stack, error_of, run, unique, wait_for

URL = os.environ.get("AUDITLOG_AMQP_URL", "amqp://dev:dev@localhost:5672/")


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def mutations(s, tok, target, n):
    """The target's created/changed/deleted events, oldest first, once there are n."""
    def full():
        ev = [e for e in s.events(f"/data-events?filter[target]={target}", tok)
              if e["attributes"]["action"] != "viewed"]
        return ev if len(ev) >= n else None
    return list(reversed(wait_for(full, what=f"{n} mutations of {target}")))


def test_state_at_random_instants():
    """A random edit sequence; at many random instants between its events
    the rebuilt state is the row the API answered after the last change
    before the instant, with its version and event."""
    rng = random.Random(11)
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        email = unique("state") + "@example.com"
        status, _, doc = s.api("POST", "/api/users", token=tok, body={
            "data": {"type": "users", "attributes": {"name": "S0", "email": email}}})
        assert status == 201, doc
        uid = doc["data"]["id"]
        rows = [doc["data"]["attributes"]]  # the API's row after each version
        for i in range(1, 25):
            attrs = rng.choice([{"name": f"S{i}"}, {"agreedTos": rng.random() < 0.5},
                                {"email": unique(f"s{i}-") + "@example.com"},
                                {"name": f"S{i}", "agreedTos": True}])
            status, _, doc = s.api("PATCH", f"/api/users/{uid}", token=tok, body={
                "data": {"type": "users", "id": uid, "attributes": attrs}})
            assert status == 200, doc
            if doc["data"]["attributes"] != rows[-1]:
                rows.append(doc["data"]["attributes"])
            time.sleep(rng.random() * 0.02)
        status, _, _ = s.api("DELETE", f"/api/users/{uid}", token=tok)
        assert status == 204
        events = mutations(s, tok, f"users:{uid}", len(rows) + 1)
        assert [e["attributes"]["targetVersion"] for e in events] == \
            list(range(1, len(rows) + 2)), events
        stamps = [e["attributes"]["timestamp"] for e in events]

        def state(at, via="auditor"):
            path = (f"/api/users/{uid}/state?at={urllib.parse.quote(str(at))}" if via == "auditor"
                    else f"/logs/state/users/{uid}?at={urllib.parse.quote(str(at))}")
            return s.request(via, "GET", path, token=tok)

        spans = [k for k in range(len(rows)) if stamps[k + 1] > stamps[k]]
        assert len(spans) > len(rows) // 2, stamps
        for _ in range(60):
            k = rng.choice(spans)
            at = rng.randrange(stamps[k], stamps[k + 1])
            status, _, doc = state(at if rng.random() < 0.5 else iso(at))
            assert status == 200, (at, doc)
            d = doc["data"]
            assert (d["type"], d["id"]) == ("users", uid), d
            assert d["attributes"] == rows[k], (k, at, d, rows[k])
            assert d["meta"]["version"] == k + 1, d
            assert d["relationships"]["event"]["data"] == {
                "type": "data-events", "id": events[k]["id"]}, d

        # Before it was created, and after it was deleted: 404 saying when.
        status, _, doc = state(stamps[0] - 1)
        assert status == 404 and "created at" in error_of(doc)["detail"], doc
        status, _, doc = state(stamps[-1])
        assert status == 404 and "deleted at" in error_of(doc)["detail"], doc
        status, _, doc = s.auditor("GET", f"/api/users/{unique('none')}/state?at=1", token=tok)
        assert status == 404, doc

        # Through the API, the same answer.
        status, _, doc = state(stamps[1], via="api")
        assert status == 200 and doc["data"]["attributes"] == rows[1], doc

        # Bad instants: 400 naming the parameter.
        for bad in ("yesterday", "2026-02-30T00:00:00Z", "-5", "2026-03-03T09:46:40"):
            status, _, doc = s.auditor("GET", f"/api/users/{uid}/state?at={urllib.parse.quote(bad)}",
                                       token=tok)
            assert status == 400, (bad, doc)
            assert error_of(doc)["source"]["parameter"] == "at", doc
        status, _, doc = s.auditor("GET", f"/api/users/{uid}/state", token=tok)
        assert status == 400 and error_of(doc)["source"]["parameter"] == "at", doc


def test_field_history():
    """Every change of one field, newest first, who and when and prev -> next,
    a page at a time; the create's initial value and the delete's last one
    included."""
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        uid = s.new_user(tok, "field", name="F0")
        names = ["F0"]
        for i in range(1, 6):
            status, _, doc = s.api("PATCH", f"/api/users/{uid}", token=tok, body={
                "data": {"type": "users", "id": uid, "attributes": {"name": f"F{i}"}}})
            assert status == 200, doc
            names.append(f"F{i}")
            # A change of another field is not in the name's history.
            status, _, doc = s.api("PATCH", f"/api/users/{uid}", token=tok, body={
                "data": {"type": "users", "id": uid, "attributes": {"agreedTos": i % 2 == 1}}})
            assert status == 200, doc
        status, _, _ = s.api("DELETE", f"/api/users/{uid}", token=tok)
        assert status == 204
        mutations(s, tok, f"users:{uid}", 12)

        got = s.events(f"/api/users/{uid}/fields/name/history", tok, page_size=2)
        pairs = [(e["attributes"]["changes"]["name"]["prev"],
                  e["attributes"]["changes"]["name"]["next"]) for e in got]
        expected = [(None, "F0")] + list(zip(names, names[1:])) + [("F5", None)]
        assert pairs == list(reversed(expected)), pairs
        for e in got:
            a = e["attributes"]
            assert list(a["changes"]) == ["name"], a
            assert (a["actorType"], a["actorId"]) == ("users", "1"), a
        versions = [e["attributes"]["targetVersion"] for e in got]
        assert versions == sorted(versions, reverse=True), versions

        # Through the API, and the links point back at the API's path.
        status, _, doc = s.api("GET", f"/logs/history/users/{uid}/name?page[size]=3", token=tok)
        assert status == 200, doc
        assert [e["id"] for e in doc["data"]] == [e["id"] for e in got[:3]], doc
        assert doc["links"]["next"].startswith(f"/logs/history/users/{uid}/name?"), doc

        # A field no event changed: an empty list. A bad field name: 400.
        status, _, doc = s.auditor("GET", f"/api/users/{uid}/fields/nothing/history", token=tok)
        assert status == 200 and doc["data"] == [], doc
        status, _, doc = s.auditor("GET", f"/api/users/{uid}/fields/a%20b/history", token=tok)
        assert status == 400, doc


def test_state_follows_versions_not_clocks():
    """Crafted events whose clocks disagree with their versions (found by a
    tester): the state is the last version stamped at or before T, never an
    older one; three versions in one millisecond give the third."""
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        t = int(time.time() * 1000) - 60_000
        skew, same = unique("skew"), unique("same")

        def ev(target, action, ts, version, a):
            return {"id": str(uuid.uuid4()), "action": action, "timestamp": ts,
                    "actorType": "service", "actorId": "clock", "targetType": "documents",
                    "targetId": target, "targetVersion": version,
                    "changes": {"a": {"prev": None if action == "created" else a - 1,
                                      "next": a}}}
        plain = unique("plain")  # a producer that sends no version
        unversioned = dict(ev(plain, "created", t, 1, 1))
        del unversioned["targetVersion"]
        # A versioned delete, then a change without a version stamped 20 s
        # later (a tester's case: it brought the object back). Events with
        # no version come first in the history: the delete stays last.
        mixed = unique("mixed")
        late = dict(ev(mixed, "changed", t + 22_000, 1, 9))
        del late["targetVersion"]
        early = unique("early")
        events = [unversioned, ev(mixed, "created", t, 1, 1), ev(mixed, "changed", t + 1000, 2, 2),
                  dict(ev(mixed, "deleted", t + 2000, 3, 3), changes={"a": {"prev": 2,
                                                                           "next": None}}),
                  late, ev(early, "created", t + 3000, 1, 1), ev(early, "changed", t + 1000, 2, 2),
                  ev(early, "changed", t + 2000, 3, 3), ev(skew, "created", t, 1, 1), ev(skew, "changed", t + 10, 2, 2),
                  ev(skew, "changed", t + 5, 3, 3),
                  ev(same, "created", t, 1, 1), ev(same, "changed", t, 2, 2),
                  ev(same, "changed", t, 3, 3)]
        subprocess.run([os.path.join(BIN, "mqtool"), "publish", URL, "api-stream",
                        "other.data.mutated", str(uuid.uuid4())],
                       input=json.dumps(events).encode(), check=True)
        mutations(s, tok, f"documents:{skew}", 3)
        mutations(s, tok, f"documents:{same}", 3)

        def state(target, at):
            status, _, doc = s.auditor("GET", f"/api/documents/{target}/state?at={at}",
                                       token=tok)
            assert status == 200, (target, at, doc)
            return doc["data"]["attributes"]["a"], doc["data"]["meta"]["version"]
        assert state(skew, t + 1) == (1, 1)
        assert state(skew, t + 7) == (3, 3)    # v3 is stamped t+5
        assert state(skew, t + 100) == (3, 3)  # not back to v2 (stamped t+10)
        # Long after: the window is the 10 s before the latest stamp (v2's),
        # not before the instant (a tester's case: it answered v2).
        assert state(skew, t + 30_000) == (3, 3)
        assert state(same, t) == (3, 3)
        # No version is null, not 0, in meta and in the 404's words.
        mutations(s, tok, f"documents:{plain}", 1)
        assert state(plain, t + 1) == (1, None)
        mutations(s, tok, f"documents:{mixed}", 4)
        # Created stamped after its changes (a tester's case): before all of
        # them, the 404 names the creation, not "knows nothing".
        mutations(s, tok, f"documents:{early}", 3)
        status, _, doc = s.auditor("GET", f"/api/documents/{early}/state?at={t - 500}",
                                   token=tok)
        detail = doc["errors"][0]["detail"]
        assert status == 404 and "was created at" in detail and "version 1" in detail, doc
        assert state(mixed, t + 1500) == (2, 2)
        for at in (t + 2000, t + 22_000, t + 40_000):
            status, _, doc = s.auditor("GET", f"/api/documents/{mixed}/state?at={at}", token=tok)
            assert status == 404 and "deleted" in doc["errors"][0]["detail"], (at, doc)
        status, _, doc = s.auditor("GET", f"/api/documents/{plain}/state?at={t - 1}", token=tok)
        detail = doc["errors"][0]["detail"]
        assert status == 404 and "carries no version" in detail and "version 0" not in detail, doc


def test_who_may_read_a_history():
    """A token reads the state and field history of its own user only,
    unless it has the auditor role."""
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        a = s.new_user(tok, "own")
        b = s.new_user(tok, "other")
        atok = s.token(a)
        now = int(time.time() * 1000) + 1000
        mutations(s, tok, f"users:{a}", 1)
        status, _, doc = s.api("GET", f"/logs/state/users/{a}?at={now}", token=atok)
        assert status == 200, doc
        status, _, doc = s.api("GET", f"/logs/state/users/{b}?at={now}", token=atok)
        assert status == 403, doc
        status, _, doc = s.api("GET", f"/logs/history/users/{b}/name", token=atok)
        assert status == 403, doc


if __name__ == "__main__":
    run([test_state_at_random_instants, test_field_history, test_state_follows_versions_not_clocks,
         test_who_may_read_a_history])
