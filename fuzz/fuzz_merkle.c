/* fuzz_merkle: the verifiers of merkle.h on untrusted sizes, proofs and
 * border hashes (what a bundle or a proof request hands them), and the
 * generators on arbitrary 64-bit sizes against a synthetic source (a tree
 * whose leaves are all equal, so any size has cheap, consistent hashes).
 *
 * Input: three little-endian uint64 (a, b, c), then 32-byte hashes (up to
 * MERKLE_MAX_BORDER + MERKLE_MAX_FRONTIER; a short tail is dropped).
 *
 * Invariants: the verifiers return 0 or MERKLE_EPROOF, never read past the
 * hashes they are given (ASan), and for sizes b of any magnitude the
 * generated inclusion proof of a % b, the consistency proof from a % (b+1),
 * and the borders of [a % (b+1), b) all check against merkle_root(b), with
 * every ask for a complete subtree inside the tree of b leaves. */
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "merkle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define H    MERKLE_HASH_LEN
#define MAXH (MERKLE_MAX_BORDER + MERKLE_MAX_FRONTIER)

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

struct synth {
	uint64_t size;
};

/* A consistent tree of any size: every leaf is the same, so a complete
 * subtree's hash depends on its level only (levels[l]); the right edges of
 * trees still differ. */
static uint8_t levels[64][H];

static void init_levels(void)
{
	static int done;
	if (done)
		return;
	FUZZ_CHECK(merkle_leaf_hash("x", 1, levels[0]) == 0, "leaf hash");
	for (int l = 1; l < 64; l++)
		FUZZ_CHECK(merkle_node_hash(levels[l - 1], levels[l - 1], levels[l]) == 0,
		           "node hash");
	done = 1;
}

static int synth_node(void *ctx, unsigned level, uint64_t index, uint8_t out[H])
{
	const struct synth *s = ctx;
	FUZZ_CHECK(level < 64 && index < (s->size >> level), "ask (%u, %llu) outside %llu", level,
	           (unsigned long long)index, (unsigned long long)s->size);
	memcpy(out, levels[level], H);
	return 0;
}

static void generated(uint64_t a, uint64_t b)
{
	if (b == 0)
		return;
	init_levels();
	struct synth s = {b};
	struct merkle_source src = {synth_node, &s};
	uint8_t root[H], root1[H], leaf[H], proof[MERKLE_MAX_PROOF][H];
	size_t len;
	FUZZ_CHECK(merkle_root(b, &src, root) == 0, "root of %llu", (unsigned long long)b);

	uint64_t i = a % b;
	FUZZ_CHECK(merkle_inclusion_proof(i, b, &src, proof, &len) == 0, "inclusion proof");
	FUZZ_CHECK(synth_node(&s, 0, i, leaf) == 0, "leaf");
	FUZZ_CHECK(merkle_inclusion_verify(i, b, leaf, (const uint8_t(*)[H])proof, len, root) == 0,
	           "inclusion of %llu in %llu", (unsigned long long)i, (unsigned long long)b);

	uint64_t m = b == UINT64_MAX ? a : a % (b + 1);
	s.size = m;
	FUZZ_CHECK(merkle_root(m, &src, root1) == 0, "root of %llu", (unsigned long long)m);
	s.size = b;
	FUZZ_CHECK(merkle_consistency_proof(m, b, &src, proof, &len) == 0, "consistency proof");
	FUZZ_CHECK(merkle_consistency_verify(m, b, root1, root, (const uint8_t(*)[H])proof, len) ==
	               0,
	           "consistency %llu -> %llu", (unsigned long long)m, (unsigned long long)b);

	uint8_t left[MERKLE_MAX_FRONTIER][H], right[MERKLE_MAX_BORDER][H], got[H];
	unsigned lc, rc;
	struct merkle_frontier f;
	FUZZ_CHECK(merkle_border_left(m, &src, left, &lc) == 0, "left border");
	FUZZ_CHECK(merkle_border_right(m, b, &src, right, &rc) == 0, "right border");
	FUZZ_CHECK(lc == merkle_border_left_count(m) && rc == merkle_border_right_count(m, b),
	           "border counts");
	FUZZ_CHECK(merkle_frontier_restore(&f, m, (const uint8_t(*)[H])left, lc) == 0, "restore");
	FUZZ_CHECK(merkle_border_finish(&f, b, (const uint8_t(*)[H])right, rc, got) == 0, "finish");
	FUZZ_CHECK(memcmp(got, root, H) == 0, "borders of [%llu, %llu) give another root",
	           (unsigned long long)m, (unsigned long long)b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 24)
		return 0;
	uint64_t a = le64(data), b = le64(data + 8), c = le64(data + 16);
	size_t n = (size - 24) / H;
	if (n > MAXH)
		n = MAXH;
	/* An exact-size copy, so ASan sees any read past the last hash. */
	uint8_t(*h)[H] = malloc(n ? n * H : 1);
	if (!h)
		abort();
	if (n)
		memcpy(h, data + 24, n * H);
	const uint8_t(*ch)[H] = (const uint8_t(*)[H])h;
	uint8_t zero[H] = {0}, out[H];

	if (n >= 2) {
		int rc = merkle_inclusion_verify(a, b, ch[0], ch + 2, n - 2, ch[1]);
		FUZZ_CHECK(rc == 0 || rc == MERKLE_EPROOF, "inclusion_verify returned %d", rc);
		rc = merkle_consistency_verify(a, b, ch[0], ch[1], ch + 2, n - 2);
		FUZZ_CHECK(rc == 0 || rc == MERKLE_EPROOF, "consistency_verify returned %d", rc);
	}
	int rc = merkle_consistency_verify(a, b, zero, zero, ch, n);
	FUZZ_CHECK(rc == 0 || rc == MERKLE_EPROOF, "consistency_verify returned %d", rc);

	/* A bundle's borders: a frontier at a, leaves, then the right border
	 * of [a + leaves, b), the counts taken from c where they fit. */
	struct merkle_frontier f;
	unsigned lc = merkle_border_left_count(a);
	if (lc <= n && merkle_frontier_restore(&f, a, ch, lc) == 0) {
		size_t used = lc, leaves = (size_t)(c % 8);
		for (size_t i = 0; i < leaves && used < n; i++, used++)
			if (merkle_frontier_append(&f, ch[used]))
				break;
		unsigned rcount = merkle_border_right_count(f.size, b);
		if (rcount <= n - used) {
			rc = merkle_border_finish(&f, b, ch + used, rcount, out);
			FUZZ_CHECK(rc == 0 || rc == MERKLE_EARG, "border_finish returned %d", rc);
		}
		rc = merkle_border_finish(&f, b, ch + used, (unsigned)(n - used), out);
		FUZZ_CHECK(rc == 0 || rc == MERKLE_EARG, "border_finish returned %d", rc);
	}
	free(h);

	generated(a, b);
	generated(c, a);
	return 0;
}
