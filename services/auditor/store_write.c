/* The audit log write side: idempotent batched inserts, each event given
 * its position in the log of record (ledger.c) inside the transaction: the
 * event rows, and one log_appends row per LEDGER_APPEND_MAX positions with
 * the events' ids and leaf hashes in position order. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "auditor.h"
#include "clock.h"
#include "leaf.h"
#include "ledger.h"
#include "log.h"
#include "metrics.h"
#include "spans.h"
#include "sql_id.h"
#include "uuid.h"

/* Batches go in as multi-row statements of 1, 2, 4, ... ROWS_MAX rows,
 * so a few prepared statements serve every batch size. */
#define ROWS_LOG2_MAX 9
#define ROWS_MAX (1u << ROWS_LOG2_MAX)

static char *events_sql[ROWS_LOG2_MAX + 1], *changes_sql[ROWS_LOG2_MAX + 1],
    *mutations_sql[ROWS_LOG2_MAX + 1];
static pthread_once_t sql_once = PTHREAD_ONCE_INIT;

static char *repeat_rows(const char *head, const char *row, const char *tail, size_t rows)
{
	size_t hl = strlen(head), rl = strlen(row), tl = strlen(tail);
	char *sql = malloc(hl + rows * (rl + 1) + tl + 1), *p = sql;
	if (!sql)
		return NULL;
	memcpy(p, head, hl);
	p += hl;
	for (size_t i = 0; i < rows; i++) {
		if (i)
			*p++ = ',';
		memcpy(p, row, rl);
		p += rl;
	}
	memcpy(p, tail, tl + 1);
	return sql;
}

static char *exists_sql[ROWS_LOG2_MAX + 1], *values_sql[ROWS_LOG2_MAX + 1],
    *nodes_sql[ROWS_LOG2_MAX + 1], *spans_sql[ROWS_LOG2_MAX + 1], *ids_sql[ROWS_LOG2_MAX + 1];

/* Days added to the store's clock (store_set_day_shift). */
static _Atomic int day_shift;

/* Metrics (metrics.h), counted once a batch's COMMIT returned. */
static struct metrics_counter *stored_events, *duplicate_events;
static struct metrics_histogram *commit_seconds, *transaction_seconds, *delay_seconds;
/* From a few ms (the producer's linger, the batch's) to an hour (a backlog
 * drained after an outage). */
static const double delay_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                       2.5,   5,    10,    30,   60,  300,  900, 3600};

/* Columns per row of each statement. */
#define EV_COLS 13
#define APPEND_COLS 5
#define CH_COLS 11
#define MUT_COLS 9
#define VAL_COLS 7
#define NODE_COLS 4
#define IDS_COLS 3

/* Built once and kept for the life of the process. Plain INSERTs: the
 * store's database user holds INSERT and SELECT only (the log is
 * append-only even to its writer), so duplicates are found first and left
 * out, and any error, a racing duplicate included, fails the batch. */
