#!/usr/bin/env python3
"""The fault-injection suite: under a steady mixed load (creates, patches,
deletes, reads from several concurrent clients), each fault in its own run:

  rabbit-kill      RabbitMQ SIGKILLed, started again (./run.sh infra) after 10 s
  rabbit-freeze    RabbitMQ SIGSTOPped for 10 s, then SIGCONT
  auditor-kill     the auditor SIGKILLed mid-batch and restarted
  auditor-db-stop  the auditor's MariaDB shut down for 10 s, then started again
  api-kill         the API SIGKILLed mid-load and restarted
  api-term         the API stopped with SIGTERM mid-load and restarted: nothing lost
  auditor-term     the auditor stopped with SIGTERM mid-load and restarted
  poison           poison messages published to the exchange between valid events

and with --cluster, on the three-node RabbitMQ cluster of `./run.sh cluster`
(started unless it runs), CLUSTER_PARTITIONS partitions on quorum queues
shared by two auditors (README "Partitions and several auditors"):

  cluster-node-kill     the node leading most partition queues, which is also first in
                        every daemon's AUDITLOG_AMQP_URL (so it holds their connections),
                        SIGKILLed and kept down NODE_DOWN_S: every partition's log
                        stores again within FAILOVER_S while it is down (docs/scaling.md,
                        "A node that leads queues and holds the connections"), the
                        daemons move to another node within FAILOVER_S; then it is
                        started again: nothing lost or repeated
  cluster-auditor-kill  the auditor writing partition 0's log SIGKILLed: the other
                        takes its logs over within FAILOVER_S, continues them with no
                        gap, and hands them back once it is restarted

After each: wait for the pipeline to drain, then compare what the clients
did with what the auditor stored (see verify.py), and check the log of
record: the positions of log 0 run from 0 with no gap (the primary key
forbids repeats) and the auditor's GET /verify answers 200. Prints one
table; exit 1 on any loss, duplicate or unexplained event (except view
events lost by api-kill within --view-loss-window), on a gap, on a /verify
other than 200 (a 404, from a build without the route, is only noted), on a
daemon crash or unclean exit, and with --strict-latency on a p99 during
faults 1 and 2 over 2x the p99 before.

Runs like the integration tests, under `./run.sh test` (ctest) or by hand
with the test environment exported (see the README).
"""
import argparse
import atexit
import json
import math
import re
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)

import harness  # noqa: E402
sys.path.insert(0, os.path.join(HERE, "..", "cluster"))
import cluster as cluster_mod  # noqa: E402
import amqp_probe  # noqa: E402
import broker as mq  # noqa: E402
from auditor_db import DB_NAME, AuditorDB, sql_id  # noqa: E402
from load import Client  # noqa: E402
from poison import ACTOR as POISON_ACTOR, poison_messages, valid_event  # noqa: E402
from stack import FaultStack  # noqa: E402
from verify import Tally, compare, missing_counts  # noqa: E402

# Consumers our auditor opens on the queue (its AUDITLOG_CONSUMERS setting);
# more than these means another auditor shares the vhost.
OUR_CONSUMERS = int(os.environ.get("AUDITLOG_CONSUMERS", "1"))

RUNS = ["rabbit-kill", "rabbit-freeze", "auditor-kill", "auditor-db-stop", "api-kill", "api-term",
        "auditor-term", "poison"]
# /readyz must turn 503 within this long of losing the broker or the
# auditor's database, and 200 within this long of its return (README
# "Health"); watched in these runs, for these daemons.
READY_FLIP_S = 1.0
READY_RUNS = {"rabbit-kill": ("api", "auditor"), "auditor-db-stop": ("auditor",)}
TERM_RUNS = {"api-term": "api", "auditor-term": "auditor"}
CLUSTER_RUNS = ["cluster-node-kill", "cluster-auditor-kill"]
CLUSTER_PARTITIONS = 3
# The longest a broker node's or an auditor's death may interrupt the
# pipeline (issue 16: under 5 s).
FAILOVER_S = 5.0
# How long cluster-node-kill keeps its node down: longer than FAILOVER_S, so
# a partition that waits for the node's return fails the run.
NODE_DOWN_S = 8.0
LATENCY_RUNS = ("rabbit-kill", "rabbit-freeze")
T0 = time.monotonic()


def say(msg):
    print(f"[faults {time.monotonic() - T0:6.1f}s] {msg}", flush=True)


def p99(values):
    if not values:
        return None
    s = sorted(values)
    return s[max(0, math.ceil(0.99 * len(s)) - 1)]


def log_line(line):
    """(level, message) of one line of a daemon's log: a JSON object (the
    default AUDITLOG_LOG_FORMAT), or the text of old ("<time> <daemon>
    <level>: <message>"), or anything else the file holds (the stack's own
    markers, a sanitizer's report) as (None, the line)."""
    try:
        o = json.loads(line)
        if isinstance(o, dict) and "level" in o:
            return o["level"], str(o.get("msg", ""))
    except ValueError:
        pass
    m = re.match(r"^\S+ \S+ (debug|info|warn|error): (.*)$", line)
    return (m.group(1), m.group(2)) if m else (None, line)


class RunResult:
    def __init__(self, name):
        self.name = name
        self.ok = self.unknown = self.failed = 0
        self.tally = Tally()
        self.p99_before = self.p99_during = None
        self.failures = []   # make the suite fail
        self.warnings = []   # reported only
        self.notes = []
        self.seconds = 0.0
        self.logdir = None
        self.latency_warn = False
        self.interfered = False
        self.positions = "-"  # log 0's positions after the run: "n ok", "GAP", "-"
        self.verify = "-"     # the auditor's GET /verify status

    def status(self, strict_latency):
        if self.failures or (strict_latency and self.latency_warn):
            return "FAIL"
        return "WARN" if self.latency_warn or self.warnings else "ok"


