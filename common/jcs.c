/* jcs: RFC 8785 canonical JSON. See jcs.h. */
#include "jcs.h"
#include "utf8.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 2^53: the largest magnitude below which every integer is a double. */
#define JCS_INT_LIMIT 9007199254740992LL

static void buf_reserve(struct jcs_buf *b, size_t more)
{
	if (b->status)
		return;
	if (more > SIZE_MAX - b->len - 1) {
		b->status = JCS_ENOMEM;
		return;
	}
	size_t need = b->len + more + 1; /* room for the final NUL */
	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	char *p = realloc(b->data, cap);
	if (!p) {
		b->status = JCS_ENOMEM;
		return;
	}
	b->data = p;
	b->cap = cap;
}

static void buf_put(struct jcs_buf *b, const char *s, size_t n)
{
	buf_reserve(b, n);
	if (b->status)
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
}

static void buf_putc(struct jcs_buf *b, char c)
{
	buf_put(b, &c, 1);
}

/* The decimal digits of v: what "%lld" gives, without printf's cost (a
 * leaf has three integers). num holds at least 21 bytes; returns the
 * length. */
static size_t format_int(long long v, char *num)
{
	char tmp[24];
	size_t n = 0, k = 0;
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		num[k++] = '-';
	while (n)
		num[k++] = tmp[--n];
	return k;
}

static void buf_fail(struct jcs_buf *b, int status)
{
	if (!b->status)
		b->status = status;
}

/* RFC 8785 §3.2.2.2: '"' and '\' and U+0000-U+001F are escaped (the five
 * short forms, else \u00xx in lowercase hex); everything else is copied as
 * it is, U+007F and U+2028/U+2029 included. */
static void put_string(struct jcs_buf *b, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0; /* s[run..i) is still to be copied raw */
	buf_putc(b, '"');
	while (i < n) {
		uint32_t cp;
		size_t k = utf8_next(s + i, n - i, &cp);
		if (!k) {
			buf_fail(b, JCS_EUTF8);
			return;
		}
		if (cp >= 0x20 && cp != '"' && cp != '\\') {
			i += k;
			continue;
		}
		buf_put(b, str + run, i - run);
		char esc[6] = {'\\', 0, 0, 0, 0, 0};
		size_t elen = 2;
		switch (cp) {
		case '"':
			esc[1] = '"';
			break;
		case '\\':
			esc[1] = '\\';
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\t':
			esc[1] = 't';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[cp >> 4];
			esc[5] = hex[cp & 0xf];
			elen = 6;
		}
		buf_put(b, esc, elen);
		i += k;
		run = i;
	}
	buf_put(b, str + run, n - run);
	buf_putc(b, '"');
}

