/* fuzz_query: the query-string side of the HTTP servers. The input up to
 * its first NUL is the string s; the whole input (NULs included) is also
 * given to query_unescape, which takes a length.
 *
 *  - query_parse(s) (every request's query string): on success at most
 *    QUERY_MAX_PARAMS pairs, non-empty keys, no key twice, no control
 *    characters, query_get finds each; on failure a reason and an empty q.
 *    The values of filter[actor], filter[target] and page[after] then go
 *    through filter_parse_ref and cursor_decode as the auditor's handler
 *    does, and every pair is re-encoded with query_append and parsed again
 *    to the same pairs.
 *  - cursor_decode(s), and cursor_decode of base64url(s) (so the fuzzer
 *    controls the decoded text directly): on success the id is a UUID and
 *    cursor_encode of the position decodes to the same position.
 *  - timestamp_parse of the whole input: on success an instant within
 *    range whose timestamp_format parses back to it.
 *  - filter_parse_names(s) over the action names: on success a non-empty
 *    set, exactly the comma items of s, each a name, none twice.
 *  - filter_parse_ref(s), with and without FILTER_FIELD: on success type
 *    passes event_type_valid, id event_ref_valid (so no ':' and no control
 *    character), field event_field_valid, and "type:id[:field]" is s again;
 *    on failure a reason.
 *  - query_unescape, both modes: on success no control character, the
 *    decoded length fits, and the output is NUL-terminated there.
 *  - query_escape then query_unescape gives s back (for s without control
 *    characters, which query_unescape refuses by design).
 * Output buffers are malloc'd at exactly the documented size, so ASan
 * reports any write past them. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "b64.h"
#include "cursor.h"
#include "filter.h"
#include "fuzz_util.h"
#include "query.h"
#include "timestamp.h"
#include "uuid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_cursor(const char *s)
{
	struct cursor_pos *p = malloc(sizeof *p);
	if (!p)
		abort();
	if (cursor_decode(s, p) == 0) {
		FUZZ_CHECK(p->version >= 0 && p->timestamp >= 0, "cursor decoded to %lld:%lld",
		           (long long)p->version, (long long)p->timestamp);
		FUZZ_CHECK(fuzz_terminated(p->id, UUID_STR_LEN + 1) && uuid_valid(p->id, strlen(p->id)),
		           "cursor decoded to an invalid id");
		char *enc = malloc(CURSOR_MAX);
		if (!enc)
			abort();
		cursor_encode(p, enc);
		FUZZ_CHECK(fuzz_terminated(enc, CURSOR_MAX), "cursor_encode output unterminated");
		struct cursor_pos back;
		FUZZ_CHECK(cursor_decode(enc, &back) == 0, "cursor_encode output \"%s\" refused", enc);
		FUZZ_CHECK(back.version == p->version && back.timestamp == p->timestamp &&
		               !strcmp(back.id, p->id),
		           "cursor round trip changed the position");
		free(enc);
	}
	free(p);
}

/* timestamp_parse on the raw bytes (a length, NULs kept): on success
 * within the range, and its RFC 3339 form parses back to the same
 * instant. */
static void check_timestamp(const char *raw, size_t len)
{
	int64_t ms = -1;
	if (timestamp_parse(raw, len, &ms))
		return;
	FUZZ_CHECK(ms >= 0 && ms <= TIMESTAMP_MAX, "instant %lld out of range", (long long)ms);
	char *text = malloc(TIMESTAMP_TEXT_MAX);
	if (!text)
		abort();
	timestamp_format(ms, text);
	FUZZ_CHECK(fuzz_terminated(text, TIMESTAMP_TEXT_MAX), "timestamp_format unterminated");
	int64_t back = -1;
	FUZZ_CHECK(timestamp_parse(text, strlen(text), &back) == 0 && back == ms,
	           "\"%s\" does not parse back to %lld", text, (long long)ms);
	free(text);
}

/* filter_parse_names (filter[action], filter[flag]): on success a
 * non-empty set, and each comma item of s one of the names. */
