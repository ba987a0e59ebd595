/* One auditor a instance number on a database.
 *
 * Each auditor of several writes its own records to log 1024 + its
 * AUDITLOG_AUDITOR_INSTANCE and registers first for its share of the
 * partitions (auditor.h): two started with the same number would take
 * that log from each other at every append (a tester measured 13 takeovers
 * a minute). So an auditor claims its number with a MariaDB named lock
 * (GET_LOCK), held by a connection of its own for the process's life, and
 * refuses to start when another holds it. A killed auditor's connection
 * closes with it, and the server frees its lock then. */
#ifndef AUDITLOG_INSTANCE_H
#define AUDITLOG_INSTANCE_H

#include "db.h"

enum instance_status {
	INSTANCE_OK,        /* claimed: *out holds the lock */
	INSTANCE_TAKEN,     /* another connection holds it past wait_s */
	INSTANCE_UNCHECKED, /* the database cannot be reached: not claimed */
};

/* Claims instance on cfg's database: the lock
 * "auditlog-auditor:<database>:<instance>", waiting up to wait_s seconds
 * for a predecessor's to be freed (a restart right after a kill). Returns
 * INSTANCE_OK with *out the connection that holds it, for the caller to
 * keep open and db_close when it stops (which frees the lock); otherwise
 * *out is NULL. With INSTANCE_UNCHECKED the caller may start anyway: each
 * log's lease (ledger.h) still keeps one writer to a log. */
enum instance_status instance_claim(const struct db_config *cfg, unsigned instance, int wait_s,
                                    struct db **out);

#endif
