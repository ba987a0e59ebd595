/* http: the HTTP server every daemon runs, on libmicrohttpd.
 *
 * A service describes itself with a route table (method, path pattern,
 * handler, flags, query parameters) and this module does the rest of the
 * edge. As soon as a request's head is in, before any body is read, it
 * refuses an oversized head (431), matches the route (404, 405 with Allow),
 * answers CORS preflight, parses the query string (400), applies JSON:API's
 * Accept rule (406), verifies the bearer token and asks the service whether
 * its user still exists (401 with WWW-Authenticate, 503), refuses query
 * parameters the route does not take (400), checks the body's media type
 * (415) and its announced size (413). Only then is a body read (413 again
 * if a chunked one grows over the cap) and the handler called.
 *
 * Handlers run on the server's worker threads, or, for HTTP_ASYNC routes,
 * on a small pool of its own with the connection suspended, and must reply
 * exactly once with one of the http_reply_* functions; a handler that does
 * not reply gets a 500.
 *
 * Connections: a client must send a complete request head within the
 * header timeout of connecting, and within the idle timeout of its
 * previous answer; one that does not is dropped, however slowly it trickles
 * bytes. The total connection limit bounds what slow clients can hold.
 *
 * Every error reply is a JSON:API error document, and every JSON:API
 * document carries {"jsonapi":{"version":"1.1"}}.
 *
 * Metrics (metrics.h): every request answered is observed in
 * auditlog_http_request_duration_seconds by its route's pattern and
 * method and its status class, and, when the server has a metrics token,
 * GET /metrics answers with the exposition to requests bearing it. */
#ifndef AUDITLOG_HTTP_H
#define AUDITLOG_HTTP_H

#include <jansson.h>
#include <stdbool.h>
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
	HTTP_AUTH = 1,  /* requires a valid bearer token */
	HTTP_BODY = 2,  /* takes a JSON:API request body */
	HTTP_ASYNC = 4, /* the handler may wait on another service: it runs on the
	                   server's pool of HTTP_ASYNC_THREADS with the connection
	                   suspended, so no worker (and none of the connections a
	                   worker serves) waits with it */
	HTTP_FORM = 8,  /* with HTTP_BODY: the body is application/x-www-form-urlencoded
	                   instead, of at most HTTP_FORM_BODY_MAX bytes */
	HTTP_PROBE = 16, /* a health probe (/readyz): its 503 says how the daemon is, it is
	                    not a failure of the request, so it is not logged as one */
};

/* Form routes take small bodies (a token, a few parameters), and may be
 * open to anyone: they hold this much at most, whatever the server's cap. */
#define HTTP_FORM_BODY_MAX 32768

#define HTTP_ASYNC_THREADS 4

/* The query parameters of a route: HTTP_PARAMS_ANY leaves them all to the
 * handler (which must refuse what it does not know); NULL takes none;
 * HTTP_PARAMS_IGNORED does not read the query at all, so no query is
 * refused (a static file, whose URL carries the page's own state: a page's
 * query, repeated or odd as it may be, is the page's business). */
extern const char *const HTTP_PARAMS_ANY[];
extern const char *const HTTP_PARAMS_IGNORED[];

struct http_route {
	const char *method;  /* GET also answers HEAD */
	const char *pattern; /* "/api/users/:id": ":name" segments become params;
	                        "*" matches every path */
	http_handler handler;
	unsigned flags;
	/* The query parameters it takes, NULL-ended ("page[size]"); any other
	 * gets 400 naming it, as JSON:API requires. NULL takes none. */
	const char *const *params;
};

struct http_server_config {
	unsigned port;
	unsigned threads;
	size_t body_max;                 /* bytes */
	unsigned connections_max;        /* in all */
	unsigned connections_per_ip_max; /* from one address; 0: no limit */
	unsigned timeout_s;              /* idle or slow connections are closed after this */
	unsigned header_timeout_s;       /* a new connection's request head must be in by then;
	                                    0: no deadline but MHD's idle timeout */
	int jsonapi;                     /* apply JSON:API's Accept rule (406) */
	const struct http_route *routes; /* borrowed for the server's lifetime */
	size_t nroutes;
	const struct auth_key *auth; /* borrowed; needed if any route has HTTP_AUTH */
	http_principal_fn principal; /* NULL: the token's claims are trusted as they are */
	int cors;                    /* answer preflight and allow any origin */
	const char *const *headers;  /* extra name/value pairs on every reply, NULL-ended */
	void *app;                   /* handed to handlers by http_app() */
	int drain_ms; /* how long stopping waits for the requests under way (after the streams) */
	/* GET /metrics answers (metrics.h) to requests bearing this token
	 * (Authorization: Bearer); NULL or "": /metrics is no path of ours,
	 * 404 (or the route table's) as for any other. */
	const char *metrics_token;
	bool access_log; /* log every answer at info (else only 5xx at error, the rest at debug) */
};

/* Starts listening. Returns 0 and a server to stop with http_server_stop. */
int http_server_start(const struct http_server_config *cfg, struct http_server **out);
/* Stops accepting (the listening socket is closed), ends the streams,
 * gives the requests under way up to cfg.drain_ms to be answered (their
 * replies then carry Connection: close), joins the workers, closes the
 * remaining connections, frees. NULL ok. */
