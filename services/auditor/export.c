/* GET /export?from=M&to=N[&pin=K]: a bundle (docs/ledger.md "Export
 * bundles") of positions [M, N) with the latest signed checkpoint, the
 * borders that recompute its root from the slice, and with pin=K the
 * consistency proof from size K. The bundle is written a chunk of events at
 * a time to an unlinked temporary file, then sent from it, so memory stays
 * bounded at any size. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auditor.h"
#include "bundle.h"
#include "log.h"
#include "log_read.h"
#include "reads.h"

#define FLUSH_AT (1u << 20)

struct exporter {
	struct auditor *a;
	FILE *out;
	struct jcs_buf buf;
	int failed; /* LEAF_* of the first line that could not be written */
	uint64_t events;
};

static int flush(struct exporter *x)
{
	if (x->buf.len && fwrite(x->buf.data, 1, x->buf.len, x->out) != x->buf.len)
		return -1;
	x->buf.len = 0;
	return 0;
}

int export_event_line(const struct log_event *e, struct jcs_buf *out)
{
	struct bundle_field f[256];
	if (e->ev.nchanges > sizeof f / sizeof f[0])
		return LEAF_EINVAL;
	for (size_t i = 0; i < e->ev.nchanges; i++) {
		const struct log_field *lf = &e->fields[i];
		f[i] = (struct bundle_field){.field = lf->field};
		f[i].prev.erased = f[i].next.erased = lf->erased;
		memcpy(f[i].prev.commitment, e->ev.changes[i].prev, LEAF_COMMITMENT_LEN);
		memcpy(f[i].next.commitment, e->ev.changes[i].next, LEAF_COMMITMENT_LEN);
		if (!lf->erased) {
			memcpy(f[i].prev.salt, lf->prev_salt, LEAF_SALT_LEN);
			memcpy(f[i].next.salt, lf->next_salt, LEAF_SALT_LEN);
			f[i].prev.value_json = lf->prev_value;
			f[i].prev.value_len = lf->prev_len;
			f[i].next.value_json = lf->next_value;
			f[i].next.value_len = lf->next_len;
		}
	}
	size_t mark = out->len;
	int st = bundle_event_write(&e->ev, f, e->ev.nchanges, e->leaf_hash, out);
	if (st) {
		out->len = mark;
		out->status = 0;
	}
	return st;
}

static int on_event(void *ctx, const struct log_event *e)
{
	struct exporter *x = ctx;
	if (atomic_load(&x->a->stopping))
		return DB_ERR_GONE;
	int st = export_event_line(e, &x->buf);
	if (st) {
		/* A stored row that cannot be written as it is (changed by hand):
		 * the verifier names its position by its absence. */
		if (!x->failed)
			x->failed = st;
		return st == LEAF_ENOMEM ? DB_ERR : 0;
	}
	x->events++;
	return x->buf.len >= FLUSH_AT && flush(x) ? DB_ERR : 0;
}

