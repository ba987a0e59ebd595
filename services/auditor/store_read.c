/* The audit log read side: a page of events, read through the statement
 * query_plan.c builds for the query, assembled into JSON:API resources,
 * with the checker's flags of its events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditor.h"
#include "ledger.h" /* LEDGER_ID_LEN */
#include "spans.h"
#include "sql_id.h"

struct page_ctx {
	struct store_page *page;
	unsigned limit;
	size_t events;
	json_t *current; /* attributes of the event being assembled */
	char current_id[UUID_STR_LEN + 1];
};

static json_t *parse_json_text(const char *s, size_t len)
{
	json_t *v = s ? json_loadb(s, len, JSON_DECODE_ANY, NULL) : NULL;
	return v ? v : json_null();
}

static int page_row(void *arg, const struct db_row *row)
{
	struct page_ctx *p = arg;
	const char *const *v = row->val;
	if (strcmp(p->current_id, v[0])) {
		if (++p->events > p->limit) {
			p->page->more = true;
			return 1; /* the extra event only says that more follow */
		}
		snprintf(p->current_id, sizeof p->current_id, "%s", v[0]);
		int64_t ts = strtoll(v[2], NULL, 10);
		json_t *attrs = json_pack(
		    "{s:s, s:I, s:s%, s:s%, s:s%, s:s%, s:o, s:I, s:I, s:o, s:o}", "action", v[1],
		    "timestamp", (json_int_t)ts, "actorType", v[3], (size_t)row->len[3], "actorId",
		    v[4], (size_t)row->len[4], "targetType", v[5], (size_t)row->len[5], "targetId",
		    v[6], (size_t)row->len[6], "eventName",
		    v[7] ? json_stringn(v[7], row->len[7]) : json_null(), "log",
		    (json_int_t)strtoll(v[11], NULL, 10), "seq",
		    (json_int_t)strtoll(v[12], NULL, 10), "targetVersion",
		    strcmp(v[14], "0") ? json_integer(strtoll(v[14], NULL, 10)) : json_null(),
		    "traceId", v[15] ? json_stringn(v[15], row->len[15]) : json_null());
		if (!attrs)
			return DB_ERR;
		/* jsonapi_resource steals attrs even when it fails, so attrs may be
		 * used only once the page holds the resource. An event that cannot
		 * be built fails the page: it is never left out silently. */
		json_t *r = jsonapi_resource("data-events", v[0], attrs);
		if (!r || json_array_append_new(p->page->data, r))
			return DB_ERR;
		p->current = attrs; /* borrowed: the page owns it */
		p->page->last.version = strtoll(v[14], NULL, 10);
		p->page->last.timestamp = ts;
		snprintf(p->page->last.id, sizeof p->page->last.id, "%s", v[0]);
	}
	if (v[8]) {
		json_t *changes = json_object_get(p->current, "changes");
		if (!changes && json_object_set_new(p->current, "changes", changes = json_object()))
			return DB_ERR;
		/* An erased field's values are gone; its commitments stay in the
		 * log (docs/ledger.md). */
		json_t *change = v[13] ? json_pack("{s:o, s:o}", "prev", parse_json_text(v[9], row->len[9]),
		                                   "next", parse_json_text(v[10], row->len[10]))
		                       : json_pack("{s:b}", "erased", 1);
		if (!change || json_object_set_new(changes, v[8], change))
			return DB_ERR;
	}
	return 0;
}

int store_rows_page(const struct db_row *rows, size_t n, json_t **out)
{
	struct store_page page = {0};
	struct page_ctx pc = {.page = &page, .limit = (unsigned)n};
	*out = NULL;
	if (!(page.data = json_array()))
		return DB_ERR;
	for (size_t i = 0; i < n; i++)
		if (page_row(&pc, &rows[i])) {
			json_decref(page.data);
			return DB_ERR;
		}
	*out = page.data;
	return DB_OK;
}

/* ---- the checker's flags of a page's events (meta.flags) ---- */

static int flag_row(void *arg, const struct db_row *row)
{
	json_t *page = arg;
	for (size_t i = 0; i < json_array_size(page); i++) {
		json_t *r = json_array_get(page, i);
		if (strcmp(json_string_value(json_object_get(r, "id")), row->val[0]))
			continue;
		json_t *meta = json_object_get(r, "meta");
		if (!meta && json_object_set_new(r, "meta", meta = json_pack("{s:[]}", "flags")))
			return DB_ERR;
		json_t *flag = json_pack("{s:s, s:o, s:s}", "kind", row->val[1], "field",
		                         row->len[2] ? json_stringn(row->val[2], row->len[2]) : json_null(),
		                         "detail", row->val[3]);
		if (!flag || json_array_append_new(json_object_get(meta, "flags"), flag))
			return DB_ERR;
		return 0;
	}
	return 0;
}

