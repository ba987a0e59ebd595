/* loadgen: the benchmarks' load that wrk cannot make.
 *
 *   loadgen publish URL N [--batch B] [--window W] [common options]
 *       publishes N valid synthetic events to exchange api-stream with
 *       routing key api.data.mutated, B per message (a JSON array when
 *       B > 1; the auditor takes 1..200), persistent, with publisher
 *       confirms and a sliding window of W unconfirmed messages. Declares
 *       the topology first, so the queue exists even before an auditor ran:
 *       AUDITLOG_PARTITIONS and AUDITLOG_QUEUE_TYPE as the daemons take them;
 *       with several partitions, message m goes to partition m mod P (its
 *       events' targets are not those of the partition: a drain's load).
 *   loadgen fill-db N [--batch B] [--threads T] [common options]
 *       writes N events straight into the auditor's database through the
 *       auditor's own store_insert_batch, B events per transaction, from T
 *       threads (one connection each). Connection from AUDITLOG_MYSQL_HOST/PORT and AUDITLOG_AUDITOR_MYSQL_*
 *       and AUDITLOG_AUDITOR_DB, with the daemons' defaults.
 *
 *   loadgen queue URL
 *       prints "messages N consumers M" for the audit queue (passive
 *       declare: exit 1 if it does not exist)
 *
 *   common options:
 *       --hot-share F   share of events whose actor is users:<hot>, and
 *                       (independently) whose target is users:<hot> (0.06)
 *       --hot-target-share F
 *                       the target's share alone (default: --hot-share), so
 *                       that one actor may act on many targets
 *       --hot NAME      the hot id (hot)
 *       --actors A      other actors users:1..A (1000)
 *       --targets T     other targets users:1..T (2000)
 *       --changed F     share of "changed" events carrying changes (0.1);
 *                       the rest are "viewed"
 *       --rich 1        every action (70% viewed, 20% changed with one or two
 *                       of name, email, agreedTos, 5% created and 5% deleted
 *                       with all three), one event in ten named n1 or n2: the
 *                       filters' benchmark
 *       --history 1     (fill-db) N versions of one target, users:<hot>-history,
 *                       one every 10 ms ending a minute ago: created, then one
 *                       change of name or email each; one thread, in order
 *       --versions V    give every event a targetVersion, 1..V at random (0: none,
 *                       the default): the writer then keeps version spans
 *       --pad BYTES     make every event "changed", its change "pad" holding
 *                       a prev value of about BYTES of JSON, shaped by
 *       --pad-shape S   string (one string: parses to about its size), ints
 *                       ([0,0,...]: about 20 times its size) or objects
 *                       ([{},{},...]: about 80 times); for the auditor's
 *                       memory benchmark
 *
 * Both print one summary line ending in "<rate> events/s" (publish) or
 * "<rate> rows/s" (fill-db), which bench.py reads. Exit status 0 only if
 * every event was confirmed by the broker or stored. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auditor.h"
#include "event.h"
#include "log.h"
#include "mq.h"
#include "tools.h"

struct gen_opts {
	double hot_share, changed_share;
	double hot_target_share; /* < 0: hot_share */
	const char *hot;
	unsigned long actors, targets;
	json_t *pad; /* the prev value of every event's change, or NULL */
	bool rich;   /* every action, event names, several fields (--rich) */
	bool history; /* fill-db writes the history of users:<hot>-history (--history) */
	unsigned long versions; /* targetVersion 1..versions at random; 0: none (--versions) */
	int64_t history_base; /* its first event's time, ms; one event every 10 ms */
};

/* About bytes of JSON of the given shape; NULL for an unknown shape. */
static json_t *make_pad(unsigned long bytes, const char *shape)
{
	if (!strcmp(shape, "string")) {
		char *s = malloc(bytes + 1);
		if (!s)
			return NULL;
		memset(s, 'x', bytes);
		s[bytes] = '\0';
		json_t *v = json_string(s);
		free(s);
		return v;
	}
	bool ints = !strcmp(shape, "ints");
	if (!ints && strcmp(shape, "objects"))
		return NULL;
	json_t *a = json_array();
	for (unsigned long n = 0; a && n < bytes; n += ints ? 2 : 3)
		json_array_append_new(a, ints ? json_integer(0) : json_object());
	return a;
}


