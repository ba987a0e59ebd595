/* replica: queries answered from a read replica within a staleness bound
 * (replica.h). */
#include "replica.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "watch.h"

/* The probe's connections wait this long for an answer at most (as
 * watch.c's), so a stop never waits on a hung server for long. */
#define PROBE_TIMEOUT_S 2

/* The primary's position read at instant t (clock_ms): everything it had
 * committed before t is within pos. */
struct sample {
	int64_t t;
	struct gtid_pos pos;
};

struct replica {
	const struct db_config *primary; /* the reader on the primary: the caller's */
	struct db_config query;          /* the reader on the replica; fallback: primary */
	struct db_config probe_primary, probe_replica; /* the probe's: short timeouts */
	int max_lag_ms, wait_ms;
	struct watch *watch;
	/* the watch thread's alone */
	struct db *pconn, *rconn;
	struct sample *ring; /* the last cap positions read, oldest first from head */
	size_t cap, count, head;
	pthread_mutex_t lock;
	/* under lock, from the last successful probe */
	int64_t covered; /* the latest t whose position the replica has reached; 0: none kept */
	int64_t oldest;  /* t of the oldest position kept */
	struct gtid_pos have; /* the replica's @@gtid_slave_pos */
	/* The primary keeps no binary log: nothing replicates from it, and
	 * its empty position would pass for one every server has reached. */
	bool no_binlog;
	/* metrics */
	struct metrics_counter *by_replica, *by_primary, *waits_reached, *waits_timeout;
};

/* ---- the probe (the watch thread) ---- */

struct text {
	char s[GTID_TEXT_MAX];
	bool got;
	bool off; /* a second column said 0 (@@log_bin) */
};

static int text_row(void *ctx, const struct db_row *row)
{
	struct text *t = ctx;
	size_t n = row->n && row->val[0] ? row->len[0] : 0;
	if (n >= sizeof t->s)
		return DB_ERR;
	memcpy(t->s, n ? row->val[0] : "", n);
	t->s[n] = '\0';
	t->got = true;
	t->off = row->n > 1 && row->val[1] && !strcmp(row->val[1], "0");
	return 0;
}

/* The position sql (a one-row SELECT of a GTID variable, and maybe of
 * @@log_bin) gives on *conn, connecting (again) as cfg first when needed.
 * Returns 0, or -1; *off when @@log_bin said 0. */
static int read_position(struct db **conn, const struct db_config *cfg, const char *sql,
                         struct gtid_pos *out, bool *off)
{
	if (*conn && db_broken(*conn)) {
		db_close(*conn);
		*conn = NULL;
	}
	if (!*conn && db_connect(cfg, conn) != DB_OK)
		return -1;
	struct text t = {.got = false};
	if (db_query(*conn, sql, NULL, 0, text_row, &t) != DB_OK || !t.got ||
	    gtid_parse(t.s, strlen(t.s), out)) {
		if (t.got)
			log_warn("replica: %s gave \"%s\", not a GTID position", sql, t.s);
		return -1;
	}
	*off = t.off;
	return 0;
}

static bool same_position(const struct gtid_pos *a, const struct gtid_pos *b)
{
	return a->n == b->n && !memcmp(a->g, b->g, a->n * sizeof a->g[0]);
}

/* Keeps (t, pos); a position the newest already holds only moves that
 * one's instant on (everything before t is within it as well). */
static void keep(struct replica *r, int64_t t, const struct gtid_pos *pos)
{
	if (r->count) {
		struct sample *newest = &r->ring[(r->head + r->count - 1) % r->cap];
		if (same_position(&newest->pos, pos)) {
			newest->t = t;
			return;
		}
	}
	if (r->count == r->cap) {
		r->head = (r->head + 1) % r->cap;
		r->count--;
	}
	r->ring[(r->head + r->count++) % r->cap] = (struct sample){t, *pos};
}

