/* test_jcs: RFC 8785 canonical JSON against the RFC's own vectors and the
 * test data of its reference implementations (cyberphone/json-
 * canonicalization testdata/: input/NAME.json -> output/NAME.json, byte
 * for byte; the outputs equal testdata/outhex/NAME.txt). */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "jcs.h"
#include "testhelp.h"

/* Canonicalizes the JSON text in and compares with want (wlen bytes, or
 * strlen). Returns the jcs status. */
static int canon_is(const char *in, const char *want, size_t wlen)
{
	json_error_t err;
	json_t *v = json_loads(in, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
	char *out = NULL;
	size_t len = 0;
	if (!v) {
		fprintf(stderr, "cannot parse %s: %s\n", in, err.text);
		return -100;
	}
	int rc = jcs_serialize(v, &out, &len);
	json_decref(v);
	if (rc == JCS_OK) {
		if (!want)
			want = "", wlen = (size_t)-1;
		if (wlen == (size_t)-1 || len != wlen || memcmp(out, want, len)) {
			fprintf(stderr, "canonical form of %s\n  is   %s\n  want %s\n", in, out,
			        want);
			rc = -101;
		}
		if (out[len] != '\0')
			rc = -102;
	}
	free(out);
	return rc;
}
#define CANON(in, want) CHECK_INT(canon_is((in), (want), strlen(want)), JCS_OK)

/* Status of canonicalizing a value we build (stolen). */
static int canon_status(json_t *v)
{
	char *out = (char *)1;
	size_t len = 1;
	int rc = jcs_serialize(v, &out, &len);
	if (rc != JCS_OK && (out != NULL || len != 0))
		rc = -103;
	free(out);
	json_decref(v);
	return rc;
}

static const struct {
	const char *name, *in, *out;
} files[] = {
    {"arrays", "[\n  56,\n  {\n    \"d\": true,\n    \"10\": null,\n    \"1\": [ ]\n  }\n]\n",
     "[56,{\"1\":[],\"10\":null,\"d\":true}]"},
    {"french",
     "{\n  \"peach\": \"This sorting order\",\n  \"p\xc3\xa9"
     "ch\xc3\xa9\": \"is wron"
     "g according to French\",\n  \"p\xc3\xaa"
     "che\": \"but canonicalization MUST\",\n"
     "  \"sin\":   \"ignore locale\"\n}\n",
     "{\"peach\":\"This sorting order\",\"p\xc3\xa9"
     "ch\xc3\xa9\":\"is wrong accordin"
     "g to French\",\"p\xc3\xaa"
     "che\":\"but canonicalization MUST\",\"sin\":\"ignore"
     " locale\"}"},
    {"structures",
     "{\n  \"1\": {\"f\": {\"f\": \"hi\",\"F\": 5} ,\"\\n\": 56.0},\n  \"10\": { },\n "
     " \"\": \"empty\",\n  \"a\": { },\n  \"111\": [ {\"e\": \"yes\",\"E\": \"no\" } ]"
     ",\n  \"A\": { }\n}",
     "{\"\":\"empty\",\"1\":{\"\\n\":56,\"f\":{\"F\":5,\"f\":\"hi\"}},\"10\":{},\"111\""
     ":[{\"E\":\"no\",\"e\":\"yes\"}],\"A\":{},\"a\":{}}"},
    {"unicode", "{\n  \"Unnormalized Unicode\":\"A\\u030a\"\n}\n",
     "{\"Unnormalized Unicode\":\"A\xcc\x8a\"}"},
    {"values",
     "{\n  \"numbers\": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000"
     "000001],\n  \"string\": \"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\"
     "/\",\n  \"literals\": [null, true, false]\n}",
     "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1"
     "e-27],\"string\":\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}"},
    {"weird",
     "{\n  \"\\u20ac\": \"Euro Sign\",\n  \"\\r\": \"Carriage Return\",\n  \"\\u000a\""
     ": \"Newline\",\n  \"1\": \"One\",\n  \"\\u0080\": \"Control\\u007f\",\n  \"\\ud8"
     "3d\\ude02\": \"Smiley\",\n  \"\\u00f6\": \"Latin Small Letter O With Diaeresis\""
     ",\n  \"\\ufb33\": \"Hebrew Letter Dalet With Dagesh\",\n  \"</script>\": \"Brows"
     "er Challenge\"\n}\n",
     "{\"\\n\":\"Newline\",\"\\r\":\"Carriage Return\",\"1\":\"One\",\"</script>\":\"B"
     "rowser Challenge\",\"\xc2\x80\":\"Control\x7f\",\"\xc3\xb6\":\"Latin Small Lette"
     "r O With Diaeresis\",\"\xe2\x82\xac\":\"Euro Sign\",\"\xf0\x9f\x98\x82\":\"Smile"
     "y\",\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}"},

};

/* RFC 8785 Appendix B: IEEE 754 bits -> canonical text. Every finite row;
 * the NaN and Infinity rows are errors. */
static const struct {
	uint64_t bits;
	const char *want;
} appendix_b[] = {
    {0x0000000000000000, "0"},
    {0x8000000000000000, "0"},
    {0x0000000000000001, "5e-324"},
    {0x8000000000000001, "-5e-324"},
    {0x7fefffffffffffff, "1.7976931348623157e+308"},
    {0xffefffffffffffff, "-1.7976931348623157e+308"},
    {0x4340000000000000, "9007199254740992"},
    {0xc340000000000000, "-9007199254740992"},
    {0x4430000000000000, "295147905179352830000"},
    {0x44b52d02c7e14af5, "9.999999999999997e+22"},
    {0x44b52d02c7e14af6, "1e+23"},
    {0x44b52d02c7e14af7, "1.0000000000000001e+23"},
    {0x444b1ae4d6e2ef4e, "999999999999999700000"},
    {0x444b1ae4d6e2ef4f, "999999999999999900000"},
    {0x444b1ae4d6e2ef50, "1e+21"},
    {0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"},
    {0x3eb0c6f7a0b5ed8d, "0.000001"},
    {0x41b3de4355555553, "333333333.3333332"},
    {0x41b3de4355555554, "333333333.33333325"},
    {0x41b3de4355555555, "333333333.3333333"},
    {0x41b3de4355555556, "333333333.3333334"},
    {0x41b3de4355555557, "333333333.33333343"},
    {0xbecbf647612f3696, "-0.0000033333333333333333"},
    {0x43143ff3c1cb0959, "1424953923781206.2"},
};

static double from_bits(uint64_t bits)
{
	union {
		uint64_t u;
		double d;
	} x = {.u = bits};
	return x.d;
}

static void test_files(void)
{
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		int rc = canon_is(files[i].in, files[i].out, strlen(files[i].out));
		if (rc)
			fprintf(stderr, "testdata %s failed\n", files[i].name);
		CHECK_INT(rc, JCS_OK);
	}
}

static void test_appendix_b(void)
{
	char buf[JCS_NUMBER_MAX];
	for (size_t i = 0; i < sizeof appendix_b / sizeof appendix_b[0]; i++) {
		double d = from_bits(appendix_b[i].bits);
		int k = jcs_format_double(d, buf);
		CHECK_STR(buf, appendix_b[i].want);
		CHECK_INT(k, strlen(appendix_b[i].want));
		/* The same through jcs_serialize, as a jansson real inside an array. */
		json_t *a = json_pack("[f]", d);
		char *out = NULL;
		size_t len = 0;
		CHECK_INT(jcs_serialize(a, &out, &len), JCS_OK);
		char want[64];
		snprintf(want, sizeof want, "[%s]", appendix_b[i].want);
		CHECK_STR(out, want);
		CHECK_INT(len, strlen(want));
		free(out);
		json_decref(a);
		/* And the canonical text reads back as the same double. */
		CHECK(strtod(buf, NULL) == d);
	}
	/* 7fffffffffffffff (NaN) and 7ff0000000000000 (Infinity): not JSON. */
	CHECK_INT(jcs_format_double(from_bits(0x7fffffffffffffff), buf), JCS_ENUMBER);
	CHECK_STR(buf, "");
	CHECK_INT(jcs_format_double(from_bits(0x7ff0000000000000), buf), JCS_ENUMBER);
	CHECK_INT(jcs_format_double(-INFINITY, buf), JCS_ENUMBER);
	/* jansson refuses to make a NaN or infinite real, so build a finite one
	 * and set it: json_real_set refuses too. The formatter is the guard. */
	CHECK(json_real(NAN) == NULL);
}

/* Numbers as jansson parses them: "10" is an integer, "1E30" a real. */
/* jcs_buf_int writes what "%lld" writes, over the whole range. */
static void test_buf_int(void)
{
	const long long vs[] = {0, 1, -1, 9, 10, -10, 99, 100, 1234567890, 9007199254740993LL,
	                        -9007199254740993LL, LLONG_MAX, LLONG_MIN, LLONG_MIN + 1};
	for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
		char want[32];
		snprintf(want, sizeof want, "%lld", vs[i]);
		struct jcs_buf b = {0};
		jcs_buf_int(&b, vs[i]);
		CHECK_INT(b.status, 0);
		CHECK_INT(b.len, strlen(want));
		CHECK(b.data && !memcmp(b.data, want, b.len));
		jcs_buf_free(&b);
	}
}

