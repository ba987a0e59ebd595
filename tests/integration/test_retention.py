"""Growth and retention (README "Growth and retention", sql/auditor/0015,
services/auditor/retention.h): the event tables' monthly partitions, split
off ahead of time by the auditor's maintenance thread as its own MariaDB
user; the day rows are stored under, monotonic along each log; queries still
reading one index range.

On a database of its own, made, migrated and granted here by
scripts/dbsetup.sh's own functions as MariaDB's administrator (a shifted
clock needs a log that starts empty) and dropped at the end. Needs the
administrator's socket that ./run.sh exports as MYSQL_UNIX_PORT; skipped (77)
without it."""
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from harness import BIN, SRC, Stack, error_of, http, run, wait_for
from test_ledger import canonical_view, checkpoint, parse_checkpoint, verify_inclusion
from test_store_race import SOCKET, root_sql

BASE_DB = os.environ.get("AUDITLOG_AUDITOR_DB", "audit-logging-auditor")
DB = f"{BASE_DB}-ret-{os.getpid()}"[:64]
SKIP = 77
DAY_MS = 86400000
SHIFT = -400  # days: the first events go about 13 months back
MAINTAINER = os.environ.get("AUDITLOG_AUDITOR_MAINTAINER_USER", "auditor_maintainer")
RETAINED = tempfile.mkdtemp(prefix="auditlog-retained-")
# What the first test stored, for the second: the users of each clock.
STATE = {}


def rows(sql):
    return [line.split("\t") for line in root_sql(sql, DB).splitlines()]


def make_db():
    """The database as ./run.sh makes one: scripts/dbsetup.sh's migrations
    and grants (the maintainer's included), through its own functions."""
    script = f"""
set -euo pipefail
source "{SRC}/scripts/dbsetup.sh"
info() {{ :; }}
die() {{ echo "$*" >&2; exit 1; }}
db_admin() {{ mariadb --no-defaults --socket="$MYSQL_UNIX_PORT" -uroot --batch --skip-column-names "$@"; }}
db_migrator() {{ db_admin "${{@:2}}" "$1"; }}
db_admin -e "CREATE DATABASE \\`{DB}\\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
migrate_database "{DB}" "{SRC}/sql/auditor"
db_grant_auditor_users "{DB}"
"""
    env = dict(os.environ)
    env.setdefault("AUDITLOG_AUDITOR_MYSQL_USER", "auditor")
    env.setdefault("AUDITLOG_AUDITOR_READER_USER", "auditor_reader")
    env.setdefault("AUDITLOG_AUDITOR_ERASER_USER", "auditor_eraser")
    r = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, (r.stdout, r.stderr)


def month_of(day):
    t = time.gmtime(day * 86400)
    return t.tm_year * 12 + t.tm_mon - 1


def part_name(month):
    return f"p{month // 12:04d}{month % 12 + 1:02d}"


def partitions(table="data_events"):
    return [r[0] for r in rows(
        "SELECT PARTITION_NAME FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = DATABASE() "
        f"AND TABLE_NAME = '{table}' ORDER BY PARTITION_ORDINAL_POSITION")]


def today():
    return int(time.time() * 1000) // DAY_MS


def store_views(s, tok, n):
    """n views of a fresh user, once stored; returns the user's id."""
    uid = s.new_user(tok, "retention")
    for _ in range(n):
        status, _, _ = s.api("GET", f"/api/users/{uid}", token=tok)
        assert status == 200
    wait_for(lambda: len(s.events(f"/data-events?filter[target]=users:{uid}", tok)) >= n + 1,
             what=f"{n + 1} events of user {uid}")
    return uid


def stack(extra):
    env = {"AUDITLOG_AUDITOR_DB": DB, "AUDITLOG_MAINTENANCE_MS": "300",
           "AUDITLOG_CHECKPOINT_MS": "100"}
    env.update(extra)
    return Stack(daemons=("api", "auditor"), daemon_env={"auditor": env})


