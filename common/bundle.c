/* Export bundles, both sides: see bundle.h and docs/ledger.md "Export
 * bundles". One writer (put_event, put_header) serves the exporter and the
 * verifier's canonical-form check, so the two cannot drift apart. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "bundle.h"
#include "trace.h"

#define H            MERKLE_HASH_LEN
#define B64_HASH_LEN 44 /* padded base64 of 32 bytes */
#define B64_SALT_LEN 22 /* base64url of 16 bytes, no padding */

/* jansson flags for reading a line: every number a double (canonical JSON
 * writes reals up to 1e21 in integer digits, which jansson's integer parser
 * refuses: docs/ledger.md "Reading canonical bytes back"), a duplicated
 * member refused, U+0000 in a string kept (the canonical form of a value
 * may hold \u0000). */
#define READ_FLAGS (JSON_DECODE_INT_AS_REAL | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)

/* ---- writing ---- */

/* One side as the writer needs it, whichever side of the format it came
 * from (the exporter's stored text, or the verifier's parsed line). */
struct side_ref {
	int erased;
	const uint8_t *salt;       /* !erased */
	const json_t *value;       /* !erased */
	const uint8_t *commitment; /* always */
};
struct field_ref {
	const char *name;
	struct side_ref side[2]; /* prev, next */
};

static void put_hash(struct jcs_buf *b, const uint8_t h[H])
{
	char s[B64_HASH_LEN + 1];
	b64_encode(h, H, s);
	jcs_buf_put(b, "\"", 1);
	jcs_buf_put(b, s, B64_HASH_LEN);
	jcs_buf_put(b, "\"", 1);
}

static void put_hashes(struct jcs_buf *b, const char *name, const uint8_t (*h)[H], size_t n)
{
	jcs_buf_lit(b, name);
	jcs_buf_put(b, "[", 1);
	for (size_t i = 0; i < n; i++) {
		if (i)
			jcs_buf_put(b, ",", 1);
		put_hash(b, h[i]);
	}
	jcs_buf_put(b, "]", 1);
}

static void put_side(struct jcs_buf *b, const struct side_ref *s)
{
	char c[LEAF_COMMITMENT_B64_LEN + 1];
	leaf_commitment_b64(s->commitment, c);
	if (s->erased) {
		jcs_buf_lit(b, "{\"erased\":\"");
		jcs_buf_lit(b, c);
		jcs_buf_lit(b, "\"}");
		return;
	}
	char salt[B64_SALT_LEN + 1];
	b64url_encode(s->salt, LEAF_SALT_LEN, salt);
	jcs_buf_lit(b, "{\"commitment\":\"");
	jcs_buf_lit(b, c);
	jcs_buf_lit(b, "\",\"salt\":\"");
	jcs_buf_lit(b, salt);
	jcs_buf_lit(b, "\",\"value\":");
	jcs_buf_value(b, s->value);
	jcs_buf_lit(b, "}");
}

/* The event line is the leaf's members in the leaf's order (leaf.c writes
 * them), each side opened, and "leaf" after "id". */
struct line {
	const struct field_ref *f;
	const uint8_t *leaf;
};

static void line_side(void *ctx, size_t i, int next, struct jcs_buf *b)
{
	const struct line *l = ctx;
	put_side(b, &l->f[i].side[next ? 1 : 0]);
}

static void line_leaf(void *ctx, struct jcs_buf *b)
{
	const struct line *l = ctx;
	jcs_buf_lit(b, ",\"leaf\":");
	put_hash(b, l->leaf);
}

/* The event line without its "\n". */
static int put_event(struct jcs_buf *b, const struct leaf_event *e, const struct field_ref *f,
                     size_t nf, const uint8_t leaf[H])
{
	struct leaf_change *names = nf ? calloc(nf, sizeof *names) : NULL;
	if (nf && !names)
		return LEAF_ENOMEM;
	for (size_t i = 0; i < nf; i++)
		names[i].field = f[i].name;
	struct leaf_event shape = *e;
	shape.changes = names;
	shape.nchanges = nf;
	struct line l = {.f = f, .leaf = leaf};
	struct leaf_render r = {.side = line_side, .after_id = line_leaf, .ctx = &l};
	int st = leaf_write_rendered(&shape, &r, b);
	free(names);
	return st;
}

