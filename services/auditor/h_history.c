/* A target's history beyond the list of its events: its state at any
 * instant, and the changes of one field. */
#include <stdio.h>
#include <string.h>

#include <stdlib.h>

#include "auditor.h"
#include "checker.h"
#include "reads.h"
#include "timestamp.h"

/* GET /api/:type/:id/state?at=T: the target's attributes at T, rebuilt
 * from its events alone; 404 when it did not exist then. */
void h_state(struct http_request *req)
{
	const char *type = http_param(req, 0), *id = http_param(req, 1);
	if (events_check_path(req, type, id))
		return;
	if (!auth_may_read(http_claims(req), NULL, NULL, type, id)) {
		http_reply_forbidden(req, "A token reads only the history of its own user; the "
		                          "auditor role reads all.");
		return;
	}
	const char *at_text = query_get(http_query(req), "at");
	int64_t at;
	if (!at_text) {
		http_reply_param_error(req, "at", "Missing parameter",
		                       "at is required: the instant, " TIMESTAMP_RULE ".");
		return;
	}
	if (timestamp_parse(at_text, strlen(at_text), &at)) {
		http_reply_param_error(req, "at", "Invalid parameter",
		                       "at must be " TIMESTAMP_RULE ", from 1970 to 9999.");
		return;
	}
	char target[EVENT_TYPE_MAX + EVENT_REF_MAX + 2];
	snprintf(target, sizeof target, "%s:%s", type, id);
	const char *const path[] = {"target", target, NULL};
	if (reads_record(req, READS_STATE, type, id, path))
		return;
	struct db *db = auditor_query_reader(req, NULL);
	if (!db)
		return;
	struct state_answer s;
	int st = store_state_at(db, type, id, at, &s);
	if (st) {
		http_reply_error(req, st == DB_ERR_GONE ? 503 : 500,
		                 st == DB_ERR_GONE ? "Service unavailable" : "Internal error",
		                 "The audit log could not be read (%s).", db_status_string(st));
		return;
	}
	char when[TIMESTAMP_TEXT_MAX], then[TIMESTAMP_TEXT_MAX];
	timestamp_format(at, when);
	/* The event named in a 404: its version when it carries one (events
	 * from producers that send none have no version, not version 0). */
	char made[96];
	if (s.version)
		snprintf(made, sizeof made, "version %lld, event %s", (long long)s.version, s.event_id);
	else
		snprintf(made, sizeof made, "event %s, which carries no version", s.event_id);
	if (!s.found) {
		if (s.deleted_at) {
			timestamp_format(s.deleted_at, then);
			http_reply_error(
			    req, 404, "Not found",
			    "%s:%s did not exist at %s: it was deleted at %s (%s).", type, id, when,
			    then, made);
		} else if (s.ever && !strcmp(s.action, "created")) {
			timestamp_format(s.created_at, then);
			http_reply_error(req, 404, "Not found",
			                 "%s:%s did not exist at %s: it was created at %s (%s).", type, id,
			                 when, then, made);
		} else if (s.ever) {
			/* The log never saw its creation (it predates the log, or its
			 * producer did not send it). */
			timestamp_format(s.created_at, then);
			http_reply_error(req, 404, "Not found",
			                 "The audit log knows nothing of %s:%s at %s: its first stored event "
			                 "is a %s at %s (%s).",
			                 type, id, when, s.action, then, made);
		} else {
			http_reply_error(
			    req, 404, "Not found",
			    "The audit log holds no creation, change or deletion of %s:%s.", type,
			    id);
		}
		return;
	}
	timestamp_format(s.timestamp, then);
	json_t *resource = jsonapi_resource(type, id, s.attributes);
	s.attributes = NULL; /* stolen */
	/* meta: the version at that instant, the instant asked, when and how
	 * the version was made, the fields whose value was erased. */
	json_t *meta = json_pack("{s:o, s:s, s:s, s:s, s:O}", "version",
	                         s.version ? json_integer((json_int_t)s.version) : json_null(),
	                         "asOf", when, "changedAt", then, "action", s.action, "erased",
	                         s.erased);
	json_t *rel = json_pack("{s:{s:{s:s, s:s}}}", "event", "data", "type", "data-events", "id",
	                        s.event_id);
	state_answer_clear(&s);
	/* json_object_set_new steals its value even when it fails. */
	int bad = !resource || !meta || !rel;
	if (!bad) {
		bad = json_object_set_new(resource, "meta", meta);
		bad |= json_object_set_new(resource, "relationships", rel);
		meta = rel = NULL;
	}
	json_decref(meta);
	json_decref(rel);
	if (bad) {
		json_decref(resource);
		http_reply_error(req, 500, "Internal error", "The answer could not be built.");
		return;
	}
	http_reply_json(req, 200, json_pack("{s:o}", "data", resource));
}

