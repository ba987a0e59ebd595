/* The auditor daemon's internal interfaces: the store (SQL), the consumer
 * (AMQP to store) and the query handlers. */
#ifndef AUDITLOG_AUDITOR_H
#define AUDITLOG_AUDITOR_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "auth.h"
#include "cursor.h"
#include "db.h"
#include "event.h"
#include "gtid.h"
#include "http.h"
#include "httpc.h"
#include "ledger.h"
#include "mq.h"
#include "principal.h"
#include "query_plan.h"
#include "watch.h"

struct stream_logs;
struct consumer;
struct replica;
struct retention;

#define CONSUMERS_MAX MQ_PARTITIONS_MAX /* consumer threads at most */
/* Log ids: 0 .. partitions - 1 store the partitions (mq.h); auditor i's
 * own events go to AUDITOR_RECORDS_LOG + i when there are several. */
#define AUDITOR_RECORDS_LOG 1024u
#define AUDITOR_INSTANCES_MAX 1024

#define EVENTS_PAGE_DEFAULT 50
#define EVENTS_PAGE_MAX 1000

/* The longest the API may take to answer a token introspection. */
#define AUDITOR_API_TIMEOUT_MS 2000

struct auditor {
	struct db_config db;     /* queries: the read-only user, on the primary */
	/* The read replica that may answer queries (replica.h); NULL: none. */
	struct replica *replica;
	struct db_config writer; /* the consumer: INSERT and SELECT only */
	struct db_config eraser; /* erasures: SELECT, and DELETE on data_event_values */
	struct db *instance_lock; /* holds this auditor's instance number (instance.h); NULL: none */
	struct db_config maintainer; /* retention.h: ALTER and DROP on the event tables */
	struct retention *retention; /* the maintenance thread (retention.h) */
	struct auth_key *public_key;
	struct httpc_url api; /* answers token introspection */
	/* Whether a token's user exists and is an auditor now, as the API
	 * said within the configured time. */
	struct principal_cache *principals;
	int64_t principal_ttl_ms;
	note_signer *signer;   /* the logs' checkpoint key */
	/* Set once the daemon is stopping: long reads (/verify, /export) give
	 * up with 503 rather than hold the shutdown. */
	atomic_bool stopping;
	/* Log p stores partition p (mq.h); this process writes a log while the
	 * broker gives it the partition (ledger.h, "leases"). */
	struct ledger *ledgers[MQ_PARTITIONS_MAX];
	/* checker.h: of the logs this auditor checks (its share of the
	 * partitions with quorum queues, else all); NULL for the others */
	struct checker *checkers[MQ_PARTITIONS_MAX];
	struct reorder *reorders[MQ_PARTITIONS_MAX]; /* reorder.h: partition p's consumers' */
	unsigned nlogs;
	/* log 0's: the live stream's (the handlers of the log of record find a
	 * log's ledger with log_set_ledger) */
	struct ledger *ledger;
	/* Where this auditor's own events go (reads.h, erase.c): log 0 with one
	 * classic partition, else AUDITOR_RECORDS_LOG + its instance number. */
	struct ledger *records;
	struct reads *reads;     /* records every read of the log (reads.h) */
	/* The live stream (stream_logs.h, h_stream.c): a hub per log, and its
	 * settings. */
	struct stream_logs *streams;
	int64_t stream_heartbeat_ms, stream_retry_ms;
	uint64_t stream_backlog_max; /* positions behind the head a resume may start */
	int exports_max; /* exports running at once, at most (events_export.c) */
	/* /readyz (h_health.c): the database, watched; the consumers; the
	 * checkpoint's expected delay */
	struct watch_pair watches; /* watch.h: the database and the broker, asked */
	struct consumer *consumers[CONSUMERS_MAX];
	unsigned nconsumers;
	int checkpoint_ms;
};

/* ---- store_write.c ---- */

/* Stores events in one transaction, each at most once: an event whose id
 * is already stored is skipped (it was a redelivery). Each new event gets
 * the next position of the ledger's log, in the batch's order, with its
 * leaf hash, its values' salts and commitments, and the interior hashes it
 * completes (docs/ledger.md), and each with a version widens its target's
 * version span (spans.h). *stored counts the new ones. Returns a db
 * status: DB_ERR_DATA when the database refused a value or a value has no
 * canonical form (an integer beyond 2^53), STORE_LOG_CLOSED when the
 * ledger takes no events (still opening, or halted: ledger_halted says
 * why). */
