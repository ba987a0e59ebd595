#include "http.h"

#include <errno.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "gtid.h"
#include "log.h"
#include "mediatype.h"
#include "metrics.h"
#include "ratelimit.h"
#include "trace.h"

/* A request head with a field line over HTTP_FIELD_MAX or over
 * HTTP_HEAD_MAX in all gets 431 before anything else looks at it. (Tokens
 * are at most 8 KiB, so a longer one still gets 401.) MHD's buffer per
 * connection is a little larger, so that such heads reach us and get a
 * JSON:API error; a head that does not fit it gets MHD's own 431. */
#define HTTP_FIELD_MAX         (16u << 10)
#define HTTP_HEAD_MAX          (32u << 10)
#define HTTP_CONNECTION_MEMORY (64u << 10)

/* How often connections are checked against their head deadline. */
#define HTTP_REAP_INTERVAL_MS 200

/* Requests are counted by status class: 2xx, 3xx, 4xx, 5xx. */
#define HTTP_CLASSES 4

const char *const HTTP_PARAMS_ANY[] = {NULL};
const char *const HTTP_PARAMS_IGNORED[] = {NULL};

/* One per connection, from accept to close: the time by which its next
 * request head must be complete. */
struct http_conn {
	struct http_conn *prev, *next; /* under http_server.conns_lock */
	int fd;
	_Atomic int64_t head_deadline_ms; /* monotonic; 0: not reading a head */
};

struct http_server {
	struct http_server_config cfg;
	struct MHD_Daemon *daemon;
	struct auth_cache *tokens;

	/* The reaper drops connections past their head deadline. */
	pthread_mutex_t conns_lock;
	pthread_cond_t reaper_wake; /* CLOCK_MONOTONIC */
	struct http_conn *conns;    /* under conns_lock */
	bool reaper_stop;           /* under conns_lock */
	bool reaper_started;
	pthread_t reaper;

	/* HTTP_ASYNC handlers run here, their connections suspended. */
	pthread_mutex_t jobs_lock;
	pthread_cond_t jobs_wake;
	struct http_request *jobs_head, *jobs_tail; /* under jobs_lock */
	bool jobs_stop;                             /* under jobs_lock */
	size_t nworkers;
	pthread_t workers[HTTP_ASYNC_THREADS];

	/* Streamed replies under way, so that stopping can end them. */
	pthread_mutex_t streams_lock;
	pthread_cond_t streams_gone;
	struct http_stream *streams; /* under streams_lock */
	atomic_bool streams_stop;

	/* Stopping: requests between their head and their completion, and
	 * whether replies now close their connection (http_server_stop). */
	atomic_long active;
	atomic_bool draining;
	/* Metrics (metrics.h): a duration histogram per route and status
	 * class, made from the route table at start; after the routes' rows,
	 * one for the requests no route took and one for /metrics itself. */
	struct metrics_histogram *(*hist)[HTTP_CLASSES];    /* cfg.nroutes + 2 rows */
	unsigned char metrics_digest[SHA256_DIGEST_LENGTH]; /* of cfg.metrics_token */
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
	int64_t start_ns;                      /* when the head was in (clock_ns) */
	unsigned status;                       /* of the reply, once replied */
	struct metrics_histogram *const *hist; /* its route's row of srv->hist */
	struct auth_claims claims;
	/* W3C Trace Context (trace.h): the trace the request belongs to (the
	 * caller's, or one begun here), this server's span for it (the
	 * request's id) and the traceparent naming both, which the reply
	 * carries and calls to other services send on. "" until begin(). */
	char trace_id[TRACE_ID_HEX_LEN + 1], span_id[TRACE_SPAN_HEX_LEN + 1];
	char traceparent[TRACE_HEADER_LEN + 1];
	size_t nheaders;
	char *headers[HTTP_MAX_HEADERS][2];
	/* An HTTP_ASYNC request: its reply waits here until the connection is
	 * resumed, then is queued from MHD's own thread. */
	bool async;
	struct MHD_Response *pending;
	unsigned pending_status;
	struct http_request *next_job; /* under jobs_lock */
};

void *http_app(const struct http_request *req) { return req->srv->cfg.app; }
long http_elapsed_ms(const struct http_request *req)
{
	return (long)((clock_ns() - req->start_ns) / 1000000);
}
const char *http_method(const struct http_request *req) { return req->method; }
const char *http_path(const struct http_request *req) { return req->uri; }
const char *http_raw_query(const struct http_request *req) { return req->query_str; }
const struct query *http_query(const struct http_request *req) { return &req->query; }
const struct auth_claims *http_claims(const struct http_request *req) { return &req->claims; }
const char *http_trace_id(const struct http_request *req) { return req->trace_id; }
const char *http_request_id(const struct http_request *req) { return req->span_id; }
const char *http_traceparent(const struct http_request *req) { return req->traceparent; }

/* Names req on every line this thread logs until the next call. */
static void log_request(const struct http_request *req)
{
	if (req && req->trace_id[0])
		log_context_set(req->trace_id, req->span_id);
	else
		log_context_set(NULL, NULL);
}

const char *http_param(const struct http_request *req, size_t i)
{
	return i < req->nparams ? req->params[i] : NULL;
}

const char *http_header(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

struct header_count {
	const char *name;
	unsigned n;
};

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
	(void)kind;
	(void)value;
	struct header_count *c = cls;
	c->n += key && !strcasecmp(key, c->name);
	return MHD_YES;
}

