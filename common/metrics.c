#include "metrics.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"

/* Each metric's atomics on a cache line of their own: threads counting
 * different metrics do not slow each other down. */
#define LINE 64

const double metrics_duration_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                           0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                           1,      2.5,     5,      10};
const size_t metrics_duration_nbuckets =
    sizeof metrics_duration_buckets / sizeof metrics_duration_buckets[0];
const double metrics_batch_buckets[] = {1,   2,    5,    10,   20,    50,    100,  200,
                                        500, 1000, 2000, 5000, 10000, 20000, 65535};
const size_t metrics_batch_nbuckets =
    sizeof metrics_batch_buckets / sizeof metrics_batch_buckets[0];

struct metrics_histogram {
	_Atomic uint64_t sum;     /* of the observations, in units */
	_Atomic uint64_t *counts; /* n + 1: counts[i] observations <= limits[i], the last +Inf */
	const uint64_t *limits;   /* the bounds in units */
	const double *bounds;     /* the bounds in the family's unit (shared by the family) */
	size_t n;
	double unit;
};

struct child {
	struct child *next;
	char *labels; /* the escaped pairs without braces (a="x",b="y"), or "" */
	struct metrics_counter *counter;
	struct metrics_gauge *gauge;
	struct metrics_histogram *histogram;
};

struct family {
	struct family *next;
	char *name, *help;
	enum metrics_type type;
	struct child *children, **tail;
	/* histograms: the bounds of every child, and the companion counter */
	double *bounds;
	uint64_t *limits;
	size_t nbounds;
	double unit;
	char *count_name, *count_help;
};

struct collector {
	struct collector *next;
	metrics_collect_fn fn;
	void *ctx;
};

struct metrics_out {
	char *buf;
	size_t len, cap;
	bool failed; /* sticky: one check at the end */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct family *families, **families_tail = &families; /* under lock */
static struct collector *collectors;                         /* under lock */

/* What an out-of-memory registration returns: counts into nothing. */
static struct metrics_counter sink_counter;
static struct metrics_gauge sink_gauge;
static _Atomic uint64_t sink_counts[1];
static struct metrics_histogram sink_histogram = {.counts = sink_counts, .unit = 1};

/* ---- names and escaping ---- */

static bool name_ok(const char *s, bool colon)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || (colon && *s == ':')))
			return false;
	return true;
}

static void misuse(const char *what, const char *name)
{
	log_error("metrics: %s: %s", what, name ? name : "(null)");
	abort();
}