int jcs_format_double(double d, char buf[JCS_NUMBER_MAX])
{
	buf[0] = '\0';
	if (!isfinite(d))
		return JCS_ENUMBER;
	if (d == 0) { /* +0 and -0 */
		memcpy(buf, "0", 2);
		return 1;
	}
	/* The shortest digits that read back as d: %.{p-1}e is the correctly
	 * rounded p-digit decimal, so the first p that round-trips gives the
	 * fewest digits and, among those, the one closest to d, which is what
	 * ECMAScript's Number::toString asks for. */
	char e[40];
	for (int p = 1; p <= 17; p++) {
		snprintf(e, sizeof e, "%.*e", p - 1, d);
		if (strtod(e, NULL) == d)
			break;
	}
	/* e is "[-]D[.DDD]e[+-]XX": gather the digits and the exponent. */
	char digits[20];
	int k = 0;
	const char *q = e;
	int neg = *q == '-';
	if (neg)
		q++;
	for (; *q && *q != 'e'; q++)
		if (*q >= '0' && *q <= '9')
			digits[k++] = *q;
	while (k > 1 && digits[k - 1] == '0')
		k--;
	int exp10 = atoi(q + 1);
	/* d = 0.DIGITS x 10^n, in ECMAScript's terms (s x 10^(n-k)). */
	int n = exp10 + 1;

	char *o = buf;
	if (neg)
		*o++ = '-';
	if (k <= n && n <= 21) { /* an integer: digits, then n-k zeros */
		memcpy(o, digits, (size_t)k);
		o += k;
		for (int i = 0; i < n - k; i++)
			*o++ = '0';
	} else if (0 < n && n <= 21) { /* a point inside the digits */
		memcpy(o, digits, (size_t)n);
		o += n;
		*o++ = '.';
		memcpy(o, digits + n, (size_t)(k - n));
		o += k - n;
	} else if (-6 < n && n <= 0) { /* 0.000ddd */
		*o++ = '0';
		*o++ = '.';
		for (int i = 0; i < -n; i++)
			*o++ = '0';
		memcpy(o, digits, (size_t)k);
		o += k;
	} else { /* d[.ddd]e+x or e-x, no leading zeros in the exponent */
		*o++ = digits[0];
		if (k > 1) {
			*o++ = '.';
			memcpy(o, digits + 1, (size_t)(k - 1));
			o += k - 1;
		}
		o += snprintf(o, 8, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
	}
	*o = '\0';
	return (int)(o - buf);
}

/* A member name as the sort needs it. */
struct member {
	const char *key;
	size_t len;
	json_t *value;
};

/* The code point's place in UTF-16 code-unit order: code points up to
 * U+D7FF and from U+10000 (whose first unit is a high surrogate,
 * D800-DBFF) are in code-point order, but U+E000-U+FFFF come after all of
 * them, since E000-FFFF > DBFF. Within the supplementary planes the units
 * compare as the code points do. */
static uint32_t utf16_weight(uint32_t cp)
{
	return cp >= 0xe000 && cp <= 0xffff ? cp + 0x200000 : cp;
}

/* RFC 8785 §3.2.3: names compared as arrays of UTF-16 code units. The
 * names have been checked to be well-formed UTF-8 before sorting. */
static int member_cmp(const void *pa, const void *pb)
{
	const struct member *a = pa, *b = pb;
	const unsigned char *s = (const unsigned char *)a->key;
	const unsigned char *t = (const unsigned char *)b->key;
	size_t i = 0, j = 0;
	while (i < a->len && j < b->len) {
		uint32_t c = 0, d = 0;
		i += utf8_next(s + i, a->len - i, &c);
		j += utf8_next(t + j, b->len - j, &d);
		if (c != d)
			return utf16_weight(c) < utf16_weight(d) ? -1 : 1;
	}
	return (i < a->len) - (j < b->len); /* a proper prefix sorts first */
}

static int well_formed(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	uint32_t cp;
	for (size_t i = 0; i < n;) {
		size_t k = utf8_next(s + i, n - i, &cp);
		if (!k)
			return 0;
		i += k;
	}
	return 1;
}

static void put_value(struct jcs_buf *b, const json_t *v, int depth);

static void put_object(struct jcs_buf *b, const json_t *obj, int depth)
{
	size_t n = json_object_size(obj), i = 0;
	struct member *m = NULL;
	if (n) {
		m = malloc(n * sizeof *m);
		if (!m) {
			buf_fail(b, JCS_ENOMEM);
			return;
		}
	}
	const char *key;
	size_t key_len;
	json_t *value;
	/* json_object_keylen_foreach wants a non-const object; it only reads. */
	json_t *o = (json_t *)obj;
	json_object_keylen_foreach(o, key, key_len, value)
	{
		if (i == n)
			break;
		if (!well_formed(key, key_len)) {
			buf_fail(b, JCS_EUTF8);
			goto out;
		}
		m[i++] = (struct member){key, key_len, value};
	}
	if (i > 1)
		qsort(m, i, sizeof *m, member_cmp);
	buf_putc(b, '{');
	for (size_t j = 0; j < i && !b->status; j++) {
		if (j)
			buf_putc(b, ',');
		put_string(b, m[j].key, m[j].len);
		buf_putc(b, ':');
		put_value(b, m[j].value, depth);
	}
	buf_putc(b, '}');
out:
	free(m);
}

static void put_value(struct jcs_buf *b, const json_t *v, int depth)
{
	char num[JCS_NUMBER_MAX];
	if (b->status)
		return;
	switch (json_typeof(v)) {
	case JSON_NULL:
		buf_put(b, "null", 4);
		break;
	case JSON_TRUE:
		buf_put(b, "true", 4);
		break;
	case JSON_FALSE:
		buf_put(b, "false", 5);
		break;
	case JSON_STRING:
		put_string(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER: {
		json_int_t x = json_integer_value(v);
		if (x > JCS_INT_LIMIT || x < -JCS_INT_LIMIT) {
			buf_fail(b, JCS_EINTRANGE);
			break;
		}
		buf_put(b, num, format_int((long long)x, num));
		break;
	}
	case JSON_REAL: {
		int k = jcs_format_double(json_real_value(v), num);
		if (k < 0)
			buf_fail(b, k);
		else
			buf_put(b, num, (size_t)k);
		break;
	}
	case JSON_ARRAY:
		if (depth >= JCS_MAX_DEPTH) {
			buf_fail(b, JCS_EDEPTH);
			break;
		}
		buf_putc(b, '[');
		for (size_t i = 0; i < json_array_size(v) && !b->status; i++) {
			if (i)
				buf_putc(b, ',');
			put_value(b, json_array_get(v, i), depth + 1);
		}
		buf_putc(b, ']');
		break;
	case JSON_OBJECT:
		if (depth >= JCS_MAX_DEPTH) {
			buf_fail(b, JCS_EDEPTH);
			break;
		}
		put_object(b, v, depth + 1);
		break;
	default:
		buf_fail(b, JCS_EINVAL);
	}
}

int jcs_serialize(const json_t *value, char **out, size_t *len)
{
	struct jcs_buf b = {0};
	if (out)
		*out = NULL;
	if (len)
		*len = 0;
	if (!value || !out || !len)
		return JCS_EINVAL;
	put_value(&b, value, 0);
	buf_reserve(&b, 0); /* an empty result still gets its NUL */
	if (b.status) {
		free(b.data);
		return b.status;
	}
	b.data[b.len] = '\0';
	*out = b.data;
	*len = b.len;
	return JCS_OK;
}

const char *jcs_status_string(int status)
{
	switch (status) {
	case JCS_OK:
		return "ok";
	case JCS_ENOMEM:
		return "out of memory";
	case JCS_EINVAL:
		return "not a JSON value";
	case JCS_ENUMBER:
		return "a number is NaN or infinite, which JSON cannot hold";
	case JCS_EINTRANGE:
		return "an integer is beyond 2^53 in magnitude, not exact as an IEEE 754 double";
	case JCS_EUTF8:
		return "a string or member name is not well-formed UTF-8";
	case JCS_EDEPTH:
		return "arrays and objects are nested too deeply (or form a cycle)";
	default:
		return "unknown jcs status";
	}
}

void jcs_buf_put(struct jcs_buf *b, const char *s, size_t n)
{
	buf_put(b, s, n);
}

void jcs_buf_lit(struct jcs_buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

void jcs_buf_int(struct jcs_buf *b, long long v)
{
	char num[24];
	buf_put(b, num, format_int(v, num));
}

void jcs_buf_string(struct jcs_buf *b, const char *s, size_t n)
{
	put_string(b, s, n);
}

void jcs_buf_value(struct jcs_buf *b, const json_t *value)
{
	if (!value)
		buf_fail(b, JCS_EINVAL);
	else
		put_value(b, value, 0);
}

void jcs_buf_free(struct jcs_buf *b)
{
	free(b->data);
	*b = (struct jcs_buf){0};
}
