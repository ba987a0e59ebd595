/* The live stream's hub (services/auditor/stream.c) alone: a stub store
 * whose log the test grows position by position, so the ring, the
 * subscribers' positions, their wakes and the filters are checked without
 * MariaDB or HTTP; and the set of hubs, one per log the stub store lists
 * (stream_logs.c). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auditor.h"
#include "clock.h"
#include "ledger.h"
#include "stream.h"
#include "stream_logs.h"
#include "testhelp.h"

/* ---- the stub store: positions [0, stored) of log 0 ---- */

#define START      100 /* the log's end when the hub starts */
#define MAX_EVENTS 400

static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t stored = START;
static const char *actors[MAX_EVENTS]; /* the actor id of each position (NULL: "b") */
static atomic_int reads;               /* store_read_positions calls */

struct db *db_thread(const struct db_config *cfg)
{
	(void)cfg;
	static char dummy;
	return (struct db *)&dummy;
}

const char *db_status_string(int status)
{
	return status ? "failed" : "ok";
}

/* The logs the store holds besides log 0 (the set's look for logs). */
static uint32_t listed[2 * STREAM_ID_LOGS_MAX];
static size_t nlisted;

/* The hub's "stored end" query: one append holding [0, stored), whatever
 * the log; the set's query of every log's end: log 0 and those listed. */
int db_query(struct db *db, const char *sql, const struct db_value *params, size_t n, db_row_fn fn,
             void *ctx)
{
	(void)db;
	(void)params;
	(void)n;
	CHECK(strstr(sql, "FROM log_appends") != NULL);
	char len[32], logs[2 * STREAM_ID_LOGS_MAX + 1][8];
	pthread_mutex_lock(&store_lock);
	snprintf(len, sizeof len, "%llu", (unsigned long long)stored * LEDGER_ID_LEN);
	size_t nlogs = 1;
	snprintf(logs[0], sizeof logs[0], "0");
	for (size_t i = 0; i < nlisted; i++)
		snprintf(logs[nlogs++], sizeof logs[0], "%u", (unsigned)listed[i]);
	pthread_mutex_unlock(&store_lock);
	if (!strstr(sql, "GROUP BY")) {
		const char *val[] = {"0", len};
		unsigned long lens[] = {1, strlen(len)};
		struct db_row row = {2, val, lens};
		return fn(ctx, &row);
	}
	for (size_t i = 0; i < nlogs; i++) {
		const char *val[] = {logs[i], "0", len};
		unsigned long lens[] = {strlen(logs[i]), 1, strlen(len)};
		struct db_row row = {3, val, lens};
		int st = fn(ctx, &row);
		if (st)
			return st;
	}
	return DB_OK;
}

static json_t *resource(uint64_t seq, const char *actor)
{
	char id[40];
	snprintf(id, sizeof id, "00000000-0000-7000-8000-%012llu", (unsigned long long)seq);
	json_t *attrs =
	    json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:o, s:i, s:I, s:o}", "action",
	              seq % 2 ? "changed" : "viewed", "timestamp", (json_int_t)(1000 + seq),
	              "actorType", "service", "actorId", actor, "targetType", "documents",
	              "targetId", "d 1", "eventName", seq % 3 ? json_string("n1") : json_null(),
	              "log", 0, "seq", (json_int_t)seq, "targetVersion", json_null());
	if (seq % 2)
		json_object_set_new(
		    attrs, "changes",
		    json_pack("{s:{s:i, s:s}}", "email", "prev", 1, "next", "\xc3\xbc"));
	return jsonapi_resource("data-events", id, attrs);
}

int store_read_positions(struct db *db, uint32_t log, uint64_t from, unsigned limit,
                         struct store_page *page)
{
	(void)db;
	CHECK_INT(log, 0);
	atomic_fetch_add(&reads, 1);
	memset(page, 0, sizeof *page);
	page->data = json_array();
	pthread_mutex_lock(&store_lock);
	uint64_t end = stored;
	pthread_mutex_unlock(&store_lock);
	for (uint64_t s = from; s < end && s < from + limit; s++)
		json_array_append_new(page->data,
		                      resource(s, s < MAX_EVENTS && actors[s] ? actors[s] : "b"));
	return DB_OK;
}

