/* GET /verify: re-reads a log's stored events, recomputes every value
 * commitment, every leaf and the tree, and checks them against the stored
 * checkpoints and their signatures (docs/ledger.md "Verifying the stored
 * log"); with ?log=N one log, without it every log in turn. Memory stays
 * bounded at any size: events are read a chunk at a time, checkpoints one
 * at a time, logs one after another.
 *
 * A log's state comes from the database. This process's ledger of a log
 * adds the writer's own view, which the database alone cannot give: what
 * it signed (a larger checkpoint than the stored ones: rolled back), and,
 * while it holds the log's lease, the end it gave (rows past it were not
 * written by the log's writer). */
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditor.h"
#include "log_read.h"
#include "log_set.h"
#include "reads.h"
#include "retention.h"

/* What failed first, named by position. */
struct failure {
	bool failed;
	uint64_t seq;
	char reason[32]; /* a code: hash-mismatch, value-mismatch, ... */
	char detail[512];
};

struct walk {
	struct auditor *a;
	struct db *db;
	uint32_t log;
	char origin[1024];  /* what the log's checkpoints carry */
	struct ledger *own; /* this process's ledger of the log, or NULL */
	uint64_t from, to, expected;
	uint64_t last_good_cp; /* the largest size whose checkpoint matched */
	size_t checkpoints;
	struct merkle_frontier f;
	struct stored_checkpoint cp; /* the next the walk reaches (sizes ascending) */
	struct jcs_buf scratch;
	struct failure fail;
	const note_verifier *verifier;
	int db_status;
	uint64_t retained; /* [0, retained) were retained away (retention.h) */
};

static void fail(struct walk *w, uint64_t seq, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(struct walk *w, uint64_t seq, const char *reason, const char *fmt, ...)
{
	if (w->fail.failed)
		return;
	w->fail.failed = true;
	w->fail.seq = seq;
	snprintf(w->fail.reason, sizeof w->fail.reason, "%s", reason);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->fail.detail, sizeof w->fail.detail, fmt, ap);
	va_end(ap);
}

/* Loads the first stored checkpoint of size >= min (and <= w->to). */
static int load_cp(struct walk *w, uint64_t min)
{
	free(w->cp.note);
	return tree_checkpoint(w->db, w->log, TREE_NEXT, min, w->to, &w->cp);
}

/* The checkpoint w->cp against the tree of its size (w->f, just reached):
 * its signature by this log's key, its note matching its row, its root. */
static void check_cp(struct walk *w)
{
	const struct stored_checkpoint *cp = &w->cp;
	uint8_t root[MERKLE_HASH_LEN];
	uint64_t first = w->last_good_cp > w->from ? w->last_good_cp : w->from;
	w->checkpoints++;
	switch (tree_checkpoint_check(cp, w->verifier, w->origin)) {
	case TREE_CP_OK:
		break;
	case TREE_CP_SIGNATURE:
		fail(w, cp->size ? cp->size - 1 : 0, "bad-signature",
		     "The checkpoint of size %" PRIu64 " is not signed by this log's key.", cp->size);
		return;
	case TREE_CP_ROW:
		fail(w, cp->size ? cp->size - 1 : 0, "checkpoint-mismatch",
		     "The stored row of the checkpoint of size %" PRIu64 " differs from its signed note.",
		     cp->size);
		return;
	}
	if (merkle_frontier_root(&w->f, root) || memcmp(root, cp->root, MERKLE_HASH_LEN)) {
		fail(w, first, "checkpoint-mismatch",
		     "The events at positions %" PRIu64 " to %" PRIu64 " do not give the root that the "
		     "checkpoint of size %" PRIu64 " signed: one of them, or a stored hash before "
		     "position %" PRIu64 ", was changed, removed, inserted or reordered.",
		     first, cp->size - 1, cp->size, w->from);
		return;
	}
	w->last_good_cp = cp->size;
}

/* Compares each checkpoint of the size the tree has now reached. */
static int reach(struct walk *w)
{
	while (!w->fail.failed && w->cp.found && w->cp.size == w->f.size) {
		check_cp(w);
		int st = load_cp(w, w->f.size + 1);
		if (st)
			return st;
	}
	return DB_OK;
}

