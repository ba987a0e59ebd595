/* /api/notes: notes about any object, or one field of it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

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

/* target=type:id[:field] */
void h_notes_list(struct http_request *req)
{
	const char *target = query_get(http_query(req), "target");
	char buf[EVENT_TYPE_MAX + EVENT_REF_MAX + EVENT_FIELD_MAX + 3];
	if (!target || strlen(target) >= sizeof buf) {
		http_reply_error(req, 400, "Invalid query parameter",
		                 "Give the notes' object as target=type:id or target=type:id:field.");
		return;
	}
	strcpy(buf, target);
	char *type = buf, *id = strchr(buf, ':'), *field = NULL;
	if (id) {
		*id++ = '\0';
		if ((field = strchr(id, ':')))
			*field++ = '\0';
	}
	if (!id || !event_type_valid(type, strlen(type)) || !event_ref_valid(id, strlen(id)) ||
	    (field && !event_type_valid(field, strlen(field)))) {
		http_reply_error(req, 400, "Invalid query parameter",
		                 "target must be type:id or type:id:field, where type and field are "
		                 "identifiers ([A-Za-z0-9_.-]) and id holds no ':'.");
		return;
	}
	struct data_ctx ctx;
	if (api_data_ctx(req, &ctx))
		return;
	json_t *notes;
	int st = data_note_list(&ctx, type, id, field, &notes);
	if (st)
		api_reply_status(req, st, "note");
	else
		http_reply_json(req, 200, json_pack("{s:o}", "data", notes));
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
	const char *type = json_string_value(json_object_get(attrs, "targetType"));
	const char *id = json_string_value(json_object_get(attrs, "targetId"));
	const char *field = json_string_value(json_object_get(attrs, "fieldName"));
	struct data_ctx ctx;
	if (!event_type_valid(type, strlen(type)) || strchr(id, ':') ||
	    !event_ref_valid(id, strlen(id)) || (field && !event_type_valid(field, strlen(field)))) {
		http_reply_error(req, 422, "Invalid attribute",
		                 "targetType and fieldName must be identifiers ([A-Za-z0-9_.-]); "
		                 "targetId may hold no ':' or control characters.");
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
