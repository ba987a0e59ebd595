/* publisher: the API's one way to the broker.
 *
 * A single thread owns the AMQP connection (publisher confirms on) and a
 * database connection. It publishes two sources in order of arrival:
 *  - the outbox table, where mutation events were committed together with
 *    their mutation; a row is deleted only after the broker confirmed it;
 *  - an in-memory queue of view events, bounded; a view leaves the queue
 *    only when the broker confirmed it.
 * Nothing here makes a caller wait on the broker: enqueueing takes a mutex
 * for a few instructions, and the outbox kick only signals the thread.
 * After a lost connection the thread reconnects with backoff and re-sends
 * everything unconfirmed, so the auditor may see an event twice; it stores
 * it once, by event id. */
#ifndef AUDITLOG_PUBLISHER_H
#define AUDITLOG_PUBLISHER_H

#include <stddef.h>

#include "db.h"

struct publisher;

struct publisher_config {
	const char *amqp_url;
	const struct db_config *db; /* the API's database, holding event_outbox */
	size_t view_queue_max;      /* views beyond this are dropped and counted */
	unsigned confirm_window;    /* most messages awaiting confirmation */
};

int publisher_start(const struct publisher_config *cfg, struct publisher **out);
/* Publishes what it can for up to drain_ms, then stops the thread and frees. */
void publisher_stop(struct publisher *p, int drain_ms);

/* Queues one encoded view event; body is stolen (free()d by the publisher). */
void publisher_enqueue_view(struct publisher *p, const char *event_id, char *body, size_t len);
/* Tells the thread that the outbox has new rows. */
void publisher_kick_outbox(struct publisher *p);

#endif
