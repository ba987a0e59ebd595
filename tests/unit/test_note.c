#include "b64.h"
#include "note.h"
#include "testhelp.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

/* golang.org/x/mod/sumdb/note, note_test.go and example_test.go: the keys
 * and signatures every C2SP signed-note implementation is tested against.
 * EnochRoot's key is the one the Go example derives from an all-zero seed. */
#define PETER_VKEY "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#define PETER_SKEY "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
#define ENOCH_VKEY "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
#define ENOCH_SKEY "PRIVATE+KEY+EnochRoot+af0cfe78+AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define TEXT                                                                                       \
	"If you think cryptography is the answer to your problem,\n"                               \
	"then you don't know what your problem is.\n"
#define PETER_SIG                                                                                  \
	"\xe2\x80\x94 PeterNeumann "                                                               \
	"x08go/ZJkuBS9UG/"                                                                         \
	"SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
#define ENOCH_SIG                                                                                  \
	"\xe2\x80\x94 EnochRoot "                                                                  \
	"rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/"                                             \
	"5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"

static int verify1(const char *msg, const note_verifier *v)
{
	const note_verifier *vs[1] = {v};
	size_t tl = 0;
	return note_verify(msg, strlen(msg), vs, 1, &tl, NULL, NULL);
}

static void test_vectors(void)
{
	note_verifier *peter = NULL, *enoch = NULL;
	note_signer *speter = NULL, *senoch = NULL;
	const char *why = NULL;
	CHECK_INT(note_verifier_from_string(PETER_VKEY, &peter, &why), NOTE_OK);
	CHECK_INT(note_verifier_from_string(ENOCH_VKEY, &enoch, &why), NOTE_OK);
	CHECK_INT(note_signer_from_string(PETER_SKEY, &speter, &why), NOTE_OK);
	CHECK_INT(note_signer_from_string(ENOCH_SKEY, &senoch, &why), NOTE_OK);
	if (!peter || !enoch || !speter || !senoch)
		goto out;
	CHECK_INT(note_verifier_key_id(peter), 0xc74f20a3);
	CHECK_INT(note_signer_key_id(speter), 0xc74f20a3);
	CHECK_INT(note_verifier_key_id(enoch), 0xaf0cfe78);
	CHECK_STR(note_verifier_name(peter), "PeterNeumann");

	/* Our key strings are the published ones. */
	char *s = NULL;
	CHECK_INT(note_signer_verifier_key(speter, &s), NOTE_OK);
	CHECK_STR(s, PETER_VKEY);
	free(s);
	s = NULL;
	CHECK_INT(note_signer_to_string(speter, &s), NOTE_OK);
	CHECK_STR(s, PETER_SKEY);
	free(s);
	s = NULL;
	CHECK_INT(note_signer_verifier_key(senoch, &s), NOTE_OK);
	CHECK_STR(s, ENOCH_VKEY);
	free(s);

	/* The published note verifies; its text is returned. */
	const char *msg = TEXT "\n" PETER_SIG;
	const note_verifier *vs[2] = {peter, enoch}, *by = NULL;
	size_t tl = 0;
	CHECK_INT(note_verify(msg, strlen(msg), vs, 1, &tl, &by, &why), NOTE_OK);
	CHECK_INT(tl, strlen(TEXT));
	CHECK(by == peter);
	/* Ed25519 is deterministic: signing gives the published note byte for byte. */
	char *out = NULL;
	size_t outlen = 0;
	const note_signer *ss[2] = {speter, senoch};
	CHECK_INT(note_sign(TEXT, strlen(TEXT), ss, 2, &out, &outlen), NOTE_OK);
	CHECK_STR(out, TEXT "\n" PETER_SIG ENOCH_SIG);
	CHECK_INT(outlen, strlen(TEXT "\n" PETER_SIG ENOCH_SIG));
	free(out);

	/* Two signatures: either verifier alone, and both, accept; Enoch alone is
	 * named as the signer when it is the only known key. */
	const char *two = TEXT "\n" PETER_SIG ENOCH_SIG;
	CHECK_INT(note_verify(two, strlen(two), vs, 2, &tl, &by, NULL), NOTE_OK);
	CHECK_INT(verify1(two, enoch), NOTE_OK);
	const note_verifier *only_enoch[1] = {enoch};
	CHECK_INT(note_verify(two, strlen(two), only_enoch, 1, NULL, &by, NULL), NOTE_OK);
	CHECK(by == enoch);
	/* The wrong key: not signed by a known key. */
	CHECK_INT(verify1(msg, enoch), NOTE_EUNVERIFIED);
	CHECK_INT(note_verify(msg, strlen(msg), vs, 0, NULL, NULL, NULL), NOTE_EUNVERIFIED);
	/* Two verifiers with one name and id are refused. */
	const note_verifier *dup[2] = {peter, peter};
	CHECK_INT(note_verify(msg, strlen(msg), dup, 2, NULL, NULL, NULL), NOTE_EINVAL);

	/* A signature line with the right id and the wrong name, or the right
	 * name and another id, is from an unknown key: ignored. */
	const char *wrong_name =
	    TEXT "\n"
	         "\xe2\x80\x94 PeterNeuman "
	         "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSN"
	         "XgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
	CHECK_INT(verify1(wrong_name, peter), NOTE_EUNVERIFIED);
	const char *wrong_id =
	    TEXT "\n"
	         "\xe2\x80\x94 PeterNeumann "
	         "x18go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgK"
	         "vqfqdngotpRZb6KE6RyyBwJnAM=\n";
	CHECK_INT(verify1(wrong_id, peter), NOTE_EUNVERIFIED);
	/* A known key's signature over other text: the whole note is refused,
	 * even beside a good one. */
	const char *other = "If you think cryptography is the answer to your problem,\n"
	                    "then you don't know what your problem is!\n\n" PETER_SIG;
	CHECK_INT(verify1(other, peter), NOTE_EBADSIG);
	const char *bad_and_good =
	    TEXT "\n" ENOCH_SIG "\xe2\x80\x94 PeterNeumann "
	         "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNX"
	         "gKvqfqdngotpRZb6KE6RyyBwJnAA=\n";
	CHECK_INT(note_verify(bad_and_good, strlen(bad_and_good), vs, 2, NULL, NULL, NULL),
	          NOTE_EBADSIG);

	/* Every bit flip of a note with one signature is refused, whatever the
	 * reason (malformed, bad signature, or now from an unknown key). */
	size_t n = strlen(msg);
	char *buf = malloc(strlen(two) + 1);
	int accepted = 0;
	for (size_t i = 0; i < n; i++)
		for (int bit = 0; bit < 8; bit++) {
			memcpy(buf, msg, n + 1);
			buf[i] = (char)(buf[i] ^ (1 << bit));
			if (note_verify(buf, n, vs, 2, NULL, NULL, NULL) == NOTE_OK)
				accepted++;
		}
	CHECK_INT(accepted, 0);
	/* With two signatures, a flip that turns one line's name or key id into
	 * an unknown key leaves the other's valid signature: the note is
	 * accepted (unknown keys are ignored), but never with another text. */
	n = strlen(two);
	int text_changed = 0, still_ok = 0;
	for (size_t i = 0; i < n; i++)
		for (int bit = 0; bit < 8; bit++) {
			memcpy(buf, two, n + 1);
			buf[i] = (char)(buf[i] ^ (1 << bit));
			tl = 0;
			if (note_verify(buf, n, vs, 2, &tl, NULL, NULL) == NOTE_OK) {
				still_ok++;
				if (tl != strlen(TEXT) || memcmp(buf, TEXT, tl))
					text_changed++;
			}
		}
	CHECK_INT(text_changed, 0);
	CHECK(still_ok > 0);
	free(buf);

	/* Malformed notes. */
	const char *bad[] = {
	    TEXT PETER_SIG,                /* no blank line */
	    TEXT "\n" PETER_SIG "extra",   /* trailing data, no newline */
	    TEXT "\n" PETER_SIG "extra\n", /* trailing data line */
	    TEXT "\n" PETER_SIG "\n",      /* blank line at the end */
	    TEXT "\n",                     /* no signature line */
	    "",                            /* nothing */
	    TEXT
	    "\n- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvq"
	    "fqdngotpRZb6KE6RyyBwJnAM=\n", /* hyphen, not em dash */
	    TEXT
	    "\n\xe2\x80\x94 PeterNeumann  x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFY"
	    "C2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n", /* two spaces */
	    TEXT
	    "\n\xe2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC"
	    "2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM\n",    /* no padding */
	    TEXT "\n\xe2\x80\x94 PeterNeumann AAAA\n", /* shorter than a key id */
	    TEXT
	    "\n\xe2\x80\x94 x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqd"
	    "ngotpRZb6KE6RyyBwJnAM=\n", /* no name */
	    "a\rb\n\n" PETER_SIG,       /* control character */
	    "\xc3\x28\n\n" PETER_SIG,   /* bad UTF-8 */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why = NULL;
		int rc = verify1(bad[i], peter);
		if (rc != NOTE_EMALFORMED)
			fprintf(stderr, "bad note %zu: %d\n", i, rc);
		CHECK_INT(rc, NOTE_EMALFORMED);
		const note_verifier *vv[1] = {peter};
		CHECK_INT(note_verify(bad[i], strlen(bad[i]), vv, 1, NULL, NULL, &why),
		          NOTE_EMALFORMED);
		CHECK(why != NULL);
	}

	/* Key strings: manglings are refused. */
	note_verifier *v = NULL;
	const char *bad_vkeys[] = {
	    "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /* id */
	    "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /* upper */
	    "PeterNeumanN+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /* name */
	    "PeterNeumann+c74f20a3+Apc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  /* short */
	    "PeterNeumann+c74f20a3+AhpC2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /* type */
	    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TX", /* key */
	    "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
	    "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
	    "PeterNeumann+c74f20a3",
	    "PeterNeumann",
	    "",
	    PETER_SKEY,
	};
	for (size_t i = 0; i < sizeof bad_vkeys / sizeof bad_vkeys[0]; i++) {
		why = NULL;
		CHECK_INT(note_verifier_from_string(bad_vkeys[i], &v, &why), NOTE_EMALFORMED);
		CHECK(why != NULL);
	}
	note_signer *sg = NULL;
	CHECK_INT(note_signer_from_string(PETER_VKEY, &sg, &why), NOTE_EMALFORMED);
	CHECK_INT(note_signer_from_string("PRIVATE+KEY+PeterNeumann+c74f20a3+"
	                                  "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFy",
	                                  &sg, &why),
	          NOTE_EMALFORMED); /* another seed: the id no longer matches */
out:
	note_verifier_free(peter);
	note_verifier_free(enoch);
	note_signer_free(speter);
	note_signer_free(senoch);
}

