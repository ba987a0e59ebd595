/* The live stream's message ids: see stream_id.h. */
#include <stdio.h>
#include <string.h>

#include "stream_id.h"

/* Reads 1 to max decimal digits at *s (before end) into *v, at most lim;
 * moves *s past them. Returns 0, or -1. */
static int digits(const char **s, const char *end, int max, uint64_t lim, uint64_t *v)
{
	const char *p = *s;
	uint64_t n = 0;
	while (p < end && *p >= '0' && *p <= '9' && p - *s < max) {
		n = n * 10 + (uint64_t)(*p - '0'); /* 19 digits fit in 64 bits */
		p++;
	}
	if (p == *s || n > lim || (p < end && *p >= '0' && *p <= '9'))
		return -1;
	*s = p;
	*v = n;
	return 0;
}

int stream_id_parse(const char *s, size_t len, struct stream_id *out)
{
	const char *end = s + len;
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	out->n = 0;
	const char *start = s;
	uint64_t log, seq, seen;
	if (digits(&s, end, 19, STREAM_ID_SEQ_MAX, &log))
		return -1;
	if (s == end) /* the bare position: log 0's */
		return stream_id_set(out, 0, log);
	if (s - start > 5 || log > STREAM_ID_LOG_MAX)
		return -1;
	for (;;) {
		if (s == end || *s++ != '-' || digits(&s, end, 19, STREAM_ID_SEQ_MAX, &seq) ||
		    stream_id_get(out, (uint32_t)log, &seen) || stream_id_set(out, (uint32_t)log, seq))
			return -1;
		if (s == end)
			return 0;
		if (*s++ != '.' || digits(&s, end, 5, STREAM_ID_LOG_MAX, &log))
			return -1;
	}
}

size_t stream_id_format(const struct stream_id *id, char *buf, size_t cap)
{
	size_t o = 0;
	if (!cap)
		return 0;
	buf[0] = '\0';
	if (id->n == 1 && id->log[0] == 0) {
		int w = snprintf(buf, cap, "%llu", (unsigned long long)id->seq[0]);
		if (w < 0 || (size_t)w >= cap) {
			buf[0] = '\0';
			return 0;
		}
		return (size_t)w;
	}
	for (size_t i = 0; i < id->n; i++) {
		int w = snprintf(buf + o, cap - o, "%s%lu-%llu", i ? "." : "", (unsigned long)id->log[i],
		                 (unsigned long long)id->seq[i]);
		if (w < 0 || (size_t)w >= cap - o) {
			buf[0] = '\0';
			return 0;
		}
		o += (size_t)w;
	}
	return o;
}

/* The index where log is or would go. */
static size_t slot(const struct stream_id *id, uint32_t log)
{
	size_t lo = 0, hi = id->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (id->log[mid] < log)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool stream_id_get(const struct stream_id *id, uint32_t log, uint64_t *seq)
{
	size_t i = slot(id, log);
	if (i == id->n || id->log[i] != log)
		return false;
	*seq = id->seq[i];
	return true;
}

int stream_id_set(struct stream_id *id, uint32_t log, uint64_t seq)
{
	size_t i = slot(id, log);
	if (i < id->n && id->log[i] == log) {
		id->seq[i] = seq;
		return 0;
	}
	if (id->n == STREAM_ID_LOGS_MAX)
		return -1;
	memmove(id->log + i + 1, id->log + i, (id->n - i) * sizeof id->log[0]);
	memmove(id->seq + i + 1, id->seq + i, (id->n - i) * sizeof id->seq[0]);
	id->log[i] = log;
	id->seq[i] = seq;
	id->n++;
	return 0;
}

bool stream_id_equal(const struct stream_id *a, const struct stream_id *b)
{
	return a->n == b->n && !memcmp(a->log, b->log, a->n * sizeof a->log[0]) &&
	       !memcmp(a->seq, b->seq, a->n * sizeof a->seq[0]);
}
