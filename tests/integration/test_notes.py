"""Notes: create, read, list by target, delete, each with its events; the
list is paginated and never drops a note silently."""
import json
import threading

from harness import Stack, error_of, run, unique, wait_for


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

        status, _, doc = s.api("GET", "/api/notes?filter[target]=users:1:email&page[size]=1000",
                               token=tok)
        assert status == 200, doc
        ids = [n["id"] for n in doc["data"]]
        assert nid in ids and whole not in ids
        status, _, doc = s.api("GET", "/api/notes?filter[target]=users:1&page[size]=1000",
                               token=tok)
        assert whole in [n["id"] for n in doc["data"]] and nid not in [n["id"] for n in doc["data"]]

        # The JSON:API name is filter[target]; the old all-lowercase one is refused.
        for bad in ("", "?target=users:1", "?filter[target]=users", "?filter[target]=us%20ers:1",
                    "?filter[target]=users:1:a:b"):
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


def create_notes(s, tok, target, n, field=None):
    """Creates n notes about target (type, id) from 4 threads; their ids."""
    ids, errors = [], []
    lock = threading.Lock()

    def worker(count):
        for _ in range(count):
            attrs = {"targetType": target[0], "targetId": target[1], "data": "x"}
            if field:
                attrs["fieldName"] = field
            status, _, doc = s.api("POST", "/api/notes", token=tok, body={
                "data": {"type": "notes", "attributes": attrs}})
            with lock:
                if status == 201:
                    ids.append(int(doc["data"]["id"]))
                else:
                    errors.append((status, doc))
    threads = [threading.Thread(target=worker, args=(n // 4 + (i < n % 4),)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    return sorted(ids)


def walk(s, tok, path):
    """Follows links.next from path; every page's ids, and the links seen."""
    pages, links = [], []
    while path:
        status, _, doc = s.api("GET", path, token=tok)
        assert status == 200, (path, doc)
        pages.append([int(n["id"]) for n in doc["data"]])
        links.append(doc["links"])
        path = doc["links"].get("next")
        assert len(pages) <= 1002, "the links never end"
    return pages, links


def test_notes_pages():
    """The issue's reproduction: 1,001 notes about one target used to come
    back as 1,000 notes and no links."""
    with Stack(daemons=("api",)) as s:
        tok = s.token(1)
        doc_id = unique("doc")
        created = create_notes(s, tok, ("docs", doc_id), 1001)
        assert len(created) == 1001

        # The default page: 50, with self as sent and next while more follow.
        pages, links = walk(s, tok, f"/api/notes?filter[target]=docs:{doc_id}")
        assert [len(p) for p in pages] == [50] * 20 + [1], [len(p) for p in pages]
        assert links[0]["self"] == f"/api/notes?filter%5Btarget%5D=docs:{doc_id}", links[0]
        assert links[0]["next"] == (f"/api/notes?filter%5Btarget%5D=docs:{doc_id}"
                                    f"&page%5Bafter%5D={pages[0][-1]}"), links[0]
        assert "next" not in links[-1], links[-1]
        assert sum(pages, []) == created  # each note once, in id order

        # The largest page.
        pages, links = walk(s, tok, f"/api/notes?filter[target]=docs:{doc_id}&page[size]=1000")
        assert [len(p) for p in pages] == [1000, 1], [len(p) for p in pages]
        assert sum(pages, []) == created
        assert links[1]["self"] == (f"/api/notes?filter%5Btarget%5D=docs:{doc_id}"
                                    f"&page%5Bsize%5D=1000&page%5Bafter%5D={created[999]}")
        for link in links:
            assert "[" not in json.dumps(link) and "]" not in json.dumps(link), link

        # An odd size, and a page that ends exactly at the last note: no next.
        pages, _ = walk(s, tok, f"/api/notes?filter[target]=docs:{doc_id}&page[size]=7")
        assert len(pages) == 143 and sum(pages, []) == created
        status, _, doc = s.api("GET", f"/api/notes?filter[target]=docs:{doc_id}&page[size]=1"
                                      f"&page[after]={created[-2]}", token=tok)
        assert [int(n["id"]) for n in doc["data"]] == [created[-1]], doc
        assert "next" not in doc["links"], doc["links"]

        for bad in ("page[size]=0", "page[size]=1001", "page[size]=x", "page[after]=-1",
                    "page[after]=x"):
            status, _, doc = s.api("GET", f"/api/notes?filter[target]=docs:{doc_id}&{bad}",
                                   token=tok)
            assert status == 400, (bad, doc)
            error_of(doc)


def test_list_records_only_what_it_returns():
    """The row read past the page only says that more follow: it is not
    recorded as viewed."""
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        doc_id = unique("doc")
        a, b, c = create_notes(s, tok, ("docs", doc_id), 3)
        status, _, doc = s.api("GET", f"/api/notes?filter[target]=docs:{doc_id}&page[size]=2",
                               token=tok)
        assert [int(n["id"]) for n in doc["data"]] == [a, b] and "next" in doc["links"], doc

        def views(nid):
            ev = s.events(f"/data-events?filter[target]=notes:{nid}", tok)
            return [e for e in ev if e["attributes"]["action"] == "viewed"]
        # Each note was viewed once by its POST; a and b once more by the list,
        # in the same spool group as anything recorded for c.
        wait_for(lambda: len(views(a)) == 2 and len(views(b)) == 2, what="the list's views")
        assert len(views(c)) == 1, views(c)


if __name__ == "__main__":
    run([test_notes, test_notes_pages, test_list_records_only_what_it_returns])