unsigned http_header_count(const struct http_request *req, const char *name)
{
	struct header_count c = {name, 0};
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, count_header, &c);
	return c.n;
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

/* Returns whether resp was queued (or is pending, for HTTP_ASYNC); it is
 * destroyed either way. */
static bool queue(struct http_request *req, unsigned status, struct MHD_Response *resp,
                  const char *content_type)
{
	if (req->replied) {
		log_error("%s %s: a second reply was attempted", req->method, req->uri);
		if (resp)
			MHD_destroy_response(resp);
		return false;
	}
	req->replied = true;
	req->status = status;
	if (!resp) {
		log_error("out of memory building a response");
		return false;
	}
	if (content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	if (req->srv->cfg.cors) {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, "*");
		/* Scripts may read these; the CORS-safelisted ones they always can. */
		MHD_add_response_header(resp, "Access-Control-Expose-Headers",
		                        "Location, WWW-Authenticate, Allow, traceparent, " GTID_HEADER);
	}
	if (req->traceparent[0])
		MHD_add_response_header(resp, TRACE_HEADER, req->traceparent);
	for (const char *const *h = req->srv->cfg.headers; h && h[0]; h += 2)
		MHD_add_response_header(resp, h[0], h[1]);
	/* A client on a kept-alive connection learns that this is its last
	 * request here, and goes elsewhere (or waits for the restart). */
	if (atomic_load(&req->srv->draining))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	for (size_t i = 0; i < req->nheaders; i++)
		if (req->headers[i][0] && req->headers[i][1])
			MHD_add_response_header(resp, req->headers[i][0], req->headers[i][1]);
	bool queued = true;
	if (req->async) {
		req->pending = resp;
		req->pending_status = status;
	} else {
		queued = MHD_queue_response(req->conn, status, resp) == MHD_YES;
		if (!queued)
			log_error("%s %s: could not queue the response", req->method, req->uri);
		MHD_destroy_response(resp);
	}
	double ms = (double)(clock_ns() - req->start_ns) / 1e6;
	if (status >= 500 && !(req->route && (req->route->flags & HTTP_PROBE)))
		log_error("%s %s -> %u in %.3f ms", req->method, req->uri, status, ms);
	else
		log_msg(req->srv->cfg.access_log ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG,
		        "%s %s -> %u in %.3f ms", req->method, req->uri, status, ms);
	return queued;
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
	char *s = doc && !jsonapi_add_version(doc) ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (!s) {
		static char oom[] =
		    "{\"errors\":[{\"status\":\"500\",\"title\":\"Internal error\","
		    "\"detail\":\"Out of memory.\"}],\"jsonapi\":{\"version\":\"" JSONAPI_VERSION
		    "\"}}";
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

/* A stream's producer and its context, for MHD's callbacks. */
struct http_stream {
	struct http_server *srv;
	struct MHD_Connection *conn;
	http_stream_fn fill;
	void (*done)(void *ctx);
	void *ctx;
	pthread_mutex_t lock;
	bool suspended; /* under lock: fill waits, the connection is suspended */
	bool woken;     /* under lock: a wake came while fill was running */
	struct http_stream *prev, *next; /* srv->streams */
	/* The request's ids, for the lines fill and done log (log.h). */
	char trace_id[TRACE_ID_HEX_LEN + 1], span_id[TRACE_SPAN_HEX_LEN + 1];
};

/* Names s's request on this thread's lines; *saved keeps what was named
 * before, for log_restore (a stream may end inside another handler). */
struct log_saved {
	const char *trace_id, *request_id;
};

static void log_stream(const struct http_stream *s, struct log_saved *saved)
{
	log_context_get(&saved->trace_id, &saved->request_id);
	log_context_set(s->trace_id[0] ? s->trace_id : NULL, s->trace_id[0] ? s->span_id : NULL);
}

static void log_restore(const struct log_saved *saved)
{
	log_context_set(saved->trace_id, saved->request_id);
}

static ssize_t stream_fill(struct http_stream *s, char *buf, size_t max)
{
	for (;;) {
		long n = s->fill(s->ctx, buf, max);
		if (n != HTTP_STREAM_WAIT)
			return n > 0 ? n : n == 0 ? MHD_CONTENT_READER_END_OF_STREAM
			                          : MHD_CONTENT_READER_END_WITH_ERROR;
		pthread_mutex_lock(&s->lock);
		if (atomic_load(&s->srv->streams_stop)) {
			pthread_mutex_unlock(&s->lock);
			return MHD_CONTENT_READER_END_OF_STREAM; /* the server stops: end cleanly */
		}
		if (s->woken) { /* something came while fill ran: ask again */
			s->woken = false;
			pthread_mutex_unlock(&s->lock);
			continue;
		}
		/* A suspended connection is not watched: a client that left is
		 * only noticed when bytes are sent. Look before suspending (every
		 * wake, so a waker that wakes now and then bounds how long a gone
		 * client holds the stream): an orderly close reads as 0 bytes. */
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(s->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		char peek;
		ssize_t got = ci ? recv(ci->connect_fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT) : 1;
		if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			pthread_mutex_unlock(&s->lock);
			return MHD_CONTENT_READER_END_WITH_ERROR; /* the client went away */
		}
		/* MHD allows suspending from a content reader whose response is
		 * not shared; 0 then means "nothing yet", and MHD calls again once
		 * http_stream_wake resumes the connection. */
		s->suspended = true;
		MHD_suspend_connection(s->conn);
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos;
	struct http_stream *s = cls;
	struct log_saved saved;
	log_stream(s, &saved);
	ssize_t n = stream_fill(s, buf, max);
	log_restore(&saved);
	return n;
}

void http_stream_send_buffer(struct http_stream *s, int bytes)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(s->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci)
		(void)setsockopt(ci->connect_fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
}

void http_stream_wake(struct http_stream *s)
{
	pthread_mutex_lock(&s->lock);
	if (s->suspended) {
		s->suspended = false;
		MHD_resume_connection(s->conn);
	} else {
		s->woken = true;
	}
	pthread_mutex_unlock(&s->lock);
}

static void stream_free(void *cls)
{
	struct http_stream *s = cls;
	struct http_server *srv = s->srv;
	pthread_mutex_lock(&srv->streams_lock);
	if (s->prev)
		s->prev->next = s->next;
	else
		srv->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	pthread_cond_broadcast(&srv->streams_gone);
	pthread_mutex_unlock(&srv->streams_lock);
	struct log_saved saved;
	log_stream(s, &saved);
	if (s->done)
		s->done(s->ctx);
	log_restore(&saved);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

struct http_stream *http_reply_stream(struct http_request *req, unsigned status,
                                      const char *content_type, http_stream_fn fill,
                                      void (*done)(void *ctx), void *ctx)
{
	struct http_server *srv = req->srv;
	struct http_stream *s = calloc(1, sizeof *s);
	if (!s) {
		if (done)
			done(ctx);
		queue(req, status, NULL, content_type);
		return NULL;
	}
	*s = (struct http_stream){
	    .srv = srv, .conn = req->conn, .fill = fill, .done = done, .ctx = ctx};
	memcpy(s->trace_id, req->trace_id, sizeof s->trace_id);
	memcpy(s->span_id, req->span_id, sizeof s->span_id);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_lock(&srv->streams_lock);
	s->next = srv->streams;
	if (srv->streams)
		srv->streams->prev = s;
	srv->streams = s;
	pthread_mutex_unlock(&srv->streams_lock);
	/* From here MHD owns s: stream_free unlists it and calls done. */
	struct MHD_Response *resp = MHD_create_response_from_callback(
	    MHD_SIZE_UNKNOWN, HTTP_STREAM_BLOCK, stream_read, s, stream_free);
	if (!resp)
		stream_free(s);
	return queue(req, status, resp, content_type) ? s : NULL;
}

void http_reply_empty(struct http_request *req, unsigned status)
{
	queue(req, status, MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT), NULL);
}

void http_reply_forbidden(struct http_request *req, const char *fmt, ...)
{
	struct jsonapi_error err = {.status = 403, .title = "Forbidden"};
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err.detail, sizeof err.detail, fmt, ap);
	va_end(ap);
	http_add_header(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
	                "Bearer realm=\"auditlog\", error=\"insufficient_scope\"");
	http_reply_jsonapi_error(req, &err);
}

void http_reply_principal(struct http_request *req, enum http_principal p)
{
	if (p == HTTP_PRINCIPAL_UNAVAILABLE) {
		http_reply_error(req, 503, "Service unavailable",
		                 "The token's user cannot be looked up now; try again shortly.");
		return;
	}
	http_add_header(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
	                "Bearer realm=\"auditlog\", error=\"invalid_token\"");
	http_reply_error(req, 401, "Unauthorized", "The token's user (id %s) no longer exists.",
	                 req->claims.user_id_str);
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

void http_reply_param_error(struct http_request *req, const char *param, const char *title,
                            const char *fmt, ...)
{
	struct jsonapi_error err = {.status = 400};
	snprintf(err.title, sizeof err.title, "%s", title);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err.detail, sizeof err.detail, fmt, ap);
	va_end(ap);
	json_t *doc = jsonapi_error_doc(&err);
	json_t *e = json_array_get(json_object_get(doc, "errors"), 0);
	json_t *where = json_pack("{s:s}", "parameter", param); /* NULL if not UTF-8 */
	if (e && where)
		json_object_set_new(e, "source", where);
	else
		json_decref(where);
	http_reply_json(req, 400, doc);
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
		http_reply_param_error(req, key, "Invalid query parameter",
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
		http_add_header(req, "Access-Control-Allow-Headers",
		                "Authorization, Content-Type, Accept, Last-Event-ID, traceparent, " GTID_HEADER);
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

/* What a request head holds, as sent (near enough). */
struct head_stats {
	size_t total, longest; /* bytes */
	int authorizations;    /* Authorization fields */
	int content_lengths;   /* Content-Length fields */
};

static enum MHD_Result measure_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
	(void)kind;
	struct head_stats *h = cls;
	size_t n = strlen(key) + (value ? strlen(value) : 0) + 4; /* "key: value\r\n" */
	h->total += n;
	if (n > h->longest)
		h->longest = n;
	if (!strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION))
		h->authorizations++;
	if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH))
		h->content_lengths++;
	return MHD_YES;
}

