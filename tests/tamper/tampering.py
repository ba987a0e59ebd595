"""Changing the auditor's stored log as the MariaDB administrator, not
through our code, so that a check can be shown to see the change: used by
the tampering suite (tamper_suite.py) and by the browser test's database
(tests/e2e/auditor_db_ctl.py). The server is a private one
(tests/faults/auditor_db.AuditorDB) on which the caller is root.

Every change first copies the rows it will touch into a scratch database,
so that its undo can put them back byte for byte; changes may be stacked
and are undone last first.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "faults"))

from auditor_db import DB_NAME  # noqa: E402

# The log and the indexes the writer keeps beside it (not the checker's
# bookmark, log_checked, which moves on its own).
TABLES = ("data_events", "data_event_changes", "data_event_values", "log_appends", "log_nodes",
          "log_checkpoints", "data_event_mutations", "data_event_flags",
          "data_event_version_spans")
SCRATCH = "tamper_scratch"  # a database of the private server: rows saved for undoing


class StoredLog:
    """The auditor's database on db (an AuditorDB), as its administrator.
    timeout (seconds, or None) bounds each SQL call."""

    def __init__(self, db, timeout=None):
        self.db = db
        self.timeout = timeout
        self.copies = 0  # scratch tables made so far: their names never repeat

    def prepare(self):
        """Makes the scratch database (once per server)."""
        self.db.root_sql(f"CREATE DATABASE IF NOT EXISTS {SCRATCH};", timeout=self.timeout)

    def sql(self, text):
        return self.db.root_sql(text, database=DB_NAME, timeout=self.timeout)

    def scalar(self, text):
        out = self.sql(text).strip()
        return out.split("\n")[0] if out else ""

    def checksum(self, tables=TABLES):
        out = self.sql("CHECKSUM TABLE " + ", ".join(tables) + ";")
        return tuple(line.split("\t")[1] for line in out.strip().split("\n"))

    def tamper(self, saves, change):
        """Changes the stored log: first copies the rows of each (table,
        where) in saves to the scratch database, then runs the SQL change.
        Returns the undo: for each saved table, last saved first, it deletes
        what where matches then (changed or added rows) and puts the copy
        back, so the tables return byte for byte. The undo returns, per
        table, the rows put back and whether the rows where matches after it
        have the copy's checksum ({"table", "rows", "checksum", "same"})."""
        copies = []
        for table, where in saves:
            copy = f"{SCRATCH}.saved{self.copies}"
            self.copies += 1
            self.sql(f"DROP TABLE IF EXISTS {copy}; "
                     f"CREATE TABLE {copy} AS SELECT * FROM {table} WHERE {where};")
            copies.append((copy, table, where))
        self.sql(change)

        def undo():
            restored = []
            for copy, table, where in reversed(copies):
                back = f"{copy}_back"
                out = self.sql(f"DELETE FROM {table} WHERE {where}; "
                               f"INSERT INTO {table} SELECT * FROM {copy}; "
                               f"CREATE TABLE {back} AS SELECT * FROM {table} WHERE {where}; "
                               f"SELECT COUNT(*) FROM {copy}; CHECKSUM TABLE {copy}, {back}; "
                               f"DROP TABLE {copy}, {back};")
                rows, saved, now = out.strip().split("\n")
                saved, now = saved.split("\t")[1], now.split("\t")[1]
                restored.append({"table": table, "rows": int(rows), "checksum": now,
                                 "same": saved == now})
            return restored
        return undo


def trace_changed(where, trace):
    """(saves, change) of the cases on an event's traceId (README
    "Tracing"): the stored trace-id of the events where selects becomes
    trace (32 hex digits), or none when trace is None. The trace is part of
    the leaf: GET /verify answers 409 hash-mismatch at its position."""
    value = f"UNHEX('{trace}')" if trace else "NULL"
    return [("data_events", where)], \
        f"UPDATE data_events SET trace_id = {value} WHERE {where};"


def actor_changed(where, actor="mallory"):
    """(saves, change) of the case "actor id changed": the stored actor of
    the events where selects becomes actor. The row no longer gives its
    leaf hash: GET /verify answers 409 hash-mismatch at its position."""
    return [("data_events", where)], \
        f"UPDATE data_events SET actor_id = '{actor}' WHERE {where};"
