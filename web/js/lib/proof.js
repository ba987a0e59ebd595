// proof: checks one event of the audit log against the log of record, in
// the browser, with nothing but what the servers send: the event's line of
// an export bundle (its leaf with the values opened), its inclusion proof
// and the log's verifier key. docs/ledger.md has every format; the C
// references are common/bundle.c (bundle_event_check) and
// tools/auditlog-verify.c.
//
//   parseTlogProof(text) -> {index, extra?, hashes, checkpointText}
//       An inclusion proof, c2sp.org/tlog-proof@v1: the line
//       "c2sp.org/tlog-proof@v1", an optional "extra <base64>" (extra is
//       then its bytes), "index <n>", the RFC 9162 §2.1.3 path one base64
//       hash a line (hashes: 32-byte Uint8Arrays), an empty line, and the
//       signed checkpoint (checkpointText, verbatim, for note.js).
//       Throws FormatError.
//   leafFromLine(line) -> Promise<{leafBytes, leafHash, storedLeaf, checks,
//                                  canonical, record}>
//       An event line of a bundle (docs/ledger.md "An event line"; one final
//       newline allowed). Checks its members and their types as
//       bundle_event_check does (exactly the leaf's members and "leaf", each
//       side {"commitment","salt","value"} or {"erased"}); computes each
//       open side's commitment, base64url(SHA-256(salt ‖ JCS(value))); puts
//       the commitments in place of the sides, leaves "leaf" out, and
//       canonicalizes and hashes the result (RFC 9162 leaf hash).
//         leafBytes   the leaf (UTF-8 of its canonical JSON)
//         leafHash    SHA-256(0x00 ‖ leafBytes)
//         storedLeaf  the line's "leaf", 32 bytes
//         checks      one per side, fields in the line's order, prev first:
//                     {field, side: 'prev'|'next', erased, commitment,
//                     value (when open), ok, reason?}; ok is whether an
//                     open value matches its commitment (reason when the
//                     value has no canonical form), true for an erased
//                     side (only its commitment is left)
//         canonical   whether the line is its own canonical form, as the C
//                     verifier requires (a duplicated member, or a number
//                     spelled with more digits than its double holds, is not)
//         record      the parsed line
//       Throws FormatError for a line that is not JSON or not of the format
//       (naming the member); a value that does not match is not thrown but
//       reported in checks.
//   checkEvent({event, leafLine, proofText, vkeyLine, pinned}) ->
//           Promise<{ok, steps: [{id, ok, text, field?, side?}]}>
//       Checks that the event shown (a JSON:API data-events resource, as a
//       page or the live stream gives it) is in the log of record. steps, in
//       this order:
//         'members'     the line's members equal the event's (a field shown
//                       as {"erased": true} is one whose sides the line has
//                       erased);
//         'commitment'  one per side of each change: its value matches its
//                       commitment (field, side name it);
//         'leaf'        the leaf recomputed from the line equals its "leaf",
//                       and the line is in canonical form;
//         'inclusion'   the proof's index is the event's seq, and the proof
//                       leads from the recomputed leaf to the checkpoint's root;
//         'signature'   the checkpoint is signed by the key of vkeyLine;
//         'origin'      the checkpoint's origin ends in "/<log>".
//       pinned is true when vkeyLine is a copy the person keeps rather than
//       the key the same server just sent: only the signature step's text
//       differs. Each step's ok is true, false, or null (could not be
//       checked here: no Ed25519 or no Web Crypto in this browser); the
//       whole is false if any step is, else null if any step is, else true.
//       Never throws or rejects on anything the servers send: what is wrong
//       becomes a failing step whose text a non-expert can read.

import { FormatError, attempt, b64decode, b64urlDecode, b64urlEncode, concatBytes, equalBytes, sha256, utf8 } from './bytes.js';
import { canonicalize } from './jcs.js';
import { leafHash as hashLeaf, rootFromInclusionProof } from './merkle.js';
import { parseCheckpoint, verifyNote } from './note.js';

export const TLOG_PROOF_HEADER = 'c2sp.org/tlog-proof@v1';
// A path in a tree of up to 2^53 leaves has at most 53 hashes.
export const MAX_PROOF_HASHES = 64;

