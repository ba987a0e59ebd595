"""Reads of the log of record across logs (README "Partitions and several
auditors", docs/ledger.md "Endpoints"): with three partitions and two
auditors, each endpoint that takes a log position answers for every log,
from the database, on whichever auditor is asked: /checkpoint?log=N and
/checkpoints, an event's proof and leaf in its own log, /consistency?log=N,
/verify per log and of every log (failing by the log a change was made to,
made as the database's administrator), /export of one log and a bundle
spanning every log that auditlog-verify checks section by section, with a
pin per log; reads recorded as logs:<N>; /readyz one instance per log.

The auditors share a private MariaDB (tests/faults/auditor_db.py), so the
logs are exactly this test's and the changes are made as its root, then
undone (tests/tamper/tampering.py)."""
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time

from harness import (BIN, SRC, Stack, free_port, http, partitions_env, run, start_auditor,
                     wait_for)
from test_ledger import leaf_hash, leaf_of_line, parse_checkpoint, verify_consistency, \
    verify_inclusion

sys.path.insert(0, os.path.join(SRC, "tests", "tamper"))
sys.path.insert(0, os.path.join(SRC, "tests", "faults"))
from auditor_db import AuditorDB  # noqa: E402
from tampering import StoredLog, actor_changed  # noqa: E402

P = 3
RECORDS = 1024  # + an auditor's instance: its own records' log
VERIFIER = os.path.join(BIN, "auditlog-verify")


def get(port, path, token=None, accept="application/vnd.api+json"):
    h = {"Accept": accept}
    if token:
        h["Authorization"] = "Bearer " + token
    return http("GET", f"http://127.0.0.1:{port}{path}", headers=h)


def get_json(port, path, token=None):
    status, hdrs, body = get(port, path, token)
    return status, hdrs, json.loads(body) if body else None


def signed_by(note, vkey):
    """Whether the signed note carries a valid Ed25519 signature by the
    verifier key line vkey (c2sp.org/signed-note), checked with OpenSSL."""
    name, _, key = vkey.strip().split("+", 2)
    raw = base64.b64decode(key)[1:]
    text, _, sigs = note.rpartition("\n\n")
    text += "\n"
    with tempfile.TemporaryDirectory() as d:
        pem = os.path.join(d, "pub.pem")
        with open(pem, "w") as f:
            der = bytes.fromhex("302a300506032b6570032100") + raw
            f.write("-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(der).decode() +
                    "\n-----END PUBLIC KEY-----\n")
        with open(os.path.join(d, "msg"), "wb") as f:
            f.write(text.encode())
        for line in sigs.splitlines():
            if not line.startswith("\u2014 " + name + " "):
                continue
            with open(os.path.join(d, "sig"), "wb") as f:
                f.write(base64.b64decode(line.split(" ")[2])[4:])
            r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pem,
                                "-rawin", "-in", os.path.join(d, "msg"), "-sigfile",
                                os.path.join(d, "sig")], capture_output=True)
            if r.returncode == 0:
                return True
    return False


def run_verifier(bundle, vkey, pins=()):
    """auditlog-verify on bundle bytes: (exit status, stdout)."""
    with tempfile.TemporaryDirectory() as d:
        bfile, vfile = os.path.join(d, "bundle"), os.path.join(d, "vkey")
        with open(bfile, "wb") as f:
            f.write(bundle)
        with open(vfile, "w") as f:
            f.write(vkey)
        args = [VERIFIER, bfile, "--vkey", vfile]
        for i, note in enumerate(pins):
            pfile = os.path.join(d, f"pin{i}")
            with open(pfile, "w") as f:
                f.write(note)
            args += ["--pin", pfile]
        r = subprocess.run(args, capture_output=True, text=True, timeout=120)
        return r.returncode, r.stdout + r.stderr


def sections(bundle):
    """A bundle's header lines, parsed."""
    return [json.loads(ln) for ln in bundle.decode().splitlines()
            if ln.startswith('{"checkpoint":')]


