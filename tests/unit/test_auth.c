#include <jwt.h>
#include <openssl/core_names.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <time.h>

#include "auth.h"
#include "b64.h"
#include "testhelp.h"

static char *pem_of(EVP_PKEY *key, int private)
{
	BIO *bio = BIO_new(BIO_s_mem());
	if (private)
		PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
	else
		PEM_write_bio_PUBKEY(bio, key);
	char *data;
	long n = BIO_get_mem_data(bio, &data);
	char *out = malloc((size_t)n + 1);
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	BIO_free(bio);
	return out;
}

/* Signs claims with libjwt using alg and key; kid added when given. */
static char *make_token(jwt_alg_t alg, const char *key, const char *claims, const char *kid)
{
	jwt_t *jwt;
	jwt_new(&jwt);
	jwt_add_grants_json(jwt, claims);
	if (kid)
		jwt_add_header(jwt, "kid", kid);
	jwt_set_alg(jwt, alg, (const unsigned char *)key, key ? (int)strlen(key) : 0);
	char *t = jwt_encode_str(jwt);
	jwt_free(jwt);
	return t;
}

static enum auth_status verify(const struct auth_key *key, const char *token)
{
	struct auth_claims c;
	return auth_verify(key, token, strlen(token), (int64_t)time(NULL), &c);
}

/* Signs claims with priv (RS256, kid) and verifies the token with key. */
static enum auth_status verify_claims(const struct auth_key *key, const char *priv,
                                      const char *kid, const char *claims)
{
	char *t = make_token(JWT_ALG_RS256, priv, claims, kid);
	enum auth_status st = verify(key, t);
	free(t);
	return st;
}

static char *claims_json(long exp_offset, const char *extra)
{
	static char buf[512];
	long now = (long)time(NULL);
	snprintf(buf, sizeof buf, "{\"id\":1,\"name\":\"Jim\",\"iss\":\"localhost\",\"iat\":%ld,"
	         "\"exp\":%ld%s}", now, now + exp_offset, extra);
	return buf;
}

/* Replaces segment i (0 header, 1 payload) of token with b64url(json). */
static char *with_segment(const char *token, int i, const char *json)
{
	char seg[1024];
	b64url_encode((const unsigned char *)json, strlen(json), seg);
	const char *d1 = strchr(token, '.'), *d2 = strchr(d1 + 1, '.');
	char *out = malloc(strlen(token) + strlen(seg) + 1);
	if (i == 0)
		sprintf(out, "%s%s", seg, d1);
	else
		sprintf(out, "%.*s.%s%s", (int)(d1 - token), token, seg, d2);
	return out;
}

