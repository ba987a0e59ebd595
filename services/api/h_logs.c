/* /logs/by/:type/:id, /logs/for/:type/:id and /logs/data-events: the audit
 * log, read through the API under the caller's own token. The auditor does
 * the work; this forwards the query, passes the answer back, and rewrites
 * its links so that they point at these paths again. An export (Accept
 * preferring NDJSON or CSV) and /logs/stream are not read whole but
 * streamed through as they come (relay.h). POST /logs/erasures passes its
 * body on to the auditor's POST /erasures likewise. The read-your-writes
 * header (Read-After, README "Read replica") goes both ways: the client's
 * to the auditor, the auditor's back to the client. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "gtid.h"
#include "log.h"
#include "mediatype.h"
#include "relay.h"

/* The auditor's target, at most: the client's may be 16 KiB (http.c), to
 * which the forward adds a path and the path's filter. */
#define TARGET_MAX (17u << 10)

/* Builds "<path>?<params of q except skip>" into out. */
static int build_link(char *out, size_t cap, const char *path, const struct query *q,
                      const char *skip)
{
	if ((size_t)snprintf(out, cap, "%s?", path) >= cap)
		return -1;
	for (size_t i = 0; i < q->n; i++)
		if (strcmp(q->key[i], skip) && query_append(out, cap, q->key[i], q->value[i]))
			return -1;
	size_t n = strlen(out);
	if (out[n - 1] == '?')
		out[n - 1] = '\0';
	return 0;
}

/* Points one of the auditor's links (".../data-events?filter[x]=..&...")
 * back at our own path. Returns 0, or -1 when it cannot: the caller must
 * then not pass the page on, since a page without its next link would end
 * the list silently. */
static int rewrite_link(json_t *links, const char *name, const char *path, const char *filter)
{
	const char *link = json_string_value(json_object_get(links, name));
	const char *qs = link ? strchr(link, '?') : NULL;
	if (!link)
		return 0;
	struct query q;
	const char *why;
	char out[TARGET_MAX];
	int rc = -1;
	if (query_parse(qs ? qs + 1 : "", &q, &why) == 0 &&
	    build_link(out, sizeof out, path, &q, filter) == 0)
		rc = json_object_set_new(links, name, json_string(out));
	query_free(&q);
	return rc;
}

static void relay(struct http_request *req, const char *target, const char *body, size_t len,
                  const char *filter);
static char *header_line(const char *name, const char *value);
static void stream_through(struct http_request *req, const char *target, bool live);

/* The answers a /logs query may be: a JSON:API page, read whole (its links
 * rewritten), or an export the auditor streams (README "Exports"). */
static const char *const answer_types[] = {JSONAPI_MEDIA_TYPE, "application/x-ndjson",
                                           "text/csv"};

static bool wants_export(struct http_request *req)
{
	return mediatype_prefer(http_header(req, "Accept"), answer_types,
	                        sizeof answer_types / sizeof answer_types[0]) > 0;
}

/* Replies 400 unless the path's :type and :id follow the grammar of
 * event.h. Returns 0 when they do. */
static int check_ref(struct http_request *req, const char *type, const char *id)
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

static void proxy(struct http_request *req, const char *filter)
{
	const char *type = http_param(req, 0), *id = http_param(req, 1);
	if (check_ref(req, type, id))
		return;
	bool by_actor = !strcmp(filter, "filter[actor]");
	if (!auth_may_read(http_claims(req), by_actor ? type : NULL, by_actor ? id : NULL,
	                   by_actor ? NULL : type, by_actor ? NULL : id)) {
		http_reply_forbidden(req, "A token reads only events whose actor or target is its "
		                          "own user; the auditor role reads all.");
		return;
	}
	/* The path decides the filter; the route takes only the page's
	 * parameters, which are the client's. */
	char target[TARGET_MAX] = "/data-events?", value[EVENT_TYPE_MAX + EVENT_REF_MAX + 2];
	snprintf(value, sizeof value, "%s:%s", type, id);
	const struct query *q = http_query(req);
	int bad = query_append(target, sizeof target, filter, value);
	for (size_t i = 0; !bad && i < q->n; i++)
		if (strcmp(q->key[i], filter) &&
		    query_append(target, sizeof target, q->key[i], q->value[i])) {
			http_reply_param_error(req, q->key[i], "Invalid query parameter",
			                       "The query string is too long from %s on: the audit "
			                       "query forwarded is at most %d bytes.",
			                       q->key[i], TARGET_MAX - 1);
			return;
		}
	if (bad) {
		http_reply_error(req, 400, "Invalid query string", "The query string is too long.");
		return;
	}
	if (wants_export(req))
		stream_through(req, target, false);
	else
		relay(req, target, NULL, 0, filter);
}

