"""Erasure: an auditor removes the stored values of one target's events (or
of one field of them) with a reason; reads then show those fields as
erased and the others as they were, the erasure is itself an event of the
log, and the database user that erases may delete values and nothing
else."""
import json
import os
import subprocess
import tempfile

from harness import BIN, JSONAPI, Stack, error_of, http, run, unique, wait_for
from test_hostile import sql_as

ENV = os.environ
AUDITOR_DB = ENV.get("AUDITLOG_AUDITOR_DB", "audit-logging-auditor")
ERASER = (ENV.get("AUDITLOG_AUDITOR_ERASER_USER", "auditor_eraser"),
          ENV.get("AUDITLOG_AUDITOR_ERASER_PASSWORD", "auditor_eraser"))
TABLES = ("data_events", "data_event_changes", "data_event_values", "log_appends", "log_nodes",
          "log_checkpoints", "data_event_mutations", "data_event_flags", "log_checked",
          "data_event_version_spans", "log_leases", "data_event_ids")


def erasure(target, reason, field=None, with_field=True):
    attrs = {"target": target, "reason": reason}
    if with_field:
        attrs["field"] = field
    return {"data": {"type": "erasures", "attributes": attrs}}


def erase(s, token, body, via="auditor"):
    path = "/erasures" if via == "auditor" else "/logs/erasures"
    return s.request(via, "POST", path, body, token)


def changed_events(s, token, uid):
    return [e for e in s.events(f"/data-events?filter[target]=users:{uid}", token)
            if e["attributes"]["action"] == "changed"]


def patch(s, token, uid, attrs):
    status, _, doc = s.api("PATCH", f"/api/users/{uid}", token=token, body={
        "data": {"type": "users", "id": uid, "attributes": attrs}})
    assert status == 200, (status, doc)


def user_with_history(s, token, prefix):
    """A user whose email changed twice (once with its name): two changed
    events stored by the auditor. Returns its id."""
    uid = s.new_user(token, prefix, "Erasable")
    patch(s, token, uid, {"email": unique(prefix + "a") + "@example.com", "name": "Renamed"})
    patch(s, token, uid, {"email": unique(prefix + "b") + "@example.com"})
    wait_for(lambda: len(changed_events(s, token, uid)) == 2, what="the changed events")
    return uid


def checkpoint_size(s):
    status, _, body = http("GET", s.url("auditor", "/checkpoint"))
    assert status == 200, (status, body)
    return int(body.decode().split("\n")[1])


def still_verifies(s, token, seq, erased_ids):
    """The stored log verifies through position seq, and an export of it
    passes auditlog-verify, with the events of erased_ids' email marked
    erased in it."""
    wait_for(lambda: checkpoint_size(s) > seq, timeout=10, what=f"a checkpoint over {seq}")
    status, _, doc = s.auditor("GET", "/verify?log=0", token=token)
    assert status == 200, (status, doc)
    a = doc["data"]["attributes"]
    assert a["valid"] is True and a["from"] == 0 and a["to"] > seq, a
    status, _, vkey = http("GET", s.url("auditor", "/.well-known/auditlog-vkey"))
    assert status == 200, vkey
    status, _, bundle = s.request("auditor", "GET", "/export?log=0", token=token, raw=True)
    assert status == 200, (status, bundle[:300])
    lines = [json.loads(line) for line in bundle.decode().splitlines()]
    erased = [ln for ln in lines if isinstance(ln, dict) and ln.get("id") in erased_ids]
    assert len(erased) == len(erased_ids), (erased_ids, erased)
    for ln in erased:
        email = ln["changes"]["email"]
        assert "erased" in email["prev"] and "erased" in email["next"], ln
        assert "salt" not in email["next"] and "value" not in email["next"], ln
    with tempfile.TemporaryDirectory() as d:
        vfile, bfile = os.path.join(d, "vkey"), os.path.join(d, "bundle")
        with open(vfile, "wb") as f:
            f.write(vkey)
        with open(bfile, "wb") as f:
            f.write(bundle)
        r = subprocess.run([os.path.join(BIN, "auditlog-verify"), bfile, "--vkey", vfile],
                           capture_output=True, text=True)
        assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)


