// Every parser of web/js/lib against 2,000 seeded random mutations of valid
// inputs: it returns or throws its documented error (FormatError; the SSE
// parser nothing), promptly; and what still passes every check is what was
// signed or hashed. A failure names the seed and round, to replay it.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { FormatError, equalBytes } from '../../../web/js/lib/bytes.js';
import { parseCheckpoint, parseVerifierKey, verifyNote } from '../../../web/js/lib/note.js';
import { checkEvent, leafFromLine, parseTlogProof } from '../../../web/js/lib/proof.js';
import { SSEParser } from '../../../web/js/lib/sse.js';
import { makeLog } from './log.mjs';
import { rng } from './tree.mjs';

const ROUNDS = 2000;
const SLOW_MS = 250;
const fixture = (name) => readFileSync(new URL(`fixtures/${name}`, import.meta.url), 'utf8');

// Characters that mean something to one format or another.
const ALPHABET = ['\n', '\r', '\u2014', ' ', '+', '/', '=', '-', '_', ':', '"', '\\', '{', '}', '[', ']', ',', '0', '1', '9',
                  'A', 'a', 'z', '\u0000', '\u0001', '\ud800', '\udc00', '\ufeff', 'é', '😀', '\u2028', 'e', '.', 'id', 'data'];

function mutate(text, r) {
    let s = text;
    for (let k = 1 + r.below(3); k > 0; k--) {
        const i = r.below(s.length + 1), j = Math.min(s.length, i + r.below(8));
        const c = ALPHABET[r.below(ALPHABET.length)];
        switch (r.below(7)) {
        case 0: s = s.slice(0, i) + c + s.slice(i + 1); break; // replace a character
        case 1: s = s.slice(0, i) + c + s.slice(i); break; // insert one
        case 2: s = s.slice(0, i) + s.slice(j); break; // delete a run
        case 3: s = s.slice(0, j) + s.slice(i, j) + s.slice(j); break; // repeat a run
        case 4: s = s.slice(0, i); break; // truncate
        case 5: { // flip a bit of a character
            const code = s.charCodeAt(i) ^ (1 << r.below(8));
            s = s.slice(0, i) + (Number.isNaN(code) ? '' : String.fromCharCode(code)) + s.slice(i + 1);
            break;
        }
        default: s = s.slice(i, j) + s.slice(0, i) + s.slice(j); // move a run to the front
        }
    }
    return s;
}

// Runs f on ROUNDS mutations of the inputs; f may return or throw a
// FormatError, nothing else, and no call may take long.
async function fuzz(name, seed, inputs, f) {
    const r = rng(seed);
    let refused = 0;
    for (let round = 0; round < ROUNDS; round++) {
        const input = inputs[r.below(inputs.length)];
        const text = mutate(input, r);
        const t0 = performance.now();
        try {
            await f(text, input);
        } catch (e) {
            if (!(e instanceof FormatError))
                assert.fail(`${name}, seed ${seed} round ${round}: ${e && e.stack}\ninput: ${JSON.stringify(text)}`);
            assert.ok(e.message.length > 0 && e.message.length < 300, e.message);
            refused++;
        }
        const ms = performance.now() - t0;
        assert.ok(ms < SLOW_MS, `${name}, seed ${seed} round ${round}: ${ms} ms`);
    }
    assert.ok(refused > ROUNDS / 4, `${name}: only ${refused} of ${ROUNDS} mutations refused: the mutations are too mild`);
}

const log = await makeLog({ n: 9 });
const header = JSON.parse(fixture('bundle.ndjson').split('\n')[0]);
const bundleLines = fixture('bundle.ndjson').trimEnd().split('\n').slice(1);

test('checkpoints: FormatError or a checkpoint; a verified one is the signed text', async () => {
    const inputs = [log.checkpoint, header.checkpoint];
    await fuzz('parseCheckpoint', 1, inputs, async (text, original) => {
        const cp = parseCheckpoint(text);
        assert.ok(Number.isSafeInteger(cp.size) && cp.root.length === 32 && cp.origin !== '');
        const key = original === log.checkpoint ? log.vkey : fixture('vkey');
        const v = await verifyNote(text, key);
        if (v.ok)
            assert.equal(v.body, parseCheckpoint(original).body, JSON.stringify(text));
    });
});

test('verifier keys: FormatError or a key whose id matches', async () => {
    const inputs = [log.vkey, fixture('vkey'), 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'];
    await fuzz('parseVerifierKey', 2, inputs, async (text) => {
        const k = await parseVerifierKey(text);
        assert.ok(k.publicKey.length === 32 && k.keyId.length === 4 && k.name.length > 0);
        assert.ok(inputs.some((i) => i.trimEnd() === k.text), `an accepted mutation: ${JSON.stringify(text)}`);
    });
});

test('inclusion proofs: FormatError or a proof', async () => {
    const inputs = [log.proof(0), log.proof(4), log.proof(8).replace('\nindex', '\nextra AAEC\nindex')];
    await fuzz('parseTlogProof', 3, inputs, async (text) => {
        const p = parseTlogProof(text);
        assert.ok(Number.isSafeInteger(p.index) && p.hashes.every((h) => h.length === 32) && p.checkpointText !== '');
    });
});

test('bundle lines: FormatError or a leaf; a line that passes every check is unchanged', async () => {
    const inputs = [...bundleLines.slice(0, 12), ...log.lines];
    await fuzz('leafFromLine', 4, inputs, async (text, original) => {
        const r = await leafFromLine(text);
        if (r.canonical && equalBytes(r.leafHash, r.storedLeaf) && r.checks.every((c) => c.ok))
            assert.equal(text.replace(/\n$/, ''), original, 'a changed line passed');
    });
});

test('checkEvent: never throws, and is never fooled', async () => {
    const r = rng(5);
    for (let round = 0; round < ROUNDS / 4; round++) {
        const i = r.below(9);
        const args = { event: log.resources[i], leafLine: log.lines[i], proofText: log.proof(i), vkeyLine: log.vkey, pinned: true };
        const which = ['leafLine', 'proofText', 'vkeyLine'][r.below(3)];
        args[which] = mutate(args[which], r);
        const result = await checkEvent(args);
        assert.ok(!result.steps.some((s) => s.id === 'error'), `round ${round}: ${JSON.stringify(result.steps)}`);
        if (result.ok && which === 'leafLine')
            assert.equal(args.leafLine.replace(/\n$/, ''), log.lines[i], `round ${round}: a changed line checked`);
    }
});

test('event streams: never throws, whatever the bytes and chunks', () => {
    const sample = '\uFEFFretry: 10\r\n: c\r\nid: 1\ndata: {"a":1}\n\nevent: x\rdata: a\rdata:b\r\r: keep-alive\r\nid: 9\r\n\r\n';
    const r = rng(6);
    for (let round = 0; round < ROUNDS; round++) {
        const text = mutate(sample, r);
        const p = new SSEParser();
        let out = [];
        for (let pos = 0; pos < text.length;) {
            const n = 1 + r.below(16);
            out = out.concat(p.push(text.slice(pos, pos + n)));
            pos += n;
        }
        for (const m of out)
            assert.ok(m.type === 'id' || (m.type === 'message' && typeof m.data === 'string' && !m.id.includes('\u0000')));
        // Whole, the same messages as in chunks.
        assert.deepEqual(new SSEParser().push(text), out, JSON.stringify(text));
    }
});
