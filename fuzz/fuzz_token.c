/* fuzz_token: the bearer-token front end of every authenticated request.
 *
 * The input up to its first NUL is an Authorization header value: it goes
 * through auth_bearer, and the token it yields through auth_verify and
 * auth_verify_cached (an 8-slot cache shared by all runs) with a fixed RSA
 * public key at a fixed time. If the input holds three or more NULs, it is
 * also read as  header-value NUL header-JSON NUL payload-JSON NUL signature
 * and the last three parts are base64url-encoded into a token, so the
 * fuzzer reaches the JSON checks without having to produce base64 itself.
 *
 * Invariants: auth_bearer gives AUTH_OK with a non-empty token inside the
 * header (no spaces around it) or AUTH_MISSING; auth_verify never returns
 * AUTH_OK (the fuzzer cannot sign with the key's private half, which is not
 * kept anywhere) nor AUTH_MISSING; the cached path returns the same status.
 * Seeds in corpus/fuzz_token were signed with that private half before it
 * was discarded; they are all refused at NOW (expired, not yet valid, wrong
 * issuer, bad claims), so they exercise the code after the signature check. */
#include <jansson.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "b64.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW INT64_C(1732760000) /* 2024-11-28T02:13:20Z */

/* RSA-2048; its key id (RFC 7638) is X-S4-WW4HBXBSat_q6tpiI7Yr1p5_cH30X79ZQEfH14. */
static const char public_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAp+8SAlr8sSPvrYW9jb4u\n"
    "sM+dUFXcZhOfccqq5Wbi9u6ptbBGO/bQYYQdsVvP9ohFMdpJVkjmhZjM1LQO7jZ4\n"
    "gGgFS0NsCZql2DQje91CU/+Y9sSnpudU61Oocq/XFmfrmu8xLTce1kZhbQAllz4g\n"
    "4VRp89fsWPqVY4bUm7npLd3kMM2iClEpPmqYAZuYllpa3tKAeK7+b8U7qGSImc7y\n"
    "nm7Vxv1wehNF/dzBqRM50oqUBEusNeP3U3U1R9x+u4ibScay6cYWxjDdvj8Bh7IQ\n"
    "EjfjdAE1Ut2aySFkdPxZ6c39XQz3gRPR3YBZYDcreShvMWphlW0uHj/kVzEzIUk5\n"
    "JwIDAQAB\n"
    "-----END PUBLIC KEY-----\n";
#define PUBLIC_KID "X-S4-WW4HBXBSat_q6tpiI7Yr1p5_cH30X79ZQEfH14"

static struct auth_key *key;
static struct auth_cache *cache;

static void release(void)
{
	auth_cache_free(cache);
	auth_key_free(key);
	cache = NULL;
	key = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	json_object_seed(1);
	if (auth_key_load(public_pem, sizeof public_pem - 1, &key) ||
	    strcmp(auth_key_id(key), PUBLIC_KID)) {
		fprintf(stderr, "fuzz_token: the embedded public key does not load as expected\n");
		abort();
	}
	if (!(cache = auth_cache_new(8)))
		abort();
	atexit(release);
	return 0;
}

static void verify(const char *token, size_t len)
{
	char *t = malloc(len ? len : 1); /* exact size, not NUL-terminated */
	if (!t)
		abort();
	if (len)
		memcpy(t, token, len);
	struct auth_claims claims;
	memset(&claims, 0, sizeof claims);
	enum auth_status st = auth_verify(key, t, len, NOW, &claims);
	FUZZ_CHECK(st != AUTH_OK, "auth_verify accepted a token the fuzzer made: user %lld",
	           (long long)claims.user_id);
	FUZZ_CHECK(st >= AUTH_MALFORMED && st <= AUTH_CLAIMS, "auth_verify returned %d", (int)st);
	const char *detail = auth_status_detail(st);
	FUZZ_CHECK(detail && detail[0], "no detail for status %d", (int)st);
	enum auth_status cst = auth_verify_cached(key, cache, t, len, NOW, &claims);
	FUZZ_CHECK(cst == st, "auth_verify_cached returned %d, auth_verify %d", (int)cst, (int)st);
	free(t);
}

static void append_b64(char *out, size_t *o, const char *in, size_t n)
{
	b64url_encode((const unsigned char *)in, n, out + *o);
	*o += b64url_encoded_len(n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *header = fuzz_cstr(data, size);
	size_t hlen = strlen(header);
	const char *token = NULL;
	size_t len = 0;
	enum auth_status st = auth_bearer(header, &token, &len);
	if (st == AUTH_OK) {
		FUZZ_CHECK(!strncasecmp(header, "Bearer ", 7), "token without \"Bearer \"");
		FUZZ_CHECK(token >= header + 7 && len > 0 && token + len <= header + hlen,
		           "token outside the header");
		FUZZ_CHECK(token[0] != ' ' && token[len - 1] != ' ', "token keeps spaces");
		verify(token, len);
	} else {
		FUZZ_CHECK(st == AUTH_MISSING, "auth_bearer returned %d", (int)st);
	}

	/* header-value NUL header-JSON NUL payload-JSON NUL signature */
	const char *p = (const char *)data + hlen + 1, *end = (const char *)data + size;
	const char *z1 = p < end ? memchr(p, '\0', (size_t)(end - p)) : NULL;
	const char *z2 = z1 ? memchr(z1 + 1, '\0', (size_t)(end - z1 - 1)) : NULL;
	if (hlen < size && z2) {
		size_t n1 = (size_t)(z1 - p), n2 = (size_t)(z2 - z1 - 1),
		       n3 = (size_t)(end - z2 - 1);
		char *tok = malloc(b64url_encoded_len(n1) + b64url_encoded_len(n2) +
		                   b64url_encoded_len(n3) + 3);
		if (!tok)
			abort();
		size_t o = 0;
		append_b64(tok, &o, p, n1);
		tok[o++] = '.';
		append_b64(tok, &o, z1 + 1, n2);
		tok[o++] = '.';
		append_b64(tok, &o, z2 + 1, n3);
		verify(tok, o);
		free(tok);
	}
	free(header);
	return 0;
}
