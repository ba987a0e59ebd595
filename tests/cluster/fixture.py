#!/usr/bin/env python3
"""The ctest fixture of the cluster tests (tests/CMakeLists.txt): `up`
starts the three-node RabbitMQ cluster unless it runs (and notes that it
did), `down` stops it only if `up` started it. So the cluster tests share
one start (about 30 s) and a cluster the developer runs is left alone."""
import os
import sys
import tempfile

from cluster import Cluster
import broker

MARK = os.path.join(broker.state_dir(), "cluster", "started-by-ctest")


def main(what):
    c = Cluster(tempfile.mkdtemp(prefix="auditlog-cluster-fixture-"))
    if what == "up":
        took = c.up()
        if c.started:
            os.makedirs(os.path.dirname(MARK), exist_ok=True)
            open(MARK, "w").close()
        print(f"cluster {'started' if c.started else 'already running'} ({took:.1f} s)")
    elif os.path.exists(MARK):
        c.started = True
        c.down()
        os.unlink(MARK)
        print("cluster stopped")
    else:
        print("cluster left running (not started by the tests)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "up"))
