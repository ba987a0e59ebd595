/* The statement of a page of the audit log: see query_plan.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query_plan.h"
#include "sql_id.h"

const char *const plan_flag_names[PLAN_FLAG_KINDS] = {"gap", "late", "duplicate-version",
                                                     "drift", "after-delete"};

/* A growing statement: its text and its parameters. */
struct build {
	char *sql;
	size_t len, cap;
	struct db_value *params;
	size_t n, pcap;
	bool failed;
};

static void add(struct build *b, const char *text)
{
	size_t n = strlen(text);
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		while (b->len + n + 1 > cap)
			cap *= 2;
		char *p = realloc(b->sql, cap);
		if (!p) {
			b->failed = true;
			return;
		}
		b->sql = p;
		b->cap = cap;
	}
	memcpy(b->sql + b->len, text, n + 1);
	b->len += n;
}

static void param(struct build *b, struct db_value v)
{
	if (b->failed)
		return;
	if (b->n == b->pcap) {
		size_t cap = b->pcap ? 2 * b->pcap : 32;
		struct db_value *p = realloc(b->params, cap * sizeof *p);
		if (!p) {
			b->failed = true;
			return;
		}
		b->params = p;
		b->pcap = cap;
	}
	b->params[b->n++] = v;
}

/* " AND <col> = ?" with its value. */
static void eq(struct build *b, const char *col, const char *value)
{
	add(b, " AND ");
	add(b, col);
	add(b, " = ?");
	param(b, DB_TEXT(value));
}

static const char *action_name(unsigned i)
{
	return event_action_name((enum event_action)i);
}

static const char *flag_kind(unsigned i)
{
	return plan_flag_names[i];
}

/* " IN (?, ?, ...)" with name(i) for each bit i of bits (i < n). */
static void in_list(struct build *b, unsigned bits, const char *(*name)(unsigned), unsigned n)
{
	bool first = true;
	add(b, " IN (");
	for (unsigned i = 0; i < n; i++)
		if (bits & (1u << i)) {
			add(b, first ? "?" : ", ?");
			param(b, DB_TEXT(name(i)));
			first = false;
		}
	add(b, ")");
}

/* " AND <col> <op> ?" with an integer. */
static void cmp(struct build *b, const char *col, const char *op, int64_t value)
{
	add(b, " AND ");
	add(b, col);
	add(b, op);
	param(b, DB_INT(value));
}

/* The residual filters of q on the event row named e ("e" or the
 * table's name), except those the index range already applies (skip). */
enum { SKIP_ACTOR = 1, SKIP_ACTION = 2, SKIP_TIME = 4, SKIP_FLAG = 8, SKIP_TRACE = 16 };

static void col(char *out, size_t cap, const char *e, const char *name)
{
	snprintf(out, cap, "%s.%s", e, name);
}

static void residuals(struct build *b, const struct plan_query *q, const char *e,
                      const char *time_col, unsigned skip)
{
	char c[96];
	if (q->actor_type && !(skip & SKIP_ACTOR)) {
		col(c, sizeof c, e, "actor_type");
		eq(b, c, q->actor_type);
		col(c, sizeof c, e, "actor_id");
		eq(b, c, q->actor_id);
	}
	if (q->actions && !(skip & SKIP_ACTION)) {
		col(c, sizeof c, e, "action");
		add(b, " AND ");
		add(b, c);
		in_list(b, q->actions, action_name, 4);
	}
	if (!(skip & SKIP_TIME)) {
		if (q->has_since)
			cmp(b, time_col, " >= ?", q->since);
		if (q->has_until)
			cmp(b, time_col, " < ?", q->until);
	}
	if (q->event_name) {
		col(c, sizeof c, e, "event_name");
		eq(b, c, q->event_name);
	}
	if (q->trace_id && !(skip & SKIP_TRACE)) {
		col(c, sizeof c, e, "trace_id");
		add(b, " AND ");
		add(b, c);
		add(b, " = " SQL_TRACE_ARG);
		param(b, DB_TEXT(q->trace_id));
	}
	if (q->flags && !(skip & SKIP_FLAG)) {
		col(c, sizeof c, e, "event_id");
		add(b, " AND EXISTS (SELECT 1 FROM data_event_flags f WHERE f.event_id = ");
		add(b, c);
		add(b, " AND f.flag");
		in_list(b, q->flags, flag_kind, PLAN_FLAG_KINDS);
		add(b, ")");
	}
}

/* The keyset condition: rows strictly after the cursor in the page's
 * order, on the columns v (NULL: time order), t, id. */
