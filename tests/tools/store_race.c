/* store_race: the auditor's store and ledger under concurrent, overlapping
 * batches. tests/integration/test_store_race.py runs it on a database of
 * its own (no auditor may write the same log meanwhile: the ledger is the
 * log's single writer and halts on rows it did not write).
 *
 *   store_race [--threads T] [--rounds R] [--slice S] [--seed N] [--verbose]
 *
 * Makes a pool of P = R * S distinct valid events (a third of them "changed",
 * with changes), then T threads store them through store_insert_batch in R
 * rounds. Each round every thread waits at a barrier, then stores one
 * batch, shuffled, of
 *   - about half the events of the round's slice of S, each event in its
 *     owner thread's batch and in each other's by a coin toss: the threads
 *     race to store the same new events at the same moment, in different
 *     orders, beside new events only they hold (so several batches are in
 *     flight in the log at once);
 *   - some of the next slice's, stored a round early by some threads only;
 *   - some of the earlier slices', already stored (skipped);
 *   - some repeats of the batch's own events.
 * A batch that fails (it lost a race: duplicate id, a wait cycle broken by
 * the ledger's turn timeout, db_run_tx's attempts used up) is stored again
 * until it succeeds, for up to 60 s.
 *
 * Then it closes the ledger (which signs what was appended) and checks with
 * SQL that the log, from its size before the run (start), grew by exactly
 * the pool: positions start .. start + P - 1, each once, no gap; each pool
 * event once, with its change and value rows; the interior hashes of every
 * complete subtree of the stored levels, once; store_insert_batch counted
 * P new events in all. Last it reopens the ledger, which rebuilds the tree
 * from the rows and checks it against the latest signed checkpoint: it
 * must come up ready, not halted, at size start + P with a checkpoint of
 * that size.
 *
 * Connection and key settings: the auditor's environment variables
 * (AUDITLOG_MYSQL_HOST/PORT/SOCKET, AUDITLOG_AUDITOR_MYSQL_USER/PASSWORD,
 * AUDITLOG_AUDITOR_DB, AUDITLOG_LOG_KEY, made if absent, AUDITLOG_LOG_ORIGIN).
 * Prints one summary line on stdout; exit 0 only if every check holds. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auditor.h"
#include "event.h"
#include "log.h"
#include "sql_id.h"
#include "tools.h"

#define LOG_ID      0
#define THREADS_MAX 16
/* How long one batch may keep failing before the test gives up. */
#define RETRY_FOR_S 60.0
/* Pool ids per membership query. */
#define IDS_PER_QUERY 128


