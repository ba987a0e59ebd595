/* The consumer's batching, acknowledgement and dead-letter logic, linked
 * against a small fake broker (mq_*) and a fake store (db_*,
 * store_insert_batch) below, and driven one consumer_step at a time.
 *
 * The fake broker keeps the rules the consumer relies on: it sends at most
 * prefetch unacknowledged deliveries, and sends as soon as the window has
 * room (into the socket, read later by mq_next), an ack covers
 * every earlier unacknowledged tag when multiple, a message handed back
 * goes back to its place in the queue (a classic queue's rule), a closed
 * connection gives its unacknowledged deliveries back to the queue
 * (redelivered), and a dead-letter copy is safe only once confirmed. */
#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auditor.h"
#include "clock.h"
#include "log.h"
#include "mq.h"
#include "testhelp.h"

/* ------------------------------------------------------------------ */
/* the fake broker                                                     */
/* ------------------------------------------------------------------ */

#define MAX_MSGS 12000
#define MAX_TAGS 40000

struct msg {
	char *body;
	size_t len;
	char id[MQ_ID_MAX];
	bool redelivered;
	int times_delivered;
	bool done; /* acknowledged */
};

struct copy {
	char id[MQ_ID_MAX];
	char reason[320];
	size_t len;
	int conn;       /* the connection it was published on */
	bool confirmed; /* the broker said it is safe */
	bool abandoned; /* its connection closed before it was confirmed */
};

enum confirm_policy { CONFIRM_ACK, CONFIRM_NACK, CONFIRM_LOST };

struct mq {
	int id;
	bool consuming, confirming, dead;
	uint64_t next_tag;
	uint64_t published; /* confirm-mode publishes */
	uint64_t pending_left;
};

static struct {
	struct msg msgs[MAX_MSGS];
	size_t nmsgs;
	size_t queue[MAX_MSGS * 4]; /* indexes into msgs, ready to deliver */
	size_t qhead, qtail;
	long inflight[MAX_TAGS]; /* tag of the consuming connection -> msg index, -1 none */
	uint64_t sock[MAX_TAGS]; /* tags sent and not yet read by mq_next */
	size_t shead, stail;
	unsigned prefetch;
	size_t unacked;
	int conns;
	struct mq *consumer;
	struct copy copies[256];
	size_t ncopies;
	enum confirm_policy confirm;
	/* what went wrong, as the real broker would see it */
	int acks, requeued, bad_acks, acked_unconfirmed_copy, opens;
} B;

static void broker_reset(void)
{
	for (size_t i = 0; i < B.nmsgs; i++)
		free(B.msgs[i].body);
	memset(&B, 0, sizeof B);
	for (size_t i = 0; i < MAX_TAGS; i++)
		B.inflight[i] = -1;
}

/* A message handed back goes back to its place: the queue keeps the order
 * of publication. */
static void pump(void);

static void enqueue_back(size_t m)
{
	size_t p = B.qhead;
	while (p < B.qtail && B.queue[p] < m)
		p++;
	if (B.qhead > 0) {
		memmove(B.queue + B.qhead - 1, B.queue + B.qhead, (p - B.qhead) * sizeof *B.queue);
		B.qhead--;
		B.queue[p - 1] = m;
	} else {
		memmove(B.queue + p + 1, B.queue + p, (B.qtail - p) * sizeof *B.queue);
		B.qtail++;
		B.queue[p] = m;
	}
}

static void publish(const char *body, const char *id)
{
	struct msg *m = &B.msgs[B.nmsgs];
	m->len = strlen(body);
	m->body = malloc(m->len + 1);
	memcpy(m->body, body, m->len + 1);
	snprintf(m->id, sizeof m->id, "%s", id);
	B.queue[B.qtail++] = B.nmsgs++;
	pump();
}

static size_t ready(void)
{
	return B.qtail - B.qhead;
}

/* The broker sends whatever the window has room for, at once. */
static void pump(void)
{
	while (B.consumer && ready() && (!B.prefetch || B.unacked < B.prefetch)) {
		uint64_t tag = ++B.consumer->next_tag;
		if (tag >= MAX_TAGS)
			return;
		size_t m = B.queue[B.qhead++];
		B.inflight[tag] = (long)m;
		B.unacked++;
		B.msgs[m].times_delivered++;
		B.sock[B.stail++] = tag;
	}
}

/* Gives back every unacknowledged delivery up to tag (all when tag is 0). */
static void requeue_upto(uint64_t tag)
{
	uint64_t top = tag ? tag : (B.consumer ? B.consumer->next_tag : 0);
	for (uint64_t t = top; t >= 1 && t < MAX_TAGS; t--) {
		if (B.inflight[t] < 0)
			continue;
		size_t m = (size_t)B.inflight[t];
		B.msgs[m].redelivered = true;
		enqueue_back(m);
		B.inflight[t] = -1;
		B.unacked--;
		B.requeued++;
	}
}

