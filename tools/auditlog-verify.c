/* auditlog-verify: checks an export bundle offline (docs/ledger.md "Export
 * bundles", "Checks"), with no network and no database.
 *
 *   auditlog-verify BUNDLE --vkey FILE [--pin CHECKPOINT_FILE]... [--json]
 *
 * A bundle of several logs is checked section by section, each as a bundle
 * of one log, and each --pin against the section of its log (its origin);
 * the failures then name their log.
 *
 * It reads the bundle one line at a time and keeps a Merkle frontier (at
 * most 64 hashes), the header and a bounded list of position gaps, so its
 * memory does not grow with the bundle. It checks: the checkpoint's
 * signature by the key and its origin; each event line (its members, its
 * values against their commitments, its leaf hash, its canonical form);
 * positions from..to-1 with none missing, repeated or out of order; the
 * root recomputed from the borders and the leaves against the signed one;
 * and with --pin, a checkpoint kept from earlier: signature, origin, size
 * no larger than the bundle's checkpoint, and the consistency proof.
 *
 * Output, as CloudTrail's validate-logs does: one "INVALID: <where>:
 * <reason>" line per failure, the range asked for and the range found,
 * "n/m events valid". Exit status 0 when everything checks, 1 when
 * something does not, 2 for a usage or I/O error. --json prints one JSON
 * object instead (failures streamed into its "failures" array). */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "bundle.h"
#include "merkle.h"
#include "note.h"

#define MAX_LINE (16u << 20) /* a longer line is refused, not read into memory */
#define MAX_GAPS 64          /* gaps remembered to tell "out of order" from "missing" */
#define H        MERKLE_HASH_LEN

static const char usage[] =
    "usage: auditlog-verify BUNDLE --vkey FILE [--pin CHECKPOINT_FILE]... [--json]\n"
    "  BUNDLE   an export bundle (GET /export), or - for standard input\n"
    "  --vkey   the logs' verifier key (GET /.well-known/auditlog-vkey)\n"
    "  --pin    a signed checkpoint kept from earlier (GET /checkpoint?log=N): the\n"
    "           bundle must prove its log is an extension of it; once per log\n"
    "  --json   one JSON object on standard output instead of text\n"
    "Exit status: 0 valid, 1 invalid, 2 usage or I/O error.\n";

/* ---- reporting ---- */

static int json_out;
static unsigned long long nfailures;
/* A bundle of several logs: each failure names the log of the section it
 * is in (in_log), or none (a line between sections, a pin of no log). */
static int spanning, in_log;
static uint32_t current_log;

/* One failure: where is "seq", "line", "checkpoint", "pin" or "section";
 * num is the seq or line number (ignored for the others). */
