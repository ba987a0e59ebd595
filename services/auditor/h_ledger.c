/* The log of record's public face: each log's latest signed checkpoint,
 * the verifier key, inclusion proofs (c2sp.org/tlog-proof) and consistency
 * proofs (RFC 9162 §2.1.4). None of these reveals an event's content.
 *
 * Several auditors may write the logs (README "Partitions and several
 * auditors"), so a log's checkpoints are read from the database, never from
 * this process's ledger, which is stale for a log another auditor writes
 * (log_set.h). */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditor.h"
#include "retention.h"
#include "b64.h"
#include "jcs.h"
#include "log_set.h"
#include "reads.h"
#include "sql_id.h"
#include "timestamp.h"

#define TEXT_PLAIN "text/plain; charset=utf-8"

static void reply_text(struct http_request *req, char *text, size_t len)
{
	http_add_header(req, "Cache-Control", "no-store");
	http_reply_buffer(req, 200, TEXT_PLAIN, text, len);
}

/* GET /checkpoint[?log=N]: log N's (default 0) latest stored checkpoint
 * (c2sp.org/tlog-checkpoint), with Last-Modified: when it was signed. */
void h_checkpoint(struct http_request *req)
{
	struct auditor *a = http_app(req);
	uint32_t log;
	if (log_set_one(req, 0, &log) || log_set_opening(req, log))
		return;
	struct db *db = auditor_reader(req);
	if (!db)
		return;
	struct stored_checkpoint cp;
	char date[TIMESTAMP_TEXT_MAX];
	int st = tree_checkpoint(db, log, TREE_LATEST, 0, 0, &cp);
	if (st) {
		http_reply_error(req, 503, "Service unavailable", "The audit log could not be read (%s).",
		                 db_status_string(st));
		return;
	}
	if (!cp.found) {
		/* A log this process opens signs its first checkpoint at once. */
		if (log_set_ledger(a, log))
			http_reply_error(req, 503, "Service unavailable", "No checkpoint is signed yet.");
		else
			http_reply_error(req, 404, "Not found",
			                 "Log %u has no checkpoint (GET /checkpoints lists every log's).",
			                 (unsigned)log);
		return;
	}
	timestamp_format_http(cp.signed_ms, date);
	http_add_header(req, "Last-Modified", date);
	reply_text(req, cp.note, strlen(cp.note)); /* the reply owns the note now */
}

/* One log's latest checkpoint as a checkpoints resource. */
static int checkpoint_resource(void *ctx, uint32_t log, const struct stored_checkpoint *cp)
{
	json_t *data = ctx;
	char id[16], root[64], at[TIMESTAMP_TEXT_MAX];
	/* The origin is the note's first line, as signed. */
	size_t ol = strcspn(cp->note, "\n");
	snprintf(id, sizeof id, "%u", (unsigned)log);
	b64_encode(cp->root, MERKLE_HASH_LEN, root);
	timestamp_format(cp->signed_ms, at);
	json_t *attrs = json_pack("{s:I, s:s%, s:I, s:s, s:s, s:s}", "log", (json_int_t)log, "origin",
	                          cp->note, ol, "size", (json_int_t)cp->size, "root", root,
	                          "signedAt", at, "note", cp->note);
	json_t *r = attrs ? jsonapi_resource("checkpoints", id, attrs) : NULL;
	return r && !json_array_append_new(data, r) ? 0 : DB_ERR;
}

/* GET /checkpoints: every log's latest stored checkpoint, one checkpoints
 * resource per log (the partitions' logs and the auditors' own), by log. */
void h_checkpoints(struct http_request *req)
{
	struct db *db = auditor_reader(req);
	if (!db)
		return;
	json_t *data = json_array();
	int st = data ? tree_checkpoints_latest(db, checkpoint_resource, data) : DB_ERR;
	if (st) {
		json_decref(data);
		http_reply_error(req, 503, "Service unavailable", "The audit log could not be read (%s).",
		                 db_status_string(st));
		return;
	}
	http_add_header(req, "Cache-Control", "no-store");
	http_reply_json(req, 200, json_pack("{s:o}", "data", data));
}

/* GET /.well-known/auditlog-vkey: the verifier key (c2sp.org/signed-note). */
void h_vkey(struct http_request *req)
{
	struct auditor *a = http_app(req);
	char *vkey = NULL, *line = NULL;
	if (note_signer_verifier_key(a->signer, &vkey) || !(line = malloc(strlen(vkey) + 2))) {
		free(vkey);
		http_reply_error(req, 500, "Internal error", "The verifier key cannot be written.");
		return;
	}
	sprintf(line, "%s\n", vkey);
	free(vkey);
	reply_text(req, line, strlen(line));
}

