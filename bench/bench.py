#!/usr/bin/env python3
"""The auditlog benchmarks.

    ./run.sh bench            full sizes (several minutes); writes BENCHMARKS.md
    ./run.sh bench --smoke    tiny sizes, one run each: checks that every
                              benchmark runs and yields its figures (the
                              bench.smoke ctest test runs this)

run.sh builds the release binaries, provisions the -bench databases and the
auditlog-bench vhost and exports their AUDITLOG_* settings; this script uses
whatever AUDITLOG_* environment it is given (under ctest: the -test ones and
the sanitizer build, where the numbers mean nothing). Load comes from wrk and
from bench/loadgen (AMQP publishing, bulk loading through the auditor's own
store code). Standard library only.

Each figure is printed as one line (median of the runs, with min and max,
and in full mode the target and whether it is met) and collected into a
markdown table: bench/results/latest.md (full) or latest-smoke.md (smoke),
and in full mode BENCHMARKS.md at the repository root. Benchmarks are not
tests: the exit status is non-zero only when a benchmark could not run or
produced no figure, never because a target was missed.
"""
import argparse
import atexit
import bisect
import datetime
import glob
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.environ.get("AUDITLOG_SOURCE_DIR", os.path.join(HERE, "..")))
BIN = os.path.abspath(os.environ.get("AUDITLOG_BIN_DIR", os.path.join(SRC, "build", "bin")))
JSONAPI = "application/vnd.api+json"
QUEUE = "data-mutation-audits"
DEAD_QUEUE = "data-mutation-audits.dead"
CONSUMER_WEIGHT_MAX_MB = 8  # CONSUMER_MESSAGE_WEIGHT_MAX of services/auditor/auditor.h
DRAIN_CASES = ("batched", "single", "memory")

E = os.environ
MYSQL_HOST = E.get("AUDITLOG_MYSQL_HOST", "localhost")
MYSQL_PORT = E.get("AUDITLOG_MYSQL_PORT", "3306")
MYSQL_SOCKET = E.get("AUDITLOG_MYSQL_SOCKET", "")
MYSQL_USER = E.get("AUDITLOG_MYSQL_USER", "dev")
MYSQL_PASSWORD = E.get("AUDITLOG_MYSQL_PASSWORD", "dev")
API_DB = E.get("AUDITLOG_API_DB", "audit-logging-api")
AUDITOR_DB = E.get("AUDITLOG_AUDITOR_DB", "audit-logging-auditor")
AMQP_URL = E.get("AUDITLOG_AMQP_URL", "amqp://dev:dev@localhost:5672/")
STATE_DIR = os.path.abspath(E.get("AUDITLOG_STATE_DIR") or os.path.join(SRC, ".state"))
# The log's signing key: loadgen fill-db writes through the log's writer
# (the ledger) and signs with it, so the auditors started here must use the
# same file, or they halt on checkpoints signed by another key.
LOG_KEY = os.path.abspath(E.get("AUDITLOG_LOG_KEY") or
                          os.path.join(SRC, ".state", "keys", "log-signer.key"))
# The log of record's tables (sql/auditor/0003_log_of_record.sql): emptied
# together, and never under a running auditor, whose ledger holds the tree
# in memory and halts when rows it wrote vanish.
LOG_TABLES = ("data_event_values", "data_event_changes", "log_appends", "log_nodes",
              "log_checkpoints", "data_event_mutations", "data_event_flags", "log_checked",
              "data_event_version_spans", "data_events", "log_leases", "data_event_ids",
              "log_retained", "data_event_retained_versions")

SIZES = {
    "full": dict(runs=3, warm_s=5, get_s=60, cmp_s=15, patch_s=15, web_s=10, query_s=8,
                 c1_s=5, sample_s=2.0, drain_events=1_000_000, small_rows=100_000,
                 mem_strings=200, mem_ints=60, mem_objects=30, mem_oversize=4, mem_overweight=4,
                 big_rows=10_000_000, hot_share=0.06, patch_users=32, deep_pages=100,
                 proof_s=30, proof_ids=10_000, ab_events=1_000_000, filter_s=5,
                 filter_size=10, filter_deep_pages=999, history_rows=100_000,
                 export_rows=10_000_000, export_runs=2),
    "smoke": dict(runs=1, warm_s=1, get_s=2, cmp_s=1, patch_s=2, web_s=2, query_s=1,
                  c1_s=1, sample_s=0.5, drain_events=5_000, small_rows=20_000, big_rows=21_000,
                  mem_strings=8, mem_ints=2, mem_objects=2, mem_oversize=1, mem_overweight=1,
                  hot_share=0.3, patch_users=32, deep_pages=20, proof_s=2, proof_ids=200,
                  ab_events=5_000, filter_s=1, filter_size=10, filter_deep_pages=3,
                  history_rows=1_000, export_rows=5_000, export_runs=1),
}

# ---------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------

_live = []


def _kill_all():
    for p in _live:
        if p.poll() is None:
            p.kill()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass


atexit.register(_kill_all)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))


class BenchError(Exception):
    pass


def log(msg):
    print(f"[bench] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd, timeout, env=None, check=True):
    """Runs a command to completion; returns (rc, stdout, stderr)."""
    # errors="replace": a plan MariaDB prints holds the statement's constants,
    # and an event id is 16 raw bytes there (sql/auditor/0010).
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         errors="replace", env=env, cwd=SRC)
    _live.append(p)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise BenchError(f"{cmd[0]} did not finish within {timeout}s:\n{out}\n{err}")
    finally:
        _live.remove(p)
    if check and p.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} exited with {p.returncode}:\n{out}\n{err}")
    return p.returncode, out, err


def proc_status(pid, field):
    """A kB field of /proc/PID/status (VmHWM, VmRSS) in MB, or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def stat_ticks(path):
    """utime + stime of a /proc/.../stat file, or None."""
    try:
        with open(path) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def proc_cpu_ticks(pid):
    return stat_ticks(f"/proc/{pid}/stat")


def thread_cpu_ticks(pid):
    """CPU ticks (utime + stime) of pid's threads, summed by thread name
    (the API's are MHD-worker, api-spool, api-publisher, ...)."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        ticks = stat_ticks(f"/proc/{pid}/task/{tid}/stat")
        if ticks is not None:
            out[comm] = out.get(comm, 0) + ticks
    return out


def pids_named(comm):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/comm") as f:
                    if f.read().strip() == comm:
                        out.append(int(d))
            except OSError:
                pass
    return out


def cpu_busy(interval=1.0):
    """Share of the machine's CPU time that was busy over interval."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v[:8]), idle
    t0, i0 = snap()
    time.sleep(interval)
    t1, i1 = snap()
    return 1.0 - (i1 - i0) / max(1, t1 - t0)


def busy_processes(interval=1.0):
    """cpu_busy, and the processes that used the most CPU meanwhile."""
    def snap():
        d = {}
        for p in os.listdir("/proc"):
            if p.isdigit():
                try:
                    with open(f"/proc/{p}/stat") as f:
                        st = f.read()
                    rest = st.rsplit(")", 1)[1].split()
                    d[int(p)] = (st[st.index("(") + 1:st.rindex(")")], int(rest[11]) + int(rest[12]))
                except (OSError, ValueError, IndexError):
                    pass
        return d
    a = snap()
    busy = cpu_busy(interval)
    b = snap()
    hz = os.sysconf("SC_CLK_TCK")
    use = sorted(((b[p][1] - a[p][1]) / hz / interval, b[p][0], p) for p in b
                 if p in a and b[p][1] > a[p][1])
    top = ", ".join(f"{c} {v:.2f}" for v, c, _ in reversed(use[-3:]))
    return busy, top or "no process stands out"


class Daemon:
    def __init__(self, name, env, logdir, tag, bin_dir=BIN):
        self.name = name
        self.log_path = os.path.join(logdir, f"{tag}-{name}.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([os.path.join(bin_dir, "auditlog-" + name)], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT, cwd=SRC)
        self.started = time.monotonic()
        _live.append(self.proc)

    @property
    def pid(self):
        return self.proc.pid

    def hwm_mb(self):
        return proc_status(self.pid, "VmHWM")

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise BenchError(f"{self.name} did not stop within {timeout}s of SIGTERM")
        self.log.close()
        if self.proc in _live:
            _live.remove(self.proc)
        return self.proc.returncode

    def tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""


class Stack:
    """Some of the three daemons on free ports, with their own spool; from
    bin_dir (another build's, for the A/B drain)."""

    def __init__(self, bench, tag, extra_env=None, bin_dir=BIN):
        self.bench = bench
        self.tag = tag
        self.bin_dir = bin_dir
        self.ports = {"api": free_port(), "auditor": free_port(), "web": free_port()}
        self.spool = tempfile.mkdtemp(prefix="auditlog-bench-spool-")
        env = dict(os.environ)
        env.update({
            "AUDITLOG_API_PORT": str(self.ports["api"]),
            "AUDITLOG_AUDITOR_PORT": str(self.ports["auditor"]),
            "AUDITLOG_WEB_PORT": str(self.ports["web"]),
            "AUDITLOG_AUDITOR_URL": f"http://127.0.0.1:{self.ports['auditor']}",
            "AUDITLOG_API_URL": f"http://127.0.0.1:{self.ports['api']}",
            "AUDITLOG_SPOOL_DIR": self.spool,
            "AUDITLOG_TOKEN_ENDPOINT": "true",
            "AUDITLOG_LOG_KEY": LOG_KEY,
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=66",
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
        })
        env.update(extra_env or {})
        self.env = env
        self.daemons = {}

    def start(self, name, extra_env=None):
        env = dict(self.env)
        env.update(extra_env or {})
        d = self.daemons[name] = Daemon(name, env, self.bench.logdir, self.tag, self.bin_dir)
        deadline = time.monotonic() + 30
        while True:
            if d.proc.poll() is not None:
                raise BenchError(f"{name} exited with {d.proc.returncode}:\n{d.tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.ports[name]), timeout=1).close()
                return d
            except OSError:
                if time.monotonic() > deadline:
                    raise BenchError(f"{name} does not listen after 30 s:\n{d.tail()}")
                time.sleep(0.05)

    def stop(self, name):
        d = self.daemons.pop(name)
        crashed = d.proc.poll()
        code = d.stop()
        if crashed is not None:
            raise BenchError(f"{name} died during the benchmark (status {crashed}):\n{d.tail()}")
        if code != 0:
            msg = f"{name} exited with status {code} on SIGTERM:\n{d.tail()}"
            if self.bench.smoke:
                raise BenchError(msg)
            log("warning: " + msg)

    def close(self):
        errors = []
        for name in list(self.daemons):
            try:
                self.stop(name)
            except BenchError as e:
                errors.append(str(e))
        shutil.rmtree(self.spool, ignore_errors=True)
        if errors:
            raise BenchError("\n".join(errors))

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            for name, d in self.daemons.items():
                print(f"---- {name} log ({d.log_path}) ----\n{d.tail()}", file=sys.stderr)
            try:
                self.close()
            except BenchError as e:
                print(e, file=sys.stderr)
            return False
        self.close()
        return False

    def url(self, name, path=""):
        return f"http://127.0.0.1:{self.ports[name]}{path}"

    def request(self, name, method, path, body=None, token=None):
        h = {"Accept": JSONAPI}
        data = None
        if body is not None:
            h["Content-Type"] = JSONAPI
            data = json.dumps(body).encode()
        if token:
            h["Authorization"] = "Bearer " + token
        req = urllib.request.Request(self.url(name, path), data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = raw.decode(errors="replace")
        return status, doc

    def token(self, user_id=1):
        with urllib.request.urlopen(self.url("api", f"/tokens/{user_id}"), timeout=30) as r:
            if r.status != 201:
                raise BenchError(f"GET /tokens/{user_id}: {r.status}")
            return r.read().decode()


# ---------------------------------------------------------------------------
# live stream clients (Server-Sent Events over chunked HTTP/1.1)
# ---------------------------------------------------------------------------

def sse_connect(port, path, token):
    """A stream's socket once its head says 200, and what followed the
    head; a 503 (the auditor has not read the log's end yet, just after it
    started) is tried again for 10 s."""
    deadline = time.monotonic() + 10
    while True:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n"
                     f"Authorization: Bearer {token}\r\n\r\n".encode())
        raw = b""
        while b"\r\n\r\n" not in raw:
            b = sock.recv(65536)
            if not b:
                raise BenchError(f"stream {path}: closed before its head")
            raw += b
        head, _, rest = raw.partition(b"\r\n\r\n")
        if head.startswith(b"HTTP/1.1 200"):
            return sock, rest
        sock.close()
        if not head.startswith(b"HTTP/1.1 503") or time.monotonic() > deadline:
            raise BenchError(f"stream {path}: {head.splitlines()[0].decode(errors='replace')}")
        time.sleep(0.05)


class SseProbe:
    """One subscriber, bench/sse_probe.c (libcurl): it notes the wall-clock
    time each sampled message arrived, its position and its event id. A C
    client because a Python one, on the two shared cores under the GET
    load, measured its own scheduling as much as the stream."""

    def __init__(self, port, path, token, sample=10):
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "sse_probe"), f"http://127.0.0.1:{port}{path}", token,
             str(sample)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.received = 0
        self.sampled = {}  # event id -> receipt time (s since the epoch)
        self.sampled_seq = {}  # position -> receipt time

    def start(self):
        pass  # it reads from its start

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=30)
        if self.proc.returncode:
            raise BenchError(f"sse_probe: {err.strip()}")
        lines = out.splitlines()
        self.received = int(lines[0].split()[1])
        for line in lines[1:]:
            seq, eid, at = line.split()
            self.sampled_seq[int(seq)] = float(at)
            if eid != "-":
                self.sampled[eid] = float(at)

    def latencies(self, db):
        """ms from each sampled event's data_events.received_at to its receipt."""
        ids = list(self.sampled)
        out = []
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            rows = mysql(db, "SELECT LOWER(HEX(event_id)), UNIX_TIMESTAMP(received_at) FROM "
                         "data_events WHERE event_id IN (" +
                         ",".join(f"UNHEX('{x.replace('-', '')}')" for x in part) + ")")
            stored = {}
            for line in rows.splitlines():
                hexid, ts = line.split("\t")
                stored[hexid] = float(ts)
            for x in part:
                t = stored.get(x.replace("-", ""))
                if t is not None:
                    out.append((self.sampled[x] - t) * 1000)
        return out


class CommitWatch(threading.Thread):
    """When each position of log 0 became visible to readers, that is was
    committed: one client session (mariadb -n, root over the socket) asks
    for the log's end (its last append, log_appends, written in the events'
    transaction) in a loop. A position first seen in the answer to a
    question sent at s_i was committed after the previous question was
    sent (s_{i-1}): receipt - s_{i-1} bounds its commit-to-client latency
    from above, within one round trip of the exact figure."""

    def __init__(self, db):
        super().__init__(daemon=True)
        self.proc = subprocess.Popen(
            ["mariadb", "-n", "-uroot", f"--socket={E['MYSQL_UNIX_PORT']}", "--batch",
             "--skip-column-names", db], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, bufsize=1)
        self.seen = []  # (end, s_prev): positions < end were committed after s_prev
        self.polls = 0
        self.halt = threading.Event()

    def run(self):
        q = ("SELECT first_seq + LENGTH(event_ids) DIV 36 FROM log_appends WHERE log_id = 0 "
             "ORDER BY first_seq DESC LIMIT 1;\n")
        end, s_prev = -1, time.time()
        while not self.halt.is_set():
            s_now = time.time()
            self.proc.stdin.write(q)
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
            if not line:
                break
            self.polls += 1
            e = int(line.strip() or 0)
            if e > end:
                self.seen.append((e, s_prev))
                end = e
            s_prev = s_now
            time.sleep(0.002)

    def stop(self):
        self.halt.set()
        self.join()
        self.proc.stdin.close()
        self.proc.wait()

    def committed_after(self, seq):
        """The time after which seq was committed, or None if not seen."""
        import bisect
        i = bisect.bisect_right([e for e, _ in self.seen], seq)
        return self.seen[i][1] if i < len(self.seen) and i > 0 else None


class SseCrowd(threading.Thread):
    """n subscribers on one thread (select), reading and counting what
    they are sent."""

    def __init__(self, port, n, path, token):
        super().__init__(daemon=True)
        self.socks = [sse_connect(port, path, token)[0] for _ in range(n)]
        self.received = 0
        self.halt = threading.Event()

    def run(self):
        import selectors
        sel = selectors.DefaultSelector()
        for s in self.socks:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
        while not self.halt.is_set():
            for key, _ in sel.select(0.2):
                try:
                    b = key.fileobj.recv(1 << 16)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    b = b""
                if not b:
                    sel.unregister(key.fileobj)
                    continue
                self.received += b.count(b"\ndata: ")  # one per event (keep-alives carry none)
        for s in self.socks:
            s.close()

    def stop(self):
        self.halt.set()
        self.join()


# ---------------------------------------------------------------------------
# tools: wrk, mqtool, mariadb, loadgen
# ---------------------------------------------------------------------------

def _duration_ms(s):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", s)
    if not m:
        raise BenchError(f"cannot read wrk duration {s!r}")
    return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4, "h": 3.6e6}[m.group(2)]


