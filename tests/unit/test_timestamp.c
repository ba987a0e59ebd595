/* timestamp: instants in queries, milliseconds or RFC 3339 (§5.6). The
 * expected values were computed with Python's datetime. */
#include "timestamp.h"
#include "testhelp.h"

#include <stdlib.h>

static int64_t parse(const char *s)
{
	int64_t ms = -1;
	return timestamp_parse(s, strlen(s), &ms) ? -1 : ms;
}

int main(void)
{
	CHECK_INT(parse("1970-01-01T00:00:00Z"), 0);
	CHECK_INT(parse("2026-03-03T09:46:40Z"), 1772531200000LL);
	CHECK_INT(parse("2026-03-03t09:46:40z"), 1772531200000LL);
	CHECK_INT(parse("2026-03-03T10:46:40+01:00"), 1772531200000LL);
	CHECK_INT(parse("2026-03-03T09:46:40.5Z"), 1772531200500LL);
	CHECK_INT(parse("2026-03-03T09:46:40.123456789Z"), 1772531200123LL);
	CHECK_INT(parse("2024-02-29T23:59:59.999Z"), 1709251199999LL);
	CHECK_INT(parse("1999-12-31T23:00:00-01:30"), 946686600000LL);
	CHECK_INT(parse("9999-12-31T23:59:59.999Z"), 253402300799999LL);
	CHECK_INT(parse("2026-03-03T09:46:60Z"), 1772531220000LL); /* a leap second: the next one */
	CHECK_INT(parse("1772531200000"), 1772531200000LL);
	CHECK_INT(parse("0"), 0);
	CHECK_INT(parse("253402300799999"), 253402300799999LL);

	const char *bad[] = {"",
	                     "-1",
	                     "1e3",
	                     "253402300800000",
	                     "1772531200000.5",
	                     "now",
	                     "2026-03-03",
	                     "2026-03-03T09:46:40",
	                     "2026-03-03 09:46:40Z",
	                     "2026-02-29T00:00:00Z",
	                     "2025-13-01T00:00:00Z",
	                     "2025-00-10T00:00:00Z",
	                     "2025-04-31T00:00:00Z",
	                     "2025-04-00T00:00:00Z",
	                     "2025-04-01T24:00:00Z",
	                     "2025-04-01T23:60:00Z",
	                     "2025-04-01T23:59:61Z",
	                     "2025-04-01T23:59:59.Z",
	                     "2025-04-01T23:59:59.1234567890Z",
	                     "2025-04-01T23:59:59+0100",
	                     "2025-04-01T23:59:59+24:00",
	                     "2025-04-01T23:59:59Zx",
	                     "1969-12-31T23:59:59Z",
	                     "1970-01-01T00:00:00+00:01",
	                     "10000-01-01T00:00:00Z",
	                     "+2025-04-01T23:59:59Z",
	                     "2025-4-01T23:59:59Z",
	                     "2025-04-01T23:59:59.999\x00Z"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int64_t ms = 42;
		CHECK_INT(timestamp_parse(bad[i], strlen(bad[i]), &ms), -1);
		CHECK_INT(ms, 42);
	}
	/* A NUL inside the given length is refused too. */
	int64_t ms = 42;
	CHECK_INT(timestamp_parse("2025-04-01T23:59:59Z\0", 21, &ms), -1);

	char text[TIMESTAMP_TEXT_MAX];
	timestamp_format(1772531200123LL, text);
	CHECK_STR(text, "2026-03-03T09:46:40.123Z");
	timestamp_format(0, text);
	CHECK_STR(text, "1970-01-01T00:00:00.000Z");
	timestamp_format(TIMESTAMP_MAX, text);
	CHECK_STR(text, "9999-12-31T23:59:59.999Z");
	/* HTTP dates (RFC 9110 §5.6.7), as Python's email.utils.formatdate
	 * writes them; RFC 9110's own example is 784111777. */
	const struct {
		int64_t ms;
		const char *text;
	} http[] = {{0, "Thu, 01 Jan 1970 00:00:00 GMT"},
	            {784111777000LL, "Sun, 06 Nov 1994 08:49:37 GMT"},
	            {951782400000LL, "Tue, 29 Feb 2000 00:00:00 GMT"},
	            {1709251199999LL, "Thu, 29 Feb 2024 23:59:59 GMT"},
	            {1772531200123LL, "Tue, 03 Mar 2026 09:46:40 GMT"},
	            {TIMESTAMP_MAX, "Fri, 31 Dec 9999 23:59:59 GMT"}};
	for (size_t i = 0; i < sizeof http / sizeof http[0]; i++) {
		timestamp_format_http(http[i].ms, text);
		CHECK_STR(text, http[i].text);
	}
	/* Round trip over the whole range. */
	uint64_t x = 88172645463325252ULL;
	for (int i = 0; i < 100000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		int64_t t = (int64_t)(x % (uint64_t)(TIMESTAMP_MAX + 1));
		timestamp_format(t, text);
		if (parse(text) != t) {
			CHECK_INT(parse(text), t);
			break;
		}
	}
	return test_report("timestamp");
}
