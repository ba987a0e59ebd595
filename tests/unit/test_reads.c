/* reads.c alone: the queue of read records and its recorder thread against
 * a stub store (store_insert_batch below) that takes, refuses or blocks,
 * and reads_record against a stub request. No database, no HTTP. */
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auditor.h"
#include "clock.h"
#include "reads.h"
#include "testhelp.h"

/* ---- the stub store ---- */

enum mode { TAKE, GONE, BLOCK };
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static enum mode mode = TAKE;
static char refuse_id[UUID_STR_LEN + 1]; /* DB_ERR_DATA for a batch holding it */
static int calls;
#define STORED_MAX 64
static struct event stored[STORED_MAX]; /* copies, changes increfed */
static size_t nstored;

int store_insert_batch(struct db *db, struct ledger *ledger, const struct event *events, size_t n,
                       size_t *out)
{
	(void)db, (void)ledger;
	pthread_mutex_lock(&lock);
	calls++;
	pthread_cond_broadcast(&changed);
	while (mode == BLOCK)
		pthread_cond_wait(&changed, &lock);
	int st = mode == GONE ? DB_ERR_GONE : DB_OK;
	for (size_t i = 0; !st && i < n; i++)
		if (!strcmp(events[i].id, refuse_id))
			st = DB_ERR_DATA;
	for (size_t i = 0; !st && i < n && nstored < STORED_MAX; i++) {
		stored[nstored] = events[i];
		json_incref(stored[nstored++].changes);
	}
	*out = st ? 0 : n;
	pthread_mutex_unlock(&lock);
	return st;
}

static void set_mode(enum mode m)
{
	pthread_mutex_lock(&lock);
	mode = m;
	pthread_cond_broadcast(&changed);
	pthread_mutex_unlock(&lock);
}

/* Waits until the store was called more than `than` times. */
static void wait_calls(int than)
{
	pthread_mutex_lock(&lock);
	while (calls <= than)
		pthread_cond_wait(&changed, &lock);
	pthread_mutex_unlock(&lock);
}

static size_t count_stored(void)
{
	pthread_mutex_lock(&lock);
	size_t n = nstored;
	pthread_mutex_unlock(&lock);
	return n;
}

static void forget_stored(void)
{
	for (size_t i = 0; i < nstored; i++)
		event_clear(&stored[i]);
	nstored = 0;
	calls = 0;
	refuse_id[0] = '\0';
}

static int dummy_db;
int db_connect(const struct db_config *cfg, struct db **out)
{
	(void)cfg;
	*out = (struct db *)&dummy_db;
	return DB_OK;
}
void db_close(struct db *db) { (void)db; }
bool db_broken(const struct db *db) { return (void)db, false; }
const char *db_status_string(int st) { return st ? "failed" : "ok"; }
uint32_t ledger_log(const struct ledger *l) { return (void)l, 0; }

/* ---- the stub request ---- */

struct http_request {
	struct auditor *a;
	struct query q;
	struct auth_claims claims;
	unsigned status; /* the reply, 0 for none */
};
void *http_app(const struct http_request *req) { return req->a; }
const struct query *http_query(const struct http_request *req) { return &req->q; }
const struct auth_claims *http_claims(const struct http_request *req) { return &req->claims; }
const char *http_trace_id(const struct http_request *req)
{
	(void)req;
	return "0af7651916cd43dd8448eb211c80319c";
}
void http_reply_error(struct http_request *req, unsigned status, const char *title,
                      const char *fmt, ...)
{
	(void)title, (void)fmt;
	req->status = status;
}

static struct event ev_of(const char *name)
{
	struct event ev;
	event_init(&ev, EVENT_VIEWED, "users", "1", "logs", "0", NULL);
	snprintf(ev.event_name, sizeof ev.event_name, "%s", name);
	return ev;
}

/* A full queue refuses, the batch being stored counting; what was queued
 * is stored in order once the store takes it. */