static void test_numbers(void)
{
	/* FACTS.md / RFC 8785 §3.2.2.3 examples, parsed as reals. */
	CANON("1E30", "1e+30");
	CANON("4.50", "4.5");
	CANON("2e-3", "0.002");
	CANON("0.000000000000000000000000001", "1e-27");
	CANON("333333333.33333329", "333333333.3333333");
	CANON("56.0", "56");
	CANON("-0.0", "0");
	CANON("1e21", "1e+21");
	CANON("1e20", "100000000000000000000");
	CANON("123e18", "123000000000000000000");
	CANON("0.000001", "0.000001");
	CANON("1e-7", "1e-7");
	CANON("-1.5e-7", "-1.5e-7");
	CANON("1.25e+100", "1.25e+100");
	CANON("0.1", "0.1");
	CANON("100.5", "100.5");
	CANON("5e-324", "5e-324");
	/* Integers (json_int_t). */
	CANON("10", "10");
	CANON("0", "0");
	CANON("-0", "0");
	CANON("-17", "-17");
	CANON("[1, 1.0, 10, 1E1]", "[1,1,10,10]");
	CANON("9007199254740992", "9007199254740992");
	CANON("-9007199254740992", "-9007199254740992");
	CANON("9007199254740991", "9007199254740991");
	/* Beyond 2^53 an integer is not exact as a double: refused, not
	 * rounded (two integers would share one canonical form). */
	CHECK_INT(canon_is("9007199254740993", "", 0), JCS_EINTRANGE);
	CHECK_INT(canon_is("-9007199254740993", "", 0), JCS_EINTRANGE);
	CHECK_INT(canon_is("{\"a\":[9223372036854775807]}", "", 0), JCS_EINTRANGE);
	CHECK_INT(canon_status(json_integer(INT64_MIN)), JCS_EINTRANGE);
	/* Reals from 2^63 to 1e21 are written as integer digits, which
	 * jansson reads back only with JSON_DECODE_INT_AS_REAL (as I-JSON
	 * does: every number a double). */
	CANON("1e20", "100000000000000000000");
	CHECK(json_loads("100000000000000000000", JSON_DECODE_ANY, NULL) == NULL);
	json_t *r =
	    json_loads("100000000000000000000", JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, NULL);
	CHECK(json_is_real(r) && json_real_value(r) == 1e20);
	json_decref(r);
	/* As a real, the same magnitude is fine: it is a double already. */
	CANON("9007199254740993.0", "9007199254740992");
	CANON("18446744073709551616.0", "18446744073709552000");
}

