/* Exports of a query of the audit log (README "Exports"): every event a
 * /data-events query matches, with no page cap, streamed as NDJSON or CSV
 * while the client reads.
 *
 * The query runs a page at a time through the same statement as a
 * JSON:API page (query_plan.c), its keyset cursor carried from page to
 * page, so memory stays that of a few pages whatever the export's size.
 * An actor's query is split into lanes, one index range per action (see
 * EXPORT_LANES); any other is one lane. Threads share the work, so that
 * the database reads the next pages while these are formatted and sent:
 *
 *   the readers   up to EXPORT_READERS threads of the export's own, each
 *                 with its own connection: take the lane whose queue is
 *                 shortest, read its next page (export_page.h: the
 *                 statement, unordered, its rows copied and sorted, the
 *                 checker's flags of its events) and queue it; a lane
 *                 waits while EXPORT_AHEAD of its pages are queued.
 *   the writer    fill, on the connection's HTTP worker: takes the lanes'
 *                 next events in the query's order and formats them
 *                 straight from their columns as NDJSON lines or CSV rows
 *                 (export_format.c), a block at a time, and answers
 *                 HTTP_STREAM_WAIT when a lane's next page is not read yet
 *                 (a reader wakes the stream when it queues one).
 *
 * A client that goes away ends the export at once: done stops the
 * readers (after the statement each runs, if any), joins them and frees
 * everything. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditor.h"
#include "export_page.h"
#include "jcs.h"
#include "log.h"

/* A page reads about EXPORT_PAGE_BYTES of rows: its size in events is
 * adapted to the events' size seen so far, within these bounds. A lane's
 * first page is small: it answers at once and gives the events' size. */
#define EXPORT_PAGE_BYTES (1u << 20)
#define EXPORT_PAGE_MIN 100
#define EXPORT_PAGE_MAX 10000
#define EXPORT_PAGE_FIRST 100
/* Pages of a lane queued for the writer, at most (a reader reads one more). */
#define EXPORT_AHEAD 1

const char *const export_media_types[EXPORT_FORMATS] = {JSONAPI_MEDIA_TYPE,
                                                        "application/x-ndjson", "text/csv"};

/* Exports running, at most the auditor's exports_max (AUDITLOG_EXPORTS_MAX):
 * each holds up to EXPORT_READERS threads and connections and, per lane,
 * up to EXPORT_AHEAD + 2 pages. An export whose client left while a page
 * was read ends once that page is read. */
static atomic_int exports_running;

/* ---- the export ---- */

/* An export reads one index range per lane and merges the lanes' events
 * in the query's order as it writes them. An actor's events are read by
 * data_events_actor one range per action (query_plan.h), which a page's
 * statement merges with a UNION, a temporary table and a sort of limit
 * rows from each range for limit kept: the lanes read each action's range
 * by itself, no row twice and none sorted by the server. An event has one
 * action, so the lanes never hold the same event. Any other query is one
 * lane. */
#define EXPORT_LANES (EVENT_DELETED + 1) /* one per action */
/* Threads that read an export's lanes, each on a database connection of
 * its own, at most: the server reads two lanes at once, on both of the
 * cores it has here. One lane, one reader. */
#define EXPORT_READERS 2

struct lane {
	struct plan_query q; /* the reader's: this lane's range and cursor */
	/* under the exporter's lock */
	bool more;                /* another page follows: until then its last is not queued */
	bool busy;                /* a reader is reading its next page */
	struct page *head, *tail; /* pages read, not yet taken by the writer */
	size_t queued;
	uint64_t nread;              /* events read so far */
	int64_t first_ms, last_ms;   /* the times of the first and the last */
	/* the writer's */
	struct page *cur;
};

struct exporter {
	struct auditor *a;
	const struct db_config *src; /* what the readers read: the primary or the replica */
	struct plan_query q; /* the query; its strings are the copies below */
	char *actor_type, *actor_id, *target_type, *target_id, *field, *event_name;
	enum export_format format;
	bool by_version;
	pthread_t readers[EXPORT_READERS];
	size_t nreaders; /* started */
	struct lane lanes[EXPORT_LANES];
	size_t nlanes;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* under lock */
	struct http_stream *stream; /* NULL once done started */
	bool gone;                  /* done started: the readers stop */
	bool failed;                /* a reader failed: the export is cut short */

