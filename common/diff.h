/* diff: which stored values a partial update actually changes. */
#ifndef AUDITLOG_DIFF_H
#define AUDITLOG_DIFF_H

#include <jansson.h>

/* For each member of patch whose value differs from the same member of
 * stored (a missing member counts as null), records {prev, next}.
 * Returns a new object {field: {prev, next}}, or NULL when nothing
 * changes (or out of memory). Both inputs are borrowed. */
json_t *diff_changes(json_t *stored, json_t *patch);

/* Every member of attrs as a change: {field: {prev: null, next: value}}
 * for a created object (its initial values), {field: {prev: value,
 * next: null}} for a deleted one (its last values). Returns a new object,
 * or NULL when attrs has no member (or out of memory). attrs is borrowed. */
json_t *diff_created(json_t *attrs);
json_t *diff_deleted(json_t *attrs);

#endif
