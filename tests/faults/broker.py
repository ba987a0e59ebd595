"""The RabbitMQ side of the fault suite: our private node (found by its pid
file under $AUDITLOG_STATE_DIR/rabbitmq), killed, frozen and started again
through `./run.sh infra`, and mqtool for publishing and queue inspection."""
import os
import signal
import subprocess
import time

from harness import BIN, SRC

AMQP_URL = os.environ.get("AUDITLOG_AMQP_URL", "amqp://dev:dev@localhost:5672/")
EXCHANGE = "api-stream"
ROUTING_KEY = "api.data.mutated"
QUEUE = "data-mutation-audits"
DEAD_QUEUE = "data-mutation-audits.dead"


class NotOurBroker(Exception):
    pass


def state_dir():
    return os.path.abspath(os.environ.get("AUDITLOG_STATE_DIR") or os.path.join(SRC, ".state"))


def _proc_state(pid):
    """The /proc state letter of pid, or None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


class Broker:
    def __init__(self):
        self.dir = os.path.join(state_dir(), "rabbitmq")
        self.pidfile = os.path.join(self.dir, "rabbitmq.pid")
        self.frozen_pid = None
        self.dead = False

    def pid(self):
        """The pid of our node's beam.smp; NotOurBroker when the broker is not
        the private node that ./run.sh infra started."""
        try:
            with open(self.pidfile) as f:
                text = f.read().strip()
        except OSError:
            raise NotOurBroker(
                f"no pid file {self.pidfile}: the broker at {AMQP_URL} is not the private node "
                "that `./run.sh infra` starts, so the suite cannot kill or freeze it "
                "(run `./run.sh infra` with no broker on the port, or set AUDITLOG_STATE_DIR)"
            ) from None
        if not text.isdigit():
            raise NotOurBroker(f"{self.pidfile} holds no pid: {text!r}")
        pid = int(text)
        st = _proc_state(pid)
        if st is None or st == "Z":
            raise NotOurBroker(f"{self.pidfile} names pid {pid}, which is not running: the "
                               "broker answering is not our node (or ours is down)")
        if _comm(pid) != "beam.smp":
            raise NotOurBroker(f"{self.pidfile} names pid {pid}, which is {_comm(pid)!r}, "
                               "not beam.smp")
        return pid

    def kill(self):
        pid = self.pid()
        self.dead = True
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while _proc_state(pid) not in (None, "Z"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"beam.smp {pid} still there 15 s after SIGKILL")
            time.sleep(0.05)
        return pid

    def start(self, log_path, timeout=120):
        """`./run.sh infra` from the repository root with our environment:
        it starts what does not answer. Returns the new pid."""
        with open(log_path, "ab") as log:
            r = subprocess.run([os.path.join(SRC, "run.sh"), "infra"], cwd=SRC,
                               stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                               timeout=timeout)
        if r.returncode:
            raise RuntimeError(f"./run.sh infra exited with {r.returncode} (log {log_path})")
        pid = self.pid()
        self.dead = False
        return pid

    def freeze(self):
        pid = self.pid()
        os.kill(pid, signal.SIGSTOP)
        self.frozen_pid = pid
        return pid

    def thaw(self):
        if self.frozen_pid is not None:
            try:
                os.kill(self.frozen_pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            self.frozen_pid = None

    def repair(self, log_path):
        """After a run, whatever happened: not frozen, and running."""
        self.thaw()
        if self.dead:
            self.start(log_path)


# -- mqtool ------------------------------------------------------------------

def mqtool(*args, stdin=b"", timeout=30, check=True, url=AMQP_URL):
    r = subprocess.run([os.path.join(BIN, "mqtool"), args[0], url, *args[1:]], input=stdin,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    if check and r.returncode not in (0, 3):
        raise RuntimeError(f"mqtool {' '.join(args)} exited with {r.returncode}: "
                           f"{r.stderr.decode(errors='replace')}")
    return r


def count(queue, url=AMQP_URL):
    return int(mqtool("count", queue, url=url).stdout.split()[0])


def purge(queue, url=AMQP_URL):
    mqtool("purge", queue, url=url)


def get(queue, url=AMQP_URL):
    """(reason, body) of one message, taken and acknowledged; None if empty."""
    r = mqtool("get", queue, url=url)
    if r.returncode == 3:
        return None
    reason, _, rest = r.stdout.partition(b"\n")
    return reason.decode(errors="replace"), rest[:-1] if rest.endswith(b"\n") else rest


def publish(body, message_id, routing_key=ROUTING_KEY):
    return mqtool("publish", EXCHANGE, routing_key, message_id, stdin=body)
