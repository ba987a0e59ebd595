"""A private MariaDB for the auditor only, in a temporary folder, so that a
fault can stop and start it without touching the shared test server the API
uses. Created once per suite; stopped and removed by close()."""
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
MAINTAINER = "auditor_maintainer"
MAINTAINER_PASSWORD = "auditor_maintainer"


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
        # Databases, users, migrations and grants as ./run.sh makes them
        # (scripts/dbsetup.sh: the maintainer of retention included), so
        # the faults run against the rights production has. The API's
        # database made beside it stays empty: the API uses the shared
        # test server.
        script = r"""
set -euo pipefail
info() { :; }
die() { echo "$*" >&2; exit 1; }
db_admin() { "$MARIADB" --no-defaults -uroot --socket="$SOCK" --batch --skip-column-names "$@"; }
db_migrator() { local db=$1; shift; db_admin "$@" "$db"; }
source "$SRC/scripts/dbsetup.sh"
db_provision audit-logging-api-unused "$DB"
migrate_database "$DB" "$SRC/sql/auditor"
db_grant_auditor_users "$DB"
"""
        env = dict(os.environ, MARIADB=_find("mariadb"), SOCK=self.socket,
                   SRC=self.source_dir, DB=DB_NAME, **self.env(),
                   AUDITLOG_MYSQL_USER="api_unused", AUDITLOG_MYSQL_PASSWORD="api_unused")
        r = subprocess.run(["bash", "-c", script], env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode:
            raise RuntimeError("provisioning the auditor's server failed: " +
                               r.stdout.decode(errors="replace")[-2000:])

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
                "AUDITLOG_AUDITOR_MAINTAINER_USER": MAINTAINER,
                "AUDITLOG_AUDITOR_MAINTAINER_PASSWORD": MAINTAINER_PASSWORD,
                "AUDITLOG_AUDITOR_DB": DB_NAME}

    def _tail(self, name, n=30):
        try:
            with open(os.path.join(self.dir, name), "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""