def test_erase_one_field_then_all():
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        uid = user_with_history(s, tok, "erase")
        before = changed_events(s, tok, uid)
        assert all("@" in e["attributes"]["changes"]["email"]["next"] for e in before), before

        reason = "GDPR art. 17 request " + unique("")
        status, hdrs, doc = erase(s, tok, erasure(f"users:{uid}", reason, "email"))
        assert status == 201, (status, doc)
        assert hdrs["content-type"] == JSONAPI, hdrs
        r = doc["data"]
        assert r["type"] == "erasures", r
        a = r["attributes"]
        assert (a["target"], a["field"], a["reason"]) == (f"users:{uid}", "email", reason), a
        # email in the created event (its initial value) and in each of the
        # two changed events
        assert a["values"] == 3, a
        assert isinstance(a["seq"], int) and a["seq"] >= 0 and isinstance(a["log"], int), a

        after = {e["id"]: e["attributes"] for e in changed_events(s, tok, uid)}
        assert set(after) == {e["id"] for e in before}, (after, before)
        for e in before:
            changes = after[e["id"]]["changes"]
            assert changes["email"] == {"erased": True}, changes
            # Everything else of the event is as it was.
            old = dict(e["attributes"]["changes"], email={"erased": True})
            assert changes == old, (changes, old)
            assert {k: v for k, v in after[e["id"]].items() if k != "changes"} == \
                {k: v for k, v in e["attributes"].items() if k != "changes"}
        named = [c for c in after.values() if "name" in c["changes"]]
        assert [c["changes"]["name"]["next"] for c in named] == ["Renamed"], named

        # The erasure is an event of the log, at the position the reply gave.
        log = s.events(f"/data-events?filter[target]=erasures:{r['id']}", tok)
        assert len(log) == 1, log
        ev = log[0]["attributes"]
        assert (ev["action"], ev["eventName"], ev["actorType"], ev["actorId"]) == \
            ("created", "values-erased", "users", "1"), ev
        assert (ev["seq"], ev["log"]) == (a["seq"], a["log"]), (ev, a)
        assert ev["changes"] == {"target": {"prev": None, "next": f"users:{uid}"},
                                 "field": {"prev": None, "next": "email"},
                                 "reason": {"prev": None, "next": reason}}, ev

        # The log still verifies: its leaves hold commitments, not values.
        still_verifies(s, tok, a["seq"], {e["id"] for e in before})

        # Without a field, every value of the target's events goes: the
        # name (created, then renamed) and agreedTos (created) were left.
        status, _, doc = erase(s, tok, erasure(f"users:{uid}", "all of it", with_field=False))
        assert status == 201, (status, doc)
        assert doc["data"]["attributes"]["field"] is None, doc
        assert doc["data"]["attributes"]["values"] == 3, doc
        for e in changed_events(s, tok, uid):
            assert all(c == {"erased": True} for c in e["attributes"]["changes"].values()), e
        log = s.events(f"/data-events?filter[target]=erasures:{doc['data']['id']}", tok)
        assert log[0]["attributes"]["changes"]["field"] == {"prev": None, "next": None}, log

        # Nothing left to erase is still an erasure, recorded.
        status, _, doc = erase(s, tok, erasure(f"users:{uid}", "again", "email"))
        assert status == 201 and doc["data"]["attributes"]["values"] == 0, (status, doc)

        # Another target's values are untouched.
        other = user_with_history(s, tok, "keep")
        status, _, doc = erase(s, tok, erasure(f"users:{uid}", "only that one"))
        assert status == 201, doc
        for e in changed_events(s, tok, other):
            assert all("erased" not in c for c in e["attributes"]["changes"].values()), e


def test_through_the_api():
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        uid = user_with_history(s, tok, "viaapi")
        status, _, doc = erase(s, tok, erasure(f"users:{uid}", "through /logs", "email"),
                               via="api")
        assert status == 201, (status, doc)
        assert doc["data"]["attributes"]["values"] == 3, doc  # created + two changed
        for e in changed_events(s, tok, uid):
            assert e["attributes"]["changes"]["email"] == {"erased": True}, e
        # The auditor's refusals come back as they are.
        status, _, doc = erase(s, tok, erasure(f"users:{uid}", ""), via="api")
        assert status == 422, (status, doc)
        assert error_of(doc)["source"]["pointer"] == "/data/attributes/reason", doc
        mine = s.token(s.new_user(tok, "noterase"))
        status, hdrs, doc = erase(s, mine, erasure(f"users:{uid}", "no"), via="api")
        assert status == 403, (status, doc)
        assert "insufficient_scope" in hdrs["www-authenticate"], hdrs


