/* plan_sql: prints the statement the auditor runs for a query of the audit
 * log (query_plan.c), so that tests and the benchmarks EXPLAIN exactly
 * what runs.
 *
 *   plan_sql [actor=T:ID] [target=T:ID] [field=F] [action=a,b] [flag=k,l]
 *            [since=MS] [until=MS] [name=N] [sort=time|-time] [after=V:T:ID]
 *            [size=N] [versions=MIN:MAX] [trace=32 hex digits]
 *
 * Prints one JSON object: {"sql": "...", "params": [...], "index": "..."}
 * (params as strings and integers, in order), or {"error": "..."} and
 * exits 2 when the query has no index. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query_plan.h"

static char *split(char *s)
{
	char *colon = strchr(s, ':');
	if (!colon) {
		fprintf(stderr, "plan_sql: want type:id, got %s\n", s);
		exit(1);
	}
	*colon = '\0';
	return colon + 1;
}

int main(int argc, char **argv)
{
	static const char *const actions[] = {"viewed", "created", "changed", "deleted"};
	struct plan_query q = {.limit = 50};
	for (int i = 1; i < argc; i++) {
		char *eqs = strchr(argv[i], '=');
		if (!eqs) {
			fprintf(stderr, "plan_sql: want name=value, got %s\n", argv[i]);
			return 1;
		}
		*eqs = '\0';
		const char *k = argv[i];
		char *v = eqs + 1;
		if (!strcmp(k, "actor")) {
			q.actor_type = v;
			q.actor_id = split(v);
		} else if (!strcmp(k, "target")) {
			q.target_type = v;
			q.target_id = split(v);
		} else if (!strcmp(k, "field")) {
			q.field = v;
		} else if (!strcmp(k, "name")) {
			q.event_name = v;
		} else if (!strcmp(k, "trace")) {
			q.trace_id = v;
		} else if (!strcmp(k, "action") || !strcmp(k, "flag")) {
			bool action = !strcmp(k, "action");
			const char *const *names = action ? actions : plan_flag_names;
			unsigned n = action ? 4 : PLAN_FLAG_KINDS;
			for (char *item = strtok(v, ","); item; item = strtok(NULL, ","))
				for (unsigned j = 0; j < n; j++)
					if (!strcmp(item, names[j]))
						*(action ? &q.actions : &q.flags) |= 1u << j;
		} else if (!strcmp(k, "since")) {
			q.has_since = true;
			q.since = strtoll(v, NULL, 10);
		} else if (!strcmp(k, "until")) {
			q.has_until = true;
			q.until = strtoll(v, NULL, 10);
		} else if (!strcmp(k, "sort")) {
			q.ascending = !strcmp(v, "time");
		} else if (!strcmp(k, "versions")) { /* MIN:MAX, as store_read.c finds them */
			char *max = split(v);
			q.has_versions = true;
			q.version_min = strtoll(v, NULL, 10);
			q.version_max = strtoll(max, NULL, 10);
		} else if (!strcmp(k, "size")) {
			q.limit = (unsigned)strtoul(v, NULL, 10);
		} else if (!strcmp(k, "after")) {
			q.has_after = true;
			char *t = split(v);
			char *id = split(t);
			q.after.version = strtoll(v, NULL, 10);
			q.after.timestamp = strtoll(t, NULL, 10);
			snprintf(q.after.id, sizeof q.after.id, "%s", id);
		} else {
			fprintf(stderr, "plan_sql: unknown %s\n", k);
			return 1;
		}
	}
	struct plan p;
	const char *why, *param;
	int st = query_plan(&q, &p, &why, &param);
	if (st == PLAN_NO_INDEX) {
		json_t *e = json_pack("{s:s, s:s}", "error", why, "parameter", param);
		json_dumpf(e, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(e);
		return 2;
	}
	if (st)
		return 1;
	json_t *params = json_array();
	for (size_t i = 0; i < p.n; i++)
		json_array_append_new(params, p.params[i].type == DB_INT
		                                  ? json_integer(p.params[i].i)
		                                  : json_stringn(p.params[i].s, p.params[i].len));
	json_t *out = json_pack("{s:s, s:o, s:s, s:b}", "sql", p.sql, "params", params, "index",
	                        p.index, "byVersion", p.by_version);
	json_dumpf(out, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(out);
	plan_free(&p);
	return 0;
}