static int value_ok(struct walk *w, const uint8_t salt[LEAF_SALT_LEN], const char *text, size_t len,
                    const uint8_t commitment[LEAF_COMMITMENT_LEN])
{
	json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	uint8_t c[LEAF_COMMITMENT_LEN];
	int ok = v && !leaf_commit(salt, v, &w->scratch, c) && !memcmp(c, commitment, sizeof c);
	json_decref(v);
	return ok;
}

static int on_event(void *ctx, const struct log_event *e)
{
	struct walk *w = ctx;
	if (atomic_load(&w->a->stopping))
		return DB_ERR_GONE;
	uint64_t seq = e->ev.seq;
	if (seq != w->expected) {
		fail(w, w->expected, "missing-position",
		     "No event is stored at position %" PRIu64 " (the next stored one is at %" PRIu64
		     ").",
		     w->expected, seq);
		return 1;
	}
	w->expected++;
	for (size_t i = 0; i < e->ev.nchanges; i++) {
		const struct log_field *f = &e->fields[i];
		if (f->erased)
			continue;
		if (!value_ok(w, f->prev_salt, f->prev_value, f->prev_len, e->ev.changes[i].prev) ||
		    !value_ok(w, f->next_salt, f->next_value, f->next_len, e->ev.changes[i].next)) {
			fail(w, seq, "value-mismatch",
			     "Position %" PRIu64 ": a stored value or salt of field %s does not match its "
			     "commitment.",
			     seq, f->field);
			return 1;
		}
	}
	uint8_t leaf[LEAF_HASH_LEN];
	int st = leaf_hash(&e->ev, &w->scratch, leaf);
	if (st == LEAF_ENOMEM || st == LEAF_ECRYPTO)
		return DB_ERR;
	if (st || e->malformed || memcmp(leaf, e->leaf_hash, sizeof leaf)) {
		fail(w, seq, "hash-mismatch",
		     "Position %" PRIu64 ": the stored event does not hash to its stored leaf hash "
		     "(a member, a commitment or the hash itself was changed).",
		     seq);
		return 1;
	}
	if (merkle_frontier_append(&w->f, leaf))
		return DB_ERR;
	st = reach(w);
	return st ? st : w->fail.failed;
}

/* The event rows claiming the log: how many, and the largest position. */
struct claims {
	uint64_t rows, max_seq;
	bool any;
};

static int claims_row(void *ctx, const struct db_row *row)
{
	struct claims *c = ctx;
	c->rows = row->val[0] ? strtoull(row->val[0], NULL, 10) : 0;
	c->any = row->val[1] != NULL;
	c->max_seq = c->any ? strtoull(row->val[1], NULL, 10) : 0;
	return 0;
}

/* The log's last append: where it starts and where it ends. */
struct last_append {
	bool any;
	uint64_t first, end;
};

static int last_append_row(void *ctx, const struct db_row *row)
{
	struct last_append *l = ctx;
	l->any = row->val[0] && row->val[1];
	l->first = l->any ? strtoull(row->val[0], NULL, 10) : 0;
	l->end = l->any ? l->first + strtoull(row->val[1], NULL, 10) : 0;
	return 0;
}

/* Rows past the log's end, or outside every append: forged, or another
 * writer's. The end is the one this process's writer gave while it holds
 * the log's lease (a forged append past it is found), else the stored
 * appends' end (the database's own view: event rows no append gives).
 * Each end is read after the rows it bounds, so that appends committing
 * meanwhile never read as past it: the event rows (one scan: their seq is
 * not indexed) first, then the last append, then the writer's end. */