static void out_put(struct metrics_out *o, const char *s, size_t n)
{
	if (o->failed)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 16384;
		while (o->len + n + 1 > cap)
			cap *= 2;
		char *b = realloc(o->buf, cap);
		if (!b) {
			o->failed = true;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void out_str(struct metrics_out *o, const char *s)
{
	out_put(o, s, strlen(s));
}

/* s with \ " and newline escaped as the format wants them: in a label
 * value all three, in HELP text the first and the last. */
static void out_escaped(struct metrics_out *o, const char *s, bool quote)
{
	for (const char *p = s; *p; p++) {
		if (*p == '\\')
			out_str(o, "\\\\");
		else if (*p == '\n')
			out_str(o, "\\n");
		else if (*p == '"' && quote)
			out_str(o, "\\\"");
		else
			out_put(o, p, 1);
	}
}

/* A sample value as Go's strconv.ParseFloat reads it: integers whole,
 * others with 15 significant digits (what a double holds). */
static void format_value(char *buf, size_t cap, double v)
{
	if (isnan(v))
		snprintf(buf, cap, "NaN");
	else if (isinf(v))
		snprintf(buf, cap, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 1e15)
		snprintf(buf, cap, "%.0f", v);
	else
		snprintf(buf, cap, "%.15g", v);
}

static void out_value(struct metrics_out *o, double v)
{
	char buf[40];
	format_value(buf, sizeof buf, v);
	out_str(o, buf);
}

static void out_u64(struct metrics_out *o, uint64_t v)
{
	char buf[24];
	snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
	out_str(o, buf);
}

/* The label pairs of ap (name, value, ..., NULL) as escaped text, checked;
 * NULL when out of memory. */
static char *labels_text(const char *metric, va_list ap)
{
	struct metrics_out o = {0};
	out_put(&o, "", 0);
	const char *key;
	while ((key = va_arg(ap, const char *))) {
		const char *value = va_arg(ap, const char *);
		if (!name_ok(key, false) || !strncmp(key, "__", 2) || !strcmp(key, "le") || !value)
			misuse("a label name that the format refuses, or a label without a value",
			       metric);
		if (o.len)
			out_str(&o, ",");
		out_str(&o, key);
		out_str(&o, "=\"");
		out_escaped(&o, value, true);
		out_str(&o, "\"");
	}
	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	return o.buf;
}

/* ---- registration (under lock) ---- */

static struct family *find_family(const char *name)
{
	for (struct family *f = families; f; f = f->next)
		if (!strcmp(f->name, name))
			return f;
	return NULL;
}

static void family_free(struct family *f)
{
	while (f->children) {
		struct child *c = f->children;
		f->children = c->next;
		free(c->labels);
		free(c->counter);
		free(c->gauge);
		if (c->histogram)
			free((void *)c->histogram->counts);
		free(c->histogram);
		free(c);
	}
	free(f->name);
	free(f->help);
	free(f->bounds);
	free(f->limits);
	free(f->count_name);
	free(f->count_help);
	free(f);
}

/* The family name of type, made (with these bounds, for a histogram) if
 * new; NULL when out of memory. */
static struct family *family_of(const char *name, const char *help, enum metrics_type type,
                                const double *bounds, size_t n, double unit)
{
	if (!name_ok(name, true))
		misuse("a metric name that the format refuses", name);
	if (!help || strchr(help, '\n'))
		misuse("a metric's help must be one line", name);
	struct family *f = find_family(name);
	if (f) {
		if (f->type != type)
			misuse("a metric registered again with another type", name);
		return f;
	}
	if (!(f = calloc(1, sizeof *f)))
		return NULL;
	f->type = type;
	f->tail = &f->children;
	f->name = strdup(name);
	f->help = strdup(help);
	if (type == METRICS_HISTOGRAM) {
		if (n == 0 || !(unit > 0))
			misuse("a histogram needs buckets and a unit", name);
		f->nbounds = n;
		f->unit = unit;
		f->bounds = malloc(n * sizeof *f->bounds);
		f->limits = malloc(n * sizeof *f->limits);
		for (size_t i = 0; f->bounds && f->limits && i < n; i++) {
			if (i && !(bounds[i] > bounds[i - 1]))
				misuse("a histogram's bounds must increase", name);
			f->bounds[i] = bounds[i];
			f->limits[i] = (uint64_t)llround(bounds[i] / unit);
		}
	}
	if (!f->name || !f->help || (type == METRICS_HISTOGRAM && (!f->bounds || !f->limits))) {
		family_free(f);
		return NULL;
	}
	*families_tail = f;
	families_tail = &f->next;
	return f;
}

static void *aligned_zero(size_t size)
{
	size = (size + LINE - 1) / LINE * LINE;
	void *p = aligned_alloc(LINE, size);
	if (p)
		memset(p, 0, size);
	return p;
}

/* The child of f with labels (taken), made if new; NULL when out of
 * memory. */
static struct child *child_of(struct family *f, char *labels)
{
	if (!labels)
		return NULL;
	for (struct child *c = f->children; c; c = c->next)
		if (!strcmp(c->labels, labels)) {
			free(labels);
			return c;
		}
	struct child *c = calloc(1, sizeof *c);
	if (!c) {
		free(labels);
		return NULL;
	}
	c->labels = labels;
	bool ok;
	switch (f->type) {
	case METRICS_COUNTER:
		ok = (c->counter = aligned_zero(sizeof *c->counter)) != NULL;
		break;
	case METRICS_GAUGE:
		ok = (c->gauge = aligned_zero(sizeof *c->gauge)) != NULL;
		break;
	default:
		ok = (c->histogram = aligned_zero(sizeof *c->histogram)) != NULL &&
		     (c->histogram->counts = aligned_zero((f->nbounds + 1) * sizeof(uint64_t)));
		if (ok) {
			c->histogram->limits = f->limits;
			c->histogram->bounds = f->bounds;
			c->histogram->n = f->nbounds;
			c->histogram->unit = f->unit;
		}
		break;
	}
	if (!ok) {
		if (c->histogram)
			free((void *)c->histogram->counts);
		free(c->histogram);
		free(c->labels);
		free(c);
		return NULL;
	}
	*f->tail = c;
	f->tail = &c->next;
	return c;
}

static struct child *lookup(const char *name, const char *help, enum metrics_type type,
                            const double *bounds, size_t n, double unit, va_list ap)
{
	char *labels = labels_text(name, ap);
	pthread_mutex_lock(&lock);
	struct family *f = family_of(name, help, type, bounds, n, unit);
	struct child *c = f ? child_of(f, labels) : NULL;
	if (!f)
		free(labels);
	pthread_mutex_unlock(&lock);
	if (!c)
		log_error("metrics: out of memory registering %s; it counts nothing", name);
	return c;
}

struct metrics_counter *metrics_counter(const char *name, const char *help, ...)
{
	va_list ap;
	va_start(ap, help);
	struct child *c = lookup(name, help, METRICS_COUNTER, NULL, 0, 0, ap);
	va_end(ap);
	return c ? c->counter : &sink_counter;
}

struct metrics_gauge *metrics_gauge(const char *name, const char *help, ...)
{
	va_list ap;
	va_start(ap, help);
	struct child *c = lookup(name, help, METRICS_GAUGE, NULL, 0, 0, ap);
	va_end(ap);
	return c ? c->gauge : &sink_gauge;
}

struct metrics_histogram *metrics_histogram(const char *name, const char *help,
                                            const double *bounds, size_t n, double unit, ...)
{
	va_list ap;
	va_start(ap, unit);
	struct child *c = lookup(name, help, METRICS_HISTOGRAM, bounds, n, unit, ap);
	va_end(ap);
	return c ? c->histogram : &sink_histogram;
}

void metrics_histogram_counter(const char *histogram, const char *counter, const char *help)
{
	if (!name_ok(counter, true) || !help || strchr(help, '\n'))
		misuse("a counter name or help that the format refuses", counter);
	pthread_mutex_lock(&lock);
	struct family *f = find_family(histogram);
	if (!f || f->type != METRICS_HISTOGRAM)
		misuse("no such histogram", histogram);
	if (!f->count_name) {
		f->count_name = strdup(counter);
		f->count_help = strdup(help);
		if (!f->count_name || !f->count_help) {
			free(f->count_name);
			free(f->count_help);
			f->count_name = f->count_help = NULL;
			log_error("metrics: out of memory registering %s", counter);
		}
	}
	pthread_mutex_unlock(&lock);
}

/* ---- updates ---- */

void metrics_observe(struct metrics_histogram *h, uint64_t v)
{
	size_t i = 0;
	while (i < h->n && v > h->limits[i])
		i++;
	atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
}

uint64_t metrics_histogram_count(const struct metrics_histogram *h)
{
	uint64_t n = 0;
	for (size_t i = 0; i <= h->n; i++)
		n += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
	return n;
}

/* ---- collectors ---- */

void metrics_collector_add(metrics_collect_fn fn, void *ctx)
{
	struct collector *c = malloc(sizeof *c);
	if (!c) {
		log_error("metrics: out of memory adding a collector; its metrics are left out");
		return;
	}
	*c = (struct collector){.fn = fn, .ctx = ctx};
	pthread_mutex_lock(&lock);
	struct collector **p = &collectors;
	while (*p)
		p = &(*p)->next;
	*p = c; /* in the order added, so the exposition's order is stable */
	pthread_mutex_unlock(&lock);
}

void metrics_collector_remove(metrics_collect_fn fn, void *ctx)
{
	pthread_mutex_lock(&lock);
	for (struct collector **p = &collectors; *p; p = &(*p)->next)
		if ((*p)->fn == fn && (*p)->ctx == ctx) {
			struct collector *c = *p;
			*p = c->next;
			free(c);
			break;
		}
	pthread_mutex_unlock(&lock);
}

void metrics_out_family(struct metrics_out *out, const char *name, const char *help,
                        enum metrics_type type)
{
	static const char *const types[] = {"counter", "gauge", "histogram"};
	out_str(out, "# HELP ");
	out_str(out, name);
	out_str(out, " ");
	out_escaped(out, help, false);
	out_str(out, "\n# TYPE ");
	out_str(out, name);
	out_str(out, " ");
	out_str(out, types[type]);
	out_str(out, "\n");
}

/* name{labels,extra} where either may be empty. */
static void out_series(struct metrics_out *o, const char *name, const char *suffix,
                       const char *labels, const char *extra)
{
	out_str(o, name);
	out_str(o, suffix);
	if (!labels[0] && !extra[0])
		return;
	out_str(o, "{");
	out_str(o, labels);
	if (labels[0] && extra[0])
		out_str(o, ",");
	out_str(o, extra);
	out_str(o, "}");
}

void metrics_out_sample(struct metrics_out *out, const char *name, double value, ...)
{
	va_list ap;
	va_start(ap, value);
	char *labels = labels_text(name, ap);
	va_end(ap);
	if (!labels) {
		out->failed = true;
		return;
	}
	out_series(out, name, "", labels, "");
	out_str(out, " ");
	out_value(out, value);
	out_str(out, "\n");
	free(labels);
}

void metrics_out_gauge(struct metrics_out *out, const char *name, const char *help, double value)
{
	metrics_out_family(out, name, help, METRICS_GAUGE);
	metrics_out_sample(out, name, value, NULL);
}

void metrics_out_counter(struct metrics_out *out, const char *name, const char *help, double value)
{
	metrics_out_family(out, name, help, METRICS_COUNTER);
	metrics_out_sample(out, name, value, NULL);
}

/* ---- exposition (under lock) ---- */

static void render_histogram(struct metrics_out *o, const struct family *f)
{
	size_t nchildren = 0;
	for (const struct child *c = f->children; c; c = c->next)
		nchildren++;
	/* Each child's buckets read once, so that its _count, its +Inf bucket
	 * and its companion counter agree. */
	uint64_t *totals = calloc(nchildren + 1, sizeof *totals);
	uint64_t *cum = malloc((f->nbounds + 1) * sizeof *cum);
	if (!totals || !cum) {
		o->failed = true;
		goto out;
	}
	bool shown = false;
	size_t k = 0;
	for (const struct child *c = f->children; c; c = c->next, k++) {
		const struct metrics_histogram *h = c->histogram;
		uint64_t run = 0;
		for (size_t i = 0; i <= h->n; i++)
			cum[i] = run += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
		totals[k] = run;
		if (c->labels[0] && !run)
			continue; /* a labelled child appears once used */
		if (!shown)
			metrics_out_family(o, f->name, f->help, METRICS_HISTOGRAM);
		shown = true;
		for (size_t i = 0; i <= h->n; i++) {
			char le[48] = "le=\"+Inf\"";
			if (i < h->n) {
				char v[40];
				format_value(v, sizeof v, h->bounds[i]);
				snprintf(le, sizeof le, "le=\"%s\"", v);
			}
			out_series(o, f->name, "_bucket", c->labels, le);
			out_str(o, " ");
			out_u64(o, cum[i]);
			out_str(o, "\n");
		}
		out_series(o, f->name, "_sum", c->labels, "");
		out_str(o, " ");
		out_value(o, (double)atomic_load_explicit(&h->sum, memory_order_relaxed) * h->unit);
		out_str(o, "\n");
		out_series(o, f->name, "_count", c->labels, "");
		out_str(o, " ");
		out_u64(o, run);
		out_str(o, "\n");
	}
	if (!f->count_name || !shown)
		goto out;
	metrics_out_family(o, f->count_name, f->count_help, METRICS_COUNTER);
	k = 0;
	for (const struct child *c = f->children; c; c = c->next, k++) {
		if (c->labels[0] && !totals[k])
			continue;
		out_series(o, f->count_name, "", c->labels, "");
		out_str(o, " ");
		out_u64(o, totals[k]);
		out_str(o, "\n");
	}
out:
	free(totals);
	free(cum);
}

static void render_family(struct metrics_out *o, const struct family *f)
{
	if (f->type == METRICS_HISTOGRAM) {
		render_histogram(o, f);
		return;
	}
	metrics_out_family(o, f->name, f->help, f->type);
	for (const struct child *c = f->children; c; c = c->next) {
		out_series(o, f->name, "", c->labels, "");
		out_str(o, " ");
		if (f->type == METRICS_COUNTER) {
			out_u64(o, atomic_load_explicit(&c->counter->value, memory_order_relaxed));
		} else {
			char buf[24];
			snprintf(buf, sizeof buf, "%lld",
			         (long long)atomic_load_explicit(&c->gauge->value,
			                                         memory_order_relaxed));
			out_str(o, buf);
		}
		out_str(o, "\n");
	}
}

/* The nth (1-based, as proc(5) numbers them) field of /proc/self/stat,
 * whose second field (the command, in parentheses) may hold spaces. */
static bool stat_fields(unsigned long long *out, const unsigned *which, size_t n)
{
	char line[1024];
	FILE *f = fopen("/proc/self/stat", "r");
	bool ok = f && fgets(line, sizeof line, f);
	if (f)
		fclose(f);
	char *p = ok ? strrchr(line, ')') : NULL;
	if (!p)
		return false;
	unsigned field = 2;
	char *save = NULL;
	for (char *tok = strtok_r(p + 1, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		field++;
		for (size_t i = 0; i < n; i++)
			if (which[i] == field)
				out[i] = strtoull(tok, NULL, 10);
	}
	return field >= which[n - 1];
}

static bool boot_time(unsigned long long *btime)
{
	char line[256];
	FILE *f = fopen("/proc/stat", "r");
	bool found = false;
	while (f && !found && fgets(line, sizeof line, f))
		found = sscanf(line, "btime %llu", btime) == 1;
	if (f)
		fclose(f);
	return found;
}

static long open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d))
			n++;
	closedir(d);
	return n;
}

