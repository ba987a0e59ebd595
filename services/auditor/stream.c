/* The live stream's hub: see stream.h. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auditor.h"
#include "ledger.h"
#include "event.h"
#include "clock.h"
#include "log.h"
#include "stream.h"

/* Positions the hub reads per query: a poll with more to read goes on at
 * once. */
#define HUB_READ 1000
/* The longest the reader waits for a COMMIT before it looks whether it
 * is asked to stop (ms). */
#define STOP_SLICE_MS 100

/* ---- events ---- */

/* Bump allocation inside the event's one block. */
struct carve {
	char *p, *end;
};

static const char *carve_str(struct carve *c, const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s) + 1;
	char *d = c->p;
	memcpy(d, s, n);
	c->p += n;
	return d;
}

static const char *attr_str(const json_t *at, const char *key)
{
	return json_string_value(json_object_get(at, key));
}

struct stream_event *stream_event_new(const json_t *resource)
{
	const json_t *at = json_object_get(resource, "attributes");
	const json_t *changes = json_object_get(at, "changes");
	const json_t *seq = json_object_get(at, "seq"), *ts = json_object_get(at, "timestamp");
	const char *strs[] = {attr_str(at, "actorType"), attr_str(at, "actorId"),
	                      attr_str(at, "targetType"), attr_str(at, "targetId"),
	                      attr_str(at, "eventName")};
	int action = event_action_parse(attr_str(at, "action") ? attr_str(at, "action") : "");
	if (!json_is_integer(seq) || json_integer_value(seq) < 0 || !json_is_integer(ts) ||
	    action < 0 || !strs[0] || !strs[1] || !strs[2] || !strs[3])
		return NULL;
	char *data = json_dumps(resource, JSON_COMPACT);
	if (!data)
		return NULL;
	char head[40];
	int hn =
	    snprintf(head, sizeof head, "id: %lld\ndata: ", (long long)json_integer_value(seq));
	size_t dn = strlen(data), nfields = json_object_size(changes);
	size_t size =
	    sizeof(struct stream_event) + (nfields + 1) * sizeof(char *) + (size_t)hn + dn + 3;
	for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
		size += strs[i] ? strlen(strs[i]) + 1 : 0;
	const char *key;
	const json_t *v;
	json_object_foreach((json_t *)changes, key, v)
	{
		size += strlen(key) + 1;
	}
	struct stream_event *e = malloc(size);
	if (!e) {
		free(data);
		return NULL;
	}
	const char **fields = (const char **)(e + 1);
	struct carve c = {(char *)(fields + nfields + 1), (char *)e + size};
	char *msg = c.p;
	memcpy(msg, head, (size_t)hn);
	memcpy(msg + hn, data, dn);
	memcpy(msg + hn + dn, "\n\n", 3);
	c.p += (size_t)hn + dn + 3;
	free(data);
	*e = (struct stream_event){.seq = (uint64_t)json_integer_value(seq),
	                           .msg = msg,
	                           .len = (size_t)hn + dn + 2,
	                           .id_len = (size_t)hn - strlen("data: "),
	                           .action = (unsigned)action,
	                           .timestamp = json_integer_value(ts),
	                           .fields = fields,
	                           .nfields = nfields};
	e->actor_type = carve_str(&c, strs[0]);
	e->actor_id = carve_str(&c, strs[1]);
	e->target_type = carve_str(&c, strs[2]);
	e->target_id = carve_str(&c, strs[3]);
	e->event_name = carve_str(&c, strs[4]);
	size_t i = 0;
	json_object_foreach((json_t *)changes, key, v)
	{
		fields[i++] = carve_str(&c, key);
	}
	fields[i] = NULL;
	return e;
}

void stream_event_free(struct stream_event *e)
{
	free(e);
}

