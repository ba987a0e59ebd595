/* log: leveled, timestamped lines on stderr, one JSON object a line or
 * the plain text of old.
 *
 * One line per call, written with a single write(2) so lines from several
 * threads never interleave. The level threshold and the format are
 * process-wide, set once at start.
 *
 * LOG_FORMAT_JSON (the default) writes, in this order:
 *
 *   {"time":"2026-11-29T10:00:00.123Z","level":"info","daemon":"auditlog-api",
 *    "msg":"...","trace_id":"<32 hex>","request_id":"<16 hex>"}
 *
 * time in RFC 3339 UTC with milliseconds; trace_id and request_id only on
 * a line written while this thread serves a request (log_context_set,
 * which common/http.c calls around its handlers): the request's W3C trace
 * id and this server's span id for it (common/trace.h). The message is an
 * RFC 8259 string whatever bytes it holds: quotes, backslashes and control
 * characters escaped, and each byte that is not part of well-formed UTF-8
 * written as U+FFFD, so every line is valid JSON.
 *
 * LOG_FORMAT_TEXT writes the lines of old, "<time> <daemon> <level>: msg",
 * without the request's ids. */
#ifndef AUDITLOG_LOG_H
#define AUDITLOG_LOG_H

#include <stddef.h>
#include <time.h>

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };
enum log_format { LOG_FORMAT_JSON, LOG_FORMAT_TEXT };

/* name is borrowed and must outlive the process (a string literal). */
void log_init(const char *name, enum log_level threshold);
void log_set_format(enum log_format format);
/* Parses "debug", "info", "warn" or "error"; returns -1 for anything else. */
int log_level_parse(const char *s);
/* Parses "json" or "text"; returns -1 for anything else. */
int log_format_parse(const char *s);
int log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* This thread's request, named on every JSON line it writes until it is
 * set again: trace_id and request_id are borrowed (NUL-terminated, either
 * may be NULL) and must stay valid until the next call on this thread;
 * log_context_set(NULL, NULL) clears them. */
void log_context_set(const char *trace_id, const char *request_id);
/* What log_context_set last set on this thread (to put it back). */
void log_context_get(const char **trace_id, const char **request_id);

/* The longest message a line carries, in bytes; a longer one is cut. */
#define LOG_MSG_MAX 2048
/* The longest line log_format_line writes: a message, the daemon's name
 * and the two ids (at most 64 bytes each) escaped at six bytes a byte, and
 * the member names around them. */
#define LOG_LINE_MAX (6 * (LOG_MSG_MAX + 3 * 64) + 160)

/* Writes the line log_msg writes (with its final "\n") for a message of
 * msg_len bytes (borrowed; any bytes) into buf, which holds LOG_LINE_MAX
 * bytes: at time t (CLOCK_REALTIME), by daemon, with the ids when not
 * NULL (JSON only). A message over LOG_MSG_MAX bytes is cut there. Returns
 * the line's length. Pure: log_msg's formatting, for tests. */
size_t log_format_line(char *buf, enum log_format format, const struct timespec *t,
                       enum log_level level, const char *daemon, const char *msg, size_t msg_len,
                       const char *trace_id, const char *request_id);

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
