/* GET /data-events/:id/leaf: one event in its opened leaf form, the line an
 * export bundle holds for its position (docs/ledger.md "Export bundles"):
 * the leaf's members, each side of a change opened as {"commitment",
 * "salt","value"} or {"erased": commitment}, and "leaf", its stored leaf
 * hash. With it and the event's inclusion proof (h_ledger.c) a client, the
 * browser's integrity check among them, recomputes the commitments, the
 * leaf and its hash, and folds the proof up to a signed checkpoint's root.
 *
 * Unlike the proofs it reveals the event's content: a token reads it as it
 * would read the event through /data-events (auth_may_read), and the read
 * is recorded (reads.h, READS_LEAF). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auditor.h"
#include "jcs.h"
#include "log_read.h"
#include "reads.h"
#include "retention.h"
#include "sql_id.h"

/* The event's row: where it is, who it is by and what it is about (what
 * decides who may read it). The strings are malloc'd: leaf_row_clear. */
struct leaf_row {
	bool found;
	uint32_t log; /* the event's own log */
	uint64_t seq;
	char *actor_type, *actor_id, *target_type, *target_id;
};

static void leaf_row_clear(struct leaf_row *r)
{
	free(r->actor_type);
	free(r->actor_id);
	free(r->target_type);
	free(r->target_id);
}

static const char sql_row[] =
    "SELECT seq, actor_type, actor_id, target_type, target_id, log_id FROM data_events "
    "WHERE event_id = " SQL_ID_ARG;

static int row_of(void *ctx, const struct db_row *row)
{
	struct leaf_row *r = ctx;
	char **out[] = {&r->actor_type, &r->actor_id, &r->target_type, &r->target_id};
	r->found = true;
	r->seq = strtoull(row->val[0], NULL, 10);
	r->log = row->val[5] ? (uint32_t)strtoul(row->val[5], NULL, 10) : 0;
	for (size_t i = 0; i < sizeof out / sizeof out[0]; i++)
		if (!(*out[i] = strndup(row->val[i + 1] ? row->val[i + 1] : "", row->len[i + 1])))
			return DB_ERR;
	return 0;
}

/* What reading the event's line gave. */
struct leaf_line {
	const char *id;     /* the event asked for (borrowed) */
	bool seen;          /* the log of record gave an event at its position */
	bool misplaced;     /* ... and it was another one */
	int status;         /* LEAF_OK, or why the line could not be written */
	struct jcs_buf out; /* the line, with its "\n" */
};

static int on_event(void *ctx, const struct log_event *e)
{
	struct leaf_line *l = ctx;
	l->seen = true;
	/* The id in the path may be in capitals; the stored one is not. */
	if (strcasecmp(e->ev.id, l->id)) {
		l->misplaced = true;
		return 0;
	}
	l->status = export_event_line(e, &l->out);
	return 0;
}

static int id_position_row(void *ctx, const struct db_row *row)
{
	uint64_t *p = ctx;
	p[0] = 1;
	p[1] = strtoull(row->val[0], NULL, 10);
	p[2] = strtoull(row->val[1], NULL, 10);
	return 0;
}

/* Whether the event id, whose row is gone, stood at a position that was
 * retained away: gone->found, with its log and position. */
static int retained_event(struct db *db, const char *id, uint32_t *log, uint64_t *seq,
                          struct retained *gone)
{
	uint64_t p[3] = {0};
	struct db_value v[] = {DB_TEXT(id)};
	int st = db_query(db, "SELECT log_id, seq FROM data_event_ids WHERE event_id = " SQL_ID_ARG, v,
	                  1, id_position_row, p);
	*gone = (struct retained){0};
	if (st || !p[0])
		return st < 0 ? st : st ? DB_ERR : DB_OK;
	*log = (uint32_t)p[1];
	*seq = p[2];
	return retention_find(db, *log, *seq, gone);
}

/* One answer for a database that could not be read. */
static void reply_unread(struct http_request *req, int st)
{
	http_reply_error(req, 503, "Service unavailable", "The audit log could not be read (%s).",
	                 db_status_string(st));
}

void h_leaf(struct http_request *req)
{
	const char *id = http_param(req, 0);
	struct leaf_row row = {0};
	struct leaf_line line = {.id = id};
	struct retained gone = {0};
	if (!uuid_valid(id, strlen(id))) {
		http_reply_error(req, 404, "Not found", "No data event has this id.");
		return;
	}
	struct db *db = auditor_reader(req);
	if (!db)
		return;
	/* Who may read the event, and the read's target, are the event's: its
	 * row is read before the read is recorded (and the answer is given
	 * only after). It is in its own log, whichever that is. */
	struct db_value v[] = {DB_TEXT(id)};
	int st = db_query(db, sql_row, v, 1, row_of, &row);
	if (st) {
		reply_unread(req, st < 0 ? st : DB_ERR);
		goto out;
	}
	const char *const event[] = {"event", id, NULL};
	if (!row.found && !(st = retained_event(db, id, &row.log, &row.seq, &gone)) && gone.found) {
		/* Its month was retained away: who it was about went with it, so
		 * the answer names only the bundle (as a proof's does). */
		if (!reads_record_log(req, READS_LEAF, row.log, event))
			retention_reply_gone(req, row.log, row.seq, &gone);
		goto out;
	}
	if (st) {
		reply_unread(req, st);
		goto out;
	}
	if (!row.found) {
		/* Asked and not found: recorded as a read of the log itself (log
		 * 0), as the event's target is unknown. */
		if (!reads_record_log(req, READS_LEAF, 0, event))
			http_reply_error(req, 404, "Not found", "No data event has this id.");
		goto out;
	}
	if (!auth_may_read(http_claims(req), row.actor_type, row.actor_id, row.target_type,
	                   row.target_id)) {
		http_reply_forbidden(req,
		                     "A token reads only events whose actor or target is its own "
		                     "user; the auditor role reads all.");
		goto out;
	}
	if (reads_record(req, READS_LEAF, row.target_type, row.target_id, event))
		goto out;
	st = log_read_range(db, row.log, row.seq, row.seq + 1, on_event, &line);
	if (st) {
		reply_unread(req, st < 0 ? st : DB_ERR);
	} else if (!line.seen || line.misplaced) {
		http_reply_error(
		    req, 500, "Internal error",
		    "The event's row claims position %llu, where the log of record holds "
		    "%s (GET /verify names what is wrong).",
		    (unsigned long long)row.seq, line.seen ? "another event" : "no event");
	} else if (line.status) {
		http_reply_error(req, 500, "Internal error",
		                 "The stored event cannot be written as its leaf (%s).",
		                 leaf_status_string(line.status));
	} else {
		http_add_header(req, "Cache-Control", "no-store");
		/* The line without its "\n": the RFC 8785 form, which ends at its
		 * last "}". The reply owns the buffer now. */
		http_reply_buffer(req, 200, "application/json", line.out.data, line.out.len - 1);
		line.out = (struct jcs_buf){0};
	}
out:
	jcs_buf_free(&line.out);
	leaf_row_clear(&row);
}
