/* http: the HTTP server every daemon runs, on libmicrohttpd.
 *
 * A service describes itself with a route table (method, path pattern,
 * handler, flags) and this module does the rest of the edge: it matches
 * routes (404, 405 with Allow), answers CORS preflight, caps bodies (413),
 * checks the JSON:API media type (415), parses the query string (400),
 * decodes path parameters (400), verifies bearer tokens (401 with
 * WWW-Authenticate) and only then calls the handler. Handlers run on the
 * server's worker threads and must reply exactly once with one of the
 * http_reply_* functions; a handler that does not reply gets a 500.
 *
 * Every error reply is a JSON:API error document. */
#ifndef AUDITLOG_HTTP_H
#define AUDITLOG_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "jsonapi.h"
#include "query.h"

#define HTTP_MAX_PARAMS 4
#define HTTP_MAX_HEADERS 8

struct http_request;
struct http_server;

typedef void (*http_handler)(struct http_request *req);

/* What a verified token's user is now, by the service's own records. */
enum http_principal {
	HTTP_PRINCIPAL_OK,          /* the user exists; claims may have been updated */
	HTTP_PRINCIPAL_GONE,        /* no such user any more: 401 invalid_token */
	HTTP_PRINCIPAL_UNAVAILABLE, /* the records cannot be read now: 503 */
};

/* Called for routes with HTTP_AUTH once the token verified, before the
 * handler: checks that claims->user_id still exists and replaces what the
 * token says of the user's roles (claims->auditor) with the roles the user
 * has now. app is http_server_config.app; token (len bytes, not
 * NUL-terminated) is the verified token itself, borrowed for the call, for
 * a service that must ask someone else about it. Runs on HTTP worker
 * threads, so it must be thread-safe. */
typedef enum http_principal (*http_principal_fn)(void *app, const char *token, size_t len,
                                                 struct auth_claims *claims);

enum http_route_flags {
	HTTP_AUTH = 1, /* requires a valid bearer token */
	HTTP_BODY = 2, /* takes a JSON:API request body */
	HTTP_FORM = 4, /* with HTTP_BODY: the body is application/x-www-form-urlencoded instead,
	                  of at most HTTP_FORM_BODY_MAX bytes */
};

/* Form routes take small bodies (a token, a few parameters), and may be
 * open to anyone: they hold this much at most, whatever the server's cap. */
#define HTTP_FORM_BODY_MAX 32768

struct http_route {
	const char *method;  /* GET also answers HEAD */
	const char *pattern; /* "/api/users/:id": ":name" segments become params;
	                        "*" matches every path */
	http_handler handler;
	unsigned flags;
};

struct http_server_config {
	unsigned port;
	unsigned threads;
	size_t body_max;                 /* bytes */
	unsigned connections_max;        /* in all */
	unsigned connections_per_ip_max; /* from one address */
	unsigned timeout_s;              /* idle or slow connections are closed after this */
	int jsonapi;                     /* apply JSON:API's Accept rule (406) */
	const struct http_route *routes; /* borrowed for the server's lifetime */
	size_t nroutes;
	const struct auth_key *auth; /* borrowed; needed if any route has HTTP_AUTH */
	http_principal_fn principal; /* NULL: the token's claims are trusted as they are */
	int cors;                    /* answer preflight and allow any origin */
	const char *const *headers;  /* extra name/value pairs on every reply, NULL-ended */
	void *app;                   /* handed to handlers by http_app() */
};

/* Starts listening. Returns 0 and a server to stop with http_server_stop. */
int http_server_start(const struct http_server_config *cfg, struct http_server **out);
/* Stops accepting, finishes requests under way, joins the workers, frees. */
void http_server_stop(struct http_server *srv);

/* Request accessors; all results are borrowed for the handler's duration. */
void *http_app(const struct http_request *req);
const char *http_method(const struct http_request *req);
const char *http_path(const struct http_request *req);      /* raw, no query */
const char *http_raw_query(const struct http_request *req); /* raw, no '?', or "" */
const char *http_param(const struct http_request *req, size_t i); /* decoded */
const struct query *http_query(const struct http_request *req);
const char *http_header(const struct http_request *req, const char *name);
const char *http_body(const struct http_request *req, size_t *len);
/* Only for routes with HTTP_AUTH. */
const struct auth_claims *http_claims(const struct http_request *req);
const char *http_bearer(const struct http_request *req); /* the raw header */

/* Adds a header to the coming reply (both strings copied). */
void http_add_header(struct http_request *req, const char *name, const char *value);

/* Replies. doc is stolen; buf is stolen and released with free(). */
void http_reply_json(struct http_request *req, unsigned status, json_t *doc);
void http_reply_error(struct http_request *req, unsigned status, const char *title,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void http_reply_jsonapi_error(struct http_request *req, const struct jsonapi_error *err);
void http_reply_buffer(struct http_request *req, unsigned status, const char *content_type,
                       char *buf, size_t len);
void http_reply_fd(struct http_request *req, unsigned status, const char *content_type,
                   int fd, uint64_t size); /* fd is stolen */
void http_reply_empty(struct http_request *req, unsigned status);

/* 400 for a path parameter that must be a positive integer id. Returns 0
 * and the value, or -1 after replying. */
int http_param_id(struct http_request *req, size_t i, int64_t *id);

/* The integer query parameter key in [min, max], or def when absent.
 * Returns 0, or -1 after replying 400. */
int http_query_int(struct http_request *req, const char *key, long min, long max, long def,
                   long *out);

#endif
