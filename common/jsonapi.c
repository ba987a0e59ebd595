#include "jsonapi.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Replaces every byte that does not start a complete, valid UTF-8 sequence
 * with '?': details quote the client's input, often cut mid-character by a
 * length limit, and the error document must still be valid JSON. */
static void utf8_clean(char *s)
{
	unsigned char *p = (unsigned char *)s;
	while (*p) {
		size_t n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3
		         : (*p & 0xf8) == 0xf0 ? 4 : 0;
		bool ok = n > 0 && !(n == 2 && *p < 0xc2) && !(n == 4 && *p > 0xf4);
		for (size_t i = 1; ok && i < n; i++)
			ok = (p[i] & 0xc0) == 0x80;
		if (ok && n == 3) {
			unsigned cp = (p[0] & 0x0fu) << 12 | (p[1] & 0x3fu) << 6 | (p[2] & 0x3fu);
			ok = cp >= 0x800 && !(cp >= 0xd800 && cp <= 0xdfff);
		}
		if (ok && n == 4) {
			unsigned cp = (p[0] & 0x07u) << 18 | (p[1] & 0x3fu) << 12;
			ok = cp >= 0x10000 && cp <= 0x10ffff;
		}
		if (!ok) {
			*p++ = '?';
			continue;
		}
		p += n;
	}
}

int jsonapi_fail(struct jsonapi_error *err, int status, const char *title,
                 const char *pointer, const char *fmt, ...)
{
	err->status = status;
	snprintf(err->title, sizeof err->title, "%s", title);
	snprintf(err->pointer, sizeof err->pointer, "%s", pointer ? pointer : "");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->detail, sizeof err->detail, fmt, ap);
	va_end(ap);
	return -1;
}

json_t *jsonapi_error_doc(const struct jsonapi_error *original)
{
	/* Every error document passes here: clean the text once more for the
	 * errors built elsewhere from client input. */
	struct jsonapi_error copy = *original, *err = &copy;
	utf8_clean(copy.title);
	utf8_clean(copy.detail);
	utf8_clean(copy.pointer);
	char status[8];
	snprintf(status, sizeof status, "%d", err->status);
	json_t *e = json_pack("{s:s, s:s, s:s}", "status", status, "title", err->title, "detail",
	                      err->detail);
	if (e && err->pointer[0])
		json_object_set_new(e, "source", json_pack("{s:s}", "pointer", err->pointer));
	return json_pack("{s:[o]}", "errors", e);
}

size_t jsonapi_utf8_chars(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

/* Depth of the deepest container in the raw text, counted without parsing
 * so that a hostile body never reaches jansson's recursion. Brackets inside
 * strings do not count. */
static size_t max_depth(const char *s, size_t len)
{
	size_t depth = 0, deepest = 0;
	bool in_string = false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		} else if (c == '"') {
			in_string = true;
		} else if (c == '{' || c == '[') {
			if (++depth > deepest)
				deepest = depth;
		} else if ((c == '}' || c == ']') && depth) {
			depth--;
		}
	}
	return deepest;
}

json_t *jsonapi_parse_json(const char *body, size_t len, struct jsonapi_error *err)
{
	if (len == 0) {
		jsonapi_fail(err, 400, "Missing request body", NULL,
		             "This request needs a JSON:API document as its body.");
		return NULL;
	}
	if (max_depth(body, len) > JSONAPI_MAX_DEPTH) {
		jsonapi_fail(err, 400, "Malformed JSON", NULL,
		             "The body nests deeper than %d levels.", JSONAPI_MAX_DEPTH);
		return NULL;
	}
	json_error_t je;
	json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!doc) {
		/* jansson's words for these name a flag of its own, or call valid
		 * JSON (RFC 8259 §6 lets a reader limit numbers) malformed. */
		enum json_error_code code = json_error_code(&je);
		const char *words = code == json_error_null_character
		                        ? "\\u0000 is not allowed in a string"
		                    : code == json_error_numeric_overflow
		                        ? "a number here is out of range: integers must lie in -2^63 "
		                          "to 2^63-1, reals within a double's"
		                        : je.text;
		jsonapi_fail(err, 400,
		             code == json_error_numeric_overflow ? JSONAPI_NUMBER_RANGE
		                                                 : "Malformed JSON",
		             NULL, "%s (line %d, column %d).", words, je.line, je.column);
	}
	return doc;
}

static bool member_allowed(const char *key, const char *const *allowed)
{
	for (; *allowed; allowed++)
		if (!strcmp(key, *allowed))
			return true;
	return false;
}

static int check_attr(const struct jsonapi_attr *a, json_t *v, json_t *out,
                      struct jsonapi_error *err)
{
	char ptr[96];
	snprintf(ptr, sizeof ptr, "/data/attributes/%s", a->name);
	if (json_is_null(v)) {
		if (!(a->flags & JSONAPI_NULLABLE))
			return jsonapi_fail(err, 422, "Invalid attribute", ptr,
			                    "Attribute \"%s\" may not be null.", a->name);
		json_object_set(out, a->name, v);
		return 0;
	}
	if (a->type == JSONAPI_BOOLEAN) {
		/* The original UI sent booleans as 0 and 1. */
		if (json_is_boolean(v))
			json_object_set(out, a->name, v);
		else if (json_is_integer(v) &&
		         (json_integer_value(v) == 0 || json_integer_value(v) == 1))
			json_object_set_new(out, a->name, json_boolean(json_integer_value(v)));
		else
			return jsonapi_fail(err, 422, "Invalid attribute", ptr,
			                    "Attribute \"%s\" must be a boolean.", a->name);
		return 0;
	}
	if (!json_is_string(v))
		return jsonapi_fail(err, 422, "Invalid attribute", ptr,
		                    "Attribute \"%s\" must be a string.", a->name);
	size_t chars = jsonapi_utf8_chars(json_string_value(v), json_string_length(v));
	if (a->max_chars && chars > a->max_chars)
		return jsonapi_fail(err, 422, "Invalid attribute", ptr,
		                    "Attribute \"%s\" is %zu characters long; the limit is %zu.",
		                    a->name, chars, a->max_chars);
	if (chars < a->min_chars)
		return jsonapi_fail(err, 422, "Invalid attribute", ptr,
		                    "Attribute \"%s\" must be at least %zu character%s long.", a->name,
		                    a->min_chars, a->min_chars == 1 ? "" : "s");
	json_object_set(out, a->name, v);
	return 0;
}

