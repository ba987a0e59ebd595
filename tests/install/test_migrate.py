"""The installed auditlog-migrate on a real MariaDB (README "Deploying"):
installs the build with --prefix into a temporary folder, runs the installed
script as the administrator on two databases and four users of this test's
own (named after AUDITLOG_API_DB, so parallel checkouts do not meet), with
its settings in the units' three files (auditlog.env, api.env, auditor.env
in the installed configuration folder, read by default), and checks that
every migration is applied and recorded once, that the API's database has
no user and nobody a role (the demo's auditor is ./run.sh's alone), that a
second run applies nothing, that each user can do what it must and is
refused what it must not (the writer cannot UPDATE or DELETE the log, the
reader cannot write, the eraser deletes values only, the API's user has no
right on the audit log), that the demo's passwords are refused, and that a
database an older version seeded with the demo's auditor gets a warning.
Drops it all at the end.

Needs the administrator's socket that ./run.sh exports as MYSQL_UNIX_PORT;
without it (an external server) the test is skipped (exit 77).

Usage: test_migrate.py BUILD_DIR SOURCE_DIR"""
import hashlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

from installed import install, run_checks

BUILD, SRC = sys.argv[1:3]
SOCKET = os.environ.get("MYSQL_UNIX_PORT", "")
BASE = os.environ.get("AUDITLOG_API_DB", "audit-logging-api")
TAG = hashlib.sha256(BASE.encode()).hexdigest()[:8]
API_DB = f"{BASE}-migrate"
AUDIT_DB = f"{os.environ.get('AUDITLOG_AUDITOR_DB', 'audit-logging-auditor')}-migrate"
USERS = {role: f"migrate_{role}_{TAG}" for role in ("api", "writer", "reader", "eraser",
                                                        "maintainer")}
PASSWORDS = {role: secrets.token_hex(12) for role in USERS}
SKIP = 77
DENIED = ("ERROR 1142", "ERROR 1044")  # command denied to user; access denied to database


def literal(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "''") + "'"


def ident(name):
    return "`" + name.replace("`", "``") + "`"


def client(user=None, password=None, database=None):
    args = ["mariadb", "--no-defaults", f"--socket={SOCKET}", "--batch", "--skip-column-names"]
    args += [f"-u{user}", f"-p{password}"] if user else ["-uroot"]
    return args + ([database] if database else [])


