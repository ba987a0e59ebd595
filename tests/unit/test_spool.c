/* The view spool alone, on a temporary folder: every view comes out once,
 * whatever fails on the way. Linked against a stub log that records what
 * the spool says, and with malloc, calloc and realloc wrapped (--wrap) so
 * that the n-th allocation can be made to fail. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "log.h"
#include "spool.h"
#include "testhelp.h"

/* ---- stubs ---- */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_said[64][256]; /* the latest lines, round robin */
static unsigned log_lines, log_errors;

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	fprintf(stderr, "  [spool %s] %s\n", level == LOG_LEVEL_ERROR ? "error" : "log", line);
	pthread_mutex_lock(&log_lock);
	snprintf(log_said[log_lines++ % 64], sizeof log_said[0], "%s", line);
	if (level == LOG_LEVEL_ERROR)
		log_errors++;
	pthread_mutex_unlock(&log_lock);
}

static unsigned errors_logged(void)
{
	pthread_mutex_lock(&log_lock);
	unsigned n = log_errors;
	pthread_mutex_unlock(&log_lock);
	return n;
}

/* True when one of the last lines logged contains text. */
static int logged(const char *text)
{
	int hit = 0;
	pthread_mutex_lock(&log_lock);
	for (unsigned i = 0; i < 64 && i < log_lines; i++)
		hit |= strstr(log_said[i], text) != NULL;
	pthread_mutex_unlock(&log_lock);
	return hit;
}

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

static atomic_long alloc_calls, alloc_fail_at; /* fail the call numbered fail_at (0: none) */

static int alloc_fails(void)
{
	long at = atomic_load(&alloc_fail_at);
	return atomic_fetch_add(&alloc_calls, 1) + 1 == at && at;
}

void *__wrap_malloc(size_t n)
{
	return alloc_fails() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return alloc_fails() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
	return alloc_fails() ? NULL : __real_realloc(p, n);
}

/* The record header's size (spool.c's HEADER): length and CRC-32. */
#define HEADER_BYTES 8

/* ---- views ---- */

#define VIEWS_MAX 1000
static size_t body_len[VIEWS_MAX];

static void view_id(unsigned i, char id[UUID_STR_LEN + 1])
{
	snprintf(id, UUID_STR_LEN + 1, "00000000-0000-7000-8000-%012u", i);
}

/* The body of view i, len bytes: a JSON object whose padding depends on i. */
static char *view_body(unsigned i, size_t len)
{
	char *b = malloc(len + 1);
	int head = snprintf(b, len + 1, "{\"n\":%u,\"pad\":\"", i);
	for (size_t k = (size_t)head; k < len; k++)
		b[k] = (char)('a' + (i + k) % 26);
	b[len - 2] = '"';
	b[len - 1] = '}';
	b[len] = '\0';
	return b;
}

static int append(struct spool *sp, unsigned i, size_t len)
{
	char id[UUID_STR_LEN + 1];
	view_id(i, id);
	body_len[i] = len;
	char *body = view_body(i, len);
	int rc = spool_append(sp, id, body, len);
	free(body);
	return rc;
}

static int wait_written(struct spool *sp, uint64_t n);

/* Appends views from..to-1, each waiting for the last to be durable: one
 * group each, so a segment ends after the 70th view of 60,000 bytes. */
static int append_each(struct spool *sp, unsigned from, unsigned to, size_t len)
{
	int ok = 1;
	for (unsigned i = from; i < to; i++)
		ok &= append(sp, i, len) == 0 && wait_written(sp, i + 1);
	return ok;
}

struct seen {
	unsigned times[VIEWS_MAX];
	unsigned total, wrong;
};

