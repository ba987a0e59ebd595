/* relay: see relay.h. Threads: the relay thread owns the multi handle and
 * every easy handle once it is added; other threads ask it for things
 * (start, resume, cancel) through a queue and curl_multi_wakeup. One lock,
 * the relay's, guards the queue and every transfer's shared state; the
 * relay thread never holds it while calling into libcurl, since libcurl
 * calls back into code that takes it. */
#include "relay.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "jcs.h"
#include "clock.h"
#include "log.h"

struct relay {
	CURLM *multi;
	pthread_t thread;
	pthread_mutex_t lock;
	/* under lock */
	struct relay_xfer *queue; /* transfers with requests for the thread */
	bool stop;                /* relay_stop asked */
	bool stopped;             /* the thread ended: opening fails */
	bool orphan;              /* relay_stop is done: the last transfer frees r */
	size_t nxfers;            /* transfers not yet freed */
	/* relay thread only */
	struct relay_xfer *live; /* in the multi handle */
};

struct relay_xfer {
	struct relay *r;
	/* relay thread only (set up by relay_open before it is queued) */
	CURL *easy;
	struct curl_slist *headers;
	struct relay_xfer *lprev, *lnext; /* r->live */
	pthread_cond_t cond;              /* the head or the end came */
	/* under r->lock */
	int refs;
	struct relay_xfer *qnext;
	bool queued, want_start, want_resume, want_cancel;
	bool head;    /* the answer's head is in */
	bool collect; /* a non-2xx answer: its body goes to body, not the ring */
	bool ended, failed, toobig;
	bool closed;  /* relay_close came */
	bool paused;  /* the write callback paused the transfer: the ring is full */
	bool waiting; /* relay_read answered RELAY_WAIT */
	void (*wake)(void *arg);
	void *wake_arg;
	unsigned status;
	char content_type[128], cache_control[128], disposition[256];
	char *ring; /* RELAY_BUF bytes: rlen of them from rpos, wrapping */
	size_t rpos, rlen;
	struct jcs_buf body; /* a non-2xx answer's, NUL-terminated (not counted in len) */
};

const char *relay_status_string(int status)
{
	switch (status) {
	case RELAY_OK:
		return "ok";
	case RELAY_NOMEM:
		return "out of memory";
	case RELAY_UNREACHABLE:
		return "no answer in time";
	case RELAY_TOOBIG:
		return "answer too large";
	case RELAY_BROKEN:
		return "answer cut short or not HTTP";
	case RELAY_STOPPED:
		return "relay stopped";
	}
	return "unknown";
}

/* ---- shared state, under r->lock ---- */

static void enqueue(struct relay_xfer *x)
{
	if (!x->queued) {
		x->queued = true;
		x->qnext = x->r->queue;
		x->r->queue = x;
	}
}

static void wake_reader(struct relay_xfer *x)
{
	if (x->waiting && x->wake) {
		x->waiting = false;
		x->wake(x->wake_arg);
	}
}

static void unref(struct relay_xfer *x)
{
	struct relay *r = x->r;
	pthread_mutex_lock(&r->lock);
	bool last = --x->refs == 0, free_r = false;
	if (last)
		free_r = --r->nxfers == 0 && r->orphan;
	pthread_mutex_unlock(&r->lock);
	if (!last)
		return;
	pthread_cond_destroy(&x->cond);
	free(x->ring);
	jcs_buf_free(&x->body);
	free(x);
	if (free_r) {
		pthread_mutex_destroy(&r->lock);
		free(r);
	}
}

