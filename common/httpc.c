#include "httpc.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

int httpc_parse_url(const char *url, struct httpc_url *out)
{
	memset(out, 0, sizeof *out);
	if (strncmp(url, "http://", 7))
		return -1;
	const char *h = url + 7;
	const char *slash = strchr(h, '/');
	size_t hostport = slash ? (size_t)(slash - h) : strlen(h);
	const char *colon = memchr(h, ':', hostport);
	size_t hlen = colon ? (size_t)(colon - h) : hostport;
	if (hlen == 0 || hlen >= sizeof out->host)
		return -1;
	memcpy(out->host, h, hlen);
	if (colon) {
		size_t plen = hostport - hlen - 1;
		if (plen == 0 || plen >= sizeof out->port)
			return -1;
		memcpy(out->port, colon + 1, plen);
	} else {
		strcpy(out->port, "80");
	}
	if (slash) {
		size_t n = strlen(slash);
		while (n && slash[n - 1] == '/')
			n--;
		if (n >= sizeof out->prefix)
			return -1;
		memcpy(out->prefix, slash, n);
	}
	return 0;
}

static long remaining_ms(const struct timespec *deadline)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long ms = (long)(deadline->tv_sec - now.tv_sec) * 1000 +
	          (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms > 0 ? ms : 0;
}

/* Waits until fd is ready for events or the deadline passes. Returns 0 when
 * ready, -1 on timeout or error. */
static int wait_for(int fd, short events, const struct timespec *deadline)
{
	for (;;) {
		long ms = remaining_ms(deadline);
		if (ms == 0)
			return -1;
		struct pollfd p = {.fd = fd, .events = events};
		int n = poll(&p, 1, (int)ms);
		if (n < 0 && errno == EINTR)
			continue;
		return n > 0 ? 0 : -1;
	}
}

static int connect_to(const struct httpc_url *url, const struct timespec *deadline)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	if (getaddrinfo(url->host, url->port, &hints, &res))
		return -1;
	int fd = -1;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
		            ai->ai_protocol);
		if (fd < 0)
			continue;
		int err = 0;
		socklen_t len = sizeof err;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
		    (errno == EINPROGRESS && wait_for(fd, POLLOUT, deadline) == 0 &&
		     getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0))
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static int send_all(int fd, const char *buf, size_t len, const struct timespec *deadline)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_for(fd, POLLOUT, deadline))
				return -1;
			continue;
		}
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Copies a header's value (v: after the colon, up to its line's end, its
 * leading spaces skipped) into out (cap bytes), cut to fit. */
static void header_value(const char *v, char *out, size_t cap)
{
	while (*v == ' ')
		v++;
	size_t n = strcspn(v, "\r\n");
	if (n >= cap)
		n = cap - 1;
	memcpy(out, v, n);
	out[n] = '\0';
}

static int parse_response(char *raw, size_t len, struct httpc_response *out)
{
	char *end = NULL;
	for (size_t i = 0; i + 3 < len; i++)
		if (!memcmp(raw + i, "\r\n\r\n", 4)) {
			end = raw + i;
			break;
		}
	if (!end || strncmp(raw, "HTTP/1.", 7) || len < 12)
		return -1;
	*end = '\0';
	if (!(out->head = strdup(raw)))
		return -1;
	out->status = (unsigned)strtoul(raw + 9, NULL, 10);
	if (out->status < 100 || out->status > 599)
		return -1;
	long content_length = -1;
	for (char *line = strstr(raw, "\r\n"); line && line < end; line = strstr(line, "\r\n")) {
		line += 2;
		if (!strncasecmp(line, "Content-Type:", 13)) {
			header_value(line + 13, out->content_type, sizeof out->content_type);
		} else if (!strncasecmp(line, "Last-Modified:", 14)) {
			header_value(line + 14, out->last_modified, sizeof out->last_modified);
		} else if (!strncasecmp(line, "Content-Length:", 15)) {
			content_length = strtol(line + 15, NULL, 10);
		} else if (!strncasecmp(line, "Transfer-Encoding:", 18)) {
			return -1; /* our daemons always send Content-Length */
		}
	}
	char *body = end + 4;
	size_t body_len = len - (size_t)(body - raw);
	if (content_length >= 0) {
		if ((size_t)content_length > body_len)
			return -1;
		body_len = (size_t)content_length;
	}
	if (!(out->body = malloc(body_len + 1)))
		return -1;
	memcpy(out->body, body, body_len);
	out->body[body_len] = '\0';
	out->body_len = body_len;
	return 0;
}

