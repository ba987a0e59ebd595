/* /tokens/:id, the demo's login; /tokens/introspect, which tells another
 * service whether a token's user exists and what roles it has now; the
 * JWK Set that lets anyone verify what the login hands out; and the check
 * every authenticated request passes: does the token's user still exist,
 * and with what roles. */
#include <jwt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "daemon.h"
#include "log.h"
#include "query.h"

/* libjwt re-parses the key on every call, which is fine for a login
 * endpoint and kept off the verification path. */
char *api_sign(struct api *api, json_t *claims)
{
	jwt_t *jwt = NULL;
	char *token = NULL, *grants = json_dumps(claims, JSON_COMPACT);
	if (!grants || jwt_new(&jwt) || jwt_add_grants_json(jwt, grants) ||
	    jwt_add_header(jwt, "kid", auth_key_id(api->public_key)) ||
	    jwt_set_alg(jwt, JWT_ALG_RS256, (const unsigned char *)api->private_pem,
	                (int)api->private_pem_len))
		goto out;
	token = jwt_encode_str(jwt);
out:
	jwt_free(jwt);
	free(grants);
	return token;
}

void h_token_get(struct http_request *req)
{
	struct api *api = http_app(req);
	int64_t id;
	if (!api->token_endpoint) {
		http_reply_error(req, 404, "Not found",
		                 "This deployment issues no tokens; use your identity provider.");
		return;
	}
	if (http_param_id(req, 0, &id))
		return;
	if (!strcmp(http_method(req), "HEAD")) {
		/* Issuing a token that is not delivered would record a token handed
		 * out that nobody received. */
		http_add_header(req, "Allow", "GET");
		http_reply_error(req, 405, "Method not allowed",
		                 "A token is handed out only with GET, which records it.");
		return;
	}
	/* The token's own user is the actor of the event that records it: the
	 * caller is not authenticated, and the token acts as that user. */
	struct data_ctx ctx = {
	    .api = api, .db = db_thread(&api->db), .trace_id = http_trace_id(req)};
	if (!ctx.db) {
		http_reply_error(req, 503, "Service unavailable", "The database is unreachable.");
		return;
	}
	struct user u = {0};
	json_t *roles = NULL;
	int st = data_user_for_token(&ctx, id, &u, &roles);
	if (st) {
		api_reply_status(req, st, "user");
		return;
	}
	time_t now = time(NULL);
	json_t *claims = json_deep_copy(u.attributes);
	json_object_set_new(claims, "id", json_integer(id));
	json_object_set_new(claims, "iss", json_string(auth_key_issuer(api->public_key)));
	json_object_set_new(claims, "iat", json_integer(now));
	json_object_set_new(claims, "exp", json_integer(now + AUTH_TOKEN_TTL_S));
	json_object_set_new(claims, "roles", roles);
	char *token = api_sign(api, claims);
	json_decref(claims);
	user_clear(&u);
	if (!token) {
		http_reply_error(req, 500, "Internal error", "The token could not be signed.");
		return;
	}
	http_add_header(req, "Cache-Control", "no-store");
	http_reply_buffer(req, 201, "text/plain; charset=utf-8", token, strlen(token));
}

enum principal_status api_principal_lookup(void *app, int64_t user_id, const void *arg,
                                           bool *auditor)
{
	struct api *api = app;
	(void)arg;
	struct db *db = db_thread(&api->db);
	char roles[USER_ROLES_MAX];
	int st = db ? data_user_roles(db, user_id, roles, sizeof roles) : DB_ERR_GONE;
	if (st == DATA_NOT_FOUND)
		return PRINCIPAL_GONE;
	if (st != DATA_OK) {
		log_error("cannot look up user %lld: %s", (long long)user_id, db_status_string(st));
		return PRINCIPAL_UNAVAILABLE;
	}
	*auditor = principal_list_has(roles, ',', PRINCIPAL_ROLE_AUDITOR);
	return PRINCIPAL_OK;
}

