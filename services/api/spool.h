/* spool: a write-ahead log of view events on local disk.
 *
 * Every view event goes through here, not only while the broker is away:
 * the request thread itself writes it (one pwritev into the page cache,
 * under a mutex) before its response goes out, so a SIGKILL of the API
 * loses no view that was written, and nothing depends on the broker being
 * there. The reader (the publisher thread) reads what is written and
 * reports what the broker confirmed; segments wholly confirmed are
 * deleted, and a checkpoint file remembers the confirmed position across
 * restarts (a stale checkpoint only means re-sending a few events, which
 * the auditor stores once).
 *
 * What is written survives the process but not a power loss until it is
 * fdatasynced. A sync thread does that when it matters: while the broker
 * is away (spool_broker_up(false)) every write as soon as it can, writes
 * that come meanwhile sharing the next fdatasync; while it is up, only
 * what is still unconfirmed 100 ms (SYNC_MS) after it was written, since
 * a view the broker confirmed is on its disk. So while the broker takes
 * views the spool costs a write per view and almost no fdatasync, and a
 * power loss can lose at most the views of the last 100-200 ms that the
 * broker had not yet confirmed (README "What a crash can lose").
 *
 * Files in dir: views-<segment>.spool (records: u32 length, u32 CRC-32,
 * 36-byte event id, event JSON) and checkpoint; the directory itself is
 * flock()ed (one API per dir).
 *
 * Threads: spool_append from any thread; spool_read, spool_confirm and
 * spool_notify_when_written from one reader thread only. */
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
 * cut off), allocates the reader's buffer, and starts the sync thread.
 * notify(ctx) is called, from the appending thread, after the first write
 * that follows a spool_notify_when_written. The broker counts as away
 * until spool_broker_up(sp, true). Returns 0, or -1 with a reason logged
 * at error (out of memory, another process holds the directory, or it
 * cannot be written). */
int spool_open(const char *dir, void (*notify)(void *), void *ctx, struct spool **out);
/* Syncs what is written, stops the thread, checkpoints, frees. */
void spool_close(struct spool *sp);

/* Writes one event (id: UUID_STR_LEN characters; body: len bytes of its
 * JSON, borrowed) as one record, in the calling thread: a pwritev to the
 * page cache, no fdatasync, no allocation. Returns 0 once written; -1
 * when len is over EVENT_MAX_BYTES or the disk refuses the write (full,
 * I/O error): the view is lost, counted as dropped and logged at error
 * (the first time and then every 1,000th). */
int spool_append(struct spool *sp, const char *id, const char *body, size_t len);

/* Whether the broker is taking views (the publisher says so as it
 * connects and loses the connection): while it is not, every write is
 * fdatasynced as soon as it can be. */
void spool_broker_up(struct spool *sp, bool up);

/* When nothing is written after pos, asks for notify at the next write
 * and returns true; otherwise returns false (read first). One ask, one
 * notify. */
bool spool_notify_when_written(struct spool *sp, struct spool_pos pos);

/* Called for each record read: id and body are borrowed for the call;
 * end is the position just after the record. Return non-zero to stop. */
typedef int (*spool_record_fn)(void *ctx, const char *id, const char *body, size_t len,
                               struct spool_pos end);

/* Reads up to max written records from *pos on, advancing *pos past each
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
/* True when every written record lies before pos. */
bool spool_caught_up(struct spool *sp, struct spool_pos pos);

/* Roughly how many written bytes lie after pos. */
uint64_t spool_unread_bytes(struct spool *sp, struct spool_pos pos);

struct spool_stats {
	uint64_t appended, dropped; /* views written, and lost (too long, disk refused) */
	uint64_t syncs;             /* fdatasyncs */
	uint64_t backlog_bytes;     /* written but not yet confirmed */
	uint64_t unsynced_bytes;    /* written but not yet fdatasynced */
};
void spool_stats(struct spool *sp, struct spool_stats *out);

#endif
