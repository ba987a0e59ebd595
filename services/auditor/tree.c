/* A log's Merkle tree as stored: leaf hashes in log_appends (an append's
 * in one row), interior hashes of every LEDGER_STRIDE-th level in log_nodes
 * (see ledger.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"

/* The rows holding positions first..last: the last to start at or before
 * first, and those starting after it up to last. */
static const char sql_append_start[] =
    "SELECT MAX(first_seq) FROM log_appends WHERE log_id = ? AND first_seq <= ?";
static const char sql_appends[] = "SELECT first_seq, leaf_hashes FROM log_appends WHERE log_id = ? "
                                  "AND first_seq BETWEEN ? AND ? ORDER BY first_seq";
static const char sql_node[] =
    "SELECT idx, hash FROM log_nodes WHERE log_id = ? AND level = ? AND idx BETWEEN ? AND ? "
    "ORDER BY idx";

struct fold {
	struct merkle_frontier f;
	uint64_t next; /* the index the next row must have */
	int bad;
};

static int fold_row(void *ctx, const struct db_row *row)
{
	struct fold *fd = ctx;
	char *end;
	unsigned long long idx = strtoull(row->val[0], &end, 10);
	if (*end || idx != fd->next || !row->val[1] || row->len[1] != MERKLE_HASH_LEN ||
	    merkle_frontier_append(&fd->f, (const uint8_t *)row->val[1])) {
		fd->bad = 1;
		return 1;
	}
	fd->next++;
	return 0;
}

/* The hash of (level, index): the 2^(level - base) stored hashes of level
 * base = level rounded down to the stride, folded. They form a perfect
 * subtree, so folding them as leaves of a frontier gives its root. */
static int lookup(struct tree_source *ts, unsigned level, uint64_t index,
                  uint8_t out[MERKLE_HASH_LEN])
{
	for (size_t i = 0; i < ts->nasks; i++)
		if (ts->asks[i].known && ts->asks[i].level == level && ts->asks[i].index == index) {
			memcpy(out, ts->asks[i].hash, MERKLE_HASH_LEN);
			return 1;
		}
	return 0;
}

static int record(struct tree_source *ts, unsigned level, uint64_t index,
                  uint8_t out[MERKLE_HASH_LEN])
{
	memset(out, 0, MERKLE_HASH_LEN);
	if (level >= 64 || index > (UINT64_MAX >> level))
		return -1;
	for (size_t i = 0; i < ts->nasks; i++)
		if (ts->asks[i].level == level && ts->asks[i].index == index)
			return 0;
	if (ts->nasks == ts->cap) {
		size_t cap = ts->cap ? 2 * ts->cap : 64;
		struct tree_ask *p = realloc(ts->asks, cap * sizeof *p);
		if (!p)
			return -1;
		ts->asks = p;
		ts->cap = cap;
	}
	ts->asks[ts->nasks++] = (struct tree_ask){.level = level, .index = index};
	return 0;
}

struct stored_hash {
	unsigned level;
	uint64_t idx;
	uint8_t hash[MERKLE_HASH_LEN];
};

struct fetched {
	struct stored_hash *rows;
	size_t n, cap;
	int bad;
};

static int add_hash(struct fetched *f, unsigned level, uint64_t idx, const void *hash)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 256;
		struct stored_hash *p = realloc(f->rows, cap * sizeof *p);
		if (!p)
			return DB_ERR;
		f->rows = p;
		f->cap = cap;
	}
	struct stored_hash *h = &f->rows[f->n++];
	h->level = level;
	h->idx = idx;
	memcpy(h->hash, hash, MERKLE_HASH_LEN);
	return 0;
}

/* A row of the batch statement: (level, idx, hash), or for level 0 a run
 * of leaf hashes from idx on. */
static int fetched_row(void *ctx, const struct db_row *row)
{
	struct fetched *f = ctx;
	if (row->val[2] && !row->len[2])
		return 0; /* an empty slice of leaves: none asked */
	if (!row->val[0] || !row->val[1] || !row->val[2] || row->len[2] % MERKLE_HASH_LEN) {
		f->bad = 1;
		return 0; /* a malformed row: the asks that need it fall back to a read */
	}
	unsigned level = (unsigned)strtoul(row->val[0], NULL, 10);
	uint64_t idx = strtoull(row->val[1], NULL, 10);
	for (size_t i = 0; i * MERKLE_HASH_LEN < row->len[2]; i++) {
		if (level && i)
			break; /* an interior hash has 32 bytes */
		int st = add_hash(f, level, idx + i, row->val[2] + i * MERKLE_HASH_LEN);
		if (st)
			return st;
	}
	return 0;
}

