/* fuzz_jsonapi: a request body, as the API's POST/PATCH handlers receive it,
 * through jsonapi_parse_resource for a users-like and a notes-like
 * resource, each as a create (id NULL) and as an update (id "7").
 *
 * Invariants checked (jsonapi.h):
 *  - success: *attrs is an object holding only attributes named in the
 *    spec; strings are within [min_chars, max_chars] code points; booleans
 *    are true/false; null only for NULLABLE; on a create every REQUIRED
 *    attribute is present;
 *  - refusal: *attrs is NULL, err.status is 400, 403, 409 or 422, title and
 *    detail are non-empty and NUL-terminated, pointer is "" or starts with
 *    '/', and jsonapi_error_doc(err) is an object that json_dumps encodes
 *    (that is what the server sends back). */
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "jsonapi.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* As in services/api/data_users.c and data_notes.c. */
static const struct jsonapi_attr user_spec[] = {
    {"name", JSONAPI_STRING, 64, 1, JSONAPI_REQUIRED},
    {"email", JSONAPI_STRING, 128, 3, JSONAPI_REQUIRED},
    {"agreedTos", JSONAPI_BOOLEAN, 0, 0, 0},
};
static const struct jsonapi_attr note_spec[] = {
    {"targetType", JSONAPI_STRING, 64, 1, JSONAPI_REQUIRED},
    {"targetId", JSONAPI_STRING, 64, 1, JSONAPI_REQUIRED},
    {"fieldName", JSONAPI_STRING, 64, 1, JSONAPI_NULLABLE},
    {"data", JSONAPI_STRING, 16000, 0, JSONAPI_NULLABLE},
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	json_object_seed(1); /* reproducible hashing and iteration */
	return 0;
}

static const struct jsonapi_attr *find_attr(const struct jsonapi_attr *spec, size_t nspec,
                                            const char *name)
{
	for (size_t i = 0; i < nspec; i++)
		if (!strcmp(spec[i].name, name))
			return &spec[i];
	return NULL;
}

static void check_success(json_t *attrs, const char *id, const struct jsonapi_attr *spec,
                          size_t nspec)
{
	FUZZ_CHECK(json_is_object(attrs), "accepted, but attrs is not an object");
	const char *key;
	json_t *v;
	json_object_foreach(attrs, key, v)
	{
		const struct jsonapi_attr *a = find_attr(spec, nspec, key);
		FUZZ_CHECK(a != NULL, "attrs holds \"%s\", which the spec does not name", key);
		if (json_is_null(v)) {
			FUZZ_CHECK(a->flags & JSONAPI_NULLABLE, "\"%s\" is null but not nullable",
			           key);
			continue;
		}
		if (a->type == JSONAPI_BOOLEAN) {
			FUZZ_CHECK(json_is_true(v) || json_is_false(v), "\"%s\" is not true/false",
			           key);
			continue;
		}
		FUZZ_CHECK(json_is_string(v), "\"%s\" is not a string", key);
		size_t chars = jsonapi_utf8_chars(json_string_value(v), json_string_length(v));
		FUZZ_CHECK(!a->max_chars || chars <= a->max_chars,
		           "\"%s\" has %zu code points, limit %zu", key, chars, a->max_chars);
		FUZZ_CHECK(chars >= a->min_chars, "\"%s\" has %zu code points, minimum %zu", key,
		           chars, a->min_chars);
	}
	if (!id)
		for (size_t i = 0; i < nspec; i++)
			if (spec[i].flags & JSONAPI_REQUIRED)
				FUZZ_CHECK(json_object_get(attrs, spec[i].name) != NULL,
				           "create accepted without required \"%s\"", spec[i].name);
}

static void check_refusal(const struct jsonapi_error *err)
{
	FUZZ_CHECK(err->status == 400 || err->status == 403 || err->status == 409 ||
	               err->status == 422,
	           "refused with status %d", err->status);
	FUZZ_CHECK(fuzz_terminated(err->title, sizeof err->title) && err->title[0],
	           "title empty or unterminated");
	FUZZ_CHECK(fuzz_terminated(err->detail, sizeof err->detail) && err->detail[0],
	           "detail empty or unterminated");
	FUZZ_CHECK(fuzz_terminated(err->pointer, sizeof err->pointer), "pointer unterminated");
	FUZZ_CHECK(err->pointer[0] == '\0' || err->pointer[0] == '/',
	           "pointer \"%s\" is not a JSON pointer", err->pointer);

	json_t *doc = jsonapi_error_doc(err);
	FUZZ_CHECK(json_is_object(doc),
	           "jsonapi_error_doc returned %s for status %d, title \"%s\", detail \"%s\", "
	           "pointer \"%s\"",
	           doc ? "a non-object" : "NULL", err->status, err->title, err->detail,
	           err->pointer);
	char *s = json_dumps(doc, JSON_COMPACT);
	FUZZ_CHECK(s != NULL, "json_dumps of the error document failed");
	free(s);
	json_decref(doc);
}

static void one(const char *body, size_t len, const char *type, const char *id,
                const struct jsonapi_attr *spec, size_t nspec)
{
	struct jsonapi_error err;
	memset(&err, 'X', sizeof err);  /* so an unfilled error is noticed */
	json_t *attrs = (json_t *)&err; /* must be overwritten */
	int rc = jsonapi_parse_resource(body, len, type, id, spec, nspec, &attrs, &err);
	if (rc == 0) {
		check_success(attrs, id, spec, nspec);
		json_decref(attrs);
	} else {
		FUZZ_CHECK(rc == -1, "jsonapi_parse_resource returned %d", rc);
		FUZZ_CHECK(attrs == NULL, "refused, but *attrs is not NULL");
		check_refusal(&err);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy: jsonapi_parse_resource must read only len bytes. */
	char *body = malloc(size ? size : 1);
	if (!body)
		return 0;
	if (size)
		memcpy(body, data, size);
	one(body, size, "users", NULL, user_spec, sizeof user_spec / sizeof user_spec[0]);
	one(body, size, "users", "7", user_spec, sizeof user_spec / sizeof user_spec[0]);
	one(body, size, "notes", NULL, note_spec, sizeof note_spec / sizeof note_spec[0]);
	one(body, size, "notes", "7", note_spec, sizeof note_spec / sizeof note_spec[0]);
	free(body);
	return 0;
}