static int event_members_ok(const struct leaf_event *e)
{
	return e->id && e->action && e->actor_type && e->actor_id && e->target_type &&
	       e->target_id && e->seq <= (uint64_t)LEAF_INT_MAX && e->timestamp <= LEAF_INT_MAX &&
	       e->timestamp >= -LEAF_INT_MAX;
}

static int from_jcs(int status)
{
	return status == JCS_ENOMEM ? LEAF_ENOMEM : LEAF_EVALUE;
}

/* 0 if v has a canonical form (what leaf_commit would refuse otherwise). */
static int canonical_check(const json_t *v, struct jcs_buf *scratch)
{
	scratch->len = 0;
	scratch->status = 0;
	jcs_buf_value(scratch, v);
	return scratch->status;
}

int bundle_event_write(const struct leaf_event *e, const struct bundle_field *f, size_t nf,
                       const uint8_t leaf_hash[LEAF_HASH_LEN], struct jcs_buf *out)
{
	int st = LEAF_OK;
	struct field_ref *refs = NULL;
	json_t **values = NULL;
	uint8_t(*commitments)[LEAF_COMMITMENT_LEN] = NULL;
	struct jcs_buf scratch = {0};

	if (!event_members_ok(e) || (nf && !f)) {
		st = LEAF_EINVAL;
		goto out;
	}
	for (size_t i = 0; i < nf; i++)
		if (!f[i].field || (i && strcmp(f[i - 1].field, f[i].field) >= 0)) {
			st = LEAF_EINVAL;
			goto out;
		}
	if (nf) {
		refs = calloc(nf, sizeof *refs);
		values = calloc(2 * nf, sizeof *values);
		commitments = calloc(2 * nf, sizeof *commitments);
		if (!refs || !values || !commitments) {
			st = LEAF_ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < nf; i++) {
		refs[i].name = f[i].field;
		for (int k = 0; k < 2; k++) {
			const struct bundle_side *s = k ? &f[i].next : &f[i].prev;
			struct side_ref *r = &refs[i].side[k];
			r->erased = s->erased;
			if (s->erased) {
				r->commitment = s->commitment;
				continue;
			}
			if (!s->value_json) {
				st = LEAF_EINVAL;
				goto out;
			}
			/* Integers as jansson integers first, so one beyond 2^53 is
			 * refused as leaf_commit refuses it; then as doubles, for a
			 * real written in integer digits beyond 2^63 (canonical
			 * 1e20 is 100000000000000000000). */
			json_error_t err;
			values[2 * i + k] = json_loadb(s->value_json, s->value_len,
			                               JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
			if (!values[2 * i + k])
				values[2 * i + k] = json_loadb(s->value_json, s->value_len,
				                               JSON_DECODE_ANY | READ_FLAGS, &err);
			if (!values[2 * i + k]) {
				st = LEAF_EVALUE;
				goto out;
			}
			static const uint8_t zero[LEAF_COMMITMENT_LEN];
			if (memcmp(s->commitment, zero, LEAF_COMMITMENT_LEN)) {
				/* The stored commitment, kept as it is: a value
				 * changed since then shows as not matching it. */
				memcpy(commitments[2 * i + k], s->commitment, LEAF_COMMITMENT_LEN);
				if (canonical_check(values[2 * i + k], &scratch)) {
					st = LEAF_EVALUE;
					goto out;
				}
			} else {
				st = leaf_commit(s->salt, values[2 * i + k], &scratch,
				                 commitments[2 * i + k]);
				if (st)
					goto out;
			}
			r->salt = s->salt;
			r->value = values[2 * i + k];
			r->commitment = commitments[2 * i + k];
		}
	}
	st = put_event(out, e, refs, nf, leaf_hash);
	jcs_buf_put(out, "\n", 1);
	if (!st && out->status)
		st = from_jcs(out->status);
out:
	if (values)
		for (size_t i = 0; i < 2 * nf; i++)
			json_decref(values[i]);
	free(values);
	free(refs);
	free(commitments);
	jcs_buf_free(&scratch);
	return st;
}

static void put_header(struct jcs_buf *b, const struct bundle_header *h)
{
	jcs_buf_lit(b, "{\"checkpoint\":");
	jcs_buf_string(b, h->checkpoint, h->checkpoint_len);
	jcs_buf_lit(b, ",\"format\":\"" BUNDLE_FORMAT "\",\"from\":");
	jcs_buf_int(b, (long long)h->from);
	put_hashes(b, ",\"left\":", h->left, h->nleft);
	jcs_buf_lit(b, ",\"log\":");
	jcs_buf_int(b, (long long)h->log);
	if (h->nlogs) {
		jcs_buf_lit(b, ",\"logs\":[");
		for (size_t i = 0; i < h->nlogs; i++) {
			if (i)
				jcs_buf_put(b, ",", 1);
			jcs_buf_int(b, (long long)h->logs[i]);
		}
		jcs_buf_put(b, "]", 1);
	}
	jcs_buf_lit(b, ",\"origin\":");
	jcs_buf_string(b, h->origin, strlen(h->origin));
	if (h->has_pin) {
		put_hashes(b, ",\"pin\":{\"consistency\":", h->consistency, h->nconsistency);
		jcs_buf_lit(b, ",\"size\":");
		jcs_buf_int(b, (long long)h->pin_size);
		jcs_buf_lit(b, "}");
	}
	put_hashes(b, ",\"right\":", h->right, h->nright);
	jcs_buf_lit(b, ",\"to\":");
	jcs_buf_int(b, (long long)h->to);
	jcs_buf_lit(b, "}");
}

/* Whether logs (n of them) is a spanning bundle's list holding log: 2 or
 * more, ascending, log among them. */
static int logs_ok(const uint32_t *logs, size_t n, uint32_t log)
{
	int has = 0;
	if (n < 2 || n > BUNDLE_LOGS_MAX || !logs)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (i && logs[i - 1] >= logs[i])
			return 0;
		has |= logs[i] == log;
	}
	return has;
}

int bundle_line_is_header(const char *line, size_t len)
{
	static const char start[] = "{\"checkpoint\":";
	return len >= sizeof start - 1 && !memcmp(line, start, sizeof start - 1);
}

int bundle_header_write(const struct bundle_header *h, struct jcs_buf *out)
{
	if ((h->nlogs && !logs_ok(h->logs, h->nlogs, h->log)) || !h->origin || !h->checkpoint || h->from > h->to || h->to > (uint64_t)LEAF_INT_MAX ||
	    h->nleft != merkle_border_left_count(h->from) || h->nright > MERKLE_MAX_BORDER ||
	    (h->nleft && !h->left) || (h->nright && !h->right) ||
	    (h->has_pin &&
	     (h->nconsistency > MERKLE_MAX_PROOF || h->pin_size > (uint64_t)LEAF_INT_MAX ||
	      (h->nconsistency && !h->consistency))))
		return LEAF_EINVAL;
	put_header(out, h);
	jcs_buf_put(out, "\n", 1);
	return out->status ? from_jcs(out->status) : LEAF_OK;
}

/* ---- reading ---- */

const char *bundle_status_string(int status)
{
	switch (status) {
	case BUNDLE_OK:
		return "ok";
	case BUNDLE_ENOMEM:
		return "out of memory";
	case BUNDLE_ENOTJSON:
		return "the line is not JSON";
	case BUNDLE_EFORMAT:
		return "the line does not have the members of the format";
	case BUNDLE_ECANON:
		return "the line is not in its canonical form (RFC 8785)";
	case BUNDLE_EVALUE:
		return "a value does not match its commitment";
	case BUNDLE_ELEAF:
		return "the event does not match its leaf hash";
	case BUNDLE_ECRYPTO:
		return "SHA-256 failed";
	}
	return "unknown bundle status";
}

__attribute__((format(printf, 2, 3))) static void say(char *why, const char *fmt, ...)
{
	if (!why)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, BUNDLE_WHY_LEN, fmt, ap);
	va_end(ap);
}