static void build_sql(void)
{
	stored_events =
	    metrics_counter("auditlog_stored_events_total",
	                    "Data events stored in the audit log, counted after their "
	                    "transaction's COMMIT: consumed ones, and the auditor's own "
	                    "records of reads and erasures.",
	                    NULL);
	duplicate_events = metrics_counter("auditlog_duplicate_events_total",
	                                   "Data events not stored again: their id was already "
	                                   "stored (a redelivery, a producer's re-send).",
	                                   NULL);
	commit_seconds = metrics_histogram(
	    "auditlog_store_commit_duration_seconds",
	    "The COMMIT of a store transaction (a consumer's batch, a batch of read records, an "
	    "erasure's event): from sending it to its answer.",
	    metrics_duration_buckets, metrics_duration_nbuckets, METRICS_NS, NULL);
	transaction_seconds = metrics_histogram(
	    "auditlog_store_transaction_duration_seconds",
	    "A store transaction from its start to its COMMIT's answer (retries and the wait for "
	    "its turn in the log included).",
	    metrics_duration_buckets, metrics_duration_nbuckets, METRICS_NS, NULL);
	delay_seconds = metrics_histogram(
	    "auditlog_event_delay_seconds",
	    "From an event's timestamp (its producer's clock) to the COMMIT that stored it: the "
	    "pipeline's lag, end to end (clock skew between hosts included).",
	    delay_buckets, sizeof delay_buckets / sizeof delay_buckets[0], 1e-3, NULL);
	for (unsigned k = 0; k <= ROWS_LOG2_MAX; k++) {
		events_sql[k] = repeat_rows("INSERT INTO data_events (log_id, seq, event_id, action, "
		                            "occurred_at, actor_type, actor_id, target_type, target_id, "
		                            "target_version, event_name, trace_id, stored_day) VALUES ",
		                            "(?,?,?,?,?,?,?,?,?,?,?,?,?)", "", 1u << k);
		changes_sql[k] = repeat_rows("INSERT INTO data_event_changes (event_id, field, "
		                             "prev_commitment, next_commitment, actor_type, actor_id, "
		                             "target_type, target_id, target_version, occurred_at, "
		                             "stored_day) VALUES ",
		                             "(?,?,?,?,?,?,?,?,?,?,?)", "", 1u << k);
		mutations_sql[k] = repeat_rows("INSERT INTO data_event_mutations (log_id, seq, "
		                               "event_id, action, target_type, target_id, "
		                               "target_version, occurred_at, stored_day) VALUES ",
		                               "(?,?,?,?,?,?,?,?,?)", "", 1u << k);
		values_sql[k] = repeat_rows("INSERT INTO data_event_values (event_id, field, prev_salt, "
		                            "prev_value, next_salt, next_value, stored_day) VALUES ",
		                            "(?,?,?,?,?,?,?)", "", 1u << k);
		/* The ids' uniqueness, which the partitioned tables cannot hold
		 * (sql/auditor/0015): a repeat is refused here. */
		ids_sql[k] = repeat_rows("INSERT INTO data_event_ids (event_id, log_id, seq) VALUES ",
		                         "(?,?,?)", "", 1u << k);
		nodes_sql[k] = repeat_rows("INSERT INTO log_nodes (log_id, level, idx, hash) VALUES ",
		                           "(?,?,?,?)", "", 1u << k);
		/* A span only widens: several batches (and logs) may write one
		 * block in any order and agree. */
		spans_sql[k] = repeat_rows("INSERT INTO data_event_version_spans (target_type, "
		                           "target_id, block, first_at, last_at) VALUES ",
		                           "(?,?,?,?,?)",
		                           " ON DUPLICATE KEY UPDATE first_at = LEAST(first_at, "
		                           "VALUES(first_at)), last_at = GREATEST(last_at, "
		                           "VALUES(last_at))",
		                           1u << k);
		exists_sql[k] = repeat_rows("SELECT " SQL_ID("event_id") " FROM data_event_ids "
		                            "WHERE event_id IN (",
		                            "?", ")", 1u << k);
	}
}

/* The largest statement size not over rows. */
static unsigned chunk_log2(size_t rows)
{
	unsigned k = ROWS_LOG2_MAX;
	while ((1u << k) > rows)
		k--;
	return k;
}

/* Runs the rows of v (width values each) through the multi-row
 * statements. */
static int insert_rows(struct db *db, char *const *sql, const struct db_value *v, size_t rows,
                       size_t width)
{
	while (rows) {
		unsigned k = chunk_log2(rows);
		if (!sql[k])
			return DB_ERR;
		int st = db_exec(db, sql[k], v, (size_t)width << k, NULL, NULL);
		if (st)
			return st; /* DB_ERR_DUPLICATE: see refused() */
		v += (size_t)width << k;
		rows -= 1u << k;
	}
	return DB_OK;
}

/* One changed field of an event of the batch: what the leaf commits to
 * (lc[i]) and what data_event_values keeps (the values and their salts). */
struct change_row {
	char *prev, *next; /* JSON text of the values, malloc'd */
	uint8_t prev_salt[LEAF_SALT_LEN], next_salt[LEAF_SALT_LEN];
};

struct node_row {
	unsigned level;
	uint64_t idx;
	uint8_t hash[MERKLE_HASH_LEN];
};

struct batch_tx {
	struct ledger *ledger;
	const struct event *events;
	size_t n;
	uint64_t stored;
	struct leaf_change *lc;  /* every change, by event, fields ascending in each */
	struct change_row *cr;   /* beside lc */
	size_t *first_change;    /* per event: index of its first change; [n] = nchanges */
	size_t nchanges, ncr;    /* changes laid out; change_rows allocated */
	const char **known;      /* ids already stored (sorted) */
	size_t nknown;
	bool look;               /* look for stored ids before inserting (below) */
	bool *repeat;            /* per event: an earlier event of the batch has its id */
	uint8_t (*bin)[UUID_BIN_LEN]; /* per event: its id as the tables key it (sql_id.h) */
	uint8_t (*trace)[TRACE_ID_LEN]; /* per event: its traceId's bytes, when it has one */
	/* One attempt of the transaction: */
	struct ledger_append app; /* the batch's ticket in the log; its frontier, grown by its events */
	uint64_t first;           /* the position of its first event stored */
	struct db_value *ev, *ch, *val, *nodes;
	struct db_value *mut; /* data_event_mutations rows, nmut of them */
	size_t nmut;
	struct spans spans; /* the version spans the batch widens (spans.h) */
	uint8_t (*leaf)[MERKLE_HASH_LEN]; /* per new event, in position order */
	char *ids;                        /* their ids, LEDGER_ID_LEN bytes each, same order */
	struct node_row *node;
	size_t nnode, node_cap;
	struct jcs_buf scratch;
	struct db_value *idv; /* data_event_ids rows, one per new event */
	uint32_t day;         /* the attempt's stored_day (store_day, ledger_day) */
	bool reached_commit;      /* every row was inserted: COMMIT was (to be) sent */
	int64_t commit_ns;        /* when it was (clock_ns) */
};