static double rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) / 9007199254740992.0;
}

static void rng_seed(struct rng *r, uint64_t salt)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	r->s = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40) ^
	       (salt * 0xD1B54A32D192ED03ull);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --rich: 70% viewed, 20% changed (one or two of name, email, agreedTos),
 * 5% created and 5% deleted (all three), one in ten named n1 or n2. */
static int make_rich(struct event *ev, const char *a, const char *t, struct rng *r)
{
	static const char *const fields[] = {"name", "email", "agreedTos"};
	double u = rng_unit(r);
	enum event_action action = u < 0.70   ? EVENT_VIEWED
	                           : u < 0.90 ? EVENT_CHANGED
	                           : u < 0.95 ? EVENT_CREATED
	                                      : EVENT_DELETED;
	json_t *changes = NULL;
	if (action != EVENT_VIEWED) {
		changes = json_object();
		unsigned first = (unsigned)(rng_next(r) % 3), n = action == EVENT_CHANGED
		                                                      ? 1 + (unsigned)(rng_next(r) % 2)
		                                                      : 3;
		for (unsigned k = 0; changes && k < n; k++) {
			char prev[32], next[32];
			snprintf(prev, sizeof prev, "v%llu", (unsigned long long)(rng_next(r) % 1000));
			snprintf(next, sizeof next, "v%llu", (unsigned long long)(rng_next(r) % 1000));
			json_t *c = json_pack("{s:o, s:o}", "prev",
			                      action == EVENT_CREATED ? json_null() : json_string(prev),
			                      "next", action == EVENT_DELETED ? json_null() : json_string(next));
			if (json_object_set_new(changes, fields[(first + k) % 3], c)) {
				json_decref(changes);
				changes = NULL;
			}
		}
		if (!changes)
			return -1;
	}
	event_init(ev, action, "users", a, "users", t, changes);
	u = rng_unit(r);
	if (u < 0.1)
		snprintf(ev->event_name, sizeof ev->event_name, "%s", u < 0.05 ? "n1" : "n2");
	return 0;
}

/* --history: event i of users:<hot>-history, version i + 1: created with
 * name, email and agreedTos, then one change of name or email each, prev
 * the value the last one stored (last[] keeps them), at history_base +
 * 10 i ms. */
static int make_history(struct event *ev, const struct gen_opts *o, unsigned long i,
                        char last[2][32], struct rng *r)
{
	char target[EVENT_REF_MAX + 1], next[32];
	snprintf(target, sizeof target, "%s-history", o->hot);
	snprintf(next, sizeof next, "value %lu", i);
	json_t *changes;
	enum event_action action;
	if (i == 0) {
		action = EVENT_CREATED;
		changes = json_pack("{s:{s:n, s:s}, s:{s:n, s:s}, s:{s:n, s:b}}", "name", "prev", "next",
		                    next, "email", "prev", "next", next, "agreedTos", "prev", "next", 0);
		snprintf(last[0], 32, "%s", next);
		snprintf(last[1], 32, "%s", next);
	} else {
		unsigned f = (unsigned)(rng_next(r) & 1);
		action = EVENT_CHANGED;
		changes = json_pack("{s:{s:s, s:s}}", f ? "email" : "name", "prev", last[f], "next", next);
		snprintf(last[f], 32, "%s", next);
	}
	if (!changes)
		return -1;
	event_init(ev, action, "users", o->hot, "users", target, changes);
	ev->timestamp = o->history_base + (int64_t)i * 10;
	ev->target_version = (int64_t)i + 1;
	return 0;
}

static int make_unversioned(struct event *ev, const struct gen_opts *o, struct rng *r);

/* One synthetic event: mostly "viewed", some "changed" with a change. */
static int make_event(struct event *ev, const struct gen_opts *o, struct rng *r)
{
	if (make_unversioned(ev, o, r))
		return -1;
	if (o->versions)
		ev->target_version = 1 + (int64_t)(rng_next(r) % o->versions);
	return 0;
}

