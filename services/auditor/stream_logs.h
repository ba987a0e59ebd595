/* stream_logs: the live stream's hubs, one per log of the deployment
 * (README "Live stream", stream.h), so that a stream reads every log: the
 * partitions' logs 0 .. P-1 and this auditor's own log from the start,
 * and, when the auditors' own events have logs of their own, every such
 * log the store holds (the other auditors', own_logs_from + their
 * instance), found at start and looked for again every
 * STREAM_LOGS_LOOK_MS, or by a stream's request that finds one first
 * (stream_logs_add). Other logs the store may hold (a partition's of an
 * earlier deployment with more partitions; auditors' own logs of one that
 * had them, now that their events go to log 0) are not followed. A hub of
 * a log this process writes is its ledger's listener (ledger.h): this
 * process's COMMITs reach the hub at once; the others' are read at the
 * hub's poll.
 *
 * Hubs are only added, and all freed at stop: a hub's index stays valid
 * (and names the same log) for the set's life. Thread-safe. */
#ifndef AUDITLOG_STREAM_LOGS_H
#define AUDITLOG_STREAM_LOGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "stream.h"
#include "stream_id.h"

struct ledger;

/* How often the set looks for logs it has no hub of yet (ms). */
#define STREAM_LOGS_LOOK_MS 1000

struct stream_logs_config {
	const struct db_config *db; /* the reader, borrowed for the set's life */
	unsigned poll_ms;           /* each hub's (stream.h) */
	size_t buffer;              /* each hub's */
	/* ledgers[p] writes log p (p < nledgers), records writes records_log
	 * (NULL: this auditor's own events are in log 0); borrowed, each
	 * outliving the set */
	struct ledger *const *ledgers;
	unsigned nledgers;
	struct ledger *records;
	uint32_t records_log;
	/* The store's logs from this one on are auditors' own logs, followed
	 * too (0: none is; the auditors' own events are in log 0). */
	uint32_t own_logs_from;
};

struct stream_logs;

/* Starts the hubs of logs 0 .. nledgers - 1 and records_log, and the
 * thread that looks for more. cfg is copied. Returns 0 and the set for
 * stream_logs_stop, or -1 (out of memory or threads; logged). */
int stream_logs_start(const struct stream_logs_config *cfg, struct stream_logs **out);
/* Takes the hubs off their ledgers (no COMMIT is handed over after it
 * began), stops and frees them and the set (NULL ok); every stream must
 * be gone. */
void stream_logs_stop(struct stream_logs *s);

/* stream_forget on every hub: after an erasure (POST /erasures). NULL ok. */
void stream_logs_forget(struct stream_logs *s);

/* Whether the set follows log: one of the partitions', or an auditor's
 * own when they have logs of their own. */
bool stream_logs_follows(const struct stream_logs *s, uint32_t log);
/* Makes sure log, one the set follows, has a hub (a new one wakes the
 * streams waiting on the others, so that they follow it too). Returns 0,
 * or -1 when it cannot (STREAM_ID_LOGS_MAX hubs already, out of memory or
 * threads; logged). */
int stream_logs_add(struct stream_logs *s, uint32_t log);
/* The hubs there are now (indexes 0 .. count - 1). */
size_t stream_logs_count(struct stream_logs *s);
/* Hub i (below a count read before) and its log in *log. */
struct stream_hub *stream_logs_hub(struct stream_logs *s, size_t i, uint32_t *log);

/* Every log the store holds an append of, with its stored end (the
 * position after its last append's) as the log's entry of *ends, read in
 * one statement on the caller's connection. Returns a db status; DB_ERR
 * when there are more than STREAM_ID_LOGS_MAX logs (logged). */
int stream_stored_ends(struct db *db, struct stream_id *ends);

#endif