static void test_strings(void)
{
	/* §3.2.2.2: only '"', '\' and U+0000-U+001F are escaped; short forms
	 * for \b \t \n \f \r, else \u00xx in lowercase hex. */
	CANON("\"\\u0000\\u0001\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u001f\\u001F \"",
	      "\"\\u0000\\u0001\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u001f\\u001f \"");
	CANON("\"\\\"\\\\\\/\"", "\"\\\"\\\\/\"");
	/* DEL, U+2028, U+2029, non-ASCII and astral characters are raw UTF-8. */
	CANON("\"\\u007f\\u2028\\u2029\\u00e9\\ud83d\\ude02\\uffff\"",
	      "\"\x7f\xe2\x80\xa8\xe2\x80\xa9\xc3\xa9\xf0\x9f\x98\x82\xef\xbf\xbf\"");
	CANON("\"</script>\"", "\"</script>\"");
	CANON("\"\"", "\"\"");
	/* A NUL inside a string (JSON_ALLOW_NUL), and inside a member name
	 * (which jansson's parser refuses, but json_object_setn makes). */
	CANON("[\"x\\u0000\"]", "[\"x\\u0000\"]");
	json_t *nul = json_object();
	json_object_setn_new(nul, "a\0b", 3, json_stringn("x\0", 2));
	json_object_setn_new(nul, "a", 1, json_null());
	char *nout = NULL;
	size_t nlen = 0;
	CHECK_INT(jcs_serialize(nul, &nout, &nlen), JCS_OK);
	CHECK_INT(nlen, 31);
	CHECK(nout && !memcmp(nout, "{\"a\":null,\"a\\u0000b\":\"x\\u0000\"}", 32));
	free(nout);
	json_decref(nul);

	/* Values built without jansson's UTF-8 check are checked here. */
	CHECK_INT(canon_status(json_stringn_nocheck("\xff", 1)), JCS_EUTF8);
	CHECK_INT(canon_status(json_stringn_nocheck("\xc0\xaf", 2)), JCS_EUTF8);     /* overlong */
	CHECK_INT(canon_status(json_stringn_nocheck("\xed\xa0\x80", 3)), JCS_EUTF8); /* D800 */
	CHECK_INT(canon_status(json_stringn_nocheck("\xf4\x90\x80\x80", 4)), JCS_EUTF8);
	CHECK_INT(canon_status(json_stringn_nocheck("ab\xe2\x82", 4)), JCS_EUTF8); /* cut */
	json_t *o = json_object();
	json_object_setn_new_nocheck(o, "\xfe", 1, json_true());
	CHECK_INT(canon_status(o), JCS_EUTF8);
	CHECK_INT(canon_status(json_stringn_nocheck("\xf4\x8f\xbf\xbf", 4)), JCS_OK);
}

