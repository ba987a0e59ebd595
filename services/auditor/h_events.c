/* Reading the audit log: "what did actor X do", "who did what to target
 * Y", "what did this request do", narrowed by action, time, field,
 * eventName, flag and trace, a page at a time (README "Filters"). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "auditor.h"
#include "checker.h"
#include "cursor.h"
#include "filter.h"
#include "mediatype.h"
#include "reads.h"
#include "replica.h"
#include "timestamp.h"

/* Room for a link: every parameter a route takes, percent-encoded. */
#define LINK_MAX 4096

/* The parameters that narrow a query, as links carry them on. */
static const char *const narrowing[] = {
    "filter[actor]", "filter[target]",    "filter[action]", "filter[since]",   "filter[until]",
    "filter[field]", "filter[eventName]", "filter[flag]",   "filter[traceId]", "sort",
    NULL};

struct db *auditor_reader(struct http_request *req)
{
	struct auditor *a = http_app(req);
	struct db *db = db_thread(&a->db);
	if (!db)
		http_reply_error(req, 503, "Service unavailable", "The database is unreachable.");
	return db;
}

struct db *auditor_connect(struct auditor *a, const struct db_config *cfg)
{
	struct db *db = db_thread(cfg);
	return db || cfg == &a->db ? db : db_thread(&a->db);
}

struct db *auditor_query_reader(struct http_request *req, const struct db_config **cfg)
{
	struct auditor *a = http_app(req);
	const char *after = http_header(req, GTID_HEADER);
	struct gtid_pos pos;
	if (after &&
	    (http_header_count(req, GTID_HEADER) > 1 || gtid_parse(after, strlen(after), &pos))) {
		http_reply_error(req, 400, "Invalid " GTID_HEADER,
		                 GTID_HEADER " must be, once, a position a write's answer gave in its "
		                 GTID_HEADER " header (a MariaDB GTID position such as 0-1-4711).");
		return NULL;
	}
	const struct db_config *use =
	    a->replica ? replica_choose(a->replica, after ? &pos : NULL) : &a->db;
	struct db *db = auditor_connect(a, use);
	if (!db) {
		http_reply_error(req, 503, "Service unavailable", "The database is unreachable.");
		return NULL;
	}
	if (cfg)
		*cfg = use;
	return db;
}

/* Parses the comma list of names param (filter_parse_names) into *bits.
 * Returns 0, or -1 after replying 400 naming param. */
static int name_list(struct http_request *req, const char *param, const char *const *names,
                     unsigned n, const char *rule, unsigned *bits)
{
	const char *s = query_get(http_query(req), param);
	*bits = 0;
	if (s && filter_parse_names(s, names, n, bits)) {
		http_reply_param_error(req, param, "Invalid filter",
		                       "%s must be one or a comma list of %s, each at most once.", param,
		                       rule);
		return -1;
	}
	return 0;
}

/* The instant of param, if given. Returns 0, or -1 after replying 400.
 * An end (until, exclusive) may also be the millisecond after the last
 * one an event may have, so that a window can hold it. */