enum http_principal api_principal(void *app, const char *token, size_t len,
                                  struct auth_claims *claims)
{
	struct api *api = app;
	(void)token, (void)len;
	return daemon_principal(api->principals, NULL, claims);
}

/* An RFC 6749 scope-token: printable ASCII but space, '"' and backslash. */
static bool scope_token(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
			return false;
	return n > 0;
}

/* "a,b" (the roles column) -> "a b" (an OAuth scope), dropping any item
 * that is not a valid scope-token. */
static void roles_to_scope(const char *roles, char *scope, size_t cap)
{
	size_t used = 0, n;
	const char *pos = roles, *item;
	scope[0] = '\0';
	while ((item = principal_list_next(&pos, ',', &n)))
		if (scope_token(item, n) && used + n + 2 <= cap)
			used += (size_t)snprintf(scope + used, cap - used, "%s%.*s", used ? " " : "",
			                         (int)n, item);
}

static void reply_introspection(struct http_request *req, json_t *doc)
{
	char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (!s) {
		http_reply_error(req, 500, "Internal error", "Out of memory.");
		return;
	}
	http_add_header(req, "Cache-Control", "no-store");
	http_reply_buffer(req, 200, "application/json", s, strlen(s));
}

/* POST /tokens/introspect, RFC 7662: a form body token=<token>; the answer
 * says whether the token is active (it verifies and its user exists now)
 * and, if so, its subject, scope (the user's roles now), expiry and issuer.
 * Unauthenticated: it tells the caller only what presenting the token to
 * this API would, and signed tokens cannot be guessed. The user is read
 * from the database, not from the cache, so that a caller caching the
 * answer adds its own staleness to none of ours. */
void h_token_introspect(struct http_request *req)
{
	struct api *api = http_app(req);
	size_t len;
	const char *body = http_body(req, &len);
	struct query form = {0};
	const char *why;
	if (query_parse(body ? body : "", &form, &why)) {
		http_reply_error(req, 400, "Invalid form body", "The form body is refused: %s.", why);
		return;
	}
	const char *token = query_get(&form, "token");
	if (!token || !*token) {
		query_free(&form);
		http_reply_error(req, 400, "Invalid form body",
		                 "Give the token to introspect as token=<token>.");
		return;
	}
	struct auth_claims claims;
	if (auth_verify(api->public_key, token, strlen(token), (int64_t)time(NULL), &claims) !=
	    AUTH_OK) {
		query_free(&form);
		reply_introspection(req, json_pack("{s:b}", "active", 0));
		return;
	}
	query_free(&form);
	struct db *db = db_thread(&api->db);
	char roles[USER_ROLES_MAX], scope[USER_ROLES_MAX];
	int st = db ? data_user_roles(db, claims.user_id, roles, sizeof roles) : DB_ERR_GONE;
	if (st == DATA_NOT_FOUND) {
		principal_gone(api->principals, claims.user_id);
		reply_introspection(req, json_pack("{s:b}", "active", 0));
		return;
	}
	if (st != DATA_OK) {
		api_reply_status(req, st, "user");
		return;
	}
	principal_set(api->principals, claims.user_id,
	              principal_list_has(roles, ',', PRINCIPAL_ROLE_AUDITOR));
	roles_to_scope(roles, scope, sizeof scope);
	reply_introspection(req, json_pack("{s:b, s:s, s:s, s:I, s:s, s:s}", "active", 1, "sub",
	                                   claims.user_id_str, "scope", scope, "exp",
	                                   (json_int_t)claims.exp, "iss",
	                                   auth_key_issuer(api->public_key), "token_type",
	                                   "Bearer"));
}

void h_jwks_get(struct http_request *req)
{
	struct api *api = http_app(req);
	http_add_header(req, "Cache-Control", "public, max-age=300");
	json_t *jwks = auth_jwks(api->public_key);
	char *s = jwks ? json_dumps(jwks, JSON_COMPACT) : NULL;
	json_decref(jwks);
	if (!s) {
		http_reply_error(req, 500, "Internal error", "Out of memory.");
		return;
	}
	http_reply_buffer(req, 200, "application/jwk-set+json", s, strlen(s));
}