#define STORE_LOG_CLOSED 1
/* ... and STORE_LEASE_LOST when another writer took the log over
 * (ledger_check_lease): nothing was stored. */
#define STORE_LEASE_LOST 2
int store_insert_batch(struct db *db, struct ledger *ledger, const struct event *events, size_t n,
                       size_t *stored);
/* Prepares the write side once (its statements' text, its metrics:
 * metrics.h); store_insert_batch does it too, at its first call. */
void store_init(void);
/* The store's day: days since 1970-01-01 UTC by the wall clock, plus the
 * shift set below; what a batch's rows are stored under (stored_day, the
 * key of the event tables' monthly partitions: sql/auditor/0015) unless
 * its log's last day is later (ledger_day). */
uint32_t store_day(void);
/* Shifts store_day by days (AUDITLOG_TEST_DAY_SHIFT: tests store events
 * months back, then let retention drop them). */
void store_set_day_shift(int days);

/* The highest version stored of each *events[i]'s target into last[i] (0:
 * none stored), for i < n: reorder.h's lookup for the consumer, ctx its
 * struct db * (the writer's). Reads data_event_mutations by its
 * data_event_mutations_version index, and data_event_retained_versions
 * for the months retention dropped, 16 targets a statement. Returns DB_OK
 * or a db status. */
int store_last_versions(void *ctx, const struct event *const *events, size_t n, uint64_t *last);

/* ---- store_read.c ---- */

struct store_page {
	json_t *data; /* array of data-events resource objects */
	bool more;    /* another page follows */
	struct cursor_pos last; /* the page's last event, when more */
};

/* A page of the events q asks for, through the statement query_plan
 * builds (query_plan.h: its order and index). With a target and a time
 * window it first reads which versions can hold the window's events
 * (spans.h), and the page reads only
 * those of the versioned history. Each event the checker
 * flagged carries meta.flags ([{kind, field, detail}], checker.h). Returns
 * a db status; DB_ERR_DATA when no index answers q (the handler checks
 * that first). On success page->data is a new array for the caller. */
int store_query_events(struct db *db, const struct plan_query *q, struct store_page *page);
/* The rows of the same page, without the resources: fn(ctx, row) for each
 * row of the statement query_plan builds for q (its columns are struct
 * plan's: one row per event and changed field, limit + 1 events), in the
 * order the statement gives (none when q->unordered). Returns a db status
 * as store_query_events does, or fn's value when it stopped the rows. */
int store_query_rows(struct db *db, const struct plan_query *q, db_row_fn fn, void *ctx);

/* The events of log at positions from, from + 1, ... (at most limit, at
 * most STORE_POSITIONS_MAX), as the log_appends rows give them, each the
 * resource a page gives (without meta.flags: the checker flags events
 * later): the live stream's source (stream.h). Stops before the first
 * position not stored yet, so page->data holds a gap-free run, possibly
 * empty (page->more is always false). Returns a db status; on DB_OK
 * page->data is a new array for the caller. */
#define STORE_POSITIONS_MAX 1024
int store_read_positions(struct db *db, uint32_t log, uint64_t from, unsigned limit,
                         struct store_page *page);
/* The resources that rows (n of them, with the columns and in the order
 * of store_read_positions' statement: one row per event and changed
 * field, by position and field) make, built by the very code that builds
 * a page: the store's writer renders what it just committed this way for
 * the live stream (ledger.h, "a listener"). *out: a new array for the
 * caller. Returns DB_OK, or DB_ERR (out of memory). */
int store_rows_page(const struct db_row *rows, size_t n, json_t **out);

/* ---- state.c ---- */

/* A target's state at an instant, rebuilt from its events alone: the
 * latest mutation stamped at or before the instant (data_event_mutations)
 * and, for each field the target's events ever changed, its value after
 * that mutation in the history's order (version, time, id). */