/* The stub of the writer's rows rendered (store_read.c): each row's
 * position (column 12) and actor (column 4), as resource() makes them. */
int store_rows_page(const struct db_row *rows, size_t n, json_t **out)
{
	*out = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(*out,
		                      resource(strtoull(rows[i].val[12], NULL, 10), rows[i].val[4]));
	return DB_OK;
}

static void store(const char *actor)
{
	pthread_mutex_lock(&store_lock);
	actors[stored++] = actor;
	pthread_mutex_unlock(&store_lock);
}

/* ---- the stub ledger: its committed size is the store's end ---- */

static atomic_int grown_waits; /* ledger_wait_grown calls */

uint64_t ledger_size(struct ledger *l)
{
	(void)l;
	pthread_mutex_lock(&store_lock);
	uint64_t n = stored;
	pthread_mutex_unlock(&store_lock);
	return n;
}

uint64_t ledger_wait_grown(struct ledger *l, uint64_t size, int timeout_ms)
{
	atomic_fetch_add(&grown_waits, 1);
	int64_t until = clock_ms() + timeout_ms;
	uint64_t n;
	while ((n = ledger_size(l)) <= size && clock_ms() < until)
		usleep(500);
	return n;
}

static const struct ledger *listened; /* the ledger ledger_listen was last given a listener */

void ledger_listen(struct ledger *l, const struct ledger_listener *li)
{
	listened = li ? l : NULL;
}

/* ---- a subscriber's wakes ---- */

struct waker {
	atomic_int wakes;
};

static void wake(void *arg)
{
	atomic_fetch_add(&((struct waker *)arg)->wakes, 1);
}

static int64_t now_ms(void)
{
	return clock_ms();
}

/* Waits up to a second for the hub's head to reach head. */
static bool head_reaches(struct stream_hub *h, uint64_t want)
{
	for (int i = 0; i < 1000; i++) {
		uint64_t head, oldest;
		if (stream_head(h, &head, &oldest) && head >= want)
			return true;
		usleep(1000);
	}
	return false;
}

static bool wakes_reach(struct waker *w, int want)
{
	for (int i = 0; i < 1000 && atomic_load(&w->wakes) < want; i++)
		usleep(1000);
	return atomic_load(&w->wakes) >= want;
}

/* The ids ("id: N") of the messages in b, as a string "N N N". */
static void ids_of(const struct jcs_buf *b, char *out, size_t cap)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i + 4 < b->len; i++)
		if ((i == 0 || (b->data[i - 1] == '\n' && i > 1 && b->data[i - 2] == '\n')) &&
		    !memcmp(b->data + i, "id: ", 4)) {
			unsigned long long n = strtoull(b->data + i + 4, NULL, 10);
			o += (size_t)snprintf(out + o, cap - o, "%s%llu", o ? " " : "", n);
		}
}

static void test_render_and_filters(void)
{
	json_t *r = resource(7, "x y  ");
	struct stream_event *e = stream_event_new(r);
	CHECK(e != NULL);
	char *data = json_dumps(r, JSON_COMPACT), want[1024];
	snprintf(want, sizeof want, "id: 7\ndata: %s\n\n", data);
	CHECK_INT(e->len, strlen(want));
	CHECK(!memcmp(e->msg, want, e->len));
	CHECK_INT(e->seq, 7);
	CHECK_STR(e->actor_id, "x y  ");
	CHECK_STR(e->target_id, "d 1");
	CHECK_INT(e->nfields, 1);
	CHECK_STR(e->fields[0], "email");
	CHECK_STR(e->event_name, "n1");
	CHECK_INT(e->timestamp, 1007);
	/* Filters as the statement's conditions: PAD SPACE ids, [since, until). */
	struct stream_filter f = {.actor_type = "service", .actor_id = "x y"};
	CHECK(stream_filter_match(&f, e));
	f.actor_id = "x  y";
	CHECK(!stream_filter_match(&f, e));
	f = (struct stream_filter){
	    .has_since = true, .since = 1007, .has_until = true, .until = 1008};
	CHECK(stream_filter_match(&f, e));
	f.since = 1008;
	CHECK(!stream_filter_match(&f, e));
	f = (struct stream_filter){.has_until = true, .until = 1007};
	CHECK(!stream_filter_match(&f, e));
	f = (struct stream_filter){.actions = 1u << EVENT_VIEWED};
	CHECK(!stream_filter_match(&f, e));
	f.actions |= 1u << EVENT_CHANGED;
	CHECK(stream_filter_match(&f, e));
	f = (struct stream_filter){.field = "email"};
	CHECK(stream_filter_match(&f, e));
	f.field = "name";
	CHECK(!stream_filter_match(&f, e));
	f = (struct stream_filter){.event_name = "n1 "};
	CHECK(stream_filter_match(&f, e));
	f = (struct stream_filter){.target_type = "documents", .target_id = "d"};
	CHECK(!stream_filter_match(&f, e));
	stream_event_free(e);
	free(data);
	json_decref(r);
	/* An event without a name or changes; and what is not a resource. */
	r = resource(6, "a");
	e = stream_event_new(r);
	CHECK(e && !e->event_name && e->nfields == 0);
	f = (struct stream_filter){.event_name = "n1"};
	CHECK(e && !stream_filter_match(&f, e));
	stream_event_free(e);
	json_object_del(json_object_get(r, "attributes"), "seq");
	CHECK(stream_event_new(r) == NULL);
	json_decref(r);
}