def wrk(url, seconds, threads=2, conns=32, headers=None, script=None, script_args=None):
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    for h in headers or []:
        cmd += ["-H", h]
    if script:
        cmd += ["-s", script]
    cmd.append(url)
    if script_args:
        cmd += ["--"] + list(script_args)
    _, out, err = run(cmd, timeout=seconds + 60)
    try:
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        requests = int(re.search(r"(\d+) requests in", out).group(1))
        pct = {int(p): _duration_ms(v)
               for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M)}
    except AttributeError:
        raise BenchError(f"cannot read wrk's output:\n{out}\n{err}")
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    non2xx = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    sock = sum(int(x) for x in m.groups()) if m else 0
    if requests == 0 or 50 not in pct or 99 not in pct:
        raise BenchError(f"wrk made no requests against {url}:\n{out}\n{err}")
    return {"rps": rps, "requests": requests, "p50": pct[50], "p99": pct[99],
            "p90": pct.get(90), "errors": non2xx, "socket_errors": sock, "out": out}


def mq_count(queue=QUEUE):
    """Ready messages in a queue (the audit queue), or None if it cannot be read."""
    rc, out, _ = run([os.path.join(BIN, "mqtool"), "count", AMQP_URL, queue], 30, check=False)
    return int(out.strip()) if rc == 0 and out.strip().isdigit() else None


def mq_consumers():
    """Consumers attached to the audit queue (0 when it does not exist)."""
    rc, out, _ = run([os.path.join(BIN, "loadgen"), "queue", AMQP_URL], 30, check=False)
    m = re.search(r"consumers (\d+)", out)
    return int(m.group(1)) if rc == 0 and m else 0


def wait_alone(what, timeout=90):
    """The suite must be alone on its vhost: another auditor on the queue
    would take our events (and ours would store another run's). Waits a
    while for one to go away (say, a test run finishing), then gives up."""
    deadline = time.monotonic() + timeout
    n = mq_consumers()
    while n:
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: {n} other consumer(s) on {QUEUE} of this vhost for "
                             f"{timeout}s: another auditor (a test or benchmark run?) uses it")
        log(f"{what}: {n} other consumer(s) on {QUEUE}; waiting for the vhost to be ours")
        time.sleep(5)
        n = mq_consumers()


def wait_queue_empty(timeout):
    """Until the audit queue has no ready message."""
    deadline = time.monotonic() + timeout
    while (mq_count() or 0) > 0:
        if time.monotonic() > deadline:
            raise BenchError(f"{QUEUE} did not empty within {timeout}s")
        time.sleep(0.25)


def quorum_url(url):
    """url on the vhost of quorum queues beside its own (./run.sh bench
    provisions <vhost>-quorum)."""
    u = urllib.parse.urlsplit(url)
    vhost = urllib.parse.unquote(u.path[1:]) or "/"
    return urllib.parse.urlunsplit(u._replace(
        path="/" + urllib.parse.quote(vhost + "-quorum", safe="")))


def partition_queue(p):
    """Partition p's queue (common/mq.c, mq_queue_name)."""
    return QUEUE if p == 0 else f"{QUEUE}.{p}"


def mq_purge(queue=QUEUE):
    run([os.path.join(BIN, "mqtool"), "purge", AMQP_URL, queue], 30, check=False)


def uptime():
    """The load averages, to say how busy the shared machine was."""
    try:
        with open("/proc/loadavg") as f:
            return "load average " + ", ".join(f.read().split()[:3])
    except OSError:
        return "load average unknown"


def mysql(db, sql, table=False, raw=False, timeout=600):
    """The API's database as its user; the audit log (where only the
    administrator may TRUNCATE or read plans of every table), and the A/B
    drain's databases named after it, as root over the private server's
    socket, which ./run.sh exports as MYSQL_UNIX_PORT."""
    admin = (db == AUDITOR_DB or db.startswith(AUDITOR_DB + "-ab-")) and E.get("MYSQL_UNIX_PORT")
    if admin:
        cmd = ["mariadb", "-uroot", f"--socket={E['MYSQL_UNIX_PORT']}"]
        cmd += ["--table"] if table else ["--batch", "--skip-column-names"]
        if raw:
            cmd.append("--raw")
        cmd += ["-e", sql, db]
        _, out, _ = run(cmd, timeout)
        return out
    cmd = ["mariadb", "--protocol=" + ("socket" if MYSQL_SOCKET else "tcp")]
    if MYSQL_SOCKET:
        cmd.append(f"--socket={MYSQL_SOCKET}")
    else:
        host = "127.0.0.1" if MYSQL_HOST in ("localhost", "") else MYSQL_HOST
        cmd += ["-h", host, "-P", MYSQL_PORT]
    cmd += ["-u", MYSQL_USER]
    cmd += ["--table"] if table else ["--batch", "--skip-column-names"]
    if raw:
        cmd.append("--raw")
    cmd += ["-e", sql, db]
    env = dict(os.environ, MYSQL_PWD=MYSQL_PASSWORD)
    _, out, _ = run(cmd, timeout, env=env)
    return out


def mysql_admin(sql, db=None, timeout=600):
    """sql (a script, read from stdin as the client reads a migration) as the
    administrator: root over MYSQL_UNIX_PORT. Returns its output."""
    sock = E.get("MYSQL_UNIX_PORT")
    if not sock:
        raise BenchError("this needs MariaDB's administrator: run it through ./run.sh bench, "
                         "which exports MYSQL_UNIX_PORT")
    cmd = ["mariadb", "-uroot", f"--socket={sock}", "--batch", "--skip-column-names"]
    p = subprocess.run(cmd + ([db] if db else []), input=sql, capture_output=True, text=True,
                       timeout=timeout, cwd=SRC)
    if p.returncode:
        raise BenchError(f"mariadb as root on {db or 'the server'} exited with {p.returncode}:\n"
                         f"{p.stderr}")
    return p.stdout


def truncate_log(db=AUDITOR_DB, tables=LOG_TABLES):
    """Empties the audit log. No auditor may run on db meanwhile: its ledger
    would halt on its next append (rows it wrote are gone); one started
    afterwards opens the empty log."""
    mysql(db, "; ".join(f"TRUNCATE TABLE {t}" for t in tables))


def loadgen(args, timeout, env=None):
    """loadgen with the log's key (fill-db signs through the ledger) and
    env's settings over ours (another database)."""
    env = dict(os.environ, AUDITLOG_LOG_KEY=LOG_KEY, **(env or {}))
    _, out, err = run([os.path.join(BIN, "loadgen")] + args, timeout, env=env)
    m = re.search(r"([\d.]+) (events|rows)/s", out)
    if not m:
        raise BenchError(f"cannot read loadgen's output:\n{out}\n{err}")
    return float(m.group(1)), out.strip()


# ---------------------------------------------------------------------------
# figures and the report
# ---------------------------------------------------------------------------

class Figure:
    def __init__(self, key, label, unit, values, target=None, issue=None, digits=0, note=""):
        self.key, self.label, self.unit = key, label, unit
        self.values = [float(v) for v in values]
        self.target, self.issue, self.digits, self.note = target, issue, digits, note
        self.median = statistics.median(self.values)

    def fmt(self, v):
        return f"{v:,.{self.digits}f}"

    def verdict(self):
        if not self.target:
            return None
        op, want = self.target
        v = self.median
        return {">=": v >= want, "<=": v <= want, "<": v < want}[op]

    def target_text(self):
        if not self.target:
            return ""
        op, want = self.target
        sym = {">=": "≥", "<=": "≤", "<": "<"}[op]
        w = f"{want:g}" if isinstance(want, float) else f"{want:,}"
        return f"{sym} {w}"


class Report:
    def __init__(self, smoke):
        self.smoke = smoke
        self.figures = []
        self.sections = []  # (title, markdown) extra material
        self.notes = []     # measurement conditions worth reading

    def add(self, key, label, unit, values, target=None, issue=None, digits=0, note=""):
        if not values:
            raise BenchError(f"{key}: no values")
        f = Figure(key, label, unit, values, target, issue, digits, note)
        self.figures.append(f)
        unit_s = f" {unit}" if unit else ""
        line = f"{key}: {f.fmt(f.median)}{unit_s} (min {f.fmt(min(f.values))}, " \
               f"max {f.fmt(max(f.values))}; {len(f.values)} run{'s' * (len(f.values) > 1)})"
        if f.target:
            op, want = f.target
            if self.smoke:
                line += f" target {op} {want} (smoke: not compared)"
            else:
                line += f" target {op} {want} {'MET' if f.verdict() else 'MISSED'}"
        print(line, flush=True)
        return f

    def get(self, key):
        for f in self.figures:
            if f.key == key:
                return f
        return None

    def table(self):
        rows = ["| # | figure | median | min | max | runs | target | verdict |",
                "|---|---|---:|---:|---:|---:|---|---|"]
        for f in self.figures:
            if f.target:
                verdict = "not compared (smoke)" if self.smoke else \
                    ("**met**" if f.verdict() else "**MISSED**")
            else:
                verdict = ""
            unit = f" {f.unit}" if f.unit else ""
            rows.append(f"| {f.issue or ''} | {f.label} (`{f.key}`) | {f.fmt(f.median)}{unit} | "
                        f"{f.fmt(min(f.values))} | {f.fmt(max(f.values))} | {len(f.values)} | "
                        f"{f.target_text()} | {verdict} |")
        return "\n".join(rows)


# ---------------------------------------------------------------------------
# the backlog: queue + spool + outbox
# ---------------------------------------------------------------------------

REPORT_RE = re.compile(rb"published (\d+) events in (\d+) messages in \d+s; "
                       rb"spool backlog (\d+) bytes")


class Backlog:
    """The events not yet stored by the auditor, in three places: ready
    messages in the queue (converted to events with the publisher's latest
    events-per-message ratio), view events in the API's spool not yet
    confirmed by the broker, and outbox rows not yet confirmed. Messages the
    auditor holds unacked (at most its prefetch window) are not counted.

    The spool's backlog is read from the publisher's report line (the stack
    sets AUDITLOG_REPORT_MS=1000), which it logs each second that saw
    traffic: the spool's checkpoint file cannot serve, since it is
    rewritten at most once a second and only while confirms come in, so
    once the load stops it stays up to a second behind."""

    def __init__(self, stack):
        self.stack = stack
        self.log_path = stack.daemons["api"].log_path
        self.log_pos = 0
        self.ratio = 1.0
        self.spool = 0             # bytes, from the latest report
        self.report_at = None      # when we read the latest report

    def _read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.log_pos)
                data = f.read()
        except OSError:
            return
        cut = data.rfind(b"\n") + 1
        self.log_pos += cut
        for m in REPORT_RE.finditer(data[:cut]):
            ev, msgs, spool = (int(x) for x in m.groups())
            if msgs:
                self.ratio = ev / msgs
            self.spool = spool
            self.report_at = time.monotonic()

    def record_bytes(self):
        segs = sorted(n for n in os.listdir(self.stack.spool) if re.fullmatch(r"views-\d+\.spool", n))
        for name in reversed(segs):
            try:
                with open(os.path.join(self.stack.spool, name), "rb") as f:
                    h = f.read(4)
                if len(h) == 4:
                    return 8 + int.from_bytes(h, "little")
            except OSError:
                pass
        return 200

    def outbox(self):
        return int(mysql(API_DB, "SELECT COUNT(*) FROM event_outbox").strip() or 0)

    def sample(self):
        q = mq_count() or 0
        self._read_log()
        outbox = self.outbox()
        events = q * self.ratio + self.spool / self.record_bytes() + outbox
        return {"queue_msgs": q, "spool_bytes": self.spool, "outbox_rows": outbox,
                "events": events, "ratio": self.ratio}

    def wait_empty(self, timeout):
        """Seconds until the queue and the outbox are empty and the spool's
        report says 0 bytes or has gone quiet (no report for 2.5 s: nothing
        more was sent, so what it last counted was only awaiting confirms)."""
        t0 = time.monotonic()
        while True:
            q = mq_count() or 0
            self._read_log()
            outbox = self.outbox()
            now = time.monotonic()
            spool_done = self.spool == 0 or self.report_at is None or now - self.report_at > 2.5
            if q == 0 and outbox == 0 and spool_done:
                return now - t0
            if now - t0 > timeout:
                raise BenchError(f"the backlog did not drain within {timeout}s "
                                 f"(queue {q}, spool {self.spool} bytes, outbox {outbox})")
            time.sleep(0.25)


class CpuMeter:
    """CPU seconds used by our daemons, wrk and the servers over a span."""

    def __init__(self, named):
        self.named = named  # label -> pid
        for comm, label, pidfile in (("mariadbd", "mariadb", "mysql/mysqld.pid"),
                                     ("beam.smp", "rabbitmq", "rabbitmq/rabbitmq.pid")):
            # Our private servers by their pid files: other servers of the
            # same name may run beside them (cluster mode's nodes, the read
            # replica's pair, a fault suite's MariaDB).
            try:
                with open(os.path.join(STATE_DIR, pidfile)) as f:
                    self.named.setdefault(label, int(f.read().split()[0]))
            except (OSError, ValueError, IndexError):
                for pid in pids_named(comm):
                    self.named.setdefault(label, pid)
        self.t0 = time.monotonic()
        self.c0 = {k: proc_cpu_ticks(p) for k, p in self.named.items()}

    def shares(self):
        hz = os.sysconf("SC_CLK_TCK")
        dt = time.monotonic() - self.t0
        out = {}
        for k, p in self.named.items():
            c1 = proc_cpu_ticks(p)
            if c1 is not None and self.c0.get(k) is not None:
                out[k] = (c1 - self.c0[k]) / hz / dt  # cores
        return out