int mq_open(const char *url, struct mq **out)
{
	(void)url;
	struct mq *mq = calloc(1, sizeof *mq);
	mq->id = ++B.conns;
	B.opens++;
	*out = mq;
	return 0;
}

void mq_close(struct mq *mq)
{
	if (!mq)
		return;
	if (mq == B.consumer) {
		requeue_upto(0);
		B.consumer = NULL;
		B.shead = B.stail = 0;
	}
	for (size_t i = 0; i < B.ncopies; i++)
		if (B.copies[i].conn == mq->id && !B.copies[i].confirmed)
			B.copies[i].abandoned = true;
	free(mq);
}

amqp_connection_state_t mq_connection(struct mq *mq)
{
	(void)mq;
	return NULL;
}

int mq_declare_topology(struct mq *mq, const struct mq_topology *t)
{
	(void)mq;
	(void)t;
	return 0;
}

int mq_cancel(struct mq *mq)
{
	(void)mq;
	return -1; /* no test here gives partitions back */
}

void mq_queue_name(unsigned p, char buf[MQ_NAME_MAX])
{
	snprintf(buf, MQ_NAME_MAX, "partition-%u", p);
}

int mq_confirm_select(struct mq *mq)
{
	mq->confirming = true;
	return 0;
}

int mq_consume(struct mq *mq, const char *queue, unsigned prefetch)
{
	(void)queue;
	mq->consuming = true;
	B.prefetch = prefetch;
	B.consumer = mq;
	pump();
	return 0;
}

int mq_next(struct mq *mq, int timeout_ms, size_t body_max, struct mq_delivery *d)
{
	if (mq->dead || mq->pending_left)
		return -1;
	pump();
	if (mq != B.consumer || B.shead == B.stail) {
		if (timeout_ms)
			usleep(200);
		return mq->next_tag + 1 >= MAX_TAGS ? -1 : 0;
	}
	uint64_t tag = B.sock[B.shead++];
	size_t m = (size_t)B.inflight[tag];
	memset(d, 0, sizeof *d);
	d->tag = tag;
	d->redelivered = B.msgs[m].redelivered;
	d->len = B.msgs[m].len;
	snprintf(d->message_id, sizeof d->message_id, "%s", B.msgs[m].id);
	snprintf(d->routing_key, sizeof d->routing_key, "%s", MQ_ROUTING_KEY);
	if (d->len > body_max) {
		d->pending = true;
		mq->pending_left = d->len;
	} else {
		d->body = B.msgs[m].body;
	}
	return 1;
}

static void settle(uint64_t tag, bool multiple)
{
	uint64_t lo = multiple ? 1 : tag;
	int n = 0;
	for (uint64_t t = lo; t <= tag && t < MAX_TAGS; t++) {
		if (B.inflight[t] < 0)
			continue;
		size_t m = (size_t)B.inflight[t];
		B.msgs[m].done = true;
		B.inflight[t] = -1;
		B.unacked--;
		n++;
	}
	if (!n)
		B.bad_acks++; /* the real broker closes the channel: unknown delivery tag */
}

int mq_ack(struct mq *mq, uint64_t tag, bool multiple)
{
	(void)mq;
	B.acks++;
	/* Every copy published so far belongs to this batch or an earlier one:
	 * none may still be unconfirmed. */
	for (size_t i = 0; i < B.ncopies; i++)
		if (!B.copies[i].confirmed && !B.copies[i].abandoned)
			B.acked_unconfirmed_copy++;
	settle(tag, multiple);
	pump();
	return 0;
}

static int add_copy(struct mq *mq, const char *id, size_t len, const char *reason)
{
	if (!mq->confirming || B.ncopies == 256)
		return -1;
	struct copy *c = &B.copies[B.ncopies++];
	snprintf(c->id, sizeof c->id, "%s", id);
	snprintf(c->reason, sizeof c->reason, "%s", reason);
	c->len = len;
	c->conn = mq->id;
	mq->published++;
	return 0;
}

int mq_dead_letter(struct mq *mq, const char *message_id, const void *body, size_t len,
                   const char *routing_key, const char *reason)
{
	(void)body, (void)routing_key;
	return add_copy(mq, message_id, len, reason);
}

int mq_dead_letter_forward(struct mq *mq, struct mq *from, const struct mq_delivery *d,
                           const char *reason)
{
	if (!from->pending_left)
		return -1;
	from->pending_left = 0;
	return add_copy(mq, d->message_id, d->len, reason);
}

