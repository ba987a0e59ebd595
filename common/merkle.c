/* merkle: RFC 9162 §2.1 tree hashing, proofs and slice borders. See merkle.h.
 *
 * The tree of n leaves is the complete binary tree of the next power of two
 * with the nodes that lie wholly past n removed and single-child nodes
 * collapsed; so every node is either a complete subtree (level, index) or,
 * on the right edge, the hash of a range [a, b) with a aligned to a power
 * of two >= b - a, which is the fold from the right of its cover by
 * complete subtrees. range_hash() computes the latter; everything else
 * only asks the source for complete subtrees. */
#include "merkle.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

#define H MERKLE_HASH_LEN

const char *merkle_strerror(int status)
{
	switch (status) {
	case MERKLE_OK:
		return "ok";
	case MERKLE_EARG:
		return "sizes, indexes or counts out of range";
	case MERKLE_EPROOF:
		return "the hashes do not verify";
	case MERKLE_ESOURCE:
		return "a stored hash could not be read";
	case MERKLE_ECRYPTO:
		return "SHA-256 failed";
	default:
		return "unknown merkle status";
	}
}

/* SHA-256 is fetched once (an implicit fetch on every digest costs more
 * than hashing a leaf), and each thread keeps one digest context. */
static pthread_once_t sha_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;
static pthread_key_t sha_key;

static void sha_ctx_free(void *ctx)
{
	EVP_MD_CTX_free(ctx);
}

static void sha_init(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA2-256", NULL);
	if (pthread_key_create(&sha_key, sha_ctx_free)) {
		EVP_MD_free(sha256_md);
		sha256_md = NULL;
	}
}

static int sha256_parts(const void *a, size_t alen, const void *b, size_t blen, const void *c,
                        size_t clen, uint8_t out[H])
{
	pthread_once(&sha_once, sha_init);
	if (!sha256_md)
		return MERKLE_ECRYPTO;
	EVP_MD_CTX *ctx = pthread_getspecific(sha_key);
	if (!ctx) {
		if (!(ctx = EVP_MD_CTX_new()))
			return MERKLE_ECRYPTO;
		if (pthread_setspecific(sha_key, ctx)) {
			EVP_MD_CTX_free(ctx);
			return MERKLE_ECRYPTO;
		}
	}
	unsigned olen = 0;
	if (!EVP_DigestInit_ex(ctx, sha256_md, NULL) || (alen && !EVP_DigestUpdate(ctx, a, alen)) ||
	    (blen && !EVP_DigestUpdate(ctx, b, blen)) || (clen && !EVP_DigestUpdate(ctx, c, clen)) ||
	    !EVP_DigestFinal_ex(ctx, out, &olen) || olen != H)
		return MERKLE_ECRYPTO;
	return MERKLE_OK;
}

int merkle_sha256(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[H])
{
	return sha256_parts(a, alen, b, blen, NULL, 0, out);
}

int merkle_leaf_hash(const void *data, size_t len, uint8_t out[H])
{
	static const uint8_t prefix = 0x00;
	return sha256_parts(&prefix, 1, data, len, NULL, 0, out);
}

int merkle_node_hash(const uint8_t left[H], const uint8_t right[H], uint8_t out[H])
{
	uint8_t buf[1 + 2 * H];
	buf[0] = 0x01;
	memcpy(buf + 1, left, H);
	memcpy(buf + 1 + H, right, H);
	return sha256_parts(buf, sizeof buf, NULL, 0, NULL, 0, out);
}

int merkle_empty_root(uint8_t out[H])
{
	return sha256_parts(NULL, 0, NULL, 0, NULL, 0, out);
}

/* ---- sources ---- */

static int ask(const struct merkle_source *src, unsigned level, uint64_t index, uint8_t out[H])
{
	return src->node(src->ctx, level, index, out) ? MERKLE_ESOURCE : MERKLE_OK;
}

static int leaf_node(void *ctx, unsigned level, uint64_t index, uint8_t out[H])
{
	const struct merkle_leaf_source *ls = ctx;
	if (level == 0)
		return ls->get_leaf(ls->ctx, index, out);
	uint8_t l[H], r[H];
	if (leaf_node(ctx, level - 1, 2 * index, l) || leaf_node(ctx, level - 1, 2 * index + 1, r))
		return -1;
	return merkle_node_hash(l, r, out) ? -1 : 0;
}

