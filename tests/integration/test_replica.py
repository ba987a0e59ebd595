"""The auditor's queries from a read replica (README "Read replica"): the
MariaDB primary and its GTID replica of scripts/replica.sh (started here if
they are not running, and left running, as the shared servers are), the
auditor's writers on the primary and its queries on the replica. Which
server answered is read from auditlog_query_server_total.

- queries (and a resuming stream's catch-up) are answered by the replica;
  /verify by the primary;
- read-your-writes: POST /erasures (also through the API) gives the
  primary's position in Read-After; a query that sends it back sees the
  erasure even while the replica lags (its SQL thread stopped), where one
  without it may still be answered by the lagging replica;
- the staleness bound: with the replica's SQL thread stopped the replica
  answers until it may lack more than AUDITLOG_REPLICA_MAX_LAG_MS of the
  primary's commits, then the primary does; back to the replica once it
  has caught up;
- the replica killed (-9) under a steady mixed load (users created,
  changed and read through the API): every query still answers 200, from
  the primary within a second, and /readyz warns; no request of the load
  fails and every one of its mutations is stored; restarted: the replica
  answers again.
"""
import json
import os
import re
import signal
import subprocess
import time
import urllib.parse

from harness import SRC, Stack, error_of, http, run, wait_for
from test_erasure import erase, erasure, user_with_history
from test_metrics import TOKEN, metrics, promtool, scrape, val
from test_partitions import Load
from test_stream import SSE

STATE = os.path.abspath(os.environ.get("AUDITLOG_STATE_DIR", os.path.join(SRC, ".state")))
CLUSTER = os.path.join(STATE, "cluster")
PRIMARY_PORT = int(os.environ.get("AUDITLOG_CLUSTER_PRIMARY_PORT", "3316"))
REPLICA_PORT = int(os.environ.get("AUDITLOG_CLUSTER_REPLICA_PORT", "3317"))
MAX_LAG_MS = 2000  # room for a sanitizer build's requests within the bound
WAIT_MS = 250
ENV = {"AUDITLOG_MYSQL_HOST": "127.0.0.1", "AUDITLOG_MYSQL_PORT": str(PRIMARY_PORT),
       "AUDITLOG_MYSQL_SOCKET": "", "AUDITLOG_AUDITOR_REPLICA_HOST": "127.0.0.1",
       "AUDITLOG_AUDITOR_REPLICA_PORT": str(REPLICA_PORT),
       "AUDITLOG_REPLICA_MAX_LAG_MS": str(MAX_LAG_MS), "AUDITLOG_REPLICA_WAIT_MS": str(WAIT_MS),
       "AUDITLOG_METRICS_TOKEN": TOKEN, "AUDITLOG_CHECKPOINT_MS": "200",
       "AUDITLOG_STREAM_BUFFER": "1"}  # a stream resuming catches up from the store
GTID = re.compile(r"^[0-9]+-[0-9]+-[0-9]+(,[0-9]+-[0-9]+-[0-9]+)*$")

_stack = None


def replica_sh(*args):
    """./run.sh replica ARGS, in this test's environment (its databases)."""
    r = subprocess.run([os.path.join(SRC, "run.sh"), "replica", *args], capture_output=True,
                       text=True, timeout=120, env=dict(os.environ, AUDITLOG_STATE_DIR=STATE))
    assert r.returncode == 0, f"./run.sh replica {' '.join(args)}: {r.returncode}\n{r.stdout}{r.stderr}"