static int cmp_id(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_id_then_place(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	int c = strcmp(x, y);
	return c ? c : (x > y) - (x < y);
}

static int known_row(void *ctx, const struct db_row *row)
{
	struct batch_tx *t = ctx;
	/* Point at the batch's own copy of the id, which outlives the row. */
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->events[i].id, row->val[0])) {
			t->known[t->nknown++] = t->events[i].id;
			break;
		}
	return 0;
}

/* Fills t->known with the batch's ids that are already stored. */
static int find_known(struct db *db, struct batch_tx *t)
{
	struct db_value ids[ROWS_MAX];
	t->nknown = 0;
	for (size_t done = 0; done < t->n;) {
		size_t left = t->n - done;
		unsigned k = chunk_log2(left < ROWS_MAX ? left : ROWS_MAX);
		size_t rows = 1u << k;
		for (size_t i = 0; i < rows; i++)
			ids[i] = DB_BLOB(t->bin[done + i], UUID_BIN_LEN);
		int st = exists_sql[k] ? db_query(db, exists_sql[k], ids, rows, known_row, t) : DB_ERR;
		if (st)
			return st;
		done += rows;
	}
	qsort(t->known, t->nknown, sizeof *t->known, cmp_id);
	return DB_OK;
}

static bool is_known(const struct batch_tx *t, const char *id)
{
	return bsearch(&id, t->known, t->nknown, sizeof *t->known, cmp_id) != NULL;
}

/* Keeps the interior hashes the log stores (levels LEDGER_STRIDE, 2x, ...). */
static int keep_node(void *ctx, unsigned level, uint64_t index, const uint8_t hash[MERKLE_HASH_LEN])
{
	struct batch_tx *t = ctx;
	if (level % LEDGER_STRIDE)
		return 0;
	if (t->nnode == t->node_cap) {
		size_t cap = t->node_cap ? 2 * t->node_cap : 64;
		struct node_row *p = realloc(t->node, cap * sizeof *p);
		if (!p)
			return -1;
		t->node = p;
		t->node_cap = cap;
	}
	t->node[t->nnode++] = (struct node_row){.level = level, .idx = index};
	memcpy(t->node[t->nnode - 1].hash, hash, MERKLE_HASH_LEN);
	return 0;
}

/* Lays out the rows of new event i at position t->f.size, and appends its
 * leaf to the frontier. */
static int place_event(struct batch_tx *t, size_t i, size_t k, struct db_value **ev)
{
	const struct event *e = &t->events[i];
	size_t c0 = t->first_change[i], c1 = t->first_change[i + 1];
	struct leaf_event le = {
	    .log = ledger_log(t->ledger),
	    .seq = t->app.f.size,
	    .id = e->id,
	    .action = event_action_name(e->action),
	    .timestamp = e->timestamp,
	    .actor_type = e->actor_type,
	    .actor_id = e->actor_id,
	    .target_type = e->target_type,
	    .target_id = e->target_id,
	    .event_name = e->event_name[0] ? e->event_name : NULL,
	    .target_version = e->target_version,
	    .trace_id = e->trace_id[0] ? e->trace_id : NULL,
	    .changes = t->lc + c0,
	    .nchanges = c1 - c0,
	};
	int st = leaf_hash(&le, &t->scratch, t->leaf[k]);
	if (st)
		return st == LEAF_ENOMEM || st == LEAF_ECRYPTO ? DB_ERR : DB_ERR_DATA;
	struct db_value *v = *ev;
	*v++ = DB_INT(le.log);
	*v++ = DB_INT((long long)le.seq);
	*v++ = DB_BLOB(t->bin[i], UUID_BIN_LEN);
	*v++ = DB_TEXT(le.action);
	*v++ = DB_INT(e->timestamp);
	*v++ = DB_TEXT(e->actor_type);
	*v++ = DB_TEXT(e->actor_id);
	*v++ = DB_TEXT(e->target_type);
	*v++ = DB_TEXT(e->target_id);
	*v++ = DB_INT(e->target_version);
	*v++ = le.event_name ? DB_TEXT(le.event_name) : DB_NULL_VALUE;
	*v++ = le.trace_id ? DB_BLOB(t->trace[i], TRACE_ID_LEN) : DB_NULL_VALUE;
	*v++ = DB_INT(t->day);
	*ev = v;
	v = t->idv + IDS_COLS * k;
	*v++ = DB_BLOB(t->bin[i], UUID_BIN_LEN);
	*v++ = DB_INT(le.log);
	*v++ = DB_INT((long long)le.seq);
	if (e->action != EVENT_VIEWED) { /* the target's versions as stored */
		v = t->mut + MUT_COLS * t->nmut++;
		*v++ = DB_INT(le.log);
		*v++ = DB_INT((long long)le.seq);
		*v++ = DB_BLOB(t->bin[i], UUID_BIN_LEN);
		*v++ = DB_TEXT(le.action);
		*v++ = DB_TEXT(e->target_type);
		*v++ = DB_TEXT(e->target_id);
		*v++ = DB_INT(e->target_version);
		*v++ = DB_INT(e->timestamp);
		*v++ = DB_INT(t->day);
	}
	memcpy(t->ids + k * LEDGER_ID_LEN, e->id, LEDGER_ID_LEN);
	return merkle_frontier_append_visit(&t->app.f, t->leaf[k], keep_node, t) ? DB_ERR : DB_OK;
}