static int on_record(void *ctx, const char *id, const char *body, size_t len,
                     struct spool_pos end)
{
	struct seen *s = ctx;
	(void)end;
	unsigned i = (unsigned)strtoul(id + 24, NULL, 10);
	char want_id[UUID_STR_LEN + 1];
	view_id(i, want_id);
	char *want = i < VIEWS_MAX && body_len[i] ? view_body(i, body_len[i]) : NULL;
	if (!want || strcmp(id, want_id) || len != body_len[i] || memcmp(body, want, len))
		s->wrong++;
	else
		s->times[i]++;
	s->total++;
	free(want);
	return 0;
}

/* Reads until every durable view was read (at most tries calls, 20 ms
 * apart), confirming as the publisher does. */
static void read_all(struct spool *sp, struct spool_pos *pos, struct seen *s, int tries)
{
	while (tries-- > 0 && !spool_caught_up(sp, *pos)) {
		if (spool_read(sp, pos, VIEWS_MAX, on_record, s))
			spool_confirm(sp, *pos);
		else
			nanosleep(&(struct timespec){.tv_nsec = 20000000}, NULL);
	}
}

static int wait_written(struct spool *sp, uint64_t n)
{
	struct spool_stats st;
	for (int i = 0; i < 10000; i++) {
		spool_stats(sp, &st);
		if (st.appended + st.dropped >= n)
			return st.appended == n;
		nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
	}
	return 0;
}

static char *new_dir(void)
{
	char tmpl[] = "/tmp/test_spool-XXXXXX";
	return strdup(mkdtemp(tmpl));
}

static void remove_dir(char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.') {
			snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
			unlink(path);
		}
	if (d)
		closedir(d);
	rmdir(dir);
	free(dir);
}

static int segment_exists(const char *dir, uint64_t segment)
{
	char path[512];
	snprintf(path, sizeof path, "%s/views-%016llu.spool", dir, (unsigned long long)segment);
	return access(path, F_OK) == 0;
}

static int segments(const char *dir)
{
	int n = 0;
	for (uint64_t s = 1; s < 100; s++)
		n += segment_exists(dir, s);
	return n;
}

static int same_pos(struct spool_pos a, struct spool_pos b)
{
	return a.segment == b.segment && a.offset == b.offset;
}

/* ---- tests ---- */

struct fixture {
	char *dir;
	struct spool *sp;
	struct seen *seen;
};

/* A spool on a new folder, and nothing seen yet. */
static void fixture_open(struct fixture *f)
{
	f->dir = new_dir();
	f->seen = calloc(1, sizeof *f->seen);
	CHECK_INT(spool_open(f->dir, NULL, NULL, &f->sp), 0);
}

static void fixture_close(struct fixture *f)
{
	spool_close(f->sp);
	free(f->seen);
	remove_dir(f->dir);
}

static void test_round_trip_and_restart(void)
{
	struct fixture f;
	fixture_open(&f);
	for (unsigned i = 0; i < 100; i++)
		CHECK_INT(append(f.sp, i, 100 + i), 0);
	CHECK(wait_written(f.sp, 100));
	struct spool_pos pos = spool_confirmed(f.sp);
	read_all(f.sp, &pos, f.seen, 10);
	for (unsigned i = 0; i < 100; i++)
		CHECK_INT(f.seen->times[i], 1);
	CHECK_INT(f.seen->wrong, 0);
	spool_close(f.sp);

	/* The checkpoint written on close: nothing is read twice. */
	CHECK_INT(spool_open(f.dir, NULL, NULL, &f.sp), 0);
	CHECK(same_pos(spool_confirmed(f.sp), pos));
	CHECK(spool_caught_up(f.sp, spool_confirmed(f.sp)));
	CHECK_INT(append(f.sp, 100, 50), 0);
	CHECK(wait_written(f.sp, 1));
	read_all(f.sp, &pos, f.seen, 10);
	CHECK_INT(f.seen->times[100], 1);
	CHECK_INT(f.seen->total, 101);
	fixture_close(&f);
}

/* Out of descriptors, the reader cannot open a segment: it must stay
 * where it is, say so, and read everything once descriptors are back. */
