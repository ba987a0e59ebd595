"""Partitions and several auditors (README "Partitions"): with
AUDITLOG_PARTITIONS=3 and quorum queues, each event goes to its target's
partition, partition p is stored in log p by one writer at a time, and when
the auditor writing a log is killed (-9) under load, another takes the log
over (log_leases) and continues it, and hands it back when the first one
is back (each auditor has its share of the partitions): every event
stored once, each log's positions gap-free, one target's events in one log in their order, every
log checkpointed at its end. Runs on its own vhost (quorum queues cannot
replace the shared test vhost's classic ones)."""
import json
import os
import signal
import tempfile
import threading
import time

from harness import Daemon, Stack, free_port, http, partitions_env, run, start_auditor, wait_for
from test_reads import reader_sql

P = 3


ENV = dict(partitions_env(P), AUDITLOG_AUDITORS="2", AUDITLOG_STANDBY_MS="500",
           AUDITLOG_REBALANCE_MS="1500")


def http_get(port, path, token):
    h = {"Accept": "application/vnd.api+json"}
    if token:
        h["Authorization"] = "Bearer " + token
    return http("GET", f"http://127.0.0.1:{port}{path}", headers=h)


def holders():
    """{log: (writer, epoch, taken_at)} of the newest lease of each partition's log."""
    rows = reader_sql("SELECT l.log_id, l.writer, l.epoch, UNIX_TIMESTAMP(l.taken_at) "
                      "FROM log_leases l JOIN (SELECT log_id, MAX(epoch) e FROM log_leases "
                      f"GROUP BY log_id) m ON l.log_id = m.log_id AND l.epoch = m.e "
                      f"WHERE l.log_id < {P}")
    return {int(r[0]): (r[1], int(r[2]), float(r[3])) for r in rows}


class Load:
    """Users created, changed and read from three threads until stopped."""

    def __init__(self, s, token):
        self.s, self.token, self.stop = s, token, threading.Event()
        self.users, self.gets, self.patches = {}, {}, {}
        self.errors = []
        self.lock = threading.Lock()

    def worker(self, n):
        k = 0
        while not self.stop.is_set():
            k += 1
            try:
                uid = self.s.new_user(self.token, f"part{n}")
                changes = 0
                for i in range(3):
                    st, _, doc = self.s.api("PATCH", f"/api/users/{uid}", token=self.token, body={
                        "data": {"type": "users", "id": uid, "attributes": {"name": f"n{i}"}}})
                    assert st == 200, (st, doc)
                    changes += 1
                st, _, doc = self.s.api("GET", f"/api/users/{uid}", token=self.token)
                assert st == 200, (st, doc)
                with self.lock:
                    self.users[uid] = changes
                    self.gets[uid] = 1
            except Exception as e:  # noqa: BLE001 - reported below
                self.errors.append(repr(e))
                return

    def __enter__(self):
        self.threads = [threading.Thread(target=self.worker, args=(n,)) for n in range(3)]
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()
        return False


