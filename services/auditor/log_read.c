/* Reading a log's stored events in position order: see log_read.h.
 *
 * The order of record is in log_appends: each row gives the ids of the
 * events at its positions and their leaf hashes. The events are read by
 * id, CHUNK positions at a time, sorted by the position their rows claim
 * (seq): so when the rows agree with the appends, as the writer leaves
 * them, each event streams through alone. When they do not (a row missing,
 * moved or doubled by hand), the rest of the chunk is read one position at
 * a time, and every position still gets its own answer. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"
#include "log_read.h"
#include "sql_id.h"

/* Positions per query: bounds what one chunk holds (events and their
 * changes). */
#define CHUNK_LOG2 9
#define CHUNK (1u << CHUNK_LOG2)
#define MAX_FIELDS 256 /* changes per event we assemble; more is malformed */

static const char sql_head[] =
    "SELECT e.log_id, e.seq, " SQL_ID("e.event_id") ", e.action, e.occurred_at, e.actor_type, "
    "e.actor_id, "
    "e.target_type, e.target_id, e.event_name, c.field, c.prev_commitment, "
    "c.next_commitment, v.field, v.prev_salt, v.prev_value, v.next_salt, v.next_value, "
    "e.target_version, " SQL_TRACE("e.trace_id") " FROM data_events e "
    "LEFT JOIN data_event_changes c ON c.event_id = e.event_id "
    "LEFT JOIN data_event_values v ON v.event_id = c.event_id AND v.field = c.field "
    "WHERE e.event_id IN (";
static const char sql_tail[] = ") ORDER BY e.seq, e.event_id, c.field";
/* By id IN lists of 1, 2, 4, ... CHUNK ids (shorter lists repeat their
 * last id). */
static char *sql_ids[CHUNK_LOG2 + 1];
static pthread_once_t sql_once = PTHREAD_ONCE_INIT;

static void build_sql(void)
{
	for (unsigned k = 0; k <= CHUNK_LOG2; k++) {
		size_t n = (size_t)1 << k;
		char *p = sql_ids[k] = malloc(sizeof sql_head + n * sizeof SQL_ID_ARG + sizeof sql_tail);
		if (!p)
			continue;
		memcpy(p, sql_head, sizeof sql_head - 1);
		p += sizeof sql_head - 1;
		for (size_t i = 0; i < n; i++) {
			if (i)
				*p++ = ',';
			memcpy(p, SQL_ID_ARG, sizeof SQL_ID_ARG - 1);
			p += sizeof SQL_ID_ARG - 1;
		}
		memcpy(p, sql_tail, sizeof sql_tail);
	}
}

static const char sql_append[] =
    "SELECT first_seq, event_ids, leaf_hashes FROM log_appends WHERE log_id = ? "
    "AND first_seq >= ? AND first_seq < ? ORDER BY first_seq LIMIT 1";

enum col {
	C_LOG, C_SEQ, C_ID, C_ACTION, C_TS, C_ATYPE, C_AID, C_TTYPE, C_TID, C_NAME, C_FIELD,
	C_PREVC, C_NEXTC, C_VFIELD, C_PREVS, C_PREVV, C_NEXTS, C_NEXTV, C_VERSION, C_TRACE
};

/* One row of log_appends: copies of its blobs. */
struct append {
	bool found;
	uint64_t first, n;
	char *ids;       /* n * LEDGER_ID_LEN */
	uint8_t *leaves; /* n * MERKLE_HASH_LEN */
	bool malformed;  /* blob lengths that do not agree */
};