/* Our own key pair: generate, sign, verify, save, load; and the signature
 * checked by OpenSSL's own Ed25519 verifier through the public key. */
static void test_round_trip(void)
{
	note_signer *s = NULL, *loaded = NULL;
	note_verifier *v = NULL, *parsed = NULL;
	char *vkey = NULL, *msg = NULL;
	const char *why = NULL;
	CHECK_INT(note_signer_generate("log.example/auditlog", &s), NOTE_OK);
	CHECK_INT(note_signer_generate("bad name", &s), NOTE_EINVAL);
	CHECK_INT(note_signer_generate("a+b", &s), NOTE_EINVAL);
	CHECK_INT(note_signer_generate("", &s), NOTE_EINVAL);
	if (!s)
		return;
	CHECK_INT(note_signer_verifier_key(s, &vkey), NOTE_OK);
	CHECK_INT(note_verifier_from_string(vkey, &parsed, &why), NOTE_OK);
	CHECK_INT(note_verifier_from_signer(s, &v), NOTE_OK);
	if (!parsed || !v)
		goto out;
	CHECK_INT(note_verifier_key_id(parsed), note_signer_key_id(s));
	CHECK(!strncmp(vkey, "log.example/auditlog+", 21) && strlen(vkey) == 21 + 8 + 1 + 44);

	const char *text =
	    "log.example/auditlog\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
	const note_signer *ss[1] = {s};
	size_t len = 0, tl = 0;
	CHECK_INT(note_sign(text, strlen(text), ss, 1, &msg, &len), NOTE_OK);
	CHECK_INT(verify1(msg, parsed), NOTE_OK);
	const note_verifier *vs[1] = {v};
	CHECK_INT(note_verify(msg, len, vs, 1, &tl, NULL, NULL), NOTE_OK);
	CHECK_INT(tl, strlen(text));
	CHECK(!memcmp(msg, text, tl));

	/* Texts that cannot be signed. */
	char *o = NULL;
	CHECK_INT(note_sign("no newline", 10, ss, 1, &o, NULL), NOTE_EINVAL);
	CHECK_INT(note_sign("", 0, ss, 1, &o, NULL), NOTE_EINVAL);
	CHECK_INT(note_sign("tab\there\n", 9, ss, 1, &o, NULL), NOTE_EINVAL);
	CHECK_INT(note_sign("ok\n", 3, ss, 0, &o, NULL), NOTE_EINVAL);
	/* Empty lines inside the text are allowed: the last blank line splits. */
	CHECK_INT(note_sign("a\n\nb\n\n", 6, ss, 1, &o, NULL), NOTE_OK);
	if (o) {
		CHECK_INT(note_verify(o, strlen(o), vs, 1, &tl, NULL, NULL), NOTE_OK);
		CHECK_INT(tl, 6);
		free(o);
	}

	/* The signature is a plain RFC 8032 Ed25519 signature of the text: OpenSSL
	 * verifies it with the public key from the verifier key string. */
	unsigned char raw[33], sig[68];
	CHECK_INT(b64_decode(vkey + strlen(vkey) - 44, 44, raw), 33);
	const char *line = msg + strlen(text) + 1;
	const char *b64 = strchr(line, ' ');
	b64 = b64 ? strchr(b64 + 1, ' ') : NULL;
	CHECK(b64 != NULL);
	if (b64) {
		CHECK_INT(b64_decode(b64 + 1, 92, sig), 68);
		EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw + 1, 32);
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		CHECK(pk && ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1 &&
		      EVP_DigestVerify(ctx, sig + 4, 64, (const unsigned char *)text,
		                       strlen(text)) == 1);
		EVP_MD_CTX_free(ctx);
		EVP_PKEY_free(pk);
	}

	/* Save (mode 0600, never over an existing file) and load. */
	char dir[] = "/tmp/test_note.XXXXXX";
	if (mkdtemp(dir)) {
		char path[64];
		snprintf(path, sizeof path, "%s/key", dir);
		CHECK_INT(note_signer_save(s, path), NOTE_OK);
		struct stat st;
		CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
		CHECK_INT(note_signer_save(s, path), NOTE_EIO);
		CHECK_INT(note_signer_load(path, &loaded, &why), NOTE_OK);
		if (loaded) {
			char *o2 = NULL;
			const note_signer *ls[1] = {loaded};
			CHECK_INT(note_sign(text, strlen(text), ls, 1, &o2, NULL), NOTE_OK);
			CHECK_STR(o2, msg); /* same key, same signature */
			free(o2);
		}
		FILE *f = fopen(path, "a");
		if (f) {
			fputs("second line\n", f);
			fclose(f);
		}
		note_signer *l2 = NULL;
		CHECK_INT(note_signer_load(path, &l2, &why), NOTE_EMALFORMED);
		note_signer_free(l2);
		unlink(path);
		CHECK_INT(note_signer_load(path, &l2, &why), NOTE_EIO);
		rmdir(dir);
	}

	/* 100 signature lines are accepted (16 must be), 101 are not. */
	size_t cap = len + 101 * 128;
	char *many = malloc(cap);
	if (many) {
		memcpy(many, msg, len);
		size_t m = len;
		const char *sigline = msg + strlen(text) + 1;
		size_t siglen = len - strlen(text) - 1;
		/* 99 lines from an unknown key, then our own line: 100 in all. */
		for (int i = 0; i < 99; i++)
			m += (size_t)sprintf(
			    many + m, "\xe2\x80\x94 other.example/%d AAAAAAAAAAAAAAAAAAAAAAAA\n",
			    i);
		CHECK_INT(note_verify(many, m, vs, 1, NULL, NULL, NULL), NOTE_OK);
		memcpy(many + m, sigline, siglen);
		m += siglen;
		CHECK_INT(note_verify(many, m, vs, 1, NULL, NULL, &why), NOTE_EMALFORMED);
		free(many);
	}
