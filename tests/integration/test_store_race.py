"""The auditor's store under concurrent, overlapping batches: runs
tests/tools/store_race.c (the store_race binary) on a database of its own,
made, migrated and granted here as MariaDB's administrator and dropped at
the end. Its own, because the ledger is its log's single writer: an auditor
of another test on the shared test database would halt on rows it did not
write (and so would the binary).

store_race checks, after several threads stored the same events at the same
time: positions gap-free and unique from the log's size before the run, each
event once with its change and value rows, the interior hashes complete, and
that the ledger reopens on the stored tree (docs/ledger.md). Needs the
administrator's socket that ./run.sh exports as MYSQL_UNIX_PORT; without it
the test is skipped (exit 77)."""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

from harness import BIN, SRC, run

SOCKET = os.environ.get("MYSQL_UNIX_PORT", "")
WRITER = os.environ.get("AUDITLOG_AUDITOR_MYSQL_USER", "auditor")
BASE_DB = os.environ.get("AUDITLOG_AUDITOR_DB", "audit-logging-auditor")
TABLES = ("data_events", "data_event_changes", "data_event_values", "log_appends", "log_nodes",
          "log_checkpoints", "data_event_mutations", "data_event_flags", "log_checked",
          "data_event_version_spans", "log_leases", "data_event_ids")
# What the writer may UPDATE (scripts/dbsetup.sh db_grant_auditor_users).
UPDATED = ("log_checked", "data_event_version_spans")
SKIP = 77


def ident(name):
    return "`" + name.replace("`", "``") + "`"


def literal(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "''") + "'"


def root_sql(sql, database=None, check=True):
    """sql as the administrator; with check=False, every statement is tried
    and errors are ignored (for clean-up)."""
    args = ["mariadb", "--no-defaults", f"--socket={SOCKET}", "-uroot", "--batch",
            "--skip-column-names"]
    if not check:
        args.append("--force")
    if database:
        args.append(database)
    r = subprocess.run(args, input=sql.encode(), capture_output=True, timeout=120)
    if r.returncode and check:
        raise AssertionError(f"mariadb as root failed: {r.stderr.decode(errors='replace')}")
    return r.stdout.decode()


class RaceDB:
    """A fresh audit log database as ./run.sh makes one: the auditor's
    migrations, and the writer's grants (INSERT and SELECT on the log's
    tables, scripts/dbsetup.sh). Its own log key in a temporary folder, so
    its checkpoints verify across the runs made on it."""

    def __init__(self):
        name = f"{BASE_DB}-race-{os.getpid()}-{len(_made)}"
        self.name = name if len(name) <= 64 else f"auditlog-race-{os.getpid()}-{len(_made)}"
        self.dir = tempfile.mkdtemp(prefix="auditlog-store-race-")

    def __enter__(self):
        _made.append(self)
        db = ident(self.name)
        root_sql(f"CREATE DATABASE {db} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;")
        for f in sorted(glob.glob(os.path.join(SRC, "sql", "auditor", "*.sql"))):
            with open(f, encoding="utf-8") as fh:
                root_sql(fh.read(), database=self.name)
        root_sql("\n".join(f"GRANT SELECT, INSERT ON {db}.{t} TO {literal(WRITER)}@{host};"
                           for t in TABLES for host in ("'%'", "'localhost'")))
        root_sql("\n".join(f"GRANT UPDATE ON {db}.{t} TO {literal(WRITER)}@{host};"
                           for t in UPDATED for host in ("'%'", "'localhost'")))
        return self

    def __exit__(self, *exc):
        self.drop()
        return False

    def drop(self):
        if self not in _made:
            return
        _made.remove(self)
        db = ident(self.name)
        # Table grants outlive DROP DATABASE: revoke them first.
        root_sql("\n".join(f"REVOKE SELECT, INSERT ON {db}.{t} FROM {literal(WRITER)}@{host};"
                           for t in TABLES for host in ("'%'", "'localhost'")), check=False)
        root_sql("\n".join(f"REVOKE UPDATE ON {db}.{t} FROM {literal(WRITER)}@{host};"
                           for t in UPDATED for host in ("'%'", "'localhost'")), check=False)
        root_sql(f"DROP DATABASE IF EXISTS {db};")
        shutil.rmtree(self.dir, ignore_errors=True)

    def race(self, *args, timeout=240):
        """Runs store_race on this database; returns (exit status, stdout,
        stderr)."""
        env = dict(os.environ)
        env.update({
            "AUDITLOG_AUDITOR_DB": self.name,
            "AUDITLOG_LOG_KEY": os.path.join(self.dir, "log-signer.key"),
            "AUDITLOG_LOG_ORIGIN": "store-race.localhost",
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=66",
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
        })
        r = subprocess.run([os.path.join(BIN, "store_race"), "--verbose", *args], env=env,
                           capture_output=True, text=True, timeout=timeout, cwd=SRC)
        return r.returncode, r.stdout, r.stderr


_made = []


def report(out, err):
    """The summary line, and the ledger's statistics from the verbose log
    (how long batches waited for earlier ones to commit, and how many of
    those waits failed)."""
    print("  " + out.strip())
    for line in err.splitlines():
        if "appends held the append lock" in line:
            try:  # a JSON log line (log.h), the default
                print("  " + json.loads(line)["msg"])
            except ValueError:
                print("  " + line.split(" info: ", 1)[-1])
            break


def ok(rc, out, err):
    assert rc == 0 and "all checks hold" in out, \
        f"store_race exited with {rc}:\n{out}\n{err[-6000:]}"
    report(out, err)


def test_overlapping_batches_on_an_empty_log():
    with RaceDB() as db:
        ok(*db.race("--threads", "4", "--rounds", "24", "--slice", "24"))


def test_overlapping_batches_after_earlier_events():
    """The log already holds events (21, not a multiple of any stored
    subtree), as the shared databases of other tests do: the positions
    must continue from its size."""
    with RaceDB() as db:
        ok(*db.race("--threads", "1", "--rounds", "3", "--slice", "7"))
        ok(*db.race("--threads", "6", "--rounds", "16", "--slice", "20"))
        ok(*db.race("--threads", "3", "--rounds", "10", "--slice", "1"))


def test_a_log_with_a_gap_fails():
    """The checks can fail: a row taken out of the middle of a stored log
    (as the administrator; nobody else may) fails the next run."""
    with RaceDB() as db:
        ok(*db.race("--threads", "2", "--rounds", "4", "--slice", "10"))
        root_sql("DELETE FROM data_events WHERE log_id = 0 AND seq = 17;", database=db.name)
        rc, out, err = db.race("--threads", "2", "--rounds", "2", "--slice", "5")
        assert rc == 1, (rc, out, err[-4000:])
        assert "before the run, log 0 holds 39 rows at 39 positions but its size is 40" in err, \
            err[-4000:]


if __name__ == "__main__":
    if not SOCKET:
        print("skipped: making a database of its own needs MariaDB's administrator "
              "(./run.sh test exports MYSQL_UNIX_PORT for its private server)")
        sys.exit(SKIP)
    try:
        run([test_overlapping_batches_on_an_empty_log,
             test_overlapping_batches_after_earlier_events,
             test_a_log_with_a_gap_fails])
    finally:
        for d in list(_made):
            d.drop()
