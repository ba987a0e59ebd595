"""What the install tests share: `cmake --install` of a build, and a
runner of named checks."""
import os
import subprocess
import time


def install(build, prefix=None, destdir=None):
    """cmake --install of build, with --prefix prefix and/or DESTDIR destdir
    (neither: the configured prefix, on this machine). Fails loudly."""
    args = ["cmake", "--install", build]
    env = dict(os.environ)
    env.pop("DESTDIR", None)
    if prefix:
        args += ["--prefix", prefix]
    if destdir:
        env["DESTDIR"] = destdir
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"cmake --install failed:\n{r.stdout}{r.stderr}"


def run_checks(checks, start):
    """Runs (name, function) pairs in order, each reported; a failed
    assertion fails that check only. Returns how many failed."""
    failed = 0
    for name, check in checks:
        try:
            check()
            print(f"ok   {name}")
        except AssertionError as e:
            failed += 1
            print(f"FAIL {name}: {e}")
    print(f"took {time.monotonic() - start:.1f}s")
    print(f"{len(checks) - failed} passed, {failed} failed")
    return failed
