/* GET /verify: re-reads a log's stored events, recomputes every value
 * commitment, every leaf and the tree, and checks them against the stored
 * checkpoints and their signatures (docs/ledger.md "Verifying the stored
 * log"). Memory stays bounded at any size: events are read a chunk at a
 * time, checkpoints one at a time. */
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditor.h"
#include "log_read.h"
#include "reads.h"

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
	uint64_t from, to, expected;
	uint64_t given; /* the writer's end, read before the extra-row queries */
	uint64_t last_good_cp; /* the largest size whose checkpoint matched */
	size_t checkpoints;
	struct merkle_frontier f;
	struct stored_checkpoint cp; /* the next the walk reaches (sizes ascending) */
	struct jcs_buf scratch;
	struct failure fail;
	const note_verifier *verifier;
	int db_status;
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
	switch (tree_checkpoint_check(cp, w->verifier, ledger_origin(w->a->ledger))) {
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

static int extra_append(void *ctx, const struct db_row *row)
{
	struct walk *w = ctx;
	if (row->val[0])
		fail(w, strtoull(row->val[0], NULL, 10), "extra-row",
		     "Position %s is given by an append this log's writer did not write (its end is at "
		     "%" PRIu64 ").",
		     row->val[0], w->given);
	return 0;
}

static int extra_event(void *ctx, const struct db_row *row)
{
	struct walk *w = ctx;
	/* Read after the query's snapshot: every row of this writer in it is
	 * below. */
	uint64_t size = ledger_given(w->a->ledger), rows = strtoull(row->val[0], NULL, 10);
	if (row->val[1])
		fail(w, strtoull(row->val[1], NULL, 10), "extra-row",
		     "An event row claims position %s, which this log's writer did not give (its end "
		     "is at %" PRIu64 ").",
		     row->val[1], size);
	else if (rows > size)
		fail(w, size, "extra-row",
		     "%" PRIu64 " event rows claim positions in this log, which holds %" PRIu64
		     ": some are in no append.",
		     rows, size);
	return 0;
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
	if (!st && !w->fail.failed)
		st = log_read_range(w->db, w->log, w->from, w->to, on_event, w);
	if (st == 1)
		st = DB_OK;
	if (st)
		return st;
	if (!w->fail.failed && w->expected < w->to)
		fail(w, w->expected, "missing-position",
		     "No event is stored at position %" PRIu64 " (the log should hold %" PRIu64 ").",
		     w->expected, w->to);
	/* Rows past what the writer wrote, or outside every append: forged, or
	 * another writer's. Appends by their key; event rows (their seq is not
	 * indexed) in one scan. The end is read before the queries' snapshots:
	 * a row past it in them was not given by this writer, even while
	 * appends commit meanwhile. */
	w->given = ledger_given(w->a->ledger);
	struct db_value v[] = {DB_INT(w->log), DB_INT((long long)w->given)};
	if (!w->fail.failed)
		st = db_query(w->db, "SELECT MIN(first_seq) FROM log_appends WHERE log_id = ? AND "
		                     "first_seq >= ?",
		              v, 2, extra_append, w);
	if (!st && !w->fail.failed) {
		struct db_value u[] = {v[1], v[0]};
		st = db_query(w->db, "SELECT COUNT(*), MIN(CASE WHEN seq >= ? THEN seq END) FROM "
		                     "data_events WHERE log_id = ?",
		              u, 2, extra_event, w);
	}
	return st < 0 ? st : DB_OK;
}

/* GET /verify[?from=M&to=N] */
void h_verify(struct http_request *req)
{
	struct auditor *a = http_app(req);
	if (!http_claims(req)->auditor) {
		http_reply_forbidden(req, "Verifying the log needs the auditor role.");
		return;
	}
	struct db *db = auditor_reader(req);
	if (!db)
		return;
	if (!ledger_ready(a->ledger)) {
		http_reply_error(req, 503, "Service unavailable", "The log is still being opened.");
		return;
	}
	/* The end: the latest checkpoint stored, or signed by this writer
	 * (larger if stored ones were removed), or asked. */
	uint64_t signed_size = 0;
	struct stored_checkpoint latest;
	int st = tree_checkpoint(db, ledger_log(a->ledger), TREE_LATEST, 0, 0, &latest);
	uint64_t stored = latest.size; /* 0 when none */
	free(latest.note);
	struct ledger_state ls;
	ledger_state(a->ledger, &ls);
	signed_size = ls.signed_size;
	uint64_t end = stored > signed_size ? stored : signed_size;
	/* A range past what was ever written is the client's mistake, not a
	 * missing position: it gets a 400, as on /export. */
	uint64_t top = end > ls.size ? end : ls.size;
	long from, to;
	if (st || http_query_int(req, "from", 0, (long)top, 0, &from) ||
	    http_query_int(req, "to", 0, (long)top, (long)end, &to)) {
		if (st < 0)
			http_reply_error(req, 503, "Service unavailable", "The audit log could not be read.");
		return;
	}
	if (from > to) {
		http_reply_param_error(req, "from", "Invalid range", "from must not be above to (%ld).",
		                       to);
		return;
	}
	if (reads_record(req, READS_VERIFY, NULL, NULL, NULL))
		return;
	struct walk w = {.a = a,
	                 .db = db,
	                 .log = ledger_log(a->ledger),
	                 .from = (uint64_t)from,
	                 .to = (uint64_t)to};
	note_verifier *verifier = NULL;
	if (note_verifier_from_signer(a->signer, &verifier)) {
		http_reply_error(req, 500, "Internal error", "The log's verifier key is unusable.");
		return;
	}
	w.verifier = verifier;
	st = run(&w);
	/* Checkpoints this writer signed are gone: the log was rolled back,
	 * whether the events they covered are still stored or went with them
	 * (then the walk found the first of them missing, past the end of the
	 * stored checkpoints: the same tampering, named by its cause). */
	if (!st && signed_size > stored &&
	    (!w.fail.failed ||
	     (!strcmp(w.fail.reason, "missing-position") && w.fail.seq >= stored))) {
		bool events_gone = w.fail.failed;
		w.fail.failed = false;
		fail(&w, stored, "rolled-back",
		     "This writer signed a checkpoint of size %" PRIu64
		     " but the latest stored one "
		     "is of size %" PRIu64 ": stored checkpoints were removed%s.",
		     signed_size, stored,
		     events_gone ? ", and the events they covered with them" : "");
	}
	free(w.cp.note);
	jcs_buf_free(&w.scratch);
	note_verifier_free(verifier);
	if (st) {
		http_reply_error(req, 503, "Service unavailable", "The audit log could not be read (%s).",
		                 db_status_string(st));
		return;
	}
	if (w.fail.failed) {
		json_t *doc = json_pack(
		    "{s:[{s:s, s:s, s:s, s:{s:I, s:I, s:s}}]}", "errors", "status", "409", "title",
		    "The stored log does not verify", "detail", w.fail.detail, "meta", "log",
		    (json_int_t)w.log, "seq", (json_int_t)w.fail.seq, "reason", w.fail.reason);
		http_reply_json(req, 409, doc);
		return;
	}
	char id[64];
	snprintf(id, sizeof id, "%u:%ld-%ld", (unsigned)w.log, from, to);
	json_t *attrs = json_pack("{s:I, s:I, s:I, s:I, s:I, s:b}", "log", (json_int_t)w.log, "from",
	                          (json_int_t)from, "to", (json_int_t)to, "events",
	                          (json_int_t)(to - from), "checkpoints", (json_int_t)w.checkpoints,
	                          "valid", 1);
	http_reply_json(req, 200, json_pack("{s:o}", "data", jsonapi_resource("verifications", id, attrs)));
}
