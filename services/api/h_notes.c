/* /api/notes: notes about any object, or one field of it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "filter.h"

void h_note_get(struct http_request *req)
{
	struct data_ctx ctx;
	int64_t id;
	if (http_param_id(req, 0, &id) || api_data_ctx(req, &ctx))
		return;
	json_t *note;
	int st = data_note_get(&ctx, id, &note);
	if (st)
		api_reply_status(req, st, "note");
	else
		http_reply_json(req, 200, json_pack("{s:o}", "data", note));
}

/* GET /api/notes?filter[target]=type:id[:field]&page[size]=N&page[after]=<id> */
void h_notes_list(struct http_request *req)
{
	static const char *const keys[] = {"filter[target]", "page[size]", "page[after]", NULL};
	const char *target = query_get(http_query(req), "filter[target]"), *why;
	struct filter_ref ref;
	if (!target) {
		http_reply_param_error(req, "filter[target]", "Invalid query parameter",
		                       "Give the notes' object as filter[target]=type:id, or one of "
		                       "its fields as filter[target]=type:id:field.");
		return;
	}
	if (filter_parse_ref(target, FILTER_FIELD, &ref, &why)) {
		http_reply_param_error(req, "filter[target]", "Invalid filter", "filter[target] %s", why);
		return;
	}
	struct data_ctx ctx;
	long size, after;
	if (http_query_int(req, "page[size]", 1, NOTES_PAGE_MAX, NOTES_PAGE_DEFAULT, &size) ||
	    http_query_int(req, "page[after]", 0, 4294967295L, 0, &after) ||
	    api_data_ctx(req, &ctx))
		return;
	json_t *notes;
	bool more;
	int64_t last;
	int st = data_note_list(&ctx, ref.type, ref.id, ref.field[0] ? ref.field : NULL, after,
	                        (unsigned)size, &notes, &more, &last);
	if (st) {
		api_reply_status(req, st, "note");
		return;
	}
	api_reply_page(req, notes, "/api/notes", keys, more, last);
}

/* A note's object follows the grammar of event.h, as every reference to an
 * object does. Returns 0, or -1 with err filled (422). */
static int check_target(json_t *attrs, struct jsonapi_error *err)
{
	const char *type = json_string_value(json_object_get(attrs, "targetType"));
	const char *id = json_string_value(json_object_get(attrs, "targetId"));
	const char *field = json_string_value(json_object_get(attrs, "fieldName"));
	if (!event_type_valid(type, strlen(type)))
		return jsonapi_fail(err, 422, "Invalid attribute", "/data/attributes/targetType",
		                    "targetType must be " EVENT_TYPE_RULE ".");
	if (!event_ref_valid(id, strlen(id)))
		return jsonapi_fail(err, 422, "Invalid attribute", "/data/attributes/targetId",
		                    "targetId must be " EVENT_REF_RULE ".");
	if (field && !event_field_valid(field, strlen(field)))
		return jsonapi_fail(err, 422, "Invalid attribute", "/data/attributes/fieldName",
		                    "fieldName must be " EVENT_TYPE_RULE ".");
	return 0;
}

void h_note_create(struct http_request *req)
{
	size_t len;
	const char *body = http_body(req, &len);
	json_t *attrs;
	struct jsonapi_error err;
	if (jsonapi_parse_resource(body, len, "notes", NULL, note_attrs, note_nattrs, &attrs, &err)) {
		http_reply_jsonapi_error(req, &err);
		return;
	}
	struct data_ctx ctx;
	if (check_target(attrs, &err)) {
		http_reply_jsonapi_error(req, &err);
	} else if (api_data_ctx(req, &ctx) == 0) {
		json_t *note;
		int st = data_note_create(&ctx, attrs, &note);
		if (st) {
			api_reply_status(req, st, "note");
		} else {
			char location[48];
			snprintf(location, sizeof location, "/api/notes/%s",
			         json_string_value(json_object_get(note, "id")));
			http_add_header(req, "Location", location);
			http_reply_json(req, 201, json_pack("{s:o}", "data", note));
		}
	}
	json_decref(attrs);
}

void h_note_delete(struct http_request *req)
{
	struct data_ctx ctx;
	int64_t id;
	if (http_param_id(req, 0, &id) || api_data_ctx(req, &ctx))
		return;
	int st = data_note_delete(&ctx, id);
	if (st)
		api_reply_status(req, st, "note");
	else
		http_reply_empty(req, 204);
}
