/* bundlegen: builds a real export bundle for tests and benchmarks, with the
 * modules the auditor uses (leaf, merkle, note, bundle), and the files a
 * verifier is run with.
 *
 *   bundlegen DIR --size S [--from M] [--to N] [--pin K] [--seed X]
 *                 [--erase E] [--pin-ahead D] [--logs L]
 *
 * A log of S events (position i is generated from the seed and i alone:
 * about 70% views without changes, 30% changes of 1 to 3 fields with
 * values of every JSON type) is hashed into its tree; a fresh Ed25519 key
 * named audit.example.com/log/0 signs the checkpoint of size S. Written
 * into DIR (which must exist):
 *   bundle.ndjson  the header and the events of [M, N) (default [0, S)),
 *                  with the consistency proof from K when --pin K;
 *   vkey           the log's verifier key;
 *   other.vkey     another key with the same name (the wrong key);
 *   pin.cp         the checkpoint of size K signed by the log's key (--pin);
 *   other-pin.cp   a checkpoint of another log (origin .../log/1, its own
 *                  key) of size S;
 *   ahead-pin.cp   with --pin-ahead D: a checkpoint of size S + D of the
 *                  same log (its events D more), signed by the log's key:
 *                  a pin taken before the log was rolled back to S.
 * With --erase E, every E-th side of a change (counting over the log) is
 * exported erased. With --logs L (2 or more), a bundle that spans logs:
 * L logs of S events each (log k drawn from seed X + k, its origin
 * audit.example.com/log/k, signed by the same key), one section per log
 * with the same [M, N) and pin, and pin-k.cp, ahead-pin-k.cp for each log
 * k (pin.cp and ahead-pin.cp are log 0's). Exit 0, or 2 with a message. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "leaf.h"
#include "merkle.h"
#include "note.h"

#define H      MERKLE_HASH_LEN
#define ORIGIN "audit.example.com/log/0"
#define OTHER  "audit.example.com/log/1"

static uint64_t seed = 1, erase_every;
static uint32_t gen_log; /* the log being generated */

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* One generated event and what it owns. */
struct gen {
	struct leaf_event e;
	struct leaf_change ch[3];
	struct bundle_field bf[3];
	char id[40], actor[24], target[24], trace[33];
	char *texts[6];
};

static const char *const fields[] = {"active", "body", "email", "name", "role", "title"};

static json_t *gen_value(uint64_t *r, const char *field)
{
	uint64_t v = splitmix(r);
	char s[64];
	switch (v % 7) {
	case 0:
		return json_null();
	case 1:
		return json_boolean(v & 8);
	case 2:
		return json_integer((json_int_t)(v % 1000000));
	case 3:
		snprintf(s, sizeof s, "Zo\xc3\xab \"%" PRIu64 "\" \\ \xe2\x80\xa8", v % 1000);
		return json_string(s);
	case 4:
		return json_pack("{s:[i,s],s:f}", "k", (int)(v % 100), "\xf0\x9f\x98\x80", "x",
		                 0.5);
	default:
		snprintf(s, sizeof s, "%s-%" PRIu64 "@example.com", field, v % 100000);
		return json_string(s);
	}
}