/* Adds meta.flags to each event of the page that the checker flagged
 * (checker.h): one query over the page's ids, their list padded to a power
 * of two (the last id repeated) so that few statements are prepared. */
static int attach_flags(struct db *db, json_t *data)
{
	size_t n = json_array_size(data), padded = 1;
	if (!n)
		return DB_OK;
	while (padded < n)
		padded *= 2;
	static const char head[] = "SELECT " SQL_ID("event_id") ", flag, field, detail FROM "
	                           "data_event_flags "
	                           "WHERE event_id IN (";
	static const char tail[] = ") ORDER BY event_id, flag, field";
	char *sql = malloc(sizeof head + padded * sizeof SQL_ID_ARG + sizeof tail);
	struct db_value *ids = malloc(padded * sizeof *ids);
	int st = DB_ERR;
	if (sql && ids) {
		char *p = sql + sprintf(sql, "%s", head);
		for (size_t i = 0; i < padded; i++) {
			if (i)
				*p++ = ',';
			memcpy(p, SQL_ID_ARG, sizeof SQL_ID_ARG - 1);
			p += sizeof SQL_ID_ARG - 1;
			json_t *r = json_array_get(data, i < n ? i : n - 1);
			ids[i] = DB_TEXT(json_string_value(json_object_get(r, "id")));
		}
		strcpy(p, tail);
		st = db_query(db, sql, ids, padded, flag_row, data);
	}
	free(sql);
	free(ids);
	return st;
}

static int span_row(void *arg, const struct db_row *row)
{
	struct plan_query *q = arg;
	if (row->val[0] && row->val[1]) {
		q->version_min = strtoll(row->val[0], NULL, 10) << SPAN_LOG2;
		q->version_max = ((strtoll(row->val[1], NULL, 10) + 1) << SPAN_LOG2) - 1;
	}
	return 0;
}

/* The versions of q's target whose events may lie in its window: from the
 * first to the last block whose span meets [since, until) (one range of
 * the spans' primary key, a row per 2^SPAN_LOG2 versions). Blocks
 * between them that do not meet it are read too: a few, where late events
 * stretch a block's span. */
static int version_range(struct db *db, struct plan_query *q)
{
	struct db_value v[] = {DB_TEXT(q->target_type), DB_TEXT(q->target_id),
	                       DB_INT(q->has_until ? q->until : INT64_MAX),
	                       DB_INT(q->has_since ? q->since : INT64_MIN)};
	q->has_versions = true;
	q->version_min = 1; /* none, unless a block meets the window */
	q->version_max = 0;
	return db_query(db,
	                "SELECT MIN(block), MAX(block) FROM data_event_version_spans "
	                "WHERE target_type = ? AND target_id = ? AND first_at < ? AND last_at >= ?",
	                v, 4, span_row, q);
}

int store_query_rows(struct db *db, const struct plan_query *query, db_row_fn fn, void *ctx)
{
	struct plan_query q_ = *query, *q = &q_;
	int st = q->target_type && (q->has_since || q->has_until) ? version_range(db, q) : DB_OK;
	if (st < 0)
		return st;
	struct plan plan;
	const char *why, *param;
	st = query_plan(q, &plan, &why, &param);
	if (st)
		return st == PLAN_NO_INDEX ? DB_ERR_DATA : DB_ERR;
	st = db_query(db, plan.sql, plan.params, plan.n, fn, ctx);
	plan_free(&plan);
	return st;
}

int store_query_events(struct db *db, const struct plan_query *q, struct store_page *page)
{
	memset(page, 0, sizeof *page);
	if (!(page->data = json_array()))
		return DB_ERR;
	struct page_ctx p = {.page = page, .limit = q->limit};
	int st = store_query_rows(db, q, page_row, &p);
	if (st >= 0)
		st = attach_flags(db, page->data);
	if (st < 0) {
		json_decref(page->data);
		page->data = NULL;
		return st;
	}
	return DB_OK;
}

/* ---- by position (the live stream) ---- */

/* The ids of positions [from, from + want) as the appends give them, up
 * to the first position no append gives yet. */
struct positions {
	uint64_t from, next; /* next: the position whose id comes next */
	unsigned want;
	char (*ids)[LEDGER_ID_LEN];
};

