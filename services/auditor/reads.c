/* reads: the queue of read records and the thread that stores them (see
 * reads.h).
 *
 * The queue is a ring of cfg.queue_max events. The recorder stores from
 * its head without taking the events out: they leave the ring only once
 * the store took them, so what waits for a database that is away counts
 * against the queue's size, and a handler is refused as soon as that much
 * is unstored. Handlers only copy an event into the ring's tail under the
 * lock; the recorder copies a batch out under it, and stores unlocked. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditor.h"
#include "clock.h"
#include "log.h"
#include "reads.h"
#include "utf8.h"

#define LINGER_MS_DEFAULT 50
#define STOP_MS_DEFAULT 5000
/* The wait after a failed store, doubled up to the most. */
#define BACKOFF_MS_FIRST 50
#define BACKOFF_MS_MOST 2000

struct reads {
	struct reads_config cfg;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake; /* the recorder waits on it (CLOCK_MONOTONIC) */
	/* Under lock: */
	struct event *ring; /* cfg.queue_max slots */
	size_t head, count; /* the oldest, and how many (the batch being stored included) */
	int64_t since_ms;   /* when the oldest not yet taken into a batch was queued */
	bool stopping;
	bool refusing; /* the last read was refused (a refusal is logged once) */
	struct reads_stats stats;
	/* The recorder's own: */
	struct db *db;
	struct event batch[READS_BATCH_MAX];
};

