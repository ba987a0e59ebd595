/* POST /erasures: an auditor erases the stored values of one target's
 * events, or of one field of them, with a reason. The erasure is itself an
 * event of the log (erase.c); reads then show those fields as
 * {"erased": true}, and the log still verifies, since its leaves hold
 * commitments to the values, not the values. */
#include <stdio.h>
#include <string.h>

#include "auditor.h"
#include "filter.h"
#include "ledger.h"
#include "stream_logs.h"

static const struct jsonapi_attr erasure_attrs[] = {
    {"target", JSONAPI_STRING, 0, 0, JSONAPI_REQUIRED},
    {"field", JSONAPI_STRING, 0, 0, JSONAPI_NULLABLE},
    {"reason", JSONAPI_STRING, 0, 1, JSONAPI_REQUIRED},
};

/* Checks the attributes against the grammar of event.h and the reason's
 * length; fills e (borrowing from attrs and ref). Returns 0, or -1 with
 * err filled (422). */
static int check(json_t *attrs, struct filter_ref *ref, struct erasure *e,
                 struct jsonapi_error *err)
{
	const char *target = json_string_value(json_object_get(attrs, "target")), *why;
	json_t *field = json_object_get(attrs, "field");
	json_t *reason = json_object_get(attrs, "reason");
	if (filter_parse_ref(target, 0, ref, &why))
		return jsonapi_fail(err, 422, "Invalid attribute", "/data/attributes/target",
		                    "target %s", why);
	/* The record of an erasure says whose values went and why: erasing it
	 * would leave an erasure nobody can account for. */
	if (!strcmp(ref->type, "erasures"))
		return jsonapi_fail(err, 422, "Invalid attribute", "/data/attributes/target",
		                    "The record of an erasure cannot itself be erased.");
	if (json_is_string(field) &&
	    !event_field_valid(json_string_value(field), json_string_length(field)))
		return jsonapi_fail(err, 422, "Invalid attribute", "/data/attributes/field",
		                    "field must be " EVENT_TYPE_RULE ", or null for every field.");
	if (json_string_length(reason) > ERASURE_REASON_MAX)
		return jsonapi_fail(err, 422, "Invalid attribute", "/data/attributes/reason",
		                    "reason is %zu bytes long; the limit is %d.",
		                    json_string_length(reason), ERASURE_REASON_MAX);
	e->target_type = ref->type;
	e->target_id = ref->id;
	e->field = json_string_value(field); /* NULL when null or absent */
	e->reason = json_string_value(reason);
	return 0;
}

/* Our failure, after or before the erasure was recorded. */
static void reply_failure(struct http_request *req, struct auditor *a, const struct erasure *e,
                          int st)
{
	const char *halted = ledger_halted(a->records);
	if (e->recorded)
		http_reply_error(req, st == DB_ERR_GONE ? 503 : 500,
		                 st == DB_ERR_GONE ? "Service unavailable" : "Internal error",
		                 "The erasure was recorded (erasures:%s) but its values were not "
		                 "erased (%s); send it again.",
		                 e->id, db_status_string(st));
	else if (halted)
		http_reply_error(req, 503, "Service unavailable",
		                 "The log is halted and records nothing: %s", halted);
	else if (st == STORE_LOG_CLOSED)
		http_reply_error(req, 503, "Service unavailable",
		                 "The log is still being opened; nothing was erased. Try again shortly.");
	else
		http_reply_error(req, st == DB_ERR_GONE ? 503 : 500,
		                 st == DB_ERR_GONE ? "Service unavailable" : "Internal error",
		                 "The erasure could not be recorded (%s); nothing was erased.",
		                 db_status_string(st));
}

void h_erasure_create(struct http_request *req)
{
	struct auditor *a = http_app(req);
	const struct auth_claims *claims = http_claims(req);
	json_t *attrs = NULL;
	struct jsonapi_error err;
	struct filter_ref ref;
	struct erasure e = {.actor_id = claims->user_id_str, .trace_id = http_trace_id(req)};
	if (!claims->auditor) {
		http_reply_forbidden(req, "Erasing values needs the auditor role.");
		return;
	}
	size_t len;
	const char *body = http_body(req, &len);
	if (jsonapi_parse_resource(body, len, "erasures", NULL, erasure_attrs,
	                           sizeof erasure_attrs / sizeof erasure_attrs[0], &attrs, &err) ||
	    check(attrs, &ref, &e, &err)) {
		http_reply_jsonapi_error(req, &err);
		goto out;
	}
	int st = erase_values(a, &e);
	stream_logs_forget(a->streams); /* the live stream's rendered events may hold the values */
	if (st) {
		reply_failure(req, a, &e, st);
		goto out;
	}
	char target[EVENT_TYPE_MAX + EVENT_REF_MAX + 2];
	snprintf(target, sizeof target, "%s:%s", e.target_type, e.target_id);
	json_t *doc = json_pack(
	    "{s:o}", "data",
	    jsonapi_resource("erasures", e.id,
	                     json_pack("{s:s, s:o, s:s, s:I, s:I, s:I}", "target", target, "field",
	                               e.field ? json_string(e.field) : json_null(), "reason",
	                               e.reason, "values", (json_int_t)e.values, "log",
	                               (json_int_t)e.log, "seq", (json_int_t)e.seq)));
	if (!doc)
		http_reply_error(
		    req, 500, "Internal error",
		    "The erasure erasures:%s was done, but its answer could not be built.", e.id);
	else {
		/* Read-your-writes (README "Read replica"): send it back as
		 * Read-After on a query to see this erasure there. */
		if (e.position[0])
			http_add_header(req, GTID_HEADER, e.position);
		http_reply_json(req, 201, doc);
	}
out:
	json_decref(attrs);
}
