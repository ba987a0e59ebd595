"""/livez and /readyz (README "Health"): open, in the health+json form, and
/readyz follows the broker and the database both ways within a second.

The broker and the database are taken away through TCP relays (harness
TcpProxy) in front of the shared servers: cutting one closes every relayed
connection and refuses new ones, as a stopped server does, without
disturbing anyone else. The fault suite (tests/faults) measures the same
against the real broker killed and the real database stopped."""
import json
import os
import time
import urllib.parse

from harness import Stack, TcpProxy, http, run, wait_for

HEALTH = "application/health+json"
FLIP_S = 1.0  # what README "Health" promises, both ways
API_CHECKS = {"mysql:responseTime", "amqp:responseTime", "outbox:backlog", "amqp:connection",
              "amqp:unconfirmed", "spool:backlog"}
AUDITOR_CHECKS = {"mysql:responseTime", "amqp:responseTime", "amqp:consumers",
                  "ledger:checkpointLag"}


def get(s, name, path):
    status, headers, body = http("GET", s.url(name, path))
    return status, headers, json.loads(body) if body else None


def ready(s, name):
    return get(s, name, "/readyz")


def test_open_and_shaped():
    with Stack() as s:
        for name in ("api", "auditor", "web"):
            status, headers, doc = get(s, name, "/livez")
            assert status == 200 and doc == {"status": "pass"}, (name, status, doc)
            assert headers["content-type"] == HEALTH, headers
            assert headers.get("cache-control") == "no-store", headers
            wait_for(lambda: ready(s, name)[0] == 200, 15, what=f"{name} to be ready")
            status, headers, doc = ready(s, name)
            assert headers["content-type"] == HEALTH, headers
            assert doc["status"] in ("pass", "warn"), doc
            for check, entries in doc["checks"].items():
                assert ":" in check, check
                assert isinstance(entries, list) and len(entries) == 1, entries
                e = entries[0]
                assert e["status"] in ("pass", "warn"), (name, check, e)
                assert e["time"].endswith("Z"), e
        assert set(ready(s, "api")[2]["checks"]) == API_CHECKS
        assert set(ready(s, "auditor")[2]["checks"]) == AUDITOR_CHECKS
        assert set(ready(s, "web")[2]["checks"]) == {"web:root"}
        # The values are the components' own: a round trip in ms, counts.
        api = ready(s, "api")[2]["checks"]
        assert api["mysql:responseTime"][0]["observedUnit"] == "ms"
        assert api["amqp:responseTime"][0]["observedUnit"] == "ms"
        assert api["outbox:backlog"][0]["observedValue"] >= 0
        assert ready(s, "auditor")[2]["checks"]["amqp:consumers"][0]["observedValue"] == 1
        # A query string is no business of a probe's (a load balancer may
        # add one): ignored. Other methods: 405.
        status, _, doc = get(s, "api", "/readyz?probe=lb")
        assert status == 200 and doc["status"] == "pass", doc
        assert get(s, "auditor", "/livez?x=1&x=2")[0] == 200
        status, headers, _ = http("POST", s.url("auditor", "/readyz"), b"")
        assert status == 405 and "GET" in headers.get("allow", ""), (status, headers)


def wait_status(s, names, want, what):
    """Polls each daemon's /readyz every 20 ms until it answers want;
    returns {name: seconds it took}."""
    t0 = time.monotonic()
    took = {}
    while len(took) < len(names):
        for name in names:
            if name not in took and ready(s, name)[0] == want:
                took[name] = time.monotonic() - t0
        if time.monotonic() - t0 > 20:
            missing = [n for n in names if n not in took]
            raise AssertionError(f"{missing} not {want} 20 s after {what}: "
                                 f"{[ready(s, n)[2] for n in missing]}")
        time.sleep(0.02)
    return took


def flip(s, names, act, want, what):
    """act(), then each daemon's /readyz must answer want within FLIP_S."""
    act()
    took = wait_status(s, names, want, what)
    print(f"{what}: {want} after {took}")
    assert max(took.values()) < FLIP_S, took


def failing(doc):
    return {name for name, e in doc["checks"].items() if e[0]["status"] == "fail"}


