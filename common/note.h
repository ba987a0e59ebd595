/* note: C2SP signed notes with Ed25519 (c2sp.org/signed-note) and the
 * tlog-checkpoint note text (c2sp.org/tlog-checkpoint).
 *
 * A signed note is a text that ends in a newline, a blank line, then one
 * or more lines "— <key name> base64(key id || signature)". The key id is
 * SHA-256(name || 0x0A || 0x01 || 32-byte public key)[:4], big-endian.
 *
 * Keys use the text encodings of golang.org/x/mod/sumdb/note, so a key made
 * here works with the Go tools and the reverse:
 *   signer (secret):  PRIVATE+KEY+<name>+<hex key id>+base64(0x01 || 32-byte seed)
 *   verifier:         <name>+<hex key id>+base64(0x01 || 32-byte public key)
 *
 * Pure: OpenSSL only (plus reading and writing one key file). Signers and
 * verifiers are opaque, made by the *_new/_from_string/_load functions and
 * freed by *_free; strings returned through char ** are malloc'd for the
 * caller to free(). Status returns are 0 (NOTE_OK) or a negative
 * enum note_status; note_status_string explains one. Parsers given a
 * `const char **why` (NULL allowed) set it on refusal to a static sentence
 * naming the rule broken. Signers and verifiers are read-only once made:
 * several threads may sign or verify with one at the same time. */
#ifndef AUDITLOG_NOTE_H
#define AUDITLOG_NOTE_H

#include <stddef.h>
#include <stdint.h>

#define NOTE_WUR __attribute__((warn_unused_result))

#define NOTE_PUBLIC_KEY_LEN 32   /* Ed25519 public key (RFC 8032) */
#define NOTE_SEED_LEN       32   /* Ed25519 private key seed (RFC 8032) */
#define NOTE_SIG_LEN        64   /* Ed25519 signature (RFC 8032) */
#define NOTE_ALG_ED25519    0x01 /* signature type byte, c2sp.org/signed-note "Signature types" */
/* Limits applied when verifying (c2sp.org/signed-note "Format": at least 16
 * signatures MUST be accepted; we accept 100, as golang.org/x/mod does). */
#define NOTE_MAX_SIGS 100
#define NOTE_MAX_LEN  (1u << 20) /* whole signed note, bytes */
#define NOTE_MAX_NAME 1024       /* key name, bytes */
#define NOTE_ROOT_LEN 32         /* checkpoint root hash (SHA-256) */

enum note_status {
	NOTE_OK = 0,
	NOTE_EMALFORMED = -1,  /* input breaks the format (see *why) */
	NOTE_EUNVERIFIED = -2, /* no signature from a known key */
	NOTE_EBADSIG = -3,     /* a signature from a known key does not verify */
	NOTE_EINVAL = -4,      /* bad argument from our side (name, text, verifier list) */
	NOTE_ENOMEM = -5,
	NOTE_ECRYPTO = -6, /* OpenSSL failed */
	NOTE_EIO = -7,     /* key file could not be read or written (errno kept) */
};

/* A static sentence for a status. */
const char *note_status_string(int status);

typedef struct note_signer note_signer;
typedef struct note_verifier note_verifier;

/* True if name is a valid key name (c2sp.org/signed-note "Format"):
 * non-empty valid UTF-8, no Unicode space, no '+', no control character,
 * at most NOTE_MAX_NAME bytes. */
int note_name_valid(const char *name);

/* The key id of an Ed25519 key: SHA-256(name || 0x0A || 0x01 || pub)[:4]
 * read big-endian (c2sp.org/signed-note "Ed25519 signatures"). */
uint32_t note_key_id(const char *name, const unsigned char pub[NOTE_PUBLIC_KEY_LEN]);

/* Makes a fresh Ed25519 key pair named name (copied). *out is the caller's,
 * freed with note_signer_free. NOTE_EINVAL for an invalid name. */
NOTE_WUR int note_signer_generate(const char *name, note_signer **out);
/* Parses a signer key "PRIVATE+KEY+name+hex8+base64(0x01||seed)"; the key id
 * must match the one computed from name and key. NOTE_EMALFORMED otherwise. */
NOTE_WUR int note_signer_from_string(const char *skey, note_signer **out, const char **why);
/* The signer key string of s, malloc'd into *out. It is a secret: the caller
 * should OPENSSL_cleanse it before free. */
NOTE_WUR int note_signer_to_string(const note_signer *s, char **out);
/* Writes the signer key string and a newline to a new file at path, mode
 * 0600 (O_EXCL: an existing file is never overwritten), and fsyncs it.
 * NOTE_EIO with errno set on failure (EEXIST if the file exists). */
