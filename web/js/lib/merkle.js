// merkle: the Merkle tree hashing of the log of record and the checking of
// its proofs, RFC 9162 §2.1 (the hashing of RFC 6962), as common/merkle.c
// does it (docs/ledger.md "The Merkle tree").
//
// Hashes are 32-byte Uint8Arrays (SHA-256 through Web Crypto, so every
// function that hashes returns a Promise). Sizes and indexes are numbers
// that are safe integers (up to 2^53 - 1; a log's positions stop at 2^53).
// Nothing is kept between calls; arguments are never changed.
//
//   leafHash(bytes) -> Promise<Uint8Array>       SHA-256(0x00 ‖ bytes), §2.1.1
//   nodeHash(left, right) -> Promise<Uint8Array> SHA-256(0x01 ‖ left ‖ right)
//   emptyRoot() -> Promise<Uint8Array>           the root of 0 leaves, SHA-256("")
//   inclusionProofLength(index, size) -> number  how many hashes the proof
//                                                for index in size leaves has
//   rootFromInclusionProof(index, size, leafHash, path) -> Promise<Uint8Array>
//       The root that path (Uint8Array[], bottom up, §2.1.3.1 PATH) gives
//       for the leaf hash at index in a tree of size leaves: §2.1.3.2. The
//       caller compares it with the signed root. Throws FormatError (the
//       proof cannot be one: index >= size, a path of the wrong length, a
//       hash that is not 32 bytes) before hashing anything, TypeError for
//       an index or size that is not a safe non-negative integer.
//   verifyInclusion(index, size, leafHash, path, root) -> Promise<boolean>
//       The same, compared with root; false instead of any FormatError.
//   verifyConsistency(size1, size2, root1, root2, path) -> Promise<boolean>
//       Whether path (§2.1.4.1 PROOF) proves that the tree of size2 leaves
//       with root2 extends the tree of size1 leaves with root1: §2.1.4.2.
//       size1 = size2 needs an empty path and equal roots; size1 = 0 an
//       empty path and root1 the empty root. False for a malformed proof;
//       TypeError only for sizes that are not safe non-negative integers.
//
// Neither proof binds the tree size by itself: take the size from a signed
// checkpoint, never from a proof (docs/ledger.md "Inclusion and consistency
// proofs").
//
// The byte helpers live in bytes.js and are re-exported here.

import { FormatError, concatBytes, equalBytes, sha256 } from './bytes.js';

export { b64decode, b64encode, b64urlDecode, b64urlEncode, equalBytes } from './bytes.js';

export const HASH_LEN = 32;
const LEAF_PREFIX = new Uint8Array([0]);
const NODE_PREFIX = new Uint8Array([1]);

// The sizes can pass 2^32, so no bitwise operators: halving and parity by
// arithmetic, exact on safe integers.
const odd = (x) => x % 2 === 1;
const half = (x) => Math.floor(x / 2);

function isPowerOfTwo(x) {
    let p = 1;
    while (p < x)
        p *= 2;
    return p === x;
}

function checkCount(name, x) {
    if (!Number.isSafeInteger(x) || x < 0)
        throw new TypeError(`${name} must be a safe non-negative integer`);
}

function isHash(h) {
    return h instanceof Uint8Array && h.length === HASH_LEN;
}

export function leafHash(bytes) {
    return sha256(concatBytes(LEAF_PREFIX, bytes));
}

export function nodeHash(left, right) {
    return sha256(concatBytes(NODE_PREFIX, left, right));
}

export function emptyRoot() {
    return sha256(new Uint8Array(0));
}

// The walk of §2.1.3.2 without the hashing: for each step, whether the proof
// hash goes on the left. Its length is the proof's.
function inclusionSides(index, size) {
    checkCount('index', index);
    checkCount('size', size);
    if (index >= size)
        throw new FormatError(`position ${index} is not in a tree of ${size} leaves`);
    const left = [];
    let fn = index, sn = size - 1;
    while (sn > 0) {
        if (odd(fn) || fn === sn) {
            left.push(true);
            if (!odd(fn))
                while (!odd(fn) && fn !== 0) {
                    fn = half(fn);
                    sn = half(sn);
                }
        } else {
            left.push(false);
        }
        fn = half(fn);
        sn = half(sn);
    }
    return left;
}

export function inclusionProofLength(index, size) {
    return inclusionSides(index, size).length;
}

export async function rootFromInclusionProof(index, size, leaf, path) {
    const left = inclusionSides(index, size);
    const n = left.length;
    if (!isHash(leaf))
        throw new FormatError('the leaf hash is not 32 bytes');
    if (!Array.isArray(path) || path.length !== n)
        throw new FormatError(`a proof for position ${index} in a tree of ${size} leaves has ${n} hashes` +
                              (Array.isArray(path) ? `, not ${path.length}` : ''));
    if (!path.every(isHash))
        throw new FormatError('a proof hash is not 32 bytes');
    let r = leaf;
    for (let i = 0; i < n; i++)
        r = left[i] ? await nodeHash(path[i], r) : await nodeHash(r, path[i]);
    return r;
}

export async function verifyInclusion(index, size, leaf, path, root) {
    try {
        return equalBytes(await rootFromInclusionProof(index, size, leaf, path), root);
    } catch (e) {
        if (e instanceof FormatError)
            return false;
        throw e;
    }
}

export async function verifyConsistency(size1, size2, root1, root2, path) {
    checkCount('size1', size1);
    checkCount('size2', size2);
    if (size1 > size2 || !isHash(root1) || !isHash(root2) || !Array.isArray(path) || !path.every(isHash))
        return false;
    if (size1 === size2)
        return path.length === 0 && equalBytes(root1, root2);
    if (size1 === 0)
        return path.length === 0 && equalBytes(root1, await emptyRoot());
    if (path.length === 0)
        return false;
    // §2.1.4.2 as written; "prepend first_hash" is starting from root1.
    let i = 0;
    let fn = size1 - 1, sn = size2 - 1;
    const first = isPowerOfTwo(size1) ? root1 : path[i++];
    while (odd(fn)) {
        fn = half(fn);
        sn = half(sn);
    }
    let fr = first, sr = first;
    for (; i < path.length; i++) {
        if (sn === 0)
            return false;
        if (odd(fn) || fn === sn) {
            [fr, sr] = await Promise.all([nodeHash(path[i], fr), nodeHash(path[i], sr)]);
            if (!odd(fn))
                while (!odd(fn) && fn !== 0) {
                    fn = half(fn);
                    sn = half(sn);
                }
        } else {
            sr = await nodeHash(sr, path[i]);
        }
        fn = half(fn);
        sn = half(sn);
    }
    return sn === 0 && equalBytes(fr, root1) && equalBytes(sr, root2);
}
