/* GET /data-events/stream: the live stream (README "Live stream") as
 * Server-Sent Events (WHATWG HTML §9.2), served from the hubs of every
 * log (stream_logs.h, stream.h).
 *
 * Each connection subscribes to every log's hub and pulls by position, a
 * position per log. Its fill runs on the connection's worker thread: it
 * sends `retry:` first, then, taking from each log in turn, the messages
 * a hub's ring holds for it, or, while its position in that log is older
 * than the ring, the store's (read on this thread's connection, a chunk
 * at a time, filtered here), and a comment line when nothing was sent for
 * the heartbeat. Each message's id is its positions in every log
 * (stream_id.h): the last it passed in each, so that a client resumes
 * every log from its last id. With nothing to send from any log it answers
 * HTTP_STREAM_WAIT: the connection is suspended, holding no worker, until
 * a hub wakes it. A log found after the stream began (a new auditor's) is
 * followed from its first position. The store it catches up from may be
 * the read replica (replica.h): what a position holds is written once (an
 * erasure aside, which the replica applies in its turn), and a position the
 * replica lacks yet is read from the primary.
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
#include "metrics.h"
#include "reads.h"
#include "replica.h"
#include "clock.h"
#include "stream.h"
#include "stream_logs.h"

/* Positions one catch-up read of the store covers. */
#define CATCH_UP 1000
/* A principal re-check runs at most this often, whatever the ttl. */
#define RECHECK_MIN_MS 50
/* A fill that read the store this long without finding a match yields
 * the worker (its other connections wait meanwhile) with a comment line. */
#define CATCH_UP_SLICE_MS 50
/* A stream's socket send buffer, in bytes (the kernel doubles it). */
#define STREAM_SEND_BUF (64 << 10)

/* A log the stream follows: its hub and the stream's subscription to it. */
struct follow {
	struct stream_hub *hub;
	struct stream_sub *sub;
	uint32_t log;
};

