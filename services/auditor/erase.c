/* Erasing values: removes the stored values (and their salts) of one
 * target's events, or of one field of them, and records the erasure as an
 * event of the log first.
 *
 * Three database users take part, each doing only what it may: the writer
 * appends the erasure's own event through the ledger (store_insert_batch),
 * and reads its position back; the eraser, which may DELETE from
 * data_event_values and nothing else, deletes the values. The leaves keep
 * their commitments, so the log verifies as before (docs/ledger.md).
 *
 * Erasures are rare: each opens its own two connections and closes them,
 * leaving the HTTP worker's own (the reader's) as it was. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditor.h"
#include "log.h"
#include "sql_id.h"

/* The values of one target's events, or of one field of them. The eraser
 * reads data_events to find them (SELECT is all it has there). The only
 * viewed events with values are the records of reads (reads.h), whose
 * values are the reads' parameters: who read what stays. */
#define DELETE_SQL                                                                                 \
	"DELETE v FROM data_event_values v JOIN data_events e ON e.event_id = v.event_id "         \
	"WHERE e.target_type = ? AND e.target_id = ? AND e.action <> 'viewed'"
static const char delete_all_sql[] = DELETE_SQL;
static const char delete_field_sql[] = DELETE_SQL " AND v.field = ?";

static const char position_sql[] = "SELECT log_id, seq FROM data_events WHERE event_id = " SQL_ID_ARG;

static int delete_tx(struct db *db, void *arg)
{
	struct erasure *e = arg;
	struct db_value v[3] = {DB_TEXT(e->target_type), DB_TEXT(e->target_id)};
	if (e->field)
		v[2] = DB_TEXT(e->field);
	return db_exec(db, e->field ? delete_field_sql : delete_all_sql, v, e->field ? 3 : 2,
	               &e->values, NULL);
}

/* The primary's GTID position (gtid.h) into e->position: "" without a
 * binary log, and when it is not one (then the client reads the primary). */
static int gtid_row(void *arg, const struct db_row *row)
{
	struct erasure *e = arg;
	struct gtid_pos pos;
	if (row->n == 1 && row->val[0] && !gtid_parse(row->val[0], row->len[0], &pos))
		gtid_format(&pos, e->position);
	return 0;
}

static int position_row(void *arg, const struct db_row *row)
{
	struct erasure *e = arg;
	if (row->n != 2 || !row->val[0] || !row->val[1])
		return DB_ERR;
	e->log = (uint32_t)strtoul(row->val[0], NULL, 10);
	e->seq = strtoull(row->val[1], NULL, 10);
	e->positioned = true;
	return 0;
}

/* The erasure's event: created by the token's user, about erasures:<id>,
 * with what was asked as its changes (each "prev" null). */
static int make_event(const struct erasure *e, struct event *ev)
{
	char target[EVENT_TYPE_MAX + EVENT_REF_MAX + 2];
	snprintf(target, sizeof target, "%s:%s", e->target_type, e->target_id);
	json_t *changes = json_pack("{s:{s:n, s:s}, s:{s:n, s:o}, s:{s:n, s:s}}", "target", "prev",
	                            "next", target, "field", "prev", "next",
	                            e->field ? json_string(e->field) : json_null(), "reason",
	                            "prev", "next", e->reason);
	if (!changes)
		return DB_ERR;
	event_init(ev, EVENT_CREATED, "users", e->actor_id, "erasures", e->id, changes);
	snprintf(ev->event_name, sizeof ev->event_name, "%s", ERASURE_EVENT_NAME);
	if (e->trace_id && trace_id_valid(e->trace_id, strlen(e->trace_id)))
		memcpy(ev->trace_id, e->trace_id, TRACE_ID_HEX_LEN + 1);
	return DB_OK;
}

int erase_values(struct auditor *a, struct erasure *e)
{
	struct db *writer = NULL, *eraser = NULL;
	struct event ev = {0};
	size_t stored = 0;
	e->recorded = e->positioned = false;
	e->values = 0;
	e->position[0] = '\0';
	uuid_v7(e->id);
	/* Both connections first: a database or a user that cannot be reached
	 * fails the erasure before anything is recorded. */
	int st = make_event(e, &ev);
	if (st || (st = db_connect(&a->writer, &writer)) || (st = db_connect(&a->eraser, &eraser)))
		goto out;
	st = store_insert_batch(writer, a->records, &ev, 1, &stored);
	if (st == STORE_LEASE_LOST) /* the next attempt takes the log back */
		st = store_insert_batch(writer, a->records, &ev, 1, &stored);
	if (st)
		goto out;
	if (stored != 1) { /* a fresh id cannot be stored already */
		st = DB_ERR;
		goto out;
	}
	e->recorded = true;
	struct db_value id = DB_TEXT(ev.id);
	if ((st = db_query(writer, position_sql, &id, 1, position_row, e)))
		goto out;
	if (!e->positioned) {
		st = DB_ERR;
		goto out;
	}
	st = db_run_tx(eraser, delete_tx, e);
	/* Where a read of the replica must have got to to see the erasure
	 * (README "Read replica"): read after the COMMIT, so it is within. The
	 * erasure stands without it. */
	if (!st && db_query(eraser, "SELECT @@gtid_binlog_pos", NULL, 0, gtid_row, e))
		e->position[0] = '\0';
out:
	if (st)
		log_error("erasure %s of %s:%s%s%s by users:%s: %s (%s)", e->id, e->target_type,
		          e->target_id, e->field ? " field " : "", e->field ? e->field : "",
		          e->actor_id, db_status_string(st),
		          e->recorded ? "recorded, values not erased" : "not recorded");
	else
		log_info(
		    "erasure %s (log %u seq %llu) of %s:%s%s%s by users:%s: %llu values erased",
		    e->id, (unsigned)e->log, (unsigned long long)e->seq, e->target_type,
		    e->target_id, e->field ? " field " : "", e->field ? e->field : "", e->actor_id,
		    (unsigned long long)e->values);
	event_clear(&ev);
	db_close(writer);
	db_close(eraser);
	return st;
}
