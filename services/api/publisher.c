#include "publisher.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "clock.h"
#include "event.h"
#include "log.h"
#include "metrics.h"
#include "mq.h"
#include "spool.h"
#include "uuid.h"

#define OUTBOX_ROUND_MAX 2000
/* Views wait up to cfg.linger_ms for company before going out in a
 * message, unless a message's worth is already waiting. Likewise a
 * commit's outbox row, when the outbox was empty, waits for the rows of
 * the commits that follow it: one round (a SELECT, a message, a DELETE)
 * carries them all. With a backlog, rounds follow each other at once. */
#define VIEW_LINGER_BYTES (24u << 10)
#define OUTBOX_RESCAN_MS 1000
#define DELETE_CHUNK 64

/* A message carries one event, or when several are waiting an array of up
 * to MESSAGE_EVENTS_MAX of them: the broker's cost is per message, so
 * under load this multiplies what it can take. */
#define MESSAGE_EVENTS_MAX 100
#define MESSAGE_BYTES_MAX (256u << 10)

struct msg {
	char id[UUID_STR_LEN + 1]; /* the first event's id, used as message_id */
	char *body;                /* body[0] is '[' when several events */
	size_t len, cap, nevents;
	bool outbox;          /* events from the outbox (else views from the spool) */
	uint64_t *seqs;       /* outbox: the row of each event */
	unsigned partition;   /* mq.h: all its events' targets are in it */
	/* views: where its first event starts and its last ends in the spool;
	 * end becomes what the spool may confirm once it and every message
	 * before it are confirmed (packer_send). */
	struct spool_pos first, end;
	uint64_t tag;
	int64_t sent_ms; /* clock_ms() when published */
	bool confirmed, failed;
};

enum wake { WAKE_NEVER = 0, WAKE_OUTBOX = 1, WAKE_VIEWS = 2, WAKE_ANY = 3 };

/* What the publisher counts (metrics.h), by source: [0] the outbox, [1]
 * the spool. Events, not messages, but for messages. */
struct publisher_metrics {
	struct metrics_counter *published[2], *confirmed[2], *nacked[2], *returned[2];
	struct metrics_counter *messages, *reconnects;
	struct metrics_gauge *connected;
};

/* Events are packed into one message per partition at a time (mq.h): a
 * message holds one partition's events, so the broker routes it whole.
 * slots: room left in the in-flight window, less one for each open
 * message, which takes its slot when sent. */
struct packer {
	struct msg open[MQ_PARTITIONS_MAX];
	unsigned nopen; /* open messages holding events */
	size_t slots;
	bool outbox;
	/* views: the spool position before the next event, and the end given
	 * to the last message sent (ends only grow, in the order sent) */
	struct spool_pos next_start, last_end;
};

/* A ring of messages; not thread-safe by itself. */
struct ring {
	struct msg *m;
	size_t head, count, cap;
};

struct publisher {
	struct publisher_config cfg;
	struct spool *spool;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* under lock */
	bool stopping, outbox_dirty, views_ready;
	int64_t outbox_dirty_ms; /* when outbox_dirty was set */
	enum wake wake_on;       /* what the thread, waiting, wants to be woken for */
	int64_t drain_deadline_ms;
	/* thread-private */
	bool draining; /* the thread has seen stopping */
	struct mq *mq;
	struct db *db;
	struct ring inflight;
	uint64_t next_tag;
	uint64_t sent_messages, sent_events; /* since the last report */
	int64_t reported_ms;
	size_t outbox_inflight, views_inflight;
	bool outbox_empty;
	bool outbox_unreadable; /* the last round could not read the outbox (database away) */
	int64_t last_rescan_ms;
	uint64_t *to_delete;
	size_t ndelete;
	bool lost;                   /* a connection was lost: the next is a reconnect */
	struct publisher_metrics m;
	struct spool_pos view_read;  /* next view to publish */
	bool views_rewind;           /* a view failed: re-read from the confirmed position */
	/* The broker refused some (basic.nack: a queue without its majority,
	 * over a limit, a channel RabbitMQ 3.10 keeps refusing: pace()):
	 * nothing new goes out before resume_at_ms, a pause that doubles while
	 * refusals go on, so what it refuses is sent again (on a new
	 * connection) a few times a second at most, not as fast as it answers. */
	bool nacked, acked; /* answers seen since the last pace() */
	int nack_pause_ms;
	int64_t resume_at_ms;
	bool view_failed;            /* a view could not be sent during spool_read */
	int64_t views_waiting_since; /* when unsent views were first seen, or 0 */
	/* written by the thread, read by publisher_health from any thread */
	atomic_bool h_connected;
	atomic_llong h_down_since_ms;  /* clock_ms() since when not connected */
	atomic_llong h_unconfirmed;    /* events published, not yet confirmed */
	atomic_llong h_oldest_sent_ms; /* the oldest unconfirmed message's sent_ms, 0: none */
};

