#include "filter.h"

#include <string.h>

int filter_parse_ref(const char *s, struct filter_ref *out)
{
	const char *colon = s ? strchr(s, ':') : NULL;
	if (!colon)
		return -1;
	size_t tlen = (size_t)(colon - s), ilen = strlen(colon + 1);
	if (!event_type_valid(s, tlen) || !event_ref_valid(colon + 1, ilen))
		return -1;
	memcpy(out->type, s, tlen);
	out->type[tlen] = '\0';
	memcpy(out->id, colon + 1, ilen + 1);
	return 0;
}
