#include "mediatype.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

/* What one media range of a header says. */
struct range {
	bool jsonapi;     /* it is application/vnd.api+json */
	bool malformed;   /* not RFC 9110's grammar */
	bool other_param; /* a parameter other than ext and profile */
	bool extension;   /* an ext naming at least one extension */
	bool refused;     /* q=0: the client does not want it */
	const char *type, *sub; /* its type and subtype (not NUL-terminated) */
	size_t tlen, slen;
	int weight;       /* q in thousandths: 0 to 1000; -1 when malformed */
};

static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static size_t token_len(const char *p)
{
	size_t n = 0;
	while (is_tchar(p[n]))
		n++;
	return n;
}

static void skip_ows(const char **p)
{
	while (**p == ' ' || **p == '\t')
		(*p)++;
}

static bool named(const char *p, size_t n, const char *name)
{
	return n == strlen(name) && !strncasecmp(p, name, n);
}

/* A qvalue of 0 ("0", "0.", "0.000"). */
static bool zero_weight(const char *v, size_t n)
{
	if (n == 0 || v[0] != '0')
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(i == 1 ? v[i] == '.' : v[i] == '0'))
			return false;
	return true;
}

/* A qvalue (RFC 9110 section 12.4.2: "0" to "1", at most three
 * decimals) in thousandths, or -1. */
static int weight_of(const char *v, size_t n)
{
	if (n == 0 || (v[0] != '0' && v[0] != '1') || n > 5 || (n > 1 && v[1] != '.'))
		return -1;
	int w = 0, scale = 100;
	for (size_t i = 2; i < n; i++, scale /= 10) {
		if (v[i] < '0' || v[i] > '9' || (v[0] == '1' && v[i] != '0'))
			return -1;
		w += (v[i] - '0') * scale;
	}
	return v[0] == '1' ? 1000 : w;
}

/* Moves *p past a quoted string starting at '"'; sets *blank to whether
 * it holds nothing but spaces. Returns false if it is not terminated. */
static bool quoted(const char **p, bool *blank)
{
	const char *s = *p + 1;
	*blank = true;
	for (; *s && *s != '"'; s++) {
		if (*s == '\\' && !*++s)
			return false;
		if (*s != ' ' && *s != '\t')
			*blank = false;
	}
	if (*s != '"')
		return false;
	*p = s + 1;
	return true;
}

/* Moves *p to the next ',' outside quoted strings, or to the end. */
static void skip_to_comma(const char **p)
{
	bool blank;
	while (**p && **p != ',') {
		if (**p == '"' && quoted(p, &blank))
			continue;
		(*p)++;
	}
}

/* Parses one media range at *p, up to a top-level ',' or the end, and
 * leaves *p there. In Accept (weighted), "q" is the weight and what
 * follows it are accept extensions (RFC 7231), which are ignored. */
static void parse_range(const char **p, bool weighted, struct range *r)
{
	memset(r, 0, sizeof *r);
	r->weight = 1000;
	skip_ows(p);
	const char *type = *p;
	size_t tlen = token_len(type), slen = 0;
	const char *sub = type + tlen + 1;
	if (tlen && type[tlen] == '/')
		slen = token_len(sub);
	r->type = type;
	r->tlen = tlen;
	r->sub = sub;
	r->slen = slen;
	if (!slen) {
		r->malformed = true;
		skip_to_comma(p);
		return;
	}
	r->jsonapi = named(type, tlen, "application") && named(sub, slen, "vnd.api+json");
	*p = sub + slen;
	bool after_weight = false;
	for (;;) {
		skip_ows(p);
		if (**p == ',' || !**p)
			return;
		if (**p != ';')
			break;
		(*p)++;
		skip_ows(p);
		if (**p == ';' || **p == ',' || !**p)
			continue; /* an empty parameter is allowed */
		const char *name = *p;
		size_t nlen = token_len(name);
		if (!nlen || name[nlen] != '=')
			break;
		*p = name + nlen + 1;
		const char *value = *p;
		size_t vlen = 0;
		bool blank;
		if (**p == '"') {
			if (!quoted(p, &blank))
				break;
		} else {
			vlen = token_len(value);
			if (!vlen)
				break;
			blank = false;
			*p = value + vlen;
		}
		if (after_weight)
			continue;
		if (weighted && named(name, nlen, "q")) {
			r->refused = zero_weight(value, vlen);
			r->weight = weight_of(value, vlen);
			after_weight = true;
		} else if (named(name, nlen, "ext")) {
			r->extension |= !blank;
		} else if (!named(name, nlen, "profile")) {
			r->other_param = true;
		}
	}
	r->malformed = true;
	skip_to_comma(p);
}

