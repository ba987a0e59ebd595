/* Which logs a read covers: see log_set.h. */
#include <stdlib.h>
#include <string.h>

#include "auditor.h"
#include "log_set.h"

void log_set_free(struct log_set *s)
{
	free(s->ids);
	s->ids = NULL;
	s->n = 0;
}

struct ledger *log_set_ledger(struct auditor *a, uint32_t log)
{
	if (log < a->nlogs)
		return a->ledgers[log];
	if (a->records && ledger_log(a->records) == log)
		return a->records;
	return NULL;
}

int log_set_opening(struct http_request *req, uint32_t log)
{
	struct ledger *l = log_set_ledger(http_app(req), log);
	if (l && !ledger_ready(l)) {
		http_reply_error(req, 503, "Service unavailable", "Log %u is still being opened.",
		                 (unsigned)log);
		return -1;
	}
	return 0;
}

static int epoch_row(void *ctx, const struct db_row *row)
{
	*(uint64_t *)ctx = row->val[0] ? strtoull(row->val[0], NULL, 10) : 0;
	return 0;
}

int log_set_held(struct db *db, struct auditor *a, struct ledger *l, bool *held)
{
	uint64_t mine = ledger_epoch(l), newest = 0;
	/* One classic partition: its records share log 0 (main.c), a sign of
	 * the one-auditor deployment, whose writer's view holds even before
	 * its first append since a restart. */
	*held = a->records == a->ledger;
	if (*held || !mine)
		return DB_OK; /* it never wrote the log */
	struct db_value v = DB_INT(ledger_log(l));
	int st = db_query(db, "SELECT MAX(epoch) FROM log_leases WHERE log_id = ?", &v, 1,
	                  epoch_row, &newest);
	if (st)
		return st < 0 ? st : DB_ERR;
	*held = newest == mine;
	return DB_OK;
}

/* Adds log to s unless it is there (s grows by doubling; cap in *cap). */
static int add(struct log_set *s, size_t *cap, uint32_t log)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->ids[i] == log)
			return 0;
	if (s->n == *cap) {
		size_t c = *cap ? 2 * *cap : 16;
		uint32_t *ids = realloc(s->ids, c * sizeof *ids);
		if (!ids)
			return -1;
		s->ids = ids;
		*cap = c;
	}
	s->ids[s->n++] = log;
	return 0;
}

static int by_id(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	return (a > b) - (a < b);
}

struct gather {
	struct log_set *s;
	size_t cap;
};

static int log_row(void *ctx, const struct db_row *row)
{
	struct gather *g = ctx;
	if (row->val[0] && add(g->s, &g->cap, (uint32_t)strtoul(row->val[0], NULL, 10)))
		return DB_ERR;
	return 0;
}

int log_set_all(struct db *db, struct auditor *a, struct log_set *out)
{
	*out = (struct log_set){0};
	struct gather g = {.s = out};
	/* Each by its primary key's first column: a loose index scan. The
	 * rows the database holds, not only what this process writes. */
	int st = db_query(db,
	                  "SELECT log_id FROM log_checkpoints GROUP BY log_id UNION "
	                  "SELECT log_id FROM log_appends GROUP BY log_id UNION "
	                  "SELECT log_id FROM log_leases GROUP BY log_id",
	                  NULL, 0, log_row, &g);
	if (st) {
		log_set_free(out);
		return st < 0 ? st : DB_ERR;
	}
	for (unsigned p = 0; p < a->nlogs; p++)
		if (add(out, &g.cap, ledger_log(a->ledgers[p]))) {
			log_set_free(out);
			return DB_ERR;
		}
	if (a->records && add(out, &g.cap, ledger_log(a->records))) {
		log_set_free(out);
		return DB_ERR;
	}
	if (out->n)
		qsort(out->ids, out->n, sizeof *out->ids, by_id);
	return DB_OK;
}

/* One log id of a list: 1 to 5 decimal digits, at most LOG_ID_MAX. */
static int parse_id(const char *s, size_t len, uint32_t *out)
{
	unsigned long v = 0;
	if (!len || len > 5)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > LOG_ID_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int log_set_param(struct http_request *req, bool list, struct log_set *out)
{
	*out = (struct log_set){0};
	const char *s = query_get(http_query(req), "log");
	if (!s)
		return LOG_SET_ABSENT;
	size_t cap = 0;
	for (const char *p = s;;) {
		size_t len = strcspn(p, ",");
		uint32_t id;
		if (parse_id(p, len, &id) || (!list && p[len]) || out->n == LOG_SET_PARAM_MAX) {
			log_set_free(out);
			if (list)
				http_reply_param_error(
				    req, "log", "Invalid query parameter",
				    "\"log\" must be a log id from 0 to %u, or a list of "
				    "up to %u of them separated by commas.",
				    LOG_ID_MAX, LOG_SET_PARAM_MAX);
			else
				http_reply_param_error(req, "log", "Invalid query parameter",
				                       "\"log\" must be one log id from 0 to %u.",
				                       LOG_ID_MAX);
			return -1;
		}
		size_t before = out->n;
		if (add(out, &cap, id)) {
			log_set_free(out);
			http_reply_error(req, 503, "Service unavailable", "Out of memory.");
			return -1;
		}
		if (out->n == before) {
			log_set_free(out);
			http_reply_param_error(req, "log", "Invalid query parameter",
			                       "Log %u is named twice.", (unsigned)id);
			return -1;
		}
		if (!p[len])
			break;
		p += len + 1;
	}
	qsort(out->ids, out->n, sizeof *out->ids, by_id);
	return 0;
}

int log_set_one(struct http_request *req, uint32_t def, uint32_t *out)
{
	struct log_set s;
	int rc = log_set_param(req, false, &s);
	if (rc < 0)
		return -1;
	*out = rc == LOG_SET_ABSENT ? def : s.ids[0];
	log_set_free(&s);
	return 0;
}
