/* export_page: a page of an export (events_export.c) as read, and its
 * events written as NDJSON lines or CSV rows (export_format.c).
 *
 * A page holds the rows of one page statement (query_plan.h, struct
 * plan's columns), copied into one text buffer, sorted into the query's
 * order, grouped into events, and the checker's flags of those events.
 * It is built by one thread (the export's reader), then handed whole to
 * the writer, which only reads it; export_page_free frees it. */
#ifndef AUDITLOG_EXPORT_PAGE_H
#define AUDITLOG_EXPORT_PAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "jcs.h"
#include "query_plan.h"

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
	C_TRACE, /* the event's trace-id as text: NULL when it has none */
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

/* Column c of row r, NUL-terminated, borrowed from the page; NULL when
 * SQL NULL. */
static inline const char *col(const struct page *p, const struct xrow *r, int c)
{
	return r->off[c] == NO_VALUE ? NULL : p->text.data + r->off[c];
}

/* The first row (in page order) of event e of p: its columns of the
 * event itself are every row's. */
static inline const struct xrow *event_row(const struct page *p, size_t e)
{
	return &p->rows[p->order[p->events[e].row]];
}

/* The query's order of the events of rows r (of page p) and s (of page
 * q), oldest first: (version, when by_version,) time, id. Negative,
 * zero (the same event) or positive. */
int export_event_cmp(const struct page *p, const struct xrow *r, const struct page *q,
                     const struct xrow *s, bool by_version);

/* Reads the page of q (its cursor and limit) on db: runs its statement,
 * sorts the rows into q's order ((version,) time, id, newest first unless
 * ascending; by_version says whether the order has the version), keeps
 * q->limit events and reads their flags. Returns a db status; on DB_OK
 * *out is a new page for the caller (its events possibly none) and *more
 * says whether more events follow it. */
int export_page_read(struct db *db, const struct plan_query *q, bool by_version,
                     struct page **out, bool *more);
void export_page_free(struct page *p);

/* Appends event e of p to b: its JSON:API resource object as a page
 * holds it (store_read.c), byte for byte, and LF (NDJSON). Errors are
 * b's status. */
void export_ndjson_event(struct jcs_buf *b, const struct page *p, const struct xevent *e);

/* The CSV header row (RFC 4180 with CRLF, README "Exports"), then one
 * row per changed field of e (in the event's order of fields), or one
 * row with the change columns empty; cells that begin with = + - @ TAB
 * CR get a leading '. scratch is the caller's, for the values' JSON
 * text. Errors are b's status. */
extern const char export_csv_header[];
void export_csv_event(struct jcs_buf *b, struct jcs_buf *scratch, const struct page *p,
                      const struct xevent *e);

#endif