/* One request: method, prefix + target, optional Authorization, more
 * header lines and body. */
static int request(const struct httpc_url *url, const char *method, const char *target,
                   const char *accept, const char *authorization, const char *const *headers,
                   const char *content_type, const char *body, size_t body_len, int timeout_ms,
                   struct httpc_response *out)
{
	memset(out, 0, sizeof *out);
	if (authorization && strpbrk(authorization, "\r\n"))
		return -1;
	for (const char *const *h = headers; h && *h; h++)
		if (strpbrk(*h, "\r\n") || !strchr(*h, ':'))
			return -1;
	if (content_type && strpbrk(content_type, "\r\n"))
		return -1;
	if (strpbrk(target, "\r\n "))
		return -1;
	int rc = -1, fd = -1;
	char *req = NULL, *raw = NULL;
	size_t req_len = 0, raw_len = 0, raw_cap = 0;
	FILE *f = open_memstream(&req, &req_len);
	if (!f)
		return -1;
	fprintf(f, "%s %s%s HTTP/1.1\r\nHost: %s:%s\r\nAccept: %s\r\n", method, url->prefix,
	        target, url->host, url->port, accept);
	if (authorization)
		fprintf(f, "Authorization: %s\r\n", authorization);
	for (const char *const *h = headers; h && *h; h++)
		fprintf(f, "%s\r\n", *h);
	if (content_type)
		fprintf(f, "Content-Type: %s\r\nContent-Length: %zu\r\n", content_type, body_len);
	fputs("Connection: close\r\n\r\n", f);
	if (content_type)
		fwrite(body, 1, body_len, f);
	if (fclose(f))
		goto out;

	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	fd = connect_to(url, &deadline);
	if (fd < 0 || send_all(fd, req, req_len, &deadline))
		goto out;
	for (;;) {
		if (raw_len >= HTTPC_MAX_BODY) {
			rc = HTTPC_ETOOBIG;
			goto out;
		}
		if (raw_len + 65536 > raw_cap) {
			raw_cap = raw_cap ? raw_cap * 2 : 65536 * 2;
			if (raw_cap > HTTPC_MAX_BODY + 1)
				raw_cap = HTTPC_MAX_BODY + 1; /* room for the answer and its NUL */
			char *r = realloc(raw, raw_cap);
			if (!r)
				goto out;
			raw = r;
		}
		ssize_t n = recv(fd, raw + raw_len, raw_cap - raw_len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_for(fd, POLLIN, &deadline))
				goto out;
			continue;
		}
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		raw_len += (size_t)n;
	}
	if (raw)
		raw[raw_len] = '\0';
	rc = raw ? parse_response(raw, raw_len, out) : -1;
out:
	if (fd >= 0)
		close(fd);
	free(req);
	free(raw);
	if (rc)
		httpc_response_free(out);
	return rc;
}

int httpc_get(const struct httpc_url *url, const char *target, const char *authorization,
              const char *const *headers, int timeout_ms, struct httpc_response *out)
{
	return request(url, "GET", target, "application/vnd.api+json", authorization, headers,
	               NULL, NULL, 0, timeout_ms, out);
}

int httpc_post(const struct httpc_url *url, const char *target, const char *content_type,
               const char *body, size_t len, int timeout_ms, struct httpc_response *out)
{
	return request(url, "POST", target, "application/json", NULL, NULL, content_type, body, len,
	               timeout_ms, out);
}

int httpc_post_jsonapi(const struct httpc_url *url, const char *target, const char *authorization,
                       const char *const *headers, const char *body, size_t len, int timeout_ms,
                       struct httpc_response *out)
{
	return request(url, "POST", target, "application/vnd.api+json", authorization, headers,
	               "application/vnd.api+json", body, len, timeout_ms, out);
}

int httpc_header(const struct httpc_response *resp, const char *name, char *out, size_t cap)
{
	size_t n = strlen(name);
	const char *line = resp->head ? strstr(resp->head, "\r\n") : NULL;
	for (; line; line = strstr(line, "\r\n")) {
		line += 2;
		if (strncasecmp(line, name, n) || line[n] != ':')
			continue;
		const char *v = line + n + 1;
		v += strspn(v, " \t");
		size_t len = strcspn(v, "\r\n");
		while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
			len--;
		if (len >= cap)
			return -1;
		memcpy(out, v, len);
		out[len] = '\0';
		return 0;
	}
	return -1;
}

void httpc_response_free(struct httpc_response *resp)
{
	free(resp->body);
	free(resp->head);
	resp->body = resp->head = NULL;
	resp->body_len = 0;
}
