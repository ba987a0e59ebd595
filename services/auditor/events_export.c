/* Exports of a query of the audit log (README "Exports"): every event a
 * /data-events query matches, with no page cap, streamed as NDJSON or CSV
 * while the client reads.
 *
 * The query runs a page at a time through the same statement as a
 * JSON:API page (query_plan.c), its keyset cursor carried from page to
 * page, so memory stays that of a few pages whatever the export's size.
 * Two threads share the work, so that the database reads the next page
 * while this one is formatted and sent:
 *
 *   the reader    a thread of the export's own, with its own connection:
 *                 runs a page's statement (unordered: q.unordered), copies
 *                 its rows, sorts them into the page's order, reads the
 *                 checker's flags of its events, and queues the page; it
 *                 waits while EXPORT_AHEAD pages are queued.
 *   the writer    fill, on the connection's HTTP worker: formats the queued
 *                 pages' events straight from their columns as NDJSON
 *                 lines or CSV rows, a block at a time, and answers
 *                 HTTP_STREAM_WAIT when no page is ready (the reader wakes
 *                 the stream when it queues one).
 *
 * Each NDJSON line is byte for byte the resource a JSON:API page holds
 * (store_read.c builds it with jansson, which json_dumps in the same
 * member order): strings and values that need no escaping are copied,
 * anything else goes through jansson. A client that goes away ends the
 * export at once: done stops the reader (after the statement it runs,
 * if any), joins it and frees everything. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditor.h"
#include "jcs.h"
#include "log.h"
#include "sql_id.h"

/* A page reads about EXPORT_PAGE_BYTES of rows: its size in events is
 * adapted to the events' size seen so far, within these bounds. A lane's
 * first page is small: it answers at once and gives the events' size. */
#define EXPORT_PAGE_BYTES (1u << 20)
#define EXPORT_PAGE_MIN 100
#define EXPORT_PAGE_MAX 10000
#define EXPORT_PAGE_FIRST 100
/* Pages queued for the writer, at most (the reader reads one more). */
#define EXPORT_AHEAD 1
/* Exports running at once are at most the auditor's exports_max
 * (AUDITLOG_EXPORTS_MAX): each holds a thread, a database connection and
 * up to EXPORT_AHEAD + 2 pages. An export whose client left while it
 * waited for a page ends once that page is read. */
/* Events of a page whose flags one statement reads. */
#define EXPORT_FLAG_IDS 1024

const char *const export_media_types[EXPORT_FORMATS] = {JSONAPI_MEDIA_TYPE,
                                                        "application/x-ndjson", "text/csv"};

static atomic_int exports_running;

/* ---- a page as read ---- */

/* The columns of a page's statement (struct plan). */
enum {
	C_ID,
	C_ACTION,
	C_TIME,
	C_ACTOR_TYPE,
	C_ACTOR_ID,
	C_TARGET_TYPE,
	C_TARGET_ID,
	C_NAME,
	C_FIELD,
	C_PREV,
	C_NEXT,
	C_LOG,
	C_SEQ,
	C_VALUES, /* the value row's field: NULL when the values were erased */
	C_VERSION,
	NCOLS
};
#define NO_VALUE UINT32_MAX /* SQL NULL */

/* A row: where its columns are in the page's text (each NUL-terminated). */
struct xrow {
	int64_t version, time;
	uint32_t off[NCOLS], len[NCOLS];
};

/* A flag (kind, field, detail) of an event: the same. */
struct xflag {
	uint32_t off[3], len[3];
};

struct xevent {
	uint32_t row, nrows;   /* its rows in page order: order[row .. row + nrows) */
	uint32_t flag, nflags; /* its flags: flags[flag .. flag + nflags) */
};

struct page {
	struct page *next;
	struct jcs_buf text; /* the columns' values */
	struct xrow *rows;
	size_t nrows, rcap;
	uint32_t *order; /* row indices in page order */
	struct xevent *events;
	size_t nevents;
	struct xflag *flags;
	size_t nflags, fcap;
	size_t at; /* the writer's next event */
};

