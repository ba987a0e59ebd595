"""Keyset pagination: pages of page[size], newest first, no gaps and no
repeats across pages, links.next absent on the last page, and the same
through the API's proxy."""
from harness import Stack, error_of, run, unique, wait_for

VIEWS = 23


def test_pages():
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        uid = s.new_user(tok, "p", "Paged")
        for _ in range(VIEWS):
            assert s.api("GET", f"/api/users/{uid}", token=tok)[0] == 200
        total = VIEWS + 2  # created, and the POST's own view

        def everything():
            ev = s.events(f"/data-events?filter[target]=users:{uid}", tok)
            return ev if len(ev) == total else None
        full = wait_for(everything, what=f"{total} events")
        stamps = [(e["attributes"]["timestamp"], e["id"]) for e in full]
        assert stamps == sorted(stamps, reverse=True), "not newest first"
        assert full[-1]["attributes"]["action"] == "created"

        # Every read of the log is recorded in the history of what it asked
        # about (README "Reads are recorded"): the reads above and each page
        # below add records. A record has no version, so it lists after
        # (newest first) every versioned event, where a walk has not been
        # yet: a walk lists the views and the records stored before it got
        # there, each once, in the order the history has after it.
        def is_read(e):
            a = e["attributes"]
            return (a["action"], a["actorId"], a.get("eventName"), a["targetId"]) == \
                ("viewed", "1", "audit.query", uid)
        for via, path in [("auditor", f"/data-events?filter[target]=users:{uid}&page[size]=4"),
                          ("auditor", f"/api/users/{uid}/data-events?page[size]=4"),
                          ("api", f"/logs/for/users/{uid}?page[size]=4")]:
            pages, walked = 0, []
            while path:
                status, _, doc = s.request(via, "GET", path, token=tok)
                assert status == 200, doc
                assert 1 <= len(doc["data"]) <= 4
                walked += doc["data"]
                pages += 1
                nxt = doc["links"].get("next")
                if nxt:
                    assert len(doc["data"]) == 4
                    assert "page%5Bafter%5D=" in nxt or "page[after]=" in nxt, nxt
                path = nxt
            ids = [e["id"] for e in walked]
            assert len(ids) == len(set(ids)), (via, "an event twice")
            assert pages == (len(ids) + 3) // 4, (via, pages)
            assert [e["id"] for e in walked if not is_read(e)] == [e["id"] for e in full], via
            now = s.events(f"/data-events?filter[target]=users:{uid}", tok, own_reads=True)
            assert [e["id"] for e in now if e["id"] in set(ids)] == ids, via
            assert all(is_read(e) for e in now if e["id"] not in set(ids)), via

        # An exact multiple: the last full page has no next link only if
        # nothing follows it (a window that ends before the reads).
        until = full[0]["attributes"]["timestamp"] + 1
        status, _, doc = s.auditor("GET", f"/data-events?filter[target]=users:{uid}"
                                          f"&filter[until]={until}&page[size]={total}", token=tok)
        assert [e["id"] for e in doc["data"]] == [e["id"] for e in full], doc
        assert "next" not in doc["links"], doc["links"]

        # Actor and target together.
        status, _, doc = s.auditor("GET", f"/data-events?filter[target]=users:{uid}"
                                          f"&filter[actor]=users:1&page[size]=1000", token=tok)
        assert status == 200, doc
        assert [e["id"] for e in doc["data"] if not is_read(e)] == [e["id"] for e in full], doc
        status, _, doc = s.auditor("GET", f"/data-events?filter[target]=users:{uid}"
                                          f"&filter[actor]=users:999", token=tok)
        assert status == 200 and doc["data"] == [], doc

        # An unknown object has an empty history, not an error.
        # (A fresh one: a read of it is recorded in its history.)
        status, _, doc = s.auditor("GET", f"/data-events?filter[target]=nothing:{unique('h')}",
                                   token=tok)
        assert status == 200 and doc["data"] == [] and "next" not in doc["links"], doc

        # A cursor from one query is only a position: corrupt ones are refused.
        status, _, doc = s.auditor("GET", f"/data-events?filter[target]=users:{uid}"
                                          f"&page[size]=2", token=tok)
        cursor = doc["links"]["next"].split("page%5Bafter%5D=")[1]
        status, _, doc = s.auditor("GET", f"/data-events?filter[target]=users:{uid}"
                                          f"&page[after]={cursor[:-3]}", token=tok)
        assert status == 400, doc
        error_of(doc)


def user_ids(s, tok, path):
    """The ids of the users from path on, following links.next, each of
    which must have its brackets percent-encoded."""
    ids = []
    while path:
        status, _, doc = s.api("GET", path, token=tok)
        assert status == 200, doc
        ids += [int(u["id"]) for u in doc["data"]]
        path = doc["links"].get("next")
        assert path is None or "[" not in path and "]" not in path, path
    return ids


def test_users_links():
    """/api/users: links.self is the request as sent, brackets encoded as the
    auditor encodes them, with no page[after] the client did not send;
    links.next carries the cursor; following it reaches every user once."""
    with Stack(daemons=("api",)) as s:
        tok = s.token(1)
        for _ in range(3):
            status, _, doc = s.api("POST", "/api/users", token=tok, body={
                "data": {"type": "users", "attributes": {
                    "name": "Linked", "email": unique("l") + "@example.com"}}})
            assert status == 201, doc
        # Every user, a thousand at a time (the test database keeps growing).
        all_ids = user_ids(s, tok, "/api/users?page[size]=1000")
        assert all_ids == sorted(set(all_ids)) and len(all_ids) >= 4, all_ids[-10:]

        status, _, doc = s.api("GET", "/api/users", token=tok)
        assert status == 200 and doc["links"]["self"] == "/api/users", doc["links"]

        status, _, doc = s.api("GET", "/api/users?page[size]=2", token=tok)
        assert doc["links"]["self"] == "/api/users?page%5Bsize%5D=2", doc["links"]
        assert doc["links"]["next"] == f"/api/users?page%5Bsize%5D=2&page%5Bafter%5D={all_ids[1]}"

        # As sent: a page[after] the client did send stays, encoded.
        status, _, doc = s.api("GET", "/api/users?page%5Bafter%5D=0&page[size]=2", token=tok)
        assert doc["links"]["self"] == "/api/users?page%5Bsize%5D=2&page%5Bafter%5D=0", doc["links"]

        # The last few users, two at a time through links.next.
        ids = user_ids(s, tok, "/api/users?page[size]=2&page[after]="
                               f"{all_ids[-6] if len(all_ids) > 5 else 0}")
        assert ids == all_ids[-5:], (ids, all_ids[-5:])

        # A last page that is exactly full has no next link (no empty page
        # after it), and one that is not the last has one.
        status, _, doc = s.api("GET", f"/api/users?page[size]=2&page[after]={all_ids[-3]}",
                               token=tok)
        assert [int(u["id"]) for u in doc["data"]] == all_ids[-2:], doc["data"]
        assert "next" not in doc["links"], doc["links"]
        status, _, doc = s.api("GET", f"/api/users?page[size]=2&page[after]={all_ids[-4]}",
                               token=tok)
        assert "next" in doc["links"], doc["links"]


if __name__ == "__main__":
    run([test_pages, test_users_links])
