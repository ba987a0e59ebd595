/* relay: against a local server thread that answers with a script (parts
 * sent with pauses, a large chunked body, a body cut short, no answer): the
 * body comes through whole and in order, a cut one ends in -1, the waker
 * is called when bytes come, a reader that does not read pushes back on
 * the upstream, a non-2xx answer is read whole, a missing head times out,
 * and relay_close closes the upstream connection at once. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "relay.h"
#include "testhelp.h"

#define BIG (4u << 20) /* a chunked body larger than every buffer in between */

struct server {
	int fd;
	char url[64];
	pthread_t thread;
	/* the script */
	const char *parts[6];
	int pause_ms[6]; /* before each part */
	bool big;        /* then BIG bytes in 8 KiB chunks and the last chunk */
	bool hold;       /* then wait for the client to close */
	/* what happened */
	char request[4096];
	size_t big_sent; /* bytes of BIG sent so far */
	long closed_ms;  /* when the client's close was seen (monotonic) */
	pthread_mutex_t lock;
};

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void *serve(void *arg)
{
	struct server *s = arg;
	int c = accept(s->fd, NULL, NULL);
	if (c < 0)
		return NULL;
	int small = 16384;
	setsockopt(c, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	size_t got = 0;
	while (got < sizeof s->request - 1 && !strstr(s->request, "\r\n\r\n")) {
		ssize_t n = recv(c, s->request + got, sizeof s->request - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	bool ok = true;
	for (size_t i = 0; ok && i < 6 && s->parts[i]; i++) {
		sleep_ms(s->pause_ms[i]);
		ok = send(c, s->parts[i], strlen(s->parts[i]), MSG_NOSIGNAL) > 0;
	}
	if (ok && s->big) {
		char chunk[8192 + 16];
		for (size_t sent = 0; ok && sent < BIG; sent += 8192) {
			int h = snprintf(chunk, sizeof chunk, "2000\r\n");
			for (size_t k = 0; k < 8192; k++)
				chunk[h + k] = (char)('a' + (sent + k) % 26);
			memcpy(chunk + h + 8192, "\r\n", 2);
			ok = send(c, chunk, (size_t)h + 8192 + 2, MSG_NOSIGNAL) > 0;
			pthread_mutex_lock(&s->lock);
			s->big_sent = sent + 8192;
			pthread_mutex_unlock(&s->lock);
		}
		if (ok)
			send(c, "0\r\n\r\n", 5, MSG_NOSIGNAL);
	}
	if (s->hold) {
		char b[256];
		while (recv(c, b, sizeof b, 0) > 0)
			;
	}
	pthread_mutex_lock(&s->lock);
	s->closed_ms = now_ms();
	pthread_mutex_unlock(&s->lock);
	close(c);
	return NULL;
}

static int server_start(struct server *s)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	pthread_mutex_init(&s->lock, NULL);
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof a) || listen(s->fd, 1) ||
	    getsockname(s->fd, (struct sockaddr *)&a, &al))
		return -1;
	snprintf(s->url, sizeof s->url, "http://127.0.0.1:%u/x?y=1", (unsigned)ntohs(a.sin_port));
	return pthread_create(&s->thread, NULL, serve, s);
}

static void server_end(struct server *s)
{
	shutdown(s->fd, SHUT_RDWR); /* an accept still waiting returns */
	pthread_join(s->thread, NULL);
	close(s->fd);
	pthread_mutex_destroy(&s->lock);
}

/* The waker: a flag and a condition. */
struct waker {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int calls;
};

