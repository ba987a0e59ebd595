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

static int count(struct mq *mq, const char *queue, int purge)
{
	amqp_connection_state_t conn = mq_connection(mq);
	if (purge) {
		amqp_queue_purge(conn, 1, amqp_cstring_bytes(queue));
		return amqp_get_rpc_reply(conn).reply_type == AMQP_RESPONSE_NORMAL ? 0 : 1;
	}
	amqp_queue_declare_ok_t *ok =
	    amqp_queue_declare(conn, 1, amqp_cstring_bytes(queue), 1, 0, 0, 0, amqp_empty_table);
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

int main(int argc, char **argv)
{
	log_init("mqtool", LOG_LEVEL_WARN);
	if (argc < 4) {
		fprintf(stderr, "usage: mqtool publish|count|get|purge|confirm-heap URL ...\n");
		return 2;
	}
	struct mq *mq;
	if (mq_open(argv[2], &mq))
		return 1;
	int rc = 2;
	if (!strcmp(argv[1], "publish") && argc == 6)
		rc = publish(mq, argv);
	else if (!strcmp(argv[1], "count"))
		rc = count(mq, argv[3], 0);
	else if (!strcmp(argv[1], "purge"))
		rc = count(mq, argv[3], 1);
	else if (!strcmp(argv[1], "get"))
		rc = get(mq, argv[3]);
	else if (!strcmp(argv[1], "confirm-heap"))
		rc = confirm_heap(mq, argv[3]);
	mq_close(mq);
	return rc;
}
