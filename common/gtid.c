/* gtid: MariaDB GTID positions as text (gtid.h). */
#include "gtid.h"

#include <inttypes.h>
#include <stdio.h>

/* A decimal integer at *p (below end) up to max: digits only, no leading
 * zero unless it is "0". Advances *p. Returns 0, or -1. */
static int number(const char **p, const char *end, uint64_t max, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	if (s == end || *s < '0' || *s > '9' ||
	    (*s == '0' && s + 1 < end && s[1] >= '0' && s[1] <= '9'))
		return -1;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*p = s;
	*out = v;
	return 0;
}

int gtid_parse(const char *s, size_t len, struct gtid_pos *out)
{
	const char *p = s, *end = s + len;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	out->n = 0;
	while (p < end) {
		uint64_t domain, server, seq;
		if (out->n == GTID_DOMAINS_MAX || number(&p, end, UINT32_MAX, &domain) ||
		    p == end || *p++ != '-' || number(&p, end, UINT32_MAX, &server) || p == end ||
		    *p++ != '-' || number(&p, end, UINT64_MAX, &seq))
			return -1;
		for (size_t i = 0; i < out->n; i++)
			if (out->g[i].domain == domain)
				return -1;
		out->g[out->n++] = (struct gtid){(uint32_t)domain, (uint32_t)server, seq};
		/* a comma must be followed by another GTID */
		if (p < end && (*p++ != ',' || p == end))
			return -1;
	}
	return 0;
}

size_t gtid_format(const struct gtid_pos *p, char *out)
{
	size_t len = 0;
	out[0] = '\0';
	for (size_t i = 0; i < p->n && i < GTID_DOMAINS_MAX; i++)
		len += (size_t)snprintf(out + len, GTID_TEXT_MAX - len,
		                        "%s%" PRIu32 "-%" PRIu32 "-%" PRIu64, i ? "," : "",
		                        p->g[i].domain, p->g[i].server, p->g[i].seq);
	return len;
}

bool gtid_reached(const struct gtid_pos *have, const struct gtid_pos *want)
{
	for (size_t i = 0; i < want->n; i++) {
		bool found = false;
		for (size_t j = 0; j < have->n && !found; j++)
			found = have->g[j].domain == want->g[i].domain &&
			        have->g[j].seq >= want->g[i].seq;
		if (!found)
			return false;
	}
	return true;
}