/* GET /api/:type/:id/fields/:field/history: every change of one field,
 * newest version first, a page at a time. */
void h_field_history(struct http_request *req)
{
	static const char *const filters[] = {NULL};
	const char *type = http_param(req, 0), *id = http_param(req, 1),
	           *field = http_param(req, 2);
	if (events_check_path(req, type, id))
		return;
	if (!event_field_valid(field, strlen(field))) {
		http_reply_error(req, 400, "Invalid path",
		                 "The path's :field must be " EVENT_TYPE_RULE
		                 ", at most 64 of them.");
		return;
	}
	struct plan_query q = {.target_type = type, .target_id = id, .field = field};
	events_answer(req, &q, http_path(req), filters, READS_HISTORY);
}

static int count_row(void *arg, const struct db_row *row)
{
	json_t *flags = arg;
	return json_object_set_new(flags, row->val[0], json_integer(strtoll(row->val[1], NULL, 10)))
	           ? DB_ERR
	           : 0;
}

/* One log's log-checks resource: the positions its checker has checked,
 * the log's size as this auditor knows it, and the flags stored, per kind.
 * NULL with *st set when the flags could not be counted. */
static json_t *log_checks(struct db *db, struct checker *c, uint32_t log, struct ledger *l,
                          int *st)
{
	uint64_t checked = 0;
	checker_stats(c, &checked, NULL);
	json_t *flags = json_object();
	for (int k = 0; flags && k < CHECK_FLAG_KINDS; k++)
		if (json_object_set_new(flags, check_flag_name((enum check_flag)k),
		                        json_integer(0))) {
			json_decref(flags);
			flags = NULL;
		}
	struct db_value v = DB_INT(log);
	*st = flags ? db_query(db,
	                       "SELECT flag, COUNT(*) FROM data_event_flags WHERE log_id = ? "
	                       "GROUP BY flag",
	                       &v, 1, count_row, flags)
	            : DB_ERR;
	if (*st) {
		json_decref(flags);
		return NULL;
	}
	char id[16];
	snprintf(id, sizeof id, "%u", (unsigned)log);
	json_t *attrs = json_pack("{s:I, s:I, s:I, s:o}", "log", (json_int_t)log, "checkedTo",
	                          (json_int_t)checked, "size", (json_int_t)ledger_size(l), "flags",
	                          flags);
	json_t *r = jsonapi_resource("log-checks", id, attrs);
	if (!r)
		*st = DB_ERR;
	return r;
}

/* GET /checks (auditor role): a log-checks resource for each log this
 * auditor checks (every partition's with one classic queue; its share's
 * with quorum queues: README "Partitions and several auditors"). */
void h_checks(struct http_request *req)
{
	struct auditor *a = http_app(req);
	if (!http_claims(req)->auditor) {
		http_reply_forbidden(req, "The checker's counts need the auditor role.");
		return;
	}
	if (reads_record(req, READS_CHECKS, NULL, NULL, NULL))
		return;
	struct db *db = auditor_query_reader(req, NULL);
	if (!db)
		return;
	json_t *data = json_array();
	int st = data ? DB_OK : DB_ERR;
	for (unsigned p = 0; !st && p < a->nlogs; p++) {
		if (!a->checkers[p])
			continue;
		json_t *r = log_checks(db, a->checkers[p], p, a->ledgers[p], &st);
		if (r && json_array_append_new(data, r))
			st = DB_ERR;
	}
	if (st) {
		json_decref(data);
		http_reply_error(req, st == DB_ERR_GONE ? 503 : 500,
		                 st == DB_ERR_GONE ? "Service unavailable" : "Internal error",
		                 "The flags could not be counted (%s).", db_status_string(st));
		return;
	}
	http_reply_json(req, 200, json_pack("{s:o}", "data", data));
}