struct state_answer {
	bool found;         /* it existed at the instant */
	bool ever;          /* the log holds a mutation of it */
	json_t *attributes; /* found: {field: value}, a new object */
	json_t *erased;     /* found: names of the fields whose value was erased, a new array */
	int64_t version;    /* the producing mutation's targetVersion (0: none) */
	int64_t timestamp;  /* found: its time, ms since the epoch */
	char event_id[UUID_STR_LEN + 1]; /* the mutation the answer names */
	/* found: the producing mutation's action, "created" or "changed";
	 * !found and created_at: its first stored mutation's */
	char action[8];
	/* !found and ever: when its first stored mutation was made (it did not
	 * exist yet; normally its creation), or when it was deleted (it no
	 * longer existed); the other one is 0. */
	int64_t created_at, deleted_at;
};
/* Fills out for type:id at `at` (ms since the epoch). Returns a db status;
 * on DB_OK the caller state_answer_clear()s out. */
int store_state_at(struct db *db, const char *type, const char *id, int64_t at,
                   struct state_answer *out);
void state_answer_clear(struct state_answer *a);

/* ---- erase.c ---- */

/* The eventName of an erasure's own event. */
#define ERASURE_EVENT_NAME "values-erased"
/* The longest reason an erasure takes, in bytes. */
#define ERASURE_REASON_MAX 500

struct erasure {
	/* What to erase, borrowed, in the grammar of event.h (the caller checks
	 * it): the values of every event whose target is target_type:target_id,
	 * or only those of field when it is not NULL; not those of the records
	 * of reads of it (reads.h). */
	const char *target_type, *target_id, *field;
	const char *reason;   /* why, 1 to ERASURE_REASON_MAX bytes of UTF-8 */
	const char *actor_id; /* who: users:<actor_id>, the token's user */
	const char *trace_id; /* the request's W3C trace-id, the event's traceId; or NULL */
	/* Filled by erase_values: */
	char id[UUID_STR_LEN + 1]; /* the erasure's id, a fresh UUIDv7 */
	bool recorded;             /* its event is stored */
	bool positioned;           /* its position was read back */
	uint32_t log;              /* its event's position */
	uint64_t seq;
	uint64_t values; /* value rows (one field of one event each) deleted */
	/* The primary's GTID position once the values were deleted (gtid.h:
	 * what a client sends back as Read-After), or "" when the database
	 * keeps no binary log or did not say. */
	char position[GTID_TEXT_MAX];
};

/* Records the erasure e as an event (created by users:<actor_id>, target
 * erasures:<e->id>, eventName ERASURE_EVENT_NAME, the target, field and
 * reason as its changes) through a->ledger as the writer, reads its
 * position back, then deletes the values in one transaction as the eraser.
 * Opens and closes its own connections. Returns a db status: DB_OK with
 * every output filled; otherwise e->recorded says whether the event was
 * stored (and the values may not have been deleted). DB_ERR also when the
 * ledger is halted (ledger_halted says why). */
int erase_values(struct auditor *a, struct erasure *e);

/* ---- consumer.c ----
 *
 * Consumers take events from MQ_QUEUE into the store, each on its own
 * thread with its own AMQP and MySQL connections, and acknowledge a batch
 * only after its transaction committed and its dead-letter copies were
 * confirmed. What one consumer holds is at most batch_bytes plus one
 * message, as message_weight() counts it. */
/* A message whose parsed form would take more than this (a JSON of very
 * many small values) is dead-lettered unparsed. The API's largest, a note
 * event, weighs about its size (under 200 KB). */
#define CONSUMER_MESSAGE_WEIGHT_MAX (8u << 20)

struct consumer;
struct consumer_config {
	const char *amqp_url;
	struct mq_topology topology; /* the broker's (mq.h) */
	unsigned partition;          /* the queue it consumes: partition's, into ledger's log */
	const struct db_config *db; /* borrowed; must outlive the consumer */
	struct ledger *ledger;      /* the log it appends to; borrowed, likewise */
	/* AMQP prefetch_count: messages the broker sends ahead of our acks.
	 * 0: twice batch_events (at most 65535), so one-event messages fill
	 * whole batches. */
	unsigned prefetch;
	unsigned batch_events; /* a batch closes at this many events... */
	size_t batch_bytes;    /* ...or at this much memory held */
	int linger_ms;         /* ...or when its oldest event waited this long; 0: 50 */
	int reconnect_ms;      /* first wait after a failed connect; 0: 100 */
	/* With a single active consumer per partition (quorum queues), the
	 * broker makes the first consumer to register active. 0: this
	 * auditor's share of the partitions, consumed at once. Else another
	 * auditor's: consumed (on standby) only this many ms after the start,
	 * so that auditor registers first, and when held (its auditor died)
	 * handed back to the broker every rebalance_ms (0: never). */
	int standby_ms, rebalance_ms;
	/* The partition's order keeper (reorder.h), shared by its consumers;
	 * borrowed, must outlive them. NULL: the consumer keeps its own, of
	 * reorder_ms (0: nothing is ever held back). */
	struct reorder *reorder;
	int reorder_ms;
	/* Other consumers take deliveries of the same queue at once (several
	 * a partition, without a single active consumer): a mutation always
	 * waits for its target's previous version (reorder.h). */
	bool shared_queue;
};

