/* The live stream's ids (services/auditor/stream_id.c): the vector of
 * positions, one per log, read and written; the bare position of a
 * deployment of one log. */
#include <stdio.h>
#include <string.h>

#include "stream_id.h"
#include "testhelp.h"

/* The text of s parsed and written back ("!" when refused). */
static const char *round_trip(const char *s)
{
	static char buf[STREAM_ID_TEXT_MAX];
	struct stream_id id;
	if (stream_id_parse(s, strlen(s), &id))
		return "!";
	if (!stream_id_format(&id, buf, sizeof buf) && id.n)
		return "(too long)";
	return buf;
}

static void test_accepted(void)
{
	CHECK_STR(round_trip("4711"), "4711");
	CHECK_STR(round_trip("0"), "0");
	CHECK_STR(round_trip("0-4711"), "4711"); /* log 0 alone is written bare */
	CHECK_STR(round_trip("007"), "7");
	CHECK_STR(round_trip("0-4711.1-230.2-99.1024-5"), "0-4711.1-230.2-99.1024-5");
	CHECK_STR(round_trip("1024-5.2-99.0-4711.1-230"), "0-4711.1-230.2-99.1024-5");
	CHECK_STR(round_trip("1-5"), "1-5");
	CHECK_STR(round_trip(" \t0-3.1-5\t "), "0-3.1-5"); /* a header value's OWS */
	CHECK_STR(round_trip("9223372036854775807"), "9223372036854775807");
	CHECK_STR(round_trip("65535-9223372036854775807"), "65535-9223372036854775807");
	CHECK_STR(round_trip("00001-1"), "1-1");

	struct stream_id id;
	CHECK_INT(stream_id_parse("2-9.0-4", 7, &id), 0);
	CHECK_INT(id.n, 2);
	CHECK_INT(id.log[0], 0);
	CHECK_INT(id.seq[0], 4);
	CHECK_INT(id.log[1], 2);
	CHECK_INT(id.seq[1], 9);
	/* Only len bytes are read. */
	CHECK_INT(stream_id_parse("12x", 2, &id), 0);
	CHECK_INT(id.seq[0], 12);
}

static void test_refused(void)
{
	static const char *const bad[] = {
	    "", " ", "\t", "-1", "+1", "1-", "-", "1--2", "1-2.", ".1-2", "1-2..3-4",
	    "1-2.1-3",              /* a log twice */
	    "0-1.0-1",              /* even with the same position */
	    "65536-1",              /* beyond a SMALLINT UNSIGNED */
	    "000001-1",             /* six digits of log */
	    "9223372036854775808",  /* 2^63 */
	    "1-9223372036854775808",
	    "00000000000000000001", /* twenty digits */
	    "12x", "x12", "1 -2", "1- 2", "1-2 .3-4", "1-2. 3-4", "1.2", "1-2.3", "1-2-3",
	    "1,2", "1-2;3-4", "0x10", "1e3", "١٢", "1\n", "\n1", "1-2\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *got = round_trip(bad[i]);
		if (strcmp(got, "!"))
			fprintf(stderr, "accepted \"%s\" as \"%s\"\n", bad[i], got);
		CHECK_STR(got, "!");
	}
	/* A NUL inside: refused, not cut short. */
	struct stream_id id;
	CHECK_INT(stream_id_parse("1\0" "2", 3, &id), -1);
}

/* STREAM_ID_LOGS_MAX entries at the longest: written, and read back; one
 * more is refused. */
static void test_limits(void)
{
	struct stream_id id = {0}, back;
	for (uint32_t i = 0; i < STREAM_ID_LOGS_MAX; i++)
		CHECK_INT(stream_id_set(&id, STREAM_ID_LOG_MAX - i, STREAM_ID_SEQ_MAX), 0);
	CHECK_INT(stream_id_set(&id, 1, 1), -1);
	CHECK_INT(id.n, STREAM_ID_LOGS_MAX);
	char buf[STREAM_ID_TEXT_MAX];
	size_t n = stream_id_format(&id, buf, sizeof buf);
	CHECK_INT(n, STREAM_ID_TEXT_MAX - 2); /* no '.' after the last entry */
	CHECK_INT(strlen(buf), n);
	CHECK_INT(stream_id_parse(buf, n, &back), 0);
	CHECK(stream_id_equal(&id, &back));
	/* Too small a buffer: nothing written, not a truncated id. */
	CHECK_INT(stream_id_format(&id, buf, 100), 0);
	CHECK_STR(buf, "");
	/* 129 entries of text. */
	char more[STREAM_ID_TEXT_MAX + 32];
	stream_id_format(&id, buf, sizeof buf);
	snprintf(more, sizeof more, "1-1.%s", buf);
	CHECK_INT(stream_id_parse(more, strlen(more), &back), -1);
}

static void test_get_set(void)
{
	struct stream_id id = {0}, other = {0};
	char buf[64];
	CHECK_INT(stream_id_format(&id, buf, sizeof buf), 0); /* nothing passed: no id */
	CHECK_STR(buf, "");
	uint64_t seq = 99;
	CHECK(!stream_id_get(&id, 0, &seq));
	CHECK_INT(seq, 99);
	CHECK_INT(stream_id_set(&id, 1024, 5), 0);
	CHECK_INT(stream_id_set(&id, 2, 7), 0);
	CHECK_INT(stream_id_set(&id, 0, 3), 0);
	CHECK_INT(stream_id_set(&id, 2, 8), 0); /* moves, adds nothing */
	CHECK_INT(id.n, 3);
	CHECK(stream_id_get(&id, 2, &seq));
	CHECK_INT(seq, 8);
	CHECK(!stream_id_get(&id, 1, &seq));
	stream_id_format(&id, buf, sizeof buf);
	CHECK_STR(buf, "0-3.2-8.1024-5");
	CHECK(!stream_id_equal(&id, &other));
	CHECK_INT(stream_id_parse(buf, strlen(buf), &other), 0);
	CHECK(stream_id_equal(&id, &other));
	other.seq[1]++;
	CHECK(!stream_id_equal(&id, &other));
	/* log 0 alone: bare; with a second log: the vector. */
	id = (struct stream_id){0};
	stream_id_set(&id, 0, 4711);
	stream_id_format(&id, buf, sizeof buf);
	CHECK_STR(buf, "4711");
	stream_id_set(&id, 1, 0);
	stream_id_format(&id, buf, sizeof buf);
	CHECK_STR(buf, "0-4711.1-0");
	id = (struct stream_id){0};
	stream_id_set(&id, 3, 1);
	stream_id_format(&id, buf, sizeof buf);
	CHECK_STR(buf, "3-1");
}

int main(void)
{
	test_accepted();
	test_refused();
	test_limits();
	test_get_set();
	return test_report("stream_id");
}
