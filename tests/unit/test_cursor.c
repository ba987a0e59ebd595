#include "cursor.h"
#include "b64.h"
#include "testhelp.h"

int main(void)
{
	char cur[CURSOR_MAX];
	const char *uuid = "0190b6a8-7c2e-7abc-8def-0123456789ab";
	struct cursor_pos in = {.version = 42, .timestamp = 1732760000123}, out = {0};
	strcpy(in.id, uuid);
	cursor_encode(&in, cur);
	CHECK_INT(cursor_decode(cur, &out), 0);
	CHECK_INT(out.version, 42);
	CHECK_INT(out.timestamp, 1732760000123);
	CHECK_STR(out.id, uuid);

	/* The longest: both numbers at 2^53 still fit CURSOR_MAX. */
	in.version = in.timestamp = 9007199254740992LL;
	cursor_encode(&in, cur);
	CHECK(strlen(cur) < CURSOR_MAX);
	CHECK_INT(cursor_decode(cur, &out), 0);
	CHECK_INT(out.version, 9007199254740992LL);
	CHECK_INT(out.timestamp, 9007199254740992LL);

	/* Anything we did not make is refused. */
	CHECK_INT(cursor_decode("", &out), -1);
	CHECK_INT(cursor_decode("not a cursor!", &out), -1);
	CHECK_INT(cursor_decode("' OR 1=1 --", &out), -1);
	char forged[CURSOR_MAX];
	const char *bad[] = {"123", "1:2", "1:" "0190b6a8-7c2e-7abc-8def-0123456789ab",
	                     ":1:0190b6a8-7c2e-7abc-8def-0123456789ab",
	                     "1::0190b6a8-7c2e-7abc-8def-0123456789ab",
	                     "0:12a:0190b6a8-7c2e-7abc-8def-0123456789ab",
	                     "0:-1:0190b6a8-7c2e-7abc-8def-0123456789ab",
	                     "-1:1:0190b6a8-7c2e-7abc-8def-0123456789ab",
	                     "0:1:0190b6a8-7c2e-7abc-8def-0123456789AB",
	                     "0:1:0190b6a8-7c2e-7abc-8def-0123456789a",
	                     "0:1:0190b6a8-7c2e-7abc-8def-0123456789abc",
	                     "0:99999999999999999:0190b6a8-7c2e-7abc-8def-0123456789ab",
	                     "99999999999999999:0:0190b6a8-7c2e-7abc-8def-0123456789ab"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		b64url_encode((const unsigned char *)bad[i], strlen(bad[i]), forged);
		CHECK_INT(cursor_decode(forged, &out), -1);
	}
	/* Too long to be one of ours. */
	char longer[CURSOR_MAX + 8];
	memset(longer, 'A', sizeof longer - 1);
	longer[sizeof longer - 1] = '\0';
	CHECK_INT(cursor_decode(longer, &out), -1);
	/* A corrupted cursor: one character changed. */
	in.version = 3;
	in.timestamp = 1732760000123;
	cursor_encode(&in, cur);
	cur[5] = cur[5] == 'A' ? '*' : 'A';
	CHECK(cursor_decode(cur, &out) == -1 || out.version != 3 ||
	      out.timestamp != 1732760000123 || strcmp(out.id, uuid));
	return test_report("cursor");
}
