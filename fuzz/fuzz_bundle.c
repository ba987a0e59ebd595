/* fuzz_bundle: the line parsers of an export bundle (bundle.h), and the
 * writer and reader against each other.
 *
 * The whole input is given to bundle_header_parse and to
 * bundle_event_check as one line. Then it is split at NUL bytes into an
 * event: action, actorId, actorType, id, targetId, targetType, eventName
 * (an empty piece: absent), then triples field, prev value JSON, next value
 * JSON (a value "!" is erased); the harness commits to the values and
 * hashes the leaf itself (leaf.h), bundle_event_write writes the line, and
 * bundle_event_check must accept it.
 *
 * The input is also split at newlines, as a bundle's lines are (one that
 * spans logs has a header line per section): each line is classified as
 * the verifier does (bundle_line_is_header) and parsed as what it claims.
 *
 * Invariants: statuses in range, a refusal has a reason; a header that
 * parses (a spanning bundle's too, with its "logs") is written back byte
 * for byte by bundle_header_write and is classified a header; a line
 * classified a header is never an accepted event line; an event line that
 * checks has a seq, log and leaf; a line the writer writes checks
 * BUNDLE_OK with the same seq, log and leaf and is not classified a
 * header. */
#include <stdint.h>
#include <string.h>

#include "bundle.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXF 8

static void parsers(const char *line, size_t len, struct bundle_reader *r)
{
	struct bundle_head h;
	char why[BUNDLE_WHY_LEN] = "";
	int st = bundle_header_parse(line, len, &h, why);
	FUZZ_CHECK(st <= 0 && st >= BUNDLE_ECRYPTO, "header status %d", st);
	FUZZ_CHECK(st == BUNDLE_OK || st == BUNDLE_ENOMEM || why[0],
	           "header refusal without reason");
	if (st == BUNDLE_OK) {
		FUZZ_CHECK(bundle_line_is_header(line, len), "a parsed header is not classified one");
		FUZZ_CHECK(!h.nlogs || (h.nlogs >= 2 && h.logs), "a spanning header without its logs");
		struct bundle_header view = {.log = h.log,
		                             .logs = h.logs,
		                             .nlogs = h.nlogs,
		                             .origin = h.origin,
		                             .from = h.from,
		                             .to = h.to,
		                             .checkpoint = h.checkpoint,
		                             .checkpoint_len = h.checkpoint_len,
		                             .left = (const uint8_t(*)[32])h.left,
		                             .nleft = h.nleft,
		                             .right = (const uint8_t(*)[32])h.right,
		                             .nright = h.nright,
		                             .has_pin = h.has_pin,
		                             .pin_size = h.pin_size,
		                             .consistency = (const uint8_t(*)[32])h.consistency,
		                             .nconsistency = h.nconsistency};
		struct jcs_buf b = {0};
		FUZZ_CHECK(bundle_header_write(&view, &b) == LEAF_OK, "header write");
		FUZZ_CHECK(b.len == len + 1 && !memcmp(b.data, line, len) && b.data[len] == '\n',
		           "a parsed header is not written back byte for byte");
		jcs_buf_free(&b);
		bundle_head_clear(&h);
	}

	struct bundle_line bl;
	st = bundle_event_check(r, line, len, &bl);
	FUZZ_CHECK(st <= 0 && st >= BUNDLE_ECRYPTO, "event status %d", st);
	FUZZ_CHECK(st == BUNDLE_OK || st == BUNDLE_ENOMEM || bl.why[0],
	           "event refusal without reason");
	FUZZ_CHECK(st != BUNDLE_OK || (bl.has_seq && bl.has_leaf),
	           "an accepted line without seq/leaf");
	FUZZ_CHECK(st != BUNDLE_OK || !bundle_line_is_header(line, len),
	           "an accepted event line is classified a header");
}

/* The input as a bundle's lines: each parsed as what it is classified. */
static void lines(const char *in, size_t size, struct bundle_reader *r)
{
	if (!memchr(in, '\n', size))
		return; /* one line: parsed as a whole already */
	size_t start = 0;
	for (size_t i = 0; i <= size; i++)
		if (i == size || in[i] == '\n') {
			if (i > start)
				parsers(in + start, i - start, r);
			start = i + 1;
		}
}

/* The value of a piece as the writer reads it: jansson integers first,
 * then every number a double. */