/* ---- the relay thread ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct relay_xfer *x = ud;
	size_t len = size * n, rc = len;
	pthread_mutex_lock(&x->r->lock);
	if (x->closed) {
		rc = 0; /* an error for libcurl: the cancel is on its way */
	} else if (x->collect) {
		if (x->body.len + len > RELAY_ERROR_MAX) {
			x->toobig = true;
			rc = 0;
		} else {
			jcs_buf_put(&x->body, p, len);
			jcs_buf_put(&x->body, "", 1); /* the terminator, then not counted */
			x->body.len--;
			if (x->body.status)
				rc = 0;
		}
	} else if (len > RELAY_BUF - x->rlen) {
		/* libcurl keeps the data and hands it again after the resume;
		 * it never hands more than CURL_MAX_WRITE_SIZE < RELAY_BUF. */
		x->paused = true;
		rc = len > RELAY_BUF ? 0 : CURL_WRITEFUNC_PAUSE;
	} else {
		size_t at = (x->rpos + x->rlen) % RELAY_BUF, first = RELAY_BUF - at;
		if (first > len)
			first = len;
		memcpy(x->ring + at, p, first);
		memcpy(x->ring, p + first, len - first);
		x->rlen += len;
		wake_reader(x);
	}
	pthread_mutex_unlock(&x->r->lock);
	return rc;
}

/* Copies a header's value (trimmed) into out if it fits, else leaves it. */
static void header_value(const char *v, size_t n, char *out, size_t cap)
{
	while (n && (*v == ' ' || *v == '\t'))
		v++, n--;
	while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n < cap) {
		memcpy(out, v, n);
		out[n] = '\0';
	}
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct relay_xfer *x = ud;
	size_t len = size * n;
	static const struct {
		const char *name;
		size_t off, cap;
	} kept[] = {
	    {"content-type:", offsetof(struct relay_xfer, content_type), 128},
	    {"cache-control:", offsetof(struct relay_xfer, cache_control), 128},
	    {"content-disposition:", offsetof(struct relay_xfer, disposition), 256},
	};
	pthread_mutex_lock(&x->r->lock);
	if (x->head) {
		/* Trailers: the head is settled (and read without the lock). */
	} else if (len >= 5 && !memcmp(p, "HTTP/", 5)) {
		/* A status line: a new head (after a 1xx, the real one). */
		x->content_type[0] = x->cache_control[0] = x->disposition[0] = '\0';
	} else if ((len == 2 && p[0] == '\r') || (len == 1 && p[0] == '\n')) {
		long code = 0;
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
		if (code >= 200 && code <= 599) {
			x->status = (unsigned)code;
			x->head = true;
			x->collect = code / 100 != 2;
			pthread_cond_broadcast(&x->cond);
		}
	} else {
		for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
			size_t k = strlen(kept[i].name);
			if (len > k && !strncasecmp(p, kept[i].name, k))
				header_value(p + k, len - k, (char *)x + kept[i].off, kept[i].cap);
		}
	}
	pthread_mutex_unlock(&x->r->lock);
	return len;
}

/* The transfer left the multi handle (or never entered it): its end is
 * known, its reader is told, and the thread lets go of it. */
static void finish(struct relay_xfer *x, bool failed)
{
	struct relay *r = x->r;
	if (x->easy) {
		curl_easy_cleanup(x->easy); /* closes the connection */
		x->easy = NULL;
	}
	curl_slist_free_all(x->headers);
	x->headers = NULL;
	if (x->lprev || r->live == x) {
		if (x->lprev)
			x->lprev->lnext = x->lnext;
		else
			r->live = x->lnext;
		if (x->lnext)
			x->lnext->lprev = x->lprev;
		x->lprev = x->lnext = NULL;
	}
	pthread_mutex_lock(&r->lock);
	if (x->queued) { /* a request that no longer matters: x may go once closed */
		struct relay_xfer **p = &r->queue;
		while (*p && *p != x)
			p = &(*p)->qnext;
		if (*p)
			*p = x->qnext;
		x->queued = false;
	}
	x->ended = true;
	x->failed = failed || !x->head;
	pthread_cond_broadcast(&x->cond);
	wake_reader(x);
	pthread_mutex_unlock(&r->lock);
	unref(x);
}

