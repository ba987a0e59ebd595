/* diff: which stored values a partial update actually changes. */
#ifndef AUDITLOG_DIFF_H
#define AUDITLOG_DIFF_H

#include <jansson.h>

/* For each member of patch whose value differs from the same member of
 * stored (a missing member counts as null), records {prev, next}.
 * Returns a new object {field: {prev, next}}, or NULL when nothing
 * changes (or out of memory). Both inputs are borrowed. */
json_t *diff_changes(json_t *stored, json_t *patch);

#endif