static int extra_rows(struct walk *w)
{
	struct claims c = {0};
	struct last_append last = {0};
	struct db_value v = DB_INT(w->log);
	int st = db_query(w->db, "SELECT COUNT(*), MAX(seq) FROM data_events WHERE log_id = ?", &v,
	                  1, claims_row, &c);
	if (!st)
		st = db_query(w->db,
		              "SELECT first_seq, LENGTH(leaf_hashes) DIV 32 FROM log_appends WHERE "
		              "log_id = ? ORDER BY first_seq DESC LIMIT 1",
		              &v, 1, last_append_row, &last);
	bool held = false;
	uint64_t given = 0;
	if (!st && w->own) {
		given = ledger_given(w->own);
		st = log_set_held(w->db, w->a, w->own, &held);
	}
	if (st)
		return st < 0 ? st : DB_ERR;
	if (held && last.any && last.first >= given) {
		fail(w, last.first, "extra-row",
		     "Position %" PRIu64 " is given by an append this log's writer did not write (its "
		     "end is at %" PRIu64 ").",
		     last.first, given);
		return DB_OK;
	}
	uint64_t end = held ? given : last.end;
	const char *whose = held ? "this log's writer did not give" : "no stored append gives";
	if (c.any && c.max_seq >= end)
		fail(w, c.max_seq, "extra-row",
		     "An event row claims position %" PRIu64 ", which %s (the log's end is at %" PRIu64
		     ").",
		     c.max_seq, whose, end);
	else if (c.rows > end)
		fail(w, end, "extra-row",
		     "%" PRIu64 " event rows claim positions in this log, which holds %" PRIu64
		     ": some are in no append.",
		     c.rows, end);
	return DB_OK;
}

/* Folds the stored leaf hashes of the appends from w->expected on into
 * the tree, up to end, checking the checkpoints the tree reaches: what
 * stands for positions whose events were retained away. */
struct fold {
	struct walk *w;
	uint64_t end;
	bool moved;
};

static int fold_row(void *ctx, const struct db_row *row)
{
	struct fold *fo = ctx;
	struct walk *w = fo->w;
	uint64_t first = row->val[0] ? strtoull(row->val[0], NULL, 10) : 0;
	if (!row->val[1] || row->len[1] % MERKLE_HASH_LEN) {
		fail(w, first, "hash-mismatch",
		     "The append at position %" PRIu64 " holds a leaf hash of the wrong length.", first);
		return 1;
	}
	if (first > w->expected) {
		fail(w, w->expected, "missing-position",
		     "No append gives position %" PRIu64 " (retained away: its leaf hash must stay).",
		     w->expected);
		return 1;
	}
	for (uint64_t j = 0; j < row->len[1] / MERKLE_HASH_LEN && w->expected < fo->end; j++) {
		if (first + j < w->expected)
			continue;
		if (merkle_frontier_append(&w->f, (const uint8_t *)row->val[1] + j * MERKLE_HASH_LEN))
			return DB_ERR;
		w->expected++;
		fo->moved = true;
		int st = reach(w);
		if (st || w->fail.failed)
			return st ? st : 1;
	}
	return 0;
}

static int fold_retained(struct walk *w, uint64_t end)
{
	struct fold fo = {.w = w, .end = end};
	while (w->expected < end && !w->fail.failed) {
		uint64_t start;
		int st = tree_append_start(w->db, w->log, w->expected, &start);
		if (st)
			return st;
		struct db_value k[] = {DB_INT(w->log), DB_INT((long long)start),
		                       DB_INT((long long)end)};
		fo.moved = false;
		st = db_query(w->db,
		              "SELECT first_seq, leaf_hashes FROM log_appends WHERE log_id = ? AND "
		              "first_seq >= ? AND first_seq < ? ORDER BY first_seq LIMIT 16",
		              k, 3, fold_row, &fo);
		if (st)
			return st;
		if (!fo.moved && !w->fail.failed)
			fail(w, w->expected, "missing-position",
			     "No append gives position %" PRIu64 " (retained away: its leaf hash must "
			     "stay).",
			     w->expected);
	}
	return DB_OK;
}