/* Lays out the change and value rows of event i: they do not depend on
 * its position, so they go in before the log's lock is taken. */
static void place_values(struct batch_tx *t, size_t i, struct db_value **ch, struct db_value **val)
{
	const struct event *e = &t->events[i];
	for (size_t c = t->first_change[i]; c < t->first_change[i + 1]; c++) {
		const struct leaf_change *lc = &t->lc[c];
		const struct change_row *cr = &t->cr[c];
		struct db_value *v = *ch;
		*v++ = DB_BLOB(t->bin[i], UUID_BIN_LEN);
		*v++ = DB_TEXT(lc->field);
		*v++ = DB_BLOB(lc->prev, LEAF_COMMITMENT_LEN);
		*v++ = DB_BLOB(lc->next, LEAF_COMMITMENT_LEN);
		*v++ = DB_TEXT(e->actor_type);
		*v++ = DB_TEXT(e->actor_id);
		*v++ = DB_TEXT(e->target_type);
		*v++ = DB_TEXT(e->target_id);
		*v++ = DB_INT(e->target_version);
		*v++ = DB_INT(e->timestamp);
		*v++ = DB_INT(t->day);
		*ch = v;
		v = *val;
		*v++ = DB_BLOB(t->bin[i], UUID_BIN_LEN);
		*v++ = DB_TEXT(lc->field);
		*v++ = DB_BLOB(cr->prev_salt, LEAF_SALT_LEN);
		*v++ = DB_TEXT(cr->prev);
		*v++ = DB_BLOB(cr->next_salt, LEAF_SALT_LEN);
		*v++ = DB_TEXT(cr->next);
		*v++ = DB_INT(t->day);
		*val = v;
	}
}

/* The log_appends rows of the batch's nev new events, whose positions
 * start at t->app.f.size - nev (ledger.h). */
static int insert_appends(struct db *db, struct batch_tx *t, size_t nev)
{
	static const char sql[] = "INSERT INTO log_appends (log_id, first_seq, event_ids, "
	                          "leaf_hashes, stored_day) VALUES (?,?,?,?,?)";
	uint64_t first = t->app.f.size - nev;
	for (size_t at = 0; at < nev; at += LEDGER_APPEND_MAX) {
		size_t k = nev - at < LEDGER_APPEND_MAX ? nev - at : LEDGER_APPEND_MAX;
		struct db_value v[APPEND_COLS] = {
		    DB_INT(ledger_log(t->ledger)), DB_INT((long long)(first + at)),
		    DB_BLOB(t->ids + at * LEDGER_ID_LEN, k * LEDGER_ID_LEN),
		    DB_BLOB(t->leaf[at], k * MERKLE_HASH_LEN), DB_INT(t->day)};
		int st = db_exec(db, sql, v, APPEND_COLS, NULL, NULL);
		if (st)
			return st == DB_ERR_DUPLICATE ? DB_ERR_RETRY : st;
	}
	return DB_OK;
}

/* How long a batch waits for the batches before it in the log to commit
 * before it gives up its positions (rolls back and retries). Only a wait
 * cycle through the database's row locks (two batches holding the same
 * new event id, the later one first) takes this long. */
#define TURN_TIMEOUT_MS 2000

/* Whether to look for stored ids before inserting. Looking costs the
 * database a primary-key lookup per event, and repeats are rare: they come
 * after a fault (a redelivery, a producer publishing again). So a batch
 * inserts without looking unless a unique key refused a row in the last
 * LOOK_FOR_MS; a refusal rolls the attempt back (and with its ticket every
 * later one in flight: ledger.h) and the next attempt looks. Looking for a
 * while after a refusal keeps a run of repeats, or consumers storing the
 * same events at once (tests/tools/store_race.c), from paying that
 * rollback batch after batch. */
#define LOOK_FOR_MS 10000
static _Atomic int64_t refused_at_ms = INT64_MIN / 2;

