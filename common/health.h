/* health: the daemons' /livez and /readyz answers.
 *
 * The document follows "Health Check Response Format for HTTP APIs"
 * (draft-inadarei-api-health-check-06, media type application/health+json):
 *
 *   {"status": "pass"|"warn"|"fail",
 *    "checks": {"<component>:<measurement>": [{"status": ..., "componentType": ...,
 *               "observedValue": ..., "observedUnit": ..., "output": ..., "time": ...}]}}
 *
 * A check has one entry; checks given under the same name are the
 * instances of one component (§4: the auditor's logs, say), one entry each
 * in their order, each naming itself with its "componentId".
 *
 * The overall status is the worst of the checks' (§3.1); 200 answers pass
 * and warn, 503 fail (§3). A check is a callback that reads what its
 * component already knows (a connected flag, a backlog, when a ping last
 * succeeded): answering never waits on the network, so /readyz stays quick
 * when the database or the broker hangs.
 *
 * Pure (jansson); callbacks are the caller's. */
#ifndef AUDITLOG_HEALTH_H
#define AUDITLOG_HEALTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

enum health_status { HEALTH_PASS = 0, HEALTH_WARN = 1, HEALTH_FAIL = 2 };

/* What one check found. */
struct health_result {
	enum health_status status;
	bool has_value;        /* observedValue and observedUnit are given */
	double value;          /* observedValue */
	const char *unit;      /* observedUnit ("ms", "bytes", "events"...), static */
	char output[256];      /* why it is not pass ("" when it is) */
	char component_id[32]; /* componentId: which instance, when several share a name */
};

/* Fills *out (zeroed beforehand: pass, no value, no output). Called on an
 * HTTP worker thread: must be thread-safe and must not block. */
typedef void (*health_check_fn)(void *arg, struct health_result *out);

struct health_check {
	const char *name;           /* "<component>:<measurement>", static: "mysql:connection" */
	const char *component_type; /* "datastore", "component", "system"; static; may be NULL */
	health_check_fn fn;
	void *arg;
};

/* "pass", "warn" or "fail". */
const char *health_status_name(enum health_status s);

/* Runs the n checks and returns the health+json document (the caller
 * owns it: json_decref), its HTTP status in *http_status (200 or 503).
 * now_ms (ms since the epoch) is every check's "time". NULL when out of
 * memory. */
json_t *health_document(const struct health_check *checks, size_t n, int64_t now_ms,
                        unsigned *http_status);

/* Sets r to fail (or warn) with output formatted like printf. */
void health_set(struct health_result *r, enum health_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A backlog against its bound: pass under half of max, warn from half,
 * fail at max or over; the value and unit are recorded. max 0: no bound
 * (always pass). what names the backlog in the output. */
void health_bound(struct health_result *r, double value, double max, const char *unit,
                  const char *what);

#endif
