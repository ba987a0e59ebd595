#include "auth.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "b64.h"

struct auth_key {
	EVP_PKEY *pkey;
	size_t sig_len;
	char *n_b64, *e_b64;
	char kid[48];
	char issuer[AUTH_ISSUER_MAX + 1];
};

static char *bn_param_b64(EVP_PKEY *pkey, const char *name)
{
	BIGNUM *bn = NULL;
	char *out = NULL;
	unsigned char *bin = NULL;
	if (!EVP_PKEY_get_bn_param(pkey, name, &bn))
		goto out;
	int n = BN_num_bytes(bn);
	if (!(bin = malloc((size_t)n + 1)) || !(out = malloc(b64url_encoded_len((size_t)n) + 1)))
		goto out;
	BN_bn2bin(bn, bin);
	b64url_encode(bin, (size_t)n, out);
out:
	free(bin);
	BN_free(bn);
	return out;
}

int auth_key_load(const char *pem, size_t len, struct auth_key **out)
{
	struct auth_key *key = calloc(1, sizeof *key);
	OSSL_DECODER_CTX *dctx = NULL;
	int rc = -1;
	if (!key)
		goto out;
	/* Structure NULL: both SPKI "PUBLIC KEY" and PKCS#1 "RSA PUBLIC KEY". */
	dctx = OSSL_DECODER_CTX_new_for_pkey(&key->pkey, "PEM", NULL, "RSA",
	                                     OSSL_KEYMGMT_SELECT_PUBLIC_KEY, NULL, NULL);
	const unsigned char *data = (const unsigned char *)pem;
	size_t data_len = len;
	if (!dctx || !OSSL_DECODER_from_data(dctx, &data, &data_len))
		goto out;
	if (!key->pkey || EVP_PKEY_get_base_id(key->pkey) != EVP_PKEY_RSA ||
	    EVP_PKEY_get_bits(key->pkey) < 2048)
		goto out;
	key->sig_len = (size_t)EVP_PKEY_get_size(key->pkey);
	key->n_b64 = bn_param_b64(key->pkey, OSSL_PKEY_PARAM_RSA_N);
	key->e_b64 = bn_param_b64(key->pkey, OSSL_PKEY_PARAM_RSA_E);
	if (!key->n_b64 || !key->e_b64)
		goto out;

	/* RFC 7638: SHA-256 over the required members in lexical order. */
	char *canon = NULL;
	size_t canon_len = 0;
	FILE *f = open_memstream(&canon, &canon_len);
	if (!f)
		goto out;
	fprintf(f, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", key->e_b64, key->n_b64);
	fclose(f);
	unsigned char digest[32];
	unsigned int dlen = 0;
	int ok = canon && EVP_Digest(canon, canon_len, digest, &dlen, EVP_sha256(), NULL);
	free(canon);
	if (!ok)
		goto out;
	b64url_encode(digest, dlen, key->kid);
	strcpy(key->issuer, AUTH_ISSUER_DEFAULT);
	*out = key;
	key = NULL;
	rc = 0;
out:
	OSSL_DECODER_CTX_free(dctx);
	auth_key_free(key);
	return rc;
}

int auth_key_load_file(const char *path, struct auth_key **out)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	char buf[16384];
	size_t n = fread(buf, 1, sizeof buf, f);
	int bad = ferror(f) || !feof(f);
	fclose(f);
	if (bad)
		return -1;
	return auth_key_load(buf, n, out);
}

void auth_key_free(struct auth_key *key)
{
	if (!key)
		return;
	EVP_PKEY_free(key->pkey);
	free(key->n_b64);
	free(key->e_b64);
	free(key);
}

int auth_key_set_issuer(struct auth_key *key, const char *issuer)
{
	size_t len = strlen(issuer);
	if (len == 0 || len > AUTH_ISSUER_MAX)
		return -1;
	memcpy(key->issuer, issuer, len + 1);
	return 0;
}

const char *auth_key_issuer(const struct auth_key *key)
{
	return key->issuer;
}

const char *auth_key_id(const struct auth_key *key)
{
	return key->kid;
}

json_t *auth_jwks(const struct auth_key *key)
{
	return json_pack("{s:[{s:s, s:s, s:s, s:s, s:s, s:s}]}", "keys", "kty", "RSA", "use", "sig",
	                 "alg", "RS256", "kid", key->kid, "n", key->n_b64, "e", key->e_b64);
}