/* A unique key refused a row (st, from an insert of the attempt): the
 * batch holds events already stored, or stored by another batch since it
 * looked. Roll back and look (again). */
static int refused(struct batch_tx *t, int st)
{
	if (st != DB_ERR_DUPLICATE)
		return st;
	atomic_store(&refused_at_ms, clock_ms());
	t->look = true;
	return DB_ERR_RETRY;
}

/* The insert transaction. Only the giving of positions is serialised, and
 * only in memory: finding the events already stored (when t->look:
 * refused()) and inserting the new ones' commitments and values happen
 * before the batch takes its ticket in the log; under the ledger's lock,
 * the leaves are hashed at the next positions; the event rows and interior
 * hashes go in after it, in parallel
 * with the other consumers; the COMMIT (db_run_tx, after this returns)
 * waits until every batch before this one in the log has committed. */
static int insert_in_tx(struct db *db, void *arg)
{
	struct batch_tx *t = arg;
	ledger_end(t->ledger, &t->app, LEDGER_ROLLED_BACK); /* an earlier attempt's, rolled back */
	t->stored = 0;
	t->nnode = 0;
	t->nmut = 0;
	t->reached_commit = false;
	t->nknown = 0;
	/* The day the rows go under: today, or the log's last day when a
	 * clock (this one, or an earlier writer's) was ahead. Checked again
	 * under the append lock below. */
	uint32_t today = store_day(), last = ledger_day(t->ledger);
	t->day = today > last ? today : last;
	int st = t->look ? find_known(db, t) : DB_OK;
	if (st)
		return st;
	struct db_value *ch = t->ch, *val = t->val;
	size_t nnew = 0;
	for (size_t i = 0; i < t->n; i++)
		if (!t->repeat[i] && !is_known(t, t->events[i].id)) {
			place_values(t, i, &ch, &val);
			nnew++;
		}
	size_t nch = (size_t)(ch - t->ch) / CH_COLS;
	if ((st = insert_rows(db, changes_sql, t->ch, nch, CH_COLS)) ||
	    (st = insert_rows(db, values_sql, t->val, nch, VAL_COLS)))
		return refused(t, st);
	if (!nnew) { /* every event was stored already: nothing for the log */
		t->reached_commit = true;
		return DB_OK;
	}

	if ((st = ledger_begin(t->ledger, &t->app, db)))
		return st == LEDGER_CLOSED ? STORE_LOG_CLOSED : st;
	t->first = t->app.f.size;
	struct db_value *ev = t->ev;
	size_t nev = 0;
	for (size_t i = 0; i < t->n; i++) {
		if (t->repeat[i] || is_known(t, t->events[i].id))
			continue;
		if ((st = place_event(t, i, nev++, &ev)))
			return st;
	}
	/* Positions and days grow together along the log, so a month dropped
	 * by retention is a prefix of it (ledger.h). A batch that read the
	 * day before another took a later one (midnight between) retries. */
	bool day_ok = ledger_claim_day(t->ledger, &t->app, t->day) == 0;
	ledger_reserve(t->ledger, &t->app);
	if (!day_ok)
		return DB_ERR_RETRY;
	if ((st = ledger_check_lease(t->ledger, db)))
		return st == LEDGER_LEASE_LOST ? STORE_LEASE_LOST : st;
	free(t->nodes);
	if (!(t->nodes = malloc((t->nnode ? t->nnode : 1) * NODE_COLS * sizeof *t->nodes)))
		return DB_ERR;
	for (size_t i = 0; i < t->nnode; i++) {
		struct db_value *v = t->nodes + NODE_COLS * i;
		v[0] = DB_INT(ledger_log(t->ledger));
		v[1] = DB_INT(t->node[i].level);
		v[2] = DB_INT((long long)t->node[i].idx);
		v[3] = DB_BLOB(t->node[i].hash, MERKLE_HASH_LEN);
	}
	if ((st = insert_rows(db, ids_sql, t->idv, nev, IDS_COLS)) ||
	    (st = insert_rows(db, events_sql, t->ev, nev, EV_COLS)) ||
	    (st = insert_rows(db, mutations_sql, t->mut, t->nmut, MUT_COLS)) ||
	    (st = insert_appends(db, t, nev)) ||
	    (st = insert_rows(db, nodes_sql, t->nodes, t->nnode, NODE_COLS)))
		return refused(t, st);
	if (ledger_wait_turn(t->ledger, &t->app, TURN_TIMEOUT_MS))
		return ledger_halted(t->ledger) ? STORE_LOG_CLOSED : DB_ERR_RETRY;
	/* The spans last, on the batch's turn: the batches before it in the
	 * log have committed, so their locks on a hot target's block are gone
	 * and this one holds its own only until its COMMIT. Taken earlier, a
	 * batch waiting for its turn would hold a block the batch before it
	 * in the log waits for. */
	if ((st = insert_rows(db, spans_sql, t->spans.rows, t->spans.n, SPAN_COLS)))
		return st;
	t->stored = nev;
	t->reached_commit = true;
	t->commit_ns = clock_ns();
	return DB_OK;
}