class Logs:
    """The stack: an API, auditor 0 (the stack's) and auditor 1, three
    partitions on quorum queues, the auditors' private database."""

    def __init__(self, s, b_port, db):
        self.s, self.db, self.root = s, db, StoredLog(db)
        self.ports = (s.ports["auditor"], b_port)
        self.tok = s.token(1)

    def sql(self, text):
        return [ln.split("\t") for ln in self.root.sql(text).splitlines() if ln]

    def log_of_user(self, uid):
        status, _, doc = get_json(self.ports[0], f"/data-events?filter[target]=users:{uid}",
                                  self.tok)
        assert status == 200, doc
        return doc["data"][0] if doc["data"] else None

    def settled(self):
        """Waits until each partition's log is checkpointed at its end, and
        stays so for a second (nothing more on its way)."""
        def ends():
            counts = {int(r[0]): int(r[1]) for r in self.sql(
                f"SELECT log_id, COUNT(*) FROM data_events WHERE log_id < {P} GROUP BY log_id")}
            cps = {int(r[0]): int(r[1]) for r in self.sql(
                f"SELECT log_id, MAX(size) FROM log_checkpoints WHERE log_id < {P} "
                "GROUP BY log_id")}
            return counts if len(counts) == P and counts == cps else None
        while True:
            before = wait_for(ends, 30, interval=0.2,
                              what="every partition's log checkpointed at its end")
            time.sleep(1.0)
            if ends() == before:
                return

    def checkpoint(self, log, port=None):
        status, hdrs, body = get(port or self.ports[0], f"/checkpoint?log={log}",
                                 accept="text/plain")
        assert status == 200, (log, status, body)
        assert hdrs.get("last-modified"), hdrs
        return body.decode()


def events_in_every_partition(lg):
    """Users made (and changed) until each partition's log holds some:
    {log: an event of it, a changed one}."""
    s, tok, found = lg.s, lg.tok, {}
    for i in range(60):
        uid = s.new_user(tok, f"across{i}")
        status, _, doc = s.api("PATCH", f"/api/users/{uid}", token=tok, body={
            "data": {"type": "users", "id": uid, "attributes": {"name": f"Across {i}"}}})
        assert status == 200, doc
        ev = wait_for(lambda: lg.log_of_user(uid), 20, what=f"users:{uid}'s events")
        log = ev["attributes"]["log"]
        if log not in found:
            changed = wait_for(lambda: [e for e in lg.s.events(
                f"/data-events?filter[target]=users:{uid}&filter[action]=changed", tok)] or None,
                20, what="the change stored")
            found[log] = changed[0]
        if len(found) == P:
            return found
    raise AssertionError(f"60 users fell into the partitions {sorted(found)} only")


def check_checkpoints(lg, vkey, origin):
    """/checkpoints: one per log, the partitions' and both auditors' own, the
    same from either auditor and through the API; /checkpoint?log=N the
    same note."""
    docs = []
    for port in lg.ports:
        status, hdrs, doc = get_json(port, "/checkpoints")
        assert status == 200, doc
        assert hdrs.get("cache-control") == "no-store", hdrs
        docs.append(doc)
    status, _, doc = lg.s.api("GET", "/logs/checkpoints", token=lg.tok)
    assert status == 200, doc
    docs.append(doc)
    logs = [int(r["id"]) for r in docs[0]["data"]]
    assert logs == [0, 1, 2, RECORDS, RECORDS + 1], logs
    for r in docs[0]["data"]:
        a = r["attributes"]
        assert r["type"] == "checkpoints" and a["log"] == int(r["id"]), r
        assert a["origin"] == f"{origin}/{a['log']}", a
        note_origin, size, root = parse_checkpoint(a["note"])
        assert (note_origin, size, base64.b64encode(root).decode()) == \
            (a["origin"], a["size"], a["root"]), a
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", a["signedAt"]), a
        assert signed_by(a["note"], vkey), a
    partitions = [[r for r in d["data"] if int(r["id"]) < P] for d in docs]
    assert partitions[0] == partitions[1] == partitions[2], partitions
    for r in partitions[0]:
        for port in lg.ports:
            assert lg.checkpoint(r["id"], port) == r["attributes"]["note"], r


