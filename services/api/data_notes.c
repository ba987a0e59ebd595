/* The notes data layer: notes attached to any object, or to one field of it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "diff.h"

const struct jsonapi_attr note_attrs[] = {
    {"targetType", JSONAPI_STRING, EVENT_TYPE_MAX, 1, JSONAPI_REQUIRED},
    {"targetId", JSONAPI_STRING, EVENT_REF_MAX, 1, JSONAPI_REQUIRED},
    {"fieldName", JSONAPI_STRING, EVENT_FIELD_MAX, 1, JSONAPI_NULLABLE},
    {"data", JSONAPI_STRING, 16000, 0, JSONAPI_NULLABLE},
};
const size_t note_nattrs = sizeof note_attrs / sizeof note_attrs[0];

#define NOTE_COLUMNS                                                                           \
	"SELECT id, creator_id, target_type, target_id, field_name, data, version FROM notes "

static json_t *nullable(const char *s, unsigned long len)
{
	return s ? json_stringn(s, len) : json_null();
}

/* A note's attributes from its row (NOTE_COLUMNS): a new object, or
 * NULL. */
static json_t *note_attributes(const struct db_row *row, int64_t *version)
{
	*version = strtoll(row->val[6], NULL, 10);
	return json_pack("{s:s%, s:s%, s:o, s:o}", "targetType", row->val[2], (size_t)row->len[2],
	                 "targetId", row->val[3], (size_t)row->len[3], "fieldName",
	                 nullable(row->val[4], row->len[4]), "data", nullable(row->val[5], row->len[5]));
}

static const struct data_kind note_kind = {
    .type = "notes",
    .lock_sql = NOTE_COLUMNS "WHERE id = ? FOR UPDATE",
    .delete_sql = "DELETE FROM notes WHERE id = ?",
    .attributes = note_attributes,
};

static json_t *note_resource(const struct db_row *row)
{
	int64_t version;
	json_t *r = jsonapi_resource("notes", row->val[0], note_attributes(row, &version));
	if (r)
		json_object_set_new(r, "relationships",
		                    json_pack("{s:{s:{s:s, s:s}}}", "creator", "data", "type", "users",
		                              "id", row->val[1]));
	return r;
}

struct note_ctx {
	struct data_ctx *ctx;
	json_t *out; /* the resource */
};

static int note_row(void *arg, const struct db_row *row)
{
	struct note_ctx *n = arg;
	json_t *r = note_resource(row);
	if (!r)
		return DB_ERR;
	data_viewed(n->ctx, "notes", row->val[0], strtoll(row->val[6], NULL, 10));
	n->out = r;
	return 0;
}

int data_note_get(struct data_ctx *ctx, int64_t id, json_t **out)
{
	struct note_ctx n = {ctx, NULL};
	struct db_value param = DB_INT(id);
	int st = db_query(ctx->db, NOTE_COLUMNS "WHERE id = ?", &param, 1, note_row, &n);
	if (st) {
		json_decref(n.out);
		return st;
	}
	if (!n.out)
		return DATA_NOT_FOUND;
	*out = n.out;
	return DATA_OK;
}

static int list_row(void *arg, const struct db_row *row)
{
	struct data_page *page = arg;
	return data_page_full(page) ? 1
	                            : data_page_add(page, note_resource(row), "notes", row->val[0],
	                                            strtoll(row->val[6], NULL, 10));
}

int data_note_list(struct data_ctx *ctx, const char *target_type, const char *target_id,
                   const char *field, int64_t after, unsigned limit, json_t **out, bool *more,
                   int64_t *last)
{
	struct data_page l = {ctx, json_array(), limit, false, 0};
	if (!l.array)
		return DB_ERR;
	struct db_value params[] = {DB_TEXT(target_type), DB_TEXT(target_id),
	                            field ? DB_TEXT(field) : DB_NULL_VALUE, DB_INT(after),
	                            DB_INT((long long)limit + 1)};
	int st = db_query(ctx->db,
	                  NOTE_COLUMNS "WHERE target_type = ? AND target_id = ? "
	                               "AND (field_name <=> ?) AND id > ? ORDER BY id LIMIT ?",
	                  params, 5, list_row, &l);
	if (st < 0) {
		json_decref(l.array);
		return st;
	}
	*out = l.array;
	*more = l.more;
	*last = l.last;
	return DATA_OK;
}

struct create_tx {
	struct data_ctx *ctx;
	json_t *attrs;
	char id[24];
};

static struct db_value optional_text(json_t *attrs, const char *name)
{
	json_t *v = json_object_get(attrs, name);
	return json_is_string(v) ? DB_TEXTN(json_string_value(v), json_string_length(v))
	                         : DB_NULL_VALUE;
}

static int create_in_tx(struct db *db, void *arg)
{
	struct create_tx *t = arg;
	struct db_value params[] = {
	    DB_INT(strtoll(t->ctx->actor.id, NULL, 10)), optional_text(t->attrs, "targetType"),
	    optional_text(t->attrs, "targetId"), optional_text(t->attrs, "fieldName"),
	    optional_text(t->attrs, "data")};
	uint64_t id;
	int st = db_exec(db,
	                 "INSERT INTO notes (creator_id, target_type, target_id, field_name, data) "
	                 "VALUES (?, ?, ?, ?, ?)",
	                 params, 5, NULL, &id);
	if (st)
		return st;
	snprintf(t->id, sizeof t->id, "%llu", (unsigned long long)id);
	/* Its initial values are what it stores: the four attributes, null
	 * where the request gave none. */
	json_t *initial = json_object();
	static const char *const names[] = {"targetType", "targetId", "fieldName", "data"};
	for (size_t i = 0; initial && i < sizeof names / sizeof *names; i++) {
		json_t *v = json_object_get(t->attrs, names[i]);
		if (json_object_set_new(initial, names[i], v ? json_incref(v) : json_null())) {
			json_decref(initial);
			initial = NULL;
		}
	}
	json_t *changes = initial ? diff_created(initial) : NULL;
	json_decref(initial);
	if (!changes)
		return DB_ERR;
	return audit_mutation(t->ctx, db, EVENT_CREATED, "notes", t->id, 1, changes);
}

int data_note_create(struct data_ctx *ctx, json_t *attrs, json_t **out)
{
	struct create_tx t = {ctx, attrs, ""};
	int st = db_run_tx(ctx->db, create_in_tx, &t);
	if (st)
		return st;
	audit_committed(ctx->api, EVENT_CREATED);
	/* Read back what was stored, which also records the view. */
	st = data_note_get(ctx, strtoll(t.id, NULL, 10), out);
	return st == DATA_NOT_FOUND ? DB_ERR : st;
}

int data_note_delete(struct data_ctx *ctx, int64_t id)
{
	return data_delete(ctx, &note_kind, id);
}