	/* the writer's (fill) */
	bool started;
	struct jcs_buf out; /* formatted, not yet sent: [off, out.len) */
	size_t off;
	struct jcs_buf scratch;
	unsigned long long events;
};

/* The lanes of x->q (the comment above EXPORT_LANES). */
static void split_lanes(struct exporter *x)
{
	unsigned actions = x->q.actions ? x->q.actions : (1u << EXPORT_LANES) - 1;
	bool by_action = x->q.actor_type && !x->q.target_type && !x->q.field && !x->q.flags;
	x->nlanes = 0;
	for (unsigned a = 0; by_action && a < EXPORT_LANES; a++) {
		if (!(actions & (1u << a)))
			continue;
		struct lane *l = &x->lanes[x->nlanes++];
		l->q = x->q;
		l->q.actions = 1u << a;
		l->more = true;
	}
	if (x->nlanes < 2) {
		x->nlanes = 1;
		x->lanes[0].q = x->q;
		x->lanes[0].more = true;
	}
}

/* Reads the next page of lane l (its query and cursor, which it moves).
 * Returns a db status; *out is the page (its events possibly none), *more
 * whether another follows. */
static int read_page(struct exporter *x, struct lane *l, struct db *db, struct page **out,
                     bool *more)
{
	struct page *p;
	int st = export_page_read(db, &l->q, x->by_version, &p, more);
	if (st)
		return st;
	if (*more) {
		const struct xrow *r = event_row(p, p->nevents - 1);
		l->q.has_after = true;
		l->q.after.version = r->version;
		l->q.after.timestamp = r->time;
		snprintf(l->q.after.id, sizeof l->q.after.id, "%s", col(p, r, C_ID));
		/* The next page holds about EXPORT_PAGE_BYTES. */
		size_t bytes = (p->text.len + p->nrows * (sizeof *p->rows + 8)) / p->nevents + 1;
		size_t limit = EXPORT_PAGE_BYTES / bytes;
		l->q.limit = limit < EXPORT_PAGE_MIN   ? EXPORT_PAGE_MIN
		             : limit > EXPORT_PAGE_MAX ? EXPORT_PAGE_MAX
		                                       : (unsigned)limit;
	}
	*out = p;
	return DB_OK;
}

/* The lane to read next, under lock: of those with more to read, no
 * reader on them and room in their queue, the one with the fewest pages
 * queued (the writer may be waiting for it). NULL when none may be read
 * now; *unread says whether any lane has more to read at all. */
static struct lane *next_lane(struct exporter *x, bool *unread)
{
	struct lane *best = NULL;
	*unread = false;
	for (size_t i = 0; i < x->nlanes; i++) {
		struct lane *l = &x->lanes[i];
		*unread |= l->more;
		if (l->more && !l->busy && l->queued < EXPORT_AHEAD &&
		    (!best || l->queued < best->queued))
			best = l;
	}
	return best;
}

/* Lane l's next page, in events, under lock: its share of the page
 * read_page sized (l->q.limit), the share being its events per ms among
 * the lanes still read, so that the lanes' pages cover about the same
 * stretch of time. Their lookups then land on the same table pages while
 * the buffer pool holds them: a sparse actor's events are a few on every
 * page of the log, and lanes that ran apart in time would read each page
 * once per lane. */
static unsigned lane_limit(const struct exporter *x, const struct lane *l)
{
	double mine = 0, all = 0;
	for (size_t i = 0; i < x->nlanes; i++) {
		const struct lane *k = &x->lanes[i];
		if (!k->nread || (!k->more && k != l))
			continue;
		int64_t span = k->last_ms - k->first_ms;
		double rate = (double)k->nread / (double)((span < 0 ? -span : span) + 1);
		all += rate;
		if (k == l)
			mine = rate;
	}
	double n = all > 0 ? l->q.limit * mine / all : l->q.limit;
	return n < EXPORT_PAGE_MIN ? EXPORT_PAGE_MIN : n > EXPORT_PAGE_MAX ? EXPORT_PAGE_MAX : (unsigned)n;
}