void stream_event_put(const struct stream_event *e, uint32_t log, struct stream_id *id,
                      struct jcs_buf *out)
{
	if (id && stream_id_set(id, log, e->seq)) {
		out->status = JCS_EINVAL; /* more logs than an id holds: the caller bounds them */
		return;
	}
	if (!id || (id->n == 1 && id->log[0] == 0)) {
		jcs_buf_put(out, e->msg, e->len); /* "id: <seq>": the bare form */
		return;
	}
	char text[STREAM_ID_TEXT_MAX];
	size_t n = stream_id_format(id, text, sizeof text);
	jcs_buf_lit(out, "id: ");
	jcs_buf_put(out, text, n);
	jcs_buf_lit(out, "\n");
	jcs_buf_put(out, e->msg + e->id_len, e->len - e->id_len);
}

/* Equal as a PAD SPACE collation compares: trailing spaces ignored
 * (what follows the common prefix is spaces only, on both sides). One
 * pass: the hub runs it for every waiting subscriber and new event. */
static bool same(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	while (*a == ' ')
		a++;
	while (*b == ' ')
		b++;
	return !*a && !*b;
}

bool stream_filter_match(const struct stream_filter *f, const struct stream_event *e)
{
	if (f->actor_type &&
	    (!same(f->actor_type, e->actor_type) || !same(f->actor_id, e->actor_id)))
		return false;
	if (f->target_type &&
	    (!same(f->target_type, e->target_type) || !same(f->target_id, e->target_id)))
		return false;
	if (f->actions && !(f->actions & (1u << e->action)))
		return false;
	if ((f->has_since && e->timestamp < f->since) || (f->has_until && e->timestamp >= f->until))
		return false;
	if (f->event_name && (!e->event_name || !same(f->event_name, e->event_name)))
		return false;
	if (f->field) {
		size_t i = 0;
		while (i < e->nfields && !same(f->field, e->fields[i]))
			i++;
		if (i == e->nfields)
			return false;
	}
	return true;
}

/* ---- the hub ---- */

struct stream_sub {
	/* all under the hub's lock */
	const struct stream_filter *filter;
	uint64_t next;
	bool waiting;
	int64_t wake_at; /* while waiting */
	void (*wake)(void *arg);
	void *arg;
	struct stream_sub *prev, *nextsub;
};

struct stream_hub {
	struct stream_hub_config cfg;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* stop, or the first subscriber */
	/* under lock */
	bool stop, ready;
	bool stale; /* it waited without subscribers: the log may have grown past its head */
	uint64_t head;
	size_t count;               /* events in the ring: positions [head - count, head) */
	size_t bytes;               /* their messages' size */
	uint64_t generation;        /* counts stream_forget calls */
	struct stream_event **ring; /* cfg.buffer slots; position s at s % cfg.buffer */
	struct stream_sub *subs;
	struct offer {
		uint64_t first, end; /* its positions: [first, end) */
		uint64_t generation; /* the hub's when the append began */
		struct db_row *rows; /* nrows, in one allocation with what they point at */
		size_t nrows;
	} offers[STREAM_OFFERS_MAX];
	size_t noffers; /* appends the writer handed over, not yet taken */
	uint64_t handed, read; /* positions taken from offers, from the store */
};

bool stream_head(struct stream_hub *h, uint64_t *head, uint64_t *oldest)
{
	pthread_mutex_lock(&h->lock);
	bool ready = h->ready;
	*head = h->head;
	*oldest = h->head - h->count;
	pthread_mutex_unlock(&h->lock);
	return ready;
}

static int end_row(void *arg, const struct db_row *row)
{
	uint64_t *end = arg;
	if (row->val[0] && row->val[1])
		*end = strtoull(row->val[0], NULL, 10) +
		       strtoull(row->val[1], NULL, 10) / LEDGER_ID_LEN;
	return 0;
}

int stream_stored_end(struct db *db, uint32_t log, uint64_t *end)
{
	struct db_value k[] = {DB_INT(log)};
	*end = 0;
	int st = db_query(db,
	                  "SELECT first_seq, LENGTH(event_ids) FROM log_appends WHERE log_id = ? "
	                  "ORDER BY first_seq DESC LIMIT 1",
	                  k, 1, end_row, end);
	return st < 0 ? st : DB_OK;
}

/* Wakes (or moves past the new events) the waiting subscribers; under
 * lock. from: the first new position. */