/* RFC 6750 §3.1: the request carried a token, so a refusal says why. */
static void refusal_header(struct http_request *req, unsigned status)
{
	if (status == 401)
		http_add_header(req, "WWW-Authenticate",
		                "Bearer realm=\"auditlog\", error=\"invalid_token\"");
	else if (status == 403)
		http_add_header(req, "WWW-Authenticate",
		                "Bearer realm=\"auditlog\", error=\"insufficient_scope\"");
}

/* Sends the request on to the auditor's target under the caller's
 * authority, in the request's trace (its traceparent), with its Read-After
 * if it has one, as a GET, or as a POST of body (len bytes) when body is
 * not NULL, within timeout_ms of the request's arrival. Returns 0 with the
 * answer in *resp (the caller frees it), or -1 after replying. */
static int exchange(struct http_request *req, const char *target, const char *body, size_t len,
                    long timeout_ms, struct httpc_response *resp)
{
	struct api *api = http_app(req);
	/* The user may have gone since the request was authenticated. */
	char *authorization;
	enum principal_status who = api_forward_authorization(api, http_claims(req), &authorization);
	if (who != PRINCIPAL_OK) {
		http_reply_principal(req, who == PRINCIPAL_GONE ? HTTP_PRINCIPAL_GONE
		                                                : HTTP_PRINCIPAL_UNAVAILABLE);
		return -1;
	}
	/* One deadline for the whole request, the time it queued included. */
	long left = timeout_ms - http_elapsed_ms(req);
	const char *after = http_header(req, GTID_HEADER);
	char *lines[3] = {NULL, NULL, NULL};
	size_t n = 0;
	bool nomem = false;
	if (*http_traceparent(req))
		nomem |= !(lines[n++] = header_line("traceparent", http_traceparent(req)));
	if (after)
		nomem |= !(lines[n++] = header_line(GTID_HEADER, after));
	const char *const headers[] = {lines[0], lines[1], NULL};
	int failed = left <= 0 || nomem ? -1
	             : body ? httpc_post_jsonapi(&api->auditor, target, authorization, headers,
	                                         body, len, (int)left, resp)
	                    : httpc_get(&api->auditor, target, authorization, headers, (int)left,
	                                resp);
	free(authorization);
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	if (failed == HTTPC_ETOOBIG) {
		log_warn("the auditor's answer to %s is over %u bytes, more than the API relays",
		         target, HTTPC_MAX_BODY);
		http_reply_error(req, 502, "Bad gateway",
		                 "The auditor's answer is larger than the API relays (%u MiB). Ask for "
		                 "less (a smaller from/to range), or ask the auditor directly.",
		                 HTTPC_MAX_BODY >> 20);
		return -1;
	}
	if (failed) {
		log_error("the auditor at %s:%s could not be reached, or did not answer in time, or "
		          "not in HTTP",
		          api->auditor.host, api->auditor.port);
		http_reply_error(req, 502, "Bad gateway", "The auditor did not answer.");
		return -1;
	}
	return 0;
}

/* The auditor's Read-After (a write's position) passed back to the client. */
static void pass_position(struct http_request *req, const struct httpc_response *resp)
{
	char position[GTID_TEXT_MAX];
	if (!httpc_header(resp, GTID_HEADER, position, sizeof position))
		http_add_header(req, GTID_HEADER, position);
}

/* exchange(), then passes the auditor's JSON:API answer back; filter names
 * the parameter whose links are rewritten to our path (NULL: none). */
static void relay(struct http_request *req, const char *target, const char *body, size_t len,
                  const char *filter)
{
	struct api *api = http_app(req);
	struct httpc_response resp;
	if (exchange(req, target, body, len, api->auditor_timeout_ms, &resp))
		return;
	json_t *doc = json_loadb(resp.body, resp.body_len, 0, NULL);
	json_t *links = json_object_get(doc, "links");
	if (filter && json_is_object(links) &&
	    (rewrite_link(links, "self", http_path(req), filter) ||
	     rewrite_link(links, "next", http_path(req), filter))) {
		log_error("the auditor's links could not be rewritten for %s", http_path(req));
		json_decref(doc);
		http_reply_error(req, 502, "Bad gateway",
		                 "The auditor's links could not be passed on.");
	} else if (!doc) {
		log_error("the auditor answered %u with a body that is not JSON", resp.status);
		http_reply_error(req, 502, "Bad gateway", "The auditor's answer was not JSON.");
	} else {
		refusal_header(req, resp.status);
		pass_position(req, &resp);
		http_reply_json(req, resp.status, doc);
	}
	httpc_response_free(&resp);
}

