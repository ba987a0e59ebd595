/* trace: traceparent values accepted and refused as W3C Trace Context
 * Level 1 §3.2 says (the spec's own examples among them), the header we
 * send, and fresh ids. */
#include <string.h>

#include "testhelp.h"
#include "trace.h"

static int parse(const char *s, struct trace_parent *tp)
{
	return trace_parse(s, strlen(s), tp);
}

static void check_ids(const struct trace_parent *tp, const char *trace, const char *parent)
{
	char t[TRACE_ID_HEX_LEN + 1], p[TRACE_SPAN_HEX_LEN + 1];
	trace_hex(tp->trace_id, TRACE_ID_LEN, t);
	trace_hex(tp->parent_id, TRACE_SPAN_LEN, p);
	CHECK_STR(t, trace);
	CHECK_STR(p, parent);
}

int main(void)
{
	struct trace_parent tp;

	/* Accepted: §3.2.3's examples (sampled and not), version 00's flags as
	 * sent (the reserved bits are cleared only in what we send), and later
	 * versions read leniently (§3.2.4: fields after the flags not read, only
	 * the sampled bit of the flags kept). */
	static const struct {
		const char *value, *trace, *parent;
		int flags;
	} good[] = {
	    {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	     "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 1},
	    {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
	     "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 0},
	    {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-ff",
	     "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", 0xff},
	    {"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-will-be-like",
	     "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 1},
	    {"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff",
	     "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 1},
	    {"fe-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-02-",
	     "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", 0},
	};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		CHECK_INT(parse(good[i].value, &tp), 0);
		check_ids(&tp, good[i].trace, good[i].parent);
		CHECK_INT(tp.flags, good[i].flags);
	}

	/* Refused: each breaks one rule. */
	static const char *const bad[] = {
	    "",
	    "0",
	    "00",
	    "00-",
	    /* version: not HEXDIGLC, not followed by a dash, ff */
	    "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	    "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	    "000-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	    /* upper-case hex in the trace-id, the parent-id, the flags */
	    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
	    /* all zeros */
	    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
	    /* wrong lengths and separators */
	    "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-701",
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
	    "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",
	    " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-g1",
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba9z2b7-01",
	    /* version 00 with anything after the flags */
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-will-be-like",
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.what",
	    /* a later version: shorter than 55, or flags not followed by a dash */
	    "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
	    "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.what-the-future-will-be-like",
	    "cc-00000000000000000000000000000000-00f067aa0ba902b7-01",
	    "cc-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
	    "cc-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		int rc = parse(bad[i], &tp);
		CHECK_INT(rc, -1);
		if (rc != -1)
			fprintf(stderr, "  accepted: \"%s\"\n", bad[i]);
	}
	/* A NUL inside is a character like another: refused, never read past. */
	char nul[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
	nul[10] = '\0';
	CHECK_INT(trace_parse(nul, sizeof nul - 1, &tp), -1);

	/* What we send: version 00, lowercase, reserved flags cleared; it parses
	 * back to the same ids. */
	uint8_t trace[TRACE_ID_LEN], span[TRACE_SPAN_LEN];
	CHECK_INT(parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03", &tp), 0);
	static const uint8_t ours[TRACE_SPAN_LEN] = {0x00, 0xf0, 0x67, 0xaa,
	                                             0x0b, 0xa9, 0x02, 0xb7};
	char header[TRACE_HEADER_LEN + 1];
	trace_format(tp.trace_id, ours, tp.flags, header);
	CHECK_STR(header, "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01");
	trace_format(tp.trace_id, ours, 0xfe, header);
	CHECK_STR(header, "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-00");

	/* Fresh ids: random, never all zero, and they make a valid header. */
	CHECK_INT(trace_random(trace, sizeof trace), 0);
	CHECK_INT(trace_random(span, sizeof span), 0);
	trace_format(trace, span, TRACE_FLAG_SAMPLED, header);
	CHECK_INT(strlen(header), TRACE_HEADER_LEN);
	struct trace_parent back;
	CHECK_INT(parse(header, &back), 0);
	CHECK(!memcmp(back.trace_id, trace, sizeof trace));
	CHECK(!memcmp(back.parent_id, span, sizeof span));
	uint8_t again[TRACE_ID_LEN];
	CHECK_INT(trace_random(again, sizeof again), 0);
	CHECK(memcmp(again, trace, sizeof trace) != 0);

	/* A trace-id as text (an event's traceId). */
	CHECK(trace_id_valid("4bf92f3577b34da6a3ce929d0e0e4736", 32));
	CHECK(!trace_id_valid("00000000000000000000000000000000", 32));
	CHECK(!trace_id_valid("4BF92F3577B34DA6A3CE929D0E0E4736", 32));
	CHECK(!trace_id_valid("4bf92f3577b34da6a3ce929d0e0e473", 31));
	CHECK(!trace_id_valid("4bf92f3577b34da6a3ce929d0e0e4736a", 33));
	CHECK(!trace_id_valid("4bf92f35-7b34da6a3ce929d0e0e4736", 32));
	uint8_t id[TRACE_ID_LEN];
	CHECK_INT(trace_id_parse("000000000000000000000000000000ff", 32, id), 0);
	CHECK_INT(id[15], 0xff);
	CHECK_INT(id[0], 0);
	return test_report("trace");
}
