/* fuzz_trace: the input as a traceparent header value through trace_parse
 * and as a trace-id text through trace_id_parse, as the HTTP server reads
 * every request's traceparent; as a Read-After header value through
 * gtid_parse, as the auditor reads a query's; and the input as a log
 * message through log_format_line, as a request's path or a client's bytes
 * reach the log.
 *
 * Invariants (trace.h, log.h): trace_parse answers 0 or -1, and accepts
 * only values of at least 55 bytes whose version is two lowercase hex
 * digits other than ff, with ids that are not all zero; what it accepts,
 * written back by trace_format, is a version 00 header holding the same
 * ids, which parses again to the same ids. A trace-id text is accepted
 * exactly when it is 32 lowercase hex digits, not all zero, and trace_hex
 * gives it back. An accepted Read-After position has at most
 * GTID_DOMAINS_MAX domains, each once, and is, but for the whitespace
 * around it, its own text as gtid_format writes it back, which parses to
 * the same position and has reached itself. The JSON log line of any message is one line that
 * jansson reads as an object whose "msg" is the message itself when the
 * message is well-formed UTF-8 without NUL. */
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "gtid.h"
#include "log.h"
#include "trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static void check_traceparent(const char *s, size_t n)
{
	struct trace_parent tp;
	int rc = trace_parse(s, n, &tp);
	FUZZ_CHECK(rc == 0 || rc == -1, "trace_parse gave %d", rc);
	if (rc)
		return;
	FUZZ_CHECK(n >= TRACE_HEADER_LEN && lower_hex(s, 2) && memcmp(s, "ff", 2) && s[2] == '-',
	           "accepted a value with a bad version or length %zu", n);
	FUZZ_CHECK(n == TRACE_HEADER_LEN || memcmp(s, "00", 2), "version 00 of %zu bytes", n);
	char header[TRACE_HEADER_LEN + 1];
	trace_format(tp.trace_id, tp.parent_id, tp.flags, header);
	FUZZ_CHECK(strlen(header) == TRACE_HEADER_LEN && !memcmp(header, "00-", 3) &&
	               !memcmp(header + 3, s + 3, 50),
	           "written back as \"%s\"", header);
	FUZZ_CHECK(!strcmp(header + 53, "00") || !strcmp(header + 53, "01"), "flags \"%s\"",
	           header + 53);
	struct trace_parent back;
	FUZZ_CHECK(trace_parse(header, TRACE_HEADER_LEN, &back) == 0 &&
	               !memcmp(back.trace_id, tp.trace_id, TRACE_ID_LEN) &&
	               !memcmp(back.parent_id, tp.parent_id, TRACE_SPAN_LEN),
	           "\"%s\" does not parse back", header);
}

static void check_trace_id(const char *s, size_t n)
{
	uint8_t id[TRACE_ID_LEN];
	int rc = trace_id_parse(s, n, id);
	int want = n == TRACE_ID_HEX_LEN && lower_hex(s, n) &&
	           memcmp(s, "00000000000000000000000000000000", TRACE_ID_HEX_LEN);
	FUZZ_CHECK((rc == 0) == want, "trace_id_parse gave %d for %zu bytes", rc, n);
	FUZZ_CHECK(trace_id_valid(s, n) == want, "trace_id_valid disagrees");
	if (rc == 0) {
		char hex[TRACE_ID_HEX_LEN + 1];
		trace_hex(id, TRACE_ID_LEN, hex);
		FUZZ_CHECK(!memcmp(hex, s, TRACE_ID_HEX_LEN), "hex back is %s", hex);
	}
}

static void check_gtid(const char *s, size_t n)
{
	struct gtid_pos p, back;
	int rc = gtid_parse(s, n, &p);
	FUZZ_CHECK(rc == 0 || rc == -1, "gtid_parse gave %d", rc);
	if (rc)
		return;
	FUZZ_CHECK(p.n <= GTID_DOMAINS_MAX, "%zu domains", p.n);
	for (size_t i = 0; i < p.n; i++)
		for (size_t j = i + 1; j < p.n; j++)
			FUZZ_CHECK(p.g[i].domain != p.g[j].domain, "domain %u twice", (unsigned)p.g[i].domain);
	char text[GTID_TEXT_MAX];
	size_t len = gtid_format(&p, text);
	FUZZ_CHECK(len < GTID_TEXT_MAX && strlen(text) == len, "written as %zu bytes", len);
	size_t lead = strspn(s, " \t");
	FUZZ_CHECK(lead + len <= n && !memcmp(s + lead, text, len) &&
	               strspn(s + lead + len, " \t") == n - lead - len,
	           "\"%s\" is not the input's text", text);
	FUZZ_CHECK(gtid_parse(text, len, &back) == 0 && back.n == p.n &&
	               !memcmp(back.g, p.g, p.n * sizeof p.g[0]),
	           "\"%s\" does not parse back", text);
	FUZZ_CHECK(gtid_reached(&p, &back) && gtid_reached(&back, &p), "has not reached itself");
}

static int utf8_without_nul(const char *s, size_t n)
{
	json_t *v = json_stringn(s, n); /* jansson checks the UTF-8 */
	int ok = v != NULL && !memchr(s, '\0', n);
	json_decref(v);
	return ok;
}

static void check_log_line(const char *s, size_t n)
{
	static char line[LOG_LINE_MAX];
	static const struct timespec t = {.tv_sec = 1788000000, .tv_nsec = 5000000};
	size_t len = log_format_line(line, LOG_FORMAT_JSON, &t, LOG_LEVEL_INFO, "auditlog-api", s,
	                             n, "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
	FUZZ_CHECK(len > 0 && len <= LOG_LINE_MAX && line[len - 1] == '\n' &&
	               !memchr(line, '\n', len - 1),
	           "not one line (%zu bytes)", len);
	json_error_t err;
	json_t *o = json_loadb(line, len - 1, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
	FUZZ_CHECK(json_is_object(o), "not a JSON object: %s", err.text);
	json_t *msg = json_object_get(o, "msg");
	FUZZ_CHECK(json_is_string(msg), "no msg");
	if (n <= LOG_MSG_MAX && utf8_without_nul(s, n))
		FUZZ_CHECK(json_string_length(msg) == n && !memcmp(json_string_value(msg), s, n),
		           "msg differs from the message");
	json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	check_traceparent(s, size);
	check_trace_id(s, size);
	check_gtid(s, size);
	check_log_line(s, size);
	free(s);
	return 0;
}
