/* Reading the audit log: "what did actor X do" and "who did what to
 * target Y", newest first, a page at a time. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "auditor.h"
#include "cursor.h"
#include "filter.h"

#define LINK_MAX 1024

struct db *auditor_reader(struct http_request *req)
{
	struct auditor *a = http_app(req);
	struct db *db = db_thread(&a->db);
	if (!db)
		http_reply_error(req, 503, "Service unavailable", "The database is unreachable.");
	return db;
}

/* Runs q (filters set by the caller) with the page parameters of req, and
 * replies with links built on path plus the filter parameters given. */
static void answer(struct http_request *req, struct store_query *q, const char *path,
                   const char *const *filter_keys)
{
	const struct query *qs = http_query(req);
	long size;
	if (!auth_may_read(http_claims(req), q->actor_type, q->actor_id, q->target_type,
	                   q->target_id)) {
		http_reply_forbidden(req, "A token reads only events whose actor or target is its "
		                          "own user; the auditor role reads all.");
		return;
	}
	if (http_query_int(req, "page[size]", 1, EVENTS_PAGE_MAX, EVENTS_PAGE_DEFAULT, &size))
		return;
	q->limit = (unsigned)size;
	q->after_timestamp = INT64_MAX;
	strcpy(q->after_id, "~"); /* sorts after every id */
	const char *after = query_get(qs, "page[after]");
	if (after && cursor_decode(after, &q->after_timestamp, q->after_id)) {
		http_reply_param_error(req, "page[after]", "Invalid cursor",
		                       "page[after] must be a cursor taken from a links.next of this "
		                       "API.");
		return;
	}
	struct db *db = auditor_reader(req);
	if (!db)
		return;
	struct store_page page;
	int st = store_query_events(db, q, &page);
	if (st) {
		http_reply_error(req, st == DB_ERR_GONE ? 503 : 500,
		                 st == DB_ERR_GONE ? "Service unavailable" : "Internal error",
		                 "The audit log could not be read (%s).", db_status_string(st));
		return;
	}
	/* A page without its next link would end the list silently: links that
	 * do not fit fail the request instead (the grammar keeps them short). */
	char self[LINK_MAX], next[LINK_MAX], sizebuf[16], cursor[CURSOR_MAX];
	int bad = (size_t)snprintf(self, sizeof self, "%s?", path) >= sizeof self;
	for (const char *const *k = filter_keys; *k; k++)
		if (query_get(qs, *k))
			bad |= query_append(self, sizeof self, *k, query_get(qs, *k));
	snprintf(sizebuf, sizeof sizebuf, "%ld", size);
	bad |= query_append(self, sizeof self, "page[size]", sizebuf);
	strcpy(next, self);
	if (after)
		bad |= query_append(self, sizeof self, "page[after]", after);
	if (page.more) {
		cursor_encode(page.last_timestamp, page.last_id, cursor);
		bad |= query_append(next, sizeof next, "page[after]", cursor);
	}
	json_t *links = bad ? NULL : json_pack("{s:s}", "self", self);
	if (links && page.more && json_object_set_new(links, "next", json_string(next))) {
		json_decref(links);
		links = NULL;
	}
	if (!links) {
		json_decref(page.data);
		http_reply_error(req, 500, "Internal error",
		                 "The page's links could not be built.");
		return;
	}
	http_reply_json(req, 200, json_pack("{s:o, s:o}", "data", page.data, "links", links));
}

/* Replies 400 unless the path's type and id follow the grammar of event.h.
 * Returns 0 when they do. */
static int check_path_ref(struct http_request *req, const char *type, const char *id)
{
	if (!event_type_valid(type, strlen(type))) {
		http_reply_error(req, 400, "Invalid path",
		                 "The path's :type must be " EVENT_TYPE_RULE ".");
		return -1;
	}
	if (!event_ref_valid(id, strlen(id))) {
		http_reply_error(req, 400, "Invalid path",
		                 "The path's :id must be " EVENT_REF_RULE ".");
		return -1;
	}
	return 0;
}

/* GET /api/:type/:id/data-events: the original's path, by target. */
void h_events_for_target(struct http_request *req)
{
	static const char *const filters[] = {NULL};
	const char *type = http_param(req, 0), *id = http_param(req, 1);
	if (check_path_ref(req, type, id))
		return;
	struct store_query q = {.target_type = type, .target_id = id};
	answer(req, &q, http_path(req), filters);
}

/* Parses the filter parameter name of req into ref, if given. Returns 0
 * (*given says whether it was), or -1 after replying 400 naming it. */
static int filter_param(struct http_request *req, const char *name, struct filter_ref *ref,
                        bool *given)
{
	const char *value = query_get(http_query(req), name), *why;
	*given = value != NULL;
	if (value && filter_parse_ref(value, 0, ref, &why)) {
		http_reply_param_error(req, name, "Invalid filter", "%s %s", name, why);
		return -1;
	}
	return 0;
}

/* GET /data-events?filter[actor]=type:id&filter[target]=type:id */
void h_events_query(struct http_request *req)
{
	static const char *const filters[] = {"filter[actor]", "filter[target]", NULL};
	struct filter_ref a, t;
	bool actor, target;
	if (filter_param(req, "filter[actor]", &a, &actor) ||
	    filter_param(req, "filter[target]", &t, &target))
		return;
	if (!actor && !target) {
		http_reply_error(req, 400, "Invalid filter",
		                 "Give filter[actor]=type:id, filter[target]=type:id or both.");
		return;
	}
	struct store_query q = {0};
	if (actor) {
		q.actor_type = a.type;
		q.actor_id = a.id;
	}
	if (target) {
		q.target_type = t.type;
		q.target_id = t.id;
	}
	answer(req, &q, "/data-events", filters);
}