/* §3.2.3: names sort as arrays of UTF-16 code units. */
static void test_order(void)
{
	/* The RFC's §3.2.3 sample. */
	CANON("{\"\\u20ac\":\"Euro Sign\",\"\\r\":\"Carriage Return\","
	      "\"\\ufb33\":\"Hebrew Letter Dalet With Dagesh\",\"1\":\"One\","
	      "\"\\ud83d\\ude00\":\"Emoji: Grinning Face\",\"\\u0080\":\"Control\","
	      "\"\\u00f6\":\"Latin Small Letter O With Diaeresis\"}",
	      "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xc2\x80\":\"Control\","
	      "\"\xc3\xb6\":\"Latin Small Letter O With Diaeresis\","
	      "\"\xe2\x82\xac\":\"Euro Sign\",\"\xf0\x9f\x98\x80\":\"Emoji: Grinning Face\","
	      "\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}");
	/* Where UTF-16 order differs from byte (= code point) order: U+1F600
	 * is D83D DE00 in UTF-16, before U+FF61 and U+E000, though after them
	 * as bytes (F0.. > EF.., EE..). U+D7FF still comes first. */
	CANON("{\"\\uff61\":1,\"\\ue000\":2,\"\\ud83d\\ude00\":3,\"\\ud7ff\":4}",
	      "{\"\xed\x9f\xbf\":4,\"\xf0\x9f\x98\x80\":3,\"\xee\x80\x80\":2,\"\xef\xbd\xa1\":1}");
	/* Two astral names: by their low surrogates, same as by code point. */
	CANON("{\"\\ud83d\\ude01\":1,\"\\ud83d\\ude00\":2,\"\\ud800\\udc00\":3}",
	      "{\"\xf0\x90\x80\x80\":3,\"\xf0\x9f\x98\x80\":2,\"\xf0\x9f\x98\x81\":1}");
	/* A prefix first; case and digits by code unit; no locale. */
	CANON("{\"ab\":1,\"a\":2,\"\":3,\"B\":4,\"b\":5,\"10\":6,\"9\":7}",
	      "{\"\":3,\"10\":6,\"9\":7,\"B\":4,\"a\":2,\"ab\":1,\"b\":5}");
	/* Nested objects are sorted too; arrays keep their order. */
	CANON("{\"z\":[{\"y\":1,\"x\":2},3],\"a\":{}}", "{\"a\":{},\"z\":[{\"x\":2,\"y\":1},3]}");
	/* Insertion order does not matter. */
	json_t *a = json_pack("{s:i,s:i,s:i}", "b", 1, "a", 2, "c", 3);
	json_t *b = json_pack("{s:i,s:i,s:i}", "c", 3, "b", 1, "a", 2);
	char *x = NULL, *y = NULL;
	size_t xl = 0, yl = 0;
	CHECK_INT(jcs_serialize(a, &x, &xl), JCS_OK);
	CHECK_INT(jcs_serialize(b, &y, &yl), JCS_OK);
	CHECK_STR(x, "{\"a\":2,\"b\":1,\"c\":3}");
	CHECK_STR(y, x);
	free(x);
	free(y);
	json_decref(a);
	json_decref(b);
}

