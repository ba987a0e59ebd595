"""`cmake --install` (README "Deploying"): installs the build this test
belongs to, with --prefix into a temporary folder and again with DESTDIR,
and checks the tree file by file (nothing from tests or benchmarks), that
the installed programs run, that the systemd units name the installed
paths and real settings (and pass `systemd-analyze verify`), and that every
AUDITLOG_* name in contrib/systemd/auditlog.env.example is a setting some
daemon's --help prints, so the example cannot drift from the daemons.

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
ENV_EXAMPLE = os.path.join(SRC, "contrib", "systemd", "auditlog.env.example")


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
             "lib/sysusers.d/auditlog.conf", "share/doc/auditlog/README.md",
             "share/doc/auditlog/auditlog.env.example"}
    want |= {f"lib/systemd/system/auditlog-{d}.service" for d in DAEMONS}
    want |= {"share/auditlog/sql/" + f for f in source_files("sql", r"\.sql$")}
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
    for rel in ("sbin/auditlog-api", "sbin/auditlog-auditor", "sbin/auditlog-web",
                "sbin/auditlog-migrate", "bin/auditlog-verify"):
        assert os.access(t.path(rel), os.X_OK), f"{rel} is not executable"


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
        assert conf["User"] == "auditlog" and conf["Type"] == "exec", conf
        files = [v for k, v in lines if k == "EnvironmentFile"]
        assert files == [f"{etc}/auditlog/auditlog.env", f"-{etc}/auditlog/{d}.env"], files
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


def check_env_example(settings):
    every = set().union(*settings.values())
    with open(ENV_EXAMPLE, encoding="utf-8") as f:
        text = f.read()
    named = set(re.findall(r"\bAUDITLOG_[A-Z0-9_]*[A-Z0-9]", text))
    unknown = named - every
    assert not unknown, f"auditlog.env.example names what no daemon reads: {sorted(unknown)}"
    assigned = re.findall(r"^#?(AUDITLOG_[A-Z_]+)=", text, re.M)
    assert len(assigned) >= 20 and len(assigned) == len(set(assigned)), assigned
    for must in ("AUDITLOG_TOKEN_ENDPOINT", "AUDITLOG_JWT_ISSUER", "AUDITLOG_LOG_ORIGIN",
                 "AUDITLOG_AMQP_URL", "AUDITLOG_MYSQL_PASSWORD",
                 "AUDITLOG_AUDITOR_MYSQL_PASSWORD", "AUDITLOG_AUDITOR_READER_PASSWORD",
                 "AUDITLOG_AUDITOR_ERASER_PASSWORD", "AUDITLOG_PUBLIC_API_URL"):
        assert re.search(rf"^{must}=", text, re.M), f"auditlog.env.example does not set {must}"
    assert re.search(r"^AUDITLOG_TOKEN_ENDPOINT=false$", text, re.M)


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
            ("env example names real settings", lambda: check_env_example(settings)),
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