static int make_unversioned(struct event *ev, const struct gen_opts *o, struct rng *r)
{
	char actor[24], target[24];
	const char *a = o->hot, *t = o->hot;
	if (rng_unit(r) >= o->hot_share) {
		snprintf(actor, sizeof actor, "%lu", 1 + (unsigned long)(rng_next(r) % o->actors));
		a = actor;
	}
	if (rng_unit(r) >= (o->hot_target_share < 0 ? o->hot_share : o->hot_target_share)) {
		snprintf(target, sizeof target, "%lu", 1 + (unsigned long)(rng_next(r) % o->targets));
		t = target;
	}
	if (o->rich)
		return make_rich(ev, a, t, r);
	json_t *changes = NULL;
	enum event_action action = EVENT_VIEWED;
	if (o->pad) {
		changes = json_pack("{s:{s:O, s:n}}", "pad", "prev", o->pad, "next");
		if (!changes)
			return -1;
		action = EVENT_CHANGED;
	} else if (rng_unit(r) < o->changed_share) {
		bool next = rng_next(r) & 1;
		changes = json_pack("{s:{s:b, s:b}}", "agreedTos", "prev", !next, "next", next);
		if (!changes)
			return -1;
		action = EVENT_CHANGED;
	}
	event_init(ev, action, "users", a, "users", t, changes);
	return 0;
}

/* ------------------------------------------------------------------ */
/* publish                                                             */
/* ------------------------------------------------------------------ */

struct confirms {
	unsigned char *acked; /* by delivery tag (1-based) */
	uint64_t published, low; /* every tag < low is settled */
	uint64_t nacked, returned;
};

static void on_confirm(void *ctx, enum mq_confirm what, uint64_t tag, bool multiple,
                       const char *message_id)
{
	struct confirms *c = ctx;
	(void)message_id;
	if (what == MQ_RETURNED) {
		c->returned++; /* its ack follows */
		return;
	}
	if (what == MQ_NACK)
		c->nacked += multiple ? tag - c->low + 1 : 1;
	if (tag > c->published)
		tag = c->published;
	if (multiple)
		for (uint64_t t = c->low; t <= tag; t++)
			c->acked[t] = 1;
	else if (tag >= 1)
		c->acked[tag] = 1;
	while (c->low <= c->published && c->acked[c->low])
		c->low++;
}

static int cmd_publish(const char *url, unsigned long n, unsigned batch, unsigned window,
                       const struct gen_opts *o)
{
	if (batch < 1 || batch > EVENT_BATCH_MAX) {
		fprintf(stderr, "loadgen: --batch must be 1..%d\n", EVENT_BATCH_MAX);
		return 2;
	}
	struct mq *mq;
	if (mq_open(url, &mq)) {
		fprintf(stderr, "loadgen: cannot connect to %s\n", url);
		return 1;
	}
	int rc = 1;
	unsigned long messages = (n + batch - 1) / batch;
	struct confirms c = {.acked = calloc(messages + 2, 1), .low = 1};
	size_t cap = (size_t)batch * 1024 + 64;
	char *body = malloc(cap);
	struct rng r;
	rng_seed(&r, 1);
	if (!c.acked || !body)
		goto out;
	const char *parts = getenv("AUDITLOG_PARTITIONS"), *type = getenv("AUDITLOG_QUEUE_TYPE");
	struct mq_topology topo = {.partitions = parts ? (unsigned)strtoul(parts, NULL, 10) : 1,
	                           .quorum = type && !strcmp(type, "quorum"),
	                           .delivery_limit = 100};
	if (topo.partitions < 1 || topo.partitions > MQ_PARTITIONS_MAX)
		topo.partitions = 1;
	if (mq_declare_topology(mq, &topo) || mq_confirm_select(mq)) {
		fprintf(stderr, "loadgen: cannot declare the topology or select confirms\n");
		goto out;
	}
	double t0 = now_s();
	unsigned long sent = 0;
	while (c.published < messages) {
		if (c.published - (c.low - 1) >= window) {
			if (mq_poll_confirms(mq, 100, on_confirm, &c))
				goto dead;
			continue;
		}
		unsigned k = n - sent < batch ? (unsigned)(n - sent) : batch;
		size_t len = 0;
		char id[UUID_STR_LEN + 1] = "";
		if (k > 1)
			body[len++] = '[';
		for (unsigned i = 0; i < k; i++) {
			struct event ev;
			if (make_event(&ev, o, &r))
				goto out;
			size_t elen;
			char *e = event_encode(&ev, &elen);
			if (!i)
				memcpy(id, ev.id, sizeof id);
			event_clear(&ev);
			if (!e)
				goto out;
			if (len + elen + 2 > cap) {
				char *b = realloc(body, cap = (len + elen + 2) * 2);
				if (!b) {
					free(e);
					goto out;
				}
				body = b;
			}
			if (i)
				body[len++] = ',';
			memcpy(body + len, e, elen);
			len += elen;
			free(e);
		}
		if (k > 1)
			body[len++] = ']';
		char key[MQ_NAME_MAX];
		mq_routing_key((unsigned)(c.published % topo.partitions), key);
		if (mq_publish(mq, MQ_EXCHANGE, key, id, body, len, NULL))
			goto dead;
		c.published++;
		sent += k;
		if ((c.published & 63) == 0 && mq_poll_confirms(mq, 0, on_confirm, &c))
			goto dead;
	}
	double deadline = now_s() + 120;
	while (c.low <= c.published && now_s() < deadline)
		if (mq_poll_confirms(mq, 100, on_confirm, &c))
			goto dead;
	double dt = now_s() - t0;
	if (c.low <= c.published) {
		fprintf(stderr, "loadgen: %llu messages still unconfirmed after 120 s\n",
		        (unsigned long long)(c.published - c.low + 1));
		goto out;
	}
	if (c.nacked || c.returned) {
		fprintf(stderr, "loadgen: the broker refused %llu and returned %llu messages\n",
		        (unsigned long long)c.nacked, (unsigned long long)c.returned);
		goto out;
	}
	printf("publish: %lu events in %lu messages of up to %u, confirmed in %.3f s: %.0f "
	       "events/s\n",
	       sent, messages, batch, dt, dt > 0 ? (double)sent / dt : 0.0);
	rc = 0;
	goto out;
dead:
	fprintf(stderr, "loadgen: the broker connection failed after %llu messages\n",
	        (unsigned long long)c.published);
out:
	free(body);
	free(c.acked);
	mq_close(mq);
	return rc;
}

