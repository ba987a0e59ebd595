/* merkle: the Merkle tree hashing of a transparency log (RFC 9162 §2.1).
 *
 * A pure module: SHA-256 from OpenSSL and nothing else. It hashes leaves
 * and nodes, keeps the "frontier" a log's single writer needs (the roots
 * of the complete subtrees covering [0, size): at most 64 hashes), makes
 * and checks inclusion and consistency proofs, and makes and checks the
 * "borders" that let an offline verifier recompute a checkpoint's root
 * from an exported slice of leaves.
 *
 * Hashes are raw 32-byte SHA-256 values. Every array of hashes is
 * `uint8_t (*)[MERKLE_HASH_LEN]`, owned by the caller; nothing here
 * allocates memory that outlives a call.
 *
 * Where the stored hashes come from is the caller's business: functions
 * that need hashes of the tree ask a merkle_source for the hash of one
 * complete subtree, named by (level, index): the subtree of 2^level leaves
 * [index * 2^level, (index + 1) * 2^level). The module only ever asks for
 * complete subtrees lying inside the tree it works on, so an accessor
 * over stored tiles (c2sp.org/tlog-tiles stores exactly these nodes) or a
 * table of interior hashes answers each ask with one lookup, and a proof
 * costs O(log n) asks. merkle_leaf_source adapts a leaf-hash accessor to
 * the same interface, at a cost of 2^level leaf reads per node (fine for
 * tests and small trees, not for a proof in a tree of millions).
 *
 * Status returns: 0 = ok, otherwise a negative enum merkle_status. */
#ifndef AUDITLOG_MERKLE_H
#define AUDITLOG_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#define MERKLE_HASH_LEN 32
/* Largest number of complete subtrees covering [0, size): one per bit. */
#define MERKLE_MAX_FRONTIER 64
/* Capacity for any inclusion or consistency proof (RFC 9162: at most
 * ceil(log2 n) + 1 hashes; 64-bit sizes). */
#define MERKLE_MAX_PROOF 66
/* Capacity for a right border (at most two subtrees per level). */
#define MERKLE_MAX_BORDER 128

#define MERKLE_WARN __attribute__((warn_unused_result))

enum merkle_status {
	MERKLE_OK = 0,
	MERKLE_EARG = -1,    /* sizes or indexes out of range, counts wrong */
	MERKLE_EPROOF = -2,  /* a proof, border or root does not verify */
	MERKLE_ESOURCE = -3, /* the caller's accessor returned non-zero */
	MERKLE_ECRYPTO = -4, /* OpenSSL failed (memory) */
};

/* A static English string for a status; never NULL. */
const char *merkle_strerror(int status);

/* Plain SHA-256 (FIPS 180-4) of a[0..alen) ‖ b[0..blen) into out: the
 * hash the tree is built of. a or b may be NULL when its length is 0.
 * Safe from any thread (each keeps one digest context, freed at its
 * exit). Returns 0 or MERKLE_ECRYPTO. */
int merkle_sha256(const void *a, size_t alen, const void *b, size_t blen,
                  uint8_t out[MERKLE_HASH_LEN]) MERKLE_WARN;
/* SHA-256(0x00 ‖ data[0..len)) into out (RFC 9162 §2.1.1). data may be
 * NULL when len is 0. Returns 0 or MERKLE_ECRYPTO. */
int merkle_leaf_hash(const void *data, size_t len, uint8_t out[MERKLE_HASH_LEN]) MERKLE_WARN;
/* SHA-256(0x01 ‖ left ‖ right) into out (RFC 9162 §2.1.1); out may alias
 * left or right. Returns 0 or MERKLE_ECRYPTO. */
int merkle_node_hash(const uint8_t left[MERKLE_HASH_LEN], const uint8_t right[MERKLE_HASH_LEN],
                     uint8_t out[MERKLE_HASH_LEN]) MERKLE_WARN;
/* The root of the empty tree, SHA-256 of nothing (RFC 9162 §2.1.1). */
int merkle_empty_root(uint8_t out[MERKLE_HASH_LEN]) MERKLE_WARN;

/* The source of subtree hashes. node() writes the hash of the complete
 * subtree (level, index) into out and returns 0, or non-zero if it cannot
 * (the calling function then returns MERKLE_ESOURCE). For level 0 that
 * is the leaf hash of position index. */
struct merkle_source {
	int (*node)(void *ctx, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_LEN]);
	void *ctx;
};