int reads_enqueue(struct reads *r, struct event *ev)
{
	pthread_mutex_lock(&r->lock);
	if (r->count == r->cfg.queue_max) {
		r->stats.refused++;
		bool first = !r->refusing;
		r->refusing = true;
		pthread_mutex_unlock(&r->lock);
		if (first)
			log_error("reads: %zu read records wait to be stored: reads are refused (503) "
			          "until the database takes them",
			          r->cfg.queue_max);
		return -1;
	}
	if (!r->count)
		r->since_ms = clock_ms();
	r->ring[(r->head + r->count) % r->cfg.queue_max] = *ev;
	ev->changes = NULL; /* the ring's now */
	r->count++;
	r->stats.queued++;
	if (r->refusing) {
		r->refusing = false;
		log_info("reads: reads are recorded again");
	}
	/* The recorder waits for the first read of a batch, and for a full one. */
	if (r->count == 1 || r->count == READS_BATCH_MAX)
		pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

/* Stores the n events of r->batch, reconnecting first when needed. After
 * the database refused a value of the batch, the events go one at a time,
 * and one it refuses is dropped (logged): one bad record must not stop
 * the others, which would then refuse every read. Returns a db status;
 * *stored counts the records the store took, *gone those dropped. */
static int store(struct reads *r, size_t n, uint64_t *stored, uint64_t *gone)
{
	size_t k = 0;
	*stored = *gone = 0;
	if (!r->db || db_broken(r->db)) {
		db_close(r->db);
		r->db = NULL;
		int st = db_connect(r->cfg.db, &r->db);
		if (st)
			return st;
	}
	int st = store_insert_batch(r->db, r->cfg.ledger, r->batch, n, &k);
	if (st == STORE_LEASE_LOST) /* the next attempt takes the log back */
		st = store_insert_batch(r->db, r->cfg.ledger, r->batch, n, &k);
	*stored = st ? 0 : k;
	for (size_t i = 0; st == DB_ERR_DATA && i < n; i++) {
		const struct event *e = &r->batch[i];
		int one = store_insert_batch(r->db, r->cfg.ledger, e, 1, &k);
		if (one == DB_ERR_DATA) {
			log_error("reads: the database refused the record %s of a read (%s) by %s:%s; "
			          "it is dropped",
			          e->id, e->event_name, e->actor_type, e->actor_id);
			++*gone;
		} else if (one) {
			return one; /* the whole batch again: the store skips what it took */
		} else {
			*stored += k;
		}
		if (i == n - 1)
			st = DB_OK;
	}
	return st;
}

static void *recorder(void *arg)
{
	struct reads *r = arg;
	int64_t backoff = 0, give_up_at = 0;
	int last_st = DB_OK;
	pthread_mutex_lock(&r->lock);
	for (;;) {
		while (!r->count && !r->stopping)
			pthread_cond_wait(&r->wake, &r->lock);
		if (!r->count)
			break;
		/* A batch closes at READS_BATCH_MAX, linger_ms after its first
		 * read, or at once when stopping. */
		while (!r->stopping && r->count < READS_BATCH_MAX &&
		       clock_ms() < r->since_ms + r->cfg.linger_ms) {
			struct timespec at = clock_deadline(r->since_ms + r->cfg.linger_ms - clock_ms());
			pthread_cond_timedwait(&r->wake, &r->lock, &at);
		}
		size_t n = r->count < READS_BATCH_MAX ? r->count : READS_BATCH_MAX;
		for (size_t i = 0; i < n; i++)
			r->batch[i] = r->ring[(r->head + i) % r->cfg.queue_max];
		bool stopping = r->stopping;
		pthread_mutex_unlock(&r->lock);

		uint64_t stored = 0, gone = 0;
		int st = store(r, n, &stored, &gone);
		if (st && st != last_st)
			log_error("reads: %zu read records could not be stored (%s); trying again", n,
			          st == STORE_LOG_CLOSED ? "the log takes no events now"
			                                 : db_status_string(st));
		else if (!st && last_st)
			log_info("reads: read records are stored again");
		last_st = st;
		if (!st)
			for (size_t i = 0; i < n; i++)
				event_clear(&r->batch[i]);

		pthread_mutex_lock(&r->lock);
		if (!st) {
			r->head = (r->head + n) % r->cfg.queue_max;
			r->count -= n;
			r->since_ms = clock_ms(); /* the rest waited through the store already */
			r->stats.stored += stored;
			r->stats.dropped += gone;
			backoff = 0;
			continue;
		}
		if (stopping && !give_up_at)
			give_up_at = clock_ms() + r->cfg.stop_ms;
		if (give_up_at && clock_ms() >= give_up_at) {
			log_error("reads: stopping: %zu read records were never stored (%s)", r->count,
			          db_status_string(st));
			for (size_t i = 0; i < r->count; i++)
				event_clear(&r->ring[(r->head + i) % r->cfg.queue_max]);
			r->stats.dropped += r->count;
			r->count = 0;
			break;
		}
		backoff = backoff ? backoff * 2 : BACKOFF_MS_FIRST;
		if (backoff > BACKOFF_MS_MOST)
			backoff = BACKOFF_MS_MOST;
		int64_t wait = backoff;
		if (give_up_at && give_up_at - clock_ms() < wait)
			wait = give_up_at - clock_ms();
		/* A stop wakes it early; it then tries until give_up_at. */
		struct timespec at = clock_deadline(wait > 0 ? wait : 0);
		if (!(r->stopping && !stopping))
			pthread_cond_timedwait(&r->wake, &r->lock, &at);
	}
	pthread_mutex_unlock(&r->lock);
	db_close(r->db);
	r->db = NULL;
	return NULL;
}

int reads_start(const struct reads_config *cfg, struct reads **out)
{
	*out = NULL;
	struct reads *r = calloc(1, sizeof *r);
	pthread_condattr_t ca;
	bool lock = false, cond = false;
	if (!r || cfg->queue_max < 1)
		goto fail;
	r->cfg = *cfg;
	if (r->cfg.linger_ms <= 0)
		r->cfg.linger_ms = LINGER_MS_DEFAULT;
	if (r->cfg.stop_ms <= 0)
		r->cfg.stop_ms = STOP_MS_DEFAULT;
	/* Slots are touched only as reads fill them. */
	if (!(r->ring = calloc(r->cfg.queue_max, sizeof *r->ring)))
		goto fail;
	if (pthread_mutex_init(&r->lock, NULL))
		goto fail;
	lock = true;
	if (pthread_condattr_init(&ca))
		goto fail;
	int bad = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) || pthread_cond_init(&r->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (bad)
		goto fail;
	cond = true;
	if (pthread_create(&r->thread, NULL, recorder, r))
		goto fail;
	*out = r;
	return 0;
fail:
	log_error("reads: cannot start the recorder (out of memory or threads)");
	if (r) {
		if (cond)
			pthread_cond_destroy(&r->wake);
		if (lock)
			pthread_mutex_destroy(&r->lock);
		free(r->ring);
	}
	free(r);
	return -1;
}

void reads_stop(struct reads *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stopping = true;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	log_info("reads: %llu reads recorded, %llu stored, %llu refused (queue full), %llu dropped",
	         (unsigned long long)r->stats.queued, (unsigned long long)r->stats.stored,
	         (unsigned long long)r->stats.refused, (unsigned long long)r->stats.dropped);
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->lock);
	free(r->ring);
	free(r);
}

