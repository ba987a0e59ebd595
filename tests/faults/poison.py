"""Poison messages (not valid events) and valid hand-made events for the
poison run. Every message that has actor fields names actor fault:poison-run
and a target id starting with the run's tag, so a poison message that was
wrongly stored shows up in the same query as the valid ones."""
import json
import time
import uuid

ACTOR = ("fault", "poison-run")


def _now_ms():
    return int(time.time() * 1000)


def valid_event(tag, n):
    return {"id": str(uuid.uuid4()), "action": "viewed", "timestamp": _now_ms(),
            "actorType": ACTOR[0], "actorId": ACTOR[1], "targetType": "poison",
            "targetId": f"{tag}-valid-{n}"}


def poison_messages(tag):
    """[(label, body bytes)]: each one must end in the dead-letter queue."""
    def base(n, **over):
        e = {"id": str(uuid.uuid4()), "action": "viewed", "timestamp": _now_ms(),
             "actorType": ACTOR[0], "actorId": ACTOR[1], "targetType": "poison",
             "targetId": f"{tag}-poison-{n}"}
        e.update(over)
        return e

    def without(e, *keys):
        return {k: v for k, v in e.items() if k not in keys}

    def j(o):
        return json.dumps(o).encode()

    deep = 1
    for _ in range(40):
        deep = [deep]
    out = [
        ("not JSON", b"this is not json {"),
        ("empty body", b""),
        # An array of events is a valid message; an empty one is not.
        ("empty JSON array", b"[]"),
        ("JSON string", b'"viewed"'),
        ("JSON null", b"null"),
        ("missing id", j(without(base(6), "id"))),
        ("missing action", j(without(base(7), "action"))),
        ("missing timestamp", j(without(base(8), "timestamp"))),
        ("missing target", j(without(base(9), "targetType", "targetId"))),
        ("timestamp as string", j(base(10, timestamp=str(_now_ms())))),
        ("actorId as number", j(base(11, actorId=42))),
        ("unknown action", j(base(12, action="exploded"))),
        ("bad uuid", j(base(13, id="not-a-uuid"))),
        ("uppercase uuid", j(base(14, id=str(uuid.uuid4()).upper()))),
        # Valid but for its size: over the 256 KiB an event may have.
        ("event over 256 KiB", j(base(15, action="changed",
                                      changes={"data": {"prev": "p" * 140000,
                                                        "next": "n" * 140000}}))),
        ("changed without changes", j(base(16, action="changed"))),
        ("changes on a viewed event", j(base(17, changes={"name": {"prev": "a", "next": "b"}}))),
        ("change without next", j(base(18, action="changed", changes={"name": {"prev": "a"}}))),
        ("empty changes", j(base(19, action="changed", changes={}))),
        ("unknown member", j(base(20, extra=1))),
        ("invalid UTF-8", j(base(21)).replace(f"{tag}-poison-21".encode(),
                                              f"{tag}-poison-21-".encode() + b"\xff\xfe")),
        ("duplicate keys", j(base(22))[:-1] + b', "action": "deleted"}'),
        ("negative timestamp", j(base(23, timestamp=-5))),
        ("nesting deeper than 32", j(base(24, action="changed",
                                         changes={"name": {"prev": deep, "next": 1}}))),
        ("control character in targetId", j(base(25, targetId=f"{tag}-poison-25\u0001"))),
        ("targetType with a space", j(base(26, targetType="poison type"))),
    ]
    return out
