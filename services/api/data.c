/* What the users and notes data layers share. */
#include <stdio.h>
#include <stdlib.h>

#include "api.h"

struct delete_tx {
	struct data_ctx *ctx;
	const char *sql;
	const char *type;
	int64_t id;
};

static int delete_in_tx(struct db *db, void *arg)
{
	struct delete_tx *t = arg;
	struct db_value param = DB_INT(t->id);
	uint64_t affected = 0;
	int st = db_exec(db, t->sql, &param, 1, &affected, NULL);
	if (st)
		return st;
	if (affected == 0)
		return DATA_NOT_FOUND;
	char id[24];
	snprintf(id, sizeof id, "%lld", (long long)t->id);
	return audit_mutation(t->ctx->api, db, &t->ctx->actor, EVENT_DELETED, t->type, id, NULL);
}

int data_delete(struct data_ctx *ctx, const char *sql, const char *type, int64_t id)
{
	struct delete_tx t = {ctx, sql, type, id};
	int st = db_run_tx(ctx->db, delete_in_tx, &t);
	if (st == DATA_OK)
		audit_committed(ctx->api);
	return st;
}

int data_page_full(struct data_page *page)
{
	if (json_array_size(page->array) < page->limit)
		return 0;
	page->more = true;
	return 1;
}

int data_page_add(struct data_page *page, json_t *resource, const char *type, const char *id)
{
	if (!resource || json_array_append_new(page->array, resource))
		return DB_ERR;
	data_viewed(page->ctx, type, id);
	page->last = strtoll(id, NULL, 10);
	return 0;
}

void data_viewed(const struct data_ctx *ctx, const char *type, const char *id)
{
	if (!ctx->head)
		audit_viewed(ctx->api, &ctx->actor, type, id);
}
