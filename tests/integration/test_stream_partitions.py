"""The live stream across logs (README "Live stream", "Partitions"): with
AUDITLOG_PARTITIONS=3 and two auditors on quorum queues, a stream on either
auditor sends the events of every log (each log's in its order), each
message's id names a position in every log (`0-4711.1-230.2-99.1024-5`), and
a client that drops its connection and comes back with its last id, to
either auditor, while events keep arriving, gets every event of every log
after it exactly once. An id naming a position one log has not stored gets
400, one too far behind one log's end 410. Runs on the quorum vhost, as
integration.partitions does."""
import json
import os
import random
import re
import subprocess
import threading
import time
import uuid

from harness import BIN, Stack, error_of, free_port, run, unique, wait_for
from test_partitions import ENV as PARTITIONS_ENV, P, start_auditor
from test_reads import reader_sql
from test_stream import SSE, events_for, path

URL = PARTITIONS_ENV["AUDITLOG_AMQP_URL"]  # the quorum vhost
BACKLOG = 500
ENV = dict(PARTITIONS_ENV, AUDITLOG_STREAM_HEARTBEAT_MS="300", AUDITLOG_STREAM_BUFFER="50",
           AUDITLOG_STREAM_BACKLOG_MAX=str(BACKLOG))


def partition(e):
    """The partition the API sends e to: FNV-1a-32 of "<type>:<id>" mod P
    (mq_partition in common/mq.c)."""
    h = 2166136261
    for b in f"{e['targetType']}:{e['targetId']}".encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h % P


def publish(events):
    """Publishes events as a producer does: each to its target's partition
    (routing key api.data.mutated[.<p>]), up to 100 a message."""
    by = {}
    for e in events:
        by.setdefault(partition(e), []).append(e)
    for p, evs in sorted(by.items()):
        key = "api.data.mutated" + (f".{p}" if p else "")
        for i in range(0, len(evs), 100):
            subprocess.run([os.path.join(BIN, "mqtool"), "publish", URL, "api-stream",
                            key, str(uuid.uuid4())],
                           input=json.dumps(evs[i:i + 100]).encode(), check=True)


TARGETS = tuple(f"d{i}" for i in range(30))


def vector(text):
    """{log: seq} of a stream id: a bare position is log 0's."""
    text = str(text)
    if "-" not in text:
        return {0: int(text)}
    return {int(log): int(seq) for log, seq in (e.split("-") for e in text.split("."))}


def text_of(v):
    if set(v) == {0}:
        return str(v[0])
    return ".".join(f"{log}-{seq}" for log, seq in sorted(v.items()))


def check_ids(events, before=None):
    """Each message's id names its own position in its log, never goes back
    in any log, and moves only its own log's entry forward past what was
    passed: the events of each log in their order."""
    last = dict(before or {})
    for ev_id, r in events:
        v = vector(ev_id)
        a = r["attributes"]
        assert v.get(a["log"]) == a["seq"], (ev_id, a["log"], a["seq"])
        for log, seq in v.items():
            assert seq >= last.get(log, -1), (ev_id, last)
        assert last.get(a["log"], -1) < a["seq"], (ev_id, last)
        last = v
    return last


class Load:
    """Events of actor u over TARGETS (so every partition) published in
    batches until stopped; every id kept."""

    def __init__(self, u):
        self.u, self.ids, self.stop = u, [], threading.Event()
        self.error = None

    def run(self):
        rng = random.Random(11)
        try:
            while not self.stop.is_set():
                batch = events_for(self.u, 12, rng=rng, targets=TARGETS)
                publish(batch)
                self.ids += [e["id"] for e in batch]
                time.sleep(0.05)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e

    def __enter__(self):
        self.thread = threading.Thread(target=self.run)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        return False


