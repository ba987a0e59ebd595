#include "mq.h"

#include <amqp_tcp_socket.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "ratelimit.h"

struct mq {
	amqp_connection_state_t conn;
	bool dead;
	char *buf; /* the latest delivery's body */
	size_t buf_cap;
	uint64_t pending_left; /* bytes of a pending body still on the wire */
	char consumer_tag[256]; /* the broker's, from basic.consume-ok; "" when none */
};

amqp_connection_state_t mq_connection(struct mq *mq)
{
	return mq->conn;
}

/* Logs a failed RPC; returns -1. */
static int rpc_failed(struct mq *mq, const char *what, amqp_rpc_reply_t r)
{
	mq->dead = true;
	switch (r.reply_type) {
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		log_warn("amqp %s: %s", what, amqp_error_string2(r.library_error));
		break;
	case AMQP_RESPONSE_SERVER_EXCEPTION:
		if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
			amqp_connection_close_t *c = r.reply.decoded;
			log_warn("amqp %s: connection closed by broker: %u %.*s", what, c->reply_code,
			         (int)c->reply_text.len, (const char *)c->reply_text.bytes);
		} else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
			amqp_channel_close_t *c = r.reply.decoded;
			log_warn("amqp %s: channel closed by broker: %u %.*s", what, c->reply_code,
			         (int)c->reply_text.len, (const char *)c->reply_text.bytes);
		} else {
			log_warn("amqp %s: broker exception (method %08x)", what, r.reply.id);
		}
		break;
	default:
		log_warn("amqp %s: no reply", what);
	}
	return -1;
}

static int check(struct mq *mq, const char *what)
{
	amqp_rpc_reply_t r = amqp_get_rpc_reply(mq->conn);
	return r.reply_type == AMQP_RESPONSE_NORMAL ? 0 : rpc_failed(mq, what, r);
}

int mq_open(const char *url, struct mq **out)
{
	return mq_open_timeout(url, 0, out);
}

/* The broker of a list that this process reached last: where every
 * thread starts, so a failed node is skipped once, not by each thread. */
static atomic_uint reached;

static int open_one(const char *url, int timeout_ms, struct mq **out);

int mq_open_timeout(const char *url, int timeout_ms, struct mq **out)
{
	if (!strchr(url, ','))
		return open_one(url, timeout_ms, out);
	char *copy = strdup(url), *urls[MQ_URLS_MAX], *save = NULL;
	unsigned n = 0;
	int rc = -1;
	if (!copy)
		return -1;
	for (char *u = strtok_r(copy, ",", &save); u && n < MQ_URLS_MAX; u = strtok_r(NULL, ",", &save))
		urls[n++] = u + strspn(u, " ");
	unsigned first = atomic_load(&reached);
	for (unsigned i = 0; i < n && rc; i++) {
		unsigned k = (first + i) % n;
		if (!(rc = open_one(urls[k], timeout_ms, out)) && k != first % n) {
			atomic_store(&reached, k);
			log_info("amqp: connected to broker %u of %u (the one before did not answer)",
			         k + 1, n);
		}
	}
	free(copy);
	return rc;
}

