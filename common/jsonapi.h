/* jsonapi: parsing request documents and building response documents of
 * JSON:API 1.1 (https://jsonapi.org/format/).
 *
 * Pure: no I/O. Every client mistake comes back as a jsonapi_error holding
 * the HTTP status, a short title and a detail naming the offending member,
 * ready to be turned into an error document with jsonapi_error_doc(). */
#ifndef AUDITLOG_JSONAPI_H
#define AUDITLOG_JSONAPI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define JSONAPI_MEDIA_TYPE "application/vnd.api+json"
/* The version every document says it follows, in its "jsonapi" member. */
#define JSONAPI_VERSION "1.1"
/* Deeper request bodies are refused before they reach any other code. */
#define JSONAPI_MAX_DEPTH 32

struct jsonapi_error {
	int status;
	char title[64];
	char detail[512];
	char pointer[96]; /* JSON pointer into the request body, or "" */
};

/* Fills err; returns -1 so callers can `return jsonapi_fail(...)`. */
int jsonapi_fail(struct jsonapi_error *err, int status, const char *title,
                 const char *pointer, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* A new error document {"errors":[...]} for the caller to json_decref. */
json_t *jsonapi_error_doc(const struct jsonapi_error *err);

enum jsonapi_attr_type { JSONAPI_STRING, JSONAPI_BOOLEAN };

enum jsonapi_attr_flags {
	JSONAPI_REQUIRED = 1, /* must be present when creating */
	JSONAPI_NULLABLE = 2, /* may be null */
};

struct jsonapi_attr {
	const char *name;
	enum jsonapi_attr_type type;
	size_t max_chars; /* strings: most Unicode code points allowed (0: no limit) */
	size_t min_chars; /* strings: fewest code points allowed */
	unsigned flags;
};

/* Parses a request body holding one resource object of `type`.
 * For a create, pass id NULL: a client-generated id is refused (403) and
 * required attributes must be present. For an update, id is the URL's id
 * and data.id must equal it (409 otherwise, as must data.type).
 * On success *attrs is a new object holding only attributes named in spec,
 * normalised (booleans sent as 0/1 become false/true); the caller
 * json_decrefs it. Returns 0, or -1 with err filled. */
int jsonapi_parse_resource(const char *body, size_t len, const char *type, const char *id,
                           const struct jsonapi_attr *spec, size_t nspec, json_t **attrs,
                           struct jsonapi_error *err);

/* The title of jsonapi_parse_json's error for valid JSON holding a number
 * jansson cannot hold (an integer beyond 64 bits, a real beyond a double:
 * RFC 8259 §6 lets a reader limit numbers); any other failure's is
 * "Malformed JSON". */
#define JSONAPI_NUMBER_RANGE "Number out of range"

/* Parses JSON with the limits every request body gets: duplicate keys and
 * nesting deeper than JSONAPI_MAX_DEPTH are refused. Returns a new
 * reference or NULL with err filled (400). */
json_t *jsonapi_parse_json(const char *body, size_t len, struct jsonapi_error *err);

/* Number of Unicode code points in a valid UTF-8 string. */
size_t jsonapi_utf8_chars(const char *s, size_t len);

/* Adds {"jsonapi":{"version":JSONAPI_VERSION}} to the top-level document
 * doc (borrowed) unless it has a "jsonapi" member already (a document
 * relayed from another of our services). Returns 0, or -1 when doc is not
 * an object or memory ran out. */
int jsonapi_add_version(json_t *doc);

/* {"type": type, "id": id, "attributes": attributes}; steals attributes. */
json_t *jsonapi_resource(const char *type, const char *id, json_t *attributes);

#endif