__attribute__((format(printf, 3, 4))) static void fail(const char *where, uint64_t num,
                                                       const char *fmt, ...)
{
	char reason[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	int numbered = !strcmp(where, "seq") || !strcmp(where, "line");
	int named = spanning && in_log;
	if (json_out) {
		json_t *o = numbered ? json_pack("{sIss}", where, (json_int_t)num, "reason", reason)
		                     : json_pack("{ssss}", "where", where, "reason", reason);
		if (o && named)
			json_object_set_new(o, "log", json_integer(current_log));
		char *s = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
		printf("%s%s", nfailures ? "," : "", s ? s : "{}");
		free(s);
		json_decref(o);
	} else {
		char log[32] = "";
		if (named)
			snprintf(log, sizeof log, "log %" PRIu32 ": ", current_log);
		if (numbered)
			printf("INVALID: %s%s %" PRIu64 ": %s\n", log, where, num, reason);
		else
			printf("INVALID: %s%s: %s\n", log, where, reason);
	}
	nfailures++;
}

static void hex8(const uint8_t *h, char out[17])
{
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* ---- input ---- */

static int read_file(const char *path, size_t max, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	int rc = -1;
	if (!f)
		goto out;
	if (!(buf = malloc(max + 1)))
		goto out;
	*len = fread(buf, 1, max + 1, f);
	if (ferror(f))
		goto out;
	if (*len > max) {
		errno = EFBIG;
		goto out;
	}
	buf[*len] = '\0';
	*out = buf;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	if (f)
		fclose(f);
	return rc;
}

#define IN_SIZE (1u << 20)

struct lines {
	FILE *f;
	char *in; /* IN_SIZE bytes read ahead */
	size_t pos, end;
	int eof;
	char *buf; /* a line that spans reads, MAX_LINE at most */
	size_t cap;
	uint64_t number; /* of the line last read, from 1 */
};

/* The next line, without its "\n", in *line (valid until the next call).
 * Returns 1 with *nl = whether it ended in "\n" and *too_long set when it
 * was longer than MAX_LINE: then reading stops there for good (the rest of
 * the input counts as absent), since a line that long is not a bundle's and
 * may never end (/dev/zero, an endless pipe). 0 at the end, -1 on a read
 * error or no memory (errno set). */
static int next_line(struct lines *r, const char **line, size_t *len, int *nl, int *too_long)
{
	size_t n = 0;
	int direct = 0;
	*too_long = 0;
	*nl = 0;
	if (!r->in && !(r->in = malloc(IN_SIZE)))
		return -1;
	for (;;) {
		if (r->pos == r->end) {
			if (r->eof)
				break;
			r->pos = 0;
			r->end = fread(r->in, 1, IN_SIZE, r->f);
			if (!r->end) {
				if (ferror(r->f))
					return -1;
				r->eof = 1;
				break;
			}
		}
		char *start = r->in + r->pos;
		char *p = memchr(start, '\n', r->end - r->pos);
		size_t chunk = p ? (size_t)(p - start) : r->end - r->pos;
		r->pos += chunk + (p != NULL);
		if (p && !n && !*too_long) { /* the whole line is in the read buffer */
			*line = start;
			n = chunk;
			direct = 1;
		} else if (!*too_long) {
			if (n + chunk > MAX_LINE) {
				*too_long = 1;
				r->eof = 1;
				r->pos = r->end;
				break;
			} else {
				if (n + chunk > r->cap) {
					size_t cap = r->cap ? r->cap : IN_SIZE;
					while (cap < n + chunk)
						cap *= 2;
					char *b = realloc(r->buf, cap);
					if (!b)
						return -1;
					r->buf = b;
					r->cap = cap;
				}
				memcpy(r->buf + n, start, chunk);
				n += chunk;
			}
		}
		if (p) {
			*nl = 1;
			break;
		}
	}
	if (!n && !*nl && !*too_long)
		return 0;
	r->number++;
	if (!direct)
		*line = r->buf ? r->buf : "";
	*len = *too_long ? 0 : n;
	return 1;
}

/* ---- positions ---- */

struct gap {
	uint64_t lo, hi; /* [lo, hi) not seen yet */
};
static struct gap gaps[MAX_GAPS];
static unsigned ngaps;

static void report_missing(struct gap g)
{
	if (g.hi - g.lo == 1)
		fail("seq", g.lo, "missing");
	else
		fail("seq", g.lo,
		     "missing (and the %" PRIu64 " positions after it, to seq %" PRIu64 ")",
		     g.hi - g.lo - 1, g.hi - 1);
}

static void add_gap(uint64_t lo, uint64_t hi)
{
	if (lo >= hi)
		return;
	if (ngaps == MAX_GAPS) { /* forget the oldest: it stays missing */
		report_missing(gaps[0]);
		memmove(gaps, gaps + 1, (MAX_GAPS - 1) * sizeof *gaps);
		ngaps--;
	}
	gaps[ngaps++] = (struct gap){lo, hi};
}

/* Takes s out of a remembered gap: 1 if it was in one. */
static int fill_gap(uint64_t s)
{
	for (unsigned i = 0; i < ngaps; i++)
		if (s >= gaps[i].lo && s < gaps[i].hi) {
			struct gap g = gaps[i];
			memmove(gaps + i, gaps + i + 1, (ngaps - i - 1) * sizeof *gaps);
			ngaps--;
			add_gap(g.lo, s);
			add_gap(s + 1, g.hi);
			return 1;
		}
	return 0;
}

/* Positions seen before their turn (a line displaced towards the start):
 * skipped over when the order reaches them. */
static uint64_t ahead[MAX_GAPS];
static unsigned nahead;

static int take_ahead(uint64_t s)
{
	for (unsigned i = 0; i < nahead; i++)
		if (ahead[i] == s) {
			ahead[i] = ahead[--nahead];
			return 1;
		}
	return 0;
}

static int is_ahead(uint64_t s)
{
	for (unsigned i = 0; i < nahead; i++)
		if (ahead[i] == s)
			return 1;
	return 0;
}

static void add_ahead(uint64_t s)
{
	if (nahead == MAX_GAPS) /* forget the oldest: it will read as repeated */
		memmove(ahead, ahead + 1, --nahead * sizeof *ahead);
	ahead[nahead++] = s;
}

/* ---- the checks ---- */

/* What one section (the whole bundle, for a bundle of one log) showed. */
struct result {
	int header_ok;
	uint64_t from, to;
	uint32_t log;
	char *origin;
	int cp_parsed, cp_signed;
	uint64_t cp_size;
	int root_checked, root_ok;
	int pin_given, pin_ok;
	uint64_t pin_size;
	uint64_t valid, lines;
	int found_any;
	uint64_t found_lo, found_hi;
	unsigned long long failures_before; /* nfailures when it began */
};

/* A pinned checkpoint (--pin), matched to the section of its origin. */
struct pin {
	const char *path;
	char *note;
	size_t len;
	char *origin; /* its text's first line, read unverified; NULL if none */
	int used;
};

/* The text of a signed note, whether or not its signature checks: up to
 * and including the newline before its last blank line. */
static size_t note_text_len(const char *note, size_t len)
{
	for (size_t i = len; i >= 2; i--)
		if (note[i - 1] == '\n' && note[i - 2] == '\n')
			return i - 1;
	return 0;
}

/* Verifies a signed checkpoint against v and parses its text into cp.
 * where is "checkpoint" or "pin". Returns 1 if signed and parsed, 0 if
 * only parsed (a failure was reported), -1 if not even parsed. */
static int open_checkpoint(const char *where, const char *note, size_t len, const note_verifier *v,
                           const char *origin, struct note_checkpoint *cp)
{
	const char *why = NULL;
	size_t text_len = 0;
	int st = note_verify(note, len, &v, 1, &text_len, NULL, &why);
	if (st != NOTE_OK)
		text_len = note_text_len(note, len);
	const char *pwhy = NULL;
	int parsed = text_len && note_checkpoint_parse(note, text_len, cp, &pwhy) == NOTE_OK;
	char id[9];
	snprintf(id, sizeof id, "%08" PRIx32, note_verifier_key_id(v));
	switch (st) {
	case NOTE_OK:
		break;
	case NOTE_EBADSIG:
		fail(where, 0, "bad signature: the note's signature by %s+%s does not verify",
		     note_verifier_name(v), id);
		break;
	case NOTE_EUNVERIFIED:
		if (parsed && origin && strcmp(cp->origin, origin))
			fail(where, 0,
			     "a checkpoint of another log (origin \"%.200s\", not \"%.200s\"), "
			     "not signed by the key %s+%s",
			     cp->origin, origin, note_verifier_name(v), id);
		else
			fail(where, 0, "unknown key: not signed by the key %s+%s",
			     note_verifier_name(v), id);
		break;
	case NOTE_EMALFORMED:
		fail(where, 0, "not a signed note: %s", why ? why : "malformed");
		break;
	default:
		fail(where, 0, "cannot be verified: %s", note_status_string(st));
	}
	if (!parsed) {
		if (st == NOTE_OK)
			fail(where, 0, "not a checkpoint: %s", pwhy ? pwhy : "malformed");
		return -1;
	}
	if (st == NOTE_OK && origin && strcmp(cp->origin, origin)) {
		fail(where, 0, "origin \"%.200s\" is not the bundle's origin \"%.200s\"%s",
		     cp->origin, origin,
		     !strcmp(where, "pin") ? " (a checkpoint of another log)" : "");
		return 0;
	}
	return st == NOTE_OK;
}

/* One section being read: its header, its checkpoint, the tree so far and
 * where the positions are. */
struct section {
	struct bundle_head h;
	struct note_checkpoint cp;
	int cp_st, tree_ok;
	struct merkle_frontier f;
	uint64_t expected, prev_seq, placed_seq;
	int placed_ok;
	struct {
		int held, ok;
		uint64_t seq, line;
	} hold;
	struct result res;
};

/* A pin against the section: signature, origin, size, the bundle's
 * consistency proof from it. */
static void check_pin(struct section *s, const struct pin *p, const note_verifier *v)
{
	struct note_checkpoint pin = {0};
	struct result *res = &s->res;
	const struct bundle_head *h = &s->h;
	res->pin_given = 1;
	int pin_st = open_checkpoint("pin", p->note, p->len, v, h->origin, &pin);
	if (pin_st >= 0)
		res->pin_size = pin.size;
	if (pin_st == 1 && s->cp_st >= 0) {
		char a[17], b[17];
		if (pin.size > s->cp.size) {
			fail("pin", 0,
			     "size %" PRIu64 " is larger than the checkpoint's size %" PRIu64
			     ": the log was rolled back or truncated since the pin",
			     pin.size, s->cp.size);
		} else if (!h->has_pin) {
			fail("pin", 0,
			     "the bundle has no consistency proof (export it with pin=%s%" PRIu64 ")",
			     spanning ? "<log>:" : "", pin.size);
		} else if (h->pin_size != pin.size) {
			fail("pin", 0,
			     "the bundle's consistency proof is from size %" PRIu64
			     ", not from the pinned size %" PRIu64,
			     h->pin_size, pin.size);
		} else if (merkle_consistency_verify(pin.size, s->cp.size, pin.root, s->cp.root,
		                                     (const uint8_t(*)[H])h->consistency,
		                                     h->nconsistency)) {
			hex8(pin.root, a);
			hex8(s->cp.root, b);
			fail("pin", 0,
			     "bad consistency proof: the tree of size %" PRIu64 " (root %s…) is not "
			     "shown to extend the pinned tree of size %" PRIu64 " (root %s…)",
			     s->cp.size, b, pin.size, a);
		} else {
			res->pin_ok = 1;
		}
	}
	note_checkpoint_clear(&pin);
}

/* Starts a section with its parsed header h (taken: s owns it now): the
 * checkpoint, the right border's count it implies, and the pins of its
 * log (every pin, in a bundle of one log). Returns 0, or -1 out of memory. */
static int section_begin(struct section *s, struct bundle_head *h, struct pin *pins,
                         size_t npins, const note_verifier *v)
{
	memset(s, 0, sizeof *s);
	s->h = *h;
	memset(h, 0, sizeof *h);
	h = &s->h;
	ngaps = nahead = 0;
	current_log = h->log;
	in_log = 1;
	s->res.failures_before = nfailures;
	s->res.header_ok = 1;
	s->res.from = h->from;
	s->res.to = h->to;
	s->res.log = h->log;
	if (!(s->res.origin = strdup(h->origin)))
		return -1;
	s->tree_ok = 1;
	s->cp_st = open_checkpoint("checkpoint", h->checkpoint, h->checkpoint_len, v, h->origin,
	                           &s->cp);
	s->res.cp_parsed = s->cp_st >= 0;
	s->res.cp_signed = s->cp_st == 1;
	if (s->cp_st >= 0) {
		s->res.cp_size = s->cp.size;
		if (s->cp.size < h->to) {
			fail("checkpoint", 0,
			     "size %" PRIu64 " is smaller than the end of the range %" PRIu64,
			     s->cp.size, h->to);
			s->tree_ok = 0;
		} else if (h->nright != merkle_border_right_count(h->to, s->cp.size)) {
			fail("checkpoint", 0,
			     "the right border has %u hashes; [%" PRIu64 ", %" PRIu64 ") needs %u",
			     h->nright, h->to, s->cp.size, merkle_border_right_count(h->to, s->cp.size));
			s->tree_ok = 0;
		}
	} else {
		s->tree_ok = 0;
	}
	for (size_t i = 0; i < npins; i++)
		if (!spanning || (pins[i].origin && !strcmp(pins[i].origin, h->origin))) {
			pins[i].used = 1;
			check_pin(s, &pins[i], v);
		}
	if (merkle_frontier_restore(&s->f, h->from, (const uint8_t(*)[H])h->left, h->nleft))
		s->tree_ok = 0; /* bundle_header_parse checked the count: cannot happen */
	s->expected = h->from;
	s->placed_seq = UINT64_MAX;
	return 0;
}

/* One event line of the section (line number ln). Order: a line whose seq
 * is the next expected is appended to the tree. A line that jumps ahead is
 * held for one line: if the next one follows it, positions were missing
 * before it (a gap, remembered so that a late arrival reads as out of
 * order rather than missing); if not, the held line alone was displaced
 * (out of order, remembered as ahead). Returns 0, or -1 out of memory. */
static int section_line(struct section *s, struct bundle_reader *reader, const char *line,
                        size_t len, uint64_t ln)
{
	struct bundle_line bl;
	struct result *res = &s->res;
	const struct bundle_head *h = &s->h;
	res->lines++;
	int st = bundle_event_check(reader, line, len, &bl);
	if (st == BUNDLE_ENOMEM || st == BUNDLE_ECRYPTO)
		return -1;
	if (!bl.has_seq) {
		fail("line", ln, "%s", bl.why);
		s->tree_ok = 0;
		return 0;
	}
	uint64_t q = bl.seq;
	if (!res->found_any || q < res->found_lo)
		res->found_lo = q;
	if (!res->found_any || q > res->found_hi)
		res->found_hi = q;
	res->found_any = 1;
	int ok = st == BUNDLE_OK;
	if (st)
		fail("seq", q, "%s", bl.why);
	if (bl.log != h->log) {
		fail("seq", q, "log %" PRIu32 " is not the bundle's log %" PRIu32, bl.log, h->log);
		ok = 0;
	}
	if (s->hold.held) {
		s->hold.held = 0;
		if (q == s->hold.seq + 1) { /* a real jump: positions missing before it */
			add_gap(s->expected, s->hold.seq);
			s->expected = s->hold.seq + 1;
			res->valid += (uint64_t)s->hold.ok;
		} else {
			fail("seq", s->hold.seq,
			     "out of order (line %" PRIu64 ", where seq %" PRIu64 " belongs)",
			     s->hold.line, s->expected);
			add_ahead(s->hold.seq);
		}
	}
	if (q < h->from || q >= h->to) {
		fail("seq", q, "outside the range [%" PRIu64 ", %" PRIu64 ") of the bundle", h->from,
		     h->to);
		s->tree_ok = 0;
	} else if (q == s->expected) {
		if (s->tree_ok && bl.has_leaf) {
			if (merkle_frontier_append(&s->f, bl.leaf))
				return -1;
		} else {
			s->tree_ok = 0;
		}
		res->valid += (uint64_t)ok;
		s->placed_seq = q;
		s->placed_ok = ok;
		s->expected = q + 1;
		while (take_ahead(s->expected))
			s->expected++;
	} else if (q > s->expected && !is_ahead(q)) {
		s->tree_ok = 0;
		s->hold.held = 1;
		s->hold.seq = q;
		s->hold.line = ln;
		s->hold.ok = ok;
	} else if (q < s->expected && fill_gap(q)) {
		fail("seq", q, "out of order (line %" PRIu64 ", after seq %" PRIu64 ")", ln,
		     s->prev_seq);
		s->tree_ok = 0;
	} else {
		fail("seq", q, "repeated (line %" PRIu64 ")", ln);
		s->tree_ok = 0;
		if (q == s->placed_seq && s->placed_ok) { /* the position has two lines */
			res->valid--;
			s->placed_ok = 0;
		}
	}
	s->prev_seq = q;
	return 0;
}

/* Ends the section: what is missing, and the root from the borders and the
 * slice. Returns 0, or -1 out of memory. */
static int section_end(struct section *s)
{
	const struct bundle_head *h = &s->h;
	if (s->hold.held) {
		add_gap(s->expected, s->hold.seq);
		s->expected = s->hold.seq + 1;
		s->res.valid += (uint64_t)s->hold.ok;
	}
	for (unsigned i = 0; i < ngaps; i++)
		report_missing(gaps[i]);
	if (s->expected < h->to) {
		report_missing((struct gap){s->expected, h->to});
		s->tree_ok = 0;
	}
	if (s->cp_st >= 0 && s->tree_ok) {
		uint8_t root[H];
		int ms = merkle_border_finish(&s->f, s->cp.size, (const uint8_t(*)[H])h->right,
		                              h->nright, root);
		s->res.root_checked = 1;
		if (ms == MERKLE_ECRYPTO)
			return -1;
		if (ms || memcmp(root, s->cp.root, H)) {
			char a[17], b[17];
			hex8(root, a);
			hex8(s->cp.root, b);
			fail("checkpoint", 0,
			     "root mismatch: the leaves of [%" PRIu64 ", %" PRIu64 ") with the borders "
			     "give %s…, the checkpoint of size %" PRIu64 " signs %s…",
			     h->from, h->to, a, s->cp.size, b);
		} else {
			s->res.root_ok = 1;
		}
	} else if (s->cp_st >= 0) {
		fail("checkpoint", 0,
		     "root not recomputed: the slice's leaves are not the positions %" PRIu64
		     " to %" PRIu64 " in order",
		     h->from, h->to ? h->to - 1 : 0);
	}
	return 0;
}

static void section_clear(struct section *s)
{
	bundle_head_clear(&s->h);
	note_checkpoint_clear(&s->cp);
	free(s->res.origin);
	s->res.origin = NULL;
}

/* ---- the summary ---- */

/* The JSON object of a section's result (valid: its own, in a bundle of
 * several logs; the whole bundle's otherwise). */
static json_t *result_json(const struct result *r, int valid)
{
	uint64_t m = r->header_ok ? r->to - r->from : 0;
	json_t *o = json_object();
	json_object_set_new(o, "valid", json_boolean(valid));
	if (r->header_ok) {
		json_object_set_new(o, "log", json_integer(r->log));
		json_object_set_new(o, "origin", json_string(r->origin));
		json_object_set_new(o, "requested", json_pack("{sIsI}", "from", (json_int_t)r->from,
		                                              "to", (json_int_t)r->to));
	}
	json_object_set_new(o, "found",
	                    r->found_any
	                        ? json_pack("{sIsIsI}", "from", (json_int_t)r->found_lo, "to",
	                                    (json_int_t)r->found_hi + 1, "lines",
	                                    (json_int_t)r->lines)
	                        : json_pack("{sI}", "lines", (json_int_t)r->lines));
	json_object_set_new(o, "events",
	                    json_pack("{sIsI}", "valid", (json_int_t)r->valid, "total", (json_int_t)m));
	if (r->cp_parsed)
		json_object_set_new(o, "checkpoint",
		                    json_pack("{sIsbso}", "size", (json_int_t)r->cp_size, "signature",
		                              r->cp_signed, "root",
		                              r->root_checked ? json_boolean(r->root_ok) : json_null()));
	if (r->pin_given)
		json_object_set_new(o, "pin", json_pack("{sIsb}", "size", (json_int_t)r->pin_size,
		                                        "consistent", r->pin_ok));
	return o;
}

static void print_result(const struct result *r)
{
	uint64_t m = r->header_ok ? r->to - r->from : 0;
	if (r->header_ok) {
		if (m)
			printf("Results requested for seq %" PRIu64 " to %" PRIu64 " (%" PRIu64
			       " events)\n",
			       r->from, r->to - 1, m);
		else
			printf("Results requested for no events (from = to = %" PRIu64 ")\n", r->from);
	}
	if (r->found_any)
		printf("Results found for seq %" PRIu64 " to %" PRIu64 " (%" PRIu64 " event lines)\n",
		       r->found_lo, r->found_hi, r->lines);
	else
		printf("Results found: no events (%" PRIu64 " lines)\n", r->lines);
	if (r->cp_parsed)
		printf("Checkpoint of size %" PRIu64 ": signature %s, root %s\n", r->cp_size,
		       r->cp_signed ? "valid" : "INVALID",
		       r->root_ok        ? "valid"
		       : r->root_checked ? "INVALID"
		                         : "not checked");
	if (r->pin_given)
		printf("Pinned checkpoint of size %" PRIu64 ": %s\n", r->pin_size,
		       r->pin_ok ? "consistent" : "INVALID");
	printf("%" PRIu64 "/%" PRIu64 " events valid\n", r->valid, m);
}

/* What the whole bundle showed: its sections' results (a bundle of one
 * log: one), and for a bundle of several logs the list its headers give. */
struct outcome {
	struct result one; /* a bundle of one log (or an unreadable first line) */
	json_t *sections;  /* --json, several logs: each section's object */
	uint32_t *logs;    /* several logs: the first header's list */
	size_t nlogs, next; /* ... and the index of the next section expected */
	unsigned long long logs_valid;
	size_t pins_unused; /* --pin files no section took (each a failure) */
};

/* A section read to its end: summarized (several logs: as it ends). */
static void section_done(struct outcome *o, struct section *s)
{
	if (!spanning) {
		o->one = s->res;
		s->res.origin = NULL; /* o->one owns it now */
		return;
	}
	int valid = nfailures == s->res.failures_before;
	o->logs_valid += (unsigned long long)valid;
	if (json_out)
		json_array_append_new(o->sections, result_json(&s->res, valid));
	else
		print_result(&s->res);
}

/* Where a new section's header (line ln) stands in the list of the
 * bundle's logs: its log must be one of them, after the previous section's,
 * and its list the first header's. The logs it skips are reported missing.
 * Returns 1 when it is a section to read, 0 when it is not (reported). */
static int place_section(struct outcome *o, const struct bundle_head *h, uint64_t ln)
{
	in_log = 0;
	if (h->nlogs != o->nlogs || memcmp(h->logs, o->logs, o->nlogs * sizeof *o->logs)) {
		fail("line", ln, "the header of log %" PRIu32 " lists other logs than the first header",
		     h->log);
		return 0;
	}
	size_t k = 0;
	while (k < o->nlogs && o->logs[k] != h->log)
		k++;
	if (k < o->next) {
		fail("line", ln, "a second section of log %" PRIu32 " (or one out of order)", h->log);
		return 0;
	}
	in_log = 1;
	for (; o->next < k; o->next++) {
		current_log = o->logs[o->next];
		fail("section", 0, "missing: the bundle has no section of this log");
	}
	o->next = k + 1;
	return 1;
}

static int verify(const char *bundle_path, const note_verifier *v, struct pin *pins, size_t npins,
                  struct outcome *o)
{
	struct lines in = {0};
	struct bundle_head h;
	struct bundle_reader *reader = NULL;
	struct section s;
	int rc = 2, open = 0, skipping = 0;
	const char *line;
	size_t len;
	int nl, too_long, got;
	char why[BUNDLE_WHY_LEN];

	memset(&h, 0, sizeof h);
	memset(&s, 0, sizeof s);
	in.f = strcmp(bundle_path, "-") ? fopen(bundle_path, "rb") : stdin;
	if (!in.f) {
		fprintf(stderr, "auditlog-verify: %s: %s\n", bundle_path, strerror(errno));
		goto out;
	}
	if (bundle_reader_new(&reader))
		goto nomem;

	/* The first header says whether the bundle spans logs. */
	got = next_line(&in, &line, &len, &nl, &too_long);
	if (got < 0)
		goto ioerr;
	if (got == 0) {
		fail("line", 1, "the bundle is empty (no header line)");
		rc = 1;
		goto out;
	}
	int st = too_long ? BUNDLE_EFORMAT : bundle_header_parse(line, len, &h, why);
	if (st == BUNDLE_ENOMEM)
		goto nomem;
	if (st) {
		fail("line", 1, "not a bundle header: %s", too_long ? "line too long" : why);
		rc = 1;
		goto out;
	}
	if (!nl)
		fail("line", 1, "no final newline");
	if (h.nlogs) {
		spanning = 1;
		if (!(o->logs = malloc(h.nlogs * sizeof *o->logs)) ||
		    (json_out && !(o->sections = json_array())))
			goto nomem;
		memcpy(o->logs, h.logs, h.nlogs * sizeof *o->logs);
		o->nlogs = h.nlogs;
		place_section(o, &h, 1); /* the first: in its own list */
	}
	if (spanning && !json_out)
		printf("Log %" PRIu32 " (%s)\n", h.log, h.origin);
	if (section_begin(&s, &h, pins, npins, v))
		goto nomem;
	open = 1;

	while ((got = next_line(&in, &line, &len, &nl, &too_long)) > 0) {
		uint64_t ln = in.number;
		if (too_long) {
			fail("line", ln, "longer than %u bytes: not read", MAX_LINE);
			s.tree_ok = 0;
			continue;
		}
		if (!nl)
			fail("line", ln, "no final newline (a truncated bundle?)");
		if (!len) {
			fail("line", ln, "empty line");
			continue;
		}
		if (bundle_line_is_header(line, len)) {
			if (!spanning) {
				fail("line", ln, "a second header: a bundle of one log has one");
				continue;
			}
			if (open) {
				if (section_end(&s))
					goto nomem;
				section_done(o, &s);
				section_clear(&s);
				open = 0;
			}
			in_log = 0;
			st = bundle_header_parse(line, len, &h, why);
			if (st == BUNDLE_ENOMEM)
				goto nomem;
			/* A section whose header is unreadable is skipped to the next
			 * header: its log reads as missing. */
			skipping = st || !place_section(o, &h, ln);
			if (st)
				fail("line", ln, "not a bundle header: %s", why);
			if (skipping) {
				bundle_head_clear(&h);
				continue;
			}
			if (!json_out)
				printf("Log %" PRIu32 " (%s)\n", h.log, h.origin);
			if (section_begin(&s, &h, pins, npins, v))
				goto nomem;
			open = 1;
			continue;
		}
		if (skipping)
			continue;
		if (section_line(&s, reader, line, len, ln))
			goto nomem;
	}
	if (got < 0)
		goto ioerr;
	if (open) {
		if (section_end(&s))
			goto nomem;
		section_done(o, &s);
	}
	/* The logs after the last section, and the pins no section took. */
	in_log = 1;
	for (; spanning && o->next < o->nlogs; o->next++) {
		current_log = o->logs[o->next];
		fail("section", 0, "missing: the bundle has no section of this log");
	}
	in_log = 0;
	for (size_t i = 0; spanning && i < npins; i++)
		if (!pins[i].used && ++o->pins_unused)
			fail("pin", 0, "%s: %s", pins[i].path,
			     pins[i].origin ? "its origin is none of the bundle's logs' (a checkpoint "
			                      "of another log)"
			                    : "not a checkpoint");
	rc = nfailures ? 1 : 0;
	goto out;
nomem:
	fprintf(stderr, "auditlog-verify: out of memory\n");
	rc = 2;
	goto out;
ioerr:
	fprintf(stderr, "auditlog-verify: %s: %s\n", bundle_path, strerror(errno));
	rc = 2;
out:
	if (in.f && in.f != stdin)
		fclose(in.f);
	free(in.buf);
	free(in.in);
	bundle_reader_free(reader);
	bundle_head_clear(&h);
	section_clear(&s);
	return rc;
}

static void print_summary(struct outcome *o, int rc)
{
	if (json_out) {
		json_t *j;
		if (spanning) {
			json_t *logs = json_array();
			for (size_t i = 0; logs && i < o->nlogs; i++)
				json_array_append_new(logs, json_integer(o->logs[i]));
			j = json_pack("{sbsoso}", "valid", rc == 0, "logs", logs ? logs : json_null(),
			              "sections", o->sections ? o->sections : json_array());
			o->sections = NULL;
		} else {
			j = result_json(&o->one, rc == 0);
		}
		char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
		/* The failures were streamed as the object's first member. */
		printf("],%s\n", s ? s + 1 : "\"error\":\"out of memory\"}");
		free(s);
		json_decref(j);
		return;
	}
	if (!spanning)
		print_result(&o->one);
	else if (rc == 0)
		printf("%zu logs: all valid\n", o->nlogs);
	else if (o->pins_unused)
		printf("%zu logs: %llu valid, %zu INVALID; %zu pin%s of none of them: INVALID\n",
		       o->nlogs, o->logs_valid, o->nlogs - (size_t)o->logs_valid, o->pins_unused,
		       o->pins_unused == 1 ? "" : "s");
	else
		printf("%zu logs: %llu valid, %zu INVALID\n", o->nlogs, o->logs_valid,
		       o->nlogs - (size_t)o->logs_valid);
}

/* Reads each --pin file, and the origin its text names (unverified: it
 * only picks the section the pin is checked against). Returns 0, or 2
 * after saying why (I/O, two pins of one origin). */
static int read_pins(struct pin *pins, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct note_checkpoint cp = {0};
		if (read_file(pins[i].path, NOTE_MAX_LEN, &pins[i].note, &pins[i].len)) {
			fprintf(stderr, "auditlog-verify: %s: %s\n", pins[i].path, strerror(errno));
			return 2;
		}
		size_t text = note_text_len(pins[i].note, pins[i].len);
		if (text && note_checkpoint_parse(pins[i].note, text, &cp, NULL) == NOTE_OK) {
			pins[i].origin = cp.origin;
			cp.origin = NULL;
		}
		note_checkpoint_clear(&cp);
		for (size_t k = 0; pins[i].origin && k < i; k++)
			if (pins[k].origin && !strcmp(pins[k].origin, pins[i].origin)) {
				fprintf(stderr, "auditlog-verify: %s and %s: two pins of the log %s\n",
				        pins[k].path, pins[i].path, pins[i].origin);
				return 2;
			}
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *bundle = NULL, *vkey_path = NULL;
	char *vkey = NULL;
	size_t vkey_len = 0, npins = 0;
	struct pin *pins = calloc((size_t)argc, sizeof *pins);
	note_verifier *v = NULL;
	struct outcome o = {0};
	int rc = 2;

	if (!pins) {
		fprintf(stderr, "auditlog-verify: out of memory\n");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json_out = 1;
		} else if (!strcmp(argv[i], "--vkey") && i + 1 < argc) {
			vkey_path = argv[++i];
		} else if (!strcmp(argv[i], "--pin") && i + 1 < argc) {
			pins[npins++].path = argv[++i];
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage, stdout);
			rc = 0;
			goto out;
		} else if ((argv[i][0] != '-' || !strcmp(argv[i], "-")) && !bundle) {
			bundle = argv[i];
		} else {
			fprintf(stderr, "auditlog-verify: unexpected argument '%s'\n%s", argv[i],
			        usage);
			goto out;
		}
	}
	if (!bundle || !vkey_path) {
		fputs(usage, stderr);
		goto out;
	}
	if (read_file(vkey_path, 4096, &vkey, &vkey_len)) {
		fprintf(stderr, "auditlog-verify: %s: %s\n", vkey_path, strerror(errno));
		goto out;
	}
	while (vkey_len && (vkey[vkey_len - 1] == '\n' || vkey[vkey_len - 1] == '\r'))
		vkey[--vkey_len] = '\0';
	const char *why = NULL;
	if (note_verifier_from_string(vkey, &v, &why)) {
		fprintf(stderr, "auditlog-verify: %s: not a verifier key: %s\n", vkey_path,
		        why ? why : "malformed");
		goto out;
	}
	if (read_pins(pins, npins))
		goto out;
	if (json_out)
		printf("{\"failures\":[");
	else
		printf("Validating bundle %s with the key %s+%08" PRIx32 "\n", bundle,
		       note_verifier_name(v), note_verifier_key_id(v));
	rc = verify(bundle, v, pins, npins, &o);
	if (rc != 2)
		print_summary(&o, rc);
	else if (json_out)
		printf("],\"valid\":false,\"error\":\"I/O error\"}\n");
out:
	free(vkey);
	for (size_t i = 0; i < npins; i++) {
		free(pins[i].note);
		free(pins[i].origin);
	}
	free(pins);
	free(o.one.origin);
	free(o.logs);
	json_decref(o.sections);
	note_verifier_free(v);
	return rc;
}