static void test_descriptors_run_out(void)
{
	struct fixture f;
	fixture_open(&f);
	CHECK(append_each(f.sp, 0, 150, 60000)); /* segments 1 and 2 of 70 views, 3 of 10 */
	CHECK_INT(segments(f.dir), 3);

	struct rlimit was, low;
	getrlimit(RLIMIT_NOFILE, &was);
	low = was;
	if (low.rlim_cur > 256)
		low.rlim_cur = 256;
	setrlimit(RLIMIT_NOFILE, &low);
	/* The sync thread closes finished segments (1 and 2) once synced:
	 * take the descriptors it frees too, or the reader would get one. */
	int fds[256], nfds = 0;
	for (int round = 0; round < 3; round++) {
		if (round)
			nanosleep(&(struct timespec){.tv_nsec = 250 * 1000000}, NULL);
		while (nfds < 256 && (fds[nfds] = open("/dev/null", O_RDONLY)) >= 0)
			nfds++;
	}
	CHECK(nfds < 256 && errno == EMFILE);

	/* More views come while no file can be opened. */
	CHECK(append_each(f.sp, 150, 200, 60000));
	unsigned errors = errors_logged();
	struct spool_pos start = spool_confirmed(f.sp), pos = start;
	CHECK_INT(spool_read(f.sp, &pos, VIEWS_MAX, on_record, f.seen), 0);
	CHECK(same_pos(pos, start));
	CHECK(errors_logged() > errors);
	CHECK(logged("cannot open segment 1"));
	spool_confirm(f.sp, pos); /* what a confirm of earlier views would do */
	CHECK_INT(spool_read(f.sp, &pos, VIEWS_MAX, on_record, f.seen), 0);
	CHECK(same_pos(pos, start));

	while (nfds)
		close(fds[--nfds]);
	setrlimit(RLIMIT_NOFILE, &was);
	CHECK_INT(segments(f.dir), 3);
	read_all(f.sp, &pos, f.seen, 50);
	for (unsigned i = 0; i < 200; i++)
		CHECK_INT(f.seen->times[i], 1);
	CHECK_INT(f.seen->total, 200);
	CHECK_INT(f.seen->wrong, 0);
	CHECK(logged("view events flow again"));
	/* Confirmed to the end: only the active segment is left. */
	CHECK(!segment_exists(f.dir, 1) && !segment_exists(f.dir, 2) && segment_exists(f.dir, 3));
	fixture_close(&f);
}

/* A finished segment that is gone is passed over (logged); the active
 * one is not, until the writer has moved past it. */
static void test_segment_gone(void)
{
	struct fixture f;
	fixture_open(&f);
	char path[512];
	CHECK(append_each(f.sp, 0, 150, 60000));
	CHECK_INT(segments(f.dir), 3);
	for (int seg = 2; seg <= 3; seg++) {
		snprintf(path, sizeof path, "%s/views-%016d.spool", f.dir, seg);
		CHECK_INT(unlink(path), 0);
	}
	struct spool_pos pos = spool_confirmed(f.sp);
	unsigned n = (unsigned)spool_read(f.sp, &pos, VIEWS_MAX, on_record, f.seen);
	CHECK(logged("segment 2 is gone"));
	CHECK(logged("cannot open segment 3"));
	CHECK(same_pos(pos, ((struct spool_pos){3, 0}))); /* it waits at the active one */
	CHECK_INT(n, 70);
	for (unsigned i = 0; i < 150; i++)
		CHECK_INT(f.seen->times[i], i < 70); /* segment 1, nothing else */

	/* Once the writer moved on to segment 4, segment 3 is finished. */
	CHECK(append_each(f.sp, 150, 240, 60000));
	CHECK(segment_exists(f.dir, 4));
	read_all(f.sp, &pos, f.seen, 50);
	CHECK(spool_caught_up(f.sp, pos));
	CHECK(logged("segment 3 is gone"));
	CHECK_INT(f.seen->times[239], 1);
	for (unsigned i = 0; i < 240; i++)
		CHECK(f.seen->times[i] <= 1);
	CHECK_INT(f.seen->wrong, 0);
	fixture_close(&f);
}

