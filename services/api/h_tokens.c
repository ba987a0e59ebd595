/* /tokens/:id, the demo's login, and the JWK Set that lets anyone verify
 * what it hands out. */
#include <jwt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "log.h"

/* Signs claims (a JSON object) with the private key; returns a token to
 * free(), or NULL. libjwt re-parses the key on every call, which is fine
 * for a login endpoint and kept off the verification path. */
static char *sign(struct api *api, json_t *claims)
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
	struct data_ctx ctx = {.api = api, .db = db_thread(&api->db)};
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
	char *token = sign(api, claims);
	json_decref(claims);
	user_clear(&u);
	if (!token) {
		http_reply_error(req, 500, "Internal error", "The token could not be signed.");
		return;
	}
	http_add_header(req, "Cache-Control", "no-store");
	http_reply_buffer(req, 201, "text/plain; charset=utf-8", token, strlen(token));
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