static int cmp_change(const void *a, const void *b)
{
	return strcmp(((const struct leaf_change *)a)->field, ((const struct leaf_change *)b)->field);
}

/* Everything of the batch that does not depend on its positions: ids
 * repeated within it, each value's salt and commitment, the row buffers.
 * Done before the log's lock is taken. */
static int bind_batch(struct batch_tx *t)
{
	size_t nchanges = 0;
	for (size_t i = 0; i < t->n; i++)
		nchanges += t->events[i].changes ? json_object_size(t->events[i].changes) : 0;
	t->lc = calloc(nchanges + 1, sizeof *t->lc);
	t->cr = calloc(nchanges + 1, sizeof *t->cr);
	t->ncr = t->cr ? nchanges : 0;
	t->first_change = malloc((t->n + 1) * sizeof *t->first_change);
	t->known = malloc(t->n * sizeof *t->known);
	t->repeat = calloc(t->n, sizeof *t->repeat);
	t->ev = malloc(EV_COLS * t->n * sizeof *t->ev);
	t->mut = malloc(MUT_COLS * t->n * sizeof *t->mut);
	t->idv = malloc(IDS_COLS * t->n * sizeof *t->idv);
	t->ch = malloc((CH_COLS * nchanges + 1) * sizeof *t->ch);
	t->val = malloc((VAL_COLS * nchanges + 1) * sizeof *t->val);
	t->leaf = malloc(t->n * sizeof *t->leaf);
	t->ids = malloc(t->n * LEDGER_ID_LEN);
	t->bin = malloc(t->n * sizeof *t->bin);
	t->trace = malloc(t->n * sizeof *t->trace);
	if (!t->lc || !t->cr || !t->first_change || !t->known || !t->repeat || !t->ev || !t->mut || !t->idv ||
	    !t->ch || !t->val || !t->leaf || !t->ids || !t->bin || !t->trace)
		return DB_ERR;
	/* event_decode lets only UUIDs and valid trace-ids through. */
	for (size_t i = 0; i < t->n; i++) {
		const struct event *e = &t->events[i];
		bool traced = e->trace_id[0] != '\0';
		if (uuid_to_bin(e->id, strlen(e->id), t->bin[i]) ||
		    (traced && trace_id_parse(e->trace_id, strlen(e->trace_id), t->trace[i])))
			return DB_ERR_DATA;
	}
	/* Repeats within the batch: sort the ids (their addresses tell the order
	 * in the batch apart) and mark all but the first of each run. */
	for (size_t i = 0; i < t->n; i++)
		t->known[i] = t->events[i].id;
	qsort(t->known, t->n, sizeof *t->known, cmp_id_then_place);
	for (size_t i = 1; i < t->n; i++)
		if (!strcmp(t->known[i - 1], t->known[i]))
			t->repeat[((const char *)t->known[i] - t->events[0].id) / sizeof *t->events] = true;
	/* Fresh salts for every value, drawn in one call (RAND_bytes: the
	 * CSPRNG). */
	if (nchanges) {
		uint8_t *salts = malloc(2 * LEAF_SALT_LEN * nchanges);
		int ok = salts && RAND_bytes(salts, (int)(2 * LEAF_SALT_LEN * nchanges)) == 1;
		for (size_t c = 0; ok && c < nchanges; c++) {
			memcpy(t->cr[c].prev_salt, salts + 2 * LEAF_SALT_LEN * c, LEAF_SALT_LEN);
			memcpy(t->cr[c].next_salt, salts + 2 * LEAF_SALT_LEN * c + LEAF_SALT_LEN,
			       LEAF_SALT_LEN);
		}
		if (salts)
			OPENSSL_cleanse(salts, 2 * LEAF_SALT_LEN * nchanges);
		free(salts);
		if (!ok)
			return DB_ERR;
	}
	size_t c = 0;
	for (size_t i = 0; i < t->n; i++) {
		t->first_change[i] = c;
		const char *field;
		json_t *change;
		json_object_foreach(t->events[i].changes, field, change)
		{
			t->lc[c++].field = field;
		}
		qsort(t->lc + t->first_change[i], c - t->first_change[i], sizeof *t->lc, cmp_change);
		for (size_t j = t->first_change[i]; j < c; j++) {
			json_t *ch = json_object_get(t->events[i].changes, t->lc[j].field);
			json_t *prev = json_object_get(ch, "prev"), *next = json_object_get(ch, "next");
			struct change_row *cr = &t->cr[j];
			int st = leaf_commit(cr->prev_salt, prev, &t->scratch, t->lc[j].prev);
			if (!st)
				st = leaf_commit(cr->next_salt, next, &t->scratch, t->lc[j].next);
			if (st)
				return st == LEAF_EVALUE ? DB_ERR_DATA : DB_ERR;
			cr->prev = json_dumps(prev, JSON_COMPACT | JSON_ENCODE_ANY);
			cr->next = json_dumps(next, JSON_COMPACT | JSON_ENCODE_ANY);
			if (!cr->prev || !cr->next)
				return DB_ERR;
		}
	}
	t->first_change[t->n] = c;
	t->nchanges = c;
	return spans_bind(&t->spans, t->events, t->n) ? DB_ERR : DB_OK;
}

