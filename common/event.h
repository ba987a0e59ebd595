/* event: the data event, the one document that travels from producers to
 * the auditor, and its JSON encoding.
 *
 *   {"id": "<uuid>", "action": "viewed|created|changed|deleted",
 *    "timestamp": <ms since epoch>, "actorType": "users", "actorId": "1",
 *    "targetType": "users", "targetId": "2", "eventName": "...",  (optional)
 *    "targetVersion": 3,                                          (optional)
 *    "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",               (optional)
 *    "changes": {"field": {"prev": <json>, "next": <json>}}}      (optional)
 *
 * targetVersion is the version of the target a mutation produced (1 at
 * create, +1 per committed change, the delete included) or the version a
 * read returned; an integer from 1 to 2^53. changes: on changed, what
 * changed; on created, every initial value ({"prev": null, "next": v});
 * on deleted, every last value ({"prev": v, "next": null}); never on a
 * producer's viewed. The auditor's own records of reads of the log (action
 * viewed, eventName audit.*; README "Reads are recorded") do carry changes:
 * the read's parameters, {"prev": null, "next": "<as given>"} each, under
 * names that begin with EVENT_RESERVED_FIELD_PREFIX, which no producer's
 * event may use, so they are never taken for an object's fields.
 *
 * traceId is the W3C trace-id (trace.h) of the request that made the event:
 * 32 lowercase hex digits, not all zero. It ties the event to the log lines
 * of that request (log.h) and to the request's traceparent, in and out.
 * Absent from events of older producers, and of producers that had none.
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

#include "trace.h"
#include "uuid.h"

#define EVENT_TYPE_MAX 64   /* actorType, targetType: an identifier */
#define EVENT_REF_MAX 64    /* actorId, targetId */
#define EVENT_NAME_MAX 128  /* eventName */
#define EVENT_FIELD_MAX 64  /* a field name in changes */
/* The field names of a recorded read's changes begin with this; a
 * producer's event may not use it (event_decode refuses it). */
#define EVENT_RESERVED_FIELD_PREFIX "read."
/* The largest targetVersion: exact as a double, so the log commits to it
 * exactly (docs/ledger.md). */
#define EVENT_VERSION_MAX 9007199254740992LL /* 2^53 */
/* One event, encoded. The largest the API makes is a note whose 16,000
 * characters of data changed, escaped in both prev and next: under 200 KB. */
#define EVENT_MAX_BYTES (256u << 10)
/* A message may carry an array of events (producers batch them when busy). */
#define EVENT_BATCH_MAX 200
#define EVENT_MESSAGE_MAX_BYTES (1u << 20)

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
	int64_t target_version; /* 1 to EVENT_VERSION_MAX; 0 when absent */
	char trace_id[TRACE_ID_HEX_LEN + 1]; /* trace_id_valid, or "" when absent */
	json_t *changes;        /* owned; NULL when absent, and on a producer's EVENT_VIEWED */
};

const char *event_action_name(enum event_action action);
/* Returns the action, or -1 for an unknown name. */
int event_action_parse(const char *name);

/* Fills ev with a fresh UUIDv7 id and its timestamp, no eventName, no
 * targetVersion and no traceId (the caller sets them). Strings longer than their field
 * are truncated, so callers pass values they validated. changes is stolen
 * (may be NULL). */
void event_init(struct event *ev, enum event_action action, const char *actor_type,
                const char *actor_id, const char *target_type, const char *target_id,
                json_t *changes);

/* Releases what ev owns; ev may be reused afterwards. */
void event_clear(struct event *ev);

/* Returns the event as compact JSON, malloc'd, NUL-terminated, length in
 * *len; the caller frees it with free(). NULL when out of memory. */
char *event_encode(const struct event *ev, size_t *len);

/* The largest encoding event_encode_to makes: every string field escaped
 * at six bytes a character, and the members' names. */
#define EVENT_ENCODE_TO_MAX                                                                        \
	(256 + 6 * (UUID_STR_LEN + 2 * EVENT_TYPE_MAX + 2 * EVENT_REF_MAX + EVENT_NAME_MAX +       \
	            TRACE_ID_HEX_LEN))