struct leaf_read {
	struct fetched *f;
	uint64_t first, last;
};

static int start_row(void *ctx, const struct db_row *row)
{
	uint64_t *start = ctx;
	if (row->val[0])
		*start = strtoull(row->val[0], NULL, 10);
	return 0;
}

int tree_append_start(struct db *db, uint32_t log, uint64_t seq, uint64_t *start)
{
	struct db_value k[] = {DB_INT(log), DB_INT((long long)seq)};
	*start = seq;
	int st = db_query(db, sql_append_start, k, 2, start_row, start);
	return st < 0 ? st : st ? DB_ERR : DB_OK;
}

static int append_row(void *ctx, const struct db_row *row)
{
	struct leaf_read *lr = ctx;
	if (!row->val[0] || !row->val[1] || row->len[1] % MERKLE_HASH_LEN) {
		lr->f->bad = 1;
		return 0; /* a malformed row: its positions stay unknown */
	}
	uint64_t start = strtoull(row->val[0], NULL, 10), n = row->len[1] / MERKLE_HASH_LEN;
	for (uint64_t i = lr->first > start ? lr->first - start : 0;
	     i < n && start + i <= lr->last; i++)
		if (add_hash(lr->f, 0, start + i, row->val[1] + i * MERKLE_HASH_LEN))
			return DB_ERR;
	return 0;
}

/* Adds to f the stored leaf hashes of positions first..last, those found
 * (as level-0 rows). Returns DB_OK or a db status. */
static int read_leaves(struct db *db, uint32_t log, uint64_t first, uint64_t last,
                       struct fetched *f)
{
	struct leaf_read lr = {.f = f, .first = first, .last = last};
	uint64_t start;
	int st = tree_append_start(db, log, first, &start);
	if (st)
		return st;
	struct db_value k[] = {DB_INT(log), DB_INT((long long)start), DB_INT((long long)last)};
	st = db_query(db, sql_appends, k, 3, append_row, &lr);
	return st < 0 ? st : st ? DB_ERR : DB_OK;
}

static int cmp_stored(const void *a, const void *b)
{
	const struct stored_hash *x = a, *y = b;
	if (x->level != y->level)
		return x->level < y->level ? -1 : 1;
	return (x->idx > y->idx) - (x->idx < y->idx);
}

/* Sorts f's rows by (level, idx) and keeps each once (asks may share
 * stored hashes). */
static void settle(struct fetched *f)
{
	if (f->n > 1)
		qsort(f->rows, f->n, sizeof *f->rows, cmp_stored);
	size_t m = 0;
	for (size_t i = 0; i < f->n; i++)
		if (!m || cmp_stored(&f->rows[m - 1], &f->rows[i]))
			f->rows[m++] = f->rows[i];
	f->n = m;
}

/* Folds the stored hashes of ask a (at level base, consecutive) into its
 * hash. Leaves a unknown when one is missing. */
static void resolve(struct tree_ask *a, const struct fetched *f)
{
	unsigned base = a->level - a->level % LEDGER_STRIDE, span = a->level - base;
	uint64_t first = a->index << span, count = (uint64_t)1 << span;
	struct stored_hash key = {.level = base, .idx = first};
	const struct stored_hash *h = bsearch(&key, f->rows, f->n, sizeof *f->rows, cmp_stored);
	if (!h || (size_t)(h - f->rows) + count > f->n)
		return;
	struct merkle_frontier fr;
	merkle_frontier_init(&fr);
	for (uint64_t i = 0; i < count; i++)
		if (h[i].level != base || h[i].idx != first + i || merkle_frontier_append(&fr, h[i].hash))
			return;
	a->known = !merkle_frontier_root(&fr, a->hash);
}

