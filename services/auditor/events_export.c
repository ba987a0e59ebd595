/* Exports of a query of the audit log (README "Exports"): every event a
 * /data-events query matches, with no page cap, streamed as NDJSON or CSV
 * while the client reads. The query runs a page of EXPORT_PAGE events at
 * a time through the same statement as a JSON:API page (query_plan.c),
 * its keyset cursor carried from page to page, so memory stays that of
 * one page whatever the export's size, and a client that goes away ends
 * it at once (http_reply_stream's done). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditor.h"
#include "jcs.h"
#include "log.h"

#define EXPORT_PAGE 1000

const char *const export_media_types[EXPORT_FORMATS] = {JSONAPI_MEDIA_TYPE,
                                                        "application/x-ndjson", "text/csv"};

struct exporter {
	struct auditor *a;
	struct plan_query q; /* its strings are the copies below */
	char *actor_type, *actor_id, *target_type, *target_id, *field, *event_name;
	enum export_format format;
	bool started, finished;
	struct jcs_buf out; /* formatted, not yet sent: [off, out.len) */
	size_t off;
	unsigned long long events;
};

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

static void cell(struct jcs_buf *b, const char *s)
{
	csv_cell(b, s ? s : "", s ? strlen(s) : 0, false);
}

static void cell_int(struct jcs_buf *b, const json_t *v)
{
	char n[32] = "";
	if (json_is_integer(v))
		snprintf(n, sizeof n, "%lld", (long long)json_integer_value(v));
	cell(b, n);
}

/* A changed value as its compact JSON text. */
static void cell_json(struct jcs_buf *b, const json_t *v)
{
	char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	if (v && !s)
		b->status = -1;
	cell(b, s);
	free(s);
}

/* One row per changed field (in the event's order of fields), or one
 * row with the change columns empty. */
static void csv_event(struct jcs_buf *b, const json_t *r)
{
	const json_t *at = json_object_get(r, "attributes");
	const json_t *changes = json_object_get(at, "changes");
	const json_t *flags = json_object_get(json_object_get(r, "meta"), "flags");
	struct jcs_buf kinds = {0};
	size_t i;
	const json_t *f;
	json_array_foreach(flags, i, f)
	{
		if (i)
			jcs_buf_put(&kinds, " ", 1);
		jcs_buf_lit(&kinds, json_string_value(json_object_get(f, "kind")));
	}
	jcs_buf_put(&kinds, "", 0);
	size_t rows = changes ? json_object_size(changes) : 0;
	const char *field = NULL;
	const json_t *change = NULL;
	void *it = changes ? json_object_iter((json_t *)changes) : NULL;
	for (size_t k = 0; k < (rows ? rows : 1); k++) {
		if (it) {
			field = json_object_iter_key(it);
			change = json_object_iter_value(it);
			it = json_object_iter_next((json_t *)changes, it);
		}
		cell_int(b, json_object_get(at, "seq"));
		cell_int(b, json_object_get(at, "log"));
		cell(b, json_string_value(json_object_get(r, "id")));
		cell_int(b, json_object_get(at, "timestamp"));
		static const char *const names[] = {"action", "actorType", "actorId", "targetType",
		                                    "targetId"};
		for (size_t n = 0; n < sizeof names / sizeof names[0]; n++)
			cell(b, json_string_value(json_object_get(at, names[n])));
		cell_int(b, json_object_get(at, "targetVersion"));
		cell(b, json_string_value(json_object_get(at, "eventName")));
		bool erased = change && json_is_true(json_object_get(change, "erased"));
		cell(b, field);
		cell_json(b, change && !erased ? json_object_get(change, "prev") : NULL);
		cell_json(b, change && !erased ? json_object_get(change, "next") : NULL);
		cell(b, change ? (erased ? "true" : "false") : NULL);
		csv_cell(b, kinds.data ? kinds.data : "", kinds.len, true);
	}
	if (kinds.status)
		b->status = kinds.status;
	jcs_buf_free(&kinds);
}

/* ---- the stream ---- */

/* Formats the next page into x->out. Returns 0, or -1. */
static int next_page(struct exporter *x)
{
	struct db *db = db_thread(&x->a->db);
	struct store_page page;
	if (!db || store_query_events(db, &x->q, &page))
		return -1;
	size_t i;
	json_t *r;
	json_array_foreach(page.data, i, r)
	{
		if (x->format == EXPORT_CSV) {
			csv_event(&x->out, r);
		} else {
			char *line = json_dumps(r, JSON_COMPACT);
			if (!line)
				x->out.status = -1;
			else
				jcs_buf_lit(&x->out, line);
			jcs_buf_put(&x->out, "\n", 1);
			free(line);
		}
	}
	x->events += json_array_size(page.data);
	json_decref(page.data);
	if (page.more) {
		x->q.has_after = true;
		x->q.after = page.last;
	} else {
		x->finished = true;
	}
	return x->out.status ? -1 : 0;
}

static long fill(void *ctx, char *buf, size_t max)
{
	struct exporter *x = ctx;
	while (x->off == x->out.len) {
		if (x->finished)
			return 0;
		if (atomic_load(&x->a->stopping))
			return -1; /* cut short: the client sees no last chunk */
		x->out.len = x->off = 0;
		if (!x->started && x->format == EXPORT_CSV)
			jcs_buf_lit(&x->out, csv_header);
		x->started = true;
		if (next_page(x)) {
			log_error("export: a page could not be read after %llu events", x->events);
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
	jcs_buf_free(&x->out);
	free(x->actor_type);
	free(x->actor_id);
	free(x->target_type);
	free(x->target_id);
	free(x->field);
	free(x->event_name);
	free(x);
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
	struct exporter *x = calloc(1, sizeof *x);
	bool failed = !x;
	if (x) {
		x->a = http_app(req);
		x->format = format;
		x->q = *q;
		x->q.limit = EXPORT_PAGE;
		/* The request's strings do not outlive its handler. */
		x->q.actor_type = x->actor_type = dup_or_null(q->actor_type, &failed);
		x->q.actor_id = x->actor_id = dup_or_null(q->actor_id, &failed);
		x->q.target_type = x->target_type = dup_or_null(q->target_type, &failed);
		x->q.target_id = x->target_id = dup_or_null(q->target_id, &failed);
		x->q.field = x->field = dup_or_null(q->field, &failed);
		x->q.event_name = x->event_name = dup_or_null(q->event_name, &failed);
	}
	if (failed) {
		if (x)
			done(x);
		http_reply_error(req, 500, "Internal error", "Out of memory.");
		return;
	}
	http_reply_stream(req, 200,
	                  format == EXPORT_CSV ? "text/csv; charset=utf-8; header=present"
	                                       : export_media_types[EXPORT_NDJSON],
	                  fill, done, x);
}
