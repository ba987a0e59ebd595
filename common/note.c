#include "note.h"
#include "b64.h"
#include "utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

struct note_signer {
	char *name;
	uint32_t id;
	unsigned char pub[NOTE_PUBLIC_KEY_LEN];
	EVP_PKEY *key; /* the private key */
};

struct note_verifier {
	char *name;
	uint32_t id;
	unsigned char pub[NOTE_PUBLIC_KEY_LEN];
	EVP_PKEY *key; /* the public key */
};

#define EM_DASH     "\xe2\x80\x94" /* U+2014 */
#define SIG_PREFIX  EM_DASH " "
#define SKEY_PREFIX "PRIVATE+KEY+"

static void set_why(const char **why, const char *s)
{
	if (why)
		*why = s;
}

const char *note_status_string(int status)
{
	switch (status) {
	case NOTE_OK:
		return "ok";
	case NOTE_EMALFORMED:
		return "malformed note or key";
	case NOTE_EUNVERIFIED:
		return "no signature from a known key";
	case NOTE_EBADSIG:
		return "a signature from a known key does not verify";
	case NOTE_EINVAL:
		return "invalid argument";
	case NOTE_ENOMEM:
		return "out of memory";
	case NOTE_ECRYPTO:
		return "OpenSSL failed";
	case NOTE_EIO:
		return "key file input/output error";
	}
	return "unknown note status";
}

/* ---- text rules ---- */

/* Valid UTF-8 with no control character (below U+0020) but newline
 * (c2sp.org/signed-note "Format"). */
static int text_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		uint32_t cp;
		size_t k = utf8_next(p + i, n - i, &cp);
		if (!k || (cp < 0x20 && cp != '\n'))
			return 0;
		i += k;
	}
	return 1;
}

/* Unicode White_Space (as Go's unicode.IsSpace, which golang.org/x/mod uses
 * for key names). */
static int is_unicode_space(uint32_t c)
{
	return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
	       (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
	       c == 0x205f || c == 0x3000;
}

static int name_valid_n(const char *name, size_t n)
{
	if (n == 0 || n > NOTE_MAX_NAME)
		return 0;
	const unsigned char *p = (const unsigned char *)name;
	size_t i = 0;
	while (i < n) {
		uint32_t cp;
		size_t k = utf8_next(p + i, n - i, &cp);
		if (!k || cp < 0x20 || cp == '+' || is_unicode_space(cp))
			return 0;
		i += k;
	}
	return 1;
}

int note_name_valid(const char *name)
{
	return name && name_valid_n(name, strlen(name));
}

/* ---- keys ---- */

static uint32_t key_id_n(const char *name, size_t n, const unsigned char pub[NOTE_PUBLIC_KEY_LEN])
{
	unsigned char md[32];
	const unsigned char sep[2] = {'\n', NOTE_ALG_ED25519};
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint32_t id = 0;
	if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) && EVP_DigestUpdate(ctx, name, n) &&
	    EVP_DigestUpdate(ctx, sep, 2) && EVP_DigestUpdate(ctx, pub, NOTE_PUBLIC_KEY_LEN) &&
	    EVP_DigestFinal_ex(ctx, md, NULL))
		id = (uint32_t)md[0] << 24 | (uint32_t)md[1] << 16 | (uint32_t)md[2] << 8 | md[3];
	EVP_MD_CTX_free(ctx);
	return id;
}

uint32_t note_key_id(const char *name, const unsigned char pub[NOTE_PUBLIC_KEY_LEN])
{
	return key_id_n(name, strlen(name), pub);
}

static char *strndup_checked(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* Makes a signer from name (n bytes) and seed. */
static int signer_make(const char *name, size_t n, const unsigned char seed[NOTE_SEED_LEN],
                       note_signer **out)
{
	int rc = NOTE_ENOMEM;
	note_signer *s = calloc(1, sizeof *s);
	size_t publen = NOTE_PUBLIC_KEY_LEN;
	if (!s || !(s->name = strndup_checked(name, n)))
		goto out;
	rc = NOTE_ECRYPTO;
	s->key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, NOTE_SEED_LEN);
	if (!s->key || EVP_PKEY_get_raw_public_key(s->key, s->pub, &publen) != 1 ||
	    publen != NOTE_PUBLIC_KEY_LEN)
		goto out;
	s->id = key_id_n(name, n, s->pub);
	*out = s;
	s = NULL;
	rc = NOTE_OK;
out:
	note_signer_free(s);
	return rc;
}

