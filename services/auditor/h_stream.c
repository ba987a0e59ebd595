/* GET /data-events/stream: the live stream (README "Live stream") as
 * Server-Sent Events (WHATWG HTML §9.2), served from the hub (stream.h).
 *
 * Each connection is a subscriber that pulls by position. Its fill runs
 * on the connection's worker thread: it sends `retry:` first, then the
 * messages the hub's ring holds for it, or, while its position is older
 * than the ring, the store's (read on this thread's connection, a chunk
 * at a time, filtered here), and a comment line when nothing was sent for
 * the heartbeat. The store it catches up from may be the read replica
 * (replica.h): what a position holds is written once (an erasure aside,
 * which the replica applies in its turn), and a position the replica lacks
 * yet is read from the primary. With nothing to send it answers
 * HTTP_STREAM_WAIT: the connection is suspended, holding no worker, until
 * the hub wakes it.
 *
 * The stream ends (last chunk) when the token expires, when its user is
 * gone or may no longer read what the filters ask (re-checked through the
 * principal cache at least every --principal-ttl-ms), and when the daemon
 * stops (http.c). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auditor.h"
#include "filter.h"
#include "log.h"
#include "reads.h"
#include "replica.h"
#include "clock.h"
#include "stream.h"

/* Positions one catch-up read of the store covers. */
#define CATCH_UP 1000
/* A principal re-check runs at most this often, whatever the ttl. */
#define RECHECK_MIN_MS 50
/* A fill that read the store this long without finding a match yields
 * the worker (its other connections wait meanwhile) with a comment line. */
#define CATCH_UP_SLICE_MS 50
/* A stream's socket send buffer, in bytes (the kernel doubles it). */
#define STREAM_SEND_BUF (64 << 10)

struct subscriber {
	struct auditor *a;
	struct stream_sub *sub; /* from the first fill */
	struct http_stream
	    *handle;            /* set before the first fill; read by wake under the hub's lock */
	uint64_t start;         /* the first position wanted */
	/* Where it catches up from: the configuration its Read-After chose
	 * (auditor_query_reader), or NULL: the replica's when replica_choose
	 * says so at each read, else the primary's. */
	const struct db_config *src;
	struct stream_filter f; /* its strings are the copies below */
	struct filter_ref actor, target;
	char *field, *event_name;
	char *token; /* the bearer token, for the principal re-check */
	size_t token_len;
	struct auth_claims claims;
	int64_t exp_at, check_at, sent_at; /* CLOCK_MONOTONIC ms */
	bool started;
	struct jcs_buf out; /* to send: [off, out.len) */
	size_t off;
};

static int64_t realtime_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The hub's wake, under its lock: done (which unsubscribes under that
 * lock) has not started, so the handle is valid. */
static void wake(void *arg)
{
	struct subscriber *x = arg;
	http_stream_wake(x->handle);
}

static void done(void *ctx)
{
	struct subscriber *x = ctx;
	stream_unsubscribe(x->a->stream, x->sub);
	jcs_buf_free(&x->out);
	free(x->field);
	free(x->event_name);
	free(x->token);
	free(x);
}

/* Whether the token's user may still read what the filters ask: the
 * principal cache's answer (at most --principal-ttl-ms old). */
static bool still_allowed(struct subscriber *x)
{
	struct auth_claims c = x->claims;
	enum http_principal p = auditor_principal(x->a, x->token, x->token_len, &c);
	if (p != HTTP_PRINCIPAL_OK) {
		log_info("stream: user %lld %s: the stream ends", (long long)c.user_id,
		         p == HTTP_PRINCIPAL_GONE ? "is gone" : "cannot be looked up now");
		return false;
	}
	if (!auth_may_read(&c, x->f.actor_type, x->f.actor_id, x->f.target_type, x->f.target_id)) {
		log_info("stream: user %lld lost the auditor role: the stream ends",
		         (long long)c.user_id);
		return false;
	}
	return true;
}

/* Reads the next chunk of positions from the store (the subscriber is
 * behind the ring) and keeps the matching messages. Returns 0, or -1. */
