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
#include "principal.h"
#include "watch.h"

struct publisher;
struct forward_cache;
struct relay;

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
	/* Whether a token's user exists and is an auditor now, by the users
	 * table; told at once of what this process deletes or reads. */
	struct principal_cache *principals;
	struct forward_cache *forwards; /* see forward.c */
	struct relay *relay;            /* streams exports and /logs/stream (relay.h) */
	/* /readyz (h_health.c): the database, watched, and the backlogs' bounds */
	struct watch_pair watches; /* watch.h: the database and the broker, asked */
	uint64_t ready_outbox_max; /* events; 0: no bound */
	uint64_t ready_spool_max;  /* bytes; 0: no bound */
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

struct data_ctx;

/* Every event is ctx's: its actor, and as traceId the trace of ctx's
 * request (README "Tracing"). Every event names the version of its target
 * (the row's version column: 1 at create, +1 in each transaction that
 * changes or deletes it): a view the version its read returned, a
 * mutation the version it produced. */
void audit_viewed(const struct data_ctx *ctx, const char *type, const char *id, int64_t version);
/* Inside a transaction; changes is stolen: what changed (EVENT_CHANGED),
 * every initial value (EVENT_CREATED, diff_created) or every last value
 * (EVENT_DELETED, diff_deleted). */
int audit_mutation(const struct data_ctx *ctx, struct db *db, enum event_action action,
                   const char *type, const char *id, int64_t version, json_t *changes);
/* The eventName of the event that records a token handed out. */
#define AUDIT_TOKEN_ISSUED "token-issued"
/* Inside a transaction, like a mutation: a token was issued for users:id,
 * recorded as a view of that user by that user (the token acts as it),
 * named AUDIT_TOKEN_ISSUED, in the trace of ctx's request. */
int audit_token_issued(const struct data_ctx *ctx, struct db *db, const char *user_id,
                       int64_t version);
/* After a committed transaction that wrote one event of action to the
 * outbox (audit_mutation, or EVENT_VIEWED for audit_token_issued): counts
 * it as emitted and wakes the publisher. */
void audit_committed(struct api *api, enum event_action action);
/* Registers the emitter's metrics (metrics.h); once, before serving. */
void audit_init(void);

/* ---- the data layer ----
 * Results: DATA_OK, DATA_NOT_FOUND, DATA_CONFLICT, or a negative db status. */
enum { DATA_OK = 0, DATA_NOT_FOUND = 1, DATA_CONFLICT = 2 };

struct data_ctx {
	struct api *api;
	struct db *db;
	struct actor actor;
	bool head; /* a HEAD request: its answer carries no resource, so it views none */
	/* The request's W3C trace-id (http_trace_id, borrowed), the traceId of
	 * every event it emits; NULL or "" for none. */
	const char *trace_id;
};

/* Records that ctx's actor viewed version `version` of the resource
 * type/id (unless ctx->head). */
void data_viewed(const struct data_ctx *ctx, const char *type, const char *id, int64_t version);

/* How data_delete reads the row it deletes: lock_sql ("SELECT ... WHERE
 * id = ? FOR UPDATE") selects it, and attributes() turns its row into the
 * resource's attributes (a new object, NULL when out of memory) and its
 * version. */
struct data_kind {
	const char *type;
	const char *lock_sql, *delete_sql; /* delete_sql: "DELETE ... WHERE id = ?" */
	json_t *(*attributes)(const struct db_row *row, int64_t *version);
};
/* Deletes row id of kind k and records, in the same transaction, the
 * deleted event with the row's last values and the version it produced
 * (the row's + 1). */
int data_delete(struct data_ctx *ctx, const struct data_kind *k, int64_t id);

/* A page of a list, read by keyset: the query asks for limit + 1 rows, and
 * the one past the page only says that another page follows. */
struct data_page {
	struct data_ctx *ctx;
	json_t *array; /* owned: the page's resource objects */
	unsigned limit;
	bool more;    /* a row followed the page */
	int64_t last; /* id of the page's last row, or 0 */
};

/* For a db_query row callback. Returns 1 (stop) at the row past the page,
 * with page->more set; else 0, and the row belongs on the page. */
int data_page_full(struct data_page *page);
/* Adds resource (stolen; NULL is an allocation failure) for version
 * `version` of row `id` of `type` to the page and records the view.
 * Returns 0 or DB_ERR. */
int data_page_add(struct data_page *page, json_t *resource, const char *type, const char *id,
                  int64_t version);

struct user {
	char id[24];
	int64_t version;    /* the row's version when read */
	json_t *attributes; /* owned: {name, email, agreedTos} */
};

#define USERS_PAGE_MAX 1000

void user_clear(struct user *u);
/* A JSON:API resource object for u; u's attributes are shared, not stolen. */
json_t *user_resource(const struct user *u);

int data_user_get(struct data_ctx *ctx, int64_t id, struct user *out);
/* Users with id > after, by id, at most limit; out is a new array of
 * resource objects. *more says whether another user follows the page;
 * *last is the id of the last one, or 0. */
