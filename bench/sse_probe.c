/* sse_probe: one live-stream subscriber that notes when its messages
 * arrive, for the stream benchmark (bench.py, "stream").
 *
 *   sse_probe URL TOKEN SAMPLE
 *       GETs URL (Accept: text/event-stream, the token as Bearer) with
 *       libcurl and reads the Server-Sent Events until SIGTERM or SIGINT,
 *       retrying for 10 s while the answer is an error (503 while the
 *       auditor reads the log's end after it started). Every SAMPLE-th
 *       message with an id is sampled: the wall-clock time its last byte
 *       was handed over by libcurl, its position and its event id. On
 *       stopping it prints "received N" and then one line per sample,
 *       "POSITION EVENT-ID SECONDS" (seconds since the epoch, to the
 *       microsecond). Exit 0, or 1 when the stream could not be opened.
 *
 * A client in C and not in the Python driver: on the two shared cores a
 * Python subscriber receiving ~8,000 messages a second during the GET load
 * measured its own scheduling as much as the stream's delivery. */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

struct sample {
	unsigned long long seq;
	char id[37];
	double at;
};

struct probe {
	char *buf; /* bytes of an unfinished message */
	size_t len, cap;
	unsigned long long received;
	unsigned sample;
	struct sample *s;
	size_t ns, scap;
	int failed; /* out of memory */
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One whole message (without its blank line): counted, perhaps sampled. */
static void message(struct probe *p, const char *m, size_t n, double at)
{
	if (n < 4 || memcmp(m, "id: ", 4))
		return; /* a comment (keep-alive) or the retry: field */
	if (++p->received % p->sample)
		return;
	if (p->ns == p->scap) {
		size_t cap = p->scap ? p->scap * 2 : 4096;
		struct sample *s = realloc(p->s, cap * sizeof *s);
		if (!s) {
			p->failed = 1;
			return;
		}
		p->s = s;
		p->scap = cap;
	}
	struct sample *s = &p->s[p->ns];
	s->seq = strtoull(m + 4, NULL, 10);
	s->at = at;
	s->id[0] = '\0';
	/* the resource's "id" member: the first one in its JSON */
	const char *key = "\"id\":\"";
	for (size_t i = 0; i + strlen(key) + 36 <= n; i++)
		if (!memcmp(m + i, key, strlen(key))) {
			memcpy(s->id, m + i + strlen(key), 36);
			s->id[36] = '\0';
			break;
		}
	p->ns++;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct probe *p = arg;
	size_t n = size * nmemb;
	double at = now_s();
	if (p->len + n > p->cap) {
		size_t cap = p->cap ? p->cap : 1 << 16;
		while (cap < p->len + n)
			cap *= 2;
		char *b = realloc(p->buf, cap);
		if (!b) {
			p->failed = 1;
			return 0;
		}
		p->buf = b;
		p->cap = cap;
	}
	memcpy(p->buf + p->len, data, n);
	p->len += n;
	size_t start = 0;
	for (size_t i = 0; i + 1 < p->len; i++)
		if (p->buf[i] == '\n' && p->buf[i + 1] == '\n') {
			message(p, p->buf + start, i - start, at);
			start = i + 2;
			i++;
		}
	memmove(p->buf, p->buf + start, p->len - start);
	p->len -= start;
	return n;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	(void)arg, (void)a, (void)b, (void)c, (void)d;
	return stopping; /* non-zero ends the transfer */
}

int main(int argc, char **argv)
{
	if (argc != 4 || atoi(argv[3]) < 1) {
		fprintf(stderr, "usage: sse_probe URL TOKEN SAMPLE\n");
		return 2;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	struct probe p = {.sample = (unsigned)atoi(argv[3])};
	char auth[4096];
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", argv[2]);
	struct curl_slist *h = curl_slist_append(NULL, auth);
	h = curl_slist_append(h, "Accept: text/event-stream");
	CURL *c = curl_easy_init();
	if (!c || !h) {
		fprintf(stderr, "sse_probe: out of memory\n");
		return 1;
	}
	curl_easy_setopt(c, CURLOPT_URL, argv[1]);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &p);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	double give_up = now_s() + 10;
	CURLcode rc;
	for (;;) {
		rc = curl_easy_perform(c);
		if (rc != CURLE_HTTP_RETURNED_ERROR || stopping || now_s() > give_up)
			break;
		struct timespec pause = {0, 50 * 1000000};
		nanosleep(&pause, NULL);
	}
	int ok = (rc == CURLE_ABORTED_BY_CALLBACK || rc == CURLE_OK) && !p.failed;
	if (!ok)
		fprintf(stderr, "sse_probe: %s\n", p.failed ? "out of memory" : curl_easy_strerror(rc));
	printf("received %llu\n", p.received);
	for (size_t i = 0; i < p.ns; i++)
		printf("%llu %s %.6f\n", p.s[i].seq, p.s[i].id[0] ? p.s[i].id : "-", p.s[i].at);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	curl_global_cleanup();
	free(p.buf);
	free(p.s);
	return ok ? 0 : 1;
}
