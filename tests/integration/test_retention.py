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
import os
import subprocess
import sys
import time

from harness import SRC, Stack, run, wait_for

SOCKET = os.environ.get("MYSQL_UNIX_PORT", "")
BASE_DB = os.environ.get("AUDITLOG_AUDITOR_DB", "audit-logging-auditor")
DB = f"{BASE_DB}-ret-{os.getpid()}"[:64]
SKIP = 77
DAY_MS = 86400000
SHIFT = -400  # days: the first events go about 13 months back


def root_sql(sql, database=None, check=True):
    args = ["mariadb", "--no-defaults", f"--socket={SOCKET}", "-uroot", "--batch",
            "--skip-column-names"]
    if database:
        args.append(database)
    r = subprocess.run(args, input=sql.encode(), capture_output=True, timeout=120)
    if r.returncode and check:
        raise AssertionError(f"mariadb as root failed: {r.stderr.decode(errors='replace')}")
    return r.stdout.decode()


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
        _ = old_user


def main():
    if not SOCKET:
        print("no MYSQL_UNIX_PORT: skipped")
        sys.exit(SKIP)
    make_db()
    try:
        run([test_months_split_off_and_days_grow])
    finally:
        root_sql(f"DROP DATABASE IF EXISTS `{DB}`", check=False)


if __name__ == "__main__":
    main()
