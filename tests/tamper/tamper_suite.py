"""The tampering suite (issue 10): acting as the MariaDB administrator, not
through our code, it changes the stored log one way at a time and checks that
GET /verify answers 409 naming the position and the reason, and that
auditlog-verify rejects a fresh export (exit 1); then it undoes the change
exactly and checks that both pass again. Hand-edited bundles of the untouched
log are rejected too. It prints a table of every case and fails if one is not
detected.

The auditor runs against a private MariaDB server (tests/faults/auditor_db.py)
on which this suite is root; the API against the shared test database. The
auditor has its own log key in a temporary folder.
"""
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "faults"))

import harness  # noqa: E402
from auditor_db import AuditorDB, sql_id, sql_id_value  # noqa: E402
from harness import BIN, SRC, http, wait_for  # noqa: E402
from stack import FaultStack  # noqa: E402
from tampering import StoredLog, actor_changed, trace_changed  # noqa: E402

AMQP_URL = os.environ.get("AUDITLOG_AMQP_URL", "amqp://dev:dev@localhost:5672/")
ROUNDS = 3             # publishing rounds, each checkpointed before the next
MESSAGES_PER_ROUND = 10
EVENTS_PER_MESSAGE = 100
ACTOR = "tamper-suite"
VERIFIER = os.path.join(BIN, "auditlog-verify")


def say(msg):
    print(msg, flush=True)


# ---- Ed25519 signed notes with the openssl CLI (no Python Ed25519 in the stdlib) ----

PKCS8_ED25519 = bytes.fromhex("302e020100300506032b657004220420")  # + 32-byte seed


class Key:
    """An Ed25519 signer key in c2sp.org/signed-note form, signing through
    `openssl pkeyutl -sign -rawin`."""

    def __init__(self, name, seed, workdir):
        self.name = name
        self.der = os.path.join(workdir, f"key-{uuid.uuid4().hex}.der")
        with open(self.der, "wb") as f:
            f.write(PKCS8_ED25519 + seed)
        os.chmod(self.der, 0o600)
        r = subprocess.run(["openssl", "pkey", "-inform", "DER", "-in", self.der, "-pubout",
                            "-outform", "DER"], capture_output=True, check=True)
        self.pub = r.stdout[-32:]
        self.id = hashlib.sha256(name.encode() + b"\n\x01" + self.pub).digest()[:4]

    @classmethod
    def generate(cls, name, workdir):
        return cls(name, os.urandom(32), workdir)

    @classmethod
    def from_signer_file(cls, path, workdir):
        """Reads the auditor's key file: PRIVATE+KEY+name+hexid+base64(0x01 || seed)."""
        text = open(path).read().strip()
        assert text.startswith("PRIVATE+KEY+"), "not a signed-note signer key"
        name, hexid, b64 = text[len("PRIVATE+KEY+"):].split("+", 2)  # no "+" in a name
        raw = base64.b64decode(b64)
        key = cls(name, raw[1:], workdir)
        assert key.id.hex() == hexid, "key id of the auditor's key does not match"
        return key

    def vkey(self):
        key = base64.b64encode(b"\x01" + self.pub).decode()
        return f"{self.name}+{self.id.hex()}+{key}"

    def sign_note(self, text):
        with tempfile.NamedTemporaryFile(dir=os.path.dirname(self.der)) as msg:
            msg.write(text.encode())
            msg.flush()
            r = subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", self.der, "-keyform",
                                "DER", "-rawin", "-in", msg.name], capture_output=True,
                               check=True)
        sig = r.stdout
        assert len(sig) == 64, sig
        return f"{text}\n\u2014 {self.name} {base64.b64encode(self.id + sig).decode()}\n"


def checkpoint_text(origin, size, root):
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def parse_checkpoint(note):
    origin, size, root = note.split("\n\n")[0].split("\n")[:3]
    return origin, int(size), base64.b64decode(root)