static int open_one(const char *url, int timeout_ms, struct mq **out)
{
	struct mq *mq = calloc(1, sizeof *mq);
	char *copy = strdup(url);
	struct amqp_connection_info ci;
	int rc = -1;
	if (!mq || !copy)
		goto out;
	amqp_default_connection_info(&ci);
	if (amqp_parse_url(copy, &ci) != AMQP_STATUS_OK) {
		log_error("amqp: cannot parse the URL (expected amqp://user:pass@host:port/vhost)");
		goto out;
	}
	const char *vhost = ci.vhost && ci.vhost[0] ? ci.vhost : "/";
	if (!(mq->conn = amqp_new_connection()))
		goto out;
	amqp_socket_t *sock = amqp_tcp_socket_new(mq->conn);
	struct timeval tv = {.tv_sec = 5};
	if (timeout_ms > 0)
		tv = (struct timeval){.tv_sec = timeout_ms / 1000, .tv_usec = timeout_ms % 1000 * 1000};
	if (!sock) {
		log_error("amqp: cannot make a socket");
		goto out;
	}
	int st = amqp_socket_open_noblock(sock, ci.host, ci.port, &tv);
	if (st != AMQP_STATUS_OK) {
		/* Every thread tries again twice a second while the broker is away. */
		static struct ratelimit limit;
		unsigned long more = 0;
		if (ratelimit_allow(&limit, 1, 10000, &more))
			log_warn("amqp: cannot connect to %s:%d: %s (%lu more such failures not logged)",
			         ci.host, ci.port, amqp_error_string2(st), more);
		goto out;
	}
	/* Bound every later call too, so a frozen broker cannot hang a thread. */
	struct timeval rpc_tv = {.tv_sec = 10};
	if (timeout_ms > 0) {
		rpc_tv = tv;
		amqp_set_handshake_timeout(mq->conn, &tv);
	}
	amqp_set_rpc_timeout(mq->conn, &rpc_tv);
	amqp_rpc_reply_t r = amqp_login(mq->conn, vhost, 0, 131072, MQ_HEARTBEAT_S,
	                                AMQP_SASL_METHOD_PLAIN, ci.user, ci.password);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		rpc_failed(mq, "login", r);
		goto out;
	}
	amqp_channel_open(mq->conn, 1);
	if (check(mq, "channel.open"))
		goto out;
	*out = mq;
	mq = NULL;
	rc = 0;
out:
	free(copy);
	if (mq) {
		mq->dead = true;
		mq_close(mq);
	}
	return rc;
}

int mq_ping(struct mq *mq)
{
	if (mq->dead)
		return -1;
	if (amqp_basic_qos(mq->conn, 1, 0, 0, false))
		return 0;
	mq->dead = true; /* no reply in time: closing would wait on it again */
	return -1;
}

void mq_close(struct mq *mq)
{
	if (!mq)
		return;
	if (mq->conn) {
		if (!mq->dead) {
			amqp_channel_close(mq->conn, 1, AMQP_REPLY_SUCCESS);
			amqp_connection_close(mq->conn, AMQP_REPLY_SUCCESS);
		}
		amqp_destroy_connection(mq->conn);
	}
	free(mq->buf);
	free(mq);
}

unsigned mq_partition(const char *type, size_t type_len, const char *id, size_t id_len,
                      unsigned partitions)
{
	uint32_t h = 2166136261u; /* FNV-1a, 32-bit: offset basis and prime */
	for (size_t i = 0; i < type_len; i++)
		h = (h ^ (unsigned char)type[i]) * 16777619u;
	h = (h ^ (unsigned char)':') * 16777619u;
	for (size_t i = 0; i < id_len; i++)
		h = (h ^ (unsigned char)id[i]) * 16777619u;
	return partitions > 1 ? h % partitions : 0;
}

void mq_queue_name(unsigned p, char buf[MQ_NAME_MAX])
{
	if (p == 0)
		snprintf(buf, MQ_NAME_MAX, "%s", MQ_QUEUE);
	else
		snprintf(buf, MQ_NAME_MAX, "%s.%u", MQ_QUEUE, p);
}

void mq_routing_key(unsigned p, char buf[MQ_NAME_MAX])
{
	if (p == 0)
		snprintf(buf, MQ_NAME_MAX, "%s", MQ_ROUTING_KEY);
	else
		snprintf(buf, MQ_NAME_MAX, "%s.%u", MQ_ROUTING_KEY, p);
}

static amqp_table_entry_t str_arg(const char *key, const char *value)
{
	return (amqp_table_entry_t){.key = amqp_cstring_bytes(key),
	                            .value = {.kind = AMQP_FIELD_KIND_UTF8,
	                                      .value.bytes = amqp_cstring_bytes(value)}};
}

