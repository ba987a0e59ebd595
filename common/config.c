#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_value(struct config_setting *s, const char *v)
{
	s->value = v;
	if (s->type == CONFIG_STRING)
		return 0;
	if (s->type == CONFIG_BOOL) {
		if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on"))
			s->ivalue = 1;
		else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no") ||
		         !strcmp(v, "off"))
			s->ivalue = 0;
		else {
			fprintf(stderr, "%s: expected a boolean (true/false), got \"%s\"\n", s->name, v);
			return -1;
		}
		return 0;
	}
	char *end;
	errno = 0;
	long l = strtol(v, &end, 10);
	if (errno || end == v || *end || l < s->min || l > s->max) {
		fprintf(stderr, "%s: expected an integer in [%ld, %ld], got \"%s\"\n", s->name,
		        s->min, s->max, v);
		return -1;
	}
	s->ivalue = l;
	return 0;
}

static void print_help(const struct config_setting *table, size_t n, const char *prog,
                       const char *summary)
{
	printf("Usage: %s [--setting=value ...]\n\n%s\n\nSettings (flag, environment variable, "
	       "default):\n",
	       prog, summary);
	for (size_t i = 0; i < n; i++)
		printf("  --%-24s %-30s [%s]\n      %s\n", table[i].name, table[i].env,
		       table[i].def, table[i].help);
}

enum config_result config_load(struct config_setting *table, size_t n, int argc,
                               char **argv, const char *summary)
{
	for (size_t i = 0; i < n; i++) {
		const char *env = getenv(table[i].env);
		if (parse_value(&table[i], env ? env : table[i].def)) {
			fprintf(stderr, "  (from %s)\n", env ? table[i].env : "the default");
			return CONFIG_EXIT_USAGE;
		}
	}
	for (int a = 1; a < argc; a++) {
		const char *arg = argv[a];
		if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
			print_help(table, n, argv[0], summary);
			return CONFIG_EXIT_OK;
		}
		const char *eq = strchr(arg, '=');
		size_t i = n;
		if (!strncmp(arg, "--", 2) && eq)
			for (i = 0; i < n; i++)
				if (strlen(table[i].name) == (size_t)(eq - arg - 2) &&
				    !strncmp(table[i].name, arg + 2, (size_t)(eq - arg - 2)))
					break;
		if (i == n) {
			fprintf(stderr, "%s: unknown argument \"%s\" (try --help)\n", argv[0], arg);
			return CONFIG_EXIT_USAGE;
		}
		if (parse_value(&table[i], eq + 1))
			return CONFIG_EXIT_USAGE;
	}
	return CONFIG_OK;
}

static const struct config_setting *find(const struct config_setting *table, size_t n,
                                         const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(table[i].name, name))
			return &table[i];
	fprintf(stderr, "config: no setting named %s\n", name);
	abort();
}

const char *config_str(const struct config_setting *table, size_t n, const char *name)
{
	return find(table, n, name)->value;
}

long config_int(const struct config_setting *table, size_t n, const char *name)
{
	return find(table, n, name)->ivalue;
}
