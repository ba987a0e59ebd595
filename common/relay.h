/* relay: passes another daemon's HTTP answer on as it comes (the API's
 * /logs exports and /logs/stream), on libcurl's multi interface.
 *
 * One relay thread runs every upstream transfer of a process: it reads
 * the upstream's answer (libcurl decodes its chunked transfer-coding and
 * reports a body cut short as an error) into a ring of RELAY_BUF bytes per
 * transfer. When the ring is full the transfer is paused (libcurl stops
 * reading the socket, so TCP pushes back on the upstream) until the reader
 * drained it; memory is RELAY_BUF per transfer, whatever the body's size,
 * and no thread waits for any one transfer.
 *
 * The reader (relay_read, or the http_reply_stream filler that relay_reply
 * installs) runs on any thread; when the ring is empty it answers
 * RELAY_WAIT and the relay thread calls the waker (relay_set_waker) as
 * soon as bytes or the end come. Waiting readers are also woken every
 * RELAY_IDLE_WAKE_MS: a reader that looks whether its own client is still
 * there when woken then notices one that left within that time, even while
 * the upstream is quiet.
 *
 * Ownership: relay_open returns a transfer for the caller; relay_close
 * gives it back (and closes the upstream connection at once if it is still
 * open), exactly once. relay_reply steals it. Everything else borrows. */
#ifndef AUDITLOG_RELAY_H
#define AUDITLOG_RELAY_H

#include <stddef.h>

#include "http.h"

#define RELAY_BUF          (64u << 10) /* bytes held per transfer, at most */
#define RELAY_SOCKET_BUF   (256 << 10) /* the upstream socket's receive buffer */
#define RELAY_ERROR_MAX    (1u << 20)  /* a non-2xx answer's body is read whole, up to this */
#define RELAY_IDLE_WAKE_MS 1000
#define RELAY_HEADERS_MAX  8
/* What relay_read answers when it has nothing yet; HTTP_STREAM_WAIT too. */
#define RELAY_WAIT HTTP_STREAM_WAIT

struct relay;
struct relay_xfer;

enum relay_status {
	RELAY_OK = 0,
	RELAY_NOMEM = -1,       /* memory or a libcurl handle ran out */
	RELAY_UNREACHABLE = -2, /* no connection, or no answer's head, in time */
	RELAY_TOOBIG = -3,      /* a non-2xx answer's body over RELAY_ERROR_MAX */
	RELAY_BROKEN = -4,      /* the answer ended early or is not HTTP */
	RELAY_STOPPED = -5,     /* relay_stop came first */
};
const char *relay_status_string(int status);

/* Starts the relay thread (and libcurl, once per process). Returns
 * RELAY_OK and *out, to stop with relay_stop, or RELAY_NOMEM. */
int relay_start(struct relay **out) __attribute__((warn_unused_result));
/* Ends every transfer still open, joins the thread, frees. Their readers
 * see the end: a clean one for a text/event-stream (a live stream, which
 * its client resumes), -1 for any other body (it is incomplete). Call it
 * before stopping the HTTP server whose streams read them, which would
 * otherwise end a waiting export cleanly. Transfers not yet closed stay
 * valid until relay_close; relay_open answers RELAY_STOPPED. */
void relay_stop(struct relay *r);

/* GETs url (http only) with the request headers ("Name: value" strings,
 * borrowed for the call, at most RELAY_HEADERS_MAX, NULL-ended) and waits
 * up to head_ms milliseconds for connecting and for the answer's head
 * (status line and headers); after that no deadline applies: a body may
 * take as long as it needs. When the status is not 2xx it also waits,
 * within the same deadline, for the whole body (at most RELAY_ERROR_MAX
 * bytes; see relay_body). Returns RELAY_OK and *out (give it back with
 * relay_close or relay_reply), or a negative relay_status, *out NULL. */
int relay_open(struct relay *r, const char *url, const char *const *headers, long head_ms,
               struct relay_xfer **out) __attribute__((warn_unused_result));

/* The answer's status (100-599) and its Content-Type ("" when none) or
 * another header of it named when opening (Cache-Control,
 * Content-Disposition; NULL when absent); borrowed until relay_close. */
unsigned relay_status(const struct relay_xfer *x);
const char *relay_content_type(const struct relay_xfer *x);
const char *relay_header(const struct relay_xfer *x, const char *name);
/* For a non-2xx answer: its whole body (len bytes, NUL-terminated),
 * borrowed until relay_close. NULL for a 2xx answer (read it instead). */
const char *relay_body(const struct relay_xfer *x, size_t *len);

/* Copies up to max bytes of the body into buf. Returns how many (> 0),
 * 0 at the body's end, -1 when the body ended early (the upstream closed
 * without the last chunk, died, or was stopped) once everything before
 * that was read, or RELAY_WAIT when nothing came yet: the waker is then
 * called once something does (or within RELAY_IDLE_WAKE_MS). */
long relay_read(struct relay_xfer *x, char *buf, size_t max);
/* The waker of relay_read's RELAY_WAIT: wake(arg) is called on the relay
 * thread, under the transfer's lock, which relay_close takes as well: so
 * arg need only stay valid until relay_close starts. Called at once when
 * the reader already waits. */
void relay_set_waker(struct relay_xfer *x, void (*wake)(void *arg), void *arg);

/* Gives the transfer back: closes its upstream connection at once if it is
 * still open, frees it when the relay thread is done with it too. */
void relay_close(struct relay_xfer *x);

/* Replies to req with the 2xx answer of x, streamed (chunked) as it comes
 * in, with its status, Content-Type, Cache-Control and
 * Content-Disposition: a body the upstream cut short is cut short
 * downstream too (no last chunk); a client that goes away closes the
 * upstream. Steals x. Returns the reply's stream, or NULL when the reply
 * could not be made (x was closed). */
struct http_stream *relay_reply(struct http_request *req, struct relay_xfer *x);

#endif