static int declare_queue(struct mq *mq, const char *name, const struct mq_topology *t,
                         bool partition)
{
	amqp_table_entry_t e[7];
	int n = 0;
	if (t->quorum) {
		e[n++] = str_arg("x-queue-type", "quorum");
		if (partition) {
			e[n++] = (amqp_table_entry_t){.key = amqp_cstring_bytes("x-single-active-consumer"),
			                              .value = {.kind = AMQP_FIELD_KIND_BOOLEAN,
			                                        .value.boolean = 1}};
			e[n++] = (amqp_table_entry_t){
			    .key = amqp_cstring_bytes("x-delivery-limit"),
			    .value = {.kind = AMQP_FIELD_KIND_I64, .value.i64 = t->delivery_limit}};
			e[n++] = str_arg("x-dead-letter-exchange", "");
			e[n++] = str_arg("x-dead-letter-routing-key", MQ_DEAD_QUEUE);
			e[n++] = str_arg("x-dead-letter-strategy", "at-least-once");
			e[n++] = str_arg("x-overflow", "reject-publish"); /* at-least-once needs it */
		}
	}
	amqp_table_t args = {.num_entries = n, .entries = e};
	amqp_queue_declare(mq->conn, 1, amqp_cstring_bytes(name), 0, 1, 0, 0, args);
	char what[MQ_NAME_MAX + 16];
	snprintf(what, sizeof what, "queue.declare %s", name);
	return check(mq, what);
}

int mq_declare_topology(struct mq *mq, const struct mq_topology *t)
{
	amqp_exchange_declare(mq->conn, 1, amqp_cstring_bytes(MQ_EXCHANGE),
	                      amqp_cstring_bytes("topic"), 0, 1, 0, 0, amqp_empty_table);
	if (check(mq, "exchange.declare " MQ_EXCHANGE))
		return -1;
	/* The dead-letter queue first: the partitions' dead-letter to it. */
	if (declare_queue(mq, MQ_DEAD_QUEUE, t, false))
		return -1;
	for (unsigned p = 0; p < t->partitions; p++) {
		char queue[MQ_NAME_MAX], key[MQ_NAME_MAX + 2];
		mq_queue_name(p, queue);
		if (p == 0)
			snprintf(key, sizeof key, "%s", MQ_BINDING);
		else
			snprintf(key, sizeof key, "%s.%u", MQ_BINDING, p);
		if (declare_queue(mq, queue, t, true))
			return -1;
		amqp_queue_bind(mq->conn, 1, amqp_cstring_bytes(queue), amqp_cstring_bytes(MQ_EXCHANGE),
		                amqp_cstring_bytes(key), amqp_empty_table);
		if (check(mq, "queue.bind"))
			return -1;
	}
	return 0;
}

int mq_confirm_select(struct mq *mq)
{
	amqp_confirm_select(mq->conn, 1);
	return check(mq, "confirm.select");
}

int mq_publish(struct mq *mq, const char *exchange, const char *routing_key,
               const char *message_id, const void *body, size_t len,
               const amqp_table_t *headers)
{
	amqp_basic_properties_t props = {
	    ._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
	              AMQP_BASIC_MESSAGE_ID_FLAG,
	    .content_type = amqp_cstring_bytes("application/json"),
	    .delivery_mode = AMQP_DELIVERY_PERSISTENT,
	    .message_id = amqp_cstring_bytes(message_id),
	};
	if (headers) {
		props._flags |= AMQP_BASIC_HEADERS_FLAG;
		props.headers = *headers;
	}
	amqp_bytes_t b = {.len = len, .bytes = (void *)body};
	int st = amqp_basic_publish(mq->conn, 1, amqp_cstring_bytes(exchange),
	                            amqp_cstring_bytes(routing_key), 1, 0, &props, b);
	if (st != AMQP_STATUS_OK) {
		log_warn("amqp publish: %s", amqp_error_string2(st));
		mq->dead = true;
		return -1;
	}
	return 0;
}