int mq_poll_confirms(struct mq *mq, int timeout_ms, mq_confirm_fn fn, void *ctx)
{
	if (B.confirm == CONFIRM_LOST)
		return -1;
	if (!timeout_ms)
		return 0; /* confirms take a while: only a caller that waits sees them */
	uint64_t tag = 0;
	for (size_t i = 0; i < B.ncopies; i++)
		if (B.copies[i].conn == mq->id && !B.copies[i].confirmed) {
			tag++;
			if (B.confirm == CONFIRM_ACK)
				B.copies[i].confirmed = true;
		}
	if (tag)
		fn(ctx, B.confirm == CONFIRM_ACK ? MQ_ACK : MQ_NACK, mq->published, true, NULL);
	return 0;
}

/* ------------------------------------------------------------------ */
/* the fake store                                                      */
/* ------------------------------------------------------------------ */

static struct {
	bool down;
	char refuse[UUID_STR_LEN + 1]; /* an event id the database refuses as data */
	char (*ids)[UUID_STR_LEN + 1];  /* stored, in order */
	size_t nids;
	size_t batches, largest_batch, events_offered;
	int dup_stores;
	/* What was stored of each target: its id and version, in store order. */
	char (*targets)[EVENT_REF_MAX + 1];
	int64_t *versions;
	size_t lookups;
} S;

int db_connect(const struct db_config *cfg, struct db **out)
{
	(void)cfg;
	if (S.down)
		return DB_ERR_GONE;
	*out = (struct db *)&S;
	return DB_OK;
}

void db_close(struct db *db)
{
	(void)db;
}

bool db_broken(const struct db *db)
{
	(void)db;
	return S.down;
}

const char *db_status_string(int status)
{
	return status ? "fake failure" : "ok";
}

const char *ledger_halted(struct ledger *l)
{
	(void)l;
	return NULL;
}

uint32_t ledger_log(const struct ledger *l)
{
	(void)l;
	return 0;
}

static bool stored_already(const char *id)
{
	for (size_t i = 0; i < S.nids; i++)
		if (!strcmp(S.ids[i], id))
			return true;
	return false;
}

int store_insert_batch(struct db *db, struct ledger *ledger, const struct event *events, size_t n,
                       size_t *stored)
{
	(void)db;
	(void)ledger;
	*stored = 0;
	if (S.down)
		return DB_ERR_GONE;
	for (size_t i = 0; i < n; i++)
		if (S.refuse[0] && !strcmp(events[i].id, S.refuse))
			return DB_ERR_DATA;
	S.batches++;
	S.events_offered += n;
	if (n > S.largest_batch)
		S.largest_batch = n;
	for (size_t i = 0; i < n; i++) {
		if (stored_already(events[i].id)) {
			S.dup_stores++;
			continue;
		}
		S.ids = realloc(S.ids, (S.nids + 1) * sizeof *S.ids);
		S.targets = realloc(S.targets, (S.nids + 1) * sizeof *S.targets);
		S.versions = realloc(S.versions, (S.nids + 1) * sizeof *S.versions);
		memcpy(S.targets[S.nids], events[i].target_id, sizeof S.targets[S.nids]);
		S.versions[S.nids] = events[i].action == EVENT_VIEWED ? 0 : events[i].target_version;
		memcpy(S.ids[S.nids++], events[i].id, UUID_STR_LEN + 1);
		++*stored;
	}
	return DB_OK;
}

int store_last_versions(void *ctx, const struct event *const *events, size_t n, uint64_t *last)
{
	CHECK(ctx == (void *)&S);
	S.lookups++;
	for (size_t i = 0; i < n; i++) {
		last[i] = 0;
		for (size_t k = 0; k < S.nids; k++)
			if (!strcmp(S.targets[k], events[i]->target_id) && S.versions[k] > (int64_t)last[i])
				last[i] = (uint64_t)S.versions[k];
	}
	return DB_OK;
}

static void store_reset(void)
{
	free(S.ids);
	free(S.targets);
	free(S.versions);
	memset(&S, 0, sizeof S);
}

/* ------------------------------------------------------------------ */
/* helpers                                                             */
/* ------------------------------------------------------------------ */

static unsigned long id_counter;

static void make_id(char *id)
{
	unsigned long n = ++id_counter;
	snprintf(id, UUID_STR_LEN + 1, "0190b6a8-7c2e-7abc-8def-%012lx", n);
}

/* One valid viewed event as JSON, its id in id. */
static void event_json(char *buf, size_t cap, char *id)
{
	make_id(id);
	snprintf(buf, cap,
	         "{\"id\":\"%s\",\"action\":\"viewed\",\"timestamp\":1732760000000,"
	         "\"actorType\":\"users\",\"actorId\":\"1\",\"targetType\":\"users\","
	         "\"targetId\":\"2\"}",
	         id);
}

