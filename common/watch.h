/* watch: a thread that keeps asking a server (the database, the broker)
 * whether it answers, so that /readyz can say so at once without asking
 * it (health.h).
 *
 * The thread runs a probe every interval: one round trip on a connection
 * of its own (db.h and mq.h: one connection per thread), reconnecting
 * after a failure. The server counts as reachable while the last probe
 * succeeded and succeeded less than stale_ms ago: one that hangs (a frozen
 * process, a network partition that drops packets) turns the check to
 * fail after stale_ms although no error came back. A probe may give a
 * value (the API's outbox backlog), the check's observed value besides
 * the round trip.
 *
 * Two probes are here: watch_db (a query) and watch_mq (an AMQP
 * basic.qos, a synchronous method that needs no permission on any
 * queue or exchange). */
#ifndef AUDITLOG_WATCH_H
#define AUDITLOG_WATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "health.h"

struct watch;
struct mq;

struct watch_config {
	/* One round trip on the probe's own connection, made or remade as
	 * needed; 0 when the server answered (with *value set, 0 if it has
	 * none to give), -1 when not. Runs on the watch's thread only. */
	int (*probe)(void *ctx, long long *value);
	/* Closes the probe's connection; on the watch's thread, at stop. */
	void (*close)(void *ctx);
	void *ctx;               /* the probe's, borrowed for the watch's life */
	const char *what;        /* static: "the database", in the check's output */
	int interval_ms;         /* between probes (> 0) */
	int stale_ms;            /* a success older than this no longer counts (> interval) */
	const char *thread_name; /* static, at most 15 bytes */
};

/* Starts the thread. Returns 0, or -1 when memory or threads run out. */
int watch_start(const struct watch_config *cfg, struct watch **out);
/* Stops the thread (after the probe under way: a probe must be bounded in
 * time) and frees w. NULL ok. */
void watch_stop(struct watch *w);

/* Whether the server answered within stale_ms; the last probe's value in
 * *value when it did (value may be NULL). Thread-safe, never blocks on
 * the server. */
bool watch_ok(struct watch *w, long long *value);

/* A health_check_fn over a struct watch (arg): pass while watch_ok, with
 * the last round trip in ms; fail with how long the server has been
 * silent or since when it refuses. */
void watch_health(void *arg, struct health_result *out);

/* ---- the database: one query (SELECT 1, or the caller's, whose first
 * column of its one row, an integer or NULL for 0, is the value). Its
 * connection reads with a short timeout (db_config.io_timeout_s), so a
 * stop never waits on a hung server for long. */
struct watch_db {
	struct db_config cfg; /* a copy of the daemon's, with its own timeout */
	const char *sql;      /* static; NULL: "SELECT 1" */
	struct db *conn;
};
void watch_db_init(struct watch_db *d, const struct db_config *cfg, const char *sql);
int watch_db_probe(void *ctx, long long *value);
void watch_db_close(void *ctx);

/* ---- the broker: basic.qos on a connection of its own. */
struct watch_mq {
	const char *url; /* borrowed */
	struct mq *conn;
};
int watch_mq_probe(void *ctx, long long *value);
void watch_mq_close(void *ctx);

/* ---- what every daemon runs: its database and its broker, each asked
 * every 250 ms and missed after 750 ms (README "Health"). */
struct watch_pair {
	struct watch_db db_probe;
	struct watch_mq mq_probe;
	struct watch *db, *mq; /* NULL until started */
};
/* Starts both (db_sql as watch_db_init's; cfg and amqp_url borrowed for
 * the pair's life; the names static, at most 15 bytes). Returns 0, or -1
 * (logged) with whatever started left for watch_pair_stop. */
int watch_pair_start(struct watch_pair *p, const struct db_config *cfg, const char *db_sql,
                     const char *amqp_url, const char *db_thread, const char *mq_thread);
/* Stops both; a pair never started (zeroed) is fine. */
void watch_pair_stop(struct watch_pair *p);

#endif
