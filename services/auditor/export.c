/* GET /export[?log=L][&from=M&to=N][&pin=K]: a bundle (docs/ledger.md
 * "Export bundles") of positions [M, N) of log L with its latest signed
 * checkpoint, the borders that recompute its root from the slice, and with
 * pin=K the consistency proof from size K. With several logs (?log=A,B,...,
 * or no log and no range: every log that has a checkpoint), one section
 * per log, each the whole log up to its latest checkpoint, pinned by
 * pin=A:K,B:K',... The bundle is written a chunk of events at a time to an
 * unlinked temporary file, then sent from it, so memory stays bounded at
 * any size. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auditor.h"
#include "bundle.h"
#include "log.h"
#include "log_read.h"
#include "log_set.h"
#include "reads.h"
#include "retention.h"

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
	if (x->a && atomic_load(&x->a->stopping))
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

/* One log's section of the bundle. */
struct section {
	uint32_t log;
	struct stored_checkpoint cp; /* its latest: the section's checkpoint */
	uint64_t from, to;
	bool has_pin;
	uint64_t pin;
};

struct sections {
	struct section *s;
	size_t n, cap;
};

static void sections_free(struct sections *all)
{
	for (size_t i = 0; i < all->n; i++)
		free(all->s[i].cp.note);
	free(all->s);
	*all = (struct sections){0};
}

/* Adds log's section with its latest checkpoint cp (its note copied). */
static int add_section(void *ctx, uint32_t log, const struct stored_checkpoint *cp)
{
	struct sections *all = ctx;
	if (all->n == all->cap) {
		size_t cap = all->cap ? 2 * all->cap : 8;
		struct section *s = realloc(all->s, cap * sizeof *s);
		if (!s)
			return DB_ERR;
		all->s = s;
		all->cap = cap;
	}
	struct section *sec = &all->s[all->n];
	*sec = (struct section){.log = log, .cp = *cp, .to = cp->size};
	if (!(sec->cp.note = strdup(cp->note)))
		return DB_ERR;
	all->n++;
	return 0;
}