static void publish_events(size_t messages, size_t per_message)
{
	static char body[200 * 400];
	for (size_t m = 0; m < messages; m++) {
		size_t len = 0;
		char first[UUID_STR_LEN + 1] = "";
		if (per_message > 1)
			body[len++] = '[';
		for (size_t i = 0; i < per_message; i++) {
			char id[UUID_STR_LEN + 1];
			if (i)
				body[len++] = ',';
			event_json(body + len, sizeof body - len, id);
			len += strlen(body + len);
			if (!i)
				memcpy(first, id, sizeof first);
		}
		if (per_message > 1)
			body[len++] = ']';
		body[len] = '\0';
		publish(body, first);
	}
}

static struct consumer_config config(void)
{
	static const struct db_config db = {0};
	return (struct consumer_config){.amqp_url = "amqp://fake/",
	                                .db = &db,
	                                .prefetch = 0,
	                                .batch_events = 1000,
	                                .batch_bytes = 4u << 20,
	                                .linger_ms = 60000, /* batches close on size or a pause */
	                                .reconnect_ms = 1};
}

static size_t messages_done(void)
{
	size_t n = 0;
	for (size_t i = 0; i < B.nmsgs; i++)
		n += B.msgs[i].done;
	return n;
}

/* Steps until every message is acknowledged (or max_steps). */
static void drain(struct consumer *c, long max_steps)
{
	for (long i = 0; i < max_steps && messages_done() < B.nmsgs; i++)
		consumer_step(c);
}

static void start(struct consumer **c, struct consumer_config cfg)
{
	broker_reset();
	store_reset();
	CHECK_INT(consumer_new(&cfg, c), 0);
}

/* ------------------------------------------------------------------ */
/* tests                                                               */
/* ------------------------------------------------------------------ */

/* The case: one event per message. The window counts messages, so
 * it must hold whole batches of them. */
static void test_one_event_messages_fill_batches(void)
{
	struct consumer *c;
	start(&c, config());
	publish_events(5000, 1);
	drain(c, 100000);
	CHECK_INT(messages_done(), 5000);
	CHECK(B.prefetch >= 2000);
	CHECK_INT(S.nids, 5000);
	CHECK_INT(S.batches, 5);
	CHECK_INT(S.largest_batch, 1000);
	CHECK_INT(B.acks, 5); /* one multiple-ack per batch */
	CHECK_INT(B.bad_acks, 0);
	CHECK_INT(S.dup_stores, 0);
	consumer_free(c);
}

static void test_batched_messages(void)
{
	struct consumer *c;
	start(&c, config());
	publish_events(30, 100);
	drain(c, 100000);
	CHECK_INT(messages_done(), 30);
	CHECK_INT(S.nids, 3000);
	CHECK_INT(S.batches, 3);
	CHECK_INT(B.acks, 3);
	consumer_free(c);
}

/* A batch closes on the memory its messages take, whatever its count:
 * 200 KB events close it after about twenty, not a thousand. */
static void test_batch_closes_on_bytes(void)
{
	struct consumer *c;
	start(&c, config());
	size_t big = 200000;
	char *body = malloc(big + 400);
	for (int m = 0; m < 100; m++) {
		char id[UUID_STR_LEN + 1];
		make_id(id);
		int n = snprintf(body, 400,
		                 "{\"id\":\"%s\",\"action\":\"changed\",\"timestamp\":1732760000000,"
		                 "\"actorType\":\"users\",\"actorId\":\"1\",\"targetType\":\"notes\","
		                 "\"targetId\":\"2\",\"changes\":{\"data\":{\"prev\":null,\"next\":\"",
		                 id);
		memset(body + n, 'x', big);
		strcpy(body + n + big, "\"}}}");
		publish(body, id);
	}
	free(body);
	drain(c, 100000);
	CHECK_INT(messages_done(), 100);
	CHECK_INT(S.nids, 100);
	/* 4 MiB of 200 KB messages: 21 at most (the one that fills it included). */
	CHECK(S.largest_batch <= 21);
	CHECK(S.largest_batch >= 15);
	CHECK(S.batches >= 5);
	consumer_free(c);
}

