/* The auditor's page builder (services/auditor/store_read.c) against a stub
 * database: the rows a query would return are fed to it as db_query would,
 * so the JSON:API page it assembles can be checked without MariaDB. */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "auditor.h"
#include "testhelp.h"

/* ---- jansson's memory, fenced: every block has pages of its own, and a
 * freed block's pages become inaccessible for good, so touching a freed
 * json_t faults even inside libjansson, which ASan does not instrument. */

#define FENCE_HEAD 16

static void *fence_malloc(size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t total = (n + FENCE_HEAD + page - 1) / page * page;
	char *p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	*(size_t *)p = total;
	return p + FENCE_HEAD;
}

static void fence_free(void *ptr)
{
	if (!ptr)
		return;
	char *p = (char *)ptr - FENCE_HEAD;
	mprotect(p, *(size_t *)p, PROT_NONE);
}

/* ---- the stub database: db_query replays rows[] ---- */

#define COLS 16
struct stub_row {
	const char *val[COLS];
};

static const struct stub_row *stub_rows;
static size_t stub_nrows;
static int stub_status; /* returned by db_query instead of rows when non-zero */
static char last_sql[8192]; /* a copy: the statement is freed after the query */
static struct db_value last_params[8];
static size_t last_nparams, flags_nparams;

/* The flags of a page's events (attach_flags), replayed for its query. */
static const char *const (*stub_flags)[4];
static size_t stub_nflags;

static int flags_query(const char *sql, size_t n, db_row_fn fn, void *ctx)
{
	flags_nparams = n;
	(void)sql;
	for (size_t r = 0; r < stub_nflags; r++) {
		unsigned long len[4];
		for (size_t c = 0; c < 4; c++)
			len[c] = strlen(stub_flags[r][c]);
		struct db_row row = {4, stub_flags[r], len};
		int st = fn(ctx, &row);
		if (st)
			return st;
	}
	return DB_OK;
}

int db_query(struct db *db, const char *sql, const struct db_value *params, size_t n, db_row_fn fn,
             void *ctx)
{
	(void)db;
	if (strstr(sql, "FROM data_event_flags"))
		return flags_query(sql, n, fn, ctx);
	snprintf(last_sql, sizeof last_sql, "%s", sql);
	last_nparams = n;
	for (size_t i = 0; i < n && i < 8; i++)
		last_params[i] = params[i];
	if (stub_status)
		return stub_status;
	for (size_t r = 0; r < stub_nrows; r++) {
		unsigned long len[COLS];
		for (size_t c = 0; c < COLS; c++)
			len[c] =
			    stub_rows[r].val[c] ? (unsigned long)strlen(stub_rows[r].val[c]) : 0;
		struct db_row row = {COLS, stub_rows[r].val, len};
		int st = fn(ctx, &row);
		if (st)
			return st;
	}
	return DB_OK;
}

int db_exec(struct db *db, const char *sql, const struct db_value *params, size_t n,
            uint64_t *affected, uint64_t *insert_id)
{
	(void)db, (void)sql, (void)params, (void)n, (void)affected, (void)insert_id;
	return DB_ERR;
}

int db_run_tx(struct db *db, db_tx_fn fn, void *ctx)
{
	(void)db, (void)fn, (void)ctx;
	return DB_ERR;
}

static int query(const struct stub_row *rows, size_t n, unsigned limit, struct store_page *page)
{
	stub_rows = rows;
	stub_nrows = n;
	struct plan_query q = {.target_type = "users", .target_id = "2", .limit = limit};
	return store_query_events(NULL, &q, page);
}

#define E1 "0190b6a8-7c2e-7abc-8def-000000000002"
#define E2 "0190b6a8-7c2e-7abc-8def-000000000001"
#define E3 "0190b6a8-7c2e-7abc-8def-000000000000"
#define TRACE "4bf92f3577b34da6a3ce929d0e0e4736"

/* A changed event with two changes, a viewed one, then the extra event
 * that only says another page follows. */
