/* Helpers shared by the fuzz targets: invariant checks that abort (so
 * libFuzzer records the input) and exact-size copies of the input (so
 * AddressSanitizer sees any read past the end). */
#ifndef AUDITLOG_FUZZ_UTIL_H
#define AUDITLOG_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "\nFUZZ INVARIANT FAILED at %s:%d: %s\n  ", __FILE__,      \
			        __LINE__, #cond);                                                  \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* A malloc'd copy of the first n bytes of data plus a NUL (the C string is
 * the input up to its first NUL byte). */
static inline char *fuzz_cstr(const uint8_t *data, size_t n)
{
	char *s = malloc(n + 1);
	if (!s)
		abort();
	if (n)
		memcpy(s, data, n);
	s[n] = '\0';
	return s;
}

/* True when the n bytes hold no byte below 0x20 and no DEL. */
static inline int fuzz_no_controls(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* True when buf (cap bytes) holds a NUL, i.e. is a terminated string. */
static inline int fuzz_terminated(const char *buf, size_t cap)
{
	return memchr(buf, '\0', cap) != NULL;
}

#endif