/* ------------------------------------------------------------------ */
/* fill-db                                                             */
/* ------------------------------------------------------------------ */

struct filler {
	pthread_t thread;
	const struct db_config *cfg;
	struct ledger *ledger;
	const struct gen_opts *opts;
	unsigned batch;
	unsigned long n; /* this thread's share */
	unsigned seed;
	atomic_ulong *done; /* all threads' rows, for progress */
	atomic_int *running; /* threads not yet finished */
	int status;
};

static void fill_one(struct filler *f)
{
	struct db *db = NULL;
	struct event *evs = calloc(f->batch, sizeof *evs);
	struct rng r;
	rng_seed(&r, 100 + f->seed);
	f->status = 1;
	if (!evs)
		return;
	int st = db_connect(f->cfg, &db);
	if (st) {
		fprintf(stderr, "loadgen: cannot connect to the database: %s\n", db_status_string(st));
		free(evs);
		return;
	}
	unsigned long left = f->n;
	char last[2][32] = {"", ""};
	while (left) {
		size_t k = left < f->batch ? left : f->batch, stored = 0;
		size_t made = 0;
		for (; made < k; made++)
			if (f->opts->history
			        ? make_history(&evs[made], f->opts, f->n - left + made, last, &r)
			        : make_event(&evs[made], f->opts, &r))
				break;
		st = made == k ? store_insert_batch(db, f->ledger, evs, k, &stored) : DB_ERR;
		for (size_t i = 0; i < made; i++)
			event_clear(&evs[i]);
		if (st || stored != k) {
			fprintf(stderr, "loadgen: storing a batch failed (%s, %zu of %zu stored)\n",
			        db_status_string(st), stored, k);
			goto out;
		}
		left -= k;
		atomic_fetch_add(f->done, k);
	}
	f->status = 0;
out:
	db_close(db);
	free(evs);
}

static void *fill_thread(void *arg)
{
	struct filler *f = arg;
	fill_one(f);
	atomic_fetch_sub(f->running, 1);
	return NULL;
}

