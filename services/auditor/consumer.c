/* The consumer: RabbitMQ deliveries into the store, acknowledged only
 * after the transaction holding them committed.
 *
 * A message holds one event or an array of them. Deliveries are gathered
 * into a batch, stored in one transaction, and acknowledged with one
 * multiple-ack. A batch closes at batch_events events, at batch_bytes of
 * memory held, when the oldest waited linger_ms (50), or when nothing more
 * is waiting. Since the broker's prefetch counts messages, not events, the
 * window is sized so one-event messages fill whole batches (twice
 * batch_events by default); what bounds memory is the batch's bytes, not
 * the window: deliveries not yet read stay in the socket and the broker.
 *
 * Memory is counted before a message is parsed, by message_weight(): an
 * upper bound of what jansson takes to hold it (from 1 to about 80 times
 * its size, depending on how many values it has). A message over
 * CONSUMER_MESSAGE_WEIGHT_MAX is not parsed at all but dead-lettered, so a
 * consumer holds at most batch_bytes plus one message.
 *
 * A message that is not a valid event, or one bad element of an array, is
 * copied to the dead-letter queue with the reason in a header. The copies
 * go out on a second connection in confirm mode, and the batch holding the
 * original is acknowledged only once every copy is confirmed: a nack, a
 * return, a timeout or a lost connection drops the connection instead, so
 * the broker delivers the originals again (their events are skipped as
 * already stored; a copy may then be dead-lettered twice, never lost).
 * A body over EVENT_MESSAGE_MAX_BYTES is never held: it is copied to the
 * dead letters frame by frame as it arrives.
 *
 * While MySQL is away the batch is kept and retried. Once it is full,
 * further deliveries are read (so the connection and its heartbeats stay
 * alive) but not held: they stay unacknowledged, at most the prefetch
 * window of them, and are handed back to the queue (basic.nack, requeue)
 * once the batch is stored. A lost AMQP connection drops the batch: the
 * broker redelivers it, and the store skips what it already has. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auditor.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "mq.h"
#include "reorder.h"

#define POLL_MS 200
#define CONFIRM_WAIT_MS 10000 /* for the broker to confirm the dead-letter copies */

struct consumer {
	struct consumer_config cfg;
	unsigned prefetch;
	pthread_t thread;
	bool threaded;
	atomic_bool stop;
	atomic_bool connected; /* mq is open and consuming: read by consumer_connected */
	struct mq *mq;         /* deliveries */
	int connect_backoff_ms;
	/* The partition's share (auditor.h, consumer_config.standby_ms): when
	 * its first delivery since connecting came (0: none: on standby, or
	 * nothing to deliver), and when it may connect. */
	int64_t active_since_ms, connect_at_ms;
	struct db *db;
	int db_backoff_ms;
	int64_t retry_at_ms; /* when to try storing a refused batch again */

	/* The batch: the events of whole messages, acknowledged together. */
	struct event *batch;
	size_t n, cap;
	size_t held;       /* message_weight() of the messages taken, plus the events */
	uint64_t last_tag; /* highest delivery tag taken, 0 when none */
	int64_t batch_started_ms;
	/* Beside each event of the batch (cap of each): its message's delivery
	 * tag, when that was taken, whether it was held back before. */
	uint64_t *ev_tag;
	int64_t *arrived_ms;
	bool *waited, *hold;
	/* The messages taken and not yet acknowledged, tags ascending. */
	uint64_t *tags;
	size_t ntags, tags_cap;
	/* Mutations wait for the version before theirs for a while after the
	 * consumer becomes active (reorder.h); store holds the rest meanwhile. */
	struct reorder *reorder; /* cfg's (shared by the partition's consumers), or own_reorder */
	bool own_reorder;
	struct event *store;

	/* The batch's first nwait events, of nwait_msgs messages, wait for
	 * their target's previous version (keep_held), wait_weight of held:
	 * they have room of their own, so that the versions they wait for can
	 * still be taken. */
	size_t nwait, nwait_msgs, wait_weight;

