#include "http.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* Each connection's header space: a larger request head gets 431. Big
 * enough for a 100 KB bearer token to be refused as a token (401). */
#define HTTP_HEADERS_MAX (128u << 10)

struct http_server {
	struct http_server_config cfg;
	struct MHD_Daemon *daemon;
	struct auth_cache *tokens;
};

struct http_request {
	struct http_server *srv;
	struct MHD_Connection *conn;
	char *uri; /* as sent: path and query, owned */
	const char *query_str;
	const char *method;
	const struct http_route *route;
	char *params[HTTP_MAX_PARAMS];
	size_t nparams;
	struct query query;
	char *body;
	size_t body_len, body_cap;
	bool started, too_large, replied;
	struct auth_claims claims;
	size_t nheaders;
	char *headers[HTTP_MAX_HEADERS][2];
};

void *http_app(const struct http_request *req) { return req->srv->cfg.app; }
const char *http_method(const struct http_request *req) { return req->method; }
const char *http_path(const struct http_request *req) { return req->uri; }
const char *http_raw_query(const struct http_request *req) { return req->query_str; }
const struct query *http_query(const struct http_request *req) { return &req->query; }
const struct auth_claims *http_claims(const struct http_request *req) { return &req->claims; }

const char *http_param(const struct http_request *req, size_t i)
{
	return i < req->nparams ? req->params[i] : NULL;
}

const char *http_header(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_bearer(const struct http_request *req)
{
	return http_header(req, MHD_HTTP_HEADER_AUTHORIZATION);
}

const char *http_body(const struct http_request *req, size_t *len)
{
	*len = req->body_len;
	return req->body ? req->body : "";
}

void http_add_header(struct http_request *req, const char *name, const char *value)
{
	if (req->nheaders == HTTP_MAX_HEADERS)
		return;
	req->headers[req->nheaders][0] = strdup(name);
	req->headers[req->nheaders][1] = strdup(value);
	req->nheaders++;
}

static void queue(struct http_request *req, unsigned status, struct MHD_Response *resp,
                  const char *content_type)
{
	if (req->replied) {
		log_error("%s %s: a second reply was attempted", req->method, req->uri);
		if (resp)
			MHD_destroy_response(resp);
		return;
	}
	req->replied = true;
	if (!resp) {
		log_error("out of memory building a response");
		return;
	}
	if (content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	if (req->srv->cfg.cors)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, "*");
	for (const char *const *h = req->srv->cfg.headers; h && h[0]; h += 2)
		MHD_add_response_header(resp, h[0], h[1]);
	for (size_t i = 0; i < req->nheaders; i++)
		if (req->headers[i][0] && req->headers[i][1])
			MHD_add_response_header(resp, req->headers[i][0], req->headers[i][1]);
	if (MHD_queue_response(req->conn, status, resp) != MHD_YES)
		log_error("%s %s: could not queue the response", req->method, req->uri);
	MHD_destroy_response(resp);
	if (status >= 500)
		log_error("%s %s -> %u", req->method, req->uri, status);
	else
		log_debug("%s %s -> %u", req->method, req->uri, status);
}

void http_reply_buffer(struct http_request *req, unsigned status, const char *content_type,
                       char *buf, size_t len)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
	if (!resp)
		free(buf);
	queue(req, status, resp, content_type);
}

void http_reply_json(struct http_request *req, unsigned status, json_t *doc)
{
	char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (!s) {
		static char oom[] = "{\"errors\":[{\"status\":\"500\",\"title\":\"Internal error\","
		                    "\"detail\":\"Out of memory.\"}]}";
		queue(req, 500,
		      MHD_create_response_from_buffer(sizeof oom - 1, oom, MHD_RESPMEM_PERSISTENT),
		      JSONAPI_MEDIA_TYPE);
		return;
	}
	http_reply_buffer(req, status, JSONAPI_MEDIA_TYPE, s, strlen(s));
}

void http_reply_jsonapi_error(struct http_request *req, const struct jsonapi_error *err)
{
	if (err->status >= 500)
		log_error("%s %s: %s: %s", req->method, req->uri, err->title, err->detail);
	http_reply_json(req, (unsigned)err->status, jsonapi_error_doc(err));
}

void http_reply_error(struct http_request *req, unsigned status, const char *title,
                      const char *fmt, ...)
{
	struct jsonapi_error err = {.status = (int)status};
	snprintf(err.title, sizeof err.title, "%s", title);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err.detail, sizeof err.detail, fmt, ap);
	va_end(ap);
	http_reply_jsonapi_error(req, &err);
}

void http_reply_fd(struct http_request *req, unsigned status, const char *content_type, int fd,
                   uint64_t size)
{
	struct MHD_Response *resp = MHD_create_response_from_fd64(size, fd);
	if (!resp)
		close(fd);
	queue(req, status, resp, content_type);
}