def test_every_log_and_resume_anywhere():
    with Stack(ENV, daemons=("api", "auditor")) as s:
        tok = s.token(1)
        ports = [s.ports["auditor"], free_port()]
        b = start_auditor(s, ports[1])
        try:
            u = unique("plogs")
            flt = path({"filter[actor]": f"service:{u}"})
            # Live from every log's end: events of all three partitions come.
            c = SSE(ports[0], flt, tok)
            assert c.status == 200, (c.status, c.raw[:300])
            c.until(lambda: c.comments >= 1, what="a first keep-alive")
            first = events_for(u, 60, rng=random.Random(3), targets=TARGETS)
            assert {partition(e) for e in first} == set(range(P))
            publish(first)
            c.until(lambda: len(c.events) == 60, timeout=60, what="60 events of 3 logs")
            assert sorted(r["id"] for _, r in c.events) == sorted(e["id"] for e in first)
            assert {r["attributes"]["log"] for _, r in c.events} == set(range(P))
            for _, r in c.events:  # each event in its partition's log
                assert r["attributes"]["log"] == partition(r["attributes"]), r
            last = check_ids(c.events)
            assert len(last) >= P, last  # several logs: the vector form
            assert "-" in str(c.events[-1][0]), c.events[-1][0]
            c.pump(1.0)
            assert len(c.events) == 60, c.events[60:]
            # The keep-alive's id: every log's position passed, ours and not.
            beats = c.comments
            c.until(lambda: c.comments > beats, what="a keep-alive after the events")
            assert all(vector(c.last_id)[log] >= seq for log, seq in last.items()), \
                (c.last_id, last)
            resume_from = c.last_id
            c.close()

            # Dropped and resumed again and again, on either auditor, while
            # events keep arriving: each exactly once.
            got = []
            rng = random.Random(5)
            with Load(u) as load:
                cid = resume_from
                for k in range(10):
                    port = ports[k % 2]
                    r = SSE(port, flt, tok, last_id=cid)
                    assert r.status == 200, (port, cid, r.status, r.raw[:300])
                    r.pump(rng.uniform(0.2, 0.8))
                    r.close()
                    check_ids(r.events, vector(cid))
                    got += [x["id"] for _, x in r.events]
                    if r.last_id is not None:
                        cid = r.last_id
                    time.sleep(rng.uniform(0, 0.3))
                assert load.error is None, load.error
            assert load.ids and got, (len(load.ids), len(got))
            r = SSE(ports[1], flt, tok, last_id=cid)
            assert r.status == 200
            r.until(lambda: len(got) + len(r.events) >= len(load.ids), timeout=60,
                    what=f"the last of {len(load.ids)} events")
            r.pump(0.5)
            r.close()
            check_ids(r.events, vector(cid))
            got += [x["id"] for _, x in r.events]
            dups = len(got) - len(set(got))
            assert dups == 0, f"{dups} events twice"
            assert set(got) == set(load.ids), (len(set(load.ids) - set(got)), "missed")
            print(f"    {len(load.ids)} events over {P} logs, 11 connections on 2 auditors: "
                  f"each once")
        finally:
            assert b.stop() == 0, b.tail()