static void wake(void *arg)
{
	struct waker *w = arg;
	pthread_mutex_lock(&w->lock);
	w->calls++;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* relay_read until the body's end, waiting on the waker; returns the last
 * answer (0 or -1) and the bytes into out (cap bytes, counted in *len). */
static long read_all(struct relay_xfer *x, struct waker *w, char *out, size_t cap, size_t *len)
{
	char buf[HTTP_STREAM_BLOCK];
	*len = 0;
	for (;;) {
		pthread_mutex_lock(&w->lock);
		int before = w->calls;
		pthread_mutex_unlock(&w->lock);
		long n = relay_read(x, buf, sizeof buf);
		if (n == RELAY_WAIT) {
			pthread_mutex_lock(&w->lock);
			while (w->calls == before)
				pthread_cond_wait(&w->cond, &w->lock);
			pthread_mutex_unlock(&w->lock);
			continue;
		}
		if (n <= 0)
			return n;
		if (out && *len + (size_t)n <= cap)
			memcpy(out + *len, buf, (size_t)n);
		*len += (size_t)n;
	}
}

static void test_parts_and_waker(struct relay *r)
{
	struct server s = {
	    .parts = {"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: "
	              "no-store\r\nTransfer-Encoding: chunked\r\n\r\n",
	              "6\r\nhello\n\r\n", "6\r\nworld\n\r\n", "0\r\n\r\n"},
	    .pause_ms = {0, 0, 300, 0}};
	struct waker w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	CHECK_INT(server_start(&s), 0);
	const char *headers[] = {"Authorization: Bearer t", "Last-Event-ID: 7", NULL};
	struct relay_xfer *x;
	CHECK_INT(relay_open(r, s.url, headers, 2000, &x), RELAY_OK);
	if (x) {
		CHECK_INT(relay_status(x), 200);
		CHECK_STR(relay_content_type(x), "text/event-stream");
		CHECK_STR(relay_header(x, "Cache-Control"), "no-store");
		CHECK(relay_header(x, "Content-Disposition") == NULL);
		relay_set_waker(x, wake, &w);
		char out[64];
		size_t len;
		long t0 = now_ms();
		CHECK_INT(read_all(x, &w, out, sizeof out, &len), 0);
		CHECK_INT(len, 12);
		CHECK(len == 12 && !memcmp(out, "hello\nworld\n", 12));
		CHECK(w.calls >= 1);         /* the reader waited for "world" and was woken */
		CHECK(now_ms() - t0 < 1000); /* ... at once, not at an idle tick */
		relay_close(x);
	}
	server_end(&s);
	CHECK(strstr(s.request, "GET /x?y=1 HTTP/1.1\r\n") == s.request);
	CHECK(strstr(s.request, "\r\nAuthorization: Bearer t\r\n") != NULL);
	CHECK(strstr(s.request, "\r\nLast-Event-ID: 7\r\n") != NULL);
}

static void test_big_body_pushes_back(struct relay *r)
{
	struct server s = {.parts = {"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\n"
	                             "Transfer-Encoding: chunked\r\n\r\n"},
	                   .big = true};
	struct waker w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	CHECK_INT(server_start(&s), 0);
	struct relay_xfer *x;
	CHECK_INT(relay_open(r, s.url, NULL, 2000, &x), RELAY_OK);
	if (x) {
		relay_set_waker(x, wake, &w);
		sleep_ms(500); /* not reading: the relay pauses, TCP pushes back */
		pthread_mutex_lock(&s.lock);
		size_t sent = s.big_sent;
		pthread_mutex_unlock(&s.lock);
		CHECK(sent < BIG / 4);
		char *out = malloc(BIG);
		size_t len;
		CHECK_INT(read_all(x, &w, out, BIG, &len), 0);
		CHECK_INT(len, BIG);
		bool same = out != NULL && len == BIG;
		for (size_t k = 0; same && k < BIG; k++)
			same = out[k] == (char)('a' + k % 26);
		CHECK(same);
		free(out);
		relay_close(x);
	}
	server_end(&s);
}

static void test_cut_short(struct relay *r)
{
	struct server s = {.parts = {"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
	                             "Transfer-Encoding: chunked\r\n\r\n4\r\n{}\n\n\r\n",
	                             "2\r\n{"}}; /* then the connection closes */
	struct waker w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	CHECK_INT(server_start(&s), 0);
	struct relay_xfer *x;
	CHECK_INT(relay_open(r, s.url, NULL, 2000, &x), RELAY_OK);
	if (x) {
		relay_set_waker(x, wake, &w);
		char out[16];
		size_t len;
		CHECK_INT(read_all(x, &w, out, sizeof out, &len), -1);
		CHECK(len >= 4 && !memcmp(out, "{}\n\n", 4)); /* what came before the cut */
		relay_close(x);
	}
	server_end(&s);
}

static void test_refusal_is_read_whole(struct relay *r)
{
	struct server s = {.parts = {"HTTP/1.1 403 Forbidden\r\nContent-Type: "
	                             "application/vnd.api+json\r\nContent-Length: 13\r\n\r\n",
	                             "{\"errors\":[]}"},
	                   .pause_ms = {0, 200}};
	CHECK_INT(server_start(&s), 0);
	struct relay_xfer *x;
	CHECK_INT(relay_open(r, s.url, NULL, 2000, &x), RELAY_OK);
	if (x) {
		size_t len;
		CHECK_INT(relay_status(x), 403);
		CHECK_STR(relay_body(x, &len), "{\"errors\":[]}");
		CHECK_INT(len, 13);
		relay_close(x);
	}
	server_end(&s);
}

static void test_no_head_in_time(struct relay *r)
{
	struct server s = {.hold = true};
	CHECK_INT(server_start(&s), 0);
	struct relay_xfer *x;
	long t0 = now_ms();
	CHECK_INT(relay_open(r, s.url, NULL, 300, &x), RELAY_UNREACHABLE);
	long took = now_ms() - t0;
	CHECK(x == NULL);
	CHECK(took >= 290 && took < 1500);
	/* The relay closed the connection it gave up on. */
	for (int i = 0; i < 100 && !s.closed_ms; i++)
		sleep_ms(10);
	CHECK(s.closed_ms != 0);
	server_end(&s);
	/* A header that would smuggle another: refused before connecting. */
	const char *bad[] = {"X: a\r\nY: b", NULL};
	CHECK_INT(relay_open(r, "http://127.0.0.1:1/", bad, 300, &x), RELAY_BROKEN);
	/* Nobody listening. */
	CHECK_INT(relay_open(r, "http://127.0.0.1:1/", NULL, 300, &x), RELAY_UNREACHABLE);
}

static void test_close_closes_upstream(struct relay *r)
{
	struct server s = {.parts = {"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
	                             "Transfer-Encoding: chunked\r\n\r\n3\r\n:\n\n\r\n"},
	                   .hold = true};
	CHECK_INT(server_start(&s), 0);
	struct relay_xfer *x;
	CHECK_INT(relay_open(r, s.url, NULL, 2000, &x), RELAY_OK);
	if (x) {
		sleep_ms(100);
		long t0 = now_ms();
		relay_close(x);
		for (int i = 0; i < 200 && !s.closed_ms; i++)
			sleep_ms(5);
		CHECK(s.closed_ms != 0 && s.closed_ms - t0 < 200);
	}
	server_end(&s);
}

int main(void)
{
	struct relay *r;
	if (relay_start(&r)) {
		fprintf(stderr, "relay_start failed\n");
		return 1;
	}
	test_parts_and_waker(r);
	test_big_body_pushes_back(r);
	test_cut_short(r);
	test_refusal_is_read_whole(r);
	test_no_head_in_time(r);
	test_close_closes_upstream(r);
	/* Transfers still open when the relay stops: an export is cut short, a
	 * live stream ends cleanly; both stay the caller's to close. */
	struct server s = {.parts = {"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\n"
	                             "Transfer-Encoding: chunked\r\n\r\n"},
	                   .hold = true};
	struct server e = {.parts = {"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
	                             "Transfer-Encoding: chunked\r\n\r\n"},
	                   .hold = true};
	struct waker w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	CHECK_INT(server_start(&s), 0);
	CHECK_INT(server_start(&e), 0);
	struct relay_xfer *x, *y;
	CHECK_INT(relay_open(r, s.url, NULL, 2000, &x), RELAY_OK);
	CHECK_INT(relay_open(r, e.url, NULL, 2000, &y), RELAY_OK);
	relay_stop(r);
	size_t len;
	if (x) {
		relay_set_waker(x, wake, &w);
		CHECK_INT(read_all(x, &w, NULL, 0, &len), -1);
		relay_close(x);
	}
	if (y) {
		relay_set_waker(y, wake, &w);
		CHECK_INT(read_all(y, &w, NULL, 0, &len), 0);
		relay_close(y);
	}
	server_end(&s);
	server_end(&e);
	return test_report("relay");
}