/* A record longer than the reader's chunk (256 KiB) is read whole. */
static void test_largest_record(void)
{
	struct fixture f;
	fixture_open(&f);
	CHECK_INT(append(f.sp, 0, 100), 0);
	CHECK_INT(append(f.sp, 1, EVENT_MAX_BYTES), 0);
	CHECK_INT(append(f.sp, 2, 100), 0);
	CHECK_INT(append(f.sp, 3, EVENT_MAX_BYTES - 40), 0);
	CHECK(wait_written(f.sp, 4));
	CHECK_INT(append(f.sp, 4, EVENT_MAX_BYTES + 1), -1); /* refused, not stored */
	CHECK(logged("over the 262144 a record may hold"));
	struct spool_pos pos = spool_confirmed(f.sp);
	read_all(f.sp, &pos, f.seen, 20);
	CHECK(spool_caught_up(f.sp, pos));
	for (unsigned i = 0; i < 4; i++)
		CHECK_INT(f.seen->times[i], 1);
	CHECK_INT(f.seen->total, 4);
	CHECK_INT(f.seen->wrong, 0);
	spool_close(f.sp);

	/* And after a restart, when recovery checks each record's length. */
	CHECK_INT(spool_open(f.dir, NULL, NULL, &f.sp), 0);
	memset(f.seen, 0, sizeof *f.seen);
	pos = (struct spool_pos){1, 0};
	read_all(f.sp, &pos, f.seen, 20);
	CHECK_INT(f.seen->total, 4);
	fixture_close(&f);
}

/* Whichever allocation fails, spool_open says so at error and returns -1
 * (freeing what it had); once it returns 0, the writer needs no more
 * memory, and writes. */
static void test_allocation_failures(void)
{
	char *dir = new_dir();
	int opened = 0;
	for (long k = 1; k < 30 && !opened; k++) {
		char *body = view_body(0, 100);
		char id[UUID_STR_LEN + 1];
		view_id(0, id);
		body_len[0] = 100;
		unsigned errors = errors_logged();
		struct spool *sp;
		atomic_store(&alloc_calls, 0);
		atomic_store(&alloc_fail_at, k);
		int rc = spool_open(dir, NULL, NULL, &sp);
		if (rc) {
			atomic_store(&alloc_fail_at, 0);
			CHECK(errors_logged() > errors);
			free(body);
			continue;
		}
		opened = 1;
		long calls = atomic_load(&alloc_calls);
		CHECK_INT(spool_append(sp, id, body, 100), 0);
		free(body);
		int written = wait_written(sp, 1);
		long failed = atomic_load(&alloc_calls) >= k;
		atomic_store(&alloc_fail_at, 0);
		CHECK(written);
		CHECK(!failed);
		CHECK_INT(atomic_load(&alloc_calls), calls); /* the writer allocated nothing */
		spool_close(sp);
	}
	CHECK(opened);
	remove_dir(dir);
}

static void corrupt(const char *dir, uint64_t segment, long offset, const char *bytes)
{
	char path[512];
	snprintf(path, sizeof path, "%s/views-%016llu.spool", dir, (unsigned long long)segment);
	int fd = open(path, O_WRONLY);
	CHECK(fd >= 0);
	CHECK_INT((int)pwrite(fd, bytes, strlen(bytes), offset), (int)strlen(bytes));
	close(fd);
}

static long file_size(const char *dir, uint64_t segment)
{
	char path[512];
	snprintf(path, sizeof path, "%s/views-%016llu.spool", dir, (unsigned long long)segment);
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fclose(f);
	return n;
}

/* Damage found at start: a finished segment is left whole for the reader
 * (which passes over the rest of it, at error); the last one is cut at
 * the damage, at error, not as a torn write. A torn write is a warning. */