int note_signer_generate(const char *name, note_signer **out)
{
	if (!note_name_valid(name))
		return NOTE_EINVAL;
	int rc = NOTE_ECRYPTO;
	unsigned char seed[NOTE_SEED_LEN];
	size_t seedlen = sizeof seed;
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!key || EVP_PKEY_get_raw_private_key(key, seed, &seedlen) != 1 ||
	    seedlen != NOTE_SEED_LEN)
		goto out;
	rc = signer_make(name, strlen(name), seed, out);
out:
	OPENSSL_cleanse(seed, sizeof seed);
	EVP_PKEY_free(key);
	return rc;
}

/* Splits "name+hex8+base64" (the tail of either key string): checks the
 * name, the id's form, the key's encoding and type, and that the id matches.
 * key gets the 32 bytes after the type byte. */
static int key_parse(const char *s, const char **name, size_t *name_len, uint32_t *id,
                     unsigned char key[32], const char **why)
{
	int rc = NOTE_EMALFORMED;
	unsigned char raw[48];
	const char *p1 = strchr(s, '+');
	const char *p2 = p1 ? strchr(p1 + 1, '+') : NULL;
	if (!p1 || !p2) {
		set_why(why, "a key is name+id+key");
		goto out;
	}
	if (!name_valid_n(s, (size_t)(p1 - s))) {
		set_why(why, "the key name is empty or has a space, '+' or bad UTF-8");
		goto out;
	}
	if (p2 - p1 - 1 != 8) {
		set_why(why, "the key id is not 8 hex digits");
		goto out;
	}
	uint32_t v = 0;
	for (const char *h = p1 + 1; h < p2; h++) {
		int d = *h >= '0' && *h <= '9'   ? *h - '0'
		        : *h >= 'a' && *h <= 'f' ? *h - 'a' + 10
		                                 : -1;
		if (d < 0) {
			set_why(why, "the key id is not 8 lowercase hex digits");
			goto out;
		}
		v = v << 4 | (uint32_t)d;
	}
	size_t b64len = strlen(p2 + 1);
	if (b64len != 44 || b64_decode(p2 + 1, b64len, raw) != 33) {
		set_why(why, "the key is not the base64 of 33 bytes");
		goto out;
	}
	if (raw[0] != NOTE_ALG_ED25519) {
		set_why(why, "the key is not an Ed25519 key (type byte 0x01)");
		goto out;
	}
	memcpy(key, raw + 1, 32);
	*name = s;
	*name_len = (size_t)(p1 - s);
	*id = v;
	rc = NOTE_OK;
out:
	OPENSSL_cleanse(raw, sizeof raw);
	return rc;
}

int note_signer_from_string(const char *skey, note_signer **out, const char **why)
{
	int rc = NOTE_EMALFORMED;
	unsigned char seed[NOTE_SEED_LEN];
	const char *name;
	size_t n;
	uint32_t id;
	note_signer *s = NULL;
	if (strncmp(skey, SKEY_PREFIX, strlen(SKEY_PREFIX))) {
		set_why(why, "a signer key starts with PRIVATE+KEY+");
		goto out;
	}
	if ((rc = key_parse(skey + strlen(SKEY_PREFIX), &name, &n, &id, seed, why)))
		goto out;
	if ((rc = signer_make(name, n, seed, &s)))
		goto out;
	if (s->id != id) {
		set_why(why, "the key id does not match the name and key");
		rc = NOTE_EMALFORMED;
		goto out;
	}
	*out = s;
	s = NULL;
out:
	OPENSSL_cleanse(seed, sizeof seed);
	note_signer_free(s);
	return rc;
}