static int catch_up(struct subscriber *x)
{
	struct stream_hub *h = x->a->stream;
	uint64_t next = stream_sub_next(h, x->sub), head, oldest;
	stream_head(h, &head, &oldest);
	if (next >= head)
		return 0; /* the ring has it now */
	unsigned limit = head - next < CATCH_UP ? (unsigned)(head - next) : CATCH_UP;
	struct auditor *a = x->a;
	const struct db_config *src =
	    x->src ? x->src : a->replica ? replica_choose(a->replica, NULL) : &a->db;
	struct db *db = auditor_connect(a, src);
	struct store_page page;
	int st = db ? store_read_positions(db, 0, next, limit, &page) : DB_ERR_GONE;
	if (!st && !json_array_size(page.data) && src != &a->db) {
		/* below the head, so stored: the replica has not applied it yet */
		json_decref(page.data);
		db = auditor_connect(a, &a->db);
		st = db ? store_read_positions(db, 0, next, limit, &page) : DB_ERR_GONE;
	}
	if (st) {
		log_error("stream: positions from %" PRIu64 " could not be read (%s)", next,
		          db_status_string(st));
		return -1;
	}
	size_t n = json_array_size(page.data), i;
	for (i = 0; i < n; i++) {
		struct stream_event *e = stream_event_new(json_array_get(page.data, i));
		if (!e)
			break;
		if (stream_filter_match(&x->f, e))
			jcs_buf_put(&x->out, e->msg, e->len);
		stream_event_free(e);
	}
	json_decref(page.data);
	if (!n || i < n) {
		/* Stored positions below the head that cannot be read or rendered:
		 * cut the body short rather than skip them. */
		log_error("stream: position %" PRIu64 " could not be %s", next + i,
		          n ? "rendered" : "read");
		return -1;
	}
	stream_sub_advance(h, x->sub, next + n);
	return x->out.status ? -1 : 0;
}

/* The keep-alive comment, with the position the subscriber has passed as
 * the message's id when it has passed one: a message with an id and no
 * data sets the client's last event id without dispatching an event
 * (HTML Living Standard, 9.2.6 "Interpreting an event stream"), so a
 * client whose filter matched nothing for a long while resumes from near
 * the log's end, not from its last match (which may be too far behind to
 * serve: 410), and a client that came for live events only resumes
 * without missing what came while it was away. Called with nothing left
 * to send: every position below the subscriber's next was sent, did not
 * match, or came before what the client asked for. */
static void keep_alive(struct subscriber *x)
{
	uint64_t next = stream_sub_next(x->a->stream, x->sub);
	if (next) {
		char line[48];
		snprintf(line, sizeof line, ": keep-alive\nid: %" PRIu64 "\n\n", next - 1);
		jcs_buf_lit(&x->out, line);
	} else {
		jcs_buf_lit(&x->out, ": keep-alive\n\n");
	}
}

static long fill(void *ctx, char *buf, size_t max)
{
	struct subscriber *x = ctx;
	struct auditor *a = x->a;
	int64_t entered = clock_ms();
	while (x->off == x->out.len) {
		x->out.len = x->off = 0;
		int64_t now = clock_ms();
		if (!x->started) {
			x->started = true;
			if (!(x->sub = stream_subscribe(a->stream, &x->f, x->start, wake, x)))
				return -1;
			char retry[40];
			snprintf(retry, sizeof retry, "retry: %lld\n\n",
			         (long long)a->stream_retry_ms);
			jcs_buf_lit(&x->out, retry);
			break;
		}
		if (atomic_load(&a->stopping) || now >= x->exp_at)
			return 0; /* the last chunk: a clean end */
		if (now >= x->check_at) {
			if (!still_allowed(x))
				return 0;
			int64_t every = a->principal_ttl_ms > RECHECK_MIN_MS ? a->principal_ttl_ms
			                                                     : RECHECK_MIN_MS;
			x->check_at = now + every;
		}
		int64_t beat = x->sent_at + a->stream_heartbeat_ms;
		int64_t wake_at = beat < x->check_at ? beat : x->check_at;
		if (x->exp_at < wake_at)
			wake_at = x->exp_at;
		long took = stream_take(a->stream, x->sub, &x->out, HTTP_STREAM_BLOCK, wake_at);
		if (took == STREAM_BEHIND && catch_up(x))
			return -1;
		if (x->out.status)
			return -1;
		if (x->out.len)
			break;
		if (now >= beat ||
		    (took == STREAM_BEHIND && clock_ms() - entered >= CATCH_UP_SLICE_MS)) {
			keep_alive(x);
			break;
		}
		if (took == 0)
			return HTTP_STREAM_WAIT;
		/* caught up a chunk that matched nothing: go on */
	}
	if (x->out.status)
		return -1;
	size_t n = x->out.len - x->off < max ? x->out.len - x->off : max;
	memcpy(buf, x->out.data + x->off, n);
	x->off += n;
	x->sent_at = clock_ms();
	return (long)n;
}