static void msg_free(struct msg *m)
{
	free(m->body);
	free(m->seqs);
	*m = (struct msg){0};
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

static struct msg ring_pop_front(struct ring *r)
{
	struct msg m = r->m[r->head];
	r->head = (r->head + 1) % r->cap;
	r->count--;
	return m;
}

/* Sleeps up to ms; new work of the kinds in wake cuts it short (a backoff
 * must not be cut short by the very work it holds back, nor a linger by
 * the views it waits for). */
static void wait_ms(struct publisher *p, int ms, enum wake wake)
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
	/* Commits and views signal only what wake asks for, so a linger is
	 * not woken by each of them. A stop wakes the thread once; while it
	 * drains, it waits as before. */
	p->wake_on = wake;
	while (!(p->stopping && !p->draining) && !((wake & WAKE_OUTBOX) && p->outbox_dirty) &&
	       !((wake & WAKE_VIEWS) && p->views_ready))
		if (pthread_cond_timedwait(&p->cond, &p->lock, &ts) == ETIMEDOUT)
			break;
	p->wake_on = WAKE_NEVER;
	pthread_mutex_unlock(&p->lock);
}

/* The connection died: what was in flight is sent again, outbox rows by
 * fetching them again, views by reading the spool from the confirmed
 * position. Outbox rows the broker did confirm stay in to_delete: the next
 * round deletes them before it fetches. */
static void disconnect(struct publisher *p)
{
	mq_close(p->mq);
	p->mq = NULL;
	p->lost = true;
	metrics_gauge_set(p->m.connected, 0);
	while (p->inflight.count) {
		struct msg m = ring_pop_front(&p->inflight);
		msg_free(&m);
	}
	p->outbox_inflight = p->views_inflight = 0;
	p->outbox_empty = false;
	p->view_read = spool_confirmed(p->spool);
	p->views_rewind = false;
	spool_broker_up(p->spool, false);
	atomic_store(&p->h_connected, false);
	atomic_store(&p->h_down_since_ms, clock_ms());
	atomic_store(&p->h_unconfirmed, 0);
	atomic_store(&p->h_oldest_sent_ms, 0);
}

static bool connect_broker(struct publisher *p)
{
	if (mq_open(p->cfg.amqp_url, &p->mq))
		return false;
	if (mq_declare_topology(p->mq, &p->cfg.topology) || mq_confirm_select(p->mq)) {
		mq_close(p->mq);
		p->mq = NULL;
		return false;
	}
	p->next_tag = 0;
	spool_broker_up(p->spool, true);
	atomic_store(&p->h_connected, true);
	if (p->lost)
		metrics_inc(p->m.reconnects);
	p->lost = false;
	metrics_gauge_set(p->m.connected, 1);
	log_info("publisher connected to the broker");
	return true;
}

/* True when the event of len bytes no longer fits in m. */
static bool msg_full(const struct msg *m, size_t len)
{
	return m->nevents == MESSAGE_EVENTS_MAX ||
	       (m->nevents && m->len + len + 2 > MESSAGE_BYTES_MAX);
}