/* 431 (414 for the request line) for a head over our limits. */
static bool head_ok(struct http_request *req, struct head_stats *h)
{
	size_t line = strlen(req->method) + strlen(req->uri) + 12;
	*h = (struct head_stats){.total = line};
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, measure_field, h);
	if (line > HTTP_FIELD_MAX) {
		http_reply_error(req, 414, "URI too long", "The request target is over %u bytes.",
		                 HTTP_FIELD_MAX);
		return false;
	}
	if (h->content_lengths > 1) {
		/* RFC 9112 §6.3: the body's length is unknowable. libmicrohttpd
		 * would take the first; a proxy in front might take another, and
		 * the rest of the body would be read as a request of its own
		 * (request smuggling). The connection is closed after this. */
		http_reply_error(req, 400, "Bad request",
		                 "Send at most one Content-Length header (RFC 9112 section 6.3).");
		return false;
	}
	if (h->longest <= HTTP_FIELD_MAX && h->total <= HTTP_HEAD_MAX)
		return true;
	http_reply_error(req, 431, "Request header fields too large",
	                 "A header field may be at most %u bytes and the request head %u bytes.",
	                 HTTP_FIELD_MAX, HTTP_HEAD_MAX);
	return false;
}

static bool authenticate(struct http_request *req, int authorizations)
{
	if (authorizations > 1) {
		/* RFC 6750 §3.1: more than one way of sending a token. */
		http_add_header(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		                "Bearer realm=\"auditlog\", error=\"invalid_request\"");
		http_reply_error(req, 400, "Bad request", "Send exactly one Authorization header.");
		return false;
	}
	const char *token;
	size_t len;
	enum auth_status st = AUTH_MISSING;
	if (authorizations == 1 && auth_bearer(http_bearer(req), &token, &len) == AUTH_OK)
		st = auth_verify_cached(req->srv->cfg.auth, req->srv->tokens, token, len,
		                        (int64_t)time(NULL), &req->claims);
	if (st == AUTH_OK) {
		const struct http_server_config *cfg = &req->srv->cfg;
		enum http_principal p = cfg->principal
		                            ? cfg->principal(cfg->app, token, len, &req->claims)
		                            : HTTP_PRINCIPAL_OK;
		if (p == HTTP_PRINCIPAL_OK)
			return true;
		http_reply_principal(req, p);
		return false;
	}
	http_add_header(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
	                st == AUTH_MISSING ? "Bearer realm=\"auditlog\""
	                                   : "Bearer realm=\"auditlog\", error=\"invalid_token\"");
	http_reply_error(req, 401, "Unauthorized", "%s", auth_status_detail(st));
	return false;
}