static void test_full_queue_refuses(void)
{
	struct reads *r;
	struct reads_config cfg = {.queue_max = 3, .linger_ms = 1};
	CHECK_INT(reads_start(&cfg, &r), 0);
	set_mode(BLOCK);
	struct event ev[5];
	ev[0] = ev_of("q0");
	CHECK_INT(reads_enqueue(r, &ev[0]), 0);
	wait_calls(0); /* the recorder holds it, blocked */
	for (int i = 1; i < 5; i++) {
		char name[8];
		snprintf(name, sizeof name, "q%d", i);
		ev[i] = ev_of(name);
		CHECK_INT(reads_enqueue(r, &ev[i]), i < 3 ? 0 : -1);
	}
	struct reads_stats st;
	reads_stats(r, &st);
	CHECK_INT(st.queued, 3);
	CHECK_INT(st.refused, 2);
	CHECK_INT(count_stored(), 0);
	set_mode(TAKE);
	int64_t until = clock_ms() + 5000;
	while (count_stored() < 3 && clock_ms() < until)
		usleep(1000);
	CHECK_INT(count_stored(), 3);
	for (size_t i = 0; i < 3 && i < nstored; i++) {
		char name[8];
		snprintf(name, sizeof name, "q%zu", i);
		CHECK_STR(stored[i].event_name, name);
		CHECK_STR(stored[i].id, ev[i].id);
	}
	/* Room again. */
	struct event more = ev_of("q5");
	CHECK_INT(reads_enqueue(r, &more), 0);
	reads_stop(r);
	CHECK_INT(count_stored(), 4);
	forget_stored();
}

/* Stopping stores what lingers; with the store away it gives up after
 * stop_ms, counting the records dropped. */
static void test_stop(void)
{
	struct reads *r;
	struct reads_config cfg = {.queue_max = 10, .linger_ms = 600000};
	CHECK_INT(reads_start(&cfg, &r), 0);
	for (int i = 0; i < 4; i++) {
		struct event ev = ev_of("lingers");
		CHECK_INT(reads_enqueue(r, &ev), 0);
	}
	usleep(50000);
	CHECK_INT(count_stored(), 0); /* lingering */
	reads_stop(r);
	CHECK_INT(count_stored(), 4);
	forget_stored();

	cfg.stop_ms = 300;
	CHECK_INT(reads_start(&cfg, &r), 0);
	set_mode(GONE);
	for (int i = 0; i < 2; i++) {
		struct event ev = ev_of("lost");
		CHECK_INT(reads_enqueue(r, &ev), 0);
	}
	int64_t t0 = clock_ms();
	reads_stop(r);
	int64_t took = clock_ms() - t0;
	CHECK(took >= 250 && took < 3000);
	CHECK_INT(count_stored(), 0);
	set_mode(TAKE);
	forget_stored();
}

/* A record the database refuses as data is dropped alone; the others of its
 * batch are stored. */
static void test_refused_record(void)
{
	struct reads *r;
	struct reads_config cfg = {.queue_max = 10, .linger_ms = 600000};
	CHECK_INT(reads_start(&cfg, &r), 0);
	struct event ev[3];
	for (int i = 0; i < 3; i++) {
		ev[i] = ev_of("batch");
		if (i == 1)
			memcpy(refuse_id, ev[i].id, sizeof refuse_id);
		CHECK_INT(reads_enqueue(r, &ev[i]), 0);
	}
	reads_stop(r);
	CHECK_INT(count_stored(), 2);
	if (nstored == 2) {
		CHECK_STR(stored[0].id, ev[0].id);
		CHECK_STR(stored[1].id, ev[2].id);
	}
	forget_stored();
}

