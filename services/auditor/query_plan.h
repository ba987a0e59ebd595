/* query_plan: which index answers a query of the audit log, and the one
 * statement that reads a page of it through that index.
 *
 * A query names events by actor, target, field, action, time, eventName
 * and flag (README "Filters"). Each combination the README documents is
 * answered through one index whose columns end in the page's order, read
 * by keyset from the cursor:
 *
 *   target [+ anything but field]   data_events_target (target, version, time, id)
 *   target + field [+ ...]          data_event_changes_field (target, field, version, time, id)
 *                                   with since or until, both in two ranges, merged: the
 *                                   versioned events, within the versions whose spans meet
 *                                   the window (the window checked on each row), and the
 *                                   unversioned ones (version 0, the window in the range)
 *   actor [+ action, time, name, flag]
 *                                   data_events_actor (actor, action, time, id), one range
 *                                   per action asked (all four when none), merged
 *   actor + field [+ ...]           data_event_changes_actor (actor, field, time, id)
 *   trace [+ action, time, name, actor, flag, field]
 *                                   data_events_trace (trace, time, id): the events of one
 *                                   request's W3C trace, a handful (with a field, each
 *                                   one's change of it by primary key)
 *   flag [+ action, time, name, actor]
 *                                   data_event_flags_time (flag, time, id), one range per
 *                                   kind asked, merged
 *
 * The other filters are checked on each row the index range gives. A
 * target's history is in (version, time, id) order, anything else in
 * (time, id) order, newest first unless ascending. A query with none of
 * actor, target, trace and flag, or with a field but none of actor,
 * target and trace, has no index: query_plan refuses it, saying which
 * filter to add.
 *
 * Pure: it builds text and parameters, and runs nothing. */
#ifndef AUDITLOG_QUERY_PLAN_H
#define AUDITLOG_QUERY_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cursor.h"
#include "db.h"
#include "event.h"

/* The checker's flag kinds, as filter[flag] names them, in the order of
 * enum check_flag (checker.h): the one table of their names. */
#define PLAN_FLAG_KINDS 5
extern const char *const plan_flag_names[PLAN_FLAG_KINDS];
/* The same as words, for error details. */
#define PLAN_FLAG_RULE "gap, late, duplicate-version, drift, after-delete"

struct plan_query {
	const char *actor_type, *actor_id;   /* both or neither */
	const char *target_type, *target_id; /* both or neither */
	const char *field;                   /* or NULL */
	unsigned actions; /* bit (1u << enum event_action) per action asked; 0: any */
	unsigned flags;   /* bit (1u << enum check_flag) per flag kind asked; 0: not asked */
	bool has_since, has_until;
	int64_t since, until;   /* [since, until), ms since the epoch */
	const char *event_name; /* or NULL */
	const char *trace_id;   /* a W3C trace-id (trace_id_valid), or NULL */
	bool ascending;         /* oldest first (sort=time) */
	bool has_after;         /* the page starts after `after` */
	struct cursor_pos after;
	unsigned limit; /* the page's size; the statement reads limit + 1 */
	/* With a target and a window: the versions whose events may lie in it
	 * (store_read.c reads them from data_event_version_spans; every
	 * versioned event of the window has a version in [version_min,
	 * version_max], none when version_min > version_max). Unset
	 * (has_versions false): every version is read, the window checked on
	 * each row. */
	bool has_versions;
	int64_t version_min, version_max;
	/* The statement leaves out its final ORDER BY: a page's rows come in
	 * no promised order, and the caller sorts them (exports, which save
	 * the server a temporary table and a sort of every page's rows). Which
	 * events the page holds is unchanged. */
	bool unordered;
};

/* The statement of a page: its text and its parameters (borrowing the
 * query's strings, which must outlive it). Columns of each row, an event
 * and one of its changes (or none), in page order:
 *   event_id, action, occurred_at, actor_type, actor_id, target_type,
 *   target_id, event_name, field, prev_value, next_value, log_id, seq,
 *   value's field (NULL when erased), target_version, trace_id (32
 *   lowercase hex digits, NULL when the event has none) */
struct plan {
	char *sql;               /* malloc'd */
	struct db_value *params; /* malloc'd, n of them */
	size_t n;
	const char *index; /* the index that answers it (static text) */
	bool by_version;   /* the order is (version, time, id) */
};

enum plan_status { PLAN_OK = 0, PLAN_ENOMEM = -1, PLAN_NO_INDEX = -2 };

/* Builds the page statement of q into out. Returns PLAN_OK (the caller
 * plan_free()s out), PLAN_ENOMEM, or PLAN_NO_INDEX with *why a static
 * sentence naming the filter to add (for a 400) and *param the parameter
 * it concerns. */
int query_plan(const struct plan_query *q, struct plan *out, const char **why, const char **param);
void plan_free(struct plan *p);

#endif
