/* A log's Merkle tree as stored: leaf hashes in data_events, interior
 * hashes of every LEDGER_STRIDE-th level in log_nodes (see ledger.h). */
#include <stdlib.h>
#include <string.h>

#include "ledger.h"

static const char sql_leaf[] =
    "SELECT seq, leaf_hash FROM data_events WHERE log_id = ? AND seq BETWEEN ? AND ? "
    "ORDER BY seq";
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
static int node(void *ctx, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_LEN])
{
	struct tree_source *ts = ctx;
	unsigned base = level - level % LEDGER_STRIDE, span = level - base;
	if (level >= 64 || index > (UINT64_MAX >> level))
		return -1;
	uint64_t first = index << span, count = (uint64_t)1 << span;
	struct fold fd = {.next = first};
	merkle_frontier_init(&fd.f);
	int st;
	if (base == 0) {
		struct db_value v[] = {DB_INT(ts->log), DB_INT((long long)first),
		                       DB_INT((long long)(first + count - 1))};
		st = db_query(ts->db, sql_leaf, v, 3, fold_row, &fd);
	} else {
		struct db_value v[] = {DB_INT(ts->log), DB_INT(base), DB_INT((long long)first),
		                       DB_INT((long long)(first + count - 1))};
		st = db_query(ts->db, sql_node, v, 4, fold_row, &fd);
	}
	ts->status = st < 0 ? st : DB_OK;
	if (st < 0 || fd.bad || fd.next != first + count)
		return -1;
	return merkle_frontier_root(&fd.f, out) ? -1 : 0;
}

struct merkle_source tree_source_init(struct tree_source *ts)
{
	ts->status = DB_OK;
	return (struct merkle_source){.node = node, .ctx = ts};
}

static int checkpoint_row(void *ctx, const struct db_row *row)
{
	struct stored_checkpoint *cp = ctx;
	cp->found = true;
	cp->size = strtoull(row->val[0], NULL, 10);
	cp->root_ok = row->val[1] && row->len[1] == MERKLE_HASH_LEN;
	if (row->val[1])
		memcpy(cp->root, row->val[1], row->len[1] < MERKLE_HASH_LEN ? row->len[1] : MERKLE_HASH_LEN);
	cp->note = strndup(row->val[2] ? row->val[2] : "", row->len[2]);
	return cp->note ? 0 : DB_ERR;
}

int tree_checkpoint(struct db *db, uint32_t log, enum tree_pick pick, uint64_t a, uint64_t b,
                    struct stored_checkpoint *cp)
{
	static const char *const sql[] = {
	    [TREE_EXACT] = "SELECT size, root, note FROM log_checkpoints WHERE log_id = ? AND size = ?",
	    [TREE_LATEST] = "SELECT size, root, note FROM log_checkpoints WHERE log_id = ? "
	                    "ORDER BY size DESC LIMIT 1",
	    [TREE_NEXT] = "SELECT size, root, note FROM log_checkpoints WHERE log_id = ? AND size >= ? "
	                  "AND size <= ? ORDER BY size LIMIT 1",
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