	/* Dead-letter copies of this batch, on their own connection in confirm
	 * mode (open only while the batch has some). */
	struct mq *dl;
	uint64_t dl_sent;     /* publishes so far: delivery tags 1..dl_sent */
	uint64_t dl_low;      /* every tag below it is confirmed */
	unsigned char *dl_acked; /* by tag; dl_cap entries */
	size_t dl_cap;
	bool dl_failed; /* a copy was nacked or returned */

	/* Metrics (metrics.h), shared by every consumer of the process. */
	bool lost; /* the connection was dropped: the next one is a reconnect */
	struct metrics_counter *messages, *events, *dead_letters, *reconnects, *reorder_held;
	struct metrics_gauge *connections;
	struct metrics_histogram *batch_events;
};

size_t message_weight(const char *s, size_t len)
{
	/* Costs measured with jansson 2.14 and glibc (allocation headers
	 * included), rounded up: a string or key its struct and copy, an
	 * object its struct and initial hash table, an array its struct and
	 * initial slots, every further value (after a comma) its struct and
	 * slot. The bytes themselves count once. */
	enum { W_BASE = 64, W_STRING = 96, W_OBJECT = 224, W_ARRAY = 144, W_VALUE = 48 };
	size_t w = len + W_BASE;
	bool in_string = false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		if (in_string) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_string = false;
			continue;
		}
		switch (ch) {
		case '"':
			in_string = true;
			w += W_STRING;
			break;
		case '{':
			w += W_OBJECT;
			break;
		case '[':
			w += W_ARRAY;
			break;
		case ',':
			w += W_VALUE;
			break;
		default:
			break;
		}
	}
	return w;
}

/* ---- dead letters ---- */

static void close_dead_letters(struct consumer *c)
{
	mq_close(c->dl);
	c->dl = NULL;
	c->dl_sent = 0;
	c->dl_low = 1;
	c->dl_failed = false;
}

static void on_dl_confirm(void *ctx, enum mq_confirm what, uint64_t tag, bool multiple,
                          const char *message_id)
{
	struct consumer *c = ctx;
	if (what != MQ_ACK) {
		/* A nack, or a return (no queue took it; its ack follows). */
		log_error("the broker %s dead-letter copy %s", what == MQ_NACK ? "refused" : "returned",
		          message_id && message_id[0] ? message_id : "");
		c->dl_failed = true;
		return;
	}
	if (tag > c->dl_sent)
		tag = c->dl_sent;
	for (uint64_t t = multiple ? c->dl_low : tag; t <= tag && t >= 1; t++)
		c->dl_acked[t] = 1;
	while (c->dl_low <= c->dl_sent && c->dl_acked[c->dl_low])
		c->dl_low++;
}

static void drop_connection(struct consumer *c);

/* Room for one more copy, and the connection for it. */
static int dead_letter_ready(struct consumer *c)
{
	if (!c->dl) {
		if (mq_open(c->cfg.amqp_url, &c->dl))
			return -1;
		if (mq_confirm_select(c->dl)) {
			close_dead_letters(c);
			return -1;
		}
	}
	if (c->dl_sent + 2 > c->dl_cap) {
		size_t cap = c->dl_cap ? c->dl_cap * 2 : 64;
		unsigned char *a = realloc(c->dl_acked, cap);
		if (!a)
			return -1;
		memset(a + c->dl_cap, 0, cap - c->dl_cap);
		c->dl_acked = a;
		c->dl_cap = cap;
	}
	return 0;
}

/* Copies a message (or the pending body of d) to the dead-letter queue.
 * On failure the connection is dropped, so the original is not acked. */