/* JSON:API: 400 for a query parameter the route does not take, naming it
 * (also in source.parameter). */
static bool params_ok(struct http_request *req)
{
	const char *const *known = req->route->params;
	if (known == HTTP_PARAMS_ANY || known == HTTP_PARAMS_IGNORED)
		return true;
	for (size_t i = 0; i < req->query.n; i++) {
		const char *key = req->query.key[i];
		const char *const *k = known;
		while (k && *k && strcmp(*k, key))
			k++;
		if (k && *k)
			continue;
		char takes[320] = "none";
		for (k = known; k && *k; k++) {
			size_t n = k == known ? 0 : strlen(takes);
			snprintf(takes + n, sizeof takes - n, "%s%s", k == known ? "" : ", ", *k);
		}
		http_reply_param_error(req, key, "Unsupported query parameter",
		                       "This endpoint does not support the query parameter \"%.64s\"; "
		                       "it takes %s.",
		                       key, takes);
		return false;
	}
	return true;
}

/* JSON:API 1.1: a body is sent as the JSON:API media type, with no
 * parameter but profile (ignored) and ext (none supported). */
static bool content_type_ok(struct http_request *req)
{
	if (req->route->flags & HTTP_FORM) {
		/* A form (HTTP_FORM) may carry parameters, such as a charset. */
		const char *ct = http_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
		const char *form = "application/x-www-form-urlencoded";
		size_t n = strlen(form);
		if (ct && !strncasecmp(ct, form, n) && strchr("; \t", ct[n])) /* or ct[n] == '\0' */
			return true;
		http_reply_error(req, 415, "Unsupported media type",
		                 "Send the body as Content-Type: %s.", form);
		return false;
	}
	enum mediatype_verdict v =
	    mediatype_content_type(http_header(req, MHD_HTTP_HEADER_CONTENT_TYPE));
	if (v == MEDIATYPE_OK)
		return true;
	http_reply_error(req, 415, "Unsupported media type", "%s",
	                 v == MEDIATYPE_EXTENSION ? "This server supports no JSON:API extensions: "
	                                            "send the body without ext."
	                 : v == MEDIATYPE_PARAMETER ? "The JSON:API media type takes no parameters "
	                                              "here but profile and an empty ext."
	                                            : "Send the body as Content-Type: "
	                                              "application/vnd.api+json.");
	return false;
}

/* JSON:API 1.1: if Accept names our media type only with parameters we
 * cannot honour, we can send nothing acceptable. */
static bool accept_ok(struct http_request *req)
{
	if (!req->srv->cfg.jsonapi)
		return true;
	enum mediatype_verdict v = mediatype_accept(http_header(req, MHD_HTTP_HEADER_ACCEPT));
	if (v == MEDIATYPE_OK)
		return true;
	http_reply_error(req, 406, "Not acceptable", "%s",
	                 v == MEDIATYPE_EXTENSION
	                     ? "Accept names application/vnd.api+json only with extensions, and "
	                       "this server supports none."
	                     : "Accept names application/vnd.api+json only with q=0 or with "
	                       "parameters other than ext and profile.");
	return false;
}

