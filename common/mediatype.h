/* mediatype: JSON:API 1.1's rules for the media type parameters of a
 * request's Content-Type and Accept headers
 * (https://jsonapi.org/format/1.1/#content-negotiation-servers), for a
 * server that supports no extension and applies no profile.
 *
 * Of the JSON:API media type's parameters only `ext` and `profile` are
 * allowed. A profile is ignored whatever it names (1.1: unrecognised
 * profiles MUST be ignored); an `ext` naming any extension is unsupported;
 * any other parameter is refused. Headers follow RFC 9110's grammar
 * (tokens, quoted strings, commas inside quotes, case-insensitive names).
 *
 * Pure: no I/O, no allocation; the strings are only read. */
#ifndef AUDITLOG_MEDIATYPE_H
#define AUDITLOG_MEDIATYPE_H

#include <stddef.h>

enum mediatype_verdict {
	MEDIATYPE_OK,
	MEDIATYPE_OTHER,     /* Content-Type: absent, malformed or not JSON:API's */
	MEDIATYPE_PARAMETER, /* a parameter other than ext and profile, or malformed */
	MEDIATYPE_EXTENSION, /* an ext naming an extension we do not support */
};

/* A request body's Content-Type (value may be NULL): OK only for the
 * JSON:API media type with nothing but profiles and an empty ext.
 * OTHER means 415, and so do PARAMETER and EXTENSION. */
enum mediatype_verdict mediatype_content_type(const char *value);

/* A request's Accept (value may be NULL): OK when it names no instance of
 * the JSON:API media type (absent, wildcards, other types), or when at
 * least one instance has nothing but profiles and an empty ext and a
 * weight above 0. Otherwise (406) EXTENSION when some instance was
 * refused for its extensions, else PARAMETER. */
enum mediatype_verdict mediatype_accept(const char *value);

/* Content negotiation (RFC 9110 section 12.5.1): which of the n media
 * types offers[] ("type/subtype", lower case, no parameters; the server's
 * preference first) the Accept header value prefers. Each offer's weight
 * is the q of the most specific range naming it (exactly, "type/" "*",
 * "*" "/" "*"); a range with a malformed q names nothing, and so does a
 * range of application/vnd.api+json with parameters other than q, profile
 * and an empty ext (JSON:API 1.1 §5.1); other types' parameters are
 * ignored (text/csv; header=present names text/csv). Returns the index of the
 * offer of highest weight above 0 (the earlier on a tie); 0 when value is
 * NULL or empty (anything goes); -1 when no offer is acceptable. */
int mediatype_prefer(const char *value, const char *const *offers, size_t n);

#endif