struct merkle_source merkle_leaf_source_init(struct merkle_leaf_source *ls)
{
	struct merkle_source s = {leaf_node, ls};
	return s;
}

/* ---- covers ---- */

static unsigned floor_log2(uint64_t x) /* x > 0 */
{
	return 63u - (unsigned)__builtin_clzll(x);
}

/* The level of the largest complete subtree starting at p inside [p, end),
 * p < end: limited by p's alignment and by the room left. */
static unsigned cover_level(uint64_t p, uint64_t end)
{
	unsigned k = floor_log2(end - p);
	if (p) {
		unsigned a = (unsigned)__builtin_ctzll(p);
		if (a < k)
			k = a;
	}
	return k;
}

/* MTH(D[a:b]) for a < b, a a multiple of a power of two >= b - a: the
 * cover of [a, b) is descending, folded from the right. */
static int range_hash(uint64_t a, uint64_t b, const struct merkle_source *src, uint8_t out[H])
{
	uint8_t stack[MERKLE_MAX_FRONTIER][H];
	unsigned n = 0;
	int rc;
	for (uint64_t p = a; p < b;) {
		unsigned k = cover_level(p, b);
		if ((rc = ask(src, k, p >> k, stack[n++])))
			return rc;
		p += (uint64_t)1 << k;
	}
	if (n == 0 || n > MERKLE_MAX_FRONTIER) /* a < b gives 1..64; said for the compiler */
		return MERKLE_EARG;
	memcpy(out, stack[n - 1], H);
	for (unsigned i = n - 1; i-- > 0;)
		if ((rc = merkle_node_hash(stack[i], out, out)))
			return rc;
	return MERKLE_OK;
}

int merkle_root(uint64_t size, const struct merkle_source *src, uint8_t out[H])
{
	if (size == 0)
		return merkle_empty_root(out);
	return range_hash(0, size, src, out);
}

/* ---- frontier ---- */

void merkle_frontier_init(struct merkle_frontier *f)
{
	memset(f, 0, sizeof *f);
}

int merkle_frontier_restore(struct merkle_frontier *f, uint64_t size, const uint8_t (*hashes)[H],
                            unsigned count)
{
	if (count != (unsigned)__builtin_popcountll(size) || count > MERKLE_MAX_FRONTIER)
		return MERKLE_EARG;
	merkle_frontier_init(f);
	f->size = size;
	f->count = count;
	if (count)
		memcpy(f->hashes, hashes, (size_t)count * H);
	return MERKLE_OK;
}

int merkle_frontier_append_subtree(struct merkle_frontier *f, unsigned level, const uint8_t hash[H])
{
	if (level >= 64 || (f->size & (((uint64_t)1 << level) - 1)) ||
	    f->size > UINT64_MAX - ((uint64_t)1 << level))
		return MERKLE_EARG;
	/* Like adding 2^level to a binary counter: each carry merges the
	 * smallest subtree kept with the one coming in. */
	uint8_t h[H];
	unsigned count = f->count;
	int rc;
	memcpy(h, hash, H);
	for (unsigned l = level; l < 64 && (f->size >> l) & 1; l++)
		if ((rc = merkle_node_hash(f->hashes[--count], h, h)))
			return rc;
	memcpy(f->hashes[count++], h, H);
	f->count = count;
	f->size += (uint64_t)1 << level;
	return MERKLE_OK;
}

int merkle_frontier_append(struct merkle_frontier *f, const uint8_t leaf_hash[H])
{
	return merkle_frontier_append_subtree(f, 0, leaf_hash);
}

int merkle_frontier_append_visit(struct merkle_frontier *f, const uint8_t leaf_hash[H],
                                 merkle_visit_fn visit, void *ctx)
{
	if (f->size == UINT64_MAX)
		return MERKLE_EARG;
	/* merkle_frontier_append_subtree at level 0, telling each carry. */
	struct merkle_frontier g = *f;
	uint8_t h[H];
	unsigned count = g.count;
	int rc;
	memcpy(h, leaf_hash, H);
	for (unsigned l = 0; l < 64 && (g.size >> l) & 1; l++) {
		if ((rc = merkle_node_hash(g.hashes[--count], h, h)))
			return rc;
		if (visit && visit(ctx, l + 1, ((g.size + 1) >> (l + 1)) - 1, h))
			return MERKLE_ESOURCE;
	}
	memcpy(g.hashes[count++], h, H);
	g.count = count;
	g.size++;
	*f = g;
	return MERKLE_OK;
}