def test_takeover_under_load():
    with Stack(extra_env=ENV, daemons=("api", "auditor")) as s:
        token = s.token(1)
        other_port = free_port()
        b = start_auditor(s, other_port, 1)
        a = s.daemons.pop("auditor")  # killed and restarted below: not the Stack's to check
        pids = {0: a.proc.pid, 1: b.proc.pid}
        try:
            with Load(s, token) as load:
                # Each partition is stored by the auditor whose share it is
                # (p mod 2), the other standing by.
                def shared():
                    h = holders()
                    return len(h) == P and len(load.users) >= 10 and \
                        all(f"pid {pids[p % 2]} " in h[p][0] for p in range(P)) and h
                wait_for(shared, 60, what="each log written by the auditor whose share it is")
                victim = [p for p in range(P) if p % 2 == 0]  # auditor 0's logs
                killed_at = time.time()
                os.kill(a.proc.pid, signal.SIGKILL)
                a.proc.wait()
                a.log.close()

                def taken(pid, logs):
                    def check():
                        h = holders()
                        return all(f"pid {pid} " in h[p][0] for p in logs) and h
                    return check
                after = wait_for(taken(pids[1], victim), 30,
                                 what="the survivor to take the victim's logs")
                took = max(after[p][2] for p in victim) - killed_at
                print(f"logs {victim} taken over {took:.2f} s after the kill")
                assert took < 5, took
                time.sleep(0.5)
                # Back: its share returns to it (the survivor hands it back).
                a = start_auditor(s, s.ports["auditor"], instance=0)
                pids[0] = a.proc.pid
                back_from = time.time()
                wait_for(taken(pids[0], victim), 30, what="the restarted auditor's share back")
                print(f"share back {time.time() - back_from:.2f} s after the restart")
                time.sleep(0.5)  # load after the hand-back too
            assert not load.errors, load.errors
            users = sorted(load.users, key=int)
            ids = ",".join(f"'{u}'" for u in users)

            def all_stored():
                rows = reader_sql(
                    "SELECT target_id, SUM(action = 'created'), SUM(action = 'changed'), "
                    "SUM(action = 'viewed' AND event_name IS NULL) FROM data_events WHERE "
                    f"target_type = 'users' AND target_id IN ({ids}) GROUP BY target_id")
                got = {r[0]: tuple(int(x) for x in r[1:]) for r in rows}
                # viewed: what each answer returned (the create's, each change's, the GET's)
                want = {u: (1, load.users[u], 1 + load.users[u] + load.gets[u]) for u in users}
                if got != want:
                    diff = {u: (got.get(u), want[u]) for u in users if got.get(u) != want[u]}
                    last_diff[:] = [len(diff), list(diff.items())[:5]]
                return got == want or None
            last_diff = []
            try:
                wait_for(all_stored, 60, what="every event to be stored once")
            except AssertionError:
                raise AssertionError(f"targets differing (stored, expected): {last_diff}")

            # One target's events: one log, its versions in log order.
            rows = reader_sql("SELECT target_id, log_id, seq, target_version FROM data_events "
                              f"WHERE target_type = 'users' AND target_id IN ({ids}) AND "
                              "action <> 'viewed' ORDER BY target_id, log_id, seq")
            by_target = {}
            for t, log, seq, v in rows:
                by_target.setdefault(t, []).append((int(log), int(seq), int(v)))
            for t, evs in by_target.items():
                assert len({e[0] for e in evs}) == 1, (t, evs)
                assert [e[2] for e in evs] == list(range(1, len(evs) + 1)), (t, evs)
            assert len({evs[0][0] for evs in by_target.values()}) == P, "all partitions used"

            # Each log gap-free, and checkpointed at its end.
            def checkpointed():
                sizes = {int(r[0]): (int(r[1]), int(r[2]))
                         for r in reader_sql("SELECT log_id, COUNT(*), MAX(seq) + 1 FROM "
                                             f"data_events WHERE log_id < {P} GROUP BY log_id")}
                cps = {int(r[0]): int(r[1]) for r in reader_sql(
                    f"SELECT log_id, MAX(size) FROM log_checkpoints WHERE log_id < {P} "
                    "GROUP BY log_id")}
                for log, (count, end) in sizes.items():
                    assert count == end, f"log {log}: {count} events at positions 0..{end - 1}"
                return all(cps.get(log) == end for log, (_, end) in sizes.items()) or None
            wait_for(checkpointed, 30, what="a checkpoint of every log's end")

            # An auditor's own reads go to its own log (1024 + its instance),
            # leaving the partitions' leases alone.
            leases = holders()
            for instance, port in ((0, s.ports["auditor"]), (1, other_port)):
                mark = users[instance]
                st, _, doc = http_get(port, f"/data-events?filter[target]=users:{mark}", token)
                assert st == 200, doc
                own = 1024 + instance
                wait_for(lambda: reader_sql(
                    f"SELECT COUNT(*) FROM data_events WHERE log_id = {own} AND "
                    f"event_name = 'audit.query' AND target_id = '{mark}'") == [["1"]], 10,
                    what=f"the read's record in log {own}")
                st, _, doc = http_get(port, "/readyz", None)
                assert st == 200, doc
            assert holders() == leases, (leases, holders())

            # Each auditor checks its share's logs ("Gaps and drift"): the
            # checker of log p runs in auditor p mod 2 only.
            for instance, port in ((0, s.ports["auditor"]), (1, other_port)):
                st, _, doc = http_get(port, "/checks", token)
                assert st == 200, doc
                logs = sorted(r["attributes"]["log"] for r in json.loads(doc)["data"])
                assert logs == [p for p in range(P) if p % 2 == instance], (instance, logs)
        finally:
            for d in (a, b):
                if d.proc.poll() is None:
                    assert d.stop() == 0, d.tail()


def test_second_auditor_with_the_same_instance_is_refused():
    """Two auditors with one AUDITLOG_AUDITOR_INSTANCE would take its
    records' log from each other at every append (a tester counted 13
    takeovers a minute): the second refuses to start, naming the setting,
    within the wait for a predecessor's lock (5 s); the first goes on."""
    with Stack(extra_env=ENV, daemons=("api", "auditor")) as s:
        env = dict(s.env_of("auditor"), AUDITLOG_AUDITOR_PORT=str(free_port()))
        d = Daemon("auditor", env, tempfile.mkdtemp(prefix="auditlog-test-auditor-dup-"))
        t0 = time.time()
        try:
            rc = d.proc.wait(timeout=30)
        finally:
            d.stop()
        print(f"the second auditor exited with {rc} after {time.time() - t0:.1f} s")
        assert rc != 0, d.tail()
        assert "another auditor runs as instance 0" in d.tail(), d.tail()
        assert "AUDITLOG_AUDITOR_INSTANCE" in d.tail(), d.tail()
        status, _, doc = http_get(s.ports["auditor"], "/readyz", None)
        assert status == 200, doc


if __name__ == "__main__":
    run([test_takeover_under_load, test_second_auditor_with_the_same_instance_is_refused])
