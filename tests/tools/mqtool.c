/* mqtool: the broker side of the integration tests.
 *
 *   mqtool publish URL EXCHANGE ROUTING_KEY MESSAGE_ID < body
 *       publishes one persistent message, waiting for the broker's confirm
 *   mqtool count URL QUEUE
 *       prints the queue's ready message count
 *   mqtool get URL QUEUE
 *       takes one message (acknowledged), prints its x-auditlog-reason
 *       header on the first line and its body on the second; exit 3 if empty
 *   mqtool purge URL QUEUE
 *   mqtool confirm-heap URL N
 *       publishes N small messages to a private queue of its own (exclusive,
 *       gone with the connection), each awaiting its confirm, and prints
 *       "confirms C heap_growth B": how much more heap the process holds
 *       after the last C-N/10 confirms than after the first N/10. The
 *       publisher's read path must recycle what the library decodes.
 *   mqtool quorum URL QUEUE
 *       declares QUEUE a durable quorum queue (x-queue-type quorum) and
 *       prints its ready message count (tests/cluster)
 *   mqtool publish-many URL QUEUE N
 *       publishes N persistent messages, bodies "0" to "N-1", to QUEUE by
 *       the default exchange, all in flight at once; exit 0 only when the
 *       broker confirmed every one (no nack, none returned)
 *   mqtool drain URL QUEUE
 *       consumes QUEUE, acknowledging, until nothing comes for a second,
 *       and prints each body on a line of its own
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SANITIZE_ADDRESS__)
/* From ASan's runtime (its header is not always installed). */
size_t __sanitizer_get_current_allocated_bytes(void);
#else
#include <malloc.h>
#endif

#include "log.h"
#include "mq.h"

static int confirmed;
static void on_confirm(void *ctx, enum mq_confirm what, uint64_t tag, bool multiple,
                       const char *id)
{
	(void)ctx, (void)tag, (void)multiple, (void)id;
	confirmed = what == MQ_ACK ? 1 : -1;
}

static int publish(struct mq *mq, char **argv)
{
	char *body = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&body, &len);
	int c;
	while ((c = getchar()) != EOF)
		fputc(c, f);
	fclose(f);
	int rc = 1;
	if (mq_confirm_select(mq) || mq_publish(mq, argv[3], argv[4], argv[5], body, len, NULL))
		goto out;
	for (int i = 0; i < 100 && !confirmed; i++)
		if (mq_poll_confirms(mq, 100, on_confirm, NULL))
			goto out;
	rc = confirmed == 1 ? 0 : 1;
out:
	free(body);
	return rc;
}

enum queue_op { COUNT, PURGE, QUORUM };

/* COUNT and QUORUM print the ready count: COUNT of an existing queue
 * (passive), QUORUM after declaring the queue a durable quorum queue. */
static int count(struct mq *mq, const char *queue, enum queue_op op)
{
	amqp_connection_state_t conn = mq_connection(mq);
	if (op == PURGE) {
		amqp_queue_purge(conn, 1, amqp_cstring_bytes(queue));
		return amqp_get_rpc_reply(conn).reply_type == AMQP_RESPONSE_NORMAL ? 0 : 1;
	}
	amqp_table_entry_t type = {.key = amqp_cstring_bytes("x-queue-type"),
	                           .value = {.kind = AMQP_FIELD_KIND_UTF8,
	                                     .value.bytes = amqp_cstring_bytes("quorum")}};
	amqp_table_t quorum = {.num_entries = 1, .entries = &type};
	amqp_queue_declare_ok_t *ok =
	    amqp_queue_declare(conn, 1, amqp_cstring_bytes(queue), op == COUNT, op == QUORUM, 0, 0,
	                       op == QUORUM ? quorum : amqp_empty_table);
	if (!ok)
		return 1;
	printf("%u\n", ok->message_count);
	return 0;
}

static int get(struct mq *mq, const char *queue)
{
	amqp_connection_state_t conn = mq_connection(mq);
	amqp_rpc_reply_t r = amqp_basic_get(conn, 1, amqp_cstring_bytes(queue), 1);
	if (r.reply_type != AMQP_RESPONSE_NORMAL)
		return 1;
	if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD)
		return 3;
	amqp_message_t msg;
	if (amqp_read_message(conn, 1, &msg, 0).reply_type != AMQP_RESPONSE_NORMAL)
		return 1;
	const char *reason = "";
	int reason_len = 0;
	if (msg.properties._flags & AMQP_BASIC_HEADERS_FLAG)
		for (int i = 0; i < msg.properties.headers.num_entries; i++) {
			amqp_table_entry_t *e = &msg.properties.headers.entries[i];
			if (e->key.len == 17 && !memcmp(e->key.bytes, "x-auditlog-reason", 17) &&
			    e->value.kind == AMQP_FIELD_KIND_UTF8) {
				reason = e->value.value.bytes.bytes;
				reason_len = (int)e->value.value.bytes.len;
			}
		}
	printf("%.*s\n%.*s\n", reason_len, reason, (int)msg.body.len, (const char *)msg.body.bytes);
	amqp_destroy_message(&msg);
	return 0;
}