static void check_names(const char *s)
{
	static const char *const names[] = {"viewed", "created", "changed", "deleted"};
	unsigned bits = 0;
	if (filter_parse_names(s, names, 4, &bits))
		return;
	FUZZ_CHECK(bits && bits < 16, "names parsed to %#x", bits);
	unsigned seen = 0, items = 0;
	for (const char *p = s;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		unsigned i = 0;
		while (i < 4 && (strlen(names[i]) != len || memcmp(names[i], p, len)))
			i++;
		FUZZ_CHECK(i < 4, "accepted an item that is no name: \"%s\"", s);
		seen |= 1u << i;
		items++;
		if (!end)
			break;
		p = end + 1;
	}
	FUZZ_CHECK(seen == bits, "names %#x, items %#x", bits, seen);
	FUZZ_CHECK(items == (unsigned)__builtin_popcount(bits), "a name accepted twice: \"%s\"", s);
}

static void check_filter(const char *s, unsigned flags)
{
	struct filter_ref *ref = malloc(sizeof *ref);
	if (!ref)
		abort();
	const char *why = NULL;
	if (filter_parse_ref(s, flags, ref, &why) == 0) {
		FUZZ_CHECK(fuzz_terminated(ref->type, sizeof ref->type), "type unterminated");
		FUZZ_CHECK(fuzz_terminated(ref->id, sizeof ref->id), "id unterminated");
		FUZZ_CHECK(fuzz_terminated(ref->field, sizeof ref->field), "field unterminated");
		size_t tl = strlen(ref->type), il = strlen(ref->id), fl = strlen(ref->field);
		FUZZ_CHECK(event_type_valid(ref->type, tl), "type \"%s\" invalid", ref->type);
		FUZZ_CHECK(event_ref_valid(ref->id, il), "id \"%s\" invalid", ref->id);
		FUZZ_CHECK(!memchr(ref->id, ':', il) && fuzz_no_controls(ref->id, il),
		           "id \"%s\" holds ':' or a control character", ref->id);
		FUZZ_CHECK(fl == 0 || (flags & FILTER_FIELD), "a field without FILTER_FIELD");
		FUZZ_CHECK(fl == 0 || event_field_valid(ref->field, fl), "field \"%s\" invalid",
		           ref->field);
		FUZZ_CHECK(strlen(s) == tl + 1 + il + (fl ? fl + 1 : 0) &&
		               !memcmp(s, ref->type, tl) && s[tl] == ':' &&
		               !memcmp(s + tl + 1, ref->id, il) &&
		               (fl ? s[tl + 1 + il] == ':' && !strcmp(s + tl + 2 + il, ref->field)
		                   : s[tl + 1 + il] == '\0'),
		           "\"%s\" is not type:id[:field] of the input", s);
	} else {
		FUZZ_CHECK(why != NULL && why[0], "reference refused without a reason");
	}
	free(ref);
}

static void check_unescape(const char *in, size_t n, bool plus)
{
	char *out = malloc(n + 1);
	if (!out)
		abort();
	long r = query_unescape(in, n, out, plus);
	if (r >= 0) {
		FUZZ_CHECK((size_t)r <= n, "decoded %ld bytes from %zu", r, n);
		FUZZ_CHECK(out[r] == '\0', "output not NUL-terminated at its length");
		FUZZ_CHECK(fuzz_no_controls(out, (size_t)r), "control character in decoded output");
		if (!plus)
			FUZZ_CHECK(memchr(in, '+', n) == NULL ||
			               memchr(out, '+', (size_t)r) != NULL,
			           "'+' lost in path mode");
	} else {
		FUZZ_CHECK(r == -1, "query_unescape returned %ld", r);
	}
	free(out);
}

static void check_escape(const char *s)
{
	size_t n = strlen(s);
	size_t cap = 3 * n + 1;
	char *esc = malloc(cap);
	if (!esc)
		abort();
	long e = query_escape(s, esc, cap);
	FUZZ_CHECK(e >= 0 && (size_t)e < cap && esc[e] == '\0', "query_escape with room failed");
	/* Too small by one: must refuse, not overflow. */
	if (e > 0) {
		char *small = malloc((size_t)e);
		if (!small)
			abort();
		FUZZ_CHECK(query_escape(s, small, (size_t)e) == -1,
		           "query_escape fit %ld characters and a NUL into %ld bytes", e, e);
		free(small);
	}
	char *back = malloc((size_t)e + 1);
	if (!back)
		abort();
	long u = query_unescape(esc, (size_t)e, back, true);
	if (fuzz_no_controls(s, n))
		FUZZ_CHECK(u == (long)n && !memcmp(back, s, n),
		           "escape/unescape round trip failed: \"%s\" -> \"%s\"", s, esc);
	else
		FUZZ_CHECK(u == -1, "control characters survived escape/unescape");
	free(back);
	free(esc);
}

