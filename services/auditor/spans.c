/* Version spans: see spans.h. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "spans.h"

#define KEY_LEN 16 /* of the SHA-256 of (target, block): collisions are out of reach */

/* The spans this process committed, direct-mapped by key: a slot holds
 * the last key that landed in it. Only ever an under-estimate of what is
 * stored, since spans only widen. */
static struct slot {
	uint8_t key[KEY_LEN];
	int64_t first, last;
	bool used;
} table[SPAN_CACHE_SLOTS];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t block_of(const struct event *e)
{
	return e->target_version >> SPAN_LOG2;
}

/* Events by (target, block): the spans' key order, which is also the
 * order their rows are locked in, the same in every batch. */
static int cmp_span(const void *a, const void *b)
{
	const struct event *x = *(const struct event *const *)a, *y = *(const struct event *const *)b;
	int c = strcmp(x->target_type, y->target_type);
	if (!c)
		c = strcmp(x->target_id, y->target_id);
	if (!c)
		c = (block_of(x) > block_of(y)) - (block_of(x) < block_of(y));
	return c;
}

/* The start of t's quantum (rounded down, negative times too). */
static int64_t quantum_floor(int64_t t)
{
	int64_t q = t / SPAN_QUANTUM_MS;
	if (t % SPAN_QUANTUM_MS < 0)
		q--;
	return q * SPAN_QUANTUM_MS;
}

static int span_key(const struct event *e, uint8_t out[32])
{
	size_t tl = strlen(e->target_type), il = strlen(e->target_id);
	uint8_t buf[EVENT_TYPE_MAX + EVENT_REF_MAX + 2 + 8];
	memcpy(buf, e->target_type, tl);
	buf[tl] = 0;
	memcpy(buf + tl + 1, e->target_id, il);
	buf[tl + 1 + il] = 0;
	uint64_t b = (uint64_t)block_of(e);
	for (int i = 0; i < 8; i++)
		buf[tl + il + 2 + i] = (uint8_t)(b >> (56 - 8 * i));
	unsigned len = 0;
	return EVP_Digest(buf, tl + il + 10, out, &len, EVP_sha256(), NULL) == 1 ? 0 : -1;
}

static struct slot *slot_of(const uint8_t key[KEY_LEN])
{
	uint32_t i;
	memcpy(&i, key, sizeof i);
	return &table[i % SPAN_CACHE_SLOTS];
}

/* Whether the table knows a committed span of key covering [first, last].
 * Called with table_lock held. */
static bool covered(const uint8_t key[KEY_LEN], int64_t first, int64_t last)
{
	const struct slot *s = slot_of(key);
	return s->used && !memcmp(s->key, key, KEY_LEN) && s->first <= first && s->last >= last;
}

int spans_bind(struct spans *s, const struct event *events, size_t n)
{
	memset(s, 0, sizeof *s);
	const struct event **by = malloc((n ? n : 1) * sizeof *by);
	s->rows = malloc((SPAN_COLS * n + 1) * sizeof *s->rows);
	s->keys = malloc((n ? n : 1) * sizeof *s->keys);
	s->ends = malloc((n ? n : 1) * sizeof *s->ends);
	if (!by || !s->rows || !s->keys || !s->ends)
		goto oom;
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (events[i].target_version > 0)
			by[m++] = &events[i];
	qsort(by, m, sizeof *by, cmp_span);
	/* Each group's span, rounded out. */
	for (size_t i = 0, j; i < m; i = j) {
		int64_t lo = by[i]->timestamp, hi = lo;
		for (j = i + 1; j < m && !cmp_span(&by[i], &by[j]); j++) {
			if (by[j]->timestamp < lo)
				lo = by[j]->timestamp;
			if (by[j]->timestamp > hi)
				hi = by[j]->timestamp;
		}
		if (span_key(by[i], s->keys[s->n]))
			goto oom;
		s->ends[s->n][0] = quantum_floor(lo);
		s->ends[s->n][1] = quantum_floor(hi) + (SPAN_QUANTUM_MS - 1);
		struct db_value *v = s->rows + SPAN_COLS * s->n++;
		v[0] = DB_TEXT(by[i]->target_type);
		v[1] = DB_TEXT(by[i]->target_id);
		v[2] = DB_INT(block_of(by[i]));
	}
	free(by);
	/* Those not known to be covered, kept in order. */
	size_t kept = 0;
	pthread_mutex_lock(&table_lock);
	for (size_t r = 0; r < s->n; r++) {
		if (covered(s->keys[r], s->ends[r][0], s->ends[r][1]))
			continue;
		if (kept != r) {
			memcpy(s->rows + SPAN_COLS * kept, s->rows + SPAN_COLS * r,
			       SPAN_COLS * sizeof *s->rows);
			memcpy(s->keys[kept], s->keys[r], sizeof *s->keys);
			memcpy(s->ends[kept], s->ends[r], sizeof *s->ends);
		}
		struct db_value *v = s->rows + SPAN_COLS * kept++;
		v[3] = DB_INT(s->ends[r][0]);
		v[4] = DB_INT(s->ends[r][1]);
	}
	pthread_mutex_unlock(&table_lock);
	s->n = kept;
	return 0;
oom:
	free(by);
	spans_free(s);
	return -1;
}

void spans_committed(const struct spans *s)
{
	pthread_mutex_lock(&table_lock);
	for (size_t r = 0; r < s->n; r++) {
		struct slot *t = slot_of(s->keys[r]);
		int64_t first = s->ends[r][0], last = s->ends[r][1];
		if (t->used && !memcmp(t->key, s->keys[r], KEY_LEN)) {
			if (first < t->first)
				t->first = first;
			if (last > t->last)
				t->last = last;
		} else {
			memcpy(t->key, s->keys[r], KEY_LEN);
			t->first = first;
			t->last = last;
			t->used = true;
		}
	}
	pthread_mutex_unlock(&table_lock);
}

void spans_free(struct spans *s)
{
	free(s->rows);
	free(s->keys);
	free(s->ends);
	memset(s, 0, sizeof *s);
}
