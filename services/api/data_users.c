/* The users data layer: SQL for users, and the data events it causes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "diff.h"

const struct jsonapi_attr user_attrs[] = {
    {"name", JSONAPI_STRING, 64, 1, JSONAPI_REQUIRED},
    {"email", JSONAPI_STRING, 128, 3, JSONAPI_REQUIRED},
    {"agreedTos", JSONAPI_BOOLEAN, 0, 0, 0},
};
const size_t user_nattrs = sizeof user_attrs / sizeof user_attrs[0];

#define USER_COLUMNS "SELECT id, name, email, agreed_tos, version FROM users "

void user_clear(struct user *u)
{
	json_decref(u->attributes);
	u->attributes = NULL;
}

json_t *user_resource(const struct user *u)
{
	return jsonapi_resource("users", u->id, json_incref(u->attributes));
}

static int user_row(void *ctx, const struct db_row *row)
{
	struct user *u = ctx;
	snprintf(u->id, sizeof u->id, "%s", row->val[0]);
	json_decref(u->attributes);
	u->version = strtoll(row->val[4], NULL, 10);
	u->attributes = json_pack("{s:s%, s:s%, s:b}", "name", row->val[1], (size_t)row->len[1],
	                          "email", row->val[2], (size_t)row->len[2], "agreedTos",
	                          row->val[3][0] == '1');
	return u->attributes ? 0 : DB_ERR;
}

/* data_delete's reading of a user row (USER_COLUMNS). */
static json_t *user_attributes(const struct db_row *row, int64_t *version)
{
	struct user u = {0};
	if (user_row(&u, row))
		return NULL;
	*version = u.version;
	return u.attributes;
}

static const struct data_kind user_kind = {
    .type = "users",
    .lock_sql = USER_COLUMNS "WHERE id = ? FOR UPDATE",
    .delete_sql = "DELETE FROM users WHERE id = ?",
    .attributes = user_attributes,
};

static int load(struct db *db, const char *sql, int64_t id, struct user *out)
{
	struct db_value param = DB_INT(id);
	out->id[0] = '\0';
	int st = db_query(db, sql, &param, 1, user_row, out);
	if (st)
		return st;
	return out->id[0] ? DATA_OK : DATA_NOT_FOUND;
}

struct token_row {
	struct user *user;
	json_t *roles;
	struct data_ctx *ctx;
	bool auditor;
};

static int token_row(void *arg, const struct db_row *row)
{
	struct token_row *t = arg;
	int st = user_row(t->user, row);
	if (st)
		return st;
	/* "a, b" -> ["a","b"] */
	const char *pos = row->val[5], *item;
	size_t n;
	t->auditor = principal_list_has(pos, ',', PRINCIPAL_ROLE_AUDITOR);
	while ((item = principal_list_next(&pos, ',', &n)))
		if (json_array_append_new(t->roles, json_stringn(item, n)))
			return DB_ERR;
	return 0;
}

struct token_tx {
	struct token_row row;
	int64_t id;
};

static int token_in_tx(struct db *db, void *arg)
{
	struct token_tx *t = arg;
	struct db_value param = DB_INT(t->id);
	t->row.user->id[0] = '\0';
	json_array_clear(t->row.roles); /* a retried transaction starts again */
	int st = db_query(db,
	                  "SELECT id, name, email, agreed_tos, version, roles FROM users WHERE id = ?",
	                  &param, 1, token_row, &t->row);
	if (st)
		return st;
	if (!t->row.user->id[0])
		return DATA_NOT_FOUND;
	return audit_token_issued(t->row.ctx, db, t->row.user->id, t->row.user->version);
}

int data_user_for_token(struct data_ctx *ctx, int64_t id, struct user *out, json_t **roles)
{
	struct token_tx t = {{out, json_array(), ctx, false}, id};
	int st = t.row.roles ? db_run_tx(ctx->db, token_in_tx, &t) : DB_ERR;
	if (st) {
		json_decref(t.row.roles);
		user_clear(out);
		return st;
	}
	audit_committed(ctx->api, EVENT_VIEWED); /* the token issued */
	principal_set(ctx->api->principals, id, t.row.auditor);
	*roles = t.row.roles;
	return DATA_OK;
}

struct roles_row {
	char *roles;
	size_t cap;
	bool found;
};

static int roles_row(void *arg, const struct db_row *row)
{
	struct roles_row *r = arg;
	size_t n = row->val[0] ? row->len[0] : 0;
	if (n >= r->cap)
		return DB_ERR_DATA; /* never cut: a cut name could read as another role */
	memcpy(r->roles, row->val[0] ? row->val[0] : "", n);
	r->roles[n] = '\0';
	r->found = true;
	return 0;
}

int data_user_roles(struct db *db, int64_t id, char *roles, size_t cap)
{
	struct roles_row r = {roles, cap, false};
	struct db_value param = DB_INT(id);
	int st = db_query(db, "SELECT roles FROM users WHERE id = ?", &param, 1, roles_row, &r);
	if (st)
		return st;
	return r.found ? DATA_OK : DATA_NOT_FOUND;
}

int data_user_get(struct data_ctx *ctx, int64_t id, struct user *out)
{
	int st = load(ctx->db, USER_COLUMNS "WHERE id = ?", id, out);
	if (st == DATA_OK)
		data_viewed(ctx, "users", out->id, out->version);
	return st;
}

