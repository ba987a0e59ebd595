/* spool: a write-ahead log of view events on local disk.
 *
 * Every view event goes through here, not only while the broker is away:
 * request threads append to a bounded in-memory inbox and return; the
 * spool's thread writes whatever the inbox holds as one group (one write,
 * one fdatasync) to the active segment file, then tells the reader. So a
 * SIGKILL loses at most the events of the group not yet fsynced, i.e. those
 * emitted during the last fdatasync, and nothing depends on the broker
 * being there. The reader (the publisher thread) reads records once they
 * are durable and reports what the broker confirmed; segments wholly
 * confirmed are deleted, and a checkpoint file remembers the confirmed
 * position across restarts (a stale checkpoint only means re-sending a
 * few events, which the auditor stores once).
 *
 * Files in dir: views-<segment>.spool (records: u32 length, u32 CRC-32,
 * 36-byte event id, event JSON), checkpoint, LOCK (one API per dir).
 *
 * Threads: spool_append from any thread; spool_read and spool_confirm
 * from one reader thread only. */
#ifndef AUDITLOG_SPOOL_H
#define AUDITLOG_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct spool;

struct spool_pos {
	uint64_t segment, offset;
};

/* Opens (creating) dir, recovers what a crash left (a torn last record is
 * cut off), allocates every buffer the writer and the reader need, and
 * starts the writer thread, which allocates nothing more. notify(ctx) is
 * called from that thread after each durable group. Returns 0, or -1 with
 * a reason logged at error (out of memory, another process holds the
 * directory, or it cannot be written). */
int spool_open(const char *dir, size_t inbox_max, void (*notify)(void *), void *ctx,
               struct spool **out);
/* Writes what the inbox holds, stops the thread, checkpoints, frees. */
void spool_close(struct spool *sp);

/* Queues one event; body is stolen. Never blocks on I/O. Returns -1 (and
 * frees body) when the inbox is full because the disk cannot keep up, or
 * len is over EVENT_MAX_BYTES. A group the disk refuses (full, I/O error)
 * is logged at error and counted as dropped. */
int spool_append(struct spool *sp, const char *id, char *body, size_t len);

/* Called for each record read: id and body are borrowed for the call;
 * end is the position just after the record. Return non-zero to stop. */
typedef int (*spool_record_fn)(void *ctx, const char *id, const char *body, size_t len,
                               struct spool_pos end);

/* Reads up to max durable records from *pos on, advancing *pos past each
 * one handed to fn. Returns how many were read. *pos never moves past a
 * record not handed to fn, but for a finished segment that is gone
 * (ENOENT) or damaged, whose loss is logged at error. A segment that
 * cannot be opened or read for any other reason (EMFILE, ENOMEM, EACCES,
 * EIO...) stops the read where it is, logged at error; the next calls
 * read nothing for 100 ms, then try again. */
size_t spool_read(struct spool *sp, struct spool_pos *pos, size_t max, spool_record_fn fn,
                  void *ctx);

/* Everything before pos was confirmed by the broker. */
void spool_confirm(struct spool *sp, struct spool_pos pos);
/* The confirmed position: where reading starts again after a failure. */
struct spool_pos spool_confirmed(const struct spool *sp);
/* True when every durable record lies before pos. */
bool spool_caught_up(struct spool *sp, struct spool_pos pos);

/* Roughly how many durable bytes lie after pos. */
uint64_t spool_unread_bytes(struct spool *sp, struct spool_pos pos);

struct spool_stats {
	uint64_t appended, written, dropped, groups;
	size_t inbox;
	uint64_t backlog_bytes; /* durable but not yet confirmed */
};
void spool_stats(struct spool *sp, struct spool_stats *out);

#endif
