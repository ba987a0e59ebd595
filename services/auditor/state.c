/* A target's state at an instant, rebuilt from its events alone: see
 * store_state_at in auditor.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditor.h"
#include "sql_id.h"

/* The mutation that made the state at an instant: of those stamped at or
 * before it, the last in the history's order (version, time, id). Clocks
 * may disagree with versions (two producers, one millisecond), but only by
 * so much: it is looked for among those stamped from STATE_SKEW_MS before
 * the latest one stamped at or before the instant (sql_producer) up to the
 * instant (a range of data_event_mutations_time, sorted by version). So
 * its cost is the mutations of that window, whatever the history's length,
 * and a higher version stamped more than STATE_SKEW_MS before a lower one
 * is not seen. Events without a version come first in the history's
 * order: when the latest one stamped is such, the window is anchored at
 * the latest versioned one stamped at or before the instant instead
 * (sql_versioned, which steps back over the unversioned ones), if any. */
#define STATE_SKEW_MS 10000
static const char sql_window[] =
    "SELECT " SQL_ID("event_id") ", action, target_version, occurred_at FROM data_event_mutations "
    "FORCE INDEX (data_event_mutations_time) "
    "WHERE target_type = ? AND target_id = ? AND occurred_at <= ? AND occurred_at >= ? "
    "ORDER BY target_version DESC, occurred_at DESC, event_id DESC LIMIT 1";
static const char sql_producer[] =
    "SELECT " SQL_ID("event_id") ", action, target_version, occurred_at FROM data_event_mutations "
    "FORCE INDEX (data_event_mutations_time) "
    "WHERE target_type = ? AND target_id = ? AND occurred_at <= ? "
    "ORDER BY occurred_at DESC, event_id DESC LIMIT 1";
static const char sql_versioned[] =
    "SELECT " SQL_ID("event_id") ", action, target_version, occurred_at FROM data_event_mutations "
    "FORCE INDEX (data_event_mutations_time) "
    "WHERE target_type = ? AND target_id = ? AND occurred_at <= ? AND target_version > 0 "
    "ORDER BY occurred_at DESC, event_id DESC LIMIT 1";
/* The first mutation of the target in the history's order, when none was
 * stamped before the instant (one seek of data_event_mutations_version). */
static const char sql_first[] =
    "SELECT " SQL_ID("event_id") ", action, target_version, occurred_at FROM data_event_mutations "
    "WHERE target_type = ? AND target_id = ? "
    "ORDER BY target_version, occurred_at, event_id LIMIT 1";
/* The fields the target's events ever changed, one at a time: the next
 * field name after the last, one seek of data_event_changes_field each
 * (a DISTINCT over the target reads every change of a long history). */
static const char sql_next_field[] =
    "SELECT MIN(field) FROM data_event_changes WHERE target_type = ? AND target_id = ? "
    "AND field > ?";
/* The most fields a state holds: more is refused as an error. */
#define STATE_FIELDS_MAX 1024
/* A field's value after the producing event: its latest change at or
 * before it in the history's order (version, time, id), and the value
 * (none when erased). */
static const char sql_value[] =
    "SELECT " SQL_ID("c.event_id") ", v.next_value, v.field FROM data_event_changes c "
    "LEFT JOIN data_event_values v ON v.event_id = c.event_id AND v.field = c.field "
    "WHERE c.target_type = ? AND c.target_id = ? AND c.field = ? AND (c.target_version < ? "
    "OR (c.target_version = ? AND (c.occurred_at < ? OR (c.occurred_at = ? AND "
    "c.event_id <= " SQL_ID_ARG ")))) "
    "ORDER BY c.target_version DESC, c.occurred_at DESC, c.event_id DESC LIMIT 1";

struct mutation {
	bool found;
	char id[UUID_STR_LEN + 1];
	char action[8];
	int64_t version, timestamp;
};

static int mutation_row(void *arg, const struct db_row *row)
{
	struct mutation *m = arg;
	m->found = true;
	snprintf(m->id, sizeof m->id, "%s", row->val[0]);
	snprintf(m->action, sizeof m->action, "%s", row->val[1]);
	m->version = strtoll(row->val[2], NULL, 10);
	m->timestamp = strtoll(row->val[3], NULL, 10);
	return 0;
}

struct fields {
	char (*name)[EVENT_FIELD_MAX + 1];
	size_t n, cap;
	bool reserved; /* the last one found is a recorded read's (event.h) */
};

