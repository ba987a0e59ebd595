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
