"""The original proof of concept's flow, end to end: every step's data
events arrive in the auditor in order, through port 3001 and through the
API's /logs proxy."""
import time

from harness import Stack, http, run, unique, wait_for

EXPECTED_USER2 = ["created", "viewed", "changed", "viewed", "deleted"]


def test_original_flow():
    # The demo's user 1 has no creation event: right after the auditor's
    # start its changes wait AUDITLOG_REORDER_MS (README "Per-target order").
    with Stack({"AUDITLOG_REORDER_MS": "500"}) as s:
        tok = s.token(1)

        status, _, doc = s.api("GET", "/api/users/1", token=tok)
        assert status == 200, doc
        assert doc["data"]["type"] == "users" and doc["data"]["id"] == "1"
        old_name = doc["data"]["attributes"]["name"]

        new_name = unique("James ")[:64]
        try:
            _flow(s, tok, old_name, new_name)
        finally:
            # Put the seed user's name back for the demo and the UI test
            # (e2e.ui reads it), also when the flow failed.
            status, _, _ = s.api("PATCH", "/api/users/1", token=tok, body={
                "data": {"type": "users", "id": "1", "attributes": {"name": old_name}}})
            assert status == 200


def _flow(s, tok, old_name, new_name):
    status, _, doc = s.api("PATCH", "/api/users/1", token=tok, body={
        "data": {"type": "users", "id": "1", "attributes": {"name": new_name}}})
    assert status == 200, doc
    assert doc["data"]["attributes"]["name"] == new_name

    status, hdrs, doc = s.api("POST", "/api/users", token=tok, body={
        "data": {"type": "users", "attributes": {
            "name": "Second User", "email": unique("u") + "@example.com", "agreedTos": 0}}})
    assert status == 201, doc
    uid = doc["data"]["id"]
    assert hdrs["location"] == f"/api/users/{uid}"
    assert doc["data"]["attributes"]["agreedTos"] is False

    status, _, doc = s.api("PATCH", f"/api/users/{uid}", token=tok, body={
        "data": {"type": "users", "id": uid, "attributes": {"agreedTos": 1}}})
    assert status == 200, doc
    assert doc["data"]["attributes"]["agreedTos"] is True

    status, _, doc = s.api("DELETE", f"/api/users/{uid}", token=tok)
    assert status == 204, doc
    status, _, doc = s.api("GET", f"/api/users/{uid}", token=tok)
    assert status == 404, doc

    # The target's history, oldest first, through the auditor itself.
    def history():
        ev = s.events(f"/data-events?filter[target]=users:{uid}", tok)
        return ev if len(ev) >= len(EXPECTED_USER2) else None
    events = list(reversed(wait_for(history, what="user 2's five events")))
    assert [e["attributes"]["action"] for e in events] == EXPECTED_USER2, events
    for e in events:
        a = e["attributes"]
        assert e["type"] == "data-events"
        assert (a["actorType"], a["actorId"]) == ("users", "1"), a
        assert (a["targetType"], a["targetId"]) == ("users", uid), a
        assert isinstance(a["timestamp"], int) and a["timestamp"] > 1.7e12, a
    changed = events[2]["attributes"]
    assert changed["changes"] == {"agreedTos": {"prev": False, "next": True}}, changed
    for e in (events[1], events[3]):
        assert "changes" not in e["attributes"], e
    # created carries the initial values, deleted the last ones.
    assert events[0]["attributes"]["changes"]["agreedTos"] == {"prev": None, "next": False}
    assert events[4]["attributes"]["changes"]["agreedTos"] == {"prev": True, "next": None}
    assert [e["attributes"]["targetVersion"] for e in events] == [1, 1, 2, 2, 3], events
    ids = [e["id"] for e in events]
    assert len(set(ids)) == len(ids)

    # The same answer through the original's path on the auditor and
    # through the API's proxy.
    # (Less the records of the reads above, a query of another path.)
    same = s.events(f"/api/users/{uid}/data-events", tok,
                    also=[f"/data-events?filter[target]=users:{uid}"])
    assert [e["id"] for e in same] == list(reversed(ids))
    proxied = s.events(f"/logs/for/users/{uid}", tok, via="api",
                       also=[f"/api/users/{uid}/data-events"])
    assert [e["id"] for e in proxied] == list(reversed(ids)), proxied

    # User 1's actor log: the newest eight events are this flow's.
    expected_by = [("viewed", "1"), ("changed", "1"), ("viewed", "1"),
                   ("created", uid), ("viewed", uid), ("changed", uid),
                   ("viewed", uid), ("deleted", uid)]

    # Less the records of user 1's reads of the log (each poll here is
    # one), all of this test's: queries of users:uid, and of users:1's
    # actor log.
    def actor_log():
        status, _, doc = s.api("GET", "/logs/by/users/1?page[size]=60", token=tok)
        assert status == 200, doc
        reads = [e["attributes"] for e in doc["data"]
                 if (e["attributes"].get("eventName") or "").startswith("audit.")]
        rest = [e for e in doc["data"]
                if not (e["attributes"].get("eventName") or "").startswith("audit.")][:8]
        got = [(e["attributes"]["action"], e["attributes"]["targetId"])
               for e in reversed(rest)]
        if got != expected_by:
            return None
        first = min(e["attributes"]["timestamp"] for e in rest)
        for a in reads:
            if a["timestamp"] >= first:
                assert a["eventName"] == "audit.query" and a["action"] == "viewed", a
                assert f"{a['targetType']}:{a['targetId']}" in (f"users:{uid}", "users:1"), a
        return rest
    rest = wait_for(actor_log, what="user 1's actor log")
    name_change = list(reversed(rest))[1]["attributes"]
    assert name_change["changes"] == {"name": {"prev": old_name, "next": new_name}}
    status, _, doc = s.api("GET", "/logs/by/users/1?page[size]=4", token=tok)
    assert status == 200 and len(doc["data"]) == 4, doc
    assert doc["links"]["next"].startswith("/logs/by/users/1?"), doc["links"]