static size_t rng_below(struct rng *r, size_t n)
{
	return (size_t)(rng_next(r) % n);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ */
/* counting the store's transaction attempts                           */
/* ------------------------------------------------------------------ */

/* The store's calls of db_run_tx come here (linked with
 * -Wl,--wrap=db_run_tx): each attempt of its transaction callback is
 * counted, so the summary can say how often a batch lost a race and
 * db_run_tx retried it, not only how often store_insert_batch gave up. */
int __real_db_run_tx(struct db *db, db_tx_fn fn, void *ctx);
int __wrap_db_run_tx(struct db *db, db_tx_fn fn, void *ctx);

static atomic_ulong tx_runs, tx_attempts;

struct counted_tx {
	db_tx_fn fn;
	void *ctx;
};

static int counted_attempt(struct db *db, void *arg)
{
	struct counted_tx *c = arg;
	atomic_fetch_add(&tx_attempts, 1);
	return c->fn(db, c->ctx);
}

int __wrap_db_run_tx(struct db *db, db_tx_fn fn, void *ctx)
{
	struct counted_tx c = {fn, ctx};
	atomic_fetch_add(&tx_runs, 1);
	return __real_db_run_tx(db, counted_attempt, &c);
}

/* ------------------------------------------------------------------ */
/* the pool                                                            */
/* ------------------------------------------------------------------ */

/* Event i of the pool: every third "changed" with one to three fields,
 * every fifth with an eventName, actors and targets from a small set so
 * the index pages they share are hot too. */
static int make_event(struct event *ev, size_t i, struct rng *r)
{
	char actor[24], target[24];
	snprintf(actor, sizeof actor, "%zu", 1 + rng_below(r, 7));
	snprintf(target, sizeof target, "race-%zu", 1 + rng_below(r, 11));
	json_t *changes = NULL;
	enum event_action action = i % 7 == 0 ? EVENT_CREATED : EVENT_VIEWED;
	if (i % 3 == 0) {
		bool next = rng_next(r) & 1;
		changes = json_pack("{s:{s:b, s:b}}", "agreedTos", "prev", !next, "next", next);
		if (changes && i % 2 == 0)
			json_object_set_new(
			    changes, "name",
			    json_pack("{s:s, s:s+}", "prev", "Ann", "next", "Ann ", actor));
		if (changes && i % 9 == 0)
			json_object_set_new(changes, "score",
			                    json_pack("{s:n, s:I}", "prev", "next", (json_int_t)i));
		if (!changes || json_object_size(changes) != 1u + (i % 2 == 0) + (i % 9 == 0)) {
			json_decref(changes);
			return -1;
		}
		action = EVENT_CHANGED;
	}
	event_init(ev, action, "users", actor, "users", target, changes);
	if (i % 5 == 0)
		snprintf(ev->event_name, sizeof ev->event_name, "race.%zu", i);
	return 0;
}

/* ------------------------------------------------------------------ */
/* the racing threads                                                  */
/* ------------------------------------------------------------------ */

struct race {
	const struct db_config *cfg;
	struct ledger *ledger;
	const struct event *pool;
	size_t slice;
	unsigned rounds, threads;
	uint64_t seed;
	/* The gate: the threads wait there until all are started (go 1) or
	 * one could not be (go -1: they leave), so the barrier, which counts
	 * them all, is only ever used by all. */
	pthread_mutex_t gate_lock;
	pthread_cond_t gate;
	int go;
	pthread_barrier_t barrier;
	atomic_bool failed;           /* a thread gave up: the others stop storing */
	atomic_ulong stored;          /* new events, as store_insert_batch counted them */
	atomic_ulong attempts_failed; /* store_insert_batch calls that returned an error */
	atomic_ulong batches, copies; /* batches stored, events in them */
};

struct worker {
	pthread_t thread;
	struct race *race;
	unsigned index;
	/* This thread's: */
	size_t *pick;        /* pool indexes of the batch being built */
	struct event *batch; /* their copies, each with its own changes */
	size_t cap;
	double longest_s; /* the longest one batch took, retries included */
};

/* The pool indexes of thread w's batch in round r (see the top). Returns
 * their number. */
static size_t build_batch(struct worker *w, unsigned r, struct rng *g)
{
	const struct race *R = w->race;
	size_t s = R->slice, n = 0, first = (size_t)r * s;
	for (size_t i = 0; i < s; i++) {
		/* Its owner, the same in every thread, always takes it. */
		struct rng o = {.s = R->seed ^ (uint64_t)(first + i) << 20};
		if (rng_below(&o, R->threads) == w->index || rng_next(g) & 1)
			w->pick[n++] = first + i;
	}
	if (r + 1 < R->rounds)
		for (size_t k = rng_below(g, s / 4 + 2); k--;)
			w->pick[n++] = first + s + rng_below(g, s);
	if (r > 0)
		for (size_t k = rng_below(g, s / 4 + 2); k--;)
			w->pick[n++] = rng_below(g, first);
	for (size_t k = n ? rng_below(g, s / 8 + 2) : 0; k--;)
		w->pick[n] = w->pick[rng_below(g, n)], n++;
	for (size_t i = n ? n - 1 : 0; i > 0; i--) {
		size_t j = rng_below(g, i + 1), t = w->pick[i];
		w->pick[i] = w->pick[j];
		w->pick[j] = t;
	}
	return n;
}

/* Stores w->batch[0 .. n) until it is stored, the ledger halts or
 * RETRY_FOR_S passes. Returns 0 or -1 (said on stderr). */
static int store_until_stored(struct worker *w, struct db *db, unsigned round, size_t n)
{
	struct race *R = w->race;
	double t0 = now_s();
	for (unsigned attempt = 1;; attempt++) {
		size_t stored = 0;
		int st = store_insert_batch(db, R->ledger, w->batch, n, &stored);
		if (st == DB_OK) {
			atomic_fetch_add(&R->stored, stored);
			atomic_fetch_add(&R->batches, 1);
			atomic_fetch_add(&R->copies, n);
			if (now_s() - t0 > w->longest_s)
				w->longest_s = now_s() - t0;
			return 0;
		}
		atomic_fetch_add(&R->attempts_failed, 1);
		const char *halted = ledger_halted(R->ledger);
		/* A refused value is this program's bug, a halt the ledger's
		 * verdict: neither goes away by trying again. */
		if (st == DB_ERR_DATA || halted || now_s() - t0 > RETRY_FOR_S) {
			fprintf(
			    stderr,
			    "store_race: thread %u, round %u: a batch of %zu still fails after %u "
			    "attempts in %.1f s: %s%s%s\n",
			    w->index, round, n, attempt, now_s() - t0,
			    st == STORE_LOG_CLOSED ? "the log is closed" : db_status_string(st),
			    halted ? "; the ledger halted: " : "", halted ? halted : "");
			return -1;
		}
		usleep(1000 * (useconds_t)(attempt < 50 ? attempt : 50));
	}
}

static void race_rounds(struct worker *w, struct db *db)
{
	struct race *R = w->race;
	struct rng g = {.s = R->seed * 0x9E3779B97F4A7C15ull + w->index + 1};
	int rc = 0;
	for (unsigned r = 0; r < R->rounds; r++) {
		/* Every thread passes every barrier, failed or not, so none
		 * waits for a thread that left. */
		pthread_barrier_wait(&R->barrier);
		if (rc || atomic_load(&R->failed))
			continue;
		size_t n = build_batch(w, r, &g), made = 0;
		for (; made < n; made++) {
			const struct event *e = &R->pool[w->pick[made]];
			w->batch[made] = *e;
			/* A copy of its own: jansson values are not shared between
			 * threads that read them. */
			if (e->changes && !(w->batch[made].changes = json_deep_copy(e->changes)))
				break;
		}
		rc = made == n ? store_until_stored(w, db, r, n) : -1;
		for (size_t i = 0; i < made; i++)
			event_clear(&w->batch[i]);
		if (rc)
			atomic_store(&R->failed, true);
	}
}

static void *race_thread(void *arg)
{
	struct worker *w = arg;
	struct race *R = w->race;
	pthread_mutex_lock(&R->gate_lock);
	while (!R->go)
		pthread_cond_wait(&R->gate, &R->gate_lock);
	int go = R->go;
	pthread_mutex_unlock(&R->gate_lock);
	if (go < 0)
		return NULL;
	struct db *db = NULL;
	int st = db_connect(R->cfg, &db);
	if (st) {
		fprintf(stderr, "store_race: thread %u cannot connect: %s\n", w->index,
		        db_status_string(st));
		atomic_store(&R->failed, true);
	}
	race_rounds(w, db);
	db_close(db);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* the checks                                                          */
/* ------------------------------------------------------------------ */

static unsigned failures;

static void check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(bool ok, const char *fmt, ...)
{
	if (ok)
		return;
	va_list ap;
	va_start(ap, fmt);
	fputs("store_race: FAIL: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	failures++;
}

/* One row of unsigned integers (NULL reads as 0). */
struct numbers {
	size_t rows;
	unsigned long long v[6];
};

static int numbers_row(void *ctx, const struct db_row *row)
{
	struct numbers *n = ctx;
	for (size_t i = 0; i < row->n && i < 6; i++)
		n->v[i] = row->val[i] ? strtoull(row->val[i], NULL, 10) : 0;
	n->rows++;
	return 0;
}

static int query_numbers(struct db *db, const char *sql, const struct db_value *p, size_t np,
                         struct numbers *out)
{
	*out = (struct numbers){0};
	int st = db_query(db, sql, p, np, numbers_row, out);
	if (!st && out->rows != 1)
		st = DB_ERR;
	if (st)
		fprintf(stderr, "store_race: query failed (%s): %s\n", db_status_string(st), sql);
	return st;
}

/* The log's rows: how many, how many distinct positions they claim, and
 * MAX(seq) + 1. */
static int log_shape(struct db *db, struct numbers *n)
{
	struct db_value p[] = {DB_INT(LOG_ID)};
	return query_numbers(db,
	                     "SELECT COUNT(*), COUNT(DISTINCT seq), COALESCE(MAX(seq) + 1, 0) "
	                     "FROM data_events WHERE log_id = ?",
	                     p, 1, n);
}

/* Interior hashes: every level LEDGER_STRIDE, 2 * LEDGER_STRIDE, ... holds
 * exactly the complete subtrees of a log of size, idx 0 .. size >> level. */
struct levels {
	uint64_t size;
	uint64_t seen; /* bit per level */
	int bad;
};

static int level_row(void *ctx, const struct db_row *row)
{
	struct levels *lv = ctx;
	unsigned level = (unsigned)strtoul(row->val[0], NULL, 10);
	unsigned long long rows = strtoull(row->val[1], NULL, 10),
	                   end = strtoull(row->val[2], NULL, 10);
	unsigned long long want = level < 64 ? lv->size >> level : 0;
	if (level < 64)
		lv->seen |= 1ull << level;
	if (level % LEDGER_STRIDE || rows != want || end != want) {
		fprintf(
		    stderr,
		    "store_race: FAIL: log_nodes level %u holds %llu rows up to idx %llu; a log "
		    "of %llu has %llu complete subtrees there\n",
		    level, rows, end, (unsigned long long)lv->size, want);
		lv->bad++;
	}
	return 0;
}

static int check_nodes(struct db *db, uint64_t size)
{
	struct levels lv = {.size = size};
	struct db_value p[] = {DB_INT(LOG_ID)};
	int st = db_query(db,
	                  "SELECT level, COUNT(*), COALESCE(MAX(idx) + 1, 0) FROM log_nodes "
	                  "WHERE log_id = ? GROUP BY level",
	                  p, 1, level_row, &lv);
	if (st)
		return st;
	failures += (unsigned)lv.bad;
	for (unsigned level = LEDGER_STRIDE; level < 64 && size >> level; level += LEDGER_STRIDE)
		check(lv.seen >> level & 1,
		      "log_nodes has no row of level %u (a log of %llu has %llu)", level,
		      (unsigned long long)size, (unsigned long long)(size >> level));
	return DB_OK;
}

/* How many rows of table hold the pool's ids (the events' rows counted
 * only at log 0 from position start). */
static int count_pool_rows(struct db *db, const char *table, const struct event *pool, size_t n,
                           uint64_t start, unsigned long long *count)
{
	bool events = !strcmp(table, "data_events");
	struct db_value *p = malloc((IDS_PER_QUERY + 2) * sizeof *p);
	char *sql = malloc(256 + IDS_PER_QUERY * sizeof SQL_ID_ARG);
	int st = p && sql ? DB_OK : DB_ERR;
	*count = 0;
	for (size_t done = 0; !st && done < n;) {
		size_t k = n - done < IDS_PER_QUERY ? n - done : IDS_PER_QUERY, np = 0;
		int len = snprintf(sql, 256, "SELECT COUNT(*) FROM %s WHERE %sevent_id IN (", table,
		                   events ? "log_id = ? AND seq >= ? AND " : "");
		for (size_t i = 0; i < k; i++)
			len += sprintf(sql + len, "%s" SQL_ID_ARG, i ? "," : "");
		strcpy(sql + len, ")");
		if (events) {
			p[np++] = DB_INT(LOG_ID);
			p[np++] = DB_INT((long long)start);
		}
		for (size_t i = 0; i < k; i++)
			p[np++] = DB_TEXT(pool[done + i].id);
		struct numbers nb;
		if (!(st = query_numbers(db, sql, p, np, &nb)))
			*count += nb.v[0];
		done += k;
	}
	free(sql);
	free(p);
	return st;
}

/* The appends (log_appends, ledger.h): they give positions 0 .. size - 1
 * once each, in order, and the row of each id there claims that position. */
struct appends {
	uint64_t next;
	char *ids; /* next * LEDGER_ID_LEN */
	size_t cap;
	int bad;
};

static int append_row(void *ctx, const struct db_row *row)
{
	struct appends *a = ctx;
	uint64_t first = strtoull(row->val[0], NULL, 10);
	size_t ids = row->len[1], hashes = strtoull(row->val[2], NULL, 10);
	size_t n = ids / LEDGER_ID_LEN;
	if (first != a->next || !n || ids % LEDGER_ID_LEN || hashes != n * MERKLE_HASH_LEN ||
	    n > LEDGER_APPEND_MAX) {
		fprintf(stderr,
		        "store_race: FAIL: an append at %llu (the next position is %llu) with %zu id "
		        "bytes and %zu hash bytes\n",
		        (unsigned long long)first, (unsigned long long)a->next, ids, hashes);
		a->bad++;
		return 1;
	}
	if ((a->next + n) * LEDGER_ID_LEN > a->cap) {
		size_t cap = 2 * (a->next + n) * LEDGER_ID_LEN;
		char *p = realloc(a->ids, cap);
		if (!p)
			return DB_ERR;
		a->ids = p;
		a->cap = cap;
	}
	memcpy(a->ids + a->next * LEDGER_ID_LEN, row->val[1], ids);
	a->next += n;
	return 0;
}

static int check_appends(struct db *db, uint64_t end)
{
	struct appends a = {0};
	struct db_value p[3] = {DB_INT(LOG_ID)};
	int st = db_query(db,
	                  "SELECT first_seq, event_ids, LENGTH(leaf_hashes) FROM log_appends "
	                  "WHERE log_id = ? ORDER BY first_seq",
	                  p, 1, append_row, &a);
	failures += (unsigned)a.bad;
	if (st < 0 || a.bad) {
		free(a.ids);
		return st < 0 ? st : DB_OK;
	}
	check(a.next == end, "the appends give positions 0 .. %llu; the log holds %llu",
	      (unsigned long long)a.next, (unsigned long long)end);
	unsigned misplaced = 0;
	for (uint64_t seq = 0; seq < a.next && !st; seq++) {
		char id[LEDGER_ID_LEN + 1];
		memcpy(id, a.ids + seq * LEDGER_ID_LEN, LEDGER_ID_LEN);
		id[LEDGER_ID_LEN] = '\0';
		p[1] = DB_TEXT(id);
		p[2] = DB_INT((long long)seq);
		struct numbers nb;
		st = query_numbers(db,
		                   "SELECT COUNT(*) FROM data_events WHERE log_id = ? AND event_id = " SQL_ID_ARG " "
		                   "AND seq = ?",
		                   p, 3, &nb);
		misplaced += !st && nb.v[0] != 1;
	}
	check(!misplaced, "%u positions of the appends name an event whose row claims another", misplaced);
	free(a.ids);
	return st;
}

/* Everything the SQL can tell after the run; see the top. */
static int check_rows(struct db *db, const struct event *pool, size_t n, uint64_t start,
                      size_t fields)
{
	uint64_t end = start + n;
	struct numbers nb;
	int st = log_shape(db, &nb);
	if (st)
		return st;
	check(nb.v[0] == end && nb.v[1] == end && nb.v[2] == end,
	      "the log holds %llu rows at %llu positions, size %llu; want %llu of each", nb.v[0],
	      nb.v[1], nb.v[2], (unsigned long long)end);

	struct db_value p[] = {DB_INT(LOG_ID), DB_INT((long long)start)};
	if ((st = query_numbers(db,
	                        "SELECT COUNT(*), COUNT(DISTINCT event_id), COUNT(DISTINCT seq), "
	                        "COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0) "
	                        "FROM data_events WHERE log_id = ? AND seq >= ?",
	                        p, 2, &nb)))
		return st;
	check(nb.v[0] == n && nb.v[1] == n && nb.v[2] == n,
	      "from position %llu: %llu rows, %llu distinct events, %llu distinct positions; want "
	      "%zu of each",
	      (unsigned long long)start, nb.v[0], nb.v[1], nb.v[2], n);
	check(nb.v[3] == start && nb.v[4] == end - 1,
	      "the new positions run %llu .. %llu; want %llu .. %llu", nb.v[3], nb.v[4],
	      (unsigned long long)start, (unsigned long long)end - 1);

	unsigned long long c;
	if ((st = count_pool_rows(db, "data_events", pool, n, start, &c)))
		return st;
	check(c == n, "%llu of the %zu pool events are stored from position %llu", c, n,
	      (unsigned long long)start);
	if ((st = count_pool_rows(db, "data_event_changes", pool, n, start, &c)))
		return st;
	check(c == fields, "%llu change rows for the pool's %zu changed fields", c, fields);
	if ((st = count_pool_rows(db, "data_event_values", pool, n, start, &c)))
		return st;
	check(c == fields, "%llu value rows for the pool's %zu changed fields", c, fields);

	struct db_value lp[] = {DB_INT(LOG_ID)};
	if ((st = query_numbers(db,
	                        "SELECT COALESCE(MAX(size), 0) FROM log_checkpoints "
	                        "WHERE log_id = ?",
	                        lp, 1, &nb)))
		return st;
	check(nb.v[0] == end,
	      "the latest stored checkpoint is of size %llu; closing the log "
	      "should have signed %llu",
	      nb.v[0], (unsigned long long)end);
	if ((st = check_appends(db, end)))
		return st;
	return check_nodes(db, end);
}

/* ------------------------------------------------------------------ */

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < 1 || v > max)
		return -1;
	*out = v;
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: store_race [--threads 1..%d] [--rounds 1..1000] [--slice 1..500] "
	        "[--seed N] [--verbose]\n",
	        THREADS_MAX);
}