static void page_free(struct page *p)
{
	if (!p)
		return;
	jcs_buf_free(&p->text);
	free(p->rows);
	free(p->order);
	free(p->events);
	free(p->flags);
	free(p);
}

static const char *col(const struct page *p, const struct xrow *r, int c)
{
	return r->off[c] == NO_VALUE ? NULL : p->text.data + r->off[c];
}

/* Copies s (n bytes) and a NUL into the page's text; its offset. */
static uint32_t keep(struct page *p, const char *s, size_t n)
{
	size_t off = p->text.len;
	jcs_buf_put(&p->text, s, n);
	jcs_buf_put(&p->text, "", 1);
	if (off + n + 1 >= NO_VALUE)
		p->text.status = -1;
	return (uint32_t)off;
}

/* Makes room for one more element of size bytes in *arr (n in use, *cap
 * allocated; first when none yet), doubling. Returns 0, or -1 when out of
 * memory (*arr unchanged). */
static int room(void **arr, size_t *cap, size_t n, size_t size, size_t first)
{
	if (n < *cap)
		return 0;
	size_t c = *cap ? 2 * *cap : first;
	void *a = realloc(*arr, c * size);
	if (!a)
		return -1;
	*arr = a;
	*cap = c;
	return 0;
}

static int take_row(void *arg, const struct db_row *r)
{
	struct page *p = arg;
	if (r->n != NCOLS || !r->val[C_ID] || !r->val[C_TIME] || !r->val[C_VERSION])
		return DB_ERR;
	if (room((void **)&p->rows, &p->rcap, p->nrows, sizeof *p->rows, 1024))
		return DB_ERR;
	struct xrow *x = &p->rows[p->nrows++];
	for (int c = 0; c < NCOLS; c++) {
		x->off[c] = r->val[c] ? keep(p, r->val[c], r->len[c]) : NO_VALUE;
		x->len[c] = (uint32_t)r->len[c];
	}
	x->version = strtoll(r->val[C_VERSION], NULL, 10);
	x->time = strtoll(r->val[C_TIME], NULL, 10);
	return p->text.status ? DB_ERR : 0;
}

/* The page's order (query_plan.h): (version,) time, id, newest first
 * unless ascending; an event's changes by field. */
static _Thread_local const struct page *sort_page;
static _Thread_local int sort_dir;
static _Thread_local bool sort_by_version;

static int row_cmp(const void *a, const void *b)
{
	const struct xrow *x = &sort_page->rows[*(const uint32_t *)a];
	const struct xrow *y = &sort_page->rows[*(const uint32_t *)b];
	int c = 0;
	if (sort_by_version && x->version != y->version)
		c = x->version < y->version ? -1 : 1;
	else if (x->time != y->time)
		c = x->time < y->time ? -1 : 1;
	else
		c = strcmp(col(sort_page, x, C_ID), col(sort_page, y, C_ID));
	if (c)
		return c * sort_dir;
	const char *f = col(sort_page, x, C_FIELD), *g = col(sort_page, y, C_FIELD);
	return !f || !g ? (f != NULL) - (g != NULL) : strcmp(f, g); /* NULL first */
}

/* Sorts the rows and groups them into events, keeping limit at most (the
 * statement reads one more, which only says that more follow). */
static int page_events(struct page *p, const struct plan_query *q, bool by_version, bool *more)
{
	p->order = malloc((p->nrows ? p->nrows : 1) * sizeof *p->order);
	p->events = malloc((p->nrows ? p->nrows : 1) * sizeof *p->events);
	if (!p->order || !p->events)
		return DB_ERR;
	for (size_t i = 0; i < p->nrows; i++)
		p->order[i] = (uint32_t)i;
	sort_page = p;
	sort_dir = q->ascending ? 1 : -1;
	sort_by_version = by_version;
	qsort(p->order, p->nrows, sizeof *p->order, row_cmp);
	*more = false;
	for (size_t i = 0; i < p->nrows; i++) {
		const char *id = col(p, &p->rows[p->order[i]], C_ID);
		if (p->nevents &&
		    !strcmp(id, col(p, &p->rows[p->order[p->events[p->nevents - 1].row]], C_ID))) {
			p->events[p->nevents - 1].nrows++;
			continue;
		}
		if (p->nevents == q->limit) {
			*more = true;
			break;
		}
		p->events[p->nevents++] = (struct xevent){.row = (uint32_t)i, .nrows = 1};
	}
	return DB_OK;
}

