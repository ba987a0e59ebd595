// web/js/lib/merkle.js: the RFC 6962 vectors of transparency-dev/merkle
// (docs/ledger.md, /work/shared/FACTS.md; tests/unit/test_merkle.c holds the
// same), and for every tree size 1..40, every index and every pair of sizes,
// the proofs of a reference written from RFC 9162's definitions (tree.mjs):
// they verify, and a flipped bit, a missing or an extra hash, another index
// or another size does not.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { FormatError } from '../../../web/js/lib/bytes.js';
import {
    emptyRoot, inclusionProofLength, leafHash, nodeHash, rootFromInclusionProof, verifyConsistency, verifyInclusion,
} from '../../../web/js/lib/merkle.js';
import { Tree, fromHex, leafHashRef, toHex } from './tree.mjs';

const INPUTS = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'];
const ROOTS = [
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
    'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
    'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
    '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
    'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
    '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

test('RFC 6962 vectors: leaf hashes, node hash, roots, known proofs', async () => {
    const leaves = [];
    for (const input of INPUTS)
        leaves.push(await leafHash(fromHex(input)));
    assert.equal(toHex(leaves[0]), '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d');
    assert.equal(toHex(leaves[7]), '46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1');
    assert.equal(toHex(await nodeHash(leaves[6], leaves[7])),
                 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0');
    assert.equal(toHex(await emptyRoot()), ROOTS[0]);
    // The roots through the reference, whose leaves are ours: the module's
    // hashing and the RFC's recursion agree with the published roots.
    for (let n = 0; n <= 8; n++)
        assert.equal(toHex(new Tree(leaves.slice(0, n)).mth()), ROOTS[n], `root of ${n}`);

    // verify_test.go inclusionProofs (their leaf is 1-based).
    const inclusion = [
        [0, 1, []],
        [0, 8, ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
                '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
                '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4']],
        [5, 8, ['bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
                'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
                'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']],
        [2, 3, ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125']],
        [1, 5, ['6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
                '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
                'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b']],
    ];
    for (const [index, size, proof] of inclusion) {
        const root = await rootFromInclusionProof(index, size, leaves[index], proof.map(fromHex));
        assert.equal(toHex(root), ROOTS[size], `inclusion ${index} in ${size}`);
    }
    // verify_test.go consistencyProofs.
    const consistency = [
        [1, 1, []],
        [1, 8, ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
                '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
                '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4']],
        [6, 8, ['0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
                'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
                'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']],
        [2, 5, ['5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
                'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b']],
        [6, 7, ['0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
                'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
                'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']],
    ];
    for (const [m, n, proof] of consistency) {
        const [r1, r2] = [fromHex(ROOTS[m]), fromHex(ROOTS[n])];
        assert.equal(await verifyConsistency(m, n, r1, r2, proof.map(fromHex)), true, `consistency ${m} ${n}`);
        assert.equal(await verifyConsistency(m, n, r2, r1, proof.map(fromHex)), m === n, `swapped roots ${m} ${n}`);
    }
});

test('edge cases: empty trees, equal sizes, index out of range', async () => {
    const empty = fromHex(ROOTS[0]);
    const leaf0 = await leafHash(new Uint8Array(0)), leaf1 = await leafHash(Uint8Array.of(0));
    // verify_test.go TestVerifyConsistency's edges.
    assert.equal(await verifyConsistency(0, 0, empty, empty, []), true);
    assert.equal(await verifyConsistency(0, 1, empty, leaf0, []), true);
    assert.equal(await verifyConsistency(0, 1, leaf0, leaf0, []), false, 'size 0 needs the empty root');
    assert.equal(await verifyConsistency(1, 0, leaf0, empty, []), false);
    assert.equal(await verifyConsistency(1, 1, leaf0, leaf1, []), false);
    assert.equal(await verifyConsistency(1, 2, leaf0, leaf1, []), false);
    assert.equal(await verifyConsistency(0, 0, empty, empty, [empty]), false);
    assert.equal(await verifyConsistency(1, 1, leaf0, leaf0, [empty]), false);
    assert.equal(await verifyConsistency(0, 3, empty, leaf0, [leaf0]), false);
    // Inclusion: nothing is in the empty tree, and index < size.
    await assert.rejects(rootFromInclusionProof(0, 0, leaf0, []), FormatError);
    await assert.rejects(rootFromInclusionProof(2, 1, leaf0, []), FormatError);
    assert.equal(toHex(await rootFromInclusionProof(0, 1, leaf0, [])), toHex(leaf0));
    assert.equal(await verifyInclusion(0, 1, leaf0, [], leaf1), false);
    assert.equal(await verifyInclusion(1, 1, leaf0, [], leaf0), false);
    // Malformed hashes and arguments.
    await assert.rejects(rootFromInclusionProof(0, 2, leaf0, [new Uint8Array(31)]), FormatError);
    await assert.rejects(rootFromInclusionProof(0, 2, leaf0.slice(1), [leaf1]), FormatError);
    await assert.rejects(rootFromInclusionProof(0, 2, leaf0, 'not a list'), FormatError);
    assert.equal(await verifyConsistency(1, 2, leaf0, leaf1, [new Uint8Array(33)]), false);
    await assert.rejects(rootFromInclusionProof(-1, 2, leaf0, [leaf1]), TypeError);
    await assert.rejects(rootFromInclusionProof(0.5, 2, leaf0, [leaf1]), TypeError);
    await assert.rejects(verifyConsistency(1, 2 ** 53, leaf0, leaf1, []), TypeError);
    // Sizes past 2^32 (no 32-bit arithmetic): the proof length of the last
    // leaf of 2^53 - 1 leaves is 52, of the first 53.
    assert.equal(inclusionProofLength(2 ** 53 - 2, 2 ** 53 - 1), 52);
    assert.equal(inclusionProofLength(0, 2 ** 53 - 1), 53);
    assert.equal(inclusionProofLength(2 ** 40, 2 ** 40 + 1), 1);
    assert.equal(inclusionProofLength(5, 2 ** 33), 33);
});

// Flips one bit of one hash of a list: all 256 bits of each hash in trees up
// to 4 leaves; every 13th bit (20 of them, in 20 bytes) up to 8 leaves;
// above, every 97th (bits 0, 97 and 194: three bytes, three places in a
// byte). Every hash of every proof is damaged, and the run stays at seconds:
// Web Crypto's SHA-256 costs some 25 microseconds a call here, even many at
// a time (test_merkle.c samples above 8 leaves too).
function* flips(list, n) {
    const stride = n <= 4 ? 1 : n <= 8 ? 13 : 97;
    for (let i = 0; i < list.length; i++)
        for (let bit = 0; bit < 256; bit += stride) {
            const copy = list.map((h) => h.slice());
            copy[i][bit >> 3] ^= 1 << (bit & 7);
            yield copy;
        }
}

const MAX = 40;
const leaves = [];
for (let i = 0; i < MAX; i++)
    leaves.push(leafHashRef(Uint8Array.of(i >> 24, i >> 16, i >> 8, i)));
const roots = [];
for (let n = 0; n <= MAX; n++)
    roots.push(new Tree(leaves.slice(0, n)).mth());

// Awaits a size's checks together: Web Crypto hashes on a thread pool, and
// one at a time the run would take ten times as long.
async function allFalse(checks, where) {
    const results = await Promise.all(checks);
    assert.ok(results.every((r) => r === false), `${where}: a damaged proof verified`);
    return results.length;
}

// The proof with its first or last hash left out, or one added at either end.
function misshapen(proof) {
    const extra = leaves[0];
    return [proof.slice(1), proof.slice(0, -1), [...proof, extra], [extra, ...proof]]
        .filter((p) => p.length !== proof.length);
}

test('inclusion: every size 1..40 and index, and every damaged proof', async () => {
    let checked = 0;
    for (let n = 1; n <= MAX; n++) {
        const tree = new Tree(leaves.slice(0, n));
        const bad = [];
        for (let m = 0; m < n; m++) {
            const path = tree.path(m);
            const where = `index ${m} of ${n}`;
            assert.equal(inclusionProofLength(m, n), path.length, where);
            assert.equal(toHex(await rootFromInclusionProof(m, n, leaves[m], path)), toHex(roots[n]), where);
            for (const p of flips(path, n))
                bad.push(verifyInclusion(m, n, leaves[m], p, roots[n]));
            // Another leaf, another index, the root of another size.
            bad.push(verifyInclusion(m, n, leaves[(m + 1) % MAX], path, roots[n]));
            if (n > 1)
                bad.push(verifyInclusion((m + 1) % n, n, leaves[m], path, roots[n]));
            bad.push(verifyInclusion(m, n, leaves[m], path, roots[n - 1]));
            bad.push(verifyInclusion(m, n, leaves[m], path, roots[n + 1] ?? roots[0]));
            // Truncated or extended: the wrong length is refused outright.
            for (const p of misshapen(path))
                await assert.rejects(rootFromInclusionProof(m, n, leaves[m], p), FormatError, where);
        }
        checked += await allFalse(bad, `size ${n}`);
    }
    assert.ok(checked > 10000, `only ${checked} damaged proofs`);
});

test('consistency: every pair of sizes 1..40, and every damaged proof', async () => {
    let checked = 0;
    for (let n = 1; n <= MAX; n++) {
        const tree = new Tree(leaves.slice(0, n));
        const bad = [];
        for (let m = 0; m <= n; m++) {
            const proof = tree.consistency(m, n);
            assert.equal(await verifyConsistency(m, n, roots[m], roots[n], proof), true, `${m} to ${n}`);
            for (const p of [...flips(proof, n), ...misshapen(proof)])
                bad.push(verifyConsistency(m, n, roots[m], roots[n], p));
            if (m !== n)
                bad.push(verifyConsistency(m, n, roots[n], roots[m], proof));
            if (m !== 0 && m !== n) // from the empty tree, every tree is consistent
                bad.push(verifyConsistency(m, n, roots[m], roots[n - 1], proof));
            if (m > 0 && m < n - 1)
                bad.push(verifyConsistency(m + 1, n, roots[m + 1], roots[n], proof));
        }
        checked += await allFalse(bad, `size ${n}`);
    }
    assert.ok(checked > 10000, `only ${checked} damaged proofs`);
});
