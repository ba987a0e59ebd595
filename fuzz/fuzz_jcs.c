/* fuzz_jcs: RFC 8785 canonicalization (jcs_serialize) of whatever jansson
 * parses (any value, JSON_ALLOW_NUL).
 *
 * Invariants checked (jcs.h):
 *  - the only refusal is JCS_EINTRANGE, and only when the value holds an
 *    integer beyond 2^53 in magnitude (jansson cannot hold NaN, Infinity or
 *    ill-formed UTF-8, and its parser's depth limit is JCS_MAX_DEPTH); a
 *    refusal leaves *out NULL and *len 0;
 *  - the canonical bytes are NUL-terminated at *len, hold no byte below
 *    0x20 (no whitespace, control characters escaped) and no "\/" or
 *    "\u" escape other than \u00xx for U+0000-U+001F in lowercase hex;
 *  - idempotence: the canonical bytes parse, and canonicalize to the same
 *    bytes. They are read back as I-JSON reads them, every number a double
 *    (JSON_DECODE_INT_AS_REAL): a real from 2^63 up to 1e21 is written in
 *    integer digits ("100000000000000000000"), which jansson's integer
 *    parser refuses as too big, and a real from 2^53 up to 2^63 would come
 *    back as an integer that jcs refuses;
 *  - they parse to a value equal to the input, numbers compared as the
 *    IEEE doubles they stand for (1.0 becomes 1, an integer, and -0.0 0);
 *  - insertion order does not matter: the value rebuilt with every
 *    object's members inserted in reverse gives the same bytes. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "jcs.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PARSE_FLAGS (JSON_DECODE_ANY | JSON_ALLOW_NUL)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	json_object_seed(1);
	return 0;
}

/* True when v holds an integer with |n| > 2^53. */
static int has_big_int(const json_t *v)
{
	const json_int_t lim = 9007199254740992LL;
	if (json_is_integer(v)) {
		json_int_t x = json_integer_value(v);
		return x > lim || x < -lim;
	}
	if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++)
			if (has_big_int(json_array_get(v, i)))
				return 1;
		return 0;
	}
	if (json_is_object(v)) {
		const char *k;
		json_t *m;
		json_object_foreach((json_t *)v, k, m) if (has_big_int(m)) return 1;
	}
	return 0;
}

/* json_equal, except that numbers compare as doubles whatever their type. */
static int same(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	if (json_typeof(a) != json_typeof(b))
		return 0;
	switch (json_typeof(a)) {
	case JSON_STRING:
		return json_string_length(a) == json_string_length(b) &&
		       !memcmp(json_string_value(a), json_string_value(b), json_string_length(a));
	case JSON_ARRAY:
		if (json_array_size(a) != json_array_size(b))
			return 0;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!same(json_array_get(a, i), json_array_get(b, i)))
				return 0;
		return 1;
	case JSON_OBJECT: {
		if (json_object_size(a) != json_object_size(b))
			return 0;
		const char *k;
		size_t klen;
		json_t *m;
		json_object_keylen_foreach((json_t *)a, k, klen, m)
		{
			json_t *n = json_object_getn(b, k, klen);
			if (!n || !same(m, n))
				return 0;
		}
		return 1;
	}
	default:
		return 1; /* null, true, false */
	}
}

/* A deep copy of v whose objects get their members in reverse order. */
static json_t *reversed(const json_t *v)
{
	if (json_is_array(v)) {
		json_t *a = json_array();
		for (size_t i = 0; a && i < json_array_size(v); i++)
			if (json_array_append_new(a, reversed(json_array_get(v, i))))
				abort();
		return a;
	}
	if (!json_is_object(v))
		return json_deep_copy(v);
	size_t n = json_object_size(v), i = 0;
	struct {
		const char *k;
		size_t len;
		json_t *m;
	} *mem = malloc((n ? n : 1) * sizeof *mem);
	json_t *o = json_object();
	if (!mem || !o)
		abort();
	const char *k;
	size_t klen;
	json_t *m;
	json_object_keylen_foreach((json_t *)v, k, klen, m)
	{
		mem[i].k = k, mem[i].len = klen, mem[i].m = m;
		i++;
	}
	while (i-- > 0)
		if (json_object_setn_new_nocheck(o, mem[i].k, mem[i].len, reversed(mem[i].m)))
			abort();
	free(mem);
	return o;
}

