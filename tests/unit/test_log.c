/* log: the JSON line (its members, their order, escaping any bytes into
 * valid JSON), the text line of old, and log_msg's one line per call with
 * the thread's request context. */
#include <jansson.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "testhelp.h"

static const struct timespec T = {.tv_sec = 1788000000, .tv_nsec = 123456789};

static size_t line_of(char *buf, const char *msg, size_t len, const char *trace,
                      const char *request)
{
	return log_format_line(buf, LOG_FORMAT_JSON, &T, LOG_LEVEL_WARN, "auditlog-api", msg, len,
	                       trace, request);
}

/* The line parsed (one object, then exactly "\n"), or NULL. */
static json_t *parsed(const char *buf, size_t len)
{
	if (len == 0 || buf[len - 1] != '\n' || memchr(buf, '\n', len - 1))
		return NULL;
	return json_loadb(buf, len - 1, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
}

int main(void)
{
	char buf[LOG_LINE_MAX];

	/* Every member, in order, and nothing else. */
	size_t n = line_of(buf, "listening on port 3000", 22, "4bf92f3577b34da6a3ce929d0e0e4736",
	                   "00f067aa0ba902b7");
	buf[n] = '\0';
	CHECK_STR(buf, "{\"time\":\"2026-08-29T10:40:00.123Z\",\"level\":\"warn\","
	               "\"daemon\":\"auditlog-api\",\"msg\":\"listening on port 3000\","
	               "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\","
	               "\"request_id\":\"00f067aa0ba902b7\"}\n");
	/* Outside a request: no ids. */
	n = line_of(buf, "x", 1, NULL, NULL);
	buf[n] = '\0';
	CHECK_STR(buf, "{\"time\":\"2026-08-29T10:40:00.123Z\",\"level\":\"warn\","
	               "\"daemon\":\"auditlog-api\",\"msg\":\"x\"}\n");

	/* Escapes: quotes, backslash, every control character, DEL. */
	n = line_of(buf, "a\"b\\c\n\t\r\b\f\x01\x1f\x7f/", 14, NULL, NULL);
	json_t *o = parsed(buf, n);
	CHECK(o != NULL);
	CHECK_STR(json_string_value(json_object_get(o, "msg")), "a\"b\\c\n\t\r\b\f\x01\x1f\x7f/");
	buf[n] = '\0';
	CHECK(strstr(buf, "\"msg\":\"a\\\"b\\\\c\\n\\t\\r\\b\\f\\u0001\\u001f\\u007f/\"") != NULL);
	json_decref(o);

	/* Any bytes give valid JSON: invalid UTF-8 (a stray continuation, an
	 * overlong form, a surrogate, a cut sequence) becomes U+FFFD, valid
	 * UTF-8 stays as it is, and a NUL is \u0000. */
	static const char bytes[] =
	    "caf\xc3\xa9 \x80 \xc0\xaf \xed\xa0\x80 \xf0\x9f\x98\x80 \x00 \xe2\x82";
	n = line_of(buf, bytes, sizeof bytes - 1, NULL, NULL);
	o = parsed(buf, n);
	CHECK(o != NULL);
	{
		const char *m = json_string_value(json_object_get(o, "msg"));
		size_t ml = json_string_length(json_object_get(o, "msg"));
		static const char want[] = "caf\xc3\xa9 \xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd "
		                           "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd \xf0\x9f\x98\x80 "
		                           "\x00 \xef\xbf\xbd\xef\xbf\xbd";
		CHECK_INT(ml, sizeof want - 1);
		CHECK(m && ml == sizeof want - 1 && !memcmp(m, want, ml));
	}
	json_decref(o);

	/* The worst message (every byte escaped six-fold, over the cap) fits
	 * the buffer, is cut at LOG_MSG_MAX bytes, and is still one JSON line. */
	static char worst[LOG_MSG_MAX + 100];
	memset(worst, 0x01, sizeof worst);
	static char id[80];
	memset(id, '\x02', sizeof id - 1);
	n = log_format_line(buf, LOG_FORMAT_JSON, &T, LOG_LEVEL_ERROR, id, worst, sizeof worst, id,
	                    id);
	CHECK(n <= LOG_LINE_MAX);
	o = parsed(buf, n);
	CHECK(o != NULL);
	CHECK_INT(json_string_length(json_object_get(o, "msg")), LOG_MSG_MAX);
	CHECK_INT(json_string_length(json_object_get(o, "trace_id")), 64);
	json_decref(o);

	/* The text of old. */
	n = log_format_line(buf, LOG_FORMAT_TEXT, &T, LOG_LEVEL_INFO, "auditlog-web", "hello", 5,
	                    "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
	buf[n] = '\0';
	CHECK_STR(buf, "2026-08-29T10:40:00.123Z auditlog-web info: hello\n");

	CHECK_INT(log_format_parse("json"), LOG_FORMAT_JSON);
	CHECK_INT(log_format_parse("TEXT"), LOG_FORMAT_TEXT);
	CHECK_INT(log_format_parse("xml"), -1);

	/* log_msg: one write a line, the thread's context on it until cleared. */
	int fds[2], saved = dup(STDERR_FILENO);
	CHECK(pipe(fds) == 0);
	dup2(fds[1], STDERR_FILENO);
	log_init("auditlog-test", LOG_LEVEL_INFO);
	log_set_format(LOG_FORMAT_JSON);
	log_context_set("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331");
	log_info("during %s", "a request");
	log_context_set(NULL, NULL);
	log_debug("below the threshold");
	log_warn("after it");
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(fds[1]);
	char got[4096];
	ssize_t r = read(fds[0], got, sizeof got - 1);
	close(fds[0]);
	CHECK(r > 0);
	got[r > 0 ? r : 0] = '\0';
	char *second = strchr(got, '\n');
	CHECK(second != NULL);
	if (second) {
		o = parsed(got, (size_t)(second + 1 - got));
		CHECK(o != NULL);
		CHECK_STR(json_string_value(json_object_get(o, "msg")), "during a request");
		CHECK_STR(json_string_value(json_object_get(o, "daemon")), "auditlog-test");
		CHECK_STR(json_string_value(json_object_get(o, "level")), "info");
		CHECK_STR(json_string_value(json_object_get(o, "trace_id")),
		          "0af7651916cd43dd8448eb211c80319c");
		CHECK_STR(json_string_value(json_object_get(o, "request_id")), "b7ad6b7169203331");
		json_decref(o);
		o = parsed(second + 1, strlen(second + 1));
		CHECK(o != NULL);
		CHECK_STR(json_string_value(json_object_get(o, "msg")), "after it");
		CHECK(json_object_get(o, "trace_id") == NULL);
		CHECK(json_object_get(o, "request_id") == NULL);
		json_decref(o);
	}
	return test_report("log");
}