/* GET /metrics while cfg.metrics_token is set: the exposition (metrics.h)
 * for a request that bears exactly that token (Authorization: Bearer, RFC
 * 6750 §2.1), 401 for any other. Not the JWT path: the token is the
 * scraper's shared secret, not a user's. Compared as SHA-256 digests with
 * CRYPTO_memcmp, so the time taken says nothing of the token, not even its
 * length. */
static void serve_metrics(struct http_request *req, int authorizations)
{
	struct http_server *srv = req->srv;
	req->hist = srv->hist[srv->cfg.nroutes + 1];
	if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD")) {
		http_add_header(req, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
		http_reply_error(req, 405, "Method not allowed", "This path does not answer %s.",
		                 req->method);
		return;
	}
	const char *token;
	size_t len;
	unsigned char digest[SHA256_DIGEST_LENGTH];
	if (authorizations != 1 || auth_bearer(http_bearer(req), &token, &len) != AUTH_OK ||
	    !SHA256((const unsigned char *)token, len, digest) ||
	    CRYPTO_memcmp(digest, srv->metrics_digest, sizeof digest)) {
		http_add_header(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"metrics\"");
		http_reply_error(
		    req, 401, "Unauthorized",
		    "/metrics needs the header Authorization: Bearer <the metrics token>.");
		return;
	}
	char *text = metrics_render(&len);
	if (!text) {
		http_reply_error(req, 500, "Internal error", "Out of memory.");
		return;
	}
	http_add_header(req, "Cache-Control", "no-store");
	http_reply_buffer(req, 200, METRICS_CONTENT_TYPE, text, len);
}

/* The body cap of req's route. */
static size_t body_max(const struct http_request *req)
{
	size_t server = req->srv->cfg.body_max;
	return (req->route->flags & HTTP_FORM) && HTTP_FORM_BODY_MAX < server ? HTTP_FORM_BODY_MAX
	                                                                       : server;
}

static void run_handler(struct http_request *req)
{
	req->route->handler(req);
	if (!req->replied)
		http_reply_error(req, 500, "Internal error", "The handler produced no response.");
}

/* Hands an HTTP_ASYNC request to the pool, its connection suspended. */
static void run_async(struct http_request *req)
{
	struct http_server *srv = req->srv;
	pthread_mutex_lock(&srv->jobs_lock);
	bool taken = !srv->jobs_stop && srv->nworkers;
	if (taken) {
		req->async = true;
		MHD_suspend_connection(req->conn);
		if (srv->jobs_tail)
			srv->jobs_tail->next_job = req;
		else
			srv->jobs_head = req;
		srv->jobs_tail = req;
		pthread_cond_signal(&srv->jobs_wake);
	}
	pthread_mutex_unlock(&srv->jobs_lock);
	if (!taken)
		http_reply_error(req, 503, "Service unavailable", "The server is stopping.");
}

static void *async_worker(void *arg)
{
	struct http_server *srv = arg;
	pthread_mutex_lock(&srv->jobs_lock);
	for (;;) {
		while (!srv->jobs_head && !srv->jobs_stop)
			pthread_cond_wait(&srv->jobs_wake, &srv->jobs_lock);
		struct http_request *req = srv->jobs_head;
		if (!req)
			break; /* stopping, and nothing is left */
		srv->jobs_head = req->next_job;
		if (!srv->jobs_head)
			srv->jobs_tail = NULL;
		bool stopping = srv->jobs_stop;
		pthread_mutex_unlock(&srv->jobs_lock);
		log_request(req);
		if (stopping)
			http_reply_error(req, 503, "Service unavailable",
			                 "The server is stopping.");
		else
			run_handler(req);
		log_context_set(NULL, NULL);
		/* MHD calls on_request again, which queues req->pending; req may be
		 * freed from then on. */
		MHD_resume_connection(req->conn);
		pthread_mutex_lock(&srv->jobs_lock);
	}
	pthread_mutex_unlock(&srv->jobs_lock);
	return NULL;
}

/* The whole body is in. */
static void dispatch(struct http_request *req)
{
	if (req->too_large) {
		http_reply_error(req, 413, "Payload too large",
		                 "The request body is larger than %zu bytes.", body_max(req));
		return;
	}
	if (req->route->flags & HTTP_ASYNC)
		run_async(req);
	else
		run_handler(req);
}

static struct http_conn *conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

/* The request's trace, in the participation mode of W3C Trace Context
 * Level 1's processing model: a valid traceparent, sent once, is continued
 * (its trace-id kept, its sampled flag passed on); none, an invalid one
 * (§3.2.2: "vendors MUST ignore the traceparent") or several (combined as
 * RFC 9110 §5.3 says, they are no valid value) begin a new trace, never
 * an error. A new trace is marked sampled: this server
 * records every request (its log lines and events carry the trace-id).
 * Either way the request gets a fresh span id of this server's, its id. */
