/* gtid: positions as MariaDB writes them (@@gtid_binlog_pos), accepted
 * and written back; everything else refused; "reached" as
 * MASTER_GTID_WAIT judges it (by domain and sequence number). */
#include <string.h>

#include "gtid.h"
#include "testhelp.h"

static int parse(const char *s, struct gtid_pos *p)
{
	return gtid_parse(s, strlen(s), p);
}

/* Parses s and writes it back; the canonical text in out. */
static int round_trip(const char *s, char *out)
{
	struct gtid_pos p;
	if (parse(s, &p))
		return -1;
	gtid_format(&p, out);
	return 0;
}

static int reached(const char *have, const char *want)
{
	struct gtid_pos h, w;
	CHECK(parse(have, &h) == 0);
	CHECK(parse(want, &w) == 0);
	return gtid_reached(&h, &w);
}

int main(void)
{
	char text[GTID_TEXT_MAX];
	struct gtid_pos p;

	/* Accepted, and written back as MariaDB writes them. */
	static const struct {
		const char *in, *out;
	} good[] = {
	    {"0-1-148", "0-1-148"},
	    {"0-1-4711,1-2-9", "0-1-4711,1-2-9"},
	    {"  0-1-5\t", "0-1-5"}, /* a header's optional whitespace */
	    {"", ""},
	    {"   ", ""},
	    {"0-0-0", "0-0-0"},
	    {"4294967295-4294967295-18446744073709551615",
	     "4294967295-4294967295-18446744073709551615"},
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		CHECK(round_trip(good[i].in, text) == 0);
		CHECK_STR(text, good[i].out);
	}
	CHECK(parse("0-1-4711,1-2-9", &p) == 0);
	CHECK_INT(p.n, 2);
	CHECK_INT(p.g[1].domain, 1);
	CHECK_INT(p.g[1].server, 2);
	CHECK_INT(p.g[1].seq, 9);

	/* Refused: anything else. */
	static const char *const bad[] = {
	    "0-1",           "0-1-",           "-0-1-2",        "0--1-2",
	    "0-1-2,",        ",0-1-2",         "0-1-2,,1-1-1",  "0-1-2 ,1-1-1",
	    "0-1-2, 1-1-1",  "00-1-2",         "0-01-2",        "0-1-02",
	    "+0-1-2",        "0-1-2a",         "a",             "0-1-2;1-1-1",
	    "0-1-2,0-2-3",   "4294967296-1-1", "1-4294967296-1", "1-1-18446744073709551616",
	    "0-1-99999999999999999999999", "0 -1-2", "0-1-2\r\n", "0-1-\xc3\xa9",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (parse(bad[i], &p) != -1) {
			CHECK(!"accepted");
			fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
		}
	/* A NUL inside is not the end. */
	CHECK(gtid_parse("0-1-2\0", 6, &p) == -1);

	/* At most GTID_DOMAINS_MAX domains; the longest text fits. */
	char many[2 * GTID_TEXT_MAX] = "";
	for (unsigned d = 0; d < GTID_DOMAINS_MAX; d++)
		snprintf(many + strlen(many), sizeof many - strlen(many), "%s%u-4294967295-18446744073709551615",
		         d ? "," : "", 4294967295u - d);
	CHECK(round_trip(many, text) == 0);
	CHECK_STR(text, many);
	CHECK_INT(strlen(text) + 1, GTID_TEXT_MAX);
	strcat(many, ",7-1-1");
	CHECK(parse(many, &p) == -1);

	/* Reached: per domain, by sequence number, whatever the server. */
	CHECK(reached("0-1-10", "0-1-10"));
	CHECK(reached("0-1-11", "0-1-10"));
	CHECK(!reached("0-1-9", "0-1-10"));
	CHECK(reached("0-2-10", "0-1-10")); /* another server of the domain */
	CHECK(reached("0-1-10,1-1-5", "1-1-5"));
	CHECK(!reached("0-1-10", "0-1-10,1-1-5")); /* a domain it never saw */
	CHECK(!reached("0-1-10,1-1-4", "1-1-5,0-1-3"));
	CHECK(reached("0-1-10", ""));
	CHECK(reached("", ""));
	CHECK(!reached("", "0-1-1"));

	return test_report("gtid");
}
