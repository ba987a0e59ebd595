#include "publisher.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "mq.h"
#include "uuid.h"

#define OUTBOX_ROUND_MAX 500
#define OUTBOX_RESCAN_MS 1000
#define DELETE_CHUNK 64

struct msg {
	char id[UUID_STR_LEN + 1];
	char *body;
	size_t len;
	uint64_t outbox_seq; /* 0 for a view */
	uint64_t tag;
	bool confirmed, failed;
};

/* A ring of messages; not thread-safe by itself. */
struct ring {
	struct msg *m;
	size_t head, count, cap;
};

struct publisher {
	struct publisher_config cfg;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* under lock */
	bool stopping, outbox_dirty;
	int64_t drain_deadline_ms;
	struct ring views;
	uint64_t dropped;
	/* thread-private */
	struct mq *mq;
	struct db *db;
	struct ring inflight;
	uint64_t next_tag;
	size_t outbox_inflight;
	bool outbox_empty;
	int64_t last_rescan_ms;
	uint64_t *to_delete;
	size_t ndelete;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct msg *ring_at(struct ring *r, size_t i)
{
	return &r->m[(r->head + i) % r->cap];
}

static bool ring_push_back(struct ring *r, const struct msg *m)
{
	if (r->count == r->cap)
		return false;
	*ring_at(r, r->count++) = *m;
	return true;
}

static bool ring_push_front(struct ring *r, const struct msg *m)
{
	if (r->count == r->cap)
		return false;
	r->head = (r->head + r->cap - 1) % r->cap;
	r->count++;
	r->m[r->head] = *m;
	return true;
}

static struct msg ring_pop_front(struct ring *r)
{
	struct msg m = r->m[r->head];
	r->head = (r->head + 1) % r->cap;
	r->count--;
	return m;
}

/* Sleeps up to ms; new work cuts the sleep short only when wake_on_work
 * (a backoff must not be cut short by the very work it holds back). */
static void wait_ms(struct publisher *p, int ms, bool wake_on_work)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&p->lock);
	if (!p->stopping && !(wake_on_work && (p->outbox_dirty || p->views.count)))
		pthread_cond_timedwait(&p->cond, &p->lock, &ts);
	pthread_mutex_unlock(&p->lock);
}

/* The connection died: what was in flight goes back to be sent again. */
static void disconnect(struct publisher *p)
{
	mq_close(p->mq);
	p->mq = NULL;
	pthread_mutex_lock(&p->lock);
	while (p->inflight.count) {
		struct msg m = p->inflight.m[(p->inflight.head + p->inflight.count - 1) %
		                             p->inflight.cap];
		p->inflight.count--;
		/* Outbox rows stay in their table and are fetched again. */
		if (m.outbox_seq || !ring_push_front(&p->views, &m)) {
			if (!m.outbox_seq)
				p->dropped++;
			free(m.body);
		}
	}
	pthread_mutex_unlock(&p->lock);
	p->outbox_inflight = 0;
	p->outbox_empty = false;
}

static bool connect_broker(struct publisher *p)
{
	if (mq_open(p->cfg.amqp_url, &p->mq))
		return false;
	if (mq_declare_topology(p->mq) || mq_confirm_select(p->mq)) {
		mq_close(p->mq);
		p->mq = NULL;
		return false;
	}
	p->next_tag = 0;
	log_info("publisher connected to the broker");
	return true;
}

static bool publish(struct publisher *p, struct msg *m)
{
	m->tag = ++p->next_tag;
	m->confirmed = m->failed = false;
	if (!ring_push_back(&p->inflight, m)) /* callers keep room; never expected */
		return false;
	if (m->outbox_seq)
		p->outbox_inflight++;
	return mq_publish(p->mq, MQ_EXCHANGE, MQ_ROUTING_KEY, m->id, m->body, m->len, NULL) == 0;
}

static void on_confirm(void *ctx, enum mq_confirm what, uint64_t tag, bool multiple,
                       const char *message_id)
{
	struct publisher *p = ctx;
	for (size_t i = 0; i < p->inflight.count; i++) {
		struct msg *m = ring_at(&p->inflight, i);
		bool hit = what == MQ_RETURNED ? !strcmp(m->id, message_id)
		                               : (multiple ? m->tag <= tag : m->tag == tag);
		if (!hit)
			continue;
		if (what == MQ_ACK)
			m->confirmed = true;
		else if (what == MQ_NACK)
			m->confirmed = m->failed = true;
		else
			m->failed = true; /* its ack follows */
		if (what == MQ_RETURNED)
			log_error("event %s was not routed to any queue", m->id);
	}
}

