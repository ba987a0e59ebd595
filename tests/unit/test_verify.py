#!/usr/bin/env python3
"""auditlog-verify on real bundles made by bundlegen (leaf, merkle, note and
bundle modules), and on hand-edited copies: each edit must be rejected with
exit 1 and the right reason; usage and I/O errors exit 2.

    test_verify.py BUNDLEGEN AUDITLOG_VERIFY
"""
import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

GEN, VERIFY = sys.argv[1], sys.argv[2]
failures = 0
checks = 0


def gen(d, *args):
    os.makedirs(d, exist_ok=True)
    subprocess.run([GEN, d, *map(str, args)], check=True)
    with open(os.path.join(d, "bundle.ndjson"), "rb") as f:
        return f.read().split(b"\n")[:-1]


def write(path, lines, final_newline=True):
    with open(path, "wb") as f:
        f.write(b"\n".join(lines) + (b"\n" if final_newline else b""))
    return path


def run(*args):
    p = subprocess.run([VERIFY, *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def expect(name, args, rc, *patterns, absent=()):
    """Runs the verifier; checks its exit status and that each regex
    pattern is in its output (and none of absent)."""
    global failures, checks
    checks += 1
    got, out, err = run(*args)
    problems = []
    if got != rc:
        problems.append(f"exit {got}, want {rc}")
    for p in patterns:
        if not re.search(p, out + err, re.M):
            problems.append(f"no match for {p!r}")
    for p in absent:
        if re.search(p, out + err, re.M):
            problems.append(f"unexpected match for {p!r}")
    if problems:
        failures += 1
        print(f"FAIL {name}: {'; '.join(problems)}\n--- stdout\n{out}--- stderr\n{err}")
    else:
        print(f"ok   {name}")
    return out


def seq_of(line):
    return json.loads(line)["seq"]


def flip_in(line, member_prefix, skip=0):
    """Changes one ASCII letter or digit of the text after member_prefix
    (the skip-th such character) into another of the same kind."""
    i = line.index(member_prefix) + len(member_prefix)
    seen = 0
    while True:
        c = line[i:i + 1]
        if c.isalnum() and c.isascii():
            if seen == skip:
                if c.isdigit():
                    new = b"7" if c != b"7" else b"3"
                elif c.islower():
                    new = b"q" if c != b"q" else b"z"
                else:
                    new = b"Q" if c != b"Q" else b"Z"
                return line[:i] + new + line[i + 1:]
            seen += 1
        i += 1


with tempfile.TemporaryDirectory() as tmp:
    # ---- valid bundles ----
    full = os.path.join(tmp, "full")
    lines = gen(full, "--size", 300)
    vkey = os.path.join(full, "vkey")
    b = os.path.join(full, "bundle.ndjson")
    expect("valid, the whole log", [b, "--vkey", vkey], 0,
           r"^Results requested for seq 0 to 299 \(300 events\)$",
           r"^Results found for seq 0 to 299 \(300 event lines\)$",
           r"signature valid, root valid", r"^300/300 events valid$", absent=[r"INVALID"])
    out = expect("valid, --json", [b, "--vkey", vkey, "--json"], 0)
    try:
        j = json.loads(out)
        checks += 1
        assert j["valid"] is True and j["failures"] == [] and j["events"] == {
            "valid": 300, "total": 300} and j["requested"] == {"from": 0, "to": 300}
        print("ok   --json object")
    except Exception as e:  # noqa: BLE001 (report and go on)
        failures += 1
        print(f"FAIL --json object: {e!r}: {out}")

    pinned = os.path.join(tmp, "pinned")
    plines = gen(pinned, "--size", 1000, "--from", 77, "--to", 901, "--pin", 333, "--erase", 4,
                 "--pin-ahead", 5)
    pb = os.path.join(pinned, "bundle.ndjson")
    pvkey = os.path.join(pinned, "vkey")
    ppin = os.path.join(pinned, "pin.cp")
    expect("valid, M>0 and N<S, erased values, consistent pin",
           [pb, "--vkey", pvkey, "--pin", ppin], 0,
           r"^Results requested for seq 77 to 900 \(824 events\)$",
           r"Pinned checkpoint of size 333: consistent", r"^824/824 events valid$")
    assert any(b'"erased"' in l for l in plines[1:]), "the bundle has no erased value"
    same = os.path.join(tmp, "same")
    gen(same, "--size", 64, "--from", 64, "--to", 64, "--pin", 64)
    expect("valid, an empty slice at the end, pin of the same size",
           [os.path.join(same, "bundle.ndjson"), "--vkey", os.path.join(same, "vkey"), "--pin",
            os.path.join(same, "pin.cp")], 0, r"^0/0 events valid$")

    # ---- hand-edited bundles ----
    def edited(name, new_lines, *patterns, vk=vkey, extra=(), final_newline=True):
        path = write(os.path.join(tmp, name + ".ndjson"), new_lines, final_newline)
        return expect(name, [path, "--vkey", vk, *extra], 1, *patterns)

    # Lines with values, and the position of the first one.
    k = next(i for i, l in enumerate(lines) if i and b'"value":"' in l)
    s = seq_of(lines[k])
    e = list(lines)
    e[k] = flip_in(lines[k], b'"value":"')
    edited("a flipped byte in a value", e,
           rf"^INVALID: seq {s}: the value of changes\.\w+\.(next|prev) does not match its "
           r"commitment$", r"^299/300 events valid$")

    e = list(lines)
    e[5] = flip_in(lines[5], b'"actorId":"')
    edited("a flipped byte in an actorId", e,
           r"^INVALID: seq 4: the event's members \(or its commitments\) do not match its leaf "
           r"hash$", r"root valid")

    # The request's trace is part of the leaf (every other event has one).
    t = next(i for i, l in enumerate(lines) if i and b'"traceId":"' in l)
    e = list(lines)
    at = lines[t].index(b'"traceId":"') + len(b'"traceId":"') + 5  # another hex digit
    e[t] = lines[t][:at] + (b"0" if lines[t][at:at + 1] != b"0" else b"1") + lines[t][at + 1:]
    edited("a flipped byte in a traceId", e,
           rf"^INVALID: seq {seq_of(lines[t])}: the event's members \(or its commitments\) do "
           r"not match its leaf hash$", r"root valid")
    e = list(lines)
    e[t] = lines[t].replace(b'"traceId":"', b'"traceId":"X', 1)
    edited("a traceId that is not a trace-id", e,
           rf"^INVALID: seq {seq_of(lines[t])}: .*traceId")

    e = list(lines)
    e[9] = flip_in(lines[9], b'"leaf":"', skip=3)
    edited("a flipped byte in a leaf hash", e, r"^INVALID: seq 8: .*do not match its leaf hash$",
           r"^INVALID: checkpoint: root mismatch")

    # A value changed and its commitment recomputed to match (the salt is in
    # the bundle): now the commitments do not give the leaf.
    obj = json.loads(lines[k])
    side = next(sd for ch in obj["changes"].values() for sd in (ch["next"], ch["prev"])
                if isinstance(sd.get("value"), str))
    side["value"] = "mallory@example.com"
    salt = base64.urlsafe_b64decode(side["salt"] + "==")
    digest = hashlib.sha256(salt + json.dumps(side["value"]).encode()).digest()
    side["commitment"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    e = list(lines)
    e[k] = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    edited("a value changed with its commitment", e,
           rf"^INVALID: seq {s}: the event's members \(or its commitments\) do not match its "
           r"leaf hash$")

    e = lines[:20] + lines[21:]
    edited("a removed line", e, r"^INVALID: seq 19: missing$", r"^299/300 events valid$",
           r"root not recomputed")

    e = lines[:50] + lines[52:]
    edited("two removed lines", e, r"^INVALID: seq 49: missing \(and the 1 positions after it, "
           r"to seq 50\)$")

    e = lines[:-1]
    edited("the last line removed", e, r"^INVALID: seq 299: missing$",
           r"^Results found for seq 0 to 298 ")

    e = list(lines)
    e[30], e[31] = e[31], e[30]
    edited("two lines swapped", e, r"^INVALID: seq 30: out of order \(line 31, where seq 29 belongs\)$",
           r"^299/300 events valid$")

    e = list(lines)
    e[40], e[200] = e[200], e[40]
    edited("two distant lines swapped", e,
           r"^INVALID: seq 199: out of order \(line 41, where seq 39 belongs\)$",
           r"^INVALID: seq 39: out of order \(line 201, after seq 198\)$", r"^298/300 events valid$")

    e = lines[:60] + [lines[60]] + lines[60:]
    edited("a duplicated line", e, r"^INVALID: seq 59: repeated \(line 62\)$",
           r"^299/300 events valid$")

    e = list(lines)
    e[70] = b"this is not json"
    edited("a line that is not JSON", e, r"^INVALID: line 71: not JSON: ",
           r"^INVALID: seq 69: missing$")

    e = list(lines)
    e[80] = lines[80].replace(b'","', b'", "', 1)
    edited("a line not in canonical form", e,
           r"^INVALID: seq 79: the line is not in its canonical form")

    e = list(lines)
    e[90] = lines[90][:-1] + b',"note":"forged"}'
    edited("an extra member", e, r'^INVALID: seq 89: unknown member "note"$')

    e = list(lines)
    e[-1] = lines[-1][:40]
    edited("a truncated bundle", e, r"^INVALID: line 301: no final newline",
           r"^INVALID: seq 299: missing$", final_newline=False)

    e = list(lines)
    e[0] = lines[0].replace(b'"origin":"audit.example.com/log/0"',
                            b'"origin":"audit.example.com/log/9"')
    edited("a header of another origin", e,
           r'^INVALID: checkpoint: origin "audit.example.com/log/0" is not the bundle\'s origin')

    e = list(lines)
    e[0] = flip_in(lines[0], "\u2014 audit.example.com/log/0 ".encode(), skip=10)
    edited("a flipped byte in the checkpoint's signature", e, r"^INVALID: checkpoint: bad "
           r"signature")

    e = list(lines)
    e[0] = flip_in(lines[0], b'"checkpoint":"audit.example.com/log/0\\n300\\n', skip=4)
    edited("a flipped byte in the signed root", e, r"^INVALID: checkpoint: bad signature")

    edited("the wrong key", lines, r"^INVALID: checkpoint: unknown key: not signed by the key "
           r"audit.example.com/log/0\+", vk=os.path.join(full, "other.vkey"))

    edited("a pin from another log", plines, r"^INVALID: pin: a checkpoint of another log "
           r'\(origin "audit.example.com/log/1"', vk=pvkey,
           extra=["--pin", os.path.join(pinned, "other-pin.cp")])

    edited("a pin larger than the checkpoint (rolled back or truncated)", plines,
           r"^INVALID: pin: size 1005 is larger than the checkpoint's size 1000: the log was "
           r"rolled back or truncated", vk=pvkey,
           extra=["--pin", os.path.join(pinned, "ahead-pin.cp")])

    e = list(plines)
    e[0] = flip_in(plines[0], b'"consistency":["', skip=5)
    edited("a bad consistency proof", e, r"^INVALID: pin: bad consistency proof", vk=pvkey,
           extra=["--pin", ppin])

    e = list(plines)
    e[0] = re.sub(rb',"pin":\{[^}]*\}', b"", plines[0])
    edited("a pin without a proof in the bundle", e,
           r"^INVALID: pin: the bundle has no consistency proof \(export it with pin=333\)",
           vk=pvkey, extra=["--pin", ppin])

    e = list(plines)
    e[0] = plines[0].replace(b'"right":[', b'"right":["' + b"A" * 43 + b'=",', 1)
    edited("an extra border hash", e, r"^INVALID: checkpoint: the right border has \d+ hashes; "
           r"\[901, 1000\) needs \d+$", vk=pvkey)

    edited("an empty bundle", [], r"^INVALID: line 1: the bundle is empty", final_newline=False)

    out = edited("--json on a tampered bundle", lines[:20] + lines[21:], extra=["--json"])
    try:
        j = json.loads(out)
        checks += 1
        assert j["valid"] is False and {"seq": 19, "reason": "missing"} in j["failures"]
        print("ok   --json failures")
    except Exception as ex:  # noqa: BLE001
        failures += 1
        print(f"FAIL --json failures: {ex!r}: {out}")

    # ---- a bundle that spans logs: one section per log ----
    span = os.path.join(tmp, "span")
    slines = gen(span, "--size", 120, "--logs", 3, "--pin", 50, "--erase", 5, "--pin-ahead", 3)
    sb, svkey = os.path.join(span, "bundle.ndjson"), os.path.join(span, "vkey")
    spins = [os.path.join(span, n) for n in ("pin.cp", "pin-1.cp", "pin-2.cp")]
    heads = [i for i, l in enumerate(slines) if l.startswith(b'{"checkpoint":')]
    assert heads == [0, 121, 242], heads
    assert all(json.loads(slines[i])["logs"] == [0, 1, 2] for i in heads)
    expect("spanning, valid, a pin per log", [sb, "--vkey", svkey] +
           [a for p in spins for a in ("--pin", p)], 0,
           r"^Log 0 \(audit\.example\.com/log/0\)$", r"^Log 2 \(audit\.example\.com/log/2\)$",
           r"^120/120 events valid$", r"^3 logs: all valid$", absent=[r"INVALID"])
    expect("spanning, valid, one log pinned", [sb, "--vkey", svkey, "--pin", spins[1]], 0,
           r"^Pinned checkpoint of size 50: consistent$", r"^3 logs: all valid$")
    junk = write(os.path.join(tmp, "junk.cp"), [b"not a checkpoint"])
    expect("spanning, a pin that is no checkpoint: the summary says so", [sb, "--vkey", svkey,
           "--pin", junk], 1, r"^INVALID: pin: .*junk\.cp: not a checkpoint$",
           r"^3 logs: 3 valid, 0 INVALID; 1 pin of none of them: INVALID$")
    out = expect("spanning, --json", [sb, "--vkey", svkey, "--pin", spins[2], "--json"], 0)
    try:
        j = json.loads(out)
        checks += 1
        assert j["valid"] is True and j["logs"] == [0, 1, 2] and j["failures"] == []
        assert [x["log"] for x in j["sections"]] == [0, 1, 2]
        assert all(x["valid"] and x["events"] == {"valid": 120, "total": 120}
                   for x in j["sections"])
        assert "pin" in j["sections"][2] and "pin" not in j["sections"][0]
        print("ok   spanning --json object")
    except Exception as ex:  # noqa: BLE001
        failures += 1
        print(f"FAIL spanning --json object: {ex!r}: {out}")

    def span_edit(name, new_lines, *patterns, extra=(), absent=()):
        path = write(os.path.join(tmp, name.replace(" ", "_").replace(":", "") + ".ndjson"),
                     new_lines)
        return expect(name, [path, "--vkey", svkey, *extra], 1, *patterns, absent=absent)

    e = list(slines)
    e[242 + 8] = flip_in(slines[242 + 8], b'"actorId":"')
    span_edit("spanning: a flipped byte in log 2", e,
              r"^INVALID: log 2: seq 7: the event's members \(or its commitments\) do not match "
              r"its leaf hash$", r"^3 logs: 2 valid, 1 INVALID$", absent=[r"INVALID: log [01]"])
    k = next(i for i in range(122, 242) if b'"value":"' in slines[i])
    e = list(slines)
    e[k] = flip_in(slines[k], b'"value":"')
    span_edit("spanning: a flipped value in log 1", e,
              rf"^INVALID: log 1: seq {seq_of(slines[k])}: the value of changes\.\w+\."
              r"(next|prev) does not match its commitment$")
    span_edit("spanning: log 1's section removed", slines[:121] + slines[242:],
              r"^INVALID: log 1: section: missing: the bundle has no section of this log$",
              r"^3 logs: 2 valid, 1 INVALID$")
    span_edit("spanning: the last section removed", slines[:242],
              r"^INVALID: log 2: section: missing")
    span_edit("spanning: a section repeated", slines + slines[121:242],
              r"^INVALID: line 364: a second section of log 1")
    span_edit("spanning: sections out of order", slines[:1] + slines[1:121] + slines[242:] +
              slines[121:242], r"^INVALID: log 1: section: missing",
              r"^INVALID: line 243: a second section of log 1")
    e = list(slines)
    e[121] = slines[121].replace(b'"logs":[0,1,2]', b'"logs":[0,1]', 1)
    span_edit("spanning: a header listing other logs", e,
              r"^INVALID: line 122: the header of log 1 lists other logs")
    e = list(slines)
    e[121] = slines[121].replace(b'"format":"', b'"format":"x', 1)
    span_edit("spanning: an unreadable header", e,
              r"^INVALID: line 122: not a bundle header: ", r"^INVALID: log 1: section: missing")
    e = list(slines)
    e[130] = slines[250]
    span_edit("spanning: log 2's line in log 1's section", e,
              r"^INVALID: log 1: seq \d+: log 2 is not the bundle's log 1$")
    span_edit("spanning: a pin of log 1 rolled back", slines,
              r"^INVALID: log 1: pin: size 123 is larger than the checkpoint's size 120",
              extra=["--pin", os.path.join(span, "ahead-pin-1.cp")])
    two = [l.replace(b'"logs":[0,1,2]', b'"logs":[0,1]', 1) for l in slines[:242]]
    expect("spanning: two logs of the three", [write(os.path.join(tmp, "two.ndjson"), two),
                                               "--vkey", svkey], 0, r"^2 logs: all valid$")
    span_edit("spanning: a pin of no log of the bundle", two,
              r"^INVALID: pin: .*pin-2\.cp: its origin is none of the bundle's logs'",
              extra=["--pin", spins[2]])
    expect("spanning: two pins of one log", [sb, "--vkey", svkey, "--pin", spins[1], "--pin",
                                              spins[1]], 2, r"two pins of the log")
    # A bundle of one log with a second header: not a spanning bundle.
    span_edit("one log: a second header", lines + [lines[0]],
              r"^INVALID: line 302: a second header: a bundle of one log has one$")
    # An old single-log bundle: unchanged, no "logs" member, no section lines.
    checks += 1
    if b'"logs"' in lines[0]:
        failures += 1
        print("FAIL a bundle of one log has a logs member")

    # ---- usage and I/O errors: exit 2 ----
    expect("no arguments", [], 2, r"usage: auditlog-verify")
    expect("no --vkey", [b], 2, r"usage:")
    expect("an unknown option", [b, "--vkey", vkey, "--frobnicate"], 2, r"unexpected argument")
    expect("a missing bundle", [os.path.join(tmp, "nope"), "--vkey", vkey], 2,
           r"No such file")
    expect("a missing key file", [b, "--vkey", os.path.join(tmp, "nope")], 2, r"No such file")
    expect("a key file that is no key", [b, "--vkey", os.path.join(full, "other-pin.cp")], 2, r"not a verifier key")
    expect("a missing pin file", [b, "--vkey", vkey, "--pin", os.path.join(tmp, "nope")], 2,
           r"No such file")
    # A line that never ends (an endless pipe): given up on past the
    # longest line, not read forever.
    checks += 1
    try:
        p = subprocess.run([VERIFY, "/dev/zero", "--vkey", vkey], capture_output=True,
                           text=True, timeout=60)
        ok = p.returncode == 1 and "line too long" in p.stdout
    except subprocess.TimeoutExpired:
        ok = False
    if not ok:
        failures += 1
    print(f"{'ok  ' if ok else 'FAIL'} an endless first line (/dev/zero)")

print(f"test_verify: {checks} checks, {failures} failed")
sys.exit(1 if failures or not checks else 0)
