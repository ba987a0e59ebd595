/* metrics: the process's Prometheus metrics, and their exposition in the
 * text format 0.0.4 (prometheus.io/docs/instrumenting/exposition_formats).
 *
 * One registry per process, as client libraries have a default registry.
 * A module registers its metrics once, at start (each call returns the
 * same metric for the same name and labels), keeps the pointers, and
 * updates them where the thing happens:
 *
 *   - counters and gauges are one atomic word each, updated with a relaxed
 *     atomic add: no lock and no allocation on the hot path (an HTTP
 *     request pays a few atomic adds and two clock reads);
 *   - histograms have fixed buckets, observed as integers in a unit of the
 *     caller's (nanoseconds for durations exposed in seconds, 1 for sizes
 *     exposed as they are); each bucket counts its own observations and
 *     the exposition makes them cumulative;
 *   - labels are fixed when a metric is registered (one counter per route
 *     and status class, made from the route table at start), so the hot
 *     path never looks a label up.
 *
 * Collectors are callbacks that write, at scrape time, what is cheaper to
 * read then than to count as it happens (a backlog, a size, a module's own
 * counts kept under its own lock): a module registers one with
 * metrics_collector_add and writes with metrics_out_*. Every exposition
 * ends with the process_* metrics of client libraries, read from
 * /proc/self.
 *
 * Names follow Prometheus' conventions: snake_case, our own prefixed
 * auditlog_, counters ending in _total, base units (seconds, bytes) named
 * in the name. A name or label that breaks the format, or a name
 * registered again with another type, is a programming error: logged and
 * the process aborts, as config_str does for an unknown setting.
 *
 * Memory: the registry owns every metric for the life of the process
 * (reachable from it, so leak checkers stay quiet); pointers it returns
 * never dangle. Thread-safe: registration and exposition take the
 * registry's mutex, updates take nothing. */
#ifndef AUDITLOG_METRICS_H
#define AUDITLOG_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

struct metrics_counter {
	_Atomic uint64_t value;
};

struct metrics_gauge {
	_Atomic int64_t value;
};

struct metrics_histogram;

/* The registry's metric for name (and the label pairs that follow: name,
 * value, name, value, ..., NULL; values are copied and escaped). help is
 * the family's, one line, kept from its first registration. Never NULL:
 * out of memory, a metric that counts into nothing is returned (and
 * logged), so hot paths need no check. */
struct metrics_counter *metrics_counter(const char *name, const char *help, ...)
    __attribute__((sentinel));
struct metrics_gauge *metrics_gauge(const char *name, const char *help, ...)
    __attribute__((sentinel));

/* A histogram whose buckets' upper bounds are bounds[0] < ... <
 * bounds[n-1] (the exposition adds +Inf), in the family's unit; each
 * observation is an integer count of `unit` of them (unit 1e-9 with bounds
 * in seconds: observations in nanoseconds). Labelled children appear in
 * the exposition from their first observation, as client libraries' do,
 * so a route table's every route times every status class costs nothing
 * until used; an unlabelled histogram always appears. */
struct metrics_histogram *metrics_histogram(const char *name, const char *help,
                                            const double *bounds, size_t n, double unit, ...)
    __attribute__((sentinel));

/* Also exposes each child of the histogram family `histogram` as a sample
 * of the counter family `counter` (its count of observations, with its
 * labels): "requests_total" beside "request_duration_seconds" at no cost
 * on the hot path. Call after the histogram family is registered. */
void metrics_histogram_counter(const char *histogram, const char *counter, const char *help);

/* Bucket sets shared by the daemons. Durations (in seconds, observed in
 * nanoseconds): 100 µs to 10 s, since a GET takes about 70 µs and a batch's
 * commit a few ms. Batch sizes (in events): 1 to 65535, the batch's cap. */
#define METRICS_NS 1e-9
extern const double metrics_duration_buckets[];
extern const size_t metrics_duration_nbuckets;
extern const double metrics_batch_buckets[];
extern const size_t metrics_batch_nbuckets;

static inline void metrics_inc(struct metrics_counter *c)
{
	atomic_fetch_add_explicit(&c->value, 1, memory_order_relaxed);
}

static inline void metrics_add(struct metrics_counter *c, uint64_t n)
{
	atomic_fetch_add_explicit(&c->value, n, memory_order_relaxed);
}

static inline void metrics_gauge_add(struct metrics_gauge *g, int64_t n)
{
	atomic_fetch_add_explicit(&g->value, n, memory_order_relaxed);
}

static inline void metrics_gauge_set(struct metrics_gauge *g, int64_t v)
{
	atomic_store_explicit(&g->value, v, memory_order_relaxed);
}

/* Counts one observation of v units (see metrics_histogram): lock-free. */
void metrics_observe(struct metrics_histogram *h, uint64_t v);
/* Observations so far (the sum of its buckets). */
uint64_t metrics_histogram_count(const struct metrics_histogram *h);

/* ---- collectors ---- */

struct metrics_out;
typedef void (*metrics_collect_fn)(struct metrics_out *out, void *ctx);

/* Calls fn(out, ctx) at every exposition, after the registered metrics,
 * until removed; runs on the scraping thread with the registry's mutex
 * held, so it must be quick and must not register metrics. ctx is
 * borrowed until metrics_collector_remove(fn, ctx) returns (which waits
 * for an exposition under way). Out of memory it is left out (logged). */
void metrics_collector_add(metrics_collect_fn fn, void *ctx);
void metrics_collector_remove(metrics_collect_fn fn, void *ctx);

/* Within a collector: the HELP and TYPE lines of a family, then its
 * samples (name, value, then label pairs, NULL-ended). A family's samples
 * must follow its lines, and no family may be written twice in one
 * exposition. */
void metrics_out_family(struct metrics_out *out, const char *name, const char *help,
                        enum metrics_type type);
void metrics_out_sample(struct metrics_out *out, const char *name, double value, ...)
    __attribute__((sentinel));
/* A family of one unlabelled sample: both lines and the sample. */
void metrics_out_gauge(struct metrics_out *out, const char *name, const char *help, double value);
void metrics_out_counter(struct metrics_out *out, const char *name, const char *help, double value);

/* ---- exposition ---- */

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The text format 0.0.4 of every metric, every collector's, and the
 * process_* metrics: a NUL-terminated buffer (*len bytes without the NUL)
 * for the caller to free(), or NULL when out of memory. */
char *metrics_render(size_t *len);

/* For unit tests only: forgets every metric and collector (pointers
 * returned before dangle from here on). */
void metrics_reset(void);

#endif