/* "name+hex8+base64(0x01||key)" with an optional prefix, malloc'd. */
static int key_string(const char *prefix, const char *name, uint32_t id,
                      const unsigned char key[32], char **out)
{
	unsigned char raw[33];
	char b64[45];
	raw[0] = NOTE_ALG_ED25519;
	memcpy(raw + 1, key, 32);
	b64_encode(raw, sizeof raw, b64);
	OPENSSL_cleanse(raw, sizeof raw);
	size_t len = strlen(prefix) + strlen(name) + 1 + 8 + 1 + 44 + 1;
	char *s = malloc(len);
	if (s)
		snprintf(s, len, "%s%s+%08" PRIx32 "+%s", prefix, name, id, b64);
	OPENSSL_cleanse(b64, sizeof b64);
	if (!s)
		return NOTE_ENOMEM;
	*out = s;
	return NOTE_OK;
}

int note_signer_to_string(const note_signer *s, char **out)
{
	unsigned char seed[NOTE_SEED_LEN];
	size_t seedlen = sizeof seed;
	int rc = NOTE_ECRYPTO;
	if (EVP_PKEY_get_raw_private_key(s->key, seed, &seedlen) == 1 && seedlen == sizeof seed)
		rc = key_string(SKEY_PREFIX, s->name, s->id, seed, out);
	OPENSSL_cleanse(seed, sizeof seed);
	return rc;
}

int note_signer_verifier_key(const note_signer *s, char **out)
{
	return key_string("", s->name, s->id, s->pub, out);
}

int note_signer_save(const note_signer *s, const char *path)
{
	char *str = NULL;
	size_t len = 0;
	int rc = note_signer_to_string(s, &str);
	if (rc)
		return rc;
	rc = NOTE_EIO;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		goto out;
	len = strlen(str);
	str[len] = '\n'; /* written with the newline; the NUL is not needed */
	size_t done = 0;
	while (done < len + 1) {
		ssize_t w = write(fd, str + done, len + 1 - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto out;
		done += (size_t)w;
	}
	if (fsync(fd))
		goto out;
	rc = NOTE_OK;
out:
	if (fd >= 0) {
		int saved = errno;
		if (close(fd) && rc == NOTE_OK)
			rc = NOTE_EIO;
		else
			errno = saved;
	}
	if (rc == NOTE_EIO && fd >= 0) {
		int saved = errno;
		unlink(path);
		errno = saved;
	}
	OPENSSL_cleanse(str, len ? len + 1 : strlen(str));
	free(str);
	return rc;
}

int note_signer_load(const char *path, note_signer **out, const char **why)
{
	char buf[4097];
	size_t len = 0;
	int rc = NOTE_EIO;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NOTE_EIO;
	for (;;) {
		ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto out;
		if (r == 0)
			break;
		len += (size_t)r;
		if (len == sizeof buf - 1) {
			rc = NOTE_EMALFORMED;
			set_why(why, "the key file is longer than 4 KiB");
			goto out;
		}
	}
	if (len && buf[len - 1] == '\n')
		len--;
	buf[len] = '\0';
	if (memchr(buf, '\0', len) || memchr(buf, '\n', len)) {
		rc = NOTE_EMALFORMED;
		set_why(why, "the key file holds more than one line");
		goto out;
	}
	rc = note_signer_from_string(buf, out, why);
out:
	close(fd);
	OPENSSL_cleanse(buf, sizeof buf);
	return rc;
}

const char *note_signer_name(const note_signer *s)
{
	return s->name;
}

uint32_t note_signer_key_id(const note_signer *s)
{
	return s->id;
}

void note_signer_free(note_signer *s)
{
	if (!s)
		return;
	EVP_PKEY_free(s->key);
	free(s->name);
	free(s);
}

static int verifier_make(const char *name, size_t n, const unsigned char pub[32],
                         note_verifier **out)
{
	int rc = NOTE_ENOMEM;
	note_verifier *v = calloc(1, sizeof *v);
	if (!v || !(v->name = strndup_checked(name, n)))
		goto out;
	memcpy(v->pub, pub, NOTE_PUBLIC_KEY_LEN);
	v->id = key_id_n(name, n, pub);
	rc = NOTE_ECRYPTO;
	if (!(v->key =
	          EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, NOTE_PUBLIC_KEY_LEN)))
		goto out;
	*out = v;
	v = NULL;
	rc = NOTE_OK;
out:
	note_verifier_free(v);
	return rc;
}