static int list_row(void *arg, const struct db_row *row)
{
	struct data_page *page = arg;
	if (data_page_full(page))
		return 1;
	struct user u = {0};
	int st = user_row(&u, row);
	if (st == 0)
		st = data_page_add(page, user_resource(&u), "users", u.id, u.version);
	user_clear(&u);
	return st;
}

int data_user_list(struct data_ctx *ctx, int64_t after, unsigned limit, json_t **out,
                   bool *more, int64_t *last)
{
	struct data_page page = {ctx, json_array(), limit, false, 0};
	if (!page.array)
		return DB_ERR;
	struct db_value params[] = {DB_INT(after), DB_INT((long long)limit + 1)};
	int st = db_query(ctx->db, USER_COLUMNS "WHERE id > ? ORDER BY id LIMIT ?", params, 2,
	                  list_row, &page);
	if (st < 0) {
		json_decref(page.array);
		return st;
	}
	*out = page.array;
	*more = page.more;
	*last = page.last;
	return DATA_OK;
}

static const char *attr_str(json_t *attrs, const char *name)
{
	return json_string_value(json_object_get(attrs, name));
}

/* A new user's attributes as stored, from what the request gave (agreedTos
 * false when absent). A new object, or NULL. */
static json_t *user_attrs_json(json_t *attrs)
{
	return json_pack("{s:O, s:O, s:b}", "name", json_object_get(attrs, "name"), "email",
	                 json_object_get(attrs, "email"), "agreedTos",
	                 json_is_true(json_object_get(attrs, "agreedTos")));
}

struct create_tx {
	struct data_ctx *ctx;
	json_t *attrs;
	struct user *out;
};

static int create_in_tx(struct db *db, void *arg)
{
	struct create_tx *t = arg;
	json_t *tos = json_object_get(t->attrs, "agreedTos");
	struct db_value params[] = {DB_TEXT(attr_str(t->attrs, "name")),
	                            DB_TEXT(attr_str(t->attrs, "email")),
	                            DB_INT(json_is_true(tos))};
	uint64_t id;
	int st = db_exec(db, "INSERT INTO users (name, email, agreed_tos) VALUES (?, ?, ?)", params,
	                 3, NULL, &id);
	if (st == DB_ERR_DUPLICATE)
		return DATA_CONFLICT;
	if (st)
		return st;
	snprintf(t->out->id, sizeof t->out->id, "%llu", (unsigned long long)id);
	t->out->version = 1;
	json_t *initial = user_attrs_json(t->attrs);
	json_t *changes = initial ? diff_created(initial) : NULL;
	json_decref(initial);
	if (!changes)
		return DB_ERR;
	return audit_mutation(t->ctx, db, EVENT_CREATED, "users", t->out->id, 1, changes);
}

int data_user_create(struct data_ctx *ctx, json_t *attrs, struct user *out)
{
	struct create_tx t = {ctx, attrs, out};
	int st = db_run_tx(ctx->db, create_in_tx, &t);
	if (st)
		return st;
	audit_committed(ctx->api, EVENT_CREATED);
	if (!(out->attributes = user_attrs_json(attrs)))
		return DB_ERR;
	data_viewed(ctx, "users", out->id, out->version);
	return DATA_OK;
}

struct update_tx {
	struct data_ctx *ctx;
	int64_t id;
	json_t *patch;
	struct user *out;
	bool changed;
};

static int update_in_tx(struct db *db, void *arg)
{
	struct update_tx *t = arg;
	t->changed = false;
	int st = load(db, USER_COLUMNS "WHERE id = ? FOR UPDATE", t->id, t->out);
	if (st)
		return st;
	json_t *changes = diff_changes(t->out->attributes, t->patch);
	if (!changes)
		return DATA_OK;
	json_object_update(t->out->attributes, t->patch);
	json_t *a = t->out->attributes;
	struct db_value params[] = {DB_TEXT(attr_str(a, "name")), DB_TEXT(attr_str(a, "email")),
	                            DB_INT(json_is_true(json_object_get(a, "agreedTos"))),
	                            DB_INT(t->id)};
	st = db_exec(db,
	             "UPDATE users SET name = ?, email = ?, agreed_tos = ?, version = version + 1 "
	             "WHERE id = ?",
	             params, 4, NULL, NULL);
	if (st) {
		json_decref(changes);
		return st == DB_ERR_DUPLICATE ? DATA_CONFLICT : st;
	}
	t->changed = true;
	t->out->version++;
	return audit_mutation(t->ctx, db, EVENT_CHANGED, "users", t->out->id, t->out->version,
	                      changes);
}

int data_user_update(struct data_ctx *ctx, int64_t id, json_t *attrs, struct user *out)
{
	struct update_tx t = {ctx, id, attrs, out, false};
	int st = db_run_tx(ctx->db, update_in_tx, &t);
	if (st)
		return st;
	if (t.changed)
		audit_committed(ctx->api, EVENT_CHANGED);
	data_viewed(ctx, "users", out->id, out->version);
	return DATA_OK;
}

int data_user_delete(struct data_ctx *ctx, int64_t id)
{
	int st = data_delete(ctx, &user_kind, id);
	/* Committed (or there was no such user): its tokens stop acting now,
	 * not when the cached answer expires. */
	if (st == DATA_OK || st == DATA_NOT_FOUND)
		principal_gone(ctx->api->principals, id);
	return st;
}