/* Adapter from leaf hashes: set get_leaf and ctx, then pass
 * merkle_leaf_source_init(&ls) as the source. Interior nodes are
 * recomputed from 2^level leaves each time. ls must outlive the source. */
struct merkle_leaf_source {
	int (*get_leaf)(void *ctx, uint64_t index, uint8_t out[MERKLE_HASH_LEN]);
	void *ctx;
};
struct merkle_source merkle_leaf_source_init(struct merkle_leaf_source *ls);

/* The root (MTH, RFC 9162 §2.1.1) of the tree of the first `size` leaves
 * of src, from popcount(size) asks. Returns 0, MERKLE_ESOURCE, or
 * MERKLE_ECRYPTO. */
int merkle_root(uint64_t size, const struct merkle_source *src,
                uint8_t out[MERKLE_HASH_LEN]) MERKLE_WARN;

/* ------------------------------------------------------------------ */
/* The frontier ("compact range" [0, size)): what a log's single writer
 * keeps. hashes[0..count) are the roots of the complete subtrees covering
 * [0, size), largest (leftmost) first: one per set bit of size, from the
 * highest bit down, so count == popcount(size). To persist it, save size
 * and the count hashes; merkle_frontier_restore() takes them back. A plain
 * struct (2 KiB), copied freely, nothing to free. */
struct merkle_frontier {
	uint64_t size;
	unsigned count;
	uint8_t hashes[MERKLE_MAX_FRONTIER][MERKLE_HASH_LEN];
};

/* The empty tree. */
void merkle_frontier_init(struct merkle_frontier *f);
/* Restores a saved frontier: count must equal popcount(size) and count
 * <= MERKLE_MAX_FRONTIER, else MERKLE_EARG. hashes is copied. The same
 * hashes are the left border of `size` (see below). */
int merkle_frontier_restore(struct merkle_frontier *f, uint64_t size,
                            const uint8_t (*hashes)[MERKLE_HASH_LEN], unsigned count) MERKLE_WARN;
/* Appends one leaf hash (position f->size). O(log n) node hashes at
 * worst, amortised one. Returns 0, MERKLE_EARG (size would overflow) or
 * MERKLE_ECRYPTO (f unchanged on error). */
int merkle_frontier_append(struct merkle_frontier *f,
                           const uint8_t leaf_hash[MERKLE_HASH_LEN]) MERKLE_WARN;
/* Told of a complete subtree (level >= 1, index) and its hash; returns 0
 * to go on, non-zero to fail the append (MERKLE_ESOURCE). */
typedef int (*merkle_visit_fn)(void *ctx, unsigned level, uint64_t index,
                               const uint8_t hash[MERKLE_HASH_LEN]);
/* merkle_frontier_append that also calls visit (may be NULL) for each
 * complete subtree the leaf completes, level 1 upwards: the log's writer
 * stores some of them (interior hashes for proofs). f is unchanged when it
 * fails. */
int merkle_frontier_append_visit(struct merkle_frontier *f,
                                 const uint8_t leaf_hash[MERKLE_HASH_LEN], merkle_visit_fn visit,
                                 void *ctx) MERKLE_WARN;
/* Appends a whole complete subtree of 2^level leaves with root hash:
 * f->size must be a multiple of 2^level (else MERKLE_EARG). */
int merkle_frontier_append_subtree(struct merkle_frontier *f, unsigned level,
                                   const uint8_t hash[MERKLE_HASH_LEN]) MERKLE_WARN;
/* The root of the tree of f->size leaves (the empty root for 0): the
 * frontier folded from the right, h = node(hashes[i], h). */
int merkle_frontier_root(const struct merkle_frontier *f, uint8_t out[MERKLE_HASH_LEN]) MERKLE_WARN;

/* ------------------------------------------------------------------ */
/* Inclusion proofs (RFC 9162 §2.1.3). */

/* PATH(index, D[size]) (§2.1.3.1), bottom up, into proof (capacity
 * MERKLE_MAX_PROOF); *len gets the number of hashes. index < size, else
 * MERKLE_EARG. Asks src for O(log size) complete subtrees. */
int merkle_inclusion_proof(uint64_t index, uint64_t size, const struct merkle_source *src,
                           uint8_t (*proof)[MERKLE_HASH_LEN], size_t *len) MERKLE_WARN;
/* Verifies (§2.1.3.2) that leaf_hash is at index in the tree of size
 * with root. Returns 0, MERKLE_EPROOF (including index >= size, a proof
 * of the wrong length) or MERKLE_ECRYPTO. */