const INT_MAX = 2 ** 53;
const LOG_MAX = 2 ** 32 - 1;
const SALT_LEN = 16;
const HASH_LEN = 32;
const COMMITMENT_B64_LEN = 43;
const LINE_MEMBERS = new Set(['action', 'actorId', 'actorType', 'changes', 'eventName', 'id', 'leaf',
                              'log', 'seq', 'targetId', 'targetType', 'targetVersion', 'timestamp',
                              'traceId']);
// A W3C trace-id: 32 lowercase hex digits, not all zero.
const TRACE_ID = /^(?!0{32}$)[0-9a-f]{32}$/;
const STRINGS = ['action', 'actorId', 'actorType', 'id', 'targetId', 'targetType'];
const SIDES = ['prev', 'next'];
const SIDE_NAMES = { prev: 'before', next: 'after' };

export function parseTlogProof(text) {
    if (typeof text !== 'string')
        throw new FormatError('the proof is not text');
    let pos = 0;
    const next = () => {
        const nl = text.indexOf('\n', pos);
        if (nl < 0)
            throw new FormatError('the proof ends before the blank line that precedes its checkpoint');
        const line = text.slice(pos, nl);
        pos = nl + 1;
        return line;
    };
    if (next() !== TLOG_PROOF_HEADER)
        throw new FormatError(`the proof does not start with the line ${TLOG_PROOF_HEADER}`);
    let line = next();
    let extra;
    if (line.startsWith('extra ')) {
        extra = b64decode(line.slice(6), undefined, 'the extra data');
        line = next();
    }
    const m = /^index (0|[1-9][0-9]*)$/.exec(line);
    if (!m || !Number.isSafeInteger(Number(m[1])))
        throw new FormatError('the proof has no line "index <n>" with a position below 2^53');
    const hashes = [];
    while ((line = next()) !== '') {
        if (hashes.length === MAX_PROOF_HASHES)
            throw new FormatError(`the proof has more than ${MAX_PROOF_HASHES} hashes`);
        hashes.push(b64decode(line, HASH_LEN, `proof hash ${hashes.length + 1}`));
    }
    const checkpointText = text.slice(pos);
    if (checkpointText === '')
        throw new FormatError('the proof has no checkpoint');
    const index = Number(m[1]);
    return extra === undefined ? { index, hashes, checkpointText } : { index, extra, hashes, checkpointText };
}

// ---- the event line ----

const own = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

// A string without U+0000 (the C side reads members as C strings).
function str(v, what) {
    if (typeof v !== 'string' || v.includes('\u0000'))
        throw new FormatError(`"${what}" is not a string`);
    return v;
}

function int(v, lo, hi, what) {
    if (!Number.isInteger(v) || v < lo || v > hi)
        throw new FormatError(`"${what}" is not an integer from ${lo} to ${hi}`);
    return v;
}

function onlyMembers(o, names, what) {
    for (const k of Object.keys(o))
        if (!names.includes(k))
            throw new FormatError(`${what} has an unknown member "${k.slice(0, 64)}"`);
}

// One side: {field, side, erased, commitment, salt?, value?}.
function readSide(v, field, side) {
    const what = `changes.${field.slice(0, 64)}.${side}`;
    if (!isObject(v))
        throw new FormatError(`${what} is not an object`);
    const commitment = (c) => {
        if (typeof c !== 'string' || c.length !== COMMITMENT_B64_LEN)
            throw new FormatError(`${what} has no commitment of 43 base64url characters`);
        b64urlDecode(c, HASH_LEN, `the commitment of ${what}`);
        return c;
    };
    if (own(v, 'erased')) {
        onlyMembers(v, ['erased'], what);
        return { field, side, erased: true, commitment: commitment(v.erased) };
    }
    onlyMembers(v, ['commitment', 'salt', 'value'], what);
    if (!own(v, 'salt') || !own(v, 'value'))
        throw new FormatError(`${what} is neither {"erased"} nor {"commitment", "salt", "value"}`);
    const salt = b64urlDecode(v.salt, SALT_LEN, `the salt of ${what}`);
    return { field, side, erased: false, commitment: commitment(v.commitment), salt, value: v.value };
}