static void test_weight_cap(void)
{
	struct consumer *c;
	start(&c, config());
	/* A valid event whose change holds 60,000 empty objects: 240 KB of JSON,
	 * about 16 MB parsed. */
	size_t n = 60000;
	char *body = malloc(3 * n + 400), id[UUID_STR_LEN + 1];
	make_id(id);
	int len = snprintf(body, 400,
	                   "{\"id\":\"%s\",\"action\":\"changed\",\"timestamp\":1732760000000,"
	                   "\"actorType\":\"users\",\"actorId\":\"1\",\"targetType\":\"users\","
	                   "\"targetId\":\"2\",\"changes\":{\"x\":{\"next\":1,\"prev\":[",
	                   id);
	for (size_t i = 0; i < n; i++)
		len += sprintf(body + len, i ? ",{}" : "{}");
	strcpy(body + len, "]}}}");
	CHECK(message_weight(body, strlen(body)) > CONSUMER_MESSAGE_WEIGHT_MAX);
	publish(body, id);
	free(body);
	publish_events(3, 1);
	drain(c, 1000);
	CHECK_INT(messages_done(), 4);
	CHECK_INT(S.nids, 3);
	CHECK(!stored_already(id));
	CHECK_INT(B.ncopies, 1);
	CHECK_STR(B.copies[0].id, id);
	CHECK(strstr(B.copies[0].reason, "too many JSON values") != NULL);
	CHECK_INT(B.acked_unconfirmed_copy, 0);
	consumer_free(c);
}

/* A body over the message limit is never held: it is streamed to the
 * dead letters and acknowledged once the copy is confirmed. */
static void test_oversized_body_forwarded(void)
{
	struct consumer *c;
	start(&c, config());
	publish_events(2, 1);
	char *body = malloc(EVENT_MESSAGE_MAX_BYTES + 2);
	memset(body, 'x', EVENT_MESSAGE_MAX_BYTES + 1);
	body[EVENT_MESSAGE_MAX_BYTES + 1] = '\0';
	publish(body, "big");
	free(body);
	publish_events(2, 1);
	drain(c, 1000);
	CHECK_INT(messages_done(), 5);
	CHECK_INT(S.nids, 4);
	CHECK_INT(B.ncopies, 1);
	CHECK_STR(B.copies[0].id, "big");
	CHECK_INT(B.copies[0].len, EVENT_MESSAGE_MAX_BYTES + 1);
	CHECK(B.copies[0].confirmed);
	CHECK(strstr(B.copies[0].reason, "the limit is 1048576") != NULL);
	CHECK_INT(B.acked_unconfirmed_copy, 0);
	consumer_free(c);
}

static void publish_poison(const char *id)
{
	publish("this is not json {", id);
}

/* The lesser defect: the original of a dead letter is acknowledged only
 * after the broker confirmed its copy. */
static void test_dead_letter_confirmed_before_ack(void)
{
	struct consumer *c;
	start(&c, config());
	publish_events(3, 1);
	publish_poison("poison-1");
	publish_events(3, 1);
	publish_poison("poison-2");
	drain(c, 1000);
	CHECK_INT(messages_done(), 8);
	CHECK_INT(S.nids, 6);
	CHECK_INT(B.ncopies, 2);
	CHECK(B.copies[0].confirmed && B.copies[1].confirmed);
	CHECK_INT(B.acked_unconfirmed_copy, 0);
	consumer_free(c);
}

/* A nack, or a dead-letter connection lost before the confirm: the
 * original must not be acknowledged; it comes back and is copied again. */
static void nacked_or_lost(enum confirm_policy policy)
{
	struct consumer *c;
	start(&c, config());
	publish_events(3, 1);
	publish_poison("poison-1");
	publish_events(3, 1);
	B.confirm = policy;
	for (int i = 0; i < 50; i++)
		consumer_step(c);
	CHECK_INT(messages_done(), 0); /* nothing acked while the copy is not safe */
	CHECK(B.ncopies >= 1);
	CHECK_INT(B.acked_unconfirmed_copy, 0);
	CHECK(B.requeued >= 7); /* the connection was dropped: all came back */
	if (policy == CONFIRM_NACK)
		CHECK_INT(S.nids, 6); /* stored, but not acknowledged */
	B.confirm = CONFIRM_ACK;
	drain(c, 1000);
	CHECK_INT(messages_done(), 7);
	CHECK_INT(S.nids, 6); /* redelivered, stored once */
	CHECK(B.copies[B.ncopies - 1].confirmed);
	CHECK_STR(B.copies[B.ncopies - 1].id, "poison-1");
	CHECK_INT(B.acked_unconfirmed_copy, 0);
	CHECK_INT(B.bad_acks, 0);
	consumer_free(c);
}

static void test_dead_letter_nacked(void)
{
	nacked_or_lost(CONFIRM_NACK);
}

static void test_dead_letter_connection_lost(void)
{
	nacked_or_lost(CONFIRM_LOST);
}

