/* dbwatch: the database's reachability, watched (dbwatch.h). */
#include "dbwatch.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/prctl.h>

#include "clock.h"

struct dbwatch {
	struct dbwatch_config cfg;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* under lock */
	bool stopping;
	int64_t ok_ms;     /* clock_ms() of the last successful probe, 0: none */
	int64_t failed_ms; /* of the last failed one, 0: none since the last success */
	double rtt_ms;     /* the last successful probe's round trip */
	long long value;   /* its result */
	int last_error;    /* db_status of the last failure */
};

static int take_value(void *ctx, const struct db_row *row)
{
	long long *v = ctx;
	*v = row->n && row->val[0] ? strtoll(row->val[0], NULL, 10) : 0;
	return 0;
}

static void probe(struct dbwatch *w, struct db **db)
{
	int64_t start = clock_ns();
	long long value = 0;
	int st = DB_ERR_GONE;
	if (*db && db_broken(*db)) {
		db_close(*db);
		*db = NULL;
	}
	if (*db || db_connect(w->cfg.db, db) == DB_OK)
		st = db_query(*db, w->cfg.probe_sql ? w->cfg.probe_sql : "SELECT 1", NULL, 0,
		              take_value, &value);
	int64_t end = clock_ns();
	pthread_mutex_lock(&w->lock);
	if (st < 0) {
		w->failed_ms = end / 1000000;
		w->last_error = st;
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
	struct dbwatch *w = arg;
	struct db *db = NULL;
	prctl(PR_SET_NAME, w->cfg.thread_name ? w->cfg.thread_name : "dbwatch");
	pthread_mutex_lock(&w->lock);
	while (!w->stopping) {
		pthread_mutex_unlock(&w->lock);
		probe(w, &db);
		pthread_mutex_lock(&w->lock);
		struct timespec until = clock_deadline(w->cfg.interval_ms);
		while (!w->stopping && pthread_cond_timedwait(&w->cond, &w->lock, &until) == 0)
			;
	}
	pthread_mutex_unlock(&w->lock);
	db_close(db);
	return NULL;
}

int dbwatch_start(const struct dbwatch_config *cfg, struct dbwatch **out)
{
	struct dbwatch *w = calloc(1, sizeof *w);
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

void dbwatch_stop(struct dbwatch *w)
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

bool dbwatch_ok(struct dbwatch *w, long long *value)
{
	int64_t now = clock_ms();
	pthread_mutex_lock(&w->lock);
	bool ok = w->ok_ms && !w->failed_ms && now - w->ok_ms <= w->cfg.stale_ms;
	if (ok && value)
		*value = w->value;
	pthread_mutex_unlock(&w->lock);
	return ok;
}

void dbwatch_health(void *arg, struct health_result *out)
{
	struct dbwatch *w = arg;
	int64_t now = clock_ms();
	pthread_mutex_lock(&w->lock);
	int64_t ok_ms = w->ok_ms, failed_ms = w->failed_ms;
	double rtt = w->rtt_ms;
	int err = w->last_error;
	pthread_mutex_unlock(&w->lock);
	if (!ok_ms && !failed_ms)
		health_set(out, HEALTH_FAIL, "not probed yet");
	else if (failed_ms)
		health_set(out, HEALTH_FAIL, "the database does not answer: %s", db_status_string(err));
	else if (now - ok_ms > w->cfg.stale_ms)
		health_set(out, HEALTH_FAIL, "no answer from the database for %lld ms",
		           (long long)(now - ok_ms));
	else {
		out->has_value = true;
		out->value = rtt;
		out->unit = "ms";
	}
}