static json_t *nest(int depth)
{
	json_t *v = json_integer(1);
	for (int i = 0; i < depth; i++)
		v = i % 2 ? json_pack("[o]", v) : json_pack("{s:o}", "k", v);
	return v;
}

static void test_limits(void)
{
	CANON("null", "null");
	CANON("[true,false,null]", "[true,false,null]");
	CANON("[]", "[]");
	CANON("{}", "{}");
	CANON(" [ 1 , { } , [ ] ] ", "[1,{},[]]");
	CHECK_INT(canon_status(nest(JCS_MAX_DEPTH)), JCS_OK);
	CHECK_INT(canon_status(nest(JCS_MAX_DEPTH + 1)), JCS_EDEPTH);
	/* A cycle is only a very deep value. */
	json_t *cyc = json_array(), *inner = json_object();
	json_array_append(cyc, inner);
	json_object_set(inner, "back", cyc); /* jansson refuses only self-loops */
	char *out = NULL;
	size_t len = 0;
	CHECK_INT(jcs_serialize(cyc, &out, &len), JCS_EDEPTH);
	CHECK(out == NULL);
	json_object_clear(inner);
	json_decref(inner);
	json_decref(cyc);
	/* Whatever jansson's parser takes, deepest included, canonicalizes. */
	char deep[2 * 2048 + 1];
	memset(deep, '[', 2048);
	memset(deep + 2048, ']', 2048);
	deep[4096] = '\0';
	json_t *v = json_loads(deep, 0, NULL);
	CHECK(v != NULL);
	if (v) {
		CHECK_INT(jcs_serialize(v, &out, &len), JCS_OK);
		CHECK_STR(out, deep);
		free(out);
		json_decref(v);
	}
	CHECK_INT(jcs_serialize(NULL, &out, &len), JCS_EINVAL);
	CHECK(out == NULL && len == 0);

	CHECK_STR(jcs_status_string(JCS_OK), "ok");
	for (int s = JCS_EDEPTH; s < 0; s++)
		CHECK(strcmp(jcs_status_string(s), "unknown jcs status") != 0);
	CHECK_STR(jcs_status_string(-99), "unknown jcs status");
}

int main(void)
{
	test_files();
	test_appendix_b();
	test_numbers();
	test_buf_int();
	test_strings();
	test_order();
	test_limits();
	return test_report("jcs");
}
