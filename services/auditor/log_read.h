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
	struct leaf_event ev;
	uint8_t leaf_hash[LEAF_HASH_LEN]; /* as stored */
	const struct log_field *fields;
	/* A stored column of the wrong length (a hash, a salt): the row was
	 * changed by hand. The bytes read are zero-padded. */
	bool malformed;
};

/* Called per event in position order; non-zero stops the read and is
 * returned. */
typedef int (*log_event_fn)(void *ctx, const struct log_event *e);

/* Calls fn for each stored event of log with from <= seq < to, in seq
 * order (gaps are simply absent: the caller counts). Returns DB_OK, a
 * negative db_status, or what fn returned. */
int log_read_range(struct db *db, uint32_t log, uint64_t from, uint64_t to, log_event_fn fn,
                   void *ctx);

#endif