/* Appends one event to the message being packed. */
static bool msg_add(struct msg *m, const char *id, const char *body, size_t len, uint64_t seq)
{
	if (m->len + len + 2 > m->cap) {
		size_t cap = (m->len + len + 2) * 2;
		char *b = realloc(m->body, cap);
		if (!b)
			return false;
		m->body = b;
		m->cap = cap;
	}
	if (m->outbox && !m->seqs && !(m->seqs = malloc(MESSAGE_EVENTS_MAX * sizeof *m->seqs)))
		return false;
	if (m->nevents == 0) {
		snprintf(m->id, sizeof m->id, "%s", id);
		m->body[m->len++] = '[';
	} else {
		m->body[m->len++] = ',';
	}
	memcpy(m->body + m->len, body, len);
	m->len += len;
	if (m->outbox)
		m->seqs[m->nevents] = seq;
	m->nevents++;
	return true;
}

/* Sends m (taking it over) and tracks it until confirmed. A lone event
 * goes as a plain object, several as an array. */
static bool publish(struct publisher *p, struct msg *m)
{
	if (m->nevents == 1) {
		memmove(m->body, m->body + 1, --m->len);
	} else {
		m->body[m->len++] = ']';
	}
	char key[MQ_NAME_MAX];
	mq_routing_key(m->partition, key);
	m->tag = ++p->next_tag;
	m->sent_ms = clock_ms();
	m->confirmed = m->failed = false;
	struct msg sent = *m;
	*m = (struct msg){.outbox = sent.outbox, .partition = sent.partition};
	if (!ring_push_back(&p->inflight, &sent)) { /* callers keep room; never expected */
		msg_free(&sent);
		return false;
	}
	if (p->inflight.count == 1)
		atomic_store(&p->h_oldest_sent_ms, sent.sent_ms);
	atomic_fetch_add(&p->h_unconfirmed, (long long)sent.nevents);
	if (sent.outbox)
		p->outbox_inflight++;
	else
		p->views_inflight++;
	p->sent_messages++;
	p->sent_events += sent.nevents;
	if (mq_publish(p->mq, MQ_EXCHANGE, key, sent.id, sent.body, sent.len, NULL))
		return false;
	metrics_inc(p->m.messages);
	metrics_add(p->m.published[!sent.outbox], sent.nevents);
	return true;
}

static bool pos_less(struct spool_pos a, struct spool_pos b)
{
	return a.segment < b.segment || (a.segment == b.segment && a.offset < b.offset);
}

static void packer_init(struct publisher *p, struct packer *k, bool outbox, size_t slots)
{
	k->nopen = 0;
	k->slots = slots;
	k->outbox = outbox;
	k->next_start = k->last_end = p->view_read;
	for (unsigned i = 0; i < p->cfg.topology.partitions; i++)
		k->open[i] = (struct msg){.outbox = outbox, .partition = i};
}

/* Sends open message m. A view message's end is the spool position the
 * broker's confirms may advance to: not past the first view of another
 * open message, which is still unsent, and never back. */
static bool packer_send(struct publisher *p, struct packer *k, struct msg *m)
{
	if (!k->outbox) {
		for (unsigned i = 0; i < p->cfg.topology.partitions; i++) {
			const struct msg *o = &k->open[i];
			if (o != m && o->nevents && pos_less(o->first, m->end))
				m->end = o->first;
		}
		if (pos_less(m->end, k->last_end))
			m->end = k->last_end;
		k->last_end = m->end;
	}
	k->nopen--;
	return publish(p, m);
}

/* Packs one event (body of len bytes, borrowed) into its partition's
 * message, sending that message first when full. Returns 1 when packed, 0
 * when the window has no room for another message (the event waits for
 * the next round), -1 when a send failed. */
