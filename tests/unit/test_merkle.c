/* RFC 9162 tree hashing against the RFC 6962 vectors of transparency-dev/merkle
 * (testonly/constants.go, proof/verify_test.go), and against a reference
 * written straight from the RFC's recursive definitions for every size up
 * to 64. */
#include "merkle.h"
#include "testhelp.h"

#include <stdint.h>
#include <stdlib.h>

#define H    MERKLE_HASH_LEN
#define MAXN 64

static void unhex(const char *s, uint8_t *out)
{
	for (size_t i = 0; s[2 * i]; i++) {
		unsigned v;
		sscanf(s + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

static int hash_is(const uint8_t *h, const char *hex)
{
	uint8_t want[H];
	unhex(hex, want);
	return memcmp(h, want, H) == 0;
}

/* ---- the reference, from the RFC's recursions ---- */

static uint8_t leaves[MAXN][H];

static uint64_t pow2_below(uint64_t n) /* largest power of two < n, n > 1 */
{
	uint64_t k = 1;
	while (k * 2 < n)
		k *= 2;
	return k;
}

static void ref_mth(uint64_t a, uint64_t n, uint8_t out[H])
{
	if (n == 1) {
		memcpy(out, leaves[a], H);
		return;
	}
	uint64_t k = pow2_below(n);
	uint8_t l[H], r[H];
	ref_mth(a, k, l);
	ref_mth(a + k, n - k, r);
	CHECK_INT(merkle_node_hash(l, r, out), 0);
}

static void ref_path(uint64_t m, uint64_t a, uint64_t n, uint8_t (*p)[H], size_t *len)
{
	if (n == 1)
		return;
	uint64_t k = pow2_below(n);
	if (m < k) {
		ref_path(m, a, k, p, len);
		ref_mth(a + k, n - k, p[(*len)++]);
	} else {
		ref_path(m - k, a + k, n - k, p, len);
		ref_mth(a, k, p[(*len)++]);
	}
}

static void ref_subproof(uint64_t m, uint64_t a, uint64_t n, int b, uint8_t (*p)[H], size_t *len)
{
	if (m == n) {
		if (!b)
			ref_mth(a, n, p[(*len)++]);
		return;
	}
	uint64_t k = pow2_below(n);
	if (m <= k) {
		ref_subproof(m, a, k, b, p, len);
		ref_mth(a + k, n - k, p[(*len)++]);
	} else {
		ref_subproof(m - k, a + k, n - k, 0, p, len);
		ref_mth(a, k, p[(*len)++]);
	}
}

/* ---- a source over leaves[0..size) that refuses anything else ---- */

/* Every complete subtree of leaves[0..MAXN), from the reference. */
static uint8_t nodes[7][MAXN][H];

static void fill_nodes(void)
{
	for (unsigned l = 0; l < 7; l++)
		for (uint64_t i = 0; i < (uint64_t)(MAXN >> l); i++)
			ref_mth(i << l, (uint64_t)1 << l, nodes[l][i]);
}

struct tree {
	uint64_t size;
	int asks, fail_at; /* fail the fail_at-th ask (1-based), 0 = never */
};

static int tree_node(void *ctx, unsigned level, uint64_t index, uint8_t out[H])
{
	struct tree *t = ctx;
	t->asks++;
	if (t->fail_at && t->asks == t->fail_at)
		return -1;
	if (level >= 63 || index >= (t->size >> level)) {
		fprintf(stderr, "asked for (%u, %llu) in a tree of %llu\n", level,
		        (unsigned long long)index, (unsigned long long)t->size);
		test_failures++;
		return -1;
	}
	memcpy(out, nodes[level][index], H);
	return 0;
}

static int tree_leaf(void *ctx, uint64_t index, uint8_t out[H])
{
	struct tree *t = ctx;
	if (index >= t->size)
		return -1;
	memcpy(out, leaves[index], H);
	return 0;
}

static const char *const inputs[8] = {"",
                                      "00",
                                      "10",
                                      "2021",
                                      "3031",
                                      "40414243",
                                      "5051525354555657",
                                      "606162636465666768696a6b6c6d6e6f"};
static const char *const roots[9] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};

/* The eight RFC 6962 leaves: their hashes, the root of every prefix, and
 * the known proofs. */
static void vectors(void)
{
	static const char *const leaf_hashes[8] = {
	    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
	    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
	    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
	    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
	    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
	    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
	    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"};
	struct merkle_frontier f;
	uint8_t root[H], data[16];
	merkle_frontier_init(&f);
	CHECK_INT(merkle_frontier_root(&f, root), 0);
	CHECK(hash_is(root, roots[0]));
	CHECK_INT(merkle_empty_root(root), 0);
	CHECK(hash_is(root, roots[0]));
	for (int i = 0; i < 8; i++) {
		size_t len = strlen(inputs[i]) / 2;
		unhex(inputs[i], data);
		CHECK_INT(merkle_leaf_hash(len ? data : NULL, len, leaves[i]), 0);
		CHECK(hash_is(leaves[i], leaf_hashes[i]));
		CHECK_INT(merkle_frontier_append(&f, leaves[i]), 0);
		CHECK_INT(merkle_frontier_root(&f, root), 0);
		CHECK(hash_is(root, roots[i + 1]));
	}
	CHECK_INT(f.count, 1);
	fill_nodes();
	/* Interior nodes (NodeHashes): level 1 index 3, level 2 index 1. */
	uint8_t n[H];
	CHECK_INT(merkle_node_hash(leaves[6], leaves[7], n), 0);
	CHECK(hash_is(n, "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"));

	struct tree t = {8, 0, 0};
	struct merkle_source src = {tree_node, &t};
	for (uint64_t size = 0; size <= 8; size++) {
		t.size = size;
		CHECK_INT(merkle_root(size, &src, root), 0);
		CHECK(hash_is(root, roots[size]));
	}

	/* Inclusion (verify_test.go inclusionProofs; their leaf is 1-based). */
	static const struct {
		uint64_t index, size;
		size_t len;
		const char *proof[3];
	} inc[] = {
	    {0, 1, 0, {0}},
	    {0,
	     8,
	     3,
	     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
	      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
	    {5,
	     8,
	     3,
	     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
	      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
	      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
	    {2, 3, 1, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
	    {1,
	     5,
	     3,
	     {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
	};
	uint8_t proof[MERKLE_MAX_PROOF][H], want[MERKLE_MAX_PROOF][H];
	size_t len;
	for (size_t v = 0; v < sizeof inc / sizeof inc[0]; v++) {
		t.size = inc[v].size;
		CHECK_INT(merkle_inclusion_proof(inc[v].index, inc[v].size, &src, proof, &len), 0);
		CHECK_INT(len, inc[v].len);
		for (size_t j = 0; j < inc[v].len && j < len; j++) {
			CHECK(hash_is(proof[j], inc[v].proof[j]));
			unhex(inc[v].proof[j], want[j]);
		}
		unhex(roots[inc[v].size], root);
		CHECK_INT(merkle_inclusion_verify(inc[v].index, inc[v].size, leaves[inc[v].index],
		                                  (const uint8_t(*)[H])want, inc[v].len, root),
		          0);
	}

	/* Consistency (verify_test.go consistencyProofs). */
	static const struct {
		uint64_t m, n;
		size_t len;
		const char *proof[3];
	} con[] = {
	    {1, 1, 0, {0}},
	    {1,
	     8,
	     3,
	     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
	      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
	    {6,
	     8,
	     3,
	     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
	      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
	      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
	    {2,
	     5,
	     2,
	     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
	    {6,
	     7,
	     3,
	     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
	      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
	      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
	};
	uint8_t root2[H];
	for (size_t v = 0; v < sizeof con / sizeof con[0]; v++) {
		t.size = con[v].n;
		CHECK_INT(merkle_consistency_proof(con[v].m, con[v].n, &src, proof, &len), 0);
		CHECK_INT(len, con[v].len);
		for (size_t j = 0; j < con[v].len && j < len; j++) {
			CHECK(hash_is(proof[j], con[v].proof[j]));
			unhex(con[v].proof[j], want[j]);
		}
		unhex(roots[con[v].m], root);
		unhex(roots[con[v].n], root2);
		CHECK_INT(merkle_consistency_verify(con[v].m, con[v].n, root, root2,
		                                    (const uint8_t(*)[H])want, con[v].len),
		          0);
	}
	/* Edge cases of verify_test.go TestVerifyConsistency. */
	unhex(roots[0], root);
	CHECK_INT(merkle_consistency_verify(0, 0, root, root, NULL, 0), 0);
	CHECK_INT(merkle_consistency_verify(0, 1, root, leaves[0], NULL, 0), 0);
	CHECK_INT(merkle_consistency_verify(1, 0, leaves[0], root, NULL, 0), MERKLE_EPROOF);
	CHECK_INT(merkle_consistency_verify(1, 1, leaves[0], leaves[1], NULL, 0), MERKLE_EPROOF);
	CHECK_INT(merkle_consistency_verify(1, 2, leaves[0], leaves[1], NULL, 0), MERKLE_EPROOF);
	memcpy(want[0], root, H);
	CHECK_INT(merkle_consistency_verify(0, 0, root, root, (const uint8_t(*)[H])want, 1),
	          MERKLE_EPROOF);
	CHECK_INT(merkle_consistency_verify(1, 1, root, root, (const uint8_t(*)[H])want, 1),
	          MERKLE_EPROOF);
	/* Inclusion: nothing is in the empty tree, and index < size. */
	CHECK_INT(merkle_inclusion_verify(0, 0, root, NULL, 0, root), MERKLE_EPROOF);
	CHECK_INT(merkle_inclusion_verify(2, 1, leaves[0], NULL, 0, leaves[0]), MERKLE_EPROOF);
	CHECK_INT(merkle_inclusion_verify(0, 1, leaves[0], NULL, 0, leaves[0]), 0);
	CHECK_INT(merkle_inclusion_verify(0, 1, leaves[0], NULL, 0, leaves[1]), MERKLE_EPROOF);
	CHECK_INT(merkle_inclusion_proof(1, 1, &src, proof, &len), MERKLE_EARG);
	CHECK_INT(merkle_consistency_proof(2, 1, &src, proof, &len), MERKLE_EARG);
}

/* Counts, and names the first few of, the wrong inputs a verifier accepts. */
#define WRONG(expr)                                                                                \
	do {                                                                                       \
		if ((expr) && wrong_ok++ < 5)                                                      \
			fprintf(stderr, "%s:%d: wrongly accepted: %s\n", __FILE__, __LINE__,       \
			        #expr);                                                            \
	} while (0)

/* Which bits to flip: all 256 in trees up to 8 leaves; above, every
 * 23rd (12 bits in 12 different bytes and positions), to keep the test
 * quick under the sanitizers. */
static size_t stride(uint64_t n)
{
	return n <= 8 ? 1 : 23;
}

/* Every n up to 64, every index and every pair of sizes. */
static void properties(void)
{
	for (uint32_t i = 0; i < MAXN; i++) {
		uint8_t data[4] = {(uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8),
		                   (uint8_t)i};
		CHECK_INT(merkle_leaf_hash(data, sizeof data, leaves[i]), 0);
	}
	fill_nodes();
	uint8_t rootv[MAXN + 1][H];
	struct merkle_frontier f;
	merkle_frontier_init(&f);
	CHECK_INT(merkle_frontier_root(&f, rootv[0]), 0);
	struct tree t = {0, 0, 0};
	struct merkle_source src = {tree_node, &t};
	for (uint64_t n = 1; n <= MAXN; n++) {
		/* Save and restore on every step, as a restarting writer would. */
		struct merkle_frontier g;
		CHECK_INT(
		    merkle_frontier_restore(&g, f.size, (const uint8_t(*)[H])f.hashes, f.count), 0);
		CHECK_INT(merkle_frontier_append(&g, leaves[n - 1]), 0);
		f = g;
		CHECK_INT(f.count, __builtin_popcountll(n));
		CHECK_INT(merkle_frontier_root(&f, rootv[n]), 0);
		uint8_t r[H];
		ref_mth(0, n, r);
		CHECK(memcmp(r, rootv[n], H) == 0);
		t.size = n;
		CHECK_INT(merkle_root(n, &src, r), 0);
		CHECK(memcmp(r, rootv[n], H) == 0);
	}
	uint8_t junk[MERKLE_MAX_FRONTIER][H] = {{0}};
	CHECK_INT(merkle_frontier_restore(&f, 5, (const uint8_t(*)[H])junk, 1), MERKLE_EARG);
	CHECK_INT(merkle_frontier_restore(&f, 5, (const uint8_t(*)[H])junk, 3), MERKLE_EARG);

	uint8_t proof[MERKLE_MAX_PROOF + 1][H], ref[MERKLE_MAX_PROOF][H];
	size_t len, rlen;
	long wrong_ok = 0;
	for (uint64_t n = 1; n <= MAXN; n++) {
		for (uint64_t i = 0; i < n; i++) {
			t.size = n;
			CHECK_INT(merkle_inclusion_proof(i, n, &src, proof, &len), 0);
			rlen = 0;
			ref_path(i, 0, n, ref, &rlen);
			CHECK_INT(len, rlen);
			CHECK(memcmp(proof, ref, rlen * H) == 0);
			const uint8_t(*p)[H] = (const uint8_t(*)[H])proof;
			CHECK_INT(merkle_inclusion_verify(i, n, leaves[i], p, len, rootv[n]), 0);
			/* The leaf-hash adapter gives the same proof. */
			struct merkle_leaf_source ls = {tree_leaf, &t};
			struct merkle_source lsrc = merkle_leaf_source_init(&ls);
			CHECK_INT(merkle_inclusion_proof(i, n, &lsrc, ref, &rlen), 0);
			CHECK(rlen == len && memcmp(proof, ref, len * H) == 0);
			/* Any wrong index, size, leaf or root fails. */
			for (uint64_t j = 0; j < n + 2; j++)
				if (j != i)
					WRONG(merkle_inclusion_verify(j, n, leaves[i], p, len,
					                              rootv[n]) == 0);
			/* (A proof does not bind the size on its own: the path for
			 * (0, 3) also checks as (0, 4) against the root of 3 leaves.
			 * The size comes from the signed checkpoint. A size with
			 * another height is refused.) */
			WRONG(merkle_inclusion_verify(i, 2 * n, leaves[i], p, len, rootv[n]) == 0);
			if (i < n / 2)
				WRONG(merkle_inclusion_verify(i, n / 2, leaves[i], p, len,
				                              rootv[n]) == 0);
			WRONG(merkle_inclusion_verify(i, n, leaves[(i + 1) % MAXN], p, len,
			                              rootv[n]) == 0);
			WRONG(merkle_inclusion_verify(i, n, leaves[i], p, len, rootv[n - 1]) == 0);
			/* Truncated, extended, one element dropped at the front. */
			if (len)
				WRONG(merkle_inclusion_verify(i, n, leaves[i], p, len - 1,
				                              rootv[n]) == 0);
			if (len)
				WRONG(merkle_inclusion_verify(i, n, leaves[i], p + 1, len - 1,
				                              rootv[n]) == 0);
			memcpy(proof[len], rootv[n], H);
			WRONG(merkle_inclusion_verify(i, n, leaves[i], p, len + 1, rootv[n]) == 0);
			/* Every bit of every proof element, leaf and root flipped. */
			uint8_t leaf[H], root[H];
			memcpy(leaf, leaves[i], H);
			memcpy(root, rootv[n], H);
			for (size_t b = 0; b < H * 8; b += stride(n)) {
				for (size_t e = 0; e < len; e++) {
					proof[e][b / 8] ^= (uint8_t)(1u << (b % 8));
					WRONG(merkle_inclusion_verify(i, n, leaf, p, len, root) ==
					      0);
					proof[e][b / 8] ^= (uint8_t)(1u << (b % 8));
				}
				leaf[b / 8] ^= (uint8_t)(1u << (b % 8));
				WRONG(merkle_inclusion_verify(i, n, leaf, p, len, root) == 0);
				leaf[b / 8] ^= (uint8_t)(1u << (b % 8));
				root[b / 8] ^= (uint8_t)(1u << (b % 8));
				WRONG(merkle_inclusion_verify(i, n, leaf, p, len, root) == 0);
				root[b / 8] ^= (uint8_t)(1u << (b % 8));
			}
		}
	}
	CHECK_INT(wrong_ok, 0);

	wrong_ok = 0;
	for (uint64_t n = 0; n <= MAXN; n++) {
		for (uint64_t m = 0; m <= n; m++) {
			t.size = n;
			CHECK_INT(merkle_consistency_proof(m, n, &src, proof, &len), 0);
			rlen = 0;
			if (m > 0 && m < n)
				ref_subproof(m, 0, n, 1, ref, &rlen);
			CHECK_INT(len, rlen);
			CHECK(memcmp(proof, ref, rlen * H) == 0);
			const uint8_t(*p)[H] = (const uint8_t(*)[H])proof;
			CHECK_INT(merkle_consistency_verify(m, n, rootv[m], rootv[n], p, len), 0);
			/* Other sizes with their own roots, swapped or other roots. */
			/* (Two empty proofs are alike: (0, n) and (n, n) both hold.) */
			for (uint64_t m2 = 0; m2 <= n; m2++)
				if (m2 != m && !(len == 0 && (m2 == 0 || m2 == n)))
					WRONG(merkle_consistency_verify(m2, n, rootv[m2], rootv[n],
					                                p, len) == 0);
			if (n < MAXN && m > 0)
				WRONG(merkle_consistency_verify(m, n + 1, rootv[m], rootv[n + 1], p,
				                                len) == 0);
			if (m != n) {
				/* The same hashes claimed for a taller tree. */
				if (m > 0)
					WRONG(merkle_consistency_verify(m, 2 * n, rootv[m],
					                                rootv[n], p, len) == 0);
				WRONG(merkle_consistency_verify(m, n, rootv[n], rootv[m], p, len) ==
				      0);
				if (m > 0)
					WRONG(merkle_consistency_verify(m, n, rootv[m],
					                                rootv[n - 1], p, len) == 0);
			}
			if (m > 1)
				WRONG(merkle_consistency_verify(m, n, rootv[m - 1], rootv[n], p,
				                                len) == 0);
			if (len) {
				WRONG(merkle_consistency_verify(m, n, rootv[m], rootv[n], p,
				                                len - 1) == 0);
				WRONG(merkle_consistency_verify(m, n, rootv[m], rootv[n], p + 1,
				                                len - 1) == 0);
			}
			memcpy(proof[len], rootv[n], H);
			WRONG(merkle_consistency_verify(m, n, rootv[m], rootv[n], p, len + 1) == 0);
			for (size_t b = 0; b < H * 8; b += stride(n))
				for (size_t e = 0; e < len; e++) {
					proof[e][b / 8] ^= (uint8_t)(1u << (b % 8));
					WRONG(merkle_consistency_verify(m, n, rootv[m], rootv[n], p,
					                                len) == 0);
					proof[e][b / 8] ^= (uint8_t)(1u << (b % 8));
				}
		}
	}
	CHECK_INT(wrong_ok, 0);
}

/* The slice [from, to) of a tree of size, with its borders, gives the
 * root of size; a changed hash anywhere does not. */
static void borders(void)
{
	struct tree t = {0, 0, 0};
	struct merkle_source src = {tree_node, &t};
	uint8_t left[MERKLE_MAX_FRONTIER][H], right[MERKLE_MAX_BORDER][H], root[H], want[H];
	unsigned lc, rc;
	long wrong_ok = 0;
	for (uint64_t size = 0; size <= 40; size++) {
		t.size = size;
		CHECK_INT(merkle_root(size, &src, want), 0);
		for (uint64_t from = 0; from <= size; from++) {
			CHECK_INT(merkle_border_left(from, &src, left, &lc), 0);
			CHECK_INT(lc, merkle_border_left_count(from));
			for (uint64_t to = from; to <= size; to++) {
				CHECK_INT(merkle_border_right(to, size, &src, right, &rc), 0);
				CHECK_INT(rc, merkle_border_right_count(to, size));
				const uint8_t(*l)[H] = (const uint8_t(*)[H])left;
				const uint8_t(*r)[H] = (const uint8_t(*)[H])right;
				const uint8_t(*s)[H] = (const uint8_t(*)[H])leaves[from];
				CHECK_INT(merkle_slice_root(from, l, lc, s, to, size, r, rc, root),
				          0);
				CHECK(memcmp(root, want, H) == 0);
				/* Wrong counts are refused. */
				CHECK_INT(
				    merkle_slice_root(from, l, lc + 1, s, to, size, r, rc, root),
				    MERKLE_EARG);
				if (rc)
					CHECK_INT(merkle_slice_root(from, l, lc, s, to, size, r,
					                            rc - 1, root),
					          MERKLE_EARG);
				/* One flipped bit in any border hash, the first or the last leaf
				 * changes the root. */
				for (unsigned e = 0; e < lc; e++) {
					left[e][e % H] ^= 0x10;
					CHECK_INT(merkle_slice_root(from, l, lc, s, to, size, r, rc,
					                            root),
					          0);
					WRONG(memcmp(root, want, H) == 0);
					left[e][e % H] ^= 0x10;
				}
				for (unsigned e = 0; e < rc; e++) {
					right[e][31 - e % H] ^= 0x01;
					CHECK_INT(merkle_slice_root(from, l, lc, s, to, size, r, rc,
					                            root),
					          0);
					WRONG(memcmp(root, want, H) == 0);
					right[e][31 - e % H] ^= 0x01;
				}
				for (uint64_t e = from; e < to;
				     e = e + 1 < to - 1 ? to - 1 : e + 1) {
					leaves[e][7] ^= 0x80;
					CHECK_INT(merkle_slice_root(from, l, lc, s, to, size, r, rc,
					                            root),
					          0);
					WRONG(memcmp(root, want, H) == 0);
					leaves[e][7] ^= 0x80;
				}
			}
		}
	}
	CHECK_INT(wrong_ok, 0);
	/* A streaming verifier: frontier, leaves, finish. */
	struct merkle_frontier f;
	t.size = 40;
	CHECK_INT(merkle_border_left(13, &src, left, &lc), 0);
	CHECK_INT(lc, 3); /* 13 = 8 + 4 + 1: nodes (3,0), (2,2), (0,12) */
	CHECK_INT(merkle_border_right(21, 40, &src, right, &rc), 0);
	CHECK_INT(rc, 4); /* [21,40): 21, [22,24), [24,32), [32,40) */
	CHECK_INT(merkle_frontier_restore(&f, 13, (const uint8_t(*)[H])left, lc), 0);
	for (int i = 13; i < 21; i++)
		CHECK_INT(merkle_frontier_append(&f, leaves[i]), 0);
	CHECK_INT(merkle_border_finish(&f, 40, (const uint8_t(*)[H])right, rc, root), 0);
	CHECK_INT(merkle_root(40, &src, want), 0);
	CHECK(memcmp(root, want, H) == 0);
	CHECK_INT(merkle_border_right(41, 40, &src, right, &rc), MERKLE_EARG);
	CHECK_INT(merkle_border_right_count(5, 5), 0);
}

/* An accessor that fails makes every caller fail with MERKLE_ESOURCE. */
static void source_errors(void)
{
	uint8_t out[MERKLE_MAX_BORDER][H];
	size_t len;
	unsigned c;
	for (int k = 1; k <= 3; k++) {
		struct tree t = {37, 0, k};
		struct merkle_source src = {tree_node, &t};
		CHECK_INT(merkle_root(37, &src, out[0]), MERKLE_ESOURCE);
		t.asks = 0;
		CHECK_INT(merkle_inclusion_proof(5, 37, &src, out, &len), MERKLE_ESOURCE);
		t.asks = 0;
		CHECK_INT(merkle_consistency_proof(11, 37, &src, out, &len), MERKLE_ESOURCE);
		t.asks = 0;
		CHECK_INT(merkle_border_left(15, &src, out, &c), MERKLE_ESOURCE);
		t.asks = 0;
		CHECK_INT(merkle_border_right(3, 37, &src, out, &c), MERKLE_ESOURCE);
	}
	CHECK(strcmp(merkle_strerror(MERKLE_EPROOF), "unknown merkle status") != 0);
	/* A frontier cannot take a subtree at an unaligned size. */
	struct merkle_frontier f;
	merkle_frontier_init(&f);
	CHECK_INT(merkle_frontier_append(&f, out[0]), 0);
	CHECK_INT(merkle_frontier_append_subtree(&f, 1, out[0]), MERKLE_EARG);
	CHECK_INT(f.size, 1);
}

int main(void)
{
	vectors();
	properties();
	borders();
	source_errors();
	return test_report("merkle");
}
