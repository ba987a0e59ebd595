#include "uuid.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "random.h"

/* ms << 12 | counter of the last id handed out. */
static _Atomic uint64_t last_stamp;

int64_t uuid_v7(char out[UUID_STR_LEN + 1])
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t now = ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000) << 12;
	uint64_t prev = atomic_load(&last_stamp), next;
	do
		next = now > prev ? now : prev + 1;
	while (!atomic_compare_exchange_weak(&last_stamp, &prev, next));

	unsigned char b[16];
	if (random_bytes(b + 8, 8)) {
		/* Never expected; fall back to the clock's nanoseconds. */
		for (int i = 0; i < 8; i++)
			b[8 + i] = (unsigned char)((uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull >> (8 * i));
	}
	uint64_t ms = next >> 12;
	unsigned counter = (unsigned)(next & 0xfff);
	for (int i = 0; i < 6; i++)
		b[i] = (unsigned char)(ms >> (40 - 8 * i));
	b[6] = (unsigned char)(0x70 | counter >> 8);
	b[7] = (unsigned char)counter;
	b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
	static const char hex[] = "0123456789abcdef";
	char *o = out;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*o++ = '-';
		*o++ = hex[b[i] >> 4];
		*o++ = hex[b[i] & 15];
	}
	*o = '\0';
	return (int64_t)ms;
}

bool uuid_valid(const char *s, size_t len)
{
	if (len != UUID_STR_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return false;
		}
	}
	return true;
}

static int hex_value(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c - 'a' + 10;
}

int uuid_to_bin(const char *s, size_t len, uint8_t out[UUID_BIN_LEN])
{
	if (!uuid_valid(s, len))
		return -1;
	size_t k = 0;
	for (size_t i = 0; i < len; i += 2) {
		if (s[i] == '-')
			i++;
		out[k++] = (uint8_t)(hex_value(s[i]) << 4 | hex_value(s[i + 1]));
	}
	return 0;
}
