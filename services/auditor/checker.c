/* checker: flags the mutations whose version or values do not follow from
 * what the log stored before them (checker.h). */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checker.h"
#include "query_plan.h"
#include "clock.h"
#include "jcs.h"
#include "log.h"
#include "metrics.h"
#include "sql_id.h"

/* Mutations checked per transaction. */
#define CHUNK 256

/* The log's size as it was at moments of the last grace period: the
 * checker looks only at positions stored at least grace_ms ago. */
#define SAMPLES 256

struct sample {
	int64_t at_ms; /* CLOCK_MONOTONIC */
	uint64_t size;
};

struct checker {
	uint32_t log;
	const struct db_config *db;
	struct ledger *ledger;
	int interval_ms, grace_ms;
	struct sample samples[SAMPLES]; /* oldest first; the checker's thread only */
	size_t nsamples;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop, started;
	uint64_t checked; /* positions [0, checked) are checked */
	uint64_t flags[CHECK_FLAG_KINDS];
};

_Static_assert(CHECK_FLAG_KINDS == PLAN_FLAG_KINDS, "one name per flag kind");

const char *check_flag_name(enum check_flag f)
{
	return plan_flag_names[f];
}

/* ---- one mutation ---- */

struct mutation {
	uint64_t seq;
	char id[UUID_STR_LEN + 1];
	char action[8];
	char type[EVENT_TYPE_MAX + 1], target[EVENT_REF_MAX + 1];
	int64_t version, timestamp;
};

struct mutation_list {
	struct mutation *m;
	size_t n, cap;
};

static int mutation_row(void *arg, const struct db_row *row)
{
	struct mutation_list *l = arg;
	if (l->n == l->cap)
		return 1;
	struct mutation *m = &l->m[l->n++];
	m->seq = strtoull(row->val[0], NULL, 10);
	snprintf(m->id, sizeof m->id, "%s", row->val[1]);
	snprintf(m->action, sizeof m->action, "%s", row->val[2]);
	snprintf(m->type, sizeof m->type, "%s", row->val[3]);
	snprintf(m->target, sizeof m->target, "%s", row->val[4]);
	m->version = strtoll(row->val[5], NULL, 10);
	m->timestamp = strtoll(row->val[6], NULL, 10);
	return 0;
}

struct found {
	bool found;
	int64_t version;
	char id[UUID_STR_LEN + 1];
	bool deleted; /* its action, where the statement gives one */
};

static int top_row(void *arg, const struct db_row *row)
{
	*(uint64_t *)arg = row->val[0] ? strtoull(row->val[0], NULL, 10) : 0;
	return 0;
}

static int found_row(void *arg, const struct db_row *row)
{
	struct found *f = arg;
	f->found = true;
	f->version = strtoll(row->val[0], NULL, 10);
	snprintf(f->id, sizeof f->id, "%s", row->val[1]);
	f->deleted = row->n > 2 && row->val[2] && !strcmp(row->val[2], "deleted");
	return 1; /* the first row is the answer */
}

/* The highest version of the target below v, wherever the log holds it. */
static const char sql_below[] =
    "SELECT target_version, " SQL_ID("event_id") ", action FROM data_event_mutations "
    "WHERE target_type = ? AND target_id = ? AND target_version < ? "
    "ORDER BY target_version DESC LIMIT 1";
/* The highest version of the target whose month retention dropped
 * (sql/auditor/0015), times 2, plus 1 when it deleted the target. */
static const char sql_retained_top[] =
    "SELECT top FROM data_event_retained_versions WHERE target_type = ? AND target_id = ?";
/* The lowest version of the target above v, wherever the log holds it
 * (one seek down data_event_mutations_version: ordering by anything past
 * its columns would sort the whole range above v, every version of a long
 * history, at each check). */
static const char sql_above[] =
    "SELECT target_version, " SQL_ID("event_id") " FROM data_event_mutations "
    "WHERE target_type = ? AND target_id = ? AND target_version > ? "
    "ORDER BY target_version LIMIT 1";
/* Of the events that claim one version, the first stored (the one checked
 * first): a range of one version, usually one row. */
