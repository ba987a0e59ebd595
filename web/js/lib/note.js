// note: C2SP signed notes (c2sp.org/signed-note) with Ed25519, and the
// checkpoints of the log of record written in them (c2sp.org/tlog-checkpoint),
// as common/note.c reads them (docs/ledger.md "Keys, signed notes and
// checkpoints").
//
// A signed note is a text ending in a newline, a blank line, and signature
// lines "— <key name> base64(4-byte key id ‖ signature)" (an em dash, U+2014,
// and a space). The text ends at the note's last blank line. A key id is
// SHA-256(name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key)[:4]; a verifier key is
// the line "<name>+<8 lowercase hex digits of the id>+base64(0x01 ‖ key)".
//
//   parseNote(text) -> {body, signatures: [{name, keyId, signature}]}
//       The signed-note layer alone. body is the signed text with its final
//       newline; keyId is 4 bytes, signature the bytes after them (64 for
//       Ed25519, unchecked here).
//   parseCheckpoint(text) -> {origin, size, root, extensions, body, signatures}
//       A signed checkpoint: parseNote, then the body as origin, tree size
//       (a safe integer: this verifier handles trees below 2^53 leaves),
//       root (32 bytes) and extension lines (strings, without newlines).
//   parseVerifierKey(line) -> Promise<{name, keyId, keyIdHex, type, publicKey, text}>
//       A verifier key (one final newline allowed). type is the signature
//       type byte, 1 (Ed25519); text the key line as given, without the
//       newline. Rejects when the id does not match the name and key.
//   keyIdOf(name, publicKey) -> Promise<Uint8Array>   the 4-byte key id
//   verifyNote(text, vkey, what = 'The note') -> Promise<{ok, reason, body?}>
//       vkey is what parseVerifierKey returns, or a key line. ok is true
//       when the note has at least one signature line with the key's name
//       and id, and every such line verifies (lines of other keys are
//       ignored, as c2sp.org/signed-note says); false when the note is
//       malformed, has no line of the key, or one fails; null when this
//       platform's Web Crypto has no Ed25519. reason is a sentence whose
//       subject is what ("The checkpoint is signed by log.example+1a2b3c4d.").
//       body is the signed text when ok. Never rejects for bad input.
//
// The parsers throw FormatError (bytes.js) saying which rule the input
// breaks: not well-formed Unicode, a control character other than newline,
// no final newline, no blank line, a malformed signature line, more than
// 100 signature lines or 1 MiB (common/note.h's limits), and for
// checkpoints an empty origin, a size with a sign, a leading zero or more
// than 2^53 - 1, a root that is not the strict base64 of 32 bytes, an empty
// extension line.

import { FormatError, attempt, b64decode, concatBytes, equalBytes, hex, sha256, utf8, wellFormed } from './bytes.js';

export const MAX_NOTE_BYTES = 1 << 20;
export const MAX_SIGNATURES = 100;
export const MAX_NAME_BYTES = 1024;
export const ED25519 = 1;