static void test_hub(void)
{
	struct stream_hub *h;
	struct stream_hub_config cfg = {.db = NULL, .log = 0, .poll_ms = 1, .buffer = 4};
	CHECK_INT(stream_hub_start(&cfg, &h), 0);
	CHECK(head_reaches(h, START));
	uint64_t head, oldest;
	CHECK(stream_head(h, &head, &oldest));
	CHECK_INT(head, START);
	CHECK_INT(oldest, START);

	/* Subscribed at the head: nothing yet, it waits. */
	struct stream_filter fa = {.actor_type = "service", .actor_id = "a"};
	struct waker wa = {0}, wb = {0};
	struct stream_sub *sa = stream_subscribe(h, &fa, START, wake, &wa);
	struct stream_sub *sb = stream_subscribe(h, &(struct stream_filter){0}, START, wake, &wb);
	struct jcs_buf out = {0};
	int64_t far = now_ms() + 60000;
	CHECK_INT(stream_take(h, sa, &out, 1 << 16, far, NULL), 0);
	CHECK_INT(stream_take(h, sb, &out, 1 << 16, far, NULL), 0);

	/* An event for b only: b is woken, a is moved past it unwoken. */
	store("b");
	CHECK(head_reaches(h, START + 1));
	CHECK(wakes_reach(&wb, 1));
	usleep(20000);
	CHECK_INT(atomic_load(&wa.wakes), 0);
	CHECK_INT(stream_sub_next(h, sa), START + 1);
	char ids[256];
	CHECK(stream_take(h, sb, &out, 1 << 16, far, NULL) > 0);
	ids_of(&out, ids, sizeof ids);
	CHECK_STR(ids, "100");
	out.len = 0;

	/* One for a: a is woken and takes it. */
	store("a");
	CHECK(head_reaches(h, START + 2));
	CHECK(wakes_reach(&wa, 1));
	CHECK(stream_take(h, sa, &out, 1 << 16, far, NULL) > 0);
	ids_of(&out, ids, sizeof ids);
	CHECK_STR(ids, "101");
	out.len = 0;
	CHECK_INT(stream_take(h, sa, &out, 1 << 16, far, NULL), 0);

	/* b does not take while six arrive: the ring of 4 moves past it, so it
	 * is behind and reads the store itself. */
	for (int i = 0; i < 6; i++)
		store(i % 2 ? "a" : "b");
	CHECK(head_reaches(h, START + 8));
	CHECK(stream_head(h, &head, &oldest));
	CHECK_INT(oldest, START + 4);
	CHECK_INT(stream_take(h, sb, &out, 1 << 16, far, NULL), STREAM_BEHIND);
	CHECK_INT(stream_sub_next(h, sb), START + 1);
	stream_sub_advance(h, sb, START + 4); /* as h_stream.c does after reading them */
	stream_sub_advance(h, sb, START + 2); /* never back */
	CHECK_INT(stream_sub_next(h, sb), START + 4);
	CHECK(stream_take(h, sb, &out, 1 << 16, far, NULL) > 0);
	ids_of(&out, ids, sizeof ids);
	CHECK_STR(ids, "104 105 106 107");
	out.len = 0;
	/* a was woken (a's events came) and takes those the ring still has. */
	CHECK(wakes_reach(&wa, 2));
	CHECK_INT(stream_take(h, sa, &out, 1 << 16, far, NULL), STREAM_BEHIND);
	stream_sub_advance(h, sa, START + 4);
	CHECK(stream_take(h, sa, &out, 1 << 16, far, NULL) > 0);
	ids_of(&out, ids, sizeof ids);
	CHECK_STR(ids, "105 107");
	out.len = 0;

	/* max bounds a take (at least one message). */
	CHECK_INT(stream_take(h, sb, &out, 1 << 16, far, NULL), 0);
	for (int i = 0; i < 3; i++)
		store("b");
	CHECK(head_reaches(h, START + 11));
	CHECK(stream_take(h, sb, &out, 1, far, NULL) > 0);
	ids_of(&out, ids, sizeof ids);
	CHECK_STR(ids, "108");
	out.len = 0;

	/* A deadline wakes a waiting subscriber with nothing new. */
	CHECK_INT(stream_take(h, sa, &out, 1 << 16, far, NULL), 0);
	int before = atomic_load(&wa.wakes);
	CHECK_INT(stream_take(h, sa, &out, 1 << 16, now_ms() + 30, NULL), 0);
	CHECK(wakes_reach(&wa, before + 1));

	/* A subscriber may start beyond the hub's head (the store is ahead of
	 * the hub's last poll): it waits there and never moves back. */
	CHECK(stream_head(h, &head, &oldest));
	uint64_t base = head;
	struct waker wc = {0};
	struct stream_sub *sc =
	    stream_subscribe(h, &(struct stream_filter){0}, base + 2, wake, &wc);
	CHECK_INT(stream_take(h, sc, &out, 1 << 16, far, NULL), 0);
	store("b");
	CHECK(head_reaches(h, base + 1));
	usleep(20000);
	CHECK_INT(stream_sub_next(h, sc), base + 2);
	CHECK_INT(atomic_load(&wc.wakes), 0);
	store("b");
	store("b");
	CHECK(head_reaches(h, base + 3));
	CHECK(wakes_reach(&wc, 1));
	CHECK(stream_take(h, sc, &out, 1 << 16, far, NULL) > 0);
	char want[32];
	snprintf(want, sizeof want, "%llu", (unsigned long long)(base + 2));
	ids_of(&out, ids, sizeof ids);
	CHECK_STR(ids, want);
	out.len = 0;
	stream_unsubscribe(h, sc);

	/* After an erasure the ring is empty: positions below the head are
	 * read from the store again. */
	stream_forget(h);
	CHECK(stream_head(h, &head, &oldest));
	CHECK_INT(oldest, head);
	CHECK_INT(stream_take(h, sb, &out, 1 << 16, far, NULL), STREAM_BEHIND);

	stream_unsubscribe(h, sa);
	stream_unsubscribe(h, sb);
	jcs_buf_free(&out);
	stream_hub_stop(h);
	CHECK(atomic_load(&reads) > 0);
}