class ReadyWatch:
    """Polls the daemons' /readyz every 20 ms from a thread of its own while
    a fault is injected, and judges how soon they turned 503 after the
    fault and 200 after the repair (README "Health": within READY_FLIP_S)."""

    def __init__(self, stack, names):
        self.stack, self.names = stack, names
        self.samples = []  # (monotonic time, name, HTTP status or None)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self):
        while not self.stop.wait(0.02):
            for name in self.names:
                try:
                    status, _, _ = harness.http("GET", self.stack.url(name, "/readyz"),
                                                timeout=2)
                except OSError:
                    status = None
                self.samples.append((time.monotonic(), name, status))

    def judge(self, res, t_fault, t_back, fault, back):
        time.sleep(READY_FLIP_S + 0.2)  # samples past the second after the repair
        self.stop.set()
        self.thread.join(5)
        for name in self.names:
            mine = [(t, st) for t, n, st in self.samples if n == name]
            down = next((t for t, st in mine if t >= t_fault and st == 503), None)
            # Ready again: the first 200 after the repair from which on it stays 200.
            up = None
            for t, st in mine:
                if t < t_back:
                    continue
                if st == 200 and up is None:
                    up = t
                elif st != 200:
                    up = None
            took_down = None if down is None else down - t_fault
            took_up = None if up is None else max(0.0, up - t_back)
            res.notes.append(f"{name} /readyz: 503 {_s(took_down)} after {fault}, 200 "
                             f"{_s(took_up)} after {back}")
            if took_down is None or took_down > READY_FLIP_S:
                res.failures.append(f"{name} /readyz did not answer 503 within "
                                    f"{READY_FLIP_S:g} s after {fault} ({_s(took_down)})")
            if took_up is None or took_up > READY_FLIP_S:
                res.failures.append(f"{name} /readyz did not answer 200 (and stay so) within "
                                    f"{READY_FLIP_S:g} s after {back} ({_s(took_up)})")


def _s(v):
    return "never" if v is None else f"{v:.2f} s"


