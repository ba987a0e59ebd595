/* Per-target order at a takeover: which mutations of a batch wait for the
 * version before theirs.
 *
 * One partition's queue delivers in the order its producers published, and
 * a producer publishes a target's mutations in their versions' order (the
 * API: one outbox, one relay). What breaks that order is a change of the
 * partition's consumer: when a broker node or an auditor dies, the
 * deliveries its consumer held go back to the queue, and RabbitMQ may give
 * the next consumer some newer ones first (measured: a target's `changed`
 * stored 0.5 s before its `created` after a node kill). The log would then
 * hold the change before the creation.
 *
 * So for a while after a consumer becomes a partition's active one (its
 * first delivery on a connection), a mutation of version v > 1 is stored
 * only once version v - 1 (or a later one) of its target is: stored
 * before, or earlier in the same batch. Otherwise it is held back, with
 * every later event of its target in the batch, for at most `hold_ms`
 * from its arrival; then it is stored anyway (its predecessor may never
 * come: a producer that skips versions; the checker flags the gap).
 * Outside that window nothing is held, so a producer whose versions skip
 * costs nothing in steady state.
 *
 * What "stored" means comes from the log's own tables (a lookup the
 * caller supplies: store_last_versions, auditor.h) and from what this
 * writer committed since, remembered in a table of REORDER_SLOTS
 * direct-mapped entries: a forgotten entry is looked up again. The table
 * holds only what is true while this writer holds the log: reset it when
 * the connection, or the log's lease, is lost.
 *
 * Views and events without a version are never held. Not thread-safe: one
 * per consumer. */
#ifndef AUDITLOG_REORDER_H
#define AUDITLOG_REORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"

#define REORDER_SLOTS 4096 /* targets remembered (24 bytes each) */

struct reorder;

/* Fills last[i] with the highest version stored of the target of
 * *events[i] (0: none stored), for i < n. Returns 0 (DB_OK) or a db
 * status (db.h), which reorder_plan returns. */
typedef int (*reorder_lookup_fn)(void *ctx, const struct event *const *events, size_t n,
                                 uint64_t *last);

/* hold_ms: the window after a consumer becomes active, and the longest an
 * event is held (0: never hold). Returns NULL when out of memory. */
struct reorder *reorder_new(int hold_ms);
void reorder_free(struct reorder *r);

/* Forgets what was stored: another writer may have appended since. */
void reorder_reset(struct reorder *r);

/* Decides for events[0..n) (a batch, in delivery order) which wait.
 * arrived_ms[i]: when events[i]'s message was taken (clock_ms());
 * active_since_ms: when the consumer's first delivery on its connection
 * came; now_ms: clock_ms(). Events that arrived hold_ms or more after
 * active_since_ms are never held; held ones are released hold_ms after
 * their arrival. Fills hold[i] (true: leave it in the batch for later)
 * and *nheld. lookup is called once, for the targets not remembered, when
 * some event needs one. Returns 0, -1 when out of memory, or lookup's
 * status; hold is then all false. */
int reorder_plan(struct reorder *r, const struct event *events, const int64_t *arrived_ms,
                 size_t n, int64_t active_since_ms, int64_t now_ms, reorder_lookup_fn lookup,
                 void *ctx, bool *hold, size_t *nheld);

/* Notes that the events not held were committed (after the COMMIT
 * succeeded). hold as reorder_plan filled it, or NULL when none was. */
void reorder_stored(struct reorder *r, const struct event *events, const bool *hold, size_t n);

/* The earliest time a held event of the batch is released (INT64_MAX when
 * none is held): when to plan again at the latest. */
int64_t reorder_next_release(const struct reorder *r, const int64_t *arrived_ms,
                             const bool *hold, size_t n);

#endif