/* A hub with the (stub) log's writer beside it and an hour's poll: what
 * it learns, it learns from COMMITs. */
static struct stream_hub *hub_with_writer(size_t buffer)
{
	static char writer;
	struct stream_hub *h = NULL;
	struct stream_hub_config cfg = {.db = NULL,
	                                 .log = 0,
	                                 .poll_ms = 3600 * 1000,
	                                 .buffer = buffer,
	                                 .ledger = (struct ledger *)&writer};
	CHECK_INT(stream_hub_start(&cfg, &h), 0);
	return h;
}

/* With the log's writer beside it, a COMMIT wakes the hub: a subscriber
 * is woken long before the next poll (an hour here). */
static void test_commit_wakes(void)
{
	struct stream_hub *h = hub_with_writer(4);
	uint64_t head, oldest;
	CHECK(head_reaches(h, stored));
	CHECK(stream_head(h, &head, &oldest));
	struct waker w = {0};
	struct stream_sub *s = stream_subscribe(h, &(struct stream_filter){0}, head, wake, &w);
	struct jcs_buf out = {0};
	CHECK_INT(stream_take(h, s, &out, 1 << 16, now_ms() + 3600 * 1000, NULL), 0);
	for (int i = 0; i < 3; i++) {
		int before = atomic_load(&w.wakes);
		store("b");
		CHECK(wakes_reach(&w, before + 1)); /* within a second, not an hour */
		CHECK(stream_take(h, s, &out, 1 << 16, now_ms() + 3600 * 1000, NULL) > 0);
		char ids[64], want[32];
		ids_of(&out, ids, sizeof ids);
		snprintf(want, sizeof want, "%llu", (unsigned long long)(head + (uint64_t)i));
		CHECK_STR(ids, want);
		out.len = 0;
		CHECK_INT(stream_take(h, s, &out, 1 << 16, now_ms() + 3600 * 1000, NULL), 0);
	}
	CHECK(atomic_load(&grown_waits) > 0);
	stream_unsubscribe(h, s);
	jcs_buf_free(&out);
	stream_hub_stop(h); /* within the ledger wait's bound: the stub's, here */
}