/* v an integral number in [lo, hi] (read as a double: READ_FLAGS). */
static int int_value(const json_t *v, double lo, double hi, long long *out)
{
	if (!v || !json_is_number(v))
		return -1;
	double d = json_number_value(v);
	if (!(d >= lo && d <= hi) || d != (double)(long long)d)
		return -1;
	*out = (long long)d;
	return 0;
}

/* Member name of obj, an integral number in [lo, hi]. */
static int get_int(const json_t *obj, const char *name, double lo, double hi, long long *out)
{
	return int_value(json_object_get(obj, name), lo, hi, out);
}

/* A string without NUL (a C string for leaf.c), or NULL. */
static const char *get_str(const json_t *obj, const char *name)
{
	const json_t *v = json_object_get(obj, name);
	if (!v || !json_is_string(v))
		return NULL;
	const char *s = json_string_value(v);
	return strlen(s) == json_string_length(v) ? s : NULL;
}

static int parse_hash(const json_t *v, uint8_t out[H])
{
	uint8_t buf[B64_HASH_LEN];
	if (!json_is_string(v) || json_string_length(v) != B64_HASH_LEN ||
	    b64_decode(json_string_value(v), B64_HASH_LEN, buf) != H)
		return -1;
	memcpy(out, buf, H);
	return 0;
}

