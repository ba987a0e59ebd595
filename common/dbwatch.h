/* dbwatch: a thread that keeps asking the database whether it answers, so
 * that /readyz can say so at once without asking it (health.h).
 *
 * The thread has its own connection (db.h: one per thread) and runs one
 * probe query every interval: "SELECT 1", or the caller's, whose first
 * column of its one row (an integer, NULL as 0) becomes the check's
 * observed value (the API's outbox backlog). The database counts as
 * reachable while the last probe succeeded and succeeded less than
 * stale_ms ago: one that hangs (a frozen server, a cut cable) turns the
 * check to fail after stale_ms even though no error came back.
 *
 * Reconnection is the thread's: at each interval after a failure. */
#ifndef AUDITLOG_DBWATCH_H
#define AUDITLOG_DBWATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "health.h"

struct dbwatch;

struct dbwatch_config {
	const struct db_config *db; /* borrowed for the watch's life */
	const char *probe_sql;      /* static; NULL: "SELECT 1" */
	int interval_ms;            /* between probes (> 0) */
	int stale_ms;               /* a success older than this no longer counts (> interval) */
	const char *thread_name;    /* static, at most 15 bytes: the thread's name */
};

/* Starts the thread. Returns 0, or -1 when memory or threads run out. */
int dbwatch_start(const struct dbwatch_config *cfg, struct dbwatch **out);
/* Stops the thread and frees w (NULL ok). */
void dbwatch_stop(struct dbwatch *w);

/* Whether the database answered within stale_ms; the probe's value (0
 * without a caller's probe) in *value when it did, may be NULL. Thread-safe. */
bool dbwatch_ok(struct dbwatch *w, long long *value);

/* A health_check_fn over a struct dbwatch (arg): pass while dbwatch_ok,
 * with the last probe's round trip in ms; fail with the last error or how
 * long it has been silent. */
void dbwatch_health(void *arg, struct health_result *out);

#endif