static json_t *load_value(const char *s, size_t n)
{
	json_t *v = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (!v)
		v = json_loadb(s, n,
		               JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL |
		                   JSON_REJECT_DUPLICATES,
		               NULL);
	return v;
}

static void round_trip(const char *in, size_t size, struct bundle_reader *r)
{
	const char *piece[7 + 3 * MAXF];
	size_t plen[7 + 3 * MAXF], n = 0, start = 0;
	for (size_t i = 0; i <= size && n < 7 + 3 * MAXF; i++)
		if (i == size || in[i] == '\0') {
			piece[n] = in + start;
			plen[n++] = i - start;
			start = i + 1;
		}
	if (n < 7)
		return;
	size_t nf = (n - 7) / 3;
	struct leaf_change ch[MAXF];
	struct bundle_field bf[MAXF];
	json_t *vals[2 * MAXF] = {0};
	struct jcs_buf scratch = {0}, line = {0};
	memset(bf, 0, sizeof bf);
	for (size_t i = 0; i < nf; i++) {
		const char *name = piece[7 + 3 * i];
		if (i && strcmp(ch[i - 1].field, name) >= 0)
			goto out; /* the writer's contract: strictly ascending */
		ch[i].field = bf[i].field = name;
		for (int k = 0; k < 2; k++) {
			size_t p = 7 + 3 * i + 1 + (size_t)k;
			struct bundle_side *s = k ? &bf[i].next : &bf[i].prev;
			uint8_t *c = k ? ch[i].next : ch[i].prev;
			for (int j = 0; j < LEAF_SALT_LEN; j++)
				s->salt[j] = (uint8_t)(i * 31 + (size_t)k * 7 + (size_t)j);
			if (plen[p] == 1 && piece[p][0] == '!') {
				s->erased = 1;
				memset(s->commitment, (int)(i + 1), LEAF_COMMITMENT_LEN);
				memcpy(c, s->commitment, LEAF_COMMITMENT_LEN);
				continue;
			}
			s->value_json = piece[p];
			s->value_len = plen[p];
			if (!(vals[2 * i + (size_t)k] = load_value(piece[p], plen[p])) ||
			    leaf_commit(s->salt, vals[2 * i + (size_t)k], &scratch, c))
				goto out;
		}
	}
	struct leaf_event e = {.log = (uint32_t)size,
	                       .seq = size * 977,
	                       .action = piece[0],
	                       .actor_id = piece[1],
	                       .actor_type = piece[2],
	                       .id = piece[3],
	                       .target_id = piece[4],
	                       .target_type = piece[5],
	                       .event_name = plen[6] ? piece[6] : NULL,
	                       .timestamp = -(int64_t)size,
	                       .target_version = (int64_t)(size % 3),
	                       .changes = ch,
	                       .nchanges = nf};
	uint8_t leaf[LEAF_HASH_LEN];
	if (leaf_hash(&e, &scratch, leaf))
		goto out;
	int st = bundle_event_write(&e, bf, nf, leaf, &line);
	FUZZ_CHECK(st == LEAF_OK, "the writer refused an event whose leaf hashes: %d", st);
	FUZZ_CHECK(line.len && line.data[line.len - 1] == '\n', "no final newline");
	FUZZ_CHECK(!memchr(line.data, '\n', line.len - 1), "a newline inside the line");
	struct bundle_line bl;
	st = bundle_event_check(r, line.data, line.len - 1, &bl);
	FUZZ_CHECK(st == BUNDLE_OK, "a written line is refused (%d): %s\n  %.*s", st, bl.why,
	           (int)line.len, line.data);
	FUZZ_CHECK(!bundle_line_is_header(line.data, line.len - 1), "an event line reads as a header");
	FUZZ_CHECK(bl.seq == e.seq && bl.log == e.log && !memcmp(bl.leaf, leaf, LEAF_HASH_LEN),
	           "seq, log or leaf read back differ");
out:
	for (size_t i = 0; i < 2 * MAXF; i++)
		json_decref(vals[i]);
	jcs_buf_free(&scratch);
	jcs_buf_free(&line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = fuzz_cstr(data, size);
	struct bundle_reader *r = NULL;
	FUZZ_CHECK(bundle_reader_new(&r) == BUNDLE_OK, "reader");
	parsers(in, size, r);
	lines(in, size, r);
	round_trip(in, size, r);
	bundle_reader_free(r);
	free(in);
	return 0;
}