def test_patch_without_change_records_no_changed_event():
    with Stack() as s:
        tok = s.token(1)
        status, _, doc = s.api("POST", "/api/users", token=tok, body={
            "data": {"type": "users", "attributes": {
                "name": "Same", "email": unique("same") + "@example.com"}}})
        assert status == 201, doc
        uid = doc["data"]["id"]
        attrs = doc["data"]["attributes"]
        status, _, doc = s.api("PATCH", f"/api/users/{uid}", token=tok, body={
            "data": {"type": "users", "id": uid, "attributes": attrs}})
        assert status == 200, doc
        status, _, doc = s.api("PATCH", f"/api/users/{uid}", token=tok, body={
            "data": {"type": "users", "id": uid, "attributes": {
                "name": "Other", "agreedTos": attrs["agreedTos"]}}})
        assert status == 200, doc

        def history():
            ev = s.events(f"/data-events?filter[target]=users:{uid}", tok)
            return ev if len(ev) >= 5 else None
        events = list(reversed(wait_for(history, what="five events")))
        assert [e["attributes"]["action"] for e in events] == \
            ["created", "viewed", "viewed", "changed", "viewed"], events
        # Only the field whose stored value changed is listed.
        assert events[3]["attributes"]["changes"] == {"name": {"prev": "Same", "next": "Other"}}


def test_head_views_nothing():
    """A HEAD answer carries no resource, so it records no view; a token is
    handed out only with GET (HEAD gets 405 and records nothing)."""
    with Stack() as s:
        tok = s.token(1)
        uid = s.new_user(tok, "head", "Headless")
        status, _, doc = s.api("POST", "/api/notes", token=tok, body={
            "data": {"type": "notes", "attributes": {
                "targetType": "users", "targetId": uid, "data": "about it"}}})
        assert status == 201, doc
        nid = doc["data"]["id"]
        for path in (f"/api/users/{uid}", f"/api/users?page[after]={int(uid) - 1}&page[size]=1",
                     f"/api/notes/{nid}", f"/api/notes?filter[target]=users:{uid}"):
            status, _, _ = s.request("api", "HEAD", path, token=tok, raw=True)
            assert status == 200, (path, status)
        status, hdrs, _ = http("HEAD", s.url("api", f"/tokens/{uid}"))
        assert status == 405 and hdrs.get("allow") == "GET", (status, hdrs)
        # One GET of each afterwards: its view is the last one recorded.
        assert s.api("GET", f"/api/users/{uid}", token=tok)[0] == 200
        assert s.api("GET", f"/api/notes/{nid}", token=tok)[0] == 200

        def seen(target, n):
            ev = s.events(f"/data-events?filter[target]={target}", tok)
            return ev if len(ev) >= n else None
        wait_for(lambda: seen(f"notes:{nid}", 3), what="the note's three events")
        wait_for(lambda: seen(f"users:{uid}", 3), what="the user's three events")
        time.sleep(1)  # anything a HEAD recorded would have been stored by now
        users = [e["attributes"] for e in reversed(seen(f"users:{uid}", 0))]
        notes = [e["attributes"] for e in reversed(seen(f"notes:{nid}", 0))]
        assert [(e["action"], e["eventName"]) for e in users] == \
            [("created", None), ("viewed", None), ("viewed", None)], users
        assert [e["action"] for e in notes] == ["created", "viewed", "viewed"], notes


if __name__ == "__main__":
    run([test_original_flow, test_patch_without_change_records_no_changed_event,
         test_head_views_nothing])
