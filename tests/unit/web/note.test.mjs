// web/js/lib/note.js against the signed-note and checkpoint examples of
// docs/ledger.md and tests/unit/test_note.c (golang.org/x/mod/sumdb/note's
// published keys and signatures), its malformed notes and keys, and notes
// signed here with a key from crypto.subtle.generateKey (sign.mjs).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { FormatError, b64encode, hex } from '../../../web/js/lib/bytes.js';
import { keyIdOf, parseCheckpoint, parseNote, parseVerifierKey, verifyNote } from '../../../web/js/lib/note.js';
import { makeSigner } from './sign.mjs';

const PETER_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const ENOCH_VKEY = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';
const TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG = '\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
const ENOCH_SIG = '\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n';
// docs/ledger.md "Checkpoints": the c2sp.org/tlog-checkpoint example, signed by EnochRoot.
const CHECKPOINT = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n' +
    '\u2014 EnochRoot rwz+eEO63Y13dtnQuHZB0ONl5ojQtyglZGuN5ue+kCPefAokf76QnnOHoKOXc1iSPksY1qdR7Ud+xxPLfe+A+ar/4QE=\n';

test('Node 20 Web Crypto has Ed25519 (else verifyNote says unsupported)', async () => {
    const pair = await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']);
    assert.equal(pair.publicKey.algorithm.name, 'Ed25519');
});

test('verifier keys: the published ones parse, their ids match', async () => {
    const peter = await parseVerifierKey(PETER_VKEY);
    assert.equal(peter.name, 'PeterNeumann');
    assert.equal(peter.keyIdHex, 'c74f20a3');
    assert.equal(hex(peter.keyId), 'c74f20a3');
    assert.equal(peter.type, 1);
    assert.equal(peter.publicKey.length, 32);
    assert.equal(peter.text, PETER_VKEY);
    assert.equal(hex(await keyIdOf('PeterNeumann', peter.publicKey)), 'c74f20a3');
    const enoch = await parseVerifierKey(ENOCH_VKEY + '\n'); // as the .vkey file holds it
    assert.equal(enoch.keyIdHex, 'af0cfe78');
    assert.equal(enoch.text, ENOCH_VKEY);
});

test('verifier keys: test_note.c manglings are refused', async () => {
    const bad = [
        'PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW', // id
        'PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW', // upper case
        'PeterNeumanN+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW', // name
        'PeterNeumann+c74f20a3+Apc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW', // short
        'PeterNeumann+c74f20a3+AhpC2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW', // type
        'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TX', // key
        'Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW',
        '+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW',
        'PeterNeumann+c74f20a3',
        'PeterNeumann',
        '',
        PETER_VKEY + '\n\n',
        PETER_VKEY + ' ',
        'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz',
    ];
    for (const line of bad)
        await assert.rejects(parseVerifierKey(line), FormatError, line);
    await assert.rejects(parseVerifierKey(null), FormatError);
});

test('the published notes verify, and are refused with the wrong key', async () => {
    const msg = TEXT + '\n' + PETER_SIG;
    const r = await verifyNote(msg, PETER_VKEY);
    assert.deepEqual(r, { ok: true, reason: 'The note is signed by PeterNeumann+c74f20a3.', body: TEXT });
    const peter = await parseVerifierKey(PETER_VKEY), enoch = await parseVerifierKey(ENOCH_VKEY);
    const two = TEXT + '\n' + PETER_SIG + ENOCH_SIG;
    assert.equal((await verifyNote(two, peter)).ok, true);
    assert.equal((await verifyNote(two, enoch)).ok, true);
    assert.deepEqual(parseNote(two).signatures.map((s) => [s.name, hex(s.keyId), s.signature.length]),
                     [['PeterNeumann', 'c74f20a3', 64], ['EnochRoot', 'af0cfe78', 64]]);
    // Not signed by this key at all.
    assert.deepEqual(await verifyNote(msg, enoch), { ok: false, reason: 'The note is not signed by EnochRoot+af0cfe78.' });
    // The right id with the wrong name, or the right name with another id:
    // another key, so not signed by this one.
    const wrongName = TEXT + '\n\u2014 PeterNeuman x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
    const wrongId = TEXT + '\n\u2014 PeterNeumann x18go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
    assert.equal((await verifyNote(wrongName, peter)).ok, false);
    assert.equal((await verifyNote(wrongId, peter)).ok, false);
    // A known key's signature over other text, even beside a good one.
    const other = TEXT.replace('is.', 'is!') + '\n' + PETER_SIG;
    assert.deepEqual(await verifyNote(other, peter), { ok: false, reason: "The note's signature by PeterNeumann+c74f20a3 does not verify." });
    const badAndGood = TEXT + '\n' + ENOCH_SIG + PETER_SIG.replace('JnAM=', 'JnAA=');
    assert.equal((await verifyNote(badAndGood, peter)).ok, false);
    assert.equal((await verifyNote(badAndGood, enoch)).ok, true, "another key's bad line is not this key's business");
});

