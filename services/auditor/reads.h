/* reads: every read of the audit log is itself an event of the log (README
 * "Reads are recorded").
 *
 * A handler that answers a query, an export, a stream, a proof or a
 * verification calls reads_record once, after the request was authorized
 * and found valid and before it reads the store. reads_record builds the
 * read's event (action viewed, a fresh UUIDv7 and the time of the read,
 * actor users:<the token's user>, target what was asked about, eventName
 * the kind of read, the request's parameters as its changes) and queues a
 * copy: no I/O, no broker, microseconds under one mutex.
 *
 * One recorder thread stores what is queued through the ledger
 * (store_insert_batch) on its own writer connection, in batches of up to
 * READS_BATCH_MAX events, each at most linger_ms after its first read was
 * queued. So a read record has a position, a leaf and commitments like
 * any event: it is in the log of record and provable. Storing a record
 * goes straight to the store; nothing that stores or reads stored events
 * calls reads_record, so a read record is never itself read as a read.
 *
 * Fail closed: a queue that is full (the database away for long) refuses
 * the read with 503, so no read is answered that is not recorded. A
 * record is stored at least once: a batch that fails is retried whole (the
 * store skips an id it already holds). reads_stop stores what is queued
 * before it returns; only when the database stays away for stop_ms are
 * the remaining records dropped, with an error logged that counts them.
 *
 * Threads: reads_record and reads_enqueue from any thread; reads_start and
 * reads_stop from the main thread. */
#ifndef AUDITLOG_READS_H
#define AUDITLOG_READS_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "event.h"
#include "http.h"
#include "ledger.h"

/* The recorder stores at most this many events in one transaction. */
#define READS_BATCH_MAX 1000
/* Every name in a read's changes starts with this: a producer's event may
 * not use it (event_decode refuses it), so a read's parameters are never
 * taken for a field of the object read (its state, a field's history, the
 * checker's drift). */
#define READS_FIELD_PREFIX EVENT_RESERVED_FIELD_PREFIX
/* The eventName of each kind of read (README "Reads are recorded"). */
#define READS_QUERY "audit.query"           /* a page of /data-events, /api/:type/:id/data-events */
#define READS_EXPORT "audit.export"         /* the same as NDJSON or CSV */
#define READS_STREAM "audit.stream"         /* /data-events/stream */
#define READS_STATE "audit.state"           /* /api/:type/:id/state */
#define READS_HISTORY "audit.history"       /* /api/:type/:id/fields/:field/history */
#define READS_PROOF "audit.proof"           /* /data-events/:id/proof */
#define READS_LEAF "audit.leaf"             /* /data-events/:id/leaf */
#define READS_CONSISTENCY "audit.consistency" /* /consistency */
#define READS_VERIFY "audit.verify"         /* /verify */
#define READS_LOG_EXPORT "audit.log-export" /* /export */
#define READS_CHECKS "audit.checks"         /* /checks */

struct reads_config {
	const struct db_config *db; /* the writer; borrowed, outlives the recorder */
	struct ledger *ledger;      /* the log the records go to; borrowed, likewise */
	size_t queue_max;           /* records queued at most (>= 1), the batch stored included */
	int linger_ms;              /* a batch is stored this long after its first read; 0: 50 */
	int stop_ms;                /* how long reads_stop tries to store; 0: 5000 */
};

struct reads;

/* Starts the recorder thread. cfg is copied. Returns 0, or -1 when out of
 * memory or threads (logged). */
int reads_start(const struct reads_config *cfg, struct reads **out);

/* Stores what is queued (waiting at most stop_ms for the database), stops
 * the thread and frees r. NULL is ignored. Call it after the HTTP server
 * stopped (no more reads) and before the ledger closes. */
void reads_stop(struct reads *r);

/* Queues ev to be stored. On success returns 0 and takes ev's changes (ev
 * itself is copied); returns -1 when the queue is full, and ev is left as
 * it was (the caller event_clears it). */
int reads_enqueue(struct reads *r, struct event *ev);

/* Records one read of req by its token's user (a route with HTTP_AUTH;
 * http_app(req) is the struct auditor): kind is its eventName (READS_*);
 * the target is target_type:target_id, or logs:<the log's id> when
 * target_type is NULL (a read of the log itself). Its changes are each of
 * req's query parameters given, named by what is inside the brackets
 * (filter[actor] as actor, page[size] as size) or as it is (at, from),
 * then the pairs of names_and_values (name, value, name, value, ...,
 * NULL; a NULL value is skipped; may be NULL), each under
 * READS_FIELD_PREFIX as {"prev": null, "next": "<value as given>"} (a
 * value that is not UTF-8 has U+FFFD for each ill-formed byte); a later
 * pair replaces an earlier of the same name. Its traceId is req's trace
 * (http_trace_id). Names and values are
 * borrowed and copied; names must be valid field names once prefixed.
 * Returns 0, or -1 after replying 503 (the queue is full, or out of
 * memory): the read must then not be answered. */
int reads_record(struct http_request *req, const char *kind, const char *target_type,
                 const char *target_id, const char *const *names_and_values);

/* The same for a read of one log of record (a proof, a checkpoint's
 * consistency, a verification, an export): target logs:<log>. A read of
 * several logs is recorded once per log. */
int reads_record_log(struct http_request *req, const char *kind, uint32_t log,
                     const char *const *names_and_values);

/* What the recorder did since it started, for logs and tests. */
struct reads_stats {
	uint64_t queued;  /* records accepted */
	uint64_t refused; /* reads refused: the queue was full */
	uint64_t stored;  /* records the store took (new ones) */
	uint64_t dropped; /* records given up on: refused by the database as data, or at stop */
};
void reads_stats(struct reads *r, struct reads_stats *out);

#endif