/* ---- the checker's flags of a page's events (meta.flags) ---- */

struct flag_ctx {
	struct page *p;
	uint32_t *by_id; /* the chunk's events, by id */
	size_t n, at;
};

static const char *event_id(const struct page *p, uint32_t e)
{
	return col(p, &p->rows[p->order[p->events[e].row]], C_ID);
}

static _Thread_local const struct page *id_page;

static int id_cmp(const void *a, const void *b)
{
	return strcmp(event_id(id_page, *(const uint32_t *)a), event_id(id_page, *(const uint32_t *)b));
}

/* Flag rows come ordered by event id, then flag and field (as
 * store_read.c reads them): the chunk's events are walked in id order
 * beside them, and an event's flags are consecutive. */
static int flag_row(void *arg, const struct db_row *r)
{
	struct flag_ctx *f = arg;
	struct page *p = f->p;
	if (r->n != 4 || !r->val[0] || !r->val[1] || !r->val[3])
		return DB_ERR;
	while (f->at < f->n && strcmp(event_id(p, f->by_id[f->at]), r->val[0]) < 0)
		f->at++;
	if (f->at == f->n || strcmp(event_id(p, f->by_id[f->at]), r->val[0]))
		return 0; /* not one of ours: cannot happen */
	if (room((void **)&p->flags, &p->fcap, p->nflags, sizeof *p->flags, 64))
		return DB_ERR;
	struct xevent *e = &p->events[f->by_id[f->at]];
	if (!e->nflags)
		e->flag = (uint32_t)p->nflags;
	e->nflags++;
	struct xflag *x = &p->flags[p->nflags++];
	for (int c = 0; c < 3; c++) {
		const char *v = r->val[c + 1] ? r->val[c + 1] : "";
		x->off[c] = keep(p, v, r->len[c + 1]);
		x->len[c] = (uint32_t)r->len[c + 1];
	}
	return p->text.status ? DB_ERR : 0;
}

/* Reads the flags of events [from, from + n) of the page: one statement,
 * their ids padded to a power of two (the last repeated) so that few
 * statements are prepared. */
static int page_flags_chunk(struct db *db, struct page *p, size_t from, size_t n)
{
	size_t padded = 1;
	while (padded < n)
		padded *= 2;
	static const char head[] = "SELECT " SQL_ID("event_id") ", flag, field, detail FROM "
	                           "data_event_flags WHERE event_id IN (";
	static const char tail[] = ") ORDER BY event_id, flag, field";
	char *sql = malloc(sizeof head + padded * sizeof SQL_ID_ARG + sizeof tail);
	struct db_value *ids = malloc(padded * sizeof *ids);
	struct flag_ctx f = {.p = p, .by_id = malloc(n * sizeof *f.by_id), .n = n};
	int st = DB_ERR;
	if (sql && ids && f.by_id) {
		char *s = sql + sprintf(sql, "%s", head);
		for (size_t i = 0; i < padded; i++) {
			if (i)
				*s++ = ',';
			memcpy(s, SQL_ID_ARG, sizeof SQL_ID_ARG - 1);
			s += sizeof SQL_ID_ARG - 1;
			uint32_t e = (uint32_t)(from + (i < n ? i : n - 1));
			ids[i] = DB_TEXT(event_id(p, e));
		}
		strcpy(s, tail);
		for (size_t i = 0; i < n; i++)
			f.by_id[i] = (uint32_t)(from + i);
		id_page = p;
		qsort(f.by_id, n, sizeof *f.by_id, id_cmp);
		st = db_query(db, sql, ids, padded, flag_row, &f);
	}
	free(sql);
	free(ids);
	free(f.by_id);
	return st;
}