static void *reader_main(void *arg)
{
	struct exporter *x = arg;
	struct db *db = auditor_connect(x->a, x->src); /* this thread's own, closed when it ends */
	int st = db ? DB_OK : DB_ERR_GONE;
	while (st == DB_OK) {
		pthread_mutex_lock(&x->lock);
		struct lane *l;
		bool unread;
		while (!(l = next_lane(x, &unread)) && unread && !x->gone && !x->failed)
			pthread_cond_wait(&x->cond, &x->lock);
		bool stop = !l || x->gone || x->failed;
		if (!stop)
			l->busy = true;
		pthread_mutex_unlock(&x->lock);
		if (stop || atomic_load(&x->a->stopping))
			break;
		struct page *p = NULL;
		bool more = l->more; /* busy: no other thread reads or writes l's q and more */
		st = read_page(x, l, db, &p, &more);
		pthread_mutex_lock(&x->lock);
		if (p && p->nevents) {
			if (!l->nread)
				l->first_ms = event_row(p, 0)->time;
			l->last_ms = event_row(p, p->nevents - 1)->time;
			l->nread += p->nevents;
		}
		if (p && more && x->nlanes > 1)
			l->q.limit = lane_limit(x, l); /* still busy: l's q is ours */
		l->busy = false;
		if (p) {
			if (l->tail)
				l->tail->next = p;
			else
				l->head = p;
			l->tail = p;
			l->queued++;
			l->more = more;
		}
		pthread_cond_broadcast(&x->cond); /* another reader may wait on l */
		if (x->stream)
			http_stream_wake(x->stream);
		pthread_mutex_unlock(&x->lock);
	}
	if (st)
		log_error("export: a page could not be read (%s)", db_status_string(st));
	pthread_mutex_lock(&x->lock);
	if (st) {
		x->failed = true;
		pthread_cond_broadcast(&x->cond);
	}
	if (x->stream)
		http_stream_wake(x->stream);
	pthread_mutex_unlock(&x->lock);
	return NULL;
}

/* Whether lane a's next event comes before lane b's in the query's order
 * (both have one). */
static bool lane_first(const struct exporter *x, const struct lane *a, const struct lane *b)
{
	const struct page *p = a->cur, *q = b->cur;
	int c = export_event_cmp(p, event_row(p, p->at), q, event_row(q, q->at), x->by_version);
	return (x->q.ascending ? c : -c) < 0;
}

/* Gives every lane that has events left a page with one to write next.
 * Returns 1 when done so, 0 when every lane is written, HTTP_STREAM_WAIT
 * when a lane's next page is not read yet, -1 when the reader failed. */
static long take_pages(struct exporter *x)
{
	bool waiting = false, any = false;
	pthread_mutex_lock(&x->lock);
	for (size_t i = 0; i < x->nlanes; i++) {
		struct lane *l = &x->lanes[i];
		while (!l->cur || l->cur->at == l->cur->nevents) {
			export_page_free(l->cur);
			l->cur = l->head;
			if (!l->head)
				break;
			l->head = l->head->next;
			if (!l->head)
				l->tail = NULL;
			l->queued--;
			pthread_cond_broadcast(&x->cond);
		}
		if (!l->cur && l->more)
			waiting = true;
		any |= l->cur != NULL;
	}
	long st = waiting ? (x->failed ? -1 : HTTP_STREAM_WAIT) : any;
	pthread_mutex_unlock(&x->lock);
	return st;
}

/* Formats the lanes' events into x->out in the query's order, a block at
 * a time, until a lane's page is written out (take_pages then gives it
 * its next). */
static void format_some(struct exporter *x, size_t max)
{
	while (x->out.len < max) {
		struct lane *next = NULL;
		for (size_t i = 0; i < x->nlanes; i++) {
			struct lane *l = &x->lanes[i];
			if (!l->cur)
				continue; /* written out */
			if (l->cur->at == l->cur->nevents)
				return;
			if (!next || lane_first(x, l, next))
				next = l;
		}
		if (!next)
			return;
		struct page *p = next->cur;
		const struct xevent *e = &p->events[p->at++];
		if (x->format == EXPORT_CSV)
			export_csv_event(&x->out, &x->scratch, p, e);
		else
			export_ndjson_event(&x->out, p, e);
		x->events++;
	}
}

