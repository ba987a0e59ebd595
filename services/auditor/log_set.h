/* log_set: which logs a read of the log of record covers (README
 * "Partitions and several auditors", docs/ledger.md "Endpoints").
 *
 * Log p stores partition p; auditor i's own events (records of reads,
 * erasures) are in log AUDITOR_RECORDS_LOG + i. Another auditor may be
 * writing a log this one has open, so this process's ledger of a log is
 * stale whenever it does not hold the log's lease: the read side takes a
 * log's state (its latest checkpoint, its end) from the database, and asks
 * this process's ledger only for the writer's own view (what it signed,
 * the end it gave), and only after log_set_held said it still writes the
 * log.
 *
 * A request names its logs with ?log=: one log id, or where a handler
 * takes several a comma-separated list of them; without it the handler
 * decides (log 0, or every log: log_set_all). */
#ifndef AUDITLOG_LOG_SET_H
#define AUDITLOG_LOG_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "http.h"

struct auditor;
struct ledger;

/* The largest log id: log_id is a SMALLINT UNSIGNED in every table. */
#define LOG_ID_MAX 65535u
/* Logs one ?log= list names at most. */
#define LOG_SET_PARAM_MAX 1024u

/* Log ids, ascending and distinct; ids malloc'd (log_set_free). */
struct log_set {
	uint32_t *ids;
	size_t n;
};
void log_set_free(struct log_set *s);

/* This process's open ledger of log (a partition's or its own records'),
 * or NULL when it has none. Borrowed from a; lives as long as it. */
struct ledger *log_set_ledger(struct auditor *a, uint32_t log);

/* Replies 503 and returns -1 while this process is still reading log's
 * state back (it opened the log and is not ready: a restart): until then
 * it answers nothing about the log, as its writer's view is not known
 * yet. Returns 0 otherwise. */
int log_set_opening(struct http_request *req, uint32_t log);

/* Whether l's writer (this process) is the log's writer now: with one
 * classic partition, the deployment's one auditor (README "Partitions":
 * several auditors take quorum queues), so always; otherwise when it took
 * the log (ledger_epoch) and the newest stored lease is still that one. A
 * caller that reads rows first and asks this after knows that no other
 * writer had appended to the log when it read them (a writer appends only
 * under the newest lease, inserted before its first append). Returns DB_OK
 * with *held, or a db status. */
int log_set_held(struct db *db, struct auditor *a, struct ledger *l, bool *held);

/* Every log there is: those the database holds a checkpoint, an append or
 * a lease of, and those this process has open, into *out (the caller
 * log_set_frees it). Returns DB_OK or a db status (DB_ERR: out of memory). */
int log_set_all(struct db *db, struct auditor *a, struct log_set *out);

/* Reads ?log= of req into *out: one log id (0 to LOG_ID_MAX) or, when list,
 * a comma-separated list of them (at most LOG_SET_PARAM_MAX, each once, any
 * order; *out ascending). Returns 0 with *out filled (the caller frees it),
 * LOG_SET_ABSENT when req has no log parameter (*out empty), or -1 after
 * replying 400 naming the parameter (or 503 when out of memory). */
#define LOG_SET_ABSENT 1
int log_set_param(struct http_request *req, bool list, struct log_set *out);

/* One log's id in *out when req has ?log=, else def. Returns 0, or -1 after
 * replying 400. */
int log_set_one(struct http_request *req, uint32_t def, uint32_t *out);

#endif