void http_server_stop(struct http_server *srv);

/* Request accessors; all results are borrowed for the handler's duration. */
void *http_app(const struct http_request *req);
/* Milliseconds since the request's head was in (for a handler's own
 * deadline, which should count the time an HTTP_ASYNC request queued). */
long http_elapsed_ms(const struct http_request *req);
const char *http_method(const struct http_request *req);
const char *http_path(const struct http_request *req);      /* raw, no query */
const char *http_raw_query(const struct http_request *req); /* raw, no '?', or "" */
const char *http_param(const struct http_request *req, size_t i); /* decoded */
const struct query *http_query(const struct http_request *req);
/* The request header name's value (case-insensitive name; the first when
 * it came more than once), borrowed for the request's life, or NULL. */
const char *http_header(const struct http_request *req, const char *name);
/* How many times the request carried header name (case-insensitive):
 * for a header that must come at most once. */
unsigned http_header_count(const struct http_request *req, const char *name);
const char *http_body(const struct http_request *req, size_t *len);
/* Only for routes with HTTP_AUTH. */
const struct auth_claims *http_claims(const struct http_request *req);
const char *http_bearer(const struct http_request *req); /* the raw header */
/* The request's W3C trace context (trace.h): every request has one, the
 * caller's trace when it sent a valid traceparent, a new one otherwise,
 * and a span id of this server's, the request's id; every reply carries
 * it as its traceparent header, and every line logged while the request
 * is served names both (log.h). Each is "" only if the CSPRNG failed. */
const char *http_trace_id(const struct http_request *req);   /* 32 lowercase hex digits */
const char *http_request_id(const struct http_request *req); /* 16: our span id */
/* The traceparent to send on to another service (trace-id and flags as
 * received, this request's span id as the parent-id): the reply's. */
const char *http_traceparent(const struct http_request *req);

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

/* A stream's producer: writes up to max bytes of the body into buf and
 * returns how many (more than 0), 0 at its end, -1 on an error (the body
 * is then cut short: a chunked reply ends without its last chunk, so the
 * client knows it is incomplete), or HTTP_STREAM_WAIT when it has nothing
 * yet (a live stream): the connection is then suspended, holding no
 * worker, until http_stream_wake, and fill is called again. Called on the
 * connection's worker thread, as the client reads. */
typedef long (*http_stream_fn)(void *ctx, char *buf, size_t max);
#define HTTP_STREAM_WAIT (-2L)
#define HTTP_STREAM_BLOCK (64u << 10) /* bytes asked of fill at most */
/* How long stopping the server waits for its streams to end, in ms. */
#define HTTP_STREAM_STOP_MS 1000

struct http_stream;

/* Replies with a body of unknown length (chunked, HTTP/1.1) produced by
 * fill as the client reads, in memory of HTTP_STREAM_BLOCK. done(ctx) is
 * called exactly once: when the body ended, the client went away (at
 * once, mid-body, or for a suspended stream when it is next woken), or
 * the reply could not be made. Returns the stream's handle for
 * http_stream_wake, valid until done(ctx) starts; NULL when the reply
 * could not be made (done was then called already). When the server
 * stops, every stream is woken and a fill that answers HTTP_STREAM_WAIT
 * ends its body there (with the last chunk). */
struct http_stream *http_reply_stream(struct http_request *req, unsigned status,
                                      const char *content_type, http_stream_fn fill,
                                      void (*done)(void *ctx), void *ctx);
/* Has fill called again soon: resumes the connection if it waits, or
 * makes its next HTTP_STREAM_WAIT call fill once more. Thread-safe; the
 * caller makes sure done(ctx) has not started (by its own lock, which
 * done takes too). */
void http_stream_wake(struct http_stream *s);
/* Sets the stream's socket send buffer to bytes (SO_SNDBUF, socket(7):
 * the kernel doubles it and no longer grows it by itself). A client that
 * does not read then holds at most that much of the body in the kernel,
 * and fill is not asked for more: what a slow reader makes the daemon
 * produce ahead of it stays small. Call it from the thread that made the
 * reply, before it returns. Errors are ignored (the buffer stays as it
 * was). */
void http_stream_send_buffer(struct http_stream *s, int bytes);

/* 403 for a token whose user may not do this (RFC 6750 §3.1: with
 * WWW-Authenticate: Bearer error="insufficient_scope"). */
void http_reply_forbidden(struct http_request *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* For a token's user that is not HTTP_PRINCIPAL_OK: 401 with
 * WWW-Authenticate: Bearer error="invalid_token" (RFC 6750 §3.1) when it
 * no longer exists, 503 when it cannot be looked up now. */
void http_reply_principal(struct http_request *req, enum http_principal p);

/* 400 for the query parameter param, named in the error's
 * source.parameter (JSON:API 1.1 §7.2) as well as wherever fmt puts it. */
void http_reply_param_error(struct http_request *req, const char *param, const char *title,
                            const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* 400 for a path parameter that must be a positive integer id. Returns 0
 * and the value, or -1 after replying. */
int http_param_id(struct http_request *req, size_t i, int64_t *id);

/* The integer query parameter key in [min, max], or def when absent.
 * Returns 0, or -1 after replying 400. */
int http_query_int(struct http_request *req, const char *key, long min, long max, long def,
                   long *out);

#endif