static void keyset(struct build *b, const struct plan_query *q, const char *v, const char *t,
                   const char *id)
{
	if (!q->has_after)
		return;
	const char *op = q->ascending ? " > ?" : " < ?";
	char s[512];
	add(b, " AND (");
	if (v) {
		snprintf(s, sizeof s, "%s%s OR (%s = ? AND (", v, op, v);
		add(b, s);
		param(b, DB_INT(q->after.version));
		param(b, DB_INT(q->after.version));
	}
	snprintf(s, sizeof s, "%s%s OR (%s = ? AND %s%s" SQL_ID_ARG ")", t, op, t, id,
	         q->ascending ? " > " : " < ");
	add(b, s);
	param(b, DB_INT(q->after.timestamp));
	param(b, DB_INT(q->after.timestamp));
	param(b, DB_TEXT(q->after.id));
	if (v)
		add(b, "))");
	add(b, ")");
}

/* " ORDER BY a D, b D, c D" for the columns given (NULL ends). */
static void order(struct build *b, const struct plan_query *q, const char *const *cols)
{
	add(b, " ORDER BY ");
	for (size_t i = 0; cols[i]; i++) {
		if (i)
			add(b, ", ");
		add(b, cols[i]);
		add(b, q->ascending ? " ASC" : " DESC");
	}
}

static void limit(struct build *b, const struct plan_query *q)
{
	add(b, " LIMIT ?");
	param(b, DB_INT((long long)q->limit + 1));
}

/* Which events of a target's history one index range reads. With a time
 * window the history is read in two ranges, merged: the versioned events
 * (version > 0, or the versions whose spans meet the window, where time
 * is only the second column, so the window is checked on each row) and the
 * unversioned ones (version 0, where the window is a range of the index
 * itself). */
enum part { PART_ALL, PART_VERSIONED, PART_UNVERSIONED };

/* Whether any of part lies after the cursor: unversioned events come last
 * newest first, first oldest first. */
static bool part_wanted(const struct plan_query *q, enum part part)
{
	if (!q->has_after || part == PART_ALL)
		return true;
	if (part == PART_VERSIONED)
		return q->ascending || q->after.version > 0;
	return !q->ascending || q->after.version == 0;
}

/* The part's version condition and keyset on the columns v, t, id. */
static void part_keyset(struct build *b, const struct plan_query *q, enum part part,
                        const char *v, const char *t, const char *id)
{
	char s[96];
	if (part == PART_VERSIONED && q->has_versions) { /* empty when min > max */
		snprintf(s, sizeof s, " AND %s BETWEEN ? AND ?", v);
		add(b, s);
		param(b, DB_INT(q->version_min > 1 ? q->version_min : 1));
		param(b, DB_INT(q->version_max));
	} else if (part != PART_ALL) {
		snprintf(s, sizeof s, " AND %s %s 0", v, part == PART_VERSIONED ? ">" : "=");
		add(b, s);
	}
	if (part == PART_ALL || (part == PART_VERSIONED && q->after.version > 0))
		keyset(b, q, v, t, id);
	else if (part == PART_UNVERSIONED && q->after.version == 0)
		keyset(b, q, NULL, t, id);
}

/* The keys of the page (kv, kt, kid) from one range of a target's events. */
static void inner_target(struct build *b, const struct plan_query *q, enum part part)
{
	add(b, "SELECT target_version AS kv, occurred_at AS kt, event_id AS kid FROM data_events "
	       "FORCE INDEX (data_events_target) WHERE target_type = ? AND target_id = ?");
	param(b, DB_TEXT(q->target_type));
	param(b, DB_TEXT(q->target_id));
	residuals(b, q, "data_events", "occurred_at", 0);
	part_keyset(b, q, part, "target_version", "occurred_at", "event_id");
	static const char *const cols[] = {"target_version", "occurred_at", "event_id", NULL};
	order(b, q, cols);
	limit(b, q);
}

