/* fuzz_note: the input through every parser of note.h, as the verifier
 * and the auditor will meet untrusted checkpoints and keys:
 * note_verify (against the fixed Go test keys PeterNeumann and EnochRoot),
 * note_checkpoint_parse (the whole input, and the text of a verified note),
 * note_verifier_from_string / note_signer_from_string (the input up to its
 * first NUL) and b64_decode.
 *
 * Invariants: statuses in range; a verified note's text is one we know was
 * signed (the fuzzer cannot forge Ed25519), ends in a newline and is
 * followed by the blank line; a parsed checkpoint with a key-name origin
 * formats back to the same bytes; a parsed signer key prints back to the
 * input; base64 that decodes encodes back to the input. */
#include <stdint.h>

#include "fuzz_util.h"
#include "b64.h"
#include "note.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PETER_VKEY "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#define ENOCH_VKEY "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"

/* The texts signed in the seeds (corpus/fuzz_note/go-*.txt, checkpoint-*.txt). */
static const char *const signed_texts[] = {
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n",
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
};

static note_verifier *peter, *enoch;

static void check_checkpoint(const char *text, size_t len)
{
	struct note_checkpoint cp;
	const char *why = NULL;
	int rc = note_checkpoint_parse(text, len, &cp, &why);
	FUZZ_CHECK(rc == NOTE_OK || rc == NOTE_EMALFORMED || rc == NOTE_ENOMEM, "rc %d", rc);
	if (rc) {
		FUZZ_CHECK(cp.origin == NULL && cp.extensions == NULL, "refused but filled");
		FUZZ_CHECK(rc != NOTE_EMALFORMED || why, "refused without a reason");
		return;
	}
	FUZZ_CHECK(cp.origin[0] && cp.size <= INT64_MAX, "origin \"%s\" size %llu", cp.origin,
	           (unsigned long long)cp.size);
	if (note_name_valid(cp.origin)) {
		char *out = NULL;
		rc = note_checkpoint_format(cp.origin, cp.size, cp.root, cp.extensions, &out);
		FUZZ_CHECK(rc == NOTE_OK, "format refused a parsed checkpoint: %d", rc);
		FUZZ_CHECK(strlen(out) == len && !memcmp(out, text, len),
		           "round trip changed the checkpoint");
		free(out);
	}
	note_checkpoint_clear(&cp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!peter) {
		if (note_verifier_from_string(PETER_VKEY, &peter, NULL) ||
		    note_verifier_from_string(ENOCH_VKEY, &enoch, NULL))
			abort();
	}
	/* An exact-size copy: ASan sees any read past the end. */
	char *msg = malloc(size ? size : 1);
	if (!msg)
		abort();
	memcpy(msg, data, size);

	const note_verifier *vs[2] = {peter, enoch}, *by = NULL;
	size_t tl = 0;
	const char *why = NULL;
	int rc = note_verify(msg, size, vs, 2, &tl, &by, &why);
	FUZZ_CHECK(rc <= 0 && rc >= NOTE_ECRYPTO && rc != NOTE_EINVAL, "verify rc %d", rc);
	if (rc == NOTE_OK) {
		FUZZ_CHECK(by == peter || by == enoch, "no signer named");
		FUZZ_CHECK(tl > 0 && tl < size && msg[tl - 1] == '\n' && msg[tl] == '\n',
		           "text length %zu of %zu", tl, size);
		int known = 0;
		for (size_t i = 0; i < sizeof signed_texts / sizeof signed_texts[0]; i++)
			known |= strlen(signed_texts[i]) == tl && !memcmp(signed_texts[i], msg, tl);
		FUZZ_CHECK(known, "a text nobody signed verified: %.*s", (int)tl, msg);
		check_checkpoint(msg, tl);
	} else {
		FUZZ_CHECK(why != NULL, "refused without a reason: %d", rc);
	}
	check_checkpoint(msg, size);

	long n = -1;
	unsigned char *raw = malloc(size / 4 * 3 + 1);
	if (!raw)
		abort();
	n = b64_decode(msg, size, raw);
	if (n >= 0) {
		char *enc = malloc(b64_encoded_len((size_t)n) + 1);
		if (!enc)
			abort();
		b64_encode(raw, (size_t)n, enc);
		FUZZ_CHECK(strlen(enc) == size && !memcmp(enc, msg, size), "base64 round trip");
		free(enc);
	}
	free(raw);
	free(msg);

	char *s = fuzz_cstr(data, size);
	note_verifier *v = NULL;
	rc = note_verifier_from_string(s, &v, &why);
	FUZZ_CHECK(rc == NOTE_OK || rc == NOTE_EMALFORMED, "verifier rc %d", rc);
	if (rc == NOTE_OK) {
		FUZZ_CHECK(note_name_valid(note_verifier_name(v)), "verifier name");
		note_verifier_free(v);
	}
	note_signer *sg = NULL;
	rc = note_signer_from_string(s, &sg, &why);
	FUZZ_CHECK(rc == NOTE_OK || rc == NOTE_EMALFORMED, "signer rc %d", rc);
	if (rc == NOTE_OK) {
		char *back = NULL;
		FUZZ_CHECK(note_signer_to_string(sg, &back) == NOTE_OK && !strcmp(back, s),
		           "signer key round trip: %s", s);
		free(back);
		note_signer_free(sg);
	}
	free(s);
	return 0;
}