/* The writer hands the listener n rows, positions first..., by actor. */
static void hand_over(const struct ledger_listener *li, uint64_t first, size_t n,
                      const char *actor, uint64_t generation)
{
	char seq[8][24];
	const char *val[8][15];
	unsigned long len[8][15] = {{0}};
	struct db_row rows[8];
	CHECK(n <= 8);
	for (size_t i = 0; i < n; i++) {
		snprintf(seq[i], sizeof seq[i], "%llu", (unsigned long long)(first + i));
		for (int j = 0; j < 15; j++)
			val[i][j] = NULL;
		val[i][4] = actor;
		len[i][4] = strlen(actor);
		val[i][12] = seq[i];
		len[i][12] = strlen(seq[i]);
		rows[i] = (struct db_row){15, val[i], len[i]};
	}
	li->take(li->arg, first, rows, n, generation);
}

static size_t count(const struct jcs_buf *b, const char *what)
{
	size_t n = 0, k = strlen(what);
	for (size_t i = 0; i + k <= b->len; i++)
		n += !memcmp(b->data + i, what, k);
	return n;
}

/* What the log's writer hands over at COMMIT is taken without reading
 * the store; what an erasure may have changed since is read again. */
static void test_handed_over(void)
{
	struct stream_hub *h = hub_with_writer(16);
	CHECK(head_reaches(h, stored));
	struct ledger_listener li;
	stream_listener(h, &li);
	uint64_t gen = 99;
	CHECK(!li.wants(li.arg, &gen)); /* nobody subscribed: nothing to hand over */
	uint64_t head, oldest;
	CHECK(stream_head(h, &head, &oldest));
	struct waker w = {0};
	struct stream_sub *s = stream_subscribe(h, &(struct stream_filter){0}, head, wake, &w);
	struct jcs_buf out = {0};
	int64_t far = now_ms() + 3600 * 1000;
	CHECK_INT(stream_take(h, s, &out, 1 << 16, far, NULL), 0);
	CHECK(li.wants(li.arg, &gen));

	/* Handed over, then committed (the ledger grows): no read. */
	int read_before = atomic_load(&reads);
	hand_over(&li, head, 2, "handed", gen);
	store("b");
	store("b");
	CHECK(wakes_reach(&w, 1));
	CHECK(head_reaches(h, head + 2));
	CHECK(stream_take(h, s, &out, 1 << 16, far, NULL) > 0);
	char ids[64], want[64];
	ids_of(&out, ids, sizeof ids);
	snprintf(want, sizeof want, "%llu %llu", (unsigned long long)head,
	         (unsigned long long)(head + 1));
	CHECK_STR(ids, want);
	CHECK_INT(count(&out, "\"actorId\":\"handed\""), 2);
	CHECK_INT(atomic_load(&reads), read_before);
	out.len = 0;

	/* Handed over before an erasure (stream_forget): stale, read again. */
	CHECK_INT(stream_take(h, s, &out, 1 << 16, far, NULL), 0);
	CHECK(li.wants(li.arg, &gen));
	stream_forget(h);
	hand_over(&li, head + 2, 1, "stale", gen);
	int wakes = atomic_load(&w.wakes);
	store("b");
	CHECK(wakes_reach(&w, wakes + 1));
	CHECK(stream_take(h, s, &out, 1 << 16, far, NULL) > 0);
	CHECK_INT(count(&out, "\"actorId\":\"stale\""), 0);
	CHECK_INT(count(&out, "\"actorId\":\"b\""), 1);
	CHECK(atomic_load(&reads) > read_before);
	out.len = 0;

	/* Positions already read are dropped; a later append waits its turn. */
	CHECK_INT(stream_take(h, s, &out, 1 << 16, far, NULL), 0);
	CHECK(li.wants(li.arg, &gen));
	hand_over(&li, head, 3, "old", gen);          /* below the head: dropped */
	hand_over(&li, head + 4, 1, "second", gen);   /* after a gap: kept */
	hand_over(&li, head + 3, 1, "first", gen);
	wakes = atomic_load(&w.wakes);
	read_before = atomic_load(&reads);
	store("b");
	store("b");
	CHECK(head_reaches(h, head + 5));
	CHECK(wakes_reach(&w, wakes + 1));
	CHECK(stream_take(h, s, &out, 1 << 16, far, NULL) > 0);
	ids_of(&out, ids, sizeof ids);
	snprintf(want, sizeof want, "%llu %llu", (unsigned long long)(head + 3),
	         (unsigned long long)(head + 4));
	CHECK_STR(ids, want);
	CHECK_INT(count(&out, "\"actorId\":\"first\""), 1);
	CHECK_INT(count(&out, "\"actorId\":\"second\""), 1);
	CHECK_INT(count(&out, "\"actorId\":\"old\""), 0);
	CHECK_INT(atomic_load(&reads), read_before);
	out.len = 0;

	stream_unsubscribe(h, s);
	CHECK(!li.wants(li.arg, &gen));
	hand_over(&li, head + 5, 1, "unwanted", gen); /* freed by the hub's stop */
	jcs_buf_free(&out);
	stream_hub_stop(h);
}

