"""A minimal AMQP 0-9-1 client, standard library only, that answers one
question mqtool does not: how many consumers a queue has (queue.declare
with passive=1 returns both the ready message count and the consumer
count). The suite uses it to make sure its own auditor is the only
consumer of the test queue, since another auditor on the same vhost (a
concurrent test run) would take part of the events and look like loss.

    ready, consumers = queue_info("amqp://dev:dev@localhost:5672/auditlog-test",
                                  "data-mutation-audits")

Returns None for the queue when it does not exist. Never call it while the
broker is frozen (it would wait for the timeout).
"""
import socket
import struct
import urllib.parse

FRAME_METHOD = 1
FRAME_END = 0xCE


class AmqpError(Exception):
    pass


def parse_url(url):
    u = urllib.parse.urlsplit(url)
    if u.scheme != "amqp":
        raise AmqpError(f"only amqp:// URLs are supported: {url}")
    user = urllib.parse.unquote(u.username or "guest")
    password = urllib.parse.unquote(u.password or "guest")
    vhost = urllib.parse.unquote(u.path[1:]) if len(u.path) > 1 else "/"
    return u.hostname or "localhost", u.port or 5672, user, password, vhost


def _shortstr(s):
    b = s.encode()
    return struct.pack("!B", len(b)) + b


def _longstr(b):
    return struct.pack("!I", len(b)) + b


class _Conn:
    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AmqpError("the broker closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def frame(self):
        ftype, channel, size = struct.unpack("!BHI", self._read(7))
        payload = self._read(size)
        if self._read(1)[0] != FRAME_END:
            raise AmqpError("bad frame end")
        return ftype, channel, payload

    def method(self):
        """The next method frame (heartbeats and others skipped)."""
        while True:
            ftype, channel, payload = self.frame()
            if ftype == FRAME_METHOD:
                cls, meth = struct.unpack("!HH", payload[:4])
                if (cls, meth) in ((10, 50), (20, 40)):  # connection/channel.close
                    code = struct.unpack("!H", payload[4:6])[0]
                    text = payload[7:7 + payload[6]].decode(errors="replace")
                    raise AmqpError(f"closed by broker: {code} {text}")
                return cls, meth, payload[4:]

    def send_method(self, channel, cls, meth, args=b""):
        payload = struct.pack("!HH", cls, meth) + args
        self.sock.sendall(struct.pack("!BHI", FRAME_METHOD, channel, len(payload)) + payload +
                          bytes([FRAME_END]))

    def expect(self, cls, meth):
        got = self.method()
        if got[:2] != (cls, meth):
            raise AmqpError(f"expected method {cls}.{meth}, got {got[0]}.{got[1]}")
        return got[2]


def queue_info(url, queue, timeout=5.0):
    """(ready message count, consumer count) of a queue, or None if the
    queue does not exist."""
    host, port, user, password, vhost = parse_url(url)
    c = _Conn(host, port, timeout)
    try:
        c.sock.sendall(b"AMQP\x00\x00\x09\x01")
        c.expect(10, 10)  # connection.start
        c.send_method(0, 10, 11, struct.pack("!I", 0) + _shortstr("PLAIN") +
                      _longstr(b"\0" + user.encode() + b"\0" + password.encode()) +
                      _shortstr("en_US"))
        tune = c.expect(10, 30)
        channel_max, frame_max, _ = struct.unpack("!HIH", tune[:8])
        c.send_method(0, 10, 31, struct.pack("!HIH", channel_max, frame_max, 0))
        c.send_method(0, 10, 40, _shortstr(vhost) + _shortstr("") + b"\0")
        c.expect(10, 41)
        c.send_method(1, 20, 10, _shortstr(""))
        c.expect(20, 11)
        # queue.declare: reserved, queue, bits (passive), arguments (empty table)
        c.send_method(1, 50, 10, struct.pack("!H", 0) + _shortstr(queue) + b"\x01" +
                      struct.pack("!I", 0))
        try:
            ok = c.expect(50, 11)
        except AmqpError as e:
            if "404" in str(e):
                return None
            raise
        n = ok[0]
        ready, consumers = struct.unpack("!II", ok[1 + n:9 + n])
        try:
            c.send_method(0, 10, 50, struct.pack("!H", 200) + _shortstr("bye") +
                          struct.pack("!HH", 0, 0))
            c.expect(10, 51)
        except (OSError, AmqpError):
            pass
        return ready, consumers
    finally:
        c.sock.close()


if __name__ == "__main__":
    import sys
    print(queue_info(sys.argv[1], sys.argv[2]))
