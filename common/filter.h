/* filter: object references in queries, "type:id" as in
 * filter[actor]=users:1, and "type:id:field" as in the notes'
 * filter[target]=users:1:email. Types, ids and field names follow the
 * grammar in event.h. Pure. */
#ifndef AUDITLOG_FILTER_H
#define AUDITLOG_FILTER_H

#include "event.h"

struct filter_ref {
	char type[EVENT_TYPE_MAX + 1];
	char id[EVENT_REF_MAX + 1];
	char field[EVENT_FIELD_MAX + 1]; /* "" when absent */
};

enum filter_flags {
	FILTER_FIELD = 1, /* a third part, ":field", may follow the id */
};

/* Parses s as type:id (or type:id:field with FILTER_FIELD) into out.
 * Returns 0, or -1 with *why set to a static sentence that says which part
 * is wrong and what it must be (to follow the parameter's name in a 400);
 * out is then unspecified. s may be NULL (refused). */
int filter_parse_ref(const char *s, unsigned flags, struct filter_ref *out, const char **why);

/* Parses s, one or a comma list of names out of names[0..n) (n <= 32),
 * into *bits (bit i for names[i]). Returns 0, or -1 when s is empty, an
 * item is empty, is not one of names or is given twice (so a list is never
 * longer than the names joined) (*bits is then unspecified). s may be
 * NULL (refused). */
int filter_parse_names(const char *s, const char *const *names, unsigned n, unsigned *bits);

#endif