void http_reply_empty(struct http_request *req, unsigned status)
{
	queue(req, status, MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT), NULL);
}

int http_param_id(struct http_request *req, size_t i, int64_t *id)
{
	const char *s = http_param(req, i);
	int64_t v = 0;
	size_t n = s ? strlen(s) : 0;
	bool ok = n > 0 && n <= 18 && s[0] != '0';
	for (size_t k = 0; ok && k < n; k++) {
		ok = s[k] >= '0' && s[k] <= '9';
		v = v * 10 + (s[k] - '0');
	}
	if (!ok || v > 4294967295LL) {
		http_reply_error(req, 400, "Invalid id",
		                 "An id must be a positive integer below 2^32, without leading zeros.");
		return -1;
	}
	*id = v;
	return 0;
}

static const char *segment_end(const char *s)
{
	while (*s && *s != '/')
		s++;
	return s;
}

int http_query_int(struct http_request *req, const char *key, long min, long max, long def,
                   long *out)
{
	const char *s = query_get(&req->query, key);
	if (!s) {
		*out = def;
		return 0;
	}
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max || s[0] == '+' || s[0] == ' ') {
		http_reply_error(req, 400, "Invalid query parameter",
		                 "\"%s\" must be an integer from %ld to %ld.", key, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

/* Matches path (raw) against pattern; on success fills req->params with the
 * decoded parameter segments. Returns 1 on a match, 0 on none, -1 when the
 * path matches but a parameter is not decodable. */
static int match(const char *pattern, const char *path, struct http_request *req)
{
	const char *p = pattern, *u = path;
	size_t np = 0;
	if (!strcmp(pattern, "*"))
		return 1;
	char *params[HTTP_MAX_PARAMS] = {0};
	int rc = 0;
	while (*p && *u) {
		if (*p != '/' || *u != '/')
			goto out;
		p++, u++;
		const char *pe = segment_end(p), *ue = segment_end(u);
		if (*p == ':') {
			if (ue == u || np == HTTP_MAX_PARAMS)
				goto out;
			char *v = malloc((size_t)(ue - u) + 1);
			if (!v)
				goto out;
			params[np++] = v;
			if (query_unescape(u, (size_t)(ue - u), v, false) <= 0) {
				rc = -1;
				goto out;
			}
		} else if (pe - p != ue - u || strncmp(p, u, (size_t)(pe - p))) {
			goto out;
		}
		p = pe, u = ue;
	}
	if (*p || *u)
		goto out;
	for (size_t i = 0; i < np; i++)
		req->params[i] = params[i];
	req->nparams = np;
	return 1;
out:
	for (size_t i = 0; i < np; i++)
		free(params[i]);
	return rc;
}

static bool method_matches(const char *route, const char *method)
{
	return !strcmp(route, method) || (!strcmp(route, "GET") && !strcmp(method, "HEAD"));
}

/* Finds the route; on a path match with another method, replies 405 (or
 * answers the CORS preflight) and returns NULL; on no match replies 404. */
static const struct http_route *route_request(struct http_request *req, const char *path)
{
	const struct http_server_config *cfg = &req->srv->cfg;
	char allow[96] = "";
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct http_route *r = &cfg->routes[i];
		struct http_request probe = {0};
		int m = match(r->pattern, path, &probe);
		if (m == 0)
			continue;
		if (m < 0) {
			http_reply_error(req, 400, "Invalid path",
			                 "A path segment has a bad percent-escape or a control character.");
			return NULL;
		}
		if (method_matches(r->method, req->method)) {
			memcpy(req->params, probe.params, sizeof req->params);
			req->nparams = probe.nparams;
			return r;
		}
		for (size_t k = 0; k < probe.nparams; k++)
			free(probe.params[k]);
		if (!strstr(allow, r->method)) {
			size_t n = strlen(allow);
			snprintf(allow + n, sizeof allow - n, "%s%s", n ? ", " : "", r->method);
			if (!strcmp(r->method, "GET"))
				snprintf(allow + strlen(allow), sizeof allow - strlen(allow), ", HEAD");
		}
	}
	if (!allow[0]) {
		http_reply_error(req, 404, "Not found", "There is no resource at this path.");
		return NULL;
	}
	if (!strcmp(req->method, "OPTIONS") && cfg->cors) {
		http_add_header(req, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_METHODS, allow);
		http_add_header(req, "Access-Control-Allow-Headers", "Authorization, Content-Type, Accept");
		http_add_header(req, "Access-Control-Max-Age", "600");
		http_add_header(req, MHD_HTTP_HEADER_ALLOW, allow);
		http_reply_empty(req, 204);
		return NULL;
	}
	http_add_header(req, MHD_HTTP_HEADER_ALLOW, allow);
	http_reply_error(req, 405, "Method not allowed", "This path does not answer %s.",
	                 req->method);
	return NULL;
}

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
	(void)kind, (void)value;
	if (!strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION))
		(*(int *)cls)++;
	return MHD_YES;
}

