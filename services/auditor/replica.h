/* replica: queries of the audit log answered from a MariaDB read replica
 * of the auditor's database (GTID replication; README "Read replica")
 * while it is no further behind the primary than a bound, and from the
 * primary otherwise.
 *
 * How far behind, without any privilege beyond the reader's (global
 * variables are readable by anyone): a watch thread (watch.h) reads, every
 * REPLICA_PROBE_MS, the primary's @@gtid_binlog_pos, noting the instant t
 * it asked, then the replica's @@gtid_slave_pos. Everything the primary
 * had committed before t is within the position read at t; so once the
 * replica's position has reached that one (gtid_reached), the replica
 * lacks at most what the primary committed after t: it is at most now - t
 * behind. The thread keeps the positions it read with their instants for
 * as long as the bound (a ring), and notes the latest instant whose
 * position the replica has reached ("covered"). A query reads the replica
 * while the last probe succeeded (less than REPLICA_STALE_MS ago) and
 * now - covered <= max_lag_ms: what it reads then misses at most the
 * primary's last max_lag_ms of commits. A replica that stops answering is
 * left within REPLICA_STALE_MS (a refused connection: at the next probe);
 * a read already on its way when it went is asked of the primary instead
 * (db_config.fallback, db.h). It is read again once a probe finds it
 * answering and within the bound.
 *
 * Read-your-writes: a client that wrote was given the primary's position
 * after its write (GTID_HEADER, gtid.h) and may send it back; a query
 * that carries it reads the replica only once the replica has reached it:
 * at once when the last probe saw it there, else when MASTER_GTID_WAIT
 * (position, wait_ms) on the replica says it has; otherwise the primary
 * answers.
 *
 * Thread-safe. The probe's two connections are the watch thread's own;
 * MASTER_GTID_WAIT runs on the calling thread's connection to the replica
 * (db_thread). Metrics (metrics.h): auditlog_query_server_total{server},
 * auditlog_replica_waits_total{result}, auditlog_replica_up,
 * auditlog_replica_lag_seconds. */
#ifndef AUDITLOG_REPLICA_H
#define AUDITLOG_REPLICA_H

#include "config.h"
#include "db.h"
#include "gtid.h"
#include "health.h"

#define REPLICA_PROBE_MS 100
#define REPLICA_STALE_MS 500

/* The auditor's settings rows (README "Configuration"). */
#define REPLICA_SETTINGS                                                                     \
	{"replica-host", "AUDITLOG_AUDITOR_REPLICA_HOST", "", CONFIG_STRING, 0, 0,               \
	 "A MariaDB read replica of the audit log's database (GTID replication from the "      \
	 "primary, which --mysql-host names) that answers queries while it keeps within "       \
	 "--replica-max-lag-ms; empty: none, the primary answers everything.",                  \
	 NULL, 0},                                                                              \
	    {"replica-port", "AUDITLOG_AUDITOR_REPLICA_PORT", "3306", CONFIG_INT, 1, 65535,      \
	     "The replica's port (the reader's user, password and database there).", NULL, 0},  \
	    {"replica-max-lag-ms", "AUDITLOG_REPLICA_MAX_LAG_MS", "1000", CONFIG_INT, 250,      \
	     60000,                                                                             \
	     "The staleness bound: the replica answers only while it lacks at most the "        \
	     "primary's last this many ms of commits (measured every 100 ms); else the "         \
	     "primary answers.",                                                                \
	     NULL, 0},                                                                          \
	    {"replica-wait-ms", "AUDITLOG_REPLICA_WAIT_MS", "250", CONFIG_INT, 0, 10000,         \
	     "Read-your-writes: how long a query that carries Read-After waits for the "        \
	     "replica to reach that position (MASTER_GTID_WAIT) before the primary answers it.", \
	     NULL, 0}

struct replica;

/* Reads the REPLICA_SETTINGS rows of table and, when a replica is named,
 * starts watching it: primary is the reader's configuration on the
 * primary (borrowed for the replica's life); the replica is read with the
 * same user, password and database. Returns 0 with *out (NULL when no
 * replica is named), or -1 (logged) when memory or threads run out. */
int replica_start(const struct config_setting *table, size_t n, const struct db_config *primary,
                  struct replica **out);
/* Stops the watch and frees r. NULL ok. */
void replica_stop(struct replica *r);

/* The configuration a query that may be stale reads with: the replica's
 * (its fallback is the primary's) while it answers and keeps within the
 * bound, and, when after is not NULL, once it has reached after (which
 * may wait up to wait_ms); the primary's otherwise. Counts the choice in
 * auditlog_query_server_total. Borrowed for r's life. */
const struct db_config *replica_choose(struct replica *r, const struct gtid_pos *after);
/* The primary's configuration r reads with (the one replica_start took). */
const struct db_config *replica_primary(const struct replica *r);

/* /readyz's mysql:replica check (health_check_fn; arg is the struct
 * replica): pass with the lag bound in ms; warn, never fail (the primary
 * serves), when the replica does not answer or is beyond the bound. */
void replica_health(void *arg, struct health_result *out);

#endif
