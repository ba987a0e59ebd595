/* filter: "type:id" object references, as in filter[actor]=users:1 and
 * filter[target]=notes:7. Pure. */
#ifndef AUDITLOG_FILTER_H
#define AUDITLOG_FILTER_H

#include "event.h"

struct filter_ref {
	char type[EVENT_TYPE_MAX + 1];
	char id[EVENT_REF_MAX + 1];
};

/* Splits s at its first ':'. The type must be a bounded identifier
 * (event_type_valid) and the id a reference (event_ref_valid). Returns 0,
 * or -1 for anything else. */
int filter_parse_ref(const char *s, struct filter_ref *out);

#endif
