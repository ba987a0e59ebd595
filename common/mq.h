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

#define MQ_EXCHANGE "api-stream"          /* durable topic exchange */
#define MQ_ROUTING_KEY "api.data.mutated" /* what the API publishes with */
#define MQ_BINDING "*.data.mutated"       /* what the audit queue is bound with */
#define MQ_QUEUE "data-mutation-audits"
#define MQ_DEAD_QUEUE "data-mutation-audits.dead"
#define MQ_HEARTBEAT_S 30

struct mq;

/* Connects to url ("amqp://user:pass@host:port/vhost"; an empty vhost
 * path means "/") and opens channel 1. */
int mq_open(const char *url, struct mq **out);
void mq_close(struct mq *mq);
amqp_connection_state_t mq_connection(struct mq *mq);

/* Declares the exchange, the audit queue, its binding and the dead-letter
 * queue, all durable. Idempotent. */
int mq_declare_topology(struct mq *mq);

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

/* Starts consuming queue with manual acknowledgement and a prefetch window. */
int mq_consume(struct mq *mq, const char *queue, unsigned prefetch);
/* Waits up to timeout_ms for a delivery. Returns 1 with env filled (the
 * caller amqp_destroy_envelope()s it), 0 on timeout, -1 on a dead connection. */
int mq_next(struct mq *mq, int timeout_ms, amqp_envelope_t *env);
int mq_ack(struct mq *mq, uint64_t tag, bool multiple);

#endif