static int positions_row(void *arg, const struct db_row *row)
{
	struct positions *p = arg;
	uint64_t first = strtoull(row->val[0], NULL, 10);
	size_t n = row->val[1] ? row->len[1] / LEDGER_ID_LEN : 0;
	if (first > p->next || first + n <= p->next)
		return 1; /* a gap (not committed yet): the run ends before it */
	for (uint64_t s = p->next; s < first + n && s - p->from < p->want; s++)
		memcpy(p->ids[s - p->from], row->val[1] + (s - first) * LEDGER_ID_LEN, LEDGER_ID_LEN);
	uint64_t end = first + n < p->from + p->want ? first + n : p->from + p->want;
	p->next = end;
	return end == p->from + p->want;
}

int store_read_positions(struct db *db, uint32_t log, uint64_t from, unsigned limit,
                         struct store_page *page)
{
	memset(page, 0, sizeof *page);
	if (limit > STORE_POSITIONS_MAX)
		limit = STORE_POSITIONS_MAX;
	struct positions p = {.from = from, .next = from, .want = limit};
	char *sql = NULL;
	struct db_value *ids = NULL;
	int st = DB_ERR;
	if (!(page->data = json_array()) || !(p.ids = malloc((size_t)(limit ? limit : 1) *
	                                                     sizeof *p.ids)))
		goto out;
	st = DB_OK;
	if (!limit)
		goto out;
	/* From the append holding from (the last that starts at or before
	 * it), as tree_append_start finds it, in the same statement. */
	struct db_value k[] = {DB_INT(log), DB_INT(log), DB_INT((long long)from),
	                       DB_INT((long long)from), DB_INT((long long)(from + limit))};
	st = db_query(db,
	              "SELECT first_seq, event_ids FROM log_appends WHERE log_id = ? AND "
	              "first_seq >= COALESCE((SELECT MAX(first_seq) FROM log_appends WHERE "
	              "log_id = ? AND first_seq <= ?), ?) AND first_seq < ? ORDER BY first_seq",
	              k, 5, positions_row, &p);
	if (st < 0)
		goto out;
	size_t n = (size_t)(p.next - from), padded = 1;
	st = DB_OK;
	if (!n)
		goto out;
	while (padded < n)
		padded *= 2;
	/* The rows of each event in position order, its changes by field: the
	 * columns of a page's statement (query_plan.h), so page_row builds the
	 * very resource a page holds. The id list is padded to a power of two
	 * (the last id repeated) so that few statements are prepared. */
	static const char head[] =
	    "SELECT " SQL_ID("e.event_id") ", e.action, e.occurred_at, e.actor_type, e.actor_id, "
	    "e.target_type, e.target_id, e.event_name, c.field, v.prev_value, v.next_value, "
	    "e.log_id, e.seq, v.field, e.target_version, " SQL_TRACE("e.trace_id") " "
	    "FROM data_events e LEFT JOIN data_event_changes c ON c.event_id = e.event_id "
	    "LEFT JOIN data_event_values v ON v.event_id = c.event_id AND v.field = c.field "
	    "WHERE e.log_id = ? AND e.event_id IN (";
	static const char tail[] = ") ORDER BY e.seq, c.field";
	st = DB_ERR;
	if (!(sql = malloc(sizeof head + padded * sizeof SQL_ID_ARG + sizeof tail)) ||
	    !(ids = malloc((padded + 1) * sizeof *ids)))
		goto out;
	char *w = sql + sprintf(sql, "%s", head);
	ids[0] = DB_INT(log);
	for (size_t i = 0; i < padded; i++) {
		if (i)
			*w++ = ',';
		memcpy(w, SQL_ID_ARG, sizeof SQL_ID_ARG - 1);
		w += sizeof SQL_ID_ARG - 1;
		ids[i + 1] = DB_BLOB(p.ids[i < n ? i : n - 1], LEDGER_ID_LEN);
	}
	strcpy(w, tail);
	struct page_ctx pc = {.page = page, .limit = (unsigned)n};
	st = db_query(db, sql, ids, padded + 1, page_row, &pc);
	if (st < 0)
		goto out;
	st = DB_OK;
	page->more = false;
	/* Keep the run gap-free: an event row that is not the one its append
	 * names at its position (a row changed by hand) ends it there. */
	for (size_t i = 0; i < json_array_size(page->data); i++) {
		json_t *at = json_object_get(json_array_get(page->data, i), "attributes");
		if (json_integer_value(json_object_get(at, "seq")) != (json_int_t)(from + i)) {
			while (json_array_size(page->data) > i)
				json_array_remove(page->data, i);
			break;
		}
	}
out:
	free(sql);
	free(ids);
	free(p.ids);
	if (st < 0) {
		json_decref(page->data);
		page->data = NULL;
	}
	return st;
}
