/* timestamp: the instants queries take, as the events carry them
 * (milliseconds since the Unix epoch, UTC).
 *
 * A query may give an instant either as those milliseconds ("1772531200000")
 * or as an RFC 3339 date-time (RFC 3339 §5.6: "2026-03-03T09:46:40Z",
 * "2026-03-03T10:46:40.5+01:00"; "T" and "Z" in either case; a fraction
 * of 1 to 9 digits, cut to milliseconds; a leap second, :60, reads as the
 * next second, as POSIX time has none). Years 1970 to 9999 only: the
 * events' own range. Pure. */
#ifndef AUDITLOG_TIMESTAMP_H
#define AUDITLOG_TIMESTAMP_H

#include <stddef.h>
#include <stdint.h>

/* The largest instant: 9999-12-31T23:59:59.999Z. */
#define TIMESTAMP_MAX 253402300799999LL
/* TIMESTAMP_MAX + 1 in milliseconds: the exclusive end of every instant,
 * which timestamp_parse refuses; a half-open window's end may name it. */
#define TIMESTAMP_END_TEXT "253402300800000"
/* Room for timestamp_format's output (24 bytes) and its NUL, with room the compiler
 * can see for any int it might format. */
#define TIMESTAMP_TEXT_MAX 48
/* What a query's 400 says an instant must be. */
#define TIMESTAMP_RULE                                                                             \
	"milliseconds since the epoch or an RFC 3339 date-time such as 2026-03-03T09:46:40Z"

/* Parses s (len bytes, no NUL needed) into *ms, 0 to TIMESTAMP_MAX.
 * Returns 0, or -1 when s is neither form, names a day that does not
 * exist (February 30th), or lies outside the range (*ms is then
 * unchanged). */
int timestamp_parse(const char *s, size_t len, int64_t *ms);

/* Writes ms (0 to TIMESTAMP_MAX) as RFC 3339 in UTC with milliseconds,
 * "2026-03-03T09:46:40.000Z", and a NUL into out. */
void timestamp_format(int64_t ms, char out[TIMESTAMP_TEXT_MAX]);

/* Writes ms (0 to TIMESTAMP_MAX; the milliseconds are dropped) as an HTTP
 * date, RFC 9110 §5.6.7's IMF-fixdate, "Tue, 03 Mar 2026 09:46:40 GMT"
 * (29 bytes), and a NUL into out: for Last-Modified. */
void timestamp_format_http(int64_t ms, char out[TIMESTAMP_TEXT_MAX]);

#endif
