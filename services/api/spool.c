#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "event.h"
#include "log.h"

#define SEGMENT_MAX (4u << 20)
#define GROUP_MAX 4096
#define HEADER 8
#define RECORD_MAX (HEADER + UUID_STR_LEN + EVENT_MAX_BYTES)
#define READ_CHUNK (256u << 10)
/* The writer encodes a group here, writing whenever the next record would
 * not fit: it holds at least one record of the largest size. */
#define WRITE_BUF (1u << 20)
#define CHECKPOINT_MS 1000
/* After a segment cannot be opened or read, the reader tries again after
 * this long, and says it still fails at most this often. */
#define RETRY_MS 100
#define RETRY_LOG_MS 10000

_Static_assert(WRITE_BUF >= RECORD_MAX, "the write buffer must hold the largest record");

struct entry {
	char id[UUID_STR_LEN + 1];
	char *body;
	size_t len;
};

struct spool {
	char *dir;
	int dir_fd, lock_fd;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	void (*notify)(void *);
	void *notify_ctx;
	/* under lock */
	bool stopping;
	struct entry *inbox;
	size_t head, count, cap;
	struct spool_pos durable; /* end of what is fsynced */
	struct spool_pos confirmed;
	uint64_t appended, written, dropped, groups;
	/* writer thread; its buffers are allocated before it starts */
	int active_fd;
	struct entry *group; /* GROUP_MAX entries */
	unsigned char *wbuf; /* WRITE_BUF bytes */
	/* reader thread */
	int read_fd;
	uint64_t read_segment;
	unsigned char *rbuf; /* READ_CHUNK + RECORD_MAX bytes */
	uint64_t first_segment;
	int64_t checkpointed_ms;
	int64_t retry_ms;        /* a failed open or read: not before this, or 0 */
	int64_t failure_logged_ms; /* when the current failure was last logged, or 0 */
};

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc32(const unsigned char *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;
	while (n--)
		c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c ^ 0xFFFFFFFFu;
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
		    crc32(buf, len) != get32(h + 4))
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
	for (size_t i = 0; i < n; i++) {
		int fd = open_segment(sp, segs[i], O_RDWR);
		struct stat st;
		if (fd < 0 || fstat(fd, &st)) {
			log_error("spool: cannot open segment %" PRIu64 ": %s", segs[i], strerror(errno));
			if (fd >= 0)
				close(fd);
			goto out;
		}
		uint64_t valid = valid_length(fd, sp->rbuf);
		if (valid < (uint64_t)st.st_size) {
			log_warn("spool: segment %" PRIu64 ": cutting %" PRIu64 " bytes of a torn record",
			         segs[i], (uint64_t)st.st_size - valid);
			if (ftruncate(fd, (off_t)valid))
				log_error("spool: cannot truncate: %s", strerror(errno));
		}
		if (i + 1 == n) {
			sp->durable = (struct spool_pos){segs[i], valid};
			sp->active_fd = fd;
			lseek(fd, (off_t)valid, SEEK_SET);
		} else {
			close(fd);
		}
	}
	if (n == 0) {
		sp->durable = (struct spool_pos){1, 0};
		if ((sp->active_fd = open_segment(sp, 1, O_RDWR | O_CREAT | O_APPEND)) < 0) {
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
		if (fscanf(f, "%" SCNu64 " %" SCNu64, &c.segment, &c.offset) == 2 &&
		    c.segment >= sp->first_segment && c.segment <= sp->durable.segment &&
		    (c.segment < sp->durable.segment || c.offset <= sp->durable.offset))
			sp->confirmed = c;
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

/* Writes one group with one fdatasync; returns the bytes written, 0 if it
 * failed (then nothing of it is left in the segment). */
static size_t write_group(struct spool *sp, struct entry *g, size_t n)
{
	size_t total = 0, used = 0;
	bool failed = false;
	for (size_t i = 0; i < n && !failed; i++) {
		uint32_t len = (uint32_t)(UUID_STR_LEN + g[i].len);
		if (used + HEADER + len > WRITE_BUF) {
			failed = write_all(sp->active_fd, (const char *)sp->wbuf, used) != 0;
			used = 0;
		}
		unsigned char *p = sp->wbuf + used;
		memcpy(p + HEADER, g[i].id, UUID_STR_LEN);
		memcpy(p + HEADER + UUID_STR_LEN, g[i].body, g[i].len);
		put32(p, len);
		put32(p + 4, crc32(p + HEADER, len));
		used += HEADER + len;
		total += HEADER + len;
	}
	if (failed || write_all(sp->active_fd, (const char *)sp->wbuf, used) ||
	    fdatasync(sp->active_fd)) {
		log_error("spool: cannot write %zu view events: %s; they are lost", n, strerror(errno));
		/* Cut anything half-written so the segment stays readable. */
		if (ftruncate(sp->active_fd, (off_t)sp->durable.offset) == 0)
			lseek(sp->active_fd, (off_t)sp->durable.offset, SEEK_SET);
		return 0;
	}
	return total;
}

static void rotate(struct spool *sp)
{
	uint64_t next = sp->durable.segment + 1;
	int fd = open_segment(sp, next, O_RDWR | O_CREAT | O_EXCL | O_APPEND);
	if (fd < 0) {
		log_error("spool: cannot start segment %" PRIu64 ": %s", next, strerror(errno));
		return;
	}
	fsync(sp->dir_fd);
	close(sp->active_fd);
	sp->active_fd = fd;
	pthread_mutex_lock(&sp->lock);
	sp->durable = (struct spool_pos){next, 0};
	pthread_mutex_unlock(&sp->lock);
}

static void *run(void *arg)
{
	struct spool *sp = arg;
	struct entry *group = sp->group;
	for (;;) {
		pthread_mutex_lock(&sp->lock);
		while (!sp->count && !sp->stopping)
			pthread_cond_wait(&sp->cond, &sp->lock);
		if (!sp->count) {
			pthread_mutex_unlock(&sp->lock);
			break;
		}
		size_t n = 0;
		while (sp->count && n < GROUP_MAX) {
			group[n++] = sp->inbox[sp->head];
			sp->head = (sp->head + 1) % sp->cap;
			sp->count--;
		}
		pthread_mutex_unlock(&sp->lock);

		size_t bytes = write_group(sp, group, n);
		for (size_t i = 0; i < n; i++)
			free(group[i].body);
		pthread_mutex_lock(&sp->lock);
		if (bytes) {
			sp->durable.offset += bytes;
			sp->written += n;
			sp->groups++;
		} else {
			sp->dropped += n;
		}
		bool full = sp->durable.offset >= SEGMENT_MAX;
		pthread_mutex_unlock(&sp->lock);
		if (bytes && sp->notify)
			sp->notify(sp->notify_ctx);
		if (full)
			rotate(sp);
	}
	return NULL;
}

int spool_open(const char *dir, size_t inbox_max, void (*notify)(void *), void *ctx,
               struct spool **out)
{
	pthread_once(&crc_once, crc_init);
	struct spool *sp = calloc(1, sizeof *sp);
	if (!sp) {
		log_error("spool: out of memory");
		return -1;
	}
	sp->dir_fd = sp->lock_fd = sp->active_fd = sp->read_fd = -1;
	sp->cap = inbox_max;
	sp->notify = notify;
	sp->notify_ctx = ctx;
	pthread_mutex_init(&sp->lock, NULL);
	pthread_cond_init(&sp->cond, NULL);
	/* Every buffer the threads need, now: the writer thread allocates
	 * nothing, so it cannot fail for want of memory once started. */
	if (!(sp->dir = strdup(dir)) || !(sp->inbox = calloc(inbox_max, sizeof *sp->inbox)) ||
	    !(sp->rbuf = malloc(READ_CHUNK + RECORD_MAX)) ||
	    !(sp->group = malloc(GROUP_MAX * sizeof *sp->group)) || !(sp->wbuf = malloc(WRITE_BUF))) {
		log_error("spool: out of memory for its buffers");
		goto fail;
	}
	if (mkdir(dir, 0700) && errno != EEXIST) {
		log_error("spool: cannot create %s: %s", dir, strerror(errno));
		goto fail;
	}
	if ((sp->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (sp->lock_fd = openat(sp->dir_fd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		log_error("spool: cannot open %s: %s", dir, strerror(errno));
		goto fail;
	}
	if (flock(sp->lock_fd, LOCK_EX | LOCK_NB)) {
		log_error("spool: %s is in use by another process", dir);
		goto fail;
	}
	if (recover(sp))
		goto fail;
	if (pthread_create(&sp->thread, NULL, run, sp)) {
		log_error("spool: cannot start its thread");
		goto fail;
	}
	sp->checkpointed_ms = clock_ms();
	log_info("spool %s: resuming at segment %" PRIu64 " offset %" PRIu64
	         " (durable end: segment %" PRIu64 " offset %" PRIu64 ")",
	         dir, sp->confirmed.segment, sp->confirmed.offset, sp->durable.segment,
	         sp->durable.offset);
	*out = sp;
	return 0;
fail:
	if (sp->active_fd >= 0)
		close(sp->active_fd);
	if (sp->lock_fd >= 0)
		close(sp->lock_fd);
	if (sp->dir_fd >= 0)
		close(sp->dir_fd);
	free(sp->inbox);
	free(sp->rbuf);
	free(sp->group);
	free(sp->wbuf);
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
	if (fd < 0)
		return;
	int bad = write_all(fd, line, (size_t)n);
	close(fd);
	if (!bad)
		renameat(sp->dir_fd, "checkpoint.tmp", sp->dir_fd, "checkpoint");
	sp->checkpointed_ms = clock_ms();
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
	while (sp->count) {
		free(sp->inbox[sp->head].body);
		sp->head = (sp->head + 1) % sp->cap;
		sp->count--;
	}
	if (sp->read_fd >= 0)
		close(sp->read_fd);
	close(sp->active_fd);
	close(sp->lock_fd);
	close(sp->dir_fd);
	free(sp->inbox);
	free(sp->rbuf);
	free(sp->group);
	free(sp->wbuf);
	free(sp->dir);
	pthread_mutex_destroy(&sp->lock);
	pthread_cond_destroy(&sp->cond);
	free(sp);
}

int spool_append(struct spool *sp, const char *id, char *body, size_t len)
{
	bool fits = len <= EVENT_MAX_BYTES;
	pthread_mutex_lock(&sp->lock);
	bool room = fits && sp->count < sp->cap;
	if (room) {
		struct entry *e = &sp->inbox[(sp->head + sp->count++) % sp->cap];
		memcpy(e->id, id, UUID_STR_LEN + 1);
		e->body = body;
		e->len = len;
		sp->appended++;
		pthread_cond_signal(&sp->cond);
	} else {
		sp->dropped++;
	}
	uint64_t dropped = sp->dropped;
	pthread_mutex_unlock(&sp->lock);
	if (room)
		return 0;
	free(body);
	if (!fits)
		log_error("spool: view event %s is %zu bytes, over the %u a record may hold; dropped", id,
		          len, EVENT_MAX_BYTES);
	else if (dropped % 1000 == 1)
		log_warn("spool inbox full: %" PRIu64 " view events dropped so far", dropped);
	return -1;
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
		struct spool_pos durable = sp->durable;
		pthread_mutex_unlock(&sp->lock);
		if (pos->segment > durable.segment ||
		    (pos->segment == durable.segment && pos->offset >= durable.offset))
			break;
		/* The writer has moved past a finished segment: it is read to its
		 * end; the active one only to what is durable. */
		bool finished = pos->segment < durable.segment;
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
		uint64_t left = finished ? UINT64_MAX - pos->offset : durable.offset - pos->offset;
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
			if (crc32(h + HEADER, len) != get32(h + 4)) {
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
	bool done = !sp->count && pos.segment == sp->durable.segment &&
	            pos.offset >= sp->durable.offset;
	pthread_mutex_unlock(&sp->lock);
	return done;
}

static uint64_t distance(struct spool_pos from, struct spool_pos to)
{
	if (from.segment > to.segment || (from.segment == to.segment && from.offset >= to.offset))
		return 0;
	return from.segment == to.segment
	           ? to.offset - from.offset
	           : (to.segment - from.segment) * (uint64_t)SEGMENT_MAX + to.offset - from.offset;
}

uint64_t spool_unread_bytes(struct spool *sp, struct spool_pos pos)
{
	pthread_mutex_lock(&sp->lock);
	uint64_t n = distance(pos, sp->durable);
	pthread_mutex_unlock(&sp->lock);
	return n;
}

void spool_stats(struct spool *sp, struct spool_stats *out)
{
	pthread_mutex_lock(&sp->lock);
	out->appended = sp->appended;
	out->written = sp->written;
	out->dropped = sp->dropped;
	out->groups = sp->groups;
	out->inbox = sp->count;
	out->backlog_bytes = distance(sp->confirmed, sp->durable);
	pthread_mutex_unlock(&sp->lock);
}