class Suite:
    def __init__(self, args):
        self.args = args
        self.broker = mq.Broker()
        self.db = None
        self.cluster = None  # tests/cluster's Cluster, for the cluster runs
        self.first_node = None  # the node first in the daemons' URL list (None: node 1)
        self.tag = uuid.uuid4().hex[:8]
        atexit.register(self.broker.thaw)  # never leave the broker frozen

    # -- one run -------------------------------------------------------------

    def run(self, name):
        res = RunResult(name)
        start = time.monotonic()
        rundir = tempfile.mkdtemp(prefix=f"auditlog-fault-{name}-")
        res.logdir = rundir
        spool = os.path.join(rundir, "spool")
        os.makedirs(spool)
        infra_log = os.path.join(rundir, "run-sh-infra.log")
        cl = name in CLUSTER_RUNS
        # cluster-node-kill: the daemons reach the node it kills first.
        self.first_node = self._most_leader() if name == "cluster-node-kill" else None
        topo = self._cluster_env() if cl else {}
        stack = FaultStack(rundir, dict(topo, AUDITLOG_SPOOL_DIR=spool),
                           dict(self.db.env(), **topo), auditors=2 if cl else 1)
        stop = threading.Event()
        watch_stop = threading.Event()
        others = self.others = []
        watcher = threading.Thread(target=self._watch_consumers,
                                   args=(watch_stop, others), daemon=True)
        clients = []
        try:
            if name.startswith("rabbit-"):
                self.broker.pid()  # NotOurBroker: fail, never skip
            self._purge(cl, mq.DEAD_QUEUE)
            backlog = self._ready(cl)
            if backlog:
                res.notes.append(f"{backlog} messages were already queued at the start")
            stack.start("auditor")
            if cl:
                stack.start("auditor2")
            stack.start("api")
            if not cl:  # the cluster's vhost is this suite's alone
                self._check_sole_consumer(res)
                watcher.start()
            admin = stack.token(1)
            run_tag = f"{self.tag}-{name}-{uuid.uuid4().hex[:4]}"
            nclients = self.args.term_clients if name in TERM_RUNS else self.args.clients
            for i in range(nclients):
                c = Client(i, run_tag, stack.ports["api"], admin, stop,
                           pace_s=self.args.pace_ms / 1000.0, seed=f"{run_tag}-{i}")
                c.setup()
                clients.append(c)
            for c in clients:
                c.start()
            t_load = time.monotonic()
            say(f"{name}: load from {len(clients)} clients, {self.args.before:g}s before the "
                "fault")
            time.sleep(self.args.before)
            if not any(r.outcome == "ok" for c in clients for r in list(c.records)):
                raise RuntimeError("no request succeeded before the fault: the load is not "
                                   "flowing")
            t_inject = time.monotonic()
            extra = self._inject(name, stack, res, infra_log)
            t_over = time.monotonic()
            say(f"{name}: fault over after {t_over - t_inject:.1f}s; load goes on "
                f"{self.args.after:g}s")
            time.sleep(self.args.after)
            stop.set()
            for c in clients:
                c.join(30)
                if c.is_alive():
                    res.failures.append(f"client {c.idx} did not stop within 30s")
                if c.exception:
                    res.failures.append(f"client {c.idx} crashed: {c.exception!r}")
            stack.check_alive()
            records = [r for c in clients for r in c.records]
            res.ok = sum(r.outcome == "ok" for r in records)
            res.unknown = sum(r.outcome == "unknown" for r in records)
            res.failed = sum(r.outcome == "failed" for r in records)
            res.p99_before = p99([r.latency for r in records
                                  if r.outcome == "ok" and t_load <= r.t < t_inject])
            res.p99_during = p99([r.latency for r in records
                                  if r.outcome == "ok" and t_inject <= r.t < t_over])
            self._note_outcomes(name, records, t_inject, t_over, res)
            say(f"{name}: {len(records)} requests ({res.ok} ok, {res.unknown} unknown, "
                f"{res.failed} failed); draining")
            events, poison_state = self._drain(stack, clients, admin, extra, res, cl)
            self._verify(name, clients, events, extra, poison_state, res)
            self._verify_log(stack, admin, res, CLUSTER_PARTITIONS if cl else 1)
            self._verify_order(res)
            if res.failures or self.args.keep_logs:
                self._dump(rundir, clients, events)
            self._latency(name, res)
        except mq.NotOurBroker as e:
            res.failures.append(f"the broker is not our node: {e}")
        except Exception as e:  # noqa: BLE001 - a run's failure is reported, the suite goes on
            import traceback
            traceback.print_exc()
            res.failures.append(f"{type(e).__name__}: {e}")
        finally:
            stop.set()
            watch_stop.set()
            for c in clients:
                c.join(15)
            if watcher.is_alive():
                watcher.join(5)
            if others:
                res.interfered = True
                res.failures.insert(0, f"INVALID RUN: {mq.QUEUE} had {others[0][1]} consumers at "
                                    f"{others[0][0]} ({len(others)} samples): another auditor "
                                    "(a concurrent test run?) took part of the events, so "
                                    "losses below are not the daemons' doing")
            try:
                if cl:
                    for node in self.cluster.nodes.values():
                        if node.dead:
                            node.start()
                else:
                    self.broker.repair(infra_log)
            except Exception as e:  # noqa: BLE001
                res.failures.append(f"could not bring RabbitMQ back: {e}")
            if not self.db.running():
                try:
                    self.db.start()
                except Exception as e:  # noqa: BLE001
                    res.failures.append(f"could not bring the auditor's MariaDB back: {e}")
            stack.shutdown()
            for p in stack.problems:
                res.failures.append(p)
            self._log_notes(stack, res)
            res.seconds = time.monotonic() - start
            if res.failures or self.args.keep_logs:
                say(f"{name}: logs kept in {rundir}")
            else:
                shutil.rmtree(rundir, ignore_errors=True)
        return res

    def _watch_consumers(self, stop, seen):
        """Background: notes any moment the queue has more consumers than ours."""
        while not stop.wait(0.2):
            try:  # also while the broker is frozen or down: the probe then just fails
                info = amqp_probe.queue_info(mq.AMQP_URL, mq.QUEUE, timeout=1)
            except (OSError, amqp_probe.AmqpError):
                continue
            if info and info[1] > OUR_CONSUMERS:
                seen.append((time.strftime("%H:%M:%S"), info[1]))

    def _check_sole_consumer(self, res):
        """Our auditor's consumers must be the only ones on the queue, or part of
        the events would go elsewhere and look lost. Waits (up to
        --wait-alone seconds) for another consumer, e.g. a concurrent test
        run's auditor, to go away."""
        t0 = time.monotonic()
        said = 0.0
        while True:
            info = amqp_probe.queue_info(mq.AMQP_URL, mq.QUEUE)
            consumers = info[1] if info else 0
            waited = time.monotonic() - t0
            if consumers == OUR_CONSUMERS:
                if waited > 1:
                    res.notes.append(f"waited {waited:.0f}s for another consumer of "
                                     f"{mq.QUEUE} to leave")
                return
            if consumers > OUR_CONSUMERS and waited >= self.args.wait_alone:
                raise RuntimeError(
                    f"{mq.QUEUE} still has {consumers} consumers after {waited:.0f}s: another "
                    "auditor uses this vhost (a concurrent test run?); results would be "
                    "meaningless")
            if consumers < OUR_CONSUMERS and waited > 10:
                raise RuntimeError(f"our auditor has {consumers} of its {OUR_CONSUMERS} consumers "
                                   f"on {mq.QUEUE} after 10s")
            if consumers > OUR_CONSUMERS and waited - said >= 10:
                said = waited
                say(f"{mq.QUEUE} has {consumers} consumers (another auditor on this vhost); "
                    f"waiting up to {self.args.wait_alone:g}s for it to leave")
            time.sleep(0.2)

    # -- the cluster runs --------------------------------------------------------

    def _cluster_env(self):
        """The daemons' settings for the cluster runs: every node's URL, the
        partitions on quorum queues, two auditors sharing them. The URLs
        start from first_node (the node every daemon connects to first)."""
        nodes = sorted(self.cluster.nodes)
        if self.first_node:
            k = nodes.index(self.first_node)
            nodes = nodes[k:] + nodes[:k]
        return {"AUDITLOG_AMQP_URL": ",".join(self.cluster.url(n) for n in nodes),
                "AUDITLOG_PARTITIONS": str(CLUSTER_PARTITIONS), "AUDITLOG_QUEUE_TYPE": "quorum",
                "AUDITLOG_AUDITORS": "2", "AUDITLOG_STANDBY_MS": "500",
                "AUDITLOG_REBALANCE_MS": "3000"}

    def _leaders(self, via=1):
        """{partition queue: number of the node leading it}, as node via sees it."""
        queues = self.cluster.queues(via)
        return {q: cluster_mod.node_number(queues[q]["leader"]) for q in self._queues(True)
                if q in queues}

    def _most_leader(self):
        """The node leading the most partition queues (1 when none exists
        yet: the daemons declare them on the node they reach first, which
        then leads them)."""
        try:
            leaders = list(self._leaders().values())
        except (RuntimeError, ValueError, KeyError) as e:
            say(f"cannot list the partition queues' leaders ({e}); the daemons reach node 1 "
                "first")
            return 1
        return max(set(leaders), key=leaders.count) if leaders else 1

    def _log_ends(self):
        """{log: highest position stored} of the partitions' logs."""
        out = self.db.root_sql(
            "SELECT log_id, MAX(seq) FROM data_events WHERE log_id < "
            f"{CLUSTER_PARTITIONS} GROUP BY log_id", database=DB_NAME, timeout=5)
        return {int(a): int(b) for a, b in (ln.split("\t") for ln in out.splitlines() if ln)}

    def _queues(self, cl):
        return [mq.QUEUE] if not cl else \
            [mq.QUEUE] + [f"{mq.QUEUE}.{p}" for p in range(1, CLUSTER_PARTITIONS)]

    def _ready(self, cl):
        """Messages ready in the audit queue(s): every partition's on the
        cluster. None when one cannot be read."""
        if not cl:
            return mq.count(mq.QUEUE)
        url = self._cluster_env()["AUDITLOG_AMQP_URL"]
        try:
            return sum(mq.count(q, url=url) for q in self._queues(cl))
        except (RuntimeError, ValueError, IndexError):
            return None  # not declared yet, or a node away

    def _purge(self, cl, queue):
        if not cl:
            mq.purge(queue)
            return
        try:
            mq.purge(queue, url=self._cluster_env()["AUDITLOG_AMQP_URL"])
        except RuntimeError:
            pass  # not declared yet: the daemons declare it

    def _holders(self):
        """{log: writer} of the newest lease of each partition's log."""
        out = self.db.root_sql(
            "SELECT l.log_id, l.writer FROM log_leases l JOIN (SELECT log_id, MAX(epoch) e "
            "FROM log_leases GROUP BY log_id) m ON l.log_id = m.log_id AND l.epoch = m.e "
            f"WHERE l.log_id < {CLUSTER_PARTITIONS}", database=DB_NAME)
        return {int(line.split("\t")[0]): line.split("\t", 1)[1]
                for line in out.splitlines() if line.strip()}

    def _verify_order(self, res):
        """One target's mutations: in one log, their versions in its order
        (issue 16's requirement, which the consumer's wait keeps across a
        takeover and its hand-back order across a database outage)."""
        out = self.db.root_sql(
            "SELECT COUNT(*) FROM (SELECT target_type, target_id FROM data_event_mutations "
            "GROUP BY target_type, target_id HAVING COUNT(DISTINCT log_id) > 1) x",
            database=DB_NAME)
        if int(out.strip() or 0):
            res.failures.append(f"{out.strip()} targets have mutations in more than one log")
        # Each mutation against the highest version stored before it in its
        # target's log (a window: one sort; a self-join took minutes on the
        # monthly partitions).
        later = ("SELECT target_type, target_id, log_id, seq, target_version, action, "
                 "MAX(target_version) OVER (PARTITION BY target_type, target_id, log_id "
                 "ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before_max "
                 "FROM data_event_mutations")
        out = self.db.root_sql(f"SELECT COUNT(*) FROM ({later}) x WHERE before_max >= "
                               "target_version", database=DB_NAME)
        if int(out.strip() or 0):
            pairs = self.db.root_sql(
                "SELECT target_type, target_id, log_id, seq, target_version, action, before_max "
                f"FROM ({later}) x WHERE before_max >= target_version LIMIT 3",
                database=DB_NAME)
            msg = (f"{out.strip()} mutations are stored after a version of their target as "
                   "high or higher, e.g. (type, id, log, seq, version, action, highest "
                   "version before it): " +
                   "; ".join(ln.replace("\t", " ") for ln in pairs.splitlines()))
            res.failures.append(msg)
        else:
            res.notes.append("every target's mutations are in one log, in their versions' order")

    def _gap_s(self, watch, name, t_from):
        """The longest run of non-200 /readyz answers of name after t_from."""
        worst, start = 0.0, None
        for t, n, st in watch.samples:
            if n != name or t < t_from:
                continue
            if st != 200 and start is None:
                start = t
            elif st == 200 and start is not None:
                worst, start = max(worst, t - start), None
        if start is not None:
            worst = max(worst, time.monotonic() - start)
        return worst

    def _node_down(self, name, res):
        """Kills first_node, which leads some partition queues and holds
        every daemon's connection, and keeps it down --node-down seconds
        while sampling each log's end every 0.2 s. A log whose end stood
        still for more than FAILOVER_S meanwhile fails the run. Returns
        (the node, when it was killed), or None when it leads no queue."""
        n = self.first_node
        leaders = self._leaders(n)
        led = [q for q, ln in leaders.items() if ln == n]
        if not led:
            res.failures.append(f"node {n} leads no partition queue ({leaders}): the run "
                                "would not test a leader's death")
            return None
        samples, stop = [], threading.Event()

        def sample():
            while not stop.wait(0.2):
                try:
                    samples.append((time.monotonic(), self._log_ends()))
                except (RuntimeError, ValueError, subprocess.TimeoutExpired):
                    pass
        samples.append((time.monotonic(), self._log_ends()))
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t = time.monotonic()
        self.cluster.kill(n)
        say(f"{name}: SIGKILLed node {n} (leader of {', '.join(led)}; every daemon's first "
            f"node); keeping it down {self.args.node_down:g}s")
        time.sleep(max(0.0, t + self.args.node_down - time.monotonic()))
        stop.set()
        sampler.join(5)
        t_end = time.monotonic()
        stalled = False
        for log in range(CLUSTER_PARTITIONS):
            # The longest time the log's end stood still between the kill
            # and the end of the outage.
            moved, last = [t], samples[0][1].get(log, -1)
            for ts, ends in samples[1:]:
                if ends.get(log, -1) != last:
                    last = ends.get(log, -1)
                    if ts > t:
                        moved.append(ts)
            moved.append(t_end)
            worst = max(b - a for a, b in zip(moved, moved[1:]))
            q = self._queues(True)[log]
            res.notes.append(f"log {log} ({q}, led by node {leaders.get(q)}): stood still at "
                             f"most {worst:.2f} s while node {n} was down")
            if worst > FAILOVER_S:
                stalled = True
                res.failures.append(f"log {log} stored nothing for {worst:.1f} s while node {n} "
                                    f"(leader of {q if q in led else 'other queues'}, holding "
                                    f"the connections) was down (at most {FAILOVER_S:g} s)")
        if stalled:
            # The broker's view while the node is still down: messages ready
            # with nobody storing them point at the consumers, none at the
            # producer.
            via, vh = n % 3 + 1, self.cluster.vhost
            for what, cols in (("queues", ("name", "leader", "messages_ready",
                                           "messages_unacknowledged", "consumers")),
                               ("consumers", ("queue_name", "channel_pid", "activity_status"))):
                try:
                    out = self.cluster.ctl(via, "-q", f"list_{what}", "-p", vh, *cols)
                    res.failures.append(f"{what} ({', '.join(cols)}) as node {via} sees them: " +
                                        "; ".join(ln.replace("\t", " ")
                                                  for ln in out.splitlines()[1:]))
                except RuntimeError as e:
                    res.failures.append(f"could not list the {what}: {e}")
        return n, t

    def _inject_cluster(self, name, stack, res):
        if name == "cluster-node-kill":
            watch = ReadyWatch(stack, ("api", "auditor", "auditor2"))
            time.sleep(0.5)
            down = self._node_down(name, res)
            if down is None:
                watch.stop.set()
                return None
            n, t = down
            t1 = time.monotonic()
            self.cluster.restart(n)
            say(f"{name}: node {n} back in the cluster after {time.monotonic() - t1:.1f}s")
            time.sleep(1.0)
            watch.stop.set()
            watch.thread.join(5)
            for d in ("api", "auditor", "auditor2"):
                gap = self._gap_s(watch, d, t)
                res.notes.append(f"{d} /readyz not 200 for at most {gap:.2f} s after node {n} "
                                 "was killed")
                if gap > FAILOVER_S:
                    res.failures.append(f"{d} was not ready for {gap:.1f} s after a node was "
                                        f"killed (at most {FAILOVER_S:g} s)")
            after = self.cluster.queues(n % 3 + 1)
            res.notes.append("partition queue leaders after: " + ", ".join(
                f"{q} on node {cluster_mod.node_number(after[q]['leader'])}"
                for q in self._queues(True) if q in after))
        elif name == "cluster-auditor-kill":
            holders = self._holders()
            pids = {d: stack.daemons[d].proc.pid for d in ("auditor", "auditor2")}
            victim = next(d for d, pid in pids.items() if f"pid {pid} " in holders.get(0, ""))
            survivor = "auditor2" if victim == "auditor" else "auditor"
            logs = [p for p, w in holders.items() if f"pid {pids[victim]} " in w]
            t = time.monotonic()
            stack.kill(victim)
            say(f"{name}: SIGKILLed {victim}, the writer of logs {logs}")
            deadline = t + 30
            while time.monotonic() < deadline:
                h = self._holders()
                if all(f"pid {pids[survivor]} " in h.get(p, "") for p in logs):
                    break
                time.sleep(0.05)
            took = time.monotonic() - t
            res.notes.append(f"{survivor} took logs {logs} over {took:.2f} s after {victim} "
                             "was killed")
            if took > FAILOVER_S:
                res.failures.append(f"the logs of the killed auditor were taken over after "
                                    f"{took:.1f} s (at most {FAILOVER_S:g} s)")
            time.sleep(1.0)
            stack.restart(victim)
            pid = stack.daemons[victim].proc.pid
            t = time.monotonic()
            while time.monotonic() < t + 30:
                if all(f"pid {pid} " in self._holders().get(p, "") for p in logs):
                    res.notes.append(f"{victim}, restarted, had its logs back after "
                                     f"{time.monotonic() - t:.2f} s")
                    break
                time.sleep(0.1)
            else:
                res.failures.append(f"{victim}, restarted, did not get its logs {logs} back "
                                    "within 30 s")
        return None

    # -- faults ----------------------------------------------------------------

    def _inject(self, name, stack, res, infra_log):
        """Injects the fault; returns once it is over (restarted, thawed...)."""
        if name in CLUSTER_RUNS:
            return self._inject_cluster(name, stack, res)
        outage = self.args.outage
        if name == "rabbit-kill":
            watch = ReadyWatch(stack, READY_RUNS[name])
            t = time.monotonic()
            pid = self.broker.kill()
            say(f"{name}: SIGKILLed beam.smp {pid}; starting it again in {outage:g}s")
            time.sleep(max(0.0, t + outage - time.monotonic()))
            t1 = time.monotonic()
            pid = self.broker.start(infra_log)
            t2 = time.monotonic()
            say(f"{name}: ./run.sh infra took {t2 - t1:.1f}s; broker pid {pid}")
            res.notes.append(f"broker down {time.monotonic() - t:.1f}s")
            watch.judge(res, t, t2, "the broker was killed", "it was up again")
        elif name == "rabbit-freeze":
            pid = self.broker.freeze()
            say(f"{name}: SIGSTOP beam.smp {pid} for {outage:g}s")
            try:
                time.sleep(outage)
            finally:
                self.broker.thaw()
            say(f"{name}: SIGCONT")
        elif name == "auditor-kill":
            rows = self._wait_mid_batch()
            stack.kill("auditor")
            requeued = mq.count(mq.QUEUE)
            what = (f"inside a store transaction ({rows} rows inserted, not committed)"
                    if rows else "(between store transactions)")
            what += (f"; {requeued} messages ready right after the kill (its unacknowledged "
                     "deliveries go back to the queue)")
            res.notes.append(f"auditor killed {what}")
            say(f"{name}: auditor SIGKILLed {what}; restarting it")
            stack.restart("auditor")
        elif name == "auditor-db-stop":
            watch = ReadyWatch(stack, READY_RUNS[name])
            t = time.monotonic()
            self.db.stop()
            t_down = time.monotonic()
            say(f"{name}: auditor's MariaDB shut down ({t_down - t:.1f}s); "
                f"starting it again in {outage:g}s")
            time.sleep(outage)
            self.db.start()
            t2 = time.monotonic()
            res.notes.append(f"auditor's database down {time.monotonic() - t:.1f}s")
            watch.judge(res, t_down, t2, "the database was shut down", "it was up again")
        elif name == "api-kill":
            stack.kill("api")
            say(f"{name}: API SIGKILLed; restarting it")
            t = time.monotonic()
            stack.restart("api")
            res.notes.append(f"API down {time.monotonic() - t:.1f}s")
        elif name in TERM_RUNS:
            daemon = TERM_RUNS[name]
            if daemon == "auditor":
                self._wait_mid_batch()
            code, took = stack.terminate(daemon)
            say(f"{name}: {daemon} stopped by SIGTERM in {took:.1f}s with status {code}; "
                "restarting it")
            res.notes.append(f"{daemon} stopped by SIGTERM in {took:.2f}s")
            if code != 0:
                res.failures.append(f"{daemon} exited with status {code} on SIGTERM (its "
                                    "deadline passed, or it crashed)")
            stack.restart(daemon)
        elif name == "poison":
            return self._publish_poison(res)
        return None

    def _wait_mid_batch(self, timeout=1.0):
        """Waits until the auditor is inside a store transaction that has
        inserted rows but not committed (seen in the private server's
        information_schema.innodb_trx), so the SIGKILL lands mid-batch.
        Returns the uncommitted row count, or None if none was seen."""
        deadline = time.monotonic() + timeout
        q = ("SELECT COALESCE(MAX(trx_rows_modified), 0) FROM information_schema.innodb_trx "
             "WHERE trx_rows_modified > 0")
        while time.monotonic() < deadline:
            try:
                n = int(self.db.root_sql(q).strip() or 0)
            except (RuntimeError, ValueError):
                n = 0
            if n:
                return n
        return None

    def _publish_poison(self, res):
        tag = f"{self.tag}"
        poison = poison_messages(tag)
        valid = [valid_event(tag, n) for n in range(6)]
        order = []
        vi = 0
        for i, p in enumerate(poison):
            if i % 5 == 0 and vi < len(valid):
                order.append(("valid", valid[vi]))
                vi += 1
            order.append(("poison", p))
        order.extend(("valid", v) for v in valid[vi:])
        for kind, item in order:
            if kind == "valid":
                mq.publish(json.dumps(item).encode(), item["id"])
            else:
                label, body = item
                mq.publish(body, "poison-" + label.replace(" ", "-"))
            time.sleep(0.15)
        say(f"poison: published {len(poison)} poison messages and {len(valid)} valid events")
        return {"tag": tag, "poison": poison, "valid": valid}

    # -- drain and verify ------------------------------------------------------

    def _counts(self, clients):
        """How many events each client's user is the actor of, as stored (the
        administrator's count: cheap, where reading them all through the
        auditor takes seconds); None while the database does not answer."""
        ids = ",".join(f"'{c.actor_id}'" for c in clients)
        try:
            out = self.db.root_sql(
                "SELECT actor_id, COUNT(*) FROM data_events WHERE actor_type = 'users' AND "
                f"actor_id IN ({ids}) GROUP BY actor_id", database=DB_NAME, timeout=30)
        except (RuntimeError, subprocess.TimeoutExpired):
            return None
        got = dict(line.split("\t") for line in out.splitlines() if line.strip())
        return [int(got.get(str(c.actor_id), 0)) for c in clients]

    def _drain(self, stack, clients, token, extra, res, cl=False):
        """Polls until everything expected is stored and stable, or counts
        stop moving, or the timeout. The stored counts are polled; every
        client's events are read (and compared with what it did) once the
        counts have stood still for --settle. Returns (events per client,
        poison state)."""
        args = self.args
        deadline = time.monotonic() + args.drain_timeout
        last_sig, stable_since = None, time.monotonic()
        fetched_sig, events, missing, poison_state, complete = None, None, None, None, False
        t0 = time.monotonic()
        while True:
            ready = self._ready(cl)
            sig = self._counts(clients)
            if extra:
                stored = [e for e in stack.fetch_events(
                    f"filter[actor]={POISON_ACTOR[0]}:{POISON_ACTOR[1]}", token)
                    if e["attributes"]["targetId"].startswith(extra["tag"] + "-")]
                dead = mq.count(mq.DEAD_QUEUE)
                poison_state = {"stored": stored, "dead": dead}
                sig = None if sig is None else sig + [len(stored), dead]
            now = time.monotonic()
            if sig is None or sig != last_sig:
                last_sig, stable_since = sig, now
            stable = now - stable_since
            if ready == 0 and sig is not None and stable >= args.settle and sig != fetched_sig:
                events = {c.idx: stack.fetch_events(f"filter[actor]=users:{c.actor_id}", token)
                          for c in clients}
                fetched_sig = sig
                missing = sum(missing_counts(c.records, events[c.idx]) for c in clients)
                complete = missing == 0
                if extra:
                    complete = complete and poison_state["dead"] >= len(extra["poison"]) and \
                        len({e["id"] for e in poison_state["stored"]} &
                            {v["id"] for v in extra["valid"]}) == len(extra["valid"])
            if complete and sig == fetched_sig:
                say(f"drained in {now - t0:.1f}s: everything expected is stored")
                return events, poison_state
            if ready == 0 and sig == fetched_sig and stable >= args.settle_incomplete:
                say(f"drained in {now - t0:.1f}s: counts stable for {stable:.1f}s with "
                    f"{missing} expected events missing")
                return events, poison_state
            if now > deadline:
                if events is None or sig != fetched_sig:
                    events = {c.idx: stack.fetch_events(f"filter[actor]=users:{c.actor_id}",
                                                        token) for c in clients}
                    missing = sum(missing_counts(c.records, events[c.idx]) for c in clients)
                res.notes.append(f"drain timed out after {args.drain_timeout:g}s ({ready} "
                                 f"messages still ready, {missing} expected events missing)")
                say(f"drain timed out: {ready} ready, {missing} missing")
                return events, poison_state
            time.sleep(0.5)

    def _verify(self, name, clients, events, extra, poison_state, res):
        for c in clients:
            res.tally.add(compare(f"client {c.idx} (users:{c.actor_id})", c.actor_id,
                                  c.records, events[c.idx]))
        t = res.tally
        if extra:
            self._verify_poison(extra, poison_state, res)
        else:
            url = self._cluster_env()["AUDITLOG_AMQP_URL"] if name in CLUSTER_RUNS \
                else mq.AMQP_URL
            try:
                dead = mq.count(mq.DEAD_QUEUE, url=url)
            except (RuntimeError, ValueError, IndexError) as e:
                dead = 0
                res.failures.append(f"cannot count {mq.DEAD_QUEUE}: {e}")
            if dead:
                res.failures.append(f"{dead} messages in {mq.DEAD_QUEUE} although no poison "
                                    "was sent (valid events dead-lettered?)")
                for _ in range(min(dead, 5)):
                    m = mq.get(mq.DEAD_QUEUE, url=url)
                    if m:
                        res.failures.append(f"  dead: reason {m[0]!r} body {m[1][:200]!r}")
        if t.lost_mut:
            res.failures.append(f"{t.lost_mut} mutation events lost")
        if t.lost_views:
            if name == "api-kill" and t.lost_views <= self.args.view_loss_window:
                res.notes.append(f"{t.lost_views} view events lost (documented window "
                                 f"{self.args.view_loss_window})")
            else:
                res.failures.append(f"{t.lost_views} view events lost")
        if t.duplicated:
            res.failures.append(f"{t.duplicated} events stored more than once")
        if t.unexpected:
            res.failures.append(f"{t.unexpected} stored events that no request explains")
        if (t.lost_mut or (t.lost_views and name != "api-kill")) and not self.others:
            res.failures.append("(if other tests use this vhost at the same time, a consumer "
                                "that came and went between two probes may have taken them)")
        if t.from_unknown:
            res.notes.append(f"{t.from_unknown} stored events from unknown-outcome requests")
        if res.failures:
            res.failures.extend("  " + d for d in t.details)

    def _verify_log(self, stack, token, res, logs=1):
        """The log of record after the fault, as the administrator sees the
        table and as the auditor verifies it: positions 0..n-1 of each log
        (0 .. logs - 1) with no gap and no repeat (n rows, n distinct
        positions, MIN 0, MAX n-1), the appends giving exactly n positions,
        and GET /verify answering 200."""
        shown = []
        for log in range(logs):
            out = self.db.root_sql(
                "SELECT COUNT(*), COUNT(DISTINCT seq), COALESCE(MIN(seq), -1), "
                "COALESCE(MAX(seq), -1), (SELECT COALESCE(SUM(LENGTH(leaf_hashes)) DIV 32, 0) "
                f"FROM log_appends WHERE log_id = {log}) FROM data_events WHERE log_id = {log}",
                database=DB_NAME)
            n, distinct, lo, hi, given = (int(x) for x in out.split())
            if n == 0:
                shown.append("empty")
                res.failures.append(f"log {log} holds no event after the run")
            elif distinct != n or given != n:
                shown.append("REPEAT")
                res.failures.append(f"positions of log {log}: {n} rows, {distinct} distinct "
                                    f"positions, {given} positions given by the appends")
            elif lo != 0 or hi != n - 1:
                shown.append("GAP")
                res.failures.append(f"positions of log {log}: {n} rows from seq {lo} to {hi} "
                                    f"(expected 0 to {n - 1}): "
                                    f"{'missing' if hi - lo + 1 > n else 'extra'} positions")
            else:
                shown.append(f"{n} ok")
        res.positions = shown[0] if logs == 1 else "+".join(
            x.split()[0] if x.endswith(" ok") else x for x in shown) + \
            (" ok" if all(x.endswith(" ok") for x in shown) else "")
        status, _, body = stack.request("auditor", "GET", "/verify", token=token, raw=True)
        res.verify = str(status)
        text = body.decode("utf-8", "replace")[:500]
        if status == 404:
            res.notes.append(f"GET /verify answers 404 (a build without the route?): not checked; "
                             f"{text}")
        elif status != 200:
            res.failures.append(f"GET /verify answers {status}: {text}")

    def _dump(self, rundir, clients, events):
        """For diagnosis: every request and every stored event of the run, and
        what the auditor's database holds for the run's actors (with the
        time each row was received)."""
        with open(os.path.join(rundir, "requests.tsv"), "w") as f:
            f.write("client\tactor\tt\tlatency_ms\top\toutcome\tstatus\ttarget\tchanges\t"
                    "error\n")
            for c in clients:
                for r in c.records:
                    f.write(f"{c.idx}\t{c.actor_id}\t{r.t:.6f}\t{r.latency * 1000:.2f}\t{r.op}\t"
                            f"{r.outcome}\t{r.status}\t{r.target}\t"
                            f"{json.dumps(r.changes) if r.changes else ''}\t{r.error or ''}\n")
        with open(os.path.join(rundir, "events.json"), "w") as f:
            json.dump({c.actor_id: events[c.idx] for c in clients}, f)
        actors = ",".join(f"'{c.actor_id}'" for c in clients)
        try:
            rows = self.db.root_sql(
                f"SELECT seq, {sql_id('event_id')}, action, occurred_at, actor_id, target_id, "
                "received_at "
                f"FROM data_events WHERE actor_type = 'users' AND actor_id IN ({actors}) "
                "ORDER BY seq", database="audit-logging-auditor")
            with open(os.path.join(rundir, "auditor-rows.tsv"), "w") as f:
                f.write(rows)
        except RuntimeError as e:
            say(f"could not dump the auditor's rows: {e}")

    def _verify_poison(self, extra, state, res):
        t = res.tally
        valid_ids = {v["id"] for v in extra["valid"]}
        stored = state["stored"] if state else []
        t.expected += len(valid_ids)
        t.stored += len(stored)
        counts = {}
        for e in stored:
            counts[e["id"]] = counts.get(e["id"], 0) + 1
        for vid in valid_ids:
            n = counts.get(vid, 0)
            if n == 0:
                t.lost_mut += 1  # not a view of the load: counted as a hard loss
                t.note(f"valid hand-made event {vid} not stored")
            elif n > 1:
                t.duplicated += n - 1
                t.note(f"valid hand-made event {vid} stored {n} times")
        for e in stored:
            if e["id"] not in valid_ids:
                t.unexpected += 1
                t.note(f"poison stored as an event: {e}")
        sent = sorted(body for _, body in extra["poison"])
        dead = mq.count(mq.DEAD_QUEUE)
        got = []
        for _ in range(dead):
            m = mq.get(mq.DEAD_QUEUE)
            if m is None:
                break
            got.append(m)
        reasons_empty = [body[:80] for reason, body in got if not reason.strip()]
        bodies = sorted(body for _, body in got)
        res.notes.append(f"dead-letter queue {dead}/{len(sent)}")
        if dead != len(sent):
            res.failures.append(f"dead-letter queue holds {dead} messages; {len(sent)} poison "
                                "messages were sent")
        if reasons_empty:
            res.failures.append(f"{len(reasons_empty)} dead messages without an "
                                f"x-auditlog-reason: {reasons_empty}")
        if bodies != sent:
            missing = [lbl for lbl, b in extra["poison"] if b not in bodies]
            res.failures.append(f"dead-letter bodies differ from the poison sent; not "
                                f"dead-lettered: {missing}")
        self.poison_reasons = [(r, b[:60]) for r, b in got]

    def _log_notes(self, stack, res):
        """What the daemons' logs say: redelivered events the auditor skipped
        (evidence of a kill mid-batch), warnings and errors."""
        for name in ("api", "auditor", "auditor2"):
            try:
                with open(stack.log_path(name), "rb") as f:
                    lines = f.read().decode(errors="replace").splitlines()
            except OSError:
                continue
            said = [log_line(ln) for ln in lines]
            skipped = sum(int(m.group(1)) for m in
                          (re.search(r"skipped (\d+) already stored", msg) for _, msg in said)
                          if m)
            if skipped:
                res.notes.append(f"{name} skipped {skipped} events it already had "
                                 "(redeliveries or re-sends)")
            held = sum(int(m.group(1)) for m in
                       (re.search(r"(\d+) more wait for their target's previous version", msg)
                        for _, msg in said) if m)
            if held:
                res.notes.append(f"{name} held {held} mutations back for their target's "
                                 "previous version (README \"Per-target order\")")
            bad = [msg for level, msg in said if level in ("warn", "error") or "ERROR" in msg
                   or "Sanitizer" in msg]
            if bad:
                kinds = {}
                for msg in bad:
                    k = re.sub(r"\d+", "N", msg)[:90]
                    kinds[k] = kinds.get(k, 0) + 1
                top = sorted(kinds.items(), key=lambda kv: -kv[1])[:4]
                res.notes.append(f"{name} log: {len(bad)} warnings/errors: " +
                                 "; ".join(f"{n}x {k}" for k, n in top))

    def _note_outcomes(self, name, records, t_inject, t_over, res):
        wrong = [r for r in records if r.outcome == "ok" and r.error]
        if wrong:
            res.failures.append(f"{len(wrong)} ok answers with unexpected content, e.g. "
                                f"{wrong[0].op} users:{wrong[0].target}: {wrong[0].error}")
        odd = [r for r in records if r.status and 400 <= r.status < 500]
        if odd:
            res.warnings.append(f"{len(odd)} requests answered 4xx, e.g. {odd[0].op} "
                                f"users:{odd[0].target} {odd[0].status} {odd[0].error}")
        five = [r for r in records if r.status and r.status >= 500]
        if five:
            res.notes.append(f"{len(five)} answered 5xx (counted unknown), e.g. {five[0].op} "
                             f"{five[0].status} {five[0].error}")
        if name not in ("api-kill", "api-term"):
            gone = [r for r in records if r.outcome != "ok" and r.status is None]
            if gone:
                res.warnings.append(f"{len(gone)} requests without an answer although the API "
                                    f"was up, e.g. {gone[0].op}: {gone[0].error}")
        during_ok = sum(1 for r in records if r.outcome == "ok" and t_inject <= r.t < t_over)
        res.notes.append(f"{during_ok} ok during the fault")
        if records:
            span = max(r.t for r in records) - min(r.t for r in records)
            if span > 0:
                res.notes.append(f"load: {len(records) / span:.0f} requests/s")

    def _latency(self, name, res):
        if name not in LATENCY_RUNS or res.p99_before is None:
            return
        if res.p99_during is None:
            res.latency_warn = True
            res.notes.append("no request succeeded during the fault")
            return
        if res.p99_during > 2 * res.p99_before:
            res.latency_warn = True
            res.notes.append(f"p99 during the fault is {res.p99_during / res.p99_before:.1f}x "
                             "the p99 before it (limit 2x)")

    # -- the suite -------------------------------------------------------------

    def main(self, names):
        results = []
        self.db = AuditorDB(harness.SRC)
        try:
            say(f"auditor's private MariaDB: {self.db.dir} port {self.db.port}")
            self.db.create()
            if any(n in CLUSTER_RUNS for n in names):
                self.cluster = cluster_mod.Cluster(tempfile.mkdtemp(prefix="auditlog-cluster-"))
                say(f"cluster: up in {self.cluster.up():.1f}s")
                self._purge_partitions()
            for name in names:
                say(f"=== {name} ===")
                r = self.run(name)
                for attempt in range(self.args.retries):
                    if not r.interfered:
                        break
                    say(f"{name}: another consumer interfered; running it again")
                    first = r
                    r = self.run(name)
                    r.notes.insert(0, f"repeated: another consumer took events during the "
                                   f"first attempt (its logs: {first.logdir})")
                results.append(r)
                say(f"{name}: {r.status(self.args.strict_latency)} in {r.seconds:.1f}s")
        finally:
            self.broker.thaw()
            self.db.close()
            if self.cluster:
                self.cluster.down()
        return results

    def _purge_partitions(self):
        """The cluster's partition queues, left by an earlier run, emptied."""
        for q in self._queues(True):
            self._purge(True, q)