static int probe(void *ctx, long long *value)
{
	struct replica *r = ctx;
	struct gtid_pos primary, have;
	bool no_binlog, unused;
	*value = 0;
	int64_t t = clock_ms();
	if (read_position(&r->pconn, &r->probe_primary, "SELECT @@gtid_binlog_pos, @@log_bin",
	                  &primary, &no_binlog))
		return -1;
	if (no_binlog != r->no_binlog) {
		if (no_binlog)
			log_error(
			    "replica: the primary keeps no binary log (log_bin is off): nothing "
			    "replicates from it, so queries are not answered by the replica");
		pthread_mutex_lock(&r->lock);
		r->no_binlog = no_binlog;
		pthread_mutex_unlock(&r->lock);
	}
	if (no_binlog)
		return -1;
	keep(r, t, &primary);
	if (read_position(&r->rconn, &r->probe_replica, "SELECT @@gtid_slave_pos", &have, &unused))
		return -1;
	int64_t covered = 0;
	for (size_t i = r->count; i-- > 0;) {
		const struct sample *s = &r->ring[(r->head + i) % r->cap];
		if (gtid_reached(&have, &s->pos)) {
			covered = s->t;
			break;
		}
	}
	pthread_mutex_lock(&r->lock);
	r->covered = covered;
	r->oldest = r->ring[r->head].t;
	r->have = have;
	pthread_mutex_unlock(&r->lock);
	*value = covered;
	return 0;
}

static void probe_close(void *ctx)
{
	struct replica *r = ctx;
	db_close(r->pconn);
	db_close(r->rconn);
	r->pconn = r->rconn = NULL;
}

/* ---- what queries ask ---- */

/* The replica's state as the last probe left it: whether it answers, and
 * its lag bound in ms (how long ago the latest instant it has reached
 * was; when it has reached none kept, how long ago the oldest kept was: a
 * bound it is beyond). */
static bool state(struct replica *r, int64_t *lag_ms, struct gtid_pos *have)
{
	bool up = watch_ok(r->watch, NULL);
	int64_t now = clock_ms();
	pthread_mutex_lock(&r->lock);
	*lag_ms = now - (r->covered ? r->covered : r->oldest);
	if (!r->covered && *lag_ms <= r->max_lag_ms)
		*lag_ms = r->max_lag_ms + 1; /* nothing it has reached is kept */
	if (have)
		*have = r->have;
	pthread_mutex_unlock(&r->lock);
	return up;
}

static int int_row(void *ctx, const struct db_row *row)
{
	*(long long *)ctx = row->n && row->val[0] ? strtoll(row->val[0], NULL, 10) : -1;
	return 0;
}

/* Whether the replica reaches after within wait_ms (MASTER_GTID_WAIT: 0
 * once it has, -1 on the timeout, NULL when it cannot tell). A replica
 * that went away just now has the wait asked of the primary (the
 * fallback), which is no replica: it times out, and the primary answers;
 * rare, and bounded by wait_ms. */
static bool wait_for(struct replica *r, const struct gtid_pos *after)
{
	struct db *db = r->wait_ms ? db_thread(&r->query) : NULL;
	char text[GTID_TEXT_MAX];
	gtid_format(after, text);
	struct db_value v[] = {DB_TEXT(text), DB_INT(r->wait_ms)};
	long long got = -1;
	bool reached =
	    db &&
	    db_query(db, "SELECT MASTER_GTID_WAIT(?, ? / 1000)", v, 2, int_row, &got) == DB_OK &&
	    got == 0;
	metrics_inc(reached ? r->waits_reached : r->waits_timeout);
	return reached;
}

const struct db_config *replica_choose(struct replica *r, const struct gtid_pos *after)
{
	int64_t lag;
	struct gtid_pos have;
	bool use = state(r, &lag, &have) && lag <= r->max_lag_ms &&
	           (!after || gtid_reached(&have, after) || wait_for(r, after));
	metrics_inc(use ? r->by_replica : r->by_primary);
	return use ? &r->query : r->primary;
}

const struct db_config *replica_primary(const struct replica *r)
{
	return r->primary;
}

