/* GET /readyz: is the auditor storing, signing and able to answer, as it
 * sees itself (health.h). No authentication; it names no data. */

#include "auditor.h"
#include "clock.h"
#include "daemon.h"
#include "replica.h"
#include "watch.h"

/* A checkpoint may trail the stored events by checkpoint-ms; /readyz warns
 * when the signer is this many times later than that (and at least
 * LAG_WARN_MIN_MS), as when the database refuses its writes. */
#define LAG_WARN_FACTOR 10
#define LAG_WARN_MIN_MS 10000

static void check_consumers(void *arg, struct health_result *out)
{
	struct auditor *a = arg;
	unsigned up = 0;
	for (unsigned i = 0; i < a->nconsumers; i++)
		up += consumer_connected(a->consumers[i]);
	out->has_value = true;
	out->value = up;
	out->unit = "consumers";
	if (up == 0)
		health_set(out, HEALTH_FAIL, "no consumer is connected to the broker");
	else if (up < a->nconsumers)
		health_set(out, HEALTH_WARN, "%u of %u consumers are connected to the broker", up,
		           a->nconsumers);
}

static void check_ledger(void *arg, struct health_result *out)
{
	struct auditor *a = arg;
	struct ledger_state st;
	ledger_state(a->ledger, &st);
	if (st.halted) {
		health_set(out, HEALTH_FAIL, "the log is halted: %s", st.halted);
		return;
	}
	if (!st.ready) {
		health_set(out, HEALTH_FAIL, "reading the log's state back from the database");
		return;
	}
	uint64_t lag = st.size > st.signed_size ? st.size - st.signed_size : 0;
	out->has_value = true;
	out->value = (double)lag;
	out->unit = "events";
	int64_t bound = (int64_t)a->checkpoint_ms * LAG_WARN_FACTOR;
	if (bound < LAG_WARN_MIN_MS)
		bound = LAG_WARN_MIN_MS;
	int64_t age = clock_wall_ms() - st.signed_ms;
	if (lag && age > bound)
		health_set(out, HEALTH_WARN,
		           "%llu stored events are not in a signed checkpoint; the latest is %lld ms old",
		           (unsigned long long)lag, (long long)age);
}

void h_readyz(struct http_request *req)
{
	struct auditor *a = http_app(req);
	const struct health_check checks[] = {
	    {"mysql:responseTime", "datastore", watch_health, a->watches.db},
	    {"amqp:responseTime", "component", watch_health, a->watches.mq},
	    {"amqp:consumers", "component", check_consumers, a},
	    {"ledger:checkpointLag", "component", check_ledger, a},
	    /* last: only with a replica (README "Read replica") */
	    {"mysql:replica", "datastore", replica_health, a->replica},
	};
	daemon_reply_health(req, checks, sizeof checks / sizeof checks[0] - !a->replica);
}
