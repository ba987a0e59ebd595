#include "filter.h"

#include <string.h>

int filter_parse_ref(const char *s, unsigned flags, struct filter_ref *out, const char **why)
{
	const char *colon = s ? strchr(s, ':') : NULL;
	if (!colon) {
		*why =
		    flags & FILTER_FIELD ? "must be type:id or type:id:field." : "must be type:id.";
		return -1;
	}
	const char *id = colon + 1, *field = NULL;
	const char *end = flags & FILTER_FIELD ? strchr(id, ':') : NULL;
	if (end)
		field = end + 1;
	else
		end = id + strlen(id);
	size_t tlen = (size_t)(colon - s), ilen = (size_t)(end - id);
	if (!event_type_valid(s, tlen)) {
		*why = "has a bad type: a type is " EVENT_TYPE_RULE ".";
		return -1;
	}
	if (!event_ref_valid(id, ilen)) {
		*why = "has a bad id: an id is " EVENT_REF_RULE ".";
		return -1;
	}
	if (field && !event_field_valid(field, strlen(field))) {
		*why = "has a bad field: a field name is " EVENT_TYPE_RULE ".";
		return -1;
	}
	memcpy(out->type, s, tlen);
	out->type[tlen] = '\0';
	memcpy(out->id, id, ilen);
	out->id[ilen] = '\0';
	strcpy(out->field, field ? field : "");
	return 0;
}

int filter_parse_names(const char *s, const char *const *names, unsigned n, unsigned *bits)
{
	*bits = 0;
	if (!s || n > 32)
		return -1;
	for (const char *p = s;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		unsigned i = 0;
		while (i < n && (strlen(names[i]) != len || memcmp(names[i], p, len)))
			i++;
		if (i == n || (*bits & (1u << i)))
			return -1; /* not a name, or one given twice */
		*bits |= 1u << i;
		if (!end)
			return 0;
		p = end + 1;
	}
}