/* An array of at most cap hashes into out. */
static int get_hashes(const json_t *obj, const char *name, uint8_t (*out)[H], size_t cap, size_t *n,
                      char *why)
{
	const json_t *a = json_object_get(obj, name);
	if (!a || !json_is_array(a)) {
		say(why, "\"%s\" is missing or not an array", name);
		return -1;
	}
	if (json_array_size(a) > cap) {
		say(why, "\"%s\" has %zu hashes, more than %zu", name, json_array_size(a), cap);
		return -1;
	}
	for (size_t i = 0; i < json_array_size(a); i++)
		if (parse_hash(json_array_get(a, i), out[i])) {
			say(why, "\"%s\"[%zu] is not 32 bytes in padded base64", name, i);
			return -1;
		}
	*n = json_array_size(a);
	return 0;
}

/* The first member of obj whose name is not in names (NULL-terminated). */
static const char *unknown_member(const json_t *obj, const char *const *names)
{
	const char *key;
	const json_t *v;
	json_object_foreach((json_t *)obj, key, v)
	{
		size_t i = 0;
		while (names[i] && strcmp(names[i], key))
			i++;
		if (!names[i])
			return key;
	}
	return NULL;
}

static json_t *load_object(const char *line, size_t len, char *why, int *st)
{
	json_error_t err;
	json_t *root = json_loadb(line, len, READ_FLAGS, &err);
	if (!root) {
		*st = BUNDLE_ENOTJSON;
		say(why, "not JSON: %s (column %d)", err.text, err.column);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		*st = BUNDLE_EFORMAT;
		say(why, "not a JSON object");
		return NULL;
	}
	return root;
}

void bundle_head_clear(struct bundle_head *h)
{
	free(h->logs);
	free(h->origin);
	free(h->checkpoint);
	memset(h, 0, sizeof *h);
}

