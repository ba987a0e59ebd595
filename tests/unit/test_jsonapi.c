#include <stdlib.h>
#include <string.h>

#include "jsonapi.h"
#include "testhelp.h"

static const struct jsonapi_attr spec[] = {
    {"name", JSONAPI_STRING, 5, 1, JSONAPI_REQUIRED},
    {"agreedTos", JSONAPI_BOOLEAN, 0, 0, 0},
    {"note", JSONAPI_STRING, 0, 0, JSONAPI_NULLABLE},
};
#define NSPEC (sizeof spec / sizeof spec[0])

/* Parses body as a create (id NULL) or an update; returns the status
 * (0 for success) and leaves the title in title. */
static int parse(const char *body, const char *id, json_t **attrs, char *title)
{
	struct jsonapi_error err = {0};
	*attrs = NULL;
	int rc = jsonapi_parse_resource(body, strlen(body), "users", id, spec, NSPEC, attrs, &err);
	strcpy(title, rc ? err.title : "");
	return rc ? err.status : 0;
}

static void expect(const char *body, const char *id, int status, const char *title)
{
	json_t *attrs;
	char got[64];
	int st = parse(body, id, &attrs, got);
	CHECK_INT(st, status);
	if (title)
		CHECK_STR(got, title);
	if (st)
		CHECK(attrs == NULL);
	json_decref(attrs);
}

