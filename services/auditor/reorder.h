/* Per-target order: which mutations of a batch wait for the version
 * before theirs.
 *
 * One partition's queue delivers in the order its producers published, and
 * a producer publishes a target's mutations in their versions' order (the
 * API: one outbox, one relay). Two things break that order on the way to
 * the log:
 *
 * - Several consumers of one queue (AUDITLOG_CONSUMERS 2 on the single
 *   classic queue, so one parses while another commits): the broker deals
 *   messages out in turn, so a target's creation may sit in one consumer's
 *   batch, or still in its socket while it commits the batch before,
 *   while its change sits in the other's, which may commit first.
 * - A change of the partition's consumer: when a broker node or an auditor
 *   dies, the deliveries its consumer held go back to the queue, and
 *   RabbitMQ may give the next consumer some newer ones first (measured: a
 *   target's `changed` stored 0.5 s before its `created` after a node
 *   kill).
 *
 * So a mutation of version v > 1 is stored only once version v - 1 (or a
 * later one) of its target is: stored before, or earlier in the same
 * batch. Otherwise it is held back, with every later version of its target,
 * for at most hold_ms from its arrival; then it is stored anyway (its
 * predecessor may never come: a producer that skips versions, or an object
 * older than the log; the checker flags the gap). A creation returned by
 * the broker after its changes came 0.5 s to several seconds late in the
 * cluster's fault runs: a shorter wait for targets nothing of which is
 * stored (1 s, tried) left 132 pairs out of order. The rule applies always where several consumers share a
 * queue, and for hold_ms after a consumer becomes the partition's active
 * one (its first delivery on a connection) where one consumer has it (a
 * single active consumer, or one consumer a partition): outside that
 * window nothing is looked up or held, so there a producer whose versions
 * skip costs nothing in steady state.
 *
 * What "stored" means comes from the log's own tables (a lookup the caller
 * supplies: store_last_versions, auditor.h) and from what the partition's
 * consumers committed since, remembered in a table of REORDER_SLOTS
 * direct-mapped entries: a forgotten entry is looked up again. The table
 * holds only what is true while this auditor holds the log: reorder_forget
 * empties it when a consumer loses its connection (and maybe the log's
 * lease).
 *
 * One struct reorder per partition, shared by its consumers: thread-safe.
 * Views and events without a version are never held. */
#ifndef AUDITLOG_REORDER_H
#define AUDITLOG_REORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"

#define REORDER_SLOTS 4096 /* targets remembered (16 bytes each) */

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

/* Forgets everything remembered as stored: another writer may append
 * before a consumer's next connection. */
void reorder_forget(struct reorder *r);

/* Decides for a consumer's batch events[0..n) (in delivery order) which
 * wait. arrived_ms[i]: when events[i]'s message was taken (clock_ms());
 * active_since_ms: when the consumer's first delivery on its connection
 * came, or now_ms where several consumers share the queue (the rule then
 * always applies); now_ms: clock_ms(). Fills hold[i] (true: leave it in the batch for
 * later) and *nheld. lookup is called at most once, without r's lock, for
 * the targets not remembered, when an event arrived within hold_ms of
 * active_since_ms needs one. Returns 0, -1 when out of memory, or lookup's
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