static void flush_deletes(struct publisher *p)
{
	static const char sql[] =
	    "DELETE FROM event_outbox WHERE seq IN (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,"
	    "?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
	size_t done = 0;
	while (done < p->ndelete) {
		struct db_value v[DELETE_CHUNK];
		size_t n = p->ndelete - done < DELETE_CHUNK ? p->ndelete - done : DELETE_CHUNK;
		/* Pad with the last seq: a repeated value in IN () is harmless. */
		for (size_t i = 0; i < DELETE_CHUNK; i++)
			v[i] = DB_INT((long long)p->to_delete[done + (i < n ? i : n - 1)]);
		if (!p->db || db_broken(p->db) || db_exec(p->db, sql, v, DELETE_CHUNK, NULL, NULL))
			break; /* kept: re-published after a rescan, stored once by id */
		done += n;
	}
	p->ndelete = 0;
}

/* Pops the confirmed prefix of the in-flight ring. */
static void retire_confirmed(struct publisher *p)
{
	while (p->inflight.count && ring_at(&p->inflight, 0)->confirmed) {
		struct msg m = ring_pop_front(&p->inflight);
		if (m.outbox_seq)
			p->outbox_inflight--;
		if (m.failed) {
			if (!m.outbox_seq) {
				pthread_mutex_lock(&p->lock);
				bool kept = ring_push_back(&p->views, &m);
				pthread_mutex_unlock(&p->lock);
				if (kept)
					continue;
			}
			free(m.body);
			p->outbox_empty = false; /* fetched again by the next round */
			continue;
		}
		if (m.outbox_seq)
			p->to_delete[p->ndelete++] = m.outbox_seq;
		free(m.body);
	}
	if (p->ndelete && p->outbox_inflight == 0)
		flush_deletes(p);
}

struct fetch_ctx {
	struct publisher *p;
	size_t rows;
	bool failed;
};

static int outbox_row(void *ctx, const struct db_row *row)
{
	struct fetch_ctx *f = ctx;
	struct msg m = {0};
	m.outbox_seq = strtoull(row->val[0], NULL, 10);
	snprintf(m.id, sizeof m.id, "%s", row->val[1]);
	if (!(m.body = malloc(row->len[2] + 1)))
		return DB_ERR;
	memcpy(m.body, row->val[2], row->len[2]);
	m.len = row->len[2];
	f->rows++;
	if (!publish(f->p, &m)) {
		f->failed = true;
		return 1;
	}
	return 0;
}

/* One outbox round: the oldest rows, published together, deleted together
 * when all are confirmed. Rounds never overlap, so a row whose transaction
 * committed after a younger one is picked up by the next round. */
static void outbox_round(struct publisher *p)
{
	if (p->outbox_inflight || p->ndelete)
		return;
	size_t room = p->inflight.cap - p->inflight.count;
	if (room > OUTBOX_ROUND_MAX)
		room = OUTBOX_ROUND_MAX;
	if (room == 0)
		return;
	pthread_mutex_lock(&p->lock);
	bool dirty = p->outbox_dirty;
	p->outbox_dirty = false;
	pthread_mutex_unlock(&p->lock);
	int64_t now = now_ms();
	if (!dirty && p->outbox_empty && now - p->last_rescan_ms < OUTBOX_RESCAN_MS)
		return;
	p->last_rescan_ms = now;
	if (!p->db || db_broken(p->db)) {
		db_close(p->db);
		p->db = NULL;
		if (db_connect(p->cfg.db, &p->db)) {
			p->outbox_empty = false;
			return;
		}
	}
	struct fetch_ctx f = {.p = p};
	struct db_value limit = DB_INT((long long)room);
	int st = db_query(p->db, "SELECT seq, event_id, body FROM event_outbox ORDER BY seq LIMIT ?",
	                  &limit, 1, outbox_row, &f);
	if (f.failed)
		disconnect(p);
	else if (st < 0)
		log_warn("publisher: cannot read the outbox: %s", db_status_string(st));
	p->outbox_empty = st == 0 && f.rows < room;
}

