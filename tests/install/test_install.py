"""`cmake --install` (README "Deploying"): installs the build this test
belongs to, with --prefix into a temporary folder and again with DESTDIR,
and checks the tree file by file (nothing from tests or benchmarks), that
the installed programs run, that the systemd units name the installed
paths and real settings (and pass `systemd-analyze verify`), each daemon
runs as a user of its own, and that each environment file example names
only settings of the daemons that read it (auditlog.env: no secret; api.env
only settings of auditlog-api, and so on), so the examples cannot drift
from the daemons nor hand one daemon another's passwords. The demo's data
(sql/demo/) is not installed, and no installed migration adds a user or
grants a role (a production database must not get the demo's auditor).

Usage: test_install.py BUILD_DIR SOURCE_DIR CONFIGURED_PREFIX"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from installed import install, run_checks

BUILD, SRC, CONFIGURED_PREFIX = sys.argv[1:4]
DAEMONS = ("api", "auditor", "web")
SYSTEMD_SRC = os.path.join(SRC, "contrib", "systemd")
# Each environment file a unit reads, and the daemons that read it.
ENV_READERS = {"auditlog": DAEMONS, "api": ("api",), "auditor": ("auditor",), "web": ("web",)}
# Settings that are secrets: only in the file of a daemon that uses them.
SECRET = re.compile(r"_PASSWORD$|^AUDITLOG_AMQP_URL$|^AUDITLOG_METRICS_TOKEN$|_PRIVATE_KEY$")


def files_under(root):
    out = set()
    for d, _, names in os.walk(root):
        for n in names:
            out.add(os.path.relpath(os.path.join(d, n), root))
    return out


def source_files(folder, pattern=None):
    return {os.path.relpath(p, os.path.join(SRC, folder))
            for p in (os.path.join(d, n) for d, _, ns in os.walk(os.path.join(SRC, folder))
                      for n in ns)
            if not pattern or re.search(pattern, p)}


def settings_of(binary):
    """The environment variables of a daemon's settings, from its --help
    (the lines `  --flag  AUDITLOG_NAME  [default]`)."""
    r = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"{binary} --help: {r.returncode} {r.stderr}"
    found = set(re.findall(r"^\s+--[a-z-]+\s+(AUDITLOG_[A-Z_]+)\s+\[.*\]$", r.stdout, re.M))
    assert len(found) >= 5, f"{binary} --help lists no settings:\n{r.stdout}"
    return found


def unit_lines(path):
    """(key, value) of each setting line of a unit file, in order."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", ";", "[")):
                key, _, value = line.partition("=")
                out.append((key, value))
    return out


class Tree:
    """One installed tree: root is where the prefix landed on disk, prefix
    the path the installed files name (they differ by DESTDIR)."""

    def __init__(self, root, prefix):
        self.root, self.prefix = root, prefix

    def path(self, rel):
        return os.path.join(self.root, rel)

    def on_disk(self, named):
        """Where a path an installed file names is, in this tree."""
        assert named.startswith(self.prefix + "/"), f"{named} is not under {self.prefix}"
        return os.path.join(self.root, os.path.relpath(named, self.prefix))


def expected_files():
    want = {f"sbin/auditlog-{d}" for d in DAEMONS}
    want |= {"sbin/auditlog-migrate", "bin/auditlog-verify", "share/auditlog/dbsetup.sh",
             "lib/sysusers.d/auditlog.conf", "share/doc/auditlog/README.md"}
    want |= {f"share/doc/auditlog/{name}.env.example" for name in ENV_READERS}
    want |= {f"lib/systemd/system/auditlog-{d}.service" for d in DAEMONS}
    want |= {"share/auditlog/sql/" + f for f in source_files("sql", r"\.sql$")
             if not f.startswith("demo/")}
    want |= {"share/auditlog/web/" + f for f in source_files("web")}
    return want