static long fill(void *ctx, char *buf, size_t max)
{
	struct exporter *x = ctx;
	while (x->off == x->out.len) {
		if (atomic_load(&x->a->stopping))
			return -1; /* cut short: the client sees no last chunk */
		x->out.len = x->off = 0;
		if (!x->started && x->format == EXPORT_CSV)
			jcs_buf_lit(&x->out, export_csv_header);
		x->started = true;
		long st = take_pages(x);
		if (st != 1) {
			if (x->out.len) /* the header */
				break;
			if (st == -1)
				log_error("export: cut short after %llu events", x->events);
			return st;
		}
		format_some(x, max);
		if (x->out.status) {
			log_error("export: an event could not be written after %llu events", x->events);
			return -1;
		}
	}
	size_t n = x->out.len - x->off < max ? x->out.len - x->off : max;
	memcpy(buf, x->out.data + x->off, n);
	x->off += n;
	return (long)n;
}

static void done(void *ctx)
{
	struct exporter *x = ctx;
	pthread_mutex_lock(&x->lock);
	x->gone = true;
	x->stream = NULL;
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->lock);
	for (size_t i = 0; i < x->nreaders; i++)
		pthread_join(x->readers[i], NULL);
	for (size_t i = 0; i < x->nlanes; i++) {
		struct lane *l = &x->lanes[i];
		while (l->head) {
			struct page *p = l->head;
			l->head = p->next;
			export_page_free(p);
		}
		export_page_free(l->cur);
	}
	pthread_mutex_destroy(&x->lock);
	pthread_cond_destroy(&x->cond);
	jcs_buf_free(&x->out);
	jcs_buf_free(&x->scratch);
	free(x->actor_type);
	free(x->actor_id);
	free(x->target_type);
	free(x->target_id);
	free(x->field);
	free(x->event_name);
	free(x);
	atomic_fetch_sub(&exports_running, 1);
}

static char *dup_or_null(const char *s, bool *failed)
{
	char *d = s ? strdup(s) : NULL;
	*failed |= s && !d;
	return d;
}

void events_export(struct http_request *req, const struct plan_query *q,
                   enum export_format format, const struct db_config *src)
{
	const struct auditor *a = http_app(req);
	if (atomic_fetch_add(&exports_running, 1) >= a->exports_max) {
		atomic_fetch_sub(&exports_running, 1);
		http_add_header(req, "Retry-After", "1"); /* RFC 9110 section 10.2.3 */
		http_reply_error(req, 503, "Too many exports",
		                 "%d exports are running; try again when one has ended.",
		                 a->exports_max);
		return;
	}
	struct exporter *x = calloc(1, sizeof *x);
	bool failed = !x;
	if (x) {
		x->a = http_app(req);
		x->src = src;
		x->format = format;
		x->q = *q;
		x->q.limit = EXPORT_PAGE_FIRST;
		x->q.unordered = true;
		/* The request's strings do not outlive its handler. */
		x->q.actor_type = x->actor_type = dup_or_null(q->actor_type, &failed);
		x->q.actor_id = x->actor_id = dup_or_null(q->actor_id, &failed);
		x->q.target_type = x->target_type = dup_or_null(q->target_type, &failed);
		x->q.target_id = x->target_id = dup_or_null(q->target_id, &failed);
		x->q.field = x->field = dup_or_null(q->field, &failed);
		x->q.event_name = x->event_name = dup_or_null(q->event_name, &failed);
		struct plan plan;
		const char *why, *param;
		if (!failed && !query_plan(&x->q, &plan, &why, &param)) {
			x->by_version = plan.by_version;
			plan_free(&plan);
			split_lanes(x);
		} else {
			failed = true;
		}
		pthread_mutex_init(&x->lock, NULL);
		pthread_cond_init(&x->cond, NULL);
	}
	if (failed) {
		if (x)
			done(x);
		else
			atomic_fetch_sub(&exports_running, 1);
		http_reply_error(req, 500, "Internal error", "Out of memory.");
		return;
	}
	struct http_stream *s =
	    http_reply_stream(req, 200,
	                      format == EXPORT_CSV ? "text/csv; charset=utf-8; header=present"
	                                           : export_media_types[EXPORT_NDJSON],
	                      fill, done, x);
	if (!s)
		return; /* done ran */
	pthread_mutex_lock(&x->lock);
	x->stream = s;
	size_t want = x->nlanes < EXPORT_READERS ? x->nlanes : EXPORT_READERS;
	while (x->nreaders < want &&
	       !pthread_create(&x->readers[x->nreaders], NULL, reader_main, x))
		x->nreaders++;
	if (!x->nreaders) { /* one is enough, slower */
		log_error("export: cannot start its reader thread");
		x->failed = true;
	}
	pthread_mutex_unlock(&x->lock);
}