def relayed():
    """Relays to the test's broker and database, and the daemons' settings
    that go through them: (broker relay, database relay, environment)."""
    amqp = urllib.parse.urlsplit(os.environ.get("AUDITLOG_AMQP_URL",
                                                "amqp://dev:dev@localhost:5672/"))
    host = os.environ.get("AUDITLOG_MYSQL_HOST", "localhost")
    broker = TcpProxy(amqp.hostname or "localhost", amqp.port or 5672)
    database = TcpProxy("127.0.0.1" if host == "localhost" else host,
                        int(os.environ.get("AUDITLOG_MYSQL_PORT", "3306")))
    netloc = amqp.netloc.rsplit("@", 1)
    url = amqp._replace(netloc=(netloc[0] + "@" if len(netloc) == 2 else "") +
                        f"127.0.0.1:{broker.port}").geturl()
    return broker, database, {"AUDITLOG_AMQP_URL": url, "AUDITLOG_MYSQL_HOST": "127.0.0.1",
                              "AUDITLOG_MYSQL_PORT": str(database.port)}


def test_flips_with_broker_and_database():
    broker, database, env = relayed()
    both = ("api", "auditor")
    try:
        with Stack(extra_env=env, daemons=both) as s:
            wait_status(s, both, 200, "the start")
            for attempt in range(2):  # twice: the second time after a backoff
                flip(s, both, broker.cut, 503, "the broker was cut")
                assert {"amqp:connection", "amqp:responseTime"} >= failing(ready(s, "api")[2]), \
                    ready(s, "api")
                assert "amqp:consumers" in failing(ready(s, "auditor")[2]), ready(s, "auditor")
                time.sleep(2 * attempt)  # the reconnection backoff grows meanwhile
                flip(s, both, broker.restore, 200, "the broker came back")

            # A broker that hangs (no error, no answer; the connections
            # stay open) is noticed by the round trip each daemon keeps
            # asking of it, idle or not.
            flip(s, both, broker.freeze, 503, "the broker hung")
            for name in both:
                assert "amqp:responseTime" in failing(ready(s, name)[2]), ready(s, name)
            time.sleep(1)
            flip(s, both, broker.thaw, 200, "the broker answered again")

            flip(s, both, database.freeze, 503, "the database hung")
            flip(s, both, database.thaw, 200, "the database answered again")

            flip(s, both, database.cut, 503, "the database was cut")
            assert "mysql:responseTime" in failing(ready(s, "api")[2])
            assert "mysql:responseTime" in failing(ready(s, "auditor")[2])
            time.sleep(2)
            flip(s, both, database.restore, 200, "the database came back")
    finally:
        broker.close()
        database.close()


def test_stop_while_away():
    """SIGTERM while the broker or the database is away: the API does not
    wait for what it cannot reach (its events are safe in the spool and the
    outbox), exits 0 at once and says what it left."""
    for away in ("broker", "database"):
        broker, database, env = relayed()
        try:
            with Stack(extra_env=env, daemons=("api",)) as s:
                wait_for(lambda: ready(s, "api")[0] == 200, 15, what="the API to be ready")
                tok = s.token(1)
                status, _, _ = s.api("GET", "/api/users/1", token=tok)
                assert status == 200
                (broker if away == "broker" else database).cut()
                wait_for(lambda: ready(s, "api")[0] == 503, 5, what=f"the {away} to be missed")
                if away == "broker":  # a view waits in the spool
                    assert s.api("GET", "/api/users/1", token=tok)[0] == 200
                log = s.daemons["api"].log_path
                t = time.monotonic()
                code = s.stop("api")
                took = time.monotonic() - t
                print(f"{away} away: the API stopped in {took:.2f} s with {code}")
                assert code == 0 and took < 3, (code, took)
                with open(log) as f:
                    text = f.read()
                said = ("bytes of view events unconfirmed in the spool" if away == "broker"
                        else "without reading the outbox")
                assert said in text, text[-2000:]
        finally:
            broker.close()
            database.close()


if __name__ == "__main__":
    run([test_open_and_shaped, test_flips_with_broker_and_database, test_stop_while_away])