/* The event being assembled: its strings are copies (rows are borrowed). */
struct reader {
	uint32_t log;
	log_event_fn fn;
	void *ctx;
	int status; /* what fn returned, or DB_ERR when out of memory */
	const struct append *ap;
	uint64_t next, end; /* the position whose event the stream should give next; the chunk's end */
	bool misplaced;     /* the stream gave an event that is not the one due */
	bool have;
	uint64_t row_seq, row_log;
	struct log_event e;
	char *strs[8]; /* id, action, actor/target type/id, name, trace-id */
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

static const char *id_at(const struct append *ap, uint64_t seq)
{
	return ap->ids + (seq - ap->first) * LEDGER_ID_LEN;
}

/* Emits the assembled event as the one at position r->next when the
 * append holds its id there, and returns what fn returned. When the event
 * is not the one due, emits nothing and sets r->misplaced. */
static int emit(struct reader *r)
{
	if (!r->have)
		return 0;
	uint64_t seq = r->next;
	if (seq >= r->end || strlen(r->strs[0]) != LEDGER_ID_LEN ||
	    memcmp(r->strs[0], id_at(r->ap, seq), LEDGER_ID_LEN)) {
		clear_event(r);
		r->misplaced = true;
		return 0;
	}
	r->e.ev.seq = seq;
	memcpy(r->e.leaf_hash, r->ap->leaves + (seq - r->ap->first) * MERKLE_HASH_LEN,
	       MERKLE_HASH_LEN);
	/* The row must claim the position the append gives it. */
	if (r->row_seq != seq || r->row_log != r->log || r->ap->malformed)
		r->e.malformed = true;
	r->e.ev.changes = r->changes;
	r->e.ev.nchanges = r->nchanges;
	r->e.fields = r->fields;
	r->next++;
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
	r->row_seq = strtoull(v[C_SEQ], NULL, 10);
	r->row_log = strtoull(v[C_LOG], NULL, 10);
	int cols[] = {C_ID, C_ACTION, C_ATYPE, C_AID, C_TTYPE, C_TID, C_NAME, C_TRACE};
	for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
		if (v[cols[i]] && !(r->strs[i] = dup(v[cols[i]], len[cols[i]])))
			return DB_ERR;
	struct leaf_event *ev = &r->e.ev;
	ev->log = r->log;
	ev->id = r->strs[0];
	ev->action = r->strs[1];
	ev->actor_type = r->strs[2];
	ev->actor_id = r->strs[3];
	ev->target_type = r->strs[4];
	ev->target_id = r->strs[5];
	ev->event_name = r->strs[6];
	ev->trace_id = r->strs[7];
	ev->timestamp = strtoll(v[C_TS], NULL, 10);
	ev->target_version = strtoll(v[C_VERSION], NULL, 10);
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

/* Rows of one event are consecutive (sorted by seq, then id); a new id
 * starts the next event. Stops the query (1) when an event is not the one
 * due, or fn said stop (r->status). */
static int event_row(void *ctx, const struct db_row *row)
{
	struct reader *r = ctx;
	int st;
	if (!r->have || strcmp(r->strs[0] ? r->strs[0] : "", row->val[C_ID])) {
		if ((st = emit(r))) {
			r->status = st;
			return 1;
		}
		if (r->misplaced)
			return 1;
		if ((st = start_event(r, row))) {
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

/* Reads the events of positions [r->next, end) by id, in one query; stops
 * early (r->next < end) at the first that is not where its append says. */
static int read_ids(struct db *db, struct reader *r, uint64_t end)
{
	struct db_value ids[CHUNK];
	size_t n = (size_t)(end - r->next);
	unsigned k = 0;
	while (((size_t)1 << k) < n)
		k++;
	if (!sql_ids[k])
		return DB_ERR;
	for (size_t i = 0; i < ((size_t)1 << k); i++)
		ids[i] = DB_BLOB(id_at(r->ap, r->next + (i < n ? i : n - 1)), LEDGER_ID_LEN);
	r->end = end;
	r->misplaced = false;
	int st = db_query(db, sql_ids[k], ids, (size_t)1 << k, event_row, r);
	if (r->status)
		return r->status;
	if (st < 0)
		return st;
	return r->misplaced ? DB_OK : emit(r); /* the last event */
}

/* Positions [at, end) of one append: in one query while the rows agree
 * with it; from the first that does not, one position at a time (a
 * position whose event is gone is left out: the caller counts). */
static int read_chunk(struct db *db, struct reader *r, uint64_t at, uint64_t end)
{
	r->next = at;
	int st = read_ids(db, r, end);
	while (!st && r->next < end) {
		uint64_t seq = r->next;
		st = read_ids(db, r, seq + 1);
		if (!st && r->next == seq)
			r->next = seq + 1; /* not stored, or not as the append says: skipped */
	}
	clear_event(r);
	return st;
}

static int append_row(void *ctx, const struct db_row *row)
{
	struct append *ap = ctx;
	size_t nid = row->val[1] ? row->len[1] / LEDGER_ID_LEN : 0,
	       nleaf = row->val[2] ? row->len[2] / MERKLE_HASH_LEN : 0;
	ap->found = true;
	ap->first = strtoull(row->val[0], NULL, 10);
	ap->n = nid < nleaf ? nid : nleaf;
	ap->malformed = !row->val[1] || !row->val[2] || row->len[1] % LEDGER_ID_LEN ||
	                row->len[2] % MERKLE_HASH_LEN || nid != nleaf;
	ap->ids = malloc(ap->n * LEDGER_ID_LEN + 1);
	ap->leaves = malloc(ap->n * MERKLE_HASH_LEN + 1);
	if (!ap->ids || !ap->leaves)
		return DB_ERR;
	memcpy(ap->ids, row->val[1] ? row->val[1] : "", ap->n * LEDGER_ID_LEN);
	memcpy(ap->leaves, row->val[2] ? row->val[2] : "", ap->n * MERKLE_HASH_LEN);
	return 0;
}

static void append_free(struct append *ap)
{
	free(ap->ids);
	free(ap->leaves);
	memset(ap, 0, sizeof *ap);
}

int log_read_range(struct db *db, uint32_t log, uint64_t from, uint64_t to, log_event_fn fn,
                   void *ctx)
{
	pthread_once(&sql_once, build_sql);
	if (from >= to)
		return DB_OK;
	struct reader *r = calloc(1, sizeof *r);
	if (!r)
		return DB_ERR;
	r->log = log;
	r->fn = fn;
	r->ctx = ctx;
	/* From the append holding from, if any starts at or before it. */
	struct append ap = {0};
	uint64_t look;
	int st = tree_append_start(db, log, from, &look);
	struct db_value v[] = {DB_INT(log), DB_INT((long long)look), DB_INT((long long)to)};
	while (!st && look < to) {
		ap = (struct append){0};
		v[1] = DB_INT((long long)look);
		st = db_query(db, sql_append, v, 3, append_row, &ap);
		if (st || !ap.found) {
			append_free(&ap);
			break;
		}
		r->ap = &ap;
		uint64_t lo = ap.first > from ? ap.first : from;
		uint64_t hi = ap.n > to - ap.first ? to : ap.first + ap.n;
		for (uint64_t at = lo; at < hi && !st; at += CHUNK)
			st = read_chunk(db, r, at, hi - at > CHUNK ? at + CHUNK : hi);
		look = ap.first + 1; /* the next row (rows that overlap: the reader of positions counts) */
		append_free(&ap);
	}
	r->ap = NULL;
	clear_event(r);
	free(r);
	return st < 0 || st > 0 ? st : DB_OK;
}