out:
	free(vkey);
	free(msg);
	note_signer_free(s);
	note_signer_free(loaded);
	note_verifier_free(v);
	note_verifier_free(parsed);
}

static void test_checkpoint(void)
{
	/* c2sp.org/tlog-checkpoint's example text. */
	const char *ex = "example.com/behind-the-sofa\n20852163\n"
	                 "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
	struct note_checkpoint cp;
	const char *why = NULL;
	CHECK_INT(note_checkpoint_parse(ex, strlen(ex), &cp, &why), NOTE_OK);
	CHECK_STR(cp.origin, "example.com/behind-the-sofa");
	CHECK_INT(cp.size, 20852163);
	CHECK(cp.extensions == NULL);
	CHECK_INT(cp.root[0], 0x0a);
	CHECK_INT(cp.root[31], 0x62);
	char *out = NULL;
	CHECK_INT(note_checkpoint_format(cp.origin, cp.size, cp.root, NULL, &out), NOTE_OK);
	CHECK_STR(out, ex);
	free(out);
	note_checkpoint_clear(&cp);

	/* The empty tree: size 0, root SHA-256 of nothing (RFC 9162 §2.1.1). */
	unsigned char empty[32];
	EVP_Digest("", 0, empty, NULL, EVP_sha256(), NULL);
	CHECK_INT(note_checkpoint_format("log.example/a", 0, empty, "ext one\nx\n", &out), NOTE_OK);
	CHECK_STR(out,
	          "log.example/a\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\next one\nx\n");
	if (out) {
		CHECK_INT(note_checkpoint_parse(out, strlen(out), &cp, &why), NOTE_OK);
		CHECK_INT(cp.size, 0);
		CHECK(!memcmp(cp.root, empty, 32));
		CHECK_STR(cp.extensions, "ext one\nx\n");
		note_checkpoint_clear(&cp);
		free(out);
	}
	CHECK_INT(note_checkpoint_format("o", 9223372036854775807ull, empty, NULL, &out), NOTE_OK);
	if (out) {
		CHECK_INT(note_checkpoint_parse(out, strlen(out), &cp, &why), NOTE_OK);
		CHECK(cp.size == 9223372036854775807ull);
		note_checkpoint_clear(&cp);
		free(out);
	}
	out = NULL;
	CHECK_INT(note_checkpoint_format("", 1, empty, NULL, &out), NOTE_EINVAL);
	CHECK_INT(note_checkpoint_format("has space", 1, empty, NULL, &out), NOTE_EINVAL);
	CHECK_INT(note_checkpoint_format("o", 9223372036854775808ull, empty, NULL, &out),
	          NOTE_EINVAL);
	CHECK_INT(note_checkpoint_format("o", 1, empty, "\n", &out), NOTE_EINVAL);
	CHECK_INT(note_checkpoint_format("o", 1, empty, "a\n\nb\n", &out), NOTE_EINVAL);
	CHECK_INT(note_checkpoint_format("o", 1, empty, "no newline", &out), NOTE_EINVAL);
	CHECK(out == NULL);

#define ROOT "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
	const char *bad[] = {
	    "\n5\n" ROOT,                                           /* empty origin */
	    "o\n05\n" ROOT,                                         /* leading zero */
	    "o\n00\n" ROOT,                                         /* leading zero */
	    "o\n\n" ROOT,                                           /* empty size */
	    "o\n-1\n" ROOT,                                         /* sign */
	    "o\n+1\n" ROOT,                                         /* sign */
	    "o\n 1\n" ROOT,                                         /* space */
	    "o\n9223372036854775808\n" ROOT,                        /* above 2^63-1 */
	    "o\n99999999999999999999\n" ROOT,                       /* above 2^64 */
	    "o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n",  /* no padding */
	    "o\n5\nCsUYapGGPo4dkMgIAUqom_Xajj7h2fB2MPA3j2jxq2I=\n", /* base64url */
	    "o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n", /* stray bits */
	    "o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxqw==\n", /* 31 bytes */
	    "o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2Ij\n", /* 33 bytes */
	    "o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=",   /* no final newline */
	    "o\n5\n",                                               /* two lines */
	    "o\n5\n" ROOT "\n",                                     /* empty extension */
	    "o\n5\n" ROOT "a\n\nb\n",                               /* empty extension */
	    "o\n5\n" ROOT "a",                                      /* cut extension */
	    "o\t\n5\n" ROOT,                                        /* control character */
	    "",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why = NULL;
		int rc = note_checkpoint_parse(bad[i], strlen(bad[i]), &cp, &why);
		if (rc != NOTE_EMALFORMED)
			fprintf(stderr, "bad checkpoint %zu: %d\n", i, rc);
		CHECK_INT(rc, NOTE_EMALFORMED);
		CHECK(why != NULL && cp.origin == NULL);
	}
	/* Origins need not be key names when parsed (tlog-checkpoint: clients MUST
	 * NOT assume the format). */
	const char *spaced = "my log\n1\n" ROOT;
	CHECK_INT(note_checkpoint_parse(spaced, strlen(spaced), &cp, &why), NOTE_OK);
	note_checkpoint_clear(&cp);
#undef ROOT
}

static void test_b64(void)
{
	/* RFC 4648 §10 test vectors. */
	const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	const char *want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	for (size_t i = 0; i < 7; i++) {
		char enc[16];
		unsigned char dec[16];
		b64_encode((const unsigned char *)in[i], strlen(in[i]), enc);
		CHECK_STR(enc, want[i]);
		long n = b64_decode(want[i], strlen(want[i]), dec);
		CHECK_INT(n, (long)strlen(in[i]));
		CHECK(n >= 0 && !memcmp(dec, in[i], (size_t)n));
	}
	unsigned char dec[16];
	CHECK_INT(b64_decode("Zg=", 3, dec), -1);
	CHECK_INT(b64_decode("Zh==", 4, dec), -1); /* stray bits */
	CHECK_INT(b64_decode("Z===", 4, dec), -1);
	CHECK_INT(b64_decode("Zg==Zg==", 8, dec), -1);
	CHECK_INT(b64_decode("Zm9v\n", 5, dec), -1);
	CHECK_INT(b64_decode("Zm=v", 4, dec), -1);
}

int main(void)
{
	test_b64();
	test_vectors();
	test_round_trip();
	test_checkpoint();
	return test_report("note");
}
