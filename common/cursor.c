#include "cursor.h"

#include <stdio.h>
#include <string.h>

#include "b64.h"

#define RAW_MAX 72 /* "version:timestamp:id" at its longest is 70 bytes */

void cursor_encode(const struct cursor_pos *p, char out[CURSOR_MAX])
{
	char raw[RAW_MAX];
	int n = snprintf(raw, sizeof raw, "%lld:%lld:%s", (long long)p->version,
	                 (long long)p->timestamp, p->id);
	b64url_encode((const unsigned char *)raw, (size_t)n, out);
}

/* Reads 1 to 16 decimal digits up to the next ':' at *s (within end);
 * moves *s past the ':'. Returns 0, or -1. */
static int number(const char **s, const char *end, int64_t *out)
{
	const char *p = *s;
	int64_t v = 0;
	while (p < end && *p >= '0' && *p <= '9' && p - *s < 16)
		v = v * 10 + (*p++ - '0');
	if (p == *s || p == end || *p != ':')
		return -1;
	*out = v;
	*s = p + 1;
	return 0;
}

int cursor_decode(const char *s, struct cursor_pos *out)
{
	size_t n = strlen(s);
	unsigned char raw[RAW_MAX + 4];
	if (n == 0 || n >= CURSOR_MAX)
		return -1;
	long len = b64url_decode(s, n, raw);
	if (len < 0 || len > RAW_MAX)
		return -1;
	const char *p = (const char *)raw, *end = p + len;
	if (number(&p, end, &out->version) || number(&p, end, &out->timestamp) ||
	    !uuid_valid(p, (size_t)(end - p)))
		return -1;
	memcpy(out->id, p, UUID_STR_LEN);
	out->id[UUID_STR_LEN] = '\0';
	return 0;
}