int bundle_header_parse(const char *line, size_t len, struct bundle_head *h, char *why)
{
	static const char *const names[] = {"checkpoint", "format", "from",  "left", "log", "logs",
	                                    "origin",     "pin",    "right", "to",   NULL};
	static const char *const pin_names[] = {"consistency", "size", NULL};
	int st = BUNDLE_EFORMAT;
	struct jcs_buf back = {0};
	long long v;
	const char *s, *bad;
	memset(h, 0, sizeof *h);
	json_t *root = load_object(line, len, why, &st);
	if (!root)
		goto out;
	st = BUNDLE_EFORMAT;
	if ((bad = unknown_member(root, names))) {
		say(why, "unknown member \"%.64s\" in the header", bad);
		goto out;
	}
	if (!(s = get_str(root, "format")) || strcmp(s, BUNDLE_FORMAT)) {
		say(why, "\"format\" is not \"" BUNDLE_FORMAT "\"");
		goto out;
	}
	if (get_int(root, "log", 0, 4294967295.0, &v)) {
		say(why, "\"log\" is missing or not an integer from 0 to 2^32-1");
		goto out;
	}
	h->log = (uint32_t)v;
	const json_t *logs = json_object_get(root, "logs");
	if (logs) {
		size_t n = json_is_array(logs) ? json_array_size(logs) : 0;
		if (n >= 2 && n <= BUNDLE_LOGS_MAX && !(h->logs = malloc(n * sizeof *h->logs))) {
			st = BUNDLE_ENOMEM;
			goto out;
		}
		for (size_t i = 0; h->logs && i < n; i++) {
			if (int_value(json_array_get(logs, i), 0, 4294967295.0, &v)) {
				n = 0;
				break;
			}
			h->logs[i] = (uint32_t)v;
		}
		if (!h->logs || !logs_ok(h->logs, n, h->log)) {
			say(why, "\"logs\" is not 2 to %d log ids, ascending, \"log\" among them",
			    BUNDLE_LOGS_MAX);
			goto out;
		}
		h->nlogs = n;
	}
	if (!(s = get_str(root, "origin")) || !*s) {
		say(why, "\"origin\" is missing or not a non-empty string");
		goto out;
	}
	if (!(h->origin = strdup(s))) {
		st = BUNDLE_ENOMEM;
		goto out;
	}
	if (get_int(root, "from", 0, (double)LEAF_INT_MAX, &v)) {
		say(why, "\"from\" is missing or not an integer from 0 to 2^53");
		goto out;
	}
	h->from = (uint64_t)v;
	if (get_int(root, "to", (double)h->from, (double)LEAF_INT_MAX, &v)) {
		say(why, "\"to\" is missing or not an integer from \"from\" to 2^53");
		goto out;
	}
	h->to = (uint64_t)v;
	const json_t *cp = json_object_get(root, "checkpoint");
	if (!cp || !json_is_string(cp)) {
		say(why, "\"checkpoint\" is missing or not a string");
		goto out;
	}
	h->checkpoint_len = json_string_length(cp);
	if (!(h->checkpoint = malloc(h->checkpoint_len + 1))) {
		st = BUNDLE_ENOMEM;
		goto out;
	}
	memcpy(h->checkpoint, json_string_value(cp), h->checkpoint_len + 1);
	size_t n;
	if (get_hashes(root, "left", h->left, MERKLE_MAX_FRONTIER, &n, why))
		goto out;
	h->nleft = (unsigned)n;
	if (h->nleft != merkle_border_left_count(h->from)) {
		say(why, "\"left\" has %u hashes; the left border of %llu has %u", h->nleft,
		    (unsigned long long)h->from, merkle_border_left_count(h->from));
		goto out;
	}
	if (get_hashes(root, "right", h->right, MERKLE_MAX_BORDER, &n, why))
		goto out;
	h->nright = (unsigned)n;
	const json_t *pin = json_object_get(root, "pin");
	if (pin) {
		if (!json_is_object(pin) || (bad = unknown_member(pin, pin_names))) {
			say(why, "\"pin\" is not an object of \"size\" and \"consistency\"");
			goto out;
		}
		if (get_int(pin, "size", 0, (double)LEAF_INT_MAX, &v)) {
			say(why, "\"pin\".\"size\" is missing or not an integer from 0 to 2^53");
			goto out;
		}
		h->has_pin = 1;
		h->pin_size = (uint64_t)v;
		if (get_hashes(pin, "consistency", h->consistency, MERKLE_MAX_PROOF,
		               &h->nconsistency, why))
			goto out;
	}
	struct bundle_header view = {.log = h->log,
	                             .logs = h->logs,
	                             .nlogs = h->nlogs,
	                             .origin = h->origin,
	                             .from = h->from,
	                             .to = h->to,
	                             .checkpoint = h->checkpoint,
	                             .checkpoint_len = h->checkpoint_len,
	                             .left = (const uint8_t(*)[H])h->left,
	                             .nleft = h->nleft,
	                             .right = (const uint8_t(*)[H])h->right,
	                             .nright = h->nright,
	                             .has_pin = h->has_pin,
	                             .pin_size = h->pin_size,
	                             .consistency = (const uint8_t(*)[H])h->consistency,
	                             .nconsistency = h->nconsistency};
	put_header(&back, &view);
	if (back.status == JCS_ENOMEM) {
		st = BUNDLE_ENOMEM;
		goto out;
	}
	if (back.status || back.len != len || memcmp(back.data, line, len)) {
		st = BUNDLE_ECANON;
		say(why, "the header is not in its canonical form (RFC 8785)");
		goto out;
	}
	st = BUNDLE_OK;
out:
	json_decref(root);
	jcs_buf_free(&back);
	if (st)
		bundle_head_clear(h);
	return st;
}

