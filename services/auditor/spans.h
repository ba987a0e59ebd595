/* Version spans: for each block of 2^SPAN_LOG2 versions of a target, a
 * time interval holding every stored event of those versions
 * (data_event_version_spans, sql/auditor/0012_version_spans.sql). A time
 * window on a target's history reads only the versions of the blocks
 * whose span meets it (store_read.c), however long the history.
 *
 * A span is written conservatively: its ends are rounded out to whole
 * SPAN_QUANTUM_MS, and it only ever widens (LEAST / GREATEST), so batches
 * and logs may write one block in any order. The writer remembers which
 * spans it has committed (a process-wide table of SPAN_CACHE_SLOTS
 * entries), and a batch writes a block's span only when its events widen
 * it: a hot target's reads cost one row a quantum, not one a batch. */
#ifndef AUDITLOG_SPANS_H
#define AUDITLOG_SPANS_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "event.h"

#define SPAN_LOG2 8           /* 256 versions a block: block = version >> SPAN_LOG2 */
#define SPAN_QUANTUM_MS 1000  /* ends rounded out to whole seconds */
#define SPAN_CACHE_SLOTS 16384 /* spans remembered (32 bytes each) */
#define SPAN_COLS 5           /* target_type, target_id, block, first_at, last_at */

/* The span rows one batch must write. */
struct spans {
	struct db_value *rows; /* n * SPAN_COLS values, in key order; strings borrowed from the events */
	size_t n;
	uint8_t (*keys)[32];   /* per row: SHA-256 of its (target, block), for the table */
	int64_t (*ends)[2];    /* per row: its first_at, last_at */
};

/* Fills s with one row per (target, block) of the versioned events among
 * events[0..n) whose span is not known to cover them already: the
 * earliest and latest of their times, rounded out. events must outlive s.
 * Returns 0, or -1 when out of memory (s is then empty). */
int spans_bind(struct spans *s, const struct event *events, size_t n);

/* Notes that s's rows are committed: a later batch within them writes
 * nothing. Call only after the COMMIT succeeded. */
void spans_committed(const struct spans *s);

void spans_free(struct spans *s);

#endif
