#include "cursor.h"
#include "b64.h"
#include "testhelp.h"

int main(void)
{
	char cur[CURSOR_MAX], id[UUID_STR_LEN + 1];
	int64_t ts = 0;
	const char *uuid = "0190b6a8-7c2e-7abc-8def-0123456789ab";
	cursor_encode(1732760000123, uuid, cur);
	CHECK_INT(cursor_decode(cur, &ts, id), 0);
	CHECK_INT(ts, 1732760000123);
	CHECK_STR(id, uuid);

	/* Anything we did not make is refused. */
	CHECK_INT(cursor_decode("", &ts, id), -1);
	CHECK_INT(cursor_decode("not a cursor!", &ts, id), -1);
	CHECK_INT(cursor_decode("' OR 1=1 --", &ts, id), -1);
	char forged[CURSOR_MAX];
	const char *bad[] = {"123", ":" "0190b6a8-7c2e-7abc-8def-0123456789ab",
	                     "12a:0190b6a8-7c2e-7abc-8def-0123456789ab",
	                     "-1:0190b6a8-7c2e-7abc-8def-0123456789ab",
	                     "1:0190b6a8-7c2e-7abc-8def-0123456789AB",
	                     "1:0190b6a8-7c2e-7abc-8def-0123456789a",
	                     "99999999999999999:0190b6a8-7c2e-7abc-8def-0123456789ab"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		b64url_encode((const unsigned char *)bad[i], strlen(bad[i]), forged);
		CHECK_INT(cursor_decode(forged, &ts, id), -1);
	}
	/* A corrupted cursor: one character changed. */
	cursor_encode(1732760000123, uuid, cur);
	cur[3] = cur[3] == 'A' ? '*' : 'A';
	CHECK(cursor_decode(cur, &ts, id) == -1 || ts != 1732760000123 || strcmp(id, uuid));
	return test_report("cursor");
}