def sizes_of(lg, log):
    return {int(r[0]) for r in lg.sql(f"SELECT size FROM log_checkpoints WHERE log_id = {log}")}


def not_of(lg, sizes):
    """A checkpoint size of log 0 that is not in sizes, or else a size no
    checkpoint has."""
    log0 = sizes_of(lg, 0)
    return max(log0 - sizes) if log0 - sizes else max(log0 | sizes) + 1000


def check_proof(lg, ev, vkey, origin):
    """An event of log 2: its proof, from either auditor, in log 2's tree,
    against log 2's checkpoint; recorded as a read of logs:2."""
    a = ev["attributes"]
    log, seq = a["log"], a["seq"]
    cp = lg.checkpoint(log)
    cp_origin, size, root = parse_checkpoint(cp)
    assert cp_origin == f"{origin}/{log}" and size > seq, (cp_origin, size, seq)
    status, _, line = get(lg.ports[0], f"/data-events/{ev['id']}/leaf", lg.tok,
                          accept="application/json")
    assert status == 200, line
    assert json.loads(line)["log"] == log, line
    leaf = leaf_of_line(line)
    proofs = []
    for port in lg.ports:
        status, _, body = get(port, f"/data-events/{ev['id']}/proof?size={size}", lg.tok,
                              accept="text/plain")
        assert status == 200, (port, status, body)
        proofs.append(body.decode())
    assert proofs[0] == proofs[1], proofs
    head, _, note = proofs[0].partition("\n\n")
    lines = head.split("\n")
    assert lines[:2] == ["c2sp.org/tlog-proof@v1", f"index {seq}"], lines
    assert note == cp, (note, cp)
    assert signed_by(note, vkey)
    path = [base64.b64decode(h) for h in lines[2:]]
    assert verify_inclusion(seq, size, leaf, path, root), "the proof does not reach log 2's root"
    # A size is one of the event's own log: one only log 0 signed (or, when
    # they all match, none signed) is no size of log 2's.
    sizes = sizes_of(lg, log)
    other = not_of(lg, sizes)
    status, _, doc = get_json(lg.ports[0], f"/data-events/{ev['id']}/proof?size={other}",
                              lg.tok)
    assert status == 400 and doc["errors"][0]["source"] == {"parameter": "size"}, doc
    wait_for(lambda: lg.sql("SELECT COUNT(*) FROM data_events WHERE event_name = 'audit.proof' "
                            f"AND target_type = 'logs' AND target_id = '{log}' AND log_id IN "
                            f"({RECORDS}, {RECORDS + 1})")[0][0] == "3", 10,
             what="the proofs' reads recorded as reads of logs:2")
    return sizes


def check_consistency(lg, log, sizes):
    small, big = min(s for s in sizes if s > 0), max(sizes)
    roots = {int(r[0]): base64.b64decode(r[1]) for r in lg.sql(
        f"SELECT size, TO_BASE64(root) FROM log_checkpoints WHERE log_id = {log} AND size IN "
        f"({small}, {big})")}
    status, _, body = get(lg.ports[1], f"/consistency?log={log}&from={small}&to={big}", lg.tok,
                          accept="text/plain")
    assert status == 200, body
    proof = [base64.b64decode(h) for h in body.decode().split("\n") if h]
    assert verify_consistency(small, big, roots[small], roots[big], proof)
    other = not_of(lg, sizes)
    status, _, doc = get_json(lg.ports[0], f"/consistency?log={log}&from=0&to={other}", lg.tok)
    assert status == 400 and doc["errors"][0]["source"] == {"parameter": "to"}, doc