/* A position: decimal digits only, at most 19 (below 2^63). */
static int position(const char *s, uint64_t *out)
{
	/* A header's value may carry optional whitespace (RFC 9110 §5.5). */
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (!n || n > 19)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return -1;
	*out = strtoull(s, NULL, 10);
	return 0;
}

/* The parameters a stream refuses, and why. */
static const struct {
	const char *param, *why;
} refused[] = {
    {"sort", "A stream is in the log's order of positions (seq), oldest first; sort does not "
             "apply."},
    {"page[size]", "A stream has no pages: it sends every match, then live ones."},
    {"page[after]", "A stream resumes from a position: give ?after=<seq> or Last-Event-ID."},
    {"filter[flag]", "The checker flags events some time after they are stored, so a stream "
                     "cannot filter by flag; query /data-events?filter[flag]=... instead."},
};

static char *dup_or_null(const char *s, bool *failed)
{
	char *d = s ? strdup(s) : NULL;
	*failed |= s && !d;
	return d;
}

void h_events_stream(struct http_request *req)
{
	struct auditor *a = http_app(req);
	const struct query *qs = http_query(req);
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
		if (query_get(qs, refused[i].param)) {
			http_reply_param_error(req, refused[i].param, "Not for a stream", "%s",
			                       refused[i].why);
			return;
		}
	struct subscriber *x = calloc(1, sizeof *x);
	if (!x) {
		http_reply_error(req, 500, "Internal error", "Out of memory.");
		return;
	}
	x->a = a;
	struct plan_query q = {0};
	if (events_filters(req, &q, &x->actor, &x->target))
		goto refused;
	const struct auth_claims *claims = http_claims(req);
	if (!auth_may_read(claims, q.actor_type, q.actor_id, q.target_type, q.target_id)) {
		http_reply_forbidden(req, "A token reads only events whose actor or target is its "
		                          "own user; the auditor role reads all.");
		goto refused;
	}
	/* Where to start: after the position the client saw last. */
	const char *after = query_get(qs, "after"), *last = http_header(req, "Last-Event-ID");
	uint64_t pa = 0, pl = 0;
	if (after && position(after, &pa)) {
		http_reply_param_error(
		    req, "after", "Invalid position",
		    "after must be a position (seq) of log 0: a decimal integer.");
		goto refused;
	}
	if (last && http_header_count(req, "Last-Event-ID") > 1) {
		http_reply_error(req, 400, "Invalid position",
		                 "Last-Event-ID came more than once: give the position once.");
		goto refused;
	}
	if (last && position(last, &pl)) {
		http_reply_error(
		    req, 400, "Invalid position",
		    "Last-Event-ID must be the id of a message of this stream: a position "
		    "(seq) of log 0, a decimal integer.");
		goto refused;
	}
	if (after && last && pa != pl) {
		http_reply_param_error(req, "after", "Conflicting positions",
		                       "after (%" PRIu64 ") and Last-Event-ID (%" PRIu64
		                       ") disagree: "
		                       "give one, or the same position in both.",
		                       pa, pl);
		goto refused;
	}
	uint64_t head, oldest;
	if (!a->stream || !stream_head(a->stream, &head, &oldest)) {
		http_reply_error(req, 503, "Service unavailable",
		                 "The stream has not read the log's end yet; try again shortly.");
		goto refused;
	}
	/* Read-After (README "Read replica"): what it catches up from has the
	 * client's write. */
	if (http_header(req, GTID_HEADER) && !auditor_query_reader(req, &x->src))
		goto refused;
	x->start = head; /* neither: live from the head */
	if (after || last) {
		uint64_t seen = after ? pa : pl, end = head;
		/* The hub's head lags the store by up to a poll: a position a page
		 * just showed may lie beyond it. The store decides. */
		if (seen >= head) {
			struct db *db = auditor_reader(req);
			if (!db)
				goto refused;
			int st = stream_stored_end(db, 0, &end);
			if (st) {
				http_reply_error(req, 503, "Service unavailable",
				                 "The log's end could not be read (%s).",
				                 db_status_string(st));
				goto refused;
			}
		}
		if (seen >= end) {
			http_reply_error(req, 400, "Invalid position",
			                 "Position %" PRIu64
			                 " is not stored yet: the log holds positions "
			                 "below %" PRIu64 ".",
			                 seen, end);
			goto refused;
		}
		/* (A position past the hub's head, but stored, is never too old.) */
		if (seen + 1 < head && head - (seen + 1) > a->stream_backlog_max) {
			http_reply_error(
			    req, 410, "Position too old",
			    "The stream resumes at most %" PRIu64 " positions behind the log's "
			    "end (%" PRIu64 "); read the events up to position %" PRIu64
			    " with /data-events or /export, then resume from there.",
			    a->stream_backlog_max, head, head - a->stream_backlog_max - 1);
			goto refused;
		}
		x->start = seen + 1;
	}
	/* A token is good until its exp plus the leeway every route allows
	 * (auth.h), so a stream ends when a query would be refused. */
	int64_t now = clock_ms(),
	        left_ms = (claims->exp + AUTH_LEEWAY_S) * 1000 - realtime_ms();
	if (left_ms <= 0) {
		http_add_header(req, "WWW-Authenticate",
		                "Bearer realm=\"auditlog\", error=\"invalid_token\"");
		http_reply_error(req, 401, "Unauthorized", "The token has expired.");
		goto refused;
	}
	const char *bearer = http_bearer(req);
	const char *tok = bearer ? strchr(bearer, ' ') : NULL;
	while (tok && *tok == ' ')
		tok++;
	bool failed = !tok;
	x->token = dup_or_null(tok, &failed);
	x->token_len = x->token ? strlen(x->token) : 0;
	x->field = dup_or_null(q.field, &failed);
	x->event_name = dup_or_null(q.event_name, &failed);
	if (failed) {
		http_reply_error(req, 500, "Internal error", "Out of memory.");
		goto refused;
	}
	x->claims = *claims;
	x->f = (struct stream_filter){.actor_type = q.actor_type ? x->actor.type : NULL,
	                              .actor_id = q.actor_type ? x->actor.id : NULL,
	                              .target_type = q.target_type ? x->target.type : NULL,
	                              .target_id = q.target_type ? x->target.id : NULL,
	                              .field = x->field,
	                              .event_name = x->event_name,
	                              .actions = q.actions,
	                              .has_since = q.has_since,
	                              .since = q.since,
	                              .has_until = q.has_until,
	                              .until = q.until};
	x->exp_at = now + left_ms;
	x->sent_at = now;
	x->check_at =
	    now + (a->principal_ttl_ms > RECHECK_MIN_MS ? a->principal_ttl_ms : RECHECK_MIN_MS);
	/* The stream is one read, recorded as it starts (README "Reads are
	 * recorded"); after= is among the query's parameters already. */
	if (reads_record(req, READS_STREAM, q.target_type ? q.target_type : q.actor_type,
	                 q.target_type ? q.target_id : q.actor_id,
	                 (const char *const[]){"lastEventId", last, NULL}))
		goto refused;
	http_add_header(req, "Cache-Control", "no-store");
	http_add_header(req, "X-Accel-Buffering", "no"); /* proxies: do not hold it back */
	struct http_stream *handle =
	    http_reply_stream(req, 200, "text/event-stream", fill, done, x);
	if (handle) {
		x->handle = handle; /* before the first fill, on this same thread */
		/* A stream that is behind reads the store on an HTTP worker for
		 * as long as the kernel takes what it sends: a client that does
		 * not read (or a relay reading ahead for one) must not have it
		 * read megabytes ahead while other requests wait for a worker. */
		http_stream_send_buffer(handle, STREAM_SEND_BUF);
	}
	return;
refused:
	done(x);
}