NOTE_WUR int note_signer_save(const note_signer *s, const char *path);
/* Reads a file written by note_signer_save (one line, optional final
 * newline, at most 4 KiB). NOTE_EIO with errno, or NOTE_EMALFORMED. */
NOTE_WUR int note_signer_load(const char *path, note_signer **out, const char **why);
/* The verifier key string "name+hex8+base64(0x01||pub)" of s, malloc'd. */
NOTE_WUR int note_signer_verifier_key(const note_signer *s, char **out);
/* Borrowed views, valid while s lives. */
const char *note_signer_name(const note_signer *s);
uint32_t note_signer_key_id(const note_signer *s);
/* Frees s (NULL allowed), wiping the private key. */
void note_signer_free(note_signer *s);

/* Parses a verifier key "name+hex8+base64(0x01||pub)" (8 lowercase hex
 * digits; the id must match name and key). *out freed with
 * note_verifier_free. */
NOTE_WUR int note_verifier_from_string(const char *vkey, note_verifier **out, const char **why);
/* The verifier of a signer's public half. */
NOTE_WUR int note_verifier_from_signer(const note_signer *s, note_verifier **out);
const char *note_verifier_name(const note_verifier *v);
uint32_t note_verifier_key_id(const note_verifier *v);
void note_verifier_free(note_verifier *v);

/* Signs text (len bytes; valid UTF-8, no control character but newline,
 * non-empty, ending in a newline; c2sp.org/signed-note "Format") with each
 * of the nsigners signers, in order. *out (malloc'd, NUL-terminated,
 * *out_len bytes without the NUL; out_len may be NULL) is the signed note:
 * text, "\n", one signature line per signer. NOTE_EINVAL for a text that
 * breaks the rules or nsigners == 0. */
NOTE_WUR int note_sign(const char *text, size_t len, const note_signer *const *signers,
                       size_t nsigners, char **out, size_t *out_len);

/* Opens the signed note msg (len bytes, c2sp.org/signed-note "Signatures"):
 * checks the format and limits, then each signature line whose key name
 * and key id both match one of the nverifiers verifiers. Lines from other
 * keys are ignored. Returns
 *   NOTE_OK          at least one known signature, and all of them, verify;
 *   NOTE_EMALFORMED  the note breaks the format or a limit (*why says which);
 *   NOTE_EBADSIG     a known key's signature fails (the whole note is refused);
 *   NOTE_EUNVERIFIED no line is from a known key;
 *   NOTE_EINVAL      two verifiers share name and key id.
 * On NOTE_OK, *text_len (may be NULL) is the length of the note text, which
 * is msg[0 .. *text_len), ending in its newline; *signed_by (may be NULL)
 * is the first verifier whose signature verified. Nothing is allocated. */
NOTE_WUR int note_verify(const char *msg, size_t len, const note_verifier *const *verifiers,
                         size_t nverifiers, size_t *text_len, const note_verifier **signed_by,
                         const char **why);

/* A checkpoint's note text (c2sp.org/tlog-checkpoint "Note text"). */
struct note_checkpoint {
	char *origin;  /* malloc'd, non-empty, no newline */
	uint64_t size; /* tree size, at most INT64_MAX */
	unsigned char root[NOTE_ROOT_LEN];
	char *extensions; /* malloc'd extension lines, each ending in "\n"; NULL if none */
};

/* Formats "origin\nsize\nbase64(root)\n" followed by extensions (NULL or
 * non-empty lines each ending in a newline) into *out (malloc'd,
 * NUL-terminated). The origin must be a valid key name (we use it as the
 * key name: tlog-checkpoint "Signatures"), size <= INT64_MAX. NOTE_EINVAL
 * otherwise. */
NOTE_WUR int note_checkpoint_format(const char *origin, uint64_t size,
                                    const unsigned char root[NOTE_ROOT_LEN], const char *extensions,
                                    char **out);
/* Parses a checkpoint note text (the text note_verify returns, len bytes):
 * a non-empty origin line; the size in decimal with no leading zero (0
 * alone for the empty tree) up to INT64_MAX; the root as canonical padded
 * base64 of exactly 32 bytes; then optional non-empty extension lines; the
 * text ends in a newline, is valid UTF-8 without control characters but
 * newline. On NOTE_OK, *cp is filled (free with note_checkpoint_clear);
 * on NOTE_EMALFORMED or NOTE_ENOMEM it is left zeroed. */
NOTE_WUR int note_checkpoint_parse(const char *text, size_t len, struct note_checkpoint *cp,
                                   const char **why);
/* Frees what cp holds and zeroes it (cp itself is the caller's). */
void note_checkpoint_clear(struct note_checkpoint *cp);

#endif
