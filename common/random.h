/* random: cryptographically random bytes, cheaply, for ids (UUIDv7's
 * random bits, W3C trace and span ids).
 *
 * Bytes come from OpenSSL's DRBG (RAND_bytes) 4 KiB at a time into a pool
 * of the calling thread's; each byte handed out is wiped from the pool.
 * One RAND_bytes call costs a microsecond or two under OpenSSL 3 (its
 * provider lookups), more than the rest of making an id: per request that
 * showed in the API's profile. Thread-safe (the pool is per thread). */
#ifndef AUDITLOG_RANDOM_H
#define AUDITLOG_RANDOM_H

#include <stddef.h>

/* Fills out with n random bytes (n any size). Returns 0, or -1 when
 * OpenSSL could not give random bytes (out then holds none of them). */
int random_bytes(void *out, size_t n);

#endif
