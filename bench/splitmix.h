/* splitmix64 (Steele, Lea, Flood 2014): a fast, seedable PRNG for the load
 * generators and stress tests (not for anything secret). */
#ifndef AUDITLOG_SPLITMIX_H
#define AUDITLOG_SPLITMIX_H

#include <stdint.h>

struct rng {
	uint64_t s; /* the state: any seed */
};

/* The next 64 random bits. */
static inline uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

#endif
