"""The view spool: its confirmed position follows the broker's confirms,
and views spooled while the broker was unreachable are sent after a
restart of the API."""
import glob
import os
import tempfile

from harness import Stack, run, unique, wait_for


def new_user(s, tok):
    status, _, doc = s.api("POST", "/api/users", token=tok, body={
        "data": {"type": "users", "attributes": {
            "name": "Spooled", "email": unique("spool") + "@example.com"}}})
    assert status == 201, doc
    return doc["data"]["id"]


def stored(s, tok, uid, count):
    def enough():
        ev = s.events(f"/data-events?filter[target]=users:{uid}", tok)
        return ev if len(ev) >= count else None
    return wait_for(enough, 30, what=f"{count} events of users:{uid}")


def test_confirmed_position_reaches_the_end():
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        uid = new_user(s, tok)
        for _ in range(30):
            assert s.api("GET", f"/api/users/{uid}", token=tok)[0] == 200
        assert len(stored(s, tok, uid, 32)) == 32
        s.stop("api")  # checkpoints on the way out
        spool = s.env["AUDITLOG_SPOOL_DIR"]
        with open(os.path.join(spool, "checkpoint")) as f:
            segment, offset = map(int, f.read().split())
        segments = sorted(glob.glob(os.path.join(spool, "views-*.spool")))
        last = segments[-1]
        assert segment == int(os.path.basename(last)[6:-6]), (segment, segments)
        assert offset == os.path.getsize(last) > 0, (offset, os.path.getsize(last))


def test_views_spooled_without_broker_arrive_after_restart():
    spool = tempfile.mkdtemp(prefix="auditlog-spool-")
    nowhere = {"AUDITLOG_AMQP_URL": "amqp://dev:dev@127.0.0.1:9/none",
               "AUDITLOG_SPOOL_DIR": spool}
    with Stack(extra_env=nowhere, daemons=("api",)) as s:
        tok = s.token(1)
        uid = new_user(s, tok)
        for _ in range(10):
            assert s.api("GET", f"/api/users/{uid}", token=tok)[0] == 200
    with Stack(extra_env={"AUDITLOG_SPOOL_DIR": spool}, daemons=("api", "auditor")) as s:
        tok = s.token(1)
        events = stored(s, tok, uid, 12)
        actions = sorted(e["attributes"]["action"] for e in events)
        assert actions == ["created"] + ["viewed"] * 11, actions


if __name__ == "__main__":
    run([test_confirmed_position_reaches_the_end,
         test_views_spooled_without_broker_arrive_after_restart])