# -- the table -----------------------------------------------------------------

HEAD = ["fault", "requests ok", "unknown", "events expected", "stored", "lost", "duplicated",
        "log 0 positions", "/verify", "p99 before (ms)", "p99 during (ms)", "time (s)",
        "result"]


def _ms(v):
    return "-" if v is None else f"{v * 1000:.1f}"


def rows(results, strict):
    out = []
    for r in results:
        t = r.tally
        out.append([r.name, str(r.ok), str(r.unknown), str(t.expected), str(t.stored),
                    str(t.lost) + (f" ({t.lost_views} views)" if t.lost_views else ""),
                    str(t.duplicated), r.positions, r.verify, _ms(r.p99_before),
                    _ms(r.p99_during),
                    f"{r.seconds:.0f}", r.status(strict)])
    return out


def text_table(results, strict):
    body = rows(results, strict)
    w = [max(len(h), *(len(row[i]) for row in body)) if body else len(h)
         for i, h in enumerate(HEAD)]
    line = lambda cells: "  ".join(c.rjust(w[i]) if 0 < i < len(HEAD) - 1 else c.ljust(w[i])  # noqa: E731
                                   for i, c in enumerate(cells))
    return "\n".join([line(HEAD), line(["-" * x for x in w])] + [line(r) for r in body])


