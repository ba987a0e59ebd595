#include <stdlib.h>

#include "config.h"
#include "testhelp.h"

static struct config_setting table[] = {
    {"port", "TEST_AUDITLOG_PORT", "3000", CONFIG_INT, 1, 65535, "port", NULL, 0},
    {"name", "TEST_AUDITLOG_NAME", "dev", CONFIG_STRING, 0, 0, "name", NULL, 0},
    {"on", "TEST_AUDITLOG_ON", "true", CONFIG_BOOL, 0, 0, "flag", NULL, 0},
};
#define N (sizeof table / sizeof table[0])

int main(void)
{
	char *argv0[] = {"prog", NULL};
	unsetenv("TEST_AUDITLOG_PORT");
	CHECK_INT(config_load(table, N, 1, argv0, "x"), CONFIG_OK);
	CHECK_INT(config_int(table, N, "port"), 3000);
	CHECK_STR(config_str(table, N, "name"), "dev");
	CHECK_INT(config_int(table, N, "on"), 1);

	/* Environment over default, command line over environment. */
	setenv("TEST_AUDITLOG_PORT", "4000", 1);
	setenv("TEST_AUDITLOG_ON", "no", 1);
	char *argv1[] = {"prog", "--name=ops", NULL};
	CHECK_INT(config_load(table, N, 2, argv1, "x"), CONFIG_OK);
	CHECK_INT(config_int(table, N, "port"), 4000);
	CHECK_STR(config_str(table, N, "name"), "ops");
	CHECK_INT(config_int(table, N, "on"), 0);
	char *argv2[] = {"prog", "--port=5000", NULL};
	CHECK_INT(config_load(table, N, 2, argv2, "x"), CONFIG_OK);
	CHECK_INT(config_int(table, N, "port"), 5000);

	/* Bad values and unknown flags stop the start. */
	char *bad1[] = {"prog", "--port=70000", NULL};
	CHECK_INT(config_load(table, N, 2, bad1, "x"), CONFIG_EXIT_USAGE);
	char *bad2[] = {"prog", "--port=12x", NULL};
	CHECK_INT(config_load(table, N, 2, bad2, "x"), CONFIG_EXIT_USAGE);
	char *bad3[] = {"prog", "--nope=1", NULL};
	CHECK_INT(config_load(table, N, 2, bad3, "x"), CONFIG_EXIT_USAGE);
	char *bad4[] = {"prog", "port=1", NULL};
	CHECK_INT(config_load(table, N, 2, bad4, "x"), CONFIG_EXIT_USAGE);
	setenv("TEST_AUDITLOG_PORT", "zero", 1);
	CHECK_INT(config_load(table, N, 1, argv0, "x"), CONFIG_EXIT_USAGE);
	unsetenv("TEST_AUDITLOG_PORT");
	char *help[] = {"prog", "--help", NULL};
	CHECK_INT(config_load(table, N, 2, help, "x"), CONFIG_EXIT_OK);
	return test_report("config");
}
