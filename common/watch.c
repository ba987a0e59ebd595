/* watch: a server's reachability, watched (watch.h). */
#include "watch.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/prctl.h>

#include "clock.h"
#include "log.h"
#include "mq.h"

/* The probes' connections wait this long for an answer at most, so a
 * stop waits no longer on a hung server (the check fails at stale_ms). */
#define PROBE_TIMEOUT_S 2

struct watch {
	struct watch_config cfg;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* under lock */
	bool stopping;
	int64_t ok_ms;     /* clock_ms() of the last successful probe, 0: none */
	int64_t failed_ms; /* of the last failed one, 0: none since the last success */
	double rtt_ms;     /* the last successful probe's round trip */
	long long value;   /* its value */
};

static void probe(struct watch *w)
{
	long long value = 0;
	int64_t start = clock_ns();
	int st = w->cfg.probe(w->cfg.ctx, &value);
	int64_t end = clock_ns();
	pthread_mutex_lock(&w->lock);
	if (st) {
		w->failed_ms = end / 1000000;
	} else {
		w->ok_ms = end / 1000000;
		w->failed_ms = 0;
		w->rtt_ms = (double)(end - start) / 1e6;
		w->value = value;
	}
	pthread_mutex_unlock(&w->lock);
}

static void *run(void *arg)
{
	struct watch *w = arg;
	prctl(PR_SET_NAME, w->cfg.thread_name ? w->cfg.thread_name : "watch");
	pthread_mutex_lock(&w->lock);
	while (!w->stopping) {
		pthread_mutex_unlock(&w->lock);
		probe(w);
		pthread_mutex_lock(&w->lock);
		struct timespec until = clock_deadline(w->cfg.interval_ms);
		while (!w->stopping && pthread_cond_timedwait(&w->cond, &w->lock, &until) == 0)
			;
	}
	pthread_mutex_unlock(&w->lock);
	w->cfg.close(w->cfg.ctx);
	return NULL;
}

int watch_start(const struct watch_config *cfg, struct watch **out)
{
	struct watch *w = calloc(1, sizeof *w);
	if (!w)
		return -1;
	w->cfg = *cfg;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&w->thread, NULL, run, w)) {
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->cond);
		free(w);
		return -1;
	}
	*out = w;
	return 0;
}

void watch_stop(struct watch *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
}

bool watch_ok(struct watch *w, long long *value)
{
	int64_t now = clock_ms();
	pthread_mutex_lock(&w->lock);
	bool ok = w->ok_ms && !w->failed_ms && now - w->ok_ms <= w->cfg.stale_ms;
	if (ok && value)
		*value = w->value;
	pthread_mutex_unlock(&w->lock);
	return ok;
}

void watch_health(void *arg, struct health_result *out)
{
	struct watch *w = arg;
	int64_t now = clock_ms();
	pthread_mutex_lock(&w->lock);
	int64_t ok_ms = w->ok_ms, failed_ms = w->failed_ms;
	double rtt = w->rtt_ms;
	pthread_mutex_unlock(&w->lock);
	if (!ok_ms && !failed_ms)
		health_set(out, HEALTH_FAIL, "%s has not been asked yet", w->cfg.what);
	else if (failed_ms)
		health_set(out, HEALTH_FAIL, "%s does not answer (it refused or dropped the connection%s)",
		           w->cfg.what, ok_ms ? "" : "; it never answered since the start");
	else if (now - ok_ms > w->cfg.stale_ms)
		health_set(out, HEALTH_FAIL, "no answer from %s for %lld ms", w->cfg.what,
		           (long long)(now - ok_ms));
	else {
		out->has_value = true;
		out->value = rtt;
		out->unit = "ms";
	}
}

/* ---- the database ---- */

void watch_db_init(struct watch_db *d, const struct db_config *cfg, const char *sql)
{
	*d = (struct watch_db){.cfg = *cfg, .sql = sql};
	d->cfg.io_timeout_s = PROBE_TIMEOUT_S;
}

static int take_value(void *ctx, const struct db_row *row)
{
	long long *v = ctx;
	*v = row->n && row->val[0] ? strtoll(row->val[0], NULL, 10) : 0;
	return 0;
}

int watch_db_probe(void *ctx, long long *value)
{
	struct watch_db *d = ctx;
	if (d->conn && db_broken(d->conn)) {
		db_close(d->conn);
		d->conn = NULL;
	}
	if (!d->conn && db_connect(&d->cfg, &d->conn) != DB_OK)
		return -1;
	return db_query(d->conn, d->sql ? d->sql : "SELECT 1", NULL, 0, take_value, value) < 0 ? -1
	                                                                                         : 0;
}

void watch_db_close(void *ctx)
{
	struct watch_db *d = ctx;
	db_close(d->conn);
	d->conn = NULL;
}

/* ---- the broker ---- */

int watch_mq_probe(void *ctx, long long *value)
{
	struct watch_mq *m = ctx;
	*value = 0;
	if (m->conn && mq_ping(m->conn) == 0)
		return 0;
	mq_close(m->conn);
	m->conn = NULL;
	/* A new connection: the answer to its handshake is the round trip. */
	return mq_open_timeout(m->url, PROBE_TIMEOUT_S * 1000, &m->conn);
}

void watch_mq_close(void *ctx)
{
	struct watch_mq *m = ctx;
	mq_close(m->conn);
	m->conn = NULL;
}

/* ---- the pair ---- */

int watch_pair_start(struct watch_pair *p, const struct db_config *cfg, const char *db_sql,
                     const char *amqp_url, const char *db_thread, const char *mq_thread)
{
	watch_db_init(&p->db_probe, cfg, db_sql);
	p->mq_probe = (struct watch_mq){.url = amqp_url};
	struct watch_config dw = {.probe = watch_db_probe,
	                          .close = watch_db_close,
	                          .ctx = &p->db_probe,
	                          .what = "the database",
	                          .interval_ms = 250,
	                          .stale_ms = 750,
	                          .thread_name = db_thread};
	struct watch_config mw = dw;
	mw.probe = watch_mq_probe;
	mw.close = watch_mq_close;
	mw.ctx = &p->mq_probe;
	mw.what = "the broker";
	mw.thread_name = mq_thread;
	if (watch_start(&dw, &p->db) || watch_start(&mw, &p->mq)) {
		log_error("cannot start the database and broker watches");
		return -1;
	}
	return 0;
}

void watch_pair_stop(struct watch_pair *p)
{
	watch_stop(p->db);
	watch_stop(p->mq);
	p->db = p->mq = NULL;
}