/* Checks the canonical bytes' shape (see the invariants above). */
static void check_bytes(const char *s, size_t n)
{
	FUZZ_CHECK(s[n] == '\0', "not NUL-terminated at len %zu", n);
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK((unsigned char)s[i] >= 0x20, "raw byte 0x%02x at %zu",
		           (unsigned char)s[i], i);
		if (s[i] != '\\')
			continue;
		i++;
		FUZZ_CHECK(i < n && strchr("\"\\bfnrtu", s[i]), "escape \\%c at %zu", s[i], i);
		if (s[i] == 'u') {
			FUZZ_CHECK(i + 4 < n && s[i + 1] == '0' && s[i + 2] == '0' &&
			               (s[i + 3] == '0' || s[i + 3] == '1') &&
			               strchr("0123456789abcdef", s[i + 4]) && s[i + 4],
			           "escape %.6s at %zu", s + i - 1, i - 1);
			unsigned cp =
			    (unsigned)(s[i + 3] - '0') * 16 +
			    (unsigned)(s[i + 4] <= '9' ? s[i + 4] - '0' : s[i + 4] - 'a' + 10);
			FUZZ_CHECK(!strchr("\b\t\n\f\r", (int)cp) || cp == 0,
			           "\\u%04x has a short form", cp);
			i += 4;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t err;
	json_t *v = json_loadb((const char *)data, size, PARSE_FLAGS, &err);
	if (!v)
		return 0;

	char *c1 = (char *)1, *c2 = NULL, *c3 = NULL;
	size_t l1 = 1, l2 = 0, l3 = 0;
	json_t *back = NULL, *rev = NULL;
	int rc = jcs_serialize(v, &c1, &l1);
	if (rc != JCS_OK) {
		FUZZ_CHECK(rc == JCS_EINTRANGE && has_big_int(v), "jcs_serialize refused: %d %s",
		           rc, jcs_status_string(rc));
		FUZZ_CHECK(c1 == NULL && l1 == 0, "refusal left output");
		goto out;
	}
	FUZZ_CHECK(!has_big_int(v), "an integer beyond 2^53 accepted");
	check_bytes(c1, l1);

	back = json_loadb(c1, l1, PARSE_FLAGS | JSON_DECODE_INT_AS_REAL, &err);
	FUZZ_CHECK(back != NULL, "canonical form does not parse: %s\n  %.*s", err.text, (int)l1,
	           c1);
	rc = jcs_serialize(back, &c2, &l2);
	FUZZ_CHECK(rc == JCS_OK, "canonical form refused: %s", jcs_status_string(rc));
	FUZZ_CHECK(l1 == l2 && !memcmp(c1, c2, l1), "not idempotent:\n  %.*s\n  %.*s", (int)l1, c1,
	           (int)l2, c2);
	FUZZ_CHECK(same(v, back), "canonical form parses to another value:\n  %.*s", (int)l1, c1);

	rev = reversed(v);
	rc = jcs_serialize(rev, &c3, &l3);
	FUZZ_CHECK(rc == JCS_OK, "reversed copy refused: %s", jcs_status_string(rc));
	FUZZ_CHECK(l1 == l3 && !memcmp(c1, c3, l1), "member order leaks:\n  %.*s\n  %.*s", (int)l1,
	           c1, (int)l3, c3);
out:
	free(c1);
	free(c2);
	free(c3);
	json_decref(rev);
	json_decref(back);
	json_decref(v);
	return 0;
}
