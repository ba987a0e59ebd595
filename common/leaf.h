/* leaf: what one stored event commits to in the log of record.
 *
 * The leaf of an event is the RFC 8785 (JCS) serialization of the event
 * as stored, with its log id and position, in which every value of
 * "changes" (each prev and each next) is replaced by its commitment:
 *
 *   commitment = base64url_nopad(SHA-256(salt ‖ JCS(value)))
 *
 * with a salt of LEAF_SALT_LEN random bytes per value (RFC 4648 §5
 * alphabet, no padding: 43 characters). The leaf hash is
 * SHA-256(0x00 ‖ leaf) (RFC 9162 §2.1.1). Erasing a value (deleting value
 * and salt) leaves its commitment, so the leaf and every proof through it
 * still verify. docs/ledger.md "What a leaf commits to" has the format with
 * a worked example, checked by tests/unit/test_leaf.c.
 *
 * The members, in the order JCS gives them (their names are ASCII, so
 * UTF-16 order is byte order):
 *   action, actorId, actorType, changes (only when the event has at least
 *   one), eventName (only when present), id, log, seq, targetId,
 *   targetType, targetVersion (only when present), timestamp, traceId
 *   (only when present)
 * and inside changes, one member per field in field order, each
 *   {"next": "<commitment>", "prev": "<commitment>"}.
 *
 * Pure: OpenSSL's SHA-256 and jcs.c. Nothing is kept between calls; the
 * caller owns every buffer. */
#ifndef AUDITLOG_LEAF_H
#define AUDITLOG_LEAF_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "jcs.h"

#define LEAF_SALT_LEN 16
#define LEAF_HASH_LEN 32
#define LEAF_COMMITMENT_LEN 32
#define LEAF_COMMITMENT_B64_LEN 43 /* base64url, no padding */
/* The largest position and timestamp a leaf holds: exact as a double. */
#define LEAF_INT_MAX 9007199254740992LL /* 2^53 */

enum leaf_status {
	LEAF_OK = 0,
	LEAF_ENOMEM = -1,
	LEAF_EINVAL = -2, /* a member missing or out of range, fields not in strict order */
	LEAF_EVALUE = -3, /* a value JCS refuses (an integer beyond 2^53, bad UTF-8, too deep) */
	LEAF_ECRYPTO = -4,
};

/* One changed field: its name and the commitments of its two values. */
struct leaf_change {
	const char *field; /* borrowed; the grammar of a type (ASCII) */
	uint8_t prev[LEAF_COMMITMENT_LEN], next[LEAF_COMMITMENT_LEN];
};

/* An event as the log stores it. Strings are borrowed, NUL-terminated
 * UTF-8. */
struct leaf_event {
	uint32_t log;      /* the log (partition) */
	uint64_t seq;      /* its position in the log, <= LEAF_INT_MAX */
	const char *id;    /* the producer's event id */
	const char *action;
	int64_t timestamp; /* ms since the epoch, |t| <= LEAF_INT_MAX */
	const char *actor_type, *actor_id, *target_type, *target_id;
	const char *event_name; /* NULL when absent */
	int64_t target_version; /* 1 to LEAF_INT_MAX; 0 when absent */
	const char *trace_id;   /* the W3C trace-id (32 lowercase hex digits); NULL when absent */
	const struct leaf_change *changes; /* nchanges, fields strictly ascending (strcmp) */
	size_t nchanges;
};

/* A static sentence for a leaf_status. */
const char *leaf_status_string(int status);

/* The commitment to one value: SHA-256(salt ‖ JCS(value)) into out.
 * scratch is reused between calls (the caller frees it with
 * jcs_buf_free). Returns LEAF_OK, LEAF_EVALUE (JCS refused the value),
 * LEAF_ENOMEM or LEAF_ECRYPTO. */
int leaf_commit(const uint8_t salt[LEAF_SALT_LEN], const json_t *value, struct jcs_buf *scratch,
                uint8_t out[LEAF_COMMITMENT_LEN]);

/* Writes the commitment as 43 base64url characters and a NUL. */
void leaf_commitment_b64(const uint8_t c[LEAF_COMMITMENT_LEN],
                         char out[LEAF_COMMITMENT_B64_LEN + 1]);
/* Reads 43 base64url characters back. Returns 0, or -1 if s is not one. */
int leaf_commitment_parse(const char *s, size_t len, uint8_t out[LEAF_COMMITMENT_LEN]);

/* Appends the leaf (canonical bytes) of e to out, after out->len = 0 by
 * the caller if it wants only the leaf. Returns LEAF_OK, LEAF_EINVAL
 * (a NULL member, seq, timestamp or target_version out of range, changes not strictly
 * ascending), LEAF_EVALUE (a string that is not well-formed UTF-8) or
 * LEAF_ENOMEM. */
int leaf_write(const struct leaf_event *e, struct jcs_buf *out);

/* What a line of an export bundle (common/bundle.c) writes differently
 * from the leaf, in the same member order: each side of a change as
 * side() writes it instead of its commitment string, and the members
 * after_id() writes (each ",\"name\":value", names sorting between "id"
 * and "log"). Either may be NULL for the leaf's own rendering. */
struct leaf_render {
	void (*side)(void *ctx, size_t change, int next, struct jcs_buf *out);
	void (*after_id)(void *ctx, struct jcs_buf *out);
	void *ctx;
};
/* leaf_write with r's renderings (r may be NULL). Same statuses. */
int leaf_write_rendered(const struct leaf_event *e, const struct leaf_render *r,
                        struct jcs_buf *out);

/* The leaf hash of e (RFC 9162 §2.1.1: SHA-256(0x00 ‖ leaf)) into out,
 * with scratch as in leaf_commit. Same statuses as leaf_write, and
 * LEAF_ECRYPTO. */
int leaf_hash(const struct leaf_event *e, struct jcs_buf *scratch, uint8_t out[LEAF_HASH_LEN]);

#endif