int merkle_frontier_root(const struct merkle_frontier *f, uint8_t out[H])
{
	if (f->count == 0)
		return merkle_empty_root(out);
	int rc;
	memcpy(out, f->hashes[f->count - 1], H);
	for (unsigned i = f->count - 1; i-- > 0;)
		if ((rc = merkle_node_hash(f->hashes[i], out, out)))
			return rc;
	return MERKLE_OK;
}

/* ---- inclusion ---- */

int merkle_inclusion_proof(uint64_t index, uint64_t size, const struct merkle_source *src,
                           uint8_t (*proof)[H], size_t *len)
{
	*len = 0;
	if (index >= size)
		return MERKLE_EARG;
	/* Walk up from the leaf; at each level the sibling of the node holding
	 * index, clipped to size, is one proof element, unless it lies wholly
	 * past size (then the node has no sibling: it is collapsed upward).
	 * Stop at the node covering [0, size). */
	for (unsigned l = 0; l < 64; l++) {
		uint64_t node = index >> l;
		if (node == 0 && ((uint64_t)1 << l) >= size)
			break;
		uint64_t start = (node ^ 1) << l;
		if (start >= size)
			continue;
		uint64_t end =
		    size - start > ((uint64_t)1 << l) ? start + ((uint64_t)1 << l) : size;
		int rc = range_hash(start, end, src, proof[(*len)++]);
		if (rc)
			return rc;
	}
	return MERKLE_OK;
}

