/* log_read: the stored events of one log in position order, as the log of
 * record holds them (docs/ledger.md): what /verify re-hashes and /export
 * writes out. Reads chunk by chunk, so memory stays bounded at any size. */
#ifndef AUDITLOG_LOG_READ_H
#define AUDITLOG_LOG_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "leaf.h"

/* One changed field of a stored event. */
struct log_field {
	const char *field;
	bool erased; /* its values (and salts) were erased: only the commitments remain */
	uint8_t prev_salt[LEAF_SALT_LEN], next_salt[LEAF_SALT_LEN];
	const char *prev_value, *next_value; /* JSON text, when not erased */
	size_t prev_len, next_len;
};

/* One stored event. ev.changes holds the stored commitments (fields in
 * byte order); fields[i] is the field of ev.changes[i]. Everything is
 * borrowed for the duration of the callback. */
struct log_event {
	struct leaf_event ev;             /* ev.seq: the position its append gives it */
	uint8_t leaf_hash[LEAF_HASH_LEN]; /* as stored in the append */
	const struct log_field *fields;
	/* The rows were changed by hand: a stored column of the wrong length (a
	 * hash, a salt; the bytes read are zero-padded), an append row whose
	 * blobs disagree, or an event row that claims another position (its
	 * log_id, seq) than the append gives it. */
	bool malformed;
};

/* Called per event in position order; non-zero stops the read and is
 * returned. */
typedef int (*log_event_fn)(void *ctx, const struct log_event *e);

/* Calls fn for each stored event of log at positions from <= seq < to, in
 * position order, as the log_appends rows give them (ledger.h). A position
 * no append gives, or whose event row is gone, is simply absent: the
 * caller counts. Memory: one append row and one event at a time. Returns
 * DB_OK, a negative db_status, or what fn returned. */
int log_read_range(struct db *db, uint32_t log, uint64_t from, uint64_t to, log_event_fn fn,
                   void *ctx);

#endif
