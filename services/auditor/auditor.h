/* The auditor daemon's internal interfaces: the store (SQL), the consumer
 * (AMQP to store) and the query handlers. */
#ifndef AUDITLOG_AUDITOR_H
#define AUDITLOG_AUDITOR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "auth.h"
#include "db.h"
#include "event.h"
#include "http.h"
#include "httpc.h"
#include "ledger.h"
#include "principal.h"

#define EVENTS_PAGE_DEFAULT 50
#define EVENTS_PAGE_MAX 1000

/* The longest the API may take to answer a token introspection. */
#define AUDITOR_API_TIMEOUT_MS 2000

struct auditor {
	struct db_config db;     /* queries: the read-only user */
	struct db_config writer; /* the consumer: INSERT and SELECT only */
	struct auth_key *public_key;
	struct httpc_url api; /* answers token introspection */
	/* Whether a token's user exists and is an auditor now, as the API
	 * said within the configured time. */
	struct principal_cache *principals;
	int64_t principal_ttl_ms;
	note_signer *signer;   /* the logs' checkpoint key */
	struct ledger *ledger; /* log 0, the one log this release writes */
};

/* ---- store_write.c ---- */

/* Stores events in one transaction, each at most once: an event whose id
 * is already stored is skipped (it was a redelivery). Each new event gets
 * the next position of the ledger's log, in the batch's order, with its
 * leaf hash, its values' salts and commitments, and the interior hashes it
 * completes (docs/ledger.md). *stored counts the new ones. Returns a db
 * status: DB_ERR_DATA when the database refused a value or a value has no
 * canonical form (an integer beyond 2^53), DB_ERR when the ledger is
 * halted. */
int store_insert_batch(struct db *db, struct ledger *ledger, const struct event *events, size_t n,
                       size_t *stored);

/* ---- store_read.c ---- */

struct store_query {
	const char *actor_type, *actor_id;   /* both or neither */
	const char *target_type, *target_id; /* both or neither; at least one pair */
	int64_t after_timestamp;             /* keyset position; INT64_MAX for the start */
	char after_id[UUID_STR_LEN + 1];
	unsigned limit;
};

struct store_page {
	json_t *data; /* array of data-events resource objects */
	bool more;    /* another page follows */
	int64_t last_timestamp;
	char last_id[UUID_STR_LEN + 1];
};

/* Newest first. On success page->data is a new array for the caller. */
int store_query_events(struct db *db, const struct store_query *q, struct store_page *page);

/* ---- consumer.c ----
 *
 * Consumers take events from MQ_QUEUE into the store, each on its own
 * thread with its own AMQP and MySQL connections, and acknowledge a batch
 * only after its transaction committed and its dead-letter copies were
 * confirmed. What one consumer holds is at most batch_bytes plus one
 * message, as message_weight() counts it. */
#define CONSUMERS_MAX 16
/* A message whose parsed form would take more than this (a JSON of very
 * many small values) is dead-lettered unparsed. The API's largest, a note
 * event, weighs about its size (under 200 KB). */
#define CONSUMER_MESSAGE_WEIGHT_MAX (8u << 20)

struct consumer;
struct consumer_config {
	const char *amqp_url;
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
};

/* Starts a consumer on its own thread. cfg is copied. Returns 0, or -1
 * when out of memory or threads. */
int consumer_start(const struct consumer_config *cfg, struct consumer **out);
/* Stores and acknowledges what it holds, then stops and frees it. */
void consumer_stop(struct consumer *c);

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

/* ---- h_events.c ---- */
void h_events_for_target(struct http_request *req);
void h_events_query(struct http_request *req);

/* ---- h_ledger.c: checkpoints, the verifier key, proofs (docs/ledger.md) ---- */
void h_checkpoint(struct http_request *req);
void h_vkey(struct http_request *req);
void h_proof(struct http_request *req);
void h_consistency(struct http_request *req);

/* ---- verify.c: GET /verify ---- */
void h_verify(struct http_request *req);

/* ---- export.c: GET /export ---- */
void h_export(struct http_request *req);

#endif