int note_verifier_from_string(const char *vkey, note_verifier **out, const char **why)
{
	const char *name;
	size_t n;
	uint32_t id;
	unsigned char pub[32];
	note_verifier *v = NULL;
	int rc = key_parse(vkey, &name, &n, &id, pub, why);
	if (rc)
		return rc;
	if ((rc = verifier_make(name, n, pub, &v)))
		return rc;
	if (v->id != id) {
		set_why(why, "the key id does not match the name and key");
		note_verifier_free(v);
		return NOTE_EMALFORMED;
	}
	*out = v;
	return NOTE_OK;
}

int note_verifier_from_signer(const note_signer *s, note_verifier **out)
{
	return verifier_make(s->name, strlen(s->name), s->pub, out);
}

const char *note_verifier_name(const note_verifier *v)
{
	return v->name;
}

uint32_t note_verifier_key_id(const note_verifier *v)
{
	return v->id;
}

void note_verifier_free(note_verifier *v)
{
	if (!v)
		return;
	EVP_PKEY_free(v->key);
	free(v->name);
	free(v);
}

/* ---- sign and verify ---- */

static int ed25519_sign(EVP_PKEY *key, const char *msg, size_t len, unsigned char sig[64])
{
	size_t siglen = NOTE_SIG_LEN;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
	         EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)msg, len) == 1 &&
	         siglen == NOTE_SIG_LEN;
	EVP_MD_CTX_free(ctx);
	return ok ? NOTE_OK : NOTE_ECRYPTO;
}

/* 1 verified, 0 not, -1 OpenSSL failed. */
static int ed25519_verify(EVP_PKEY *key, const char *msg, size_t len, const unsigned char *sig,
                          size_t siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -1;
	int r = -1;
	if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1)
		r = EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)msg, len) == 1;
	EVP_MD_CTX_free(ctx);
	return r;
}

int note_sign(const char *text, size_t len, const note_signer *const *signers, size_t nsigners,
              char **out, size_t *out_len)
{
	if (len == 0 || text[len - 1] != '\n' || !text_valid(text, len) || nsigners == 0 ||
	    nsigners > NOTE_MAX_SIGS)
		return NOTE_EINVAL;
	size_t cap = len + 1;
	for (size_t i = 0; i < nsigners; i++)
		cap += strlen(SIG_PREFIX) + strlen(signers[i]->name) + 1 + b64_encoded_len(4 + 64) + 1;
	char *buf = malloc(cap + 1);
	if (!buf)
		return NOTE_ENOMEM;
	memcpy(buf, text, len);
	size_t o = len;
	buf[o++] = '\n';
	for (size_t i = 0; i < nsigners; i++) {
		unsigned char raw[4 + NOTE_SIG_LEN];
		uint32_t id = signers[i]->id;
		raw[0] = (unsigned char)(id >> 24);
		raw[1] = (unsigned char)(id >> 16);
		raw[2] = (unsigned char)(id >> 8);
		raw[3] = (unsigned char)id;
		/* The signature covers the note text only (signed-note "Format"). */
		if (ed25519_sign(signers[i]->key, text, len, raw + 4)) {
			free(buf);
			return NOTE_ECRYPTO;
		}
		o += (size_t)sprintf(buf + o, SIG_PREFIX "%s ", signers[i]->name);
		b64_encode(raw, sizeof raw, buf + o);
		o += b64_encoded_len(sizeof raw);
		buf[o++] = '\n';
	}
	buf[o] = '\0';
	*out = buf;
	if (out_len)
		*out_len = o;
	return NOTE_OK;
}

