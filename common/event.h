/* event: the data event, the one document that travels from producers to
 * the auditor, and its JSON encoding.
 *
 *   {"id": "<uuid>", "action": "viewed|created|changed|deleted",
 *    "timestamp": <ms since epoch>, "actorType": "users", "actorId": "1",
 *    "targetType": "users", "targetId": "2", "eventName": "...",  (optional)
 *    "changes": {"field": {"prev": <json>, "next": <json>}}}      (changed only)
 *
 * Decoding is strict because whatever it accepts is stored for good: an
 * unknown member, a wrong type or an oversize value makes the message
 * poison, named by the reason event_decode gives. */
#ifndef AUDITLOG_EVENT_H
#define AUDITLOG_EVENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uuid.h"

#define EVENT_TYPE_MAX 64   /* actorType, targetType: an identifier */
#define EVENT_REF_MAX 64    /* actorId, targetId */
#define EVENT_NAME_MAX 128  /* eventName */
#define EVENT_FIELD_MAX 64  /* a field name in changes */
#define EVENT_MAX_BYTES 65536

enum event_action { EVENT_VIEWED, EVENT_CREATED, EVENT_CHANGED, EVENT_DELETED };

struct event {
	char id[UUID_STR_LEN + 1];
	enum event_action action;
	int64_t timestamp;
	char actor_type[EVENT_TYPE_MAX + 1];
	char actor_id[EVENT_REF_MAX + 1];
	char target_type[EVENT_TYPE_MAX + 1];
	char target_id[EVENT_REF_MAX + 1];
	char event_name[EVENT_NAME_MAX + 1]; /* "" when absent */
	json_t *changes; /* owned; NULL unless action is EVENT_CHANGED */
};

const char *event_action_name(enum event_action action);
/* Returns the action, or -1 for an unknown name. */
int event_action_parse(const char *name);

/* Fills ev with a fresh UUIDv7 id and its timestamp. Strings longer than
 * their field are truncated, so callers pass values they validated.
 * changes is stolen (may be NULL). */
void event_init(struct event *ev, enum event_action action, const char *actor_type,
                const char *actor_id, const char *target_type, const char *target_id,
                json_t *changes);

/* Releases what ev owns; ev may be reused afterwards. */
void event_clear(struct event *ev);

/* Returns the event as compact JSON, malloc'd, NUL-terminated, length in
 * *len; the caller frees it with free(). NULL when out of memory. */
char *event_encode(const struct event *ev, size_t *len);

/* Decodes and validates one event. On success returns 0 and ev owns its
 * changes (event_clear it). On failure returns -1, ev holds nothing, and
 * why holds a one-line reason. */
int event_decode(const char *buf, size_t len, struct event *ev, char *why, size_t why_len);

/* True for a bounded identifier: 1..EVENT_TYPE_MAX of [A-Za-z0-9_.-]. */
bool event_type_valid(const char *s, size_t len);
/* True for a reference: 1..EVENT_REF_MAX bytes with no control characters. */
bool event_ref_valid(const char *s, size_t len);

#endif
