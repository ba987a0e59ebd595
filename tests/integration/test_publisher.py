"""The API's publisher over a long life: confirm frames do not pile up in
memory, and a connection lost in the middle of an outbox round neither
stalls the relay nor leaves its thread spinning."""
import json
import os
import socket
import struct
import subprocess
import threading
import time
import urllib.parse
import uuid

from harness import BIN, Stack, run, unique, wait_for

URL = os.environ.get("AUDITLOG_AMQP_URL", "amqp://dev:dev@localhost:5672/")


def test_confirm_frames_are_recycled():
    # rabbitmq-c keeps each decoded frame in the connection's pool until it
    # is released; the publisher reads one confirm per message for weeks.
    # mqtool reads its confirms through the publisher's own mq_poll_confirms
    # and reports the heap it holds after the warm-up tenth and at the end.
    # Unreleased, 18,000 confirms hold about 730 KiB (41 bytes each).
    out = subprocess.run([os.path.join(BIN, "mqtool"), "confirm-heap", URL, "20000"],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    words = out.split()
    confirms, growth = int(words[1]), int(words[3])
    assert confirms >= 18000, out
    assert growth < 64 << 10, f"{growth} bytes more heap after {confirms} confirms"



class ConfirmCutter:
    """A TCP proxy in front of the broker that can cut a connection in the
    middle of a round of confirms. arm() marks the next message published
    on the newest connection; at the first confirm that covers it, the
    proxy lets through the confirm of one message fewer than the broker
    sent when that leaves out a message published since (an ack of tag T
    with multiple becomes T-1), then closes both sides: what the API sees
    when the broker confirmed part of a round and the connection died
    before the rest."""

    class Conn:
        def __init__(self):
            self.published = 0   # basic.publish frames sent: the last delivery tag
            self.armed_from = 0  # first tag of the armed round, 0 when not armed

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.target = (u.hostname or "localhost", u.port or 5672)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        port = self.listener.getsockname()[1]
        self.url = urllib.parse.urlunsplit(u._replace(netloc=f"{u.username}:{u.password}@"
                                                      f"127.0.0.1:{port}"))
        self.cut = threading.Event()
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self):
        conn = self.conns[-1]
        conn.armed_from = conn.published + 1

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            broker = socket.create_connection(self.target)
            conn = self.Conn()
            self.conns.append(conn)
            threading.Thread(target=self._up, args=(conn, client, broker), daemon=True).start()
            threading.Thread(target=self._down, args=(conn, broker, client),
                             daemon=True).start()

    @staticmethod
    def _frames(buf):
        """Splits off the whole frames at the start of buf: (frames, rest)."""
        frames = []
        while len(buf) >= 7:
            size = struct.unpack(">I", buf[3:7])[0]
            if len(buf) < 8 + size:
                break
            frames.append(buf[:8 + size])
            buf = buf[8 + size:]
        return frames, buf

    @staticmethod
    def _method(frame, class_id, method_id):
        return frame[0] == 1 and frame[7:11] == struct.pack(">HH", class_id, method_id)

    @staticmethod
    def _close(*socks):
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _up(self, conn, client, broker):
        buf, header = b"", True
        try:
            while True:
                b = client.recv(65536)
                if not b:
                    break
                broker.sendall(b)
                buf += b
                if header and len(buf) >= 8:  # "AMQP" 0 0 9 1 comes before any frame
                    buf, header = buf[8:], False
                if not header:
                    frames, buf = self._frames(buf)
                    conn.published += sum(self._method(f, 60, 40) for f in frames)
        except OSError:
            pass
        self._close(client, broker)

    def _down(self, conn, broker, client):
        buf, acked = b"", 0
        try:
            while True:
                b = broker.recv(65536)
                if not b:
                    break
                frames, buf = self._frames(buf + b)
                out = b""
                for frame in frames:
                    if self._method(frame, 60, 80):
                        tag = struct.unpack(">Q", frame[11:19])[0]
                        multiple = frame[19] & 1
                        if conn.armed_from and tag >= conn.armed_from:
                            if multiple and tag - max(acked, conn.armed_from - 1) >= 2:
                                frame = frame[:11] + struct.pack(">Q", tag - 1) + frame[19:]
                            client.sendall(out + frame)
                            conn.armed_from = 0
                            self.cut.set()
                            raise OSError("cut")
                        acked = max(acked, tag)
                    out += frame
                if out:
                    client.sendall(out)
        except OSError:
            pass
        self._close(broker, client)

    def close(self):
        self.listener.close()


