/* GET /readyz: is the API's whole way to the auditor working, as the API
 * sees it (health.h). No authentication; it names no data. */
#include "api.h"
#include "clock.h"
#include "daemon.h"
#include "watch.h"
#include "metrics.h"
#include "publisher.h"

/* The broker has this long to confirm a message before /readyz warns,
 * then fails (a broker that accepts connections but does not answer). */
#define UNCONFIRMED_WARN_MS 1000
#define UNCONFIRMED_FAIL_MS 10000

/* One reading of the publisher for the checks of one /readyz. */
struct reading {
	struct api *api;
	struct publisher_health pub;
	int64_t now_ms;
};

static void check_outbox(void *arg, struct health_result *out)
{
	struct api *api = ((struct reading *)arg)->api;
	long long rows = 0;
	if (!watch_ok(api->watches.db, &rows)) {
		health_set(out, HEALTH_WARN, "unknown: the database does not answer");
		return;
	}
	health_bound(out, (double)rows, (double)api->ready_outbox_max, "events",
	             "the outbox's backlog");
}

static void check_broker(void *arg, struct health_result *out)
{
	const struct reading *r = arg;
	if (!r->pub.connected)
		health_set(out, HEALTH_FAIL,
		           "not connected to the broker for %lld ms; events wait in the outbox and "
		           "the spool",
		           (long long)(r->now_ms - r->pub.down_since_ms));
}

static void check_unconfirmed(void *arg, struct health_result *out)
{
	const struct reading *r = arg;
	out->has_value = true;
	out->value = (double)r->pub.unconfirmed;
	out->unit = "events";
	int64_t oldest = r->pub.oldest_unconfirmed_ms;
	int64_t waited = oldest ? r->now_ms - oldest : 0;
	if (waited >= UNCONFIRMED_FAIL_MS)
		health_set(out, HEALTH_FAIL, "the broker has not confirmed a message for %lld ms",
		           (long long)waited);
	else if (waited >= UNCONFIRMED_WARN_MS)
		health_set(out, HEALTH_WARN, "the broker has not confirmed a message for %lld ms",
		           (long long)waited);
}

static void check_spool(void *arg, struct health_result *out)
{
	const struct reading *r = arg;
	health_bound(out, (double)r->pub.spool.backlog_bytes, (double)r->api->ready_spool_max, "bytes",
	             "the view spool's backlog");
}

void h_readyz(struct http_request *req)
{
	struct api *api = http_app(req);
	struct reading r = {.api = api, .now_ms = clock_ms()};
	publisher_health(api->publisher, &r.pub);
	const struct health_check checks[] = {
	    {"mysql:responseTime", "datastore", watch_health, api->watches.db},
	    {"amqp:responseTime", "component", watch_health, api->watches.mq},
	    {"outbox:backlog", "component", check_outbox, &r},
	    {"amqp:connection", "component", check_broker, &r},
	    {"amqp:unconfirmed", "component", check_unconfirmed, &r},
	    {"spool:backlog", "component", check_spool, &r},
	};
	daemon_reply_health(req, checks, sizeof checks / sizeof checks[0]);
}

/* The outbox's backlog as the database watch last read it (an estimate
 * that costs the same whatever the backlog: the positions between the
 * oldest row and the newest); left out while the database does not
 * answer. */
static void collect_outbox(struct metrics_out *out, void *ctx)
{
	struct api *api = ctx;
	long long rows = 0;
	if (watch_ok(api->watches.db, &rows))
		metrics_out_gauge(out, "auditlog_outbox_backlog_events",
		                  "Data events in the outbox: committed, not yet confirmed by the broker "
		                  "(the positions between the oldest and the newest, read every 250 ms).",
		                  (double)rows);
}

void api_health_metrics(struct api *api, bool on)
{
	if (on)
		metrics_collector_add(collect_outbox, api);
	else
		metrics_collector_remove(collect_outbox, api);
}
