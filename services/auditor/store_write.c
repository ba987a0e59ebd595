/* The audit log write side: idempotent batched inserts, each event given
 * its position in the log of record (ledger.c) inside the transaction. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditor.h"
#include "log.h"

/* Batches go in as multi-row statements of 1, 2, 4, ... ROWS_MAX rows,
 * so a few prepared statements serve every batch size. */
#define ROWS_LOG2_MAX 9
#define ROWS_MAX (1u << ROWS_LOG2_MAX)

static char *events_sql[ROWS_LOG2_MAX + 1], *changes_sql[ROWS_LOG2_MAX + 1];
static pthread_once_t sql_once = PTHREAD_ONCE_INIT;

static char *repeat_rows(const char *head, const char *row, const char *tail, size_t rows)
{
	size_t hl = strlen(head), rl = strlen(row), tl = strlen(tail);
	char *sql = malloc(hl + rows * (rl + 1) + tl + 1), *p = sql;
	if (!sql)
		return NULL;
	memcpy(p, head, hl);
	p += hl;
	for (size_t i = 0; i < rows; i++) {
		if (i)
			*p++ = ',';
		memcpy(p, row, rl);
		p += rl;
	}
	memcpy(p, tail, tl + 1);
	return sql;
}

static char *exists_sql[ROWS_LOG2_MAX + 1];

/* Built once and kept for the life of the process. Plain INSERTs: the
 * store's database user holds INSERT and SELECT only (the log is
 * append-only even to its writer), so duplicates are found first and left
 * out, and any error, a racing duplicate included, fails the batch. */
static void build_sql(void)
{
	for (unsigned k = 0; k <= ROWS_LOG2_MAX; k++) {
		events_sql[k] = repeat_rows("INSERT INTO data_events (event_id, action, occurred_at, "
		                            "actor_type, actor_id, target_type, target_id, "
		                            "event_name) VALUES ",
		                            "(?,?,?,?,?,?,?,?)", "", 1u << k);
		changes_sql[k] = repeat_rows("INSERT INTO data_event_changes (event_id, field, "
		                             "prev_value, next_value) VALUES ",
		                             "(?,?,?,?)", "", 1u << k);
		exists_sql[k] = repeat_rows("SELECT event_id FROM data_events WHERE event_id IN (",
		                            "?", ")", 1u << k);
	}
}

/* The largest statement size not over rows. */
static unsigned chunk_log2(size_t rows)
{
	unsigned k = ROWS_LOG2_MAX;
	while ((1u << k) > rows)
		k--;
	return k;
}

/* Runs the rows of v (width values each) through the multi-row
 * statements. */
static int insert_rows(struct db *db, char *const *sql, const struct db_value *v, size_t rows,
                       size_t width)
{
	while (rows) {
		unsigned k = chunk_log2(rows);
		if (!sql[k])
			return DB_ERR;
		int st = db_exec(db, sql[k], v, (size_t)width << k, NULL, NULL);
		if (st)
			return st == DB_ERR_DUPLICATE ? DB_ERR_RETRY : st; /* raced: look again */
		v += (size_t)width << k;
		rows -= 1u << k;
	}
	return DB_OK;
}

struct batch_tx {
	const struct event *events;
	size_t n;
	uint64_t stored;
	struct db_value *values; /* 8 per event, then 4 per change */
	size_t *first_change;    /* per event: index of its first change row */
	char **texts;            /* JSON of prev and next values, to free */
	size_t ntexts, nchanges;
	const char **known;      /* ids already stored (sorted) */
	size_t nknown;
	bool *repeat;            /* per event: an earlier event of the batch has its id */
	struct db_value *keep;   /* the rows to insert this attempt */
};

static int cmp_id(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_id_then_place(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	int c = strcmp(x, y);
	return c ? c : (x > y) - (x < y);
}

static int known_row(void *ctx, const struct db_row *row)
{
	struct batch_tx *t = ctx;
	/* Point at the batch's own copy of the id, which outlives the row. */
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->events[i].id, row->val[0])) {
			t->known[t->nknown++] = t->events[i].id;
			break;
		}
	return 0;
}

/* Fills t->known with the batch's ids that are already stored. */
static int find_known(struct db *db, struct batch_tx *t)
{
	struct db_value ids[ROWS_MAX];
	t->nknown = 0;
	for (size_t done = 0; done < t->n;) {
		size_t left = t->n - done;
		unsigned k = chunk_log2(left < ROWS_MAX ? left : ROWS_MAX);
		size_t rows = 1u << k;
		for (size_t i = 0; i < rows; i++)
			ids[i] = DB_TEXT(t->events[done + i].id);
		int st = exists_sql[k] ? db_query(db, exists_sql[k], ids, rows, known_row, t) : DB_ERR;
		if (st)
			return st;
		done += rows;
	}
	qsort(t->known, t->nknown, sizeof *t->known, cmp_id);
	return DB_OK;
}