int note_verify(const char *msg, size_t len, const note_verifier *const *verifiers,
                size_t nverifiers, size_t *text_len, const note_verifier **signed_by,
                const char **why)
{
	for (size_t i = 0; i < nverifiers; i++)
		for (size_t j = i + 1; j < nverifiers; j++)
			if (verifiers[i]->id == verifiers[j]->id &&
			    !strcmp(verifiers[i]->name, verifiers[j]->name)) {
				set_why(why, "two verifiers share a key name and id");
				return NOTE_EINVAL;
			}
	if (len > NOTE_MAX_LEN) {
		set_why(why, "the note is longer than the limit");
		return NOTE_EMALFORMED;
	}
	if (!text_valid(msg, len)) {
		set_why(why, "the note is not UTF-8 or holds a control character");
		return NOTE_EMALFORMED;
	}
	if (len == 0 || msg[len - 1] != '\n') {
		set_why(why, "the note does not end in a newline");
		return NOTE_EMALFORMED;
	}
	/* The text ends at the last empty line (signed-note "Format"). */
	size_t split = len;
	for (size_t i = len - 1; i > 0; i--)
		if (msg[i] == '\n' && msg[i - 1] == '\n') {
			split = i;
			break;
		}
	if (split == len) {
		set_why(why, "the note has no blank line before its signatures");
		return NOTE_EMALFORMED;
	}
	size_t tlen = split; /* the text includes its final newline, msg[split-1] */
	const char *p = msg + split + 1, *end = msg + len;
	if (p == end) {
		set_why(why, "the note has no signature line");
		return NOTE_EMALFORMED;
	}
	/* First pass: the form of every line and the limit, so that a
	 * malformed note is refused as such whatever its signatures. */
	const note_verifier *first = NULL;
	unsigned char *raw = malloc(len);
	if (!raw)
		return NOTE_ENOMEM;
	int rc = NOTE_EMALFORMED;
	size_t nsigs = 0;
	for (const char *q = p; q < end;) {
		const char *nl = memchr(q, '\n', (size_t)(end - q));
		size_t plen = strlen(SIG_PREFIX);
		if ((size_t)(nl - q) < plen || memcmp(q, SIG_PREFIX, plen)) {
			set_why(why, "a signature line does not start with an em dash and a space");
			goto out;
		}
		const char *name = q + plen;
		const char *sp = memchr(name, ' ', (size_t)(nl - name));
		if (!sp || !name_valid_n(name, (size_t)(sp - name))) {
			set_why(why, "a signature line has no valid key name");
			goto out;
		}
		if (b64_decode(sp + 1, (size_t)(nl - sp - 1), raw) < 5) {
			set_why(why, "a signature is not base64 of a key id and a signature");
			goto out;
		}
		if (++nsigs > NOTE_MAX_SIGS) {
			set_why(why, "the note has more signature lines than the limit");
			goto out;
		}
		q = nl + 1;
	}
	/* Second pass: verify the lines from known keys. */
	rc = NOTE_EUNVERIFIED;
	set_why(why, "no signature from a known key");
	for (const char *q = p; q < end;) {
		const char *nl = memchr(q, '\n', (size_t)(end - q));
		const char *name = q + strlen(SIG_PREFIX);
		const char *sp = memchr(name, ' ', (size_t)(nl - name));
		size_t nlen = (size_t)(sp - name);
		long rawlen = b64_decode(sp + 1, (size_t)(nl - sp - 1), raw);
		q = nl + 1;
		uint32_t id = (uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 |
		              (uint32_t)raw[2] << 8 | raw[3];
		const note_verifier *v = NULL;
		for (size_t i = 0; i < nverifiers && !v; i++)
			if (verifiers[i]->id == id && strlen(verifiers[i]->name) == nlen &&
			    !memcmp(verifiers[i]->name, name, nlen))
				v = verifiers[i];
		if (!v)
			continue; /* unknown key: ignored (signed-note "Signatures") */
		int ok = rawlen == 4 + NOTE_SIG_LEN
		             ? ed25519_verify(v->key, msg, tlen, raw + 4, NOTE_SIG_LEN)
		             : 0;
		if (ok < 0) {
			rc = NOTE_ECRYPTO;
			set_why(why, "OpenSSL failed");
			goto out;
		}
		if (!ok) {
			rc = NOTE_EBADSIG;
			set_why(why, "a signature from a known key does not verify");
			goto out;
		}
		if (!first)
			first = v;
	}
	if (first) {
		rc = NOTE_OK;
		if (text_len)
			*text_len = tlen;
		if (signed_by)
			*signed_by = first;
	}
out:
	free(raw);
	return rc;
}

/* ---- checkpoints ---- */

int note_checkpoint_format(const char *origin, uint64_t size,
                           const unsigned char root[NOTE_ROOT_LEN], const char *extensions,
                           char **out)
{
	if (!note_name_valid(origin) || size > INT64_MAX)
		return NOTE_EINVAL;
	size_t elen = extensions ? strlen(extensions) : 0;
	if (elen) {
		if (extensions[elen - 1] != '\n' || extensions[0] == '\n' ||
		    strstr(extensions, "\n\n") || !text_valid(extensions, elen))
			return NOTE_EINVAL;
	}
	char b64[45];
	b64_encode(root, NOTE_ROOT_LEN, b64);
	size_t cap = strlen(origin) + 1 + 20 + 1 + 44 + 1 + elen + 1;
	char *s = malloc(cap);
	if (!s)
		return NOTE_ENOMEM;
	snprintf(s, cap, "%s\n%" PRIu64 "\n%s\n%s", origin, size, b64, elen ? extensions : "");
	*out = s;
	return NOTE_OK;
}

int note_checkpoint_parse(const char *text, size_t len, struct note_checkpoint *cp,
                          const char **why)
{
	memset(cp, 0, sizeof *cp);
	if (!text_valid(text, len)) {
		set_why(why, "the checkpoint is not UTF-8 or holds a control character");
		return NOTE_EMALFORMED;
	}
	if (len == 0 || text[len - 1] != '\n') {
		set_why(why, "the checkpoint does not end in a newline");
		return NOTE_EMALFORMED;
	}
	const char *end = text + len;
	const char *l1 = memchr(text, '\n', len);
	const char *l2 = l1 + 1 < end ? memchr(l1 + 1, '\n', (size_t)(end - l1 - 1)) : NULL;
	const char *l3 = l2 && l2 + 1 < end ? memchr(l2 + 1, '\n', (size_t)(end - l2 - 1)) : NULL;
	if (!l3) {
		set_why(why, "the checkpoint has fewer than three lines");
		return NOTE_EMALFORMED;
	}
	if (l1 == text) {
		set_why(why, "the checkpoint's origin is empty");
		return NOTE_EMALFORMED;
	}
	const char *sz = l1 + 1;
	size_t szlen = (size_t)(l2 - sz);
	if (szlen == 0 || szlen > 19 || (szlen > 1 && sz[0] == '0')) {
		set_why(why, "the tree size is empty, too long or has a leading zero");
		return NOTE_EMALFORMED;
	}
	uint64_t size = 0;
	for (size_t i = 0; i < szlen; i++) {
		if (sz[i] < '0' || sz[i] > '9') {
			set_why(why, "the tree size is not decimal digits");
			return NOTE_EMALFORMED;
		}
		size = size * 10 + (uint64_t)(sz[i] - '0');
	}
	if (size > INT64_MAX) {
		set_why(why, "the tree size is above 2^63-1");
		return NOTE_EMALFORMED;
	}
	unsigned char root[48];
	const char *r = l2 + 1;
	if (l3 - r != 44 || b64_decode(r, 44, root) != NOTE_ROOT_LEN) {
		set_why(why, "the root hash is not the base64 of 32 bytes");
		return NOTE_EMALFORMED;
	}
	const char *ext = l3 + 1;
	size_t elen = (size_t)(end - ext);
	for (size_t i = 0; i < elen; i++)
		if (ext[i] == '\n' && (i == 0 || ext[i - 1] == '\n')) {
			set_why(why, "an extension line is empty");
			return NOTE_EMALFORMED;
		}
	cp->origin = strndup_checked(text, (size_t)(l1 - text));
	cp->extensions = elen ? strndup_checked(ext, elen) : NULL;
	if (!cp->origin || (elen && !cp->extensions)) {
		note_checkpoint_clear(cp);
		return NOTE_ENOMEM;
	}
	cp->size = size;
	memcpy(cp->root, root, NOTE_ROOT_LEN);
	return NOTE_OK;
}

void note_checkpoint_clear(struct note_checkpoint *cp)
{
	free(cp->origin);
	free(cp->extensions);
	memset(cp, 0, sizeof *cp);
}
