"""The auditor's private MariaDB for the browser test, driven over stdin and
stdout by tests/e2e/stack.mjs (Stack.start({privateAuditorDb: true})), so
that a Node test can be root on the auditor's database and tamper with the
stored log as the tampering suite does.

It makes the server at once (tests/faults/auditor_db.AuditorDB: install,
start, provision, migrate) and prints one JSON line, {"env": {...}, "dir":
..., "port": ...}, env being what the auditor needs to use it; or
{"error": ...} and exits 1. Then it reads one command a line and answers
each with one JSON line, {"error": "..."} when it fails:

  tamper actor <event-id>  the stored actor id of that event changes
                           (tests/tamper/tampering.actor_changed), its rows
                           saved first: {"ok", "event", "log", "seq",
                           "actor": {"was", "now"}, "pending"}
  undo                     undoes the last change not undone yet, byte for
                           byte: {"ok", "event", "restored": [{"table",
                           "rows", "checksum", "same"}], "pending"}; an error
                           when a table's rows do not have their saved
                           checksum again
  sql <statement>          for diagnostics, as root on the auditor's
                           database: {"rows": [[column, ...], ...]} (text)
  quit                     stops the server, removes its folder: {"ok": true}

The server is stopped and its folder removed however this ends: quit, stdin
closed (the Node side died), SIGTERM, SIGINT or SIGHUP. Its own messages go
to stderr.
"""
import json
import os
import re
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
for sub in ("integration", "faults", "tamper"):
    sys.path.insert(0, os.path.join(HERE, "..", sub))

from auditor_db import AuditorDB, sql_id_value  # noqa: E402
from tampering import StoredLog, actor_changed  # noqa: E402

SRC = os.environ.get("AUDITLOG_SOURCE_DIR", os.path.join(HERE, "..", ".."))
SQL_TIMEOUT = 60  # seconds: a command answers an error, never hangs
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class Stop(BaseException):
    """A signal asked us to stop (not an Exception: no command catches it)."""


def on_signal(signum, _frame):
    raise Stop(signal.Signals(signum).name)


def reply(doc):
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


def log(msg):
    print(f"auditor_db_ctl: {msg}", file=sys.stderr, flush=True)


class Control:
    def __init__(self, stored):
        self.log = stored
        self.undos = []  # (event id, undo) of the changes not undone yet, oldest first

    def tamper_actor(self, event_id):
        event_id = event_id.lower()
        if not UUID.match(event_id):
            raise ValueError(f"not an event id (a UUID): {event_id!r}")
        where = f"event_id = {sql_id_value(event_id)}"
        row = self.log.sql(f"SELECT log_id, seq, actor_id FROM data_events WHERE {where};")
        if not row.strip():
            raise ValueError(f"no stored event {event_id}")
        log_id, seq, was = row.rstrip("\n").split("\t")
        now = "mallory" if was != "mallory" else "mallet"
        self.undos.append((event_id, self.log.tamper(*actor_changed(where, now))))
        return {"ok": True, "event": event_id, "log": int(log_id), "seq": int(seq),
                "actor": {"was": was, "now": now}, "pending": len(self.undos)}

    def undo(self):
        if not self.undos:
            raise ValueError("nothing to undo")
        event_id, undo = self.undos.pop()
        restored = undo()
        bad = [r["table"] for r in restored if not r["same"]]
        if bad:
            raise RuntimeError(f"undoing the change of {event_id}: the rows of {', '.join(bad)} "
                               f"do not have their saved checksum: {restored}")
        return {"ok": True, "event": event_id, "restored": restored, "pending": len(self.undos)}

    def sql(self, statement):
        out = self.log.sql(statement)
        return {"rows": [line.split("\t") for line in out.split("\n") if line]}

    def handle(self, line):
        """The answer to one command line."""
        verb, _, rest = line.strip().partition(" ")
        rest = rest.strip()
        if verb == "tamper":
            what, _, arg = rest.partition(" ")
            if what != "actor":
                raise ValueError(f"tamper what? {what!r} (known: actor)")
            return self.tamper_actor(arg.strip())
        if verb == "undo" and not rest:
            return self.undo()
        if verb == "sql" and rest:
            return self.sql(rest)
        raise ValueError(f"unknown command {line.strip()!r} (tamper actor <event-id>, undo, "
                         "sql <statement>, quit)")


def serve(control):
    """Answers commands until quit (returns True) or the end of stdin."""
    for line in iter(sys.stdin.readline, ""):
        if not line.strip():
            continue
        if line.strip() == "quit":
            return True
        try:
            answer = control.handle(line)
        except ValueError as e:  # the command's fault
            answer = {"error": str(e)}
        except Exception as e:  # noqa: BLE001 - any failure is an answer, not our end
            answer = {"error": f"{type(e).__name__}: {e}"}
        reply(answer)
    log("stdin closed: stopping")
    return False


def main():
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    db = AuditorDB(SRC)
    quitting, status = False, 0
    try:
        try:
            db.create()
            stored = StoredLog(db, timeout=SQL_TIMEOUT)
            stored.prepare()
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            reply({"error": f"could not make the auditor's MariaDB: {e}"})
            return 1
        log(f"mariadbd pid {db.proc.pid} on port {db.port}, folder {db.dir}")
        reply({"env": db.env(), "dir": db.dir, "port": db.port})
        quitting = serve(Control(stored))
    except Stop as e:
        log(f"{e}: stopping")
        status = 1
    finally:
        # Not interrupted while stopping the server (by a second SIGTERM).
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        db.close()
    if quitting:
        reply({"ok": True})
    return status


if __name__ == "__main__":
    sys.exit(main())