static const struct stub_row three[] = {
    {{E1, "changed", "1795833313145", "users", "1", "users", "2", NULL, "agreedTos", "false",
      "true", "0", "12", "agreedTos", "5", TRACE}},
    {{E1, "changed", "1795833313145", "users", "1", "users", "2", NULL, "email", NULL, NULL, "0",
      "12", NULL, "5", TRACE}},
    {{E1, "changed", "1795833313145", "users", "1", "users", "2", NULL, "name", "\"A\"", "\"B\"",
      "0", "12", "name", "5", TRACE}},
    {{E2, "viewed", "1795833313144", "users", "1", "users", "2", "token-issued", NULL, NULL, NULL,
      "0", "11", NULL, "4"}},
    {{E3, "viewed", "1795833313143", "users", "1", "users", "2", NULL, NULL, NULL, NULL, "0", "10",
      NULL, "0"}},
};

static void test_page(void)
{
	struct store_page page;
	CHECK_INT(query(three, 5, 2, &page), DB_OK);
	CHECK_INT(json_array_size(page.data), 2);
	CHECK(page.more);
	CHECK_STR(page.last.id, E2);
	CHECK_INT(page.last.timestamp, 1795833313144LL);
	CHECK_INT(page.last.version, 4);
	json_t *first = json_array_get(page.data, 0);
	CHECK_STR(json_string_value(json_object_get(first, "id")), E1);
	json_t *changes = json_object_get(json_object_get(first, "attributes"), "changes");
	CHECK_INT(json_object_size(changes), 3);
	CHECK(json_is_true(json_object_get(json_object_get(changes, "agreedTos"), "next")));
	/* A field whose values were erased says so, and nothing else. */
	CHECK(json_is_true(json_object_get(json_object_get(changes, "email"), "erased")));
	CHECK_INT(json_object_size(json_object_get(changes, "email")), 1);
	/* The position in the log of record. */
	CHECK_INT(json_integer_value(json_object_get(json_object_get(first, "attributes"), "seq")), 12);
	CHECK_INT(json_integer_value(json_object_get(json_object_get(first, "attributes"), "log")), 0);
	CHECK_STR(json_string_value(json_object_get(json_object_get(changes, "name"), "prev")),
	          "A");
	/* The request's trace, or null for an event without one. */
	CHECK_STR(
	    json_string_value(json_object_get(json_object_get(first, "attributes"), "traceId")),
	    TRACE);
	json_t *second = json_object_get(json_array_get(page.data, 1), "attributes");
	CHECK(json_is_null(json_object_get(second, "traceId")));
	CHECK_STR(json_string_value(json_object_get(second, "eventName")), "token-issued");
	CHECK_INT(json_integer_value(json_object_get(second, "targetVersion")), 4);
	CHECK(json_object_get(second, "changes") == NULL);
	/* Parameters: the target and limit + 1 (the first page: no keyset). */
	CHECK_INT(last_nparams, 3);
	CHECK_STR(last_params[0].s, "users");
	CHECK_STR(last_params[1].s, "2");
	CHECK_INT(last_params[2].i, 3);
	CHECK(strstr(last_sql, "data_events_target") != NULL);
	json_decref(page.data);

	/* The whole answer fits: no next page. */
	CHECK_INT(query(three, 5, 3, &page), DB_OK);
	CHECK_INT(json_array_size(page.data), 3);
	CHECK(!page.more);
	/* The flags were asked for the page's three events (the list padded to
	 * four), and none came. */
	CHECK_INT(flags_nparams, 4);
	CHECK(json_object_get(json_array_get(page.data, 0), "meta") == NULL);
	json_decref(page.data);

	/* The checker's flags land on their events as meta.flags. */
	static const char *const flags[][4] = {{E2, "gap", "", "version 3 was not stored before it"},
	                                       {E2, "drift", "name", "its prev of name is not ..."},
	                                       {"0190b6a8-7c2e-7abc-8def-00000000ffff", "late", "", "x"}};
	stub_flags = flags;
	stub_nflags = 3;
	CHECK_INT(query(three, 5, 3, &page), DB_OK);
	CHECK(json_object_get(json_array_get(page.data, 0), "meta") == NULL);
	json_t *f = json_object_get(json_object_get(json_array_get(page.data, 1), "meta"), "flags");
	CHECK_INT(json_array_size(f), 2);
	CHECK_STR(json_string_value(json_object_get(json_array_get(f, 0), "kind")), "gap");
	CHECK(json_is_null(json_object_get(json_array_get(f, 0), "field")));
	CHECK_STR(json_string_value(json_object_get(json_array_get(f, 1), "field")), "name");
	CHECK(json_object_get(json_array_get(page.data, 2), "meta") == NULL);
	stub_flags = NULL;
	stub_nflags = 0;
	json_decref(page.data);
}

