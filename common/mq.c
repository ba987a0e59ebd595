#include "mq.h"

#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct mq {
	amqp_connection_state_t conn;
	bool dead;
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
	if (!sock) {
		log_error("amqp: cannot make a socket");
		goto out;
	}
	int st = amqp_socket_open_noblock(sock, ci.host, ci.port, &tv);
	if (st != AMQP_STATUS_OK) {
		log_warn("amqp: cannot connect to %s:%d: %s", ci.host, ci.port, amqp_error_string2(st));
		goto out;
	}
	/* Bound every later call too, so a frozen broker cannot hang a thread. */
	struct timeval rpc_tv = {.tv_sec = 10};
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
	free(mq);
}

int mq_declare_topology(struct mq *mq)
{
	amqp_exchange_declare(mq->conn, 1, amqp_cstring_bytes(MQ_EXCHANGE),
	                      amqp_cstring_bytes("topic"), 0, 1, 0, 0, amqp_empty_table);
	if (check(mq, "exchange.declare " MQ_EXCHANGE))
		return -1;
	amqp_queue_declare(mq->conn, 1, amqp_cstring_bytes(MQ_QUEUE), 0, 1, 0, 0, amqp_empty_table);
	if (check(mq, "queue.declare " MQ_QUEUE))
		return -1;
	amqp_queue_bind(mq->conn, 1, amqp_cstring_bytes(MQ_QUEUE), amqp_cstring_bytes(MQ_EXCHANGE),
	                amqp_cstring_bytes(MQ_BINDING), amqp_empty_table);
	if (check(mq, "queue.bind " MQ_QUEUE))
		return -1;
	amqp_queue_declare(mq->conn, 1, amqp_cstring_bytes(MQ_DEAD_QUEUE), 0, 1, 0, 0,
	                   amqp_empty_table);
	return check(mq, "queue.declare " MQ_DEAD_QUEUE);
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
	amqp_basic_consume(mq->conn, 1, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 0,
	                   amqp_empty_table);
	return check(mq, "basic.consume");
}

int mq_next(struct mq *mq, int timeout_ms, amqp_envelope_t *env)
{
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	amqp_maybe_release_buffers(mq->conn);
	amqp_rpc_reply_t r = amqp_consume_message(mq->conn, env, &tv, 0);
	if (r.reply_type == AMQP_RESPONSE_NORMAL)
		return 1;
	if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT)
		return 0;
	if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
	    r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
		/* A frame other than a delivery: read it to see what it is. */
		amqp_frame_t frame;
		if (amqp_simple_wait_frame(mq->conn, &frame) != AMQP_STATUS_OK) {
			mq->dead = true;
			return -1;
		}
		if (frame.frame_type == AMQP_FRAME_METHOD &&
		    (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
		     frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD)) {
			log_warn("amqp: the broker closed the %s",
			         frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ? "channel"
			                                                              : "connection");
			mq->dead = true;
			return -1;
		}
		return 0;
	}
	return rpc_failed(mq, "consume", r);
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