static void check_query(const char *s)
{
	struct query q;
	const char *why = NULL;
	if (query_parse(s, &q, &why) != 0) {
		FUZZ_CHECK(why != NULL && why[0], "query refused without a reason");
		FUZZ_CHECK(q.n == 0 && q.buf == NULL, "refused query not emptied");
		return;
	}
	FUZZ_CHECK(q.n <= QUERY_MAX_PARAMS, "%zu pairs", q.n);
	for (size_t i = 0; i < q.n; i++) {
		FUZZ_CHECK(q.key[i] && q.key[i][0], "empty key");
		FUZZ_CHECK(q.value[i] != NULL, "NULL value");
		FUZZ_CHECK(fuzz_no_controls(q.key[i], strlen(q.key[i])) &&
		               fuzz_no_controls(q.value[i], strlen(q.value[i])),
		           "control character in a pair");
		FUZZ_CHECK(query_get(&q, q.key[i]) == q.value[i], "query_get misses key %zu", i);
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(q.key[i], q.key[j]), "key \"%s\" twice", q.key[i]);
	}

	/* As services/auditor/h_events.c uses them. */
	static const char *const refs[] = {"filter[actor]", "filter[target]"};
	for (size_t i = 0; i < 2; i++) {
		const char *v = query_get(&q, refs[i]);
		if (v)
			check_filter(v, 0);
	}
	const char *after = query_get(&q, "page[after]");
	if (after)
		check_cursor(after);
	(void)query_get(&q, "page[size]");

	/* query_append then query_parse gives the same pairs back. */
	char url[2048] = "/data-events?";
	size_t appended = 0;
	for (; appended < q.n; appended++) {
		char before[sizeof url];
		memcpy(before, url, sizeof url);
		if (query_append(url, sizeof url, q.key[appended], q.value[appended])) {
			FUZZ_CHECK(!strcmp(before, url), "failed query_append changed the URL");
			break;
		}
	}
	struct query q2;
	const char *why2 = NULL;
	FUZZ_CHECK(query_parse(strchr(url, '?') + 1, &q2, &why2) == 0,
	           "query_append output \"%s\" refused: %s", url, why2);
	FUZZ_CHECK(q2.n == appended, "%zu pairs appended, %zu parsed", appended, q2.n);
	for (size_t i = 0; i < appended; i++)
		FUZZ_CHECK(!strcmp(q2.key[i], q.key[i]) && !strcmp(q2.value[i], q.value[i]),
		           "pair %zu changed through query_append: \"%s\"=\"%s\" vs \"%s\"=\"%s\"",
		           i, q.key[i], q.value[i], q2.key[i], q2.value[i]);
	query_free(&q2);
	query_free(&q);
	FUZZ_CHECK(q.n == 0 && q.buf == NULL, "query_free left state");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *raw = malloc(size ? size : 1); /* exact size, NULs kept */
	if (!raw)
		return 0;
	if (size)
		memcpy(raw, data, size);
	char *s = fuzz_cstr(data, size);

	check_query(s);
	check_cursor(s);
	size_t n = strlen(s);
	if (n <= 64) {
		char *enc = malloc(b64url_encoded_len(n) + 1);
		if (!enc)
			abort();
		b64url_encode((const unsigned char *)s, n, enc);
		check_cursor(enc);
		free(enc);
	}
	check_filter(s, 0);
	check_filter(s, FILTER_FIELD);
	check_timestamp(raw, size);
	check_names(s);
	check_unescape(raw, size, true);
	check_unescape(raw, size, false);
	check_escape(s);

	free(s);
	free(raw);
	return 0;
}