/* Starts the threads, lets them through the gate once all are started,
 * and waits for them. Returns 0, or -1 when a thread could not start. */
static int run_threads(struct race *R, struct worker *w)
{
	unsigned started = 0;
	for (; started < R->threads; started++)
		if (pthread_create(&w[started].thread, NULL, race_thread, &w[started]))
			break;
	pthread_mutex_lock(&R->gate_lock);
	R->go = started == R->threads ? 1 : -1;
	pthread_cond_broadcast(&R->gate);
	pthread_mutex_unlock(&R->gate_lock);
	for (unsigned i = 0; i < started; i++)
		pthread_join(w[i].thread, NULL);
	if (started == R->threads)
		return 0;
	fprintf(stderr, "store_race: cannot start thread %u\n", started);
	return -1;
}

/* Opens the log and waits until it is ready. Returns 0, or -1 with *l
 * NULL or halted (said on stderr). */
static int open_ledger(const struct ledger_config *lc, struct ledger **l)
{
	if (ledger_open(lc, l)) {
		fprintf(stderr, "store_race: FAIL: cannot open the log (memory or threads)\n");
		return -1;
	}
	if (!ledger_wait_ready(*l, 60000)) {
		fprintf(stderr, "store_race: FAIL: the log is not ready after 60 s\n");
		return -1;
	}
	if (ledger_halted(*l)) {
		fprintf(stderr, "store_race: FAIL: the log opened halted: %s\n", ledger_halted(*l));
		return -1;
	}
	return 0;
}