/* A subscriber that follows several logs: each message's id is its
 * position in every log (stream_id.h), this log's moved to the message's;
 * a take leaves this log's entry at the last position passed. With log 0
 * alone the bytes are the rendered ones. */
static void test_ids_of_several_logs(void)
{
	json_t *r = resource(7, "a");
	struct stream_event *e = stream_event_new(r);
	CHECK(e != NULL);
	CHECK_INT(e->id_len, strlen("id: 7\n"));
	struct jcs_buf out = {0};
	struct stream_id id = {0};
	stream_event_put(e, 0, &id, &out); /* log 0 alone: as rendered */
	CHECK_INT(out.len, e->len);
	CHECK(!memcmp(out.data, e->msg, e->len));
	out.len = 0;
	stream_id_set(&id, 1024, 5);
	stream_id_set(&id, 2, 99);
	stream_event_put(e, 0, &id, &out);
	CHECK(out.len > 27 && !memcmp(out.data, "id: 0-7.2-99.1024-5\ndata: {", 27));
	CHECK(!memcmp(out.data + out.len - (e->len - e->id_len), e->msg + e->id_len,
	              e->len - e->id_len));
	CHECK_INT(out.status, 0);
	stream_event_free(e);
	json_decref(r);

	/* Through a hub of log 0: ids carry the other logs' positions. */
	struct stream_hub *h;
	struct stream_hub_config cfg = {.db = NULL, .log = 0, .poll_ms = 1, .buffer = 64};
	CHECK_INT(stream_hub_start(&cfg, &h), 0);
	CHECK(head_reaches(h, stored));
	uint64_t head, oldest;
	CHECK(stream_head(h, &head, &oldest));
	struct waker w = {0};
	struct stream_filter fa = {.actor_type = "service", .actor_id = "a"};
	struct stream_sub *s = stream_subscribe(h, &fa, head, wake, &w);
	int64_t far = now_ms() + 60000;
	id = (struct stream_id){0};
	stream_id_set(&id, 1, 41);
	out.len = 0;
	CHECK_INT(stream_take(h, s, &out, 1 << 16, far, &id), 0);
	uint64_t seq = 0;
	CHECK(stream_id_get(&id, 0, &seq) && seq == head - 1); /* passed: before its start */
	store("a");
	store("b"); /* passed, not sent */
	CHECK(wakes_reach(&w, 1));
	CHECK(head_reaches(h, head + 2));
	CHECK(stream_take(h, s, &out, 1 << 16, far, &id) > 0);
	char want[64];
	snprintf(want, sizeof want, "id: 0-%llu.1-41\ndata: ", (unsigned long long)head);
	CHECK(out.len > strlen(want) && !memcmp(out.data, want, strlen(want)));
	CHECK_INT(count(&out, "id: "), 1);
	CHECK(stream_id_get(&id, 0, &seq) && seq == head + 1);
	CHECK(stream_id_get(&id, 1, &seq) && seq == 41);
	CHECK_INT(id.n, 2);
	/* stream_wake wakes a waiting subscriber with nothing new. */
	CHECK_INT(stream_take(h, s, &out, 1 << 16, far, &id), 0);
	int before = atomic_load(&w.wakes);
	stream_wake(h);
	CHECK_INT(atomic_load(&w.wakes), before + 1);
	stream_wake(h); /* no longer waiting: no second wake */
	CHECK_INT(atomic_load(&w.wakes), before + 1);
	stream_unsubscribe(h, s);
	jcs_buf_free(&out);
	stream_hub_stop(h);
}

