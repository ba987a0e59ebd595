"""A private MariaDB for the auditor only, in a temporary folder, so that a
fault can stop and start it without touching the shared test server the API
uses. Created once per suite; stopped and removed by close()."""
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time

from harness import free_port

DB_NAME = "audit-logging-auditor"
USER = "auditor"
PASSWORD = "auditor"
READER = "auditor_reader"
READER_PASSWORD = "auditor_reader"
ERASER = "auditor_eraser"
ERASER_PASSWORD = "auditor_eraser"


def sql_id(col):
    """The auditor's tables keep event ids as 16 bytes (sql/auditor/0010,
    services/auditor/sql_id.h): col as its text form."""
    return (f"LOWER(INSERT(INSERT(INSERT(INSERT(HEX({col}), 9, 0, '-'), 14, 0, '-'), 19, 0, "
            f"'-'), 24, 0, '-'))")


def sql_id_value(text):
    """An id's text as the tables keep it (text is a UUID: no quoting)."""
    return f"UNHEX(REPLACE('{text}', '-', ''))"


def _find(prog):
    for d in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/sbin", "/usr/bin"]:
        p = os.path.join(d, prog)
        if os.access(p, os.X_OK):
            return p
    raise RuntimeError(f"{prog} not found (is mariadb-server installed?)")


class AuditorDB:
    def __init__(self, source_dir):
        self.source_dir = source_dir
        self.dir = tempfile.mkdtemp(prefix="auditlog-faults-db-")
        self.datadir = os.path.join(self.dir, "data")
        self.socket = os.path.join(self.dir, "mysqld.sock")
        self.pidfile = os.path.join(self.dir, "mysqld.pid")
        self.log = os.path.join(self.dir, "error.log")
        self.port = free_port()
        self.proc = None

    # -- lifecycle ---------------------------------------------------------

    def create(self):
        """install-db, start, provision, migrate."""
        with open(os.path.join(self.dir, "install.log"), "wb") as out:
            r = subprocess.run([_find("mariadb-install-db"), "--no-defaults",
                                f"--datadir={self.datadir}", "--user=root",
                                "--auth-root-authentication-method=normal",
                                "--skip-test-db"],
                               stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if r.returncode:
            raise RuntimeError(f"mariadb-install-db failed ({r.returncode}); see "
                               f"{self.dir}/install.log:\n{self._tail('install.log')}")
        self.start()
        q = "`" + DB_NAME.replace("`", "``") + "`"
        sql = [f"CREATE DATABASE {q} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;"]
        for host in ("%", "localhost"):
            for user, password in ((USER, PASSWORD), (READER, READER_PASSWORD),
                                   (ERASER, ERASER_PASSWORD)):
                sql.append(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY '{password}';")
        self.root_sql("\n".join(sql))
        for f in sorted(glob.glob(os.path.join(self.source_dir, "sql", "auditor", "*.sql"))):
            with open(f, "rb") as fh:
                self.root_sql(fh.read(), database=DB_NAME)
        # As ./run.sh grants them: the writer INSERT and SELECT (and UPDATE
        # on the checker's bookmark and the version spans), the reader
        # SELECT, the eraser SELECT and DELETE on data_event_values.
        grants = []
        for host in ("%", "localhost"):
            for table in ("data_events", "data_event_changes", "data_event_values",
                          "log_appends", "log_nodes", "log_checkpoints", "data_event_mutations",
                          "data_event_flags", "log_checked", "data_event_version_spans",
                          "log_leases", "data_event_ids"):
                grants.append(f"GRANT SELECT, INSERT ON {q}.{table} TO '{USER}'@'{host}';")
                grants.append(f"GRANT SELECT ON {q}.{table} TO '{READER}'@'{host}';")
                grants.append(f"GRANT SELECT ON {q}.{table} TO '{ERASER}'@'{host}';")
            # Retention's record (sql/auditor/0015): only the maintainer
            # writes it; everyone reads it.
            for user in (USER, READER, ERASER):
                for table in ("log_retained", "data_event_retained_versions"):
                    grants.append(f"GRANT SELECT ON {q}.{table} TO '{user}'@'{host}';")
            grants.append(f"GRANT DELETE ON {q}.data_event_values TO '{ERASER}'@'{host}';")
            grants.append(f"GRANT UPDATE ON {q}.log_checked TO '{USER}'@'{host}';")
            grants.append(f"GRANT UPDATE ON {q}.data_event_version_spans TO '{USER}'@'{host}';")
        self.root_sql("\n".join(grants))

    def start(self, timeout=30):
        log = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [_find("mariadbd"), "--no-defaults", f"--datadir={self.datadir}",
             f"--socket={self.socket}", f"--port={self.port}", "--bind-address=127.0.0.1",
             "--user=root", f"--pid-file={self.pidfile}", f"--log-error={self.log}",
             "--skip-name-resolve", "--character-set-server=utf8mb4",
             "--collation-server=utf8mb4_bin", "--innodb-buffer-pool-size=64M"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the auditor's mariadbd exited with {self.proc.returncode}:"
                                   f"\n{self._tail('error.log')}")
            if self.ping():
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the auditor's mariadbd did not answer within {timeout}s:"
                                   f"\n{self._tail('error.log')}")
            time.sleep(0.1)

    def ping(self):
        return subprocess.run([_find("mariadb-admin"), "--no-defaults", f"--socket={self.socket}",
                               "-uroot", "ping"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=60):
        """Clean shutdown; returns once the server process is gone."""
        if not self.running():
            return
        subprocess.run([_find("mariadb-admin"), "--no-defaults", f"--socket={self.socket}",
                        "-uroot", "shutdown"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=timeout)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def close(self):
        try:
            self.stop()
        finally:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- helpers -----------------------------------------------------------

    def root_sql(self, sql, database=None, timeout=None):
        """Runs sql as root; returns its output (--batch). timeout (seconds)
        raises subprocess.TimeoutExpired when the client takes longer."""
        args = [_find("mariadb"), "--no-defaults", f"--socket={self.socket}", "-uroot",
                "--batch", "--skip-column-names"]
        if database:
            args.append(database)
        r = subprocess.run(args, input=sql.encode() if isinstance(sql, str) else sql,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        if r.returncode:
            raise RuntimeError(f"mariadb (auditor's server) failed: {r.stderr.decode()}")
        return r.stdout.decode()

    def env(self):
        """What the auditor needs to use this server."""
        return {"AUDITLOG_MYSQL_HOST": "127.0.0.1", "AUDITLOG_MYSQL_PORT": str(self.port),
                "AUDITLOG_MYSQL_SOCKET": "", "AUDITLOG_AUDITOR_MYSQL_USER": USER,
                "AUDITLOG_AUDITOR_MYSQL_PASSWORD": PASSWORD,
                "AUDITLOG_AUDITOR_READER_USER": READER,
                "AUDITLOG_AUDITOR_READER_PASSWORD": READER_PASSWORD,
                "AUDITLOG_AUDITOR_ERASER_USER": ERASER,
                "AUDITLOG_AUDITOR_ERASER_PASSWORD": ERASER_PASSWORD,
                "AUDITLOG_AUDITOR_DB": DB_NAME}

    def _tail(self, name, n=30):
        try:
            with open(os.path.join(self.dir, name), "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""
