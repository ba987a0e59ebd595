/* What the users and notes data layers share. */
#include <stdio.h>
#include <stdlib.h>

#include "api.h"
#include "diff.h"

struct delete_tx {
	struct data_ctx *ctx;
	const struct data_kind *kind;
	int64_t id;
	json_t *attrs; /* the row's last values, when found */
	int64_t version;
};

static int locked_row(void *arg, const struct db_row *row)
{
	struct delete_tx *t = arg;
	json_decref(t->attrs);
	t->attrs = t->kind->attributes(row, &t->version);
	return t->attrs ? 0 : DB_ERR;
}

static int delete_in_tx(struct db *db, void *arg)
{
	struct delete_tx *t = arg;
	struct db_value param = DB_INT(t->id);
	json_decref(t->attrs); /* a retried transaction starts again */
	t->attrs = NULL;
	int st = db_query(db, t->kind->lock_sql, &param, 1, locked_row, t);
	if (st)
		return st;
	if (!t->attrs)
		return DATA_NOT_FOUND;
	uint64_t affected = 0;
	if ((st = db_exec(db, t->kind->delete_sql, &param, 1, &affected, NULL)))
		return st;
	if (affected == 0)
		return DATA_NOT_FOUND;
	json_t *last = diff_deleted(t->attrs);
	if (!last && json_object_size(t->attrs))
		return DB_ERR;
	char id[24];
	snprintf(id, sizeof id, "%lld", (long long)t->id);
	return audit_mutation(t->ctx, db, EVENT_DELETED, t->kind->type, id, t->version + 1, last);
}

int data_delete(struct data_ctx *ctx, const struct data_kind *k, int64_t id)
{
	struct delete_tx t = {ctx, k, id, NULL, 0};
	int st = db_run_tx(ctx->db, delete_in_tx, &t);
	json_decref(t.attrs);
	if (st == DATA_OK)
		audit_committed(ctx->api, EVENT_DELETED);
	return st;
}

int data_page_full(struct data_page *page)
{
	if (json_array_size(page->array) < page->limit)
		return 0;
	page->more = true;
	return 1;
}

int data_page_add(struct data_page *page, json_t *resource, const char *type, const char *id,
                  int64_t version)
{
	if (!resource || json_array_append_new(page->array, resource))
		return DB_ERR;
	data_viewed(page->ctx, type, id, version);
	page->last = strtoll(id, NULL, 10);
	return 0;
}

void data_viewed(const struct data_ctx *ctx, const char *type, const char *id, int64_t version)
{
	if (!ctx->head)
		audit_viewed(ctx, type, id, version);
}