/* With no subscriber the hub reads nothing, however much the log grows
 * (another auditor may write it: the store says where it ends, not this
 * process's ledger); a subscriber that comes then from the store's end
 * finds the hub's head there, without the hub reading what lies before,
 * and one from an earlier position reads the store. */
static void test_idle_then_subscribed(void)
{
	struct stream_hub *h;
	struct stream_hub_config cfg = {.db = NULL, .log = 0, .poll_ms = 1, .buffer = 8};
	CHECK_INT(stream_hub_start(&cfg, &h), 0);
	CHECK(head_reaches(h, stored));
	uint64_t head, oldest;
	CHECK(stream_head(h, &head, &oldest));
	usleep(20000);
	int read_before = atomic_load(&reads);
	for (int i = 0; i < 20; i++)
		store("b");
	usleep(50000); /* fifty polls' time */
	CHECK_INT(atomic_load(&reads), read_before);
	uint64_t now_head, now_oldest;
	CHECK(stream_head(h, &now_head, &now_oldest));
	CHECK_INT(now_head, head);
	struct waker w = {0}, w2 = {0};
	struct stream_sub *s =
	    stream_subscribe(h, &(struct stream_filter){0}, head + 20, wake, &w);
	CHECK(head_reaches(h, head + 20));
	struct jcs_buf out = {0};
	int64_t far = now_ms() + 60000;
	CHECK(stream_head(h, &now_head, &now_oldest));
	CHECK_INT(now_oldest, head + 20); /* nothing of [head, head + 20) read into the ring */
	CHECK_INT(stream_take(h, s, &out, 1 << 16, far, NULL), 0);
	struct stream_sub *s2 = stream_subscribe(h, &(struct stream_filter){0}, head, wake, &w2);
	CHECK_INT(stream_take(h, s2, &out, 1 << 16, far, NULL), STREAM_BEHIND);
	store("b");
	CHECK(wakes_reach(&w, 1));
	CHECK(stream_take(h, s, &out, 1 << 16, far, NULL) > 0);
	stream_unsubscribe(h, s2);
	stream_unsubscribe(h, s);
	jcs_buf_free(&out);
	stream_hub_stop(h);
}

static bool count_reaches(struct stream_logs *set, size_t want)
{
	for (int i = 0; i < 3000 && stream_logs_count(set) < want; i++)
		usleep(1000);
	return stream_logs_count(set) >= want;
}

/* The set of hubs: the writers' logs from the start (each hub its
 * ledger's listener), the other logs the store lists found at once and
 * later; a new log wakes the streams that wait, so that they follow it
 * too; at most STREAM_ID_LOGS_MAX logs. */