static void dead_letter(struct consumer *c, const char *id, const void *body, size_t len,
                        const char *routing_key, const struct mq_delivery *pending,
                        const char *why)
{
	log_warn("dead-lettering message %s: %s", id[0] ? id : "without id", why);
	int st = dead_letter_ready(c);
	if (!st)
		st = pending ? mq_dead_letter_forward(c->dl, c->mq, pending, why)
		             : mq_dead_letter(c->dl, id, body, len, routing_key, why);
	if (st) {
		log_warn("cannot publish a dead-letter copy; leaving the original unacknowledged");
		drop_connection(c);
		return;
	}
	c->dl_acked[++c->dl_sent] = 0;
}

/* Services the dead-letter connection. Returns -1 once a copy failed. */
static int poll_dead_letters(struct consumer *c, int timeout_ms)
{
	if (mq_poll_confirms(c->dl, timeout_ms, on_dl_confirm, c))
		c->dl_failed = true;
	return c->dl_failed ? -1 : 0;
}

/* Waits until the broker confirmed every copy. */
static int confirm_dead_letters(struct consumer *c)
{
	int64_t deadline = clock_ms() + CONFIRM_WAIT_MS;
	while (c->dl_low <= c->dl_sent) {
		int64_t left = deadline - clock_ms();
		if (left <= 0) {
			log_error("the broker did not confirm %llu dead-letter copies within %d ms",
			          (unsigned long long)(c->dl_sent - c->dl_low + 1), CONFIRM_WAIT_MS);
			return -1;
		}
		if (poll_dead_letters(c, left > 100 ? 100 : (int)left))
			return -1;
	}
	return c->dl_failed ? -1 : 0;
}

/* ---- the batch ---- */

static void clear_batch(struct consumer *c)
{
	for (size_t i = 0; i < c->n; i++)
		event_clear(&c->batch[i]);
	c->n = 0;
	c->held = 0;
	c->nwait = c->nwait_msgs = c->wait_weight = 0;
	c->last_tag = 0;
	c->ntags = 0;
}

/* Closes the consuming connection, if open; lost: it failed (the next one
 * counts as a reconnect), rather than the consumer stopping. */
static void close_broker(struct consumer *c, bool lost)
{
	atomic_store(&c->connected, false);
	if (c->mq) {
		metrics_gauge_add(c->connections, -1);
		c->lost = lost;
	}
	mq_close(c->mq);
	c->mq = NULL;
}

static void drop_connection(struct consumer *c)
{
	close_broker(c, true);
	close_dead_letters(c);
	clear_batch(c); /* unacknowledged: the broker delivers them again */
	reorder_forget(c->reorder); /* another writer may append before the next connection */
	/* Another auditor's share registers again only after standby_ms, as
	 * at the start, so that when a node holding both auditors' connections
	 * dies the auditor whose share it is becomes its active consumer again
	 * (a tester: after a node kill, one auditor held 3 of 4 partitions for
	 * rebalance_ms, 30 s). */
	c->connect_at_ms = clock_ms() + c->cfg.standby_ms;
}

/* The events waiting for their target's previous version fill room of
 * their own (WAIT_ROOM batches, and half the prefetch window: their
 * messages stay unacknowledged, and the versions they wait for must still
 * be sent): then they are stored without waiting longer. */
#define WAIT_ROOM 4
static bool waiting_full(const struct consumer *c)
{
	return c->nwait >= WAIT_ROOM * (size_t)c->cfg.batch_events ||
	       c->wait_weight >= WAIT_ROOM * c->cfg.batch_bytes || 2 * c->nwait_msgs >= c->prefetch;
}

/* Whether the batch takes no more deliveries. */
static bool batch_full(const struct consumer *c)
{
	return c->n - c->nwait >= c->cfg.batch_events || c->held - c->wait_weight >= c->cfg.batch_bytes ||
	       waiting_full(c);
}

/* The database refused a value in the batch: store the events one by one,
 * and dead-letter those it refuses on their own, so one bad event cannot
 * hold back the rest. Returns a db status for the batch as a whole. */