struct bundle_reader {
	struct field_ref *fields;
	struct leaf_change *changes;
	uint8_t (*commitments)[LEAF_COMMITMENT_LEN]; /* 2 per field */
	uint8_t (*salts)[LEAF_SALT_LEN];             /* 2 per field */
	size_t cap;                                  /* fields */
	struct jcs_buf scratch, back;
};

int bundle_reader_new(struct bundle_reader **out)
{
	*out = calloc(1, sizeof **out);
	return *out ? BUNDLE_OK : BUNDLE_ENOMEM;
}

void bundle_reader_free(struct bundle_reader *r)
{
	if (!r)
		return;
	free(r->fields);
	free(r->changes);
	free(r->commitments);
	free(r->salts);
	jcs_buf_free(&r->scratch);
	jcs_buf_free(&r->back);
	free(r);
}

static int reader_reserve(struct bundle_reader *r, size_t n)
{
	if (n <= r->cap)
		return 0;
	size_t cap = r->cap ? r->cap : 8;
	while (cap < n)
		cap *= 2;
	struct field_ref *f = realloc(r->fields, cap * sizeof *f);
	if (f)
		r->fields = f;
	struct leaf_change *c = realloc(r->changes, cap * sizeof *c);
	if (c)
		r->changes = c;
	uint8_t(*cm)[LEAF_COMMITMENT_LEN] = realloc(r->commitments, 2 * cap * sizeof *cm);
	if (cm)
		r->commitments = cm;
	uint8_t(*s)[LEAF_SALT_LEN] = realloc(r->salts, 2 * cap * sizeof *s);
	if (s)
		r->salts = s;
	if (!f || !c || !cm || !s)
		return -1;
	r->cap = cap;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct field_ref *)a)->name, ((const struct field_ref *)b)->name);
}

/* One side of a change: {"erased": c} or {"commitment": c, "salt": s,
 * "value": v}. */
static int parse_side(const json_t *o, struct side_ref *s, uint8_t commitment[LEAF_COMMITMENT_LEN],
                      uint8_t salt[LEAF_SALT_LEN])
{
	static const char *const erased_names[] = {"erased", NULL};
	static const char *const open_names[] = {"commitment", "salt", "value", NULL};
	if (!json_is_object(o))
		return -1;
	const json_t *c = json_object_get(o, "erased");
	s->erased = c != NULL;
	if (!c) {
		c = json_object_get(o, "commitment");
		const json_t *salt_v = json_object_get(o, "salt");
		s->value = json_object_get(o, "value");
		uint8_t buf[LEAF_SALT_LEN + 2];
		char back[B64_SALT_LEN + 1];
		if (unknown_member(o, open_names) || !salt_v || !s->value ||
		    !json_is_string(salt_v) || json_string_length(salt_v) != B64_SALT_LEN ||
		    b64url_decode(json_string_value(salt_v), B64_SALT_LEN, buf) != LEAF_SALT_LEN)
			return -1;
		b64url_encode(buf, LEAF_SALT_LEN, back);
		if (memcmp(back, json_string_value(salt_v), B64_SALT_LEN))
			return -1;
		memcpy(salt, buf, LEAF_SALT_LEN);
		s->salt = salt;
	} else if (unknown_member(o, erased_names)) {
		return -1;
	}
	if (!c || !json_is_string(c) ||
	    leaf_commitment_parse(json_string_value(c), json_string_length(c), commitment))
		return -1;
	s->commitment = commitment;
	return 0;
}

