/* Who a token's user is now, asked of the API. The auditor has no access
 * to the users table (it may not even share a database server with the
 * API), so it asks the API by RFC 7662 token introspection and keeps the
 * answer in its principal cache, per user id, for the configured time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auditor.h"
#include "daemon.h"
#include "log.h"
#include "query.h"

struct token {
	const char *s;
	size_t len;
};

/* The principal cache's lookup: POST /tokens/introspect at the API. */
enum principal_status auditor_introspect(void *ctx, int64_t user_id, const void *arg,
                                        bool *auditor)
{
	struct auditor *a = ctx;
	const struct token *t = arg;
	enum principal_status st = PRINCIPAL_UNAVAILABLE;
	struct httpc_response resp = {0};
	json_t *doc = NULL;
	char *token = strndup(t->s, t->len);
	size_t cap = 6 + 3 * t->len + 1;
	char *form = malloc(cap);
	long n;
	if (!token || !form) {
		log_error("out of memory");
		goto out;
	}
	memcpy(form, "token=", 6);
	if ((n = query_escape(token, form + 6, cap - 6)) < 0)
		goto out;
	if (httpc_post(&a->api, "/tokens/introspect", "application/x-www-form-urlencoded", form,
	               6 + (size_t)n, AUDITOR_API_TIMEOUT_MS, &resp)) {
		log_error("the API at %s:%s did not answer token introspection", a->api.host,
		          a->api.port);
		goto out;
	}
	doc = resp.status == 200 ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
	json_t *active = json_object_get(doc, "active");
	if (!json_is_boolean(active)) {
		log_error("the API answered token introspection with %u and no \"active\" member",
		          resp.status);
		goto out;
	}
	if (!json_is_true(active)) {
		log_info("the API says the token of user %lld is not active (its user is gone)",
		         (long long)user_id);
		st = PRINCIPAL_GONE;
		goto out;
	}
	char id[24];
	snprintf(id, sizeof id, "%lld", (long long)user_id);
	const char *sub = json_string_value(json_object_get(doc, "sub"));
	if (!sub || strcmp(sub, id)) {
		log_error("token introspection of user %s answered for subject %s", id,
		          sub ? sub : "(none)");
		goto out;
	}
	*auditor = principal_list_has(json_string_value(json_object_get(doc, "scope")), ' ',
	                              PRINCIPAL_ROLE_AUDITOR);
	st = PRINCIPAL_OK;
out:
	json_decref(doc);
	httpc_response_free(&resp);
	free(form);
	free(token);
	return st;
}

enum http_principal auditor_principal(void *app, const char *token, size_t len,
                                      struct auth_claims *claims)
{
	struct auditor *a = app;
	/* A token issued less than the ttl ago says what its issuer read of
	 * the user then: as fresh as a cached answer. So a new login, and every
	 * request the API forwards (it signs one for it), need no call. An iat
	 * ahead of our clock earns no trust (it would stretch the window); such
	 * a token is looked up like any other. */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (claims->iat_ms && claims->iat_ms <= now_ms &&
	    now_ms - claims->iat_ms < a->principal_ttl_ms)
		return HTTP_PRINCIPAL_OK;
	struct token t = {token, len};
	return daemon_principal(a->principals, &t, claims);
}
