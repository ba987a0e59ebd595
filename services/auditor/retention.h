/* retention: the auditor's maintenance thread for the event tables'
 * monthly partitions (sql/auditor/0015, README "Growth and retention").
 *
 * data_events, data_event_changes, data_event_values and
 * data_event_mutations are RANGE-partitioned on stored_day (days since
 * 1970-01-01 UTC, store_day: auditor.h), a partition a month named pYYYYMM
 * (rows below the first day of the month after YYYY-MM; months.h), then the
 * catch-all pmax. Every check_ms the thread:
 *   - splits the months up to months_ahead after the store's month off
 *     pmax (ALTER TABLE ... REORGANIZE PARTITION pmax), so inserts land in
 *     their month and pmax stays empty (a REORGANIZE of an empty partition
 *     moves no rows);
 *   - with retention on (months > 0), drops each month that ended at least
 *     that many months before the store's month, oldest first, after
 *     exporting what each log holds in it as a verifiable bundle
 *     (retention.c says how, and what survives a crash at each step).
 * Inserts never wait for it: with no month split off, rows go to pmax.
 *
 * It runs on its own thread and MySQL connection, as its own user (the
 * maintainer: ALTER and DROP on those four tables, SELECT on the log,
 * INSERT on log_retained; scripts/dbsetup.sh). When that user cannot
 * connect or lacks a right, it logs a warning and tries again later. */
#ifndef AUDITLOG_RETENTION_H
#define AUDITLOG_RETENTION_H

#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "http.h"

struct retention_config {
	const struct db_config *db; /* the maintainer's user; borrowed, outlives the thread */
	int check_ms;               /* how often it looks (ms); > 0 */
	int months_ahead;           /* months split off ahead of the store's, >= 1 */
	int months;                 /* retention in months; 0: off (nothing is dropped) */
	const char *dir;            /* where bundles go (borrowed); needed when months > 0 */
};

struct retention;
/* Starts the thread, which runs its first round at once. Returns 0, or -1
 * when out of memory or threads. */
int retention_start(const struct retention_config *cfg, struct retention **out);
/* Stops (after the round under way) and frees r. NULL ok. */
void retention_stop(struct retention *r);

/* ---- retained positions (log_retained), for the handlers ---- */

/* One retained range of a log: positions [from, to), in the bundle file
 * bundle (its name in the retention folder) whose SHA-256 is sha256 (hex). */
struct retained {
	bool found;
	uint64_t from, to;
	char bundle[256];
	char sha256[65];
};
/* The range of log holding position seq (out->found false: none; seq was
 * not retained away). Returns DB_OK or a db status. */
int retention_find(struct db *db, uint32_t log, uint64_t seq, struct retained *out);
/* The end of log's retained positions: [0, *end) were retained away (0:
 * none). Days, and so months, grow along a log, and months go oldest
 * first: what a log lost is always a prefix. Returns DB_OK or a db status. */
int retention_end(struct db *db, uint32_t log, uint64_t *end);
/* Replies 410 Gone (a JSON:API error) naming r's bundle, for position seq
 * of log. */
void retention_reply_gone(struct http_request *req, uint32_t log, uint64_t seq,
                          const struct retained *r);

#endif
