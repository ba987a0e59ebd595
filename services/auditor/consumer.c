/* The consumer: RabbitMQ deliveries into the store, acknowledged only
 * after the transaction holding them committed.
 *
 * A message holds one event or an array of them. Deliveries are gathered
 * into a batch (up to batch_max events, or whatever came within a few
 * milliseconds), stored in one transaction, and acknowledged with one
 * multiple-ack. A message that is not a valid event, or one bad element of
 * an array, is copied to the dead-letter queue with the reason in a header
 * and acknowledged with its batch, so it neither blocks the events behind
 * it nor comes back.
 * While MySQL is away the batch is kept and retried; the broker sends
 * nothing beyond the prefetch window meanwhile. A lost AMQP connection
 * drops the batch: the broker redelivers it, and the store skips what it
 * already has. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auditor.h"
#include "log.h"
#include "mq.h"

#define BATCH_LINGER_MS 50 /* oldest event waits at most this long for company */
#define POLL_MS 200

struct consumer {
	struct consumer_config cfg;
	pthread_t thread;
	atomic_bool stop;
	struct mq *mq;
	struct db *db;
	struct event *batch; /* grows to what the prefetch window can hold */
	size_t n, cap;
	uint64_t last_tag; /* highest delivery tag handled, 0 when none */
	int64_t batch_started_ms;
	int64_t retry_at_ms;
	int db_backoff_ms;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void clear_batch(struct consumer *c)
{
	for (size_t i = 0; i < c->n; i++)
		event_clear(&c->batch[i]);
	c->n = 0;
	c->last_tag = 0;
}

static void drop_connection(struct consumer *c)
{
	mq_close(c->mq);
	c->mq = NULL;
	clear_batch(c); /* unacknowledged: the broker delivers them again */
}

/* Copies a message to the dead-letter queue with the reason attached. */
static void dead_letter(struct consumer *c, const char *id, const void *body, size_t len,
                        amqp_bytes_t routing_key, const char *why)
{
	log_warn("dead-lettering message %s: %s", id[0] ? id : "without id", why);
	amqp_table_entry_t entries[] = {
	    {.key = amqp_cstring_bytes("x-auditlog-reason"),
	     .value = {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes(why)}},
	    {.key = amqp_cstring_bytes("x-original-routing-key"),
	     .value = {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = routing_key}},
	};
	amqp_table_t headers = {.num_entries = 2, .entries = entries};
	if (mq_publish(c->mq, "", MQ_DEAD_QUEUE, id, body, len, &headers))
		drop_connection(c);
}

static void dead_letter_delivery(struct consumer *c, const amqp_envelope_t *env,
                                 const char *why)
{
	char id[128] = "";
	const amqp_basic_properties_t *props = &env->message.properties;
	if (props->_flags & AMQP_BASIC_MESSAGE_ID_FLAG)
		snprintf(id, sizeof id, "%.*s", (int)props->message_id.len,
		         (const char *)props->message_id.bytes);
	dead_letter(c, id, env->message.body.bytes, env->message.body.len, env->routing_key, why);
}

/* The database refused a value in the batch: store the events one by one,
 * and dead-letter those it refuses on their own, so one bad event cannot
 * hold back the rest. Returns a db status for the batch as a whole. */
static int store_one_by_one(struct consumer *c, size_t *stored)
{
	*stored = 0;
	for (size_t i = 0; i < c->n; i++) {
		size_t one;
		int st = store_insert_batch(c->db, &c->batch[i], 1, &one);
		*stored += one;
		if (st == DB_ERR_DATA) {
			size_t len;
			char *body = event_encode(&c->batch[i], &len);
			if (!body)
				return DB_ERR;
			dead_letter(c, c->batch[i].id, body, len, amqp_cstring_bytes(MQ_ROUTING_KEY),
			            "refused by the database (a value out of range or too long)");
			free(body);
			if (!c->mq)
				return DB_ERR_GONE;
		} else if (st) {
			return st;
		}
	}
	return DB_OK;
}

/* Stores and acknowledges what the batch holds. Returns false while the
 * database refuses, keeping the batch for a later attempt. */
static bool flush(struct consumer *c)
{
	if (!c->last_tag)
		return true;
	if (c->n) {
		if (!c->db && db_connect(c->cfg.db, &c->db))
			goto retry_later;
		size_t stored = 0;
		int st = store_insert_batch(c->db, c->batch, c->n, &stored);
		if (st == DB_ERR_DATA)
			st = store_one_by_one(c, &stored);
		if (!c->mq)
			return true; /* the connection died while dead-lettering */
		if (st) {
			log_warn("cannot store %zu events (%s); holding them", c->n, db_status_string(st));
			if (db_broken(c->db)) {
				db_close(c->db);
				c->db = NULL;
			}
			goto retry_later;
		}
		if (stored < c->n)
			log_info("stored %zu events, skipped %zu already stored", stored, c->n - stored);
		else
			log_debug("stored %zu events", stored);
	}
	if (mq_ack(c->mq, c->last_tag, true)) {
		drop_connection(c);
		return true;
	}
	clear_batch(c);
	c->db_backoff_ms = 0;
	return true;
retry_later:
	c->db_backoff_ms = c->db_backoff_ms ? c->db_backoff_ms * 2 : 100;
	if (c->db_backoff_ms > 5000)
		c->db_backoff_ms = 5000;
	c->retry_at_ms = now_ms() + c->db_backoff_ms;
	return false;
}

struct take_ctx {
	struct consumer *c;
	const amqp_envelope_t *env;
	bool array; /* the message is an array of events */
};

static int take_event(void *arg, size_t index, struct event *ev, json_t *element,
                      const char *why)
{
	struct take_ctx *t = arg;
	struct consumer *c = t->c;
	if (!ev && !t->array) {
		/* A message of one event goes to the dead letters as it came. */
		dead_letter_delivery(c, t->env, why);
		return c->mq ? 0 : 1;
	}
	if (!ev) {
		/* One bad element of an array goes alone; the rest is stored. */
		char reason[300], id[UUID_STR_LEN + 1] = "";
		snprintf(reason, sizeof reason, "element %zu: %s", index, why);
		const char *eid = json_string_value(json_object_get(element, "id"));
		if (eid)
			snprintf(id, sizeof id, "%s", eid);
		char *body = json_dumps(element, JSON_COMPACT | JSON_ENCODE_ANY);
		if (body)
			dead_letter(c, id, body, strlen(body), t->env->routing_key, reason);
		free(body);
		return c->mq ? 0 : 1;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 1024;
		struct event *b = realloc(c->batch, cap * sizeof *b);
		if (!b) {
			event_clear(ev);
			log_error("out of memory holding a batch; reconnecting");
			drop_connection(c);
			return 1;
		}
		c->batch = b;
		c->cap = cap;
	}
	c->batch[c->n++] = *ev;
	return 0;
}

static void take(struct consumer *c, amqp_envelope_t *env)
{
	char why[256];
	if (c->n == 0 && c->last_tag == 0)
		c->batch_started_ms = now_ms();
	const char *body = env->message.body.bytes;
	size_t skip = 0;
	while (skip < env->message.body.len && strchr(" \t\r\n", body[skip]))
		skip++;
	struct take_ctx t = {c, env, skip < env->message.body.len && body[skip] == '['};
	if (event_decode_message(env->message.body.bytes, env->message.body.len, take_event, &t,
	                         why, sizeof why))
		dead_letter_delivery(c, env, why);
	if (c->mq)
		c->last_tag = env->delivery_tag;
}

static bool connect_broker(struct consumer *c)
{
	if (mq_open(c->cfg.amqp_url, &c->mq))
		return false;
	if (mq_declare_topology(c->mq) || mq_consume(c->mq, MQ_QUEUE, c->cfg.prefetch)) {
		mq_close(c->mq);
		c->mq = NULL;
		return false;
	}
	log_info("consuming %s (prefetch %u, batches of up to %u)", MQ_QUEUE, c->cfg.prefetch,
	         c->cfg.batch_max);
	return true;
}

static void *run(void *arg)
{
	struct consumer *c = arg;
	int backoff = 100;
	while (!atomic_load(&c->stop)) {
		if (!c->mq) {
			if (!connect_broker(c)) {
				usleep((useconds_t)backoff * 1000);
				backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
				continue;
			}
			backoff = 100;
		}
		bool pending = c->last_tag != 0;
		bool waiting_db = pending && c->retry_at_ms > now_ms();
		bool full = c->n >= c->cfg.batch_max;
		if (pending && !waiting_db &&
		    (full || now_ms() - c->batch_started_ms >= BATCH_LINGER_MS)) {
			flush(c);
			continue;
		}
		/* The batch array grows to hold the whole prefetch window, so while
		 * the database is away nothing the broker sends is turned away. */
		int timeout = pending ? (waiting_db ? 50 : 5) : POLL_MS;
		amqp_envelope_t env;
		int r = mq_next(c->mq, timeout, &env);
		if (r < 0) {
			drop_connection(c);
			continue;
		}
		if (r == 0) {
			if (pending && !waiting_db)
				flush(c);
			continue;
		}
		take(c, &env);
		amqp_destroy_envelope(&env);
	}
	if (c->mq && c->last_tag)
		flush(c);
	clear_batch(c);
	mq_close(c->mq);
	c->mq = NULL;
	db_close(c->db);
	c->db = NULL;
	return NULL;
}

int consumer_start(const struct consumer_config *cfg, struct consumer **out)
{
	struct consumer *c = calloc(1, sizeof *c);
	if (!c)
		return -1;
	c->cfg = *cfg;
	if (pthread_create(&c->thread, NULL, run, c)) {
		free(c);
		return -1;
	}
	*out = c;
	return 0;
}

void consumer_stop(struct consumer *c)
{
	if (!c)
		return;
	atomic_store(&c->stop, true);
	pthread_join(c->thread, NULL);
	free(c->batch);
	free(c);
}