int mq_poll_confirms(struct mq *mq, int timeout_ms, mq_confirm_fn fn, void *ctx)
{
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	for (;;) {
		/* Decoded frames stay in the connection's pool until released: the
		 * previous frame is done with, so let the pool be reused (it keeps
		 * any frame still queued), or every confirm is kept for good. */
		amqp_maybe_release_buffers(mq->conn);
		amqp_frame_t frame;
		int st = amqp_simple_wait_frame_noblock(mq->conn, &frame, &tv);
		if (st == AMQP_STATUS_TIMEOUT)
			return 0;
		if (st != AMQP_STATUS_OK) {
			log_warn("amqp wait: %s", amqp_error_string2(st));
			mq->dead = true;
			return -1;
		}
		/* After the first frame, only drain what is already here. */
		tv = (struct timeval){0};
		if (frame.frame_type != AMQP_FRAME_METHOD)
			continue;
		switch (frame.payload.method.id) {
		case AMQP_BASIC_ACK_METHOD: {
			amqp_basic_ack_t *a = frame.payload.method.decoded;
			fn(ctx, MQ_ACK, a->delivery_tag, a->multiple, NULL);
			break;
		}
		case AMQP_BASIC_NACK_METHOD: {
			amqp_basic_nack_t *n = frame.payload.method.decoded;
			fn(ctx, MQ_NACK, n->delivery_tag, n->multiple, NULL);
			break;
		}
		case AMQP_BASIC_RETURN_METHOD: {
			amqp_message_t msg;
			amqp_rpc_reply_t r = amqp_read_message(mq->conn, frame.channel, &msg, 0);
			if (r.reply_type != AMQP_RESPONSE_NORMAL)
				return rpc_failed(mq, "basic.return", r);
			char id[128] = "";
			if (msg.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG)
				snprintf(id, sizeof id, "%.*s", (int)msg.properties.message_id.len,
				         (const char *)msg.properties.message_id.bytes);
			fn(ctx, MQ_RETURNED, 0, false, id);
			amqp_destroy_message(&msg);
			break;
		}
		case AMQP_CHANNEL_CLOSE_METHOD:
		case AMQP_CONNECTION_CLOSE_METHOD:
			log_warn("amqp: the broker closed the %s",
			         frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ? "channel"
			                                                              : "connection");
			mq->dead = true;
			return -1;
		default:
			break;
		}
	}
}