enum auth_status auth_bearer(const char *header, const char **token, size_t *len)
{
	if (!header || strncasecmp(header, "Bearer ", 7))
		return AUTH_MISSING;
	const char *t = header + 7;
	while (*t == ' ')
		t++;
	size_t n = strlen(t);
	while (n && t[n - 1] == ' ')
		n--;
	if (n == 0)
		return AUTH_MISSING;
	*token = t;
	*len = n;
	return AUTH_OK;
}

/* Decodes one base64url segment holding a JSON object. */
static json_t *decode_json_segment(const char *s, size_t n)
{
	unsigned char buf[AUTH_TOKEN_MAX];
	long len = b64url_decode(s, n, buf);
	if (len <= 0)
		return NULL;
	json_t *o = json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
	if (o && !json_is_object(o)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static enum auth_status check_header(const struct auth_key *key, json_t *h)
{
	const char *alg = json_string_value(json_object_get(h, "alg"));
	if (!alg || strcmp(alg, "RS256"))
		return AUTH_ALGORITHM;
	json_t *typ = json_object_get(h, "typ");
	if (typ && (!json_is_string(typ) || strcasecmp(json_string_value(typ), "JWT")))
		return AUTH_MALFORMED;
	json_t *kid = json_object_get(h, "kid");
	if (kid && (!json_is_string(kid) || strcmp(json_string_value(kid), key->kid)))
		return AUTH_ALGORITHM;
	/* We understand no extensions, so a token that demands one is refused. */
	if (json_object_get(h, "crit"))
		return AUTH_MALFORMED;
	return AUTH_OK;
}

static enum auth_status check_claims(const struct auth_key *key, json_t *c, int64_t now,
                                     struct auth_claims *claims)
{
	json_t *exp = json_object_get(c, "exp"), *nbf = json_object_get(c, "nbf");
	json_t *iss = json_object_get(c, "iss"), *id = json_object_get(c, "id");
	if (!json_is_number(exp) || (nbf && !json_is_number(nbf)))
		return AUTH_CLAIMS;
	/* NumericDates past year 30000 or before 1970 are nonsense, and would
	 * not fit the integer they are kept in. */
	if (!(json_number_value(exp) >= 0 && json_number_value(exp) < 1e12))
		return AUTH_CLAIMS;
	if (json_number_value(exp) + AUTH_LEEWAY_S < (double)now)
		return AUTH_EXPIRED;
	if (nbf && json_number_value(nbf) - AUTH_LEEWAY_S > (double)now)
		return AUTH_NOT_YET_VALID;
	if (!json_is_string(iss) || strcmp(json_string_value(iss), key->issuer))
		return AUTH_WRONG_ISSUER;
	if (!json_is_integer(id) || json_integer_value(id) <= 0)
		return AUTH_CLAIMS;
	claims->user_id = json_integer_value(id);
	snprintf(claims->user_id_str, sizeof claims->user_id_str, "%lld",
	         (long long)claims->user_id);
	claims->exp = (int64_t)json_number_value(exp);
	/* iat may be fractional (RFC 7519's NumericDate); kept to the ms. */
	json_t *iat = json_object_get(c, "iat");
	double iat_s = json_is_number(iat) ? json_number_value(iat) : 0;
	claims->iat_ms = iat_s > 0 && iat_s < 1e12 ? (int64_t)(iat_s * 1000) : 0;
	claims->auditor = false;
	json_t *roles = json_object_get(c, "roles");
	size_t i;
	json_t *r;
	json_array_foreach(roles, i, r) if (json_is_string(r) &&
	                                    !strcmp(json_string_value(r), "auditor"))
	    claims->auditor = true;
	return AUTH_OK;
}

enum auth_status auth_verify(const struct auth_key *key, const char *token, size_t len,
                             int64_t now, struct auth_claims *claims)
{
	enum auth_status st = AUTH_MALFORMED;
	json_t *header = NULL, *payload = NULL;
	EVP_MD_CTX *md = NULL;
	if (len == 0 || len > AUTH_TOKEN_MAX)
		return AUTH_MALFORMED;
	const char *dot1 = memchr(token, '.', len);
	if (!dot1)
		return AUTH_MALFORMED;
	const char *dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token));
	if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
		return AUTH_MALFORMED;
	size_t signed_len = (size_t)(dot2 - token);
	const char *sig64 = dot2 + 1;
	size_t sig64_len = len - signed_len - 1;

	if (!(header = decode_json_segment(token, (size_t)(dot1 - token))))
		goto out;
	if ((st = check_header(key, header)) != AUTH_OK)
		goto out;
	st = AUTH_MALFORMED;
	if (!(payload = decode_json_segment(dot1 + 1, (size_t)(dot2 - dot1 - 1))))
		goto out;

	unsigned char sig[AUTH_TOKEN_MAX];
	long sig_len = b64url_decode(sig64, sig64_len, sig);
	if (sig_len < 0)
		goto out;
	st = AUTH_SIGNATURE;
	if ((size_t)sig_len != key->sig_len)
		goto out;
	if (!(md = EVP_MD_CTX_new()) ||
	    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key->pkey) != 1 ||
	    EVP_DigestVerify(md, sig, (size_t)sig_len, (const unsigned char *)token, signed_len) !=
	        1)
		goto out;
	st = check_claims(key, payload, now, claims);
