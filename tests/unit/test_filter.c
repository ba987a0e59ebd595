#include "filter.h"
#include "testhelp.h"

int main(void)
{
	struct filter_ref r;
	CHECK_INT(filter_parse_ref("users:1", &r), 0);
	CHECK_STR(r.type, "users");
	CHECK_STR(r.id, "1");
	CHECK_INT(filter_parse_ref("invoices:2026:07", &r), 0); /* the id may hold ':' */
	CHECK_STR(r.id, "2026:07");
	const char *bad[] = {NULL, "", "users", ":1", "users:", "us ers:1", "users:\x01",
	                     "users;DROP:1", "a234567890123456789012345678901234567890123456789012345678901234X:1"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK_INT(filter_parse_ref(bad[i], &r), -1);
	return test_report("filter");
}