static void test_damage_at_rest(void)
{
	struct fixture f;
	fixture_open(&f);
	CHECK(append_each(f.sp, 0, 150, 60000)); /* segments 1, 2 of 70 views, 3 of 10 */
	spool_close(f.sp);
	long record = HEADER_BYTES + UUID_STR_LEN + 60000;
	corrupt(f.dir, 1, 10 * record + 500, "XYZ");
	corrupt(f.dir, 3, 4 * record + 500, "XYZ");
	long size1 = file_size(f.dir, 1);
	unsigned errors = errors_logged();
	CHECK_INT(spool_open(f.dir, NULL, NULL, &f.sp), 0);
	CHECK(logged("segment 3 is damaged at offset"));
	CHECK_INT(file_size(f.dir, 1), size1);     /* not cut at start */
	CHECK_INT(file_size(f.dir, 3), 4 * record); /* cut where the damage is */
	struct spool_pos pos = {1, 0};
	read_all(f.sp, &pos, f.seen, 50);
	CHECK(logged("segment 1 is damaged"));
	CHECK(errors_logged() >= errors + 2);
	for (unsigned i = 0; i < 150; i++)
		CHECK_INT(f.seen->times[i], i < 10 || (i >= 70 && i < 144));
	CHECK_INT(f.seen->wrong, 0);
	spool_close(f.sp);

	/* A record a crash cut short: a warning, no error. */
	char path[512];
	snprintf(path, sizeof path, "%s/views-%016d.spool", f.dir, 3);
	int fd = open(path, O_WRONLY | O_APPEND);
	unsigned char head[HEADER_BYTES + 10] = {100, 0, 0, 0};
	CHECK_INT((int)write(fd, head, sizeof head), (int)sizeof head);
	close(fd);
	errors = errors_logged();
	CHECK_INT(spool_open(f.dir, NULL, NULL, &f.sp), 0);
	CHECK(logged("cutting 18 bytes of a record a crash cut short"));
	CHECK_INT(errors_logged(), errors);
	CHECK_INT(file_size(f.dir, 3), 4 * record);
	fixture_close(&f);
}

/* Segments not yet confirmed, removed while the API was stopped: said at
 * error at start. */
static void test_segments_gone_at_rest(void)
{
	struct fixture f;
	fixture_open(&f);
	CHECK(append_each(f.sp, 0, 150, 60000));
	spool_close(f.sp); /* checkpoint: segment 1, offset 0 (nothing confirmed) */
	char path[512];
	snprintf(path, sizeof path, "%s/views-%016d.spool", f.dir, 1);
	CHECK_INT(unlink(path), 0);
	snprintf(path, sizeof path, "%s/views-%016d.spool", f.dir, 2);
	CHECK_INT(unlink(path), 0);
	unsigned errors = errors_logged();
	CHECK_INT(spool_open(f.dir, NULL, NULL, &f.sp), 0);
	CHECK(errors_logged() > errors);
	CHECK(logged("segments 1 to 2 are gone"));
	fixture_close(&f);
}

/* One spool per directory, whatever is in it. */
static void test_one_per_directory(void)
{
	struct fixture f;
	fixture_open(&f);
	struct spool *other = NULL;
	CHECK_INT(spool_open(f.dir, NULL, NULL, &other), -1);
	CHECK(logged("is in use by another process"));
	fixture_close(&f);
}

static uint64_t unsynced(struct spool *sp, uint64_t *syncs)
{
	struct spool_stats st;
	spool_stats(sp, &st);
	if (syncs)
		*syncs = st.syncs;
	return st.unsynced_bytes;
}

/* Waits up to ms for what is written to be fdatasynced. */
static int wait_synced(struct spool *sp, int ms)
{
	for (int i = 0; i < ms; i++) {
		if (!unsynced(sp, NULL))
			return 1;
		nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
	}
	return 0;
}