static int store_one_by_one(struct consumer *c, const struct event *ev, size_t n,
                            size_t *stored)
{
	*stored = 0;
	for (size_t i = 0; i < n; i++) {
		size_t one;
		int st = store_insert_batch(c->db, c->cfg.ledger, &ev[i], 1, &one);
		*stored += one;
		if (st == DB_ERR_DATA) {
			size_t len;
			char *body = event_encode(&ev[i], &len);
			if (!body)
				return DB_ERR;
			dead_letter(c, ev[i].id, body, len, MQ_ROUTING_KEY, NULL,
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

/* Acknowledges the messages taken whose events are all stored: every one
 * when none is held back; else all but the messages of held events, with
 * one multiple ack below the first of those and single acks above it.
 * Both tag lists ascend (events join the batch in delivery order, and
 * keep_held keeps it). Returns -1 when the connection failed. */
static int ack_stored(struct consumer *c, size_t nheld)
{
	if (!c->ntags)
		return 0;
	if (!nheld) {
		c->ntags = 0;
		return mq_ack(c->mq, c->last_tag, true);
	}
	uint64_t first_held = 0;
	for (size_t i = 0; i < c->n && !first_held; i++)
		if (c->hold[i])
			first_held = c->ev_tag[i];
	uint64_t below = 0;
	size_t keep = 0, i = 0;
	for (size_t k = 0; k < c->ntags; k++) {
		uint64_t t = c->tags[k];
		bool held = false;
		for (; i < c->n && c->ev_tag[i] <= t; i++)
			held |= c->ev_tag[i] == t && c->hold[i];
		if (held)
			c->tags[keep++] = t;
		else if (t < first_held)
			below = t;
		else if (mq_ack(c->mq, t, false))
			return -1;
	}
	c->ntags = keep;
	return below ? mq_ack(c->mq, below, true) : 0;
}

/* After a store that held some events back: the batch keeps only those,
 * in order, to be planned again; the rest were stored and are freed. */
static void keep_held(struct consumer *c)
{
	size_t w = 0, n = c->n;
	for (size_t i = 0; i < n; i++) {
		if (!c->hold[i]) {
			event_clear(&c->batch[i]);
			continue;
		}
		if (!c->waited[i])
			metrics_inc(c->reorder_held);
		c->batch[w] = c->batch[i];
		c->ev_tag[w] = c->ev_tag[i];
		c->arrived_ms[w] = c->arrived_ms[i];
		c->waited[w] = true;
		w++;
	}
	c->held = c->held / n * w; /* the messages' weight, shared out */
	c->n = c->nwait = w;
	c->nwait_msgs = c->ntags; /* ack_stored kept the held messages' tags alone */
	c->wait_weight = c->held;
	c->last_tag = c->ntags ? c->tags[c->ntags - 1] : 0;
}

/* Stores the batch (but the mutations reorder.h holds back), waits for its
 * dead-letter copies, then acknowledges what was stored. While the
 * database refuses, keeps the batch for a later attempt. */
static void flush(struct consumer *c)
{
	size_t nheld = 0;
	if (c->n) {
		if (!c->db && db_connect(c->cfg.db, &c->db))
			goto retry_later;
		/* Where several consumers share the queue, the rule always holds. */
		int64_t now = clock_ms(), since = c->cfg.shared_queue ? now : c->active_since_ms;
		int st = 0;
		if (waiting_full(c))
			log_warn("%zu events waited for their target's previous version and fill their "
			         "room: storing them without it",
			         c->nwait);
		else
			st = reorder_plan(c->reorder, c->batch, c->arrived_ms, c->n, since, now,
			                  store_last_versions, c->db, c->hold, &nheld);
		const struct event *ev = c->batch;
		size_t m = c->n, stored = 0;
		if (!st && nheld) {
			m = 0;
			for (size_t i = 0; i < c->n; i++)
				if (!c->hold[i])
					c->store[m++] = c->batch[i];
			ev = c->store;
		}
		if (!st && m) {
			st = store_insert_batch(c->db, c->cfg.ledger, ev, m, &stored);
			if (st == DB_ERR_DATA)
				st = store_one_by_one(c, ev, m, &stored);
		}
		if (!c->mq)
			return; /* the connection died while dead-lettering */
		if (st == STORE_LEASE_LOST) {
			/* The broker gave the partition to another auditor, which
			 * took the log over: it stores these events, redelivered. */
			log_info("another auditor writes log %u now: handing %zu events back",
			         (unsigned)ledger_log(c->cfg.ledger), c->n);
			drop_connection(c);
			return;
		}
		if (st == STORE_LOG_CLOSED) {
			const char *why = ledger_halted(c->cfg.ledger);
			if (why)
				log_warn("log closed (%s): holding %zu events", why, c->n);
			else
				log_debug("the log is still being opened: holding %zu events", c->n);
			goto retry_later;
		}
		if (st) {
			log_warn("cannot store %zu events (%s); holding them", c->n, db_status_string(st));
			if (db_broken(c->db)) {
				db_close(c->db);
				c->db = NULL;
			}
			goto retry_later;
		}
		if (m)
			reorder_stored(c->reorder, c->batch, nheld ? c->hold : NULL, c->n);
		size_t fresh = 0;
		for (size_t i = 0; nheld && i < c->n; i++)
			fresh += c->hold[i] && !c->waited[i];
		if (fresh)
			log_info("stored %zu events; %zu more wait for their target's previous version "
			         "(%zu in all)",
			         stored, fresh, nheld);
		else if (nheld)
			log_debug("stored %zu events; %zu wait for their target's previous version", stored,
			          nheld);
		else if (stored < m)
			log_info("stored %zu events, skipped %zu already stored", stored, m - stored);
		else
			log_debug("stored %zu events", stored);
		if (m)
			metrics_observe(c->batch_events, m);
	}
	if (c->dl) {
		if (confirm_dead_letters(c)) {
			drop_connection(c);
			return;
		}
		metrics_add(c->dead_letters, c->dl_sent);
		close_dead_letters(c);
	}
	if (ack_stored(c, nheld)) {
		drop_connection(c);
		return;
	}
	c->db_backoff_ms = 0;
	if (nheld) {
		/* Plan again when one is due, or sooner: its predecessor may come. */
		int64_t due = reorder_next_release(c->reorder, c->arrived_ms, c->hold, c->n);
		keep_held(c);
		c->retry_at_ms = clock_ms() + 100 < due ? clock_ms() + 100 : due;
		return;
	}
	clear_batch(c);
	c->retry_at_ms = 0;
	return;
retry_later:
	c->db_backoff_ms = c->db_backoff_ms ? c->db_backoff_ms * 2 : 100;
	if (c->db_backoff_ms > 5000)
		c->db_backoff_ms = 5000;
	c->retry_at_ms = clock_ms() + c->db_backoff_ms;
}

struct take_ctx {
	struct consumer *c;
	const struct mq_delivery *d;
	bool array; /* the message is an array of events */
	int64_t now_ms;
};

/* Doubles the batch and the arrays beside it. Returns -1 when out of
 * memory (what was held is kept). */
static int grow_batch(struct consumer *c)
{
	size_t cap = c->cap ? c->cap * 2 : 1024;
	bool ok = true;
#define GROW(p)                                                                                   \
	do {                                                                                      \
		void *grown = realloc((p), cap * sizeof *(p));                                    \
		if (grown)                                                                        \
			(p) = grown;                                                              \
		else                                                                              \
			ok = false;                                                               \
	} while (0)
	GROW(c->batch);
	GROW(c->store);
	GROW(c->ev_tag);
	GROW(c->arrived_ms);
	GROW(c->waited);
	GROW(c->hold);
#undef GROW
	if (!ok)
		return -1;
	c->cap = cap;
	return 0;
}

static int take_event(void *arg, size_t index, struct event *ev, json_t *element,
                      const char *why)
{
	struct take_ctx *t = arg;
	struct consumer *c = t->c;
	if (!ev && !t->array) {
		/* A message of one event goes to the dead letters as it came. */
		dead_letter(c, t->d->message_id, t->d->body, t->d->len, t->d->routing_key, NULL, why);
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
			dead_letter(c, id, body, strlen(body), t->d->routing_key, NULL, reason);
		free(body);
		return c->mq ? 0 : 1;
	}
	if (c->n == c->cap && grow_batch(c)) {
		event_clear(ev);
		log_error("out of memory holding a batch; reconnecting");
		drop_connection(c);
		return 1;
	}
	c->ev_tag[c->n] = t->d->tag;
	c->arrived_ms[c->n] = t->now_ms;
	c->waited[c->n] = false;
	c->batch[c->n++] = *ev;
	c->held += sizeof *ev;
	metrics_inc(c->events);
	return 0;
}

static void take(struct consumer *c, const struct mq_delivery *d)
{
	char why[256];
	metrics_inc(c->messages);
	if (c->last_tag == 0)
		c->batch_started_ms = clock_ms();
	size_t weight = 0;
	if (d->pending) {
		snprintf(why, sizeof why, "message is %zu bytes; the limit is %u", d->len,
		         EVENT_MESSAGE_MAX_BYTES);
		dead_letter(c, d->message_id, NULL, d->len, d->routing_key, d, why);
	} else if ((weight = message_weight(d->body, d->len)) > CONSUMER_MESSAGE_WEIGHT_MAX) {
		snprintf(why, sizeof why,
		         "message would take about %zu bytes to parse (too many JSON values); the "
		         "limit is %u",
		         weight, CONSUMER_MESSAGE_WEIGHT_MAX);
		dead_letter(c, d->message_id, d->body, d->len, d->routing_key, NULL, why);
		weight = 0;
	} else {
		size_t skip = 0;
		while (skip < d->len && strchr(" \t\r\n", d->body[skip]))
			skip++;
		struct take_ctx t = {c, d, skip < d->len && d->body[skip] == '[', clock_ms()};
		if (event_decode_message(d->body, d->len, take_event, &t, why, sizeof why))
			dead_letter(c, d->message_id, d->body, d->len, d->routing_key, NULL, why);
	}
	if (c->mq && c->ntags == c->tags_cap) {
		size_t cap = c->tags_cap ? c->tags_cap * 2 : 256;
		uint64_t *tags = realloc(c->tags, cap * sizeof *tags);
		if (!tags) {
			log_error("out of memory holding a batch; reconnecting");
			drop_connection(c);
			return;
		}
		c->tags = tags;
		c->tags_cap = cap;
	}
	if (c->mq) {
		c->held += weight;
		c->last_tag = d->tag;
		c->tags[c->ntags++] = d->tag;
	}
}

static bool connect_broker(struct consumer *c)
{
	if (mq_open(c->cfg.amqp_url, &c->mq))
		return false;
	char queue[MQ_NAME_MAX];
	mq_queue_name(c->cfg.partition, queue);
	if (mq_declare_topology(c->mq, &c->cfg.topology) || mq_consume(c->mq, queue, c->prefetch)) {
		mq_close(c->mq);
		c->mq = NULL;
		return false;
	}
	metrics_gauge_add(c->connections, 1);
	if (c->lost)
		metrics_inc(c->reconnects);
	c->lost = false;
	c->active_since_ms = 0;
	log_info("consuming %s%s (prefetch %u messages; batches of up to %u events or %zu bytes)",
	         queue, c->cfg.topology.quorum ? " as its single active consumer, or on standby" : "",
	         c->prefetch, c->cfg.batch_events, c->cfg.batch_bytes);
	atomic_store(&c->connected, true);
	return true;
}

/* A partition this auditor is not the first choice for goes back to the
 * broker once it held it rebalance_ms: the auditor whose share it is
 * (registered meanwhile, after a restart) becomes its active consumer;
 * when none is, this one gets it back at once. Between batches, and
 * without returning a delivery: the consumer is cancelled first, and what
 * the broker had sent is stored and acknowledged here, so the next
 * consumer's first delivery follows the last one stored here (a returned
 * delivery could come to it after newer ones, out of its target's order). */
static bool give_back(struct consumer *c)
{
	if (!c->mq || !c->cfg.standby_ms || !c->cfg.rebalance_ms || !c->active_since_ms ||
	    c->last_tag || clock_ms() - c->active_since_ms < c->cfg.rebalance_ms)
		return false;
	log_info("partition %u is another auditor's share: handing it back to the broker (held "
	         "%lld ms)",
	         c->cfg.partition, (long long)(clock_ms() - c->active_since_ms));
	c->active_since_ms = 0;
	if (mq_cancel(c->mq)) {
		drop_connection(c);
		return true;
	}
	for (;;) {
		struct mq_delivery d;
		int r = mq_next(c->mq, 100, EVENT_MESSAGE_MAX_BYTES, &d);
		if (r < 0) {
			drop_connection(c);
			return true;
		}
		if (r == 0)
			break;
		if (batch_full(c)) {
			flush(c);
			if (!c->mq || c->last_tag) { /* the database refused: what is held goes back */
				if (c->mq)
					drop_connection(c);
				return true;
			}
		}
		take(c, &d);
		if (!c->mq)
			return true;
	}
	if (c->last_tag)
		flush(c);
	if (c->mq)
		drop_connection(c); /* nothing unacknowledged is left, or the database refused */
	c->connect_at_ms = clock_ms() + 200; /* the auditor it belongs to registers first */
	return true;
}

void consumer_step(struct consumer *c)
{
	if (!c->mq && clock_ms() < c->connect_at_ms) {
		usleep(20 * 1000);
		return;
	}
	if (give_back(c))
		return;
	if (!c->mq) {
		if (!connect_broker(c)) {
			c->connect_backoff_ms =
			    c->connect_backoff_ms ? c->connect_backoff_ms * 2 : c->cfg.reconnect_ms;
			if (c->connect_backoff_ms > MQ_RECONNECT_MAX_MS)
				c->connect_backoff_ms = MQ_RECONNECT_MAX_MS;
			usleep((useconds_t)c->connect_backoff_ms * 1000);
			return;
		}
		c->connect_backoff_ms = 0;
	}
	if (c->dl && poll_dead_letters(c, 0)) {
		drop_connection(c);
		return;
	}
	bool pending = c->last_tag != 0;
	bool waiting_db = pending && c->retry_at_ms > clock_ms();
	if (pending && !waiting_db &&
	    (batch_full(c) || clock_ms() - c->batch_started_ms >= c->cfg.linger_ms)) {
		flush(c);
		return;
	}
	if (pending && batch_full(c)) {
		/* Full, and waiting for the database (or for a held event's
		 * time): read nothing more until it is stored. The broker keeps
		 * at most the prefetch window sent; what it sent waits in the
		 * socket, in the queue's order. (Reading on and handing back
		 * what did not fit let newer messages overtake the returned
		 * ones: changes were stored before their creations.) A long
		 * wait misses heartbeats: the broker closes the connection and
		 * returns every unacknowledged delivery, in its order. */
		int64_t wait = c->retry_at_ms - clock_ms();
		usleep((useconds_t)(wait > 50 ? 50 : wait > 1 ? wait : 1) * 1000);
		return;
	}
	int timeout = pending ? (waiting_db ? 50 : 5) : POLL_MS;
	struct mq_delivery d;
	int r = mq_next(c->mq, timeout, EVENT_MESSAGE_MAX_BYTES, &d);
	if (r < 0) {
		drop_connection(c);
		return;
	}
	if (r == 0) {
		if (pending && !waiting_db)
			flush(c);
		return;
	}
	if (!c->active_since_ms)
		c->active_since_ms = clock_ms();
	take(c, &d);
}

/* Stores and acknowledges what the batch holds, then lets go of
 * everything. */
static void finish(struct consumer *c)
{
	if (c->mq && c->last_tag)
		flush(c);
	clear_batch(c);
	close_dead_letters(c);
	close_broker(c, false);
	db_close(c->db);
	c->db = NULL;
}

static void *run(void *arg)
{
	struct consumer *c = arg;
	while (!atomic_load(&c->stop))
		consumer_step(c);
	finish(c);
	return NULL;
}

int consumer_new(const struct consumer_config *cfg, struct consumer **out)
{
	struct consumer *c = calloc(1, sizeof *c);
	if (!c)
		return -1;
	c->cfg = *cfg;
	if (!c->cfg.linger_ms)
		c->cfg.linger_ms = 50; /* the oldest event waits at most this long for company */
	if (!c->cfg.reconnect_ms)
		c->cfg.reconnect_ms = 100;
	c->connect_at_ms = clock_ms() + c->cfg.standby_ms;
	/* The window holds two batches of one-event messages, so the next
	 * batch is on its way while this one commits. */
	unsigned long prefetch = cfg->prefetch ? cfg->prefetch : 2ul * cfg->batch_events;
	c->prefetch = prefetch > 65535 ? 65535 : (unsigned)prefetch;
	c->dl_low = 1;
	c->reorder = cfg->reorder;
	if (!c->reorder) {
		c->own_reorder = true;
		c->reorder = reorder_new(cfg->reorder_ms);
		if (!c->reorder) {
			free(c);
			return -1;
		}
	}
	c->reorder_held = metrics_counter(
	    "auditlog_reorder_held_events_total",
	    "Mutations held back after a consumer became a partition's active one, because the "
	    "version before theirs was not stored yet (reorder.h); each counted once.",
	    NULL);
	c->messages = metrics_counter("auditlog_consumed_messages_total",
	                              "Messages read from the audit queue and taken into a batch "
	                              "(redeliveries counted again).",
	                              NULL);
	c->events = metrics_counter("auditlog_consumed_events_total",
	                            "Valid data events read from the audit queue into a batch "
	                            "(redeliveries counted again).",
	                            NULL);
	c->dead_letters = metrics_counter(
	    "auditlog_dead_letters_total",
	    "Copies the broker confirmed in the dead-letter queue: messages or array elements "
	    "that are not valid events, and events the database refused.",
	    NULL);
	c->batch_events = metrics_histogram(
	    "auditlog_consumer_batch_events",
	    "Data events per batch acknowledged (one transaction, one acknowledgement).",
	    metrics_batch_buckets, metrics_batch_nbuckets, 1, NULL);
	c->reconnects = metrics_counter(MQ_RECONNECTS_METRIC, NULL);
	c->connections = metrics_gauge(MQ_CONNECTIONS_METRIC, NULL);
	*out = c;
	return 0;
}

void consumer_free(struct consumer *c)
{
	if (!c)
		return;
	finish(c);
	free(c->batch);
	free(c->store);
	free(c->ev_tag);
	free(c->arrived_ms);
	free(c->waited);
	free(c->hold);
	free(c->tags);
	if (c->own_reorder)
		reorder_free(c->reorder);
	free(c->dl_acked);
	free(c);
}

int consumer_start(const struct consumer_config *cfg, struct consumer **out)
{
	struct consumer *c;
	if (consumer_new(cfg, &c))
		return -1;
	if (pthread_create(&c->thread, NULL, run, c)) {
		free(c);
		return -1;
	}
	c->threaded = true;
	*out = c;
	return 0;
}

bool consumer_connected(struct consumer *c)
{
	return atomic_load(&c->connected);
}

void consumer_stop(struct consumer *c)
{
	if (!c)
		return;
	atomic_store(&c->stop, true);
	if (c->threaded)
		pthread_join(c->thread, NULL);
	consumer_free(c);
}