/* Reopening rebuilds the tree from the stored rows and checks it against
 * the latest stored checkpoint, the one of size end that closing signed:
 * the root the writer computed in memory must be the stored tree's. */
static void check_reopen(const struct ledger_config *lc, uint64_t end)
{
	struct ledger *l = NULL;
	if (open_ledger(lc, &l)) {
		failures++;
	} else {
		uint64_t signed_size = 0;
		char *note = ledger_checkpoint(l, &signed_size, NULL);
		check(ledger_size(l) == end, "the reopened ledger's size is %llu; want %llu",
		      (unsigned long long)ledger_size(l), (unsigned long long)end);
		check(note && signed_size == end,
		      "the reopened ledger's latest checkpoint is of size %llu; want %llu",
		      (unsigned long long)signed_size, (unsigned long long)end);
		free(note);
	}
	ledger_close(l);
}

int main(int argc, char **argv)
{
	unsigned long threads = 4, rounds = 24, slice = 24, seed = 0;
	bool verbose = false;
	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 1;
		if (!strcmp(opt, "--verbose")) {
			verbose = true;
			continue;
		}
		if (!val)
			;
		else if (!strcmp(opt, "--threads"))
			bad = parse_uint(val, THREADS_MAX, &threads);
		else if (!strcmp(opt, "--rounds"))
			bad = parse_uint(val, 1000, &rounds);
		else if (!strcmp(opt, "--slice"))
			bad = parse_uint(val, 500, &slice);
		else if (!strcmp(opt, "--seed"))
			bad = parse_uint(val, ~0ul, &seed);
		if (bad) {
			fprintf(stderr, "store_race: bad option %s %s\n", opt, val ? val : "");
			usage();
			return 2;
		}
		i++;
	}
	if (!seed)
		seed = (unsigned long)time(NULL) ^ ((unsigned long)getpid() << 16);
	/* Info shows db_run_tx's retries and the ledger's statistics at close. */
	log_init("store_race", verbose ? LOG_LEVEL_INFO : LOG_LEVEL_WARN);

	struct db_config cfg = writer_config_from_env();
	const char *origin_base = env_or("AUDITLOG_LOG_ORIGIN", "auditlog.localhost");
	char origin[1024];
	snprintf(origin, sizeof origin, "%s/%u", origin_base, LOG_ID);
	struct ledger_config lc = {.log = LOG_ID, .origin = origin, .db = &cfg};

	size_t n = (size_t)rounds * slice, fields = 0, made = 0;
	struct race R = {.cfg = &cfg,
	                 .slice = slice,
	                 .rounds = (unsigned)rounds,
	                 .threads = (unsigned)threads,
	                 .seed = seed,
	                 .gate_lock = PTHREAD_MUTEX_INITIALIZER,
	                 .gate = PTHREAD_COND_INITIALIZER};
	struct event *pool = calloc(n, sizeof *pool);
	struct worker *w = calloc(threads, sizeof *w);
	note_signer *signer = NULL;
	struct db *db = NULL;
	bool library = false, barrier = false;
	int rc = 1;
	if (!pool || !w)
		goto out;
	struct rng g = {.s = seed};
	for (; made < n; made++) {
		if (make_event(&pool[made], made, &g))
			goto out;
		fields += pool[made].changes ? json_object_size(pool[made].changes) : 0;
	}
	R.pool = pool;
	/* The largest batch build_batch makes. */
	size_t cap = slice + 2 * (slice / 4 + 1) + slice / 8 + 1;
	for (unsigned i = 0; i < threads; i++) {
		w[i] = (struct worker){.race = &R, .index = i, .cap = cap};
		if (!(w[i].pick = malloc(cap * sizeof *w[i].pick)) ||
		    !(w[i].batch = calloc(cap, sizeof *w[i].batch)))
			goto out;
	}
	if (pthread_barrier_init(&R.barrier, NULL, (unsigned)threads))
		goto out;
	barrier = true;

	if (db_library_init()) {
		fprintf(stderr, "store_race: cannot initialise the MySQL client library\n");
		goto out;
	}
	library = true;
	int st = db_connect(&cfg, &db);
	if (st) {
		fprintf(stderr, "store_race: cannot connect to %s: %s\n", cfg.database,
		        db_status_string(st));
		goto out;
	}
	/* The log may hold events already: the run's positions start at its
	 * size, which must be its row count (no gap before we begin). */
	struct numbers nb;
	if (log_shape(db, &nb))
		goto out;
	uint64_t start = nb.v[2], end = start + n;
	if (nb.v[0] != start || nb.v[1] != start) {
		fprintf(
		    stderr,
		    "store_race: FAIL: before the run, log %u holds %llu rows at %llu positions "
		    "but its size is %llu\n",
		    LOG_ID, nb.v[0], nb.v[1], (unsigned long long)start);
		goto out;
	}
	if (ledger_key(env_or("AUDITLOG_LOG_KEY", ".state/keys/log-signer.key"), origin_base,
	               &signer))
		goto out;
	lc.signer = signer;
	if (open_ledger(&lc, &R.ledger))
		goto out;
	if (ledger_size(R.ledger) != start) {
		fprintf(stderr,
		        "store_race: FAIL: the ledger opened at size %llu, the rows say %llu\n",
		        (unsigned long long)ledger_size(R.ledger), (unsigned long long)start);
		goto out;
	}

	double t0 = now_s();
	if (run_threads(&R, w))
		goto out;
	double dt = now_s() - t0, longest = 0;
	for (unsigned i = 0; i < threads; i++)
		longest = w[i].longest_s > longest ? w[i].longest_s : longest;
	const char *halted = ledger_halted(R.ledger);
	check(!atomic_load(&R.failed), "a thread gave up (above)");
	check(!halted, "the ledger halted during the run: %s", halted ? halted : "");
	/* Closing signs what was appended. */
	ledger_close(R.ledger);
	R.ledger = NULL;

	check(atomic_load(&R.stored) == n, "store_insert_batch counted %lu new events; want %zu",
	      atomic_load(&R.stored), n);
	if (check_rows(db, pool, n, start, fields))
		failures++;
	check_reopen(&lc, end);

	unsigned long calls = atomic_load(&R.batches) + atomic_load(&R.attempts_failed),
	              runs = atomic_load(&tx_runs), attempts = atomic_load(&tx_attempts);
	printf("store_race: %lu threads, %lu rounds: %zu events (%zu changed fields) in %lu "
	       "batches of %lu event copies, positions %llu..%llu, in %.2f s (longest batch %.2f "
	       "s); %lu store calls, %lu failed and were retried; their transactions: %lu "
	       "attempts, %lu of them retries by db_run_tx; seed %lu; %s\n",
	       threads, rounds, n, fields, atomic_load(&R.batches), atomic_load(&R.copies),
	       (unsigned long long)start, (unsigned long long)end - 1, dt, longest, calls,
	       atomic_load(&R.attempts_failed), attempts, attempts - runs, seed,
	       failures ? "CHECKS FAILED" : "all checks hold");
	rc = failures ? 1 : 0;
out:
	ledger_close(R.ledger);
	if (barrier)
		pthread_barrier_destroy(&R.barrier);
	db_close(db);
	note_signer_free(signer);
	for (size_t i = 0; i < made; i++)
		event_clear(&pool[i]);
	free(pool);
	for (unsigned i = 0; w && i < threads; i++) {
		free(w[i].pick);
		free(w[i].batch);
	}
	free(w);
	if (library)
		db_library_end();
	return rc;
}