def check_verify_all(lg, want_logs):
    for port in lg.ports:
        status, _, doc = get_json(port, "/verify", lg.tok)
        assert status == 200, doc
        got = [r["attributes"]["log"] for r in doc["data"]]
        assert got == want_logs, got
        assert all(r["attributes"]["valid"] and r["attributes"]["from"] == 0 and
                   r["attributes"]["checkpoints"] >= 1 for r in doc["data"]), doc
    status, _, doc = get_json(lg.ports[1], "/verify?log=2", lg.tok)
    assert status == 200 and doc["data"]["id"].startswith("2:0-"), doc
    status, _, doc = get_json(lg.ports[0], "/verify?log=1,2", lg.tok)
    assert status == 200 and [r["attributes"]["log"] for r in doc["data"]] == [1, 2], doc


def check_export(lg, vkey, pins):
    """A bundle of every log, pinned for logs 0 and 2, verifies; one of log 2
    alone too; a section removed is named."""
    q = ",".join(f"{log}:{parse_checkpoint(note)[1]}" for log, note in sorted(pins.items()))
    status, hdrs, bundle = get(lg.ports[1], f"/export?pin={q}", lg.tok,
                               accept="application/x-ndjson")
    assert status == 200, bundle[:300]
    assert hdrs["content-disposition"].endswith('-logs.ndjson"'), hdrs
    heads = sections(bundle)
    logs = [h["log"] for h in heads]
    assert logs == [0, 1, 2, RECORDS, RECORDS + 1], logs
    assert all(h["logs"] == logs and h["from"] == 0 for h in heads), heads
    assert {h["log"] for h in heads if "pin" in h} == set(pins), heads
    rc, out = run_verifier(bundle, vkey, pins.values())
    assert rc == 0, out
    assert "5 logs: all valid" in out and out.count("consistent") == 2, out
    # Without a section: the bundle's own list names it missing.
    lines = bundle.split(b"\n")
    starts = [i for i, ln in enumerate(lines) if ln.startswith(b'{"checkpoint":')]
    cut = b"\n".join(lines[:starts[1]] + lines[starts[2]:])
    rc, out = run_verifier(cut, vkey)
    assert rc == 1 and "INVALID: log 1: section: missing" in out, out
    status, hdrs, one = get(lg.ports[0], f"/export?log=2&pin={parse_checkpoint(pins[2])[1]}",
                            lg.tok, accept="application/x-ndjson")
    assert status == 200, one[:300]
    (head,) = sections(one)
    assert head["log"] == 2 and "logs" not in head, head
    rc, out = run_verifier(one, vkey, [pins[2]])
    assert rc == 0 and "Pinned checkpoint" in out, out
    return bundle


def check_damage(lg, ev, vkey):
    """An actor id of log 2 changed as the database's root: /verify fails
    naming log 2 (and only it), a fresh export fails its section; undone,
    both pass again."""
    log, seq = ev["attributes"]["log"], ev["attributes"]["seq"]
    undo = lg.root.tamper(*actor_changed(f"log_id = {log} AND seq = {seq}"))
    try:
        for port in lg.ports:
            status, _, doc = get_json(port, "/verify", lg.tok)
            assert status == 409, doc
            (err,) = doc["errors"]
            assert err["meta"] == {"log": log, "seq": seq, "reason": "hash-mismatch"}, err
            assert err["detail"].startswith(f"Log {log}: "), err
            outcome = {o["log"]: o["valid"] for o in doc["meta"]["logs"]}
            assert outcome == {0: True, 1: True, 2: False, RECORDS: True,
                               RECORDS + 1: True}, doc["meta"]
        status, _, doc = get_json(lg.ports[0], f"/verify?log={log}", lg.tok)
        assert status == 409 and doc["errors"][0]["meta"]["seq"] == seq, doc
        status, _, doc = get_json(lg.ports[0], "/verify?log=0", lg.tok)
        assert status == 200, doc
        status, _, bundle = get(lg.ports[0], "/export", lg.tok, accept="application/x-ndjson")
        assert status == 200, bundle[:300]
        rc, out = run_verifier(bundle, vkey)
        assert rc == 1, out
        invalid = [ln for ln in out.splitlines() if ln.startswith("INVALID")]
        assert invalid == [f"INVALID: log {log}: seq {seq}: the event's members (or its "
                           "commitments) do not match its leaf hash"], out
        assert "5 logs: 4 valid, 1 INVALID" in out, out
    finally:
        restored = undo()
    assert all(r["same"] for r in restored), restored
    status, _, doc = get_json(lg.ports[0], "/verify", lg.tok)
    assert status == 200, doc


