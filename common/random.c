/* random: random bytes from a per-thread pool (random.h). */
#include "random.h"

#include <openssl/rand.h>
#include <string.h>

#define POOL 4096

int random_bytes(void *out, size_t n)
{
	static _Thread_local unsigned char pool[POOL];
	static _Thread_local size_t used = POOL;
	unsigned char *o = out;
	while (n) {
		if (used == POOL) {
			if (RAND_bytes(pool, POOL) != 1)
				return -1;
			used = 0;
		}
		size_t k = POOL - used < n ? POOL - used : n;
		memcpy(o, pool + used, k);
		memset(pool + used, 0, k); /* handed out: not kept */
		used += k;
		o += k;
		n -= k;
	}
	return 0;
}