/* Position i's event, its commitments and (for the bundle) its sides. */
static int gen_event(uint64_t i, struct gen *g, struct jcs_buf *scratch, uint64_t *side_no)
{
	uint64_t r = seed * 0x100000001b3ULL ^ i;
	memset(g, 0, sizeof *g);
	uint64_t a = splitmix(&r), b = splitmix(&r);
	snprintf(g->id, sizeof g->id,
	         "%08" PRIx64 "-%04" PRIx64 "-7%03" PRIx64 "-8%03" PRIx64 "-%012" PRIx64, a >> 32,
	         a >> 16 & 0xffff, a >> 4 & 0xfff, b >> 52, b & (uint64_t)0xffffffffffff);
	snprintf(g->actor, sizeof g->actor, "%" PRIu64, splitmix(&r) % 5000);
	snprintf(g->target, sizeof g->target, "%" PRIu64, splitmix(&r) % 100000);
	g->e.log = gen_log;
	g->e.seq = i;
	g->e.id = g->id;
	g->e.timestamp = 1700000000000LL + (int64_t)i * 7;
	g->e.actor_type = "users";
	g->e.actor_id = g->actor;
	g->e.target_type = splitmix(&r) % 2 ? "users" : "notes";
	g->e.target_id = g->target;
	g->e.event_name = splitmix(&r) % 10 == 0 ? "profile.updated" : NULL;
	g->e.target_version = splitmix(&r) % 4 ? (int64_t)(1 + splitmix(&r) % 1000) : 0;
	/* Every other event carries the trace of its request (drawn from the
	 * id's bits, so the other members come out as before traces). */
	snprintf(g->trace, sizeof g->trace, "%016" PRIx64 "%016" PRIx64, b, a | 1);
	g->e.trace_id = i % 2 ? NULL : g->trace;
	int nf = 0;
	if (splitmix(&r) % 10 < 7) {
		g->e.action = "viewed";
	} else {
		g->e.action = "changed";
		nf = 1 + (int)(splitmix(&r) % 3);
		unsigned start = (unsigned)(splitmix(&r) % 6);
		int step = 1 + (int)(splitmix(&r) % 2);
		const char *pick[3];
		for (int k = 0; k < nf; k++)
			pick[k] = fields[(start + (unsigned)(k * step)) % 6];
		/* Sort the (distinct) picks. */
		for (int x = 0; x < nf; x++)
			for (int y = x + 1; y < nf; y++)
				if (strcmp(pick[y], pick[x]) < 0) {
					const char *t = pick[x];
					pick[x] = pick[y];
					pick[y] = t;
				}
		for (int k = 0; k < nf; k++) {
			g->ch[k].field = g->bf[k].field = pick[k];
			for (int side = 0; side < 2; side++) {
				struct bundle_side *bs = side ? &g->bf[k].next : &g->bf[k].prev;
				uint8_t *c = side ? g->ch[k].next : g->ch[k].prev;
				for (int j = 0; j < LEAF_SALT_LEN; j++)
					bs->salt[j] = (uint8_t)splitmix(&r);
				json_t *v = gen_value(&r, pick[k]);
				int st = leaf_commit(bs->salt, v, scratch, c);
				char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
				json_decref(v);
				if (st || !text) {
					free(text);
					return -1;
				}
				g->texts[2 * k + side] = text;
				bs->value_json = text;
				bs->value_len = strlen(text);
				(*side_no)++;
				if (erase_every && *side_no % erase_every == 0) {
					bs->erased = 1;
					memcpy(bs->commitment, c, LEAF_COMMITMENT_LEN);
				}
			}
		}
	}
	g->e.changes = g->ch;
	g->e.nchanges = (size_t)nf;
	return 0;
}

static void gen_free(struct gen *g)
{
	for (int k = 0; k < 6; k++)
		free(g->texts[k]);
}

static uint8_t (*leaves)[H];
static int get_leaf(void *ctx, uint64_t index, uint8_t out[H])
{
	(void)ctx;
	memcpy(out, leaves[index], H);
	return 0;
}