static int cmd_fill(unsigned long n, unsigned batch, unsigned threads, const struct gen_opts *o)
{
	if (batch < 1 || batch > 100000 || threads < 1 || threads > 16) {
		fprintf(stderr, "loadgen: --batch must be 1..100000 and --threads 1..16\n");
		return 2;
	}
	if (o->history && threads != 1) {
		fprintf(stderr, "loadgen: --history writes one history in order: --threads 1\n");
		return 2;
	}
	struct db_config cfg = writer_config_from_env();
	if (db_library_init()) {
		fprintf(stderr, "loadgen: cannot initialise the MySQL client library\n");
		return 1;
	}
	/* The log's writer, with the auditor's key (AUDITLOG_LOG_KEY, made if
	 * absent), so the auditor started on this database accepts what we
	 * signed. */
	const char *origin_base = env_or("AUDITLOG_LOG_ORIGIN", "auditlog.localhost");
	char origin[1024];
	snprintf(origin, sizeof origin, "%s/0", origin_base);
	note_signer *signer = NULL;
	struct ledger *ledger = NULL;
	if (ledger_key(env_or("AUDITLOG_LOG_KEY", ".state/keys/log-signer.key"), origin_base, &signer))
		goto no_ledger;
	struct ledger_config lc = {.log = 0, .origin = origin, .signer = signer, .db = &cfg};
	if (ledger_open(&lc, &ledger) || !ledger_wait_ready(ledger, 60000)) {
		fprintf(stderr, "loadgen: the log could not be opened\n");
		ledger_close(ledger);
		note_signer_free(signer);
		goto no_ledger;
	}
	struct filler f[16];
	atomic_ulong done = 0;
	atomic_int running = 0;
	unsigned started = 0;
	int rc = 0;
	double t0 = now_s();
	for (unsigned i = 0; i < threads; i++) {
		f[i] = (struct filler){.cfg = &cfg,
		                       .ledger = ledger,
		                       .opts = o,
		                       .batch = batch,
		                       .n = n / threads + (i < n % threads),
		                       .seed = i,
		                       .done = &done,
		                       .running = &running,
		                       .status = 1};
		atomic_fetch_add(&running, 1);
		if (pthread_create(&f[i].thread, NULL, fill_thread, &f[i])) {
			atomic_fetch_sub(&running, 1);
			rc = 1;
			break;
		}
		started++;
	}
	/* Progress on stderr every ~10 s for long fills, until every thread
	 * is done (or failed). */
	double last = t0;
	while (atomic_load(&running) > 0) {
		usleep(50000);
		if (now_s() - last >= 10) {
			last = now_s();
			unsigned long d = atomic_load(&done);
			fprintf(stderr, "loadgen: %lu of %lu rows, %.0f rows/s\n", d, n,
			        (double)d / (last - t0));
		}
	}
	for (unsigned i = 0; i < started; i++) {
		pthread_join(f[i].thread, NULL);
		rc |= f[i].status;
	}
	double dt = now_s() - t0;
	unsigned long d = atomic_load(&done);
	if (!rc && o->history)
		printf("history: users:%s-history, %lu versions from %lld ms every 10 ms\n", o->hot, d,
		       (long long)o->history_base);
	if (!rc)
		printf("fill-db: %lu rows (%u threads, %u per transaction) in %.3f s: %.0f rows/s\n", d,
		       threads, batch, dt, dt > 0 ? (double)d / dt : 0.0);
	else
		fprintf(stderr, "loadgen: fill-db stored %lu of %lu rows\n", d, n);
	ledger_close(ledger);
	note_signer_free(signer);
	db_library_end();
	return rc ? 1 : 0;
no_ledger:
	db_library_end();
	return 1;
}

/* ------------------------------------------------------------------ */
/* queue                                                               */
/* ------------------------------------------------------------------ */

static int cmd_queue(const char *url)
{
	struct mq *mq;
	if (mq_open(url, &mq)) {
		fprintf(stderr, "loadgen: cannot connect to %s\n", url);
		return 1;
	}
	amqp_queue_declare_ok_t *ok = amqp_queue_declare(
	    mq_connection(mq), 1, amqp_cstring_bytes(MQ_QUEUE), 1, 1, 0, 0, amqp_empty_table);
	if (ok)
		printf("messages %u consumers %u\n", ok->message_count, ok->consumer_count);
	mq_close(mq);
	return ok ? 0 : 1;
}

/* ------------------------------------------------------------------ */