void h_export(struct http_request *req)
{
	struct auditor *a = http_app(req);
	if (!http_claims(req)->auditor) {
		http_reply_forbidden(req, "Exporting the log needs the auditor role.");
		return;
	}
	struct db *db = auditor_reader(req);
	if (!db)
		return;
	uint32_t log = ledger_log(a->ledger);
	struct stored_checkpoint cp;
	int st = tree_checkpoint(db, log, TREE_LATEST, 0, 0, &cp);
	if (st || !cp.found) {
		free(cp.note);
		http_reply_error(req, 503, "Service unavailable", "%s",
		                 st ? "The audit log could not be read." : "No checkpoint is signed yet.");
		return;
	}
	long from, to, pin;
	bool has_pin = query_get(http_query(req), "pin") != NULL;
	if (http_query_int(req, "from", 0, (long)cp.size, 0, &from) ||
	    http_query_int(req, "to", 0, (long)cp.size, (long)cp.size, &to) ||
	    http_query_int(req, "pin", 0, (long)cp.size, 0, &pin)) {
		free(cp.note);
		return;
	}
	if (from > to) {
		free(cp.note);
		http_reply_param_error(req, "from", "Invalid range", "from must not be above to.");
		return;
	}
	/* A pin is a checkpoint the client kept: a size this log signed. */
	if (has_pin && pin > 0) {
		struct stored_checkpoint kept;
		st = tree_checkpoint(db, log, TREE_EXACT, (uint64_t)pin, 0, &kept);
		free(kept.note);
		if (st || !kept.found) {
			free(cp.note);
			if (st)
				http_reply_error(req, 503, "Service unavailable", "The audit log could not be read.");
			else
				http_reply_param_error(req, "pin", "No such checkpoint",
				                       "No checkpoint of size %ld was signed: pin takes the size "
				                       "of a checkpoint you kept (its second line).",
				                       pin);
			return;
		}
	}
	if (reads_record(req, READS_LOG_EXPORT, NULL, NULL, NULL)) {
		free(cp.note);
		return;
	}
	/* The origin: the checkpoint's first line. */
	char origin[1024];
	size_t ol = strcspn(cp.note, "\n");
	snprintf(origin, sizeof origin, "%.*s", (int)(ol < sizeof origin ? ol : sizeof origin - 1),
	         cp.note);
	uint8_t (*borders)[MERKLE_HASH_LEN] =
	    malloc((MERKLE_MAX_FRONTIER + MERKLE_MAX_BORDER + MERKLE_MAX_PROOF) * MERKLE_HASH_LEN);
	uint8_t (*l)[MERKLE_HASH_LEN] = borders, (*r)[MERKLE_HASH_LEN] = borders + MERKLE_MAX_FRONTIER,
	        (*c)[MERKLE_HASH_LEN] = r + MERKLE_MAX_BORDER;
	unsigned nl = 0, nr = 0;
	size_t nc = 0;
	struct tree_source ts = {.db = db, .log = log};
	struct merkle_source src = tree_source_init(&ts);
	if (!borders || merkle_border_left((uint64_t)from, &src, l, &nl) ||
	    merkle_border_right((uint64_t)to, cp.size, &src, r, &nr) ||
	    (has_pin && merkle_consistency_proof((uint64_t)pin, cp.size, &src, c, &nc))) {
		free(borders);
		free(cp.note);
		http_reply_error(req, ts.status ? 503 : 409,
		                 ts.status ? "Service unavailable" : "The stored tree is incomplete",
		                 "The bundle's borders could not be made: %s.",
		                 ts.status ? db_status_string(ts.status)
		                           : "a stored hash is missing (GET /verify names the position)");
		return;
	}
	struct bundle_header h = {.log = log,
	                          .origin = origin,
	                          .from = (uint64_t)from,
	                          .to = (uint64_t)to,
	                          .checkpoint = cp.note,
	                          .checkpoint_len = strlen(cp.note),
	                          .left = (const uint8_t (*)[32])l,
	                          .nleft = nl,
	                          .right = (const uint8_t (*)[32])r,
	                          .nright = nr,
	                          .has_pin = has_pin,
	                          .pin_size = (uint64_t)pin,
	                          .consistency = (const uint8_t (*)[32])c,
	                          .nconsistency = nc};
	struct exporter x = {.a = a, .out = tmpfile()};
	st = x.out ? bundle_header_write(&h, &x.buf) : LEAF_ENOMEM;
	free(borders);
	free(cp.note);
	if (!st)
		st = log_read_range(db, log, (uint64_t)from, (uint64_t)to, on_event, &x);
	if (!st && (flush(&x) || fflush(x.out)))
		st = DB_ERR;
	jcs_buf_free(&x.buf);
	if (st) {
		if (x.out)
			fclose(x.out);
		http_reply_error(req, 503, "Service unavailable", "The bundle could not be written.");
		return;
	}
	if (x.failed)
		log_warn("export [%ld, %ld): a stored event could not be written (%s); the bundle "
		         "lacks it",
		         from, to, leaf_status_string(x.failed));
	long size = ftell(x.out);
	int fd = dup(fileno(x.out));
	fclose(x.out);
	if (fd < 0 || size < 0 || lseek(fd, 0, SEEK_SET)) {
		if (fd >= 0)
			close(fd);
		http_reply_error(req, 503, "Service unavailable", "The bundle could not be written.");
		return;
	}
	char disp[128];
	snprintf(disp, sizeof disp, "attachment; filename=\"auditlog-%u-%ld-%ld.ndjson\"",
	         (unsigned)log, from, to);
	http_add_header(req, "Content-Disposition", disp);
	http_reply_fd(req, 200, "application/x-ndjson", fd, (uint64_t)size);
}
