#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "clock.h"
#include "event.h"
#include "log.h"
#include "ratelimit.h"

/* A segment is finished once this much is written to it. */
#define SEGMENT_MAX (4u << 20)
/* Finished segments waiting for the sync thread to close them. */
#define RETIRED_MAX 8
#define HEADER 8
#define RECORD_MAX (HEADER + UUID_STR_LEN + EVENT_MAX_BYTES)
#define READ_CHUNK (256u << 10)
/* While the broker is up, what was written this long ago and is still
 * not confirmed is fdatasynced (the power-loss window, README). */
#define SYNC_MS 100
#define CHECKPOINT_MS 1000
/* After a segment cannot be opened or read, the reader tries again after
 * this long, and says it still fails at most this often. */
#define RETRY_MS 100
#define RETRY_LOG_MS 10000

struct retired {
	int fd;
	uint64_t segment;
};

struct spool {
	char *dir;
	int dir_fd; /* flock()ed: one API per directory */
	pthread_t thread; /* the sync thread */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* wakes the sync thread */
	void (*notify)(void *);
	void *notify_ctx;
	/* under lock */
	bool stopping, broker_up, sync_waiting, notify_armed;
	int active_fd;            /* appenders write here */
	struct retired retired[RETIRED_MAX]; /* finished segments the sync thread closes */
	size_t nretired;
	struct spool_pos written; /* end of what is written (in the page cache) */
	struct spool_pos synced;  /* end of what is fdatasynced */
	struct spool_pos confirmed;
	uint64_t appended, dropped, syncs;
	/* reader thread */
	int read_fd;
	uint64_t read_segment;
	unsigned char *rbuf; /* READ_CHUNK + RECORD_MAX bytes */
	uint64_t first_segment;
	int64_t checkpointed_ms;
	struct ratelimit checkpoint_log, rotate_log; /* failures said at most every RETRY_LOG_MS */
	int64_t retry_ms;        /* a failed open or read: not before this, or 0 */
	int64_t failure_logged_ms; /* when the current failure was last logged, or 0 */
};

/* CRC-32 (ISO-HDLC) of what crc covered, then p[0..n): zlib's. n is at
 * most a record's length, far below zlib's uInt. */
_Static_assert(RECORD_MAX <= UINT_MAX, "a record's length fits zlib's uInt");
static uint32_t crc32_more(uint32_t crc, const unsigned char *p, size_t n)
{
	return (uint32_t)crc32(crc, p, (uInt)n);
}

static uint32_t crc_of(const unsigned char *p, size_t n)
{
	return crc32_more(0, p, n);
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8), p[2] = (unsigned char)(v >> 16),
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void segment_name(uint64_t segment, char *out, size_t cap)
{
	snprintf(out, cap, "views-%016" PRIu64 ".spool", segment);
}

static int open_segment(struct spool *sp, uint64_t segment, int flags)
{
	char name[64];
	segment_name(segment, name, sizeof name);
	return openat(sp->dir_fd, name, flags | O_CLOEXEC, 0600);
}

/* Length of the valid prefix of a segment: a record cut short or failing
 * its CRC ends it (only a crash mid-write leaves one). */
