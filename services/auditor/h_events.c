/* Reading the audit log: "what did actor X do" and "who did what to
 * target Y", newest first, a page at a time. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "auditor.h"
#include "cursor.h"
#include "filter.h"

#define LINK_MAX 1024

/* Refuses parameters we do not understand, as JSON:API asks. */
static int check_params(struct http_request *req, const char *const *known)
{
	const struct query *q = http_query(req);
	for (size_t i = 0; i < q->n; i++) {
		const char *const *k = known;
		while (*k && strcmp(*k, q->key[i]))
			k++;
		if (!*k) {
			http_reply_error(req, 400, "Invalid query parameter",
			                 "Unknown query parameter \"%.64s\".", q->key[i]);
			return -1;
		}
	}
	return 0;
}

/* Runs q (filters set by the caller) with the page parameters of req, and
 * replies with links built on path plus the filter parameters given. */
static void answer(struct http_request *req, struct store_query *q, const char *path,
                   const char *const *filter_keys)
{
	struct auditor *a = http_app(req);
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
		http_reply_error(req, 400, "Invalid cursor",
		                 "page[after] must be a cursor taken from a links.next of this API.");
		return;
	}
	struct db *db = db_thread(&a->db);
	if (!db) {
		http_reply_error(req, 503, "Service unavailable", "The database is unreachable.");
		return;
	}
	struct store_page page;
	int st = store_query_events(db, q, &page);
	if (st) {
		http_reply_error(req, st == DB_ERR_GONE ? 503 : 500,
		                 st == DB_ERR_GONE ? "Service unavailable" : "Internal error",
		                 "The audit log could not be read (%s).", db_status_string(st));
		return;
	}
	char self[LINK_MAX], next[LINK_MAX], sizebuf[16];
	snprintf(self, sizeof self, "%s?", path);
	for (const char *const *k = filter_keys; *k; k++)
		if (query_get(qs, *k))
			query_append(self, sizeof self, *k, query_get(qs, *k));
	snprintf(sizebuf, sizeof sizebuf, "%ld", size);
	query_append(self, sizeof self, "page[size]", sizebuf);
	strcpy(next, self);
	if (after)
		query_append(self, sizeof self, "page[after]", after);
	json_t *links = json_pack("{s:s}", "self", self);
	if (page.more) {
		char cursor[CURSOR_MAX];
		cursor_encode(page.last_timestamp, page.last_id, cursor);
		query_append(next, sizeof next, "page[after]", cursor);
		json_object_set_new(links, "next", json_string(next));
	}
	http_reply_json(req, 200, json_pack("{s:o, s:o}", "data", page.data, "links", links));
}

/* GET /api/:type/:id/data-events: the original's path, by target. */
void h_events_for_target(struct http_request *req)
{
	static const char *const known[] = {"page[size]", "page[after]", NULL};
	static const char *const filters[] = {NULL};
	const char *type = http_param(req, 0), *id = http_param(req, 1);
	if (check_params(req, known))
		return;
	if (!event_type_valid(type, strlen(type)) || !event_ref_valid(id, strlen(id))) {
		http_reply_error(req, 400, "Invalid path",
		                 "The type must be an identifier ([A-Za-z0-9_.-], at most %d) and the "
		                 "id at most %d characters without control characters.",
		                 EVENT_TYPE_MAX, EVENT_REF_MAX);
		return;
	}
	struct store_query q = {.target_type = type, .target_id = id};
	answer(req, &q, http_path(req), filters);
}

/* GET /data-events?filter[actor]=type:id&filter[target]=type:id */
void h_events_query(struct http_request *req)
{
	static const char *const known[] = {"filter[actor]", "filter[target]", "page[size]",
	                                    "page[after]", NULL};
	static const char *const filters[] = {"filter[actor]", "filter[target]", NULL};
	if (check_params(req, known))
		return;
	const struct query *qs = http_query(req);
	const char *actor = query_get(qs, "filter[actor]"), *target = query_get(qs, "filter[target]");
	struct filter_ref a, t;
	struct store_query q = {0};
	if ((!actor && !target) || (actor && filter_parse_ref(actor, &a)) ||
	    (target && filter_parse_ref(target, &t))) {
		http_reply_error(req, 400, "Invalid filter",
		                 "Give filter[actor]=type:id, filter[target]=type:id or both; type is "
		                 "an identifier ([A-Za-z0-9_.-]) and id has no control characters.");
		return;
	}
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