int main(void)
{
	json_t *attrs;
	char title[64];

	/* A NUL in a string: refused in our words, not the library's. */
	{
		struct jsonapi_error err = {0};
		const char *nul = "{\"data\":{\"type\":\"users\",\"attributes\":{\"name\":\"a\\u0000b\"}}}";
		CHECK(jsonapi_parse_resource(nul, strlen(nul), "users", NULL, spec, NSPEC, &attrs,
		                             &err) != 0);
		CHECK_INT(err.status, 400);
		CHECK(strstr(err.detail, "\\u0000 is not allowed in a string") != NULL);
		CHECK(strstr(err.detail, "JSON_") == NULL);
	}

	/* A 20-digit integer is valid JSON beyond what is read (RFC 8259 §6):
	 * said so, not "too big integer" under "Malformed JSON". */
	{
		struct jsonapi_error err = {0};
		const char *big = "{\"data\":{\"type\":\"users\",\"attributes\":{\"n\":"
		                  "12345678901234567890}}}";
		CHECK(jsonapi_parse_resource(big, strlen(big), "users", NULL, spec, NSPEC, &attrs,
		                             &err) != 0);
		CHECK_INT(err.status, 400);
		CHECK(strcmp(err.title, JSONAPI_NUMBER_RANGE) == 0);
		CHECK(strstr(err.detail, "2^63-1") != NULL);
	}

	/* A good create, booleans sent as 0/1 normalised. */
	CHECK_INT(parse("{\"data\":{\"type\":\"users\",\"attributes\":{\"name\":\"Jim\","
	                "\"agreedTos\":1}}}",
	                NULL, &attrs, title),
	          0);
	CHECK(json_is_true(json_object_get(attrs, "agreedTos")));
	CHECK_STR(json_string_value(json_object_get(attrs, "name")), "Jim");
	json_decref(attrs);

	/* A good update with only some attributes. */
	CHECK_INT(parse("{\"data\":{\"type\":\"users\",\"id\":\"7\",\"attributes\":{"
	                "\"agreedTos\":false}}}",
	                "7", &attrs, title),
	          0);
	CHECK_INT(json_object_size(attrs), 1);
	json_decref(attrs);

	/* Code points, not bytes: five 2-byte characters fit a limit of 5. */
	CHECK_INT(parse("{\"data\":{\"type\":\"users\",\"attributes\":{\"name\":\"\xc3\xa9\xc3\xa9"
	                "\xc3\xa9\xc3\xa9\xc3\xa9\"}}}",
	                NULL, &attrs, title),
	          0);
	json_decref(attrs);

	expect("", NULL, 400, "Missing request body");
	expect("{\"data\":", NULL, 400, "Malformed JSON");
	expect("{\"data\":{},\"data\":{}}", NULL, 400, "Malformed JSON"); /* duplicate key */
	expect("{\"data\":{\"type\":\"users\",\"attributes\":{\"name\":\"\xff\"}}}", NULL, 400,
	       "Malformed JSON"); /* invalid UTF-8 */
	char deep[200] = "";
	for (int i = 0; i < 40; i++)
		strcat(deep, "[");
	expect(deep, NULL, 400, "Malformed JSON");
	expect("[]", NULL, 400, "Invalid document");
	expect("{\"errors\":[]}", NULL, 400, "Invalid document");
	expect("{\"data\":[]}", NULL, 400, "Invalid document");
	expect("{\"data\":{\"attributes\":{}}}", NULL, 400, "Invalid document");
	expect("{\"data\":{\"type\":\"users\",\"relationships\":{}}}", NULL, 400, "Invalid document");
	expect("{\"data\":{\"type\":\"notes\",\"attributes\":{\"name\":\"a\"}}}", NULL, 409,
	       "Type mismatch");
	expect("{\"data\":{\"type\":\"users\",\"id\":\"1\",\"attributes\":{\"name\":\"a\"}}}", NULL,
	       403, "Client-generated id");
	expect("{\"data\":{\"type\":\"users\",\"attributes\":{}}}", "7", 400, "Invalid document");
	expect("{\"data\":{\"type\":\"users\",\"id\":7,\"attributes\":{}}}", "7", 400,
	       "Invalid document");
	expect("{\"data\":{\"type\":\"users\",\"id\":\"8\",\"attributes\":{}}}", "7", 409,
	       "Id mismatch");
	expect("{\"data\":{\"type\":\"users\",\"attributes\":[]}}", NULL, 400, "Invalid document");
	expect("{\"data\":{\"type\":\"users\",\"attributes\":{\"agreedTos\":true}}}", NULL, 422,
	       "Missing attribute");
	expect("{\"data\":{\"type\":\"users\",\"attributes\":{\"name\":\"a\",\"admin\":true}}}", NULL,
	       422, "Unknown attribute");
	expect("{\"data\":{\"type\":\"users\",\"attributes\":{\"name\":7}}}", NULL, 422,
	       "Invalid attribute");
	expect("{\"data\":{\"type\":\"users\",\"attributes\":{\"name\":\"abcdef\"}}}", NULL, 422,
	       "Invalid attribute");
	expect("{\"data\":{\"type\":\"users\",\"attributes\":{\"name\":\"\"}}}", NULL, 422,
	       "Invalid attribute");
	expect("{\"data\":{\"type\":\"users\",\"attributes\":{\"name\":null}}}", NULL, 422,
	       "Invalid attribute");
	expect("{\"data\":{\"type\":\"users\",\"attributes\":{\"name\":\"a\",\"agreedTos\":2}}}",
	       NULL, 422, "Invalid attribute");
	expect("{\"data\":{\"type\":\"users\",\"attributes\":{\"name\":\"a\",\"agreedTos\":\"yes\"}}}",
	       NULL, 422, "Invalid attribute");
	expect("{\"data\":{\"type\":\"users\",\"attributes\":{\"name\":\"a\",\"note\":null}}}", NULL,
	       0, NULL);

	/* Error text quoting the input stays valid UTF-8 even when the input's
	 * characters are cut (found by fuzzing: this made a 500). */
	const char *cut[] = {"\"\\\xe6\xbc\xa2",
	                     "{\"data\":{\"type\":\"users\",\"attributes\":{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9\":1}}}"};
	for (size_t i = 0; i < 2; i++) {
		struct jsonapi_error e;
		json_t *a = NULL;
		CHECK_INT(jsonapi_parse_resource(cut[i], strlen(cut[i]), "users", NULL, spec, NSPEC, &a, &e),
		          -1);
		json_t *d = jsonapi_error_doc(&e);
		char *text = d ? json_dumps(d, 0) : NULL;
		CHECK(text != NULL);
		free(text);
		json_decref(d);
	}

	/* The error document has the shape clients rely on. */
	struct jsonapi_error err;
	jsonapi_fail(&err, 422, "Invalid attribute", "/data/attributes/name", "Too long.");
	json_t *doc = jsonapi_error_doc(&err);
	json_t *e = json_array_get(json_object_get(doc, "errors"), 0);
	CHECK_STR(json_string_value(json_object_get(e, "status")), "422");
	CHECK_STR(json_string_value(json_object_get(e, "title")), "Invalid attribute");
	CHECK_STR(json_string_value(json_object_get(e, "detail")), "Too long.");
	CHECK_STR(json_string_value(json_object_get(json_object_get(e, "source"), "pointer")),
	          "/data/attributes/name");

	/* Every document says its version once; a relayed one keeps its own. */
	CHECK_INT(jsonapi_add_version(doc), 0);
	CHECK_STR(json_string_value(json_object_get(json_object_get(doc, "jsonapi"), "version")),
	          "1.1");
	json_object_set_new(json_object_get(doc, "jsonapi"), "meta", json_object());
	CHECK_INT(jsonapi_add_version(doc), 0);
	CHECK(json_object_get(json_object_get(doc, "jsonapi"), "meta") != NULL);
	CHECK_INT(json_object_size(doc), 2);
	json_t *array = json_array();
	CHECK_INT(jsonapi_add_version(array), -1);
	CHECK_INT(jsonapi_add_version(NULL), -1);
	json_decref(array);
	json_decref(doc);
	return test_report("jsonapi");
}