static uint64_t valid_length(int fd, unsigned char *buf)
{
	uint64_t off = 0;
	for (;;) {
		unsigned char h[HEADER];
		if (pread(fd, h, HEADER, (off_t)off) != HEADER)
			return off;
		uint32_t len = get32(h);
		if (len < UUID_STR_LEN || len > RECORD_MAX - HEADER ||
		    pread(fd, buf, len, (off_t)(off + HEADER)) != (ssize_t)len ||
		    crc_of(buf, len) != get32(h + 4))
			return off;
		off += HEADER + len;
	}
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Finds the segments, cuts torn tails, loads the checkpoint. */
static int recover(struct spool *sp)
{
	int dfd = dup(sp->dir_fd);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	uint64_t *segs = NULL;
	size_t n = 0, cap = 0;
	int rc = -1;
	if (!d) {
		log_error("spool: cannot list %s: %s", sp->dir, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		uint64_t s;
		char tail[8];
		if (sscanf(e->d_name, "views-%16" SCNu64 ".%7s", &s, tail) == 2 &&
		    !strcmp(tail, "spool")) {
			if (n == cap) {
				uint64_t *g = realloc(segs, (cap = cap ? cap * 2 : 16) * sizeof *segs);
				if (!g) {
					log_error("spool: out of memory listing %s", sp->dir);
					goto out;
				}
				segs = g;
			}
			segs[n++] = s;
		}
	}
	if (n)
		qsort(segs, n, sizeof *segs, compare_u64);
	/* Only the last segment can end in a record a crash cut short: it is
	 * cut there, and written on. Damage anywhere else is the reader's to
	 * find (it says so at error, and passes over the rest of that
	 * segment). */
	if (n) {
		uint64_t last = segs[n - 1];
		int fd = open_segment(sp, last, O_RDWR);
		struct stat st;
		if (fd < 0 || fstat(fd, &st)) {
			log_error("spool: cannot open segment %" PRIu64 ": %s", last, strerror(errno));
			if (fd >= 0)
				close(fd);
			goto out;
		}
		uint64_t valid = valid_length(fd, sp->rbuf);
		uint64_t cut = (uint64_t)st.st_size - valid;
		if (cut) {
			/* A torn write leaves one record's beginning: no more than
			 * its header says it holds. More than that is damage. */
			unsigned char h[HEADER];
			bool torn = cut < HEADER ||
			            (pread(fd, h, HEADER, (off_t)valid) == HEADER &&
			             get32(h) <= RECORD_MAX - HEADER && cut < HEADER + (uint64_t)get32(h));
			if (torn)
				log_warn("spool: segment %" PRIu64 ": cutting %" PRIu64
				         " bytes of a record a crash cut short",
				         last, cut);
			else
				log_error("spool: segment %" PRIu64 " is damaged at offset %" PRIu64
				          ": cutting the %" PRIu64 " bytes from there; the view events in "
				          "them are lost",
				          last, valid, cut);
			if (ftruncate(fd, (off_t)valid))
				log_error("spool: cannot truncate: %s", strerror(errno));
		}
		sp->written = (struct spool_pos){last, valid};
		sp->active_fd = fd;
	}
	if (n == 0) {
		sp->written = (struct spool_pos){1, 0};
		if ((sp->active_fd = open_segment(sp, 1, O_RDWR | O_CREAT)) < 0) {
			log_error("spool: cannot create segment 1: %s", strerror(errno));
			goto out;
		}
		fsync(sp->dir_fd);
	}
	sp->first_segment = n ? segs[0] : 1;
	sp->confirmed = (struct spool_pos){sp->first_segment, 0};
	FILE *f = NULL;
	int cfd = openat(sp->dir_fd, "checkpoint", O_RDONLY | O_CLOEXEC);
	if (cfd >= 0 && (f = fdopen(cfd, "r"))) {
		struct spool_pos c;
		if (fscanf(f, "%" SCNu64 " %" SCNu64, &c.segment, &c.offset) == 2) {
			if (c.segment >= sp->first_segment && c.segment <= sp->written.segment &&
			    (c.segment < sp->written.segment || c.offset <= sp->written.offset))
				sp->confirmed = c;
			else if (c.segment < sp->first_segment)
				/* Segments after the confirmed position, not yet sent,
				 * were removed while the API was stopped. */
				log_error("spool: segments %" PRIu64 " to %" PRIu64 " are gone (the checkpoint "
				          "is in segment %" PRIu64 "); their unconfirmed view events are lost",
				          c.segment, sp->first_segment - 1, c.segment);
		}
		fclose(f);
	} else if (cfd >= 0) {
		close(cfd);
	}
	rc = 0;
out:
	free(segs);
	closedir(d);
	return rc;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

static int pos_before(struct spool_pos a, struct spool_pos b)
{
	return a.segment < b.segment || (a.segment == b.segment && a.offset < b.offset);
}

/* Writes the whole of iov at off, resuming after a short write. */
static int pwritev_all(int fd, struct iovec *iov, int n, uint64_t off)
{
	while (n) {
		ssize_t w = pwritev(fd, iov, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		off += (uint64_t)w;
		while (n && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++, n--;
		}
		if (n) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* The sync thread: the only one that fdatasyncs and closes segments. It
 * makes what was written durable on disk when any of these holds:
 *  - the broker is away (spool_broker_up false): every write, as soon as
 *    it can (writes that come meanwhile share the next fdatasync);
 *  - something written SYNC_MS ago or more is not yet confirmed;
 *  - a segment is finished (it is synced, then closed);
 *  - the spool closes. */
static void *run(void *arg)
{
	struct spool *sp = arg;
	prctl(PR_SET_NAME, "api-spool");
	pthread_mutex_lock(&sp->lock);
	struct spool_pos mark = sp->written; /* the end of what was written a tick ago */
	int64_t tick_ms = clock_ms();
	for (;;) {
		bool stale = pos_before(sp->confirmed, mark) && pos_before(sp->synced, mark);
		bool want = pos_before(sp->synced, sp->written) &&
		            (!sp->broker_up || stale || sp->stopping);
		if (!want && !sp->nretired) {
			if (sp->stopping)
				break;
			int64_t now = clock_ms();
			if (now - tick_ms >= SYNC_MS) {
				mark = sp->written;
				tick_ms = now;
			}
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += (long)(tick_ms + SYNC_MS - now) * 1000000;
			ts.tv_sec += ts.tv_nsec / 1000000000;
			ts.tv_nsec %= 1000000000;
			sp->sync_waiting = true;
			pthread_cond_timedwait(&sp->cond, &sp->lock, &ts);
			sp->sync_waiting = false;
			continue;
		}
		/* Finished segments are this thread's to close; the active one
		 * may be retired by an appender meanwhile, but only this thread
		 * closes it, so fd stays open while the lock is let go. */
		struct retired old[RETIRED_MAX];
		size_t nold = sp->nretired;
		memcpy(old, sp->retired, nold * sizeof *old);
		sp->nretired = 0;
		struct spool_pos target = sp->written;
		int fd = sp->active_fd;
		pthread_mutex_unlock(&sp->lock);
		uint64_t done_segment = 0;
		if (nold && fsync(sp->dir_fd))
			log_error("spool: cannot fsync %s: %s", sp->dir, strerror(errno));
		for (size_t i = 0; i < nold; i++) {
			if (fdatasync(old[i].fd))
				log_error("spool: fdatasync of segment %" PRIu64 " failed: %s; a power loss "
				          "may lose its view events not yet confirmed",
				          old[i].segment, strerror(errno));
			close(old[i].fd);
			done_segment = old[i].segment;
		}
		if (want && fdatasync(fd))
			log_error("spool: fdatasync of segment %" PRIu64 " failed: %s; a power loss may "
			          "lose its view events not yet confirmed",
			          target.segment, strerror(errno));
		pthread_mutex_lock(&sp->lock);
		struct spool_pos upto = want ? target : (struct spool_pos){done_segment + 1, 0};
		if (pos_before(sp->synced, upto))
			sp->synced = upto;
		sp->syncs += nold + want;
	}
	pthread_mutex_unlock(&sp->lock);
	return NULL;
}

int spool_open(const char *dir, void (*notify)(void *), void *ctx, struct spool **out)
{
	struct spool *sp = calloc(1, sizeof *sp);
	if (!sp) {
		log_error("spool: out of memory");
		return -1;
	}
	sp->dir_fd = sp->active_fd = sp->read_fd = -1;
	sp->notify = notify;
	sp->notify_ctx = ctx;
	pthread_mutex_init(&sp->lock, NULL);
	pthread_cond_init(&sp->cond, NULL);
	/* The reader's buffer, now: appending allocates nothing, and the
	 * reader nothing more. */
	if (!(sp->dir = strdup(dir)) || !(sp->rbuf = malloc(READ_CHUNK + RECORD_MAX))) {
		log_error("spool: out of memory for its buffers");
		goto fail;
	}
	if (mkdir(dir, 0700) && errno != EEXIST) {
		log_error("spool: cannot create %s: %s", dir, strerror(errno));
		goto fail;
	}
	if ((sp->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		log_error("spool: cannot open %s: %s", dir, strerror(errno));
		goto fail;
	}
	/* The directory itself is locked (not a file in it, which could be
	 * removed under a running API). */
	if (flock(sp->dir_fd, LOCK_EX | LOCK_NB)) {
		log_error("spool: %s is in use by another process", dir);
		goto fail;
	}
	if (recover(sp))
		goto fail;
	struct statvfs vfs;
	if (!fstatvfs(sp->dir_fd, &vfs) && (uint64_t)vfs.f_blocks * vfs.f_frsize < 4 * SEGMENT_MAX)
		log_warn("spool: %s is on a filesystem of %llu bytes: the spool needs room for a few "
		         "%u-byte segments, or a full disk may never clear (README)",
		         dir, (unsigned long long)vfs.f_blocks * vfs.f_frsize, SEGMENT_MAX);
	/* What a restart found was written before it: durable or not, it is
	 * synced with the first tick (broker_up starts false). */
	sp->synced = (struct spool_pos){sp->written.segment, 0};
	if (pthread_create(&sp->thread, NULL, run, sp)) {
		log_error("spool: cannot start its thread");
		goto fail;
	}
	sp->checkpointed_ms = clock_ms();
	log_info("spool %s: resuming at segment %" PRIu64 " offset %" PRIu64
	         " (written to segment %" PRIu64 " offset %" PRIu64 ")",
	         dir, sp->confirmed.segment, sp->confirmed.offset, sp->written.segment,
	         sp->written.offset);
	*out = sp;
	return 0;
fail:
	if (sp->active_fd >= 0)
		close(sp->active_fd);
	if (sp->dir_fd >= 0)
		close(sp->dir_fd);
	free(sp->rbuf);
	free(sp->dir);
	pthread_mutex_destroy(&sp->lock);
	pthread_cond_destroy(&sp->cond);
	free(sp);
	return -1;
}

static void checkpoint(struct spool *sp)
{
	char line[64];
	struct spool_pos c = spool_confirmed(sp);
	int n = snprintf(line, sizeof line, "%" PRIu64 " %" PRIu64 "\n", c.segment, c.offset);
	int fd = openat(sp->dir_fd, "checkpoint.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int bad = fd < 0 || write_all(fd, line, (size_t)n);
	int err = errno;
	if (fd >= 0 && close(fd))
		bad = 1, err = errno;
	if (!bad && renameat(sp->dir_fd, "checkpoint.tmp", sp->dir_fd, "checkpoint"))
		bad = 1, err = errno;
	sp->checkpointed_ms = clock_ms();
	/* Not fatal (a restart re-sends what the broker confirmed since the
	 * last checkpoint; the auditor stores it once), but said, at most
	 * every RETRY_LOG_MS. */
	if (bad && ratelimit_allow(&sp->checkpoint_log, 1, RETRY_LOG_MS, NULL))
		log_warn("spool: cannot write its checkpoint: %s; a restart will send again what the "
		         "broker confirmed since the last one",
		         strerror(err));
}

void spool_close(struct spool *sp)
{
	if (!sp)
		return;
	pthread_mutex_lock(&sp->lock);
	sp->stopping = true;
	pthread_cond_signal(&sp->cond);
	pthread_mutex_unlock(&sp->lock);
	pthread_join(sp->thread, NULL);
	checkpoint(sp);
	if (sp->read_fd >= 0)
		close(sp->read_fd);
	close(sp->active_fd);
	close(sp->dir_fd);
	free(sp->rbuf);
	free(sp->dir);
	pthread_mutex_destroy(&sp->lock);
	pthread_cond_destroy(&sp->cond);
	free(sp);
}

/* Starts the next segment; under lock. The finished one goes to the
 * sync thread. When no file can be made, or the sync thread has fallen
 * RETIRED_MAX segments behind, the writes go on into the same segment. */
static void rotate(struct spool *sp)
{
	uint64_t next = sp->written.segment + 1;
	if (sp->nretired == RETIRED_MAX)
		return;
	int fd = open_segment(sp, next, O_RDWR | O_CREAT | O_EXCL);
	if (fd < 0) {
		if (ratelimit_allow(&sp->rotate_log, 1, RETRY_LOG_MS, NULL))
			log_error("spool: cannot start segment %" PRIu64 ": %s; writing on in segment "
			          "%" PRIu64, next, strerror(errno), next - 1);
		return;
	}
	sp->retired[sp->nretired++] = (struct retired){sp->active_fd, sp->written.segment};
	sp->active_fd = fd;
	sp->written = (struct spool_pos){next, 0};
}

int spool_append(struct spool *sp, const char *id, const char *body, size_t len)
{
	if (len > EVENT_MAX_BYTES) {
		pthread_mutex_lock(&sp->lock);
		sp->dropped++;
		pthread_mutex_unlock(&sp->lock);
		log_error("spool: view event %s is %zu bytes, over the %u a record may hold; dropped", id,
		          len, EVENT_MAX_BYTES);
		return -1;
	}
	unsigned char h[HEADER];
	uint32_t rlen = (uint32_t)(UUID_STR_LEN + len);
	put32(h, rlen);
	put32(h + 4, crc32_more(crc32_more(0, (const unsigned char *)id, UUID_STR_LEN),
	                        (const unsigned char *)body, len));
	struct iovec iov[3] = {{h, HEADER}, {(void *)id, UUID_STR_LEN}, {(void *)body, len}};
	pthread_mutex_lock(&sp->lock);
	if (sp->written.offset >= SEGMENT_MAX)
		rotate(sp);
	struct spool_pos at = sp->written;
	int bad = pwritev_all(sp->active_fd, iov, 3, at.offset);
	int err = errno;
	bool notify = false, wake = false;
	uint64_t dropped = 0;
	if (bad) {
		/* Cut anything half-written so the segment stays readable. */
		if (ftruncate(sp->active_fd, (off_t)at.offset))
			log_error("spool: cannot cut a failed write: %s", strerror(errno));
		dropped = ++sp->dropped;
	} else {
		sp->written.offset += HEADER + rlen;
		sp->appended++;
		notify = sp->notify_armed;
		sp->notify_armed = false;
		/* The sync thread is woken only when it has something to do now:
		 * the broker is away, or a segment was finished. */
		wake = sp->sync_waiting && (!sp->broker_up || sp->nretired);
		if (wake)
			pthread_cond_signal(&sp->cond);
	}
	pthread_mutex_unlock(&sp->lock);
	if (bad) {
		/* Said the first time and then every 1,000th: a full disk
		 * refuses every view. */
		if (dropped % 1000 == 1)
			log_error("spool: cannot write view event %s: %s; it is lost (%" PRIu64
			          " lost so far)",
			          id, strerror(err), dropped);
		return -1;
	}
	if (notify && sp->notify)
		sp->notify(sp->notify_ctx);
	return 0;
}

void spool_broker_up(struct spool *sp, bool up)
{
	pthread_mutex_lock(&sp->lock);
	sp->broker_up = up;
	if (!up)
		pthread_cond_signal(&sp->cond);
	pthread_mutex_unlock(&sp->lock);
}

bool spool_notify_when_written(struct spool *sp, struct spool_pos pos)
{
	pthread_mutex_lock(&sp->lock);
	bool armed = !pos_before(pos, sp->written);
	if (armed)
		sp->notify_armed = true;
	pthread_mutex_unlock(&sp->lock);
	return armed;
}

/* A segment could not be opened or read: said at error the first time and
 * then at most every RETRY_LOG_MS, and tried again after RETRY_MS. */
static void read_failed(struct spool *sp, const char *what, uint64_t segment, int err)
{
	int64_t now = clock_ms();
	sp->retry_ms = now + RETRY_MS;
	if (sp->failure_logged_ms && now - sp->failure_logged_ms < RETRY_LOG_MS)
		return;
	sp->failure_logged_ms = now;
	log_error("spool: cannot %s segment %" PRIu64 ": %s; its view events wait until it can be",
	          what, segment, strerror(err));
}

static void read_works(struct spool *sp, uint64_t segment)
{
	if (sp->failure_logged_ms)
		log_info("spool: segment %" PRIu64 " can be read: view events flow again", segment);
	sp->failure_logged_ms = sp->retry_ms = 0;
}

size_t spool_read(struct spool *sp, struct spool_pos *pos, size_t max, spool_record_fn fn,
                  void *ctx)
{
	size_t n = 0, chunk = READ_CHUNK;
	if (sp->retry_ms && clock_ms() < sp->retry_ms)
		return 0;
	while (n < max) {
		pthread_mutex_lock(&sp->lock);
		struct spool_pos written = sp->written;
		pthread_mutex_unlock(&sp->lock);
		if (!pos_before(*pos, written))
			break;
		/* The writers have moved past a finished segment: it is read to
		 * its end; the active one only to what is written. */
		bool finished = pos->segment < written.segment;
		if (sp->read_fd < 0 || sp->read_segment != pos->segment) {
			if (sp->read_fd >= 0)
				close(sp->read_fd);
			sp->read_segment = pos->segment;
			if ((sp->read_fd = open_segment(sp, pos->segment, O_RDONLY)) < 0) {
				/* Only a finished segment that is gone may be passed over.
				 * Any other failure (no descriptors, no memory, no right)
				 * is tried again: the reader never moves past what it has
				 * not read, so no confirm can delete unread events. */
				if (errno == ENOENT && finished) {
					log_error("spool: segment %" PRIu64 " is gone; its view events are lost",
					          pos->segment);
					*pos = (struct spool_pos){pos->segment + 1, 0};
					continue;
				}
				read_failed(sp, "open", pos->segment, errno);
				break;
			}
		}
		uint64_t left = finished ? UINT64_MAX - pos->offset : written.offset - pos->offset;
		size_t want = left < chunk ? (size_t)left : chunk;
		ssize_t got = pread(sp->read_fd, sp->rbuf, want, (off_t)pos->offset);
		if (got < 0) {
			read_failed(sp, "read", pos->segment, errno);
			break;
		}
		read_works(sp, pos->segment);
		size_t used = 0;
		bool bad = false;
		while (n < max && used + HEADER <= (size_t)got) {
			const unsigned char *h = sp->rbuf + used;
			uint32_t len = get32(h);
			if (len < UUID_STR_LEN || len > RECORD_MAX - HEADER) {
				bad = true;
				break;
			}
			if (used + HEADER + len > (size_t)got)
				break;
			if (crc_of(h + HEADER, len) != get32(h + 4)) {
				bad = true;
				break;
			}
			char id[UUID_STR_LEN + 1];
			memcpy(id, h + HEADER, UUID_STR_LEN);
			id[UUID_STR_LEN] = '\0';
			used += HEADER + len;
			struct spool_pos after = {pos->segment, pos->offset + used};
			n++;
			if (fn(ctx, id, (const char *)h + HEADER + UUID_STR_LEN, len - UUID_STR_LEN, after)) {
				pos->offset += used;
				return n;
			}
		}
		pos->offset += used;
		size_t need = (size_t)got >= HEADER ? HEADER + get32(sp->rbuf) : 0;
		if (bad) {
			log_error("spool: segment %" PRIu64 " is damaged at offset %" PRIu64
			          "; skipping the rest of it",
			          pos->segment, pos->offset);
			*pos = (struct spool_pos){pos->segment + 1, 0};
		} else if (used) {
			chunk = READ_CHUNK;
		} else if ((size_t)got == want && need > want && need <= left) {
			chunk = need; /* one record longer than a chunk: read it whole */
		} else if (finished && (size_t)got < want) {
			/* The end of a finished segment. Bytes after the last record
			 * are a write that failed and could not be cut off. */
			if (got)
				log_error("spool: segment %" PRIu64 " ends in %zd bytes of a record cut short; "
				          "skipping them",
				          pos->segment, got);
			*pos = (struct spool_pos){pos->segment + 1, 0};
		} else {
			break; /* nothing complete yet */
		}
	}
	return n;
}

void spool_confirm(struct spool *sp, struct spool_pos pos)
{
	pthread_mutex_lock(&sp->lock);
	sp->confirmed = pos;
	pthread_mutex_unlock(&sp->lock);
	for (; sp->first_segment < pos.segment; sp->first_segment++) {
		char name[64];
		segment_name(sp->first_segment, name, sizeof name);
		if (unlinkat(sp->dir_fd, name, 0) && errno != ENOENT)
			log_warn("spool: cannot remove %s: %s", name, strerror(errno));
	}
	if (clock_ms() - sp->checkpointed_ms >= CHECKPOINT_MS)
		checkpoint(sp);
}

struct spool_pos spool_confirmed(const struct spool *sp)
{
	struct spool *m = (struct spool *)sp;
	pthread_mutex_lock(&m->lock);
	struct spool_pos c = m->confirmed;
	pthread_mutex_unlock(&m->lock);
	return c;
}

bool spool_caught_up(struct spool *sp, struct spool_pos pos)
{
	pthread_mutex_lock(&sp->lock);
	bool done = !pos_before(pos, sp->written);
	pthread_mutex_unlock(&sp->lock);
	return done;
}

static uint64_t distance(struct spool_pos from, struct spool_pos to)
{
	if (!pos_before(from, to))
		return 0;
	if (from.segment == to.segment)
		return to.offset - from.offset;
	/* A segment may run past SEGMENT_MAX (see rotate): counted as that. */
	uint64_t rest = from.offset < SEGMENT_MAX ? SEGMENT_MAX - from.offset : 0;
	return rest + (to.segment - from.segment - 1) * (uint64_t)SEGMENT_MAX + to.offset;
}

uint64_t spool_unread_bytes(struct spool *sp, struct spool_pos pos)
{
	pthread_mutex_lock(&sp->lock);
	uint64_t n = distance(pos, sp->written);
	pthread_mutex_unlock(&sp->lock);
	return n;
}

void spool_stats(struct spool *sp, struct spool_stats *out)
{
	pthread_mutex_lock(&sp->lock);
	out->appended = sp->appended;
	out->dropped = sp->dropped;
	out->syncs = sp->syncs;
	out->backlog_bytes = distance(sp->confirmed, sp->written);
	out->unsynced_bytes = distance(sp->synced, sp->written);
	pthread_mutex_unlock(&sp->lock);
}
