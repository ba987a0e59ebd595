/* The grammar of types, ids and field names (event.h), and the references
 * built from them in queries (filter.h). */
#include "filter.h"
#include "testhelp.h"

/* Ids that producers use and that must keep working. */
static const char *const good_ids[] = {
    "1",
    "4294967295",
    "0190b6a8-7c2e-7abc-8def-0123456789ab",
    "0190B6A8-7C2E-7ABC-8DEF-0123456789AB",
    "inv-2026-0001",
    "a.b@c",
    "jim.chavo@happi.com",
    "ann+audit@example.com",
    "snake_case~v2",
    "josé.x@example.com",
    "straße",
    "漢字",
    "\xf0\x9f\x98\x80", /* an emoji */
    "...",
    ".hidden",
    "a234567890123456789012345678901234567890123456789012345678901234", /* 64 bytes */
};

/* Ids that must be refused: each would be ambiguous, invisible or unsafe. */
static const char *const bad_ids[] = {
    "",
    "1:2:3",
    "1:",
    "a b",
    " 1",
    "1 ",
    "'1'",
    "\"1\"",
    "1' OR '1'='1",
    "a/b",
    "a\\b",
    "a?b",
    "a#b",
    "a%41",
    "a&b=c",
    "<script>",
    "a,b",
    "a;b",
    "(1)",
    "a*",
    "a\tb",
    "a\x01",
    "a\x7f",
    "\xc2\x85", /* U+0085, a C1 control */
    "a\xc2\xa0"
    "b", /* no-break space */
    "a\xe2\x80\x8b"
    "b", /* zero-width space */
    "a\xe2\x80\xae"
    "b", /* right-to-left override */
    "a\xe3\x80\x80"
    "b",                 /* ideographic space */
    "a\xef\xbb\xbf",     /* byte order mark */
    "a\xef\xb8\x8f",     /* variation selector 16 */
    "a\xf3\xa0\x80\x81", /* a tag character */
    "\xff\xfe",          /* not UTF-8 */
    "\xc0\xaf",          /* overlong '/' */
    "\xed\xa0\x80",      /* a surrogate */
    "\xf4\x90\x80\x80",  /* over U+10FFFF */
    "\xe6\xbc",          /* truncated */
    ".",
    "..",
    "a234567890123456789012345678901234567890123456789012345678901234X", /* 65 bytes */
    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
    "\xc3\xa9\xc3\xa9\xc3\xa9", /* 33 characters, 66 bytes */
};

static const char *const good_types[] = {
    "users", "data-events", "inv.items", "A_1",
    "a234567890123456789012345678901234567890123456789012345678901234"};
static const char *const bad_types[] = {
    "",       "us ers",  "users;DROP",
    "us:ers", "usérs",   ".",
    "..",     "users/1", "a234567890123456789012345678901234567890123456789012345678901234X"};

static void test_grammar(void)
{
	for (size_t i = 0; i < sizeof good_ids / sizeof *good_ids; i++)
		if (!event_ref_valid(good_ids[i], strlen(good_ids[i]))) {
			CHECK(!"good id refused");
			fprintf(stderr, "  id #%zu \"%s\"\n", i, good_ids[i]);
		}
	for (size_t i = 0; i < sizeof bad_ids / sizeof *bad_ids; i++)
		if (event_ref_valid(bad_ids[i], strlen(bad_ids[i]))) {
			CHECK(!"bad id accepted");
			fprintf(stderr, "  id #%zu \"%s\"\n", i, bad_ids[i]);
		}
	/* A NUL inside is not part of any id. */
	CHECK(!event_ref_valid("1\0"
	                       "2",
	                       3));
	for (size_t i = 0; i < sizeof good_types / sizeof *good_types; i++) {
		CHECK(event_type_valid(good_types[i], strlen(good_types[i])));
		CHECK(event_field_valid(good_types[i], strlen(good_types[i])));
	}
	for (size_t i = 0; i < sizeof bad_types / sizeof *bad_types; i++) {
		CHECK(!event_type_valid(bad_types[i], strlen(bad_types[i])));
		CHECK(!event_field_valid(bad_types[i], strlen(bad_types[i])));
	}
}