/* One row of store_read_positions' statement (auditor.h), as the DB
 * would give it for an event this batch stored. */
#define OFFER_COLS 16
struct offer_row {
	const char *val[OFFER_COLS];
	unsigned long len[OFFER_COLS];
	char ts[24], seq[24], version[24];
};

/* Hands the ledger's listener (the live stream) the rows of the events
 * the batch stored, in position order: what a read of those positions
 * would give back, so the listener renders them as a page would. Out of
 * memory, it hands nothing: the listener reads the store. */
static void offer_committed(const struct batch_tx *t, uint64_t generation)
{
	/* At most a row per change, or one for an event without (a repeat
	 * or a known event gets none). */
	size_t cap = 0;
	for (size_t i = 0; i < t->n; i++) {
		size_t nc = t->first_change[i + 1] - t->first_change[i];
		cap += nc ? nc : 1;
	}
	struct offer_row *r = malloc((cap ? cap : 1) * sizeof *r);
	struct db_row *rows = malloc((cap ? cap : 1) * sizeof *rows);
	char log[12];
	snprintf(log, sizeof log, "%u", (unsigned)ledger_log(t->ledger));
	size_t k = 0;
	uint64_t seq = t->first;
	for (size_t i = 0; r && rows && i < t->n; i++) {
		const struct event *e = &t->events[i];
		if (t->repeat[i] || is_known(t, e->id))
			continue;
		size_t c0 = t->first_change[i], c1 = t->first_change[i + 1];
		for (size_t c = c0; c == c0 || c < c1; c++, k++) {
			struct offer_row *o = &r[k];
			bool change = c < c1;
			snprintf(o->ts, sizeof o->ts, "%lld", (long long)e->timestamp);
			snprintf(o->seq, sizeof o->seq, "%llu", (unsigned long long)seq);
			snprintf(o->version, sizeof o->version, "%lld", (long long)e->target_version);
			const char *val[OFFER_COLS] = {e->id,
			                               event_action_name(e->action),
			                               o->ts,
			                               e->actor_type,
			                               e->actor_id,
			                               e->target_type,
			                               e->target_id,
			                               e->event_name[0] ? e->event_name : NULL,
			                               change ? t->lc[c].field : NULL,
			                               change ? t->cr[c].prev : NULL,
			                               change ? t->cr[c].next : NULL,
			                               log,
			                               o->seq,
			                               change ? t->lc[c].field : NULL,
			                               o->version,
			                               e->trace_id[0] ? e->trace_id : NULL};
			for (int j = 0; j < OFFER_COLS; j++) {
				o->val[j] = val[j];
				o->len[j] = val[j] ? (unsigned long)strlen(val[j]) : 0;
			}
			rows[k] = (struct db_row){OFFER_COLS, o->val, o->len};
		}
		seq++;
	}
	if (r && rows)
		ledger_offer(t->ledger, t->first, rows, k, generation);
	free(r);
	free(rows);
}

uint32_t store_day(void)
{
	int64_t day = clock_wall_ms() / 86400000 + atomic_load(&day_shift);
	return day < 0 ? 0 : day > UINT16_MAX ? UINT16_MAX : (uint32_t)day;
}

void store_set_day_shift(int days)
{
	atomic_store(&day_shift, days);
}

void store_init(void)
{
	pthread_once(&sql_once, build_sql);
}