const SIG_PREFIX = '\u2014 ';
// A control character but newline.
const BAD_TEXT = /[\u0000-\u0009\u000b-\u001f]/;
// Unicode White_Space (Go's unicode.IsSpace, which golang.org/x/mod uses for
// key names), '+', and controls.
const BAD_NAME = /[\u0000-\u0020+\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;

function nameValid(name) {
    return name.length > 0 && !BAD_NAME.test(name) && wellFormed(name) && utf8(name).length <= MAX_NAME_BYTES;
}

export function parseNote(text) {
    if (typeof text !== 'string')
        throw new FormatError('the note is not text');
    if (text.length > MAX_NOTE_BYTES || utf8(text).length > MAX_NOTE_BYTES)
        throw new FormatError('the note is longer than 1 MiB');
    if (BAD_TEXT.test(text) || !wellFormed(text))
        throw new FormatError('the note is not well-formed Unicode or holds a control character');
    if (!text.endsWith('\n'))
        throw new FormatError('the note does not end in a newline');
    const blank = text.lastIndexOf('\n\n');
    if (blank < 0)
        throw new FormatError('the note has no blank line before its signatures');
    const body = text.slice(0, blank + 1);
    const rest = text.slice(blank + 2);
    if (rest === '')
        throw new FormatError('the note has no signature line');
    const lines = rest.slice(0, -1).split('\n');
    if (lines.length > MAX_SIGNATURES)
        throw new FormatError(`the note has more than ${MAX_SIGNATURES} signature lines`);
    const signatures = lines.map((line) => {
        if (!line.startsWith(SIG_PREFIX))
            throw new FormatError('a signature line does not start with an em dash and a space');
        const sp = line.indexOf(' ', SIG_PREFIX.length);
        const name = sp < 0 ? '' : line.slice(SIG_PREFIX.length, sp);
        if (!nameValid(name))
            throw new FormatError('a signature line has no valid key name');
        const raw = b64decode(line.slice(sp + 1), undefined, 'a signature');
        if (raw.length < 5)
            throw new FormatError('a signature is not the base64 of a key id and a signature');
        return { name, keyId: raw.slice(0, 4), signature: raw.slice(4) };
    });
    return { body, signatures };
}

export function parseCheckpoint(text) {
    const { body, signatures } = parseNote(text);
    const lines = body.slice(0, -1).split('\n');
    if (lines.length < 3)
        throw new FormatError('the checkpoint has fewer than three lines');
    const [origin, sizeText, rootText, ...extensions] = lines;
    if (origin === '')
        throw new FormatError("the checkpoint's origin is empty");
    if (!/^(?:0|[1-9][0-9]*)$/.test(sizeText))
        throw new FormatError('the tree size is not decimal digits without a leading zero');
    const size = Number(sizeText);
    if (!Number.isSafeInteger(size))
        throw new FormatError('the tree size is beyond 2^53 - 1, more than this verifier handles');
    const root = b64decode(rootText, 32, 'the root hash');
    if (extensions.includes(''))
        throw new FormatError('an extension line is empty');
    return { origin, size, root, extensions, body, signatures };
}

export function keyIdOf(name, publicKey) {
    return sha256(concatBytes(utf8(name), new Uint8Array([0x0a, ED25519]), publicKey))
        .then((h) => h.slice(0, 4));
}

export async function parseVerifierKey(line) {
    if (typeof line !== 'string')
        throw new FormatError('a verifier key is text');
    const text = line.endsWith('\n') ? line.slice(0, -1) : line;
    const p1 = text.indexOf('+');
    const p2 = p1 < 0 ? -1 : text.indexOf('+', p1 + 1);
    if (p2 < 0)
        throw new FormatError('a verifier key is name+id+key');
    const name = text.slice(0, p1);
    if (!nameValid(name))
        throw new FormatError("the key's name is empty or has a space, '+' or a control character");
    const keyIdHex = text.slice(p1 + 1, p2);
    if (!/^[0-9a-f]{8}$/.test(keyIdHex))
        throw new FormatError("the key's id is not 8 lowercase hex digits");
    const raw = b64decode(text.slice(p2 + 1), 33, 'the key');
    if (raw[0] !== ED25519)
        throw new FormatError('the key is not an Ed25519 key (type byte 0x01)');
    const publicKey = raw.slice(1);
    const keyId = await keyIdOf(name, publicKey);
    if (hex(keyId) !== keyIdHex)
        throw new FormatError("the key's id does not match its name and key");
    return { name, keyId, keyIdHex, type: ED25519, publicKey, text };
}

// Imported keys, by verifier key line: importKey is not free, and a page
// checks many events against one key.
const imported = new Map();

async function importEd25519(vkey) {
    let key = imported.get(vkey.text);
    if (!key) {
        key = await globalThis.crypto.subtle.importKey('raw', vkey.publicKey, { name: 'Ed25519' }, false, ['verify']);
        if (imported.size > 16)
            imported.clear();
        imported.set(vkey.text, key);
    }
    return key;
}

const malformed = (what, error) => ({ ok: false, reason: `${what} is malformed: ${error.message}.` });

export async function verifyNote(text, vkey, what = 'The note') {
    const k = typeof vkey === 'string' ? await attempt(() => parseVerifierKey(vkey)) : { value: vkey };
    if (k.error)
        return malformed('The key', k.error);
    const n = await attempt(() => parseNote(text));
    if (n.error)
        return malformed(what, n.error);
    const key = k.value, note = n.value;
    const label = `${key.name}+${key.keyIdHex}`;
    const mine = note.signatures.filter((s) => s.name === key.name && equalBytes(s.keyId, key.keyId));
    if (mine.length === 0)
        return { ok: false, reason: `${what} is not signed by ${label}.` };
    const unsupported = { ok: null, reason: `Ed25519 is unsupported by this browser, so the signature by ${label} was not checked.` };
    let cryptoKey;
    try {
        cryptoKey = await importEd25519(key);
    } catch {
        return unsupported;
    }
    const message = utf8(note.body);
    for (const s of mine) {
        let good;
        try {
            good = s.signature.length === 64 &&
                await globalThis.crypto.subtle.verify({ name: 'Ed25519' }, cryptoKey, s.signature, message);
        } catch {
            return unsupported;
        }
        if (!good)
            return { ok: false, reason: `${what}'s signature by ${label} does not verify.` };
    }
    return { ok: true, reason: `${what} is signed by ${label}.`, body: note.body };
}