/* The next media range of an Accept list at *p into r, past empty list
 * elements. Returns false at the list's end. */
static bool next_range(const char **p, struct range *r)
{
	for (;;) {
		skip_ows(p);
		if (**p != ',')
			break;
		(*p)++; /* empty list elements are allowed */
	}
	if (!**p)
		return false;
	parse_range(p, true, r);
	return true;
}

enum mediatype_verdict mediatype_content_type(const char *value)
{
	if (!value)
		return MEDIATYPE_OTHER;
	struct range r;
	const char *p = value;
	parse_range(&p, false, &r);
	if (!r.jsonapi)
		return MEDIATYPE_OTHER;
	if (r.malformed || r.other_param || *p)
		return MEDIATYPE_PARAMETER;
	return r.extension ? MEDIATYPE_EXTENSION : MEDIATYPE_OK;
}

enum mediatype_verdict mediatype_accept(const char *value)
{
	bool named_jsonapi = false, extension = false;
	const char *p = value ? value : "";
	struct range r;
	while (next_range(&p, &r)) {
		if (r.jsonapi) {
			named_jsonapi = true;
			if (!r.malformed && !r.other_param && !r.extension && !r.refused)
				return MEDIATYPE_OK;
			extension |= r.extension && !r.malformed && !r.other_param;
		}
	}
	if (!named_jsonapi)
		return MEDIATYPE_OK;
	return extension ? MEDIATYPE_EXTENSION : MEDIATYPE_PARAMETER;
}

/* How specifically range r names the media type offer ("type/subtype"):
 * 3 exactly, 2 by its type ("type/" "*"), 1 as "*" "/" "*", 0 not at all. */
static int specificity(const struct range *r, const char *offer)
{
	const char *slash = strchr(offer, '/');
	size_t tlen = (size_t)(slash - offer);
	if (r->tlen == 1 && r->type[0] == '*')
		return r->slen == 1 && r->sub[0] == '*' ? 1 : 0;
	if (r->tlen != tlen || strncasecmp(r->type, offer, tlen))
		return 0;
	if (r->slen == 1 && r->sub[0] == '*')
		return 2;
	return named(r->sub, r->slen, slash + 1) ? 3 : 0;
}

int mediatype_prefer(const char *accept, const char *const *offers, size_t n)
{
	int best = -1, best_weight = 0;
	for (size_t i = 0; i < n; i++) {
		int spec = 0, weight = 0;
		const char *p = accept ? accept : "";
		bool any = false;
		/* JSON:API's media type with parameters names nothing (JSON:API 1.1
		 * §5.1); another type's parameters (text/csv; header=present, as
		 * the server's own Content-Type has them) do not change what the
		 * range names. */
		bool jsonapi = !strcasecmp(offers[i], "application/vnd.api+json");
		struct range r;
		while (next_range(&p, &r)) {
			any = true;
			if (r.malformed || r.weight < 0 || (jsonapi && (r.other_param || r.extension)))
				continue;
			int s = specificity(&r, offers[i]);
			if (s > spec || (s == spec && s && r.weight > weight)) {
				spec = s;
				weight = r.weight;
			}
		}
		if (!any) /* no Accept, or an empty one: anything, the first offer best */
			return n ? 0 : -1;
		if (spec && weight > best_weight) {
			best = (int)i;
			best_weight = weight;
		}
	}
	return best;
}