def test_refusals():
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        uid = user_with_history(s, tok, "refuse")
        target = f"users:{uid}"

        # Not an auditor: 403, whatever the body.
        mine = s.token(s.new_user(tok, "plain"))
        for body in (erasure(target, "mine", "email"), "not json"):
            status, hdrs, doc = erase(s, mine, body)
            assert status == 403, (status, doc)
            assert "insufficient_scope" in hdrs["www-authenticate"], hdrs
            error_of(doc)
        # No token: 401.
        status, _, doc = erase(s, None, erasure(target, "anon"))
        assert status == 401, (status, doc)

        bad = [
            ("{", 400, None),
            ("[]", 400, ""),
            ({"data": None}, 400, "/data"),
            ({"data": {"type": "erasures"}}, 422, "/data/attributes"),
            ({"data": {"type": "erasures", "attributes": {"reason": "x"}}}, 422,
             "/data/attributes"),
            ({"data": {"type": "erasures", "attributes": {"target": target}}}, 422,
             "/data/attributes"),
            (erasure(target, 5), 422, "/data/attributes/reason"),
            (erasure(target, None), 422, "/data/attributes/reason"),
            (erasure(target, ""), 422, "/data/attributes/reason"),
            (erasure(target, "x" * 501), 422, "/data/attributes/reason"),
            (erasure(target, "€" * 167), 422, "/data/attributes/reason"),  # 501 bytes
            (erasure(5, "x"), 422, "/data/attributes/target"),
            (erasure(None, "x"), 422, "/data/attributes/target"),
            (erasure("users", "x"), 422, "/data/attributes/target"),
            (erasure("users:", "x"), 422, "/data/attributes/target"),
            (erasure(":1", "x"), 422, "/data/attributes/target"),
            # The record of an erasure stays: it says whose values went, and why.
            (erasure("erasures:01890a5d-ac96-774b-bcce-b302099a8057", "x"), 422,
             "/data/attributes/target"),
            (erasure(f"{target}:email", "x"), 422, "/data/attributes/target"),
            (erasure("us ers:1", "x"), 422, "/data/attributes/target"),
            (erasure("users:a b", "x"), 422, "/data/attributes/target"),
            (erasure("users:" + "1" * 65, "x"), 422, "/data/attributes/target"),
            (erasure(target, "x", ""), 422, "/data/attributes/field"),
            (erasure(target, "x", "e mail"), 422, "/data/attributes/field"),
            (erasure(target, "x", "é"), 422, "/data/attributes/field"),
            (erasure(target, "x", "f" * 65), 422, "/data/attributes/field"),
            (erasure(target, "x", 7), 422, "/data/attributes/field"),
            ({"data": {"type": "erasures", "attributes": {"target": target, "reason": "x",
                                                          "why": "y"}}}, 422,
             "/data/attributes/why"),
            ({"data": {"type": "erasures", "attributes": "target"}}, 400, "/data/attributes"),
        ]
        for body, want, pointer in bad:
            status, _, doc = erase(s, tok, body)
            assert status == want, (body, status, doc)
            e = error_of(doc)
            if pointer is not None:
                assert e.get("source", {}).get("pointer", "") == pointer, (body, doc)
        # JSON:API's own rules on a create, as on every other resource.
        for body, want in (({"data": {"type": "users", "attributes": {"target": target,
                                                                      "reason": "x"}}}, 409),
                           ({"data": {"type": "erasures", "id": "x",
                                      "attributes": {"target": target, "reason": "x"}}}, 403)):
            status, _, doc = erase(s, tok, body)
            assert status == want, (body, status, doc)
            error_of(doc)
        status, _, doc = s.request("auditor", "POST", "/erasures", erasure(target, "x"), tok,
                                   headers={"Content-Type": "application/json"})
        assert status == 415, (status, doc)
        status, _, doc = s.request("auditor", "GET", "/erasures", None, tok)
        assert status == 405, (status, doc)

        # Just under the limits is taken: 500 bytes of reason (250 letters).
        status, _, doc = erase(s, tok, erasure("things:none", "é" * 250, "f" * 64))
        assert status == 201 and doc["data"]["attributes"]["values"] == 0, (status, doc)

        # Nothing was erased by any of the refusals.
        for e in changed_events(s, tok, uid):
            assert all("erased" not in c for c in e["attributes"]["changes"].values()), e


def test_the_eraser_deletes_values_only():
    ok, err = sql_as(*ERASER, AUDITOR_DB, "SELECT COUNT(*) FROM data_event_values")
    assert ok, err
    ok, err = sql_as(*ERASER, AUDITOR_DB,
                     "DELETE FROM data_event_values WHERE event_id = 'none'")
    assert ok, err
    ok, err = sql_as(*ERASER, AUDITOR_DB,
                     "DELETE v FROM data_event_values v JOIN data_events e "
                     "ON e.event_id = v.event_id WHERE e.target_type = 'none'")
    assert ok, err
    refused = [f"UPDATE {t} SET log_id = log_id LIMIT 1" for t in TABLES
               if t.startswith(("data_events", "log_"))]
    refused += ["UPDATE data_event_changes SET field = field LIMIT 1",
                "UPDATE data_event_values SET next_value = 'null' LIMIT 1"]
    refused += [f"DELETE FROM {t} LIMIT 1" for t in TABLES if t != "data_event_values"]
    refused += [f"TRUNCATE TABLE {t}" for t in TABLES]
    refused += ["INSERT INTO log_checkpoints (log_id, size, root, note) VALUES (9, 0, '', '')",
                "DROP TABLE data_event_values", "CREATE TABLE sneaky (x INT)",
                "ALTER TABLE data_event_values ADD COLUMN x INT"]
    for statement in refused:
        ok, err = sql_as(*ERASER, AUDITOR_DB, statement)
        assert not ok and "denied" in err, (statement, err)


if __name__ == "__main__":
    run([test_erase_one_field_then_all, test_through_the_api, test_refusals,
         test_the_eraser_deletes_values_only])