int bundle_event_check(struct bundle_reader *r, const char *line, size_t len,
                       struct bundle_line *out)
{
	static const char *const names[] = {
	    "action",   "actorId",    "actorType",     "changes",   "eventName", "id",
	    "leaf",     "log",        "seq",           "targetId",  "targetType",
	    "targetVersion", "timestamp", "traceId", NULL};
	int st = BUNDLE_EFORMAT;
	char *why = out->why;
	long long v;
	const char *bad;
	struct leaf_event e = {0};
	size_t nf = 0;

	out->has_seq = out->has_leaf = 0;
	why[0] = '\0';
	json_t *root = load_object(line, len, why, &st);
	if (!root)
		goto out;
	st = BUNDLE_EFORMAT;
	long long seq, log;
	if (!get_int(root, "seq", 0, (double)LEAF_INT_MAX, &seq) &&
	    !get_int(root, "log", 0, 4294967295.0, &log)) {
		out->has_seq = 1;
		out->seq = (uint64_t)seq;
		out->log = (uint32_t)log;
		e.seq = out->seq;
		e.log = out->log;
	}
	if (!parse_hash(json_object_get(root, "leaf"), out->leaf))
		out->has_leaf = 1;
	if (!out->has_seq) {
		say(why, "\"seq\" or \"log\" is missing or not a position");
		goto out;
	}
	if (!out->has_leaf) {
		say(why, "\"leaf\" is missing or not 32 bytes in padded base64");
		goto out;
	}
	if ((bad = unknown_member(root, names))) {
		say(why, "unknown member \"%.64s\"", bad);
		goto out;
	}
	struct {
		const char *name, **to;
	} strs[] = {{"action", &e.action},        {"actorId", &e.actor_id},
	            {"actorType", &e.actor_type}, {"id", &e.id},
	            {"targetId", &e.target_id},   {"targetType", &e.target_type}};
	for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
		if (!(*strs[i].to = get_str(root, strs[i].name))) {
			say(why, "\"%s\" is missing or not a string", strs[i].name);
			goto out;
		}
	if (json_object_get(root, "eventName") && !(e.event_name = get_str(root, "eventName"))) {
		say(why, "\"eventName\" is not a string");
		goto out;
	}
	if (get_int(root, "timestamp", -(double)LEAF_INT_MAX, (double)LEAF_INT_MAX, &v)) {
		say(why, "\"timestamp\" is missing or not an integer within 2^53");
		goto out;
	}
	e.timestamp = v;
	if (json_object_get(root, "targetVersion")) {
		if (get_int(root, "targetVersion", 1, (double)LEAF_INT_MAX, &v)) {
			say(why, "\"targetVersion\" is not an integer from 1 to 2^53");
			goto out;
		}
		e.target_version = v;
	}
	if (json_object_get(root, "traceId")) {
		e.trace_id = get_str(root, "traceId");
		if (!e.trace_id || !trace_id_valid(e.trace_id, strlen(e.trace_id))) {
			say(why, "\"traceId\" is not a W3C trace-id (32 lowercase hex digits, "
			         "not all zero)");
			goto out;
		}
	}
	const json_t *changes = json_object_get(root, "changes");
	if (changes) {
		if (!json_is_object(changes) || !json_object_size(changes)) {
			say(why, "\"changes\" is not an object with at least one field");
			goto out;
		}
		if (reader_reserve(r, json_object_size(changes))) {
			st = BUNDLE_ENOMEM;
			goto out;
		}
		const char *name;
		const json_t *fv;
		json_object_foreach((json_t *)changes, name, fv)
		{
			struct field_ref *f = &r->fields[nf];
			static const char *const sides[] = {"next", "prev", NULL};
			f->name = name;
			if (strlen(name) !=
			        json_object_iter_key_len(json_object_key_to_iter(name)) ||
			    !json_is_object(fv) || unknown_member(fv, sides) ||
			    parse_side(json_object_get(fv, "prev"), &f->side[0],
			               r->commitments[2 * nf], r->salts[2 * nf]) ||
			    parse_side(json_object_get(fv, "next"), &f->side[1],
			               r->commitments[2 * nf + 1], r->salts[2 * nf + 1])) {
				say(why, "changes.%.64s is not {\"next\": side, \"prev\": side}",
				    name);
				goto out;
			}
			nf++;
		}
		qsort(r->fields, nf, sizeof *r->fields, by_name);
	}
	/* Each opened value against its commitment. */
	for (size_t i = 0; i < nf; i++)
		for (int k = 0; k < 2; k++) {
			const struct side_ref *s = &r->fields[i].side[k];
			uint8_t c[LEAF_COMMITMENT_LEN];
			if (s->erased)
				continue;
			int ls = leaf_commit(s->salt, s->value, &r->scratch, c);
			if (ls == LEAF_ENOMEM || ls == LEAF_ECRYPTO) {
				st = ls == LEAF_ENOMEM ? BUNDLE_ENOMEM : BUNDLE_ECRYPTO;
				goto out;
			}
			if (ls || memcmp(c, s->commitment, LEAF_COMMITMENT_LEN)) {
				st = BUNDLE_EVALUE;
				say(why,
				    "the value of changes.%.64s.%s does not match its commitment%s",
				    r->fields[i].name, k ? "next" : "prev",
				    ls ? " (it has no canonical form)" : "");
				goto out;
			}
		}
	/* The leaf from the members and the commitments. */
	for (size_t i = 0; i < nf; i++) {
		r->changes[i].field = r->fields[i].name;
		memcpy(r->changes[i].prev, r->fields[i].side[0].commitment, LEAF_COMMITMENT_LEN);
		memcpy(r->changes[i].next, r->fields[i].side[1].commitment, LEAF_COMMITMENT_LEN);
	}
	e.changes = r->changes;
	e.nchanges = nf;
	uint8_t leaf[LEAF_HASH_LEN];
	int ls = leaf_hash(&e, &r->scratch, leaf);
	if (ls == LEAF_ENOMEM || ls == LEAF_ECRYPTO) {
		st = ls == LEAF_ENOMEM ? BUNDLE_ENOMEM : BUNDLE_ECRYPTO;
		goto out;
	}
	if (ls) {
		say(why, "the event has no leaf: %s", leaf_status_string(ls));
		goto out;
	}
	if (memcmp(leaf, out->leaf, LEAF_HASH_LEN)) {
		st = BUNDLE_ELEAF;
		say(why, "the event's members (or its commitments) do not match its leaf hash");
		goto out;
	}
	/* Last, the one spelling: the line must be what the writer writes. */
	r->back.len = 0;
	r->back.status = 0;
	int ps = put_event(&r->back, &e, r->fields, nf, out->leaf);
	if (ps == LEAF_ENOMEM || r->back.status == JCS_ENOMEM) {
		st = BUNDLE_ENOMEM;
		goto out;
	}
	if (ps || r->back.status || r->back.len != len || memcmp(r->back.data, line, len)) {
		st = BUNDLE_ECANON;
		say(why, "the line is not in its canonical form (RFC 8785)");
		goto out;
	}
	st = BUNDLE_OK;
out:
	json_decref(root);
	return st;
}