static void test_bad_element_alone(void)
{
	struct consumer *c;
	start(&c, config());
	char a[400], b[400], body[1200], ida[UUID_STR_LEN + 1], idb[UUID_STR_LEN + 1];
	event_json(a, sizeof a, ida);
	event_json(b, sizeof b, idb);
	snprintf(body, sizeof body, "[%s,{\"id\":\"nope\"},%s]", a, b);
	publish(body, ida);
	drain(c, 1000);
	CHECK_INT(messages_done(), 1);
	CHECK_INT(S.nids, 2);
	CHECK_INT(B.ncopies, 1);
	CHECK(strncmp(B.copies[0].reason, "element 1: ", 11) == 0);
	CHECK_INT(B.acked_unconfirmed_copy, 0);
	consumer_free(c);
}

static void test_refused_by_database(void)
{
	struct consumer *c;
	start(&c, config());
	publish_events(5, 1);
	/* The third event's id is refused as data. */
	snprintf(S.refuse, sizeof S.refuse, "0190b6a8-7c2e-7abc-8def-%012lx", id_counter - 2);
	drain(c, 1000);
	CHECK_INT(messages_done(), 5);
	CHECK_INT(S.nids, 4);
	CHECK_INT(B.ncopies, 1);
	CHECK_STR(B.copies[0].id, S.refuse);
	CHECK_INT(B.acked_unconfirmed_copy, 0);
	consumer_free(c);
}

/* MySQL away with a backlog: the batch stays within its bounds, the rest of
 * the window is read but not held, nothing is acknowledged, and once the
 * database is back every event is stored once. */
/* Steps while the database is away until the consumer has read a full
 * batch (1,000 one-event messages), and 20 steps more (a full batch waiting
 * for the database sleeps between steps). */
static void step_while_away(struct consumer *c)
{
	for (int i = 0; i < 20000 && B.shead < 1000; i++)
		consumer_step(c);
	CHECK_INT(B.shead, 1000);
	for (int i = 0; i < 20; i++)
		consumer_step(c);
	CHECK_INT(B.shead, 1000); /* nothing read past the full batch */
}

static void test_database_away(void)
{
	struct consumer *c;
	start(&c, config());
	publish_events(5000, 1);
	S.down = true;
	step_while_away(c);
	CHECK_INT(messages_done(), 0);
	CHECK_INT(S.nids, 0);
	CHECK(B.unacked <= B.prefetch);
	CHECK_INT(B.unacked, B.prefetch); /* the whole window was sent... */
	S.down = false;
	/* ...and only the batch was read: it is stored first, the rest is read
	 * after it, in order, none handed back. */
	int64_t deadline = time(NULL) + 20;
	while (messages_done() < B.nmsgs && time(NULL) < deadline)
		consumer_step(c);
	CHECK_INT(messages_done(), 5000);
	CHECK_INT(S.nids, 5000);
	CHECK_INT(S.largest_batch, 1000);
	CHECK_INT(S.dup_stores, 0);
	CHECK_INT(B.requeued, 0);
	CHECK_INT(B.bad_acks, 0);
	consumer_free(c);
}

/* Stopping stores and acknowledges what the batch holds. */
/* A mutation of users:<target>, version v (1: created; else changed). */
static void publish_mutation(const char *target, int v)
{
	char body[512], id[UUID_STR_LEN + 1];
	make_id(id);
	snprintf(body, sizeof body,
	         "{\"id\":\"%s\",\"action\":\"%s\",\"timestamp\":1732760000000,"
	         "\"actorType\":\"users\",\"actorId\":\"1\",\"targetType\":\"users\","
	         "\"targetId\":\"%s\",\"targetVersion\":%d,\"changes\":{\"name\":"
	         "{\"prev\":%s,\"next\":\"n%d\"}}}",
	         id, v == 1 ? "created" : "changed", target, v, v == 1 ? "null" : "\"old\"", v);
	publish(body, id);
}

/* Where target's version v is in the store's order; -1 when not stored. */
static long stored_at(const char *target, int64_t v)
{
	for (size_t k = 0; k < S.nids; k++)
		if (!strcmp(S.targets[k], target) && S.versions[k] == v)
			return (long)k;
	return -1;
}

static void step_until_done(struct consumer *c, int64_t max_ms)
{
	int64_t end = clock_ms() + max_ms;
	while (messages_done() < B.nmsgs && clock_ms() < end) {
		consumer_step(c);
		usleep(1000);
	}
}

/* After a takeover the queue gives a change before its creation (returned
 * deliveries after newer ones): the change waits for it, the events around
 * it go on, and every message is acknowledged once, none twice. */
