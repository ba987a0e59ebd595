/* The audit log read side: keyset-paginated pages of events by actor and
 * by target, assembled into JSON:API resources. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditor.h"

/* The page is read in one statement: the events (limit + 1, to learn
 * whether another page follows) joined with their changes and the values
 * of those (none when erased). Columns: see enum col. */
#define PAGE_SQL(where)                                                                      \
	"SELECT e.event_id, e.action, e.occurred_at, e.actor_type, e.actor_id, e.target_type, "  \
	"e.target_id, e.event_name, c.field, v.prev_value, v.next_value, e.log_id, e.seq, "      \
	"v.field FROM ("                                                                         \
	"SELECT log_id, seq, event_id, action, occurred_at, actor_type, actor_id, target_type, " \
	"target_id, event_name FROM data_events WHERE " where                                    \
	" AND (occurred_at < ? OR (occurred_at = ? AND event_id < ?)) "                          \
	"ORDER BY occurred_at DESC, event_id DESC LIMIT ?) e "                                   \
	"LEFT JOIN data_event_changes c ON c.event_id = e.event_id "                             \
	"LEFT JOIN data_event_values v ON v.event_id = c.event_id AND v.field = c.field "        \
	"ORDER BY e.occurred_at DESC, e.event_id DESC, c.field"

static const char sql_by_actor[] = PAGE_SQL("actor_type = ? AND actor_id = ?");
static const char sql_by_target[] = PAGE_SQL("target_type = ? AND target_id = ?");
static const char sql_by_both[] =
    PAGE_SQL("target_type = ? AND target_id = ? AND actor_type = ? AND actor_id = ?");

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
		    "{s:s, s:I, s:s%, s:s%, s:s%, s:s%, s:o, s:I, s:I}", "action", v[1], "timestamp",
		    (json_int_t)ts, "actorType", v[3], (size_t)row->len[3], "actorId", v[4],
		    (size_t)row->len[4], "targetType", v[5], (size_t)row->len[5], "targetId", v[6],
		    (size_t)row->len[6], "eventName", v[7] ? json_stringn(v[7], row->len[7]) : json_null(),
		    "log", (json_int_t)strtoll(v[11], NULL, 10), "seq",
		    (json_int_t)strtoll(v[12], NULL, 10));
		if (!attrs)
			return DB_ERR;
		/* jsonapi_resource steals attrs even when it fails, so attrs may be
		 * used only once the page holds the resource. An event that cannot
		 * be built fails the page: it is never left out silently. */
		json_t *r = jsonapi_resource("data-events", v[0], attrs);
		if (!r || json_array_append_new(p->page->data, r))
			return DB_ERR;
		p->current = attrs; /* borrowed: the page owns it */
		p->page->last_timestamp = ts;
		snprintf(p->page->last_id, sizeof p->page->last_id, "%s", v[0]);
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

int store_query_events(struct db *db, const struct store_query *q, struct store_page *page)
{
	memset(page, 0, sizeof *page);
	if (!(page->data = json_array()))
		return DB_ERR;
	struct db_value v[8];
	size_t n = 0;
	const char *sql;
	if (q->target_type) {
		v[n++] = DB_TEXT(q->target_type);
		v[n++] = DB_TEXT(q->target_id);
	}
	if (q->actor_type) {
		v[n++] = DB_TEXT(q->actor_type);
		v[n++] = DB_TEXT(q->actor_id);
	}
	sql = q->target_type ? (q->actor_type ? sql_by_both : sql_by_target) : sql_by_actor;
	v[n++] = DB_INT(q->after_timestamp);
	v[n++] = DB_INT(q->after_timestamp);
	v[n++] = DB_TEXT(q->after_id);
	v[n++] = DB_INT((long long)q->limit + 1);
	struct page_ctx p = {.page = page, .limit = q->limit};
	int st = db_query(db, sql, v, n, page_row, &p);
	if (st < 0) {
		json_decref(page->data);
		page->data = NULL;
		return st;
	}
	return DB_OK;
}