int mq_consume(struct mq *mq, const char *queue, unsigned prefetch)
{
	amqp_basic_qos(mq->conn, 1, 0, (uint16_t)prefetch, 0);
	if (check(mq, "basic.qos"))
		return -1;
	amqp_basic_consume_ok_t *ok = amqp_basic_consume(
	    mq->conn, 1, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
	if (check(mq, "basic.consume"))
		return -1;
	size_t n = ok && ok->consumer_tag.len < sizeof mq->consumer_tag ? ok->consumer_tag.len : 0;
	if (n)
		memcpy(mq->consumer_tag, ok->consumer_tag.bytes, n);
	mq->consumer_tag[n] = '\0';
	return 0;
}

int mq_cancel(struct mq *mq)
{
	if (mq->dead || !mq->consumer_tag[0])
		return -1;
	/* The deliveries the broker sent before its cancel-ok are read and
	 * queued by the library on the way, for mq_next. */
	amqp_basic_cancel(mq->conn, 1, amqp_cstring_bytes(mq->consumer_tag));
	if (check(mq, "basic.cancel"))
		return -1;
	mq->consumer_tag[0] = '\0';
	return 0;
}

static int frame_failed(struct mq *mq, const char *what, int status)
{
	log_warn("amqp %s: %s", what, amqp_error_string2(status));
	mq->dead = true;
	return -1;
}

static bool closes(struct mq *mq, const amqp_frame_t *f)
{
	if (f->frame_type != AMQP_FRAME_METHOD)
		return false;
	switch (f->payload.method.id) {
	case AMQP_CHANNEL_CLOSE_METHOD:
	case AMQP_CONNECTION_CLOSE_METHOD:
		log_warn("amqp: the broker closed the %s",
		         f->payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ? "channel" : "connection");
		break;
	case AMQP_BASIC_CANCEL_METHOD:
		log_warn("amqp: the broker cancelled the consumer (was the queue deleted?)");
		break;
	default:
		return false;
	}
	mq->dead = true;
	return true;
}

/* The next frame of a delivery's content on channel 1. Content frames of
 * one channel come in one piece, but other channels' frames may come
 * between them. */
static int content_frame(struct mq *mq, uint8_t type, amqp_frame_t *f)
{
	for (;;) {
		struct timeval tv = {.tv_sec = 10};
		int st = amqp_simple_wait_frame_noblock(mq->conn, f, &tv);
		if (st != AMQP_STATUS_OK)
			return frame_failed(mq, "reading a delivery", st);
		if (closes(mq, f))
			return -1;
		if (f->channel != 1)
			continue;
		if (f->frame_type != type) {
			log_warn("amqp: a delivery's content is cut short");
			mq->dead = true;
			return -1;
		}
		return 0;
	}
}

static void copy_bytes(char *dst, size_t cap, amqp_bytes_t b)
{
	size_t n = b.len < cap ? b.len : cap - 1;
	memcpy(dst, b.bytes, n);
	dst[n] = '\0';
}

static int read_delivery(struct mq *mq, const amqp_basic_deliver_t *m, size_t body_max,
                         struct mq_delivery *d)
{
	memset(d, 0, sizeof *d);
	d->tag = m->delivery_tag;
	d->redelivered = m->redelivered;
	copy_bytes(d->routing_key, sizeof d->routing_key, m->routing_key);
	amqp_frame_t f;
	if (content_frame(mq, AMQP_FRAME_HEADER, &f))
		return -1;
	const amqp_basic_properties_t *p = f.payload.properties.decoded;
	if (p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG)
		copy_bytes(d->message_id, sizeof d->message_id, p->message_id);
	uint64_t size = f.payload.properties.body_size;
	if (size > body_max) {
		d->len = size > SIZE_MAX ? SIZE_MAX : (size_t)size;
		d->pending = true;
		mq->pending_left = size;
		return 1;
	}
	d->len = (size_t)size;
	if (size > mq->buf_cap) {
		char *b = realloc(mq->buf, (size_t)size);
		if (!b) {
			log_error("amqp: out of memory for a body of %zu bytes", d->len);
			mq->dead = true;
			return -1;
		}
		mq->buf = b;
		mq->buf_cap = (size_t)size;
	}
	for (size_t got = 0; got < d->len;) {
		amqp_maybe_release_buffers_on_channel(mq->conn, 1);
		if (content_frame(mq, AMQP_FRAME_BODY, &f))
			return -1;
		amqp_bytes_t part = f.payload.body_fragment;
		if (part.len > d->len - got) {
			log_warn("amqp: a delivery's body is longer than announced");
			mq->dead = true;
			return -1;
		}
		memcpy(mq->buf + got, part.bytes, part.len);
		got += part.len;
	}
	d->body = d->len ? mq->buf : "";
	return 1;
}

int mq_next(struct mq *mq, int timeout_ms, size_t body_max, struct mq_delivery *d)
{
	if (mq->pending_left) {
		log_error("amqp: a pending body was neither forwarded nor skipped");
		mq->dead = true;
		return -1;
	}
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	for (;;) {
		amqp_maybe_release_buffers(mq->conn);
		amqp_frame_t f;
		int st = amqp_simple_wait_frame_noblock(mq->conn, &f, &tv);
		if (st == AMQP_STATUS_TIMEOUT)
			return 0;
		if (st != AMQP_STATUS_OK)
			return frame_failed(mq, "consume", st);
		if (closes(mq, &f))
			return -1;
		if (f.frame_type == AMQP_FRAME_METHOD && f.channel == 1 &&
		    f.payload.method.id == AMQP_BASIC_DELIVER_METHOD)
			return read_delivery(mq, f.payload.method.decoded, body_max, d);
		/* Anything else (connection.blocked, a stray frame) is not ours to act on. */
	}
}

/* Reads the next frame of the pending body, and hands it to send (if any). */
static int next_body_part(struct mq *mq, amqp_bytes_t *part)
{
	amqp_maybe_release_buffers_on_channel(mq->conn, 1);
	amqp_frame_t f;
	if (content_frame(mq, AMQP_FRAME_BODY, &f))
		return -1;
	*part = f.payload.body_fragment;
	if (part->len > mq->pending_left) {
		log_warn("amqp: a delivery's body is longer than announced");
		mq->dead = true;
		return -1;
	}
	mq->pending_left -= part->len;
	return 0;
}

int mq_ack(struct mq *mq, uint64_t tag, bool multiple)
{
	if (amqp_basic_ack(mq->conn, 1, tag, multiple) != AMQP_STATUS_OK) {
		mq->dead = true;
		log_warn("amqp: ack failed");
		return -1;
	}
	return 0;
}

/* The properties of a dead-letter copy; headers points at two entries the
 * caller provides. */
static amqp_basic_properties_t dead_letter_props(amqp_table_entry_t headers[2],
                                                 const char *message_id,
                                                 const char *routing_key, const char *reason)
{
	headers[0] = (amqp_table_entry_t){
	    .key = amqp_cstring_bytes(MQ_REASON_HEADER),
	    .value = {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes(reason)}};
	headers[1] = (amqp_table_entry_t){
	    .key = amqp_cstring_bytes(MQ_ROUTING_KEY_HEADER),
	    .value = {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes(routing_key)}};
	return (amqp_basic_properties_t){
	    ._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
	              AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_HEADERS_FLAG,
	    .content_type = amqp_cstring_bytes("application/json"),
	    .delivery_mode = AMQP_DELIVERY_PERSISTENT,
	    .message_id = amqp_cstring_bytes(message_id),
	    .headers = {.num_entries = 2, .entries = headers},
	};
}

int mq_dead_letter(struct mq *mq, const char *message_id, const void *body, size_t len,
                   const char *routing_key, const char *reason)
{
	amqp_table_entry_t headers[2];
	amqp_basic_properties_t props = dead_letter_props(headers, message_id, routing_key, reason);
	amqp_bytes_t b = {.len = len, .bytes = (void *)body};
	int st = amqp_basic_publish(mq->conn, 1, amqp_empty_bytes, amqp_cstring_bytes(MQ_DEAD_QUEUE),
	                            1, 0, &props, b);
	return st == AMQP_STATUS_OK ? 0 : frame_failed(mq, "dead-letter publish", st);
}

int mq_dead_letter_forward(struct mq *mq, struct mq *from, const struct mq_delivery *d,
                           const char *reason)
{
	amqp_table_entry_t headers[2];
	amqp_basic_properties_t props =
	    dead_letter_props(headers, d->message_id, d->routing_key, reason);
	amqp_basic_publish_t m = {.exchange = amqp_empty_bytes,
	                          .routing_key = amqp_cstring_bytes(MQ_DEAD_QUEUE),
	                          .mandatory = 1};
	amqp_frame_t f = {.frame_type = AMQP_FRAME_METHOD, .channel = 1};
	f.payload.method.id = AMQP_BASIC_PUBLISH_METHOD;
	f.payload.method.decoded = &m;
	int st = amqp_send_frame(mq->conn, &f);
	if (st == AMQP_STATUS_OK) {
		f = (amqp_frame_t){.frame_type = AMQP_FRAME_HEADER, .channel = 1};
		f.payload.properties.class_id = AMQP_BASIC_CLASS;
		f.payload.properties.body_size = from->pending_left;
		f.payload.properties.decoded = &props;
		st = amqp_send_frame(mq->conn, &f);
	}
	while (st == AMQP_STATUS_OK && from->pending_left) {
		amqp_bytes_t part;
		if (next_body_part(from, &part))
			return -1;
		f = (amqp_frame_t){.frame_type = AMQP_FRAME_BODY, .channel = 1};
		f.payload.body_fragment = part;
		st = amqp_send_frame(mq->conn, &f);
	}
	return st == AMQP_STATUS_OK ? 0 : frame_failed(mq, "dead-letter forward", st);
}