static void test_returned_change_waits(void)
{
	struct consumer *c;
	struct consumer_config cfg = config();
	cfg.reorder_ms = 5000;
	start(&c, cfg);
	publish_mutation("a", 2);
	publish_events(1, 1);
	publish_mutation("b", 1);
	publish_mutation("a", 3);
	publish_mutation("a", 1);
	int64_t t0 = clock_ms();
	step_until_done(c, 3000);
	CHECK_INT(messages_done(), 5);
	CHECK_INT(S.nids, 5);
	CHECK(stored_at("a", 1) >= 0);
	CHECK(stored_at("a", 1) < stored_at("a", 2));
	CHECK(stored_at("a", 2) < stored_at("a", 3));
	CHECK(clock_ms() - t0 < 2000); /* not held for its whole time: the creation came */
	CHECK_INT(B.bad_acks, 0);
	CHECK_INT(B.unacked, 0);
	CHECK_INT(B.requeued, 0);
	CHECK(S.lookups >= 1);
	consumer_free(c);
}

/* A predecessor that never comes: the change is stored once its time is
 * up. With reorder_ms 0 (or once the window after activation passed)
 * nothing waits. */
static void test_missing_version_released(void)
{
	struct consumer *c;
	for (int shared = 0; shared <= 1; shared++) {
		struct consumer_config cfg = config();
		cfg.reorder_ms = 300;
		cfg.shared_queue = shared;
		start(&c, cfg);
		publish_mutation("z", 4);
		int64_t t0 = clock_ms();
		step_until_done(c, 3000);
		CHECK_INT(messages_done(), 1);
		CHECK_INT(S.nids, 1);
		CHECK(clock_ms() - t0 >= 300);
		CHECK_INT(B.bad_acks, 0);
		consumer_free(c);
	}
	int64_t t0;

	start(&c, config());
	publish_mutation("z", 4);
	t0 = clock_ms();
	step_until_done(c, 3000);
	CHECK_INT(messages_done(), 1);
	CHECK(clock_ms() - t0 < 300);
	CHECK_INT(S.lookups, 0);
	consumer_free(c);
}

/* Several consumers sharing the queue: long after the consumer became
 * active, a change that comes before its creation still waits for it
 * (the creation could be in the other consumer's hands); with one
 * consumer, past its window, it would not. */
static void test_shared_queue_keeps_order(void)
{
	for (int shared = 1; shared >= 0; shared--) {
		struct consumer *c;
		struct consumer_config cfg = config();
		cfg.reorder_ms = 300;
		cfg.shared_queue = shared;
		start(&c, cfg);
		publish_events(1, 1);
		step_until_done(c, 2000); /* active; its window passes */
		usleep(400 * 1000);
		publish_mutation("s", 2);
		publish_mutation("s", 1);
		step_until_done(c, 3000);
		CHECK_INT(messages_done(), 3);
		if (shared)
			CHECK(stored_at("s", 1) < stored_at("s", 2));
		else
			CHECK(stored_at("s", 2) < stored_at("s", 1));
		CHECK_INT(B.bad_acks, 0);
		consumer_free(c);
	}
}

/* The database away with a full window, then back: nothing is read beyond
 * the batch, so nothing is handed back, and the order is the queue's (a
 * consumer that read on and handed back what did not fit let newer
 * messages overtake the returned ones: changes were stored before their
 * creations; this test counted 600 of 2,400 so). The reorder rule is off
 * here (reorder_ms 0). */
static void test_database_away_keeps_order(void)
{
	struct consumer *c;
	start(&c, config());
	enum { TARGETS = 600, VERSIONS = 5 };
	char name[TARGETS][8];
	for (int v = 1; v <= VERSIONS; v++)
		for (int t = 0; t < TARGETS; t++) {
			snprintf(name[t], sizeof name[t], "t%d", t);
			publish_mutation(name[t], v);
		}
	S.down = true;
	step_while_away(c);
	CHECK_INT(S.nids, 0);
	CHECK_INT(B.unacked, B.prefetch);
	S.down = false;
	step_until_done(c, 20000);
	CHECK_INT(messages_done(), TARGETS * VERSIONS);
	CHECK_INT(S.nids, TARGETS * VERSIONS);
	CHECK_INT(B.requeued, 0);
	int out_of_order = 0;
	for (int t = 0; t < TARGETS; t++)
		for (int v = 2; v <= VERSIONS; v++)
			out_of_order += stored_at(name[t], v - 1) > stored_at(name[t], v);
	CHECK_INT(out_of_order, 0);
	CHECK_INT(S.dup_stores, 0);
	CHECK_INT(B.bad_acks, 0);
	consumer_free(c);
}

/* Changes that wait for their creations fill a whole batch: they have
 * room of their own, so the creations behind them are still taken, and
 * everything is stored in order at once, not after the wait. Unless the
 * waiting messages fill half the prefetch window (then what they wait for
 * might never be sent): they are stored at once without it. */