static int write_text(const char *dir, const char *name, const char *text)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fputs(text, f) < 0 || fclose(f)) {
		fprintf(stderr, "bundlegen: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* The signed checkpoint of size n of the tree in leaves[]. */
static int sign_checkpoint(const note_signer *s, const char *origin, uint64_t n,
                           const struct merkle_source *src, char **out)
{
	uint8_t root[H];
	char *text = NULL;
	int rc = -1;
	if (merkle_root(n, src, root) || note_checkpoint_format(origin, n, root, NULL, &text) ||
	    note_sign(text, strlen(text), &s, 1, out, NULL))
		goto out;
	rc = 0;
out:
	free(text);
	return rc;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || !*s || *end || *s == '-')
		return -1;
	*out = v;
	return 0;
}

/* What every log's section shares. */
struct job {
	const char *dir;
	uint64_t size, from, to, pin, ahead;
	const uint32_t *logs;
	size_t nlogs; /* 0: a bundle of one log */
	const note_signer *signer, *other;
	char *other_cp; /* another log's checkpoint (its own key) of log 0's tree */
	FILE *out;
	struct jcs_buf buf, scratch;
};

/* The name of a log's file: name, or for log k > 0 of several, name with
 * -k before its extension. */
static void file_name(const char *name, uint32_t k, char *out, size_t cap)
{
	const char *dot = strrchr(name, '.');
	if (!k)
		snprintf(out, cap, "%s", name);
	else
		snprintf(out, cap, "%.*s-%u%s", (int)(dot - name), name, (unsigned)k, dot);
}

/* Log k's section: its leaves, its checkpoint and pins, its header and
 * event lines (appended to j->out). Returns 0, or -1 (said). */
static int write_log(struct job *j, uint32_t k, uint64_t base_seed)
{
	char origin[64], name[64];
	char *cp = NULL, *pin_cp = NULL, *ahead_cp = NULL;
	int rc = -1;
	gen_log = k;
	seed = base_seed + k;
	snprintf(origin, sizeof origin, "audit.example.com/log/%u", (unsigned)k);
	uint64_t total = j->size + j->ahead;
	free(leaves);
	if (!(leaves = malloc((total ? total : 1) * H)))
		goto out;

	/* Pass 1: every leaf hash. */
	uint64_t side_no = 0;
	for (uint64_t i = 0; i < total; i++) {
		struct gen g;
		int st = gen_event(i, &g, &j->scratch, &side_no);
		if (!st)
			st = leaf_hash(&g.e, &j->scratch, leaves[i]);
		gen_free(&g);
		if (st) {
			fprintf(stderr, "bundlegen: event %" PRIu64 ": %s\n", i,
			        leaf_status_string(st));
			goto out;
		}
	}
	struct merkle_leaf_source ls = {.get_leaf = get_leaf};
	struct merkle_source src = merkle_leaf_source_init(&ls);
	if (sign_checkpoint(j->signer, origin, j->size, &src, &cp) ||
	    (j->pin != UINT64_MAX && sign_checkpoint(j->signer, origin, j->pin, &src, &pin_cp)) ||
	    (j->ahead && sign_checkpoint(j->signer, origin, total, &src, &ahead_cp)) ||
	    (k == 0 && sign_checkpoint(j->other, OTHER, j->size, &src, &j->other_cp))) {
		fprintf(stderr, "bundlegen: checkpoints failed\n");
		goto out;
	}

	/* The header. */
	uint8_t left[MERKLE_MAX_FRONTIER][H], right[MERKLE_MAX_BORDER][H],
	    proof[MERKLE_MAX_PROOF][H];
	unsigned nleft, nright;
	size_t nproof = 0;
	if (merkle_border_left(j->from, &src, left, &nleft) ||
	    merkle_border_right(j->to, j->size, &src, right, &nright) ||
	    (j->pin != UINT64_MAX && merkle_consistency_proof(j->pin, j->size, &src, proof, &nproof)))
		goto out;
	struct bundle_header h = {.log = k,
	                          .logs = j->logs,
	                          .nlogs = j->nlogs,
	                          .origin = origin,
	                          .from = j->from,
	                          .to = j->to,
	                          .checkpoint = cp,
	                          .checkpoint_len = strlen(cp),
	                          .left = (const uint8_t(*)[H])left,
	                          .nleft = nleft,
	                          .right = (const uint8_t(*)[H])right,
	                          .nright = nright,
	                          .has_pin = j->pin != UINT64_MAX,
	                          .pin_size = j->pin,
	                          .consistency = (const uint8_t(*)[H])proof,
	                          .nconsistency = nproof};
	j->buf.len = 0;
	if (bundle_header_write(&h, &j->buf))
		goto out;
	fwrite(j->buf.data, 1, j->buf.len, j->out);

	/* Pass 2: the event lines of [from, to), regenerated. The erasure
	 * count restarts, so count the sides before from again. */
	side_no = 0;
	for (uint64_t i = 0; i < j->to; i++) {
		struct gen g;
		int st = gen_event(i, &g, &j->scratch, &side_no);
		if (!st && i >= j->from) {
			j->buf.len = 0;
			st = bundle_event_write(&g.e, g.bf, g.e.nchanges, leaves[i], &j->buf);
			if (!st)
				fwrite(j->buf.data, 1, j->buf.len, j->out);
		}
		gen_free(&g);
		if (st) {
			fprintf(stderr, "bundlegen: line %" PRIu64 ": %s\n", i,
			        leaf_status_string(st));
			goto out;
		}
	}
	file_name("pin.cp", k, name, sizeof name);
	if (pin_cp && write_text(j->dir, name, pin_cp))
		goto out;
	file_name("ahead-pin.cp", k, name, sizeof name);
	if (ahead_cp && write_text(j->dir, name, ahead_cp))
		goto out;
	rc = 0;
out:
	free(cp);
	free(pin_cp);
	free(ahead_cp);
	return rc;
}

int main(int argc, char **argv)
{
	const char *dir = NULL;
	uint64_t size = 0, from = 0, to = UINT64_MAX, pin = UINT64_MAX, ahead = 0, nlogs = 1;
	int have_size = 0, rc = 2;
	note_signer *signer = NULL, *other = NULL, *wrong = NULL;
	char *vkey = NULL, *wrong_vkey = NULL;
	uint32_t *logs = NULL;
	struct job j = {0};

	for (int i = 1; i < argc; i++) {
		uint64_t *slot = NULL;
		if (!strcmp(argv[i], "--size"))
			slot = &size, have_size = 1;
		else if (!strcmp(argv[i], "--from"))
			slot = &from;
		else if (!strcmp(argv[i], "--to"))
			slot = &to;
		else if (!strcmp(argv[i], "--pin"))
			slot = &pin;
		else if (!strcmp(argv[i], "--seed"))
			slot = &seed;
		else if (!strcmp(argv[i], "--erase"))
			slot = &erase_every;
		else if (!strcmp(argv[i], "--pin-ahead"))
			slot = &ahead;
		else if (!strcmp(argv[i], "--logs"))
			slot = &nlogs;
		else if (!dir && argv[i][0] != '-') {
			dir = argv[i];
			continue;
		}
		if (!slot || i + 1 >= argc || parse_u64(argv[++i], slot)) {
			fprintf(stderr,
			        "usage: bundlegen DIR --size S [--from M] [--to N] [--pin K] "
			        "[--seed X] [--erase E] [--pin-ahead D] [--logs L]\n");
			return 2;
		}
	}
	if (to == UINT64_MAX)
		to = size;
	if (!dir || !have_size || from > to || to > size || (pin != UINT64_MAX && pin > size) ||
	    size + ahead > (1ULL << 32) || nlogs < 1 || nlogs > 1000) {
		fprintf(stderr, "bundlegen: need DIR, --size S, from <= to <= S, K <= S, 1 to 1000 "
		                "logs\n");
		return 2;
	}
	if (!(logs = malloc(nlogs * sizeof *logs)))
		goto out;
	for (uint64_t k = 0; k < nlogs; k++)
		logs[k] = (uint32_t)k;
	j = (struct job){.dir = dir, .size = size, .from = from, .to = to, .pin = pin,
	                 .ahead = ahead, .logs = logs, .nlogs = nlogs > 1 ? nlogs : 0};
	if (note_signer_generate(ORIGIN, &signer) || note_signer_generate(OTHER, &other) ||
	    note_signer_generate(ORIGIN, &wrong) || note_signer_verifier_key(signer, &vkey) ||
	    note_signer_verifier_key(wrong, &wrong_vkey)) {
		fprintf(stderr, "bundlegen: keys failed\n");
		goto out;
	}
	j.signer = signer;
	j.other = other;
	char path[4096];
	snprintf(path, sizeof path, "%s/bundle.ndjson", dir);
	if (!(j.out = fopen(path, "wb"))) {
		fprintf(stderr, "bundlegen: %s: %s\n", path, strerror(errno));
		goto out;
	}
	uint64_t base_seed = seed;
	for (uint64_t k = 0; k < nlogs; k++)
		if (write_log(&j, (uint32_t)k, base_seed))
			goto out;
	if (fclose(j.out)) {
		j.out = NULL;
		fprintf(stderr, "bundlegen: %s: %s\n", path, strerror(errno));
		goto out;
	}
	j.out = NULL;
	if (write_text(dir, "other-pin.cp", j.other_cp))
		goto out;
	char line[2048];
	snprintf(line, sizeof line, "%s\n", wrong_vkey);
	if (write_text(dir, "other.vkey", line))
		goto out;
	rc = 0;
out:
	if (rc == 0) {
		char line2[2048];
		snprintf(line2, sizeof line2, "%s\n", vkey);
		if (write_text(dir, "vkey", line2))
			rc = 2;
	}
	if (j.out)
		fclose(j.out);
	free(leaves);
	free(logs);
	free(j.other_cp);
	free(vkey);
	free(wrong_vkey);
	note_signer_free(signer);
	note_signer_free(other);
	note_signer_free(wrong);
	jcs_buf_free(&j.buf);
	jcs_buf_free(&j.scratch);
	return rc;
}
