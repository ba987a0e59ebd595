/* random: bytes of any count, across the pool's 4 KiB refills, never the
 * same twice, and roughly uniform (a loose check that a slicing bug, say a
 * pool handed out twice or zeros after a refill, would fail). */
#include <stdint.h>
#include <string.h>

#include "random.h"
#include "testhelp.h"

#define TOTAL 40000

int main(void)
{
	static uint8_t buf[TOTAL];
	size_t off = 0, step = 1;
	while (off < TOTAL) { /* odd sizes, so refills fall inside requests */
		size_t n = step < TOTAL - off ? step : TOTAL - off;
		CHECK_INT(random_bytes(buf + off, n), 0);
		off += n;
		step = step * 3 % 997 + 1;
	}
	unsigned count[256] = {0};
	for (size_t i = 0; i < TOTAL; i++)
		count[buf[i]]++;
	unsigned lo = TOTAL, hi = 0;
	for (int v = 0; v < 256; v++) {
		lo = count[v] < lo ? count[v] : lo;
		hi = count[v] > hi ? count[v] : hi;
	}
	/* Expected 156 each; binomial sd about 12.5: 60..260 is far outside. */
	CHECK(lo > 60 && hi < 260);
	/* No 16-byte block repeats (a pool handed out twice would). */
	int repeats = 0;
	for (size_t i = 0; i + 16 <= TOTAL && i < 8192; i += 16)
		for (size_t j = i + 16; j + 16 <= TOTAL; j += 16)
			repeats += !memcmp(buf + i, buf + j, 16);
	CHECK_INT(repeats, 0);
	uint8_t a[8], b[8];
	CHECK_INT(random_bytes(a, 8), 0);
	CHECK_INT(random_bytes(b, 8), 0);
	CHECK(memcmp(a, b, 8) != 0);
	CHECK_INT(random_bytes(a, 0), 0);
	return test_report("random");
}
