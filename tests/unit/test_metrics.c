/* metrics: the text format 0.0.4 as Prometheus parses it (HELP and TYPE
 * before each family's samples, label values and help escaped, +Inf,
 * cumulative _bucket lines with _sum and _count), histogram bucketing at
 * and around the bounds, labelled children hidden until used, collectors,
 * the process_* metrics, and exact counts under concurrent updates. */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "testhelp.h"

static char *render(void)
{
	size_t len = 0;
	char *s = metrics_render(&len);
	CHECK(s != NULL);
	CHECK_INT(len, s ? strlen(s) : 0);
	return s ? s : strdup("");
}

/* Whether text holds line as a whole line. */
static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

/* The structure a Prometheus parser insists on: every sample belongs to the
 * family whose TYPE line came last (a histogram's with _bucket, _sum or
 * _count), HELP comes right before TYPE, and no family appears twice. */
static void check_structure(const char *text)
{
	char family[256] = "", type[32] = "", seen[8192] = " ";
	char *copy = strdup(text), *save = NULL;
	bool help_pending = false;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[256];
		if (!strncmp(line, "# HELP ", 7)) {
			CHECK(!help_pending);
			CHECK(sscanf(line + 7, "%255s", name) == 1);
			help_pending = true;
			snprintf(family, sizeof family, "%s", name);
			continue;
		}
		if (!strncmp(line, "# TYPE ", 7)) {
			CHECK(help_pending);
			help_pending = false;
			CHECK(sscanf(line + 7, "%255s %31s", name, type) == 2);
			CHECK_STR(name, family);
			char key[260];
			snprintf(key, sizeof key, " %s ", name);
			CHECK(strstr(seen, key) == NULL); /* each family once */
			strncat(seen, key + 1, sizeof seen - strlen(seen) - 1);
			continue;
		}
		CHECK(!help_pending);
		size_t n = strcspn(line, "{ ");
		snprintf(name, sizeof name, "%.*s", (int)n, line);
		if (!strcmp(type, "histogram")) {
			size_t fl = strlen(family);
			CHECK(!strncmp(name, family, fl));
			CHECK(!strcmp(name + fl, "_bucket") || !strcmp(name + fl, "_sum") ||
			      !strcmp(name + fl, "_count"));
		} else {
			CHECK_STR(name, family);
		}
		if (!strcmp(type, "counter"))
			CHECK(n > 6 && !strcmp(name + n - 6, "_total"));
	}
	free(copy);
}

static void test_counters_and_escaping(void)
{
	metrics_reset();
	struct metrics_counter *a = metrics_counter(
	    "t_events_total", "Events, with a \\ and a\xc3\xa9.", "action", "viewed", NULL);
	struct metrics_counter *b =
	    metrics_counter("t_events_total", "ignored", "action", "a\\b\"c\nd", NULL);
	CHECK(a != b);
	CHECK(metrics_counter("t_events_total", "x", "action", "viewed", NULL) == a);
	struct metrics_counter *plain = metrics_counter("t_plain_total", "Plain.", NULL);
	metrics_inc(a);
	metrics_add(a, 41);
	metrics_add(b, 7);
	struct metrics_gauge *g = metrics_gauge("t_backlog_bytes", "Backlog.", NULL);
	metrics_gauge_add(g, 5);
	metrics_gauge_add(g, -8);
	char *s = render();
	CHECK(has_line(s, "# HELP t_events_total Events, with a \\\\ and a\xc3\xa9."));
	CHECK(has_line(s, "# TYPE t_events_total counter"));
	CHECK(has_line(s, "t_events_total{action=\"viewed\"} 42"));
	CHECK(has_line(s, "t_events_total{action=\"a\\\\b\\\"c\\nd\"} 7"));
	CHECK(has_line(s, "t_plain_total 0")); /* unlabelled and unused: shown at 0 */
	CHECK(has_line(s, "# TYPE t_backlog_bytes gauge"));
	CHECK(has_line(s, "t_backlog_bytes -3"));
	/* Families in the order registered, each once. */
	CHECK(strstr(s, "t_events_total") < strstr(s, "t_plain_total"));
	check_structure(s);
	(void)plain;
	free(s);
}