static bool is_known(const struct batch_tx *t, const char *id)
{
	return bsearch(&id, t->known, t->nknown, sizeof *t->known, cmp_id) != NULL;
}

static int insert_in_tx(struct db *db, void *arg)
{
	struct batch_tx *t = arg;
	t->stored = 0;
	int st = find_known(db, t);
	if (st)
		return st;
	/* New events, each once (a batch may hold a re-sent event twice). */
	struct db_value *ev = t->keep, *ch = t->keep + 8 * t->n;
	size_t nev = 0, nch = 0;
	for (size_t i = 0; i < t->n; i++) {
		if (t->repeat[i] || is_known(t, t->events[i].id))
			continue;
		memcpy(ev + 8 * nev++, t->values + 8 * i, 8 * sizeof *ev);
		size_t end = i + 1 < t->n ? t->first_change[i + 1] : t->nchanges;
		for (size_t c = t->first_change[i]; c < end; c++)
			memcpy(ch + 4 * nch++, t->values + 8 * t->n + 4 * c, 4 * sizeof *ch);
	}
	if ((st = insert_rows(db, events_sql, ev, nev, 8)))
		return st;
	if ((st = insert_rows(db, changes_sql, ch, nch, 4)))
		return st;
	t->stored = nev;
	return DB_OK;
}

/* Lays out the statement parameters of the batch. */
static int bind_batch(struct batch_tx *t)
{
	size_t nchanges = 0;
	for (size_t i = 0; i < t->n; i++)
		nchanges += t->events[i].changes ? json_object_size(t->events[i].changes) : 0;
	t->values = malloc((8 * t->n + 4 * nchanges) * sizeof *t->values);
	t->keep = malloc((8 * t->n + 4 * nchanges) * sizeof *t->keep);
	t->first_change = malloc(t->n * sizeof *t->first_change);
	t->known = malloc(t->n * sizeof *t->known);
	t->repeat = calloc(t->n, sizeof *t->repeat);
	t->ntexts = 2 * nchanges;
	t->texts = calloc(t->ntexts + 1, sizeof *t->texts);
	if (!t->values || !t->keep || !t->first_change || !t->known || !t->repeat || !t->texts)
		return DB_ERR;
	/* Repeats within the batch: sort the ids (their addresses tell the order
	 * in the batch apart) and mark all but the first of each run. */
	for (size_t i = 0; i < t->n; i++)
		t->known[i] = t->events[i].id;
	qsort(t->known, t->n, sizeof *t->known, cmp_id_then_place);
	for (size_t i = 1; i < t->n; i++)
		if (!strcmp(t->known[i - 1], t->known[i]))
			t->repeat[((const char *)t->known[i] - t->events[0].id) / sizeof *t->events] = true;
	struct db_value *v = t->values;
	for (size_t i = 0; i < t->n; i++) {
		const struct event *ev = &t->events[i];
		*v++ = DB_TEXT(ev->id);
		*v++ = DB_TEXT(event_action_name(ev->action));
		*v++ = DB_INT(ev->timestamp);
		*v++ = DB_TEXT(ev->actor_type);
		*v++ = DB_TEXT(ev->actor_id);
		*v++ = DB_TEXT(ev->target_type);
		*v++ = DB_TEXT(ev->target_id);
		*v++ = ev->event_name[0] ? DB_TEXT(ev->event_name) : DB_NULL_VALUE;
	}
	for (size_t i = 0; i < t->n; i++) {
		t->first_change[i] = t->nchanges;
		const char *field;
		json_t *change;
		json_object_foreach(t->events[i].changes, field, change)
		{
			char **prev = &t->texts[2 * t->nchanges], **next = prev + 1;
			*prev = json_dumps(json_object_get(change, "prev"), JSON_COMPACT | JSON_ENCODE_ANY);
			*next = json_dumps(json_object_get(change, "next"), JSON_COMPACT | JSON_ENCODE_ANY);
			if (!*prev || !*next)
				return DB_ERR;
			*v++ = DB_TEXT(t->events[i].id);
			*v++ = DB_TEXT(field);
			*v++ = DB_TEXT(*prev);
			*v++ = DB_TEXT(*next);
			t->nchanges++;
		}
	}
	return DB_OK;
}

int store_insert_batch(struct db *db, const struct event *events, size_t n, size_t *stored)
{
	pthread_once(&sql_once, build_sql);
	struct batch_tx t = {.events = events, .n = n};
	int st = bind_batch(&t);
	if (st == DB_OK)
		st = db_run_tx(db, insert_in_tx, &t);
	*stored = st ? 0 : (size_t)t.stored;
	for (size_t i = 0; t.texts && i < t.ntexts; i++)
		free(t.texts[i]);
	free(t.texts);
	free(t.values);
	free(t.keep);
	free(t.first_change);
	free(t.known);
	free(t.repeat);
	return st;
}