static void take_queue(struct relay *r)
{
	pthread_mutex_lock(&r->lock);
	struct relay_xfer *q = r->queue;
	r->queue = NULL;
	pthread_mutex_unlock(&r->lock);
	while (q) {
		struct relay_xfer *x = q;
		pthread_mutex_lock(&r->lock);
		q = x->qnext;
		x->queued = false;
		bool start = x->want_start, resume = x->want_resume, cancel = x->want_cancel;
		x->want_start = x->want_resume = false;
		if (resume)
			x->paused = false;
		bool in_multi = x->lprev || r->live == x;
		pthread_mutex_unlock(&r->lock);
		if (cancel) {
			if (in_multi)
				curl_multi_remove_handle(r->multi, x->easy);
			if (in_multi || start)
				finish(x, true);
		} else if (start) {
			if (curl_multi_add_handle(r->multi, x->easy) != CURLM_OK) {
				finish(x, true);
				continue;
			}
			x->lnext = r->live;
			if (r->live)
				r->live->lprev = x;
			r->live = x;
		} else if (resume && in_multi) {
			/* May call on_body at once with what libcurl held back. */
			curl_easy_pause(x->easy, CURLPAUSE_CONT);
		}
	}
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *relay_main(void *arg)
{
	struct relay *r = arg;
	long idle_at = now_ms() + RELAY_IDLE_WAKE_MS;
	for (;;) {
		take_queue(r);
		pthread_mutex_lock(&r->lock);
		bool stop = r->stop;
		pthread_mutex_unlock(&r->lock);
		if (stop)
			break;
		int running;
		curl_multi_perform(r->multi, &running);
		CURLMsg *m;
		int left;
		while ((m = curl_multi_info_read(r->multi, &left)))
			if (m->msg == CURLMSG_DONE) {
				struct relay_xfer *x = NULL;
				CURLcode result = m->data.result;
				curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
				curl_multi_remove_handle(r->multi, m->easy_handle);
				if (result != CURLE_OK)
					log_info("relay: an upstream answer ended early: %s",
					         curl_easy_strerror(result));
				finish(x, result != CURLE_OK);
			}
		long now = now_ms();
		if (now >= idle_at) {
			idle_at = now + RELAY_IDLE_WAKE_MS;
			pthread_mutex_lock(&r->lock);
			for (struct relay_xfer *x = r->live; x; x = x->lnext)
				wake_reader(x);
			pthread_mutex_unlock(&r->lock);
		}
		curl_multi_poll(r->multi, NULL, 0, (int)(idle_at - now), NULL);
	}
	/* Stopping: no new transfer starts, every live one ends in error. */
	pthread_mutex_lock(&r->lock);
	r->stopped = true;
	pthread_mutex_unlock(&r->lock);
	take_queue(r); /* starts what was queued, to end it below with the rest */
	while (r->live) {
		struct relay_xfer *x = r->live;
		curl_multi_remove_handle(r->multi, x->easy);
		/* A live stream ends cleanly, as its upstream would when stopping
		 * (its client resumes from its last event); any other body is
		 * cut short, since it is incomplete. */
		pthread_mutex_lock(&r->lock);
		bool live = !strncasecmp(x->content_type, "text/event-stream", 17);
		pthread_mutex_unlock(&r->lock);
		finish(x, !live);
	}
	return NULL;
}

int relay_start(struct relay **out)
{
	*out = NULL;
	/* Thread-safe and counted since libcurl 7.84; relay_stop undoes it.
	 * Plain http: no TLS or other library to set up. */
	if (curl_global_init(CURL_GLOBAL_NOTHING) != CURLE_OK)
		return RELAY_NOMEM;
	struct relay *r = calloc(1, sizeof *r);
	if (!r || !(r->multi = curl_multi_init())) {
		free(r);
		curl_global_cleanup();
		return RELAY_NOMEM;
	}
	pthread_mutex_init(&r->lock, NULL);
	if (pthread_create(&r->thread, NULL, relay_main, r)) {
		curl_multi_cleanup(r->multi);
		pthread_mutex_destroy(&r->lock);
		free(r);
		curl_global_cleanup();
		return RELAY_NOMEM;
	}
	*out = r;
	return RELAY_OK;
}

void relay_stop(struct relay *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_mutex_unlock(&r->lock);
	curl_multi_wakeup(r->multi);
	pthread_join(r->thread, NULL);
	curl_multi_cleanup(r->multi);
	r->multi = NULL;
	curl_global_cleanup();
	pthread_mutex_lock(&r->lock);
	bool last = r->nxfers == 0;
	r->orphan = true;
	pthread_mutex_unlock(&r->lock);
	if (last) {
		pthread_mutex_destroy(&r->lock);
		free(r);
	}
}

/* ---- callers' side ---- */

/* Hands x's requests to the relay thread. */
static void kick(struct relay *r)
{
	pthread_mutex_lock(&r->lock);
	CURLM *m = r->stopped ? NULL : r->multi;
	/* The thread holds the multi handle until it stopped, and it stops
	 * only under this lock's watch: woken under the lock, it is alive. */
	if (m)
		curl_multi_wakeup(m);
	pthread_mutex_unlock(&r->lock);
}

/* A fixed receive buffer turns off the kernel's autotuning (up to
 * tcp_rmem's maximum, 32 MiB here) for the upstream socket: a paused
 * transfer holds at most this much in the kernel besides its ring, and the
 * upstream is pushed back on sooner. */
static int on_socket(void *ud, curl_socket_t fd, curlsocktype purpose)
{
	(void)ud;
	int size = RELAY_SOCKET_BUF;
	if (purpose == CURLSOCKTYPE_IPCXN)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
	return CURL_SOCKOPT_OK;
}

static int setup(struct relay_xfer *x, const char *url, const char *const *headers, long head_ms)
{
	if (!(x->easy = curl_easy_init()))
		return RELAY_NOMEM;
	size_t n = 0;
	for (; headers && headers[n]; n++) {
		if (n == RELAY_HEADERS_MAX || strpbrk(headers[n], "\r\n"))
			return RELAY_BROKEN;
		struct curl_slist *h = curl_slist_append(x->headers, headers[n]);
		if (!h)
			return RELAY_NOMEM;
		x->headers = h;
	}
	CURL *e = x->easy;
	int bad = 0;
	bad |= curl_easy_setopt(e, CURLOPT_URL, url);
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
	bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	/* One connection per transfer, closed with it: a client that goes
	 * away closes the upstream connection, not just a request on it. */
	bad |= curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, head_ms > 0 ? head_ms : 1L);
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	bad |= curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, on_socket);
	return bad ? RELAY_NOMEM : RELAY_OK;
}