def replica_root(sql):
    r = subprocess.run(["mariadb", "-uroot", f"--socket={CLUSTER}/mysql-replica/mysqld.sock",
                        "--batch", "--skip-column-names", "-e", sql],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, (sql, r.stderr)
    return r.stdout.strip()


def stack():
    global _stack
    if _stack is None:
        replica_sh("start")  # both up, this run's databases on the primary, caught up
        _stack = Stack(ENV, daemons=("api", "auditor")).__enter__()
        _stack.tok = _stack.token(1)
        wait_for(lambda: replica_check(_stack)["status"] == "pass", timeout=20,
                 what="the replica to be used")
    return _stack


def served(s):
    """(by the replica, by the primary) so far."""
    m = metrics(s, "auditor")
    return (val(m, "auditlog_query_server_total", server="replica"),
            val(m, "auditlog_query_server_total", server="primary"))


def query(s, path, headers=None):
    """GETs path of the auditor; returns (status, doc, which server answered)."""
    r0, p0 = served(s)
    status, hdrs, doc = s.auditor("GET", path, token=s.tok, headers=headers)
    r1, p1 = served(s)
    assert (r1 - r0) + (p1 - p0) == 1, (path, r1 - r0, p1 - p0)
    return status, doc, "replica" if r1 > r0 else "primary"


def replica_check(s):
    status, _, doc = http("GET", s.url("auditor", "/readyz"))
    assert status == 200, (status, doc)  # the replica never fails it
    return json.loads(doc)["checks"]["mysql:replica"][0]


def changes(doc, field):
    """The field's changes in the changed events of a page, as shown: an
    erased one is {"erased": true}."""
    return [e["attributes"]["changes"][field] for e in doc["data"]
            if e["attributes"]["action"] == "changed" and field in e["attributes"]["changes"]]


def erased(doc, field):
    return bool(changes(doc, field)) and all(c == {"erased": True} for c in changes(doc, field))


def intact(doc, field):
    return bool(changes(doc, field)) and all("next" in c for c in changes(doc, field))


def test_queries_from_the_replica():
    s = stack()
    uid = user_with_history(s, s.tok, "rp")
    for path in (f"/data-events?filter[target]=users:{uid}", f"/api/users/{uid}/data-events",
                 f"/api/users/{uid}/state?at=9999-01-01T00:00:00Z",
                 f"/api/users/{uid}/fields/email/history", "/checks"):
        status, doc, who = query(s, path)
        assert status == 200 and who == "replica", (path, status, who, doc)
    # A stream's catch-up reads the replica too.
    r0, _ = served(s)
    c = SSE(s.ports["auditor"], "/data-events/stream?" + urllib.parse.urlencode(
        {"filter[target]": f"users:{uid}", "after": "0"}), s.tok)
    assert c.status == 200, c.status
    c.until(lambda: sum(e["attributes"]["action"] == "changed" for _, e in c.events) == 2,
            what="the user's two changes, caught up")
    c.close()
    assert served(s)[0] > r0
    # The log of record's reads are the primary's, and not among these (once
    # the closed stream's last catch-up read, if one was under way, is done).
    last = [None]

    def settled():
        now = served(s)
        done, last[0] = now == last[0], now
        return done
    wait_for(settled, 10, 0.5, "the closed stream's reads to end")
    r0, p0 = served(s)
    status, _, doc = s.auditor("GET", "/verify?log=0", token=s.tok)
    assert status == 200 and doc["data"]["attributes"]["valid"], (status, doc)
    assert served(s) == (r0, p0)
    text = scrape(s, "auditor")
    promtool(text)
    m = metrics(s, "auditor")
    assert val(m, "auditlog_replica_up") == 1, text
    assert 0 <= val(m, "auditlog_replica_lag_seconds") <= MAX_LAG_MS / 1000, text
    check = replica_check(s)
    assert check["status"] == "pass" and check["observedUnit"] == "ms", check
    # A Read-After that is not a position: 400, here and through the API.
    for bad in ("0-1", "0-1-2,0-1-3", "x"):
        status, _, doc = s.auditor("GET", "/checks", token=s.tok, headers={"Read-After": bad})
        assert status == 400 and "Read-After" in error_of(doc)["detail"], (bad, doc)
    status, _, doc = s.api("GET", f"/logs/for/users/{uid}", token=s.tok,
                           headers={"Read-After": "0-1"})
    assert status == 400 and "Read-After" in error_of(doc)["detail"], (status, doc)


def test_read_your_writes_and_the_staleness_bound():
    s = stack()
    uid = user_with_history(s, s.tok, "rw")
    path = f"/data-events?filter[target]=users:{uid}&sort=time"
    wait_for(lambda: query(s, path)[2] == "replica", timeout=10, what="the replica to answer")
    t_stop = time.monotonic()
    replica_root("STOP SLAVE SQL_THREAD")
    try:
        status, hdrs, doc = s.request("auditor", "POST", "/erasures",
                                      erasure(f"users:{uid}", "replica test", "email"), s.tok)
        t_erased = time.monotonic()
        assert status == 201, (status, doc)
        position = hdrs.get("read-after", "")
        assert GTID.match(position), hdrs
        # Without Read-After, within the bound: the lagging replica, which
        # has not applied the erasure yet.
        status, doc, who = query(s, path)
        assert time.monotonic() - t_stop < MAX_LAG_MS / 1000 - 0.3, "too slow to tell"
        assert status == 200 and who == "replica", (status, who)
        assert intact(doc, "email"), changes(doc, "email")
        # With it: the replica cannot reach it, so after the wait the
        # primary answers, erasure included.
        w0 = val(metrics(s, "auditor"), "auditlog_replica_waits_total", result="timeout")
        t = time.monotonic()
        status, doc, who = query(s, path, {"Read-After": position})
        took = time.monotonic() - t
        assert status == 200 and who == "primary", (status, who)
        assert took >= WAIT_MS / 1000 * 0.9, took
        assert val(metrics(s, "auditor"), "auditlog_replica_waits_total", result="timeout") == w0 + 1
        assert erased(doc, "email"), changes(doc, "email")
        # The bound: the primary answers once the replica may lack more
        # than MAX_LAG_MS of its commits; not before (its position was
        # frozen at the stop), and not much after the erasure's commit.
        while query(s, path)[2] == "replica":
            assert time.monotonic() - t_erased < MAX_LAG_MS / 1000 + 1.0, "still the replica"
            time.sleep(0.05)
        switched = time.monotonic()
        assert switched - t_stop >= MAX_LAG_MS / 1000 - 0.15, switched - t_stop
        check = replica_check(s)
        assert check["status"] == "warn" and "bound" in check["output"], check
        status, doc, who = query(s, path)
        assert who == "primary" and erased(doc, "email"), (who, doc)
    finally:
        replica_root("START SLAVE SQL_THREAD")
    # Caught up: the replica again, with the erasure.
    wait_for(lambda: query(s, path)[2] == "replica", timeout=10, what="the replica again")
    status, doc, who = query(s, path, {"Read-After": position})
    assert who == "replica" and erased(doc, "email"), (who, doc)
    # Through the API: the position comes back, and goes on to the auditor.
    status, hdrs, doc = s.request("api", "POST", "/logs/erasures",
                                  erasure(f"users:{uid}", "again", "name"), s.tok)
    assert status == 201 and GTID.match(hdrs.get("read-after", "")), (status, hdrs, doc)
    status, _, doc = s.api("GET", f"/logs/for/users/{uid}?page[size]=1000", token=s.tok,
                           headers={"Read-After": hdrs["read-after"]})
    assert status == 200 and erased(doc, "name"), (status, changes(doc, "name"))


def test_replica_killed_and_back():
    s = stack()
    path = "/checks"
    wait_for(lambda: query(s, path)[2] == "replica", timeout=10, what="the replica to answer")
    with open(os.path.join(CLUSTER, "mysql-replica", "mysqld.pid")) as f:
        pid = int(f.read().strip())
    with Load(s, s.tok) as load:
        wait_for(lambda: len(load.users) >= 3, timeout=20, what="the load to flow")
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        answers = []
        while time.monotonic() - killed < 2.0:
            status, doc, who = query(s, path)
            assert status == 200, (status, doc)  # never a 5xx
            answers.append((time.monotonic() - killed, who))
        late = [who for t, who in answers if t > 1.0]
        assert late and all(who == "primary" for who in late), answers
        check = replica_check(s)
        assert check["status"] == "warn" and "not answered" in check["output"], check
        replica_sh("start-replica")
        back = time.monotonic()
        wait_for(lambda: query(s, path)[2] == "replica", timeout=5, what="the replica back")
        assert time.monotonic() - back < 5
        assert replica_check(s)["status"] == "pass"
    assert not load.errors, load.errors
    print(f"load: {len(load.users)} users created, changed and read meanwhile")

    def mutations(uid):
        evs = s.events(f"/data-events?filter[target]=users:{uid}"
                       "&filter[action]=created,changed", s.tok)
        return len(evs) == 1 + load.users[uid] or None
    for uid in load.users:
        wait_for(lambda: mutations(uid), timeout=20, what=f"users:{uid}'s mutations stored")


def test_stop():
    global _stack
    if _stack is not None:
        s, _stack = _stack, None
        s.__exit__(None, None, None)


if __name__ == "__main__":
    run([test_queries_from_the_replica, test_read_your_writes_and_the_staleness_bound,
         test_replica_killed_and_back, test_stop])