static void test_histogram_buckets(void)
{
	metrics_reset();
	static const double sizes[] = {1, 2, 5};
	struct metrics_histogram *h =
	    metrics_histogram("t_batch_events", "Batch sizes.", sizes, 3, 1, NULL);
	/* le means "less than or equal": a value on a bound is in its bucket. */
	unsigned long long values[] = {0, 1, 2, 3, 5, 6};
	for (size_t i = 0; i < 6; i++)
		metrics_observe(h, values[i]);
	CHECK_INT(metrics_histogram_count(h), 6);
	char *s = render();
	CHECK(has_line(s, "# TYPE t_batch_events histogram"));
	CHECK(has_line(s, "t_batch_events_bucket{le=\"1\"} 2"));
	CHECK(has_line(s, "t_batch_events_bucket{le=\"2\"} 3"));
	CHECK(has_line(s, "t_batch_events_bucket{le=\"5\"} 5"));
	CHECK(has_line(s, "t_batch_events_bucket{le=\"+Inf\"} 6"));
	CHECK(has_line(s, "t_batch_events_sum 17"));
	CHECK(has_line(s, "t_batch_events_count 6"));
	check_structure(s);
	free(s);

	/* Durations observed in nanoseconds, exposed in seconds. */
	struct metrics_histogram *d =
	    metrics_histogram("t_duration_seconds", "Durations.", metrics_duration_buckets,
	                      metrics_duration_nbuckets, METRICS_NS, NULL);
	metrics_observe(d, 100000);         /* 100 µs: on the first bound */
	metrics_observe(d, 100001);         /* just over it */
	metrics_observe(d, 20000000000ull); /* 20 s: only +Inf */
	s = render();
	CHECK(has_line(s, "t_duration_seconds_bucket{le=\"0.0001\"} 1"));
	CHECK(has_line(s, "t_duration_seconds_bucket{le=\"0.00025\"} 2"));
	CHECK(has_line(s, "t_duration_seconds_bucket{le=\"10\"} 2"));
	CHECK(has_line(s, "t_duration_seconds_bucket{le=\"+Inf\"} 3"));
	CHECK(has_line(s, "t_duration_seconds_sum 20.000200001"));
	CHECK(has_line(s, "t_duration_seconds_count 3"));
	check_structure(s);
	free(s);
}

static void test_labelled_histograms(void)
{
	metrics_reset();
	static const double b[] = {0.5};
	struct metrics_histogram *ok =
	    metrics_histogram("t_request_duration_seconds", "Requests.", b, 1, METRICS_NS, "route",
	                      "/a/:id", "status", "2xx", NULL);
	struct metrics_histogram *bad =
	    metrics_histogram("t_request_duration_seconds", "Requests.", b, 1, METRICS_NS, "route",
	                      "/a/:id", "status", "5xx", NULL);
	metrics_histogram_counter("t_request_duration_seconds", "t_requests_total", "Requests.");
	char *s = render();
	/* Nothing used yet: neither family appears. */
	CHECK(strstr(s, "t_request") == NULL);
	free(s);
	metrics_observe(ok, 1000);
	metrics_observe(ok, 2000000000);
	s = render();
	CHECK(has_line(s, "t_request_duration_seconds_bucket{route=\"/a/:id\",status=\"2xx\","
	                  "le=\"0.5\"} 1"));
	CHECK(has_line(s, "t_request_duration_seconds_bucket{route=\"/a/:id\",status=\"2xx\","
	                  "le=\"+Inf\"} 2"));
	CHECK(has_line(s, "t_request_duration_seconds_count{route=\"/a/:id\",status=\"2xx\"} 2"));
	CHECK(has_line(s, "# TYPE t_requests_total counter"));
	CHECK(has_line(s, "t_requests_total{route=\"/a/:id\",status=\"2xx\"} 2"));
	CHECK(strstr(s, "5xx") == NULL); /* unused: hidden */
	check_structure(s);
	free(s);
	metrics_observe(bad, 1);
	s = render();
	CHECK(has_line(s, "t_requests_total{route=\"/a/:id\",status=\"5xx\"} 1"));
	check_structure(s);
	free(s);
}