def test_months_split_off_and_days_grow():
    now = month_of(today())
    back = month_of(today() + SHIFT)
    # The auditor's clock 400 days back: the months from then on are split
    # off pmax, ahead of the rows.
    with stack({"AUDITLOG_TEST_DAY_SHIFT": str(SHIFT)}) as s:
        want = [part_name(m) for m in range(back, back + 4)] + ["pmax"]
        for table in ("data_events", "data_event_changes", "data_event_values",
                      "data_event_mutations"):
            wait_for(lambda: partitions(table) == want, timeout=15,
                     what=f"{table}'s months {want} (has {partitions(table)})")
        tok = s.token(1)
        old_user = store_views(s, tok, 3)
        old = rows("SELECT DISTINCT stored_day FROM data_events")
        assert old == [[str(today() + SHIFT)]], old
        counted = rows(f"SELECT COUNT(*) FROM data_events PARTITION ({part_name(back)})")
        assert int(counted[0][0]) >= 4, counted
        # Every event's id is in data_event_ids, at its position.
        odd = rows("SELECT COUNT(*), SUM(i.event_id IS NULL OR i.log_id <> e.log_id OR "
                   "i.seq <> e.seq) FROM data_events e LEFT JOIN data_event_ids i USING (event_id)")
        assert int(odd[0][0]) >= 4 and odd[0][1] == "0", odd
        days = rows("SELECT DISTINCT stored_day FROM log_appends")
        assert days == [[str(today() + SHIFT)]], days

    # The clock back to today: the months up to 3 ahead of it are split
    # off, and new rows go to this month.
    with stack({}) as s:
        want = [part_name(m) for m in range(back, now + 4)] + ["pmax"]
        wait_for(lambda: partitions() == want, timeout=15,
                 what=f"the months up to 3 ahead ({partitions()})")
        tok = s.token(1)
        new_user = store_views(s, tok, 2)
        counted = rows(f"SELECT COUNT(*) FROM data_events PARTITION ({part_name(now)})")
        assert int(counted[0][0]) >= 3, counted
        assert rows("SELECT COUNT(*) FROM data_events PARTITION (pmax)") == [["0"]]
        # Days never go down along the log's positions.
        seq_days = [(int(a), int(b)) for a, b in rows(
            "SELECT first_seq, stored_day FROM log_appends WHERE log_id = 0 ORDER BY first_seq")]
        assert [d for _, d in seq_days] == sorted(d for _, d in seq_days), seq_days
        assert seq_days[-1][1] == today(), seq_days

        # A target's history and an actor's events read one index range, in
        # every month (no month is skipped: the key is not in the filter).
        for sql in (f"SELECT event_id FROM data_events WHERE target_type = 'users' AND "
                    f"target_id = '{new_user}' ORDER BY target_version DESC, occurred_at DESC, "
                    "event_id DESC LIMIT 50",
                    "SELECT event_id FROM data_events WHERE actor_type = 'users' AND "
                    "actor_id = '1' AND action = 'viewed' ORDER BY occurred_at DESC, event_id "
                    "DESC LIMIT 50"):
            plan = root_sql("EXPLAIN PARTITIONS " + sql, DB).strip().split("\t")
            print("EXPLAIN PARTITIONS", sql, "->", plan)
            key = plan[6]
            assert key in ("data_events_target", "data_events_actor"), plan
        STATE.update(old_user=old_user, new_user=new_user, tok=tok)


def grant_drop(on):
    for host in ("%", "localhost"):
        verb, prep = ("GRANT", "TO") if on else ("REVOKE", "FROM")
        root_sql(f"{verb} DROP ON `{DB}`.data_events {prep} '{MAINTAINER}'@'{host}';")