/* The process_* metrics every Prometheus client library exposes. */
static void render_process(struct metrics_out *o)
{
	/* proc(5): utime, stime, starttime in clock ticks; vsize in bytes; rss
	 * in pages. */
	static const unsigned which[] = {14, 15, 22, 23, 24};
	unsigned long long v[5] = {0}, btime;
	double tick = (double)sysconf(_SC_CLK_TCK);
	if (stat_fields(v, which, 5) && tick > 0) {
		metrics_out_counter(o, "process_cpu_seconds_total",
		                    "Total user and system CPU time spent in seconds.",
		                    (double)(v[0] + v[1]) / tick);
		metrics_out_gauge(o, "process_resident_memory_bytes",
		                  "Resident memory size in bytes.",
		                  (double)v[4] * (double)sysconf(_SC_PAGESIZE));
		metrics_out_gauge(o, "process_virtual_memory_bytes",
		                  "Virtual memory size in bytes.", (double)v[3]);
		if (boot_time(&btime))
			metrics_out_gauge(o, "process_start_time_seconds",
			                  "Start time of the process since unix epoch in seconds.",
			                  (double)btime + (double)v[2] / tick);
	}
	long fds = open_fds();
	if (fds >= 0)
		metrics_out_gauge(o, "process_open_fds", "Number of open file descriptors.",
		                  (double)fds);
	struct rlimit rl;
	if (!getrlimit(RLIMIT_NOFILE, &rl))
		metrics_out_gauge(o, "process_max_fds", "Maximum number of open file descriptors.",
		                  rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur);
}

char *metrics_render(size_t *len)
{
	struct metrics_out o = {0};
	out_put(&o, "", 0);
	pthread_mutex_lock(&lock);
	for (const struct family *f = families; f; f = f->next)
		render_family(&o, f);
	for (const struct collector *c = collectors; c; c = c->next)
		c->fn(&o, c->ctx);
	pthread_mutex_unlock(&lock);
	render_process(&o);
	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	*len = o.len;
	return o.buf;
}

void metrics_reset(void)
{
	pthread_mutex_lock(&lock);
	while (families) {
		struct family *f = families;
		families = f->next;
		family_free(f);
	}
	families_tail = &families;
	while (collectors) {
		struct collector *c = collectors;
		collectors = c->next;
		free(c);
	}
	pthread_mutex_unlock(&lock);
}