static void collect(struct metrics_out *out, void *ctx)
{
	const double *v = ctx;
	metrics_out_gauge(out, "t_lag_events", "Lag.", v[0]);
	metrics_out_family(out, "t_ratio", "Odd values.", METRICS_GAUGE);
	metrics_out_sample(out, "t_ratio", v[1], "kind", "half", NULL);
	metrics_out_sample(out, "t_ratio", INFINITY, "kind", "inf", NULL);
	metrics_out_sample(out, "t_ratio", NAN, "kind", "nan", NULL);
	metrics_out_counter(out, "t_seen_total", "Seen.", 12345678901.0);
}

static void test_collectors_and_process(void)
{
	metrics_reset();
	double values[] = {7, 0.0001};
	metrics_collector_add(collect, values);
	char *s = render();
	CHECK(has_line(s, "t_lag_events 7"));
	CHECK(has_line(s, "t_ratio{kind=\"half\"} 0.0001"));
	CHECK(has_line(s, "t_ratio{kind=\"inf\"} +Inf"));
	CHECK(has_line(s, "t_ratio{kind=\"nan\"} NaN"));
	CHECK(has_line(s, "t_seen_total 12345678901"));
	/* The process_* metrics, after everything else. */
	CHECK(has_line(s, "# TYPE process_cpu_seconds_total counter"));
	CHECK(has_line(s, "# TYPE process_resident_memory_bytes gauge"));
	CHECK(has_line(s, "# TYPE process_virtual_memory_bytes gauge"));
	CHECK(has_line(s, "# TYPE process_open_fds gauge"));
	CHECK(has_line(s, "# TYPE process_max_fds gauge"));
	CHECK(has_line(s, "# TYPE process_start_time_seconds gauge"));
	const char *rss = strstr(s, "\nprocess_resident_memory_bytes ");
	CHECK(rss && atof(rss + 31) > 100000);
	const char *start = strstr(s, "\nprocess_start_time_seconds ");
	CHECK(start && atof(start + 28) > 1.6e9); /* after 2020, in seconds */
	check_structure(s);
	free(s);
	values[0] = 8;
	s = render();
	CHECK(has_line(s, "t_lag_events 8")); /* read at every scrape */
	free(s);
	metrics_collector_remove(collect, values);
	s = render();
	CHECK(strstr(s, "t_lag_events") == NULL);
	free(s);
}

#define THREADS 4
#define ROUNDS  100000

struct shared {
	struct metrics_counter *c;
	struct metrics_histogram *h;
};

static void *hammer(void *arg)
{
	struct shared *sh = arg;
	for (unsigned i = 0; i < ROUNDS; i++) {
		metrics_inc(sh->c);
		metrics_observe(sh->h, i % 3);
	}
	return NULL;
}

static void test_concurrent_updates(void)
{
	metrics_reset();
	static const double b[] = {0, 1};
	struct shared sh = {metrics_counter("t_hits_total", "Hits.", NULL),
	                    metrics_histogram("t_spread", "Spread.", b, 2, 1, NULL)};
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, hammer, &sh);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	char *s = render();
	char want[128];
	snprintf(want, sizeof want, "t_hits_total %d", THREADS * ROUNDS);
	CHECK(has_line(s, want));
	snprintf(want, sizeof want, "t_spread_count %d", THREADS * ROUNDS);
	CHECK(has_line(s, want));
	/* i % 3 over 0..99999: 33,334 zeros, 33,333 ones, 33,333 twos. */
	snprintf(want, sizeof want, "t_spread_bucket{le=\"0\"} %d", THREADS * 33334);
	CHECK(has_line(s, want));
	snprintf(want, sizeof want, "t_spread_bucket{le=\"1\"} %d", THREADS * 66667);
	CHECK(has_line(s, want));
	snprintf(want, sizeof want, "t_spread_sum %d", THREADS * (33333 + 2 * 33333));
	CHECK(has_line(s, want));
	free(s);
}

int main(void)
{
	test_counters_and_escaping();
	test_histogram_buckets();
	test_labelled_histograms();
	test_collectors_and_process();
	test_concurrent_updates();
	metrics_reset();
	return test_report("metrics");
}
