/* fuzz_stream_id: the input as a live stream's id (a Last-Event-ID header
 * value or ?after=) through stream_id_parse, as the auditor reads every
 * stream's resume position (services/auditor/stream_id.h).
 *
 * Invariants: stream_id_parse answers 0 or -1, and accepts exactly what a
 * reference reading of the grammar accepts (after SP/HTAB trimmed: a bare
 * position of 1 to 19 digits below 2^63, or entries <log>-<seq> of 1 to 5
 * and 1 to 19 digits, log at most 65535, joined by '.', each log once, at
 * most STREAM_ID_LOGS_MAX), giving the same log/position pairs, ascending
 * by log. What it accepts, written by stream_id_format, is non-empty text
 * of digits, '-' and '.' (bare exactly when log 0 alone), reads back equal
 * and writes back to the same bytes (one text per vector); formatting into
 * a buffer too small writes nothing but an empty string (buffers
 * malloc'd at exactly their size, so ASan sees any write past them). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "stream_id.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The value of the n digits at s, or -1 when they are not 1 to max digits
 * or exceed lim. */
static long long number(const char *s, size_t n, size_t max, unsigned long long lim)
{
	if (!n || n > max)
		return -1;
	unsigned long long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long long)(s[i] - '0');
	}
	return v > lim ? -1 : (long long)v;
}

/* The grammar read another way: split at '.', then at '-'. Fills
 * log[]/seq[] in the text's order; returns the count, or -1. */
static long reference(const char *s, size_t n, uint32_t *log, uint64_t *seq)
{
	while (n && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (!memchr(s, '-', n) && !memchr(s, '.', n)) {
		long long v = number(s, n, 19, INT64_MAX);
		if (v < 0)
			return -1;
		log[0] = 0;
		seq[0] = (uint64_t)v;
		return 1;
	}
	long count = 0;
	for (size_t start = 0; start <= n;) {
		const char *dot = memchr(s + start, '.', n - start);
		size_t end = dot ? (size_t)(dot - s) : n;
		const char *dash = memchr(s + start, '-', end - start);
		if (!dash || count == STREAM_ID_LOGS_MAX)
			return -1;
		size_t d = (size_t)(dash - s);
		long long l = number(s + start, d - start, 5, STREAM_ID_LOG_MAX);
		long long q = number(s + d + 1, end - d - 1, 19, INT64_MAX);
		if (l < 0 || q < 0)
			return -1;
		for (long i = 0; i < count; i++)
			if (log[i] == (uint32_t)l)
				return -1;
		log[count] = (uint32_t)l;
		seq[count] = (uint64_t)q;
		count++;
		if (!dot)
			break;
		start = end + 1;
	}
	return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 8192)
		return 0;
	char *in = malloc(size ? size : 1); /* exactly the input: no NUL after it */
	if (!in)
		abort();
	if (size)
		memcpy(in, data, size);
	static struct stream_id id, back;
	static uint32_t rlog[STREAM_ID_LOGS_MAX + 1];
	static uint64_t rseq[STREAM_ID_LOGS_MAX + 1];
	int rc = stream_id_parse(in, size, &id);
	long want = reference(in, size, rlog, rseq);
	FUZZ_CHECK(rc == 0 || rc == -1, "stream_id_parse gave %d", rc);
	FUZZ_CHECK((rc == 0) == (want >= 0), "parse says %d, the reference %ld", rc, want);
	if (rc) {
		free(in);
		return 0;
	}
	FUZZ_CHECK(id.n == (size_t)want, "%zu entries, the reference %ld", id.n, want);
	for (size_t i = 0; i < id.n; i++) {
		FUZZ_CHECK(!i || id.log[i - 1] < id.log[i], "logs not ascending at %zu", i);
		uint64_t got;
		FUZZ_CHECK(stream_id_get(&id, rlog[i], &got) && got == rseq[i],
		           "log %u: the reference's %llu", (unsigned)rlog[i],
		           (unsigned long long)rseq[i]);
	}
	char *text = malloc(STREAM_ID_TEXT_MAX);
	if (!text)
		abort();
	size_t n = stream_id_format(&id, text, STREAM_ID_TEXT_MAX);
	FUZZ_CHECK(n > 0 && strlen(text) == n, "written as %zu bytes", n);
	FUZZ_CHECK(strspn(text, "0123456789-.") == n, "\"%s\": a stray byte", text);
	FUZZ_CHECK((id.n == 1 && id.log[0] == 0) == !strchr(text, '-'), "\"%s\": bare or not", text);
	FUZZ_CHECK(!stream_id_parse(text, n, &back) && stream_id_equal(&id, &back),
	           "\"%s\" does not read back", text);
	char *again = malloc(n + 1);
	if (!again)
		abort();
	FUZZ_CHECK(stream_id_format(&back, again, n + 1) == n && !memcmp(again, text, n + 1),
	           "\"%s\" written back as \"%s\"", text, again);
	free(again);
	/* Too small by one, and a few bytes: nothing but "". */
	for (size_t cap = n; cap + 3 > n && cap > 0; cap--) {
		char *small = malloc(cap);
		if (!small)
			abort();
		FUZZ_CHECK(stream_id_format(&id, small, cap) == 0 && small[0] == '\0',
		           "\"%s\" into %zu bytes", text, cap);
		free(small);
	}
	free(text);
	free(in);
	return 0;
}