def test_retention_exports_records_and_drops():
    """Retention of 3 months: the month 13 months back is exported (one
    bundle per log), recorded, and dropped; a refused DROP (as a crash
    between the record and the drop) loses nothing and exports nothing
    twice; kept events still prove; /verify passes naming the retained
    range; a dropped event answers 410 naming its bundle."""
    back = month_of(today() + SHIFT)
    old_user, new_user = STATE["old_user"], STATE["new_user"]
    grant_drop(False)  # the drop fails after the export and the record
    try:
        with stack({"AUDITLOG_RETENTION_MONTHS": "3", "AUDITLOG_RETENTION_DIR": RETAINED,
                    "AUDITLOG_CHECK_GRACE_MS": "0", "AUDITLOG_CHECK_MS": "50"}) as s:
            tok = s.token(1)
            old = s.events(f"/data-events?filter[target]=users:{old_user}", tok)
            kept = s.events(f"/data-events?filter[target]=users:{new_user}", tok)
            assert len(old) >= 4 and len(kept) >= 3, (old, kept)
            recorded = wait_for(lambda: rows("SELECT log_id, first_seq, end_seq, bundle, "
                                             "LOWER(HEX(sha256)) FROM log_retained"),
                                timeout=15, what="a log_retained row")
            assert len(recorded) == 1, recorded
            log, first, end, name, sha = recorded[0]
            first, end = int(first), int(end)
            assert (log, first) == ("0", 0) and end > max(e["attributes"]["seq"] for e in old), \
                (recorded, old)
            assert end <= min(e["attributes"]["seq"] for e in kept), (recorded, kept)
            path = os.path.join(RETAINED, name)
            mtime = os.stat(path).st_mtime_ns
            assert hashlib.sha256(open(path, "rb").read()).hexdigest() == sha
            time.sleep(1)  # a few rounds, each refused its DROP
            assert part_name(back) in partitions(), partitions()
            assert rows("SELECT COUNT(*) FROM log_retained") == [["1"]]
            assert os.stat(path).st_mtime_ns == mtime, "the bundle was written again"
            assert not [f for f in os.listdir(RETAINED) if f.endswith(".tmp")]

            grant_drop(True)
            for table in ("data_events", "data_event_changes", "data_event_values",
                          "data_event_mutations"):
                wait_for(lambda: partitions(table)[0] == part_name(month_of(today()) - 3),
                         timeout=15, what=f"{table}'s months up to 4 back dropped "
                                          f"({partitions(table)})")
            assert rows("SELECT COUNT(*) FROM log_retained") == [["1"]]
            assert os.stat(path).st_mtime_ns == mtime, "the bundle was written again"
            assert rows(f"SELECT COUNT(*) FROM data_events WHERE seq < {end}") == [["0"]]
            assert rows(f"SELECT COUNT(*) FROM data_event_ids WHERE seq < {end}") != [["0"]]

            # The bundle verifies with the log's key.
            status, _, vkey = http("GET", s.url("auditor", "/.well-known/auditlog-vkey"))
            assert status == 200
            vfile = os.path.join(RETAINED, "vkey")
            open(vfile, "wb").write(vkey)
            r = subprocess.run([os.path.join(BIN, "auditlog-verify"), path, "--vkey", vfile],
                               capture_output=True, text=True)
            assert r.returncode == 0, (r.stdout, r.stderr)
            lines = open(path, "rb").read().splitlines()
            header = json.loads(lines[0])
            assert (header["from"], header["to"], len(lines) - 1) == (0, end, end), header
            assert {json.loads(x)["id"] for x in lines[1:]} >= {e["id"] for e in old}

            # A kept event's inclusion proof verifies.
            view = next(e for e in kept if e["attributes"]["action"] == "viewed")
            note = checkpoint(s, view["attributes"]["seq"] + 1)
            _, size, root = parse_checkpoint(note)
            status, _, body = s.request("auditor", "GET", f"/data-events/{view['id']}/proof"
                                        f"?size={size}", token=tok, raw=True)
            assert status == 200, (status, body)
            proof = [base64.b64decode(x) for x in body.decode().split("\n\n")[0].split("\n")[2:]]
            leaf = hashlib.sha256(b"\x00" + canonical_view(view["attributes"], view["id"])).digest()
            assert verify_inclusion(view["attributes"]["seq"], size, leaf, proof, root)

            # /verify passes, naming the retained range and its bundle.
            status, _, doc = s.auditor("GET", "/verify?log=0", token=tok)
            assert status == 200, (status, doc)
            a = doc["data"]["attributes"]
            assert a["retained"] == end and a["bundles"] == [
                {"from": 0, "to": end, "bundle": name, "sha256": sha}], a
            status, _, doc = s.auditor("GET", "/verify", token=tok)
            assert status == 200, (status, doc)
            # ... and still holds the retained positions' leaf hashes to the
            # checkpoints: one bit of the first changed is found.
            kept_hex = rows("SELECT HEX(leaf_hashes) FROM log_appends WHERE log_id = 0 AND "
                            "first_seq = 0")[0][0]
            root_sql("UPDATE log_appends SET leaf_hashes = CONCAT(UNHEX(LPAD(HEX(ASCII("
                     "leaf_hashes) ^ 1), 2, '0')), SUBSTRING(leaf_hashes, 2)) WHERE log_id = 0 "
                     "AND first_seq = 0", DB)
            try:
                status, _, doc = s.auditor("GET", "/verify?log=0", token=tok)
                assert status == 409 and error_of(doc)["meta"]["reason"] == \
                    "checkpoint-mismatch", (status, doc)
            finally:
                root_sql(f"UPDATE log_appends SET leaf_hashes = UNHEX('{kept_hex}') WHERE "
                         "log_id = 0 AND first_seq = 0", DB)
            status, _, doc = s.auditor("GET", "/verify?log=0", token=tok)
            assert status == 200, (status, doc)

            # A dropped event: 410, naming its bundle.
            gone = old[0]["id"]
            for path_ in (f"/data-events/{gone}/proof", f"/data-events/{gone}/leaf"):
                status, _, doc = s.auditor("GET", path_, token=tok)
                assert status == 410 and name in error_of(doc)["detail"], (path_, status, doc)
            status, _, doc = s.auditor("GET", "/export?log=0&from=0", token=tok)
            assert status == 410 and name in error_of(doc)["detail"], (status, doc)
            status, _, bundle = s.request("auditor", "GET", "/export?log=0", token=tok, raw=True)
            assert status == 200, (status, bundle[:300])
            assert json.loads(bundle.splitlines()[0])["from"] == end
            # Every log's bundle too, each log from its first kept position.
            status, _, bundle = s.request("auditor", "GET", "/export", token=tok, raw=True)
            assert status == 200, (status, bundle[:300])
            every = os.path.join(RETAINED, "every-log.ndjson")
            open(every, "wb").write(bundle)
            r = subprocess.run([os.path.join(BIN, "auditlog-verify"), every, "--vkey", vfile],
                               capture_output=True, text=True)
            assert r.returncode == 0, (r.stdout, r.stderr)

            # The old user's version 1 left with its month; its version 2
            # is no gap for the checker.
            assert rows("SELECT top FROM data_event_retained_versions WHERE target_type = "
                        f"'users' AND target_id = '{old_user}'") == [["2"]]
            status, _, doc = s.api("PATCH", f"/api/users/{old_user}", token=tok, body={
                "data": {"type": "users", "id": old_user, "attributes": {"name": "Kept"}}})
            assert status == 200, doc
            change = wait_for(lambda: [e for e in s.events(
                f"/data-events?filter[target]=users:{old_user}&filter[action]=changed", tok)],
                what="the change stored")[0]
            assert change["attributes"]["targetVersion"] == 2, change
            wait_for(lambda: int((rows("SELECT checked_to FROM log_checked WHERE log_id = 0")
                                  or [["0"]])[0][0]) > change["attributes"]["seq"],
                     what="the checker past the change")
            assert rows("SELECT flag, detail FROM data_event_flags WHERE target_type = 'users' "
                        f"AND target_id = '{old_user}'") == []
    finally:
        grant_drop(True)


def main():
    if not SOCKET:
        print("no MYSQL_UNIX_PORT: skipped")
        sys.exit(SKIP)
    make_db()
    try:
        run([test_months_split_off_and_days_grow, test_retention_exports_records_and_drops])
    finally:
        root_sql(f"DROP DATABASE IF EXISTS `{DB}`", check=False)
        shutil.rmtree(RETAINED, ignore_errors=True)


if __name__ == "__main__":
    main()