static int node(void *ctx, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_LEN])
{
	struct tree_source *ts = ctx;
	if (ts->recording)
		return record(ts, level, index, out);
	if (lookup(ts, level, index, out))
		return 0;
	unsigned base = level - level % LEDGER_STRIDE, span = level - base;
	if (level >= 64 || index > (UINT64_MAX >> level))
		return -1;
	uint64_t first = index << span, count = (uint64_t)1 << span;
	if (base == 0) {
		struct tree_ask a = {.level = level, .index = index};
		struct fetched f = {0};
		int st = read_leaves(ts->db, ts->log, first, first + count - 1, &f);
		if (!st) {
			settle(&f);
			resolve(&a, &f);
		}
		free(f.rows);
		ts->status = st;
		if (st || !a.known)
			return -1;
		memcpy(out, a.hash, MERKLE_HASH_LEN);
		return 0;
	}
	struct fold fd = {.next = first};
	merkle_frontier_init(&fd.f);
	struct db_value v[] = {DB_INT(ts->log), DB_INT(base), DB_INT((long long)first),
	                       DB_INT((long long)(first + count - 1))};
	int st = db_query(ts->db, sql_node, v, 4, fold_row, &fd);
	ts->status = st < 0 ? st : DB_OK;
	if (st < 0 || fd.bad || fd.next != first + count)
		return -1;
	return merkle_frontier_root(&fd.f, out) ? -1 : 0;
}

struct merkle_source tree_source_init(struct tree_source *ts)
{
	ts->status = DB_OK;
	ts->recording = false;
	ts->asks = NULL;
	ts->nasks = ts->cap = 0;
	return (struct merkle_source){.node = node, .ctx = ts};
}

void tree_source_record(struct tree_source *ts)
{
	ts->recording = true;
	ts->nasks = 0;
}

void tree_source_free(struct tree_source *ts)
{
	free(ts->asks);
	ts->asks = NULL;
	ts->nasks = ts->cap = 0;
}

/* The stored hashes a batch of asks needs, in one statement: the leaf
 * hashes lo..hi that the append holding hi gives (a slice of its row: a
 * proof's leaf-level asks all fall in one aligned block of 2^LEDGER_STRIDE
 * positions, mostly in one append), and up to SLOTS ranges of interior
 * hashes (unused slots get an empty range, so one prepared statement serves
 * every batch). Leaves the append does not give are read apart
 * (read_leaves). */
#define SLOTS 32
#define SLOT_NODE "(level = ? AND idx BETWEEN ? AND ?)"
#define LEAF_PART                                                                                  \
	"(SELECT 0, GREATEST(?, first_seq), SUBSTRING(leaf_hashes, 32 * (GREATEST(?, first_seq) - " \
	"first_seq) + 1, 32 * (? + 1 - GREATEST(?, first_seq))) FROM log_appends WHERE log_id = ? " \
	"AND first_seq <= ? ORDER BY first_seq DESC LIMIT 1)"
#define LEAF_PARAMS 6
static char *batch_sql;
static pthread_once_t batch_once = PTHREAD_ONCE_INIT;

static void build_batch_sql(void)
{
	size_t cap = sizeof LEAF_PART + 256 + SLOTS * (sizeof SLOT_NODE + 8);
	char *p = batch_sql = malloc(cap);
	if (!p)
		return;
	p += sprintf(p, "%s UNION ALL (SELECT level, idx, hash FROM log_nodes WHERE log_id = ? AND (",
	             LEAF_PART);
	for (int i = 0; i < SLOTS; i++)
		p += sprintf(p, "%s" SLOT_NODE, i ? " OR " : "");
	sprintf(p, "))");
}

/* Leaf-level asks closer together than this are read in one range. */
#define LEAF_HULL_MAX 4096

/* The positions ask a covers at its base level. */
static void ask_range(const struct tree_ask *a, unsigned *base, uint64_t *first, uint64_t *last)
{
	*base = a->level - a->level % LEDGER_STRIDE;
	unsigned span = a->level - *base;
	*first = a->index << span;
	*last = *first + ((uint64_t)1 << span) - 1;
}