out:
	EVP_MD_CTX_free(md);
	json_decref(header);
	json_decref(payload);
	return st;
}

#define CACHE_TOKEN_MAX 2048
#define CACHE_LOCKS 64

struct cache_entry {
	char *token;
	size_t len;
	struct auth_claims claims;
};

struct auth_cache {
	size_t nslots;
	struct cache_entry *slots;
	pthread_mutex_t locks[CACHE_LOCKS];
};

struct auth_cache *auth_cache_new(size_t slots)
{
	struct auth_cache *c = calloc(1, sizeof *c);
	if (!c || !(c->slots = calloc(slots, sizeof *c->slots))) {
		free(c);
		return NULL;
	}
	c->nslots = slots;
	for (int i = 0; i < CACHE_LOCKS; i++)
		pthread_mutex_init(&c->locks[i], NULL);
	return c;
}

void auth_cache_free(struct auth_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nslots; i++)
		free(c->slots[i].token);
	for (int i = 0; i < CACHE_LOCKS; i++)
		pthread_mutex_destroy(&c->locks[i]);
	free(c->slots);
	free(c);
}

static size_t token_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a over the signature end */
	for (size_t i = n > 64 ? n - 64 : 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return (size_t)(h ^ h >> 29);
}

enum auth_status auth_verify_cached(const struct auth_key *key, struct auth_cache *c,
                                    const char *token, size_t len, int64_t now,
                                    struct auth_claims *claims)
{
	if (!c || len > CACHE_TOKEN_MAX)
		return auth_verify(key, token, len, now, claims);
	size_t slot = token_hash(token, len) % c->nslots;
	pthread_mutex_t *lock = &c->locks[slot % CACHE_LOCKS];
	struct cache_entry *e = &c->slots[slot];
	pthread_mutex_lock(lock);
	bool hit = e->token && e->len == len && CRYPTO_memcmp(e->token, token, len) == 0 &&
	           e->claims.exp + AUTH_LEEWAY_S >= now;
	if (hit)
		*claims = e->claims;
	pthread_mutex_unlock(lock);
	if (hit)
		return AUTH_OK;
	enum auth_status st = auth_verify(key, token, len, now, claims);
	if (st != AUTH_OK)
		return st;
	char *copy = malloc(len);
	if (!copy)
		return st;
	memcpy(copy, token, len);
	pthread_mutex_lock(lock);
	free(e->token);
	*e = (struct cache_entry){copy, len, *claims};
	pthread_mutex_unlock(lock);
	return st;
}

static bool is_own(const struct auth_claims *c, const char *type, const char *id)
{
	return type && id && !strcmp(type, "users") && !strcmp(id, c->user_id_str);
}

bool auth_may_read(const struct auth_claims *claims, const char *actor_type,
                   const char *actor_id, const char *target_type, const char *target_id)
{
	return claims->auditor || is_own(claims, actor_type, actor_id) ||
	       is_own(claims, target_type, target_id);
}

const char *auth_status_detail(enum auth_status status)
{
	switch (status) {
	case AUTH_OK:
		return "The token is valid.";
	case AUTH_MISSING:
		return "Send an \"Authorization: Bearer <token>\" header; get a token from "
		       "/tokens/:id.";
	case AUTH_MALFORMED:
		return "The bearer token is not a well-formed JWT.";
	case AUTH_ALGORITHM:
		return "The token must be signed with RS256 by this service's key.";
	case AUTH_SIGNATURE:
		return "The token's signature does not verify.";
	case AUTH_EXPIRED:
		return "The token has expired; get a new one.";
	case AUTH_NOT_YET_VALID:
		return "The token is not valid yet.";
	case AUTH_WRONG_ISSUER:
		return "The token was not issued by this service.";
	case AUTH_CLAIMS:
		return "The token lacks a valid id or exp claim.";
	}
	return "The token was refused.";
}
