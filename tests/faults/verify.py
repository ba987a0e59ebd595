"""Compares what the clients did with what the auditor stored.

Per client (its actor's events only):
  mutations  each ok request's (action, target, changes) must be stored
             exactly once; an unknown-outcome request's may be stored 0 or 1
             times; a created event of a target no request knows is charged
             to the unknown creates (whose id the client never learned)
  views      per target: stored vs ok (+ unknown allowance); lost =
             ok - stored when fewer, duplicated = what exceeds ok + unknown
  ids        an event id listed twice is a duplicate too
Anything stored that no request explains is "unexpected" (e.g. an event of
a rolled-back change, or a change with the wrong prev/next).
"""
import json
from collections import Counter


def _key(action, target, changes):
    return (action, target, json.dumps(changes, sort_keys=True) if changes else None)


def expectations(records):
    """Counters of expected mutation keys and viewed targets, from ok and
    from unknown-outcome requests; None as target is an unknown create."""
    exp_mut, unk_mut, exp_view, unk_view = Counter(), Counter(), Counter(), Counter()
    for r in records:
        if r.outcome == "failed":
            continue
        mut, view = (exp_mut, exp_view) if r.outcome == "ok" else (unk_mut, unk_view)
        if r.op == "create":
            mut[_key("created", r.target, None)] += 1
            view[r.target] += 1
        elif r.op == "patch":
            mut[_key("changed", r.target, r.changes)] += 1
            view[r.target] += 1
        elif r.op == "delete":
            mut[_key("deleted", r.target, None)] += 1
        else:  # get, and token: a token issued is a view of its user (token-issued)
            view[r.target] += 1
    return exp_mut, unk_mut, exp_view, unk_view


class Tally:
    def __init__(self):
        self.expected = 0          # events the ok requests must have produced
        self.expected_mut = 0
        self.expected_views = 0
        self.stored = 0
        self.lost_mut = 0
        self.lost_views = 0
        self.duplicated = 0
        self.unexpected = 0
        self.from_unknown = 0      # stored events charged to unknown-outcome requests
        self.details = []          # human-readable findings (capped)

    @property
    def lost(self):
        return self.lost_mut + self.lost_views

    def note(self, text):
        if len(self.details) < 40:
            self.details.append(text)

    def add(self, other):
        for k in ("expected", "expected_mut", "expected_views", "stored", "lost_mut",
                  "lost_views", "duplicated", "unexpected", "from_unknown"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        for d in other.details:
            self.note(d)


def compare(client_label, actor, records, events):
    """A Tally of one client's actor stream."""
    t = Tally()
    exp_mut, unk_mut, exp_view, unk_view = expectations(records)
    t.expected_mut = sum(exp_mut.values())
    t.expected_views = sum(exp_view.values())
    t.expected = t.expected_mut + t.expected_views
    t.stored = len(events)

    ids = Counter(e["id"] for e in events)
    for eid, n in ids.items():
        if n > 1:
            t.duplicated += n - 1
            t.note(f"{client_label}: event id {eid} listed {n} times")
    seen, unique = set(), []
    for e in events:
        if e["id"] not in seen:
            seen.add(e["id"])
            unique.append(e)

    stored_mut, stored_view = Counter(), Counter()
    by_key = {}
    for e in unique:
        a = e["attributes"]
        if (a.get("actorType"), a.get("actorId")) != ("users", actor):
            t.unexpected += 1
            t.note(f"{client_label}: event of another actor in the stream: {e}")
            continue
        if a.get("targetType") != "users":
            t.unexpected += 1
            t.note(f"{client_label}: unexpected target type: {e}")
            continue
        if a["action"] == "viewed":
            if a.get("changes"):
                t.unexpected += 1
                t.note(f"{client_label}: viewed event with changes: {e}")
            stored_view[a["targetId"]] += 1
        else:
            # created and deleted carry every initial and last value; what
            # identifies them here is the action and the target.
            k = _key(a["action"], a["targetId"],
                     a.get("changes") if a["action"] == "changed" else None)
            stored_mut[k] += 1
            by_key.setdefault(k, []).append(e["id"])

    unknown_creates = unk_mut.pop(_key("created", None, None), 0)
    unknown_create_views = unk_view.pop(None, 0)
    known_targets = {k[1] for k in exp_mut} | {k[1] for k in unk_mut} | set(exp_view) | \
        set(unk_view)

    for k in set(exp_mut) | set(unk_mut) | set(stored_mut):
        s, e, u = stored_mut[k], exp_mut[k], unk_mut[k]
        if s < e:
            t.lost_mut += e - s
            t.note(f"{client_label}: LOST {k[0]} users:{k[1]} {k[2] or ''} "
                   f"(stored {s}, expected {e})")
        extra = s - e
        if extra <= 0:
            continue
        use = min(extra, u)
        t.from_unknown += use
        extra -= use
        if extra and k[0] == "created" and k[1] not in known_targets and unknown_creates:
            use = min(extra, unknown_creates)
            unknown_creates -= use
            t.from_unknown += use
            extra -= use
        if extra <= 0:
            continue
        if e + u == 0:
            t.unexpected += 1
            extra -= 1
            t.note(f"{client_label}: UNEXPECTED {k[0]} users:{k[1]} {k[2] or ''} "
                   f"(no request explains it); ids {by_key[k]}")
        if extra:
            t.duplicated += extra
            t.note(f"{client_label}: DUPLICATE {k[0]} users:{k[1]} {k[2] or ''} stored {s} "
                   f"times (ok {e}, unknown {u}); ids {by_key[k]}")

    for target in set(exp_view) | set(unk_view) | set(stored_view):
        s, e, u = stored_view[target], exp_view[target], unk_view[target]
        if s < e:
            t.lost_views += e - s
            t.note(f"{client_label}: LOST {e - s} view(s) of users:{target} (stored {s}, ok "
                   f"{e}, unknown {u})")
        extra = s - e
        if extra <= 0:
            continue
        use = min(extra, u)
        t.from_unknown += use
        extra -= use
        if extra and target not in known_targets and unknown_create_views:
            use = min(extra, unknown_create_views)
            unknown_create_views -= use
            t.from_unknown += use
            extra -= use
        if extra <= 0:
            continue
        if e + u > 0:
            t.duplicated += extra
            t.note(f"{client_label}: DUPLICATE views of users:{target}: stored {s}, ok {e}, "
                   f"unknown {u}")
        else:
            t.unexpected += extra
            t.note(f"{client_label}: UNEXPECTED views of users:{target} ({s}); no request "
                   f"read it")
    if t.lost_views:
        t.note(f"{client_label}: {t.lost_views} view events lost")
    return t


def missing_counts(records, events):
    """(expected events from ok requests still missing) for the drain loop:
    a cheap lower bound of what is not stored yet."""
    exp_mut, _, exp_view, _ = expectations(records)
    stored_mut, stored_view = Counter(), Counter()
    for e in {e["id"]: e for e in events}.values():
        a = e["attributes"]
        if a["action"] == "viewed":
            stored_view[a["targetId"]] += 1
        else:  # as compare() keys them: a create's and a delete's values aside
            stored_mut[_key(a["action"], a["targetId"],
                            a.get("changes") if a["action"] == "changed" else None)] += 1
    missing = sum(max(0, n - stored_mut[k]) for k, n in exp_mut.items())
    missing += sum(max(0, n - stored_view[k]) for k, n in exp_view.items())
    return missing