/* reads_record: the event a read becomes. */
static void test_record(void)
{
	struct reads *r;
	struct reads_config cfg = {.queue_max = 1, .linger_ms = 600000};
	CHECK_INT(reads_start(&cfg, &r), 0);
	struct auditor a = {.reads = r};
	struct http_request req = {.a = &a, .claims = {.user_id = 7, .user_id_str = "7"}};
	const char *why;
	CHECK_INT(query_parse("filter%5Bactor%5D=users%3A2&page%5Bsize%5D=5&at=1%C3%A9%FF", &req.q,
	                      &why),
	          0);
	const char *const extra[] = {"format", "text/csv", "skipped", NULL, "size", "9", NULL};
	CHECK_INT(reads_record(&req, READS_EXPORT, "users", "2", extra), 0);
	CHECK_INT(req.status, 0);
	/* The queue is full: refused with 503, nothing queued. */
	CHECK_INT(reads_record(&req, READS_EXPORT, NULL, NULL, NULL), -1);
	CHECK_INT(req.status, 503);
	query_free(&req.q);
	reads_stop(r);
	CHECK_INT(count_stored(), 1);
	if (nstored == 1) {
		const struct event *e = &stored[0];
		CHECK_INT(e->action, EVENT_VIEWED);
		CHECK_STR(e->actor_type, "users");
		CHECK_STR(e->actor_id, "7");
		CHECK_STR(e->target_type, "users");
		CHECK_STR(e->target_id, "2");
		CHECK_STR(e->event_name, "audit.export");
		CHECK_INT(e->target_version, 0);
		CHECK_STR(e->trace_id,
		          "0af7651916cd43dd8448eb211c80319c"); /* the read's request's */
		json_t *want = json_loads("{\"read.actor\":{\"prev\":null,\"next\":\"users:2\"},"
		                          "\"read.size\":{\"prev\":null,\"next\":\"9\"},"
		                          "\"read.at\":{\"prev\":null,\"next\":\"1\xC3\xA9\xEF\xBF\xBD\"},"
		                          "\"read.format\":{\"prev\":null,\"next\":\"text/csv\"}}",
		                          0, NULL);
		CHECK(want && json_equal(e->changes, want));
		json_decref(want);
	}
	forget_stored();

	/* No target: the log itself; no parameters: no changes. */
	CHECK_INT(reads_start(&cfg, &r), 0);
	a.reads = r;
	CHECK_INT(query_parse("", &req.q, &why), 0);
	CHECK_INT(reads_record(&req, READS_CHECKS, NULL, NULL, NULL), 0);
	query_free(&req.q);
	reads_stop(r);
	CHECK_INT(count_stored(), 1);
	if (nstored == 1) {
		CHECK_STR(stored[0].target_type, "logs");
		CHECK_STR(stored[0].target_id, "0");
		CHECK(stored[0].changes == NULL);
	}
	forget_stored();
}

/* What a handler pays for a record: printed, not checked (the machine
 * decides it). */
static void test_cost(void)
{
	enum { N = 20000 };
	struct reads *r;
	struct reads_config cfg = {.queue_max = N, .linger_ms = 600000};
	CHECK_INT(reads_start(&cfg, &r), 0);
	struct auditor a = {.reads = r};
	struct http_request req = {.a = &a, .claims = {.user_id = 7, .user_id_str = "7"}};
	const char *why;
	CHECK_INT(query_parse("filter%5Btarget%5D=users%3A2&filter%5Baction%5D=changed&page%5Bsize%5D=50",
	                      &req.q, &why),
	          0);
	int failed = 0;
	int64_t t0 = clock_ns();
	for (int i = 0; i < N; i++)
		failed += reads_record(&req, READS_QUERY, "users", "2", NULL) != 0;
	int64_t ns = clock_ns() - t0;
	CHECK_INT(failed, 0);
	printf("reads_record: %.2f us per read (%d reads, 3 parameters)\n", ns / 1e3 / N, N);
	query_free(&req.q);
	reads_stop(r);
	CHECK_INT(count_stored(), STORED_MAX);
	forget_stored();
}

int main(void)
{
	test_full_queue_refuses();
	test_stop();
	test_refused_record();
	test_record();
	test_cost();
	return test_report("reads");
}