// The line's members, checked; sides as readSide gives them.
function readLine(o) {
    if (!isObject(o))
        throw new FormatError('the line is not a JSON object');
    for (const k of Object.keys(o))
        if (!LINE_MEMBERS.has(k))
            throw new FormatError(`the line has an unknown member "${k.slice(0, 64)}"`);
    const e = {};
    for (const name of STRINGS)
        e[name] = str(o[name], name);
    if (own(o, 'eventName'))
        e.eventName = str(o.eventName, 'eventName');
    e.log = int(o.log, 0, LOG_MAX, 'log');
    e.seq = int(o.seq, 0, INT_MAX, 'seq');
    e.timestamp = int(o.timestamp, -INT_MAX, INT_MAX, 'timestamp');
    if (own(o, 'targetVersion'))
        e.targetVersion = int(o.targetVersion, 1, INT_MAX, 'targetVersion');
    if (own(o, 'traceId')) {
        if (typeof o.traceId !== 'string' || !TRACE_ID.test(o.traceId))
            throw new FormatError('"traceId" is not a trace id (32 lowercase hex digits)');
        e.traceId = o.traceId;
    }
    const leaf = b64decode(o.leaf, HASH_LEN, '"leaf"');
    const sides = [];
    if (own(o, 'changes')) {
        if (!isObject(o.changes) || Object.keys(o.changes).length === 0)
            throw new FormatError('"changes" is not an object with at least one field');
        for (const [field, f] of Object.entries(o.changes)) {
            str(field, 'a field name of changes');
            if (!isObject(f) || !own(f, 'prev') || !own(f, 'next'))
                throw new FormatError(`changes.${field.slice(0, 64)} is not {"next": side, "prev": side}`);
            onlyMembers(f, SIDES, `changes.${field.slice(0, 64)}`);
            for (const side of SIDES)
                sides.push(readSide(f[side], field, side));
        }
    }
    return { e, leaf, sides };
}

function canonicalOrNull(v) {
    try {
        return canonicalize(v);
    } catch {
        return null;
    }
}

export async function leafFromLine(line) {
    if (typeof line !== 'string')
        throw new FormatError('the line is not text');
    const text = line.endsWith('\n') ? line.slice(0, -1) : line;
    let record;
    try {
        record = JSON.parse(text);
    } catch {
        // SyntaxError, or a RangeError for nesting deeper than the stack.
        throw new FormatError('the line is not JSON');
    }
    const { e, leaf, sides } = readLine(record);
    const checks = [];
    const leafObject = { ...e };
    for (const s of sides) {
        const check = { field: s.field, side: s.side, erased: s.erased, ok: true, commitment: s.commitment };
        if (!s.erased) {
            check.value = s.value;
            const json = canonicalOrNull(s.value);
            if (json === null) {
                check.ok = false;
                check.reason = 'it has no canonical form';
            } else {
                // commitment = base64url(SHA-256(salt ‖ JCS(value)))
                check.ok = b64urlEncode(await sha256(concatBytes(s.salt, utf8(json)))) === s.commitment;
            }
        }
        checks.push(check);
        // Objects without a prototype: a field may be named "__proto__".
        leafObject.changes ??= Object.create(null);
        leafObject.changes[s.field] ??= Object.create(null);
        leafObject.changes[s.field][s.side] = s.commitment;
    }
    const leafText = canonicalOrNull(leafObject);
    if (leafText === null)
        throw new FormatError('the event has no canonical form (a string that is not well-formed Unicode)');
    const leafBytes = utf8(leafText);
    return {
        leafBytes,
        leafHash: await hashLeaf(leafBytes),
        storedLeaf: leaf,
        checks,
        canonical: canonicalOrNull(record) === text,
        record,
    };
}

// ---- one event, all the way to the signed checkpoint ----

// A value as a short piece of a sentence.
function shown(v) {
    if (v === undefined)
        return 'absent';
    const t = canonicalOrNull(v) ?? String(v);
    return t.length > 40 ? t.slice(0, 39) + '…' : t;
}