static void wake_subs(struct stream_hub *h, uint64_t from, int64_t now)
{
	for (struct stream_sub *s = h->subs; s; s = s->nextsub) {
		if (!s->waiting)
			continue;
		/* Also when the ring moved past it (more than the ring's worth
		 * arrived at once): it reads the store. */
		bool due = now >= s->wake_at || s->next < h->head - h->count;
		for (uint64_t p = s->next > from ? s->next : from; !due && p < h->head; p++)
			due = stream_filter_match(s->filter, h->ring[p % h->cfg.buffer]);
		if (due) {
			s->waiting = false;
			s->wake(s->arg);
		} else if (s->next < h->head) {
			s->next = h->head; /* nothing it wants: it stays waiting */
		}
	}
}

static void evict_oldest(struct stream_hub *h)
{
	struct stream_event **slot = &h->ring[(h->head - h->count) % h->cfg.buffer];
	h->bytes -= (*slot)->len;
	stream_event_free(*slot);
	*slot = NULL;
	h->count--;
}

/* ---- what the log's writer hands over (stream_listener) ---- */

static void drop_offers(struct stream_hub *h)
{
	for (size_t i = 0; i < h->noffers; i++)
		free(h->offers[i].rows);
	h->noffers = 0;
}

/* The handed-over append of the current generation that holds position
 * head, removed from the list (o->rows then belong to the caller); false
 * when none does. Drops what lies below head or is stale. Under lock. */
static bool take_offer(struct stream_hub *h, uint64_t head, struct offer *got)
{
	bool found = false;
	size_t kept = 0;
	for (size_t i = 0; i < h->noffers; i++) {
		struct offer *o = &h->offers[i];
		if (o->generation != h->generation || o->end <= head) {
			free(o->rows);
		} else if (!found && o->first <= head) {
			*got = *o;
			found = true;
		} else {
			h->offers[kept++] = *o; /* later positions */
		}
	}
	h->noffers = kept;
	return found;
}

/* A copy of rows in one allocation (NULL: out of memory). */
static struct db_row *copy_rows(const struct db_row *rows, size_t n)
{
	size_t cols = 0, chars = 0;
	for (size_t i = 0; i < n; i++) {
		cols += rows[i].n;
		for (size_t j = 0; j < rows[i].n; j++)
			chars += rows[i].val[j] ? rows[i].len[j] + 1 : 0;
	}
	struct db_row *r =
	    malloc(n * sizeof *r + cols * (sizeof(char *) + sizeof(unsigned long)) + chars + 1);
	if (!r)
		return NULL;
	const char **val = (const char **)(r + n);
	unsigned long *len = (unsigned long *)(val + cols);
	char *c = (char *)(len + cols);
	for (size_t i = 0; i < n; i++) {
		r[i] = (struct db_row){rows[i].n, val, len};
		for (size_t j = 0; j < rows[i].n; j++) {
			len[j] = rows[i].len[j];
			val[j] = NULL;
			if (rows[i].val[j]) {
				memcpy(c, rows[i].val[j], len[j]);
				c[len[j]] = '\0';
				val[j] = c;
				c += len[j] + 1;
			}
		}
		val += rows[i].n;
		len += rows[i].n;
	}
	return r;
}

static bool listener_wants(void *arg, uint64_t *generation)
{
	struct stream_hub *h = arg;
	pthread_mutex_lock(&h->lock);
	*generation = h->generation;
	bool wants = h->ready && h->subs;
	pthread_mutex_unlock(&h->lock);
	return wants;
}

/* Keeps a copy of the rows (the writer's COMMIT waits for nothing more:
 * the hub renders them on its own thread). Rows without a position
 * (column 12) are not an append's: ignored. */