int merkle_inclusion_verify(uint64_t index, uint64_t size, const uint8_t leaf_hash[MERKLE_HASH_LEN],
                            const uint8_t (*proof)[MERKLE_HASH_LEN], size_t len,
                            const uint8_t root[MERKLE_HASH_LEN]) MERKLE_WARN;

/* ------------------------------------------------------------------ */
/* Consistency proofs (RFC 9162 §2.1.4). */

/* PROOF(m, D[n]) (§2.1.4.1) for 0 <= m <= n, into proof (capacity
 * MERKLE_MAX_PROOF). Empty when m == 0 or m == n. MERKLE_EARG if m > n. */
int merkle_consistency_proof(uint64_t m, uint64_t n, const struct merkle_source *src,
                             uint8_t (*proof)[MERKLE_HASH_LEN], size_t *len) MERKLE_WARN;
/* Verifies (§2.1.4.2) that the tree of size n with root2 extends the tree
 * of size m with root1. m == n needs an empty proof and equal roots;
 * m == 0 needs an empty proof and root1 the empty root. Returns 0,
 * MERKLE_EPROOF or MERKLE_ECRYPTO. */
int merkle_consistency_verify(uint64_t m, uint64_t n, const uint8_t root1[MERKLE_HASH_LEN],
                              const uint8_t root2[MERKLE_HASH_LEN],
                              const uint8_t (*proof)[MERKLE_HASH_LEN], size_t len) MERKLE_WARN;

/* ------------------------------------------------------------------ */
/* Borders of a slice: recomputing the root of a tree of `size` leaves
 * from the leaf hashes of positions [from, to) alone.
 *
 * The left border of `from` is the frontier of `from`: the roots of the
 * complete subtrees covering [0, from), one per set bit of from, highest
 * first. The subtree for bit k starts at p = (from with bits k and below
 * cleared) and is node (k, p >> k). popcount(from) hashes.
 *
 * The right border of [to, size) is the cover of [to, size) by maximal
 * aligned complete subtrees, left to right: starting at p = to, take the
 * largest k with p a multiple of 2^k and p + 2^k <= size, emit node
 * (k, p >> k), advance p by 2^k, until p == size. At most 2 * 63 hashes.
 *
 * Then: restore a frontier from the left border at size from, append the
 * leaf hashes of [from, to) in order, append each right-border subtree
 * with merkle_frontier_append_subtree, and take the root. */

/* Number of hashes in the left border of from (= popcount(from)). */
unsigned merkle_border_left_count(uint64_t from);
/* Number of hashes in the right border of [to, size); 0 if to >= size. */
unsigned merkle_border_right_count(uint64_t to, uint64_t size);
/* The left border of from into out (capacity MERKLE_MAX_FRONTIER);
 * *count gets merkle_border_left_count(from). */
int merkle_border_left(uint64_t from, const struct merkle_source *src,
                       uint8_t (*out)[MERKLE_HASH_LEN], unsigned *count) MERKLE_WARN;
/* The right border of [to, size) into out (capacity MERKLE_MAX_BORDER);
 * MERKLE_EARG if to > size. */
int merkle_border_right(uint64_t to, uint64_t size, const struct merkle_source *src,
                        uint8_t (*out)[MERKLE_HASH_LEN], unsigned *count) MERKLE_WARN;
/* Finishes a frontier f (of size `to`, after the slice's leaves were
 * appended) with the right border of [f->size, size) and writes the root
 * of size leaves into out. f is not changed. MERKLE_EARG if count is not
 * merkle_border_right_count(f->size, size). */
int merkle_border_finish(const struct merkle_frontier *f, uint64_t size,
                         const uint8_t (*right)[MERKLE_HASH_LEN], unsigned count,
                         uint8_t out[MERKLE_HASH_LEN]) MERKLE_WARN;
/* All of it in one call: the root of size leaves from the left border of
 * from (left_count hashes), the leaf hashes of [from, to) (to - from of
 * them), and the right border of [to, size) (right_count hashes). Returns
 * 0 with the root in out, or MERKLE_EARG when a count does not match the
 * positions. The caller compares out with the signed root. */
int merkle_slice_root(uint64_t from, const uint8_t (*left)[MERKLE_HASH_LEN], unsigned left_count,
                      const uint8_t (*leaves)[MERKLE_HASH_LEN], uint64_t to, uint64_t size,
                      const uint8_t (*right)[MERKLE_HASH_LEN], unsigned right_count,
                      uint8_t out[MERKLE_HASH_LEN]) MERKLE_WARN;

#endif