def test_positions_per_log():
    """An id names a position in each log: one not stored yet in any log
    is refused (400, naming the log), one more than the backlog behind its
    log's end is too (410); a log the id leaves out is read from its start."""
    with Stack(ENV, daemons=("api", "auditor")) as s:
        tok = s.token(1)
        port = s.ports["auditor"]

        def refused(last_id, status, after=None):
            c = SSE(port, path({"after": after} if after else {}), tok, last_id=last_id)
            assert c.status == status, (last_id, c.status, c.raw[:300])
            return error_of(c.error())

        # One log long enough to be more than the backlog behind its end.
        other = unique("pfill")
        fill = [e for e in events_for(other, 4 * (BACKLOG + 20), targets=TARGETS)
                if partition(e) == 1]
        assert len(fill) > BACKLOG + 20, len(fill)
        publish(fill)
        wait_for(lambda: reader_sql("SELECT COUNT(*) FROM data_events WHERE actor_id = "
                                    f"'{other}'") == [[str(len(fill))]], 60,
                 what="log 1's events")

        # Every log's stored end (the database's, and as a refusal names it).
        ends = {int(log): int(first) + int(n) // 36 for log, first, n in reader_sql(
            "SELECT a.log_id, a.first_seq, LENGTH(a.event_ids) FROM log_appends a JOIN "
            "(SELECT log_id, MAX(first_seq) m FROM log_appends GROUP BY log_id) b "
            "ON a.log_id = b.log_id AND a.first_seq = b.m")}
        assert all(ends.get(log) for log in range(P)), ends
        for log in range(P):
            e = refused(f"{log}-{10 ** 15}", 400)
            assert f"of log {log} is not stored yet" in e["detail"], e
            assert int(re.search(r"below (\d+)", e["detail"]).group(1)) == ends[log], e
        here = {log: end - 1 for log, end in ends.items()}

        # The same position in after= and Last-Event-ID, in any order of
        # logs; they must agree.
        text = text_of(here)
        shuffled = ".".join(f"{log}-{seq}" for log, seq in reversed(sorted(here.items())))
        c = SSE(port, path({"after": shuffled}), tok, last_id=text)
        assert c.status == 200, (c.status, c.raw[:300])
        c.close()
        e = refused(text, 400, after=text_of({**here, 1: here[1] - 1}))
        assert e["source"]["parameter"] == "after", e

        # Not stored yet: in log 2, in a log that holds nothing.
        e = refused(text_of({**here, 2: ends[2] + 5}), 400)
        assert f"Position {ends[2] + 5} of log 2 is not stored yet" in e["detail"], e
        e = refused(text_of({**here, 999: 0}), 400)
        assert "of log 999 is not stored yet" in e["detail"], e
        # Too far behind log 1's end (one more than the backlog); at the
        # backlog, served.
        e = refused(text_of({**here, 1: ends[1] - BACKLOG - 2}), 410)
        assert f"log 1 ends at {ends[1]}" in e["detail"] and str(BACKLOG) in e["detail"], e
        c = SSE(port, path({"filter[actor]": f"service:{other}"}), tok,
                last_id=text_of({**here, 1: ends[1] - BACKLOG - 1}))
        assert c.status == 200, (c.status, c.raw[:300])
        c.until(lambda: len(c.events) >= 1, what="log 1's last events")
        c.close()
        # Malformed ids: 400 whatever the form.
        for bad in ("0-1.0-2", "1-", "1-2.", "70000-1", "1-2.x", "-5"):
            e = refused(bad, 400)
            assert "Last-Event-ID" in e["detail"], e
        # A log the id leaves out is read from position 0: log 1 is longer
        # than the backlog.
        e = refused(text_of({k: v for k, v in here.items() if k != 1}), 410)
        assert "log 1 ends" in e["detail"], e


def test_one_log_beside_others():
    """An auditor of one classic partition follows log 0 alone, whatever
    other logs the store holds (those the tests above left, as a deployment
    with partitions would): its ids are bare positions, as they always
    were, and an id naming another log's stored position is taken (that
    log is not streamed), one naming a position it has not stored is not."""
    with Stack({"AUDITLOG_STREAM_HEARTBEAT_MS": "300"}, daemons=("api", "auditor")) as s:
        tok = s.token(1)
        port = s.ports["auditor"]
        ends = {int(log): int(first) + int(n) // 36 for log, first, n in reader_sql(
            "SELECT a.log_id, a.first_seq, LENGTH(a.event_ids) FROM log_appends a JOIN "
            "(SELECT log_id, MAX(first_seq) m FROM log_appends GROUP BY log_id) b "
            "ON a.log_id = b.log_id AND a.first_seq = b.m")}
        assert ends.get(0) and ends.get(1), ends
        flt = path({"filter[actor]": f"service:{unique('none')}"})
        c = SSE(port, flt, tok)
        assert c.status == 200, (c.status, c.raw[:300])
        c.until(lambda: c.comments >= 1, what="a keep-alive")
        assert isinstance(c.last_id, int) and c.last_id >= ends[0] - 1, c.last_id
        c.close()
        r = SSE(port, flt, tok, last_id=f"0-{c.last_id}.1-{ends[1] - 1}")
        assert r.status == 200, (r.status, r.raw[:300])
        r.until(lambda: r.comments >= 1, what="a keep-alive")
        assert isinstance(r.last_id, int), r.last_id  # log 1 left out
        r.close()
        r = SSE(port, flt, tok, last_id=f"0-{c.last_id}.1-{ends[1] + 100}")
        assert r.status == 400, (r.status, r.raw[:300])
        assert "of log 1 is not stored yet" in error_of(r.error())["detail"]


if __name__ == "__main__":
    run([test_every_log_and_resume_anywhere, test_positions_per_log, test_one_log_beside_others])
