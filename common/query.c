#include "query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long query_unescape(const char *in, size_t n, char *out, bool plus_is_space)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '%') {
			if (i + 2 >= n)
				return -1;
			int hi = hexval(in[i + 1]), lo = hexval(in[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+' && plus_is_space) {
			c = ' ';
		}
		if (c < 0x20 || c == 0x7f)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return (long)o;
}

int query_parse(const char *qs, struct query *q, const char **why)
{
	memset(q, 0, sizeof *q);
	size_t len = strlen(qs);
	if (len == 0)
		return 0;
	/* Each pair needs two NULs where the input may have one separator
	 * ("a&b": key, NUL, empty value, NUL per letter). */
	if (!(q->buf = malloc(2 * len + 2))) {
		*why = "out of memory";
		return -1;
	}
	char *dst = q->buf;
	const char *p = qs, *end = qs + len;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		if (!amp)
			amp = end;
		if (amp == p) { /* tolerate "a=1&&b=2" and a trailing '&' */
			p++;
			continue;
		}
		if (q->n == QUERY_MAX_PARAMS) {
			*why = "too many query parameters";
			goto fail;
		}
		const char *eq = memchr(p, '=', (size_t)(amp - p));
		const char *kend = eq ? eq : amp;
		long klen = query_unescape(p, (size_t)(kend - p), dst, true);
		if (klen <= 0) {
			*why = "a query parameter has an empty name or a bad percent-escape";
			goto fail;
		}
		q->key[q->n] = dst;
		dst += klen + 1;
		long vlen = eq ? query_unescape(eq + 1, (size_t)(amp - eq - 1), dst, true) : 0;
		if (vlen < 0) {
			*why = "a query parameter's value has a bad percent-escape or a control character";
			goto fail;
		}
		if (!eq)
			*dst = '\0';
		q->value[q->n] = dst;
		dst += vlen + 1;
		for (size_t i = 0; i < q->n; i++)
			if (!strcmp(q->key[i], q->key[q->n])) {
				*why = "a query parameter is given more than once";
				char name[QUERY_KEY_SHOWN + 1];
				snprintf(name, sizeof name, "%s", q->key[i]);
				query_free(q);
				memcpy(q->repeated, name, sizeof name);
				return -1;
			}
		q->n++;
		p = amp + 1;
	}
	return 0;
fail:
	query_free(q);
	return -1;
}

void query_free(struct query *q)
{
	free(q->buf);
	memset(q, 0, sizeof *q);
}

const char *query_get(const struct query *q, const char *key)
{
	for (size_t i = 0; i < q->n; i++)
		if (!strcmp(q->key[i], key))
			return q->value[i];
	return NULL;
}

long query_escape(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~' ||
		            c == ':';
		if (o + (plain ? 1 : 3) >= cap)
			return -1;
		if (plain) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return (long)o;
}

int query_append(char *buf, size_t cap, const char *key, const char *value)
{
	size_t n = strlen(buf);
	char k[256], v[1024];
	if (query_escape(key, k, sizeof k) < 0 || query_escape(value, v, sizeof v) < 0)
		return -1;
	int w = snprintf(buf + n, cap - n, "%s%s=%s", n && buf[n - 1] != '?' ? "&" : "", k, v);
	if (w < 0 || (size_t)w >= cap - n) {
		buf[n] = '\0';
		return -1;
	}
	return 0;
}