def canonical(doc):
    """RFC 8785 for what this suite writes (no numbers beyond integers)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def view_leaf(ev, log, seq):
    """The canonical leaf of a view (ASCII only): RFC 8785 is sorted keys here."""
    leaf = {"action": ev["action"], "actorId": ev["actorId"], "actorType": ev["actorType"],
            "id": ev["id"], "log": log, "seq": seq, "targetId": ev["targetId"],
            "targetType": ev["targetType"], "timestamp": ev["timestamp"]}
    if ev.get("targetVersion") is not None:
        leaf["targetVersion"] = ev["targetVersion"]
    if ev.get("traceId") is not None:
        leaf["traceId"] = ev["traceId"]
    return canonical(leaf).encode()


# ---- the suite ----

class Suite:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="auditlog-tamper-")
        self.db = AuditorDB(SRC)
        self.log = StoredLog(self.db)  # the stored log, changed as root (tampering.py)
        self.rows = []      # the table: (case, verify answer, verifier answer, ok, note)
        self.failures = []

    # -- the daemons --

    def verify(self):
        """GET /verify?log=0: (status, seq or None, reason or None, detail)."""
        status, _, doc = self.stack.request("auditor", "GET", "/verify?log=0", token=self.tok)
        self.reads += status in (200, 409)
        if status == 200:
            return status, None, None, doc["data"]["attributes"]
        err = harness.error_of(doc)
        meta = err.get("meta", {})
        return status, meta.get("seq"), meta.get("reason"), err["detail"]

    def export(self, query=""):
        status, _, body = self.stack.request("auditor", "GET", "/export" + query,
                                             token=self.tok, raw=True)
        self.reads += status in (200, 409)
        return status, body

    def run_verifier(self, bundle, vkey=None, pin=None):
        """auditlog-verify on bundle bytes: (exit status, first INVALID line)."""
        bfile = os.path.join(self.dir, "bundle.ndjson")
        with open(bfile, "wb") as f:
            f.write(bundle)
        args = [VERIFIER, bfile, "--vkey", vkey or self.vkey_file]
        if pin is not None:
            pfile = os.path.join(self.dir, "pin.txt")
            with open(pfile, "w") as f:
                f.write(pin)
            args += ["--pin", pfile]
        r = subprocess.run(args, capture_output=True, text=True, timeout=120)
        first = next((ln for ln in r.stdout.splitlines() if ln.startswith("INVALID")), "")
        if r.returncode not in (0, 1):
            first = first or (r.stderr.strip().splitlines() or [""])[0]
        return r.returncode, first

    # -- setting up --

    def publish(self, events):
        r = subprocess.run([os.path.join(BIN, "mqtool"), "publish", AMQP_URL, "api-stream",
                            "other.data.mutated", str(uuid.uuid4())],
                           input=json.dumps(events).encode(), capture_output=True)
        assert r.returncode == 0, f"mqtool publish failed: {r.stderr.decode()}"

    def make_events(self, n, base):
        out = []
        for i in range(base, base + n):
            ev = {"id": str(uuid.uuid4()), "timestamp": 1_790_000_000_000 + i,
                  "actorType": "service", "actorId": ACTOR, "targetType": "documents",
                  "targetId": f"doc-{i % 97}"}
            if i % 4:  # the trace of the request that made it; one in four has none
                ev["traceId"] = uuid.uuid4().hex
            if i % 3 == 0:
                ev["action"] = "viewed"
            else:
                ev["action"] = "changed"
                ev["eventName"] = "document.edited"
                ev["changes"] = {"title": {"prev": f"Title number {i} draft",
                                           "next": f"Title number {i} final"},
                                 "pages": {"prev": i % 40, "next": i % 40 + 1}}
            out.append(ev)
        return out

    def stored(self):
        return int(self.log.scalar(
            f"SELECT COUNT(*) FROM data_events WHERE actor_id = '{ACTOR}';"))

    def latest_checkpoint(self):
        status, _, body = http("GET", self.stack.url("auditor", "/checkpoint"))
        return body.decode() if status == 200 else None

    def settle(self, want):
        """Waits until want events of ours are stored, nothing else arrives,
        and the latest checkpoint covers the whole log; returns its note."""
        wait_for(lambda: self.stored() >= want, timeout=60, interval=0.2,
                 what=f"{want} events stored")

        def covered():
            total = int(self.log.scalar("SELECT COUNT(*) FROM data_events;"))
            note = self.latest_checkpoint()
            if note and parse_checkpoint(note)[1] == total:
                stored_max = self.log.scalar("SELECT MAX(size) FROM log_checkpoints;")
                if stored_max == str(total):
                    return note
            return None
        note = wait_for(covered, timeout=30, interval=0.2, what="a checkpoint of the whole log")
        time.sleep(1.0)  # anything still arriving (a message left by another test)?
        return note if covered() == note else self.settle(want)

    def setup(self):
        say(f"auditor's private MariaDB: {self.db.dir} port {self.db.port}")
        self.db.create()
        self.log.prepare()
        key_file = os.path.join(self.dir, "log-signer.key")  # made by the auditor
        # Every read of the log is recorded in it (README "Reads are
        # recorded"), this suite's /verify and /export too: the cases need a
        # log that only they change, so the records linger in the auditor's
        # queue (10 minutes, longer than the suite) and are stored when it
        # stops at the end, into the restored log (checked in run()).
        auditor_env = dict(self.db.env(), AUDITLOG_LOG_KEY=key_file,
                           AUDITLOG_CHECKPOINT_MS="200", AUDITLOG_READS_LINGER_MS="600000")
        self.reads = 0  # reads recorded (queued) since the auditor started
        logdir = os.path.join(self.dir, "logs")
        os.mkdir(logdir)
        self.stack = FaultStack(logdir, {"AUDITLOG_SPOOL_DIR": os.path.join(self.dir, "spool")},
                                auditor_env)
        self.stack.start("api")
        self.stack.start("auditor")
        self.tok = self.stack.token(1)  # user 1 has the auditor role

        t0 = time.monotonic()
        n = 0
        for _ in range(ROUNDS):
            for _ in range(MESSAGES_PER_ROUND):
                self.publish(self.make_events(EVENTS_PER_MESSAGE, n))
                n += EVENTS_PER_MESSAGE
            note = self.settle(n)
        self.pin = note  # the checkpoint kept from before any change
        self.origin, self.size, self.root = parse_checkpoint(note)
        sizes = [int(x) for x in self.log.sql("SELECT size FROM log_checkpoints ORDER BY size;")
                 .split()]
        earlier = [k for k in sizes if 0 < k < self.size]
        assert earlier, f"no checkpoint before the latest: {sizes}"
        self.earlier = min(earlier, key=lambda k: abs(k - self.size // 2))
        self.earlier_note = self.log.scalar(
            f"SELECT HEX(note) FROM log_checkpoints WHERE size = {self.earlier};")
        self.earlier_note = bytes.fromhex(self.earlier_note).decode()
        others = self.log.sql(f"SELECT seq, action, actor_type, target_type FROM data_events "
                              f"WHERE actor_id <> '{ACTOR}' ORDER BY seq LIMIT 5;").strip()
        say(f"stored {n} events of ours, log size {self.size}, {len(sizes)} checkpoints "
            f"(rollback target: {self.earlier}) in {time.monotonic() - t0:.1f}s"
            + (f"; others: {others.replace(chr(10), '; ')}" if others else ""))

        status, hdrs, vkey = http("GET", self.stack.url("auditor", "/.well-known/auditlog-vkey"))
        assert status == 200, (status, vkey)
        self.vkey = vkey.decode().strip()
        self.vkey_file = os.path.join(self.dir, "vkey")
        with open(self.vkey_file, "w") as f:
            f.write(self.vkey + "\n")
        self.own_key = Key.from_signer_file(key_file, self.dir)
        assert self.own_key.vkey() == self.vkey, (self.own_key.vkey(), self.vkey)
        self.other_key = Key.generate(self.own_key.name, self.dir)  # same name, another key
        self.clean = self.log.checksum()

    # -- recording --

    def record(self, case, verify, verifier, ok, note=""):
        status, seq, reason, _ = verify if verify else (None, None, None, None)
        v = "-" if verify is None else (f"{status}" + (f" seq {seq} {reason}" if reason else ""))
        code, first = verifier if verifier else (None, "")
        w = "-" if verifier is None else f"exit {code}" + (f" {first}" if first else "")
        self.rows.append((case, v, w, ok, note))
        if not ok:
            self.failures.append(f"{case}: /verify {v}; verifier {w}; {note}")
        say(f"{'ok  ' if ok else 'FAIL'} {case}: /verify {v}; auditlog-verify {w}"
            + (f" ({note})" if note else ""))

    def check_clean(self, case):
        """After an undo: the tables are back byte for byte and both pass."""
        same = self.log.checksum() == self.clean
        v = self.verify()
        status, bundle = self.export(f"?pin={self.size}")
        w = (self.run_verifier(bundle, pin=self.pin) if status == 200
             else (None, f"/export {status}"))
        ok = same and v[0] == 200 and v[3]["to"] == self.size and w[0] == 0
        if not ok:
            self.failures.append(f"undoing {case}: tables restored {same}, /verify {v[:3]}, "
                                 f"verifier {w}")
            say(f"FAIL undoing {case}: tables restored {same}, /verify {v[:3]}, verifier {w}")
        return ok

    # -- the cases on the stored log --

    def case(self, name, saves, change, want_seq, want_reason, pin=False):
        """One change of the stored log (see StoredLog.tamper()): /verify
        must answer 409 with want_seq and want_reason, and auditlog-verify
        must refuse a fresh export (with pin: with the pin kept from
        before); then undone."""
        undo = self.log.tamper(saves, change)
        note = ""
        v = self.verify()
        if pin:
            # As the holder of the pin asks: with its size. An export that
            # cannot prove consistency with it (a rolled-back log no longer
            # reaches its size) answers 400: then the plain export.
            status, bundle = self.export(f"?pin={self.size}")
            if status == 400:
                note = f"/export?pin={self.size} answers 400, verified: /export"
                status, bundle = self.export()
        else:
            status, bundle = self.export()
        if status == 200:
            w = self.run_verifier(bundle, pin=self.pin if pin else None)
        else:
            w = (None, f"/export answered {status}")
        undo()
        detected_v = v[0] == 409 and v[1] == want_seq and v[2] == want_reason
        ok = detected_v and w[0] == 1
        notes = [note] if note else []
        if not detected_v:
            notes.append(f"wanted 409 seq {want_seq} {want_reason}; detail: {v[3]}")
        self.record(name, v, w, ok, "; ".join(notes))
        self.check_clean(name)

    def event_at(self, seq):
        row = self.log.sql(f"SELECT {sql_id('event_id')}, action FROM data_events "
                       f"WHERE log_id = 0 AND seq = {seq};").strip().split("\t")
        return row[0], row[1]

    def changed_event_near(self, seq):
        while self.event_at(seq)[1] != "changed":
            seq += 1
        return seq, self.event_at(seq)[0]

    def stored_cases(self):
        S, mid = self.size, self.size // 2 + 7
        at = "log_id = 0 AND seq"

        p, eid = self.changed_event_near(mid)
        value = f"event_id = {sql_id_value(eid)} AND field = 'title'"
        assert self.log.scalar(f"SELECT next_value FROM data_event_values WHERE {value};") \
            .startswith('"Title')
        self.case("value: one byte of next_value", [("data_event_values", value)],
                  f"UPDATE data_event_values SET next_value = "
                  f"CONCAT('\"t', SUBSTRING(next_value, 3)) WHERE {value};",
                  p, "value-mismatch")

        q = mid + 101
        self.case("actor id changed", *actor_changed(f"{at} = {q}"), q, "hash-mismatch")

        # The request's trace is committed: changed, removed or added, the
        # row no longer gives its leaf.
        def with_trace(from_seq, present):
            return int(self.log.scalar(
                f"SELECT MIN(seq) FROM data_events WHERE {at} >= {from_seq} AND trace_id IS "
                f"{'NOT ' if present else ''}NULL;"))
        t = with_trace(mid + 131, True)
        self.case("traceId changed", *trace_changed(f"{at} = {t}", uuid.uuid4().hex), t,
                  "hash-mismatch")
        t = with_trace(mid + 151, True)
        self.case("traceId removed", *trace_changed(f"{at} = {t}", None), t, "hash-mismatch")
        t = with_trace(mid + 171, False)
        self.case("traceId added", *trace_changed(f"{at} = {t}", uuid.uuid4().hex), t,
                  "hash-mismatch")

        r = mid - 211
        self.case("event row deleted (middle)", [("data_events", f"{at} = {r}")],
                  f"DELETE FROM data_events WHERE {at} = {r};", r, "missing-position")

        self.forged_case(S)

        a, b = mid - 50, mid + 60
        id_a, id_b = self.event_at(a)[0], self.event_at(b)[0]

        def holding(p):  # the append that gives position p
            return f"(first_seq <= {p} AND first_seq + LENGTH(leaf_hashes) DIV 32 > {p})"

        def put_id(p, eid):  # the id at position p of its append becomes eid
            return (f"UPDATE log_appends SET event_ids = INSERT(event_ids, "
                    f"36 * ({p} - first_seq) + 1, 36, '{eid}') WHERE log_id = 0 AND "
                    f"{holding(p)};")
        # Both in the order of record (the appends' ids) and in the rows.
        self.case("positions of two events swapped",
                  [("data_events", f"{at} IN ({a}, {b})"),
                   ("log_appends", f"log_id = 0 AND ({holding(a)} OR {holding(b)})")],
                  put_id(a, id_b) + put_id(b, id_a) +
                  f"UPDATE data_events SET seq = 999999999999 WHERE {at} = {a}; "
                  f"UPDATE data_events SET seq = {a} WHERE {at} = {b}; "
                  f"UPDATE data_events SET seq = {b} WHERE {at} = 999999999999;",
                  a, "hash-mismatch")

        # Another key of the same name (only the key id tells them apart),
        # signing a checkpoint of another root.
        fake_root = hashlib.sha256(b"a forger's tree").digest()
        fake = self.other_key.sign_note(checkpoint_text(self.origin, S, fake_root))
        latest = f"log_id = 0 AND size = {S}"
        self.case("latest checkpoint signed by another key", [("log_checkpoints", latest)],
                  f"UPDATE log_checkpoints SET root = UNHEX('{fake_root.hex()}'), "
                  f"note = UNHEX('{fake.encode().hex()}') WHERE {latest};",
                  S - 1, "bad-signature")

        K = self.earlier
        self.case(f"log rolled back to checkpoint {K}", *self.cut(K, tree=True), K,
                  "rolled-back", pin=True)
        self.restarted_rollback_case(K)

        T = S - 5
        self.case(f"tail truncated (last {S - T} events)", *self.cut(T, tree=False), T,
                  "missing-position", pin=True)

    def cut(self, n, tree):
        """(saves, change) that remove every event from position n on, with
        their changes and values; with tree, also the tree hashes and the
        checkpoints beyond size n (a rollback to a consistent state)."""
        events = f"event_id IN (SELECT event_id FROM data_events WHERE log_id = 0 AND seq >= {n})"
        # The appends that reach past n: those wholly past it go, the one
        # across it keeps its first positions (its end is then n, which the
        # undo's where still matches).
        appends = f"log_id = 0 AND first_seq + LENGTH(leaf_hashes) DIV 32 >= {n}"
        saves = [("data_event_values", events), ("data_event_changes", events),
                 ("log_appends", appends), ("data_events", f"log_id = 0 AND seq >= {n}")]
        if tree:
            saves += [("log_nodes", f"log_id = 0 AND ((idx + 1) << level) > {n}"),
                      ("log_checkpoints", f"log_id = 0 AND size > {n}")]
        change = "".join(f"DELETE FROM {table} WHERE {where};" for table, where in saves
                         if table != "log_appends")
        change += (f"DELETE FROM log_appends WHERE log_id = 0 AND first_seq >= {n};"
                   f"UPDATE log_appends SET event_ids = LEFT(event_ids, 36 * ({n} - first_seq)), "
                   f"leaf_hashes = LEFT(leaf_hashes, 32 * ({n} - first_seq)) WHERE log_id = 0 "
                   f"AND first_seq < {n} AND first_seq + LENGTH(leaf_hashes) DIV 32 > {n};")
        return saves, change

    def restart_auditor(self):
        """Killed, not stopped: a stop would store the records of the reads
        queued so far (see setup) into the log as a case left it."""
        self.stack.kill("auditor")
        self.stack.start("auditor")
        self.reads = 0
        # It listens before its log is open (reads answer 503 until then).
        wait_for(lambda: http("GET", self.stack.url("auditor", "/checkpoint"))[0] == 200,
                 timeout=30, interval=0.1, what="the restarted auditor's log to open")

    def restarted_rollback_case(self, K):
        """The same rollback, then the auditor restarted: its writer resumes
        from the stored log, which is consistent, so nothing in the database
        or the writer shows it any more. /verify's answer is recorded, not
        asserted (it passes: a limit of any check from the database alone);
        the pin kept from before must catch it."""
        undo = self.log.tamper(*self.cut(K, tree=True))
        self.restart_auditor()
        v = self.verify()
        status, bundle = self.export(f"?pin={self.size}")
        note = (f"/verify cannot see it (the stored log is consistent); "
                f"/export?pin={self.size}: {status}")
        if status == 400:
            status, bundle = self.export()
        w = self.run_verifier(bundle, pin=self.pin) if status == 200 else (None, str(status))
        undo()
        self.restart_auditor()  # its writer now resumes at the restored end
        self.record(f"log rolled back to {K}, auditor restarted", v, w, w[0] == 1, note)
        self.check_clean("rollback after restart")

    def forged_case(self, S):
        """A forged row past the end, with the leaf hash its content gives.
        It lies past the latest checkpoint, and no export can hold it (an
        export ends at a signed size): the fresh export is the signed log
        without it, and verifies. So the verifier's answer is the one on the
        bundle a forger would hand out claiming the row (the fresh export
        with its line added and its range widened), which must be refused
        for what it claims, not for its form; and the row has no inclusion
        proof."""
        forged = self.make_events(1, 10**6)[0]
        forged.update(action="viewed", actorId="mallory")
        forged.pop("changes", None)
        forged.pop("eventName", None)
        leaf = hashlib.sha256(b"\x00" + view_leaf(forged, 0, S)).digest()
        undo = self.log.tamper(
            [("data_events", f"log_id = 0 AND seq >= {S}"),
             ("log_appends", f"log_id = 0 AND first_seq >= {S}")],
            "INSERT INTO data_events (log_id, seq, event_id, action, occurred_at, actor_type, "
            "actor_id, target_type, target_id, event_name) VALUES "
            f"(0, {S}, {sql_id_value(forged['id'])}, 'viewed', {forged['timestamp']}, 'service', "
            f"'mallory', 'documents', '{forged['targetId']}', NULL);"
            "INSERT INTO log_appends (log_id, first_seq, event_ids, leaf_hashes) VALUES "
            f"(0, {S}, '{forged['id']}', UNHEX('{leaf.hex()}'));")
        status, bundle = self.export(f"?pin={S}")
        lines = bundle.decode().split("\n")
        header = dict(json.loads(lines[0]), to=S + 1)
        line = dict(forged, log=0, seq=S, leaf=base64.b64encode(leaf).decode())
        claim = "\n".join([canonical(header)] + lines[1:-1] + [canonical(line)]) + "\n"
        claim_w = self.run_verifier(claim.encode(), pin=self.pin)
        proof_status, _, _ = self.stack.request("auditor", "GET",
                                                f"/data-events/{forged['id']}/proof",
                                                token=self.tok, raw=True)
        v = self.verify()
        status, bundle = self.export(f"?pin={S}")
        fresh = self.run_verifier(bundle, pin=self.pin) if status == 200 else (None, str(status))
        undo()
        by_verify = v[0] == 409 and v[1] == S and v[2] == "extra-row"
        by_verifier = claim_w[0] == 1 and not claim_w[1].startswith("INVALID: line")
        ok = by_verify and by_verifier and fresh[0] == 0 and proof_status != 200
        notes = [f"verifier answer on a bundle claiming the row; the fresh export ends at the "
                 f"signed size {S}, without it: exit {fresh[0]}",
                 f"GET /data-events/:id/proof of the row: {proof_status}"]
        if not by_verify:
            notes.append(f"wanted 409 seq {S} extra-row; detail: {v[3]}")
        self.record("forged row past the end", v, claim_w, ok, "; ".join(notes))
        self.check_clean("forged row")

    # -- hand-edited bundles of the untouched log --

    def bundle_cases(self):
        K = self.earlier
        status, bundle = self.export(f"?pin={K}")
        assert status == 200, status
        lines = bundle.decode().split("\n")[:-1]
        n = len(lines) - 1
        assert n == self.size, (n, self.size)
        w = self.run_verifier(bundle, pin=self.earlier_note)
        self.record("untouched bundle (pin = earlier checkpoint)", None, w, w[0] == 0)

        def join(ls):
            return ("\n".join(ls) + "\n").encode()

        # A flipped byte: the case of one letter of a value in the middle line.
        i = 1 + n // 2
        while '"changes"' not in lines[i]:
            i += 1
        at = lines[i].index('"value":"Title') + len('"value":"') + 1
        flipped = list(lines)
        flipped[i] = lines[i][:at] + chr(ord(lines[i][at]) ^ 0x20) + lines[i][at + 1:]
        seq = json.loads(lines[i])["seq"]
        w = self.run_verifier(join(flipped))
        self.record(f"bundle: one byte flipped (seq {seq})", None, w,
                    w[0] == 1 and f"seq {seq}" in w[1])

        removed = lines[:i] + lines[i + 1:]
        w = self.run_verifier(join(removed))
        self.record(f"bundle: line removed (seq {seq})", None, w,
                    w[0] == 1 and f"seq {seq}" in w[1])

        # Another trace-id on a line: its members no longer give its leaf.
        j = i
        while '"traceId":"' not in lines[j]:
            j += 1
        at = lines[j].index('"traceId":"') + len('"traceId":"') + 7
        traced = list(lines)
        traced[j] = lines[j][:at] + ("0" if lines[j][at] != "0" else "1") + lines[j][at + 1:]
        tseq = json.loads(lines[j])["seq"]
        w = self.run_verifier(join(traced))
        self.record(f"bundle: traceId changed (seq {tseq})", None, w,
                    w[0] == 1 and f"seq {tseq}" in w[1] and "leaf hash" in w[1])

        swapped = list(lines)
        swapped[i], swapped[i + 40] = swapped[i + 40], swapped[i]
        w = self.run_verifier(join(swapped))
        self.record(f"bundle: lines of seq {seq} and {seq + 40} swapped", None, w, w[0] == 1)

        other_vkey = os.path.join(self.dir, "other.vkey")
        with open(other_vkey, "w") as f:
            f.write(self.other_key.vkey() + "\n")
        w = self.run_verifier(bundle, vkey=other_vkey)
        self.record("bundle: wrong verifier key", None, w, w[0] == 1)

        # A pin from another log: another origin, of the same size and root as
        # the bundle's own pin, signed by this log's key, then by another key.
        other_origin = "other.example/0"
        for who, key in (("this log's key", self.own_key), ("another key", self.other_key)):
            _, _, root = parse_checkpoint(self.earlier_note)
            pin = key.sign_note(checkpoint_text(other_origin, K, root))
            w = self.run_verifier(bundle, pin=pin)
            self.record(f"bundle: pin from another log ({who})", None, w, w[0] == 1)

    # -- running --

    def run(self):
        t0 = time.monotonic()
        try:
            self.setup()
            v = self.verify()
            status, bundle = self.export(f"?pin={self.size}")
            w = self.run_verifier(bundle, pin=self.pin) if status == 200 else (None, str(status))
            self.record("untouched log", v, w,
                        v[0] == 200 and v[3]["to"] == self.size and w[0] == 0)
            self.stored_cases()
            self.bundle_cases()
            before = int(self.log.scalar("SELECT COUNT(*) FROM data_events WHERE event_name LIKE "
                                     "'audit.%';"))
            self.stack.shutdown()
            self.failures += self.stack.problems  # crashes, sanitizer reports
            # The stop stored the records of the reads since the last start.
            after = int(self.log.scalar("SELECT COUNT(*) FROM data_events WHERE event_name LIKE "
                                    "'audit.%';"))
            if (before, after - before) != (0, self.reads):
                self.failures.append(f"read records: {before} stored while the suite ran, "
                                     f"{after - before} stored at the stop, {self.reads} "
                                     "reads made since the auditor started")
        except BaseException:
            self.show_logs()
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        finally:
            if hasattr(self, "stack"):
                self.stack.shutdown()
            self.db.close()
        self.table()
        say(f"{len(self.rows) - len([r for r in self.rows if not r[3]])}/{len(self.rows)} cases "
            f"detected as they should be, in {time.monotonic() - t0:.0f}s")
        for f in self.failures:
            say(f"FAILED: {f}")
        if self.failures:
            self.show_logs()
        shutil.rmtree(self.dir, ignore_errors=True)
        return 1 if self.failures else 0

    def show_logs(self):
        for name in ("auditor", "api"):
            say(f"---- {name} log (last lines) ----\n"
                f"{harness.tail_of(os.path.join(self.dir, 'logs'), name, 40)}")

    def table(self):
        say("\n| case | /verify | auditlog-verify | detected | notes |")
        say("|---|---|---|---|---|")
        for case, v, w, ok, note in self.rows:
            say(f"| {case} | {v} | {w.replace('|', '/')} | {'yes' if ok else 'NO'} | {note} |")


if __name__ == "__main__":
    sys.exit(Suite().run())