static long long heap_in_use(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return (long long)__sanitizer_get_current_allocated_bytes();
#else
	return (long long)mallinfo2().uordblks;
#endif
}

static long confirms;
static void count_confirm(void *ctx, enum mq_confirm what, uint64_t tag, bool multiple,
                          const char *id)
{
	(void)ctx, (void)tag, (void)multiple, (void)id;
	if (what == MQ_ACK)
		confirms++;
	else
		confirmed = -1;
}

static int confirm_heap(struct mq *mq, const char *count_arg)
{
	amqp_connection_state_t conn = mq_connection(mq);
	long n = atol(count_arg);
	amqp_queue_declare_ok_t *ok =
	    amqp_queue_declare(conn, 1, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
	if (n <= 0 || !ok || mq_confirm_select(mq))
		return 1;
	char queue[256];
	snprintf(queue, sizeof queue, "%.*s", (int)ok->queue.len, (const char *)ok->queue.bytes);
	long long base = 0;
	for (long i = 0; i < n; i++) {
		if (i == n / 10)
			base = heap_in_use();
		long want = confirms + 1;
		if (mq_publish(mq, "", queue, "confirm-heap", "{}", 2, NULL))
			return 1;
		while (confirms < want && confirmed >= 0)
			if (mq_poll_confirms(mq, 1000, count_confirm, NULL))
				return 1;
		if (confirmed < 0)
			return 1;
	}
	printf("confirms %ld heap_growth %lld\n", confirms - n / 10, heap_in_use() - base);
	return 0;
}

struct tally {
	unsigned char *acked; /* [1..n]: 1 once confirmed */
	long n, count;
	bool failed; /* a nack or a return */
};

static void tally_confirm(void *ctx, enum mq_confirm what, uint64_t tag, bool multiple,
                          const char *id)
{
	(void)id;
	struct tally *t = ctx;
	if (what != MQ_ACK || tag > (uint64_t)t->n) {
		t->failed = true;
		return;
	}
	for (uint64_t i = multiple ? 1 : tag; i <= tag; i++)
		if (!t->acked[i]) {
			t->acked[i] = 1;
			t->count++;
		}
}

static int publish_many(struct mq *mq, const char *queue, const char *count_arg)
{
	struct tally t = {.n = atol(count_arg)};
	int rc = 1;
	if (t.n <= 0 || !(t.acked = calloc((size_t)t.n + 1, 1)) || mq_confirm_select(mq))
		goto out;
	for (long i = 0; i < t.n; i++) {
		char body[32];
		int len = snprintf(body, sizeof body, "%ld", i);
		if (mq_publish(mq, "", queue, body, body, (size_t)len, NULL))
			goto out;
	}
	/* Up to a minute: a quorum queue confirms once a majority has it. */
	for (int waited = 0; t.count < t.n && !t.failed && waited < 60000; waited += 100)
		if (mq_poll_confirms(mq, 100, tally_confirm, &t))
			goto out;
	printf("confirmed %ld of %ld\n", t.count, t.n);
	rc = t.count == t.n && !t.failed ? 0 : 1;
out:
	free(t.acked);
	return rc;
}

static int drain(struct mq *mq, const char *queue)
{
	struct mq_delivery d;
	int got;
	if (mq_consume(mq, queue, 500))
		return 1;
	while ((got = mq_next(mq, 1000, 4096, &d)) == 1) {
		if (d.pending)
			return 1;
		printf("%.*s\n", (int)d.len, d.body); /* the body is valid until the ack */
		if (mq_ack(mq, d.tag, false))
			return 1;
	}
	return got == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	log_init("mqtool", LOG_LEVEL_WARN);
	if (argc < 4) {
		fprintf(stderr, "usage: mqtool publish|count|get|purge|confirm-heap|quorum|"
		                "publish-many|drain URL ...\n");
		return 2;
	}
	struct mq *mq;
	if (mq_open(argv[2], &mq))
		return 1;
	int rc = 2;
	if (!strcmp(argv[1], "publish") && argc == 6)
		rc = publish(mq, argv);
	else if (!strcmp(argv[1], "count"))
		rc = count(mq, argv[3], COUNT);
	else if (!strcmp(argv[1], "purge"))
		rc = count(mq, argv[3], PURGE);
	else if (!strcmp(argv[1], "get"))
		rc = get(mq, argv[3]);
	else if (!strcmp(argv[1], "confirm-heap"))
		rc = confirm_heap(mq, argv[3]);
	else if (!strcmp(argv[1], "quorum"))
		rc = count(mq, argv[3], QUORUM);
	else if (!strcmp(argv[1], "publish-many") && argc == 5)
		rc = publish_many(mq, argv[3], argv[4]);
	else if (!strcmp(argv[1], "drain"))
		rc = drain(mq, argv[3]);
	mq_close(mq);
	return rc;
}