static bool authenticate(struct http_request *req)
{
	int count = 0;
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, count_header, &count);
	const char *token;
	size_t len;
	enum auth_status st = AUTH_MISSING;
	if (count == 1 && auth_bearer(http_bearer(req), &token, &len) == AUTH_OK)
		st = auth_verify_cached(req->srv->cfg.auth, req->srv->tokens, token, len,
		                        (int64_t)time(NULL), &req->claims);
	if (st == AUTH_OK) {
		const struct http_server_config *cfg = &req->srv->cfg;
		enum http_principal p = cfg->principal
		                            ? cfg->principal(cfg->app, token, len, &req->claims)
		                            : HTTP_PRINCIPAL_OK;
		if (p == HTTP_PRINCIPAL_OK)
			return true;
		if (p == HTTP_PRINCIPAL_UNAVAILABLE) {
			http_reply_error(req, 503, "Service unavailable",
			                 "The token's user cannot be looked up now; try again shortly.");
			return false;
		}
		http_add_header(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		                "Bearer realm=\"auditlog\", error=\"invalid_token\"");
		http_reply_error(req, 401, "Unauthorized",
		                 "The token's user (id %s) no longer exists.", req->claims.user_id_str);
		return false;
	}
	http_add_header(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
	                st == AUTH_MISSING ? "Bearer realm=\"auditlog\""
	                                   : "Bearer realm=\"auditlog\", error=\"invalid_token\"");
	http_reply_error(req, 401, "Unauthorized", "%s",
	                 count > 1 ? "Send exactly one Authorization header." : auth_status_detail(st));
	return false;
}

/* JSON:API: a request body must be sent as application/vnd.api+json
 * without media type parameters. A form (HTTP_FORM) may carry parameters,
 * such as a charset. */
static bool content_type_ok(struct http_request *req)
{
	const char *ct = http_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (req->route->flags & HTTP_FORM) {
		const char *form = "application/x-www-form-urlencoded";
		size_t n = strlen(form);
		if (ct && !strncasecmp(ct, form, n) && strchr("; \t", ct[n])) /* or ct[n] == '\0' */
			return true;
		http_reply_error(req, 415, "Unsupported media type",
		                 "Send the body as Content-Type: %s.", form);
		return false;
	}
	if (ct && !strcasecmp(ct, JSONAPI_MEDIA_TYPE))
		return true;
	http_reply_error(req, 415, "Unsupported media type",
	                 "Send the body as Content-Type: %s, without parameters.",
	                 JSONAPI_MEDIA_TYPE);
	return false;
}

/* JSON:API: if Accept names our media type only with parameters, we can
 * send nothing acceptable. (A q weight is not a media type parameter.) */
static bool accept_ok(struct http_request *req)
{
	const char *accept = http_header(req, MHD_HTTP_HEADER_ACCEPT);
	if (!accept || !req->srv->cfg.jsonapi)
		return true;
	bool named = false, plain = false;
	const char *p = accept;
	while (*p) {
		size_t n = strcspn(p, ",");
		char item[256];
		snprintf(item, sizeof item, "%.*s", (int)(n < 255 ? n : 255), p);
		char *type = item + strspn(item, " \t");
		char *semi = strchr(type, ';');
		size_t tlen = semi ? (size_t)(semi - type) : strlen(type);
		while (tlen && (type[tlen - 1] == ' ' || type[tlen - 1] == '\t'))
			tlen--;
		if (tlen == strlen(JSONAPI_MEDIA_TYPE) &&
		    !strncasecmp(type, JSONAPI_MEDIA_TYPE, tlen)) {
			named = true;
			bool params = false;
			for (char *q = semi; q; q = strchr(q + 1, ';')) {
				const char *name = q + 1 + strspn(q + 1, " \t");
				if (strncasecmp(name, "q=", 2))
					params = true;
			}
			plain |= !params;
		}
		p += n + (p[n] == ',');
	}
	if (!named || plain)
		return true;
	http_reply_error(req, 406, "Not acceptable",
	                 "Accept %s without media type parameters: this server supports no "
	                 "extensions or profiles.",
	                 JSONAPI_MEDIA_TYPE);
	return false;
}

/* The body cap of req's route. */
static size_t body_max(const struct http_request *req)
{
	size_t server = req->srv->cfg.body_max;
	return (req->route->flags & HTTP_FORM) && HTTP_FORM_BODY_MAX < server ? HTTP_FORM_BODY_MAX
	                                                                       : server;
}

