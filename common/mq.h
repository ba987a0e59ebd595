/* mq: AMQP 0-9-1 on rabbitmq-c, as both daemons use it.
 *
 * One struct mq is one connection with one channel (1). rabbitmq-c
 * connections are not thread-safe, so each thread opens its own. Calls
 * return 0 on success and -1 once the connection is unusable; the owner
 * then mq_closes it and opens a new one (with backoff).
 *
 * The topology is part of our contract with other producers and
 * consumers, so its names live here and both daemons declare it. */
#ifndef AUDITLOG_MQ_H
#define AUDITLOG_MQ_H

#include <amqp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest wait between attempts to reach the broker again: /readyz
 * promises to pass within a second of the broker's return, and a refused
 * connection costs next to nothing. */
#define MQ_RECONNECT_MAX_MS 500
#define MQ_EXCHANGE "api-stream"          /* durable topic exchange */
#define MQ_ROUTING_KEY "api.data.mutated" /* what the API publishes with */
#define MQ_BINDING "*.data.mutated"       /* what the audit queue is bound with */
#define MQ_QUEUE "data-mutation-audits" /* partition 0's queue (mq_queue_name) */
#define MQ_DEAD_QUEUE "data-mutation-audits.dead"
#define MQ_PARTITIONS_MAX 64
#define MQ_NAME_MAX 64
#define MQ_URLS_MAX 16 /* brokers in one URL list */ /* room for a partition's queue name or routing key */
/* AMQP heartbeat (seconds): a peer that sends nothing for two of them is
 * taken for dead (rabbitmq-c, RabbitMQ), so a frozen broker node holding a
 * connection is left after about 20 s (a tester froze one 90 s: with 30 s
 * heartbeats every log stood still 71 s). */
#define MQ_HEARTBEAT_S 10

/* The metrics (metrics.h) that every owner of broker connections keeps
 * (the API's publisher, the auditor's consumers): name and help, for
 * metrics_counter and metrics_gauge. */
#define MQ_RECONNECTS_METRIC                                                                 \
	"auditlog_broker_reconnects_total",                                                   \
	    "Connections to the broker opened to replace one that was lost."
#define MQ_CONNECTIONS_METRIC                                                                \
	"auditlog_broker_connections", "Connections to the broker open and in use."

struct mq;

/* Connects to url ("amqp://user:pass@host:port/vhost"; an empty vhost
 * path means "/") and opens channel 1. url may list several brokers, the
 * nodes of one cluster, separated by commas: each is tried in turn,
 * starting from the one this process last reached (so after a node fails
 * every thread moves on to the next, then stays there). */
int mq_open(const char *url, struct mq **out);
/* mq_open with every wait (connect, login, each RPC) bounded by timeout_ms
 * instead of the defaults (5 s to connect, 10 s an RPC); 0: the defaults. */
int mq_open_timeout(const char *url, int timeout_ms, struct mq **out);
/* One round trip (basic.qos on channel 1, which needs no permission on any
 * resource): 0 when the broker answered within the connection's RPC
 * timeout, -1 when not (the connection is then dead: close it). Not for a
 * connection that consumes (it would reset its prefetch). */
int mq_ping(struct mq *mq);
void mq_close(struct mq *mq);
amqp_connection_state_t mq_connection(struct mq *mq);

/* ---- topology ----
 *
 * Events are partitioned by target (README "Partitions"): partition p of
 * P has the queue mq_queue_name(p), bound to MQ_EXCHANGE with the routing
 * key mq_routing_key(p). Partition 0 is the queue and key of a single
 * partition (MQ_QUEUE, MQ_ROUTING_KEY), and also takes what other
 * producers publish under MQ_BINDING. The auditor stores partition p in
 * log p, so one target's events are one log's, in their order.
 *
 * Every daemon of a deployment must declare the same topology: RabbitMQ
 * refuses a queue declared again with other arguments (a classic queue
 * cannot become a quorum queue in place: drain it, delete it, declare). */
struct mq_topology {
	unsigned partitions; /* P, 1..MQ_PARTITIONS_MAX */
	/* Quorum queues (x-queue-type quorum): replicated on a majority of the
	 * cluster's nodes, so a publisher confirm means "on a majority"; each
	 * partition queue has a single active consumer
	 * (x-single-active-consumer), the broker's hand-over of a partition
	 * from one auditor to another; poison is dead-lettered by the broker
	 * after delivery_limit deliveries (x-delivery-limit, at-least-once
	 * dead-lettering into MQ_DEAD_QUEUE). false: classic queues, as on a
	 * single broker. */
	bool quorum;
	unsigned delivery_limit; /* quorum only; 1..1000 */
};
/* The partition of target type:id among partitions: FNV-1a (32-bit) of
 * "type:id" modulo partitions, so any producer can compute it. */
unsigned mq_partition(const char *type, size_t type_len, const char *id, size_t id_len,
                      unsigned partitions);