static const char sql_first_of[] =
    "SELECT target_version, " SQL_ID("event_id") " FROM data_event_mutations "
    "WHERE target_type = ? AND target_id = ? AND target_version = ? "
    "ORDER BY log_id, seq LIMIT 1";
/* Whether an event was flagged a gap. */
static const char sql_gap_of[] =
    "SELECT flag, " SQL_ID("event_id") " FROM data_event_flags WHERE event_id = " SQL_ID_ARG
    " AND flag = 'gap' AND field = ''";
/* The same version of the target at an earlier position. */
static const char sql_same[] =
    "SELECT target_version, " SQL_ID("event_id") " FROM data_event_mutations "
    "WHERE target_type = ? AND target_id = ? AND target_version = ? AND log_id = ? AND seq < ? "
    "LIMIT 1";
/* The changes of an event: prev, as the event said it. */
static const char sql_changes[] =
    "SELECT c.field, v.prev_value, v.field FROM data_event_changes c "
    "LEFT JOIN data_event_values v ON v.event_id = c.event_id AND v.field = c.field "
    "WHERE c.event_id = " SQL_ID_ARG " ORDER BY c.field";
/* The field's value after the latest lower version that changed it. Events
 * without a version come first, in time order: of those, only the ones
 * stamped at or before the mutation checked can have come before it. */
static const char sql_last_value[] =
    "SELECT " SQL_ID("c.event_id") ", c.target_version, v.next_value, v.field "
    "FROM data_event_changes c "
    "LEFT JOIN data_event_values v ON v.event_id = c.event_id AND v.field = c.field "
    "WHERE c.target_type = ? AND c.target_id = ? AND c.field = ? AND c.target_version < ? "
    "AND (c.target_version > 0 OR c.occurred_at <= ?) "
    "ORDER BY c.target_version DESC, c.occurred_at DESC, c.event_id DESC LIMIT 1";
static const char sql_flag[] =
    "INSERT IGNORE INTO data_event_flags (event_id, flag, field, detail, log_id, seq, "
    "target_type, target_id, occurred_at) VALUES (" SQL_ID_ARG ", ?, ?, ?, ?, ?, ?, ?, ?)";

struct run {
	struct checker *c;
	struct db *db;
	const struct mutation *m;
	uint64_t flagged[CHECK_FLAG_KINDS];
};