void replica_health(void *arg, struct health_result *out)
{
	struct replica *r = arg;
	int64_t lag;
	bool up = state(r, &lag, NULL);
	pthread_mutex_lock(&r->lock);
	bool no_binlog = r->no_binlog;
	pthread_mutex_unlock(&r->lock);
	if (no_binlog) {
		health_set(
		    out, HEALTH_WARN,
		    "the primary keeps no binary log, so nothing replicates from it: the primary "
		    "answers every query");
		return;
	}
	if (!up) {
		health_set(
		    out, HEALTH_WARN,
		    "the replica (or the primary's position) has not answered for %d ms: the "
		    "primary answers every query",
		    REPLICA_STALE_MS);
		return;
	}
	out->has_value = true;
	out->value = (double)lag;
	out->unit = "ms";
	if (lag > r->max_lag_ms)
		health_set(
		    out, HEALTH_WARN,
		    "the replica may lack the primary's last %lld ms of commits, beyond the bound "
		    "of %d ms: the primary answers every query",
		    (long long)lag, r->max_lag_ms);
}

static void collect(struct metrics_out *out, void *ctx)
{
	struct replica *r = ctx;
	int64_t lag;
	bool up = state(r, &lag, NULL);
	metrics_out_gauge(
	    out, "auditlog_replica_up",
	    "1 while the read replica answers the auditor's probe (every 100 ms), else 0.",
	    up ? 1 : 0);
	if (up)
		metrics_out_gauge(
		    out, "auditlog_replica_lag_seconds",
		    "How far the read replica may be behind the primary: the commits of "
		    "at most this many last seconds may be missing from it.",
		    (double)lag / 1000.0);
}

/* ---- start and stop ---- */

int replica_start(const struct config_setting *table, size_t n, const struct db_config *primary,
                  struct replica **out)
{
	*out = NULL;
	const char *host = config_str(table, n, "replica-host");
	if (!host[0])
		return 0;
	struct replica *r = calloc(1, sizeof *r);
	int max_lag = (int)config_int(table, n, "replica-max-lag-ms");
	size_t cap = (size_t)max_lag / REPLICA_PROBE_MS + 2;
	if (!r || !(r->ring = calloc(cap, sizeof *r->ring))) {
		free(r);
		log_error("replica: out of memory");
		return -1;
	}
	r->primary = primary;
	r->query = *primary;
	r->query.host = host;
	r->query.port = (unsigned)config_int(table, n, "replica-port");
	r->query.socket = "";
	r->query.fallback = primary;
	r->probe_primary = *primary;
	r->probe_primary.io_timeout_s = PROBE_TIMEOUT_S;
	r->probe_primary.fallback = NULL;
	r->probe_replica = r->query;
	r->probe_replica.io_timeout_s = PROBE_TIMEOUT_S;
	r->probe_replica.fallback = NULL;
	r->max_lag_ms = max_lag;
	r->wait_ms = (int)config_int(table, n, "replica-wait-ms");
	r->cap = cap;
	pthread_mutex_init(&r->lock, NULL);
	const char *help = "Queries that may be answered from the read replica, by the server "
	                   "that was chosen to answer them.";
	r->by_replica =
	    metrics_counter("auditlog_query_server_total", help, "server", "replica", NULL);
	r->by_primary =
	    metrics_counter("auditlog_query_server_total", help, "server", "primary", NULL);
	help =
	    "Read-your-writes waits (Read-After) for the replica to reach a position, by result.";
	r->waits_reached =
	    metrics_counter("auditlog_replica_waits_total", help, "result", "reached", NULL);
	r->waits_timeout =
	    metrics_counter("auditlog_replica_waits_total", help, "result", "timeout", NULL);
	struct watch_config wc = {.probe = probe,
	                          .close = probe_close,
	                          .ctx = r,
	                          .what = "the replica",
	                          .interval_ms = REPLICA_PROBE_MS,
	                          .stale_ms = REPLICA_STALE_MS,
	                          .thread_name = "aud-replica"};
	if (watch_start(&wc, &r->watch)) {
		log_error("replica: cannot start its watch");
		pthread_mutex_destroy(&r->lock);
		free(r->ring);
		free(r);
		return -1;
	}
	metrics_collector_add(collect, r);
	log_info("replica: queries may be answered by %s:%u within %d ms of the primary", host,
	         r->query.port, max_lag);
	*out = r;
	return 0;
}

void replica_stop(struct replica *r)
{
	if (!r)
		return;
	metrics_collector_remove(collect, r);
	watch_stop(r->watch);
	pthread_mutex_destroy(&r->lock);
	free(r->ring);
	free(r);
}