/* A field's changes, by target (version order) or by actor (time order). */
static void inner_field(struct build *b, const struct plan_query *q, bool by_target,
                        enum part part)
{
	/* The event row is needed only for what the change row does not copy. */
	bool join = q->actions || q->event_name || q->flags || q->trace_id;
	add(b, by_target ? "SELECT c.target_version AS kv, " : "SELECT 0 AS kv, ");
	add(b, "c.occurred_at AS kt, c.event_id AS kid, c.field AS kf FROM data_event_changes c");
	add(b, by_target ? " FORCE INDEX (data_event_changes_field)"
	                 : " FORCE INDEX (data_event_changes_actor)");
	if (join)
		add(b, " JOIN data_events e ON e.event_id = c.event_id");
	if (by_target) {
		add(b, " WHERE c.target_type = ? AND c.target_id = ?");
		param(b, DB_TEXT(q->target_type));
		param(b, DB_TEXT(q->target_id));
	} else {
		add(b, " WHERE c.actor_type = ? AND c.actor_id = ?");
		param(b, DB_TEXT(q->actor_type));
		param(b, DB_TEXT(q->actor_id));
	}
	eq(b, "c.field", q->field);
	if (by_target && q->actor_type) {
		eq(b, "c.actor_type", q->actor_type);
		eq(b, "c.actor_id", q->actor_id);
	}
	residuals(b, q, join ? "e" : "c", "c.occurred_at", SKIP_ACTOR);
	if (by_target)
		part_keyset(b, q, part, "c.target_version", "c.occurred_at", "c.event_id");
	else
		keyset(b, q, NULL, "c.occurred_at", "c.event_id");
	static const char *const vcols[] = {"c.target_version", "c.occurred_at", "c.event_id",
	                                    NULL};
	order(b, q, by_target ? vcols : vcols + 1);
	limit(b, q);
}

/* A target's history (its events, or with a field its changes of that
 * field): one range, or with a time window the wanted parts merged. */
static void inner_history(struct build *b, const struct plan_query *q)
{
	bool by_field = q->field != NULL;
	if (!q->has_since && !q->has_until) {
		if (by_field)
			inner_field(b, q, true, PART_ALL);
		else
			inner_target(b, q, PART_ALL);
		return;
	}
	static const char *const kcols[] = {"kv", "kt", "kid", NULL};
	add(b, by_field ? "SELECT kv, kt, kid, kf FROM (" : "SELECT kv, kt, kid FROM (");
	bool first = true;
	for (enum part part = PART_VERSIONED; part <= PART_UNVERSIONED; part++) {
		if (!part_wanted(q, part))
			continue;
		add(b, first ? "(" : " UNION ALL (");
		first = false;
		if (by_field)
			inner_field(b, q, true, part);
		else
			inner_target(b, q, part);
		add(b, ")");
	}
	add(b, ") u");
	order(b, q, kcols);
	limit(b, q);
}

/* An actor's events: one range of data_events_actor per action, merged. */
static void inner_actor(struct build *b, const struct plan_query *q)
{
	static const char *const cols[] = {"occurred_at", "event_id", NULL};
	static const char *const kcols[] = {"kt", "kid", NULL};
	bool first = true;
	add(b, "SELECT kv, kt, kid FROM (");
	for (int a = 0; a < 4; a++) {
		if (q->actions && !(q->actions & (1u << a)))
			continue;
		add(b, first ? "(" : " UNION ALL (");
		first = false;
		add(b, "SELECT 0 AS kv, occurred_at AS kt, event_id AS kid FROM data_events "
		       "FORCE INDEX (data_events_actor) "
		       "WHERE actor_type = ? AND actor_id = ? AND action = ?");
		param(b, DB_TEXT(q->actor_type));
		param(b, DB_TEXT(q->actor_id));
		param(b, DB_TEXT(action_name((unsigned)a)));
		residuals(b, q, "data_events", "occurred_at", SKIP_ACTOR | SKIP_ACTION);
		keyset(b, q, NULL, "occurred_at", "event_id");
		order(b, q, cols);
		limit(b, q);
		add(b, ")");
	}
	add(b, ") u");
	order(b, q, kcols);
	limit(b, q);
}

/* Flagged events: one range of data_event_flags_time per kind, merged
 * (an event flagged twice is one event). */
static void inner_flags(struct build *b, const struct plan_query *q)
{
	static const char *const cols[] = {"f.occurred_at", "f.event_id", NULL};
	static const char *const kcols[] = {"kt", "kid", NULL};
	bool join = q->actor_type || q->actions || q->event_name || q->trace_id;
	bool first = true;
	add(b, "SELECT kv, kt, kid FROM (");
	for (int k = 0; k < PLAN_FLAG_KINDS; k++) {
		if (!(q->flags & (1u << k)))
			continue;
		add(b, first ? "(" : " UNION (");
		first = false;
		add(b, "SELECT 0 AS kv, f.occurred_at AS kt, f.event_id AS kid FROM "
		       "data_event_flags f "
		       "FORCE INDEX (data_event_flags_time)");
		if (join)
			add(b, " JOIN data_events e ON e.event_id = f.event_id");
		add(b, " WHERE f.flag = ?");
		param(b, DB_TEXT(flag_kind((unsigned)k)));
		if (join)
			residuals(b, q, "e", "f.occurred_at", SKIP_FLAG);
		else
			residuals(b, q, "f", "f.occurred_at", SKIP_FLAG);
		keyset(b, q, NULL, "f.occurred_at", "f.event_id");
		add(b, " GROUP BY f.occurred_at, f.event_id"); /* two drift flags, one event */
		order(b, q, cols);
		limit(b, q);
		add(b, ")");
	}
	add(b, ") u");
	order(b, q, kcols);
	limit(b, q);
}

