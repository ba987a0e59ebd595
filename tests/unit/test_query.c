#include "query.h"
#include "testhelp.h"

int main(void)
{
	struct query q;
	const char *why = NULL;
	CHECK_INT(query_parse("filter%5Bactor%5D=users%3A1&page[size]=2&flag&x=a+b", &q, &why), 0);
	CHECK_INT(q.n, 4);
	CHECK_STR(query_get(&q, "filter[actor]"), "users:1");
	CHECK_STR(query_get(&q, "page[size]"), "2");
	CHECK_STR(query_get(&q, "flag"), "");
	CHECK_STR(query_get(&q, "x"), "a b");
	CHECK(query_get(&q, "missing") == NULL);
	query_free(&q);

	/* Flags without '=' need more room than the input (found by fuzzing). */
	CHECK_INT(query_parse("a&b&c&d&e&f&g&h&i&j&k&l&m&n&o&p", &q, &why), 0);
	CHECK_INT(q.n, 16);
	CHECK_STR(query_get(&q, "p"), "");
	query_free(&q);
	CHECK_INT(query_parse("s", &q, &why), 0);
	CHECK_STR(query_get(&q, "s"), "");
	query_free(&q);

	CHECK_INT(query_parse("", &q, &why), 0);
	CHECK_INT(q.n, 0);
	query_free(&q);

	const char *bad[] = {"a=%", "a=%4", "a=%zz", "a=%00", "a=%0d%0a", "=x", "a=1&a=2", "%=1"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why = NULL;
		CHECK_INT(query_parse(bad[i], &q, &why), -1);
		CHECK(why != NULL);
		CHECK_INT(q.n, 0);
	}
	/* A repeated parameter is named (decoded). */
	CHECK_INT(query_parse("a=1&filter%5Bactor%5D=x&filter[actor]=y", &q, &why), -1);
	CHECK_STR(q.repeated, "filter[actor]");
	CHECK_INT(q.n, 0);
	CHECK_INT(query_parse("a=%zz", &q, &why), -1);
	CHECK_STR(q.repeated, "");
	char many[512] = "";
	for (int i = 0; i < QUERY_MAX_PARAMS + 1; i++)
		sprintf(many + strlen(many), "k%d=v&", i);
	CHECK_INT(query_parse(many, &q, &why), -1);

	char out[64];
	CHECK_INT(query_escape("users:1 a/b[c]", out, sizeof out), 22);
	CHECK_STR(out, "users:1%20a%2Fb%5Bc%5D");
	CHECK_INT(query_escape("abc", out, 3), -1);

	char url[64] = "/x?";
	CHECK_INT(query_append(url, sizeof url, "page[size]", "5"), 0);
	CHECK_INT(query_append(url, sizeof url, "a", "b c"), 0);
	CHECK_STR(url, "/x?page%5Bsize%5D=5&a=b%20c");
	CHECK_INT(query_append(url, 30, "long", "value"), -1);
	CHECK_STR(url, "/x?page%5Bsize%5D=5&a=b%20c");

	char dec[16];
	CHECK_INT(query_unescape("a+b%2B", 6, dec, false), 4);
	CHECK_STR(dec, "a+b+");
	return test_report("query");
}