static int run(struct walk *w)
{
	struct tree_source ts = {.db = w->db, .log = w->log};
	struct merkle_source src = tree_source_init(&ts);
	uint8_t border[MERKLE_MAX_FRONTIER][MERKLE_HASH_LEN];
	unsigned count;
	if (merkle_border_left(w->from, &src, border, &count) ||
	    merkle_frontier_restore(&w->f, w->from, border, count)) {
		if (ts.status)
			return ts.status;
		fail(w, w->from ? w->from - 1 : 0, "missing-position",
		     "The stored tree lacks the hashes of the positions before %" PRIu64 ".", w->from);
		return DB_OK;
	}
	w->expected = w->from;
	int st = load_cp(w, w->from);
	if (!st)
		st = reach(w); /* a checkpoint of size from itself */
	/* Positions retained away: their events are in the bundles, their
	 * leaf hashes still in the tree (retention.h). */
	if (!st)
		st = retention_end(w->db, w->log, &w->retained);
	if (!st && !w->fail.failed && w->from < w->retained)
		st = fold_retained(w, w->retained < w->to ? w->retained : w->to);
	if (st == 1)
		st = DB_OK;
	if (!st && !w->fail.failed && w->expected < w->to)
		st = log_read_range(w->db, w->log, w->expected, w->to, on_event, w);
	if (st == 1)
		st = DB_OK;
	if (st)
		return st;
	if (!w->fail.failed && w->expected < w->to)
		fail(w, w->expected, "missing-position",
		     "No event is stored at position %" PRIu64 " (the log should hold %" PRIu64 ").",
		     w->expected, w->to);
	return w->fail.failed ? DB_OK : extra_rows(w);
}

/* One log's verification: the range, what was checked, what failed. */
struct verdict {
	uint32_t log;
	uint64_t from, to;
	size_t checkpoints;
	struct failure fail;
	uint64_t retained; /* as the walk's */
	json_t *bundles;   /* the retention bundles of the range, or NULL */
};

/* The end a log's verification reaches by default, and the largest it may
 * be asked: the latest checkpoint stored, or signed by this process's
 * writer (larger if stored ones were removed); at most, that or the end
 * this writer committed. *signed_size: what this process signed (0). */
struct log_end {
	uint64_t stored, signed_size, end, top;
};

static int log_end(struct db *db, struct ledger *own, uint32_t log, struct log_end *e)
{
	struct stored_checkpoint latest;
	*e = (struct log_end){0};
	int st = tree_checkpoint(db, log, TREE_LATEST, 0, 0, &latest);
	free(latest.note);
	if (st)
		return st;
	e->stored = latest.size; /* 0 when none */
	uint64_t size = 0;
	if (own) {
		struct ledger_state ls;
		ledger_state(own, &ls);
		e->signed_size = ls.signed_size;
		size = ls.size;
	}
	e->end = e->stored > e->signed_size ? e->stored : e->signed_size;
	e->top = e->end > size ? e->end : size;
	return DB_OK;
}

static int bundle_row(void *ctx, const struct db_row *row)
{
	json_t *list = ctx;
	for (int i = 0; i < 4; i++)
		if (!row->val[i])
			return 0;
	json_t *b = json_pack("{s:I, s:I, s:s%, s:s%}", "from",
	                      (json_int_t)strtoull(row->val[0], NULL, 10), "to",
	                      (json_int_t)strtoull(row->val[1], NULL, 10), "bundle", row->val[2],
	                      (size_t)row->len[2], "sha256", row->val[3], (size_t)row->len[3]);
	return b && !json_array_append_new(list, b) ? 0 : DB_ERR;
}

/* The retention bundles of log that hold positions of [from, to). */
static int range_bundles(struct db *db, uint32_t log, uint64_t from, uint64_t to, json_t **out)
{
	json_t *list = json_array();
	struct db_value k[] = {DB_INT(log), DB_INT((long long)to), DB_INT((long long)from)};
	int st = list ? db_query(db,
	                         "SELECT first_seq, end_seq, bundle, LOWER(HEX(sha256)) FROM "
	                         "log_retained WHERE log_id = ? AND first_seq < ? AND end_seq > ? "
	                         "ORDER BY first_seq",
	                         k, 3, bundle_row, list)
	              : DB_ERR;
	if (st) {
		json_decref(list);
		return st < 0 ? st : DB_ERR;
	}
	*out = list;
	return DB_OK;
}

/* Verifies [from, to) of log into *out. Returns DB_OK (out->fail says
 * whether it verified) or a db status (the database, or the stop). */