/* The hull lo..hi of the leaf-level asks; false when there are none. */
static bool leaf_hull(const struct tree_source *ts, uint64_t *lo, uint64_t *hi)
{
	*lo = UINT64_MAX;
	*hi = 0;
	for (size_t i = 0; i < ts->nasks; i++) {
		unsigned base;
		uint64_t first, last;
		ask_range(&ts->asks[i], &base, &first, &last);
		if (base)
			continue;
		*lo = first < *lo ? first : *lo;
		*hi = last > *hi ? last : *hi;
	}
	return *lo <= *hi;
}

/* Reads the leaf hashes of the leaf-level asks still unknown: their hull
 * in one range when it is short, else each ask's own. */
static int fetch_leaves(struct tree_source *ts, struct fetched *f)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	for (size_t i = 0; i < ts->nasks; i++) {
		unsigned base;
		uint64_t first, last;
		ask_range(&ts->asks[i], &base, &first, &last);
		if (base || ts->asks[i].known)
			continue;
		lo = first < lo ? first : lo;
		hi = last > hi ? last : hi;
	}
	if (lo > hi)
		return DB_OK;
	if (hi - lo < LEAF_HULL_MAX)
		return read_leaves(ts->db, ts->log, lo, hi, f);
	int st = DB_OK;
	for (size_t i = 0; i < ts->nasks && !st; i++) {
		unsigned base;
		uint64_t first, last;
		ask_range(&ts->asks[i], &base, &first, &last);
		if (!base && !ts->asks[i].known)
			st = read_leaves(ts->db, ts->log, first, last, f);
	}
	return st;
}

int tree_source_fetch(struct tree_source *ts)
{
	ts->recording = false;
	pthread_once(&batch_once, build_batch_sql);
	if (!batch_sql)
		return ts->status = DB_ERR;
	struct fetched f = {0};
	uint64_t lo, hi;
	bool leaves = leaf_hull(ts, &lo, &hi);
	if (!leaves || hi - lo >= LEAF_HULL_MAX) /* none, or far apart: read_leaves below */
		lo = 1, hi = 0;                         /* an empty slice */
	int st = DB_OK;
	size_t done = 0;
	do {
		struct db_value v[LEAF_PARAMS + 1 + 3 * SLOTS];
		size_t nn = 0, k = 0;
		v[k++] = DB_INT((long long)lo);
		v[k++] = DB_INT((long long)lo);
		v[k++] = DB_INT((long long)hi);
		v[k++] = DB_INT((long long)lo);
		v[k++] = DB_INT(ts->log);
		v[k++] = DB_INT((long long)hi);
		v[k++] = DB_INT(ts->log);
		for (; done < ts->nasks && nn < SLOTS; done++) {
			unsigned base;
			uint64_t first, last;
			ask_range(&ts->asks[done], &base, &first, &last);
			if (!base)
				continue;
			v[k++] = DB_INT(base);
			v[k++] = DB_INT((long long)first);
			v[k++] = DB_INT((long long)last);
			nn++;
		}
		for (; nn < SLOTS; nn++) { /* empty ranges */
			v[k++] = DB_INT(0);
			v[k++] = DB_INT(1);
			v[k++] = DB_INT(0);
		}
		st = db_query(ts->db, batch_sql, v, k, fetched_row, &f);
		st = st < 0 ? st : st ? DB_ERR : DB_OK;
		lo = 1, hi = 0; /* the leaves come with the first statement only */
	} while (!st && done < ts->nasks);
	if (!st) {
		settle(&f);
		for (size_t i = 0; i < ts->nasks; i++)
			resolve(&ts->asks[i], &f);
		/* Leaves the one append did not give (small appends, a block
		 * across two): read apart, and resolve again. */
		size_t had = f.n;
		if (leaves && !(st = fetch_leaves(ts, &f)) && f.n > had) {
			settle(&f);
			for (size_t i = 0; i < ts->nasks; i++)
				if (!ts->asks[i].known)
					resolve(&ts->asks[i], &f);
		}
	}
	free(f.rows);
	ts->status = st;
	return st;
}

/* signed_at in milliseconds since the epoch (UNIX_TIMESTAMP of a TIMESTAMP
 * column reads its stored UTC value, whatever the session's time zone). */
#define SIGNED_AT "FLOOR(UNIX_TIMESTAMP(signed_at) * 1000)"