static void trace_begin(struct http_request *req)
{
	struct trace_parent tp;
	uint8_t span[TRACE_SPAN_LEN];
	const char *v = http_header(req, TRACE_HEADER);
	bool continued = false;
	if (v && http_header_count(req, TRACE_HEADER) == 1) {
		size_t n = strlen(v);
		while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) /* OWS, RFC 9110 §5.6.3 */
			n--;
		while (n && (*v == ' ' || *v == '\t'))
			v++, n--;
		continued = trace_parse(v, n, &tp) == 0;
	}
	if (!continued) {
		tp.flags = TRACE_FLAG_SAMPLED;
		if (trace_random(tp.trace_id, TRACE_ID_LEN))
			return; /* the CSPRNG failed: the request goes untraced */
	}
	if (trace_random(span, sizeof span))
		return;
	trace_hex(tp.trace_id, TRACE_ID_LEN, req->trace_id);
	trace_hex(span, sizeof span, req->span_id);
	trace_format(tp.trace_id, span, tp.flags, req->traceparent);
}

/* First call for a request, once its head is in: everything that the head
 * decides is decided here, before any body is read. */
static void begin(struct http_request *req)
{
	req->started = true;
	req->start_ns = clock_ns();
	req->hist = req->srv->hist[req->srv->cfg.nroutes]; /* until a route takes it */
	trace_begin(req);
	log_request(req);
	struct http_conn *c = conn_of(req->conn);
	if (c)
		atomic_store(&c->head_deadline_ms, 0);
	struct head_stats head;
	if (!head_ok(req, &head))
		return;
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
	if (req->srv->cfg.metrics_token && req->srv->cfg.metrics_token[0] &&
	    !strcmp(req->uri, "/metrics")) {
		serve_metrics(req, head.authorizations);
		return;
	}
	req->route = route_request(req, req->uri);
	if (!req->route)
		return;
	req->hist = req->srv->hist[req->route - req->srv->cfg.routes];
	const char *why;
	if (req->route->params != HTTP_PARAMS_IGNORED &&
	    query_parse(req->query_str, &req->query, &why)) {
		if (req->query.repeated[0])
			http_reply_param_error(req, req->query.repeated, "Invalid query string",
			                       "The query parameter %s is given more than once.",
			                       req->query.repeated);
		else
			http_reply_error(req, 400, "Invalid query string",
			                 "The query string is refused: %s.", why);
		return;
	}
	if (!accept_ok(req))
		return;
	if ((req->route->flags & HTTP_AUTH) && !authenticate(req, head.authorizations))
		return;
	if (!params_ok(req))
		return;
	if ((req->route->flags & HTTP_BODY) && !content_type_ok(req))
		return;
	const char *cl = http_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && strtoull(cl, NULL, 10) > body_max(req)) {
		req->too_large = true;
		dispatch(req); /* 413 now, before the body is read */
	}
}

static enum MHD_Result serve(struct http_request *req, struct MHD_Connection *conn,
                             const char *method, const char *upload_data, size_t *upload_data_size)
{
	req->conn = conn;
	req->method = method;
	if (!req->started) {
		begin(req);
		return MHD_YES;
	}
	if (req->async) { /* resumed: the pool's reply is waiting */
		struct MHD_Response *resp = req->pending;
		req->pending = NULL;
		if (!resp)
			return MHD_NO;
		enum MHD_Result r = MHD_queue_response(conn, req->pending_status, resp);
		MHD_destroy_response(resp);
		return r;
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

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
	(void)cls, (void)url, (void)version;
	struct http_request *req = *req_cls;
	if (!req)
		return MHD_NO;
	log_request(req); /* the request's ids on the lines its handler logs */
	enum MHD_Result r = serve(req, conn, method, upload_data, upload_data_size);
	log_context_set(NULL, NULL);
	return r;
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
	atomic_fetch_add(&req->srv->active, 1);
	return req;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	(void)toe;
	/* The next request's head must come within the idle timeout. */
	struct http_conn *c = conn_of(conn);
	if (c)
		atomic_store(&c->head_deadline_ms,
		             clock_ms() + (int64_t)(srv->cfg.timeout_s ? srv->cfg.timeout_s : 15u) * 1000);
	struct http_request *req = *req_cls;
	if (!req)
		return;
	*req_cls = NULL;
	atomic_fetch_sub(&srv->active, 1);
	log_request(req); /* for what the completion logs */
	/* Every request answered, from its head to its reply's last byte (a
	 * stream's whole life). */
	if (req->started && req->replied) {
		unsigned k = req->status < 300 ? 0 : req->status < 600 ? req->status / 100 - 2 : 3;
		metrics_observe(req->hist[k], (uint64_t)(clock_ns() - req->start_ns));
	}
	for (size_t i = 0; i < req->nparams; i++)
		free(req->params[i]);
	for (size_t i = 0; i < req->nheaders; i++) {
		free(req->headers[i][0]);
		free(req->headers[i][1]);
	}
	if (req->pending)
		MHD_destroy_response(req->pending);
	query_free(&req->query);
	free(req->body);
	free(req->uri);
	free(req);
	log_context_set(NULL, NULL);
}

/* Tracks each connection so the reaper can hold it to its head deadline.
 * MHD reports CLOSED before it closes the socket, and the reaper only
 * touches sockets under conns_lock, so it never shuts down a reused fd. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode what)
{
	struct http_server *srv = cls;
	struct http_conn *c = *socket_context;
	if (what == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (!ci || !(c = calloc(1, sizeof *c)))
			return; /* untracked: MHD's idle timeout still applies */
		c->fd = ci->connect_fd;
		atomic_init(&c->head_deadline_ms,
		            clock_ms() + (int64_t)srv->cfg.header_timeout_s * 1000);
		pthread_mutex_lock(&srv->conns_lock);
		c->next = srv->conns;
		if (srv->conns)
			srv->conns->prev = c;
		srv->conns = c;
		pthread_mutex_unlock(&srv->conns_lock);
		*socket_context = c;
	} else if (what == MHD_CONNECTION_NOTIFY_CLOSED && c) {
		pthread_mutex_lock(&srv->conns_lock);
		if (c->prev)
			c->prev->next = c->next;
		else
			srv->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		pthread_mutex_unlock(&srv->conns_lock);
		free(c);
		*socket_context = NULL;
	}
}