def check_tree(t):
    got = files_under(t.root)
    want = expected_files()
    assert got == want, f"missing {sorted(want - got)}; unexpected {sorted(got - want)}"
    for rel in want:
        if rel.startswith(("share/auditlog/sql/", "share/auditlog/web/")):
            src = os.path.join(SRC, rel.split("/", 2)[2])
            with open(src, "rb") as a, open(t.path(rel), "rb") as b:
                assert a.read() == b.read(), f"{rel} differs from {src}"
    check_no_demo_data(t)
    for rel in ("sbin/auditlog-api", "sbin/auditlog-auditor", "sbin/auditlog-web",
                "sbin/auditlog-migrate", "bin/auditlog-verify"):
        assert os.access(t.path(rel), os.X_OK), f"{rel} is not executable"


def check_no_demo_data(t):
    """The schema's migrations create no user and grant no role: the demo's
    user 1, an auditor, is sql/demo/'s, which only ./run.sh applies."""
    sql_dir = t.path("share/auditlog/sql")
    assert sorted(os.listdir(sql_dir)) == ["api", "auditor"], os.listdir(sql_dir)
    adds_user = re.compile(r"\b(INSERT|REPLACE)\s+(IGNORE\s+)?(INTO\s+)?users\b"
                           r"|\bUPDATE\s+users\s+SET\b[^;]*\broles\b", re.I | re.S)
    for rel in files_under(sql_dir):
        with open(os.path.join(sql_dir, rel), encoding="utf-8") as f:
            code = re.sub(r"--[^\n]*", "", f.read())
        assert not adds_user.search(code), f"installed migration {rel} adds a user or a role"
    # The demo's files share the API database's schema_migrations, which
    # knows a file by its name alone.
    demo = set(os.listdir(os.path.join(SRC, "sql", "demo", "api")))
    assert demo and not demo & set(os.listdir(os.path.join(SRC, "sql", "api"))), demo


