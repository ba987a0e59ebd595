/* config: a service's settings as one table.
 *
 * Each row names a setting once: its command-line flag (--name=value), its
 * environment variable, its default and its help text. --help prints the
 * table, so the help, the README and the code cannot drift apart. Values
 * are resolved in order: command line, environment, default. Integer rows
 * are range-checked at load time, so a service never starts with a setting
 * it cannot use. */
#ifndef AUDITLOG_CONFIG_H
#define AUDITLOG_CONFIG_H

#include <stddef.h>

enum config_type { CONFIG_STRING, CONFIG_INT, CONFIG_BOOL };

struct config_setting {
	const char *name; /* flag without the leading "--" */
	const char *env;
	const char *def;
	enum config_type type;
	long min, max; /* CONFIG_INT only */
	const char *help;
	/* Filled by config_load: borrowed from argv, the environment or def. */
	const char *value;
	long ivalue; /* CONFIG_INT and CONFIG_BOOL */
};

enum config_result { CONFIG_OK = 0, CONFIG_EXIT_OK = 1, CONFIG_EXIT_USAGE = 2 };

/* Resolves every row. Prints --help and returns CONFIG_EXIT_OK, or prints
 * the problem and returns CONFIG_EXIT_USAGE for a bad flag or value. */
enum config_result config_load(struct config_setting *table, size_t n, int argc,
                               char **argv, const char *summary);

/* Lookups by name; an unknown name is a programming error and aborts. */
const char *config_str(const struct config_setting *table, size_t n, const char *name);
long config_int(const struct config_setting *table, size_t n, const char *name);

#endif
