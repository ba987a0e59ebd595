/* auth: RS256 bearer tokens, verified without trusting the token.
 *
 * libjwt 1.10 verifies with whatever algorithm the token's header names and
 * checks no claims, and it re-parses the PEM key on every call. So tokens
 * are verified here: the algorithm is pinned to RS256 before any
 * cryptography, the signature is checked with an EVP_PKEY parsed once,
 * and exp, nbf and iss are checked with a leeway. Pure apart from OpenSSL:
 * no I/O besides auth_key_load_file.
 *
 * An auth_key is immutable after loading and may be shared by threads. */
#ifndef AUDITLOG_AUTH_H
#define AUDITLOG_AUTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_ISSUER_DEFAULT "localhost"
#define AUTH_ISSUER_MAX 255
#define AUTH_LEEWAY_S 30
#define AUTH_TOKEN_MAX 8192
#define AUTH_TOKEN_TTL_S (20 * 60)

enum auth_status {
	AUTH_OK,
	AUTH_MISSING,       /* no Authorization header, or not "Bearer <token>" */
	AUTH_MALFORMED,     /* not three base64url segments of JSON */
	AUTH_ALGORITHM,     /* header names anything but RS256, or an unknown key */
	AUTH_SIGNATURE,     /* signature does not verify */
	AUTH_EXPIRED,       /* exp + leeway is past */
	AUTH_NOT_YET_VALID, /* nbf - leeway is ahead */
	AUTH_WRONG_ISSUER,  /* iss is not ours */
	AUTH_CLAIMS,        /* a required claim is missing or ill-typed */
};

struct auth_claims {
	int64_t user_id;
	char user_id_str[24];
	int64_t exp;
	int64_t iat_ms; /* when it was issued ("iat", ms since epoch), 0 if unknown */
	bool auditor;   /* the token carries the role "auditor" */
};

struct auth_key;

/* Parses a PEM public key (SPKI "PUBLIC KEY" or PKCS#1 "RSA PUBLIC KEY").
 * Only RSA keys of 2048 bits or more are accepted. Returns 0 and a key to
 * free with auth_key_free, or -1. */
int auth_key_load(const char *pem, size_t len, struct auth_key **out);
int auth_key_load_file(const char *path, struct auth_key **out);
void auth_key_free(struct auth_key *key);

/* The "iss" a token must carry to verify with key: AUTH_ISSUER_DEFAULT
 * until set. Set it before the key is shared between threads. Returns -1
 * (and leaves the issuer as it was) for an empty or overlong issuer. */
int auth_key_set_issuer(struct auth_key *key, const char *issuer);
const char *auth_key_issuer(const struct auth_key *key);

/* The key's RFC 7638 thumbprint, used as the JWT "kid"; borrowed. */
const char *auth_key_id(const struct auth_key *key);
/* A new JWK Set {"keys":[...]} describing the key, for the caller to decref. */
json_t *auth_jwks(const struct auth_key *key);

/* Extracts the token from an Authorization header value ("Bearer <t>").
 * Returns AUTH_OK with token and len pointing into header, or AUTH_MISSING. */
enum auth_status auth_bearer(const char *header, const char **token, size_t *len);

/* Verifies token (len bytes, not necessarily NUL-terminated) at time now
 * (seconds since epoch). Fills claims only on AUTH_OK. */
enum auth_status auth_verify(const struct auth_key *key, const char *token, size_t len,
                             int64_t now, struct auth_claims *claims);

/* A cache of verified tokens, so a token costs one RSA verification for
 * its whole life instead of one per request. An entry is used only for the
 * very same token (compared in constant time) and only until its exp plus
 * the leeway; failures are never cached. Thread-safe. */
struct auth_cache;

struct auth_cache *auth_cache_new(size_t slots);
void auth_cache_free(struct auth_cache *cache);
/* auth_verify through the cache (cache may be NULL: plain auth_verify). */
enum auth_status auth_verify_cached(const struct auth_key *key, struct auth_cache *cache,
                                    const char *token, size_t len, int64_t now,
                                    struct auth_claims *claims);

/* Whether claims may read events selected by actor and/or target (either
 * may be NULL, not both): the auditor role reads everything; any other
 * token only events whose actor or target is its own user ("users:<id>"). */
bool auth_may_read(const struct auth_claims *claims, const char *actor_type,
                   const char *actor_id, const char *target_type, const char *target_id);

/* A sentence for the error document's detail. */
const char *auth_status_detail(enum auth_status status);

#endif