static void publish_views(struct publisher *p)
{
	while (p->mq && p->inflight.count < p->inflight.cap) {
		pthread_mutex_lock(&p->lock);
		if (!p->views.count) {
			pthread_mutex_unlock(&p->lock);
			return;
		}
		struct msg m = ring_pop_front(&p->views);
		pthread_mutex_unlock(&p->lock);
		if (!publish(p, &m)) {
			disconnect(p);
			return;
		}
	}
}

static bool finished(struct publisher *p)
{
	pthread_mutex_lock(&p->lock);
	bool stopping = p->stopping;
	bool idle = p->views.count == 0;
	int64_t deadline = p->drain_deadline_ms;
	pthread_mutex_unlock(&p->lock);
	if (!stopping)
		return false;
	if (now_ms() > deadline)
		return true;
	return idle && p->inflight.count == 0 && p->outbox_empty && !p->ndelete;
}

static void *run(void *arg)
{
	struct publisher *p = arg;
	int backoff = 100;
	while (!finished(p)) {
		if (!p->mq) {
			if (!connect_broker(p)) {
				wait_ms(p, backoff, false);
				backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
				continue;
			}
			backoff = 100;
		}
		outbox_round(p);
		if (p->mq)
			publish_views(p);
		if (!p->mq)
			continue;
		if (p->inflight.count) {
			if (mq_poll_confirms(p->mq, 20, on_confirm, p)) {
				disconnect(p);
				continue;
			}
			retire_confirmed(p);
		} else {
			wait_ms(p, 200, true);
			/* Keeps heartbeats flowing and notices a closed connection. */
			if (p->mq && mq_poll_confirms(p->mq, 0, on_confirm, p))
				disconnect(p);
		}
	}
	pthread_mutex_lock(&p->lock);
	size_t left = p->views.count + p->inflight.count;
	uint64_t dropped = p->dropped;
	pthread_mutex_unlock(&p->lock);
	if (left || dropped)
		log_warn("publisher stopping with %zu view events unpublished, %llu dropped", left,
		         (unsigned long long)dropped);
	mq_close(p->mq);
	p->mq = NULL;
	db_close(p->db);
	p->db = NULL;
	return NULL;
}

int publisher_start(const struct publisher_config *cfg, struct publisher **out)
{
	struct publisher *p = calloc(1, sizeof *p);
	if (!p)
		return -1;
	p->cfg = *cfg;
	p->views.cap = cfg->view_queue_max;
	p->inflight.cap = cfg->confirm_window;
	p->views.m = calloc(p->views.cap, sizeof *p->views.m);
	p->inflight.m = calloc(p->inflight.cap, sizeof *p->inflight.m);
	p->to_delete = calloc(p->inflight.cap, sizeof *p->to_delete);
	p->outbox_dirty = true; /* rows may be left from before a restart */
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	if (!p->views.m || !p->inflight.m || !p->to_delete ||
	    pthread_create(&p->thread, NULL, run, p)) {
		free(p->views.m);
		free(p->inflight.m);
		free(p->to_delete);
		free(p);
		return -1;
	}
	*out = p;
	return 0;
}

void publisher_stop(struct publisher *p, int drain_ms)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	p->drain_deadline_ms = now_ms() + drain_ms;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	while (p->views.count)
		free(ring_pop_front(&p->views).body);
	while (p->inflight.count)
		free(ring_pop_front(&p->inflight).body);
	free(p->views.m);
	free(p->inflight.m);
	free(p->to_delete);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}

void publisher_enqueue_view(struct publisher *p, const char *event_id, char *body, size_t len)
{
	struct msg m = {.body = body, .len = len};
	snprintf(m.id, sizeof m.id, "%s", event_id);
	pthread_mutex_lock(&p->lock);
	bool queued = ring_push_back(&p->views, &m);
	if (!queued)
		p->dropped++;
	uint64_t dropped = p->dropped;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	if (!queued) {
		free(body);
		if (dropped % 1000 == 1)
			log_warn("view queue full: %llu view events dropped so far",
			         (unsigned long long)dropped);
	}
}

void publisher_kick_outbox(struct publisher *p)
{
	pthread_mutex_lock(&p->lock);
	p->outbox_dirty = true;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}
