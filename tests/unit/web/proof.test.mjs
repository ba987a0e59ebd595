// web/js/lib/proof.js: docs/ledger.md's worked example byte for byte; a real
// bundle made by the C modules (fixtures/, written by
// `build/bin/bundlegen DIR --size 32 --erase 5 --seed 7`, which
// auditlog-verify accepts) line by line; and checkEvent on a log made here
// (log.mjs), untouched and with each tampering of README "What tampering is
// detected", naming the step that fails.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { FormatError, b64decode, b64encode, hex } from '../../../web/js/lib/bytes.js';
import { canonicalize } from '../../../web/js/lib/jcs.js';
import { parseCheckpoint, verifyNote } from '../../../web/js/lib/note.js';
import { checkEvent, leafFromLine, parseTlogProof } from '../../../web/js/lib/proof.js';
import { commitmentOf, makeLog, proofText, resourceFromLine } from './log.mjs';
import { makeSigner } from './sign.mjs';
import { Tree, fromHex, toHex } from './tree.mjs';

const fixture = (name) => readFileSync(new URL(`fixtures/${name}`, import.meta.url), 'utf8');
const text = (bytes) => new TextDecoder().decode(bytes);

// docs/ledger.md "Worked example", as an event line of a bundle.
const WORKED = {
    action: 'changed', actorId: '1', actorType: 'users',
    changes: { email: {
        next: { commitment: 'WnxqbjHIE_Xn0JiNw9Hi-ef9JJUCRRRZULCLtJUFSZw', salt: 'EBESExQVFhcYGRobHB0eHw', value: 'b@example.com' },
        prev: { commitment: 'JUFPNiH_RZvpU74d5pMQRS5wIi4jRAVsSZmYSG3Df_Y', salt: 'AAECAwQFBgcICQoLDA0ODw', value: 'a@example.com' },
    } },
    id: '01890a5d-ac96-774b-bcce-b302099a8057', leaf: b64encode(fromHex('d354f5d37aaf065d0e1df475671434a4f0dfe82a1009b70e3bf01f16c42a2aac')),
    log: 0, seq: 7, targetId: '42', targetType: 'users', targetVersion: 3, timestamp: 1688000000000,
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
};
const WORKED_LEAF = '{"action":"changed","actorId":"1","actorType":"users","changes":{"email":{"next":"WnxqbjHIE_Xn0JiNw9Hi-ef9JJUCRRRZULCLtJUFSZw",' +
    '"prev":"JUFPNiH_RZvpU74d5pMQRS5wIi4jRAVsSZmYSG3Df_Y"}},"id":"01890a5d-ac96-774b-bcce-b302099a8057","log":0,"seq":7,' +
    '"targetId":"42","targetType":"users","targetVersion":3,"timestamp":1688000000000,"traceId":"4bf92f3577b34da6a3ce929d0e0e4736"}';