static void listener_take(void *arg, uint64_t first, const struct db_row *rows, size_t nrows,
                          uint64_t generation)
{
	struct stream_hub *h = arg;
	if (!nrows || rows[nrows - 1].n < 15 || !rows[nrows - 1].val[12])
		return;
	uint64_t end = strtoull(rows[nrows - 1].val[12], NULL, 10) + 1;
	pthread_mutex_lock(&h->lock);
	bool wanted = generation == h->generation && end > h->head && end > first &&
	              h->noffers < STREAM_OFFERS_MAX;
	pthread_mutex_unlock(&h->lock);
	struct db_row *copy = wanted ? copy_rows(rows, nrows) : NULL;
	if (!copy)
		return; /* the hub reads them from the store */
	pthread_mutex_lock(&h->lock);
	if (generation == h->generation && h->noffers < STREAM_OFFERS_MAX) {
		h->offers[h->noffers++] = (struct offer){first, end, generation, copy, nrows};
		copy = NULL;
	}
	pthread_mutex_unlock(&h->lock);
	free(copy);
}

void stream_listener(struct stream_hub *h, struct ledger_listener *li)
{
	*li = (struct ledger_listener){listener_wants, listener_take, h};
}

/* The resources of an offer's positions from head on (head within it). */
static int render_offer(const struct offer *o, uint64_t head, struct store_page *page)
{
	size_t skip = 0;
	while (skip < o->nrows && strtoull(o->rows[skip].val[12], NULL, 10) < head)
		skip++;
	memset(page, 0, sizeof *page);
	return store_rows_page(o->rows + skip, o->nrows - skip, &page->data);
}

/* ---- the reader ---- */

/* Takes the next run of positions from head: what the writer handed over,
 * else a read of the store. Returns how many, or a negative db status. */
static long poll_store(struct stream_hub *h, struct db *db, uint64_t head)
{
	pthread_mutex_lock(&h->lock);
	uint64_t generation = h->generation;
	struct offer o;
	bool offered = take_offer(h, head, &o);
	pthread_mutex_unlock(&h->lock);
	struct store_page page;
	bool handed = offered && !render_offer(&o, head, &page);
	int st = handed ? DB_OK : store_read_positions(db, h->cfg.log, head, HUB_READ, &page);
	if (offered)
		free(o.rows);
	if (st)
		return st;
	size_t n = json_array_size(page.data);
	/* A gap-free run from head, whatever a writer handed over. */
	for (size_t i = 0; i < n; i++) {
		json_t *at = json_object_get(json_array_get(page.data, i), "attributes");
		if (json_integer_value(json_object_get(at, "seq")) != (json_int_t)(head + i)) {
			n = i;
			break;
		}
	}
	struct stream_event **evs = calloc(n ? n : 1, sizeof *evs);
	long made = evs ? 0 : DB_ERR;
	for (size_t i = 0; evs && i < n; i++) {
		if (!(evs[i] = stream_event_new(json_array_get(page.data, i)))) {
			log_error("stream: position %llu could not be rendered",
			          (unsigned long long)(head + i));
			break; /* retried at the next poll: never skipped */
		}
		made++;
	}
	json_decref(page.data);
	pthread_mutex_lock(&h->lock);
	if (h->generation != generation) {
		/* Values were erased while we read: what we read may hold them.
		 * Read it again at the next poll. */
		for (long i = 0; i < made; i++)
			stream_event_free(evs[i]);
		made = 0;
	}
	if (handed)
		h->handed += (uint64_t)made;
	else
		h->read += (uint64_t)made;
	for (long i = 0; i < made; i++) {
		if (h->count == h->cfg.buffer)
			evict_oldest(h);
		h->ring[h->head % h->cfg.buffer] = evs[i];
		h->count++;
		h->bytes += evs[i]->len;
		h->head++;
		while (h->count > 1 && h->bytes > STREAM_RING_BYTES_MAX)
			evict_oldest(h);
	}
	wake_subs(h, head, clock_ms());
	pthread_mutex_unlock(&h->lock);
	free(evs);
	return made;
}

/* With no subscriber the hub reads and keeps nothing (a drain would pay
 * for reading every event back, and the ring's memory), nor does it follow
 * the log's end: another auditor may be writing the log, and this
 * process's ledger of it then says nothing of its end. When subscribers
 * come after such a wait, it moves its head to the first position one of
 * them wants, at most the store's end (emptying the ring if that moved
 * it), so that it does not read what nobody asked for; one that comes
 * later from an earlier position reads the store until it reaches the
 * head, as one behind the ring does. Returns 0 or a negative db status. */