def check_readyz(lg):
    for port, own in zip(lg.ports, (RECORDS, RECORDS + 1)):
        status, _, body = get(port, "/readyz", accept="application/health+json")
        assert status == 200, body
        entries = json.loads(body)["checks"]["ledger:checkpointLag"]
        assert [e["componentId"] for e in entries] == ["0", "1", "2", str(own)], entries
        assert all(e["status"] == "pass" for e in entries), entries
        # Its own records' log it writes: a lag is given.
        assert "observedValue" in entries[-1], entries


def check_refusals(lg):
    for path, want in (("/checkpoint?log=x", 400), ("/checkpoint?log=65536", 400),
                       ("/checkpoint?log=0,1", 400), ("/checkpoint?log=7", 404),
                       ("/consistency?log=-1&from=0&to=1", 400),
                       ("/verify?log=0,0", 400), ("/verify?log=0,2&from=1", 400),
                       ("/verify?log=1,", 400),
                       ("/export?log=0,2&from=1", 400), ("/export?log=0,2&pin=5", 400),
                       ("/export?log=2&pin=0:5", 400), ("/export?pin=2:1,2:1", 400),
                       ("/export?log=7", 404)):
        status, _, doc = get_json(lg.ports[0], path, lg.tok)
        assert status == want, (path, status, doc)


def test_reads_across_logs():
    db = AuditorDB(SRC)
    try:
        db.create()
        keys = tempfile.mkdtemp(prefix="auditlog-test-across-")
        auditor_env = dict(db.env(), AUDITLOG_LOG_KEY=os.path.join(keys, "log.key"))
        with Stack(extra_env=partitions_env(P), daemons=("api", "auditor"),
                   daemon_env={"auditor": auditor_env}) as s:
            b_port = free_port()
            b = start_auditor(s, b_port, 1)
            try:
                lg = Logs(s, b_port, db)
                lg.root.prepare()
                status, _, vkey = http("GET", s.url("auditor", "/.well-known/auditlog-vkey"))
                vkey = vkey.decode()
                origin = vkey.split("+")[0]
                changed = events_in_every_partition(lg)
                lg.settled()
                pins = {log: lg.checkpoint(log) for log in (0, 2)}  # kept, then more events
                for i in range(3):
                    s.new_user(lg.tok, f"acrossmore{i}")
                time.sleep(0.5)
                lg.settled()
                check_checkpoints(lg, vkey, origin)
                sizes = check_proof(lg, changed[2], vkey, origin)
                check_consistency(lg, 2, sizes)
                check_verify_all(lg, [0, 1, 2, RECORDS, RECORDS + 1])
                check_export(lg, vkey, pins)
                check_damage(lg, changed[2], vkey)
                check_readyz(lg)
                check_refusals(lg)
                status, hdrs, body = s.request("api", "GET", "/logs/checkpoint?log=2",
                                               token=lg.tok, raw=True)
                assert status == 200 and body.decode() == lg.checkpoint(2), (status, body)
            finally:
                assert b.stop() == 0, b.tail()
    finally:
        db.close()


if __name__ == "__main__":
    run([test_reads_across_logs])