function fieldName(f) {
    return f.length > 40 ? f.slice(0, 39) + '…' : f;
}

const ERASED = '{"erased":true}';
const isErasedMark = (v) => canonicalOrNull(v) === ERASED;

// How the event shown differs from the line: sentences, none when equal.
function differences(event, record, checks) {
    if (!isObject(event) || !isObject(event.attributes))
        return ['no event resource was given to compare'];
    const a = event.attributes;
    const out = [];
    const same = (name, mine, theirs) => {
        if (canonicalOrNull(mine) !== canonicalOrNull(theirs) || (mine === undefined) !== (theirs === undefined))
            out.push(`${name} is ${shown(mine)} here and ${shown(theirs)} in the log`);
    };
    same('id', event.id, record.id);
    for (const name of ['action', 'actorType', 'actorId', 'targetType', 'targetId', 'timestamp', 'log', 'seq'])
        same(name, a[name], record[name]);
    // null in a resource is absent from the leaf.
    for (const name of ['eventName', 'targetVersion', 'traceId'])
        same(name, a[name] ?? undefined, record[name]);
    const mine = isObject(a.changes) ? a.changes : {};
    const held = new Map();
    for (const c of checks) {
        if (!held.has(c.field))
            held.set(c.field, {});
        held.get(c.field)[c.side] = c;
    }
    for (const f of Object.keys(mine))
        if (!held.has(f))
            out.push(`a change of ${fieldName(f)} is shown here but is not in the log`);
    for (const [f, h] of held) {
        if (!own(mine, f)) {
            out.push(`the log holds a change of ${fieldName(f)} not shown here`);
            continue;
        }
        const m = mine[f];
        if (isErasedMark(m)) {
            if (!h.prev.erased || !h.next.erased)
                out.push(`${fieldName(f)} is shown erased here but the log still holds its values`);
            continue;
        }
        for (const side of SIDES) {
            const v = isObject(m) && own(m, side) ? m[side] : undefined;
            const what = `the value of ${fieldName(f)} (${SIDE_NAMES[side]})`;
            if (h[side].erased) {
                if (!isErasedMark(v))
                    out.push(`${what} shown here was erased from the log and cannot be checked`);
            } else if (v === undefined || canonicalOrNull(v) === null ||
                       canonicalOrNull(v) !== canonicalOrNull(h[side].value)) {
                out.push(`${what} is ${shown(v)} here and ${shown(h[side].value)} in the log`);
            }
        }
    }
    return out;
}

function membersStep(event, leaf, lineError) {
    if (lineError)
        return { id: 'members', ok: false, text: `The log's copy of this event could not be read: ${lineError.message}.` };
    const d = differences(event, leaf.record, leaf.checks);
    if (d.length === 0)
        return { id: 'members', ok: true, text: "The event shown matches the log's copy of it, member for member." };
    const more = d.length > 3 ? `; and ${d.length - 3} more` : '';
    return { id: 'members', ok: false, text: `The event shown differs from the log's copy: ${d.slice(0, 3).join('; ')}${more}.` };
}

function commitmentStep(c) {
    const what = `The value of ${fieldName(c.field)} (${SIDE_NAMES[c.side]})`;
    const text = c.erased ? `${what} was erased; the log keeps only its commitment.`
        : c.ok ? `${what} matches its commitment.`
        : c.reason ? `${what} cannot match its commitment: ${c.reason}.`
        : `${what} does not match its commitment: it is not the value the log recorded.`;
    return { id: 'commitment', ok: c.ok, text, field: c.field, side: c.side };
}

function leafStep(leaf) {
    if (!leaf)
        return { id: 'leaf', ok: false, text: "The event's leaf could not be recomputed without the log's copy of it." };
    if (!equalBytes(leaf.leafHash, leaf.storedLeaf))
        return { id: 'leaf', ok: false, text: "The event's members (or its commitments) do not hash to the leaf the log stored." };
    if (!leaf.canonical)
        return { id: 'leaf', ok: false, text: "The log's copy of this event is not in its one canonical form (RFC 8785), so it may not say what its leaf covers." };
    return { id: 'leaf', ok: true, text: "The event's members and commitments hash to the leaf the log stored." };
}

