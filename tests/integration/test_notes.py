"""Notes: create, read, list by target, delete, each with its events."""
from harness import Stack, error_of, run, wait_for


def test_notes():
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        status, hdrs, doc = s.api("POST", "/api/notes", token=tok, body={
            "data": {"type": "notes", "attributes": {
                "targetType": "users", "targetId": "1", "fieldName": "email",
                "data": "Checked by phone."}}})
        assert status == 201, doc
        nid = doc["data"]["id"]
        assert hdrs["location"] == f"/api/notes/{nid}"
        assert doc["data"]["attributes"] == {"targetType": "users", "targetId": "1",
                                             "fieldName": "email", "data": "Checked by phone."}
        assert doc["data"]["relationships"]["creator"]["data"] == {"type": "users", "id": "1"}

        status, _, doc = s.api("POST", "/api/notes", token=tok, body={
            "data": {"type": "notes", "attributes": {"targetType": "users", "targetId": "1",
                                                     "data": "About the whole user."}}})
        assert status == 201, doc
        whole = doc["data"]["id"]

        status, _, doc = s.api("GET", f"/api/notes/{nid}", token=tok)
        assert status == 200 and doc["data"]["id"] == nid

        status, _, doc = s.api("GET", "/api/notes?target=users:1:email", token=tok)
        assert status == 200, doc
        ids = [n["id"] for n in doc["data"]]
        assert nid in ids and whole not in ids
        status, _, doc = s.api("GET", "/api/notes?target=users:1", token=tok)
        assert whole in [n["id"] for n in doc["data"]] and nid not in [n["id"] for n in doc["data"]]

        for bad in ("", "?target=users", "?target=us%20ers:1", "?target=users:1:a:b"):
            status, _, doc = s.api("GET", f"/api/notes{bad}", token=tok)
            assert status == 400, (bad, doc)
            error_of(doc)
        status, _, doc = s.api("POST", "/api/notes", token=tok, body={
            "data": {"type": "notes", "attributes": {"targetType": "users"}}})
        assert status == 422, doc
        status, _, doc = s.api("POST", "/api/notes", token=tok, body={
            "data": {"type": "notes", "attributes": {"targetType": "a b", "targetId": "1"}}})
        assert status == 422, doc

        assert s.api("DELETE", f"/api/notes/{nid}", token=tok)[0] == 204
        assert s.api("GET", f"/api/notes/{nid}", token=tok)[0] == 404
        assert s.api("DELETE", f"/api/notes/{nid}", token=tok)[0] == 404

        expected = ["created", "viewed", "viewed", "viewed", "deleted"]

        def history():
            ev = s.events(f"/data-events?filter[target]=notes:{nid}", tok)
            return ev if len(ev) >= len(expected) else None
        events = list(reversed(wait_for(history, what="the note's events")))
        assert [e["attributes"]["action"] for e in events] == expected, events


if __name__ == "__main__":
    run([test_notes])