static int page_flags(struct db *db, struct page *p)
{
	for (size_t from = 0; from < p->nevents; from += EXPORT_FLAG_IDS) {
		size_t n = p->nevents - from < EXPORT_FLAG_IDS ? p->nevents - from : EXPORT_FLAG_IDS;
		int st = page_flags_chunk(db, p, from, n);
		if (st)
			return st;
	}
	return DB_OK;
}

/* ---- formatting: JSON as jansson writes it ---- */

/* s (n bytes) as a JSON string, as json_dumps writes it: copied when it
 * needs no escape, else through jansson (which also checks its UTF-8). */
static void put_string(struct jcs_buf *b, const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x80 && s[i] != '"' &&
	       s[i] != '\\')
		i++;
	if (i == n) {
		jcs_buf_put(b, "\"", 1);
		jcs_buf_put(b, s, n);
		jcs_buf_put(b, "\"", 1);
		return;
	}
	json_t *v = json_stringn(s, n);
	char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	if (text)
		jcs_buf_lit(b, text);
	else
		b->status = -1; /* not UTF-8: a page would fail too */
	free(text);
	json_decref(v);
}

static void put_int(struct jcs_buf *b, const char *s)
{
	jcs_buf_int(b, strtoll(s, NULL, 10));
}

/* Whether json_dumps(json_loadb(s)) gives s back, by its look alone:
 * null, true, false, an integer within 18 digits, or a string of
 * printable ASCII without escapes. */