/* A resource that cannot be built (here an id that is not UTF-8, so
 * json_pack refuses it; in production only out of memory) fails the page:
 * the builder must neither keep using the attributes object the failed
 * json_pack already released (heap-use-after-free under ASan when the row
 * also carries a change) nor drop the event silently. */
static const struct stub_row bad_id[] = {
    {{"0190b6a8-7c2e-7abc-8def-00000000000\xff", "changed", "1795833313145", "users", "1", "users",
      "2", NULL, "name", "\"A\"", "\"B\"", "0", "1", "name", "1"}},
    {{"0190b6a8-7c2e-7abc-8def-00000000000\xff", "changed", "1795833313145", "users", "1", "users",
      "2", NULL, "email", "\"a@x\"", "\"b@x\"", "0", "1", "email", "1"}},
    {{E3, "viewed", "1795833313143", "users", "1", "users", "2", NULL, NULL, NULL, NULL, "0", "0",
      NULL, "0"}},
};

static void test_resource_fails(void)
{
	struct store_page page;
	CHECK_INT(query(bad_id, 3, 10, &page), DB_ERR);
	CHECK(page.data == NULL);
}

/* filter[traceId] alone: one range of the trace index, the id bound as
 * text and unhexed by the statement; with a target, the history's index
 * and the trace checked on each row. */
static void test_trace_filter(void)
{
	struct store_page page;
	stub_rows = three;
	stub_nrows = 5;
	struct plan_query q = {.trace_id = TRACE, .limit = 10};
	CHECK_INT(store_query_events(NULL, &q, &page), DB_OK);
	CHECK(strstr(last_sql, "FORCE INDEX (data_events_trace) WHERE e.trace_id = UNHEX(?)") !=
	      NULL);
	CHECK_STR(last_params[0].s, TRACE);
	json_decref(page.data);
	struct plan_query t = {
	    .target_type = "users", .target_id = "2", .trace_id = TRACE, .limit = 10};
	CHECK_INT(store_query_events(NULL, &t, &page), DB_OK);
	CHECK(strstr(last_sql, "data_events_target") != NULL);
	CHECK(strstr(last_sql, "data_events.trace_id = UNHEX(?)") != NULL);
	json_decref(page.data);
	/* An actor's query with a trace goes through the trace's few events,
	 * not the actor's range. */
	struct plan_query a = {
	    .actor_type = "users", .actor_id = "1", .trace_id = TRACE, .limit = 10};
	CHECK_INT(store_query_events(NULL, &a, &page), DB_OK);
	CHECK(strstr(last_sql, "data_events_trace") != NULL);
	CHECK(strstr(last_sql, "data_events_actor") == NULL);
	CHECK(strstr(last_sql, "e.actor_type = ?") != NULL);
	json_decref(page.data);
}

static void test_db_error(void)
{
	struct store_page page;
	stub_status = DB_ERR_GONE;
	CHECK_INT(query(three, 5, 2, &page), DB_ERR_GONE);
	CHECK(page.data == NULL);
	stub_status = 0;
}

int main(void)
{
	json_set_alloc_funcs(fence_malloc, fence_free);
	test_page();
	test_resource_fails();
	test_trace_filter();
	test_db_error();
	return test_report("store");
}