int main(void)
{
	EVP_PKEY *pkey = EVP_RSA_gen(2048), *other = EVP_RSA_gen(2048);
	char *priv = pem_of(pkey, 1), *pub = pem_of(pkey, 0), *other_priv = pem_of(other, 1);
	struct auth_key *key = NULL;
	CHECK_INT(auth_key_load(pub, strlen(pub), &key), 0);
	const char *kid = auth_key_id(key);
	CHECK_INT(strlen(kid), 43);

	/* PKCS#1 "RSA PUBLIC KEY" loads to the same key id. */
	OSSL_ENCODER_CTX *ectx = OSSL_ENCODER_CTX_new_for_pkey(
	    pkey, OSSL_KEYMGMT_SELECT_PUBLIC_KEY, "PEM", "type-specific", NULL);
	unsigned char *p1 = NULL;
	size_t p1len = 0;
	CHECK(ectx && OSSL_ENCODER_to_data(ectx, &p1, &p1len));
	CHECK(p1 && strstr((char *)p1, "BEGIN RSA PUBLIC KEY"));
	struct auth_key *key1 = NULL;
	CHECK_INT(auth_key_load((const char *)p1, p1len, &key1), 0);
	CHECK(key1 && !strcmp(auth_key_id(key1), kid));
	/* Without the trailing newline too. */
	auth_key_free(key1);
	key1 = NULL;
	CHECK_INT(auth_key_load(pub, strlen(pub) - 1, &key1), 0);
	auth_key_free(key1);
	OPENSSL_free(p1);
	OSSL_ENCODER_CTX_free(ectx);
	CHECK_INT(auth_key_load("garbage", 7, &key1), -1);

	/* Valid, with and without kid; claims come through. */
	char *t = make_token(JWT_ALG_RS256, priv, claims_json(1200, ""), kid);
	struct auth_claims c;
	CHECK_INT(auth_verify(key, t, strlen(t), (int64_t)time(NULL), &c), AUTH_OK);
	CHECK_INT(c.user_id, 1);
	CHECK_STR(c.user_id_str, "1");
	CHECK(!c.auditor);
	free(t);
	t = make_token(JWT_ALG_RS256, priv, claims_json(1200, ",\"roles\":[\"auditor\"]"), NULL);
	CHECK_INT(auth_verify(key, t, strlen(t), (int64_t)time(NULL), &c), AUTH_OK);
	CHECK(c.auditor);
	free(t);

	/* Expiry with the 30 s leeway; nbf likewise. */
	t = make_token(JWT_ALG_RS256, priv, claims_json(-10, ""), kid);
	CHECK_INT(verify(key, t), AUTH_OK);
	free(t);
	t = make_token(JWT_ALG_RS256, priv, claims_json(-60, ""), kid);
	CHECK_INT(verify(key, t), AUTH_EXPIRED);
	free(t);
	char extra[64];
	snprintf(extra, sizeof extra, ",\"nbf\":%ld", (long)time(NULL) + 120);
	t = make_token(JWT_ALG_RS256, priv, claims_json(1200, extra), kid);
	CHECK_INT(verify(key, t), AUTH_NOT_YET_VALID);
	free(t);

	/* Wrong issuer; missing or ill-typed claims. */
	CHECK_INT(verify_claims(key, priv, kid, "{\"id\":1,\"iss\":\"evil\",\"exp\":99999999999}"),
	          AUTH_WRONG_ISSUER);
	CHECK_INT(verify_claims(key, priv, kid, "{\"id\":1,\"iss\":\"localhost\"}"), AUTH_CLAIMS);
	CHECK_INT(verify_claims(key, priv, kid, "{\"id\":1,\"iss\":\"localhost\",\"exp\":\"soon\"}"),
	          AUTH_CLAIMS);
	CHECK_INT(
	    verify_claims(key, priv, kid, "{\"id\":\"1\",\"iss\":\"localhost\",\"exp\":99999999999}"),
	    AUTH_CLAIMS);

	/* A configured issuer: only its tokens verify, the default's no longer. */
	CHECK_STR(auth_key_issuer(key), "localhost");
	CHECK_INT(auth_key_set_issuer(key, ""), -1);
	char long_issuer[AUTH_ISSUER_MAX + 2];
	memset(long_issuer, 'i', sizeof long_issuer - 1);
	long_issuer[sizeof long_issuer - 1] = '\0';
	CHECK_INT(auth_key_set_issuer(key, long_issuer), -1);
	CHECK_STR(auth_key_issuer(key), "localhost");
	CHECK_INT(auth_key_set_issuer(key, "https://idp.example.com/"), 0);
	CHECK_INT(verify_claims(key, priv, kid, claims_json(1200, "")), AUTH_WRONG_ISSUER);
	CHECK_INT(verify_claims(key, priv, kid,
	                        "{\"id\":1,\"iss\":\"https://idp.example.com/\",\"exp\":99999999999}"),
	          AUTH_OK);
	CHECK_INT(auth_key_set_issuer(key, AUTH_ISSUER_DEFAULT), 0);

	/* The classic forgery: HS256 with the public key as the secret. */
	t = make_token(JWT_ALG_HS256, pub, claims_json(1200, ""), NULL);
	CHECK_INT(verify(key, t), AUTH_ALGORITHM);
	free(t);
	/* alg none, with and without a signature. */
	t = make_token(JWT_ALG_NONE, NULL, claims_json(1200, ""), NULL);
	CHECK_INT(verify(key, t), AUTH_ALGORITHM);
	free(t);
	char *good = make_token(JWT_ALG_RS256, priv, claims_json(1200, ""), kid);
	const char *algs[] = {"{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"alg\":\"None\"}",
	                      "{\"alg\":\"HS256\"}", "{\"alg\":\"RS512\"}", "{\"alg\":\"rs256\"}",
	                      "{\"typ\":\"JWT\"}", "{\"alg\":[\"RS256\"]}"};
	for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
		char *f = with_segment(good, 0, algs[i]);
		CHECK_INT(verify(key, f), AUTH_ALGORITHM);
		free(f);
	}
	/* An unknown kid, a demanded extension. */
	char *f = with_segment(good, 0, "{\"alg\":\"RS256\",\"kid\":\"someone-else\"}");
	CHECK_INT(verify(key, f), AUTH_ALGORITHM);
	free(f);
	f = with_segment(good, 0, "{\"alg\":\"RS256\",\"crit\":[\"exp\"]}");
	CHECK_INT(verify(key, f), AUTH_MALFORMED);
	free(f);

	/* Tampered payload or signature; signed by another key. */
	f = with_segment(good, 1, "{\"id\":2,\"iss\":\"localhost\",\"exp\":99999999999}");
	CHECK_INT(verify(key, f), AUTH_SIGNATURE);
	free(f);
	char *tampered = strdup(good);
	char *last = tampered + strlen(tampered) - 5;
	*last = *last == 'A' ? 'B' : 'A';
	CHECK_INT(verify(key, tampered), AUTH_SIGNATURE);
	free(tampered);
	t = make_token(JWT_ALG_RS256, other_priv, claims_json(1200, ""), kid);
	CHECK_INT(verify(key, t), AUTH_SIGNATURE);
	free(t);

	/* Malformed shapes. */
	char *truncated = strndup(good, strlen(good) - 10);
	CHECK(verify(key, truncated) == AUTH_SIGNATURE || verify(key, truncated) == AUTH_MALFORMED);
	free(truncated);
	char *extra_seg = malloc(strlen(good) + 8);
	sprintf(extra_seg, "%s.AAAA", good);
	CHECK_INT(verify(key, extra_seg), AUTH_MALFORMED);
	free(extra_seg);
	char *dot_end = strdup(good);
	*strrchr(dot_end, '.') = '\0';
	CHECK_INT(verify(key, dot_end), AUTH_MALFORMED);
	free(dot_end);
	CHECK_INT(verify(key, ""), AUTH_MALFORMED);
	CHECK_INT(verify(key, "a.b.c"), AUTH_MALFORMED);
	CHECK_INT(verify(key, "..."), AUTH_MALFORMED);
	char *badchar = strdup(good);
	badchar[5] = '+';
	CHECK(verify(key, badchar) != AUTH_OK);
	free(badchar);
	size_t hugelen = 100 * 1024;
	char *huge = malloc(hugelen + 1);
	memset(huge, 'A', hugelen);
	huge[hugelen] = '\0';
	huge[100] = huge[200] = '.';
	CHECK_INT(verify(key, huge), AUTH_MALFORMED);
	free(huge);

	/* The cache: a hit gives the same claims; a token that differs in one
	 * character is no hit; an expired entry is not used. */
	struct auth_cache *cache = auth_cache_new(8);
	int64_t now = (int64_t)time(NULL);
	struct auth_claims c1, c2;
	CHECK_INT(auth_verify_cached(key, cache, good, strlen(good), now, &c1), AUTH_OK);
	CHECK_INT(auth_verify_cached(key, cache, good, strlen(good), now, &c2), AUTH_OK);
	CHECK_INT(c2.user_id, c1.user_id);
	CHECK_INT(c2.exp, c1.exp);
	char *near = strdup(good);
	near[strlen(near) - 3] = near[strlen(near) - 3] == 'A' ? 'B' : 'A';
	CHECK_INT(auth_verify_cached(key, cache, near, strlen(near), now, &c2), AUTH_SIGNATURE);
	CHECK_INT(auth_verify_cached(key, cache, good, strlen(good), now + 3600, &c2), AUTH_EXPIRED);
	CHECK_INT(auth_verify_cached(key, NULL, good, strlen(good), now, &c2), AUTH_OK);
	free(near);
	auth_cache_free(cache);

	/* Who may read what. */
	struct auth_claims me = {.user_id = 7, .user_id_str = "7"};
	CHECK(auth_may_read(&me, "users", "7", NULL, NULL));
	CHECK(auth_may_read(&me, NULL, NULL, "users", "7"));
	CHECK(auth_may_read(&me, "users", "7", "notes", "3"));
	CHECK(auth_may_read(&me, "users", "1", "users", "7"));
	CHECK(!auth_may_read(&me, "users", "1", NULL, NULL));
	CHECK(!auth_may_read(&me, NULL, NULL, "notes", "7"));
	CHECK(!auth_may_read(&me, "users", "77", NULL, NULL));
	CHECK(!auth_may_read(&me, "service", "7", NULL, NULL));
	me.auditor = true;
	CHECK(auth_may_read(&me, "users", "1", NULL, NULL));

	/* Bearer header parsing. */
	const char *tok;
	size_t len;
	CHECK_INT(auth_bearer("Bearer abc.def.ghi", &tok, &len), AUTH_OK);
	CHECK_INT(len, 11);
	CHECK_INT(auth_bearer("bearer  abc ", &tok, &len), AUTH_OK);
	CHECK_INT(len, 3);
	CHECK_INT(auth_bearer("Bearer ", &tok, &len), AUTH_MISSING);
	CHECK_INT(auth_bearer("Bearer", &tok, &len), AUTH_MISSING);
	CHECK_INT(auth_bearer("Basic Zm9vOmJhcg==", &tok, &len), AUTH_MISSING);
	CHECK_INT(auth_bearer(NULL, &tok, &len), AUTH_MISSING);

	/* The JWK Set describes this key. */
	json_t *jwks = auth_jwks(key);
	json_t *k = json_array_get(json_object_get(jwks, "keys"), 0);
	CHECK_STR(json_string_value(json_object_get(k, "kty")), "RSA");
	CHECK_STR(json_string_value(json_object_get(k, "alg")), "RS256");
	CHECK_STR(json_string_value(json_object_get(k, "kid")), kid);
	CHECK_STR(json_string_value(json_object_get(k, "e")), "AQAB");
	CHECK_INT(strlen(json_string_value(json_object_get(k, "n"))), 342);
	json_decref(jwks);

	free(good);
	auth_key_free(key);
	free(priv);
	free(pub);
	free(other_priv);
	EVP_PKEY_free(pkey);
	EVP_PKEY_free(other);
	return test_report("auth");
}
