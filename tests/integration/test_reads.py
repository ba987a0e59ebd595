"""Reads are recorded (issue 12): every query, export, proof request and
verification on the audit log is itself stored as a viewed event by the
reader (users:<token's user>) about what was asked (the queried object,
else the log, logs:0), its eventName the kind of read and its parameters
its changes (read.<name>: {prev: null, next: as given}). Exactly one
record per authorized, valid request; none for public routes, refused or
invalid requests, and none for reading a record. The recorder does not
hold a query up: with the database's writes blocked, reads are answered at
once until the queue is full, then refused with 503 (fail closed), and
what was queued is stored when the database is back, and at a stop."""
import csv
import io
import os
import subprocess
import time
import urllib.parse

from harness import Stack, error_of, http, run, unique, wait_for
from test_principal import set_roles
from test_stream import SSE

AUDITOR_DB = os.environ.get("AUDITLOG_AUDITOR_DB", "audit-logging-auditor")
READER = (os.environ.get("AUDITLOG_AUDITOR_READER_USER", "auditor_reader"),
          os.environ.get("AUDITLOG_AUDITOR_READER_PASSWORD", "auditor_reader"))
SOCKET = os.environ.get("MYSQL_UNIX_PORT", "")
NDJSON = "application/x-ndjson"


def reader_sql(text):
    """Rows of one statement run as the auditor's reader, straight from the
    database (so the check records no read), as lists of strings."""
    host = os.environ.get("AUDITLOG_MYSQL_HOST", "localhost")
    r = subprocess.run(["mariadb", "--protocol=tcp", "-h",
                        "127.0.0.1" if host == "localhost" else host,
                        "-P", os.environ.get("AUDITLOG_MYSQL_PORT", "3306"), "-u", READER[0],
                        "--batch", "--skip-column-names", "-e", text, AUDITOR_DB],
                       env=dict(os.environ, MYSQL_PWD=READER[1]), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return [line.split("\t") for line in r.stdout.splitlines() if line]


def records_in_db(reader):
    """The reader's read records as stored: (seq, eventName, target) in log order."""
    rows = reader_sql("SELECT seq, event_name, CONCAT(target_type, ':', target_id) FROM data_events "
                      f"WHERE actor_type = 'users' AND actor_id = '{int(reader)}' AND action = "
                      "'viewed' AND event_name LIKE 'audit.%' ORDER BY seq")
    return [(int(r[0]), r[1], r[2]) for r in rows]


def records(s, reader, admin):
    """The reader's read records as the auditor serves them (read by admin,
    whose own read is recorded under its own actor), oldest first."""
    out = s.events(f"/data-events?filter[actor]=users:{reader}&filter[action]=viewed&sort=time",
                   admin)
    out = [e for e in out if (e["attributes"].get("eventName") or "").startswith("audit.")]
    return sorted(out, key=lambda e: e["attributes"]["seq"])


def settled(reader, n, timeout=10):
    """Waits until the reader has n read records stored, then checks that no
    more come (a read of a record, or one recorded twice)."""
    wait_for(lambda: len(records_in_db(reader)) >= n, timeout=timeout,
             what=f"{n} read records of users:{reader}")
    time.sleep(0.4)  # several of the recorder's batches
    got = records_in_db(reader)
    assert len(got) == n, (n, got)
    return got


def auditor_user(s, admin, prefix):
    uid = s.new_user(admin, prefix)
    set_roles(uid, "auditor")
    return uid, s.token(uid)


def changes_of(e):
    return {k: v for k, v in (e["attributes"].get("changes") or {}).items()}


def named(**kv):
    return {"read." + k: {"prev": None, "next": v} for k, v in kv.items()}


def checkpoint_size(s):
    status, _, body = http("GET", s.url("auditor", "/checkpoint"))
    assert status == 200, (status, body)
    return int(body.decode().split("\n")[1])


def test_each_kind_of_read_is_one_event():
    with Stack(daemons=("api", "auditor")) as s:
        admin = s.token(1)
        reader, tok = auditor_user(s, admin, "reads")
        x = s.new_user(admin, "readsx")
        # Something of x's in the log, and in a checkpoint, for the proof.
        made = wait_for(lambda: s.events(f"/data-events?filter[target]=users:{x}", admin) or None,
                        what="x's creation stored")
        event_id = made[0]["id"]
        wait_for(lambda: checkpoint_size(s) > made[0]["attributes"]["seq"], what="a checkpoint")
        size = checkpoint_size(s)
        now = str(int(time.time() * 1000) + 1)  # ms: after x was created
        expected = []   # (eventName, target, changes)

        def read(path, name, target, changes, daemon="auditor", accept=None, status=200):
            h = {"Authorization": "Bearer " + tok}
            if accept:
                h["Accept"] = accept
            got, _, body = http("GET", s.url(daemon, path), None, h)
            assert got == status, (path, got, body[:300])
            expected.append((name, target, changes))

        q = urllib.parse.quote
        read(f"/data-events?filter[target]=users:{x}&filter[action]=created,changed&page[size]=5",
             "audit.query", f"users:{x}",
             named(target=f"users:{x}", action="created,changed", size="5"))
        read(f"/data-events?filter[actor]=users:{x}&sort=time", "audit.query", f"users:{x}",
             named(actor=f"users:{x}", sort="time"))
        # Both: the target is what was asked about; the actor goes along.
        read(f"/data-events?filter[actor]=users:1&filter[target]=users:{x}&filter[since]={now}",
             "audit.query", f"users:{x}",
             named(actor="users:1", target=f"users:{x}", since=now))
        # Neither: the log itself.
        read("/data-events?filter[flag]=gap", "audit.query", "logs:0", named(flag="gap"))
        read(f"/api/users/{x}/data-events?page[size]=2", "audit.query", f"users:{x}",
             named(target=f"users:{x}", size="2"))
        read(f"/data-events?filter[target]=users:{x}", "audit.export", f"users:{x}",
             named(target=f"users:{x}", format=NDJSON), accept=NDJSON)
        read(f"/data-events?filter[target]=users:{x}", "audit.export", f"users:{x}",
             named(target=f"users:{x}", format="text/csv"), accept="text/csv")
        read(f"/api/users/{x}/state?at={q(now)}", "audit.state", f"users:{x}",
             named(target=f"users:{x}", at=now))
        read(f"/api/users/{x}/fields/name/history", "audit.history", f"users:{x}",
             named(target=f"users:{x}", field="name"))
        read(f"/data-events/{event_id}/proof?size={size}", "audit.proof", "logs:0",
             named(event=event_id, size=str(size)))
        # An event's opened leaf is a read of its content: its target is the
        # event's; an id that names no event, a read of the log.
        read(f"/data-events/{event_id}/leaf", "audit.leaf", f"users:{x}", named(event=event_id))
        nothing = "01890a5d-ac96-774b-bcce-b302099a8057"
        read(f"/data-events/{nothing}/leaf", "audit.leaf", "logs:0", named(event=nothing),
             status=404)
        read(f"/consistency?from=0&to={size}", "audit.consistency", "logs:0",
             named(**{"from": "0", "to": str(size)}))
        read(f"/verify?from={size - 1}&to={size}", "audit.verify", "logs:0",
             named(**{"from": str(size - 1), "to": str(size)}))
        read("/export?from=0&to=1", "audit.log-export", "logs:0",
             named(**{"from": "0", "to": "1"}))
        read("/checks", "audit.checks", "logs:0", {})
        # Forwarded by the API with the user's own token: the reader is the user.
        read(f"/logs/for/users/{x}?page[size]=3", "audit.query", f"users:{x}",
             named(target=f"users:{x}", size="3"), daemon="api")
        read(f"/logs/state/users/{x}?at={q(now)}", "audit.state", f"users:{x}",
             named(target=f"users:{x}", at=now), daemon="api")
        read(f"/logs/data-events/{event_id}/leaf", "audit.leaf", f"users:{x}",
             named(event=event_id), daemon="api")
        # A read whose answer is 404 was still asked and answered.
        read(f"/api/users/{x}-gone/state?at={q(now)}", "audit.state", f"users:{x}-gone",
             named(target=f"users:{x}-gone", at=now), status=404)

        # A stream is one read, recorded as it starts; its position goes
        # with it (after= as a parameter, Last-Event-ID as read.lastEventId).
        seq = str(made[0]["attributes"]["seq"])
        for port, path, last, changes in (
                (s.ports["auditor"], f"/data-events/stream?filter[target]=users:{x}", seq,
                 named(target=f"users:{x}", lastEventId=seq)),
                (s.ports["api"], f"/logs/stream?filter[actor]=users:{x}&after={seq}", None,
                 named(actor=f"users:{x}", after=seq))):
            st = SSE(port, path, tok, last_id=last)
            assert st.status == 200, st.status
            st.close()
            expected.append(("audit.stream", f"users:{x}", changes))

        # Not recorded: public routes (no reader, no content), and requests
        # refused before they read anything (invalid, forbidden).
        h = {"Authorization": "Bearer " + tok}
        assert http("GET", s.url("auditor", "/checkpoint"), None, h)[0] == 200
        assert http("GET", s.url("auditor", "/.well-known/auditlog-vkey"), None, h)[0] == 200
        assert s.auditor("GET", "/data-events?filter[action]=eaten", token=tok)[0] == 400
        assert s.auditor("GET", "/data-events?filter[action]=viewed", token=tok)[0] == 400
        assert s.auditor("GET", f"/api/users/{x}/state", token=tok)[0] == 400
        assert s.auditor("GET", "/consistency?from=2&to=1", token=tok)[0] == 400
        assert s.auditor("GET", "/data-events/not-a-uuid/leaf", token=tok)[0] == 404
        plain = s.new_user(admin, "readsp")
        ptok = s.token(plain)
        assert s.auditor("GET", f"/api/users/{x}/data-events", token=ptok)[0] == 403
        assert s.auditor("GET", "/verify", token=ptok)[0] == 403
        assert s.auditor("GET", f"/data-events/{event_id}/leaf", token=ptok)[0] == 403

        settled(reader, len(expected))
        got = records(s, reader, admin)
        assert len(got) == len(expected), (len(got), len(expected))
        for e, (name, target, changes) in zip(got, expected):
            a = e["attributes"]
            assert a["action"] == "viewed", e
            assert (a["actorType"], a["actorId"]) == ("users", str(reader)), e
            assert a["eventName"] == name, (a, name)
            assert f'{a["targetType"]}:{a["targetId"]}' == target, (a, target)
            assert changes_of(e) == changes, (changes_of(e), changes)
            assert "targetVersion" not in a or a["targetVersion"] in (None, 0), e
        # The records of reads of x (read.at, read.target, ... in their
        # changes) are no fields of x: its state is its own attributes.
        status, _, doc = s.auditor("GET", f"/api/users/{x}/state?at={int(time.time() * 1000)}",
                                   token=admin)
        assert status == 200, doc
        assert sorted(doc["data"]["attributes"]) == ["agreedTos", "email", "name"], doc
        # No read of the plain user's was recorded (each was refused).
        assert records_in_db(plain) == []
        # Each record is in the log of record: its proof verifies in a later
        # checkpoint (test_ledger checks proofs; here: the proof is served).
        last = got[-1]
        wait_for(lambda: checkpoint_size(s) > last["attributes"]["seq"], what="a checkpoint")
        status, _, body = http("GET", s.url("auditor", f"/data-events/{last['id']}/proof"), None,
                               {"Authorization": "Bearer " + admin})
        assert status == 200 and body.startswith(b"c2sp.org/tlog-proof@v1\nindex "), body
        # The CSV export flattens a record's changes like any event's.
        status, _, body = http("GET", s.url("auditor", f"/data-events?filter[actor]=users:{reader}"
                                            "&filter[eventName]=audit.state&sort=time"), None,
                               {"Authorization": "Bearer " + admin, "Accept": "text/csv"})
        assert status == 200, body
        rows = list(csv.reader(io.StringIO(body.decode(), newline="")))
        assert rows[0][11] == "field", rows[0]
        fields = [r[11] for r in rows[1:]]
        assert fields == ["read.at", "read.target"] * 3, fields


def test_who_looked_at_a_person():
    """filter[target]=users:X&filter[action]=viewed answers who read X's
    history; the answer's own read is the next answer's news, once."""
    with Stack(daemons=("api", "auditor")) as s:
        admin = s.token(1)
        x = s.new_user(admin, "lookedat")
        r1, t1 = auditor_user(s, admin, "looker")
        r2, t2 = auditor_user(s, admin, "looker")
        assert s.auditor("GET", f"/api/users/{x}/state?at=2030-01-01T00:00:00Z", token=t1)[0] in (200, 404)
        assert s.auditor("GET", f"/data-events?filter[target]=users:{x}", token=t1)[0] == 200
        assert s.auditor("GET", f"/data-events?filter[actor]=users:{x}", token=t2)[0] == 200
        # x reads its own history (a token reads its own user's events).
        tx = s.token(x)
        assert s.auditor("GET", f"/api/users/{x}/data-events", token=tx)[0] == 200
        settled(r1, 2)
        settled(r2, 1)
        settled(x, 1)
        path = f"/data-events?filter[target]=users:{x}&filter[action]=viewed&sort=time"

        def lookers():
            got = sorted(s.events(path, admin, own_reads=True), key=lambda e: e["attributes"]["seq"])
            return [(e["attributes"]["actorId"], e["attributes"]["eventName"]) for e in got
                    if (e["attributes"].get("eventName") or "").startswith("audit.")]
        first = lookers()
        assert first == [(str(r1), "audit.state"), (str(r1), "audit.query"),
                         (str(r2), "audit.query"), (str(x), "audit.query")], first
        # The query just made is recorded once (by users:1), and the records
        # it read caused none.
        wait_for(lambda: len(lookers()) >= 5, what="the admin's reads of x recorded")
        time.sleep(0.4)
        again = lookers()
        admin_reads = [a for a in again if a[0] == "1"]
        others = [a for a in again if a[0] != "1"]
        assert others == first, again
        # Each call of lookers() is one read (a page of up to 1000): the
        # first, the ones wait_for made, and this last one, at most.
        assert admin_reads and all(a == ("1", "audit.query") for a in admin_reads), again


def test_reading_ones_own_reads():
    """A reader's actor log shows its reads; reading them records that read
    and nothing for the records read."""
    with Stack(daemons=("api", "auditor")) as s:
        admin = s.token(1)
        reader, tok = auditor_user(s, admin, "self")
        mine = f"/data-events?filter[actor]=users:{reader}&filter[action]=viewed&sort=time"
        for k in range(1, 4):
            status, _, doc = s.auditor("GET", mine + "&page[size]=100", token=tok)
            assert status == 200, doc
            # The page holds the reads before this one (each waited for).
            seen = [e for e in doc["data"] if e["attributes"].get("eventName") == "audit.query"]
            assert len(seen) == k - 1, (k, seen)
            for e in seen:
                assert changes_of(e) == named(actor=f"users:{reader}", action="viewed",
                                              sort="time", size="100"), e
                assert e["attributes"]["targetId"] == str(reader), e
            settled(reader, k)


def mariadb_root(sql_stdin):
    """A root session of the mariadb client that reads statements from its
    stdin (kept open): the caller writes to it and closes it."""
    args = ["mariadb", "--no-defaults", "-uroot", "--batch", "--unbuffered", AUDITOR_DB]
    if SOCKET:
        args.insert(2, f"--socket={SOCKET}")
    p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    p.stdin.write(sql_stdin)
    p.stdin.flush()
    return p


def test_a_blocked_database_does_not_hold_reads_and_a_full_queue_refuses():
    """With the log's writes blocked (a root session holds log_appends
    locked), reads are answered at once while their records wait; with 3
    waiting the next is refused with 503, and none of the refused is ever
    stored; once the lock goes, the 3 are stored and reads are answered
    again."""
    with Stack(daemons=("api", "auditor"),
               extra_env={"AUDITLOG_READS_QUEUE": "3", "AUDITLOG_READS_LINGER_MS": "20"}) as s:
        admin = s.token(1)
        reader, tok = auditor_user(s, admin, "blocked")
        path = f"/data-events?filter[target]=users:{reader}&page[size]=1"
        assert s.auditor("GET", path, token=tok)[0] == 200
        settled(reader, 1)
        lock = mariadb_root("LOCK TABLES log_appends WRITE;\nSELECT 'locked';\n")
        try:
            assert lock.stdout.readline().strip() == "locked", lock.stderr.read()
            took = []
            for _ in range(3):
                t0 = time.monotonic()
                status, _, doc = s.auditor("GET", path, token=tok)
                took.append(time.monotonic() - t0)
                assert status == 200, doc
                time.sleep(0.1)  # the recorder takes it, and waits on the lock
            # Not one of them waited for the store (it is blocked for good).
            assert max(took) < 1.0, took
            for _ in range(2):
                status, hdrs, doc = s.auditor("GET", path, token=tok)
                assert status == 503, (status, doc)
                e = error_of(doc)
                assert e["status"] == "503" and "recorded" in e["detail"], e
            # Nothing of the three is stored while the lock holds.
            time.sleep(0.3)
            assert len(records_in_db(reader)) == 1
        finally:
            lock.stdin.write("UNLOCK TABLES;\n")
            lock.stdin.close()
            lock.wait(timeout=10)
        settled(reader, 4)
        assert s.auditor("GET", path, token=tok)[0] == 200
        settled(reader, 5)


def test_records_survive_a_stop():
    """Records still queued when the auditor stops are stored at the stop."""
    with Stack(daemons=("api", "auditor"),
               extra_env={"AUDITLOG_READS_LINGER_MS": "600000"}) as s:
        admin = s.token(1)
        reader, tok = auditor_user(s, admin, "stop")
        for k in range(3):
            assert s.auditor("GET", f"/data-events?filter[actor]=users:{reader}&page[size]={k + 1}",
                             token=tok)[0] == 200
        time.sleep(0.5)
        assert records_in_db(reader) == []  # lingering: 10 minutes
        assert s.stop("auditor") == 0
        got = records_in_db(reader)
        assert [g[1] for g in got] == ["audit.query"] * 3, got
        s.start("auditor")
        served = records(s, reader, admin)
        assert [changes_of(e)["read.size"]["next"] for e in served] == ["1", "2", "3"], served


if __name__ == "__main__":
    run([test_each_kind_of_read_is_one_event, test_who_looked_at_a_person,
         test_reading_ones_own_reads,
         test_a_blocked_database_does_not_hold_reads_and_a_full_queue_refuses,
         test_records_survive_a_stop])