static int verify_log(struct auditor *a, struct db *db, const note_verifier *verifier,
                      uint32_t log, const struct log_end *e, uint64_t from, uint64_t to,
                      struct verdict *out)
{
	struct walk w = {.a = a,
	                 .db = db,
	                 .log = log,
	                 .own = log_set_ledger(a, log),
	                 .from = from,
	                 .to = to,
	                 .verifier = verifier};
	snprintf(w.origin, sizeof w.origin, "%s/%u", note_verifier_name(verifier), (unsigned)log);
	int st = run(&w);
	/* Checkpoints this writer signed are gone: the log was rolled back,
	 * whether the events they covered are still stored or went with them
	 * (then the walk found the first of them missing, past the end of the
	 * stored checkpoints: the same tampering, named by its cause). */
	if (!st && e->signed_size > e->stored &&
	    (!w.fail.failed ||
	     (!strcmp(w.fail.reason, "missing-position") && w.fail.seq >= e->stored))) {
		bool events_gone = w.fail.failed;
		w.fail.failed = false;
		fail(&w, e->stored, "rolled-back",
		     "This writer signed a checkpoint of size %" PRIu64
		     " but the latest stored one "
		     "is of size %" PRIu64 ": stored checkpoints were removed%s.",
		     e->signed_size, e->stored,
		     events_gone ? ", and the events they covered with them" : "");
	}
	free(w.cp.note);
	jcs_buf_free(&w.scratch);
	*out = (struct verdict){.log = log, .from = from, .to = to, .checkpoints = w.checkpoints,
	                        .fail = w.fail, .retained = w.retained};
	if (!st && w.retained > from)
		st = range_bundles(db, log, from, to, &out->bundles);
	return st;
}

static json_t *verdict_resource(const struct verdict *v)
{
	char id[64];
	snprintf(id, sizeof id, "%u:%" PRIu64 "-%" PRIu64, (unsigned)v->log, v->from, v->to);
	json_t *attrs = json_pack("{s:I, s:I, s:I, s:I, s:I, s:b}", "log", (json_int_t)v->log, "from",
	                          (json_int_t)v->from, "to", (json_int_t)v->to, "events",
	                          (json_int_t)(v->to - v->from), "checkpoints",
	                          (json_int_t)v->checkpoints, "valid", 1);
	if (attrs && v->retained > v->from) {
		json_object_set_new(attrs, "retained", json_integer((json_int_t)v->retained));
		json_object_set_new(attrs, "bundles", v->bundles ? json_incref(v->bundles) : json_array());
	}
	return jsonapi_resource("verifications", id, attrs);
}

static json_t *verdict_error(const struct verdict *v, bool name_log)
{
	char detail[600];
	if (name_log)
		snprintf(detail, sizeof detail, "Log %u: %s", (unsigned)v->log, v->fail.detail);
	else
		snprintf(detail, sizeof detail, "%s", v->fail.detail);
	return json_pack("{s:s, s:s, s:s, s:{s:I, s:I, s:s}}", "status", "409", "title",
	                 "The stored log does not verify", "detail", detail, "meta", "log",
	                 (json_int_t)v->log, "seq", (json_int_t)v->fail.seq, "reason",
	                 v->fail.reason);
}

/* 503 for a db status of a verification that could not run. */
static void reply_unread(struct http_request *req, int st)
{
	http_reply_error(req, 503, "Service unavailable", "The audit log could not be read (%s).",
	                 db_status_string(st));
}

/* GET /verify?log=N[&from=M&to=N], or a range without log (log 0): one
 * log, one verifications resource (or 409). */
static void verify_one(struct http_request *req, struct db *db, const note_verifier *verifier,
                       uint32_t log)
{
	struct auditor *a = http_app(req);
	struct log_end e;
	if (log_set_opening(req, log))
		return;
	int st = log_end(db, log_set_ledger(a, log), log, &e);
	/* A range past what was ever written is the client's mistake, not a
	 * missing position: it gets a 400, as on /export. */
	long from, to;
	if (st || http_query_int(req, "from", 0, (long)e.top, 0, &from) ||
	    http_query_int(req, "to", 0, (long)e.top, (long)e.end, &to)) {
		if (st)
			reply_unread(req, st);
		return;
	}
	if (from > to) {
		http_reply_param_error(req, "from", "Invalid range", "from must not be above to (%ld).",
		                       to);
		return;
	}
	if (reads_record_log(req, READS_VERIFY, log, NULL))
		return;
	struct verdict v;
	st = verify_log(a, db, verifier, log, &e, (uint64_t)from, (uint64_t)to, &v);
	if (st)
		reply_unread(req, st);
	else if (v.fail.failed)
		http_reply_json(req, 409, json_pack("{s:[o]}", "errors", verdict_error(&v, false)));
	else
		http_reply_json(req, 200, json_pack("{s:o}", "data", verdict_resource(&v)));
	json_decref(v.bundles);
}