/* Drops connections whose request head is overdue, however slowly they
 * trickle bytes in (MHD's own timeout restarts at every byte). */
static void *reaper(void *arg)
{
	struct http_server *srv = arg;
	pthread_mutex_lock(&srv->conns_lock);
	while (!srv->reaper_stop) {
		int64_t now = clock_ms();
		unsigned dropped = 0;
		for (struct http_conn *c = srv->conns; c; c = c->next) {
			int64_t d = atomic_load(&c->head_deadline_ms);
			if (d && d <= now &&
			    atomic_compare_exchange_strong(&c->head_deadline_ms, &d, 0)) {
				shutdown(c->fd, SHUT_RDWR); /* MHD sees the end and closes it */
				dropped++;
			}
		}
		if (dropped)
			log_info(
			    "dropped %u connection(s) whose request head did not arrive in time",
			    dropped);
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += HTTP_REAP_INTERVAL_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&srv->reaper_wake, &srv->conns_lock, &ts);
	}
	pthread_mutex_unlock(&srv->conns_lock);
	return NULL;
}

#define MHD_WARNINGS_PER_S 10

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	/* A client that goes away in the middle of a request, or that MHD
	 * answers with a 4xx itself (a head too big for its buffer), erred on
	 * its own, and the connections the reaper drops are counted on their
	 * own: one warning each would let hostile clients flood the log. */
	static const char *const client_faults[] = {
	    "closed when reading request", "disconnected when reading request",
	    "closed by remote side", "(HTTP response code is 4",
	    /* a streamed body's client went away (our own failures are logged
	     * by the producer) */
	    "Failed to send the chunked response body",
	    "Closing connection (application error generating response)", NULL};
	(void)cls;
	char line[512];
	vsnprintf(line, sizeof line, fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	for (const char *const *g = client_faults; *g; g++)
		if (strstr(line, *g)) {
			log_debug("http: %s", line);
			return;
		}
	/* The rest, at most MHD_WARNINGS_PER_S a second: out of descriptors,
	 * MHD says so for every connection it cannot accept, a million lines
	 * in seconds (measured), which could fill the disk the spool is on. */
	static struct ratelimit limit;
	unsigned long dropped;
	bool say = ratelimit_allow(&limit, MHD_WARNINGS_PER_S, 1000, &dropped);
	if (dropped)
		log_warn("http: %lu more warnings like these were not logged", dropped);
	if (say)
		log_warn("http: %s", line);
}

/* Stops and joins the async pool: handlers under way finish, queued
 * requests get 503, and every suspended connection is resumed. */
static void stop_workers(struct http_server *srv)
{
	pthread_mutex_lock(&srv->jobs_lock);
	srv->jobs_stop = true;
	pthread_cond_broadcast(&srv->jobs_wake);
	pthread_mutex_unlock(&srv->jobs_lock);
	for (size_t i = 0; i < srv->nworkers; i++)
		pthread_join(srv->workers[i], NULL);
	srv->nworkers = 0;
}

static void stop_reaper(struct http_server *srv)
{
	if (!srv->reaper_started)
		return;
	pthread_mutex_lock(&srv->conns_lock);
	srv->reaper_stop = true;
	pthread_cond_signal(&srv->reaper_wake);
	pthread_mutex_unlock(&srv->conns_lock);
	pthread_join(srv->reaper, NULL);
	srv->reaper_started = false;
}

/* Ends every stream: each is woken, and its next wait ends its body
 * cleanly (the last chunk). Waits for MHD to finish them, at most
 * HTTP_STREAM_STOP_MS, since MHD may not stop with connections suspended. */
static void stop_streams(struct http_server *srv)
{
	atomic_store(&srv->streams_stop, true);
	pthread_mutex_lock(&srv->streams_lock);
	for (struct http_stream *s = srv->streams; s; s = s->next)
		http_stream_wake(s);
	struct timespec until = clock_deadline(HTTP_STREAM_STOP_MS);
	while (srv->streams && srv->daemon &&
	       pthread_cond_timedwait(&srv->streams_gone, &srv->streams_lock, &until) == 0)
		;
	pthread_mutex_unlock(&srv->streams_lock);
}

/* Stops accepting (the listening socket is closed: new connections are
 * refused at once, not left waiting in its backlog), then gives the
 * requests under way up to drain_ms to be answered; replies from now on
 * close their connections. */
static void drain(struct http_server *srv)
{
	if (!srv->daemon)
		return;
	atomic_store(&srv->draining, true);
	MHD_socket fd = MHD_quiesce_daemon(srv->daemon);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	int64_t until = clock_ms() + srv->cfg.drain_ms;
	while (atomic_load(&srv->active) > 0 && clock_ms() < until)
		usleep(5000);
	long left = atomic_load(&srv->active);
	if (left > 0)
		log_warn("stopping with %ld requests unanswered after %d ms", left, srv->cfg.drain_ms);
}

