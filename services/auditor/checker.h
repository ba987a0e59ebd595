/* checker: flags, in log order, the mutations whose version or values do
 * not follow from what the log stored before them (README "Gaps and
 * drift"). One per log, beside its writer, on its own thread and MySQL
 * connection (the writer's user).
 *
 * It reads data_event_mutations by position, from where it stopped
 * (log_checked), up to the positions stored at least grace_ms ago (so
 * events that parallel consumers stored a little out of order have all
 * arrived), and checks each mutation with a targetVersion v against what
 * the log holds then:
 *   gap                versions below v are missing: the highest version of
 *                      its target below v is below v - 1 (or there is none
 *                      and v > 1)
 *   late               the next version of its target above v was checked
 *                      before it came, and flagged a gap
 *   duplicate-version  another event stored version v at an earlier position
 *   drift              (changed, deleted) a field's prev is not the value the
 *                      latest lower version that changed the field left (of
 *                      the events without a version, those stamped at or
 *                      before it; values erased on either side are not
 *                      compared)
 *   after-delete       the highest version of its target below v deleted it;
 *                      or it is a delete that came late (as above), under a
 *                      version that missed it
 * Each flag is a row of data_event_flags (the event, the kind, the field
 * for drift, a sentence saying what was expected; never a value, which
 * only data_event_values holds, so an erasure erases it everywhere),
 * written with the new checked position in one transaction. Events
 * without a version are not checked. */
#ifndef AUDITLOG_CHECKER_H
#define AUDITLOG_CHECKER_H

#include <stdbool.h>
#include <stdint.h>

#include "auditor.h"

enum check_flag {
	CHECK_GAP,
	CHECK_LATE,
	CHECK_DUPLICATE,
	CHECK_DRIFT,
	CHECK_AFTER_DELETE,
	CHECK_FLAG_KINDS
};

/* "gap", "late", "duplicate-version", "drift", "after-delete"
 * (query_plan.h's plan_flag_names). */
const char *check_flag_name(enum check_flag f);

struct checker_config {
	uint32_t log;
	const struct db_config *db; /* the writer's user; borrowed, outlives the checker */
	struct ledger *ledger;      /* the log's writer: its committed size; borrowed */
	int interval_ms;            /* how often it looks for new positions; 0: 200 */
	int grace_ms;               /* checks a position once stored this long; >= 0 */
};

struct checker;
/* Starts the checker's thread. Returns 0, or -1 when out of memory or
 * threads. */
int checker_start(const struct checker_config *cfg, struct checker **out);
/* Stops (after the chunk under way) and frees c. NULL ok. */
void checker_stop(struct checker *c);
/* Positions [0, *checked) are checked; flags counts what this process
 * flagged, per kind (may be NULL). */
void checker_stats(struct checker *c, uint64_t *checked, uint64_t flags[CHECK_FLAG_KINDS]);

#endif