test('ledger.md checkpoint example: parsed and verified; every flipped bit refused', async () => {
    const cp = parseCheckpoint(CHECKPOINT);
    assert.equal(cp.origin, 'example.com/behind-the-sofa');
    assert.equal(cp.size, 20852163);
    assert.equal(hex(cp.root), '0ac5186a91863e8e1d90c808014aa89bf5da8e3ee1d9f07630f0378f68f1ab62');
    assert.deepEqual(cp.extensions, []);
    assert.equal(cp.body, 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n');
    assert.equal(cp.signatures.length, 1);
    assert.equal(hex(cp.signatures[0].keyId), 'af0cfe78');
    const enoch = await parseVerifierKey(ENOCH_VKEY);
    assert.deepEqual(await verifyNote(CHECKPOINT, enoch, 'The checkpoint'),
                     { ok: true, reason: 'The checkpoint is signed by EnochRoot+af0cfe78.', body: cp.body });
    // Every single-bit flip of the UTF-8 bytes, where the result is still
    // UTF-8, is refused: malformed, not this key's, or a bad signature.
    const bytes = Buffer.from(CHECKPOINT, 'utf8');
    const decoder = new TextDecoder('utf-8', { fatal: true });
    const checks = [];
    for (let i = 0; i < bytes.length; i++)
        for (let bit = 0; bit < 8; bit++) {
            const copy = Buffer.from(bytes);
            copy[i] ^= 1 << bit;
            let text;
            try {
                text = decoder.decode(copy);
            } catch {
                continue;
            }
            checks.push(verifyNote(text, enoch).then((r) => [i, bit, r.ok]));
        }
    const accepted = (await Promise.all(checks)).filter(([, , ok]) => ok !== false);
    assert.deepEqual(accepted, []);
    assert.ok(checks.length > 1000);
});

test('notes signed here with a generated key: text with empty lines, many signatures', async () => {
    const { vkey, sign } = await makeSigner('log.example/auditlog');
    const parsed = await parseVerifierKey(vkey);
    assert.equal(hex(parsed.keyId), hex(await keyIdOf('log.example/auditlog', parsed.publicKey)));
    const text = 'log.example/auditlog\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n';
    const note = await sign(text);
    assert.equal((await verifyNote(note, vkey)).ok, true);
    assert.equal(parseCheckpoint(note).size, 0);
    // The text may hold empty lines: the last blank line splits.
    const blank = await sign('a\n\nb\n\n');
    const r = await verifyNote(blank, vkey);
    assert.equal(r.ok, true);
    assert.equal(r.body, 'a\n\nb\n\n');
    // 100 signature lines are accepted (99 of unknown keys), 101 are not.
    const others = Array.from({ length: 99 }, (_, i) => `\u2014 other.example/${i} AAAAAAAAAAAAAAAAAAAAAAAA\n`).join('');
    assert.equal((await verifyNote(note + others, vkey)).ok, true);
    assert.equal((await verifyNote(note + others + note.slice(text.length + 1), vkey)).ok, false);
    assert.throws(() => parseNote(note + others + note.slice(text.length + 1)), /more than 100/);
    // A signature of another length than 64 bytes from the key: refused.
    const short = note.replace(/ (\S+)\n$/, (_, b64) => ' ' + b64encode(Buffer.from(b64, 'base64').subarray(0, 67)) + '\n');
    assert.equal((await verifyNote(short, vkey)).ok, false);
    // Another key with the same name: its id differs, so it is not ours.
    const impostor = await makeSigner('log.example/auditlog');
    assert.deepEqual(await verifyNote(await impostor.sign(text), vkey),
                     { ok: false, reason: `The note is not signed by ${parsed.name}+${parsed.keyIdHex}.` });
});

test('malformed notes (test_note.c) are refused as such', async () => {
    const bad = [
        TEXT + PETER_SIG, // no blank line
        TEXT + '\n' + PETER_SIG + 'extra', // trailing data, no newline
        TEXT + '\n' + PETER_SIG + 'extra\n', // trailing data line
        TEXT + '\n' + PETER_SIG + '\n', // blank line at the end
        TEXT + '\n', // no signature line
        '',
        TEXT + '\n- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n',
        TEXT + '\n\u2014 PeterNeumann  x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n',
        TEXT + '\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM\n',
        TEXT + '\n\u2014 PeterNeumann AAAA\n', // shorter than a key id
        TEXT + '\n\u2014 x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n',
        'a\rb\n\n' + PETER_SIG, // control character
        '\ud800\n\n' + PETER_SIG, // not well-formed
        TEXT + '\n' + PETER_SIG.replace('\n', '\r\n'),
        'x'.repeat(1 << 20) + '\n\n' + PETER_SIG, // over 1 MiB
    ];
    for (const note of bad) {
        assert.throws(() => parseNote(note), FormatError, JSON.stringify(note.slice(0, 80)));
        const r = await verifyNote(note, PETER_VKEY);
        assert.equal(r.ok, false);
        assert.match(r.reason, /^The note is malformed: /);
    }
    assert.deepEqual(await verifyNote(TEXT + '\n' + PETER_SIG, 'PeterNeumann+c74f20a3'),
                     { ok: false, reason: 'The key is malformed: a verifier key is name+id+key.' });
});

test('checkpoint bodies (test_note.c) are refused as such', () => {
    const ROOT = 'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
    const signed = (body) => body + '\n' + ENOCH_SIG;
    const good = [['o\n0\n' + ROOT, 0], ['my log\n1\n' + ROOT, 1], ['o\n9007199254740991\n' + ROOT + 'ext one\nx\n', 2 ** 53 - 1]];
    for (const [body, size] of good) {
        const cp = parseCheckpoint(signed(body));
        assert.equal(cp.size, size);
        assert.equal(cp.body, body);
    }
    assert.deepEqual(parseCheckpoint(signed('o\n5\n' + ROOT + 'ext one\nx\n')).extensions, ['ext one', 'x']);
    const bad = [
        '\n5\n' + ROOT, 'o\n05\n' + ROOT, 'o\n00\n' + ROOT, 'o\n\n' + ROOT, 'o\n-1\n' + ROOT, 'o\n+1\n' + ROOT,
        'o\n 1\n' + ROOT, 'o\n9223372036854775808\n' + ROOT, 'o\n99999999999999999999\n' + ROOT,
        'o\n9007199254740992\n' + ROOT, // beyond what a safe integer holds
        'o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n', // no padding
        'o\n5\nCsUYapGGPo4dkMgIAUqom_Xajj7h2fB2MPA3j2jxq2I=\n', // base64url
        'o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n', // stray bits
        'o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxqw==\n', // 31 bytes
        'o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2Ij\n', // 33 bytes
        'o\n5\n', // two lines
        'o\n5\n' + ROOT + 'a\n\nb\n', // an empty extension (the note splits at the last blank line)
        'o\t\n5\n' + ROOT, // control character
    ];
    for (const body of bad)
        assert.throws(() => parseCheckpoint(signed(body)), FormatError, JSON.stringify(body));
});