/* The stored checkpoint of size (or the latest when !given) into *cp.
 * Replies and returns -1 when there is none. */
static int find_checkpoint(struct http_request *req, struct db *db, uint32_t log, bool given,
                           uint64_t size, const char *param, struct stored_checkpoint *cp)
{
	int st = tree_checkpoint(db, log, given ? TREE_EXACT : TREE_LATEST, size, 0, cp);
	if (st) {
		http_reply_error(req, 503, "Service unavailable", "The audit log could not be read (%s).",
		                 db_status_string(st));
		return -1;
	}
	if (!cp->found) {
		if (given)
			http_reply_param_error(req, param, "No such checkpoint",
			                       "No checkpoint of size %" PRIu64 " of log %u was signed; take "
			                       "a size from one of its checkpoints (GET /checkpoint?log=%u).",
			                       size, (unsigned)log, (unsigned)log);
		else
			http_reply_error(req, 503, "Service unavailable", "No checkpoint is signed yet.");
		return -1;
	}
	return 0;
}

/* Where an event is: its log and position. */
struct position {
	bool found;
	uint32_t log;
	uint64_t seq;
};

static int position_row(void *ctx, const struct db_row *row)
{
	struct position *p = ctx;
	p->found = row->val[0] && row->val[1];
	p->log = p->found ? (uint32_t)strtoul(row->val[0], NULL, 10) : 0;
	p->seq = p->found ? strtoull(row->val[1], NULL, 10) : 0;
	return 0;
}

/* Appends one base64 hash per line to *buf (a jcs_buf used as a plain
 * byte buffer). */
static void put_hashes(struct jcs_buf *b, const uint8_t (*h)[MERKLE_HASH_LEN], size_t n)
{
	char line[64];
	for (size_t i = 0; i < n; i++) {
		b64_encode(h[i], MERKLE_HASH_LEN, line);
		jcs_buf_put(b, line, strlen(line));
		jcs_buf_put(b, "\n", 1);
	}
}

static void reply_jcs_buf(struct http_request *req, struct jcs_buf *b)
{
	if (b->status) {
		jcs_buf_free(b);
		http_reply_error(req, 500, "Internal error", "Out of memory.");
		return;
	}
	reply_text(req, b->data, b->len); /* the reply owns the buffer now */
}

/* A proof the stored tree could not give: the database away (503) or a
 * stored hash missing (500: /verify names where). */
static void reply_no_proof(struct http_request *req, const struct tree_source *ts)
{
	http_reply_error(req, ts->status ? 503 : 500, ts->status ? "Service unavailable" : "Internal error",
	                 "The proof could not be made: %s.",
	                 ts->status ? db_status_string(ts->status) : "the stored tree lacks a hash");
}

/* GET /data-events/:id/proof[?size=N]: the event's inclusion proof in the
 * tree of a signed checkpoint of its own log (c2sp.org/tlog-proof@v1). */