/* /logs/state/:type/:id and /logs/history/:type/:id/:field: the target's
 * state at an instant and one field's changes, the auditor's
 * /api/:type/:id/state and /api/:type/:id/fields/:field/history, with the
 * client's parameters (the auditor checks them). */
static void pass_history(struct http_request *req, const char *field)
{
	const char *type = http_param(req, 0), *id = http_param(req, 1);
	if (check_ref(req, type, id))
		return;
	if (field && !event_field_valid(field, strlen(field))) {
		http_reply_error(req, 400, "Invalid path",
		                 "The path's :field must be " EVENT_TYPE_RULE ", at most 64 of them.");
		return;
	}
	if (!auth_may_read(http_claims(req), NULL, NULL, type, id)) {
		http_reply_forbidden(req, "A token reads only the history of its own user; the "
		                          "auditor role reads all.");
		return;
	}
	char et[3 * EVENT_TYPE_MAX + 1], ei[3 * EVENT_REF_MAX + 1], ef[3 * EVENT_FIELD_MAX + 1] = "";
	char target[TARGET_MAX];
	const char *qs = http_raw_query(req);
	if (query_escape(type, et, sizeof et) < 0 || query_escape(id, ei, sizeof ei) < 0 ||
	    (field && query_escape(field, ef, sizeof ef) < 0) ||
	    (size_t)snprintf(target, sizeof target, "/api/%s/%s/%s%s%s%s%s", et, ei,
	                     field ? "fields/" : "state", ef, field ? "/history" : "", *qs ? "?" : "",
	                     qs) >= sizeof target) {
		http_reply_error(req, 414, "URI too long", "The query string is too long.");
		return;
	}
	relay(req, target, NULL, 0, "");
}

void h_logs_state(struct http_request *req)
{
	pass_history(req, NULL);
}

void h_logs_field_history(struct http_request *req)
{
	pass_history(req, http_param(req, 2));
}

void h_logs_by(struct http_request *req)
{
	proxy(req, "filter[actor]");
}

void h_logs_for(struct http_request *req)
{
	proxy(req, "filter[target]");
}

/* /logs/checkpoint, /logs/checkpoints, /logs/.well-known/auditlog-vkey,
 * /logs/data-events/:id/proof, /logs/data-events/:id/leaf,
 * /logs/consistency, /logs/verify, /logs/export: the log of record's
 * endpoints (docs/ledger.md), passed
 * through to the auditor's path without "/logs", under the caller's
 * authentication, and their answers passed back as they are (signed
 * notes, proofs, leaves and bundles are not JSON:API), with their
 * Content-Type and Last-Modified. The auditor checks the parameters and
 * who may read what. */
void h_logs_ledger(struct http_request *req)
{
	struct api *api = http_app(req);
	const char *path = http_path(req) + strlen("/logs"), *qs = http_raw_query(req);
	char target[TARGET_MAX];
	if ((size_t)snprintf(target, sizeof target, "%s%s%s", path, *qs ? "?" : "", qs) >=
	    sizeof target) {
		http_reply_error(req, 414, "URI too long", "The query string is too long.");
		return;
	}
	/* Verifying and exporting read the whole log: they may take minutes. */
	bool long_one = !strcmp(path, "/verify") || !strcmp(path, "/export");
	struct httpc_response resp;
	if (exchange(req, target, NULL, 0, long_one ? LOGS_LONG_TIMEOUT_MS : api->auditor_timeout_ms,
	             &resp))
		return;
	refusal_header(req, resp.status);
	pass_position(req, &resp);
	http_add_header(req, "Cache-Control", "no-store");
	/* /checkpoint's: when it was signed (CORS-safelisted, so a page of
	 * another origin reads it). */
	if (resp.last_modified[0])
		http_add_header(req, "Last-Modified", resp.last_modified);
	http_reply_buffer(req, resp.status, resp.content_type[0] ? resp.content_type : "text/plain",
	                  resp.body, resp.body_len);
	resp.body = NULL; /* the reply owns it */
	httpc_response_free(&resp);
}

/* POST /logs/erasures: the auditor's POST /erasures, which checks the
 * role and the body. */
void h_logs_erase(struct http_request *req)
{
	size_t len;
	const char *body = http_body(req, &len);
	relay(req, "/erasures", body ? body : "", len, NULL);
}

/* "Name: value" to free(), or NULL. */
static char *header_line(const char *name, const char *value)
{
	size_t n = strlen(name) + strlen(value) + 3;
	char *line = malloc(n);
	if (line)
		snprintf(line, n, "%s: %s", name, value);
	return line;
}

/* Relays the auditor's answer to target (a GET) as it comes: the client's
 * Accept and Read-After and the request's traceparent go with it, and
 * Last-Event-ID too when live. Connecting and the
 * answer's head must come within the /logs deadline; the body has none. A
 * 2xx answer is streamed through (relay_reply); any other is read whole
 * and passed back as relay() does. */