def check_programs_run(t):
    for d in DAEMONS:
        settings_of(t.path(f"sbin/auditlog-{d}"))
    for rel, words in (("bin/auditlog-verify", "--vkey"), ("sbin/auditlog-migrate", "--env-file")):
        r = subprocess.run([t.path(rel), "--help"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and words in r.stdout + r.stderr, (rel, r.returncode, r.stdout,
                                                                     r.stderr)


def check_units(t, settings):
    etc = "/etc" if t.prefix in ("/usr", "") else t.prefix + "/etc"
    for d in DAEMONS:
        lines = unit_lines(t.path(f"lib/systemd/system/auditlog-{d}.service"))
        conf = dict(lines)
        assert conf["ExecStart"] == f"{t.prefix}/sbin/auditlog-{d}", conf["ExecStart"]
        assert os.access(t.on_disk(conf["ExecStart"]), os.X_OK), conf["ExecStart"]
        # A user of its own: no daemon reads another's /proc/PID/environ.
        assert conf["User"] == conf["Group"] == f"auditlog-{d}", (d, conf["User"], conf["Group"])
        assert conf["Type"] == "exec", (d, conf["Type"])
        # The shared file, then its own (required where it holds passwords).
        files = [v for k, v in lines if k == "EnvironmentFile"]
        own = f"{'-' if d == 'web' else ''}{etc}/auditlog/{d}.env"
        assert files == [f"{etc}/auditlog/auditlog.env", own], files
        # Ordered after local servers, never starting them (Wants= would).
        wants = " ".join(v for k, v in lines if k in ("Wants", "Requires", "Requisite",
                                                      "BindsTo", "Upholds"))
        assert not re.search(r"mariadb|mysql|rabbitmq", wants), wants
        if d != "web":
            after = " ".join(v for k, v in lines if k == "After").split()
            assert {"mariadb.service", "rabbitmq-server.service"} <= set(after), after
        for key in ("ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices",
                    "NoNewPrivileges", "CapabilityBoundingSet", "RestrictAddressFamilies",
                    "SystemCallFilter", "LimitNOFILE", "TimeoutStopSec", "Restart"):
            assert key in conf, f"auditlog-{d}.service has no {key}="
        assert conf["ProtectSystem"] == "strict" and conf["CapabilityBoundingSet"] == ""
        for k, v in lines:
            if k != "Environment":
                continue
            name, _, value = v.partition("=")
            assert name in settings[d], f"auditlog-{d}.service sets {name}, not a setting of it"
            if name == "AUDITLOG_WEB_ROOT":
                assert os.path.isfile(os.path.join(t.on_disk(value), "index.html")), value
            elif name == "AUDITLOG_JWT_PUBLIC_KEY":
                assert value == f"{etc}/auditlog/jwt-public.pem", value
        # What each daemon writes is its state directory (config: the spool,
        # the log's signing key); the others' are hidden from it.
        state = {"api": ("auditlog/api", "AUDITLOG_SPOOL_DIR", "%S/auditlog/api/"),
                 "auditor": ("auditlog/auditor", "AUDITLOG_LOG_KEY", "%S/auditlog/auditor/")}
        if d in state:
            sdir, var, under = state[d]
            assert conf["StateDirectory"] == sdir, conf.get("StateDirectory")
            env = dict(v.partition("=")[::2] for k, v in lines if k == "Environment")
            assert env[var].startswith(under), (var, env[var])
        timeout = int(conf["TimeoutStopSec"])
        assert 10 < timeout <= 30, "TimeoutStopSec a little over the 10 s shutdown deadline"


def env_example(name):
    """(text, the AUDITLOG_* names it mentions, the names it assigns, those
    commented out included) of contrib/systemd/<name>.env.example."""
    with open(os.path.join(SYSTEMD_SRC, f"{name}.env.example"), encoding="utf-8") as f:
        text = f.read()
    assigned = re.findall(r"^#?(AUDITLOG_[A-Z0-9_]+)=", text, re.M)
    assert len(assigned) == len(set(assigned)), f"{name}.env.example: {assigned}"
    return text, set(re.findall(r"\bAUDITLOG_[A-Z0-9_]*[A-Z0-9]", text)), set(assigned)


def check_env_examples(settings):
    """Each example assigns only settings of every daemon that reads it
    (auditlog.env: of one of the three at least, and no secret); the
    secrets each daemon needs are in its own file."""
    assigned = {}
    for name, readers in ENV_READERS.items():
        text, named, assigned[name] = env_example(name)
        known = set().union(*(settings[d] for d in readers))
        assert not assigned[name] - known, \
            f"{name}.env.example sets what {'/'.join(readers)} does not read: " \
            f"{sorted(assigned[name] - known)}"
        # Names only mentioned in comments must be real settings of some daemon.
        unknown = named - set().union(*settings.values())
        assert not unknown, f"{name}.env.example names what no daemon reads: {sorted(unknown)}"
        if name != "auditlog":
            assert "AUDITLOG_METRICS_TOKEN" in assigned[name] and 'README "Metrics"' in text, \
                f"{name}.env.example: no commented AUDITLOG_METRICS_TOKEN pointing to the README"
            assert re.search(r"^#AUDITLOG_METRICS_TOKEN=$", text, re.M), name
    shared = assigned["auditlog"]
    assert len(shared) >= 10, shared
    secrets = {n for n in shared if SECRET.search(n)}
    assert not secrets, f"auditlog.env.example (every daemon reads it) holds secrets: {secrets}"
    need = {"api": ("AUDITLOG_MYSQL_USER", "AUDITLOG_MYSQL_PASSWORD", "AUDITLOG_AMQP_URL",
                    "AUDITLOG_TOKEN_ENDPOINT"),
            "auditor": ("AUDITLOG_AUDITOR_MYSQL_USER", "AUDITLOG_AUDITOR_MYSQL_PASSWORD",
                        "AUDITLOG_AUDITOR_READER_USER", "AUDITLOG_AUDITOR_READER_PASSWORD",
                        "AUDITLOG_AUDITOR_ERASER_USER", "AUDITLOG_AUDITOR_ERASER_PASSWORD",
                        "AUDITLOG_AUDITOR_MAINTAINER_USER", "AUDITLOG_AUDITOR_MAINTAINER_PASSWORD",
                        "AUDITLOG_AMQP_URL", "AUDITLOG_LOG_ORIGIN"),
            "auditlog": ("AUDITLOG_JWT_ISSUER", "AUDITLOG_PUBLIC_API_URL", "AUDITLOG_API_DB",
                         "AUDITLOG_AUDITOR_DB")}
    for name, musts in need.items():
        text = env_example(name)[0]
        for must in musts:
            assert re.search(rf"^{must}=", text, re.M), f"{name}.env.example does not set {must}"
    assert re.search(r"^AUDITLOG_TOKEN_ENDPOINT=false$", env_example("api")[0], re.M)
    # The web daemon holds no password: its only secret is its metrics token.
    web_secrets = {n for n in assigned["web"] if SECRET.search(n)}
    assert web_secrets == {"AUDITLOG_METRICS_TOKEN"}, web_secrets


def check_sysusers(t):
    """The sysusers.d file makes exactly the users the units run as."""
    with open(t.path("lib/sysusers.d/auditlog.conf"), encoding="utf-8") as f:
        users = [line.split()[1] for line in f if line.strip() and not line.startswith("#")
                 and line.split()[0] == "u"]
    units = [dict(unit_lines(t.path(f"lib/systemd/system/auditlog-{d}.service")))["User"]
             for d in DAEMONS]
    assert sorted(users) == sorted(units) and len(set(units)) == len(DAEMONS), (users, units)


def check_systemd_analyze(t):
    tool = shutil.which("systemd-analyze")
    assert tool, "systemd-analyze is missing (Debian package systemd)"
    units = [t.path(f"lib/systemd/system/auditlog-{d}.service") for d in DAEMONS]
    # It warns about unknown keys and groups and still exits 0: any word fails.
    r = subprocess.run([tool, "verify", "--man=no", *units], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), r.stdout + r.stderr


def check_migrate_finds_its_files(t):
    """auditlog-migrate finds dbsetup.sh and sql/ from where it was put: it
    gets as far as the settings (none given), past sourcing the library."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDITLOG_")}
    r = subprocess.run([t.path("sbin/auditlog-migrate"), "--env-file="], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "AUDITLOG_API_DB is not set" in r.stderr, (r.returncode,
                                                                            r.stderr)


def main():
    start = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="auditlog-install-")
    try:
        prefix = os.path.join(tmp, "prefix")
        install(BUILD, prefix=prefix)
        by_prefix = Tree(prefix, prefix)
        destdir = os.path.join(tmp, "destdir")
        install(BUILD, destdir=destdir)
        by_destdir = Tree(destdir + CONFIGURED_PREFIX, CONFIGURED_PREFIX)
        assert files_under(destdir) == {os.path.join(CONFIGURED_PREFIX.lstrip("/"), f)
                                        for f in files_under(by_destdir.root)}, \
            "DESTDIR install put files outside DESTDIR/prefix"
        settings = {d: settings_of(by_prefix.path(f"sbin/auditlog-{d}")) for d in DAEMONS}
        checks = [
            ("tree, --prefix", lambda: check_tree(by_prefix)),
            ("tree, DESTDIR", lambda: check_tree(by_destdir)),
            ("programs run --help", lambda: check_programs_run(by_prefix)),
            ("units, --prefix", lambda: check_units(by_prefix, settings)),
            ("units, DESTDIR", lambda: check_units(by_destdir, settings)),
            ("sysusers.d makes the units' users", lambda: check_sysusers(by_prefix)),
            ("env examples: each file its readers' settings, secrets apart",
             lambda: check_env_examples(settings)),
            ("systemd-analyze verify", lambda: check_systemd_analyze(by_prefix)),
            ("auditlog-migrate finds its files, --prefix",
             lambda: check_migrate_finds_its_files(by_prefix)),
            ("auditlog-migrate finds its files, DESTDIR",
             lambda: check_migrate_finds_its_files(by_destdir)),
        ]
        failed = run_checks(checks, start)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
