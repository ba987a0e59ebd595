// A log of record made in the tests, the way the auditor makes one
// (docs/ledger.md): events with salted commitments, their leaves in an RFC
// 9162 tree (tree.mjs), a checkpoint signed with a key of our own
// (sign.mjs), and for each event what the servers would send the browser:
// its data-events resource, its export bundle line and its inclusion proof.

import { b64encode, b64urlEncode } from '../../../web/js/lib/bytes.js';
import { canonicalize } from '../../../web/js/lib/jcs.js';
import { makeSigner } from './sign.mjs';
import { Tree, leafHashRef, sha256 } from './tree.mjs';

const utf8 = (s) => new TextEncoder().encode(s);

// The line's sides as the resource shows them: values, {"erased": true} for
// a field whose sides are both erased (and for one erased side).
export function resourceFromLine(line) {
    const attributes = {
        action: line.action, timestamp: line.timestamp, actorType: line.actorType, actorId: line.actorId,
        targetType: line.targetType, targetId: line.targetId, eventName: line.eventName ?? null,
        log: line.log, seq: line.seq, targetVersion: line.targetVersion ?? null, traceId: line.traceId ?? null,
    };
    if (line.changes) {
        attributes.changes = {};
        for (const [field, f] of Object.entries(line.changes)) {
            const side = (s) => ('erased' in s ? { erased: true } : s.value);
            attributes.changes[field] = 'erased' in f.prev && 'erased' in f.next ? { erased: true }
                : { prev: side(f.prev), next: side(f.next) };
        }
    }
    return { type: 'data-events', id: line.id, attributes };
}

// The i-th event of a small log: views and changes, values of every JSON
// type, one erased field, names outside ASCII.
function makeEvent(i, log) {
    const e = {
        action: i % 3 ? 'changed' : 'viewed', actorId: String(100 + (i % 7)), actorType: 'users',
        id: `01890a5d-ac96-774b-bcce-${String(i).padStart(12, '0')}`, log, seq: i,
        targetId: String(40 + i), targetType: i % 2 ? 'users' : 'notes', timestamp: 1688000000000 + i * 1000,
    };
    if (i % 4)
        e.targetVersion = 1 + i;
    if (i % 5 === 1)
        e.eventName = 'profile.updated';
    if (i % 4 !== 3) // the request's trace; an older producer's event has none
        e.traceId = `4bf92f3577b34da6a3ce929d0e0e${String(4700 + i)}`;
    if (e.action === 'changed') {
        const values = [null, true, 42, -0.5, 1e30, 'Zoë "quoted" \\ \u2028 😀', { k: [1, 'x'], a: null }, []];
        e.changes = {
            email: { prev: `a${i}@example.com`, next: `b${i}@example.com` },
            name: { prev: values[i % 8], next: values[(i + 3) % 8] },
        };
        if (i % 6 === 2)
            e.erased = ['name'];
    }
    return e;
}

// A salt that depends on the position and the side only.
const saltOf = (seq, field, side) => sha256(utf8(`${seq}/${field}/${side}`)).slice(0, 16);
export const commitmentOf = (salt, value) => b64urlEncode(sha256(salt, utf8(canonicalize(value))));

// The bundle line of e (an object) and its leaf hash.
function lineOf(e) {
    const { changes, erased = [], ...members } = e;
    const leaf = { ...members };
    const line = { ...members };
    if (changes) {
        leaf.changes = {};
        line.changes = {};
        for (const [field, sides] of Object.entries(changes)) {
            leaf.changes[field] = {};
            line.changes[field] = {};
            for (const side of ['prev', 'next']) {
                const salt = saltOf(e.seq, field, side);
                const commitment = commitmentOf(salt, sides[side]);
                leaf.changes[field][side] = commitment;
                line.changes[field][side] = erased.includes(field) ? { erased: commitment }
                    : { commitment, salt: b64urlEncode(salt), value: sides[side] };
            }
        }
    }
    const hash = leafHashRef(utf8(canonicalize(leaf)));
    line.leaf = b64encode(hash);
    return { line, hash };
}

export function proofText(index, path, checkpoint) {
    return ['c2sp.org/tlog-proof@v1', `index ${index}`, ...path.map((h) => b64encode(h)), '', checkpoint].join('\n');
}

// A log of n events signed as name (origin name/log).
export async function makeLog({ n = 12, name = 'auditlog.localhost', log = 0, signer } = {}) {
    signer ??= await makeSigner(name);
    const made = Array.from({ length: n }, (_, i) => lineOf(makeEvent(i, log)));
    const tree = new Tree(made.map((m) => m.hash));
    const body = `${name}/${log}\n${n}\n${b64encode(tree.mth())}\n`;
    const checkpoint = await signer.sign(body);
    return {
        signer, vkey: signer.vkey, tree, checkpoint, body,
        lines: made.map((m) => canonicalize(m.line)),
        records: made.map((m) => m.line),
        resources: made.map((m) => resourceFromLine(m.line)),
        proof: (i, cp = checkpoint, index = i) => proofText(index, tree.path(i), cp),
    };
}

