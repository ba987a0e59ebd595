"""The README stays true: it starts with the two set-up commands, and its
configuration table lists every setting each daemon's --help prints."""
import os
import re
import subprocess

from harness import BIN, SRC, run


def readme():
    with open(os.path.join(SRC, "README.md"), encoding="utf-8") as f:
        return f.read()


def test_two_commands_first():
    text = readme()
    first_block = re.search(r"```sh\n(.*?)```", text, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["./run.sh", "./run.sh test"], commands


def test_every_setting_documented():
    text = readme()
    for daemon in ("api", "auditor", "web"):
        out = subprocess.run([os.path.join(BIN, "auditlog-" + daemon), "--help"],
                             capture_output=True, text=True, timeout=10)
        assert out.returncode == 0, out.stderr
        settings = re.findall(r"^\s+--([a-z-]+)\s+(AUDITLOG_[A-Z_]+)\s+\[(.*)\]$", out.stdout, re.M)
        assert len(settings) >= 5, out.stdout
        for flag, env, default in settings:
            row = re.search(rf"^\| `{env}` \| `--{flag}` \| (.*?) \|", text, re.M)
            assert row, f"README has no row for {env} (--{flag}) of {daemon}"
            shown = row.group(1)
            assert shown == f"`{default}`" or (default == "" and shown == "(empty)"), \
                (env, shown, default)


if __name__ == "__main__":
    run([test_two_commands_first, test_every_setting_documented])
