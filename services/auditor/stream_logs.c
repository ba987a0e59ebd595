/* The live stream's hubs, one per log: see stream_logs.h. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "ledger.h"
#include "log.h"
#include "stream_logs.h"

struct stream_logs {
	struct stream_logs_config cfg;
	pthread_t thread; /* looks for new logs: only when there can be any */
	bool looking;     /* the thread runs */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* stop */
	/* under lock; entries [0, n) never change once set */
	bool stop, full_logged;
	size_t n;
	struct {
		uint32_t log;
		struct stream_hub *hub;
		struct ledger *ledger; /* this process's writer of the log, or NULL */
	} logs[STREAM_ID_LOGS_MAX];
};

/* ---- the logs' ends ---- */

static int end_row(void *arg, const struct db_row *row)
{
	struct stream_id *ends = arg;
	if (row->n < 3 || !row->val[0] || !row->val[1] || !row->val[2])
		return 0;
	uint64_t end = strtoull(row->val[1], NULL, 10) +
	               strtoull(row->val[2], NULL, 10) / LEDGER_ID_LEN;
	return stream_id_set(ends, (uint32_t)strtoul(row->val[0], NULL, 10), end) ? 1 : 0;
}

int stream_stored_ends(struct db *db, struct stream_id *ends)
{
	ends->n = 0;
	/* Each log's last append: the loose index scan of the primary key
	 * (log_id, first_seq) finds them, one row each. */
	int st = db_query(db,
	                  "SELECT a.log_id, a.first_seq, LENGTH(a.event_ids) FROM log_appends a "
	                  "JOIN (SELECT log_id, MAX(first_seq) AS m FROM log_appends "
	                  "GROUP BY log_id) b ON a.log_id = b.log_id AND a.first_seq = b.m",
	                  NULL, 0, end_row, ends);
	if (st > 0) {
		log_error("stream: the store holds more than %d logs; a stream follows at most that "
		          "many",
		          STREAM_ID_LOGS_MAX);
		return DB_ERR;
	}
	return st < 0 ? st : DB_OK;
}

/* ---- the hubs ---- */

bool stream_logs_follows(const struct stream_logs *s, uint32_t log)
{
	return log < s->cfg.nledgers || (s->cfg.own_logs_from && log >= s->cfg.own_logs_from) ||
	       (s->cfg.records && log == s->cfg.records_log);
}

static struct ledger *writer_of(const struct stream_logs_config *cfg, uint32_t log)
{
	if (log < cfg->nledgers)
		return cfg->ledgers[log];
	return cfg->records && log == cfg->records_log ? cfg->records : NULL;
}

int stream_logs_add(struct stream_logs *s, uint32_t log)
{
	int rc = 0;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n; i++)
		if (s->logs[i].log == log)
			goto out;
	rc = -1;
	if (s->n == STREAM_ID_LOGS_MAX) {
		if (!s->full_logged)
			log_error("stream: more than %d logs; log %u is not streamed",
			          STREAM_ID_LOGS_MAX, (unsigned)log);
		s->full_logged = true;
		goto out;
	}
	struct ledger *ledger = writer_of(&s->cfg, log);
	struct stream_hub_config hc = {.db = s->cfg.db,
	                               .log = log,
	                               .poll_ms = s->cfg.poll_ms,
	                               .ledger = ledger,
	                               .buffer = s->cfg.buffer};
	struct stream_hub *hub;
	if (stream_hub_start(&hc, &hub)) {
		log_error("stream: cannot start the reader of log %u", (unsigned)log);
		goto out;
	}
	if (ledger) {
		struct ledger_listener li;
		stream_listener(hub, &li);
		ledger_listen(ledger, &li); /* the writer hands the hub what it commits */
	}
	s->logs[s->n].log = log;
	s->logs[s->n].hub = hub;
	s->logs[s->n].ledger = ledger;
	/* The streams under way follow it too: those waiting take again. */
	for (size_t i = 0; i < s->n; i++)
		stream_wake(s->logs[i].hub);
	s->n++;
	rc = 0;
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

size_t stream_logs_count(struct stream_logs *s)
{
	pthread_mutex_lock(&s->lock);
	size_t n = s->n;
	pthread_mutex_unlock(&s->lock);
	return n;
}

struct stream_hub *stream_logs_hub(struct stream_logs *s, size_t i, uint32_t *log)
{
	pthread_mutex_lock(&s->lock);
	struct stream_hub *hub = s->logs[i].hub;
	*log = s->logs[i].log;
	pthread_mutex_unlock(&s->lock);
	return hub;
}

void stream_logs_forget(struct stream_logs *s)
{
	if (!s)
		return;
	for (size_t i = 0, n = stream_logs_count(s); i < n; i++) {
		uint32_t log;
		stream_forget(stream_logs_hub(s, i, &log));
	}
}

/* Looks for logs without a hub every STREAM_LOGS_LOOK_MS, at once first. */
static void *look_main(void *arg)
{
	struct stream_logs *s = arg;
	bool warned = false;
	for (;;) {
		struct db *db = db_thread(s->cfg.db);
		struct stream_id ends;
		int st = db ? stream_stored_ends(db, &ends) : DB_ERR_GONE;
		if (st && !warned)
			log_error("stream: the logs could not be listed (%s); retrying",
			          db_status_string(st));
		warned = st != DB_OK;
		for (size_t i = 0; !st && i < ends.n; i++)
			if (stream_logs_follows(s, ends.log[i]))
				(void)stream_logs_add(s, ends.log[i]); /* logged */
		pthread_mutex_lock(&s->lock);
		struct timespec until = clock_deadline(STREAM_LOGS_LOOK_MS);
		while (!s->stop && pthread_cond_timedwait(&s->cond, &s->lock, &until) != ETIMEDOUT)
			;
		bool stop = s->stop;
		pthread_mutex_unlock(&s->lock);
		if (stop)
			return NULL;
	}
}

int stream_logs_start(const struct stream_logs_config *cfg, struct stream_logs **out)
{
	*out = NULL;
	struct stream_logs *s = calloc(1, sizeof *s);
	if (!s) {
		log_error("stream: out of memory");
		return -1;
	}
	s->cfg = *cfg;
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	bool failed = false;
	for (unsigned p = 0; p < cfg->nledgers; p++)
		failed |= stream_logs_add(s, p) != 0;
	if (cfg->records)
		failed |= stream_logs_add(s, cfg->records_log) != 0;
	if (!failed && cfg->own_logs_from) {
		s->looking = !pthread_create(&s->thread, NULL, look_main, s);
		if (!s->looking) {
			log_error("stream: cannot start the thread that looks for logs");
			failed = true;
		}
	}
	if (failed) {
		stream_logs_stop(s);
		return -1;
	}
	*out = s;
	return 0;
}

void stream_logs_stop(struct stream_logs *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (s->looking)
		pthread_join(s->thread, NULL);
	/* The consumers may go on a while: not into the hubs. */
	for (size_t i = 0; i < s->n; i++)
		if (s->logs[i].ledger)
			ledger_listen(s->logs[i].ledger, NULL);
	for (size_t i = 0; i < s->n; i++)
		stream_hub_stop(s->logs[i].hub);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
