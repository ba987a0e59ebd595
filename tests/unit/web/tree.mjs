// A reference Merkle tree for the web tests, written straight from RFC 9162's
// recursive definitions (§2.1.1 MTH, §2.1.3.1 PATH, §2.1.4.1 PROOF and
// SUBPROOF) with node:crypto, so that it shares no code with the module
// under test. Also the small helpers the tests share.

import { createHash } from 'node:crypto';

export const sha256 = (...parts) => {
    const h = createHash('sha256');
    for (const p of parts)
        h.update(p);
    return new Uint8Array(h.digest());
};
export const leafHashRef = (data) => sha256(Uint8Array.of(0), data);
export const nodeHashRef = (l, r) => sha256(Uint8Array.of(1), l, r);
export const fromHex = (s) => new Uint8Array(Buffer.from(s, 'hex'));
export const toHex = (b) => Buffer.from(b).toString('hex');

const pow2Below = (n) => {
    let k = 1;
    while (k * 2 < n)
        k *= 2;
    return k;
};

export class Tree {
    constructor(leafHashes) {
        this.leaves = leafHashes;
    }

    // MTH(D[a : a + n]).
    mth(a = 0, n = this.leaves.length) {
        if (n === 0)
            return sha256(new Uint8Array(0));
        if (n === 1)
            return this.leaves[a];
        const k = pow2Below(n);
        return nodeHashRef(this.mth(a, k), this.mth(a + k, n - k));
    }

    // PATH(m, D[a : a + n]).
    path(m, a = 0, n = this.leaves.length) {
        if (n === 1)
            return [];
        const k = pow2Below(n);
        return m < k ? [...this.path(m, a, k), this.mth(a + k, n - k)]
            : [...this.path(m - k, a + k, n - k), this.mth(a, k)];
    }

    // PROOF(m, D[0 : n]).
    consistency(m, n) {
        return m === 0 || m === n ? [] : this.#subproof(m, 0, n, true);
    }

    #subproof(m, a, n, b) {
        if (m === n)
            return b ? [] : [this.mth(a, n)];
        const k = pow2Below(n);
        return m <= k ? [...this.#subproof(m, a, k, b), this.mth(a + k, n - k)]
            : [...this.#subproof(m - k, a + k, n - k, false), this.mth(a, k)];
    }
}

// A small seeded generator (xorshift32), so that a failure can be replayed.
export function rng(seed) {
    let x = seed >>> 0 || 1;
    const next = () => {
        x ^= x << 13;
        x >>>= 0;
        x ^= x >>> 17;
        x ^= x << 5;
        x >>>= 0;
        return x;
    };
    next.below = (n) => next() % n;
    return next;
}