static void test_refs(void)
{
	struct filter_ref r;
	const char *why = NULL;
	CHECK_INT(filter_parse_ref("users:1", 0, &r, &why), 0);
	CHECK_STR(r.type, "users");
	CHECK_STR(r.id, "1");
	CHECK_STR(r.field, "");
	CHECK_INT(filter_parse_ref("invoices:inv-2026-0001", 0, &r, &why), 0);
	CHECK_STR(r.id, "inv-2026-0001");
	CHECK_INT(filter_parse_ref("contacts:a.b@c", 0, &r, &why), 0);
	CHECK_STR(r.id, "a.b@c");

	/* The reproduction: a second ':' is not part of an id. */
	why = NULL;
	CHECK_INT(filter_parse_ref("users:1:2:3", 0, &r, &why), -1);
	CHECK(why && strstr(why, "bad id"));
	CHECK_INT(filter_parse_ref("invoices:2026:07", 0, &r, &why), -1);
	CHECK_INT(filter_parse_ref("users:1:email", 0, &r, &why), -1);

	/* Each refusal says which part is wrong. */
	CHECK_INT(filter_parse_ref("users", 0, &r, &why), -1);
	CHECK_STR(why, "must be type:id.");
	CHECK_INT(filter_parse_ref(NULL, 0, &r, &why), -1);
	CHECK_INT(filter_parse_ref("us ers:1", 0, &r, &why), -1);
	CHECK(strstr(why, "bad type") != NULL);
	CHECK_INT(filter_parse_ref(":1", 0, &r, &why), -1);
	CHECK(strstr(why, "bad type") != NULL);
	const char *bad[] = {"",
	                     "users:",
	                     "users:\x01",
	                     "users;DROP:1",
	                     "users:'1'",
	                     "users:a b",
	                     "users:\"1\"",
	                     "users:..",
	                     "a234567890123456789012345678901234567890123456789012345678901234X:1"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why = NULL;
		CHECK_INT(filter_parse_ref(bad[i], 0, &r, &why), -1);
		CHECK(why && why[0]);
	}
	for (size_t i = 0; i < sizeof good_ids / sizeof *good_ids; i++) {
		char s[128];
		snprintf(s, sizeof s, "things:%s", good_ids[i]);
		CHECK_INT(filter_parse_ref(s, 0, &r, &why), 0);
		CHECK_STR(r.id, good_ids[i]);
	}

	/* With a field, as the notes take it. */
	CHECK_INT(filter_parse_ref("users:1:email", FILTER_FIELD, &r, &why), 0);
	CHECK_STR(r.type, "users");
	CHECK_STR(r.id, "1");
	CHECK_STR(r.field, "email");
	CHECK_INT(filter_parse_ref("users:1", FILTER_FIELD, &r, &why), 0);
	CHECK_STR(r.field, "");
	CHECK_INT(filter_parse_ref("users", FILTER_FIELD, &r, &why), -1);
	CHECK_STR(why, "must be type:id or type:id:field.");
	CHECK_INT(filter_parse_ref("users:1:a:b", FILTER_FIELD, &r, &why), -1);
	CHECK(strstr(why, "bad field") != NULL);
	CHECK_INT(filter_parse_ref("users:1:", FILTER_FIELD, &r, &why), -1);
	CHECK(strstr(why, "bad field") != NULL);
	CHECK_INT(filter_parse_ref("users::email", FILTER_FIELD, &r, &why), -1);
	CHECK(strstr(why, "bad id") != NULL);
	CHECK_INT(filter_parse_ref("users:1:e mail", FILTER_FIELD, &r, &why), -1);
}

int main(void)
{
	test_grammar();
	test_refs();
	return test_report("filter");
}