/* Starts a consumer on its own thread. cfg is copied. Returns 0, or -1
 * when out of memory or threads. */
int consumer_start(const struct consumer_config *cfg, struct consumer **out);
/* Stores and acknowledges what it holds, then stops and frees it. */
void consumer_stop(struct consumer *c);
/* Whether it is connected to the broker and consuming. Thread-safe. */
bool consumer_connected(struct consumer *c);

/* The same consumer without a thread, for tests: consumer_step runs one
 * turn of its loop (connect, read one delivery, or store a batch),
 * consumer_free stores and acknowledges what it holds and frees it. */
int consumer_new(const struct consumer_config *cfg, struct consumer **out);
void consumer_step(struct consumer *c);
void consumer_free(struct consumer *c);

/* An upper bound, in bytes, of the memory jansson takes to hold the JSON
 * text s (len bytes) parsed; from about len to 80 * len. */
size_t message_weight(const char *s, size_t len);

/* ---- introspect.c ---- */
/* The principal cache's lookup: asks the API (RFC 7662 introspection of
 * the token arg points at) whether user_id exists and is an auditor.
 * ctx is the struct auditor. */
enum principal_status auditor_introspect(void *ctx, int64_t user_id, const void *arg,
                                         bool *auditor);
/* The auditor's http_principal_fn: the token's user through a->principals. */
enum http_principal auditor_principal(void *app, const char *token, size_t len,
                                      struct auth_claims *claims);

/* ---- h_erasures.c ---- */
/* POST /erasures (auditor role): see erase_values. */
void h_erasure_create(struct http_request *req);

/* ---- h_events.c ---- */
/* This thread's connection as the reader on the primary, or NULL after
 * replying 503: for the reads a replica behind the primary would answer
 * wrongly, not merely later (README "Read replica"). */
struct db *auditor_reader(struct http_request *req);
/* The same for a query that may be answered by the read replica, within
 * its staleness bound and once it has the request's Read-After position
 * (replica.h), else by the primary. NULL after replying 400 (a Read-After
 * that is not a position, or given twice) or 503. *cfg (cfg may be NULL):
 * the configuration connected with, for the request's other threads
 * (auditor_connect). */
struct db *auditor_query_reader(struct http_request *req, const struct db_config **cfg);
/* This thread's connection for cfg (a->db, or the replica's), or for the
 * primary's reader when cfg's server cannot be reached; NULL when neither. */
struct db *auditor_connect(struct auditor *a, const struct db_config *cfg);
void h_events_for_target(struct http_request *req);
void h_events_query(struct http_request *req);
void h_readyz(struct http_request *req); /* h_health.c */
/* Replies 400 unless the path's :type and :id follow the grammar of
 * event.h. Returns 0 when they do. */
int events_check_path(struct http_request *req, const char *type, const char *id);
/* Runs q (its filters set by the caller) with the page parameters of req
 * and replies with the page, its links built on path plus the parameters
 * of req named in filter_keys (NULL-terminated), or with the export Accept
 * prefers. Records the read as kind (reads.h: READS_QUERY, READS_HISTORY;
 * an export is READS_EXPORT) once it is authorized and valid. */
void events_answer(struct http_request *req, struct plan_query *q, const char *path,
                   const char *const *filter_keys, const char *kind);
/* Reads the filters of a /data-events query (filter[actor], [target],
 * [action], [since], [until], [field], [eventName], [flag], [traceId]) and its sort
 * into q, zeroed by the caller; the actor and target strings are those of
 * *a and *t, which must outlive q, and the others borrowed from req.
 * Returns 0, or -1 after replying 400 naming the parameter. */
