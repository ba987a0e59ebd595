/* jcs: the RFC 8785 JSON Canonicalization Scheme over jansson values.
 *
 * One function turns a jansson value into the one byte string RFC 8785
 * gives it: no whitespace, object members sorted by their names as UTF-16
 * code units (§3.2.3), strings escaped as §3.2.2.2 says and otherwise raw
 * UTF-8, numbers written as ECMAScript's Number.prototype.toString writes
 * the IEEE 754 double (§3.2.2.3). Two values that are equal as I-JSON
 * (RFC 7493) give the same bytes, whatever order their members were added
 * in and however their numbers were spelled; this is what leaf hashes and
 * value commitments are computed over.
 *
 * Pure: no I/O, no global state, thread-safe. The value is only read. The
 * numbers are formatted with snprintf/strtod, so LC_NUMERIC must be "C"
 * (the default; the daemons never call setlocale).
 *
 * Choices where jansson holds more than I-JSON (documented in jcs.README):
 *  - an integer (json_int_t) with |n| > 2^53 is refused (JCS_EINTRANGE)
 *    rather than rounded to the nearest double: rounding would give two
 *    different stored integers the same canonical bytes, so a commitment
 *    would not bind the value. |n| <= 2^53 is exact as a double and is
 *    written as its decimal digits (which is what ECMAScript writes);
 *  - a jansson integer and a real of the same value give the same bytes
 *    (1 and 1.0 are both "1"), as in ECMAScript where both are one Number;
 *  - a real that is NaN or ±Infinity is refused (JCS_ENUMBER, §3.2.2.3);
 *  - -0.0 is written "0" (§3.2.2.3, ECMAScript);
 *  - strings and names must be well-formed UTF-8 without surrogate code
 *    points (JCS_EUTF8; jansson's parser already ensures this, values built
 *    with json_stringn_nocheck may not); U+0000 in a string (jansson's
 *    JSON_ALLOW_NUL) is written \u0000;
 *  - containers nested deeper than JCS_MAX_DEPTH are refused (JCS_EDEPTH),
 *    so a deep or cyclic value cannot exhaust the stack. */
#ifndef AUDITLOG_JCS_H
#define AUDITLOG_JCS_H

#include <jansson.h>
#include <stddef.h>

/* The deepest nesting of arrays and objects accepted: the top-level
 * container is depth 1. Equal to jansson's parser limit
 * (JSON_PARSER_MAX_DEPTH), so whatever json_loads accepts canonicalizes. */
#define JCS_MAX_DEPTH 2048

enum jcs_status {
	JCS_OK = 0,
	JCS_ENOMEM = -1,    /* an allocation failed */
	JCS_EINVAL = -2,    /* value or out or len is NULL, or an unknown json type */
	JCS_ENUMBER = -3,   /* a real that is NaN or ±Infinity (§3.2.2.3) */
	JCS_EINTRANGE = -4, /* an integer with |n| > 2^53, not exact as a double */
	JCS_EUTF8 = -5,     /* a string or member name that is not well-formed UTF-8 */
	JCS_EDEPTH = -6,    /* nested deeper than JCS_MAX_DEPTH (or a cycle) */
};

/* Serializes value canonically (RFC 8785 §3.2: whitespace §3.2.1, literals
 * and strings §3.2.2.1-2, numbers §3.2.2.3, member order §3.2.3, UTF-8
 * §3.2.4). value is borrowed (any type: a scalar is canonicalized too).
 * On JCS_OK, *out is a malloc'd buffer of *len bytes plus a terminating NUL
 * not counted in *len (the bytes hold no NUL unless a string does); the
 * caller frees it with free(). On error returns a negative jcs_status and
 * sets *out = NULL, *len = 0 (when they are not NULL). */
__attribute__((warn_unused_result)) int jcs_serialize(const json_t *value, char **out, size_t *len);

/* Writes the canonical form of one IEEE 754 double (RFC 8785 §3.2.2.3,
 * ECMAScript Number::toString(x) for radix 10) and a NUL into buf, which
 * must hold JCS_NUMBER_MAX bytes. Returns the length written (excluding the
 * NUL), or JCS_ENUMBER if d is NaN or ±Infinity (buf is then ""). */
#define JCS_NUMBER_MAX 32
__attribute__((warn_unused_result)) int jcs_format_double(double d, char buf[JCS_NUMBER_MAX]);

/* Writing canonical JSON piece by piece, for a caller that knows the
 * member order of its own objects (the leaf of an event: common/leaf.h).
 * A jcs_buf starts zeroed ({0}); appends grow it (malloc'd data, always
 * room for one more byte, not NUL-terminated) and the first failure sticks in status
 * (a jcs_status), after which appends do nothing. Reset with len = 0 and
 * status = 0 to reuse the memory; jcs_buf_free releases it. */
struct jcs_buf {
	char *data;
	size_t len, cap;
	int status;
};
/* Appends n raw bytes (the caller vouches they are canonical: punctuation,
 * digits). */
void jcs_buf_put(struct jcs_buf *b, const char *s, size_t n);
/* Appends the NUL-terminated s raw (punctuation, member names the caller
 * knows are canonical). */
void jcs_buf_lit(struct jcs_buf *b, const char *s);
/* Appends v in decimal: the canonical form of an integer within ±2^53. */
void jcs_buf_int(struct jcs_buf *b, long long v);
/* Appends s (n bytes of UTF-8) as a canonical string (§3.2.2.2), quotes
 * included; JCS_EUTF8 when s is not well-formed. */
void jcs_buf_string(struct jcs_buf *b, const char *s, size_t n);
/* Appends the canonical form of value (as jcs_serialize writes it). */
void jcs_buf_value(struct jcs_buf *b, const json_t *value);
void jcs_buf_free(struct jcs_buf *b);

/* A static English sentence for a jcs_status (never NULL). */
const char *jcs_status_string(int status);

#endif