int merkle_inclusion_verify(uint64_t index, uint64_t size, const uint8_t leaf_hash[H],
                            const uint8_t (*proof)[H], size_t len, const uint8_t root[H])
{
	if (index >= size)
		return MERKLE_EPROOF;
	/* RFC 9162 §2.1.3.2, as written. */
	uint64_t fn = index, sn = size - 1;
	uint8_t r[H];
	int rc;
	memcpy(r, leaf_hash, H);
	for (size_t i = 0; i < len; i++) {
		if (sn == 0)
			return MERKLE_EPROOF;
		if ((fn & 1) || fn == sn) {
			if ((rc = merkle_node_hash(proof[i], r, r)))
				return rc;
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else if ((rc = merkle_node_hash(r, proof[i], r))) {
			return rc;
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && memcmp(r, root, H) == 0 ? MERKLE_OK : MERKLE_EPROOF;
}

/* ---- consistency ---- */

/* SUBPROOF(m, D[off : off + n], b) of §2.1.4.1, appended to proof. */
static int subproof(uint64_t m, uint64_t off, uint64_t n, int b, const struct merkle_source *src,
                    uint8_t (*proof)[H], size_t *len)
{
	int rc;
	if (m == n) {
		if (b)
			return MERKLE_OK;
		return range_hash(off, off + n, src, proof[(*len)++]);
	}
	uint64_t k = (uint64_t)1 << floor_log2(n - 1); /* largest power of two < n */
	if (m <= k) {
		if ((rc = subproof(m, off, k, b, src, proof, len)))
			return rc;
		return range_hash(off + k, off + n, src, proof[(*len)++]);
	}
	if ((rc = subproof(m - k, off + k, n - k, 0, src, proof, len)))
		return rc;
	return range_hash(off, off + k, src, proof[(*len)++]);
}

int merkle_consistency_proof(uint64_t m, uint64_t n, const struct merkle_source *src,
                             uint8_t (*proof)[H], size_t *len)
{
	*len = 0;
	if (m > n)
		return MERKLE_EARG;
	if (m == 0 || m == n)
		return MERKLE_OK;
	return subproof(m, 0, n, 1, src, proof, len);
}

int merkle_consistency_verify(uint64_t m, uint64_t n, const uint8_t root1[H],
                              const uint8_t root2[H], const uint8_t (*proof)[H], size_t len)
{
	int rc;
	if (m > n)
		return MERKLE_EPROOF;
	if (m == n)
		return len == 0 && memcmp(root1, root2, H) == 0 ? MERKLE_OK : MERKLE_EPROOF;
	if (m == 0) {
		uint8_t empty[H];
		if ((rc = merkle_empty_root(empty)))
			return rc;
		return len == 0 && memcmp(root1, empty, H) == 0 ? MERKLE_OK : MERKLE_EPROOF;
	}
	/* RFC 9162 §2.1.4.2, as written; "prepend first_hash" is done by
	 * starting from root1 instead of proof[0]. */
	if (len == 0)
		return MERKLE_EPROOF;
	size_t i = 0;
	const uint8_t *first;
	if ((m & (m - 1)) == 0)
		first = root1;
	else
		first = proof[i++];
	uint64_t fn = m - 1, sn = n - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	uint8_t fr[H], sr[H];
	memcpy(fr, first, H);
	memcpy(sr, first, H);
	for (; i < len; i++) {
		if (sn == 0)
			return MERKLE_EPROOF;
		if ((fn & 1) || fn == sn) {
			if ((rc = merkle_node_hash(proof[i], fr, fr)) ||
			    (rc = merkle_node_hash(proof[i], sr, sr)))
				return rc;
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else if ((rc = merkle_node_hash(sr, proof[i], sr))) {
			return rc;
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && memcmp(fr, root1, H) == 0 && memcmp(sr, root2, H) == 0 ? MERKLE_OK
	                                                                         : MERKLE_EPROOF;
}

/* ---- borders ---- */

unsigned merkle_border_left_count(uint64_t from)
{
	return (unsigned)__builtin_popcountll(from);
}

unsigned merkle_border_right_count(uint64_t to, uint64_t size)
{
	unsigned n = 0;
	for (uint64_t p = to; p < size; n++)
		p += (uint64_t)1 << cover_level(p, size);
	return n;
}

int merkle_border_left(uint64_t from, const struct merkle_source *src, uint8_t (*out)[H],
                       unsigned *count)
{
	int rc;
	uint64_t p = 0;
	*count = 0;
	for (unsigned k = 64; k-- > 0;) {
		if (!((from >> k) & 1))
			continue;
		if ((rc = ask(src, k, p >> k, out[(*count)++])))
			return rc;
		p += (uint64_t)1 << k;
	}
	return MERKLE_OK;
}

int merkle_border_right(uint64_t to, uint64_t size, const struct merkle_source *src,
                        uint8_t (*out)[H], unsigned *count)
{
	int rc;
	*count = 0;
	if (to > size)
		return MERKLE_EARG;
	for (uint64_t p = to; p < size;) {
		unsigned k = cover_level(p, size);
		if ((rc = ask(src, k, p >> k, out[(*count)++])))
			return rc;
		p += (uint64_t)1 << k;
	}
	return MERKLE_OK;
}

int merkle_border_finish(const struct merkle_frontier *f, uint64_t size, const uint8_t (*right)[H],
                         unsigned count, uint8_t out[H])
{
	if (f->size > size || count != merkle_border_right_count(f->size, size))
		return MERKLE_EARG;
	struct merkle_frontier g = *f;
	int rc;
	for (unsigned i = 0; i < count; i++)
		if ((rc = merkle_frontier_append_subtree(&g, cover_level(g.size, size), right[i])))
			return rc;
	return merkle_frontier_root(&g, out);
}

int merkle_slice_root(uint64_t from, const uint8_t (*left)[H], unsigned left_count,
                      const uint8_t (*leaves)[H], uint64_t to, uint64_t size,
                      const uint8_t (*right)[H], unsigned right_count, uint8_t out[H])
{
	if (from > to || to > size)
		return MERKLE_EARG;
	struct merkle_frontier f;
	int rc = merkle_frontier_restore(&f, from, left, left_count);
	for (uint64_t i = 0; !rc && i < to - from; i++)
		rc = merkle_frontier_append(&f, leaves[i]);
	if (!rc)
		rc = merkle_border_finish(&f, size, right, right_count, out);
	return rc;
}