def sql_as(sql, user=None, password=None, database=None):
    """(exit status, output) of sql run by the mariadb client."""
    r = subprocess.run(client(user, password, database), input=sql, capture_output=True,
                       text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def drop_everything():
    sql = [f"DROP DATABASE IF EXISTS {ident(API_DB)};", f"DROP DATABASE IF EXISTS {ident(AUDIT_DB)};"]
    sql += [f"DROP USER IF EXISTS {literal(u)}@{literal(h)};"
            for u in USERS.values() for h in ("%", "localhost")]
    rc, out = sql_as("\n".join(sql))
    assert rc == 0, out


def write_env(folder, **override):
    """The units' three environment files in folder (contrib/systemd/*.env.example:
    the shared one, the API's, the auditor's), each with what its daemon
    reads; override changes settings. Returns their paths."""
    files = {
        "auditlog": {"AUDITLOG_API_DB": API_DB, "AUDITLOG_AUDITOR_DB": AUDIT_DB},
        "api": {"AUDITLOG_MYSQL_USER": USERS["api"], "AUDITLOG_MYSQL_PASSWORD": PASSWORDS["api"]},
        "auditor": {
            "AUDITLOG_AUDITOR_MYSQL_USER": USERS["writer"],
            "AUDITLOG_AUDITOR_MYSQL_PASSWORD": PASSWORDS["writer"],
            "AUDITLOG_AUDITOR_READER_USER": USERS["reader"],
            "AUDITLOG_AUDITOR_READER_PASSWORD": PASSWORDS["reader"],
            "AUDITLOG_AUDITOR_ERASER_USER": USERS["eraser"],
            "AUDITLOG_AUDITOR_ERASER_PASSWORD": PASSWORDS["eraser"],
            "AUDITLOG_AUDITOR_MAINTAINER_USER": USERS["maintainer"],
            "AUDITLOG_AUDITOR_MAINTAINER_PASSWORD": PASSWORDS["maintainer"]},
    }
    os.makedirs(folder, exist_ok=True)
    paths = []
    for name, settings in files.items():
        paths.append(os.path.join(folder, f"{name}.env"))
        with open(paths[-1], "w", encoding="utf-8") as f:
            f.write("# written by tests/install/test_migrate.py\n\n")
            for k, v in settings.items():
                v = override.get(k, v)
                # Quoted as systemd allows, to check the script takes quotes off.
                f.write(f'{k}="{v}"\n' if k == "AUDITLOG_MYSQL_PASSWORD" else f"{k}={v}\n")
    return paths


def migrate(prefix, env_files=None):
    """Runs the installed auditlog-migrate; env_files: its --env-file
    options (None: its default, the units' files)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDITLOG_")}
    args = [os.path.join(prefix, "sbin", "auditlog-migrate")]
    for f in env_files or ():
        args += ["--env-file", f]
    r = subprocess.run(args + ["--", "--no-defaults", f"--socket={SOCKET}", "-uroot"],
                       env=env, capture_output=True, text=True, timeout=300)
    return r.returncode, r.stdout + r.stderr


def migrations(folder):
    return sorted(n for n in os.listdir(os.path.join(SRC, "sql", folder)) if n.endswith(".sql"))


def check_applied(out):
    for folder, db in (("api", API_DB), ("auditor", AUDIT_DB)):
        for name in migrations(folder):
            assert out.count(f"migrated {db}: {name}\n") == 1, f"{name} on {db}:\n{out}"
        rc, rows = sql_as("SELECT version FROM schema_migrations ORDER BY version", database=db)
        assert rc == 0 and rows.split() == migrations(folder), (db, rows)


def check_no_user():
    """Schema only: the demo's user 1 (an auditor) is not in a production
    database, nor anyone else, nor any role."""
    rc, rows = sql_as("SELECT COUNT(*), COALESCE(SUM(roles <> ''), 0) FROM users", database=API_DB)
    assert rc == 0 and rows.split() == ["0", "0"], rows
    rc, rows = sql_as("SELECT version FROM schema_migrations WHERE version LIKE '%seed%'",
                      database=API_DB)
    assert rc == 0 and not rows.strip(), rows


def expect(role, database, sql, allowed):
    user = USERS[role]
    rc, out = sql_as(sql, user, PASSWORDS[role], database)
    if allowed:
        assert rc == 0, f"{role} ({user}) was refused {sql!r} on {database}: {out}"
    else:
        assert rc != 0 and any(d in out for d in DENIED), \
            f"{role} ({user}) was not refused {sql!r} on {database}: {rc} {out}"


def check_rights():
    a = AUDIT_DB
    expect("writer", a, "SELECT COUNT(*) FROM data_events", True)
    expect("writer", a, "INSERT INTO data_events SELECT * FROM data_events WHERE 0", True)
    expect("writer", a, "UPDATE log_checked SET checked_to = checked_to WHERE 0", True)
    for sql in ("UPDATE data_events SET seq = seq WHERE 0", "DELETE FROM data_events WHERE 0",
                "DELETE FROM data_event_values WHERE 0",
                "UPDATE data_event_changes SET field = field WHERE 0",
                "UPDATE log_appends SET first_seq = first_seq WHERE 0",
                "DELETE FROM log_checkpoints WHERE 0", "TRUNCATE data_events",
                "DROP TABLE log_nodes", "ALTER TABLE data_events ADD COLUMN x INT"):
        expect("writer", a, sql, False)
    expect("reader", a, "SELECT COUNT(*) FROM data_event_values", True)
    for sql in ("INSERT INTO data_events SELECT * FROM data_events WHERE 0",
                "UPDATE log_checked SET checked_to = checked_to WHERE 0",
                "DELETE FROM data_event_values WHERE 0"):
        expect("reader", a, sql, False)
    expect("eraser", a, "DELETE FROM data_event_values WHERE 0", True)
    for sql in ("DELETE FROM data_event_changes WHERE 0", "DELETE FROM data_events WHERE 0",
                "UPDATE data_event_values SET field = field WHERE 0",
                "INSERT INTO data_event_values SELECT * FROM data_event_values WHERE 0"):
        expect("eraser", a, sql, False)
    # The maintainer splits and drops months of the four event tables
    # (README "Growth and retention"), and touches nothing else.
    expect("maintainer", a, "ALTER TABLE data_event_values REORGANIZE PARTITION pmax INTO "
           "(PARTITION pmax VALUES LESS THAN MAXVALUE)", True)
    expect("maintainer", a, "INSERT INTO log_retained SELECT * FROM log_retained WHERE 0", True)
    for sql in ("ALTER TABLE log_appends ADD COLUMN x INT", "DROP TABLE log_nodes",
                "DELETE FROM data_events WHERE 0", "UPDATE log_retained SET bundle = '' WHERE 0",
                "INSERT INTO data_events SELECT * FROM data_events WHERE 0",
                "DELETE FROM log_checkpoints WHERE 0"):
        expect("maintainer", a, sql, False)
    expect("api", API_DB, "SELECT COUNT(*) FROM users", True)
    expect("api", a, "SELECT COUNT(*) FROM data_events", False)


def main():
    if not SOCKET:
        print("skipped: no MYSQL_UNIX_PORT (./run.sh exports it for its own MariaDB)")
        sys.exit(SKIP)
    start = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="auditlog-migrate-")
    prefix = os.path.join(tmp, "prefix")
    # Where the installed script looks by default (GNUInstallDirs: prefix/etc).
    confdir = os.path.join(prefix, "etc", "auditlog")
    try:
        drop_everything()  # what an interrupted run left
        install(BUILD, prefix=prefix)
        write_env(confdir)

        def first_run():
            rc, out = migrate(prefix)
            assert rc == 0, out
            for name in ("auditlog", "api", "auditor"):
                assert os.path.join(confdir, f"{name}.env") in out, f"{name}.env not read:\n{out}"
            check_applied(out)
            assert "warning" not in out, out

        def second_run():
            rc, out = migrate(prefix)
            assert rc == 0 and "migrated" not in out, out

        def one_file_missing():
            files = write_env(os.path.join(tmp, "partial"))
            rc, out = migrate(prefix, files[:2])  # no auditor.env
            assert rc == 1 and "AUDITLOG_AUDITOR_MYSQL_USER is not set" in out, out

        def demo_password_refused():
            files = write_env(os.path.join(tmp, "demo"), AUDITLOG_AUDITOR_MYSQL_PASSWORD="auditor")
            rc, out = migrate(prefix, files)
            assert rc == 1 and "AUDITLOG_AUDITOR_MYSQL_PASSWORD is the demo's" in out, out

        def demo_user_of_an_older_version():
            # What auditlog-migrate did before sql/demo/: user 1, an auditor.
            seed = ("INSERT INTO users (id, name, email, agreed_tos, roles) VALUES "
                    "(1, 'James Chavo', 'jim.chavo@happi.com', TRUE, 'auditor')")
            rc, out = sql_as(seed, database=API_DB)
            assert rc == 0, out
            try:
                rc, out = migrate(prefix)
                assert rc == 0 and "holds the demo's user 1" in out \
                    and "roles 'auditor'" in out, out
            finally:
                rc, out = sql_as("DELETE FROM users WHERE id = 1", database=API_DB)
                assert rc == 0, out

        checks = [("first run applies every migration once", first_run),
                  ("no user, no role: the demo's auditor is not installed", check_no_user),
                  ("second run applies nothing", second_run),
                  ("each user's rights", check_rights),
                  ("a missing auditor.env names what is missing", one_file_missing),
                  ("the demo's passwords are refused", demo_password_refused),
                  ("a database seeded by an older version is warned of",
                   demo_user_of_an_older_version)]
        failed = run_checks(checks, start)
    finally:
        drop_everything()
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
