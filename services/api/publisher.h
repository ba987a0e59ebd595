/* publisher: the API's one way to the broker.
 *
 * A single thread owns the AMQP connection (publisher confirms on) and a
 * database connection. It publishes two sources in order of arrival:
 *  - the outbox table, where mutation events were committed together with
 *    their mutation; a row is deleted only after the broker confirmed it;
 *  - the spool, a write-ahead log of view events on local disk (spool.h);
 *    its confirmed position advances only past what the broker confirmed.
 * Nothing here makes a caller wait on the broker: a view is written to the
 * spool's file by the calling thread (a pwritev to the page cache, no
 * fdatasync), and the outbox kick only signals the thread.
 * After a lost connection the thread reconnects with backoff and re-sends
 * everything unconfirmed, so the auditor may see an event twice; it stores
 * it once, by event id. */
#ifndef AUDITLOG_PUBLISHER_H
#define AUDITLOG_PUBLISHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "mq.h"
#include "spool.h"

struct publisher;

struct publisher_config {
	const char *amqp_url;          /* one broker or a cluster's list (mq_open) */
	struct mq_topology topology;   /* each event goes to its target's partition */
	const struct db_config *db; /* the API's database, holding event_outbox */
	const char *spool_dir;      /* the view events' write-ahead spool */
	unsigned confirm_window;    /* most messages awaiting confirmation */
	int linger_ms;              /* longest an event waits for company before it is published */
};

int publisher_start(const struct publisher_config *cfg, struct publisher **out);
/* Publishes what it can for up to drain_ms, then stops the thread and frees. */
void publisher_stop(struct publisher *p, int drain_ms);

/* Writes one encoded view event (len bytes, borrowed) to the spool, from
 * which it is published; spool_append's contract. */
void publisher_enqueue_view(struct publisher *p, const char *event_id, const char *body,
                            size_t len);
/* What the publisher's thread last said of its state, for /readyz. */
struct publisher_health {
	bool connected;                /* to the broker, topology declared, confirms on */
	int64_t down_since_ms;         /* clock_ms() since when not connected (when !connected) */
	uint64_t unconfirmed;          /* events published and not yet confirmed */
	int64_t oldest_unconfirmed_ms; /* clock_ms() when the oldest of them went out; 0: none */
	struct spool_stats spool;      /* the view spool's (spool.h) */
};
/* Fills *out. Thread-safe; takes the spool's lock briefly, never waits on
 * the thread or the network. */
void publisher_health(struct publisher *p, struct publisher_health *out);

/* Tells the thread that the outbox has new rows. */
void publisher_kick_outbox(struct publisher *p);

#endif