static int parse_attributes(json_t *attributes, bool create, const struct jsonapi_attr *spec,
                            size_t nspec, json_t *out, struct jsonapi_error *err)
{
	if (attributes && !json_is_object(attributes))
		return jsonapi_fail(err, 400, "Invalid document", "/data/attributes",
		                    "\"attributes\" must be an object.");
	const char *key;
	json_t *v;
	json_object_foreach(attributes, key, v)
	{
		size_t i = 0;
		while (i < nspec && strcmp(spec[i].name, key))
			i++;
		if (i == nspec) {
			char ptr[96];
			snprintf(ptr, sizeof ptr, "/data/attributes/%.64s", key);
			return jsonapi_fail(err, 422, "Unknown attribute", ptr,
			                    "This resource has no attribute \"%.64s\".", key);
		}
		if (check_attr(&spec[i], v, out, err))
			return -1;
	}
	if (create)
		for (size_t i = 0; i < nspec; i++)
			if ((spec[i].flags & JSONAPI_REQUIRED) && !json_object_get(out, spec[i].name))
				return jsonapi_fail(err, 422, "Missing attribute", "/data/attributes",
				                    "Attribute \"%s\" is required.", spec[i].name);
	return 0;
}

int jsonapi_parse_resource(const char *body, size_t len, const char *type, const char *id,
                           const struct jsonapi_attr *spec, size_t nspec, json_t **attrs,
                           struct jsonapi_error *err)
{
	static const char *const top_members[] = {"data", "meta", "jsonapi", NULL};
	static const char *const data_members[] = {"type", "id", "attributes", "meta", NULL};
	json_t *out = NULL;
	int rc = -1;
	*attrs = NULL;

	json_t *doc = jsonapi_parse_json(body, len, err);
	if (!doc)
		return -1;
	if (!json_is_object(doc)) {
		jsonapi_fail(err, 400, "Invalid document", "",
		             "The body must be a JSON object with a \"data\" member.");
		goto out;
	}
	const char *key;
	json_t *v;
	json_object_foreach(doc, key, v)
	{
		if (!member_allowed(key, top_members)) {
			jsonapi_fail(err, 400, "Invalid document", "",
			             "Unexpected top-level member \"%.64s\".", key);
			goto out;
		}
	}
	json_t *data = json_object_get(doc, "data");
	if (!json_is_object(data)) {
		jsonapi_fail(err, 400, "Invalid document", "/data",
		             "\"data\" must be a resource object.");
		goto out;
	}
	json_object_foreach(data, key, v)
	{
		if (!member_allowed(key, data_members)) {
			jsonapi_fail(err, 400, "Invalid document", "/data",
			             "Unsupported member \"%.64s\" in the resource object.", key);
			goto out;
		}
	}
	json_t *jtype = json_object_get(data, "type");
	if (!json_is_string(jtype)) {
		jsonapi_fail(err, 400, "Invalid document", "/data/type",
		             "\"data.type\" must be a string.");
		goto out;
	}
	if (strcmp(json_string_value(jtype), type)) {
		jsonapi_fail(err, 409, "Type mismatch", "/data/type",
		             "This endpoint takes resources of type \"%s\", not \"%.64s\".", type,
		             json_string_value(jtype));
		goto out;
	}
	json_t *jid = json_object_get(data, "id");
	if (!id && jid) {
		jsonapi_fail(err, 403, "Client-generated id", "/data/id",
		             "Ids are assigned by the server; leave \"data.id\" out.");
		goto out;
	}
	if (id) {
		if (!json_is_string(jid)) {
			jsonapi_fail(err, 400, "Invalid document", "/data/id",
			             "\"data.id\" must be a string holding the resource's id.");
			goto out;
		}
		if (strcmp(json_string_value(jid), id)) {
			jsonapi_fail(err, 409, "Id mismatch", "/data/id",
			             "\"data.id\" is \"%.32s\" but the URL names \"%s\".",
			             json_string_value(jid), id);
			goto out;
		}
	}
	out = json_object();
	if (!out) {
		jsonapi_fail(err, 500, "Out of memory", NULL, "Could not allocate.");
		goto out;
	}
	if (parse_attributes(json_object_get(data, "attributes"), !id, spec, nspec, out, err))
		goto out;
	*attrs = out;
	out = NULL;
	rc = 0;
out:
	json_decref(out);
	json_decref(doc);
	return rc;
}

int jsonapi_add_version(json_t *doc)
{
	if (!json_is_object(doc))
		return -1;
	if (json_object_get(doc, "jsonapi"))
		return 0;
	return json_object_set_new(doc, "jsonapi", json_pack("{s:s}", "version", JSONAPI_VERSION));
}

json_t *jsonapi_resource(const char *type, const char *id, json_t *attributes)
{
	return json_pack("{s:s, s:s, s:o}", "type", type, "id", id, "attributes", attributes);
}
