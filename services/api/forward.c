/* The token with which the API forwards a request to the auditor (the
 * /logs proxy).
 *
 * The auditor asks the API whether a token's user exists and what roles it
 * has, unless the token was issued less than its principal ttl ago. Asked
 * from an API worker that is itself waiting for the auditor, that question
 * could find no API worker free to answer it (with one worker, never). So
 * the API signs, for the forwarded request, a token for the same user with
 * the roles it knows now and "iat" the time it learnt them: the auditor
 * takes its word, within the same bound, without asking back.
 *
 * Signing costs about a millisecond, so a signed token is kept per user and
 * used again while its "iat" is younger than half the ttl; and it is signed
 * from an answer at most a quarter of the ttl old (looked up again if
 * older), so that the auditor still finds it fresh when it arrives. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"

#define SLOTS 256

struct slot {
	int64_t user_id;
	int64_t iat_ms;
	bool auditor;
	char *authorization; /* "Bearer <token>", owned */
};

struct forward_cache {
	int64_t ttl_ms;
	pthread_mutex_t lock;
	struct slot slots[SLOTS];
};

struct forward_cache *forward_cache_new(int64_t ttl_ms)
{
	struct forward_cache *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	f->ttl_ms = ttl_ms;
	pthread_mutex_init(&f->lock, NULL);
	return f;
}

void forward_cache_free(struct forward_cache *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < SLOTS; i++)
		free(f->slots[i].authorization);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *mint(struct api *api, int64_t user_id, bool auditor, int64_t iat_ms, int64_t exp_s)
{
	json_t *c = json_pack("{s:I, s:s, s:f, s:I, s:[]}", "id", (json_int_t)user_id, "iss",
	                      auth_key_issuer(api->public_key), "iat", (double)iat_ms / 1000.0,
	                      "exp", (json_int_t)exp_s, "roles");
	if (c && auditor)
		json_array_append_new(json_object_get(c, "roles"), json_string(PRINCIPAL_ROLE_AUDITOR));
	char *token = c ? api_sign(api, c) : NULL, *out = NULL;
	json_decref(c);
	size_t n = token ? strlen("Bearer ") + strlen(token) + 1 : 0;
	if (token && (out = malloc(n)))
		snprintf(out, n, "Bearer %s", token);
	free(token);
	return out;
}

enum principal_status api_forward_authorization(struct api *api,
                                                const struct auth_claims *claims, char **out)
{
	struct forward_cache *f = api->forwards;
	bool auditor = false;
	int64_t age_ms = 0;
	*out = NULL;
	enum principal_status st = principal_check_within(api->principals, claims->user_id, NULL,
	                                                  f->ttl_ms / 4, &auditor, &age_ms);
	if (st != PRINCIPAL_OK)
		return st;
	int64_t now_ms = wall_ms();
	struct slot *s = &f->slots[(uint64_t)claims->user_id % SLOTS];
	pthread_mutex_lock(&f->lock);
	if (s->authorization && s->user_id == claims->user_id && s->auditor == auditor &&
	    now_ms - s->iat_ms < f->ttl_ms / 2)
		*out = strdup(s->authorization);
	pthread_mutex_unlock(&f->lock);
	if (*out)
		return PRINCIPAL_OK;

	int64_t iat_ms = now_ms - age_ms;
	if (!(*out = mint(api, claims->user_id, auditor, iat_ms, now_ms / 1000 + FORWARD_TOKEN_TTL_S)))
		return PRINCIPAL_UNAVAILABLE;
	char *keep = strdup(*out);
	pthread_mutex_lock(&f->lock);
	if (keep) {
		free(s->authorization);
		*s = (struct slot){claims->user_id, iat_ms, auditor, keep};
	}
	pthread_mutex_unlock(&f->lock);
	return PRINCIPAL_OK;
}

enum principal_status api_forward_authorization_live(struct api *api,
                                                     const struct auth_claims *claims, char **out)
{
	bool auditor = false;
	int64_t age_ms = 0;
	*out = NULL;
	enum principal_status st = principal_check_within(
	    api->principals, claims->user_id, NULL, api->forwards->ttl_ms / 4, &auditor, &age_ms);
	if (st != PRINCIPAL_OK)
		return st;
	/* Not kept: its exp is the client's, and a stream opens once. */
	if (!(*out = mint(api, claims->user_id, auditor, wall_ms() - age_ms, claims->exp)))
		return PRINCIPAL_UNAVAILABLE;
	return PRINCIPAL_OK;
}
