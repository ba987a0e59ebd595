"""The RabbitMQ cluster of `./run.sh cluster` for tests: its nodes started
(and provisioned) by `./run.sh cluster-infra`, each SIGKILLed and started
again by scripts/cluster.sh, and which node leads a quorum queue.

    with Cluster(logdir) as c:          # starts the nodes unless they run
        c.kill(2)                       # SIGKILL, as a crash
        c.restart(2)                    # back, and running in the cluster
        c.queue("q")["leader"]          # "auditlog-c1@localhost"

A node is tests/faults/broker.py's Broker (its pid file, SIGKILL, SIGSTOP)
pointed at the node's folder. At the end the nodes are stopped if this
object started them, else those it killed are started again. Every call to run.sh (and so to
rabbitmqctl, about 1 s of CPU each) is logged to logdir/cluster.log.
"""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "faults"))

import broker  # noqa: E402
from harness import SRC  # noqa: E402

PORTS = [int(p) for p in os.environ.get("AUDITLOG_CLUSTER_AMQP_PORTS", "5701,5702,5703")
         .split(",")]


def node_name(n):
    return f"auditlog-c{n}@localhost"


def node_number(name):
    """1 for "auditlog-c1@localhost"."""
    return int(name.split("@")[0].rsplit("-c", 1)[1])


class Node(broker.Broker):
    """Cluster node n (1-based): broker.Broker's pid, kill, freeze and thaw;
    started again through ./run.sh cluster-start-node."""

    def __init__(self, cluster, n):
        super().__init__()
        self.cluster = cluster
        self.n = n
        self.name = node_name(n)
        self.port = PORTS[n - 1]
        self.dir = os.path.join(broker.state_dir(), "cluster", f"rabbit-{n}")
        self.pidfile = os.path.join(self.dir, "rabbitmq.pid")

    def start(self, log_path=None, timeout=120):
        """Starts the node and waits until it runs in the cluster."""
        self.cluster.run_sh("cluster-start-node", str(self.n), timeout=timeout)
        pid = self.pid()
        self.dead = False
        return pid

    def running(self):
        try:
            self.pid()
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except (broker.NotOurBroker, OSError):
            return False


class Cluster:
    def __init__(self, logdir):
        self.log_path = os.path.join(logdir, "cluster.log")
        self.nodes = {n: Node(self, n) for n in range(1, len(PORTS) + 1)}
        self.started = False  # did we start it (then we stop it)
        u = urllib.parse.urlsplit(broker.AMQP_URL)
        self._url = u
        self.vhost = urllib.parse.unquote(u.path[1:]) if len(u.path) > 1 else "/"

    # -- run.sh ---------------------------------------------------------

    def run_sh(self, *args, timeout=120):
        """./run.sh ARGS with our environment; its stdout (stderr and the
        command go to the log). Raises on a non-zero exit."""
        with open(self.log_path, "ab") as log:
            log.write(f"---- {time.strftime('%H:%M:%S')} ./run.sh {' '.join(args)}\n".encode())
            log.flush()
            r = subprocess.run([os.path.join(SRC, "run.sh"), *args], cwd=SRC,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                               timeout=timeout)
            log.write(r.stdout)
        if r.returncode:
            raise RuntimeError(f"./run.sh {' '.join(args)} exited with {r.returncode}:\n"
                               f"{self.tail()}")
        return r.stdout.decode(errors="replace")

    def tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                return b"".join(f.readlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""

    def ctl(self, n, *args, timeout=60):
        """rabbitmqctl ARGS against node n."""
        return self.run_sh("cluster-ctl", str(n), *args, timeout=timeout)

    # -- the cluster ------------------------------------------------------

    def __enter__(self):
        self.up()
        return self

    def __exit__(self, *exc):
        self.down()

    def up(self):
        """Every node running, joined and provisioned; starts it when one is
        not running. Returns the seconds it took."""
        t = time.monotonic()
        if not all(node.running() for node in self.nodes.values()):
            self.run_sh("cluster-infra", timeout=180)
            self.started = True
        return time.monotonic() - t

    def down(self):
        """Stops the nodes if we started them; else leaves the cluster as it
        was found: nothing frozen, every node we killed running again."""
        for node in self.nodes.values():
            node.thaw()
        if self.started:
            self.run_sh("cluster-stop")
            self.started = False
            return
        for node in self.nodes.values():
            if node.dead:
                node.start()

    def url(self, n):
        """AUDITLOG_AMQP_URL (user, password, vhost) at node n's port."""
        u = self._url
        userinfo = u.netloc.rsplit("@", 1)[0] + "@" if "@" in u.netloc else ""
        return urllib.parse.urlunsplit((u.scheme, f"{userinfo}localhost:{PORTS[n - 1]}",
                                        u.path, u.query, u.fragment))

    def kill(self, n):
        """SIGKILL to node n's Erlang VM; returns once the process is gone."""
        return self.nodes[n].kill()

    def restart(self, n):
        """Starts node n again; returns once it runs in the cluster."""
        return self.nodes[n].start()

    def running_nodes(self, via):
        """The nodes running in the cluster as node `via` sees it."""
        status = json.loads(self.ctl(via, "-q", "cluster_status", "--formatter", "json"))
        return sorted(status["running_nodes"])

    def queues(self, via):
        """name -> {"type", "leader", "members", "online", ...} of every
        queue in our vhost, as node `via` reports it."""
        out = self.ctl(via, "-q", "list_queues", "-p", self.vhost, "name", "type", "leader",
                       "members", "online", "--formatter", "json")
        return {q["name"]: q for q in json.loads(out)}

    def queue(self, name, via=1):
        """A quorum queue's leader, members and online members (node names;
        node_number gives a name's number), as node `via` reports them."""
        return self.queues(via)[name]

    def delete_queue(self, name, via=1):
        self.ctl(via, "-q", "delete_queue", "-p", self.vhost, name)