async function inclusionStep(proof, checkpoint, leaf, seq) {
    if (proof.error)
        return { id: 'inclusion', ok: false, text: `The inclusion proof is malformed: ${proof.error.message}.` };
    if (checkpoint.error)
        return { id: 'inclusion', ok: false, text: `The proof's checkpoint is malformed: ${checkpoint.error.message}.` };
    const { index, hashes } = proof.value;
    const cp = checkpoint.value;
    if (index !== seq)
        return { id: 'inclusion', ok: false, text: `The proof is for position ${index}, not the event's position ${seq}.` };
    if (!leaf)
        return { id: 'inclusion', ok: false, text: "The proof could not be checked without the event's leaf." };
    const root = await attempt(() => rootFromInclusionProof(index, cp.size, leaf.leafHash, hashes));
    if (root.error)
        return { id: 'inclusion', ok: false, text: `The proof does not fit the checkpoint's tree: ${root.error.message}.` };
    if (!equalBytes(root.value, cp.root))
        return { id: 'inclusion', ok: false, text: "The proof does not lead from this event's leaf to the checkpoint's root." };
    return { id: 'inclusion', ok: true, text: `The event is at position ${seq} of the tree of ${cp.size} events whose root the checkpoint signs.` };
}

async function signatureStep(proof, checkpoint, vkeyLine, pinned) {
    if (proof.error || checkpoint.error)
        return { id: 'signature', ok: false, text: 'The checkpoint could not be read, so its signature was not checked.' };
    const r = await verifyNote(proof.value.checkpointText, typeof vkeyLine === 'string' ? vkeyLine : '', 'The checkpoint');
    const caution = r.ok && !pinned ? ' The key came from this server: keep a copy of it to notice if it is ever replaced.' : '';
    return { id: 'signature', ok: r.ok, text: r.reason + caution };
}

function originStep(checkpoint, log) {
    if (checkpoint.error)
        return { id: 'origin', ok: false, text: 'The checkpoint could not be read, so its log was not checked.' };
    const origin = checkpoint.value.origin;
    const name = origin.length > 80 ? origin.slice(0, 79) + '…' : origin;
    if (!origin.endsWith(`/${log}`))
        return { id: 'origin', ok: false, text: `The checkpoint is for another log: its origin ${name} does not end in /${log}.` };
    return { id: 'origin', ok: true, text: `The checkpoint is for log ${log} (its origin is ${name}).` };
}

function verdict(steps) {
    return {
        ok: steps.some((s) => s.ok === false) ? false : steps.some((s) => s.ok === null) ? null : true,
        steps,
    };
}

export async function checkEvent({ event, leafLine, proofText, vkeyLine, pinned = false } = {}) {
    if (!globalThis.crypto?.subtle)
        return verdict([{ id: 'crypto', ok: null,
                          text: 'This browser offers no Web Crypto on this page (it needs https or localhost), so nothing was checked.' }]);
    const steps = [];
    try {
        const line = await attempt(() => leafFromLine(leafLine));
        const leaf = line.value;
        steps.push(membersStep(event, leaf, line.error));
        for (const c of leaf ? leaf.checks : [])
            steps.push(commitmentStep(c));
        steps.push(leafStep(leaf));
        const attrs = isObject(event) && isObject(event.attributes) ? event.attributes : {};
        const seq = leaf ? leaf.record.seq : attrs.seq;
        const log = leaf ? leaf.record.log : attrs.log;
        const proof = await attempt(() => parseTlogProof(proofText));
        const checkpoint = proof.error ? proof : await attempt(() => parseCheckpoint(proof.value.checkpointText));
        steps.push(await inclusionStep(proof, checkpoint, leaf, seq));
        steps.push(await signatureStep(proof, checkpoint, vkeyLine, pinned));
        steps.push(originStep(checkpoint, log));
    } catch (e) {
        // Not reached on any input, however hostile; a failure of the
        // platform (Web Crypto refusing to hash) still gets an answer.
        steps.push({ id: 'error', ok: false, text: `The check could not be completed: ${e && e.message}.` });
    }
    return verdict(steps);
}