struct filter_ref;
int events_filters(struct http_request *req, struct plan_query *q, struct filter_ref *a,
                   struct filter_ref *t);

/* ---- events_export.c ---- */
enum export_format { EXPORT_JSONAPI, EXPORT_NDJSON, EXPORT_CSV };
/* Their media types, indexed by enum export_format: the offers of content
 * negotiation, in the server's order of preference. */
#define EXPORT_FORMATS 3
extern const char *const export_media_types[EXPORT_FORMATS];
/* Replies 200 with every event q matches (after its cursor, if it has
 * one), in q's order, streamed as NDJSON (one JSON:API resource object a
 * line, RFC 8259 text, LF-ended) or CSV (RFC 4180: header row, CRLF, one
 * row per changed field, cells that begin with = + - @ TAB CR prefixed
 * with '), while the client reads: pages of about 1 MB read on up to two
 * threads, each with a database connection of its own (src: the reader's
 * configuration auditor_query_reader chose, through auditor_connect), one
 * page ahead of the one sent; an actor's events one
 * index range per action, merged (events_export.c). q's strings are copied; q->limit
 * is ignored. 503 when exports_max (AUDITLOG_EXPORTS_MAX) exports are running. A page that
 * cannot be read cuts the body short (no last chunk). */
void events_export(struct http_request *req, const struct plan_query *q,
                   enum export_format format, const struct db_config *src);

/* ---- h_stream.c ---- */
/* GET /data-events/stream: Server-Sent Events of the stored events that
 * match the filters, resumable by position (README "Live stream"). */
void h_events_stream(struct http_request *req);

/* ---- h_history.c ---- */
/* GET /api/:type/:id/state?at=T */
void h_state(struct http_request *req);
/* GET /api/:type/:id/fields/:field/history */
void h_field_history(struct http_request *req);
/* GET /checks: each log's checker, how far it got and what it flagged. */
void h_checks(struct http_request *req);

/* ---- h_ledger.c: checkpoints, the verifier key, proofs (docs/ledger.md) ---- */
void h_checkpoint(struct http_request *req);
void h_checkpoints(struct http_request *req); /* every log's latest */
void h_vkey(struct http_request *req);
void h_proof(struct http_request *req);
void h_consistency(struct http_request *req);

/* ---- h_leaf.c ---- */
/* GET /data-events/:id/leaf: the event as an export bundle's line holds
 * it (its leaf, each value opened), for a token that may read it. */
void h_leaf(struct http_request *req);

/* ---- verify.c: GET /verify ---- */
void h_verify(struct http_request *req);

/* ---- export.c: GET /export ---- */
void h_export(struct http_request *req);
/* Appends e's line of an export bundle (docs/ledger.md "Export bundles":
 * the leaf's members, each side of a change opened as {"commitment",
 * "salt","value"} or {"erased": commitment}, and "leaf", the stored leaf
 * hash), in its RFC 8785 form with its final "\n", to out (the caller's,
 * who frees it): what /export writes for e's position, byte for byte.
 * e is borrowed. Returns LEAF_OK, or a leaf_status from
 * bundle_event_write (LEAF_EINVAL, LEAF_EVALUE: a stored row that cannot
 * be written as it is; LEAF_ENOMEM, LEAF_ECRYPTO); out is then as it was
 * before the call. */
struct log_event;
struct jcs_buf;
int export_event_line(const struct log_event *e, struct jcs_buf *out);
/* Writes the bundle of positions [from, to) of log, with its stored
 * checkpoint cp (borrowed; cp->size >= to) and no pin, to out (the
 * caller's: it flushes and closes it): what GET /export?log=L&from=M&to=N
 * gives when cp is the latest. *events counts the event lines written.
 * Returns DB_OK, a db status, EXPORT_INCOMPLETE (a stored hash that the
 * borders need is missing) or EXPORT_UNWRITABLE (a stored event could not
 * be written: the bundle lacks it). Retention (retention.c) writes its
 * bundles with it. */
#define EXPORT_INCOMPLETE 1
#define EXPORT_UNWRITABLE 2
int export_range_file(struct db *db, uint32_t log, const struct stored_checkpoint *cp,
                      uint64_t from, uint64_t to, FILE *out, uint64_t *events);

#endif