static int checkpoint_row(void *ctx, const struct db_row *row)
{
	struct stored_checkpoint *cp = ctx;
	cp->found = true;
	cp->size = strtoull(row->val[0], NULL, 10);
	cp->root_ok = row->val[1] && row->len[1] == MERKLE_HASH_LEN;
	if (row->val[1])
		memcpy(cp->root, row->val[1], row->len[1] < MERKLE_HASH_LEN ? row->len[1] : MERKLE_HASH_LEN);
	cp->signed_ms = row->val[3] ? strtoll(row->val[3], NULL, 10) : 0;
	cp->note = strndup(row->val[2] ? row->val[2] : "", row->len[2]);
	return cp->note ? 0 : DB_ERR;
}

int tree_checkpoint(struct db *db, uint32_t log, enum tree_pick pick, uint64_t a, uint64_t b,
                    struct stored_checkpoint *cp)
{
	static const char *const sql[] = {
	    [TREE_EXACT] = "SELECT size, root, note, " SIGNED_AT " FROM log_checkpoints "
	                   "WHERE log_id = ? AND size = ?",
	    [TREE_LATEST] = "SELECT size, root, note, " SIGNED_AT " FROM log_checkpoints "
	                    "WHERE log_id = ? ORDER BY size DESC LIMIT 1",
	    [TREE_NEXT] = "SELECT size, root, note, " SIGNED_AT " FROM log_checkpoints "
	                  "WHERE log_id = ? AND size >= ? AND size <= ? ORDER BY size LIMIT 1",
	};
	static const size_t nparams[] = {[TREE_EXACT] = 2, [TREE_LATEST] = 1, [TREE_NEXT] = 3};
	memset(cp, 0, sizeof *cp);
	struct db_value v[] = {DB_INT(log), DB_INT((long long)a), DB_INT((long long)b)};
	int st = db_query(db, sql[pick], v, nparams[pick], checkpoint_row, cp);
	if (st) {
		free(cp->note);
		memset(cp, 0, sizeof *cp);
		return st < 0 ? st : DB_ERR;
	}
	return DB_OK;
}

struct latest_rows {
	tree_checkpoint_fn fn;
	void *ctx;
};

static int latest_row(void *ctx, const struct db_row *row)
{
	struct latest_rows *l = ctx;
	struct stored_checkpoint cp = {0};
	struct db_row rest = {.n = row->n - 1, .val = row->val + 1, .len = row->len + 1};
	int st = checkpoint_row(&cp, &rest);
	if (!st)
		st = l->fn(l->ctx, (uint32_t)strtoul(row->val[0] ? row->val[0] : "0", NULL, 10), &cp);
	free(cp.note);
	return st;
}

int tree_checkpoints_latest(struct db *db, tree_checkpoint_fn fn, void *ctx)
{
	/* The largest size of each log by the primary key (log_id, size), then
	 * that row. */
	struct latest_rows l = {.fn = fn, .ctx = ctx};
	int st = db_query(db,
	                  "SELECT c.log_id, c.size, c.root, c.note, "
	                  "FLOOR(UNIX_TIMESTAMP(c.signed_at) * 1000) FROM log_checkpoints c JOIN "
	                  "(SELECT log_id, MAX(size) AS size FROM log_checkpoints GROUP BY log_id) m "
	                  "ON c.log_id = m.log_id AND c.size = m.size ORDER BY c.log_id",
	                  NULL, 0, latest_row, &l);
	return st < 0 ? st : st ? DB_ERR : DB_OK;
}

enum tree_cp_check tree_checkpoint_check(const struct stored_checkpoint *cp,
                                         const note_verifier *key, const char *origin)
{
	size_t text_len;
	struct note_checkpoint parsed = {0};
	const note_verifier *vs[] = {key};
	if (note_verify(cp->note, strlen(cp->note), vs, 1, &text_len, NULL, NULL) ||
	    note_checkpoint_parse(cp->note, text_len, &parsed, NULL))
		return TREE_CP_SIGNATURE;
	bool same = cp->root_ok && !strcmp(parsed.origin, origin) && parsed.size == cp->size &&
	            !memcmp(parsed.root, cp->root, MERKLE_HASH_LEN);
	note_checkpoint_clear(&parsed);
	return same ? TREE_CP_OK : TREE_CP_ROW;
}