def markdown_table(results, strict):
    out = ["| " + " | ".join(HEAD) + " |",
           "|" + "|".join("---" if i in (0, len(HEAD) - 1) else "---:"
                          for i in range(len(HEAD))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows(results, strict)]
    return "\n".join(out)


def details(results, strict):
    lines = []
    for r in results:
        for label, items in (("FAIL", r.failures), ("warn", r.warnings), ("note", r.notes)):
            for i in items:
                lines.append(f"{r.name}: {label}: {i}")
        if r.latency_warn:
            lines.append(f"{r.name}: {'FAIL' if strict else 'warn'}: p99 latency during the "
                         f"fault over 2x before ({_ms(r.p99_during)} ms vs "
                         f"{_ms(r.p99_before)} ms)")
    return "\n".join(lines)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="comma-separated runs: " + ",".join(RUNS + CLUSTER_RUNS))
    ap.add_argument("--cluster", action="store_true",
                    help="the cluster runs (" + ", ".join(CLUSTER_RUNS) + ") instead of the others")
    ap.add_argument("--clients", type=int, default=4, help="concurrent clients (4)")
    ap.add_argument("--term-clients", type=int, default=6,
                    help="concurrent clients in api-term and auditor-term (6): the stop "
                         "must lose nothing at about 1,000 requests/s")
    ap.add_argument("--before", type=float, default=3.0,
                    help="seconds of load before the fault (3)")
    ap.add_argument("--after", type=float, default=2.0,
                    help="seconds of load after the fault is over (2)")
    ap.add_argument("--outage", type=float, default=10.0,
                    help="seconds the broker/database stays down or frozen (10)")
    ap.add_argument("--node-down", type=float, default=NODE_DOWN_S,
                    help=f"seconds cluster-node-kill keeps its node down ({NODE_DOWN_S:g})")
    ap.add_argument("--view-loss-window", type=int,
                    default=int(os.environ.get("AUDITLOG_FAULT_VIEW_WINDOW", "512")),
                    help="view events api-kill may lose (env AUDITLOG_FAULT_VIEW_WINDOW, 512)")
    ap.add_argument("--strict-latency", action="store_true",
                    help="fail (not only warn) when p99 during faults 1 and 2 exceeds 2x "
                         "the p99 before")
    ap.add_argument("--markdown", metavar="PATH", help="also write the table as markdown")
    ap.add_argument("--drain-timeout", type=float, default=45.0,
                    help="most seconds to wait for the pipeline to drain (45)")
    ap.add_argument("--settle", type=float, default=2.0,
                    help="seconds the counts must stay put once complete (2)")
    ap.add_argument("--settle-incomplete", type=float, default=6.0,
                    help="seconds the counts must stay put while events are missing (6; "
                         "longer than the daemons' reconnection backoff)")
    ap.add_argument("--pace-ms", type=float, default=0.0,
                    help="pause of each client between requests (0)")
    ap.add_argument("--wait-alone", type=float, default=60.0,
                    help="seconds to wait at the start of a run for another consumer of the "
                         "queue (a concurrent test run's auditor) to leave (60)")
    ap.add_argument("--retries", type=int, default=1,
                    help="runs repeated when another consumer took events from the queue (1)")
    ap.add_argument("--keep-logs", action="store_true",
                    help="keep every run's daemon logs (kept anyway for failed runs)")
    a = ap.parse_args(argv)
    if a.only:
        names = [n.strip() for n in a.only.split(",") if n.strip()]
        bad = [n for n in names if n not in RUNS + CLUSTER_RUNS]
        if bad:
            ap.error(f"unknown run(s) {bad}; known: {RUNS + CLUSTER_RUNS}")
    else:
        names = list(CLUSTER_RUNS if a.cluster else RUNS)
    if a.clients < 1:
        ap.error("--clients must be at least 1")
    return a, names


def main(argv=None):
    args, names = parse_args(sys.argv[1:] if argv is None else argv)
    for b in ("auditlog-api", "auditlog-auditor", "mqtool"):
        if not os.access(os.path.join(harness.BIN, b), os.X_OK):
            print(f"FAIL: {os.path.join(harness.BIN, b)} is missing (AUDITLOG_BIN_DIR?)")
            return 1
    say(f"runs: {', '.join(names)}; {args.clients} clients; binaries {harness.BIN}; "
        f"broker {mq.AMQP_URL}")
    suite = Suite(args)
    results = suite.main(names)
    total = time.monotonic() - T0
    print()
    print(text_table(results, args.strict_latency))
    print()
    d = details(results, args.strict_latency)
    if d:
        print(d)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown_table(results, args.strict_latency) + "\n")
    failed = [r.name for r in results if r.status(args.strict_latency) == "FAIL"]
    print(f"\n{len(results) - len(failed)}/{len(results)} runs passed in {total:.0f}s"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