static int packer_add(struct publisher *p, struct packer *k, const char *id, const char *body,
                      size_t len, uint64_t seq, struct spool_pos end)
{
	unsigned q = 0;
	const char *type, *tid;
	size_t type_len, tid_len;
	if (p->cfg.topology.partitions > 1 &&
	    event_target_peek(body, len, &type, &type_len, &tid, &tid_len))
		q = mq_partition(type, type_len, tid, tid_len, p->cfg.topology.partitions);
	struct msg *m = &k->open[q];
	if (!m->nevents || msg_full(m, len)) {
		if (!k->slots)
			return 0;
		if (m->nevents && !packer_send(p, k, m))
			return -1;
		k->slots--;
		k->nopen++;
		m->first = k->next_start;
	}
	if (!msg_add(m, id, body, len, seq))
		return -1;
	m->end = k->next_start = end;
	return 1;
}

/* Sends the open messages, views in the order of their last events (so
 * their ends grow with their delivery tags), and frees them. */
static bool packer_flush(struct publisher *p, struct packer *k)
{
	bool ok = true;
	while (k->nopen && ok) {
		struct msg *m = NULL;
		for (unsigned i = 0; i < p->cfg.topology.partitions; i++)
			if (k->open[i].nevents && (!m || pos_less(k->open[i].end, m->end)))
				m = &k->open[i];
		ok = packer_send(p, k, m);
	}
	for (unsigned i = 0; i < p->cfg.topology.partitions; i++)
		msg_free(&k->open[i]);
	return ok;
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
		/* Counted as the broker's answer arrives, once per message: a
		 * return is followed by its ack. */
		if (!m->confirmed && what != MQ_RETURNED) {
			struct metrics_counter *c = what == MQ_NACK ? p->m.nacked[!m->outbox]
			                            : m->failed     ? p->m.returned[!m->outbox]
			                                            : p->m.confirmed[!m->outbox];
			metrics_add(c, m->nevents);
		}
		if (what == MQ_ACK)
			m->confirmed = p->acked = true;
		else if (what == MQ_NACK)
			m->confirmed = m->failed = p->nacked = true;
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

/* Pops the confirmed prefix of the in-flight ring. A failed outbox row
 * stays in its table for the next round; a failed view stops the spool's
 * confirmed position, and the views after it are read again. */
static void retire_confirmed(struct publisher *p)
{
	bool views_confirmed = false;
	struct spool_pos view_end = {0, 0};
	while (p->inflight.count && ring_at(&p->inflight, 0)->confirmed) {
		struct msg m = ring_pop_front(&p->inflight);
		atomic_fetch_sub(&p->h_unconfirmed, (long long)m.nevents);
		atomic_store(&p->h_oldest_sent_ms,
		             p->inflight.count ? ring_at(&p->inflight, 0)->sent_ms : 0);
		if (m.outbox) {
			p->outbox_inflight--;
			if (m.failed)
				p->outbox_empty = false;
			else
				for (size_t i = 0; i < m.nevents; i++)
					p->to_delete[p->ndelete++] = m.seqs[i];
			msg_free(&m);
			continue;
		}
		p->views_inflight--;
		if (m.failed)
			p->views_rewind = true;
		else if (!p->views_rewind) {
			view_end = m.end;
			views_confirmed = true;
		}
		msg_free(&m);
	}
	if (views_confirmed)
		spool_confirm(p->spool, view_end);
	if (p->views_rewind && p->views_inflight == 0) {
		p->view_read = spool_confirmed(p->spool);
		p->views_rewind = false;
	}
	if (p->ndelete && p->outbox_inflight == 0)
		flush_deletes(p);
}

struct fetch_ctx {
	struct publisher *p;
	struct packer k;
	size_t rows;
	bool failed, full;
};

static int outbox_row(void *ctx, const struct db_row *row)
{
	struct fetch_ctx *f = ctx;
	int r = packer_add(f->p, &f->k, row->val[1], row->val[2], row->len[2],
	                   strtoull(row->val[0], NULL, 10), (struct spool_pos){0, 0});
	f->rows += r == 1;
	f->failed = r < 0;
	f->full = r == 0; /* the row stays for the next round */
	return r != 1;
}

/* One outbox round: the oldest rows, published together, deleted together
 * when all are confirmed. Rounds never overlap, so a row whose transaction
 * committed after a younger one is picked up by the next round. Returns
 * how many ms it wants to linger for more rows (0: none). */
static int outbox_round(struct publisher *p)
{
	if (p->outbox_inflight)
		return 0;
	/* Rows confirmed in a round that a lost connection cut short. */
	if (p->ndelete)
		flush_deletes(p);
	/* Rows, at most what the free part of the window can carry. */
	size_t room = (p->inflight.cap - p->inflight.count) * MESSAGE_EVENTS_MAX;
	if (room > OUTBOX_ROUND_MAX)
		room = OUTBOX_ROUND_MAX;
	if (room == 0)
		return 0;
	int64_t now = clock_ms();
	pthread_mutex_lock(&p->lock);
	bool dirty = p->outbox_dirty, stopping = p->stopping;
	int64_t waited = now - p->outbox_dirty_ms;
	if (dirty && p->outbox_empty && !stopping && waited < p->cfg.linger_ms) {
		pthread_mutex_unlock(&p->lock);
		return (int)(p->cfg.linger_ms - waited);
	}
	p->outbox_dirty = false;
	pthread_mutex_unlock(&p->lock);
	if (!dirty && p->outbox_empty && now - p->last_rescan_ms < OUTBOX_RESCAN_MS)
		return 0;
	p->last_rescan_ms = now;
	if (!p->db || db_broken(p->db)) {
		db_close(p->db);
		p->db = NULL;
		if (db_connect(p->cfg.db, &p->db)) {
			p->outbox_empty = false;
			p->outbox_unreadable = true;
			return 0;
		}
	}
	struct fetch_ctx f = {.p = p};
	packer_init(p, &f.k, true, p->inflight.cap - p->inflight.count);
	struct db_value limit = DB_INT((long long)room);
	int st = db_query(p->db, "SELECT seq, event_id, body FROM event_outbox ORDER BY seq LIMIT ?",
	                  &limit, 1, outbox_row, &f);
	if (!packer_flush(p, &f.k))
		f.failed = true;
	if (f.failed)
		disconnect(p);
	else if (st < 0)
		log_warn("publisher: cannot read the outbox: %s", db_status_string(st));
	p->outbox_empty = st == 0 && !f.full && f.rows < room;
	p->outbox_unreadable = st == DB_ERR_GONE;
	return 0;
}

struct view_ctx {
	struct publisher *p;
	struct packer k;
	bool full; /* a view found no room: it is read again next time */
};

static int view_record(void *ctx, const char *id, const char *body, size_t len,
                       struct spool_pos end)
{
	struct view_ctx *v = ctx;
	int r = packer_add(v->p, &v->k, id, body, len, 0, end);
	v->p->view_failed = r < 0;
	v->full = r == 0;
	return r != 1;
}

/* Publishes the durable views, in messages of up to MESSAGE_EVENTS_MAX.
 * Returns how many ms it wants to linger for more (0: nothing waits). */
static int publish_views(struct publisher *p)
{
	pthread_mutex_lock(&p->lock);
	p->views_ready = false;
	bool stopping = p->stopping;
	pthread_mutex_unlock(&p->lock);
	if (p->views_rewind || !p->mq)
		return 0;
	uint64_t unread = spool_unread_bytes(p->spool, p->view_read);
	/* Nothing to read: the next view written wakes the thread (one
	 * wake-up per idle spell, not one per view). */
	if (!unread && spool_notify_when_written(p->spool, p->view_read)) {
		p->views_waiting_since = 0;
		return 0;
	}
	if (!unread)
		unread = spool_unread_bytes(p->spool, p->view_read);
	int64_t now = clock_ms();
	if (!p->views_waiting_since)
		p->views_waiting_since = now;
	int64_t waited = now - p->views_waiting_since;
	if (unread < VIEW_LINGER_BYTES && waited < p->cfg.linger_ms && !stopping)
		return (int)(p->cfg.linger_ms - waited);
	size_t room = p->inflight.cap - p->inflight.count;
	if (!room)
		return 0;
	p->view_failed = false;
	struct view_ctx v = {.p = p};
	packer_init(p, &v.k, false, room);
	spool_read(p->spool, &p->view_read, room * MESSAGE_EVENTS_MAX, view_record, &v);
	if (v.full) /* spool_read went past the view that did not fit */
		p->view_read = v.k.next_start;
	if (!packer_flush(p, &v.k))
		p->view_failed = true;
	p->views_waiting_since = 0;
	if (p->view_failed) /* start over from what the broker confirmed */
		disconnect(p);
	return 0;
}

/* Every minute that saw traffic: what went out, and what waits. */
static void report(struct publisher *p)
{
	int64_t now = clock_ms();
	/* AUDITLOG_REPORT_MS: the tests' and benchmarks' shorter period. */
	const char *every = getenv("AUDITLOG_REPORT_MS");
	long period = every ? atol(every) : 60000;
	if (now - p->reported_ms < (period > 0 ? period : 60000))
		return;
	if (p->sent_messages) {
		struct spool_stats st;
		spool_stats(p->spool, &st);
		log_info("published %llu events in %llu messages in %llds; spool backlog %llu bytes, "
		         "%llu view events dropped in all",
		         (unsigned long long)p->sent_events, (unsigned long long)p->sent_messages,
		         (long long)(now - p->reported_ms) / 1000,
		         (unsigned long long)st.backlog_bytes, (unsigned long long)st.dropped);
	}
	p->sent_messages = p->sent_events = 0;
	p->reported_ms = now;
}

static bool finished(struct publisher *p)
{
	pthread_mutex_lock(&p->lock);
	bool stopping = p->stopping;
	int64_t deadline = p->drain_deadline_ms;
	pthread_mutex_unlock(&p->lock);
	if (!stopping)
		return false;
	p->draining = true;
	if (clock_ms() > deadline)
		return true;
	/* An outbox the database will not let us read is not waited for: its
	 * rows are safe where they are, and go out at the next start. */
	return p->inflight.count == 0 && (p->outbox_empty || p->outbox_unreadable) &&
	       !p->ndelete && spool_caught_up(p->spool, p->view_read);
}

#define NACK_PAUSE_MAX_MS 5000

/* After the broker's answers: a refusal pauses sending (doubling from
 * 100 ms to NACK_PAUSE_MAX_MS while refusals go on) and drops the
 * connection, so what was refused goes out again after the pause on a new
 * channel; an acceptance alone ends the pause's growth.
 *
 * A new channel because RabbitMQ 3.10 may refuse everything an old one
 * sends to a quorum queue: a channel whose first publish to a queue came
 * while the node its record names as leader was down (just killed, before
 * the record names the new leader) is refused until that node is back
 * (rabbit_fifo_client:enqueue asks that node for the machine version, gets
 * nodedown, answers reject_publish and never tries another member; seen:
 * 34 s and 110 s without an event stored while the node stayed down), and
 * a queue that blocked a channel over a limit may go on refusing it after
 * it has room again (measured). A new channel asks the queue afresh.
 * Refusals of what was sent before the connection was dropped do not
 * arrive, so the pause grows once per round sent, not once per message
 * refused (one round of refusals took it from 100 ms to 5 s, a tester's
 * 6 s without an event stored). */
static void pace(struct publisher *p)
{
	if (p->nacked) {
		p->nack_pause_ms = p->nack_pause_ms ? p->nack_pause_ms * 2 : 100;
		if (p->nack_pause_ms > NACK_PAUSE_MAX_MS)
			p->nack_pause_ms = NACK_PAUSE_MAX_MS;
		p->resume_at_ms = clock_ms() + p->nack_pause_ms;
		log_warn("the broker refused events (basic.nack): sending them again in %d ms on a new "
		         "connection",
		         p->nack_pause_ms);
		disconnect(p);
	} else if (p->acked) {
		p->nack_pause_ms = 0;
	}
	p->nacked = p->acked = false;
}

static void *run(void *arg)
{
	struct publisher *p = arg;
	int backoff = 100;
	prctl(PR_SET_NAME, "api-publisher");
	while (!finished(p)) {
		if (!p->mq) {
			if (!connect_broker(p)) {
				pthread_mutex_lock(&p->lock);
				bool stopping = p->stopping;
				pthread_mutex_unlock(&p->lock);
				if (stopping)
					break; /* nothing can be drained: what is left stays spooled */
				wait_ms(p, backoff, WAKE_NEVER);
				backoff = backoff * 2 > MQ_RECONNECT_MAX_MS ? MQ_RECONNECT_MAX_MS : backoff * 2;
				continue;
			}
			backoff = 100;
		}
		report(p);
		int linger = 0, view_linger = 0;
		int64_t paused = p->resume_at_ms - clock_ms();
		if (paused > 0) {
			linger = (int)paused;
		} else {
			linger = outbox_round(p);
			view_linger = p->mq ? publish_views(p) : 0;
		}
		if (!p->mq)
			continue;
		if (view_linger && (!linger || view_linger < linger))
			linger = view_linger;
		if (p->inflight.count) {
			if (mq_poll_confirms(p->mq, linger ? linger : 20, on_confirm, p)) {
				disconnect(p);
				continue;
			}
			retire_confirmed(p);
			pace(p);
		} else {
			wait_ms(p, linger ? linger : 200, linger ? WAKE_NEVER : WAKE_ANY);
			/* Keeps heartbeats flowing and notices a closed connection. */
			if (p->mq && mq_poll_confirms(p->mq, 0, on_confirm, p))
				disconnect(p);
		}
	}
	if (p->outbox_unreadable)
		log_warn("publisher stopping without reading the outbox (the database does not "
		         "answer): the events committed there are sent at the next start");
	else if (!p->outbox_empty)
		log_warn("publisher stopping before the outbox was emptied (the deadline passed or the "
		         "broker is away): what it holds is sent at the next start");
	struct spool_stats st;
	spool_stats(p->spool, &st);
	if (st.backlog_bytes || st.dropped)
		log_warn("publisher stopping with %llu bytes of view events unconfirmed in the spool "
		         "(sent at the next start), %llu dropped",
		         (unsigned long long)st.backlog_bytes, (unsigned long long)st.dropped);
	mq_close(p->mq);
	p->mq = NULL;
	metrics_gauge_set(p->m.connected, 0);
	db_close(p->db);
	p->db = NULL;
	return NULL;
}

static void register_metrics(struct publisher_metrics *m)
{
	static const char *const sources[] = {"outbox", "spool"};
	for (int i = 0; i < 2; i++) {
		m->published[i] = metrics_counter(
		    "auditlog_published_events_total",
		    "Data events published to the broker, by source (re-sends after a lost "
		    "connection counted again).",
		    "source", sources[i], NULL);
		m->confirmed[i] = metrics_counter(
		    "auditlog_confirmed_events_total",
		    "Published data events the broker confirmed (basic.ack), by source.", "source",
		    sources[i], NULL);
		m->nacked[i] = metrics_counter(
		    "auditlog_nacked_events_total",
		    "Published data events the broker refused (basic.nack), by source; sent again.",
		    "source", sources[i], NULL);
		m->returned[i] = metrics_counter("auditlog_returned_events_total",
		                                 "Published data events no queue took "
		                                 "(basic.return, then their ack), by source; "
		                                 "sent again.",
		                                 "source", sources[i], NULL);
	}
	m->messages = metrics_counter("auditlog_published_messages_total",
	                              "Messages published to the broker (each holds one data "
	                              "event or an array of them).",
	                              NULL);
	m->reconnects = metrics_counter(MQ_RECONNECTS_METRIC, NULL);
	m->connected = metrics_gauge(MQ_CONNECTIONS_METRIC, NULL);
}

/* The spool's counts and backlog, as it keeps them, and what waits for the
 * broker's answer. (The outbox's backlog is the API's database watch's:
 * h_health.c.) */
static void collect(struct metrics_out *out, void *ctx)
{
	struct publisher *p = ctx;
	struct publisher_health h;
	publisher_health(p, &h);
	metrics_out_counter(out, "auditlog_spooled_events_total",
	                    "View events written to the spool.", (double)h.spool.appended);
	metrics_out_counter(out, "auditlog_spool_dropped_events_total",
	                    "View events lost: too long for a record, or the disk refused them.",
	                    (double)h.spool.dropped);
	metrics_out_counter(out, "auditlog_spool_syncs_total", "fdatasync calls on the spool.",
	                    (double)h.spool.syncs);
	metrics_out_gauge(out, "auditlog_spool_backlog_bytes",
	                  "Bytes of view events in the spool that the broker has not confirmed.",
	                  (double)h.spool.backlog_bytes);
	metrics_out_gauge(out, "auditlog_spool_unsynced_bytes",
	                  "Bytes of view events written to the spool since its last fdatasync, "
	                  "confirmed ones included (those are never synced: the broker holds them).",
	                  (double)h.spool.unsynced_bytes);
	metrics_out_gauge(out, "auditlog_unconfirmed_events",
	                  "Data events published and awaiting the broker's confirmation.",
	                  (double)h.unconfirmed);
}

static void views_ready(void *ctx)
{
	struct publisher *p = ctx;
	pthread_mutex_lock(&p->lock);
	p->views_ready = true;
	if (p->wake_on & WAKE_VIEWS)
		pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

int publisher_start(const struct publisher_config *cfg, struct publisher **out)
{
	struct publisher *p = calloc(1, sizeof *p);
	if (!p)
		return -1;
	p->cfg = *cfg;
	p->inflight.cap = cfg->confirm_window;
	p->inflight.m = calloc(p->inflight.cap, sizeof *p->inflight.m);
	p->to_delete = calloc(OUTBOX_ROUND_MAX, sizeof *p->to_delete);
	p->outbox_dirty = true; /* rows may be left from before a restart */
	p->views_ready = true;  /* and views in the spool */
	atomic_store(&p->h_down_since_ms, clock_ms());
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	if (!p->inflight.m || !p->to_delete ||
	    spool_open(cfg->spool_dir, views_ready, p, &p->spool))
		goto fail;
	p->view_read = spool_confirmed(p->spool);
	register_metrics(&p->m);
	if (pthread_create(&p->thread, NULL, run, p)) {
		spool_close(p->spool);
		goto fail;
	}
	metrics_collector_add(collect, p);
	*out = p;
	return 0;
fail:
	free(p->inflight.m);
	free(p->to_delete);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
	return -1;
}

void publisher_stop(struct publisher *p, int drain_ms)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	p->drain_deadline_ms = clock_ms() + drain_ms;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	metrics_collector_remove(collect, p);
	while (p->inflight.count) {
		struct msg m = ring_pop_front(&p->inflight);
		msg_free(&m);
	}
	spool_close(p->spool);
	free(p->inflight.m);
	free(p->to_delete);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}

void publisher_health(struct publisher *p, struct publisher_health *out)
{
	out->connected = atomic_load(&p->h_connected);
	out->down_since_ms = atomic_load(&p->h_down_since_ms);
	long long n = atomic_load(&p->h_unconfirmed);
	out->unconfirmed = n > 0 ? (uint64_t)n : 0;
	out->oldest_unconfirmed_ms = atomic_load(&p->h_oldest_sent_ms);
	spool_stats(p->spool, &out->spool);
}

void publisher_enqueue_view(struct publisher *p, const char *event_id, const char *body,
                            size_t len)
{
	spool_append(p->spool, event_id, body, len);
}

void publisher_kick_outbox(struct publisher *p)
{
	int64_t now = clock_ms();
	pthread_mutex_lock(&p->lock);
	if (!p->outbox_dirty) {
		p->outbox_dirty = true;
		p->outbox_dirty_ms = now;
	}
	if (p->wake_on & WAKE_OUTBOX)
		pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}