int data_user_list(struct data_ctx *ctx, int64_t after, unsigned limit, json_t **out,
                   bool *more, int64_t *last);
int data_user_create(struct data_ctx *ctx, json_t *attrs, struct user *out);
int data_user_update(struct data_ctx *ctx, int64_t id, json_t *attrs, struct user *out);
/* Also tells api->principals at once that the user is gone. */
int data_user_delete(struct data_ctx *ctx, int64_t id);
/* For the token endpoint, which is not authenticated: reads the user and
 * records, in the same transaction, that a token is issued for it (the
 * event is committed before the caller may hand the token out). *roles is
 * a new array of the user's role names. */
int data_user_for_token(struct data_ctx *ctx, int64_t id, struct user *out, json_t **roles);
/* The users.roles column (VARCHAR(255), utf8mb4) fits in this. */
#define USER_ROLES_MAX 1024
/* The user's roles column as it is now ("a,b"), into roles (cap bytes,
 * USER_ROLES_MAX will do; DB_ERR_DATA if it does not fit);
 * no event (authentication, not a read of the user's data). Returns
 * DATA_OK, DATA_NOT_FOUND or a db status. */
int data_user_roles(struct db *db, int64_t id, char *roles, size_t cap);

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
void h_token_introspect(struct http_request *req);
void h_jwks_get(struct http_request *req);
void h_readyz(struct http_request *req); /* h_health.c */
/* Adds (on) or removes the outbox backlog's gauge to /metrics (h_health.c):
 * after api->watches started, before it stops. */
void api_health_metrics(struct api *api, bool on);
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
/* GET /logs/state/:type/:id?at=T and /logs/history/:type/:id/:field: the
 * auditor's /api/:type/:id/state and /api/:type/:id/fields/:field/history. */
void h_logs_state(struct http_request *req);
void h_logs_field_history(struct http_request *req);
/* The log of record's endpoints, passed through to the auditor. */
void h_logs_ledger(struct http_request *req);
/* How long /logs/verify and /logs/export may take (they read the whole log). */
#define LOGS_LONG_TIMEOUT_MS (10 * 60 * 1000)
void h_logs_erase(struct http_request *req); /* POST /logs/erasures */
/* GET /logs/data-events: the auditor's /data-events, every filter the
 * client's (the auditor checks what the token may read). Like /logs/by and
 * /logs/for, an Accept that prefers application/x-ndjson or text/csv gets
 * the auditor's export streamed through as it comes (relay.h). */
void h_logs_events(struct http_request *req);
/* GET /logs/stream: the auditor's /data-events/stream (Server-Sent
 * Events), query and Last-Event-ID passed on, streamed through for as
 * long as both sides stay. */
void h_logs_stream(struct http_request *req);

/* The http_principal_fn of the API (h_tokens.c): the token's user as the
 * users table says now, through api->principals. */
enum http_principal api_principal(void *app, const char *token, size_t len,
                                  struct auth_claims *claims);
/* ---- forward.c ----
 * The Authorization header value ("Bearer <token>", to free()) with which
 * a request of the user of claims is forwarded to the auditor: a token the
 * API signs for the same user, with the roles the API knows it has now, its
 * "iat" the time the API learnt them, valid for FORWARD_TOKEN_TTL_S. The
 * auditor trusts what a token says of its user for its principal ttl after
 * iat, so it need not ask the API back, which, asked from an API worker
 * that waits for the auditor, could have no worker free to answer.
 * Returns PRINCIPAL_OK and *out, "Bearer <token>" to free(); PRINCIPAL_GONE
 * when the user no longer exists; PRINCIPAL_UNAVAILABLE when its records
 * cannot be read or memory ran out. */
#define FORWARD_TOKEN_TTL_S 60
enum principal_status api_forward_authorization(struct api *api,
                                                const struct auth_claims *claims, char **out);
/* The same for a live stream (/logs/stream), which the auditor ends when
 * the token it was opened with expires: a token like the one above but
 * whose "exp" is the client's own (claims->exp), so that the stream lasts
 * as long as the client's token, not FORWARD_TOKEN_TTL_S. Signed anew
 * each time (about a millisecond). Returns as api_forward_authorization. */
enum principal_status api_forward_authorization_live(struct api *api,
                                                     const struct auth_claims *claims, char **out);
/* The signed tokens kept for that, per user, while younger than ttl_ms / 2.
 * Returns NULL when out of memory. */
struct forward_cache *forward_cache_new(int64_t ttl_ms);
void forward_cache_free(struct forward_cache *cache);
/* Signs claims (a JSON object, borrowed) with the private key; returns a
 * token to free(), or NULL. */
char *api_sign(struct api *api, json_t *claims);
/* The principal cache's lookup: the users table. */
enum principal_status api_principal_lookup(void *app, int64_t user_id, const void *arg,
                                           bool *auditor);

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
