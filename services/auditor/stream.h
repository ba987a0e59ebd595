/* stream: the live stream's hub of one log (README "Live stream"); a
 * stream follows the hubs of every log (stream_logs.h). One reader feeds
 * all: a thread takes the positions after its head, in position order, a
 * gap-free run at a time (the rows the log's writer handed over at COMMIT,
 * stream_listener, or else a read of the store), renders each event once
 * as its Server-Sent Events message (WHATWG HTML §9.2.6):
 *
 *   id: <seq>\ndata: <the data-events resource, compact JSON>\n\n
 *
 * (a subscriber that follows several logs sends it with the id of all its
 * positions instead: stream_id.h, stream_event_put)
 * and keeps the last `buffer` of them in a ring, with what the filters
 * need. Subscribers pull by position: each has the next position it wants
 * (kept here, under the hub's lock), copies from the ring the messages its
 * filter matches, and when its position is older than the ring it reads
 * the store itself (stream_event_new on store_read_positions' resources,
 * the same bytes) until it reaches the ring. Since a subscriber's position
 * only ever moves past what it sent or skipped, the hand-off from the store
 * to the ring can neither skip nor repeat a position.
 *
 * A subscriber that has nothing waits: the hub calls its wake function
 * when events it matches arrive, or when the deadline it gave passes. The
 * hub holds its lock while it calls wake, and stream_unsubscribe takes the
 * lock: so a wake never runs after unsubscribe returned. A waiting
 * subscriber whose filter matches none of the new events is moved past
 * them without a wake. Copying from the ring is a memcpy under the lock:
 * a slow client holds its own buffer, never the hub.
 *
 * With no subscriber the hub reads nothing: it waits for one, then first
 * moves its head to the log's stored end (another auditor may have written
 * the log meanwhile: this process's ledger of a log it does not write is
 * stale, so the end is always the store's).
 *
 * No HTTP here: h_stream.c serves it. Thread-safe. */
#ifndef AUDITLOG_STREAM_H
#define AUDITLOG_STREAM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "jcs.h"
#include "stream_id.h"

struct ledger;
struct ledger_listener;

/* An event as the stream sends it and as filters see it. One allocation:
 * the strings point into it. */
struct stream_event {
	uint64_t seq;
	const char *msg; /* its SSE message, len bytes, "\n\n"-ended */
	size_t len;
	size_t id_len;   /* the bytes of msg's first line, "id: <seq>\n" */
	const char *actor_type, *actor_id, *target_type, *target_id;
	const char *event_name;    /* NULL when it has none */
	unsigned action;           /* enum event_action */
	int64_t timestamp;         /* ms since the epoch */
	const char *const *fields; /* the changed fields' names, nfields of them */
	size_t nfields;
};

/* Renders resource (a data-events resource object, borrowed) into a new
 * event for stream_event_free, or NULL (out of memory, or not a resource
 * store_read.c builds). */
struct stream_event *stream_event_new(const json_t *resource);
void stream_event_free(struct stream_event *e);
/* Appends e's message to out as a subscriber sends it: with id NULL as it
 * is rendered ("id: <seq>"); else with e's position (in log, e's log) set
 * in *id, the subscriber's positions in every log, and their text as the
 * id (for log 0 alone the same bytes). A failure sets out->status. */
void stream_event_put(const struct stream_event *e, uint32_t log, struct stream_id *id,
                      struct jcs_buf *out);

/* What a subscriber asked for, as /data-events filters do (README
 * "Filters"). Strings are borrowed for the subscription's life; NULL (or
 * 0, false) leaves a filter out. */
struct stream_filter {
	const char *actor_type, *actor_id;   /* both or neither */
	const char *target_type, *target_id; /* both or neither */
	const char *field;
	const char *event_name;
	unsigned actions; /* bit (1u << enum event_action) per action; 0: any */
	bool has_since, has_until;
	int64_t since, until; /* [since, until), ms */
};

/* Whether f selects e: what the /data-events statement's conditions
 * select, with the columns' collations (binary, trailing spaces ignored
 * where MariaDB's PAD SPACE ignores them). */
bool stream_filter_match(const struct stream_filter *f, const struct stream_event *e);