/* Writes the same bytes as event_encode, and a NUL, into buf (cap bytes,
 * the caller's), allocating nothing: the API's path for view events.
 * Returns the length without the NUL, or 0 when it cannot: ev has
 * changes, one of its strings holds a byte beyond ASCII (jansson's
 * encoder checks the UTF-8), or it needs more than cap bytes (never with
 * EVENT_ENCODE_TO_MAX). Then use event_encode. */
size_t event_encode_to(const struct event *ev, char *buf, size_t cap);

/* Decodes and validates one event. On success returns 0 and ev owns its
 * changes (event_clear it). On failure returns -1, ev holds nothing, and
 * why holds a one-line reason. */
int event_decode(const char *buf, size_t len, struct event *ev, char *why, size_t why_len);

/* Decodes one event already parsed. Same contract as event_decode. */
int event_decode_json(json_t *o, struct event *ev, char *why, size_t why_len);

/* Called by event_decode_message for each element: ev on success (the
 * callee owns it and must event_clear it), or ev NULL and why set for an
 * element that is not a valid event; element is the element's JSON
 * (borrowed). Return non-zero to stop. */
typedef int (*event_fn)(void *ctx, size_t index, struct event *ev, json_t *element,
                        const char *why);

/* Decodes a message holding one event object or an array of 1 to
 * EVENT_BATCH_MAX events, calling fn per event; an element over
 * EVENT_MAX_BYTES (compact) is handed to fn as invalid. Returns 0, or -1 with why
 * set when the message as a whole is unusable (fn was not called). */
int event_decode_message(const char *buf, size_t len, event_fn fn, void *ctx, char *why,
                         size_t why_len);

/* ---- the grammar of what names an object ----
 *
 *   type   = 1 to 64 of  A-Z a-z 0-9 _ . -           ("users", "data-events")
 *   field  = the same as a type                       ("email", "agreedTos")
 *   id     = 1 to 64 bytes of UTF-8: A-Z a-z 0-9 - . _ ~ @ + and any letter
 *            beyond ASCII that is not a space or invisible ("42", a UUID,
 *            "inv-2026-0001", "a.b@c", "josé")
 *   ref    = type ":" id,  in filter[actor] and filter[target]
 *
 * Neither a type nor an id may be "." or ".." (they could not travel as a
 * path segment). So an id holds no ':' (the separator), no quote, slash,
 * backslash, space, control character or other punctuation, no ill-formed
 * UTF-8, and no spaces or invisible characters beyond ASCII (no-break and
 * zero-width spaces, bidirectional controls, variation selectors, tags),
 * which would let two different ids look the same. Ids compare byte for
 * byte: nothing is folded or normalised.
 *
 * The same rules hold for what the auditor stores (event_decode refuses an
 * event that breaks them), for every query that names an object, and for
 * what a note is about. The texts below say it in the replies. */
#define EVENT_TYPE_RULE "1 to 64 of the characters A-Z a-z 0-9 _ . -"
#define EVENT_REF_RULE                                                                             \
	"1 to 64 bytes of letters, digits and - . _ ~ @ + (no ':', quotes, spaces or control "     \
	"characters)"

/* The targetType and targetId of an event as event_encode or
 * event_encode_to wrote it (compact JSON, members in the order above),
 * read without parsing it: the API's publisher routes each event to its
 * target's partition (mq.h) by them. *type and *id point into body (len
 * bytes, borrowed, need not be NUL-terminated). Returns false when either
 * is missing or not in the grammar below. */
bool event_target_peek(const char *body, size_t len, const char **type, size_t *type_len,
                       const char **id, size_t *id_len);

/* True for a type (actorType, targetType): see the grammar above. */
bool event_type_valid(const char *s, size_t len);
/* True for a field name: the grammar of a type. */
bool event_field_valid(const char *s, size_t len);
/* True for an id (actorId, targetId): see the grammar above. */
bool event_ref_valid(const char *s, size_t len);

#endif
