/* An export's events written as NDJSON lines or CSV rows straight from a
 * page's columns (export_page.h), with no jansson objects.
 *
 * Each NDJSON line is byte for byte the resource a JSON:API page holds
 * (store_read.c builds it with jansson, which json_dumps in the same
 * member order): strings and values that need no escaping are copied,
 * anything else goes through jansson. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export_page.h"

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
void export_ndjson_event(struct jcs_buf *b, const struct page *p, const struct xevent *e)
{
	/* The members before targetVersion, in the page's order: each its
	 * key (with what precedes it) and its column, as a string (NULL:
	 * null) or an integer. */
	static const struct {
		const char *key;
		int col;
		bool integer;
	} members[] = {
	    {"{\"type\":\"data-events\",\"id\":", C_ID, false},
	    {",\"attributes\":{\"action\":", C_ACTION, false},
	    {",\"timestamp\":", C_TIME, true},
	    {",\"actorType\":", C_ACTOR_TYPE, false},
	    {",\"actorId\":", C_ACTOR_ID, false},
	    {",\"targetType\":", C_TARGET_TYPE, false},
	    {",\"targetId\":", C_TARGET_ID, false},
	    {",\"eventName\":", C_NAME, false},
	    {",\"log\":", C_LOG, true},
	    {",\"seq\":", C_SEQ, true},
	};
	const struct xrow *r = &p->rows[p->order[e->row]];
	for (size_t i = 0; i < sizeof members / sizeof members[0]; i++) {
		jcs_buf_lit(b, members[i].key);
		if (members[i].integer)
			put_int(b, col(p, r, members[i].col));
		else
			put_string_or_null(b, COL(r, members[i].col));
	}
	jcs_buf_lit(b, ",\"targetVersion\":");
	if (r->version)
		jcs_buf_int(b, r->version);
	else
		jcs_buf_lit(b, "null");
	jcs_buf_lit(b, ",\"traceId\":");
	put_string_or_null(b, COL(r, C_TRACE));
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

const char export_csv_header[] = "seq,log,id,timestamp,action,actorType,actorId,targetType,"
                                 "targetId,targetVersion,eventName,field,prev,next,erased,flags,"
                                 "traceId\r\n";

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
void export_csv_event(struct jcs_buf *b, struct jcs_buf *scratch, const struct page *p,
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
		cell(b, kinds.data ? kinds.data : "", kinds.len);
		const char *trace = col(p, r, C_TRACE);
		csv_cell(b, trace ? trace : "", trace ? r->len[C_TRACE] : 0, true);
	}
	if (kinds.status)
		b->status = kinds.status;
	jcs_buf_free(&kinds);
}