static long catch_up_end(struct stream_hub *h, struct db *db)
{
	uint64_t end;
	int st = stream_stored_end(db, h->cfg.log, &end);
	if (st)
		return st;
	pthread_mutex_lock(&h->lock);
	for (const struct stream_sub *s = h->subs; s; s = s->nextsub)
		if (s->next < end)
			end = s->next;
	if (end > h->head) {
		while (h->count)
			evict_oldest(h);
		drop_offers(h);
		h->head = end;
	}
	h->stale = false;
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static void *hub_main(void *arg)
{
	struct stream_hub *h = arg;
	bool warned = false;
	for (;;) {
		long got = 0;
		uint64_t committed = 0; /* the writer's committed size before the read */
		struct db *db = db_thread(h->cfg.db);
		pthread_mutex_lock(&h->lock);
		bool ready = h->ready, idle = !h->subs, stale = h->stale;
		pthread_mutex_unlock(&h->lock);
		if (!db) {
			got = DB_ERR_GONE;
		} else if (!ready) {
			uint64_t end;
			if (!(got = stream_stored_end(db, h->cfg.log, &end))) {
				pthread_mutex_lock(&h->lock);
				h->head = end;
				h->ready = true;
				pthread_mutex_unlock(&h->lock);
				log_info("stream: live from position %llu of log %u",
				         (unsigned long long)end, (unsigned)h->cfg.log);
			}
		} else if (!idle && (!stale || !(got = catch_up_end(h, db)))) {
			pthread_mutex_lock(&h->lock);
			uint64_t head = h->head;
			pthread_mutex_unlock(&h->lock);
			committed = h->cfg.ledger ? ledger_size(h->cfg.ledger) : 0;
			got = poll_store(h, db, head);
		}
		if (got < 0 && !warned)
			log_error("stream: the store could not be read (%s); retrying",
			          db_status_string((int)got));
		warned = got < 0;
		pthread_mutex_lock(&h->lock);
		if (ready && idle && got >= 0) {
			/* Nobody to read for: wait for a subscriber. */
			while (!h->stop && !h->subs) {
				h->stale = true;
				pthread_cond_wait(&h->cond, &h->lock);
			}
		} else if (got < HUB_READ && !h->stop) {
			/* Deadlines are met at the next poll; so is a full ring's
			 * eviction (a waiting subscriber is then woken to read the store). */
			if (got <= 0)
				wake_subs(h, h->head, clock_ms());
			uint64_t at = h->head;
			if (h->cfg.ledger && h->ready && got >= 0 && !(got == 0 && committed > at)) {
				/* The next COMMIT of this process's writer wakes the
				 * reader (at once if one came since the read): no poll's
				 * wait between an event and its subscribers. (A read that
				 * found nothing below what was committed before it, an
				 * erasure's or a position that could not be rendered,
				 * waits the poll instead; so does one of a log another
				 * auditor writes now: this ledger does not grow, and the
				 * poll reads the store.) */
				int64_t poll_at = clock_ms() + h->cfg.poll_ms, left;
				while (!h->stop && (left = poll_at - clock_ms()) > 0) {
					pthread_mutex_unlock(&h->lock);
					/* in slices, so that stopping is not held up */
					uint64_t n = ledger_wait_grown(h->cfg.ledger, at,
					                               left < STOP_SLICE_MS ? (int)left
					                                                    : STOP_SLICE_MS);
					pthread_mutex_lock(&h->lock);
					if (n > at)
						break;
				}
			} else {
				/* a failing store: slower */
				struct timespec until =
				    clock_deadline((int64_t)h->cfg.poll_ms * (got < 0 ? 25 : 1));
				while (!h->stop &&
				       pthread_cond_timedwait(&h->cond, &h->lock, &until) != ETIMEDOUT)
					;
			}
		}
		bool stop = h->stop;
		pthread_mutex_unlock(&h->lock);
		if (stop)
			return NULL;
	}
}

int stream_hub_start(const struct stream_hub_config *cfg, struct stream_hub **out)
{
	*out = NULL;
	struct stream_hub *h = calloc(1, sizeof *h);
	if (!h || cfg->buffer < 1 || !(h->ring = calloc(cfg->buffer, sizeof *h->ring))) {
		free(h);
		return -1;
	}
	h->cfg = *cfg;
	if (!h->cfg.poll_ms)
		h->cfg.poll_ms = 20;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&h->lock, NULL);
	if (pthread_create(&h->thread, NULL, hub_main, h)) {
		pthread_cond_destroy(&h->cond);
		pthread_mutex_destroy(&h->lock);
		free(h->ring);
		free(h);
		return -1;
	}
	*out = h;
	return 0;
}

