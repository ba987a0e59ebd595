#include "cursor.h"

#include <stdio.h>
#include <string.h>

#include "b64.h"

void cursor_encode(int64_t timestamp, const char *id, char out[CURSOR_MAX])
{
	char raw[64];
	int n = snprintf(raw, sizeof raw, "%lld:%s", (long long)timestamp, id);
	b64url_encode((const unsigned char *)raw, (size_t)n, out);
}

int cursor_decode(const char *s, int64_t *timestamp, char id[UUID_STR_LEN + 1])
{
	size_t n = strlen(s);
	unsigned char raw[64];
	if (n == 0 || n > 80)
		return -1;
	long len = b64url_decode(s, n, raw);
	if (len < 0)
		return -1;
	raw[len] = '\0';
	const char *colon = memchr(raw, ':', (size_t)len);
	if (!colon || colon == (const char *)raw || colon - (const char *)raw > 16)
		return -1;
	int64_t t = 0;
	for (const unsigned char *p = raw; p < (const unsigned char *)colon; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		t = t * 10 + (*p - '0');
	}
	const char *rest = colon + 1;
	if (!uuid_valid(rest, (size_t)len - (size_t)(rest - (const char *)raw)))
		return -1;
	*timestamp = t;
	memcpy(id, rest, UUID_STR_LEN + 1);
	return 0;
}
