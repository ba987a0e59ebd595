/* What the load generator (bench/loadgen.c) and the store stress test
 * (tests/tools/store_race.c) share: a PRNG and the auditor's writer
 * settings from the environment. Header-only; tools, not the daemons. */
#ifndef AUDITLOG_BENCH_TOOLS_H
#define AUDITLOG_BENCH_TOOLS_H

#include <stdint.h>
#include <stdlib.h>

#include "db.h"

/* splitmix64 (Steele, Lea, Flood 2014): fast and seedable, not for
 * anything secret. */
struct rng {
	uint64_t s; /* the state: any seed */
};

/* The next 64 random bits. */
static inline uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* The environment variable name, or fallback when unset or empty. */
static inline const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);
	return v && *v ? v : fallback;
}

/* The auditor's writer (INSERT and SELECT only) as the daemons' settings
 * name it (AUDITLOG_MYSQL_HOST/PORT/SOCKET, AUDITLOG_AUDITOR_MYSQL_USER/
 * PASSWORD, AUDITLOG_AUDITOR_DB), with their defaults. The strings are the
 * environment's. */
static inline struct db_config writer_config_from_env(void)
{
	const char *password = getenv("AUDITLOG_AUDITOR_MYSQL_PASSWORD");
	return (struct db_config){
	    .host = env_or("AUDITLOG_MYSQL_HOST", "localhost"),
	    .port = (unsigned)atoi(env_or("AUDITLOG_MYSQL_PORT", "3306")),
	    .socket = env_or("AUDITLOG_MYSQL_SOCKET", ""),
	    .user = env_or("AUDITLOG_AUDITOR_MYSQL_USER", "auditor"),
	    .password = password ? password : "auditor",
	    .database = env_or("AUDITLOG_AUDITOR_DB", "audit-logging-auditor"),
	};
}

#endif
