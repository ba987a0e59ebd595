/* query: URL query strings and percent-encoding.
 *
 * query_parse splits "a=1&b%5B0%5D=x" into decoded pairs. It refuses what
 * a handler should never have to think about: bad escapes, encoded NULs,
 * control characters, a key given twice, more than QUERY_MAX_PARAMS pairs. */
#ifndef AUDITLOG_QUERY_H
#define AUDITLOG_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#define QUERY_MAX_PARAMS 16

#define QUERY_KEY_SHOWN 64
struct query {
	size_t n;
	const char *key[QUERY_MAX_PARAMS];   /* point into buf */
	const char *value[QUERY_MAX_PARAMS]; /* point into buf */
	char *buf;                           /* owned */
	/* After a failure: the decoded name of the parameter given twice
	 * (cut to QUERY_KEY_SHOWN bytes), else "". */
	char repeated[QUERY_KEY_SHOWN + 1];
};

/* Parses qs (without the '?'). On success returns 0 and q owns its memory
 * (query_free it); on failure returns -1 with why set to a static
 * explanation, q empty but for q->repeated. */
int query_parse(const char *qs, struct query *q, const char **why);
void query_free(struct query *q);
/* The value of key, or NULL. */
const char *query_get(const struct query *q, const char *key);

/* Percent-decodes n bytes of in into out (n + 1 bytes); '+' becomes a
 * space when plus_is_space (query strings), and stays '+' in paths.
 * Returns the decoded length, or -1 for a bad escape, a NUL or a control
 * character. */
long query_unescape(const char *in, size_t n, char *out, bool plus_is_space);

/* Percent-encodes s for use as a query key or value; returns the length
 * written, or -1 if out (cap bytes, NUL included) is too small. */
long query_escape(const char *s, char *out, size_t cap);

/* Appends key=value, both escaped, to the URL in buf (cap bytes): after a
 * '?' directly, otherwise after an '&'. Returns 0, or -1 if it does not fit
 * (buf is then unchanged). */
int query_append(char *buf, size_t cap, const char *key, const char *value);

#endif