static void sleep_ms(long ms)
{
	nanosleep(&(struct timespec){.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000}, NULL);
}

/* When the power-loss window applies: while the broker is away every
 * write is fdatasynced at once; while it is up and confirms come, none
 * is; while it is up but confirms do not come, within two ticks. */
static void test_when_it_syncs(void)
{
	struct fixture f;
	fixture_open(&f);
	/* The broker counts as away until it is said to be up. */
	CHECK_INT(append(f.sp, 0, 200), 0);
	CHECK(wait_synced(f.sp, 1000));

	/* Up, and every view confirmed as soon as it is written: no sync. */
	spool_broker_up(f.sp, true);
	sleep_ms(50);
	uint64_t syncs0, syncs1;
	unsynced(f.sp, &syncs0);
	struct spool_pos pos = spool_confirmed(f.sp);
	for (unsigned i = 1; i < 100; i++) {
		CHECK_INT(append(f.sp, i, 200), 0);
		spool_read(f.sp, &pos, VIEWS_MAX, on_record, f.seen);
		spool_confirm(f.sp, pos);
		sleep_ms(5); /* 0.5 s in all: several ticks */
	}
	CHECK(unsynced(f.sp, &syncs1) > 0); /* written, confirmed, never synced */
	CHECK_INT(syncs1, syncs0);

	/* Up, but what is written is not confirmed: synced after a tick or two. */
	CHECK_INT(append(f.sp, 100, 200), 0);
	sleep_ms(20);
	CHECK(unsynced(f.sp, NULL) > 0);
	CHECK(wait_synced(f.sp, 400));

	/* Away again: synced at once, each write. */
	spool_broker_up(f.sp, false);
	for (unsigned i = 101; i < 110; i++) {
		CHECK_INT(append(f.sp, i, 200), 0);
		CHECK(wait_synced(f.sp, 50));
	}
	read_all(f.sp, &pos, f.seen, 10);
	for (unsigned i = 0; i < 110; i++)
		CHECK_INT(f.seen->times[i], 1);
	fixture_close(&f);
}

static atomic_int notified;

static void count_notify(void *ctx)
{
	(void)ctx;
	atomic_fetch_add(&notified, 1);
}

/* The reader is told of the first write after it asked, once: not of
 * every write. */
static void test_notify_once_per_ask(void)
{
	char *dir = new_dir();
	struct spool *sp;
	struct seen *seen = calloc(1, sizeof *seen);
	CHECK_INT(spool_open(dir, count_notify, NULL, &sp), 0);
	struct spool_pos pos = spool_confirmed(sp);
	CHECK_INT(append(sp, 0, 100), 0);
	CHECK_INT(atomic_load(&notified), 0);            /* nobody asked */
	CHECK(!spool_notify_when_written(sp, pos));      /* unread views: read first */
	CHECK_INT((int)spool_read(sp, &pos, VIEWS_MAX, on_record, seen), 1);
	CHECK(spool_notify_when_written(sp, pos));
	CHECK_INT(atomic_load(&notified), 0);
	for (unsigned i = 1; i < 5; i++)
		CHECK_INT(append(sp, i, 100), 0);
	CHECK_INT(atomic_load(&notified), 1);
	CHECK_INT((int)spool_read(sp, &pos, VIEWS_MAX, on_record, seen), 4);
	CHECK(spool_notify_when_written(sp, pos));
	CHECK_INT(append(sp, 5, 100), 0);
	CHECK_INT(atomic_load(&notified), 2);
	spool_close(sp);
	free(seen);
	remove_dir(dir);
}

int main(void)
{
	test_round_trip_and_restart();
	test_descriptors_run_out();
	test_segment_gone();
	test_largest_record();
	test_allocation_failures();
	test_when_it_syncs();
	test_notify_once_per_ask();
	test_damage_at_rest();
	test_segments_gone_at_rest();
	test_one_per_directory();
	return test_report("test_spool");
}