static void server_free(struct http_server *srv)
{
	stop_streams(srv);
	drain(srv);
	stop_workers(srv);
	if (srv->daemon)
		MHD_stop_daemon(srv->daemon);
	stop_reaper(srv);
	pthread_cond_destroy(&srv->jobs_wake);
	pthread_mutex_destroy(&srv->jobs_lock);
	pthread_cond_destroy(&srv->streams_gone);
	pthread_mutex_destroy(&srv->streams_lock);
	pthread_cond_destroy(&srv->reaper_wake);
	pthread_mutex_destroy(&srv->conns_lock);
	auth_cache_free(srv->tokens);
	free(srv->hist);
	free(srv);
}

#define HTTP_DURATION "auditlog_http_request_duration_seconds"

/* The duration histograms of srv's routes (metrics.h), by route pattern
 * (never the raw path: a label per id would grow without end), the route's
 * method (a HEAD counts as its GET) and status class. */
static int register_metrics(struct http_server *srv)
{
	const struct http_server_config *cfg = &srv->cfg;
	static const char *const classes[HTTP_CLASSES] = {"2xx", "3xx", "4xx", "5xx"};
	if (!(srv->hist = calloc(cfg->nroutes + 2, sizeof *srv->hist)))
		return -1;
	for (size_t i = 0; i < cfg->nroutes + 2; i++) {
		const char *route = i < cfg->nroutes    ? cfg->routes[i].pattern
		                    : i == cfg->nroutes ? "unmatched"
		                                        : "/metrics";
		const char *method = i < cfg->nroutes    ? cfg->routes[i].method
		                     : i == cfg->nroutes ? "any"
		                                         : "GET";
		for (size_t k = 0; k < HTTP_CLASSES; k++)
			srv->hist[i][k] = metrics_histogram(
			    HTTP_DURATION,
			    "Time from a request's head to its reply's last byte (a stream's whole "
			    "life), by route pattern, method and status class; route=\"unmatched\" "
			    "for requests no route took.",
			    metrics_duration_buckets, metrics_duration_nbuckets, METRICS_NS,
			    "route", route, "method", method, "status", classes[k], NULL);
	}
	metrics_histogram_counter(HTTP_DURATION, "auditlog_http_requests_total",
	                          "HTTP requests answered, by route pattern, method and status "
	                          "class (the duration histogram's count).");
	const char *t = cfg->metrics_token ? cfg->metrics_token : "";
	return SHA256((const unsigned char *)t, strlen(t), srv->metrics_digest) ? 0 : -1;
}

int http_server_start(const struct http_server_config *cfg, struct http_server **out)
{
	struct http_server *srv = calloc(1, sizeof *srv);
	if (!srv)
		return -1;
	srv->cfg = *cfg;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&srv->conns_lock, NULL);
	pthread_cond_init(&srv->reaper_wake, &ca);
	pthread_mutex_init(&srv->jobs_lock, NULL);
	pthread_mutex_init(&srv->streams_lock, NULL);
	pthread_cond_init(&srv->streams_gone, &ca);
	pthread_cond_init(&srv->jobs_wake, NULL);
	pthread_condattr_destroy(&ca);
	if (cfg->auth && !(srv->tokens = auth_cache_new(4096)))
		goto fail;
	if (register_metrics(srv))
		goto fail;
	bool async = false;
	for (size_t i = 0; i < cfg->nroutes; i++)
		async |= (cfg->routes[i].flags & HTTP_ASYNC) != 0;
	for (size_t i = 0; async && i < HTTP_ASYNC_THREADS; i++) {
		if (pthread_create(&srv->workers[i], NULL, async_worker, srv))
			goto fail;
		srv->nworkers++;
	}
	if (cfg->header_timeout_s) {
		if (pthread_create(&srv->reaper, NULL, reaper, srv))
			goto fail;
		srv->reaper_started = true;
	}
	struct MHD_OptionItem notify[] = {
	    {cfg->header_timeout_s ? MHD_OPTION_NOTIFY_CONNECTION : MHD_OPTION_END,
	     (intptr_t)on_connection, srv},
	    {MHD_OPTION_END, 0, NULL}};
	srv->daemon = MHD_start_daemon(
	    MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME,
	    (uint16_t)cfg->port, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER,
	    on_mhd_log, srv, MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv, MHD_OPTION_NOTIFY_COMPLETED,
	    on_completed, srv, MHD_OPTION_ARRAY, notify, MHD_OPTION_THREAD_POOL_SIZE, cfg->threads,
	    MHD_OPTION_CONNECTION_TIMEOUT, cfg->timeout_s ? cfg->timeout_s : 15u,
	    MHD_OPTION_CONNECTION_LIMIT, cfg->connections_max ? cfg->connections_max : 512u,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->connections_per_ip_max,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONNECTION_MEMORY,
	    MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1, MHD_OPTION_END);
	if (!srv->daemon) {
		log_error("could not listen on port %u", cfg->port);
		goto fail;
	}
	*out = srv;
	return 0;
fail:
	server_free(srv);
	return -1;
}

void http_server_stop(struct http_server *srv)
{
	if (srv)
		server_free(srv);
}