int store_insert_batch(struct db *db, struct ledger *ledger, const struct event *events, size_t n,
                       size_t *stored)
{
	pthread_once(&sql_once, build_sql);
	struct batch_tx t = {.ledger = ledger,
	                     .events = events,
	                     .n = n,
	                     .look = clock_ms() - atomic_load(&refused_at_ms) < LOOK_FOR_MS};
	int st = n ? bind_batch(&t) : DB_OK;
	*stored = 0;
	if (st == DB_OK && n) {
		/* Read committed: the stored end checked under the lock is the
		 * latest, not the snapshot of the transaction's first read. */
		st = db_exec(db, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", NULL, 0,
		             NULL, NULL);
		uint64_t generation = 0;
		bool offer = ledger_wants(ledger, &generation);
		int64_t began_ns = clock_ns();
		if (!st)
			st = db_run_tx(db, insert_in_tx, &t);
		if (st == DB_OK) {
			int64_t now = clock_ns();
			metrics_observe(commit_seconds, (uint64_t)(now - t.commit_ns));
			metrics_observe(transaction_seconds, (uint64_t)(now - began_ns));
			metrics_add(stored_events, t.stored);
			metrics_add(duplicate_events, n - t.stored);
			int64_t wall = clock_wall_ms();
			for (size_t i = 0; i < n; i++)
				metrics_observe(delay_seconds, (uint64_t)(wall > events[i].timestamp
				                                              ? wall - events[i].timestamp
				                                              : 0));
		}
		if (st == DB_OK && offer && t.stored)
			offer_committed(&t, generation); /* before ledger_end wakes the stream */
		ledger_end(ledger, &t.app,
		           st == DB_OK ? LEDGER_COMMITTED
		                       : t.reached_commit ? LEDGER_UNKNOWN : LEDGER_ROLLED_BACK);
		if (st == DB_OK) {
			*stored = (size_t)t.stored;
			spans_committed(&t.spans);
		}
	}
	for (size_t c = 0; c < t.ncr; c++) {
		free(t.cr[c].prev);
		free(t.cr[c].next);
	}
	free(t.lc);
	free(t.cr);
	free(t.first_change);
	free(t.known);
	free(t.repeat);
	free(t.ev);
	free(t.mut);
	free(t.idv);
	spans_free(&t.spans);
	free(t.ch);
	free(t.val);
	free(t.leaf);
	free(t.ids);
	free(t.bin);
	free(t.trace);
	free(t.node);
	free(t.nodes);
	jcs_buf_free(&t.scratch);
	return st;
}

/* ---- the versions stored (reorder.h) ---- */

/* Targets a lookup statement reads; a shorter list repeats its last one. */
#define LOOKUP_ROWS 16

static char *lookup_sql;
static pthread_once_t lookup_once = PTHREAD_ONCE_INIT;

static void build_lookup_sql(void)
{
	/* The months retention dropped keep each target's highest version in
	 * data_event_retained_versions (top = version * 2, plus 1 if deleted). */
	static const char row[] =
	    "SELECT ?, GREATEST(COALESCE((SELECT MAX(target_version) FROM data_event_mutations "
	    "WHERE target_type = ? AND target_id = ?), 0), COALESCE((SELECT top DIV 2 FROM "
	    "data_event_retained_versions WHERE target_type = ? AND target_id = ?), 0))";
	static const char sep[] = " UNION ALL ";
	size_t len = LOOKUP_ROWS * (sizeof row - 1) + (LOOKUP_ROWS - 1) * (sizeof sep - 1) + 1;
	char *sql = malloc(len), *p = sql;
	if (!sql)
		return;
	for (int k = 0; k < LOOKUP_ROWS; k++) {
		if (k) {
			memcpy(p, sep, sizeof sep - 1);
			p += sizeof sep - 1;
		}
		memcpy(p, row, sizeof row - 1);
		p += sizeof row - 1;
	}
	*p = '\0';
	lookup_sql = sql;
}

struct lookup_ctx {
	uint64_t *last;
	size_t base, n;
};

static int lookup_row(void *arg, const struct db_row *row)
{
	struct lookup_ctx *l = arg;
	size_t k = (size_t)strtoull(row->val[0], NULL, 10);
	if (k >= l->base && k < l->base + l->n)
		l->last[k] = row->val[1] ? strtoull(row->val[1], NULL, 10) : 0;
	return 0;
}

int store_last_versions(void *ctx, const struct event *const *events, size_t n, uint64_t *last)
{
	struct db *db = ctx;
	pthread_once(&lookup_once, build_lookup_sql);
	if (!lookup_sql)
		return DB_ERR;
	for (size_t base = 0; base < n; base += LOOKUP_ROWS) {
		struct db_value p[LOOKUP_ROWS * 5];
		size_t rows = n - base < LOOKUP_ROWS ? n - base : LOOKUP_ROWS;
		for (size_t k = 0; k < LOOKUP_ROWS; k++) {
			size_t i = base + (k < rows ? k : rows - 1);
			p[5 * k] = DB_INT((int64_t)i);
			p[5 * k + 1] = p[5 * k + 3] = DB_TEXT(events[i]->target_type);
			p[5 * k + 2] = p[5 * k + 4] = DB_TEXT(events[i]->target_id);
		}
		for (size_t k = 0; k < rows; k++)
			last[base + k] = 0;
		struct lookup_ctx l = {last, base, rows};
		int st = db_query(db, lookup_sql, p, LOOKUP_ROWS * 5, lookup_row, &l);
		if (st)
			return st;
	}
	return DB_OK;
}