/* One request's events: one range of data_events_trace; with a field,
 * those that changed it (its change row found by primary key). */
static void inner_trace(struct build *b, const struct plan_query *q)
{
	static const char *const cols[] = {"e.occurred_at", "e.event_id", NULL};
	add(b, q->field ? "SELECT 0 AS kv, e.occurred_at AS kt, e.event_id AS kid, c.field AS kf"
	                : "SELECT 0 AS kv, e.occurred_at AS kt, e.event_id AS kid");
	add(b, " FROM data_events e FORCE INDEX (data_events_trace)");
	if (q->field) {
		add(b, " JOIN data_event_changes c ON c.event_id = e.event_id");
		eq(b, "c.field", q->field);
	}
	add(b, " WHERE e.trace_id = " SQL_TRACE_ARG);
	param(b, DB_TEXT(q->trace_id));
	residuals(b, q, "e", "e.occurred_at", SKIP_TRACE);
	keyset(b, q, NULL, "e.occurred_at", "e.event_id");
	order(b, q, cols);
	limit(b, q);
}

int query_plan(const struct plan_query *q, struct plan *out, const char **why,
               const char **param_name)
{
	memset(out, 0, sizeof *out);
	*why = NULL;
	*param_name = NULL;
	if (q->field && !q->target_type && !q->actor_type && !q->trace_id) {
		*why = "filter[field] needs filter[target], filter[actor] or filter[traceId]: no "
		       "index holds one field's changes across every object";
		*param_name = "filter[field]";
		return PLAN_NO_INDEX;
	}
	if (!q->target_type && !q->actor_type && !q->flags && !q->trace_id) {
		*why = "Give filter[actor], filter[target], filter[traceId] or filter[flag]: each "
		       "is served by an index; filter[action], filter[since], filter[until], "
		       "filter[field] and filter[eventName] narrow them";
		*param_name = q->actions      ? "filter[action]"
		              : q->has_since  ? "filter[since]"
		              : q->has_until  ? "filter[until]"
		              : q->event_name ? "filter[eventName]"
		                              : "filter[actor]";
		return PLAN_NO_INDEX;
	}
	struct build b = {0};
	bool by_field = q->field != NULL;
	add(&b, "SELECT " SQL_ID("e.event_id") ", e.action, e.occurred_at, e.actor_type, e.actor_id, "
	        "e.target_type, e.target_id, e.event_name, c.field, v.prev_value, v.next_value, "
	        "e.log_id, e.seq, v.field, e.target_version, " SQL_TRACE("e.trace_id") " FROM (");
	if (q->target_type) {
		inner_history(&b, q);
		out->index = by_field ? "data_event_changes_field" : "data_events_target";
		out->by_version = true;
	} else if (q->actor_type && by_field) {
		inner_field(&b, q, false, PART_ALL);
		out->index = "data_event_changes_actor";
	} else if (q->trace_id) { /* a request's few events: narrower than any other range */
		inner_trace(&b, q);
		out->index = "data_events_trace";
	} else if (q->flags) { /* flags are rare: their index, not the actor's range */
		inner_flags(&b, q);
		out->index = "data_event_flags_time";
	} else {
		inner_actor(&b, q);
		out->index = "data_events_actor";
	}
	add(&b, ") k JOIN data_events e ON e.event_id = k.kid "
	        "LEFT JOIN data_event_changes c ON c.event_id = e.event_id");
	if (by_field)
		add(&b, " AND c.field = k.kf");
	add(&b, " LEFT JOIN data_event_values v ON v.event_id = c.event_id AND v.field = c.field");
	static const char *const outer[] = {"k.kv", "k.kt", "k.kid", NULL};
	if (!q->unordered) {
		order(&b, q, outer);
		add(&b, ", c.field");
	}
	if (b.failed) {
		free(b.sql);
		free(b.params);
		return PLAN_ENOMEM;
	}
	out->sql = b.sql;
	out->params = b.params;
	out->n = b.n;
	return PLAN_OK;
}

void plan_free(struct plan *p)
{
	free(p->sql);
	free(p->params);
	p->sql = NULL;
	p->params = NULL;
	p->n = 0;
}
