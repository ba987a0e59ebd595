/* trace: the W3C Trace Context `traceparent` header (Trace Context Level 1,
 * §3.2), parsed and made.
 *
 *   traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
 *                ^^ version  ^^ trace-id (16 bytes)  ^^ parent-id (8)  ^^ trace-flags
 *
 * A request that carries a valid traceparent continues the caller's trace:
 * its trace-id is kept, and the server makes a span id of its own (the
 * request's id), which becomes the parent-id of what it sends on. One that
 * carries none, or an invalid one, starts a new trace (§3.2.2: "vendors
 * MUST ignore the traceparent"; the processing model restarts the trace):
 * never an error for the client.
 *
 * What trace_parse accepts (§3.2.2, "Versioning of traceparent" §3.2.4):
 *  - version: two lowercase hex digits and a dash; ff is invalid;
 *  - version 00: exactly 55 characters, "00-" 32 HEXDIGLC "-" 16 HEXDIGLC
 *    "-" 2 HEXDIGLC (anything after the flags is invalid);
 *  - a higher version: at least 55 characters, parsed as version 00 is, the
 *    flags followed by the end or by a dash; what follows is not read, and
 *    only the sampled bit of the flags is kept;
 *  - trace-id and parent-id of all zeros are invalid; upper-case hex is
 *    invalid everywhere (HEXDIGLC).
 *
 * Pure but for trace_random (OpenSSL's CSPRNG). No allocation; the caller
 * owns every buffer. */
#ifndef AUDITLOG_TRACE_H
#define AUDITLOG_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TRACE_ID_LEN       16 /* bytes of a trace-id */
#define TRACE_SPAN_LEN     8  /* bytes of a parent-id / span id */
#define TRACE_ID_HEX_LEN   32
#define TRACE_SPAN_HEX_LEN 16
#define TRACE_HEADER_LEN   55 /* a version 00 traceparent */
#define TRACE_HEADER       "traceparent"
/* trace-flags: the one flag version 00 defines (§3.2.2.5.1); the others
 * are reserved, and a sender MUST set them to zero. */
#define TRACE_FLAG_SAMPLED 0x01

struct trace_parent {
	uint8_t trace_id[TRACE_ID_LEN];
	uint8_t parent_id[TRACE_SPAN_LEN];
	uint8_t flags; /* version 00: as sent; a higher version: its sampled bit only */
};

/* Parses a traceparent value (len bytes, borrowed, not NUL-terminated; the
 * caller strips the header's surrounding whitespace). Returns 0 and fills
 * *out, or -1 when the value is invalid by the rules above (*out is then
 * unspecified): start a new trace. */
int trace_parse(const char *s, size_t len, struct trace_parent *out);

/* Writes "00-<trace-id>-<span-id>-<flags>" and a NUL into out (the
 * version 00 form, whatever version was received, as §3.2.4 requires);
 * flags other than TRACE_FLAG_SAMPLED are written as zero. */
void trace_format(const uint8_t trace_id[TRACE_ID_LEN], const uint8_t span_id[TRACE_SPAN_LEN],
                  uint8_t flags, char out[TRACE_HEADER_LEN + 1]);

/* n bytes as 2n lowercase hex digits and a NUL into out (2n + 1 bytes). */
void trace_hex(const uint8_t *b, size_t n, char *out);

/* True when s (len bytes) is a trace-id in text: 32 lowercase hex digits,
 * not all zeros (the form an event's traceId takes, event.h). */
bool trace_id_valid(const char *s, size_t len);

/* The 16 bytes of a valid trace-id text (trace_id_valid) into out.
 * Returns 0, or -1 when s is not one. */
int trace_id_parse(const char *s, size_t len, uint8_t out[TRACE_ID_LEN]);

/* Fills out with n random bytes, not all zero (a fresh trace-id or span
 * id: §3.2.2.3 forbids all zeros). Returns 0, or -1 when the CSPRNG
 * fails. */
int trace_random(uint8_t *out, size_t n);

#endif
