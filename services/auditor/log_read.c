/* Reading a log's stored events in position order: see log_read.h. */
#include <stdlib.h>
#include <string.h>

#include "log_read.h"

/* Positions per query: bounds what one chunk holds (events and their
 * changes). */
#define CHUNK 512
#define MAX_FIELDS 256 /* changes per event we assemble; more is malformed */

static const char sql_range[] =
    "SELECT e.seq, e.event_id, e.action, e.occurred_at, e.actor_type, e.actor_id, "
    "e.target_type, e.target_id, e.event_name, e.leaf_hash, c.field, c.prev_commitment, "
    "c.next_commitment, v.field, v.prev_salt, v.prev_value, v.next_salt, v.next_value "
    "FROM data_events e "
    "LEFT JOIN data_event_changes c ON c.event_id = e.event_id "
    "LEFT JOIN data_event_values v ON v.event_id = c.event_id AND v.field = c.field "
    "WHERE e.log_id = ? AND e.seq >= ? AND e.seq < ? ORDER BY e.seq, c.field";

enum col {
	C_SEQ, C_ID, C_ACTION, C_TS, C_ATYPE, C_AID, C_TTYPE, C_TID, C_NAME, C_LEAF, C_FIELD,
	C_PREVC, C_NEXTC, C_VFIELD, C_PREVS, C_PREVV, C_NEXTS, C_NEXTV
};

/* The event being assembled: its strings are copies (rows are borrowed). */
struct reader {
	uint32_t log;
	log_event_fn fn;
	void *ctx;
	int status; /* what fn returned, or DB_ERR when out of memory */
	bool have;
	uint64_t seq;
	struct log_event e;
	char *strs[8]; /* id, action, actor/target type/id, name */
	struct leaf_change changes[MAX_FIELDS];
	struct log_field fields[MAX_FIELDS];
	char *field_strs[MAX_FIELDS][3]; /* field, prev, next */
	size_t nchanges;
};

static char *dup(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

static void copy_bytes(uint8_t *out, size_t want, const char *v, unsigned long len, bool *bad)
{
	memset(out, 0, want);
	if (!v || len != want) {
		*bad = true;
		if (v)
			memcpy(out, v, len < want ? len : want);
		return;
	}
	memcpy(out, v, want);
}

static void clear_event(struct reader *r)
{
	for (size_t i = 0; i < sizeof r->strs / sizeof r->strs[0]; i++) {
		free(r->strs[i]);
		r->strs[i] = NULL;
	}
	for (size_t i = 0; i < r->nchanges; i++)
		for (int k = 0; k < 3; k++) {
			free(r->field_strs[i][k]);
			r->field_strs[i][k] = NULL;
		}
	r->nchanges = 0;
	r->have = false;
}

static int emit(struct reader *r)
{
	if (!r->have)
		return 0;
	r->e.ev.changes = r->changes;
	r->e.ev.nchanges = r->nchanges;
	r->e.fields = r->fields;
	int st = r->fn(r->ctx, &r->e);
	clear_event(r);
	return st;
}

static int start_event(struct reader *r, const struct db_row *row)
{
	const char *const *v = row->val;
	const unsigned long *len = row->len;
	memset(&r->e, 0, sizeof r->e);
	r->have = true;
	r->seq = strtoull(v[C_SEQ], NULL, 10);
	int cols[] = {C_ID, C_ACTION, C_ATYPE, C_AID, C_TTYPE, C_TID, C_NAME};
	for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
		if (v[cols[i]] && !(r->strs[i] = dup(v[cols[i]], len[cols[i]])))
			return DB_ERR;
	struct leaf_event *ev = &r->e.ev;
	ev->log = r->log;
	ev->seq = r->seq;
	ev->id = r->strs[0];
	ev->action = r->strs[1];
	ev->actor_type = r->strs[2];
	ev->actor_id = r->strs[3];
	ev->target_type = r->strs[4];
	ev->target_id = r->strs[5];
	ev->event_name = r->strs[6];
	ev->timestamp = strtoll(v[C_TS], NULL, 10);
	copy_bytes(r->e.leaf_hash, LEAF_HASH_LEN, v[C_LEAF], len[C_LEAF], &r->e.malformed);
	return 0;
}

static int add_field(struct reader *r, const struct db_row *row)
{
	const char *const *v = row->val;
	const unsigned long *len = row->len;
	if (r->nchanges == MAX_FIELDS) {
		r->e.malformed = true;
		return 0;
	}
	size_t i = r->nchanges++;
	struct log_field *f = &r->fields[i];
	struct leaf_change *c = &r->changes[i];
	memset(f, 0, sizeof *f);
	if (!(r->field_strs[i][0] = dup(v[C_FIELD], len[C_FIELD])))
		return DB_ERR;
	f->field = c->field = r->field_strs[i][0];
	copy_bytes(c->prev, LEAF_COMMITMENT_LEN, v[C_PREVC], len[C_PREVC], &r->e.malformed);
	copy_bytes(c->next, LEAF_COMMITMENT_LEN, v[C_NEXTC], len[C_NEXTC], &r->e.malformed);
	f->erased = !v[C_VFIELD];
	if (!f->erased) {
		copy_bytes(f->prev_salt, LEAF_SALT_LEN, v[C_PREVS], len[C_PREVS], &r->e.malformed);
		copy_bytes(f->next_salt, LEAF_SALT_LEN, v[C_NEXTS], len[C_NEXTS], &r->e.malformed);
		if (!(r->field_strs[i][1] = dup(v[C_PREVV] ? v[C_PREVV] : "", len[C_PREVV])) ||
		    !(r->field_strs[i][2] = dup(v[C_NEXTV] ? v[C_NEXTV] : "", len[C_NEXTV])))
			return DB_ERR;
		f->prev_value = r->field_strs[i][1];
		f->prev_len = len[C_PREVV];
		f->next_value = r->field_strs[i][2];
		f->next_len = len[C_NEXTV];
	}
	return 0;
}

static int range_row(void *ctx, const struct db_row *row)
{
	struct reader *r = ctx;
	uint64_t seq = strtoull(row->val[C_SEQ], NULL, 10);
	int st;
	if (!r->have || seq != r->seq) {
		if ((st = emit(r)) || (st = start_event(r, row))) {
			r->status = st;
			return 1;
		}
	}
	if (row->val[C_FIELD] && (st = add_field(r, row))) {
		r->status = st;
		return 1;
	}
	return 0;
}

int log_read_range(struct db *db, uint32_t log, uint64_t from, uint64_t to, log_event_fn fn,
                   void *ctx)
{
	struct reader *r = calloc(1, sizeof *r);
	if (!r)
		return DB_ERR;
	r->log = log;
	r->fn = fn;
	r->ctx = ctx;
	int st = DB_OK;
	for (uint64_t at = from; at < to && !st;) {
		uint64_t end = to - at > CHUNK ? at + CHUNK : to;
		struct db_value v[] = {DB_INT(log), DB_INT((long long)at), DB_INT((long long)end)};
		st = db_query(db, sql_range, v, 3, range_row, r);
		if (st > 0 || r->status)
			st = r->status;
		if (!st)
			st = emit(r); /* a chunk ends with a whole event */
		at = end;
	}
	clear_event(r);
	free(r);
	return st;
}
