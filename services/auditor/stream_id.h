/* stream_id: the live stream's message ids (README "Live stream",
 * "Resuming"): where a stream stands in every log, so that a client that
 * sends the last id back (Last-Event-ID, or ?after=) resumes each log
 * with no gap and no repeat. Pure: no I/O, no allocation.
 *
 * A position vector holds, per log, the last position the stream has
 * passed (sent, or skipped as not matching); a log it does not name has
 * had nothing passed (the stream takes it from position 0). Its text:
 *
 *   <seq>                              log 0 alone: the bare position,
 *                                      the ids of a deployment of one log
 *   <log>-<seq>(.<log>-<seq>)*         otherwise, logs ascending
 *
 * e.g. "4711", "0-4711.1-230.2-99.1024-5". A log is 1 to 5 decimal digits
 * (at most STREAM_ID_LOG_MAX), a position 1 to 19 (below 2^63); parsing
 * takes the entries in any order, each log once, and optional whitespace
 * (SP, HTAB) around the whole, as a header value may carry (RFC 9110
 * §5.5); "0-4711" is "4711". The empty vector has no text (a stream that
 * has passed nothing sends no id). Every vector stream_id_format writes,
 * stream_id_parse reads back equal, and the text is canonical: one text
 * per vector. */
#ifndef AUDITLOG_STREAM_ID_H
#define AUDITLOG_STREAM_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Logs a vector names at most: also the logs one stream follows. */
#define STREAM_ID_LOGS_MAX 128
/* log_id is a SMALLINT UNSIGNED in every table. */
#define STREAM_ID_LOG_MAX 65535u
#define STREAM_ID_SEQ_MAX ((uint64_t)INT64_MAX)
/* The longest text, with its NUL: each entry "65535-9223372036854775807." */
#define STREAM_ID_TEXT_MAX (STREAM_ID_LOGS_MAX * 26 + 1)

/* n entries: log[i] ascending and distinct, seq[i] its position. Plain
 * data: copy it by assignment. */
struct stream_id {
	size_t n;
	uint32_t log[STREAM_ID_LOGS_MAX];
	uint64_t seq[STREAM_ID_LOGS_MAX];
};

/* Reads the len bytes at s (no NUL needed) into *out. Returns 0, or -1
 * when s is not a vector of the grammar above (nothing else: *out is
 * then unspecified). */
int stream_id_parse(const char *s, size_t len, struct stream_id *out);
/* Writes id's text and a NUL into buf (cap bytes; STREAM_ID_TEXT_MAX is
 * always enough). Returns the text's length (0: the empty vector), or 0
 * with buf empty when cap is too small. */
size_t stream_id_format(const struct stream_id *id, char *buf, size_t cap);
/* The position of log in id: true with *seq, false when id does not name
 * it. */
bool stream_id_get(const struct stream_id *id, uint32_t log, uint64_t *seq);
/* Sets log's position in id (adding the entry in its place). Returns 0, or
 * -1 when id names STREAM_ID_LOGS_MAX logs already (id unchanged). */
int stream_id_set(struct stream_id *id, uint32_t log, uint64_t seq);
/* Whether a and b name the same logs at the same positions. */
bool stream_id_equal(const struct stream_id *a, const struct stream_id *b);

#endif
