/* The audit log's SQL: idempotent batched inserts and keyset-paginated
 * reads over the actor and target indexes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditor.h"
#include "log.h"

struct batch_tx {
	const struct event *events;
	size_t n, stored;
};

static int insert_changes(struct db *db, const struct event *ev)
{
	const char *field;
	json_t *change;
	json_object_foreach(ev->changes, field, change)
	{
		char *prev = json_dumps(json_object_get(change, "prev"), JSON_COMPACT | JSON_ENCODE_ANY);
		char *next = json_dumps(json_object_get(change, "next"), JSON_COMPACT | JSON_ENCODE_ANY);
		int st = DB_ERR;
		if (prev && next) {
			struct db_value v[] = {DB_TEXT(ev->id), DB_TEXT(field), DB_TEXT(prev), DB_TEXT(next)};
			st = db_exec(db,
			             "INSERT INTO data_event_changes (event_id, field, prev_value, next_value) "
			             "VALUES (?, ?, ?, ?)",
			             v, 4, NULL, NULL);
		}
		free(prev);
		free(next);
		if (st)
			return st;
	}
	return DB_OK;
}

static int insert_in_tx(struct db *db, void *arg)
{
	struct batch_tx *t = arg;
	t->stored = 0;
	for (size_t i = 0; i < t->n; i++) {
		const struct event *ev = &t->events[i];
		struct db_value v[] = {
		    DB_TEXT(ev->id),          DB_TEXT(event_action_name(ev->action)),
		    DB_INT(ev->timestamp),    DB_TEXT(ev->actor_type),
		    DB_TEXT(ev->actor_id),    DB_TEXT(ev->target_type),
		    DB_TEXT(ev->target_id),   ev->event_name[0] ? DB_TEXT(ev->event_name) : DB_NULL_VALUE,
		};
		uint64_t affected = 0;
		/* A redelivered event hits the unique key and changes nothing; any
		 * other error still fails the batch (unlike INSERT IGNORE). */
		int st = db_exec(db,
		                 "INSERT INTO data_events (event_id, action, occurred_at, actor_type, "
		                 "actor_id, target_type, target_id, event_name) "
		                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
		                 "ON DUPLICATE KEY UPDATE event_id = event_id",
		                 v, 8, &affected, NULL);
		if (st)
			return st;
		if (affected == 0)
			continue;
		t->stored++;
		if (ev->changes && (st = insert_changes(db, ev)))
			return st;
	}
	return DB_OK;
}

int store_insert_batch(struct db *db, const struct event *events, size_t n, size_t *stored)
{
	struct batch_tx t = {events, n, 0};
	int st = db_run_tx(db, insert_in_tx, &t);
	*stored = st ? 0 : t.stored;
	return st;
}

/* The page is read in one statement: the events (limit + 1, to learn
 * whether another page follows) joined with their changes. */
#define PAGE_SQL(where)                                                                      \
	"SELECT e.event_id, e.action, e.occurred_at, e.actor_type, e.actor_id, e.target_type, "  \
	"e.target_id, e.event_name, c.field, c.prev_value, c.next_value FROM ("                  \
	"SELECT event_id, action, occurred_at, actor_type, actor_id, target_type, target_id, "   \
	"event_name FROM data_events WHERE " where                                               \
	" AND (occurred_at < ? OR (occurred_at = ? AND event_id < ?)) "                          \
	"ORDER BY occurred_at DESC, event_id DESC LIMIT ?) e "                                   \
	"LEFT JOIN data_event_changes c ON c.event_id = e.event_id "                             \
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
		    "{s:s, s:I, s:s%, s:s%, s:s%, s:s%, s:o}", "action", v[1], "timestamp",
		    (json_int_t)ts, "actorType", v[3], (size_t)row->len[3], "actorId", v[4],
		    (size_t)row->len[4], "targetType", v[5], (size_t)row->len[5], "targetId", v[6],
		    (size_t)row->len[6], "eventName", v[7] ? json_stringn(v[7], row->len[7]) : json_null());
		if (!attrs)
			return DB_ERR;
		json_array_append_new(p->page->data, jsonapi_resource("data-events", v[0], attrs));
		p->current = attrs;
		p->page->last_timestamp = ts;
		snprintf(p->page->last_id, sizeof p->page->last_id, "%s", v[0]);
	}
	if (v[8]) {
		json_t *changes = json_object_get(p->current, "changes");
		if (!changes) {
			changes = json_object();
			json_object_set_new(p->current, "changes", changes);
		}
		json_object_set_new(changes, v[8],
		                    json_pack("{s:o, s:o}", "prev", parse_json_text(v[9], row->len[9]),
		                              "next", parse_json_text(v[10], row->len[10])));
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