void reads_stats(struct reads *r, struct reads_stats *out)
{
	pthread_mutex_lock(&r->lock);
	*out = r->stats;
	pthread_mutex_unlock(&r->lock);
}

/* ---- building a read's event ---- */

/* s as a JSON string, each ill-formed UTF-8 byte as U+FFFD. */
static json_t *text(const char *s)
{
	size_t n = strlen(s), i = 0;
	json_t *j = json_stringn(s, n);
	if (j)
		return j;
	char *buf = malloc(3 * n + 1), *o = buf;
	if (!buf)
		return NULL;
	while (i < n) {
		uint32_t cp;
		size_t k = utf8_next((const unsigned char *)s + i, n - i, &cp);
		if (k) {
			memcpy(o, s + i, k);
			o += k;
			i += k;
		} else {
			memcpy(o, "\xEF\xBF\xBD", 3);
			o += 3;
			i += k ? k : 1;
		}
	}
	j = json_stringn(buf, (size_t)(o - buf));
	free(buf);
	return j;
}

/* Sets READS_FIELD_PREFIX name to {"prev": null, "next": value} in changes. */
static int put(json_t *changes, const char *name, const char *value)
{
	char key[EVENT_FIELD_MAX + 1];
	if ((size_t)snprintf(key, sizeof key, "%s%s", READS_FIELD_PREFIX, name) >= sizeof key ||
	    !event_field_valid(key, strlen(key)))
		return -1;
	json_t *v = text(value);
	return v ? json_object_set_new(changes, key, json_pack("{s:n, s:o}", "prev", "next", v))
	         : -1;
}

/* A query parameter's name in a read's changes: what is inside its
 * brackets (filter[actor], page[size]), or the name itself. */
static const char *param_name(const char *key, char *buf, size_t cap)
{
	const char *open = strchr(key, '[');
	size_t len = strlen(key);
	if (!open || len < 3 || key[len - 1] != ']' || (size_t)(len - 2 - (size_t)(open - key)) >= cap)
		return key;
	size_t n = len - 2 - (size_t)(open - key);
	memcpy(buf, open + 1, n);
	buf[n] = '\0';
	return buf;
}

int reads_record(struct http_request *req, const char *kind, const char *target_type,
                 const char *target_id, const char *const *names_and_values)
{
	struct auditor *a = http_app(req);
	const struct query *q = http_query(req);
	struct event ev;
	char log_id[16];
	int rc = -1;
	json_t *changes = json_object();
	bool bad = !changes;
	for (size_t i = 0; !bad && i < q->n; i++) {
		char name[EVENT_FIELD_MAX + 1];
		bad = put(changes, param_name(q->key[i], name, sizeof name), q->value[i]) != 0;
	}
	for (const char *const *p = names_and_values; !bad && p && p[0]; p += 2)
		if (p[1])
			bad = put(changes, p[0], p[1]) != 0;
	if (bad) {
		json_decref(changes);
		log_error("reads: a read's record could not be made (%s)", kind);
		http_reply_error(req, 503, "Service unavailable",
		                 "This read could not be recorded, so it is not answered.");
		return -1;
	}
	if (!json_object_size(changes)) {
		json_decref(changes);
		changes = NULL;
	}
	if (!target_type) {
		snprintf(log_id, sizeof log_id, "%u", (unsigned)ledger_log(a->ledger));
		target_type = "logs";
		target_id = log_id;
	}
	event_init(&ev, EVENT_VIEWED, "users", http_claims(req)->user_id_str, target_type,
	           target_id, changes);
	snprintf(ev.event_name, sizeof ev.event_name, "%s", kind);
	/* The read's own trace: through the API's /logs, the client's. */
	const char *trace = http_trace_id(req);
	if (trace_id_valid(trace, strlen(trace)))
		memcpy(ev.trace_id, trace, TRACE_ID_HEX_LEN + 1);
	if (reads_enqueue(a->reads, &ev)) {
		http_reply_error(req, 503, "Service unavailable",
		                 "Every read of the audit log is recorded, and too many records wait "
		                 "for the database now: this read is refused. Try again later.");
		goto out;
	}
	rc = 0;
out:
	event_clear(&ev);
	return rc;
}

int reads_record_log(struct http_request *req, const char *kind, uint32_t log,
                     const char *const *names_and_values)
{
	char id[16];
	snprintf(id, sizeof id, "%u", (unsigned)log);
	return reads_record(req, kind, "logs", id, names_and_values);
}