int relay_open(struct relay *r, const char *url, const char *const *headers, long head_ms,
               struct relay_xfer **out)
{
	*out = NULL;
	struct relay_xfer *x = calloc(1, sizeof *x);
	if (!x)
		return RELAY_NOMEM;
	x->r = r;
	x->refs = 1;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&x->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_lock(&r->lock);
	r->nxfers++;
	pthread_mutex_unlock(&r->lock);
	int st = (x->ring = malloc(RELAY_BUF)) ? setup(x, url, headers, head_ms) : RELAY_NOMEM;
	if (st) {
		if (x->easy)
			curl_easy_cleanup(x->easy);
		curl_slist_free_all(x->headers);
		x->easy = NULL;
		x->headers = NULL;
		unref(x);
		return st;
	}

	struct timespec until = clock_deadline(head_ms);
	pthread_mutex_lock(&r->lock);
	if (r->stopped) {
		pthread_mutex_unlock(&r->lock);
		curl_easy_cleanup(x->easy);
		curl_slist_free_all(x->headers);
		x->easy = NULL;
		x->headers = NULL;
		unref(x);
		return RELAY_STOPPED;
	}
	x->refs++; /* the relay thread's, until finish */
	x->want_start = true;
	enqueue(x);
	curl_multi_wakeup(r->multi);
	/* The head; for a non-2xx answer, the whole body. */
	int wr = 0;
	while (!x->ended && !(x->head && !x->collect) && wr != ETIMEDOUT)
		wr = pthread_cond_timedwait(&x->cond, &r->lock, &until);
	st = x->head && !x->collect   ? RELAY_OK
	     : x->head && x->ended    ? (x->toobig   ? RELAY_TOOBIG
	                                 : x->failed ? RELAY_BROKEN
	                                             : RELAY_OK)
	     : x->ended && r->stopped ? RELAY_STOPPED
	                              : RELAY_UNREACHABLE;
	pthread_mutex_unlock(&r->lock);
	if (st) {
		relay_close(x);
		return st;
	}
	*out = x;
	return RELAY_OK;
}