def wrk_cpu(url, seconds, cpu_pids, **kw):
    """wrk, with the CPU each process used meanwhile (in cores)."""
    meter = CpuMeter(dict(cpu_pids))
    t0 = time.monotonic()
    with open("/proc/stat") as f:
        s0 = [int(x) for x in f.readline().split()[1:]]
    res = wrk(url, seconds, **kw)
    with open("/proc/stat") as f:
        s1 = [int(x) for x in f.readline().split()[1:]]
    d = [b - a for a, b in zip(s0, s1)]
    hz = os.sysconf("SC_CLK_TCK")
    dt = time.monotonic() - t0
    res["cpu"] = meter.shares()
    res["cpu"]["machine busy"] = (sum(d[:8]) - d[3] - d[4]) / hz / dt
    return res


def wait_checked(timeout, db=AUDITOR_DB):
    """Waits until the auditor's checker has checked every stored mutation
    of log 0 (none at or past its bookmark in log_checked, which it moves
    with each chunk of mutations): its work after a burst of mutations
    would otherwise fall in the next measurement. Returns the seconds
    waited."""
    t0 = time.monotonic()
    sql = ("SELECT COUNT(*) FROM (SELECT 1 FROM data_event_mutations WHERE log_id = 0 AND "
           "target_version > 0 AND seq >= (SELECT COALESCE(MAX(checked_to), 0) FROM "
           "log_checked WHERE log_id = 0) LIMIT 1) AS pending")
    while True:
        if int(mysql(db, sql).strip() or 0) == 0:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise BenchError(f"the checker did not catch up within {timeout}s")
        time.sleep(0.5)


def log_end(db=AUDITOR_DB):
    """The stored size of log 0: its next position."""
    out = mysql(db, "SELECT COALESCE(MAX(first_seq + LENGTH(leaf_hashes) DIV 32), 0) "
                "FROM log_appends WHERE log_id = 0")
    return int(out.strip() or 0)


def percentile(values, q):
    """The q-th percentile (0..100) of values, nearest rank."""
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(q / 100.0 * len(v) + 0.5)) - 1))]


