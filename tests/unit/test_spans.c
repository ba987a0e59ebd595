/* Version spans (spans.h): one row per (target, block) of a batch's
 * versioned events, rounded out to whole quanta, in key order; nothing for
 * what a committed span covers; a widening event writes its block again. */
#include <string.h>

#include "spans.h"
#include "testhelp.h"

static struct event ev(const char *target, int64_t version, int64_t t)
{
	struct event e;
	memset(&e, 0, sizeof e);
	strcpy(e.target_type, "users");
	strcpy(e.target_id, target);
	e.target_version = version;
	e.timestamp = t;
	return e;
}

/* Row r of s as "id block first last". */
static void row_is(const struct spans *s, size_t r, const char *id, int64_t block, int64_t first,
                   int64_t last)
{
	const struct db_value *v = s->rows + SPAN_COLS * r;
	CHECK_STR(v[0].s, "users");
	CHECK_STR(v[1].s, id);
	CHECK_INT(v[2].i, block);
	CHECK_INT(v[3].i, first);
	CHECK_INT(v[4].i, last);
}

int main(void)
{
	struct spans s;
	/* Unversioned events have no span; versions 1..255 are block 0, 256
	 * block 1; ids sort as text ("b" < "c"), blocks as numbers. */
	struct event a[] = {ev("c", 256, 5500), ev("b", 0, 1), ev("c", 3, 7250),
	                    ev("c", 255, 1999), ev("b", 1000, -1), ev("c", 511, 9000)};
	CHECK_INT(spans_bind(&s, a, 6), 0);
	CHECK_INT(s.n, 3);
	row_is(&s, 0, "b", 3, -1000, -1);      /* a negative time rounds down */
	row_is(&s, 1, "c", 0, 1000, 7999);     /* 1999 and 7250 */
	row_is(&s, 2, "c", 1, 5000, 9999);     /* 5500 and 9000 */
	spans_committed(&s);
	spans_free(&s);

	/* Within what was committed, nothing to write. */
	struct event b[] = {ev("c", 100, 1000), ev("c", 7, 7999), ev("c", 300, 9999),
	                    ev("b", 1023, -1000)};
	CHECK_INT(spans_bind(&s, b, 4), 0);
	CHECK_INT(s.n, 0);
	spans_free(&s);

	/* A late read widens block 0 only; another target is its own. */
	struct event c[] = {ev("c", 2, 12345), ev("c", 260, 6000), ev("d", 2, 12345)};
	CHECK_INT(spans_bind(&s, c, 3), 0);
	CHECK_INT(s.n, 2);
	row_is(&s, 0, "c", 0, 12000, 12999);
	row_is(&s, 1, "d", 0, 12000, 12999);
	/* Not committed (the batch rolled back): asked again, written again. */
	spans_free(&s);
	CHECK_INT(spans_bind(&s, c, 3), 0);
	CHECK_INT(s.n, 2);
	spans_committed(&s);
	spans_free(&s);
	CHECK_INT(spans_bind(&s, c, 3), 0);
	CHECK_INT(s.n, 0);
	spans_free(&s);

	/* An empty batch. */
	CHECK_INT(spans_bind(&s, NULL, 0), 0);
	CHECK_INT(s.n, 0);
	spans_free(&s);
	return test_report("spans");
}