unsigned relay_status(const struct relay_xfer *x)
{
	return x->status;
}

const char *relay_content_type(const struct relay_xfer *x)
{
	return x->content_type;
}

const char *relay_header(const struct relay_xfer *x, const char *name)
{
	const char *v = !strcasecmp(name, "Content-Type")          ? x->content_type
	                : !strcasecmp(name, "Cache-Control")       ? x->cache_control
	                : !strcasecmp(name, "Content-Disposition") ? x->disposition
	                                                           : "";
	return *v ? v : NULL;
}

const char *relay_body(const struct relay_xfer *x, size_t *len)
{
	*len = x->body.len;
	return x->collect ? (x->body.data ? x->body.data : "") : NULL;
}

long relay_read(struct relay_xfer *x, char *buf, size_t max)
{
	struct relay *r = x->r;
	long rc;
	bool resume = false;
	pthread_mutex_lock(&r->lock);
	if (x->rlen) {
		size_t n = x->rlen < max ? x->rlen : max, first = RELAY_BUF - x->rpos;
		if (first > n)
			first = n;
		memcpy(buf, x->ring + x->rpos, first);
		memcpy(buf + first, x->ring, n - first);
		x->rpos = (x->rpos + n) % RELAY_BUF;
		x->rlen -= n;
		rc = (long)n;
		/* Resume once half the ring is free: libcurl hands at most
		 * CURL_MAX_WRITE_SIZE (16 KiB) at a time. */
		if (x->paused && !x->want_resume && x->rlen <= RELAY_BUF / 2 && !x->ended) {
			x->want_resume = resume = true;
			enqueue(x);
		}
	} else if (x->ended) {
		rc = x->failed ? -1 : 0;
	} else {
		x->waiting = true;
		rc = RELAY_WAIT;
	}
	pthread_mutex_unlock(&r->lock);
	if (resume)
		kick(r);
	return rc;
}

void relay_set_waker(struct relay_xfer *x, void (*wake)(void *arg), void *arg)
{
	pthread_mutex_lock(&x->r->lock);
	if (!x->closed) {
		x->wake = wake;
		x->wake_arg = arg;
		wake_reader(x);
	}
	pthread_mutex_unlock(&x->r->lock);
}

void relay_close(struct relay_xfer *x)
{
	struct relay *r = x->r;
	pthread_mutex_lock(&r->lock);
	x->closed = true;
	x->wake = NULL;
	bool cancel = !x->ended && !r->stopped;
	if (cancel) {
		x->want_cancel = true;
		enqueue(x);
	}
	pthread_mutex_unlock(&r->lock);
	if (cancel)
		kick(r);
	unref(x);
}

/* ---- as an http_reply_stream ---- */

static long stream_fill(void *ctx, char *buf, size_t max)
{
	return relay_read(ctx, buf, max);
}

static void stream_done(void *ctx)
{
	relay_close(ctx);
}

static void stream_wake(void *arg)
{
	http_stream_wake(arg);
}

struct http_stream *relay_reply(struct http_request *req, struct relay_xfer *x)
{
	const char *v;
	if ((v = relay_header(x, "Cache-Control")))
		http_add_header(req, "Cache-Control", v);
	if ((v = relay_header(x, "Content-Disposition")))
		http_add_header(req, "Content-Disposition", v);
	/* Our own hold on x while the reply is made: done may run (and close
	 * x) before http_reply_stream returns. */
	pthread_mutex_lock(&x->r->lock);
	x->refs++;
	pthread_mutex_unlock(&x->r->lock);
	struct http_stream *s = http_reply_stream(
	    req, x->status, x->content_type[0] ? x->content_type : "application/octet-stream",
	    stream_fill, stream_done, x);
	if (s)
		relay_set_waker(x, stream_wake, s);
	unref(x);
	return s;
}
