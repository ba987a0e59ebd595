"""The load: N client threads, each with its own actor user and token and a
persistent HTTP connection, looping over creates, patches, deletes and
reads of the users it created, recording every request.

Outcomes:
  ok       2xx: the request happened; its events must be stored exactly once
  failed   a definite 4xx, or the connection could not even be opened (the
           request was never sent): nothing happened, no event may exist
  unknown  5xx, or an error after the request was sent (reset, timeout,
           closed connection): the request may or may not have happened, so
           each of its events may be stored 0 or 1 times

A client tracks the state of its users so that it knows the exact prev/next
of every change; a user touched by an unknown-outcome patch or delete is
retired (its state is no longer known) and never used again.
"""
import http.client
import json
import random
import threading
import time

JSONAPI = "application/vnd.api+json"
MIX = (("create", 25), ("patch", 35), ("delete", 10), ("get", 30))


class Record:
    __slots__ = ("t", "latency", "op", "outcome", "status", "target", "changes", "error")

    def __init__(self, t, latency, op, outcome, status, target, changes=None, error=None):
        self.t = t                # time.monotonic() at the start of the request
        self.latency = latency    # seconds
        self.op = op              # create, patch, delete, get, token
        self.outcome = outcome    # ok, failed, unknown
        self.status = status      # HTTP status or None
        self.target = target      # user id (str) or None when unknown (a create)
        self.changes = changes    # for patch: {"field": {"prev": .., "next": ..}}
        self.error = error


class Client(threading.Thread):
    def __init__(self, idx, run_tag, port, admin_token, stop, pace_s=0.0, timeout=10.0,
                 seed=None):
        super().__init__(name=f"client-{idx}", daemon=True)
        self.idx = idx
        self.tag = run_tag
        self.port = port
        self.admin_token = admin_token
        self.stop = stop
        self.pace_s = pace_s
        self.timeout = timeout
        self.rng = random.Random(seed)
        self.conn = None
        self.seq = 0
        self.actor_id = None
        self.token = None
        self.users = {}      # id -> {"name", "email", "agreedTos"} (known state)
        self.retired = set()
        self.records = []
        self.exception = None

    # -- HTTP ----------------------------------------------------------------

    def _close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
        self.conn = None

    def call(self, method, path, body=None, token=None):
        """(outcome, status, parsed body or None, error string or None)."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.connect()
            except OSError as e:
                self._close()
                return "failed", None, None, f"connect: {e!r}"  # never sent
        headers = {"Accept": JSONAPI}
        if token:
            headers["Authorization"] = "Bearer " + token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = JSONAPI
        try:
            self.conn.request(method, path, body=data, headers=headers)
            resp = self.conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as e:
            self._close()
            return "unknown", None, None, repr(e)
        if resp.will_close:
            self._close()
        doc = None
        if raw:
            try:
                doc = json.loads(raw)
            except ValueError:
                doc = raw.decode(errors="replace")
        status = resp.status
        if 200 <= status < 300:
            return "ok", status, doc, None
        if 400 <= status < 500:
            return "failed", status, doc, None
        return "unknown", status, doc, None

    # -- set-up ----------------------------------------------------------------

    def setup(self):
        """Creates the actor (as user 1) and gets its token. Retries briefly."""
        email = f"actor-{self.tag}-{self.idx}@faults.example"
        body = {"data": {"type": "users", "attributes": {
            "name": f"fault actor {self.idx}", "email": email, "agreedTos": True}}}
        for _ in range(20):
            outcome, status, doc, err = self.call("POST", "/api/users", body, self.admin_token)
            if outcome == "ok":
                self.actor_id = doc["data"]["id"]
                break
            time.sleep(0.25)
        else:
            raise RuntimeError(f"client {self.idx}: cannot create its actor: {status} {err} "
                               f"{doc}")
        self._close()
        for _ in range(20):
            # A token handed out is a viewed event of the actor by the actor
            # (eventName token-issued): recorded like any other request.
            t0 = time.monotonic()
            outcome, status, doc, err = self.call("GET", f"/tokens/{self.actor_id}")
            self._record(t0, "token", outcome, status, self.actor_id, error=err)
            if outcome == "ok" and isinstance(doc, str):
                self.token = doc
                self._close()
                return
            time.sleep(0.25)
        raise RuntimeError(f"client {self.idx}: no token for user {self.actor_id}")

    # -- the loop --------------------------------------------------------------

    def _pick_op(self):
        if not self.users:
            return "create"
        r = self.rng.randrange(100)
        for op, weight in MIX:
            if r < weight:
                return op
            r -= weight
        return "get"

    def _record(self, t0, op, outcome, status, target, changes=None, error=None):
        self.records.append(Record(t0, time.monotonic() - t0, op, outcome, status, target,
                                   changes, error))

    def step(self):
        op = self._pick_op()
        self.seq += 1
        s = self.seq
        if op == "create":
            attrs = {"name": f"c{self.idx}-{s}",
                     "email": f"u-{self.tag}-{self.idx}-{s}@faults.example",
                     "agreedTos": self.rng.random() < 0.5}
            body = {"data": {"type": "users", "attributes": attrs}}
            t0 = time.monotonic()
            outcome, status, doc, err = self.call("POST", "/api/users", body, self.token)
            target = None
            if outcome == "ok":
                target = doc["data"]["id"]
                self.users[target] = dict(attrs)
            self._record(t0, op, outcome, status, target, None, err or _detail(outcome, doc))
            return outcome
        uid = self.rng.choice(list(self.users))
        if op == "patch":
            state = self.users[uid]
            if self.rng.random() < 0.5:
                field, new = "name", f"p{self.idx}-{s}"
            else:
                field, new = "agreedTos", not state["agreedTos"]
            changes = {field: {"prev": state[field], "next": new}}
            body = {"data": {"type": "users", "id": uid, "attributes": {field: new}}}
            t0 = time.monotonic()
            outcome, status, doc, err = self.call("PATCH", f"/api/users/{uid}", body, self.token)
            if outcome == "ok":
                state[field] = new
                got = doc["data"]["attributes"]
                if got != state:
                    err = f"PATCH answered {got}, expected {state}"
            elif outcome == "unknown":
                self._retire(uid)
            self._record(t0, op, outcome, status, uid, changes, err or _detail(outcome, doc))
        elif op == "delete":
            t0 = time.monotonic()
            outcome, status, doc, err = self.call("DELETE", f"/api/users/{uid}", None, self.token)
            if outcome in ("ok", "unknown"):
                self._retire(uid)
            self._record(t0, op, outcome, status, uid, None, err or _detail(outcome, doc))
        else:
            t0 = time.monotonic()
            outcome, status, doc, err = self.call("GET", f"/api/users/{uid}", None, self.token)
            self._record(t0, op, outcome, status, uid, None, err or _detail(outcome, doc))
        return outcome

    def _retire(self, uid):
        self.users.pop(uid, None)
        self.retired.add(uid)

    def run(self):
        try:
            while not self.stop.is_set():
                outcome = self.step()
                if outcome != "ok":
                    time.sleep(0.05)  # the API is down or refusing: do not spin
                elif self.pace_s:
                    time.sleep(self.pace_s)
        except Exception as e:  # noqa: BLE001 - reported by the suite
            self.exception = e
            import traceback
            traceback.print_exc()
        finally:
            self._close()


def _detail(outcome, doc):
    if outcome == "ok" or doc is None:
        return None
    return json.dumps(doc)[:300] if not isinstance(doc, str) else doc[:300]
