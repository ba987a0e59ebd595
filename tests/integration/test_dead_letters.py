"""Messages the auditor cannot store go to data-mutation-audits.dead whole,
with their reason, and cost it no more memory than a normal message: a body
over 1 MiB is streamed to the dead letters frame by frame, and a message that
would parse to more than 8 MB (very many tiny JSON values) is not parsed."""
import hashlib
import json
import os
import subprocess
import uuid

from harness import BIN, Stack, run, wait_for

URL = os.environ.get("AUDITLOG_AMQP_URL", "amqp://dev:dev@localhost:5672/")
DEAD = "data-mutation-audits.dead"


def mqtool(*args, data=None):
    return subprocess.run([os.path.join(BIN, "mqtool"), *args], input=data,
                          capture_output=True, timeout=120)


def publish(body, message_id):
    r = mqtool("publish", URL, "api-stream", "other.data.mutated", message_id, data=body)
    assert r.returncode == 0, r.stderr


def dead_letters():
    """Takes every message of the dead-letter queue: [(reason, body)]."""
    out = []
    while True:
        r = mqtool("get", URL, DEAD)
        if r.returncode == 3:
            return out
        assert r.returncode == 0, r.stderr
        reason, _, body = r.stdout.partition(b"\n")
        out.append((reason.decode(), body[:-1] if body.endswith(b"\n") else body))


def event(target, i=0, **extra):
    e = {"id": str(uuid.uuid4()), "action": "viewed", "timestamp": 1700000000000 + i,
         "actorType": "service", "actorId": "dead-letters", "targetType": "invoices",
         "targetId": target}
    e.update(extra)
    return e


def peak_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def stored(s, tok, target, n):
    return wait_for(lambda: (lambda ev: ev if len(ev) >= n else None)(
        s.events(f"/data-events?filter[target]=invoices:{target}", tok)),
        timeout=60, what=f"{n} events of invoices:{target}")


def test_oversized_message_streamed_whole():
    """24 MiB is far over the 1 MiB a message may have: the copy must be the
    whole message, and the auditor's peak memory must not grow by its size."""
    mqtool("purge", URL, DEAD)
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        target = uuid.uuid4().hex[:12]
        first = event(target, 0)
        publish(json.dumps(first).encode(), first["id"])
        stored(s, tok, target, 1)
        pid = s.daemons["auditor"].proc.pid
        before = peak_rss_kb(pid)
        big = b"[" + b" " * (24 << 20) + b"]"
        publish(big, "oversized-1")
        after_it = event(target, 1)
        publish(json.dumps(after_it).encode(), after_it["id"])
        events = stored(s, tok, target, 2)
        assert {e["id"] for e in events} == {first["id"], after_it["id"]}, \
            [e["id"] for e in events]
        grown = peak_rss_kb(pid) - before
        got = dead_letters()
        assert len(got) == 1, [(r, len(b)) for r, b in got]
        reason, body = got[0]
        assert reason == f"message is {len(big)} bytes; the limit is 1048576", reason
        assert len(body) == len(big) and hashlib.sha256(body).digest() == \
            hashlib.sha256(big).digest(), len(body)
        assert grown < 8 * 1024, f"the auditor's peak RSS grew by {grown} kB for a 24 MiB message"


def test_overweight_message_not_parsed():
    """A valid event of 240 KB whose change holds 80,000 empty objects would
    take about 20 MB parsed: it is dead-lettered unparsed, the next stored."""
    mqtool("purge", URL, DEAD)
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        target = uuid.uuid4().hex[:12]
        heavy = event(target, 0, action="changed",
                      changes={"x": {"prev": [{}] * 80000, "next": None}})
        body = json.dumps(heavy, separators=(",", ":")).encode()
        assert len(body) < 256 * 1024
        publish(body, heavy["id"])
        light = event(target, 1)
        publish(json.dumps(light).encode(), light["id"])
        ids = [e["id"] for e in stored(s, tok, target, 1)]
        assert ids == [light["id"]], f"stored {ids}; the overweight one is {heavy['id']}"
        got = dead_letters()
        assert len(got) == 1, [r for r, _ in got]
        reason, copy = got[0]
        assert "too many JSON values" in reason and copy == body, reason


def test_poison_copied_and_acknowledged():
    """A poison message is copied with its reason and acknowledged, an array's
    bad element alone, and nothing is left in the queue."""
    mqtool("purge", URL, DEAD)
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        target = uuid.uuid4().hex[:12]
        publish(b"this is not json {", "poison-1")
        good, bad = event(target, 0), event(target, 1, action="eaten")
        publish(json.dumps([good, bad]).encode(), good["id"])
        stored(s, tok, target, 1)
        got = []

        def both():
            got.extend(dead_letters())
            return len(got) >= 2
        wait_for(both, what="two dead letters")
        copies = dict(got)
        assert len(copies) == 2, got
        element = [b for r, b in got if r.startswith("element 1: ")]
        assert element and json.loads(element[0]) == bad, got
        assert [b for r, b in got if r.startswith("not JSON")] == [b"this is not json {"], got
        wait_for(lambda: mqtool("count", URL, "data-mutation-audits").stdout.strip() == b"0",
                 what="the queue to be empty")


if __name__ == "__main__":
    run([test_oversized_message_streamed_whole, test_overweight_message_not_parsed,
         test_poison_copied_and_acknowledged])