static void stream_through(struct http_request *req, const char *target, bool live)
{
	struct api *api = http_app(req);
	char *authorization = NULL, *lines[5] = {NULL, NULL, NULL, NULL, NULL}, url[TARGET_MAX + 600];
	/* The auditor ends a live stream when its token expires: the one
	 * forwarded expires with the client's. */
	enum principal_status who =
	    live ? api_forward_authorization_live(api, http_claims(req), &authorization)
	         : api_forward_authorization(api, http_claims(req), &authorization);
	if (who != PRINCIPAL_OK) {
		http_reply_principal(req, who == PRINCIPAL_GONE ? HTTP_PRINCIPAL_GONE
		                                                : HTTP_PRINCIPAL_UNAVAILABLE);
		return;
	}
	if (live && http_header_count(req, "Last-Event-ID") > 1) {
		/* As the auditor refuses it: which one the client meant is unknown. */
		http_reply_error(req, 400, "Invalid position",
		                 "Last-Event-ID came more than once: give the position once.");
		free(authorization);
		return;
	}
	const char *accept = http_header(req, "Accept");
	const char *last = live ? http_header(req, "Last-Event-ID") : NULL;
	size_t n = 0;
	bool nomem = !(lines[n++] = header_line("Authorization", authorization));
	if (accept)
		nomem |= !(lines[n++] = header_line("Accept", accept));
	if (last)
		nomem |= !(lines[n++] = header_line("Last-Event-ID", last));
	if (*http_traceparent(req))
		nomem |= !(lines[n++] = header_line("traceparent", http_traceparent(req)));
	if (http_header(req, GTID_HEADER))
		nomem |= !(lines[n++] = header_line(GTID_HEADER, http_header(req, GTID_HEADER)));
	const char *headers[6] = {lines[0], lines[1], lines[2], lines[3], lines[4], NULL};
	free(authorization);
	struct relay_xfer *x = NULL;
	long left = api->auditor_timeout_ms - http_elapsed_ms(req);
	int st = nomem ? RELAY_NOMEM
	         : (size_t)snprintf(url, sizeof url, "http://%s:%s%s%s", api->auditor.host,
	                            api->auditor.port, api->auditor.prefix, target) >= sizeof url
	             ? RELAY_BROKEN
	         : left <= 0 ? RELAY_UNREACHABLE
	                     : relay_open(api->relay, url, headers, left, &x);
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	if (st == RELAY_NOMEM) {
		log_error("out of memory relaying %s", target);
		http_reply_error(req, 503, "Service unavailable", "Out of memory.");
		return;
	}
	if (st == RELAY_TOOBIG) {
		log_warn("the auditor's refusal of %s is over %u bytes", target, RELAY_ERROR_MAX);
		http_reply_error(req, 502, "Bad gateway", "The auditor's answer was too large.");
		return;
	}
	if (st) {
		log_error("the auditor at %s:%s did not answer %s in time (%s)", api->auditor.host,
		          api->auditor.port, target, relay_status_string(st));
		http_reply_error(req, 502, "Bad gateway", "The auditor did not answer.");
		return;
	}
	unsigned status = relay_status(x);
	if (status / 100 == 2) {
		relay_reply(req, x); /* x is the reply's now */
		return;
	}
	size_t len;
	const char *body = relay_body(x, &len);
	json_t *doc = json_loadb(body, len, 0, NULL);
	if (doc) {
		refusal_header(req, status);
		http_reply_json(req, status, doc);
	} else {
		log_error("the auditor answered %u with a body that is not JSON", status);
		http_reply_error(req, 502, "Bad gateway", "The auditor's answer was not JSON.");
	}
	relay_close(x);
}

/* "<path><?query>" of the client's raw query into target, or 414. */
static int with_query(struct http_request *req, const char *path, char *target, size_t cap)
{
	const char *qs = http_raw_query(req);
	if ((size_t)snprintf(target, cap, "%s%s%s", path, *qs ? "?" : "", qs) < cap)
		return 0;
	http_reply_error(req, 414, "URI too long", "The query string is too long.");
	return -1;
}

void h_logs_events(struct http_request *req)
{
	char target[TARGET_MAX];
	if (with_query(req, "/data-events", target, sizeof target))
		return;
	if (wants_export(req))
		stream_through(req, target, false);
	else
		relay(req, target, NULL, 0, ""); /* links: every parameter is the client's */
}

void h_logs_stream(struct http_request *req)
{
	char target[TARGET_MAX];
	if (!with_query(req, "/data-events/stream", target, sizeof target))
		stream_through(req, target, true);
}
