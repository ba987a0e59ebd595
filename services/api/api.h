/* The API daemon's internal interfaces: its shared state, the data layer
 * (which emits the data events), the audit emitter and the handlers. */
#ifndef AUDITLOG_API_H
#define AUDITLOG_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth.h"
#include "db.h"
#include "event.h"
#include "http.h"
#include "httpc.h"

struct publisher;

struct api {
	struct db_config db;
	struct auth_key *public_key;
	char *private_pem; /* for signing tokens */
	size_t private_pem_len;
	struct publisher *publisher;
	struct httpc_url auditor;
	int auditor_timeout_ms;
	bool audit_off;      /* bench-no-audit: emit nothing (benchmarks only) */
	bool token_endpoint; /* GET /tokens/:id answers (the demo's login) */
};

/* ---- the audit emitter (audit.c) ----
 * Views go to the publisher's in-memory queue and never wait. Mutations are
 * written to the outbox inside the caller's transaction, so a committed
 * change always has its event and a rolled-back one has none. */

/* Who is acting: the token's user. */
struct actor {
	const char *type;
	const char *id;
};

void audit_viewed(struct api *api, const struct actor *actor, const char *type,
                  const char *id);
/* Inside a transaction; changes is stolen (NULL unless EVENT_CHANGED). */
int audit_mutation(struct api *api, struct db *db, const struct actor *actor,
                   enum event_action action, const char *type, const char *id, json_t *changes);
/* After a committed transaction that called audit_mutation. */
void audit_committed(struct api *api);

/* ---- the data layer ----
 * Results: DATA_OK, DATA_NOT_FOUND, DATA_CONFLICT, or a negative db status. */
enum { DATA_OK = 0, DATA_NOT_FOUND = 1, DATA_CONFLICT = 2 };

struct data_ctx {
	struct api *api;
	struct db *db;
	struct actor actor;
};

/* Deletes the row of `type` that sql ("DELETE ... WHERE id = ?") names and
 * records the deleted event with it. */
int data_delete(struct data_ctx *ctx, const char *sql, const char *type, int64_t id);

struct user {
	char id[24];
	json_t *attributes; /* owned: {name, email, agreedTos} */
};

#define USERS_PAGE_MAX 1000

void user_clear(struct user *u);
/* A JSON:API resource object for u; u's attributes are shared, not stolen. */
json_t *user_resource(const struct user *u);

int data_user_get(struct data_ctx *ctx, int64_t id, struct user *out);
/* Users with id > after, by id, at most limit; out is a new array of
 * resource objects. *last is the id of the last one, or 0. */
int data_user_list(struct data_ctx *ctx, int64_t after, unsigned limit, json_t **out,
                   int64_t *last);
int data_user_create(struct data_ctx *ctx, json_t *attrs, struct user *out);
int data_user_update(struct data_ctx *ctx, int64_t id, json_t *attrs, struct user *out);
int data_user_delete(struct data_ctx *ctx, int64_t id);
/* For the token endpoint: no event, the caller is not authenticated.
 * *roles is a new array of the user's role names. */
int data_user_for_token(struct data_ctx *ctx, int64_t id, struct user *out, json_t **roles);

extern const struct jsonapi_attr user_attrs[];
extern const size_t user_nattrs;

/* Notes: a resource object per note, as json. */
#define NOTES_PAGE_DEFAULT 50
#define NOTES_PAGE_MAX     1000

int data_note_get(struct data_ctx *ctx, int64_t id, json_t **out);
/* The notes about target_type:target_id (about its field when field is not
 * NULL, about the object itself when it is) with id > after, by id, at most
 * limit: out is a new array of resource objects for the caller, *more says
 * whether more notes follow, *last is the id of the last one (0 if none).
 * Each note returned is recorded as viewed. */
int data_note_list(struct data_ctx *ctx, const char *target_type, const char *target_id,
                   const char *field, int64_t after, unsigned limit, json_t **out, bool *more,
                   int64_t *last);
int data_note_create(struct data_ctx *ctx, json_t *attrs, json_t **out);
int data_note_delete(struct data_ctx *ctx, int64_t id);

extern const struct jsonapi_attr note_attrs[];
extern const size_t note_nattrs;

/* ---- handlers ---- */
void h_token_get(struct http_request *req);
void h_jwks_get(struct http_request *req);
void h_users_list(struct http_request *req);
void h_user_get(struct http_request *req);
void h_user_create(struct http_request *req);
void h_user_update(struct http_request *req);
void h_user_delete(struct http_request *req);
void h_notes_list(struct http_request *req);
void h_note_get(struct http_request *req);
void h_note_create(struct http_request *req);
void h_note_delete(struct http_request *req);
void h_logs_by(struct http_request *req);
void h_logs_for(struct http_request *req);

/* Shared by handlers: sets up ctx for req, or replies 503 and returns -1. */
int api_data_ctx(struct http_request *req, struct data_ctx *ctx);
/* Replies for a data layer status other than DATA_OK. */
void api_reply_status(struct http_request *req, int status, const char *what);
/* Replies 200 with one page of a list at path: data (stolen) and its links.
 * links.self is the request as sent (the parameters of req named in keys,
 * in that order, percent-encoded); when more, links.next is the same
 * request with page[after]=last. keys is NULL-terminated. Replies 500 if
 * the links cannot be built, since a page without them would end the list
 * silently. */
void api_reply_page(struct http_request *req, json_t *data, const char *path,
                    const char *const *keys, bool more, int64_t last);

#endif