struct stream_hub_config {
	const struct db_config *db; /* borrowed for the hub's life: the reader */
	uint32_t log;
	unsigned poll_ms; /* how often it reads the store for new positions at
	                   * least (ms) */
	struct ledger *ledger; /* the log's writer, borrowed (NULL: none here): its
	                        * COMMITs wake the reader before the next poll */
	size_t buffer;    /* events kept in the ring (>= 1) */
};

struct stream_hub;

/* Starts the hub's thread. It first reads the log's stored end (retrying
 * while the store cannot be read): until then stream_head says not ready.
 * Returns 0 and a hub for stream_hub_stop, or -1 (out of memory or
 * threads). cfg is copied. */
int stream_hub_start(const struct stream_hub_config *cfg, struct stream_hub **out);
/* Stops and frees the hub (NULL ok); every subscriber must be gone. */
void stream_hub_stop(struct stream_hub *h);

/* Drops every event the ring holds, and whatever the hub is reading at
 * the time: after values were erased (POST /erasures), so that no
 * rendered message serves them again. Subscribers behind the head then
 * read the store. NULL ok. */
void stream_forget(struct stream_hub *h);
/* Wakes every waiting subscriber, to take again: a log was added that
 * they follow too (stream_logs.h). */
void stream_wake(struct stream_hub *h);

/* The hub as the log's writer's listener (ledger.h): while subscribers
 * are connected, the writer hands it the rows of each append at COMMIT,
 * and the hub renders them (store_rows_page, then stream_event_new: the
 * bytes a read of the store gives) instead of reading them back. What no
 * append handed over, or what an erasure may have changed since (the
 * generation), it reads from the store. At most STREAM_OFFERS_MAX appends
 * wait to be taken; more are dropped (and read from the store). Fills
 * *li for ledger_listen. */
#define STREAM_OFFERS_MAX 64
void stream_listener(struct stream_hub *h, struct ledger_listener *li);

/* The ring holds at most this many bytes of messages (and at least the
 * newest event), whatever --stream-buffer says. */
#define STREAM_RING_BYTES_MAX (32u << 20)

/* The position the hub reads next (every earlier one is stored and was
 * read), and the oldest one its ring holds (== head when empty). Returns
 * false while the hub has not read the store's end yet. */
bool stream_head(struct stream_hub *h, uint64_t *head, uint64_t *oldest);

/* The log's stored end, read from the store on the caller's connection:
 * the position after its last append's (the hub's head lags it by up to
 * a poll; for a hub without subscribers, by any amount). Returns a db
 * status. */
int stream_stored_end(struct db *db, uint32_t log, uint64_t *end);

struct stream_sub;

/* Subscribes from position next (at most the stored end) with filter f
 * (borrowed until unsubscribed). wake(arg) is called on the hub's thread
 * (or stream_wake's caller's), under the hub's lock, when the subscriber
 * waits and should take again; it must not call into the hub. Returns
 * NULL when out of memory. */
struct stream_sub *stream_subscribe(struct stream_hub *h, const struct stream_filter *f,
                                    uint64_t next, void (*wake)(void *arg), void *arg);
/* Ends the subscription: no wake runs after it returns. NULL ok. */
void stream_unsubscribe(struct stream_hub *h, struct stream_sub *s);

#define STREAM_BEHIND (-1)
/* Appends to out the messages of the ring's events from the subscriber's
 * position on that its filter matches, until out holds at least max bytes
 * or the head is reached, and moves its position past them. Each message
 * is written as stream_event_put writes it with id (NULL, or the
 * subscriber's positions in every log); id then names, for this log, the
 * position before the subscriber's next (when it is past 0). Returns the
 * bytes appended (> 0); 0 when it has reached the head: the subscriber
 * then waits, and is woken when matching events arrive or at wake_at_ms
 * (CLOCK_MONOTONIC ms, clock.h's clock_ms), whichever comes first, unless
 * it takes again before; STREAM_BEHIND when its position is older than the
 * ring: the caller reads the store (stream_sub_next, stream_sub_advance).
 * A failed append leaves out->status set. */
long stream_take(struct stream_hub *h, struct stream_sub *s, struct jcs_buf *out, size_t max,
                 int64_t wake_at_ms, struct stream_id *id);
/* The subscriber's next position. */
uint64_t stream_sub_next(struct stream_hub *h, struct stream_sub *s);
/* Moves the subscriber's position to next (only forward). */
void stream_sub_advance(struct stream_hub *h, struct stream_sub *s, uint64_t next);

#endif