struct subscriber {
	struct auditor *a;
	/* the set's first nlogs hubs (stream_logs_hub's order), from the first
	 * fill on */
	struct follow logs[STREAM_ID_LOGS_MAX];
	size_t nlogs;
	size_t turn; /* the log a fill takes from first: each in turn */
	/* What the stream had passed in each log before it began (the client's
	 * id, or the logs' ends): a log it does not name is followed from
	 * position 0. */
	struct stream_id from;
	/* What it has passed now: its messages' ids (fill's thread only). */
	struct stream_id id;
	struct http_stream
	    *handle; /* set before the first fill; read by wake under a hub's lock */
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

/* Live streams open now (README "Metrics"): one per stream, whatever the
 * logs it follows. */
static void count_streams(int64_t n)
{
	metrics_gauge_add(metrics_gauge("auditlog_stream_subscribers",
	                                "Live streams (GET /data-events/stream) open now.", NULL),
	                  n);
}

/* A hub's wake, under its lock: done (which unsubscribes from every hub,
 * each under that hub's lock) has not returned, so the handle is valid
 * (http.c frees it after done returns; a stream ends only once resumed,
 * so a wake while done runs is a flag for a fill that never comes). */
static void wake(void *arg)
{
	struct subscriber *x = arg;
	http_stream_wake(x->handle);
}

static void done(void *ctx)
{
	struct subscriber *x = ctx;
	for (size_t i = 0; i < x->nlogs; i++)
		stream_unsubscribe(x->logs[i].hub, x->logs[i].sub);
	if (x->started)
		count_streams(-1);
	jcs_buf_free(&x->out);
	free(x->field);
	free(x->event_name);
	free(x->token);
	free(x);
}

/* Subscribes to the hubs the set has that the stream does not follow yet,
 * each from the position after what x->from says the stream had passed
 * in its log. Returns 0, or -1 (out of memory). */
static int follow_new(struct subscriber *x)
{
	struct stream_logs *set = x->a->streams;
	for (size_t n = stream_logs_count(set); x->nlogs < n; x->nlogs++) {
		struct follow *f = &x->logs[x->nlogs];
		f->hub = stream_logs_hub(set, x->nlogs, &f->log);
		uint64_t seen, next = stream_id_get(&x->from, f->log, &seen) ? seen + 1 : 0;
		if (!(f->sub = stream_subscribe(f->hub, &x->f, next, wake, x)))
			return -1;
	}
	return 0;
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

/* Reads the next chunk of log i's positions from the store (the
 * subscriber is behind that hub's ring) and keeps the matching messages.
 * Returns 0, or -1. */
static int catch_up(struct subscriber *x, size_t i)
{
	const struct follow *l = &x->logs[i];
	uint64_t next = stream_sub_next(l->hub, l->sub), head, oldest;
	stream_head(l->hub, &head, &oldest);
	if (next >= head)
		return 0; /* the ring has it now */
	unsigned limit = head - next < CATCH_UP ? (unsigned)(head - next) : CATCH_UP;
	struct auditor *a = x->a;
	const struct db_config *src =
	    x->src ? x->src : a->replica ? replica_choose(a->replica, NULL) : &a->db;
	struct db *db = auditor_connect(a, src);
	struct store_page page;
	int st = db ? store_read_positions(db, l->log, next, limit, &page) : DB_ERR_GONE;
	if (!st && !json_array_size(page.data) && src != &a->db) {
		/* below the head, so stored: the replica has not applied it yet */
		json_decref(page.data);
		db = auditor_connect(a, &a->db);
		st = db ? store_read_positions(db, l->log, next, limit, &page) : DB_ERR_GONE;
	}
	if (st) {
		log_error("stream: positions from %" PRIu64 " of log %u could not be read (%s)", next,
		          (unsigned)l->log, db_status_string(st));
		return -1;
	}
	size_t n = json_array_size(page.data), k;
	for (k = 0; k < n; k++) {
		struct stream_event *e = stream_event_new(json_array_get(page.data, k));
		if (!e)
			break;
		if (stream_filter_match(&x->f, e))
			stream_event_put(e, l->log, &x->id, &x->out);
		stream_event_free(e);
	}
	json_decref(page.data);
	if (!n || k < n) {
		/* Stored positions below the head that cannot be read or rendered:
		 * cut the body short rather than skip them. */
		log_error("stream: position %" PRIu64 " of log %u could not be %s", next + k,
		          (unsigned)l->log, n ? "rendered" : "read");
		return -1;
	}
	stream_sub_advance(l->hub, l->sub, next + n);
	if (stream_id_set(&x->id, l->log, next + n - 1))
		return -1;
	return x->out.status ? -1 : 0;
}

/* The keep-alive comment, with the positions the subscriber has passed
 * as the message's id when it has passed one: a message with an id and no
 * data sets the client's last event id without dispatching an event
 * (HTML Living Standard, 9.2.6 "Interpreting an event stream"), so a
 * client whose filter matched nothing for a long while resumes from near
 * the logs' ends, not from its last match (which may be too far behind to
 * serve: 410), and a client that came for live events only resumes
 * without missing what came while it was away. Called with nothing left
 * to send: every position below the subscriber's next in each log was
 * sent, did not match, or came before what the client asked for. */
static void keep_alive(struct subscriber *x)
{
	for (size_t i = 0; i < x->nlogs; i++) {
		uint64_t next = stream_sub_next(x->logs[i].hub, x->logs[i].sub);
		if (next && stream_id_set(&x->id, x->logs[i].log, next - 1))
			x->out.status = JCS_EINVAL;
	}
	char text[STREAM_ID_TEXT_MAX];
	if (stream_id_format(&x->id, text, sizeof text)) {
		jcs_buf_lit(&x->out, ": keep-alive\nid: ");
		jcs_buf_lit(&x->out, text);
		jcs_buf_lit(&x->out, "\n\n");
	} else {
		jcs_buf_lit(&x->out, ": keep-alive\n\n");
	}
}

/* Takes what there is from each log in turn (the ring, or the store while
 * behind it) into x->out, up to HTTP_STREAM_BLOCK. *behind: some log was
 * behind its ring. Returns 1 when every log has nothing now (each hub
 * wakes the subscriber when it has, or at wake_at), 0 when something was
 * taken or read, -1 on failure. */
static int take(struct subscriber *x, int64_t wake_at, bool *behind)
{
	bool waiting = true;
	*behind = false;
	for (size_t k = 0; k < x->nlogs && x->out.len < HTTP_STREAM_BLOCK; k++) {
		size_t i = (x->turn + k) % x->nlogs;
		long took = stream_take(x->logs[i].hub, x->logs[i].sub, &x->out,
		                        HTTP_STREAM_BLOCK - x->out.len, wake_at, &x->id);
		if (took == STREAM_BEHIND) {
			*behind = true;
			if (catch_up(x, i))
				return -1;
		}
		waiting &= took == 0;
		if (x->out.status)
			return -1;
	}
	x->turn++; /* no log goes first every time */
	return waiting;
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
			count_streams(1);
			if (follow_new(x))
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
		if (follow_new(x)) /* logs found since it began */
			return -1;
		int64_t beat = x->sent_at + a->stream_heartbeat_ms;
		int64_t wake_at = beat < x->check_at ? beat : x->check_at;
		if (x->exp_at < wake_at)
			wake_at = x->exp_at;
		bool behind;
		int waiting = take(x, wake_at, &behind);
		if (waiting < 0)
			return -1;
		if (x->out.len)
			break;
		if (now >= beat || (behind && clock_ms() - entered >= CATCH_UP_SLICE_MS)) {
			keep_alive(x);
			break;
		}
		if (waiting)
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

/* The grammar of an id, for the 400s that refuse one. */
#define ID_GRAMMAR                                                                             \
	"a position (seq) of log 0, or positions of several logs as <log>-<seq> joined by '.' " \
	"(e.g. 0-4711.1-230.1024-5)"

/* Where x starts in each log (x->from): after the positions the client
 * sent (Last-Event-ID or ?after=, the id of the last message it had), or
 * at every log's stored end. Every log of the deployment the store holds
 * gets a hub here, if the set had none yet. Returns 0, or -1 after
 * replying 400 (a bad id, or a position not stored yet), 410 (one more
 * than the backlog behind its log's end) or 503. */
static int start_at(struct http_request *req, struct subscriber *x)
{
	struct auditor *a = x->a;
	const char *after = query_get(http_query(req), "after");
	const char *last = http_header(req, "Last-Event-ID");
	struct stream_id pa, pl, ends;
	if (after && stream_id_parse(after, strlen(after), &pa)) {
		http_reply_param_error(req, "after", "Invalid position",
		                       "after must be the id of a message of this stream: " ID_GRAMMAR
		                       ".");
		return -1;
	}
	if (last && http_header_count(req, "Last-Event-ID") > 1) {
		http_reply_error(req, 400, "Invalid position",
		                 "Last-Event-ID came more than once: give the position once.");
		return -1;
	}
	if (last && stream_id_parse(last, strlen(last), &pl)) {
		http_reply_error(req, 400, "Invalid position",
		                 "Last-Event-ID must be the id of a message of this stream: " ID_GRAMMAR
		                 ".");
		return -1;
	}
	if (after && last && !stream_id_equal(&pa, &pl)) {
		http_reply_param_error(req, "after", "Conflicting positions",
		                       "after (%.100s) and Last-Event-ID (%.100s) disagree: give one, "
		                       "or the same position in both.",
		                       after, last);
		return -1;
	}
	/* Read-After (README "Read replica"): what it catches up from has the
	 * client's write. */
	if (http_header(req, GTID_HEADER) && !auditor_query_reader(req, &x->src))
		return -1;
	/* The store says where each log ends: a hub's head lags it by up to a
	 * poll (a position a page just showed may lie beyond it), or by any
	 * amount while the hub had no subscriber. */
	struct db *db = auditor_reader(req);
	if (!db)
		return -1;
	int st = a->streams ? stream_stored_ends(db, &ends) : DB_ERR;
	/* The deployment's logs are followed (the store may hold others, of an
	 * earlier deployment). */
	for (size_t i = 0; !st && i < ends.n; i++)
		if (stream_logs_follows(a->streams, ends.log[i]))
			st = stream_logs_add(a->streams, ends.log[i]) ? DB_ERR : DB_OK;
	if (st) {
		http_reply_error(req, 503, "Service unavailable",
		                 "The logs' ends could not be read, or not every log can be "
		                 "streamed (%s).",
		                 db_status_string(st));
		return -1;
	}
	x->from = (struct stream_id){0};
	if (!after && !last) {
		/* Live events only: from every log's end. */
		for (size_t i = 0; i < ends.n; i++)
			if (ends.seq[i] && stream_logs_follows(a->streams, ends.log[i]))
				(void)stream_id_set(&x->from, ends.log[i], ends.seq[i] - 1); /* fits */
		x->id = x->from;
		return 0;
	}
	/* Each position stored; one of a log the stream does not follow (an
	 * earlier deployment's) is left out. */
	const struct stream_id *given = after ? &pa : &pl;
	for (size_t i = 0; i < given->n; i++) {
		uint64_t end = 0, seen = given->seq[i];
		(void)stream_id_get(&ends, given->log[i], &end); /* none stored: 0 */
		if (seen >= end) {
			http_reply_error(req, 400, "Invalid position",
			                 "Position %" PRIu64 " of log %u is not stored yet: the log "
			                 "holds positions below %" PRIu64 ".",
			                 seen, (unsigned)given->log[i], end);
			return -1;
		}
		if (stream_logs_follows(a->streams, given->log[i]))
			(void)stream_id_set(&x->from, given->log[i], seen); /* fits */
	}
	/* Each log, from the position after the id's (or its first one). */
	for (size_t i = 0; i < ends.n; i++) {
		uint64_t end = ends.seq[i], seen, next = 0;
		if (!stream_logs_follows(a->streams, ends.log[i]))
			continue;
		if (stream_id_get(&x->from, ends.log[i], &seen))
			next = seen + 1;
		if (end > next && end - next > a->stream_backlog_max) {
			http_reply_error(
			    req, 410, "Position too old",
			    "The stream resumes at most %" PRIu64 " positions behind a log's end; "
			    "log %u ends at %" PRIu64 ": read its events up to position %" PRIu64
			    " with /data-events or /export, then resume from there.",
			    a->stream_backlog_max, (unsigned)ends.log[i], end,
			    end - a->stream_backlog_max - 1);
			return -1;
		}
	}
	x->id = x->from;
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
	if (start_at(req, x))
		goto refused;
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
	                 (const char *const[]){"lastEventId", http_header(req, "Last-Event-ID"),
	                                       NULL}))
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