/* A decimal of at most 18 digits in [s, s + len), at most max. */
static int parse_size(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (!len || len > 18)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

/* Reads ?pin= into the sections: with one section a size K, or L:K; with
 * several, a comma-separated list of L:K, each log at most once. A pin is
 * a checkpoint the client kept: a size log L signed, at most its latest.
 * Returns 0, or -1 after replying. */
static int read_pins(struct http_request *req, struct db *db, struct sections *all)
{
	const char *s = query_get(http_query(req), "pin");
	for (const char *p = s; p;) {
		size_t len = strcspn(p, ","), colon = strcspn(p, ":");
		struct section *sec = all->n == 1 ? &all->s[0] : NULL;
		uint64_t log = 0, size;
		if (colon < len) {
			sec = NULL;
			if (!parse_size(p, colon, LOG_ID_MAX, &log))
				for (size_t i = 0; i < all->n && !sec; i++)
					if (all->s[i].log == log)
						sec = &all->s[i];
		}
		const char *num = colon < len ? p + colon + 1 : p;
		size_t nlen = colon < len ? len - colon - 1 : len;
		if (!sec || sec->has_pin || parse_size(num, nlen, sec->cp.size, &size)) {
			if (sec && !sec->has_pin && !parse_size(num, nlen, UINT64_MAX / 16, &size))
				http_reply_param_error(req, "pin", "Invalid query parameter",
				                       "\"pin\": log %u's latest checkpoint is of size "
				                       "%" PRIu64 ", below %" PRIu64 ".",
				                       (unsigned)sec->log, sec->cp.size, size);
			else
				http_reply_param_error(
				    req, "pin", "Invalid query parameter",
				    "\"pin\" must be the size of a checkpoint you kept (its second line), as "
				    "L:K for log L when the bundle has several logs, each log once, of a log "
				    "the bundle has.");
			return -1;
		}
		sec->has_pin = true;
		sec->pin = size;
		if (size > 0) {
			struct stored_checkpoint kept;
			int st = tree_checkpoint(db, sec->log, TREE_EXACT, size, 0, &kept);
			free(kept.note);
			if (st) {
				http_reply_error(req, 503, "Service unavailable",
				                 "The audit log could not be read.");
				return -1;
			}
			if (!kept.found) {
				http_reply_param_error(req, "pin", "No such checkpoint",
				                       "No checkpoint of size %" PRIu64 " of log %u was "
				                       "signed: pin takes the size of a checkpoint you kept "
				                       "(its second line).",
				                       size, (unsigned)sec->log);
				return -1;
			}
		}
		p = p[len] ? p + len + 1 : NULL;
	}
	return 0;
}

/* Writes sec's header (logs: the bundle's, when it spans several; NULL or
 * one: none) and its events to x. Returns DB_OK, a db status, or
 * EXPORT_INCOMPLETE when a stored hash the borders need is missing. */
static int section_write(struct db *db, struct exporter *x, const struct section *sec,
                         const struct log_set *logs)
{
	/* The origin: the checkpoint's first line. */
	char origin[1024];
	const char *note = sec->cp.note;
	size_t ol = strcspn(note, "\n");
	snprintf(origin, sizeof origin, "%.*s", (int)(ol < sizeof origin ? ol : sizeof origin - 1),
	         note);
	uint8_t (*borders)[MERKLE_HASH_LEN] =
	    malloc((MERKLE_MAX_FRONTIER + MERKLE_MAX_BORDER + MERKLE_MAX_PROOF) * MERKLE_HASH_LEN);
	uint8_t (*l)[MERKLE_HASH_LEN] = borders, (*r)[MERKLE_HASH_LEN] = borders + MERKLE_MAX_FRONTIER,
	        (*c)[MERKLE_HASH_LEN] = r + MERKLE_MAX_BORDER;
	unsigned nl = 0, nr = 0;
	size_t nc = 0;
	struct tree_source ts = {.db = db, .log = sec->log};
	struct merkle_source src = tree_source_init(&ts);
	if (!borders || merkle_border_left(sec->from, &src, l, &nl) ||
	    merkle_border_right(sec->to, sec->cp.size, &src, r, &nr) ||
	    (sec->has_pin && merkle_consistency_proof(sec->pin, sec->cp.size, &src, c, &nc))) {
		free(borders);
		return !borders ? DB_ERR : ts.status ? ts.status : EXPORT_INCOMPLETE;
	}
	bool many = logs && logs->n > 1;
	struct bundle_header h = {.log = sec->log,
	                          .logs = many ? logs->ids : NULL,
	                          .nlogs = many ? logs->n : 0,
	                          .origin = origin,
	                          .from = sec->from,
	                          .to = sec->to,
	                          .checkpoint = note,
	                          .checkpoint_len = strlen(note),
	                          .left = (const uint8_t (*)[32])l,
	                          .nleft = nl,
	                          .right = (const uint8_t (*)[32])r,
	                          .nright = nr,
	                          .has_pin = sec->has_pin,
	                          .pin_size = sec->pin,
	                          .consistency = (const uint8_t (*)[32])c,
	                          .nconsistency = nc};
	int st = bundle_header_write(&h, &x->buf) ? DB_ERR : DB_OK;
	free(borders);
	x->failed = 0;
	if (!st)
		st = log_read_range(db, sec->log, sec->from, sec->to, on_event, x);
	if (!st && flush(x))
		st = DB_ERR;
	return st;
}

/* section_write for the handler: replies when it fails. Returns 0, or -1
 * after replying. */
static int write_section(struct http_request *req, struct db *db, struct exporter *x,
                         const struct section *sec, const struct log_set *logs)
{
	int st = section_write(db, x, sec, logs);
	if (st == EXPORT_INCOMPLETE) {
		http_reply_error(req, 409, "The stored tree is incomplete",
		                 "Log %u: the bundle's borders could not be made: a stored hash is "
		                 "missing (GET /verify names the position).",
		                 (unsigned)sec->log);
		return -1;
	}
	if (st) {
		http_reply_error(req, 503, "Service unavailable", "The bundle could not be written.");
		return -1;
	}
	if (x->failed)
		log_warn("export of log %u [%" PRIu64 ", %" PRIu64 "): a stored event could not be "
		         "written (%s); the bundle lacks it",
		         (unsigned)sec->log, sec->from, sec->to, leaf_status_string(x->failed));
	return 0;
}

int export_range_file(struct db *db, uint32_t log, const struct stored_checkpoint *cp,
                      uint64_t from, uint64_t to, FILE *out, uint64_t *events)
{
	struct exporter x = {.out = out};
	struct section sec = {.log = log, .cp = *cp, .from = from, .to = to};
	*events = 0;
	int st = from <= to && to <= cp->size && cp->note ? section_write(db, &x, &sec, NULL) : DB_ERR;
	if (!st && x.failed)
		st = EXPORT_UNWRITABLE;
	*events = x.events;
	jcs_buf_free(&x.buf);
	return st;
}

/* The sections asked: the logs of ?log=, log 0 for a range or a plain pin
 * without it (as before bundles spanned logs), else every log that has a
 * checkpoint; each with its latest checkpoint. Returns 0, or -1 after
 * replying. */
static int find_sections(struct http_request *req, struct db *db, struct sections *all)
{
	struct log_set asked = {0};
	const struct query *q = http_query(req);
	const char *pin = query_get(q, "pin");
	bool ranged = query_get(q, "from") || query_get(q, "to");
	int given = log_set_param(req, true, &asked), st = DB_OK;
	if (given < 0)
		return -1;
	if (given == LOG_SET_ABSENT && (ranged || (pin && !strchr(pin, ':')))) {
		given = 0;
		if (!(asked.ids = calloc(1, sizeof *asked.ids)))
			st = DB_ERR;
		asked.n = 1;
	}
	if (!st && given == LOG_SET_ABSENT)
		st = tree_checkpoints_latest(db, add_section, all);
	for (size_t i = 0; !st && i < asked.n; i++) {
		struct stored_checkpoint cp;
		st = tree_checkpoint(db, asked.ids[i], TREE_LATEST, 0, 0, &cp);
		if (!st && !cp.found) {
			free(cp.note);
			http_reply_error(req, log_set_ledger(http_app(req), asked.ids[i]) ? 503 : 404,
			                 "No checkpoint", "Log %u has no checkpoint signed yet.",
			                 (unsigned)asked.ids[i]);
			log_set_free(&asked);
			return -1;
		}
		if (!st)
			st = add_section(all, asked.ids[i], &cp);
		free(cp.note);
	}
	log_set_free(&asked);
	if (st) {
		http_reply_error(req, 503, "Service unavailable", "The audit log could not be read.");
		return -1;
	}
	if (!all->n) {
		http_reply_error(req, 503, "Service unavailable", "No checkpoint is signed yet.");
		return -1;
	}
	if (ranged && all->n > 1) {
		http_reply_param_error(req, "from", "Invalid range",
		                       "from and to are positions of one log: give one log.");
		return -1;
	}
	return 0;
}

void h_export(struct http_request *req)
{
	struct auditor *a = http_app(req);
	struct sections all = {0};
	struct log_set logs = {0};
	struct exporter x = {.a = a};
	if (!http_claims(req)->auditor) {
		http_reply_forbidden(req, "Exporting the log needs the auditor role.");
		return;
	}
	struct db *db = auditor_reader(req);
	if (!db || find_sections(req, db, &all))
		goto out;
	/* A log's positions retained away (retention.h) are in their bundles,
	 * not here: an export begins at the first kept one unless asked to
	 * begin before it, which gets 410 naming the bundle. */
	for (size_t i = 0; i < all.n; i++) {
		uint64_t kept;
		if (retention_end(db, all.s[i].log, &kept)) {
			http_reply_error(req, 503, "Service unavailable", "The audit log could not be read.");
			goto out;
		}
		all.s[i].from = kept < all.s[i].to ? kept : all.s[i].to;
	}
	if (all.n == 1) {
		long from, to;
		struct section *sec = &all.s[0];
		if (http_query_int(req, "from", 0, (long)sec->cp.size, (long)sec->from, &from) ||
		    http_query_int(req, "to", 0, (long)sec->cp.size, (long)sec->cp.size, &to))
			goto out;
		if (from > to && !query_get(http_query(req), "from"))
			from = 0; /* all of [0, to) was retained away: 410 below */
		if (from > to) {
			http_reply_param_error(req, "from", "Invalid range", "from must not be above to.");
			goto out;
		}
		struct retained gone;
		if (from < to && retention_find(db, sec->log, (uint64_t)from, &gone)) {
			http_reply_error(req, 503, "Service unavailable", "The audit log could not be read.");
			goto out;
		}
		if (from < to && gone.found) {
			retention_reply_gone(req, sec->log, (uint64_t)from, &gone);
			goto out;
		}
		sec->from = (uint64_t)from;
		sec->to = (uint64_t)to;
	}
	if (read_pins(req, db, &all))
		goto out;
	if (!(logs.ids = malloc(all.n * sizeof *logs.ids))) {
		http_reply_error(req, 503, "Service unavailable", "Out of memory.");
		goto out;
	}
	logs.n = all.n;
	/* Recorded before any is read, one record per log. */
	for (size_t i = 0; i < all.n; i++) {
		logs.ids[i] = all.s[i].log;
		if (reads_record_log(req, READS_LOG_EXPORT, all.s[i].log, NULL))
			goto out;
	}
	if (!(x.out = tmpfile())) {
		http_reply_error(req, 503, "Service unavailable", "The bundle could not be written.");
		goto out;
	}
	for (size_t i = 0; i < all.n; i++)
		if (write_section(req, db, &x, &all.s[i], &logs))
			goto out;
	long size = ftell(x.out);
	int fd = fflush(x.out) ? -1 : dup(fileno(x.out));
	if (fd < 0 || size < 0 || lseek(fd, 0, SEEK_SET)) {
		if (fd >= 0)
			close(fd);
		http_reply_error(req, 503, "Service unavailable", "The bundle could not be written.");
		goto out;
	}
	char disp[128];
	if (all.n == 1)
		snprintf(disp, sizeof disp,
		         "attachment; filename=\"auditlog-%u-%" PRIu64 "-%" PRIu64 ".ndjson\"",
		         (unsigned)all.s[0].log, all.s[0].from, all.s[0].to);
	else
		snprintf(disp, sizeof disp, "attachment; filename=\"auditlog-%zu-logs.ndjson\"", all.n);
	http_add_header(req, "Content-Disposition", disp);
	http_reply_fd(req, 200, "application/x-ndjson", fd, (uint64_t)size);
out:
	if (x.out)
		fclose(x.out);
	jcs_buf_free(&x.buf);
	log_set_free(&logs);
	sections_free(&all);
}
