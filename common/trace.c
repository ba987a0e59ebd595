/* W3C Trace Context traceparent: see trace.h. */
#include "trace.h"

#include <string.h>

#include "random.h"

static int hexdiglc(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* n bytes from 2n HEXDIGLC at s into out; -1 on any other character. */
static int unhex(const char *s, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hexdiglc(s[2 * i]), lo = hexdiglc(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static bool all_zero(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

int trace_parse(const char *s, size_t len, struct trace_parent *out)
{
	uint8_t version;
	/* §3.2.4: a version that is not two hex digits and a dash restarts the
	 * trace; ff is forbidden. */
	if (len < 3 || unhex(s, 1, &version) || s[2] != '-' || version == 0xff)
		return -1;
	/* Version 00 is exactly 55 characters; a higher one at least that, its
	 * flags followed by the end or by a dash (fields it adds are not read). */
	if (version == 0 ? len != TRACE_HEADER_LEN
	                 : len < TRACE_HEADER_LEN || (len > TRACE_HEADER_LEN && s[55] != '-'))
		return -1;
	uint8_t flags;
	if (unhex(s + 3, TRACE_ID_LEN, out->trace_id) || s[35] != '-' ||
	    unhex(s + 36, TRACE_SPAN_LEN, out->parent_id) || s[52] != '-' ||
	    unhex(s + 53, 1, &flags))
		return -1;
	if (all_zero(out->trace_id, TRACE_ID_LEN) || all_zero(out->parent_id, TRACE_SPAN_LEN))
		return -1;
	/* Of a version we do not know, only the sampled bit is read. */
	out->flags = version == 0 ? flags : flags & TRACE_FLAG_SAMPLED;
	return 0;
}

void trace_hex(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

void trace_format(const uint8_t trace_id[TRACE_ID_LEN], const uint8_t span_id[TRACE_SPAN_LEN],
                  uint8_t flags, char out[TRACE_HEADER_LEN + 1])
{
	uint8_t f = flags & TRACE_FLAG_SAMPLED;
	memcpy(out, "00-", 3);
	trace_hex(trace_id, TRACE_ID_LEN, out + 3);
	out[35] = '-';
	trace_hex(span_id, TRACE_SPAN_LEN, out + 36);
	out[52] = '-';
	trace_hex(&f, 1, out + 53);
}

bool trace_id_valid(const char *s, size_t len)
{
	uint8_t b[TRACE_ID_LEN];
	return trace_id_parse(s, len, b) == 0;
}

int trace_id_parse(const char *s, size_t len, uint8_t out[TRACE_ID_LEN])
{
	if (len != TRACE_ID_HEX_LEN || unhex(s, TRACE_ID_LEN, out) || all_zero(out, TRACE_ID_LEN))
		return -1;
	return 0;
}

int trace_random(uint8_t *out, size_t n)
{
	/* All zeros is invalid; with 8 random bytes it comes once in 2^64. */
	do {
		if (random_bytes(out, n))
			return -1;
	} while (all_zero(out, n));
	return 0;
}