static bool plain_value(const char *s, size_t n)
{
	if ((n == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "true", 4))) ||
	    (n == 5 && !memcmp(s, "false", 5)))
		return true;
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		for (size_t i = 1; i < n - 1; i++)
			if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x80 || s[i] == '"' ||
			    s[i] == '\\')
				return false;
		return true;
	}
	size_t i = s[0] == '-';
	if (n == i || n - i > 18 || (s[i] == '0' && n - i > 1) || (i && s[i] == '0'))
		return false; /* also "-0", which jansson writes 0 */
	for (; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* A stored value (JSON text) as a page shows it: parsed by jansson (null
 * when it does not parse) and written compact. */
static void put_value(struct jcs_buf *b, const char *s, size_t n)
{
	if (s && plain_value(s, n)) {
		jcs_buf_put(b, s, n);
		return;
	}
	json_t *v = s ? json_loadb(s, n, JSON_DECODE_ANY, NULL) : NULL;
	char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	if (text)
		jcs_buf_lit(b, text);
	else if (v)
		b->status = -1;
	else
		jcs_buf_lit(b, "null");
	free(text);
	json_decref(v);
}

static void put_string_or_null(struct jcs_buf *b, const char *s, size_t n)
{
	if (s)
		put_string(b, s, n);
	else
		jcs_buf_lit(b, "null");
}

#define COL(r, c) col(p, (r), (c)), (r)->len[(c)]

/* One event as the JSON:API resource of a page (store_read.c page_row,
 * attach_flags, jsonapi_resource), and a LF. */
static void ndjson_event(struct jcs_buf *b, const struct page *p, const struct xevent *e)
{
	const struct xrow *r = &p->rows[p->order[e->row]];
	jcs_buf_lit(b, "{\"type\":\"data-events\",\"id\":");
	put_string(b, COL(r, C_ID));
	jcs_buf_lit(b, ",\"attributes\":{\"action\":");
	put_string(b, COL(r, C_ACTION));
	jcs_buf_lit(b, ",\"timestamp\":");
	put_int(b, col(p, r, C_TIME));
	jcs_buf_lit(b, ",\"actorType\":");
	put_string(b, COL(r, C_ACTOR_TYPE));
	jcs_buf_lit(b, ",\"actorId\":");
	put_string(b, COL(r, C_ACTOR_ID));
	jcs_buf_lit(b, ",\"targetType\":");
	put_string(b, COL(r, C_TARGET_TYPE));
	jcs_buf_lit(b, ",\"targetId\":");
	put_string(b, COL(r, C_TARGET_ID));
	jcs_buf_lit(b, ",\"eventName\":");
	put_string_or_null(b, COL(r, C_NAME));
	jcs_buf_lit(b, ",\"log\":");
	put_int(b, col(p, r, C_LOG));
	jcs_buf_lit(b, ",\"seq\":");
	put_int(b, col(p, r, C_SEQ));
	jcs_buf_lit(b, ",\"targetVersion\":");
	if (r->version)
		jcs_buf_int(b, r->version);
	else
		jcs_buf_lit(b, "null");
	bool changes = false;
	for (uint32_t k = 0; k < e->nrows; k++) {
		const struct xrow *c = &p->rows[p->order[e->row + k]];
		if (!col(p, c, C_FIELD))
			continue;
		jcs_buf_lit(b, changes ? "," : ",\"changes\":{");
		changes = true;
		put_string(b, COL(c, C_FIELD));
		if (col(p, c, C_VALUES)) {
			jcs_buf_lit(b, ":{\"prev\":");
			put_value(b, COL(c, C_PREV));
			jcs_buf_lit(b, ",\"next\":");
			put_value(b, COL(c, C_NEXT));
			jcs_buf_lit(b, "}");
		} else {
			jcs_buf_lit(b, ":{\"erased\":true}");
		}
	}
	jcs_buf_lit(b, changes ? "}}" : "}");
	for (uint32_t k = 0; k < e->nflags; k++) {
		const struct xflag *f = &p->flags[e->flag + k];
		jcs_buf_lit(b, k ? ",{\"kind\":" : ",\"meta\":{\"flags\":[{\"kind\":");
		put_string(b, p->text.data + f->off[0], f->len[0]);
		jcs_buf_lit(b, ",\"field\":");
		put_string_or_null(b, f->len[1] ? p->text.data + f->off[1] : NULL, f->len[1]);
		jcs_buf_lit(b, ",\"detail\":");
		put_string(b, p->text.data + f->off[2], f->len[2]);
		jcs_buf_lit(b, "}");
	}
	jcs_buf_lit(b, e->nflags ? "]}}\n" : "}\n");
}

/* ---- CSV (RFC 4180) ---- */

static const char csv_header[] = "seq,log,id,timestamp,action,actorType,actorId,targetType,"
                                 "targetId,targetVersion,eventName,field,prev,next,erased,flags"
                                 "\r\n";

static void csv_cell(struct jcs_buf *b, const char *s, size_t n, bool last)
{
	/* A cell a spreadsheet would read as a formula starts with one of
	 * these: a leading ' makes it text (OWASP, "CSV Injection"). */
	bool formula = n && strchr("=+-@\t\r", s[0]);
	bool quote = formula;
	for (size_t i = 0; i < n && !quote; i++)
		quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
	if (quote)
		jcs_buf_put(b, "\"", 1);
	if (formula)
		jcs_buf_put(b, "'", 1);
	for (size_t i = 0, from = 0; i <= n; i++)
		if (i == n || s[i] == '"') {
			jcs_buf_put(b, s + from, i - from);
			if (i < n)
				jcs_buf_put(b, "\"\"", 2);
			from = i + 1;
		}
	if (quote)
		jcs_buf_put(b, "\"", 1);
	jcs_buf_put(b, last ? "\r\n" : ",", last ? 2 : 1);
}

static void cell(struct jcs_buf *b, const char *s, size_t n)
{
	csv_cell(b, s ? s : "", s ? n : 0, false);
}

/* An integer column as jansson would write it (the page's integer). */
static void cell_int(struct jcs_buf *b, long long v)
{
	char n[24];
	int len = snprintf(n, sizeof n, "%lld", v);
	csv_cell(b, n, (size_t)len, false);
}

/* A changed value as its compact JSON text. */
static void cell_value(struct jcs_buf *b, struct jcs_buf *scratch, const char *s, size_t n)
{
	scratch->len = 0;
	put_value(scratch, s, n);
	if (scratch->status)
		b->status = scratch->status;
	cell(b, scratch->data ? scratch->data : "", scratch->len);
}

/* One row per changed field (in the event's order of fields), or one
 * row with the change columns empty. */
static void csv_event(struct jcs_buf *b, struct jcs_buf *scratch, const struct page *p,
                      const struct xevent *e)
{
	/* the flags cell: their kinds, space-separated */
	struct jcs_buf kinds = {0};
	for (uint32_t k = 0; k < e->nflags; k++) {
		const struct xflag *f = &p->flags[e->flag + k];
		if (k)
			jcs_buf_put(&kinds, " ", 1);
		jcs_buf_put(&kinds, p->text.data + f->off[0], f->len[0]);
	}
	for (uint32_t k = 0; k < e->nrows; k++) {
		const struct xrow *r = &p->rows[p->order[e->row + k]];
		cell_int(b, strtoll(col(p, r, C_SEQ), NULL, 10));
		cell_int(b, strtoll(col(p, r, C_LOG), NULL, 10));
		cell(b, COL(r, C_ID));
		cell_int(b, r->time);
		cell(b, COL(r, C_ACTION));
		cell(b, COL(r, C_ACTOR_TYPE));
		cell(b, COL(r, C_ACTOR_ID));
		cell(b, COL(r, C_TARGET_TYPE));
		cell(b, COL(r, C_TARGET_ID));
		if (r->version)
			cell_int(b, r->version);
		else
			cell(b, "", 0);
		cell(b, COL(r, C_NAME));
		bool change = col(p, r, C_FIELD) != NULL;
		bool erased = change && !col(p, r, C_VALUES);
		cell(b, COL(r, C_FIELD));
		if (change && !erased) {
			cell_value(b, scratch, COL(r, C_PREV));
			cell_value(b, scratch, COL(r, C_NEXT));
		} else {
			cell(b, "", 0);
			cell(b, "", 0);
		}
		cell(b, change ? (erased ? "true" : "false") : "", change ? (erased ? 4 : 5) : 0);
		csv_cell(b, kinds.data ? kinds.data : "", kinds.len, true);
	}
	if (kinds.status)
		b->status = kinds.status;
	jcs_buf_free(&kinds);
}

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
	bool more;                /* another page follows */
	bool busy;                /* a reader is reading its next page */
	struct page *head, *tail; /* pages read, not yet taken by the writer */
	size_t queued;
	bool read_all; /* its last page is queued */
	/* the writer's */
	struct page *cur;
};