static int instant(struct http_request *req, const char *param, bool end, bool *given,
                   int64_t *ms)
{
	const char *s = query_get(http_query(req), param);
	*given = s != NULL;
	if (s && end && !strcmp(s, TIMESTAMP_END_TEXT)) {
		*ms = TIMESTAMP_MAX + 1;
		return 0;
	}
	if (s && timestamp_parse(s, strlen(s), ms)) {
		http_reply_param_error(req, param, "Invalid filter",
		                       "%s must be " TIMESTAMP_RULE ", from 1970 to 9999.", param);
		return -1;
	}
	return 0;
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

/* Reads the narrowing filters and the sort of req into q (its actor and
 * target set by the caller, or here from filter[actor] and filter[target]
 * into the refs given). Returns 0, or -1 after replying 400. */
static int narrow(struct http_request *req, struct plan_query *q)
{
	static const char *const actions[] = {"viewed", "created", "changed", "deleted"};
	const char *flags[CHECK_FLAG_KINDS];
	for (int k = 0; k < CHECK_FLAG_KINDS; k++)
		flags[k] = check_flag_name((enum check_flag)k);
	const struct query *qs = http_query(req);
	if (name_list(req, "filter[action]", actions, 4, "viewed, created, changed, deleted",
	              &q->actions) ||
	    name_list(req, "filter[flag]", flags, CHECK_FLAG_KINDS,
	              PLAN_FLAG_RULE, &q->flags) ||
	    instant(req, "filter[since]", false, &q->has_since, &q->since) ||
	    instant(req, "filter[until]", true, &q->has_until, &q->until))
		return -1;
	if (q->has_since && q->has_until && q->until <= q->since) {
		http_reply_param_error(req, "filter[until]", "Invalid filter",
		                       "filter[until] must be after filter[since] (the interval is "
		                       "[since, until)).");
		return -1;
	}
	const char *field = query_get(qs, "filter[field]");
	if (field && !event_field_valid(field, strlen(field))) {
		http_reply_param_error(req, "filter[field]", "Invalid filter",
		                       "filter[field] must be " EVENT_TYPE_RULE
		                       ", at most 64 of them.");
		return -1;
	}
	if (field)
		q->field = field;
	const char *name = query_get(qs, "filter[eventName]");
	if (name) {
		size_t n = strlen(name);
		bool ok = n > 0 && n <= EVENT_NAME_MAX;
		for (size_t i = 0; ok && i < n; i++)
			ok = (unsigned char)name[i] >= 0x20 && name[i] != 0x7f;
		if (!ok) {
			http_reply_param_error(req, "filter[eventName]", "Invalid filter",
			                       "filter[eventName] must be 1 to %d bytes without control "
			                       "characters.",
			                       EVENT_NAME_MAX);
			return -1;
		}
		q->event_name = name;
	}
	/* One request's events (README "Tracing"). The stream takes no
	 * filter[traceId] (its route refuses it). */
	const char *trace = query_get(qs, "filter[traceId]");
	if (trace && !trace_id_valid(trace, strlen(trace))) {
		http_reply_param_error(req, "filter[traceId]", "Invalid filter",
		                       "filter[traceId] must be a W3C trace-id: 32 lowercase hex "
		                       "digits, not all zero.");
		return -1;
	}
	q->trace_id = trace;
	const char *sort = query_get(qs, "sort");
	if (sort && strcmp(sort, "time") && strcmp(sort, "-time")) {
		http_reply_param_error(req, "sort", "Invalid sort",
		                       "sort must be -time (newest first, the default) or time (oldest "
		                       "first).");
		return -1;
	}
	q->ascending = sort && !strcmp(sort, "time");
	return 0;
}

/* Records the read q answers (reads.h): its target is q's target, else
 * its actor, else the log; the path's :type/:id and :field go with the
 * query's parameters, and an export's media type as format. Returns 0, or
 * -1 after replying 503. */
static int record(struct http_request *req, const struct plan_query *q, const char *kind,
                  bool path_target, int format)
{
	char target[EVENT_TYPE_MAX + EVENT_REF_MAX + 2] = "";
	if (path_target)
		snprintf(target, sizeof target, "%s:%s", q->target_type, q->target_id);
	bool by_target = q->target_type != NULL;
	const char *const extra[] = {
	    "target", path_target ? target : NULL,
	    "field",  path_target && http_param(req, 2) ? q->field : NULL,
	    "format", format > EXPORT_JSONAPI ? export_media_types[format] : NULL,
	    NULL};
	return reads_record(req, format > EXPORT_JSONAPI ? READS_EXPORT : kind,
	                    by_target ? q->target_type : q->actor_type,
	                    by_target ? q->target_id : q->actor_id, extra);
}

void events_answer(struct http_request *req, struct plan_query *q, const char *path,
                   const char *const *filter_keys, const char *kind)
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
	const char *after = query_get(qs, "page[after]");
	q->has_after = after != NULL;
	if (after && cursor_decode(after, &q->after)) {
		http_reply_param_error(req, "page[after]", "Invalid cursor",
		                       "page[after] must be a cursor taken from a links.next of this "
		                       "API.");
		return;
	}
	/* A query no index answers is refused before any work. */
	struct plan plan;
	const char *why, *param;
	int pst = query_plan(q, &plan, &why, &param);
	if (pst == PLAN_NO_INDEX) {
		http_reply_param_error(req, param, "Filter needs an index", "%s.", why);
		return;
	}
	plan_free(&plan);
	const struct db_config *src;
	struct db *db = auditor_query_reader(req, &src);
	if (!db)
		return;
	/* Content negotiation: a JSON:API page unless Accept prefers an
	 * export (README "Exports"). */
	int format = mediatype_prefer(http_header(req, "Accept"), export_media_types, EXPORT_FORMATS);
	/* The routes with a path name their target (and field) there. */
	if (record(req, q, kind, http_param(req, 0) != NULL, format))
		return;
	if (!pst && format > EXPORT_JSONAPI) {
		events_export(req, q, (enum export_format)format, src);
		return;
	}
	struct store_page page;
	int st = pst ? DB_ERR : store_query_events(db, q, &page);
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
		cursor_encode(&page.last, cursor);
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

int events_check_path(struct http_request *req, const char *type, const char *id)
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
	if (events_check_path(req, type, id))
		return;
	struct plan_query q = {.target_type = type, .target_id = id};
	events_answer(req, &q, http_path(req), filters, READS_QUERY);
}

int events_filters(struct http_request *req, struct plan_query *q, struct filter_ref *a,
                   struct filter_ref *t)
{
	bool actor, target;
	if (filter_param(req, "filter[actor]", a, &actor) ||
	    filter_param(req, "filter[target]", t, &target) || narrow(req, q))
		return -1;
	if (actor) {
		q->actor_type = a->type;
		q->actor_id = a->id;
	}
	if (target) {
		q->target_type = t->type;
		q->target_id = t->id;
	}
	return 0;
}

/* GET /data-events?filter[...]=...&sort=...: see README "Filters". */
void h_events_query(struct http_request *req)
{
	struct filter_ref a, t;
	struct plan_query q = {0};
	if (events_filters(req, &q, &a, &t))
		return;
	events_answer(req, &q, "/data-events", narrowing, READS_QUERY);
}