static int flag(struct run *r, enum check_flag f, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int flag(struct run *r, enum check_flag f, const char *field, const char *fmt, ...)
{
	char detail[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	const struct mutation *m = r->m;
	struct db_value v[9] = {DB_TEXT(m->id),   DB_TEXT(plan_flag_names[f]), DB_TEXT(field),
	                        DB_TEXT(detail),  DB_INT(r->c->log),      DB_INT((long long)m->seq),
	                        DB_TEXT(m->type), DB_TEXT(m->target),     DB_INT(m->timestamp)};
	uint64_t affected = 0;
	int st = db_exec(r->db, sql_flag, v, 9, &affected, NULL);
	if (!st && affected)
		r->flagged[f]++;
	return st;
}

static int check_version(struct run *r)
{
	const struct mutation *m = r->m;
	int64_t v = m->version;
	struct found below = {0}, above = {0}, same = {0};
	struct db_value k[5] = {DB_TEXT(m->type), DB_TEXT(m->target), DB_INT(v)};
	int st = db_query(r->db, sql_below, k, 3, found_row, &below);
	if (st < 0)
		return st;
	/* Versions below the first kept one may have left with their month
	 * (retention.h): the highest of those stands in for them. */
	if (v > 1 && (!below.found || below.version < v - 1)) {
		uint64_t top = 0;
		if ((st = db_query(r->db, sql_retained_top, k, 2, top_row, &top)) < 0)
			return st;
		if (top && (int64_t)(top / 2) < v && (!below.found || (int64_t)(top / 2) > below.version))
			below = (struct found){.found = true,
			                       .version = (int64_t)(top / 2),
			                       .id = "retained away",
			                       .deleted = top & 1};
	}
	if (v > 1 && (!below.found || below.version < v - 1)) {
		long long from = below.found ? (long long)below.version + 1 : 1, to = v - 1;
		char missing[96];
		if (from == to)
			snprintf(missing, sizeof missing, "version %lld of its target is", from);
		else
			snprintf(missing, sizeof missing, "versions %lld to %lld of its target are",
			         from, to);
		if (below.found && below.version)
			st = flag(r, CHECK_GAP, "", "%s not stored (the highest below it is %lld)",
			          missing, (long long)below.version);
		else if (below.found) /* a row older than its producer's versions */
			st = flag(r, CHECK_GAP, "",
			          "%s not stored (its earlier events carry no version)", missing);
		else
			st = flag(r, CHECK_GAP, "", "%s not stored", missing);
		if (st)
			return st;
	}
	/* A delete without a version is not in the versions' order: only a
	 * versioned one below it counts. */
	if (below.found && below.deleted && below.version > 0 &&
	    (st = flag(r, CHECK_AFTER_DELETE, "",
	               "version %lld of its target (event %s) deleted it, and this %s comes "
	               "after",
	               (long long)below.version, below.id, m->action)))
		return st;
	/* Late: the next version above it was checked before it came, and
	 * found it missing. */
	if ((st = db_query(r->db, sql_above, k, 3, found_row, &above)) < 0)
		return st;
	if (above.found) {
		struct db_value n[3] = {DB_TEXT(m->type), DB_TEXT(m->target), DB_INT(above.version)};
		if ((st = db_query(r->db, sql_first_of, n, 3, found_row, &above)) < 0)
			return st;
	}
	if (above.found) {
		struct found gap = {0};
		struct db_value id = DB_TEXT(above.id);
		if ((st = db_query(r->db, sql_gap_of, &id, 1, found_row, &gap)) < 0)
			return st;
		if (gap.found &&
		    (st = flag(r, CHECK_LATE, "",
		               "version %lld of its target (event %s) was checked before it came, "
		               "and flagged a gap",
		               (long long)above.version, above.id)))
			return st;
		/* That version missed this delete below it: the flag goes here. */
		if (gap.found && !strcmp(m->action, "deleted") &&
		    (st = flag(r, CHECK_AFTER_DELETE, "",
		               "version %lld of its target (event %s) was checked before this "
		               "delete came, and comes after it",
		               (long long)above.version, above.id)))
			return st;
	}
	k[3] = DB_INT(r->c->log);
	k[4] = DB_INT((long long)m->seq);
	if ((st = db_query(r->db, sql_same, k, 5, found_row, &same)) < 0)
		return st;
	if (same.found && (st = flag(r, CHECK_DUPLICATE, "",
	                             "version %lld of its target was stored before it by event %s",
	                             (long long)v, same.id)))
		return st;
	return DB_OK;
}

struct prev_list {
	size_t n;
	struct {
		char field[EVENT_FIELD_MAX + 1];
		json_t *prev; /* NULL when erased */
	} f[64];
	bool more;
};

static int prev_row(void *arg, const struct db_row *row)
{
	struct prev_list *p = arg;
	if (p->n == sizeof p->f / sizeof p->f[0]) {
		p->more = true;
		return 0;
	}
	snprintf(p->f[p->n].field, sizeof p->f[p->n].field, "%s", row->val[0]);
	p->f[p->n].prev =
	    row->val[2] ? json_loadb(row->val[1], row->len[1], JSON_DECODE_ANY, NULL) : NULL;
	p->n++;
	return 0;
}

struct last_value {
	bool found, erased;
	char id[UUID_STR_LEN + 1];
	int64_t version;
	json_t *value;
};

static int last_row(void *arg, const struct db_row *row)
{
	struct last_value *l = arg;
	l->found = true;
	snprintf(l->id, sizeof l->id, "%s", row->val[0]);
	l->version = strtoll(row->val[1], NULL, 10);
	l->erased = !row->val[3];
	l->value = l->erased ? NULL : json_loadb(row->val[2], row->len[2], JSON_DECODE_ANY, NULL);
	return 0;
}

/* Whether two JSON values are the same value: the same RFC 8785 bytes
 * (1 and 1.0 are one number, member order does not matter), as the leaf's
 * commitments see them. */
static bool same_value(const json_t *a, const json_t *b)
{
	char *x = NULL, *y = NULL;
	size_t xn = 0, yn = 0;
	bool same = jcs_serialize(a, &x, &xn) == JCS_OK && jcs_serialize(b, &y, &yn) == JCS_OK
	                ? xn == yn && !memcmp(x, y, xn)
	                : json_equal(a, b);
	free(x);
	free(y);
	return same;
}

/* A changed or deleted event's prev of each field against the value the
 * latest lower version that changed it left. An erased value on either
 * side is not compared. */
static int check_values(struct run *r)
{
	const struct mutation *m = r->m;
	struct prev_list p = {0};
	struct db_value id = DB_TEXT(m->id);
	int st = db_query(r->db, sql_changes, &id, 1, prev_row, &p);
	for (size_t i = 0; !st && i < p.n; i++) {
		if (!p.f[i].prev)
			continue;
		struct last_value l = {0};
		struct db_value k[5] = {DB_TEXT(m->type), DB_TEXT(m->target), DB_TEXT(p.f[i].field),
		                        DB_INT(m->version), DB_INT(m->timestamp)};
		st = db_query(r->db, sql_last_value, k, 5, last_row, &l);
		if (!st && l.found && l.value && !same_value(l.value, p.f[i].prev)) {
			char by[64];
			if (l.version)
				snprintf(by, sizeof by, "version %lld", (long long)l.version);
			else
				snprintf(by, sizeof by, "an event without a version");
			st = flag(r, CHECK_DRIFT, p.f[i].field,
			          "its prev of %s is not the value %s stored (event %s)", p.f[i].field,
			          by, l.id);
		}
		json_decref(l.value);
	}
	for (size_t i = 0; i < p.n; i++)
		json_decref(p.f[i].prev);
	return st;
}

/* ---- a chunk, in one transaction ---- */

struct chunk {
	struct checker *c;
	struct mutation *m;
	size_t n;
	uint64_t to; /* checked up to here once it commits */
	uint64_t flagged[CHECK_FLAG_KINDS];
};

static int chunk_in_tx(struct db *db, void *arg)
{
	struct chunk *ch = arg;
	memset(ch->flagged, 0, sizeof ch->flagged);
	for (size_t i = 0; i < ch->n; i++) {
		const struct mutation *m = &ch->m[i];
		if (!m->version)
			continue; /* a producer that sends no version: nothing to check */
		struct run r = {.c = ch->c, .db = db, .m = m};
		int st = check_version(&r);
		if (!st && strcmp(m->action, "created"))
			st = check_values(&r);
		if (st)
			return st;
		for (int f = 0; f < CHECK_FLAG_KINDS; f++)
			ch->flagged[f] += r.flagged[f];
	}
	struct db_value v[2] = {DB_INT(ch->c->log), DB_INT((long long)ch->to)};
	return db_exec(db,
	               "INSERT INTO log_checked (log_id, checked_to) VALUES (?, ?) "
	               "ON DUPLICATE KEY UPDATE checked_to = GREATEST(checked_to, VALUES(checked_to))",
	               v, 2, NULL, NULL);
}

static int checked_row(void *arg, const struct db_row *row)
{
	*(uint64_t *)arg = strtoull(row->val[0], NULL, 10);
	return 0;
}

/* Checks the mutations at positions [c->checked, end), a chunk at a time.
 * Returns a db status. */
static int catch_up(struct checker *c, struct db *db, uint64_t end)
{
	struct mutation *m = malloc(CHUNK * sizeof *m);
	if (!m)
		return DB_ERR;
	int st = DB_OK;
	pthread_mutex_lock(&c->lock);
	if (c->checked > end) {
		/* The log is shorter than the bookmark: it was restored from an
		 * older copy. What it holds past its end now is new: check it. */
		log_warn("log %u: checked up to %llu, but the log holds %llu events; checking on "
		         "from there",
		         (unsigned)c->log, (unsigned long long)c->checked, (unsigned long long)end);
		c->checked = end;
	}
	uint64_t from = c->checked;
	bool stop = c->stop;
	pthread_mutex_unlock(&c->lock);
	while (!st && from < end && !stop) {
		struct mutation_list list = {m, 0, CHUNK};
		struct db_value k[4] = {DB_INT(c->log), DB_INT((long long)from),
		                        DB_INT((long long)end), DB_INT(CHUNK)};
		st = db_query(
		    db,
		    "SELECT seq, " SQL_ID("event_id") ", action, target_type, target_id, target_version, "
		    "occurred_at FROM data_event_mutations WHERE log_id = ? "
		    "AND seq >= ? AND seq < ? AND target_version > 0 ORDER BY seq LIMIT ?",
		    k, 4, mutation_row, &list);
		if (st)
			break;
		struct chunk ch = {.c = c,
		                   .m = m,
		                   .n = list.n,
		                   .to = list.n == CHUNK ? m[CHUNK - 1].seq + 1 : end};
		if (list.n && (st = db_run_tx(db, chunk_in_tx, &ch)))
			break;
		pthread_mutex_lock(&c->lock);
		c->checked = from = ch.to;
		for (int f = 0; f < CHECK_FLAG_KINDS; f++)
			c->flags[f] += ch.flagged[f];
		stop = c->stop;
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->lock);
	}
	free(m);
	return st;
}

/* Sleeps up to ms unless stopping; returns whether to stop. */
static bool nap(struct checker *c, int ms)
{
	pthread_mutex_lock(&c->lock);
	struct timespec ts = clock_deadline(ms);
	if (!c->stop)
		pthread_cond_timedwait(&c->cond, &c->lock, &ts);
	bool stop = c->stop;
	pthread_mutex_unlock(&c->lock);
	return stop;
}

/* The log's size grace_ms ago (0 until the checker has run that long):
 * every position below it was stored at least that long ago. Samples the
 * size now, at most SAMPLES of them over the grace period. */
static uint64_t horizon(struct checker *c)
{
	int64_t now = clock_ms();
	struct sample s = {now, ledger_size(c->ledger)};
	if (c->grace_ms <= 0)
		return s.size;
	if (!c->nsamples ||
	    now - c->samples[c->nsamples - 1].at_ms >= c->grace_ms / (SAMPLES - 2) + 1) {
		if (c->nsamples == SAMPLES) { /* cannot happen at that pace; stay safe */
			memmove(c->samples, c->samples + 1, (SAMPLES - 1) * sizeof *c->samples);
			c->nsamples--;
		}
		c->samples[c->nsamples++] = s;
	}
	size_t old = 0; /* the newest sample at least grace_ms old */
	while (old + 1 < c->nsamples && c->samples[old + 1].at_ms <= now - c->grace_ms)
		old++;
	if (old) {
		memmove(c->samples, c->samples + old, (c->nsamples - old) * sizeof *c->samples);
		c->nsamples -= old;
	}
	return c->samples[0].at_ms <= now - c->grace_ms ? c->samples[0].size : 0;
}

static void *checker_main(void *arg)
{
	struct checker *c = arg;
	struct db *db = NULL;
	bool resumed = false, warned = false;
	for (;;) {
		int st = DB_OK;
		if (!db && db_connect(c->db, &db)) {
			db = NULL;
			st = DB_ERR_GONE;
		}
		if (!st && !resumed) {
			uint64_t to = 0;
			struct db_value k = DB_INT(c->log);
			st = db_query(db, "SELECT checked_to FROM log_checked WHERE log_id = ?", &k,
			              1, checked_row, &to);
			if (!st) {
				pthread_mutex_lock(&c->lock);
				c->checked = to;
				pthread_mutex_unlock(&c->lock);
				resumed = true;
			}
		}
		if (!st && ledger_ready(c->ledger)) {
			uint64_t end = horizon(c);
			if (end)
				st = catch_up(c, db, end);
		}
		if (st) {
			if (!warned)
				log_warn(
				    "log %u: the checker cannot go on (%s); retrying every second",
				    (unsigned)c->log, db_status_string(st));
			warned = true;
			if (db && db_broken(db)) {
				db_close(db);
				db = NULL;
			}
		} else {
			warned = false;
		}
		if (nap(c, st ? 1000 : c->interval_ms))
			break;
	}
	db_close(db);
	return NULL;
}

/* The checkers running, one per log, for /metrics: one collector adds
 * their figures up (it is added once and stays; it takes running_lock
 * inside the registry's mutex, so never the other way). */
static pthread_mutex_t running_lock = PTHREAD_MUTEX_INITIALIZER;
static struct checker *running[LEDGER_OPEN_MAX];
static unsigned nrunning;

/* The checkers' progress and findings on /metrics: what a deployment
 * alerts on (a gap means an event was lost on its way). */
static void collect(struct metrics_out *out, void *ctx)
{
	(void)ctx;
	uint64_t unchecked = 0, flags[CHECK_FLAG_KINDS] = {0};
	pthread_mutex_lock(&running_lock);
	for (unsigned i = 0; i < nrunning; i++) {
		uint64_t checked, f[CHECK_FLAG_KINDS];
		checker_stats(running[i], &checked, f);
		uint64_t size = ledger_size(running[i]->ledger);
		unchecked += size > checked ? size - checked : 0;
		for (int k = 0; k < CHECK_FLAG_KINDS; k++)
			flags[k] += f[k];
	}
	pthread_mutex_unlock(&running_lock);
	metrics_out_gauge(out, "auditlog_checker_unchecked_events",
	                  "Positions of the logs stored but not yet checked for gaps and drift "
	                  "(README \"Gaps and drift\"); they wait the grace period first.",
	                  (double)unchecked);
	metrics_out_family(out, "auditlog_flags_total",
	                   "Mutations the checker flagged since the start, by flag: gap (a version "
	                   "missing: an event lost), late, duplicate-version, drift, after-delete.",
	                   METRICS_COUNTER);
	for (int f = 0; f < CHECK_FLAG_KINDS; f++)
		metrics_out_sample(out, "auditlog_flags_total", (double)flags[f], "flag",
		                   check_flag_name((enum check_flag)f), NULL);
}

static void add_collector(void)
{
	metrics_collector_add(collect, NULL);
}

int checker_start(const struct checker_config *cfg, struct checker **out)
{
	*out = NULL;
	struct checker *c = calloc(1, sizeof *c);
	if (!c)
		return -1;
	c->log = cfg->log;
	c->db = cfg->db;
	c->ledger = cfg->ledger;
	c->interval_ms = cfg->interval_ms > 0 ? cfg->interval_ms : 200;
	c->grace_ms = cfg->grace_ms >= 0 ? cfg->grace_ms : 0;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&c->lock, NULL);
	if (pthread_create(&c->thread, NULL, checker_main, c)) {
		checker_stop(c);
		return -1;
	}
	c->started = true;
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, add_collector);
	pthread_mutex_lock(&running_lock);
	if (nrunning < LEDGER_OPEN_MAX) /* main starts one per open log, at most that many */
		running[nrunning++] = c;
	pthread_mutex_unlock(&running_lock);
	*out = c;
	return 0;
}

void checker_stop(struct checker *c)
{
	if (!c)
		return;
	if (c->started) {
		pthread_mutex_lock(&running_lock);
		for (unsigned i = 0; i < nrunning; i++)
			if (running[i] == c) {
				running[i] = running[--nrunning];
				break;
			}
		pthread_mutex_unlock(&running_lock);
		pthread_mutex_lock(&c->lock);
		c->stop = true;
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->thread, NULL);
	}
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void checker_stats(struct checker *c, uint64_t *checked, uint64_t flags[CHECK_FLAG_KINDS])
{
	pthread_mutex_lock(&c->lock);
	*checked = c->checked;
	if (flags)
		memcpy(flags, c->flags, sizeof c->flags);
	pthread_mutex_unlock(&c->lock);
}