void stream_hub_stop(struct stream_hub *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->stop = true;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	if (h->subs)
		log_error("stream: stopped with subscribers left");
	if (h->handed || h->read)
		log_info("stream: %llu positions handed over by the log's writer, %llu read from the "
		         "store",
		         (unsigned long long)h->handed, (unsigned long long)h->read);
	for (size_t i = 0; i < h->count; i++)
		stream_event_free(h->ring[(h->head - h->count + i) % h->cfg.buffer]);
	drop_offers(h);
	free(h->ring);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

void stream_forget(struct stream_hub *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	while (h->count)
		evict_oldest(h);
	drop_offers(h);
	h->generation++;
	pthread_mutex_unlock(&h->lock);
}

void stream_wake(struct stream_hub *h)
{
	pthread_mutex_lock(&h->lock);
	for (struct stream_sub *s = h->subs; s; s = s->nextsub) {
		if (s->waiting) {
			s->waiting = false;
			s->wake(s->arg);
		}
	}
	pthread_mutex_unlock(&h->lock);
}

struct stream_sub *stream_subscribe(struct stream_hub *h, const struct stream_filter *f,
                                    uint64_t next, void (*wake)(void *arg), void *arg)
{
	struct stream_sub *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	*s = (struct stream_sub){.filter = f, .next = next, .wake = wake, .arg = arg};
	pthread_mutex_lock(&h->lock);
	s->nextsub = h->subs;
	if (h->subs)
		h->subs->prev = s;
	else
		pthread_cond_signal(&h->cond); /* the reader waits for a first one */
	h->subs = s;
	pthread_mutex_unlock(&h->lock);
	return s;
}

void stream_unsubscribe(struct stream_hub *h, struct stream_sub *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&h->lock);
	if (s->prev)
		s->prev->nextsub = s->nextsub;
	else
		h->subs = s->nextsub;
	if (s->nextsub)
		s->nextsub->prev = s->prev;
	pthread_mutex_unlock(&h->lock);
	free(s);
}

long stream_take(struct stream_hub *h, struct stream_sub *s, struct jcs_buf *out, size_t max,
                 int64_t wake_at_ms, struct stream_id *id)
{
	long took = 0;
	pthread_mutex_lock(&h->lock);
	s->waiting = false;
	if (s->next < h->head - h->count) {
		took = STREAM_BEHIND;
	} else {
		while (s->next < h->head && (size_t)took < max) {
			const struct stream_event *e = h->ring[s->next % h->cfg.buffer];
			if (stream_filter_match(s->filter, e)) {
				size_t before = out->len;
				stream_event_put(e, h->cfg.log, id, out);
				took += (long)(out->len - before);
			}
			s->next++;
		}
		if (id && s->next && stream_id_set(id, h->cfg.log, s->next - 1))
			out->status = JCS_EINVAL;
		if (!took) {
			s->waiting = true;
			s->wake_at = wake_at_ms;
		}
	}
	pthread_mutex_unlock(&h->lock);
	return took;
}

uint64_t stream_sub_next(struct stream_hub *h, struct stream_sub *s)
{
	pthread_mutex_lock(&h->lock);
	uint64_t next = s->next;
	pthread_mutex_unlock(&h->lock);
	return next;
}

void stream_sub_advance(struct stream_hub *h, struct stream_sub *s, uint64_t next)
{
	pthread_mutex_lock(&h->lock);
	if (next > s->next)
		s->next = next;
	pthread_mutex_unlock(&h->lock);
}