def sql(statement):
    e = os.environ
    host = e.get("AUDITLOG_MYSQL_HOST", "localhost")
    r = subprocess.run(["mariadb", "--protocol=tcp", "-h",
                        "127.0.0.1" if host == "localhost" else host,
                        "-P", e.get("AUDITLOG_MYSQL_PORT", "3306"),
                        "-u", e.get("AUDITLOG_MYSQL_USER", "dev"), "--batch",
                        "--skip-column-names", "-e", statement,
                        e.get("AUDITLOG_API_DB", "audit-logging-api")],
                       env=dict(e, MYSQL_PWD=e.get("AUDITLOG_MYSQL_PASSWORD", "dev")),
                       capture_output=True, text=True, check=True)
    return r.stdout


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_reconnect_mid_round_then_only_deletes():
    cutter = ConfirmCutter(URL)
    try:
        with Stack(daemons=("auditor",)) as s:
            s.env["AUDITLOG_AMQP_URL"] = cutter.url
            s.start("api")
            tok = s.token(1)
            users = []
            for _ in range(5):
                status, _, doc = s.api("POST", "/api/users", token=tok, body={
                    "data": {"type": "users", "attributes": {
                        "name": "Doomed", "email": unique("stall") + "@example.com"}}})
                assert status == 201, doc
                users.append(doc["data"]["id"])
            for uid in users:  # created and viewed
                wait_for(lambda: len(s.events(f"/data-events?filter[target]=users:{uid}",
                                              tok)) >= 2, 30, what=f"users:{uid} created")
            wait_for(lambda: sql("SELECT COUNT(*) FROM event_outbox").strip() == "0", 10,
                     what="an empty outbox")

            # A round of two messages (100 + 50 rows) whose first confirm
            # arrives and whose connection dies before the second.
            cutter.arm()
            target = unique("round")
            ids = [str(uuid.uuid4()) for _ in range(150)]
            rows = ",".join(
                "('%s','%s')" % (eid, json.dumps({
                    "id": eid, "action": "created", "timestamp": 1700000000000 + i,
                    "actorType": "service", "actorId": "test", "targetType": "rounds",
                    "targetId": f"{target}"}))
                for i, eid in enumerate(ids))
            sql(f"INSERT INTO event_outbox (event_id, body) VALUES {rows}")
            assert cutter.cut.wait(15), "the outbox round was not published"
            wait_for(lambda: len(cutter.conns) >= 2, 15, what="the API to reconnect")

            # Deletes only: each commits an outbox row and emits no view.
            for uid in users:
                status, _, doc = s.api("DELETE", f"/api/users/{uid}", token=tok)
                assert status == 204, doc
            deadline = time.monotonic() + 5
            missing = list(users)
            while missing and time.monotonic() < deadline:
                missing = [u for u in missing if not any(
                    e["attributes"]["action"] == "deleted"
                    for e in s.events(f"/data-events?filter[target]=users:{u}", tok))]
                time.sleep(0.2)

            pid = s.daemons["api"].proc.pid
            t0, c0 = time.monotonic(), cpu_seconds(pid)
            time.sleep(2)
            busy = (cpu_seconds(pid) - c0) / (time.monotonic() - t0)
            assert not missing, f"no deleted event within 5 s for users {missing}"
            assert busy < 0.25, f"the idle API used {busy:.0%} of a core"

            stored = wait_for(lambda: (lambda ev: ev if len(ev) >= 150 else None)(
                s.events(f"/data-events?filter[target]=rounds:{target}", tok)), 15,
                what="the round's 150 events")
            assert sorted(e["id"] for e in stored) == sorted(ids)
            wait_for(lambda: sql("SELECT COUNT(*) FROM event_outbox").strip() == "0", 10,
                     what="an empty outbox")
    finally:
        cutter.close()


if __name__ == "__main__":
    run([test_confirm_frames_are_recycled, test_reconnect_mid_round_then_only_deletes])
