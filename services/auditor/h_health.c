/* GET /readyz: is the auditor storing, signing and able to answer, as it
 * sees itself (health.h). No authentication; it names no data. */

#include <stdio.h>

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

/* A log's check: this auditor and one log it opened. */
struct log_check {
	struct auditor *a;
	struct ledger *l;
};

/* One log this auditor opened, an instance of ledger:checkpointLag named
 * by its log id: failing when halted or still being read back; for a log
 * it has written (it took the log's lease), the events stored but not yet
 * in a signed checkpoint, warning when the signer is late (with one classic
 * partition, the one auditor writes log 0: always). A log it opened and
 * another auditor writes passes with no value: the lag is that auditor's
 * to report. What this process knows: no database. */
static void check_log(void *arg, struct health_result *out)
{
	const struct log_check *c = arg;
	struct ledger_state st;
	ledger_state(c->l, &st);
	unsigned log = (unsigned)ledger_log(c->l);
	snprintf(out->component_id, sizeof out->component_id, "%u", log);
	if (st.halted) {
		health_set(out, HEALTH_FAIL, "log %u is halted: %s", log, st.halted);
		return;
	}
	if (!st.ready) {
		health_set(out, HEALTH_FAIL, "reading log %u's state back from the database", log);
		return;
	}
	/* Several auditors: only the log's writer knows its lag. */
	if (!ledger_epoch(c->l) && c->a->records != c->a->ledger)
		return;
	uint64_t lag = st.size > st.signed_size ? st.size - st.signed_size : 0;
	out->has_value = true;
	out->value = (double)lag;
	out->unit = "events";
	int64_t bound = (int64_t)c->a->checkpoint_ms * LAG_WARN_FACTOR;
	if (bound < LAG_WARN_MIN_MS)
		bound = LAG_WARN_MIN_MS;
	int64_t age = clock_wall_ms() - st.signed_ms;
	if (lag && age > bound)
		health_set(out, HEALTH_WARN,
		           "log %u: %llu stored events are not in a signed checkpoint; the latest is "
		           "%lld ms old",
		           log, (unsigned long long)lag, (long long)age);
}

void h_readyz(struct http_request *req)
{
	struct auditor *a = http_app(req);
	/* The fixed checks, then one ledger:checkpointLag per log this auditor
	 * opened: the partitions' and its own records'. */
	struct health_check checks[4 + LEDGER_OPEN_MAX] = {
	    {"mysql:responseTime", "datastore", watch_health, a->watches.db},
	    {"amqp:responseTime", "component", watch_health, a->watches.mq},
	    {"amqp:consumers", "component", check_consumers, a},
	};
	struct log_check logs[LEDGER_OPEN_MAX];
	size_t n = 3, k = 0;
	for (unsigned p = 0; p <= a->nlogs && k < LEDGER_OPEN_MAX; p++) {
		struct ledger *l = p < a->nlogs ? a->ledgers[p] : a->records;
		if (!l || (p == a->nlogs && l == a->ledger))
			continue; /* no records log of its own: they are in log 0 */
		logs[k] = (struct log_check){a, l};
		checks[n++] = (struct health_check){"ledger:checkpointLag", "component", check_log,
		                                    &logs[k++]};
	}
	/* last: only with a replica (README "Read replica") */
	if (a->replica)
		checks[n++] = (struct health_check){"mysql:replica", "datastore", replica_health,
		                                    a->replica};
	daemon_reply_health(req, checks, n);
}