static void test_logs(void)
{
	static char writer0, records;
	struct ledger *ledgers[] = {(struct ledger *)&writer0};
	struct stream_logs_config cfg = {.poll_ms = 1,
	                                 .buffer = 8,
	                                 .ledgers = ledgers,
	                                 .nledgers = 1,
	                                 .records = (struct ledger *)&records,
	                                 .records_log = 1024,
	                                 .own_logs_from = 1024};
	pthread_mutex_lock(&store_lock);
	listed[nlisted++] = 1025; /* another auditor's own log */
	pthread_mutex_unlock(&store_lock);
	struct stream_logs *set;
	CHECK_INT(stream_logs_start(&cfg, &set), 0);
	CHECK(listened == (struct ledger *)&records); /* the last one started */
	CHECK(count_reaches(set, 3));
	uint32_t logs[3];
	struct stream_hub *hubs[3];
	for (size_t i = 0; i < 3; i++)
		hubs[i] = stream_logs_hub(set, i, &logs[i]);
	CHECK_INT(logs[0], 0);
	CHECK_INT(logs[1], 1024);
	CHECK_INT(logs[2], 1025);
	struct stream_id ends;
	CHECK_INT(stream_stored_ends(db_thread(NULL), &ends), DB_OK);
	CHECK_INT(ends.n, 2); /* the store's, followed or not */
	CHECK_INT(ends.log[1], 1025);

	/* A stream waiting on log 0 is woken when a log is found. */
	CHECK(head_reaches(hubs[0], stored));
	uint64_t head, oldest;
	CHECK(stream_head(hubs[0], &head, &oldest));
	struct waker w = {0};
	struct stream_sub *s = stream_subscribe(hubs[0], &(struct stream_filter){0}, head, wake, &w);
	struct jcs_buf out = {0};
	CHECK_INT(stream_take(hubs[0], s, &out, 1 << 16, now_ms() + 60000, NULL), 0);
	pthread_mutex_lock(&store_lock);
	listed[nlisted++] = 5; /* a partition's log of an earlier deployment: not followed */
	listed[nlisted++] = 1030;
	pthread_mutex_unlock(&store_lock);
	CHECK(count_reaches(set, 4)); /* within a look: a second */
	CHECK(wakes_reach(&w, 1));
	uint32_t log;
	stream_logs_hub(set, 3, &log);
	CHECK_INT(log, 1030);
	CHECK(!stream_logs_follows(set, 5) && stream_logs_follows(set, 1030));
	CHECK_INT(stream_logs_add(set, 1030), 0); /* there already */
	CHECK_INT(stream_logs_count(set), 4);
	stream_logs_forget(set);
	CHECK(stream_head(hubs[0], &head, &oldest) && oldest == head);
	stream_unsubscribe(hubs[0], s);
	jcs_buf_free(&out);

	/* At most STREAM_ID_LOGS_MAX; the store listing more is an error. */
	int refused = 0;
	for (uint32_t l = 2000; l < 2000 + STREAM_ID_LOGS_MAX; l++)
		refused += stream_logs_add(set, l) != 0;
	CHECK_INT(refused, 4);
	CHECK_INT(stream_logs_count(set), STREAM_ID_LOGS_MAX);
	pthread_mutex_lock(&store_lock);
	for (uint32_t l = 3000; l < 3000 + STREAM_ID_LOGS_MAX; l++)
		listed[nlisted++] = l;
	pthread_mutex_unlock(&store_lock);
	CHECK_INT(stream_stored_ends(db_thread(NULL), &ends), DB_ERR);
	stream_logs_stop(set);
	CHECK(listened == NULL);
	/* One classic partition: the auditors' own events are in log 0, and
	 * the store's other logs (an earlier deployment's) are not followed. */
	struct stream_logs_config one = {.poll_ms = 1, .buffer = 8, .ledgers = ledgers, .nledgers = 1};
	CHECK_INT(stream_logs_start(&one, &set), 0);
	usleep(50000);
	CHECK_INT(stream_logs_count(set), 1);
	CHECK(stream_logs_follows(set, 0) && !stream_logs_follows(set, 1024) &&
	      !stream_logs_follows(set, 1));
	stream_logs_stop(set);
	pthread_mutex_lock(&store_lock);
	nlisted = 0;
	pthread_mutex_unlock(&store_lock);
}

int main(void)
{
	test_render_and_filters();
	test_hub();
	test_commit_wakes();
	test_handed_over();
	test_ids_of_several_logs();
	test_idle_then_subscribed();
	test_logs();
	return test_report("stream");
}
