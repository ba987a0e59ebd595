#!/usr/bin/env python3
"""The API when the broker refuses its events (basic.nack) for a while: it
pauses sending, the pause doubling to 5 s while refusals go on, instead of
sending them again as fast as the broker answers (a tester measured about
80 copies of each view queued and 3 million refusals in a node's outage);
once the broker takes them again, every event arrives.

A policy makes the quorum queue of partition 0 refuse publishes while it
holds a message (max-length 1, overflow reject-publish) for REFUSE_S
seconds while the API creates users; then the policy goes and an auditor
starts (its first acknowledgement lets the refused publisher in again: a
quorum queue unblocks on a settled message), and every creation must be
stored once.
Needs the cluster (`./run.sh cluster-infra`, the ctest fixture)."""
import os
import sys
import time
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cluster import Cluster  # noqa: E402
import broker  # noqa: E402 - tests/faults/broker.py, on the path cluster.py set
from harness import Stack, http, run, wait_for  # noqa: E402

REFUSE_S = 6
TOKEN = "nack-" + uuid.uuid4().hex
POLICY = "auditlog-test-refuse"


def refused(s):
    """auditlog_nacked_events_total of the API, all sources."""
    status, _, body = http("GET", s.url("api", "/metrics"),
                           headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200, status
    return sum(float(line.split()[-1]) for line in body.decode().splitlines()
               if line.startswith("auditlog_nacked_events_total{"))


def test_refusals_pause_sending():
    logdir = os.environ.get("TMPDIR", "/tmp")
    with Cluster(logdir) as cl:
        url = ",".join(cl.url(n) for n in cl.nodes)
        env = {"AUDITLOG_AMQP_URL": url, "AUDITLOG_QUEUE_TYPE": "quorum",
               "AUDITLOG_PARTITIONS": "1", "AUDITLOG_METRICS_TOKEN": TOKEN}
        with Stack(env, daemons=("api",)) as s:
            tok = s.token(1)
            queue = broker.QUEUE
            wait_for(lambda: queue in cl.queues(1), timeout=30, what="the API's topology")
            cl.ctl(1, "set_policy", "-p", cl.vhost, "--apply-to", "queues", POLICY,
                   f"^{queue}$", '{"max-length": 1, "overflow": "reject-publish"}')
            try:
                t0 = time.monotonic()
                made = []
                while time.monotonic() - t0 < REFUSE_S:
                    made.append(s.new_user(tok, "nack"))
                    time.sleep(0.2)
                n = refused(s)
                # Each user is a creation and its view (2 events, in one or
                # two messages). Sent again at most once per pause
                # (100, 200, 400 ms, ... 5 s) after the first refusal: a
                # few rounds in REFUSE_S, not one per broker answer.
                print(f"{len(made)} users made while refused; {n:.0f} events refused")
                assert n > 0, "the broker refused nothing: the policy did not apply"
                assert n <= 12 * 2 * len(made), (n, len(made))
                assert wait_for(lambda: "refused events" in s.daemons["api"].tail(200),
                                timeout=5, what="the API to say so")
            finally:
                cl.ctl(1, "clear_policy", "-p", cl.vhost, POLICY)
            s.start("auditor")
            # What was refused is sent again and stored, once each.
            for uid in made:
                wait_for(lambda: len(s.events(f"/data-events?filter[target]=users:{uid}"
                                              "&filter[action]=created", tok)) == 1 or None,
                         timeout=30, what=f"users:{uid}'s creation stored")


if __name__ == "__main__":
    run([test_refusals_pause_sending])