test('ledger.md worked example: commitments, the 368-byte leaf, its hash', async () => {
    assert.equal(commitmentOf(fromHex('000102030405060708090a0b0c0d0e0f'), 'a@example.com'), 'JUFPNiH_RZvpU74d5pMQRS5wIi4jRAVsSZmYSG3Df_Y');
    assert.equal(commitmentOf(fromHex('101112131415161718191a1b1c1d1e1f'), 'b@example.com'), 'WnxqbjHIE_Xn0JiNw9Hi-ef9JJUCRRRZULCLtJUFSZw');
    const r = await leafFromLine(canonicalize(WORKED) + '\n');
    assert.equal(text(r.leafBytes), WORKED_LEAF);
    assert.equal(r.leafBytes.length, 368);
    assert.equal(hex(r.leafHash), 'd354f5d37aaf065d0e1df475671434a4f0dfe82a1009b70e3bf01f16c42a2aac');
    assert.equal(hex(r.storedLeaf), hex(r.leafHash));
    assert.equal(r.canonical, true);
    assert.deepEqual(r.checks.map((c) => [c.field, c.side, c.erased, c.ok]), [['email', 'prev', false, true], ['email', 'next', false, true]]);
    // Without traceId (an older producer's event): 323 bytes; without
    // targetVersion either: 305 bytes, the other hashes of ledger.md.
    const { traceId, ...untraced } = WORKED;
    const u = await leafFromLine(canonicalize({ ...untraced, leaf: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' }));
    assert.equal(u.leafBytes.length, 323);
    assert.equal(hex(u.leafHash), 'c5a14ed7222f2640d33149e49eecc600d19b16aa343bf4e476cb4f0a6fae1ba7');
    const { targetVersion, ...older } = untraced;
    const o = await leafFromLine(canonicalize({ ...older, leaf: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' }));
    assert.equal(o.leafBytes.length, 305);
    assert.equal(hex(o.leafHash), 'fbb4214f83704174fa0179056a2faa5cf1a5846e30fbeed17272fd52726c8bf7');
    // Erasing a side keeps the leaf: the same hash from the commitment alone.
    const erased = structuredClone(WORKED);
    erased.changes.email.prev = { erased: 'JUFPNiH_RZvpU74d5pMQRS5wIi4jRAVsSZmYSG3Df_Y' };
    const e = await leafFromLine(canonicalize(erased));
    assert.equal(hex(e.leafHash), hex(r.leafHash));
    assert.deepEqual(e.checks.map((c) => [c.side, c.erased, c.ok]), [['prev', true, true], ['next', false, true]]);
    // A value changed: named in checks, the leaf unchanged (the commitment is).
    const changed = structuredClone(WORKED);
    changed.changes.email.next.value = 'c@example.com';
    const c = await leafFromLine(canonicalize(changed));
    assert.deepEqual(c.checks.map((x) => x.ok), [true, false]);
    assert.equal(hex(c.leafHash), hex(r.leafHash));
    // A value with no canonical form (a lone surrogate; nesting deeper than
    // 2048) cannot match any commitment, and the line is not canonical.
    for (const value of ['"\\ud800"', '['.repeat(2049) + ']'.repeat(2049)]) {
        const line = canonicalize(WORKED).replace('"value":"b@example.com"', `"value":${value}`);
        const n = await leafFromLine(line);
        assert.deepEqual(n.checks.map((x) => [x.ok, x.reason]), [[true, undefined], [false, 'it has no canonical form']]);
        assert.equal(n.canonical, false);
    }
});

test('leafFromLine refuses lines that break the format, naming the member', async () => {
    const cases = [
        ['not json', /not JSON/],
        ['[1]', /not a JSON object/],
        [canonicalize({ ...WORKED, extra: 1 }), /unknown member "extra"/],
        [canonicalize({ ...WORKED, actorId: 1 }), /"actorId"/],
        [canonicalize({ ...WORKED, actorId: 'a\u0000b' }), /"actorId"/],
        [canonicalize({ ...WORKED, seq: -1 }), /"seq"/],
        [canonicalize({ ...WORKED, seq: 2 ** 53 + 2 }), /"seq"/],
        [canonicalize({ ...WORKED, seq: 1.5 }), /"seq"/],
        [canonicalize({ ...WORKED, log: 2 ** 32 }), /"log"/],
        [canonicalize({ ...WORKED, targetVersion: 0 }), /"targetVersion"/],
        [canonicalize({ ...WORKED, traceId: '4BF92F3577B34DA6A3CE929D0E0E4736' }), /"traceId"/],
        [canonicalize({ ...WORKED, traceId: '0'.repeat(32) }), /"traceId"/],
        [canonicalize({ ...WORKED, traceId: null }), /"traceId"/],
        [canonicalize({ ...WORKED, timestamp: '1' }), /"timestamp"/],
        [canonicalize({ ...WORKED, leaf: 'AAAA' }), /"leaf"/],
        [canonicalize({ ...WORKED, changes: {} }), /"changes"/],
        [canonicalize({ ...WORKED, changes: { email: { next: WORKED.changes.email.next } } }), /changes.email/],
        [canonicalize({ ...WORKED, changes: { email: { ...WORKED.changes.email, both: 1 } } }), /unknown member "both"/],
        [canonicalize({ ...WORKED, changes: { email: { ...WORKED.changes.email, prev: { erased: 'short' } } } }), /commitment/],
        [canonicalize({ ...WORKED, changes: { email: { ...WORKED.changes.email, prev: { ...WORKED.changes.email.prev, salt: 'AAEC' } } } }), /salt/],
        [canonicalize({ ...WORKED, changes: { email: { ...WORKED.changes.email, prev: { erased: WORKED.changes.email.prev.commitment, value: 1 } } } }), /unknown member/],
        [JSON.stringify({ ...WORKED, __proto__: null }).replace('{', '{"__proto__":1,'), /unknown member "__proto__"/],
        ['['.repeat(100000), /not JSON/],
    ];
    for (const [line, why] of cases)
        await assert.rejects(leafFromLine(line), (e) => e instanceof FormatError && why.test(e.message), line.slice(0, 120));
    await assert.rejects(leafFromLine(undefined), FormatError);
    // JSON of the right shape but not its canonical form: read, and said.
    for (const line of [JSON.stringify(WORKED, null, 1).replace(/\n/g, ''), canonicalize(WORKED).replace('"seq":7', '"seq":7.0'),
                        canonicalize(WORKED).replace('"log":0', '"log":0,"log":0')])
        assert.equal((await leafFromLine(line)).canonical, false, line);
    // A field named __proto__ is a field like any other.
    const proto = JSON.parse(canonicalize(WORKED).replace('"email"', '"__proto__"'));
    const p = await leafFromLine(canonicalize(proto));
    assert.match(text(p.leafBytes), /"changes":\{"__proto__":\{"next"/);
    assert.equal({}.next, undefined);
});

test('the C bundle: every line recomputes its leaf, the leaves the signed root', async () => {
    const [header, ...lines] = fixture('bundle.ndjson').trimEnd().split('\n');
    const head = JSON.parse(header);
    const cp = parseCheckpoint(head.checkpoint);
    assert.equal(cp.size, lines.length);
    assert.equal((await verifyNote(head.checkpoint, fixture('vkey'))).ok, true);
    assert.equal((await verifyNote(head.checkpoint, fixture('other.vkey'))).ok, false, 'another key of the same name');
    const leaves = [];
    let erased = 0, open = 0;
    for (const line of lines) {
        const r = await leafFromLine(line);
        assert.equal(hex(r.leafHash), hex(r.storedLeaf), line);
        assert.equal(r.canonical, true);
        assert.ok(r.checks.every((c) => c.ok), line);
        erased += r.checks.filter((c) => c.erased).length;
        open += r.checks.filter((c) => !c.erased).length;
        leaves.push(r.leafHash);
    }
    assert.ok(erased > 0 && open > 10, `${erased} erased and ${open} open values: the fixture exercises both`);
    assert.equal(toHex(new Tree(leaves).mth()), hex(cp.root));
    // And every event of it checks all the way, with a proof made here.
    const tree = new Tree(leaves);
    for (const [i, line] of lines.entries()) {
        const record = JSON.parse(line);
        const r = await checkEvent({ event: resourceFromLine(record), leafLine: line, proofText: proofText(i, tree.path(i), head.checkpoint),
                                     vkeyLine: fixture('vkey'), pinned: true });
        assert.equal(r.ok, true, JSON.stringify(r.steps));
    }
});

test('parseTlogProof: the format of c2sp.org/tlog-proof@v1', async () => {
    const log = await makeLog({ n: 5 });
    const p = parseTlogProof(log.proof(2));
    assert.equal(p.index, 2);
    assert.equal(p.extra, undefined);
    assert.deepEqual(p.hashes.map(toHex), log.tree.path(2).map(toHex));
    assert.equal(p.checkpointText, log.checkpoint);
    const withExtra = log.proof(2).replace('\nindex', '\nextra SGVsbG8=\nindex');
    assert.equal(text(parseTlogProof(withExtra).extra), 'Hello');
    assert.deepEqual(parseTlogProof(proofText(0, [], log.checkpoint)).hashes, []);
    const h = b64encode(new Uint8Array(32));
    const bad = [
        '', 'c2sp.org/tlog-proof@v2\nindex 1\n\n' + log.checkpoint, 'c2sp.org/tlog-proof@v1\n\n' + log.checkpoint,
        'c2sp.org/tlog-proof@v1\nindex 01\n\n' + log.checkpoint, 'c2sp.org/tlog-proof@v1\nindex -1\n\n' + log.checkpoint,
        'c2sp.org/tlog-proof@v1\nindex 9007199254740992\n\n' + log.checkpoint,
        'c2sp.org/tlog-proof@v1\nindex 1\n' + h + '\n', 'c2sp.org/tlog-proof@v1\nindex 1\n' + h + '\n\n',
        'c2sp.org/tlog-proof@v1\nindex 1\n' + h.slice(0, -1) + '\n\n' + log.checkpoint,
        'c2sp.org/tlog-proof@v1\nindex 1\n' + h + 'AAAA\n\n' + log.checkpoint,
        'c2sp.org/tlog-proof@v1\nextra !!\nindex 1\n\n' + log.checkpoint,
        'c2sp.org/tlog-proof@v1\r\nindex 1\n\n' + log.checkpoint,
        `c2sp.org/tlog-proof@v1\nindex 1\n${(h + '\n').repeat(65)}\n${log.checkpoint}`,
    ];
    for (const t of bad)
        assert.throws(() => parseTlogProof(t), FormatError, JSON.stringify(t.slice(0, 80)));
    assert.throws(() => parseTlogProof(null), FormatError);
});

const ids = (r) => r.steps.filter((s) => s.ok !== true).map((s) => s.id);

test('checkEvent: every event of an untouched log checks, step by step', async () => {
    const log = await makeLog({ n: 12 });
    for (let i = 0; i < 12; i++) {
        const r = await checkEvent({ event: log.resources[i], leafLine: log.lines[i], proofText: log.proof(i), vkeyLine: log.vkey, pinned: true });
        assert.equal(r.ok, true, JSON.stringify(r.steps));
        const order = r.steps.map((s) => s.id).filter((id, k, all) => all[k - 1] !== id);
        assert.deepEqual(order, log.records[i].changes ? ['members', 'commitment', 'leaf', 'inclusion', 'signature', 'origin']
            : ['members', 'leaf', 'inclusion', 'signature', 'origin']);
    }
    const r = await checkEvent({ event: log.resources[2], leafLine: log.lines[2], proofText: log.proof(2), vkeyLine: log.vkey, pinned: true });
    const name = log.vkey.split('+').slice(0, 2).join('+');
    assert.deepEqual(r.steps.map((s) => s.text), [
        "The event shown matches the log's copy of it, member for member.",
        'The value of email (before) matches its commitment.',
        'The value of email (after) matches its commitment.',
        'The value of name (before) was erased; the log keeps only its commitment.',
        'The value of name (after) was erased; the log keeps only its commitment.',
        "The event's members and commitments hash to the leaf the log stored.",
        'The event is at position 2 of the tree of 12 events whose root the checkpoint signs.',
        `The checkpoint is signed by ${name}.`,
        'The checkpoint is for log 0 (its origin is auditlog.localhost/0).',
    ]);
    const unpinned = await checkEvent({ event: log.resources[2], leafLine: log.lines[2], proofText: log.proof(2), vkeyLine: log.vkey });
    assert.match(unpinned.steps.find((s) => s.id === 'signature').text, /came from this server/);
});

test('checkEvent: each tampering fails, at the step that should', async () => {
    const log = await makeLog({ n: 12 });
    const i = 5, j = 6; // i: a change of email and name, both open, a version
    const base = { event: log.resources[i], leafLine: log.lines[i], proofText: log.proof(i), vkeyLine: log.vkey, pinned: true };
    const edit = (f) => {
        const line = structuredClone(log.records[i]);
        f(line);
        return canonicalize(line);
    };
    const withEvent = (f) => {
        const event = structuredClone(log.resources[i]);
        f(event.attributes, event);
        return event;
    };
    const root = log.body.split('\n')[2];
    const other = await makeSigner('auditlog.localhost');
    const forged = await other.sign(log.body);
    const otherLog = await makeLog({ n: 12, log: 1, signer: log.signer });
    // A forged tree that holds the event's leaf at position j too.
    const twice = new Tree(log.tree.leaves.map((h, k) => (k === j ? log.tree.leaves[i] : h)));
    const twiceCp = await log.signer.sign(`auditlog.localhost/0\n12\n${b64encode(twice.mth())}\n`);
    const cases = [
        // A stored value changed (the page and the export show it): its commitment.
        ['a value byte', { leafLine: edit((l) => { l.changes.email.next.value = 'b4@example.con'; }),
                           event: withEvent((a) => { a.changes.email.next = 'b4@example.con'; }) }, ['commitment']],
        // The export alone changed: it no longer says what the page shows.
        ['a value in the line only', { leafLine: edit((l) => { l.changes.email.next.value = 'x'; }) }, ['members', 'commitment']],
        ['a value shown, not the line\'s', { event: withEvent((a) => { a.changes.name.prev = 'other'; }) }, ['members']],
        // An actor id changed where it is stored: the leaf and the root.
        ['an actor id', { leafLine: edit((l) => { l.actorId = '666'; }), event: withEvent((a) => { a.actorId = '666'; }) }, ['leaf', 'inclusion']],
        ['an actor id, leaf recomputed', { leafLine: await relabel(edit((l) => { l.actorId = '666'; })),
                                           event: withEvent((a) => { a.actorId = '666'; }) }, ['inclusion']],
        ['an actor id shown only', { event: withEvent((a) => { a.actorId = '666'; }) }, ['members']],
        // Two events' positions swapped: the leaf holds its position.
        ['a swapped seq', { leafLine: edit((l) => { l.seq = j; }), event: withEvent((a) => { a.seq = j; }), proofText: log.proof(j) },
         ['leaf', 'inclusion']],
        ['a seq shown wrong', { event: withEvent((a) => { a.seq = j; }) }, ['members']],
        ['an id shown wrong', { event: withEvent((a, e) => { e.id = 'another'; }) }, ['members']],
        ['a version shown', { event: withEvent((a) => { a.targetVersion = 9; }) }, ['members']],
        ['no version shown', { event: withEvent((a) => { a.targetVersion = null; }) }, ['members']],
        ['an eventName shown', { event: withEvent((a) => { a.eventName = 'x'; }) }, ['members']],
        ['another traceId shown', { event: withEvent((a) => { a.traceId = '0af7651916cd43dd8448eb211c80319c'; }) }, ['members']],
        ['no traceId shown', { event: withEvent((a) => { a.traceId = null; }) }, ['members']],
        // The trace changed where it is stored: the leaf and the root.
        ['a traceId', { leafLine: edit((l) => { l.traceId = '0af7651916cd43dd8448eb211c80319c'; }),
                        event: withEvent((a) => { a.traceId = '0af7651916cd43dd8448eb211c80319c'; }) }, ['leaf', 'inclusion']],
        ['a change not shown', { event: withEvent((a) => { delete a.changes.name; }) }, ['members']],
        ['a change shown erased', { event: withEvent((a) => { a.changes.name = { erased: true }; }) }, ['members']],
        // The checkpoint replaced by one signed with another key of the same name.
        ['a checkpoint signed by another key', { proofText: log.proof(i, forged) }, ['signature']],
        ['the checkpoint checked with another key', { vkeyLine: other.vkey }, ['signature']],
        ['a checkpoint whose root was changed', { proofText: log.proof(i, log.checkpoint.replace(root, (root[0] === 'A' ? 'B' : 'A') + root.slice(1))) },
         ['inclusion', 'signature']],
        ['a proof for another index', { proofText: log.proof(j) }, ['inclusion']],
        ['its leaf at another position too', { proofText: proofText(j, twice.path(j), twiceCp) }, ['inclusion']],
        ['a proof with another index line', { proofText: log.proof(i, log.checkpoint, j) }, ['inclusion']],
        ['a proof with a hash flipped', { proofText: log.proof(i).replace(/(\nindex \d+\n)(.)/, (m, head, c) => head + (c === 'A' ? 'B' : 'A')) }, ['inclusion']],
        ['a proof of another log', { proofText: otherLog.proof(i) }, ['inclusion', 'origin']],
        ['a malformed proof', { proofText: 'c2sp.org/tlog-proof@v1\nindex x\n\n' }, ['inclusion', 'signature', 'origin']],
        ['a malformed key', { vkeyLine: 'nonsense' }, ['signature']],
        ['no line', { leafLine: '' }, ['members', 'leaf', 'inclusion']],
        ['a line not in canonical form', { leafLine: log.lines[i].replace('"log":0', '"log":0.0') }, ['leaf']],
        ['a line with a member twice', { leafLine: log.lines[i].replace('"actorId":"', '"actorId":"666","actorId":"') }, ['leaf']],
        ['no event', { event: null }, ['members']],
    ];
    for (const [what, change, failing] of cases) {
        const r = await checkEvent({ ...base, ...change });
        assert.equal(r.ok, false, what);
        assert.deepEqual([...new Set(ids(r))], failing, `${what}: ${JSON.stringify(r.steps, null, 1)}`);
        assert.ok(r.steps.every((s) => typeof s.text === 'string' && s.text.length < 300), what);
    }
});

// The line with "leaf" set to what its members hash to (a forger's edit).
async function relabel(line) {
    const r = await leafFromLine(line);
    return canonicalize({ ...JSON.parse(line), leaf: b64encode(r.leafHash) });
}

test('checkEvent: no Ed25519, or no Web Crypto at all, gives null, not false', async () => {
    const log = await makeLog({ n: 3 });
    const args = { event: log.resources[1], leafLine: log.lines[1], proofText: log.proof(1), vkeyLine: log.vkey, pinned: true };
    const subtle = globalThis.crypto.subtle;
    const importKey = subtle.importKey;
    subtle.importKey = async (...a) => {
        if (a[2]?.name === 'Ed25519')
            throw new DOMException('Unrecognized algorithm name', 'NotSupportedError');
        return importKey.apply(subtle, a);
    };
    try {
        const r = await checkEvent(args);
        assert.equal(r.ok, null);
        assert.deepEqual(ids(r), ['signature']);
        assert.match(r.steps.find((s) => s.id === 'signature').text, /unsupported/);
    } finally {
        subtle.importKey = importKey;
    }
    const crypto = Object.getOwnPropertyDescriptor(globalThis, 'crypto');
    Object.defineProperty(globalThis, 'crypto', { value: undefined, configurable: true });
    try {
        const r = await checkEvent(args);
        assert.equal(r.ok, null);
        assert.deepEqual(ids(r), ['crypto']);
    } finally {
        Object.defineProperty(globalThis, 'crypto', crypto);
    }
    assert.equal((await checkEvent(args)).ok, true);
});

test('checkEvent never throws on what a server could send', async () => {
    const junk = [undefined, null, 1, '', 'x', '{}', '[]', {}, [], '\u2014', 'c2sp.org/tlog-proof@v1\n', '\n\n\n'];
    for (const event of [undefined, null, 'x', { attributes: 1 }, { attributes: { changes: 'x' } }])
        for (const leafLine of junk)
            for (const proofText of junk.slice(0, 6)) {
                const r = await checkEvent({ event, leafLine, proofText, vkeyLine: leafLine });
                assert.equal(r.ok, false);
                assert.ok(!r.steps.some((s) => s.id === 'error'), JSON.stringify(r.steps));
            }
    assert.equal((await checkEvent()).ok, false);
    assert.equal(b64decode(b64encode(new Uint8Array([1, 2]))).length, 2);
});