static void test_waiting_events_leave_room(void)
{
	for (int half = 0; half <= 1; half++) {
		struct consumer *c;
		struct consumer_config cfg = config();
		cfg.reorder_ms = 5000;
		cfg.batch_events = 10;
		cfg.prefetch = half ? 20 : 100;
		cfg.linger_ms = 20;
		start(&c, cfg);
		char name[10][8];
		for (int t = 0; t < 10; t++) {
			snprintf(name[t], sizeof name[t], "w%d", t);
			publish_mutation(name[t], 2);
		}
		for (int t = 0; t < 10; t++)
			publish_mutation(name[t], 1);
		int64_t t0 = clock_ms();
		step_until_done(c, 8000);
		CHECK_INT(messages_done(), 20);
		CHECK_INT(S.nids, 20);
		for (int t = 0; t < 10; t++)
			if (half)
				CHECK(stored_at(name[t], 2) < stored_at(name[t], 1));
			else
				CHECK(stored_at(name[t], 1) < stored_at(name[t], 2));
		CHECK(clock_ms() - t0 < 2000);
		CHECK_INT(B.requeued, 0);
		CHECK_INT(B.bad_acks, 0);
		consumer_free(c);
	}
}

static void test_free_flushes(void)
{
	struct consumer *c;
	start(&c, config());
	publish_events(10, 1);
	for (int i = 0; i < 10; i++)
		consumer_step(c); /* connect, then take; no flush yet */
	consumer_free(c);
	CHECK_INT(S.nids, 10 - (int)ready());
	CHECK_INT(messages_done(), 10 - (int)ready());
	CHECK_INT(B.unacked, 0);
}

/* message_weight is an upper bound of what jansson allocates, for the
 * shapes that cost it most per byte. */
static size_t live;
static void *counting_malloc(size_t n)
{
	void *p = malloc(n);
	if (p)
		live += malloc_usable_size(p) + 8;
	return p;
}
static void counting_free(void *p)
{
	if (p)
		live -= malloc_usable_size(p) + 8;
	free(p);
}

static void check_weight(const char *what, const char *item, size_t count, const char *open,
                         const char *close)
{
	size_t il = strlen(item), len = strlen(open) + count * (il + 1) + strlen(close);
	char *s = malloc(len + 1), *p = s;
	p += sprintf(p, "%s", open);
	for (size_t i = 0; i < count; i++)
		p += sprintf(p, i ? ",%s" : "%s", item);
	p += sprintf(p, "%s", close);
	live = 0;
	json_t *o = json_loadb(s, (size_t)(p - s), 0, NULL);
	size_t actual = live, est = message_weight(s, (size_t)(p - s));
	if (!o || est < actual || est > 6 * actual)
		fprintf(stderr, "%s: weight %zu, jansson's %zu\n", what, est, actual);
	CHECK(o != NULL);
	CHECK(est >= actual);
	CHECK(est <= 6 * actual); /* and not wildly above */
	json_decref(o);
	free(s);
}

static void test_message_weight(void)
{
	json_set_alloc_funcs(counting_malloc, counting_free);
	char ev[400], id[UUID_STR_LEN + 1];
	event_json(ev, sizeof ev, id);
	check_weight("one event", ev, 1, "", "");
	check_weight("200 events", ev, 200, "[", "]");
	check_weight("integers", "0", 100000, "[", "]");
	check_weight("reals", "0.5", 100000, "[", "]");
	check_weight("empty strings", "\"\"", 100000, "[", "]");
	check_weight("empty objects", "{}", 100000, "[", "]");
	check_weight("empty arrays", "[]", 100000, "[", "]");
	check_weight("one-element arrays", "[0]", 100000, "[", "]");
	check_weight("one-member objects", "{\"a\":0}", 100000, "[", "]");
	check_weight("changes", "{\"prev\":0,\"next\":[]}", 50000, "[", "]");
	char nested[64];
	memset(nested, '[', 30);
	nested[30] = '0';
	memset(nested + 31, ']', 30);
	nested[61] = '\0';
	check_weight("nested", nested, 100, "[", "]");
	check_weight("escaped", "\"\\\"\\\\\\\"{[,\"", 50000, "[", "]");
	json_set_alloc_funcs(malloc, free);
}

int main(void)
{
	log_init("test_consumer", LOG_LEVEL_ERROR);
	test_one_event_messages_fill_batches();
	test_batched_messages();
	test_batch_closes_on_bytes();
	test_weight_cap();
	test_oversized_body_forwarded();
	test_dead_letter_confirmed_before_ack();
	test_dead_letter_nacked();
	test_dead_letter_connection_lost();
	test_bad_element_alone();
	test_refused_by_database();
	test_database_away();
	test_database_away_keeps_order();
	test_free_flushes();
	test_returned_change_waits();
	test_missing_version_released();
	test_shared_queue_keeps_order();
	test_waiting_events_leave_room();
	test_message_weight();
	broker_reset();
	store_reset();
	return test_report("test_consumer");
}