struct exporter {
	struct auditor *a;
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
	bool gone;                  /* done started: the reader stops */
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
	struct page *p = calloc(1, sizeof *p);
	if (!p)
		return DB_ERR;
	int st = store_query_rows(db, &l->q, take_row, p);
	if (st == DB_OK)
		st = page_events(p, &l->q, x->by_version, more);
	if (st == DB_OK)
		st = page_flags(db, p);
	if (st) {
		page_free(p);
		return st;
	}
	if (*more) {
		const struct xrow *r = &p->rows[p->order[p->events[p->nevents - 1].row]];
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

static void *reader_main(void *arg)
{
	struct exporter *x = arg;
	struct db *db = db_thread(&x->a->db); /* this thread's own, closed when it ends */
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
		l->busy = false;
		if (p) {
			if (l->tail)
				l->tail->next = p;
			else
				l->head = p;
			l->tail = p;
			l->queued++;
			l->more = more;
			l->read_all = !more;
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
	const struct xrow *r = &p->rows[p->order[p->events[p->at].row]];
	const struct xrow *s = &q->rows[q->order[q->events[q->at].row]];
	int c;
	if (x->by_version && r->version != s->version)
		c = r->version < s->version ? -1 : 1;
	else if (r->time != s->time)
		c = r->time < s->time ? -1 : 1;
	else
		c = strcmp(col(p, r, C_ID), col(q, s, C_ID));
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
			page_free(l->cur);
			l->cur = l->head;
			if (!l->head)
				break;
			l->head = l->head->next;
			if (!l->head)
				l->tail = NULL;
			l->queued--;
			pthread_cond_broadcast(&x->cond);
		}
		if (!l->cur && !l->read_all)
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
			csv_event(&x->out, &x->scratch, p, e);
		else
			ndjson_event(&x->out, p, e);
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
			jcs_buf_lit(&x->out, csv_header);
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
			page_free(p);
		}
		page_free(l->cur);
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
                   enum export_format format)
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
