/* A page of an export as read (export_page.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditor.h"
#include "export_page.h"
#include "sql_id.h"

/* Events of a page whose flags one statement reads. */
#define EXPORT_FLAG_IDS 1024

void export_page_free(struct page *p)
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

int export_event_cmp(const struct page *p, const struct xrow *r, const struct page *q,
                     const struct xrow *s, bool by_version)
{
	if (by_version && r->version != s->version)
		return r->version < s->version ? -1 : 1;
	if (r->time != s->time)
		return r->time < s->time ? -1 : 1;
	return strcmp(col(p, r, C_ID), col(q, s, C_ID));
}

static int row_cmp(const void *a, const void *b)
{
	const struct xrow *x = &sort_page->rows[*(const uint32_t *)a];
	const struct xrow *y = &sort_page->rows[*(const uint32_t *)b];
	int c = export_event_cmp(sort_page, x, sort_page, y, sort_by_version);
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
		    !strcmp(id, col(p, event_row(p, p->nevents - 1), C_ID))) {
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
	return col(p, event_row(p, e), C_ID);
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


int export_page_read(struct db *db, const struct plan_query *q, bool by_version,
                     struct page **out, bool *more)
{
	struct page *p = calloc(1, sizeof *p);
	if (!p)
		return DB_ERR;
	int st = store_query_rows(db, q, take_row, p);
	if (st == DB_OK)
		st = page_events(p, q, by_version, more);
	if (st == DB_OK)
		st = page_flags(db, p);
	if (st) {
		export_page_free(p);
		return st;
	}
	*out = p;
	return DB_OK;
}