static void dispatch(struct http_request *req)
{
	if (req->too_large) {
		http_reply_error(req, 413, "Payload too large",
		                 "The request body is larger than %zu bytes.", body_max(req));
		return;
	}
	const char *why;
	if (query_parse(req->query_str, &req->query, &why)) {
		http_reply_error(req, 400, "Invalid query string", "The query string is refused: %s.",
		                 why);
		return;
	}
	if (!accept_ok(req))
		return;
	if ((req->route->flags & HTTP_AUTH) && !authenticate(req))
		return;
	if ((req->route->flags & HTTP_BODY) && !content_type_ok(req))
		return;
	req->route->handler(req);
	if (!req->replied)
		http_reply_error(req, 500, "Internal error", "The handler produced no response.");
}

/* First call for a request: route it and check the announced body size. */
static void begin(struct http_request *req)
{
	req->started = true;
	if (req->uri[0] != '/') {
		http_reply_error(req, 400, "Invalid request target", "The path must start with '/'.");
		return;
	}
	char *q = strchr(req->uri, '?');
	req->query_str = "";
	if (q) {
		*q = '\0';
		req->query_str = q + 1;
	}
	req->route = route_request(req, req->uri);
	if (!req->route)
		return;
	const char *cl = http_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && strtoull(cl, NULL, 10) > body_max(req))
		req->too_large = true;
	if (req->too_large)
		dispatch(req); /* 413 now, before the body is read */
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
	(void)cls, (void)url, (void)version;
	struct http_request *req = *req_cls;
	if (!req)
		return MHD_NO;
	req->conn = conn;
	req->method = method;
	if (!req->started) {
		begin(req);
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (req->replied || req->too_large || !(req->route->flags & HTTP_BODY))
			return MHD_YES; /* discarded */
		if (req->body_len + n > body_max(req)) {
			req->too_large = true;
			free(req->body);
			req->body = NULL;
			req->body_len = 0;
			return MHD_YES;
		}
		if (req->body_len + n + 1 > req->body_cap) {
			size_t cap = (req->body_len + n + 1) * 2;
			if (cap > body_max(req) + 1)
				cap = body_max(req) + 1;
			char *b = realloc(req->body, cap);
			if (!b)
				return MHD_NO;
			req->body = b;
			req->body_cap = cap;
		}
		memcpy(req->body + req->body_len, upload_data, n);
		req->body_len += n;
		req->body[req->body_len] = '\0';
		return MHD_YES;
	}
	if (!req->replied)
		dispatch(req);
	return MHD_YES;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)conn;
	struct http_request *req = calloc(1, sizeof *req);
	if (!req)
		return NULL;
	req->srv = cls;
	if (!(req->uri = strdup(uri))) {
		free(req);
		return NULL;
	}
	return req;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
	(void)cls, (void)conn, (void)toe;
	struct http_request *req = *req_cls;
	if (!req)
		return;
	*req_cls = NULL;
	for (size_t i = 0; i < req->nparams; i++)
		free(req->params[i]);
	for (size_t i = 0; i < req->nheaders; i++) {
		free(req->headers[i][0]);
		free(req->headers[i][1]);
	}
	query_free(&req->query);
	free(req->body);
	free(req->uri);
	free(req);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char line[512];
	vsnprintf(line, sizeof line, fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_warn("http: %s", line);
}

int http_server_start(const struct http_server_config *cfg, struct http_server **out)
{
	struct http_server *srv = calloc(1, sizeof *srv);
	if (!srv)
		return -1;
	srv->cfg = *cfg;
	if (cfg->auth && !(srv->tokens = auth_cache_new(4096))) {
		free(srv);
		return -1;
	}
	srv->daemon = MHD_start_daemon(
	    MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, (uint16_t)cfg->port, NULL, NULL,
	    on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
	    MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
	    MHD_OPTION_THREAD_POOL_SIZE, cfg->threads, MHD_OPTION_CONNECTION_TIMEOUT,
	    cfg->timeout_s ? cfg->timeout_s : 15u, MHD_OPTION_CONNECTION_LIMIT,
	    cfg->connections_max ? cfg->connections_max : 512u, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    cfg->connections_per_ip_max, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)HTTP_HEADERS_MAX, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
	    MHD_OPTION_END);
	if (!srv->daemon) {
		log_error("could not listen on port %u", cfg->port);
		auth_cache_free(srv->tokens);
		free(srv);
		return -1;
	}
	*out = srv;
	return 0;
}

void http_server_stop(struct http_server *srv)
{
	if (!srv)
		return;
	MHD_stop_daemon(srv->daemon);
	auth_cache_free(srv->tokens);
	free(srv);
}