void h_proof(struct http_request *req)
{
	const char *id = http_param(req, 0);
	if (!uuid_valid(id, strlen(id))) {
		http_reply_error(req, 404, "Not found", "No data event has this id.");
		return;
	}
	long size;
	bool given = query_get(http_query(req), "size") != NULL;
	if (http_query_int(req, "size", 1, LONG_MAX, 1, &size))
		return;
	struct db *db = auditor_reader(req);
	if (!db)
		return;
	/* The event's log first: the read is one of that log (an id that
	 * names no event is recorded as a read of log 0, as before there
	 * were several). */
	struct position at = {0};
	struct stored_checkpoint cp;
	struct db_value v[] = {DB_TEXT(id)};
	/* data_event_ids: one index, unpartitioned, and still there for an
	 * event whose month was retained away (retention.h). */
	int st = db_query(db, "SELECT log_id, seq FROM data_event_ids WHERE event_id = " SQL_ID_ARG,
	                  v, 1, position_row, &at);
	if (st) {
		http_reply_error(req, 503, "Service unavailable", "The audit log could not be read (%s).",
		                 db_status_string(st < 0 ? st : DB_ERR));
		return;
	}
	const char *const event[] = {"event", id, NULL};
	if (reads_record_log(req, READS_PROOF, at.log, event))
		return;
	if (!at.found) {
		http_reply_error(req, 404, "Not found", "No data event has this id.");
		return;
	}
	uint32_t log = at.log;
	uint64_t seq = at.seq;
	struct retained gone;
	if ((st = retention_find(db, log, seq, &gone))) {
		http_reply_error(req, 503, "Service unavailable", "The audit log could not be read (%s).",
		                 db_status_string(st));
		return;
	}
	if (gone.found) {
		retention_reply_gone(req, log, seq, &gone);
		return;
	}
	if (log_set_opening(req, log) || find_checkpoint(req, db, log, given, (uint64_t)size, "size", &cp))
		return;
	if (seq >= cp.size) {
		free(cp.note);
		if (given)
			http_reply_param_error(req, "size", "Not in that tree",
			                       "The event is at position %" PRIu64 " of log %u, not in the "
			                       "tree of size %ld.",
			                       seq, (unsigned)log, size);
		else
			http_reply_error(req, 409, "Not yet checkpointed",
			                 "The event is at position %" PRIu64 " of log %u; its latest "
			                 "checkpoint covers %" PRIu64 " events. Ask again within a second.",
			                 seq, (unsigned)log, cp.size);
		return;
	}
	uint8_t proof[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
	size_t n;
	struct tree_source ts = {.db = db, .log = log};
	struct merkle_source src = tree_source_init(&ts);
	/* One read for the whole path: see tree_source_record. */
	tree_source_record(&ts);
	int rc = merkle_inclusion_proof(seq, cp.size, &src, proof, &n);
	if (!rc && !tree_source_fetch(&ts))
		rc = merkle_inclusion_proof(seq, cp.size, &src, proof, &n);
	else
		rc = -1;
	tree_source_free(&ts);
	if (rc) {
		free(cp.note);
		reply_no_proof(req, &ts);
		return;
	}
	struct jcs_buf b = {0};
	char head[64];
	int k = snprintf(head, sizeof head, "c2sp.org/tlog-proof@v1\nindex %" PRIu64 "\n", seq);
	jcs_buf_put(&b, head, (size_t)k);
	put_hashes(&b, proof, n);
	jcs_buf_put(&b, "\n", 1);
	jcs_buf_lit(&b, cp.note);
	free(cp.note);
	reply_jcs_buf(req, &b);
}

/* GET /consistency?from=M&to=N[&log=L]: the RFC 9162 §2.1.4 proof that the
 * tree of log L's (default 0) checkpoint of size N extends that of size M,
 * one base64 hash per line. M = 0 (the empty tree) and M = N give an empty
 * proof. */
void h_consistency(struct http_request *req)
{
	long from, to;
	uint32_t log;
	if (!query_get(http_query(req), "from") || !query_get(http_query(req), "to")) {
		http_reply_error(req, 400, "Missing parameter", "Give from=M&to=N, two checkpoint sizes.");
		return;
	}
	if (http_query_int(req, "from", 0, LONG_MAX, 0, &from) ||
	    http_query_int(req, "to", 0, LONG_MAX, 0, &to))
		return;
	if (from > to) {
		http_reply_param_error(req, "from", "Invalid range", "from must not be above to.");
		return;
	}
	if (log_set_one(req, 0, &log) || reads_record_log(req, READS_CONSISTENCY, log, NULL) ||
	    log_set_opening(req, log))
		return;
	struct db *db = auditor_reader(req);
	if (!db)
		return;
	struct stored_checkpoint m = {0}, n = {0};
	if ((from > 0 && find_checkpoint(req, db, log, true, (uint64_t)from, "from", &m)) ||
	    find_checkpoint(req, db, log, true, (uint64_t)to, "to", &n)) {
		free(m.note);
		return;
	}
	free(m.note);
	free(n.note);
	uint8_t proof[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
	size_t len;
	struct tree_source ts = {.db = db, .log = log};
	struct merkle_source src = tree_source_init(&ts);
	tree_source_record(&ts);
	int rc = merkle_consistency_proof((uint64_t)from, (uint64_t)to, &src, proof, &len);
	if (!rc && !tree_source_fetch(&ts))
		rc = merkle_consistency_proof((uint64_t)from, (uint64_t)to, &src, proof, &len);
	else
		rc = -1;
	tree_source_free(&ts);
	if (rc) {
		reply_no_proof(req, &ts);
		return;
	}
	struct jcs_buf b = {0};
	put_hashes(&b, proof, len);
	jcs_buf_put(&b, "", 0); /* an empty proof still gets a buffer: an empty body */
	reply_jcs_buf(req, &b);
}