/* GET /verify, or ?log=A,B,...: each log in turn from 0 to its end; a
 * collection of verifications, or 409 with one error per log that does not
 * verify (meta.log names it) and in the top-level meta each log's outcome. */
static void verify_each(struct http_request *req, struct db *db, const note_verifier *verifier,
                        const struct log_set *logs)
{
	struct auditor *a = http_app(req);
	for (size_t i = 0; i < logs->n; i++)
		if (log_set_opening(req, logs->ids[i]))
			return;
	/* Recorded before any is read, one record per log. */
	for (size_t i = 0; i < logs->n; i++)
		if (reads_record_log(req, READS_VERIFY, logs->ids[i], NULL))
			return;
	json_t *data = json_array(), *errors = json_array(), *outcomes = json_array();
	int st = data && errors && outcomes ? DB_OK : DB_ERR;
	for (size_t i = 0; !st && i < logs->n; i++) {
		struct log_end e;
		struct verdict v = {0};
		uint32_t log = logs->ids[i];
		st = log_end(db, log_set_ledger(a, log), log, &e);
		if (!st)
			st = verify_log(a, db, verifier, log, &e, 0, e.end, &v);
		if (st) {
			json_decref(v.bundles);
			break;
		}
		json_t *outcome = v.fail.failed
		                      ? json_pack("{s:I, s:b, s:I, s:s}", "log", (json_int_t)log,
		                                  "valid", 0, "seq", (json_int_t)v.fail.seq, "reason",
		                                  v.fail.reason)
		                      : json_pack("{s:I, s:b, s:I, s:I}", "log", (json_int_t)log,
		                                  "valid", 1, "events", (json_int_t)(v.to - v.from),
		                                  "checkpoints", (json_int_t)v.checkpoints);
		if (json_array_append_new(outcomes, outcome) ||
		    json_array_append_new(v.fail.failed ? errors : data,
		                          v.fail.failed ? verdict_error(&v, true)
		                                        : verdict_resource(&v)))
			st = DB_ERR;
		json_decref(v.bundles);
	}
	if (st) {
		json_decref(data);
		json_decref(errors);
		json_decref(outcomes);
		reply_unread(req, st);
		return;
	}
	if (json_array_size(errors)) {
		json_decref(data);
		http_reply_json(req, 409,
		                json_pack("{s:o, s:{s:o}}", "errors", errors, "meta", "logs", outcomes));
		return;
	}
	json_decref(errors);
	json_decref(outcomes);
	http_reply_json(req, 200, json_pack("{s:o}", "data", data));
}

/* GET /verify[?log=N or A,B,...][&from=M&to=N] */
void h_verify(struct http_request *req)
{
	struct auditor *a = http_app(req);
	if (!http_claims(req)->auditor) {
		http_reply_forbidden(req, "Verifying the log needs the auditor role.");
		return;
	}
	struct log_set logs = {0};
	note_verifier *verifier = NULL;
	int given = log_set_param(req, true, &logs);
	if (given < 0)
		return;
	/* A range is one log's positions: log 0 unless ?log= names one. */
	bool ranged = query_get(http_query(req), "from") || query_get(http_query(req), "to");
	if (ranged && logs.n > 1) {
		http_reply_param_error(req, "from", "Invalid range",
		                       "from and to are positions of one log: give one log.");
		goto out;
	}
	struct db *db = auditor_reader(req);
	if (!db)
		goto out;
	if (note_verifier_from_signer(a->signer, &verifier)) {
		http_reply_error(req, 500, "Internal error", "The log's verifier key is unusable.");
		goto out;
	}
	if (logs.n == 1 || ranged) {
		verify_one(req, db, verifier, logs.n ? logs.ids[0] : 0);
		goto out;
	}
	int st = given == LOG_SET_ABSENT ? log_set_all(db, a, &logs) : DB_OK;
	if (st)
		reply_unread(req, st);
	else
		verify_each(req, db, verifier, &logs);
out:
	note_verifier_free(verifier);
	log_set_free(&logs);
}
