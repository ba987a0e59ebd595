/* /api/users: JSON:API handlers. The data layer records the events. */
#include <stdio.h>
#include <string.h>

#include "api.h"

int api_data_ctx(struct http_request *req, struct data_ctx *ctx)
{
	struct api *api = http_app(req);
	ctx->api = api;
	ctx->actor.type = "users";
	ctx->actor.id = http_claims(req)->user_id_str;
	ctx->head = !strcmp(http_method(req), "HEAD");
	ctx->trace_id = http_trace_id(req);
	if (!(ctx->db = db_thread(&api->db))) {
		http_reply_error(req, 503, "Service unavailable", "The database is unreachable.");
		return -1;
	}
	return 0;
}

void api_reply_status(struct http_request *req, int status, const char *what)
{
	switch (status) {
	case DATA_NOT_FOUND:
		http_reply_error(req, 404, "Not found", "There is no %s with this id.", what);
		break;
	case DATA_CONFLICT: {
		/* The pointer lets a form show the error beside the field. */
		struct jsonapi_error err;
		jsonapi_fail(&err, 409, "Conflict", "/data/attributes/email",
		             "Another %s already has this email.", what);
		http_reply_jsonapi_error(req, &err);
		break;
	}
	case DB_ERR_GONE:
		http_reply_error(req, 503, "Service unavailable", "The database is unreachable.");
		break;
	default:
		http_reply_error(req, 500, "Internal error", "The %s could not be processed (%s).",
		                 what, db_status_string(status));
	}
}

static void reply_user(struct http_request *req, unsigned code, struct user *u)
{
	http_reply_json(req, code, json_pack("{s:o}", "data", user_resource(u)));
	user_clear(u);
}

#define PAGE_LINK_MAX 1024

/* path?key=value&... of the keys req has (and page[after]=after last, when
 * after is not NULL), into out. Returns 0, or -1 if it does not fit. */
static int page_link(char *out, struct http_request *req, const char *path, const char *const *keys,
                     const char *after)
{
	const struct query *q = http_query(req);
	if ((size_t)snprintf(out, PAGE_LINK_MAX, "%s?", path) >= PAGE_LINK_MAX)
		return -1;
	for (const char *const *k = keys; *k; k++) {
		const char *v = query_get(q, *k);
		if (v && !(after && !strcmp(*k, "page[after]")) &&
		    query_append(out, PAGE_LINK_MAX, *k, v))
			return -1;
	}
	if (after && query_append(out, PAGE_LINK_MAX, "page[after]", after))
		return -1;
	size_t n = strlen(out);
	if (out[n - 1] == '?')
		out[n - 1] = '\0';
	return 0;
}

void api_reply_page(struct http_request *req, json_t *data, const char *path,
                    const char *const *keys, bool more, int64_t last)
{
	char self[PAGE_LINK_MAX], next[PAGE_LINK_MAX], cursor[24];
	snprintf(cursor, sizeof cursor, "%lld", (long long)last);
	json_t *links = NULL;
	if (page_link(self, req, path, keys, NULL) == 0 &&
	    (!more || page_link(next, req, path, keys, cursor) == 0))
		links = more ? json_pack("{s:s, s:s}", "self", self, "next", next)
		             : json_pack("{s:s}", "self", self);
	if (!links) {
		json_decref(data);
		http_reply_error(req, 500, "Internal error",
		                 "The page's links could not be built.");
		return;
	}
	http_reply_json(req, 200, json_pack("{s:o, s:o}", "data", data, "links", links));
}

void h_users_list(struct http_request *req)
{
	static const char *const keys[] = {"page[size]", "page[after]", NULL};
	struct data_ctx ctx;
	long size, after;
	if (http_query_int(req, "page[size]", 1, USERS_PAGE_MAX, 50, &size) ||
	    http_query_int(req, "page[after]", 0, 4294967295L, 0, &after) || api_data_ctx(req, &ctx))
		return;
	json_t *data;
	int64_t last;
	bool more;
	int st = data_user_list(&ctx, after, (unsigned)size, &data, &more, &last);
	if (st) {
		api_reply_status(req, st, "user");
		return;
	}
	api_reply_page(req, data, "/api/users", keys, more, last);
}

void h_user_get(struct http_request *req)
{
	struct data_ctx ctx;
	int64_t id;
	if (http_param_id(req, 0, &id) || api_data_ctx(req, &ctx))
		return;
	struct user u = {0};
	int st = data_user_get(&ctx, id, &u);
	if (st)
		api_reply_status(req, st, "user");
	else
		reply_user(req, 200, &u);
	user_clear(&u);
}

static json_t *parse_body(struct http_request *req, const char *id)
{
	size_t len;
	const char *body = http_body(req, &len);
	json_t *attrs;
	struct jsonapi_error err;
	if (jsonapi_parse_resource(body, len, "users", id, user_attrs, user_nattrs, &attrs, &err)) {
		http_reply_jsonapi_error(req, &err);
		return NULL;
	}
	return attrs;
}

void h_user_create(struct http_request *req)
{
	struct data_ctx ctx;
	json_t *attrs = parse_body(req, NULL);
	if (!attrs)
		return;
	struct user u = {0};
	if (api_data_ctx(req, &ctx) == 0) {
		int st = data_user_create(&ctx, attrs, &u);
		if (st) {
			api_reply_status(req, st, "user");
		} else {
			char location[48];
			snprintf(location, sizeof location, "/api/users/%s", u.id);
			http_add_header(req, "Location", location);
			reply_user(req, 201, &u);
		}
	}
	user_clear(&u);
	json_decref(attrs);
}

void h_user_update(struct http_request *req)
{
	struct data_ctx ctx;
	int64_t id;
	if (http_param_id(req, 0, &id))
		return;
	json_t *attrs = parse_body(req, http_param(req, 0));
	if (!attrs)
		return;
	struct user u = {0};
	if (api_data_ctx(req, &ctx) == 0) {
		int st = data_user_update(&ctx, id, attrs, &u);
		if (st)
			api_reply_status(req, st, "user");
		else
			reply_user(req, 200, &u);
	}
	user_clear(&u);
	json_decref(attrs);
}

void h_user_delete(struct http_request *req)
{
	struct data_ctx ctx;
	int64_t id;
	if (http_param_id(req, 0, &id) || api_data_ctx(req, &ctx))
		return;
	int st = data_user_delete(&ctx, id);
	if (st)
		api_reply_status(req, st, "user");
	else
		http_reply_empty(req, 204);
}