class CheckpointLag:
    """How long after an event is stored a signed checkpoint covers it.

    A thread polls the auditor's GET /checkpoint (a signed note whose body
    is the origin line, the size line and the root line) every interval and
    notes when it first saw each size. finish() reads the log's end, polls
    on until a checkpoint covers it (or timeout), and compares, for events
    sampled evenly from the positions stored meanwhile, the time their row
    was written (received_at, the database's clock on this machine) with
    (a) the first poll that saw a size above their position: the lag a
    client sees, at most one interval late, and (b) signed_at of the first
    stored checkpoint above it: the signer's own lag. An event no
    checkpoint covered by the timeout counts with the timeout as its lag."""

    def __init__(self, st, token, db=AUDITOR_DB, interval=0.1, sample=50_000):
        self.url = st.url("auditor", "/checkpoint")
        self.headers = {"Authorization": "Bearer " + token} if token else {}
        self.db, self.interval, self.sample = db, interval, sample
        self.seen = []       # (unix time first seen, size), sizes increasing
        self.status = None   # the latest HTTP status
        self.errors = 0
        self.stop_ev = threading.Event()
        self.thread = None
        self.first = 0

    def _poll(self):
        req = urllib.request.Request(self.url, headers=self.headers)
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                body = r.read().decode("utf-8", "replace")
                self.status = r.status
        except urllib.error.HTTPError as e:
            self.status = e.code
            return None
        except OSError:
            self.errors += 1
            return None
        lines = body.split("\n")
        if len(lines) < 3 or not lines[1].isdigit():
            self.errors += 1
            return None
        return int(lines[1])

    def _loop(self):
        while not self.stop_ev.is_set():
            n = self._poll()
            t = time.time()  # after the answer: never early
            if n is not None and (not self.seen or n > self.seen[-1][1]):
                self.seen.append((t, n))
            self.stop_ev.wait(self.interval)

    def start(self):
        self.first = log_end(self.db)
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        return self

    def finish(self, timeout=10.0):
        """Lags in seconds: {"polled": [...], "signed": [...], "events": n,
        "uncovered": k}."""
        end = log_end(self.db)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (not self.seen or self.seen[-1][1] < end):
            time.sleep(self.interval)
        self.stop_ev.set()
        self.thread.join(10)
        if not self.seen:
            raise BenchError(f"GET {self.url} never answered a checkpoint (last status "
                             f"{self.status}, {self.errors} errors)")
        if end <= self.first:
            return {"polled": [], "signed": [], "events": 0, "uncovered": 0}
        step = max(1, (end - self.first) // self.sample)
        rows = mysql(self.db, f"SELECT seq, UNIX_TIMESTAMP(received_at) FROM data_events "
                     f"WHERE log_id = 0 AND seq >= {self.first} AND seq < {end} AND "
                     f"(seq - {self.first}) % {step} = 0")
        cps = mysql(self.db, f"SELECT size, UNIX_TIMESTAMP(signed_at) FROM log_checkpoints "
                    f"WHERE log_id = 0 AND size > {self.first} ORDER BY size")
        cp_sizes, cp_times = [], []
        for line in cps.splitlines():
            n, t = line.split("\t")
            cp_sizes.append(int(n))
            cp_times.append(float(t))
        seen_sizes = [n for _, n in self.seen]
        polled, signed, uncovered = [], [], 0
        for line in rows.splitlines():
            seq, at = line.split("\t")
            seq, at = int(seq), float(at)
            i = bisect.bisect_right(seen_sizes, seq)
            if i < len(seen_sizes):
                polled.append(self.seen[i][0] - at)
            else:
                uncovered += 1
                polled.append(timeout)
            j = bisect.bisect_right(cp_sizes, seq)
            signed.append(cp_times[j] - at if j < len(cp_sizes) else timeout)
        return {"polled": polled, "signed": signed, "events": end - self.first,
                "uncovered": uncovered}


def cpu_rows(R, key, suffix, what, on, off, procs, ratio_label, on_label="with auditing",
             off_row=True):
    """Report rows of the cost step for each of procs: its CPU per request
    in the runs on (key.PROC_us + suffix) and, with off_row, in the runs
    off (key.PROC_us_off); for the API and MariaDB the ratio per pair of
    runs (key.PROC_ratio + suffix), the API's against issue 14's 1.15."""
    for proc in procs:
        a = [us_per_request(r, proc) for r in on]
        b = [us_per_request(r, proc) for r in off]
        if None in a or None in b:
            continue
        R.add(f"{key}.{proc}_us{suffix}", f"{what} {proc} CPU per request {on_label}", "us", a,
              None, 14, 1)
        if off_row:
            R.add(f"{key}.{proc}_us_off", f"{what} {proc} CPU per request without", "us", b, None,
                  14, 1)
        if proc in ("api", "mariadb"):
            R.add(f"{key}.{proc}_ratio{suffix}", f"{what} {proc} CPU per request, {ratio_label}",
                  "", [x / y for x, y in zip(a, b)], ("<=", 1.15) if proc == "api" else None, 14,
                  2)


def us_per_request(r, proc):
    """CPU microseconds proc spent per request of the wrk run r (its share
    of a core over the run, over the requests per second), or None."""
    share = r["cpu"].get(proc)
    return None if share is None or not r["rps"] else share / r["rps"] * 1e6


def per_request_text(r):
    return ", ".join(f"{p} {us_per_request(r, p):.1f} us" for p in ("api", "mariadb", "rabbitmq", "auditor")
                     if us_per_request(r, p) is not None)


def stored_since(what, daemons, pos):
    """Events the auditors daemons logged as stored ("stored N events",
    debug level) since the offsets pos (one per daemon, advanced here over
    whole lines). Raises BenchError when one died."""
    n = 0
    for i, d in enumerate(daemons):
        if d.proc.poll() is not None:
            raise BenchError(f"{what}: auditor {i} died:\n{d.tail()}")
        with open(d.log_path, "rb") as f:
            f.seek(pos[i])
            data = f.read()
        cut = data.rfind(b"\n") + 1
        pos[i] += cut
        n += sum(int(x) for x in re.findall(rb"stored (\d+) events", data[:cut]))
    return n


def cpu_text(shares):
    return ", ".join(f"{k} {v:.2f}" for k, v in sorted(shares.items(), key=lambda kv: -kv[1]))


# ---------------------------------------------------------------------------
# the benchmarks
# ---------------------------------------------------------------------------

class Bench:
    def __init__(self, smoke, outdir):
        self.smoke = smoke
        self.size = SIZES["smoke" if smoke else "full"]
        self.report = Report(smoke)
        self.outdir = outdir
        self.logdir = os.path.join(outdir, "logs-smoke" if smoke else "logs")
        shutil.rmtree(self.logdir, ignore_errors=True)
        os.makedirs(self.logdir, exist_ok=True)
        self.run_tag = f"{int(time.time())}{os.getpid()}"
        self.explains = []
        self.backlog_series = []
        self.cpu_notes = []
        self.drain_cases = None  # all of DRAIN_CASES
        self.ab_base = None      # --ab-base: the commit the A/B drain compares with
        self.ab_table = None

    # -- helpers ----------------------------------------------------------

    def quiet(self, what):
        """Waits (up to a minute) for the machine to be idle before a
        measurement, so others' load does not pass for ours; notes it when
        it never got quiet."""
        if self.smoke:
            return
        busy, top = busy_processes(1.0)
        waited = 0
        while busy > 0.25 and waited < 60:
            log(f"machine {busy:.0%} busy before {what} ({top}); waiting for it to settle")
            time.sleep(4)
            waited += 5
            busy, top = busy_processes(1.0)
        if busy > 0.25:
            note = f"{what}: the machine was {busy:.0%} busy before the measurement " \
                   f"({top}); figures may be disturbed"
            log("warning: " + note)
            self.report.notes.append(note)

    def check_wrk(self, what, res):
        if res["errors"] or res["socket_errors"]:
            msg = f"{what}: {res['errors']} non-2xx responses, {res['socket_errors']} socket " \
                  f"errors of {res['requests']}"
            if self.smoke:
                raise BenchError(msg + "\n" + res["out"])
            log("warning: " + msg)
            self.report.notes.append(msg)

    def auth(self, tok):
        return [f"Authorization: Bearer {tok}"]

    # -- 1, 3, 6: the whole pipeline under GET and PATCH -----------------

    def pipeline(self):
        s = self.size
        log("pipeline: GET /api/users/1 with the whole pipeline (target 1)")
        wait_alone("pipeline")
        with Stack(self, "pipeline", {"AUDITLOG_REPORT_MS": "1000"}) as st:
            for name in ("auditor", "api", "web"):
                st.start(name)
            tok = st.token(1)
            url = st.url("api", "/api/users/1")
            status, doc = st.request("api", "GET", "/api/users/1", token=tok)
            if status != 200:
                raise BenchError(f"GET /api/users/1: {status} {doc}")
            backlog = Backlog(st)
            wrk(url, s["warm_s"], headers=self.auth(tok))
            backlog.wait_empty(120)
            cpu_pids = {"api": st.daemons["api"].pid, "auditor": st.daemons["auditor"].pid}
            rps, p50, p99, start, end, drain = [], [], [], [], [], []
            lags = []  # per run: CheckpointLag.finish()
            for i in range(s["runs"]):
                self.quiet(f"GET run {i + 1}")
                backlog.sample()  # consume log lines of the idle time
                lag = CheckpointLag(st, tok).start()
                samples, stop = [], threading.Event()
                t0 = time.monotonic()

                def sampler():
                    while not stop.wait(s["sample_s"]):
                        t = time.monotonic() - t0
                        if t < s["get_s"]:
                            samples.append((t, backlog.sample()))

                th = threading.Thread(target=sampler, daemon=True)
                th.start()
                res = wrk_cpu(url, s["get_s"], cpu_pids, headers=self.auth(tok))
                stop.set()
                th.join()
                self.check_wrk("GET", res)
                drain.append(backlog.wait_empty(300))
                lags.append(lag.finish())
                if not samples:
                    raise BenchError("no backlog samples were taken during the GET run")
                window = max(s["get_s"] * 0.2, s["sample_s"])
                first = [x["events"] for t, x in samples if t <= window] or [samples[0][1]["events"]]
                last = [x["events"] for t, x in samples if t >= s["get_s"] - window] or \
                    [samples[-1][1]["events"]]
                rps.append(res["rps"])
                p50.append(res["p50"])
                p99.append(res["p99"])
                start.append(statistics.mean(first))
                end.append(statistics.mean(last))
                self.backlog_series.append((i + 1, res["rps"], samples))
                self.cpu_notes.append(f"GET run {i + 1}: {cpu_text(res['cpu'])}")
                log(f"GET run {i + 1}: {res['rps']:.0f} req/s, p99 {res['p99']:.2f} ms, "
                    f"backlog {start[-1]:.0f} -> {end[-1]:.0f} events, drained in {drain[-1]:.1f} s"
                    f"; CPU (cores): {cpu_text(res['cpu'])}")
            R = self.report
            R.add("get.rps", "GET /api/users/1, whole pipeline, wrk -t2 -c32", "req/s", rps,
                  (">=", 15000), 1)
            R.add("get.p50_ms", "GET latency p50", "ms", p50, None, 1, 2)
            R.add("get.p99_ms", "GET latency p99", "ms", p99, ("<", 10), 1, 2)
            # Issue 14's targets for the same runs, beside issue 1's.
            R.add("get.rps_i14", "GET, whole pipeline (as get.rps)", "req/s", rps, (">=", 12000),
                  14)
            R.add("get.p99_ms_i14", "GET latency p99 (as get.p99_ms)", "ms", p99, ("<", 15), 14,
                  2)
            R.add("get.backlog_start", "backlog (queue+spool+outbox) over the first 20% of the run",
                  "events", start, None, 1)
            R.add("get.backlog_end", "backlog over the last 20% of the run", "events", end, None, 1)
            growth = [e - b for b, e in zip(start, end)]
            # Not growing: what the last fifth holds is at most what the first
            # fifth held plus a tenth of a second of load (sampling jitter); a
            # pipeline short by even 1% would pile up half a second in 60 s.
            allowed = 0.1 * statistics.median(rps)
            R.add("get.backlog_growth", "backlog growth, end minus start (must not grow)", "events",
                  growth, ("<=", round(allowed)), 1)
            R.add("get.drain_s", "time for the backlog to empty after the load stops", "s", drain,
                  None, 1, 1)
            self.add_lag("get", "during the GET runs", lags)

            log("pipeline: PATCH (target 3)")
            ids = self.create_users(st, tok, s["patch_users"])
            script = os.path.join(HERE, "patch.lua")
            # The single-row case is the reference's /api/users/1; the smoke
            # runs on the shared test database, whose user 1 other tests
            # rely on, so it takes one of its own users instead.
            single = [ids[0]] if self.smoke else ["1"]
            for case, idlist in (("spread", ids), ("single", single)):
                rps, p50, p99, outbox = [], [], [], []
                for i in range(s["runs"]):
                    tok = st.token(1)
                    backlog.wait_empty(300)
                    self.quiet(f"PATCH {case} run {i + 1}")
                    res = wrk_cpu(st.url("api", "/"), s["patch_s"], cpu_pids, script=script,
                                  script_args=[tok, ",".join(idlist), "2"])
                    outbox.append(int(mysql(API_DB, "SELECT COUNT(*) FROM event_outbox").strip()))
                    self.check_wrk(f"PATCH {case}", res)
                    rps.append(res["rps"])
                    p50.append(res["p50"])
                    p99.append(res["p99"])
                    self.cpu_notes.append(f"PATCH {case} run {i + 1}: {cpu_text(res['cpu'])}")
                    log(f"PATCH {case} run {i + 1}: {res['rps']:.0f} req/s, p99 {res['p99']:.2f} ms"
                        f", outbox {outbox[-1]} rows at the end; CPU: {cpu_text(res['cpu'])}")
                if case == "spread":
                    R.add("patch.spread.rps", f"PATCH toggling agreedTos over {len(ids)} users "
                          "(one per connection), wrk -t2 -c32", "req/s", rps, (">=", 6000), 3)
                    R.add("patch.spread.p50_ms", "PATCH spread latency p50", "ms", p50, None, 3, 2)
                    R.add("patch.spread.p99_ms", "PATCH spread latency p99", "ms", p99, ("<", 20),
                          3, 2)
                    R.add("patch.spread.outbox_end", "outbox rows left when the PATCH load stops",
                          "rows", outbox, None, 3)
                    R.add("patch.spread.rps_i14", "PATCH spread (as patch.spread.rps)", "req/s",
                          rps, (">=", 3000), 14)
                    R.add("patch.spread.p99_ms_i14", "PATCH spread p99 (as patch.spread.p99_ms)",
                          "ms", p99, ("<", 30), 14, 2)
                else:
                    R.add("patch.single.rps", "PATCH of /api/users/1 by all 32 connections (one "
                          "row lock; the reference's case; no target)", "req/s", rps, None, 3)
                    R.add("patch.single.p50_ms", "PATCH single-row latency p50", "ms", p50, None,
                          3, 2)
                    R.add("patch.single.p99_ms", "PATCH single-row latency p99", "ms", p99, None,
                          3, 2)
            backlog.wait_empty(300)
            api_hwm = st.daemons["api"].hwm_mb()
            auditor_live_hwm = st.daemons["auditor"].hwm_mb()

            log("web: GET /index.html")
            rps, p99 = [], []
            for i in range(s["runs"]):
                self.quiet(f"web run {i + 1}")
                res = wrk(st.url("web", "/index.html"), s["web_s"])
                self.check_wrk("web", res)
                rps.append(res["rps"])
                p99.append(res["p99"])
            R.add("web.rps", "web GET /index.html, wrk -t2 -c32", "req/s", rps, None, 6)
            R.add("web.p99_ms", "web latency p99", "ms", p99, None, 6, 2)
            web_hwm = st.daemons["web"].hwm_mb()
            R.add("api.peak_rss_mb", "API peak RSS (VmHWM) after the GET and PATCH runs", "MB",
                  [api_hwm], ("<", 32), 6, 1)
            R.add("auditor.peak_rss_live_mb", "auditor peak RSS after storing the GET and PATCH "
                  "load live", "MB", [auditor_live_hwm], ("<", 64), 6, 1)
            R.add("web.peak_rss_mb", "web peak RSS after its wrk runs", "MB", [web_hwm],
                  ("<", 16), 6, 1)

    def add_lag(self, key, when, lags):
        """Figures of the checkpoint lag (CheckpointLag.finish() per run)."""
        lags = [x for x in lags if x["polled"]]
        if not lags:
            raise BenchError(f"checkpoint lag {when}: no event was stored during the runs")
        for x in lags:
            log(f"checkpoint lag {when}: {x['events']:,} events, p50 "
                f"{percentile(x['polled'], 50):.3f} s, p99 {percentile(x['polled'], 99):.3f} s "
                f"(signed_at: p99 {percentile(x['signed'], 99):.3f} s), max "
                f"{max(x['polled']):.3f} s; {x['uncovered']} not covered after 10 s")
        R = self.report
        R.add(f"{key}.checkpoint_lag.p50_s", f"checkpoint lag {when}: event stored (received_at) "
              "until GET /checkpoint covers it, polled every 0.1 s: p50", "s",
              [percentile(x["polled"], 50) for x in lags], None, 10, 3)
        R.add(f"{key}.checkpoint_lag.p99_s", f"checkpoint lag {when}: p99", "s",
              [percentile(x["polled"], 99) for x in lags], ("<", 2), 10, 3)
        R.add(f"{key}.checkpoint_lag.signed_p99_s", f"checkpoint lag {when}, to the covering "
              "checkpoint's signed_at: p99", "s", [percentile(x["signed"], 99) for x in lags],
              None, 10, 3)

    def create_users(self, st, tok, n, kind="bench"):
        """n new users (kind names them apart from another step's)."""
        ids = []
        for i in range(n):
            body = {"data": {"type": "users", "attributes": {
                "name": f"Bench {i}", "email": f"{kind}-{self.run_tag}-{i}@example.com",
                "agreedTos": False}}}
            status, doc = st.request("api", "POST", "/api/users", body, tok)
            if status != 201:
                raise BenchError(f"POST /api/users: {status} {doc}")
            ids.append(doc["data"]["id"])
        return ids

    # -- 2: what auditing costs --------------------------------------------

    def audit_cost(self):
        """What emitting events costs the producer (issue 14): GET and PATCH
        with and without AUDITLOG_BENCH_NO_AUDIT, the auditor running in
        both, and the CPU each process spent per request (its CPU time over
        the run from /proc/<pid>/stat, divided by the requests served). The
        API's share is what the producer pays wherever the auditor runs."""
        s = self.size
        log("audit cost: GET and PATCH with and without event emission (targets 2, 14)")
        wait_alone("audit cost")
        script = os.path.join(HERE, "patch.lua")
        # The checker looks at mutations 1 s after they are stored (not 10):
        # the step waits for it before each measurement.
        with Stack(self, "cost", {"AUDITLOG_REPORT_MS": "1000",
                                  "AUDITLOG_CHECK_GRACE_MS": "1000"}) as st:
            st.start("auditor")
            res = {(m, a): [] for m in ("GET", "PATCH", "GET steady", "PATCH steady")
                   for a in (True, False)}
            res[("PATCH", "alone")] = []
            ids = None

            def measure(method, url, key=None, drain=True, **kw):
                """One measured wrk run of method, noted in res (under key, else
                (method, audit)) and the CPU notes (i, what, audit, pids and
                backlog: the loop's, below)."""
                self.quiet(f"cost run {i + 1} {method} ({what})")
                t0 = thread_cpu_ticks(pids["api"])
                r = wrk_cpu(url, s["cmp_s"], pids, **kw)
                t1 = thread_cpu_ticks(pids["api"])
                hz = os.sysconf("SC_CLK_TCK")
                n = r["rps"] * s["cmp_s"]
                r["threads"] = {k: (v - t0.get(k, 0)) / hz / n * 1e6 for k, v in t1.items()
                                if n and v > t0.get(k, 0)}
                self.check_wrk(f"{method} (cost)", r)
                res[key or (method, audit)].append(r)
                self.cpu_notes.append(f"{method} {what} run {i + 1} ({r['rps']:,.0f} req/s): "
                                      f"{cpu_text(r['cpu'])}")
                log(f"cost run {i + 1} {method} {what}: {r['rps']:.0f} req/s, p99 "
                    f"{r['p99']:.2f} ms; per request: {per_request_text(r)}; the API's "
                    "threads: " + ", ".join(f"{k} {v:.1f} us" for k, v in
                                            sorted(r["threads"].items(), key=lambda x: -x[1])))
                if drain:
                    backlog.wait_empty(300)
                    wait_checked(600)

            for i in range(s["runs"]):
                for audit in (True, False):
                    what = "with auditing" if audit else "without auditing"
                    st.start("api", {} if audit else {"AUDITLOG_BENCH_NO_AUDIT": "true"})
                    backlog = Backlog(st)
                    tok = st.token(1)
                    pids = {"api": st.daemons["api"].pid, "auditor": st.daemons["auditor"].pid}
                    if ids is None:
                        ids = self.create_users(st, tok, s["patch_users"], "cost")
                    url = st.url("api", "/api/users/1")
                    wrk(url, s["warm_s"], headers=self.auth(tok))
                    backlog.wait_empty(300)
                    wait_checked(600)
                    measure("GET", url, headers=self.auth(tok))
                    # The same at one steady rate in both modes (about 4,500/s:
                    # 32 connections 6 ms apart), where CPU per request
                    # compares like with like (bench/steady.lua).
                    measure("GET steady", url, headers=self.auth(tok),
                            script=os.path.join(HERE, "steady.lua"), script_args=["6"])
                    # PATCH: every request changes a stored value (patch.lua
                    # toggles from false), its outbox row in the transaction.
                    mysql(API_DB, f"UPDATE users SET agreed_tos = 0 WHERE id IN ({','.join(ids)})")
                    measure("PATCH", st.url("api", "/"), script=script,
                            script_args=[tok, ",".join(ids), "2"])
                    # And at a steady rate (about 1,500/s: 20 ms apart).
                    mysql(API_DB, f"UPDATE users SET agreed_tos = 0 WHERE id IN ({','.join(ids)})")
                    measure("PATCH steady", st.url("api", "/"), script=script,
                            script_args=[tok, ",".join(ids), "2", "20"])
                    if audit:
                        # Once more with the auditor stopped (the events wait
                        # in the queue): MariaDB's share is then the
                        # producer's alone, its outbox rows beside the change.
                        st.stop("auditor")
                        what = "with auditing, auditor stopped"
                        mysql(API_DB, f"UPDATE users SET agreed_tos = 0 WHERE id IN "
                              f"({','.join(ids)})")
                        pids.pop("auditor")
                        measure("PATCH", st.url("api", "/"), key=("PATCH", "alone"),
                                drain=False, script=script, script_args=[tok, ",".join(ids), "2"])
                        st.start("auditor")
                        pids["auditor"] = st.daemons["auditor"].pid
                        backlog.wait_empty(300)
                        wait_checked(600)
                    st.stop("api")
            R = self.report
            on, off = res[("GET", True)], res[("GET", False)]
            R.add("cost.audit.rps", f"GET with auditing, {s['cmp_s']} s runs", "req/s",
                  [r["rps"] for r in on], None, 2)
            R.add("cost.noaudit.rps", "GET with AUDITLOG_BENCH_NO_AUDIT=true", "req/s",
                  [r["rps"] for r in off], None, 2)
            R.add("cost.audit.p99_ms", "GET p99 with auditing", "ms", [r["p99"] for r in on], None,
                  2, 2)
            R.add("cost.noaudit.p99_ms", "GET p99 without auditing", "ms",
                  [r["p99"] for r in off], None, 2, 2)
            R.add("cost.rps_ratio", "throughput with / without auditing (per pair of runs)", "",
                  [a["rps"] / b["rps"] for a, b in zip(on, off)], (">=", 0.9), 2, 3)
            R.add("cost.p99_ratio", "p99 with / without auditing (per pair of runs)", "",
                  [a["p99"] / b["p99"] for a, b in zip(on, off)], ("<=", 1.2), 2, 3)
            for m in ("GET", "PATCH"):
                on, off = res[(m, True)], res[(m, False)]
                k = m.lower()
                if m == "PATCH":
                    R.add("cost.patch.audit.rps", f"PATCH with auditing, {s['cmp_s']} s runs, "
                          f"{len(ids)} users", "req/s", [r["rps"] for r in on], None, 14)
                    R.add("cost.patch.noaudit.rps", "PATCH without auditing", "req/s",
                          [r["rps"] for r in off], None, 14)
                cpu_rows(R, f"cost.{k}", "", f"{m}:", on, off,
                         ("api", "mariadb", "rabbitmq", "auditor"),
                         "with / without auditing (per pair of runs)")
                son, soff = res[(m + " steady", True)], res[(m + " steady", False)]
                R.add(f"cost.{k}.steady.rps", f"{m} at a steady rate ({'6' if m == 'GET' else '20'}"
                      " ms between a connection's requests), with / without auditing", "req/s",
                      [r["rps"] for r in son] + [r["rps"] for r in soff], None, 14)
                cpu_rows(R, f"cost.{k}.steady", "", f"{m} steady:", son, soff, ("api", "mariadb"),
                         "with / without auditing, at the same rate (per pair of runs)")
                if m == "PATCH":
                    cpu_rows(R, "cost.patch", "_alone", "PATCH:", res[("PATCH", "alone")], off,
                             ("api", "mariadb"), "with auditing and the auditor stopped / "
                             "without auditing: the producer's own share",
                             on_label="with auditing, the auditor stopped", off_row=False)
                # Where the API's share goes: its threads, by name.
                for t, label in (("MHD-worker", "HTTP workers"), ("api-publisher", "publisher"),
                                 ("api-spool", "spool sync")):
                    R.add(f"cost.{k}.api_{t.replace('-', '_').lower()}_us", f"{m}: API's {label} "
                          "CPU per request with auditing", "us",
                          [r["threads"].get(t, 0.0) for r in on], None, 14, 1)
                R.add(f"cost.{k}.api_mhd_worker_us_off", f"{m}: API's HTTP workers CPU per "
                      "request without", "us", [r["threads"].get("MHD-worker", 0.0) for r in off],
                      None, 14, 1)

    # -- 4: the auditor's drain --------------------------------------------

    def drain(self):
        """The auditor started on a backlog queued while it was stopped:
        events in messages of 100 (what our API sends under load), one
        event per message (the original protocol, what other producers
        send), and the memory case: messages up to 1 MiB whose parsed form
        is as large as the auditor lets in, beside oversized ones."""
        s = self.size
        cases = self.drain_cases or DRAIN_CASES
        n = s["drain_events"]
        with Stack(self, "drain", {"AUDITLOG_LOG_LEVEL": "debug"}) as st:
            R = self.report
            for per in (100, 1):
                case = "batched" if per > 1 else "single"
                if case not in cases:
                    continue
                key = "drain" if per > 1 else "drain.single"
                what = f"{per} events per message" if per > 1 else \
                    "one event per message (the original protocol)"
                log(f"{key}: {n:,} events, {what}, queued while the auditor is stopped "
                    "(target 4)")
                eps, pub, hwm = [], [], []
                for i in range(s["runs"]):
                    r = self._drain_run(st, f"{key} run {i + 1}",
                                        [["publish", AMQP_URL, str(n), "--batch", str(per),
                                          "--hot", f"drain-{self.run_tag}"]], n, 0)
                    eps.append(r["eps"])
                    pub.append(r["publish_eps"][0])
                    hwm.append(r["hwm"])
                pkey = "publish.eps" if per > 1 else "publish.single.eps"
                R.add(pkey, f"loadgen publish, {what}, confirms", "events/s", pub, None, 4)
                R.add(f"{key}.eps", f"auditor drain of {n:,} queued events, {what}, from its "
                      "start until stored and the queue empty", "events/s", eps,
                      (">=", 50000 if per > 1 else 40000), 4)
                R.add(f"{key}.peak_rss_mb", f"auditor peak RSS (VmHWM) after the drain, {what}",
                      "MB", hwm, ("<", 64), 4, 1)
            if "memory" in cases:
                self._drain_memory(st)

    def _drain_memory(self, st):
        s = self.size
        hot = f"drainmem-{self.run_tag}"
        loads = [  # (events, per message, pad bytes, shape, stored?)
            (s["mem_strings"], 4, 240_000, "string", True),
            (s["mem_ints"], 1, 250_000, "ints", True),
            (s["mem_objects"], 1, 85_000, "objects", True),
            (s["mem_oversize"] * 5, 5, 240_000, "string", False),
            (s["mem_overweight"], 1, 200_000, "objects", False),
        ]
        stored = sum(e for e, _, _, _, ok in loads if ok)
        dead = sum(e // per for e, per, _, _, ok in loads if not ok)
        log(f"drain.memory: {stored} events in messages of up to 1 MiB that parse to up to "
            f"{CONSUMER_WEIGHT_MAX_MB} MB each, and {dead} messages the auditor must refuse "
            "(over 1 MiB, or over that when parsed)")
        eps, hwm = [], []
        for i in range(s["runs"]):
            r = self._drain_run(st, f"drain.memory run {i + 1}",
                                [["publish", AMQP_URL, str(e), "--batch", str(per), "--pad",
                                  str(pad), "--pad-shape", shape, "--hot", hot]
                                 for e, per, pad, shape, _ in loads], stored, dead)
            eps.append(r["eps"])
            hwm.append(r["hwm"])
        R = self.report
        R.add("drain.memory.eps", "auditor drain of the memory case (events stored per second; "
              "no target)", "events/s", eps, None, 4)
        R.add("drain.memory.peak_rss_mb", "auditor peak RSS (VmHWM) after the memory case: "
              "messages up to 1 MiB parsing to up to 8 MB, oversized ones streamed to the dead "
              "letters", "MB", hwm, ("<", 64), 4, 1)

    def _drain_run(self, st, what, publishes, n, dead, on_start=None):
        """Publishes (loadgen argument lists) with the auditor stopped, then
        starts it and times it until it stored n events, the queue is empty
        and the dead-letter queue holds dead messages. on_start(st), if
        given, runs as soon as the auditor listens; what it returns is
        called when the drain is done, before the auditor stops."""
        wait_alone(what)
        if not self.smoke:
            mq_purge()
        mq_purge(DEAD_QUEUE)
        q0 = mq_count() or 0
        rates = []
        for args in publishes:
            rate, line = loadgen(args, timeout=1800)
            rates.append(rate)
            log(f"{what}: {line}")
        log(f"{what}: queue {q0} -> {mq_count()} messages; uptime: {uptime()}")
        self.quiet(what)
        d = st.start("auditor")
        t0 = d.started
        closer = on_start(st) if on_start else None
        meter = CpuMeter({"auditor": d.pid})
        stored, pos, done_at = 0, 0, None
        last_stored, progress_at, polls = 0, time.monotonic(), 0
        deadline = time.monotonic() + (60 if self.smoke else 900)
        while time.monotonic() < deadline:
            time.sleep(0.1)
            with open(d.log_path, "rb") as f:
                f.seek(pos)
                data = f.read()
            cut = data.rfind(b"\n") + 1
            pos += cut
            stored += sum(int(x) for x in re.findall(rb"stored (\d+) events", data[:cut]))
            if d.proc.poll() is not None:
                raise BenchError(f"the auditor died while draining:\n{d.tail()}")
            # The log says how far it is; the queue is asked only near the
            # end or once a second (each mqtool costs a little CPU).
            polls += 1
            q = mq_count() if stored >= n or polls % 10 == 0 else None
            if stored >= n and q == 0 and (not dead or mq_count(DEAD_QUEUE) == dead):
                done_at = time.monotonic()
                break
            if stored != last_stored:
                last_stored, progress_at = stored, time.monotonic()
            elif q == 0 and time.monotonic() - progress_at > 15:
                raise BenchError(f"the queue is empty but the auditor stored {stored} of "
                                 f"{n} events and nothing for 15 s: another consumer "
                                 "took them?")
        if done_at is None:
            raise BenchError(f"{what}: the drain did not finish: {stored} of {n} stored, "
                             f"queue {mq_count()}, dead letters {mq_count(DEAD_QUEUE)}")
        eps = n / (done_at - t0)
        hwm = d.hwm_mb()
        self.cpu_notes.append(f"{what} ({eps:,.0f} events/s): {cpu_text(meter.shares())}")
        log(f"{what}: {n:,} events in {done_at - t0:.2f} s = {eps:,.0f} events/s, auditor "
            f"peak RSS {hwm:.1f} MB; uptime: {uptime()}")
        if closer:
            closer()
        st.stop("auditor")
        mq_purge(DEAD_QUEUE)
        return {"eps": eps, "hwm": hwm, "publish_eps": rates}

    # -- issue 16: the drain with several auditors -------------------------

    SCALE_PARTITIONS = 6

    def scale(self):
        """The drain of a queued backlog by 1, 2 and 3 auditors sharing
        SCALE_PARTITIONS partitions (quorum queues, a single active consumer
        each; auditor i's share is the partitions p with p mod k == i), on
        the quorum vhost of this broker, or on the cluster given by
        AUDITLOG_BENCH_CLUSTER_URL (a list of the nodes' URLs, README
        "Cluster mode"). loadgen spreads the messages over the partitions."""
        s = self.size
        n = s["drain_events"]
        P = self.SCALE_PARTITIONS
        url = E.get("AUDITLOG_BENCH_CLUSTER_URL") or quorum_url(AMQP_URL)
        where = "the three-node cluster" if E.get("AUDITLOG_BENCH_CLUSTER_URL") else \
            "one broker"
        topo = {"AUDITLOG_PARTITIONS": str(P), "AUDITLOG_QUEUE_TYPE": "quorum"}
        R = self.report
        base = None
        for k in (1, 2, 3):
            eps = []
            for i in range(s["runs"]):
                what = f"scale.{k} run {i + 1}"
                for p in range(P):
                    run([os.path.join(BIN, "mqtool"), "purge", url, partition_queue(p)], 30,
                        check=False)
                rate, line = loadgen(["publish", url, str(n), "--batch", "100", "--hot",
                                      f"scale-{self.run_tag}"], timeout=1800, env=topo)
                log(f"{what}: {line}")
                self.quiet(what)
                eps.append(self._scale_run(what, url, topo, k, n))
            R.add(f"scale.{k}.eps", f"drain of {n:,} queued events (messages of 100) by {k} "
                  f"auditor{'s' if k > 1 else ''} sharing {P} partitions, quorum queues on "
                  f"{where}", "events/s", eps, None, 16)
            if base is None:
                base = statistics.median(eps)
            else:
                R.add(f"scale.{k}.ratio", f"{k} auditors' drain rate over one auditor's (same "
                      "run)", "x", [e / base for e in eps], None, 16, 2)

    def _scale_run(self, what, url, topo, k, n):
        """Starts k auditors on the queued partitions; returns the events
        stored per second from the first start until n are stored."""
        daemons, pos, stored = [], [], 0
        try:
            for i in range(k):
                port = free_port()
                env = dict(os.environ, **topo, AUDITLOG_AMQP_URL=url,
                           AUDITLOG_AUDITOR_PORT=str(port), AUDITLOG_AUDITOR_INSTANCE=str(i),
                           AUDITLOG_AUDITORS=str(k), AUDITLOG_LOG_KEY=LOG_KEY,
                           AUDITLOG_LOG_LEVEL="debug")
                daemons.append(Daemon("auditor", env, self.logdir, f"scale{k}-{i}"))
                pos.append(0)
            t0 = daemons[0].started
            meter = CpuMeter({f"auditor{i}": d.pid for i, d in enumerate(daemons)})
            deadline = time.monotonic() + (60 if self.smoke else 900)
            while stored < n:
                if time.monotonic() > deadline:
                    raise BenchError(f"{what}: {stored} of {n} stored after the deadline")
                time.sleep(0.1)
                stored += stored_since(what, daemons, pos)
            eps = n / (time.monotonic() - t0)
            self.cpu_notes.append(f"{what} ({eps:,.0f} events/s): {cpu_text(meter.shares())}")
            log(f"{what}: {n:,} events in {n / eps:.2f} s = {eps:,.0f} events/s; {uptime()}")
            return eps
        finally:
            for d in daemons:
                d.stop()

    def ingest(self):
        """Ingest under the GET benchmark with 1, 2 and 3 auditors sharing
        SCALE_PARTITIONS partitions (quorum queues; on the cluster given by
        AUDITLOG_BENCH_CLUSTER_URL, else this broker's quorum vhost): wrk
        GETs /api/users/1 for get_s seconds, one view event each, while k
        auditors store them. Reports the API's requests per second, the
        events stored per second during the run, and how long the auditors
        took after it to store the rest. Only with --only ingest."""
        s = self.size
        P = self.SCALE_PARTITIONS
        url = E.get("AUDITLOG_BENCH_CLUSTER_URL") or quorum_url(AMQP_URL)
        where = "the three-node cluster" if E.get("AUDITLOG_BENCH_CLUSTER_URL") else \
            "one broker"
        topo = {"AUDITLOG_PARTITIONS": str(P), "AUDITLOG_QUEUE_TYPE": "quorum",
                "AUDITLOG_AMQP_URL": url}
        R = self.report
        for k in (1, 2, 3):
            rps, stored_eps, drain_s = [], [], []
            with Stack(self, f"ingest{k}", topo) as st:
                st.start("api")
                tok = st.token(1)
                get = st.url("api", "/api/users/1")
                auditors, pos = [], []
                try:
                    for i in range(k):
                        env = dict(st.env, AUDITLOG_AUDITOR_PORT=str(free_port()),
                                   AUDITLOG_AUDITOR_INSTANCE=str(i), AUDITLOG_AUDITORS=str(k),
                                   AUDITLOG_LOG_KEY=LOG_KEY, AUDITLOG_LOG_LEVEL="debug")
                        auditors.append(Daemon("auditor", env, self.logdir, f"ingest{k}-{i}"))
                        pos.append(0)

                    def stored():
                        return stored_since(f"ingest.{k}", auditors, pos)

                    def settle(timeout):
                        """Waits until nothing was stored for 2 s."""
                        deadline, still = time.monotonic() + timeout, 0
                        while still < 10 and time.monotonic() < deadline:
                            time.sleep(0.2)
                            still = 0 if stored() else still + 1

                    wrk(get, s["warm_s"], headers=self.auth(tok))
                    settle(120)
                    for i in range(s["runs"]):
                        what = f"ingest.{k} run {i + 1}"
                        self.quiet(what)
                        stored()
                        pids = {"api": st.daemons["api"].pid,
                                **{f"auditor{j}": d.pid for j, d in enumerate(auditors)}}
                        t0 = time.monotonic()
                        res = wrk_cpu(get, s["get_s"], pids, headers=self.auth(tok))
                        t1 = time.monotonic()
                        during = stored()
                        total = during
                        deadline = t1 + 300
                        while total < res["requests"] and time.monotonic() < deadline:
                            time.sleep(0.1)
                            total += stored()
                        if total < res["requests"]:
                            raise BenchError(f"{what}: {total} of {res['requests']} views stored "
                                             "300 s after the run")
                        rps.append(res["rps"])
                        stored_eps.append(during / (t1 - t0))
                        drain_s.append(time.monotonic() - t1)
                        self.cpu_notes.append(f"{what}: {cpu_text(res['cpu'])}")
                        log(f"{what}: {res['rps']:.0f} req/s, {stored_eps[-1]:,.0f} events/s stored "
                            f"during the run, the rest in {drain_s[-1]:.1f} s; CPU (cores): "
                            f"{cpu_text(res['cpu'])}")
                finally:
                    for d in auditors:
                        d.stop()
            sfx = "s" if k > 1 else ""
            R.add(f"ingest.{k}.rps", f"GET /api/users/1 (wrk -t2 -c32), {k} auditor{sfx} on "
                  f"{P} partitions, quorum queues on {where}", "req/s", rps, None, 16)
            R.add(f"ingest.{k}.stored_eps", f"events stored per second during that run, {k} "
                  f"auditor{sfx}", "events/s", stored_eps, None, 16)
            R.add(f"ingest.{k}.drain_s", f"after the run, until every view was stored, {k} "
                  f"auditor{sfx}", "s", drain_s, None, 16, 1)

    # -- issue 10: what the log of record costs the drain, A/B --------------

    def build_rev(self, rev):
        """A release build (RelWithDebInfo, as ./run.sh build) of the auditor
        of commit rev of this repository, from git archive, in
        <out>/ab-<commit>/; kept and reused. Returns (source, bin dir)."""
        rc, out, err = run(["git", "-C", SRC, "rev-parse", "--verify", rev + "^{commit}"], 30,
                           check=False)
        if rc:
            raise BenchError(f"--ab-base {rev}: not a commit of {SRC}: {err.strip()}")
        sha = out.strip()
        root = os.path.join(self.outdir, f"ab-{sha[:12]}")
        src, build = os.path.join(root, "src"), os.path.join(root, "build")
        bin_dir = os.path.join(build, "bin")
        if os.access(os.path.join(bin_dir, "auditlog-auditor"), os.X_OK):
            log(f"ab: reusing the build of {sha[:12]} in {build}")
            return src, bin_dir
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(src)
        log(f"ab: building the auditor of {sha[:12]} in {build}")
        archive = subprocess.run(["git", "-C", SRC, "archive", sha], capture_output=True)
        if archive.returncode:
            raise BenchError(f"git archive {sha}: {archive.stderr.decode(errors='replace')}")
        subprocess.run(["tar", "-x", "-C", src], input=archive.stdout, check=True)
        run(["cmake", "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=RelWithDebInfo"], 600)
        run(["cmake", "--build", build, "-j", str(os.cpu_count() or 2), "--target",
             "auditlog-auditor"], 3600)
        return src, bin_dir

    @staticmethod
    def ab_database(db, sql_dir, tables):
        """db made afresh, migrated with sql_dir's files, its tables granted
        to the auditor's writer (SELECT, INSERT) and reader (SELECT) as
        ./run.sh grants them."""
        def lit(v):
            return "'" + v.replace("\\", "\\\\").replace("'", "''") + "'"
        q = "`" + db.replace("`", "``") + "`"
        mysql_admin(f"DROP DATABASE IF EXISTS {q}; CREATE DATABASE {q} CHARACTER SET utf8mb4 "
                    "COLLATE utf8mb4_bin;")
        files = sorted(glob.glob(os.path.join(sql_dir, "*.sql")))
        if not files:
            raise BenchError(f"no migrations in {sql_dir}")
        for path in files:
            with open(path) as f:
                mysql_admin(f.read(), db)
        writer = lit(E.get("AUDITLOG_AUDITOR_MYSQL_USER", "auditor"))
        reader = lit(E.get("AUDITLOG_AUDITOR_READER_USER", "auditor_reader"))
        grants = []
        for host in ("'%'", "'localhost'"):
            for t in tables:
                grants.append(f"GRANT SELECT, INSERT ON {q}.{t} TO {writer}@{host};")
                grants.append(f"GRANT SELECT ON {q}.{t} TO {reader}@{host};")
        mysql_admin("\n".join(grants))
        log(f"ab: {db} migrated with {', '.join(os.path.basename(p) for p in files)}")

    def ab_drain(self):
        """The drain of benchmark 4 (queued while the auditor is stopped,
        timed from its start until stored), by this build's auditor (with
        the log of record) and by the one of commit --ab-base (without),
        each on a database of its own migrated by its own migrations and
        emptied before every run, alternating base/head, head/base, ...
        on the same queued load (the same loadgen publishes it)."""
        s = self.size
        rev, n = self.ab_base, s["ab_events"]
        base_src, base_bin = self.build_rev(rev)
        sides = {
            "base": {"db": f"{AUDITOR_DB}-ab-base", "bin": base_bin,
                     "sql": os.path.join(base_src, "sql", "auditor"),
                     # a base with the log of record needs its tables' grants too
                     "tables": tuple(t for t in LOG_TABLES if glob.glob(os.path.join(
                         base_src, "sql", "auditor", {"log_leases": "*log_leases*",
                                                      "data_event_ids": "*monthly_partitions*",
                                                      "log_retained": "*monthly_partitions*",
                                                      "data_event_retained_versions":
                                                          "*monthly_partitions*"}
                         .get(t, "*"))))
                     if glob.glob(os.path.join(base_src, "sql", "auditor", "*log_of_record*"))
                     else ("data_event_changes", "data_events")},
            "head": {"db": f"{AUDITOR_DB}-ab-head", "bin": BIN,
                     "sql": os.path.join(SRC, "sql", "auditor"), "tables": LOG_TABLES},
        }
        for side in sides.values():
            self.ab_database(side["db"], side["sql"], side["tables"])
        pers = [per for per, case in ((100, "batched"), (1, "single"))
                if not self.drain_cases or case in self.drain_cases]
        eps = {}
        with Stack(self, "ab-base", {"AUDITLOG_AUDITOR_DB": sides["base"]["db"],
                                     "AUDITLOG_LOG_LEVEL": "debug"}, base_bin) as sb, \
                Stack(self, "ab-head", {"AUDITLOG_AUDITOR_DB": sides["head"]["db"],
                                        "AUDITLOG_LOG_LEVEL": "debug"}) as sh:
            stacks = {"base": sb, "head": sh}
            for per in pers:
                for i in range(s["runs"]):
                    for name in (("base", "head") if i % 2 == 0 else ("head", "base")):
                        side = sides[name]
                        truncate_log(side["db"], side["tables"])
                        r = self._drain_run(stacks[name], f"ab {name} {per}/message run {i + 1}",
                                            [["publish", AMQP_URL, str(n), "--batch", str(per),
                                              "--hot", f"ab-{self.run_tag}"]], n, 0)
                        eps.setdefault((per, name), []).append(r["eps"])
        R = self.report
        table = ["| events per message | runs | without the ledger (`" + rev + "`) | with it "
                 "(this build) | ratio of medians | ratios per alternation |",
                 "|---:|---:|---:|---:|---:|---|"]
        for per in pers:
            key = "ab.batched" if per > 1 else "ab.single"
            what = "100 events per message" if per > 1 else "one event per message"
            base, head = eps[(per, "base")], eps[(per, "head")]
            ratios = [h / b for h, b in zip(head, base)]
            R.add(f"{key}.base.eps", f"drain of {n:,} queued events, {what}, build {rev} "
                  "(no log of record)", "events/s", base, None, 10)
            R.add(f"{key}.head.eps", f"the same, this build (with the log of record)",
                  "events/s", head, None, 10)
            R.add(f"{key}.ratio", f"drain with / without the log of record, {what} (per "
                  "alternation)", "", ratios, (">=", 0.9), 10, 3)
            mb, mh = statistics.median(base), statistics.median(head)
            table.append(f"| {per} | {len(base)} | {mb:,.0f} events/s | {mh:,.0f} events/s | "
                         f"{mh / mb:.3f} | {', '.join(f'{x:.3f}' for x in ratios)} |")
        self.ab_table = "\n".join(table)
        print(self.ab_table, flush=True)

    # -- 5: queries at scale -------------------------------------------------

    def page_sql(self, kind, hot, after, limit):
        """The exact statement store_query_events runs (query_plan.c, printed
        by tests/tools/plan_sql), its parameters bound as literals. after is
        (version, timestamp, id), or None for the first page."""
        args = [os.path.join(BIN, "plan_sql"), f"{kind}=users:{hot}", f"size={limit}"]
        if after:
            args.append(f"after={after[0]}:{after[1]}:{after[2]}")
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode != 0:
            raise BenchError(f"plan_sql {' '.join(args[1:])}: {r.stdout} {r.stderr}")
        plan = json.loads(r.stdout)
        parts = plan["sql"].split("?")
        if len(parts) != len(plan["params"]) + 1:
            raise BenchError(f"plan_sql: {len(parts) - 1} placeholders, "
                             f"{len(plan['params'])} parameters")

        def lit(v):
            return str(v) if isinstance(v, int) else "'" + str(v).replace("\\", "\\\\") \
                .replace("'", "''") + "'"

        return parts[0] + "".join(lit(p) + part for p, part in zip(plan["params"], parts[1:]))

    def query_urls(self, st, tok, hot):
        """First pages of the actor and target queries, and the pages
        reached by following links.next deep_pages times, with the keyset
        position each deep page starts after."""
        s = self.size
        out = {}
        for kind in ("actor", "target"):
            first = f"/data-events?filter%5B{kind}%5D=users:{hot}&page%5Bsize%5D=50"
            status, doc = st.request("auditor", "GET", first, token=tok)
            if status != 200 or len(doc["data"]) != 50:
                raise BenchError(f"GET {first}: {status} {str(doc)[:300]}")
            out[f"{kind}_first"] = (first, None)
            path = first
            for _ in range(s["deep_pages"]):
                last = doc["data"][-1]
                path = doc["links"].get("next")
                if not path:
                    raise BenchError(f"{kind}: no links.next after {len(doc['data'])} events; "
                                     "too few hot events")
                status, doc = st.request("auditor", "GET", path, token=tok)
                if status != 200:
                    raise BenchError(f"GET {path}: {status} {str(doc)[:300]}")
            if len(doc["data"]) != 50:
                raise BenchError(f"{kind}: page {s['deep_pages'] + 1} has {len(doc['data'])} "
                                 "events; expected 50")
            out[f"{kind}_deep"] = (path, (last["attributes"]["targetVersion"] or 0,
                                          last["attributes"]["timestamp"], last["id"]))
        return out

    def measure_queries(self, st, hot, scale):
        s = self.size
        tok = st.token(1)
        urls = self.query_urls(st, tok, hot)
        results = {}
        for name, (path, _) in urls.items():
            p50, p99, rps = [], [], []
            for i in range(s["runs"]):
                self.quiet(f"query {name} at {scale} run {i + 1}")
                r = wrk(st.url("auditor", path), s["query_s"], threads=1, conns=4,
                        headers=self.auth(tok))
                self.check_wrk(f"query {name}", r)
                p50.append(r["p50"])
                p99.append(r["p99"])
                rps.append(r["rps"])
            c1 = []
            if scale == "big":
                # One connection: the latency of a query on its own, where -c4
                # also measures the queue for the machine's two cores.
                for i in range(s["runs"]):
                    r = wrk_cpu(st.url("auditor", path), s["c1_s"],
                                {"auditor": st.daemons["auditor"].pid}, threads=1, conns=1,
                                headers=self.auth(tok))
                    self.check_wrk(f"query {name} (1 connection)", r)
                    c1.append(r["p50"])
                self.cpu_notes.append(f"query {name}, {self.size['big_rows']:,} events, one "
                                      f"connection ({r['rps']:,.0f} req/s): {cpu_text(r['cpu'])}")
            results[name] = (p50, p99, rps, c1)
            log(f"query {name} at {scale}: p50 {statistics.median(p50):.2f} ms, "
                f"p99 {statistics.median(p99):.2f} ms, {statistics.median(rps):.0f} req/s"
                + (f"; one connection: p50 {statistics.median(c1):.2f} ms" if c1 else ""))
        # The plans of exactly what the auditor runs.
        for name, (path, after) in urls.items():
            kind = name.split("_")[0]
            sql = self.page_sql(kind, hot, after, 50)
            plan = mysql(AUDITOR_DB, "EXPLAIN " + sql, table=True)
            self.explains.append((scale, name, sql, plan.strip(), None))
        if scale == "big":
            path, after = urls["actor_deep"]
            sql = self.page_sql("actor", hot, after, 50)
            analyze = mysql(AUDITOR_DB, "ANALYZE FORMAT=JSON " + sql, raw=True)
            self.explains.append((scale, "actor_deep (ANALYZE)", sql, None, analyze.strip()))
        return results

    def proofs(self, st):
        """Inclusion proofs of events drawn at random over the whole log,
        alone and then beside a GET load on the API (events flowing in),
        with the checkpoint lag meanwhile."""
        s = self.size
        size = log_end()
        tok = st.token(1)
        if size == 0:
            raise BenchError("proofs: the log is empty")
        # The records of the queries just run (README "Reads are recorded")
        # end the log: a proof needs a checkpoint over its event, signed
        # within a second of it.
        poll, t0 = CheckpointLag(st, tok), time.monotonic()
        while (poll._poll() or 0) < size:
            if time.monotonic() - t0 > 60:
                raise BenchError(f"proofs: no checkpoint covered the log's {size:,} events "
                                 "in 60 s")
            time.sleep(0.2)
        seqs = sorted(random.sample(range(size), min(size, s["proof_ids"])))
        ids = []
        for i in range(0, len(seqs), 200):  # 200 statements: ~40 kB, one argument of mariadb -e
            # The id at each position, from the append that gives it.
            ids += mysql(AUDITOR_DB, "".join(
                f"SELECT SUBSTRING(event_ids, 36 * ({q} - first_seq) + 1, 36) FROM log_appends "
                f"WHERE log_id = 0 AND first_seq <= {q} AND first_seq + LENGTH(leaf_hashes) "
                f"DIV 32 > {q} ORDER BY first_seq DESC LIMIT 1;" for q in seqs[i:i + 200])).split()
        if len(ids) != len(seqs):
            raise BenchError(f"proofs: {len(seqs)} positions drawn, {len(ids)} events found: "
                             "the log has a gap")
        status, doc = st.request("auditor", "GET", f"/data-events/{ids[0]}/proof", token=tok)
        if status != 200 or not str(doc).startswith("c2sp.org/tlog-proof@v1\n"):
            raise BenchError(f"GET /data-events/{ids[0]}/proof: {status} {str(doc)[:300]}")
        idfile = os.path.join(self.logdir, "proof-ids.txt")
        with open(idfile, "w") as f:
            f.write("\n".join(ids) + "\n")
        script = os.path.join(HERE, "proof.lua")
        url = st.url("auditor", "/")
        log(f"proofs: {size:,} events, {len(ids):,} drawn at random (target 10)")
        alone, c1, busy, lags = [], [], [], []
        for i in range(s["runs"]):
            self.quiet(f"proof run {i + 1}")
            r = wrk_cpu(url, s["proof_s"], {"auditor": st.daemons["auditor"].pid}, threads=1,
                        conns=4, script=script, script_args=[tok, idfile])
            self.check_wrk("proofs", r)
            alone.append(r)
            r1 = wrk(url, s["c1_s"], threads=1, conns=1, script=script, script_args=[tok, idfile])
            self.check_wrk("proofs (1 connection)", r1)
            c1.append(r1)
            # The same beside a GET load on the API: its view events flow
            # through the queue into the log, and checkpoints follow them.
            self.quiet(f"proof run {i + 1} with events flowing")
            api_tok = st.token(1)
            lag = CheckpointLag(st, tok).start()
            get = {}
            th = threading.Thread(target=lambda: get.update(wrk(
                st.url("api", "/api/users/1"), s["proof_s"], threads=1, conns=8,
                headers=self.auth(api_tok))), daemon=True)
            th.start()
            r2 = wrk(url, s["proof_s"], threads=1, conns=4, script=script,
                     script_args=[tok, idfile])
            th.join(s["proof_s"] + 90)
            if "rps" not in get:
                raise BenchError("proofs: the GET load beside them did not run")
            self.check_wrk("proofs with events flowing", r2)
            wait_queue_empty(300)
            lags.append(lag.finish())
            busy.append((r2, get))
            self.cpu_notes.append(f"proofs run {i + 1} ({r['rps']:,.0f} req/s): "
                                  f"{cpu_text(r['cpu'])}")
            log(f"proof run {i + 1}: p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms, "
                f"{r['rps']:.0f} req/s; one connection p50 {r1['p50']:.2f} ms; beside "
                f"{get['rps']:.0f} GET/s: p50 {r2['p50']:.2f} ms, {r2['rps']:.0f} req/s")
        R = self.report
        R.add("proof.p50_ms", f"GET /data-events/:id/proof, {size:,} events, random events, "
              "wrk -t1 -c4: p50", "ms", [r["p50"] for r in alone], ("<", 5), 10, 2)
        R.add("proof.p99_ms", "proof p99", "ms", [r["p99"] for r in alone], None, 10, 2)
        R.add("proof.rps", "proofs per second, wrk -t1 -c4", "req/s", [r["rps"] for r in alone],
              None, 10)
        R.add("proof.c1_p50_ms", "proof p50 with one connection (wrk -t1 -c1)", "ms",
              [r["p50"] for r in c1], None, 10, 2)
        R.add("proof.busy.p50_ms", "proof p50 beside a GET load on the API (wrk -t1 -c8 on "
              "/api/users/1: events flowing in)", "ms", [r["p50"] for r, _ in busy], None, 10, 2)
        R.add("proof.busy.get_rps", "that GET load, events per second into the log", "req/s",
              [g["rps"] for _, g in busy], None, 10)
        self.add_lag("proof", "during the proof runs beside the GET load", lags)

    def queries(self):
        s = self.size
        small, big = s["small_rows"], s["big_rows"]
        if self.smoke:
            hot = f"hot-{self.run_tag}"  # the test database is shared: no truncation
        else:
            hot = "hot"
            log(f"queries: emptying the audit log of {AUDITOR_DB} ({', '.join(LOG_TABLES)})")
            truncate_log()
        R = self.report
        fill_args = ["--hot", hot, "--hot-share", str(s["hot_share"]), "--rich", "1"]
        # fill-db appends through a writer (ledger) of its own: no auditor
        # may run on the log meanwhile, or its ledger would find positions
        # it was about to give taken and halt. So each size gets a stack
        # started after its fill, whose auditor opens the grown tree.
        log(f"queries: loading {small:,} events (target 5)")
        rate, line = loadgen(["fill-db", str(small)] + fill_args, timeout=1800)
        log(line)
        fills = [rate]
        with Stack(self, "queries") as st:
            st.start("auditor")
            st.start("api")
            res_small = self.measure_queries(st, hot, "small")
        log(f"queries: loading {big - small:,} more events, to {big:,}")
        rate, line = loadgen(["fill-db", str(big - small)] + fill_args, timeout=7200)
        log(line)
        fills.append(rate)
        n = s["history_rows"]
        log(f"queries: writing a history of {n:,} versions of users:{hot}-history (target 11)")
        _, line = loadgen(["fill-db", str(n), "--history", "1", "--hot", hot, "--threads", "1"],
                          timeout=1800)
        log(line)
        m = re.search(r"from (\d+) ms every 10 ms", line)
        if not m:
            raise BenchError(f"cannot read the history's start:\n{line}")
        history = (f"{hot}-history", int(m.group(1)), int(m.group(1)) + 10 * n)
        if not self.smoke:
            log("queries: letting MariaDB settle after the load")
            time.sleep(10)
        # The smoke's history is small: the checker need not wait 10 s for it.
        quick = {"AUDITLOG_CHECK_GRACE_MS": "1000"} if self.smoke else None
        with Stack(self, "queries-big", quick) as st:
            st.start("auditor")
            st.start("api")
            self.wait_checker(st, st.token(1))
            res_big = self.measure_queries(st, hot, "big")
            self.proofs(st)
            self.filters(st, hot, history)
            self.state_at(st, history)
        R.add("fill.rows_per_s", "loadgen fill-db through store_insert_batch and the log's "
              "writer (2 connections, 1,000 events per transaction, tree built as it goes)",
              "rows/s", fills, None, 5)
        labels = {"actor_first": "actor query, first page of 50",
                  "target_first": "target query, first page of 50",
                  "actor_deep": f"actor query, page {s['deep_pages'] + 1} through the cursor",
                  "target_deep": f"target query, page {s['deep_pages'] + 1} through the cursor"}
        for name, label in labels.items():
            p50s, p99s, _, _ = res_small[name]
            p50b, p99b, rpsb, c1b = res_big[name]
            R.add(f"query.{name}.small.p50_ms", f"{label}, {small:,} events: p50", "ms", p50s,
                  None, 5, 2)
            R.add(f"query.{name}.small.p99_ms", f"{label}, {small:,} events: p99", "ms", p99s,
                  None, 5, 2)
            R.add(f"query.{name}.p50_ms", f"{label}, {big:,} events: p50 (wrk -t1 -c4)", "ms",
                  p50b, ("<", 3), 5, 2)
            R.add(f"query.{name}.p99_ms", f"{label}, {big:,} events: p99", "ms", p99b,
                  ("<", 10), 5, 2)
            R.add(f"query.{name}.c1_p50_ms", f"{label}, {big:,} events: p50 with one "
                  "connection (wrk -t1 -c1; no target)", "ms", c1b, None, 5, 2)
            R.add(f"query.{name}.p50_ratio", f"{label}: p50 at {big:,} / at {small:,}", "",
                  [statistics.median(p50b) / statistics.median(p50s)], ("<=", 1.5), 5, 2)
            R.add(f"query.{name}.p99_ratio", f"{label}: p99 at {big:,} / at {small:,}", "",
                  [statistics.median(p99b) / statistics.median(p99s)], ("<=", 1.5), 5, 2)

    # -- 11: filters and the state at any time --------------------------------

    def filters(self, st, hot, history):
        """Every documented filter combination (README "Filters") on the
        hot actor and target of the big log (the fill's events have no
        version), and a time window on the versioned history (target,
        start ms, end ms), from 10% to 70% of its time, so newest first
        walks the 30% after it: the first page and the page
        filter_deep_pages + 1 through the cursor, page[size]=filter_size."""
        s = self.size
        tok = st.token(1)
        size = s["filter_size"]

        def get(path):
            status, doc = st.request("auditor", "GET", path, token=tok)
            if status != 200:
                raise BenchError(f"GET {path}: {status} {str(doc)[:300]}")
            return doc
        # The middle half of the fill's time (the hot target's events are all
        # the fill's; the hot actor also made the history, earlier).
        ends = [get(f"/data-events?filter%5Btarget%5D=users:{hot}&page%5Bsize%5D=1{o}")["data"]
                [0]["attributes"]["timestamp"] for o in ("&sort=time", "")]
        since, until = ends[0] + (ends[1] - ends[0]) // 4, ends[0] + 3 * (ends[1] - ends[0]) // 4
        if self.smoke:  # two fills minutes apart, the second tiny: the whole span
            since, until = ends[0], ends[1] + 1
        rng = f"&filter%5Bsince%5D={since}&filter%5Buntil%5D={until}"
        a, t = f"filter%5Bactor%5D=users:{hot}", f"filter%5Btarget%5D=users:{hot}"
        combos = {
            "actor": a, "actor+action": a + "&filter%5Baction%5D=deleted",
            "actor+actions": a + "&filter%5Baction%5D=created,changed,deleted",
            "actor+since+until": a + rng,
            "actor+action+since+until": a + "&filter%5Baction%5D=deleted" + rng,
            "actor+eventName": a + "&filter%5BeventName%5D=n1",
            "actor+field": a + "&filter%5Bfield%5D=email",
            "actor+field+action": a + "&filter%5Bfield%5D=email&filter%5Baction%5D=changed",
            "target": t, "target+action": t + "&filter%5Baction%5D=changed",
            "target+since+until": t + rng, "target+field": t + "&filter%5Bfield%5D=email",
            "target+actor": t + "&" + a, "actor, oldest first": a + "&sort=time",
            "versioned target+since+until": f"filter%5Btarget%5D=users:{history[0]}"
            f"&filter%5Bsince%5D={history[1] + (history[2] - history[1]) // 10}"
            f"&filter%5Buntil%5D={history[1] + 7 * (history[2] - history[1]) // 10}",
            "target+field, oldest first": t + "&filter%5Bfield%5D=email&sort=time",
        }
        R = self.report
        for k, (name, q) in enumerate(combos.items()):
            first = f"/data-events?{q}&page%5Bsize%5D={size}"
            doc, path = get(first), first
            for _ in range(s["filter_deep_pages"]):
                path = doc["links"].get("next")
                if not path:
                    raise BenchError(f"filter {name}: fewer than "
                                     f"{s['filter_deep_pages'] + 1} pages of {size}")
                doc = get(path)
            if self.smoke and k:  # the smoke times one combination; it walks every one
                continue
            for which, url in (("first", first), ("deep", path)):
                p50, p99 = [], []
                for i in range(s["runs"]):
                    self.quiet(f"filter {name} {which} run {i + 1}")
                    r = wrk(st.url("auditor", url), s["filter_s"], threads=1, conns=4,
                            headers=self.auth(tok))
                    self.check_wrk(f"filter {name}", r)
                    p50.append(r["p50"])
                    p99.append(r["p99"])
                label = (f"{name}, first page of {size}" if which == "first" else
                         f"{name}, page {s['filter_deep_pages'] + 1} through the cursor")
                key = "filter." + re.sub(r"[^a-z]+", "_", name.lower()).strip("_") + f".{which}"
                R.add(f"{key}.p50_ms", f"{label}, {self.size['big_rows']:,} events: p50 "
                      "(wrk -t1 -c4)", "ms", p50, None, 11, 2)
                R.add(f"{key}.p99_ms", f"{label}: p99", "ms", p99, ("<", 50), 11, 2)
                log(f"filter {name} {which}: p50 {statistics.median(p50):.2f} ms, "
                    f"p99 {statistics.median(p99):.2f} ms")

    def wait_checker(self, st, tok):
        """Until the auditor's checker has checked the whole log (it works
        through the history's versions after a start: measuring meanwhile
        would measure it too), as far as the log reached when this began:
        each GET /checks is a read, recorded in the log (README "Reads are
        recorded"), which the checker reaches only after its grace, so the
        log's size as it grows would never be reached."""
        end = []

        def checked():
            status, doc = st.request("auditor", "GET", "/checks", token=tok)
            if status != 200:
                raise BenchError(f"GET /checks: {status} {str(doc)[:300]}")
            a = doc["data"][0]["attributes"]
            if not end:
                end.append(a["size"])
            return a["checkedTo"] >= end[0]
        t0 = time.monotonic()
        while not checked():
            if time.monotonic() - t0 > 1800:
                raise BenchError("the checker did not catch up in 30 minutes")
            time.sleep(2)
        log(f"queries: the checker caught up in {time.monotonic() - t0:.0f} s")

    def state_at(self, st, history):
        """GET /api/users/:id/state?at=T at random instants of a target
        with history_rows versions, once the checker has checked them."""
        s = self.size
        tok = st.token(1)
        target, start, end = history

        self.wait_checker(st, tok)
        status, doc = st.request("auditor", "GET", f"/api/users/{target}/state?at={end}",
                                 token=tok)
        if status != 200 or doc["data"]["meta"]["version"] != s["history_rows"]:
            raise BenchError(f"state of users:{target} at its end: {status} {str(doc)[:300]}")
        script = os.path.join(HERE, "state.lua")
        p50, p99 = [], []
        for i in range(s["runs"]):
            self.quiet(f"state run {i + 1}")
            r = wrk(st.url("auditor", "/"), s["query_s"], threads=1, conns=4,
                    headers=None, script=script, script_args=[tok, target, str(start), str(end)])
            self.check_wrk("state at T", r)
            p50.append(r["p50"])
            p99.append(r["p99"])
        R = self.report
        R.add("state.p50_ms", f"GET /api/users/:id/state?at=T, a target with "
              f"{s['history_rows']:,} versions in a log of {s['big_rows']:,}, T at random: p50 "
              "(wrk -t1 -c4)", "ms", p50, None, 11, 2)
        R.add("state.p99_ms", "state at T: p99", "ms", p99, ("<", 100), 11, 2)
        log(f"state at T: p50 {statistics.median(p50):.2f} ms, p99 {statistics.median(p99):.2f} ms")

    # -- 12: exports -----------------------------------------------------------

    def exports(self, st, actor, runs, key, what, target):
        """Every event of users:<actor> exported as NDJSON and as CSV,
        oldest first: events per second from the request to the body's
        end, and the auditor's largest RSS during it (VmRSS sampled every
        50 ms), beside its RSS before. Figures export.<key>.<format>.*."""
        tok = st.token(1)
        pid = st.daemons["auditor"].pid
        path = f"/data-events?filter%5Bactor%5D=users:{actor}&sort=time"
        R = self.report
        for fmt, accept in (("ndjson", "application/x-ndjson"), ("csv", "text/csv")):
            rates, peaks, before = [], [], []
            for i in range(runs):
                self.quiet(f"export {key} {fmt} run {i + 1}")
                before.append(proc_status(pid, "VmRSS") or 0.0)
                peak, done = [0.0], threading.Event()

                def sample():
                    while not done.is_set():
                        peak[0] = max(peak[0], proc_status(pid, "VmRSS") or 0.0)
                        time.sleep(0.05)
                sampler = threading.Thread(target=sample, daemon=True)
                sampler.start()
                req = urllib.request.Request(st.url("auditor", path), headers={
                    "Accept": accept, "Authorization": "Bearer " + tok})
                t0, lines, tail = time.monotonic(), 0, b""
                with urllib.request.urlopen(req, timeout=3600) as r:
                    while True:
                        chunk = r.read(1 << 20)
                        if not chunk:
                            break
                        lines += chunk.count(b"\n")
                        tail = chunk[-2:]
                seconds = time.monotonic() - t0
                done.set()
                sampler.join()
                if tail[-1:] != b"\n":
                    raise BenchError(f"export {key} {fmt}: the body ended mid-line")
                if fmt == "ndjson":
                    events = lines
                rates.append(events / seconds)
                peaks.append(peak[0])
                log(f"export {key} {fmt} run {i + 1}: {lines:,} lines ({events:,} events) in "
                    f"{seconds:.2f} s = {events / seconds:,.0f} events/s, auditor RSS "
                    f"{before[-1]:.1f} MB before, {peak[0]:.1f} MB at most")
            R.add(f"export.{key}.{fmt}.eps", f"export of {what}: users:{actor}'s {events:,} "
                  f"events as {accept}, oldest first, to the body's end", "events/s", rates,
                  (">=", 100_000) if target else None, 12)
            R.add(f"export.{key}.{fmt}.rss_mb", f"auditor RSS at most during that export "
                  f"(sampled every 50 ms; {statistics.median(before):.1f} MB before)", "MB",
                  peaks, ("<", 64) if target else None, 12, 1)

    def bulk_export(self):
        """The export target's own size: one actor with export_rows events
        (a service account's whole history, its targets spread), added to
        the log last, after every other step measured it, then exported."""
        s = self.size
        hot = f"hot-{self.run_tag}" if self.smoke else "hot"
        n, actor = s["export_rows"], f"{hot}-bulk"
        # An earlier run's (--only exports again) is exported as it is.
        have = int(mysql(AUDITOR_DB, "SELECT COUNT(*) FROM data_events WHERE actor_type = "
                         f"'users' AND actor_id = '{actor}'").strip() or 0)
        if have == n:
            log(f"exports: users:{actor} has its {n:,} events from an earlier run")
        elif have:
            raise BenchError(f"users:{actor} has {have:,} events, not 0 or {n:,}: an earlier "
                             "load was cut short (./run.sh bench --only queries starts afresh)")
        else:
            log(f"exports: loading {n:,} events by users:{actor} (target 12)")
            _, line = loadgen(["fill-db", str(n), "--hot", actor, "--hot-share", "1",
                               "--hot-target-share", "0", "--rich", "1"], timeout=7200)
            log(line)
            if not self.smoke:
                log("exports: letting MariaDB settle after the load")
                time.sleep(10)
        with Stack(self, "exports") as st:
            st.start("auditor")
            st.start("api")  # the token's issuer
            self.wait_checker(st, st.token(1))
            sparse = int(mysql(AUDITOR_DB, "SELECT COUNT(*) FROM data_events WHERE actor_type "
                               f"= 'users' AND actor_id = '{hot}'").strip() or 0)
            if sparse:  # step 5's hot actor
                self.exports(st, hot, s["runs"], "sparse",
                             f"a sparse actor (events spread over all of step 5's "
                             f"{s['big_rows']:,}, then {n:,} of users:{actor})", False)
            self.exports(st, actor, min(s["export_runs"], s["runs"]), "bulk",
                         f"{n:,} events, the target's size", True)

    # -- 12: the live stream ----------------------------------------------

    def stream(self):
        """The live stream (README "Live stream"): the latency from an
        event's storing to a connected client while the GET benchmark runs
        (each GET's view event is what the stream carries), and what 200
        subscribers cost the drain."""
        s = self.size
        R = self.report
        log("stream: latency to a subscriber with the GET benchmark running (target: p99 "
            "< 200 ms)")
        wait_alone("stream")
        with Stack(self, "stream") as st:
            for name in ("auditor", "api"):
                st.start(name)
            tok = st.token(1)
            url = st.url("api", "/api/users/1")
            p50, p99, c50, c99, counts = [], [], [], [], []
            for i in range(s["runs"]):
                self.quiet(f"stream latency run {i + 1}")
                c = SseProbe(st.ports["auditor"], "/data-events/stream", tok, sample=10)
                cw = CommitWatch(AUDITOR_DB)
                c.start()
                cw.start()
                wrk(url, s["get_s"], headers=self.auth(tok))
                time.sleep(2)  # the last events reach the client
                c.stop()
                cw.stop()
                lat = c.latencies(AUDITOR_DB)
                commit = [(t - cw.committed_after(q)) * 1000 for q, t in c.sampled_seq.items()
                          if cw.committed_after(q) is not None]
                if commit:
                    c50.append(percentile(commit, 50))
                    c99.append(percentile(commit, 99))
                log(f"stream latency run {i + 1}: commit to client (upper bound, "
                    f"{cw.polls / s['get_s']:.0f} looks at the log's end a second): "
                    f"{len(commit):,} sampled, p50 {c50[-1] if commit else 0:.1f} ms, "
                    f"p99 {c99[-1] if commit else 0:.1f} ms")
                if not lat:
                    raise BenchError("stream: the subscriber received no events during the "
                                     "GET run")
                p50.append(percentile(lat, 50))
                p99.append(percentile(lat, 99))
                counts.append(c.received)
                log(f"stream latency run {i + 1}: {c.received:,} events received, "
                    f"{len(lat):,} sampled: p50 {p50[-1]:.1f} ms, p99 {p99[-1]:.1f} ms")
            if not c99:
                raise BenchError("stream: no sampled event's commit was seen")
            R.add("stream.commit.p50_ms", "live stream: from an event's COMMIT (bounded from "
                  "below by the last look at the log's end that did not yet see it) to a "
                  "subscriber's receipt of it, during wrk -t2 -c32 GET /api/users/1: p50",
                  "ms", c50, None, 12, 1)
            R.add("stream.commit.p99_ms", "live stream latency, commit to client: p99",
                  "ms", c99, ("<", 200), 12, 1)
            R.add("stream.p50_ms", "live stream: from an event's row inserted (data_events."
                  "received_at, set in the insert transaction, before its COMMIT) to a "
                  "subscriber's receipt of it, during wrk -t2 -c32 GET /api/users/1: p50",
                  "ms", p50, None, 12, 1)
            R.add("stream.p99_ms", "live stream latency from the insert: p99 (it also holds "
                  "the batch's transaction, before its COMMIT)", "ms", p99, None, 12, 1)
        # The drain is timed from the auditor's debug lines ("stored N events").
        with Stack(self, "stream-drain", {"AUDITLOG_LOG_LEVEL": "debug"}) as st:
            st.start("api")
            tok = st.token(1)
            n = s["drain_events"]
            log(f"stream: {n:,} queued events drained with 200 subscribers vs none (target: "
                "at most 10% slower)")
            hot = f"stream-{self.run_tag}"
            share = "0.001"
            rates = {0: [], 200: []}
            received = []

            def subscribers(st):
                cs = SseCrowd(st.ports["auditor"], 200,
                              f"/data-events/stream?filter%5Bactor%5D=users:{hot}", tok)
                cs.start()

                def close():
                    cs.stop()
                    received.append(cs.received)
                return close

            for i in range(s["runs"]):
                for subs in (0, 200):
                    r = self._drain_run(
                        st, f"stream drain with {subs} subscribers, run {i + 1}",
                        [["publish", AMQP_URL, str(n), "--batch", "100", "--hot", hot,
                          "--hot-share", share]], n, 0,
                        on_start=subscribers if subs else None)
                    rates[subs].append(r["eps"])
            log(f"stream: the 200 subscribers received {received} messages in all")
            if not all(received):
                raise BenchError("stream: the 200 subscribers received nothing")
            R.add("stream.drain0.eps", f"auditor drain of {n:,} queued events, 100 per "
                  "message, no stream subscriber", "events/s", rates[0], None, 12)
            R.add("stream.drain200.eps", "the same with 200 stream subscribers connected, "
                  f"each reading the events of one actor ({float(share):.1%} of them; the "
                  "clients share the machine's cores)", "events/s", rates[200], None, 12)
            R.add("stream.drain_ratio", "drain rate with 200 subscribers / without (per pair "
                  "of runs)", "", [b / a for a, b in zip(rates[0], rates[200])],
                  (">=", 0.9), 12, 3)

    # -- the whole suite ---------------------------------------------------

    def run_all(self, only):
        for tool in ("wrk", "mariadb"):
            if not shutil.which(tool):
                raise BenchError(f"{tool} is not installed (./run.sh bench installs it)")
        for b in ("auditlog-api", "auditlog-auditor", "auditlog-web", "mqtool", "loadgen",
                  "plan_sql"):
            if not os.access(os.path.join(BIN, b), os.X_OK):
                raise BenchError(f"{BIN}/{b} is missing: build first (./run.sh build)")
        self.started = datetime.datetime.now(datetime.timezone.utc)
        steps = [("pipeline", self.pipeline), ("cost", self.audit_cost),
                 ("drain", self.drain), ("queries", self.queries), ("stream", self.stream),
                 ("ab", self.ab_drain), ("exports", self.bulk_export), ("scale", self.scale),
                 ("ingest", self.ingest)]
        for name, fn in steps:
            if only and name not in only:
                continue
            if name == "ingest" and not only:
                continue  # its own run (docs/scaling.md): not in the full or smoke set
            if name == "ab" and not self.ab_base:
                continue
            t0 = time.monotonic()
            fn()
            log(f"{name} took {time.monotonic() - t0:.0f} s")
        self.finished = datetime.datetime.now(datetime.timezone.utc)


# ---------------------------------------------------------------------------
# writing it down
# ---------------------------------------------------------------------------

def machine():
    info = {}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            k, _, v = line.partition(":")
            info[k.strip()] = v.strip()
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = f"{kb / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    osname = ""
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    osname = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass

    def pkg(name):
        try:
            return subprocess.run(["dpkg-query", "-W", "-f=${Version}", name],
                                  capture_output=True, text=True).stdout.strip()
        except OSError:
            return ""
    return {"cpu": info.get("Model name", platform.processor()),
            "cores": info.get("CPU(s)", str(os.cpu_count())),
            "hypervisor": info.get("Hypervisor vendor", ""),
            "memory": mem, "kernel": platform.release(), "os": osname,
            "mariadb": pkg("mariadb-server"), "rabbitmq": pkg("rabbitmq-server"),
            "wrk": pkg("wrk")}


REFERENCE = """\
The original Node proof of concept, on the same kind of machine (wrk -t2 -c32 -d15s):
GET about 1,000 req/s with p99 about 70 ms; PATCH toggling a field about 650/s with p99
about 120 ms; its auditor drained about 1,200 events/s and grew to 355 MB holding 40,000
events; a target query for an object with 184,000 events took 4.1 s and 34 MB, unpaginated."""


def how_measured(b):
    s = b.size
    return f"""\
- Everything runs on the one machine: MariaDB, RabbitMQ, the three daemons (release build,
  `build/bin`, default settings: 4 HTTP threads each, 2 consumers with a prefetch of 2,000 messages, batches of 1,000 events or 4 MiB, confirm
  window 1,000), wrk and the loader. Own databases (`*-bench`) and vhost (`auditlog-bench`);
  each stack has its own spool directory.
- Every figure is the median of {s['runs']} runs (min and max beside it). Before each run the
  suite waits for the machine to be idle (under 25 % CPU) and, for the pipeline, for the
  backlog to be empty.
- **1** `wrk -t2 -c32 -d{s['get_s']}s --latency` on `GET /api/users/1` with a token, auditor
  and web daemon running, every view event spooled, published, consumed and stored. The
  backlog is sampled every {s['sample_s']:g} s during the run: ready messages in
  `data-mutation-audits` (`mqtool count`, converted to events with the publisher's
  events-per-message ratio from its once-a-second report, `AUDITLOG_REPORT_MS=1000`), the
  spool's unconfirmed bytes from the same report (converted with the spool's record size)
  and `SELECT COUNT(*) FROM event_outbox`. "Start" and "end" are the means over the first
  and last fifth of the run; it counts as not growing when the end is at most the start
  plus a tenth of a second of load. Messages the auditor holds unacknowledged (at most its
  prefetch window) are not counted. The drain time is from wrk's end until queue,
  spool and outbox are all empty.
- **2** The same GET, {s['cmp_s']} s per run (after a {s['warm_s']} s warm-up), the API restarted
  alternately with and without `AUDITLOG_BENCH_NO_AUDIT=true` (auditor running in both);
  ratios per pair of runs.
- **14** In the same runs, after the GET, a PATCH of the same length (`bench/patch.lua` over
  {s['patch_users']} users, each request changing `agreedTos`, set back to false before the
  run). For each process (the API, MariaDB, RabbitMQ, the auditor), the CPU it spent per
  request: its user and system time over the run (`/proc/<pid>/stat`) divided by the requests
  served; the API's ratio with / without auditing is the producer's overhead (target 1.15).
- **3** `wrk -t2 -c32 -d{s['patch_s']}s -s bench/patch.lua`: `PATCH /api/users/:id` with a
  JSON:API body toggling `agreedTos` (every request changes the row: one transaction with its
  outbox row, plus the view of the returned user). *Spread* (the target's case): {s['patch_users']}
  users created beforehand, each wrk thread rotating over its half of them. *Single*: every
  connection on `/api/users/1` (the reference's case: all contend for one row lock; not every
  request changes the value there).
- **4** Auditor stopped, queue purged, `loadgen publish` {s['drain_events']:,} events
  (persistent, publisher confirms) in messages of 100 (what our API sends under load), and
  in a second case one event per message (the original protocol, what other producers
  send), then the auditor is started; the time runs from its start until it has stored every
  event (summed from its log) and the queue is empty. Peak RSS is `VmHWM` from
  `/proc/PID/status` at the end. The memory case queues {s['mem_strings']} events of 240 KB
  strings four to a message (1 MiB messages), {s['mem_ints']} events of 250 KB of `[0,0,...]`
  and {s['mem_objects']} of 85 KB of `[{{}},{{}},...]` (the largest the auditor parses, about
  6 MB each in memory), {s['mem_oversize']} messages over 1 MiB (streamed to the dead
  letters) and {s['mem_overweight']} that would parse to over 8 MB (dead-lettered unparsed),
  and measures the auditor's peak RSS.
- **5** `TRUNCATE` of the audit tables, `loadgen fill-db {s['small_rows']:,}` through the
  auditor's own `store_insert_batch` (a hot actor `users:hot` and target `users:hot` each get
  {s['hot_share']:.0%} of the events; other actors among 1,000 users, targets among 2,000;
  10 % are `changed` with a change row), measure, fill up to {s['big_rows']:,}, measure again.
  Each URL gets `wrk -t1 -c4 -d{s['query_s']}s --latency` against the auditor: the first page
  (50) of `filter[actor]=users:hot` and of `filter[target]=users:hot`, and the page reached by
  following `links.next` {s['deep_pages']} times (page {s['deep_pages'] + 1}) of each. At the
  large size each URL also gets `wrk -t1 -c1 -d{s['c1_s']}s`: a query's own latency, where with
  `-c4` four requests share two cores and the p50 includes the wait for one.
  The plans below are of the exact SQL the auditor runs (`query_plan.c`, printed by
  `tests/tools/plan_sql`), with the deep page's keyset position.
- **12** Exports (README "Exports"): `GET /data-events?filter[actor]=users:A&sort=time` with
  `Accept: application/x-ndjson`, then `text/csv`, read to the body's end 1 MB at a time;
  events/s from the request to the end, the auditor's `VmRSS` sampled every 50 ms. The last
  step: `loadgen fill-db {s['export_rows']:,}` of one actor `users:hot-bulk` (targets spread,
  every action), appended to step 5's log (once: a later `--only exports` exports them again),
  the checker let catch up, then *sparse*: `users:hot` of step 5 ({s['hot_share']:.0%} of its
  events, spread over all of them), {s['runs']} runs, no target (one event in sixteen: its reads
  are bound by the pages of the whole log, docs/performance.md section 9), and *bulk* (the
  target's case), {s['export_runs']} runs per format.
- **6** `VmHWM` of the API after all GET and PATCH runs, of the auditor after storing them
  live and after each drain, of the web daemon after `wrk -t2 -c32 -d{s['web_s']}s` on
  `/index.html`."""


def write_markdown(b, path, full_doc):
    R = b.report
    m = machine()
    started = b.started.strftime("%Y-%m-%d %H:%M UTC")
    lines = []
    if full_doc:
        lines += ["# Benchmarks", "",
                  "Written by `./run.sh bench` (bench/bench.py); the latest full run. "
                  "`./run.sh bench --smoke` (run by `./run.sh test` as `bench.smoke`) runs "
                  "the same benchmarks at tiny sizes so they never rot.", ""]
    else:
        lines += [f"# auditlog benchmarks ({'smoke' if b.smoke else 'full'})", ""]
    lines += [f"- Date: {started} (took {(b.finished - b.started).total_seconds() / 60:.0f} min)",
              f"- Machine: {m['cpu']}, {m['cores']} cores"
              f"{' (' + m['hypervisor'] + ' guest)' if m['hypervisor'] else ''}, "
              f"{m['memory']} memory, kernel {m['kernel']}, {m['os']}",
              f"- MariaDB {m['mariadb']}, RabbitMQ {m['rabbitmq']}, wrk {m['wrk']}; "
              f"daemons from `{os.path.relpath(BIN, SRC)}`",
              ""]
    if b.smoke:
        lines += ["**Smoke run: tiny sizes, one run each, possibly a sanitizer build. The "
                  "numbers mean nothing; targets are not compared.**", ""]
    lines += ["## Figures", "",
              "The # column is the issue's target number; verdicts compare the median. "
              "What bounds the missed targets, with profiles: "
              "[docs/performance.md](docs/performance.md).", "",
              R.table(), ""]
    if R.notes:
        lines += ["Notes from this run:", ""] + [f"- {n}" for n in R.notes] + [""]
    lines += ["## How it was measured", "", how_measured(b), "", "Reference: " + REFERENCE, ""]
    if b.ab_table:
        lines += ["## What the log of record costs the drain", "",
                  f"`--ab-base {b.ab_base}`: the drain of benchmark 4, {b.size['ab_events']:,} "
                  "events queued while the auditor is stopped, by the auditor of that commit "
                  "(before the log of record; its database migrated to its own migrations) and "
                  "by this build's, each on a database of its own emptied before each run, "
                  "alternating which goes first; the same loadgen queues the same load for both.",
                  "", b.ab_table, ""]
    if b.cpu_notes:
        lines += ["## Where the CPU went", "",
                  "CPU used during each run, in cores (2 = the whole machine), from "
                  "`/proc/PID/stat`; *machine busy* includes wrk and the kernel.", ""]
        lines += [f"- {n}" for n in b.cpu_notes] + [""]
    if b.backlog_series:
        lines += ["## Backlog during the GET runs", "",
                  "Events not yet stored, sampled during each run (queue messages × events per "
                  "message + spool bytes / record size + outbox rows).", ""]
        for run_no, rps, samples in b.backlog_series:
            tf = ".0f" if b.size["sample_s"] >= 1 else ".1f"
            pts = ", ".join(f"{t:{tf}}s: {x['events']:.0f}" for t, x in samples)
            lines += [f"- run {run_no} ({rps:,.0f} req/s): {pts}"]
        lines += [""]
    if b.explains:
        lines += ["## Query plans", "",
                  "`EXPLAIN` of the auditor's page query as it runs (`query_plan.c`, "
                  "printed by `tests/tools/plan_sql`), at both sizes.", ""]
        shown_sql = set()
        for scale, name, sql, plan, analyze in b.explains:
            rows = b.size["small_rows"] if scale == "small" else b.size["big_rows"]
            lines += [f"### {name}, {rows:,} events", ""]
            if name not in shown_sql:
                shown_sql.add(name)
                lines += ["```sql", sql, "```", ""]
            if plan:
                lines += ["```", plan, "```", ""]
            if analyze:
                lines += ["<details><summary>ANALYZE FORMAT=JSON</summary>", "", "```json",
                          analyze, "```", "", "</details>", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, one run each")
    ap.add_argument("--only", action="append",
                    choices=["pipeline", "cost", "drain", "queries", "stream", "ab", "exports",
                             "scale", "ingest"],
                    help="run only this benchmark (repeatable); no BENCHMARKS.md")
    ap.add_argument("--drain-case", action="append", choices=DRAIN_CASES,
                    help="with --only drain (or ab: batched, single): run only this drain case "
                         "(repeatable)")
    ap.add_argument("--ab-base", metavar="REV",
                    help="also the A/B drain: this build's auditor against the one of commit "
                         "REV (built in the results directory), alternating on the same load")
    ap.add_argument("--runs", type=int, help="runs per figure (full: 3, smoke: 1); no BENCHMARKS.md")
    ap.add_argument("--out", default=os.path.join(HERE, "results"), help="results directory")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    b = Bench(args.smoke, args.out)
    b.drain_cases = args.drain_case
    b.ab_base = args.ab_base
    if args.only and "ab" in args.only and not args.ab_base:
        ap.error("--only ab needs --ab-base REV")
    if args.runs:
        b.size = dict(b.size, runs=args.runs)
    mode = "smoke" if args.smoke else "full"
    log(f"{mode} run: binaries {BIN}, databases {API_DB} and {AUDITOR_DB}, "
        f"broker {re.sub(r'//[^@]*@', '//', AMQP_URL)}")
    try:
        b.run_all(args.only)
    except BenchError as e:
        print(f"[bench] FAILED: {e}", file=sys.stderr)
        print(f"[bench] daemon logs: {b.logdir}", file=sys.stderr)
        return 1
    out = os.path.join(args.out, "latest-smoke.md" if args.smoke else "latest.md")
    write_markdown(b, out, False)
    log(f"wrote {out}")
    if not args.smoke and not args.only and not args.runs:
        doc = os.path.join(SRC, "BENCHMARKS.md")
        write_markdown(b, doc, True)
        log(f"wrote {doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