static int field_row(void *arg, const struct db_row *row)
{
	struct fields *f = arg;
	if (!row->val[0])
		return 1; /* no field after the last */
	/* A recorded read's parameters are no field of the object read. */
	f->reserved = !strncmp(row->val[0], EVENT_RESERVED_FIELD_PREFIX,
	                       strlen(EVENT_RESERVED_FIELD_PREFIX));
	if (f->reserved)
		return 0;
	if (f->n == STATE_FIELDS_MAX)
		return DB_ERR;
	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 16;
		void *p = realloc(f->name, cap * sizeof *f->name);
		if (!p)
			return DB_ERR;
		f->name = p;
		f->cap = cap;
	}
	snprintf(f->name[f->n++], sizeof *f->name, "%s", row->val[0]);
	return 0;
}

struct value {
	struct state_answer *out;
	const char *field;
};

static int value_row(void *arg, const struct db_row *row)
{
	struct value *v = arg;
	if (!row->val[2]) /* erased: the commitment is all the log keeps */
		return json_array_append_new(v->out->erased, json_string(v->field)) ? DB_ERR : 0;
	json_t *value = json_loadb(row->val[1], row->len[1], JSON_DECODE_ANY, NULL);
	if (!value || json_object_set_new(v->out->attributes, v->field, value))
		return DB_ERR;
	return 0;
}

void state_answer_clear(struct state_answer *a)
{
	json_decref(a->attributes);
	json_decref(a->erased);
	a->attributes = a->erased = NULL;
}

int store_state_at(struct db *db, const char *type, const char *id, int64_t at,
                   struct state_answer *out)
{
	memset(out, 0, sizeof *out);
	struct mutation m = {0};
	struct db_value key[4] = {DB_TEXT(type), DB_TEXT(id), DB_INT(at)};
	int st = db_query(db, sql_producer, key, 3, mutation_row, &m);
	if (!st && m.found && m.version == 0) { /* a versioned one would come after it */
		struct mutation v = {0};
		st = db_query(db, sql_versioned, key, 3, mutation_row, &v);
		if (!st && v.found)
			m = v;
	}
	if (!st && m.found) { /* the window ends at the instant: m is in it */
		key[3] = DB_INT(m.timestamp - STATE_SKEW_MS);
		st = db_query(db, sql_window, key, 4, mutation_row, &m);
	}
	if (st)
		return st;
	if (!m.found || !strcmp(m.action, "deleted")) {
		/* It did not exist then: say when it did, if ever. */
		if (m.found) {
			out->ever = true;
			out->deleted_at = m.timestamp;
			out->version = m.version;
			snprintf(out->event_id, sizeof out->event_id, "%s", m.id);
			return DB_OK;
		}
		if ((st = db_query(db, sql_first, key, 2, mutation_row, &m)))
			return st;
		out->ever = m.found;
		out->created_at = m.found ? m.timestamp : 0;
		if (m.found) {
			out->version = m.version;
			snprintf(out->event_id, sizeof out->event_id, "%s", m.id);
			snprintf(out->action, sizeof out->action, "%s", m.action);
		}
		return DB_OK;
	}
	out->found = out->ever = true;
	out->version = m.version;
	out->timestamp = m.timestamp;
	snprintf(out->event_id, sizeof out->event_id, "%s", m.id);
	snprintf(out->action, sizeof out->action, "%s", m.action);
	out->attributes = json_object();
	out->erased = json_array();
	struct fields f = {0};
	if (!out->attributes || !out->erased)
		st = DB_ERR;
	/* Every field, in name order: the next after the last until none. The
	 * names a recorded read's changes use are skipped in one seek: "~"
	 * sorts after every character a field name may hold. */
	for (size_t had = (size_t)-1; !st && (f.n != had || f.reserved);) {
		had = f.n;
		bool skip = f.reserved;
		f.reserved = false;
		struct db_value next[3] = {
		    DB_TEXT(type), DB_TEXT(id),
		    DB_TEXT(skip ? EVENT_RESERVED_FIELD_PREFIX "~" : f.n ? f.name[f.n - 1] : "")};
		st = db_query(db, sql_next_field, next, 3, field_row, &f);
		if (st > 0)
			st = DB_OK;
	}
	for (size_t i = 0; !st && i < f.n; i++) {
		struct db_value v[8] = {DB_TEXT(type),       DB_TEXT(id),       DB_TEXT(f.name[i]),
		                        DB_INT(m.version),   DB_INT(m.version), DB_INT(m.timestamp),
		                        DB_INT(m.timestamp), DB_TEXT(m.id)};
		struct value ctx = {out, f.name[i]};
		st = db_query(db, sql_value, v, 8, value_row, &ctx);
	}
	free(f.name);
	if (st)
		state_answer_clear(out);
	return st;
}
