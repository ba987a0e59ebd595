/* httpc: the size bound on an answer (HTTPC_MAX_BODY), against a local
 * server thread that answers with a body of a chosen size. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpc.h"
#include "testhelp.h"

struct server {
	int fd;
	size_t body; /* bytes of body to answer with */
};

static void *serve(void *arg)
{
	struct server *s = arg;
	int c = accept(s->fd, NULL, NULL);
	if (c < 0)
		return NULL;
	char req[4096];
	(void)!recv(c, req, sizeof req, 0); /* one small request */
	char head[128];
	int n = snprintf(head, sizeof head,
	                 "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n",
	                 s->body);
	(void)!send(c, head, (size_t)n, MSG_NOSIGNAL);
	char *chunk = malloc(1 << 16);
	if (chunk) {
		memset(chunk, 'x', 1 << 16);
		for (size_t sent = 0; sent < s->body;) {
			size_t k = s->body - sent < (1 << 16) ? s->body - sent : (1 << 16);
			ssize_t w = send(c, chunk, k, MSG_NOSIGNAL);
			if (w <= 0)
				break; /* the client gave up */
			sent += (size_t)w;
		}
	}
	free(chunk);
	close(c);
	return NULL;
}

/* GETs a body of n bytes; returns httpc_get's status, *len the body's. */
static int get_body(size_t n, size_t *len)
{
	struct server s = {.body = n};
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	s.fd = socket(AF_INET, SOCK_STREAM, 0);
	if (s.fd < 0 || bind(s.fd, (struct sockaddr *)&a, sizeof a) || listen(s.fd, 1) ||
	    getsockname(s.fd, (struct sockaddr *)&a, &al))
		return 99;
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
	struct httpc_url u;
	pthread_t t;
	if (httpc_parse_url(url, &u) || pthread_create(&t, NULL, serve, &s))
		return 99;
	struct httpc_response r = {0};
	int st = httpc_get(&u, "/", NULL, NULL, 20000, &r);
	*len = st ? 0 : r.body_len;
	if (!st)
		httpc_response_free(&r);
	pthread_join(t, NULL);
	close(s.fd);
	return st;
}

int main(void)
{
	size_t len;
	CHECK_INT(get_body(1 << 20, &len), 0);
	CHECK_INT(len, 1 << 20);
	/* Just under the bound with the head: taken whole. */
	CHECK_INT(get_body(HTTPC_MAX_BODY - 4096, &len), 0);
	CHECK_INT(len, HTTPC_MAX_BODY - 4096);
	/* Over it, and far over it: refused as too big, not as silence. */
	CHECK_INT(get_body(HTTPC_MAX_BODY + 1, &len), HTTPC_ETOOBIG);
	CHECK_INT(get_body(3 * HTTPC_MAX_BODY, &len), HTTPC_ETOOBIG);
	return test_report("httpc");
}
