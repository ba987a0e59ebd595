"""The API and the auditor for one fault run, on free ports, built on the
integration harness: the auditor gets its own environment (its private
MariaDB), daemons can be SIGKILLed and restarted on the same ports, and
their logs survive the restart (appended, not truncated)."""
import json
import os
import signal
import socket
import subprocess
import time

import harness
from harness import BIN, SRC, Stack, free_port, http


class AppendingDaemon(harness.Daemon):
    """harness.Daemon, but the log is appended to across restarts."""

    def __init__(self, name, env, logdir):  # noqa: D107 - same as the parent, "ab" log
        self.name = name
        binary = name.rstrip("0123456789")  # auditor2: a second auditlog-auditor
        self.log_path = os.path.join(logdir, name + ".log")
        self.log = open(self.log_path, "ab")
        self.log.write(f"---- {time.strftime('%H:%M:%S')} starting auditlog-{name} ----\n"
                       .encode())
        self.log.flush()
        self.proc = subprocess.Popen([os.path.join(BIN, "auditlog-" + binary)], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT, cwd=SRC)
        harness._live.append(self.proc)


class FaultStack(Stack):
    """api + auditor; per-daemon environments; kill and restart."""

    def __init__(self, logdir, api_env, auditor_env, auditors=1):
        super().__init__(daemons=("api", "auditor"))
        os.rmdir(self.logdir)  # the parent made one; ours is given
        self.logdir = logdir
        self.envs = {"api": dict(self.env, **api_env), "auditor": dict(self.env, **auditor_env)}
        # Further auditors (auditor2, ...: instance 1, ...), sharing the
        # partitions with the first (README "Partitions and several auditors").
        for i in range(1, auditors):
            name = f"auditor{i + 1}"
            self.ports[name] = free_port()
            self.envs[name] = dict(self.envs["auditor"], AUDITLOG_AUDITOR_PORT=str(self.ports[name]),
                                   AUDITLOG_AUDITOR_INSTANCE=str(i))
        self.problems = []  # daemons that died on their own, unclean exits
        self.killed = {}    # name -> times we SIGKILLed it

    def start(self, name, timeout=30):
        d = self.daemons[name] = AppendingDaemon(name, self.envs[name], self.logdir)
        deadline = time.monotonic() + timeout
        while True:
            if d.proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {d.proc.returncode} on start:\n"
                                   f"{d.tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.ports[name]), timeout=1).close()
                return d
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} does not listen after {timeout}s:\n{d.tail()}")
            time.sleep(0.05)

    def check_alive(self):
        """Records daemons that exited on their own (not by our SIGKILL)."""
        for name, d in self.daemons.items():
            if d.proc.poll() is not None and not getattr(d, "reported", False):
                d.reported = True
                self.problems.append(f"{name} died on its own with status {d.proc.returncode}:"
                                     f"\n{d.tail()}")

    def kill(self, name):
        d = self.daemons[name]
        self.check_alive()
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
        d.log.close()
        self.killed[name] = self.killed.get(name, 0) + 1

    def terminate(self, name, timeout=30):
        """SIGTERM: the graceful stop (README "Stopping"). Returns (exit
        status, seconds it took); the daemon's own deadline ends it with 1."""
        d = self.daemons[name]
        self.check_alive()
        t = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        try:
            code = d.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            d.proc.kill()
            code = d.proc.wait()
        d.log.close()
        return code, time.monotonic() - t

    def restart(self, name):
        return self.start(name)

    def shutdown(self):
        """SIGTERM every daemon; records crashes and unclean exits (e.g. a
        sanitizer report) in self.problems. Never raises."""
        self.check_alive()
        for name in list(self.daemons):
            d = self.daemons.pop(name)
            if d.proc.poll() is not None:
                if not d.log.closed:
                    d.log.close()
                continue
            try:
                code = d.stop(timeout=20)
            except AssertionError as e:
                self.problems.append(f"{e}:\n{d.tail()}")
                continue
            if code != 0:
                self.problems.append(f"{name} exited with status {code} on SIGTERM:\n"
                                     f"{d.tail()}")

    def log_path(self, name):
        return os.path.join(self.logdir, name + ".log")

    def fetch_events(self, query, token, page_size=1000, attempts=5):
        """All events of an auditor query, following links.next; retries a
        page that fails (e.g. right after the auditor's database came back)."""
        out = []
        path = f"/data-events?{query}&page[size]={page_size}"
        while path:
            for i in range(attempts):
                try:
                    status, _, doc = self.request("auditor", "GET", path, token=token)
                except (OSError, ValueError) as e:
                    status, doc = None, str(e)
                if status == 200:
                    break
                if i == attempts - 1:
                    raise RuntimeError(f"auditor GET {path}: {status} {doc}")
                time.sleep(0.5)
            out.extend(doc["data"])
            path = doc["links"].get("next")
        return out


__all__ = ["FaultStack", "free_port", "http", "json"]
