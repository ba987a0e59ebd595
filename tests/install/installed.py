"""What the install tests share: `cmake --install` of a build."""
import os
import subprocess


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
