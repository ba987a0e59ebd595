#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "utf8.h"

static const char *log_name = "auditlog";
static enum log_level log_threshold = LOG_LEVEL_INFO;
static enum log_format log_format = LOG_FORMAT_JSON;

/* The request this thread serves (log_context_set). */
static _Thread_local const char *context_trace, *context_request;

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const char *const format_names[] = {"json", "text"};

void log_init(const char *name, enum log_level threshold)
{
	log_name = name;
	log_threshold = threshold;
}

void log_set_format(enum log_format format)
{
	log_format = format;
}

int log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

int log_format_parse(const char *s)
{
	for (int i = 0; i < 2; i++)
		if (strcasecmp(s, format_names[i]) == 0)
			return i;
	return -1;
}

int log_enabled(enum log_level level)
{
	return level >= log_threshold;
}

void log_context_set(const char *trace_id, const char *request_id)
{
	context_trace = trace_id;
	context_request = request_id;
}

void log_context_get(const char **trace_id, const char **request_id)
{
	*trace_id = context_trace;
	*request_id = context_request;
}

/* A writer into the caller's LOG_LINE_MAX bytes, which the formats below
 * never outgrow (the message is cut at LOG_MSG_MAX first). */
struct line {
	char *p;
	size_t len;
};

static void put(struct line *l, const char *s, size_t n)
{
	memcpy(l->p + l->len, s, n);
	l->len += n;
}

static void puts_(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

/* s (n bytes, any) as the inside of an RFC 8259 string: '"' and '\'
 * escaped, control characters and DEL as \n, \t, \r, \b, \f or \u00XX,
 * well-formed UTF-8 as it is, and every other byte as \ufffd (at most six
 * bytes out per byte in). */
static void put_escaped(struct line *l, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		unsigned char c = u[i];
		char esc[8];
		if (c >= 0x80) {
			uint32_t cp;
			size_t k = utf8_next(u + i, n - i, &cp);
			if (k) {
				put(l, s + i, k);
				i += k;
			} else {
				puts_(l, "\\ufffd");
				i++;
			}
			continue;
		}
		if (c == '"' || c == '\\') {
			esc[0] = '\\', esc[1] = (char)c;
			put(l, esc, 2);
		} else if (c == '\n' || c == '\t' || c == '\r' || c == '\b' || c == '\f') {
			esc[0] = '\\';
			esc[1] = "btnvfr"[c - '\b']; /* \b \t \n (\v is not one) \f \r */
			put(l, esc, 2);
		} else if (c < 0x20 || c == 0x7f) {
			put(l, esc, (size_t)snprintf(esc, sizeof esc, "\\u%04x", c));
		} else {
			put(l, s + i, 1);
		}
		i++;
	}
}

/* The member ,"name":"value", value escaped and cut at max bytes. */
static void put_member(struct line *l, const char *name, const char *value, size_t max)
{
	puts_(l, ",\"");
	puts_(l, name);
	puts_(l, "\":\"");
	put_escaped(l, value, strnlen(value, max));
	puts_(l, "\"");
}

size_t log_format_line(char *buf, enum log_format format, const struct timespec *t,
                       enum log_level level, const char *daemon, const char *msg, size_t msg_len,
                       const char *trace_id, const char *request_id)
{
	struct line l = {buf, 0};
	struct tm tm;
	gmtime_r(&t->tv_sec, &tm);
	char when[96];
	/* RFC 3339 §5.6 date-time, UTC, milliseconds. */
	snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	         (long)(t->tv_nsec / 1000000));
	if (msg_len > LOG_MSG_MAX)
		msg_len = LOG_MSG_MAX;
	if (format == LOG_FORMAT_TEXT) {
		puts_(&l, when);
		puts_(&l, " ");
		put(&l, daemon, strnlen(daemon, 64));
		puts_(&l, " ");
		puts_(&l, level_names[level]);
		puts_(&l, ": ");
		put(&l, msg, msg_len);
		puts_(&l, "\n");
		return l.len;
	}
	puts_(&l, "{\"time\":\"");
	puts_(&l, when);
	puts_(&l, "\",\"level\":\"");
	puts_(&l, level_names[level]);
	puts_(&l, "\"");
	put_member(&l, "daemon", daemon, 64);
	puts_(&l, ",\"msg\":\"");
	put_escaped(&l, msg, msg_len);
	puts_(&l, "\"");
	if (trace_id)
		put_member(&l, "trace_id", trace_id, 64);
	if (request_id)
		put_member(&l, "request_id", request_id, 64);
	puts_(&l, "}\n");
	return l.len;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (level < log_threshold)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char msg[LOG_MSG_MAX + 1];
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	size_t n = m < 0 ? 0 : (size_t)m < sizeof msg ? (size_t)m : sizeof msg - 1;
	char line[LOG_LINE_MAX];
	size_t len = log_format_line(line, log_format, &ts, level, log_name, msg, n, context_trace,
	                             context_request);
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}
