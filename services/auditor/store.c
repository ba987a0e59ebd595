/* The audit log's SQL: idempotent batched inserts and keyset-paginated
 * reads over the actor and target indexes. */
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

/* The page is read in one statement: the events (limit + 1, to learn
 * whether another page follows) joined with their changes. */
#define PAGE_SQL(where)                                                                      \
	"SELECT e.event_id, e.action, e.occurred_at, e.actor_type, e.actor_id, e.target_type, "  \
	"e.target_id, e.event_name, c.field, c.prev_value, c.next_value FROM ("                  \
	"SELECT event_id, action, occurred_at, actor_type, actor_id, target_type, target_id, "   \
	"event_name FROM data_events WHERE " where                                               \
	" AND (occurred_at < ? OR (occurred_at = ? AND event_id < ?)) "                          \
	"ORDER BY occurred_at DESC, event_id DESC LIMIT ?) e "                                   \
	"LEFT JOIN data_event_changes c ON c.event_id = e.event_id "                             \
	"ORDER BY e.occurred_at DESC, e.event_id DESC, c.field"

static const char sql_by_actor[] = PAGE_SQL("actor_type = ? AND actor_id = ?");
static const char sql_by_target[] = PAGE_SQL("target_type = ? AND target_id = ?");
static const char sql_by_both[] =
    PAGE_SQL("target_type = ? AND target_id = ? AND actor_type = ? AND actor_id = ?");

struct page_ctx {
	struct store_page *page;
	unsigned limit;
	size_t events;
	json_t *current; /* attributes of the event being assembled */
	char current_id[UUID_STR_LEN + 1];
};

static json_t *parse_json_text(const char *s, size_t len)
{
	json_t *v = s ? json_loadb(s, len, JSON_DECODE_ANY, NULL) : NULL;
	return v ? v : json_null();
}

static int page_row(void *arg, const struct db_row *row)
{
	struct page_ctx *p = arg;
	const char *const *v = row->val;
	if (strcmp(p->current_id, v[0])) {
		if (++p->events > p->limit) {
			p->page->more = true;
			return 1; /* the extra event only says that more follow */
		}
		snprintf(p->current_id, sizeof p->current_id, "%s", v[0]);
		int64_t ts = strtoll(v[2], NULL, 10);
		json_t *attrs = json_pack(
		    "{s:s, s:I, s:s%, s:s%, s:s%, s:s%, s:o}", "action", v[1], "timestamp",
		    (json_int_t)ts, "actorType", v[3], (size_t)row->len[3], "actorId", v[4],
		    (size_t)row->len[4], "targetType", v[5], (size_t)row->len[5], "targetId", v[6],
		    (size_t)row->len[6], "eventName", v[7] ? json_stringn(v[7], row->len[7]) : json_null());
		if (!attrs)
			return DB_ERR;
		/* jsonapi_resource steals attrs even when it fails, so attrs may be
		 * used only once the page holds the resource. An event that cannot
		 * be built fails the page: it is never left out silently. */
		json_t *r = jsonapi_resource("data-events", v[0], attrs);
		if (!r || json_array_append_new(p->page->data, r))
			return DB_ERR;
		p->current = attrs; /* borrowed: the page owns it */
		p->page->last_timestamp = ts;
		snprintf(p->page->last_id, sizeof p->page->last_id, "%s", v[0]);
	}
	if (v[8]) {
		json_t *changes = json_object_get(p->current, "changes");
		if (!changes && json_object_set_new(p->current, "changes", changes = json_object()))
			return DB_ERR;
		json_t *change = json_pack("{s:o, s:o}", "prev", parse_json_text(v[9], row->len[9]),
		                           "next", parse_json_text(v[10], row->len[10]));
		if (!change || json_object_set_new(changes, v[8], change))
			return DB_ERR;
	}
	return 0;
}

int store_query_events(struct db *db, const struct store_query *q, struct store_page *page)
{
	memset(page, 0, sizeof *page);
	if (!(page->data = json_array()))
		return DB_ERR;
	struct db_value v[8];
	size_t n = 0;
	const char *sql;
	if (q->target_type) {
		v[n++] = DB_TEXT(q->target_type);
		v[n++] = DB_TEXT(q->target_id);
	}
	if (q->actor_type) {
		v[n++] = DB_TEXT(q->actor_type);
		v[n++] = DB_TEXT(q->actor_id);
	}
	sql = q->target_type ? (q->actor_type ? sql_by_both : sql_by_target) : sql_by_actor;
	v[n++] = DB_INT(q->after_timestamp);
	v[n++] = DB_INT(q->after_timestamp);
	v[n++] = DB_TEXT(q->after_id);
	v[n++] = DB_INT((long long)q->limit + 1);
	struct page_ctx p = {.page = page, .limit = q->limit};
	int st = db_query(db, sql, v, n, page_row, &p);
	if (st < 0) {
		json_decref(page->data);
		page->data = NULL;
		return st;
	}
	return DB_OK;
}