/* Partition p's queue name and routing key into buf (MQ_NAME_MAX bytes). */
void mq_queue_name(unsigned p, char buf[MQ_NAME_MAX]);
void mq_routing_key(unsigned p, char buf[MQ_NAME_MAX]);
/* Declares the exchange, the partition queues and their bindings and the
 * dead-letter queue, all durable. Idempotent for the same t. */
int mq_declare_topology(struct mq *mq, const struct mq_topology *t);

/* Puts the channel in publisher-confirm mode: from here on every publish
 * gets delivery tag 1, 2, 3, ... in order. */
int mq_confirm_select(struct mq *mq);

/* Publishes a persistent application/json message with mandatory set.
 * headers may be NULL. */
int mq_publish(struct mq *mq, const char *exchange, const char *routing_key,
               const char *message_id, const void *body, size_t len,
               const amqp_table_t *headers);

enum mq_confirm { MQ_ACK, MQ_NACK, MQ_RETURNED };
/* tag/multiple for ACK and NACK; message_id (borrowed) for RETURNED, which
 * comes before the ack of a message that no queue took. */
typedef void (*mq_confirm_fn)(void *ctx, enum mq_confirm what, uint64_t tag, bool multiple,
                              const char *message_id);

/* Reads confirm frames for up to timeout_ms (0: only what is buffered),
 * calling fn for each. Also keeps heartbeats going, and lets the library
 * reuse the memory of the frames it decoded before (so a long-lived
 * publisher does not keep every confirm it ever read). */
int mq_poll_confirms(struct mq *mq, int timeout_ms, mq_confirm_fn fn, void *ctx);

/* ---- consuming ----
 *
 * A delivery is read frame by frame into a buffer the struct mq owns, so
 * memory is what the largest body the caller accepts (body_max) needs, not
 * what a producer chose to send: a larger body is left on the wire for the
 * caller to stream on (mq_dead_letter_forward). */

/* Starts consuming queue with manual acknowledgement. prefetch (1..65535)
 * is the AMQP prefetch_count: deliveries the broker sends ahead of our
 * acknowledgements, counted in messages whatever their size. Deliveries
 * the caller has not read yet wait in the socket and the broker, not in
 * our memory. */
int mq_consume(struct mq *mq, const char *queue, unsigned prefetch);

/* Cancels that consumer (basic.cancel) and waits for the broker's
 * cancel-ok: no delivery comes after it, and every one sent before it
 * is read with mq_next (the library queues them meanwhile), to store and
 * acknowledge before closing, so none goes back to the queue. Returns 0,
 * or -1 (the connection is then unusable). */
int mq_cancel(struct mq *mq);

#define MQ_ID_MAX 128 /* message ids are cut to MQ_ID_MAX - 1 bytes */

struct mq_delivery {
	uint64_t tag; /* for mq_ack */
	bool redelivered;
	/* The body, borrowed: valid until the next call on this mq. NULL when
	 * pending. */
	const char *body;
	size_t len; /* the body's length (its announced length when pending) */
	/* The body is over body_max and still on the wire: the caller must
	 * mq_dead_letter_forward it before anything else on this mq. */
	bool pending;
	char message_id[MQ_ID_MAX]; /* "" when absent */
	char routing_key[256];
};

/* Waits up to timeout_ms for a delivery. Returns 1 with d filled, 0 when
 * none came, -1 once the connection is unusable (the broker closed it or
 * cancelled the consumer; the unacknowledged deliveries go back to the
 * queue). Heartbeats are kept going meanwhile. */
int mq_next(struct mq *mq, int timeout_ms, size_t body_max, struct mq_delivery *d);

/* Acknowledges tag (multiple: and every earlier unacknowledged one). */
int mq_ack(struct mq *mq, uint64_t tag, bool multiple);

/* ---- dead letters ----
 *
 * A copy of a message that cannot be stored goes to MQ_DEAD_QUEUE
 * (persistent, mandatory) with its message id, the reason in header
 * MQ_REASON_HEADER and the routing key it came with in
 * MQ_ROUTING_KEY_HEADER. Publish on a connection in confirm mode and
 * acknowledge the original only once the copy is confirmed (mq_poll_confirms):
 * before that, a broker crash could lose the only copy. */
#define MQ_REASON_HEADER "x-auditlog-reason"
#define MQ_ROUTING_KEY_HEADER "x-original-routing-key"

int mq_dead_letter(struct mq *mq, const char *message_id, const void *body, size_t len,
                   const char *routing_key, const char *reason);
/* The same for d, a delivery read from `from` whose body is pending: the
 * body is copied as it arrives, one frame at a time, so a message of any
 * size costs one frame of memory. On failure either connection may be
 * unusable: the caller closes both. */
int mq_dead_letter_forward(struct mq *mq, struct mq *from, const struct mq_delivery *d,
                           const char *reason);

#endif