static void usage(void)
{
	fprintf(stderr,
	        "usage: loadgen publish URL N [--batch B] [--window W] [options]\n"
	        "       loadgen fill-db N [--batch B] [--threads T] [options]\n"
	        "       loadgen queue URL\n"
	        "options: --hot-share F --hot-target-share F --hot NAME --actors A --targets T --changed F\n"
	        "         --pad BYTES --pad-shape string|ints|objects --rich 0|1 --history 0|1 --versions V\n");
}

static int parse_ulong(const char *s, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		return -1;
	*out = v;
	return 0;
}

static int parse_share(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end || !(v >= 0 && v <= 1))
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	log_init("loadgen", LOG_LEVEL_WARN);
	if (argc < 3) {
		usage();
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "queue"))
		return argc == 3 ? cmd_queue(argv[2]) : (usage(), 2);
	bool publish = !strcmp(cmd, "publish");
	if (!publish && strcmp(cmd, "fill-db")) {
		usage();
		return 2;
	}
	int pos = 2;
	const char *url = NULL;
	if (publish) {
		if (argc < 4) {
			usage();
			return 2;
		}
		url = argv[pos++];
	}
	unsigned long n;
	if (parse_ulong(argv[pos++], &n)) {
		usage();
		return 2;
	}
	struct gen_opts o = {.hot_share = 0.06,
	                     .hot_target_share = -1,
	                     .changed_share = 0.1,
	                     .hot = "hot",
	                     .actors = 1000,
	                     .targets = 2000};
	unsigned long batch = publish ? 100 : 1000, window = 1000, threads = 2, pad = 0;
	const char *pad_shape = "string";
	for (; pos < argc; pos += 2) {
		const char *opt = argv[pos], *val = pos + 1 < argc ? argv[pos + 1] : NULL;
		int bad = 1;
		if (!val)
			;
		else if (!strcmp(opt, "--batch"))
			bad = parse_ulong(val, &batch);
		else if (!strcmp(opt, "--window"))
			bad = parse_ulong(val, &window) || window < 1;
		else if (!strcmp(opt, "--threads"))
			bad = parse_ulong(val, &threads);
		else if (!strcmp(opt, "--hot-share"))
			bad = parse_share(val, &o.hot_share);
		else if (!strcmp(opt, "--hot-target-share"))
			bad = parse_share(val, &o.hot_target_share);
		else if (!strcmp(opt, "--changed"))
			bad = parse_share(val, &o.changed_share);
		else if (!strcmp(opt, "--hot")) {
			bad = !event_ref_valid(val, strlen(val));
			o.hot = val;
		} else if (!strcmp(opt, "--actors")) {
			bad = parse_ulong(val, &o.actors) || o.actors < 1;
		} else if (!strcmp(opt, "--targets")) {
			bad = parse_ulong(val, &o.targets) || o.targets < 1;
		} else if (!strcmp(opt, "--pad")) {
			bad = parse_ulong(val, &pad) || pad > (64ul << 20);
		} else if (!strcmp(opt, "--pad-shape")) {
			pad_shape = val;
			bad = 0;
		} else if (!strcmp(opt, "--rich")) {
			o.rich = !strcmp(val, "1");
			bad = !o.rich && strcmp(val, "0");
		} else if (!strcmp(opt, "--versions")) {
			bad = parse_ulong(val, &o.versions) || o.versions > (1ul << 40);
		} else if (!strcmp(opt, "--history")) {
			o.history = !strcmp(val, "1");
			bad = !o.history && strcmp(val, "0");
		} else
			bad = 1;
		if (bad) {
			fprintf(stderr, "loadgen: bad option %s %s\n", opt, val ? val : "");
			usage();
			return 2;
		}
	}
	if (o.history) { /* in the past, so that every instant asked is over */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		o.history_base = (int64_t)ts.tv_sec * 1000 - (int64_t)n * 10 - 60000;
		threads = 1;
	}
	if (pad && !(o.pad = make_pad(pad, pad_shape))) {
		fprintf(stderr, "loadgen: --pad-shape must be string, ints or objects\n");
		return 2;
	}
	int rc = publish ? cmd_publish(url, n, (unsigned)batch, (unsigned)window, &o)
	                 : cmd_fill(n, (unsigned)batch, (unsigned)threads, &o);
	json_decref(o.pad);
	return rc;
}
