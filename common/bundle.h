/* bundle: both sides of an export bundle (docs/ledger.md "Export bundles").
 *
 * A bundle is NDJSON: one header line, then one line per event of
 * positions [from, to) of one log. A bundle that spans logs is a sequence
 * of such sections, one per log, each with its own header, checkpoint and
 * proofs; every header of it lists the bundle's logs ("logs"), in the
 * order of its sections, so a section removed is noticed. Every line is written as the RFC 8785
 * (JCS) form of its object followed by "\n", so an export is reproducible
 * byte for byte and a line has exactly one accepted spelling: the reading
 * side refuses a line that is not its own canonical form (BUNDLE_ECANON),
 * which closes the doors a lenient parser leaves open (a number spelled
 * with more digits than its double holds, a duplicated member, an extra
 * member the leaf does not cover).
 *
 * The writing side (bundle_event_write, bundle_header_write) is what the
 * auditor's /export calls; the reading side (bundle_header_parse,
 * bundle_event_check) is what auditlog-verify calls, one line at a time,
 * so a bundle of any size is checked in constant memory.
 *
 * Pure: jansson, OpenSSL's SHA-256, jcs.c, leaf.c, b64.c. Ownership is
 * said at each function; nothing is kept between calls except in a
 * bundle_reader, which the caller makes and frees. */
#ifndef AUDITLOG_BUNDLE_H
#define AUDITLOG_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "jcs.h"
#include "leaf.h"
#include "merkle.h"

#define BUNDLE_FORMAT "auditlog-bundle/v1"
/* The logs one bundle spans at most (a log id is below 2^16 in the
 * auditor's tables; this bounds a header's list). */
#define BUNDLE_LOGS_MAX 65536
#define BUNDLE_WUR    __attribute__((warn_unused_result))
/* Room for a reason sentence, NUL included (longer ones are cut). */
#define BUNDLE_WHY_LEN 256

/* ------------------------------------------------------------------ */
/* Writing (the exporter). */

/* One side of a change in an event line. */
struct bundle_side {
	int erased;                  /* 1: only the commitment is known */
	uint8_t salt[LEAF_SALT_LEN]; /* when !erased */
	const char *value_json;
	size_t value_len; /* when !erased: the value's JSON text, as stored */
	/* When erased: the commitment. When !erased: the stored commitment, or
	 * all zero to have it computed from salt and value. */
	uint8_t commitment[LEAF_COMMITMENT_LEN];
};
struct bundle_field {
	const char *field; /* borrowed, NUL-terminated */
	struct bundle_side prev, next;
};

/* Appends one event line, with its final "\n", to out (a jcs_buf the
 * caller owns and frees; out->status is left as the first failure).
 * The line has e's members (e->changes and e->nchanges are ignored; the
 * fields come from f, nf of them, strictly ascending by strcmp, as in the
 * leaf), each side opened as {"commitment","salt","value"} or
 * {"erased": commitment}, and "leaf" = base64(leaf_hash) (padded, RFC 4648
 * §4). An open side's commitment is side->commitment when that is not all
 * zero: pass the stored one, and a stored value changed since it was
 * committed is named by the verifier as a value that does not match its
 * commitment. All zero: computed here, SHA-256(salt ‖ JCS(value)), and the
 * same change reads as a leaf mismatch. Nothing is kept; the value texts are parsed (any JSON
 * value) and written in canonical form. Returns LEAF_OK, LEAF_EINVAL (a member missing or out of
 * range, fields not strictly ascending), LEAF_EVALUE (a value_json that is not JSON or has no
 * canonical form, a string that is not UTF-8), LEAF_ENOMEM or LEAF_ECRYPTO. On error out may hold
 * part of the line: reset out->len to where it was before the call. */
BUNDLE_WUR int bundle_event_write(const struct leaf_event *e, const struct bundle_field *f,
                                  size_t nf, const uint8_t leaf_hash[LEAF_HASH_LEN],
                                  struct jcs_buf *out);

/* What the header carries; every pointer is borrowed. */
struct bundle_header {
	uint32_t log;
	/* A bundle of several logs: its logs, ascending (2 to BUNDLE_LOGS_MAX,
	 * log among them), the same in each section's header. nlogs 0: a
	 * bundle of one log (no "logs" member, as before bundles spanned). */
	const uint32_t *logs;
	size_t nlogs;
	const char *origin; /* the checkpoint's origin line, NUL-terminated */
	uint64_t from, to;  /* positions [from, to), to <= LEAF_INT_MAX */
	const char *checkpoint;
	size_t checkpoint_len; /* the signed note, verbatim */
	const uint8_t (*left)[32];
	unsigned nleft; /* popcount(from) hashes */
	const uint8_t (*right)[32];
	unsigned nright; /* the right border of [to, S) */
	int has_pin;
	uint64_t pin_size;
	const uint8_t (*consistency)[32];
	size_t nconsistency;
};

/* Appends the header line (canonical JSON, with "\n") to out. Returns
 * LEAF_OK, LEAF_EINVAL (origin or checkpoint NULL, from > to, to beyond
 * 2^53, nleft != popcount(from), more than MERKLE_MAX_BORDER right hashes
 * or MERKLE_MAX_PROOF proof hashes, logs not ascending, one log or more
 * than BUNDLE_LOGS_MAX, or without log), LEAF_EVALUE (origin or checkpoint
 * not well-formed UTF-8) or LEAF_ENOMEM. */
BUNDLE_WUR int bundle_header_write(const struct bundle_header *h, struct jcs_buf *out);

/* ------------------------------------------------------------------ */
/* Reading (the verifier), one line at a time. A line is given without
 * its final "\n". */

enum bundle_status {
	BUNDLE_OK = 0,
	BUNDLE_ENOMEM = -1,
	BUNDLE_ENOTJSON = -2, /* the line is not one JSON text (or not UTF-8) */
	BUNDLE_EFORMAT = -3,  /* a member missing, unknown, of the wrong type or out of range */
	BUNDLE_ECANON = -4,   /* JSON of the right shape, but not its canonical (JCS) form */
	BUNDLE_EVALUE = -5,   /* an opened value does not match its commitment */
	BUNDLE_ELEAF = -6,    /* the members and commitments do not hash to the line's leaf */
	BUNDLE_ECRYPTO = -7,  /* SHA-256 failed */
};

/* A static sentence for a bundle_status. */
const char *bundle_status_string(int status);

/* A parsed header. Fixed arrays (about 8.5 KiB), so only origin,
 * checkpoint and logs are allocated; bundle_head_clear frees them. */
struct bundle_head {
	uint32_t log;
	uint32_t *logs; /* malloc'd; NULL (nlogs 0) in a bundle of one log */
	size_t nlogs;
	char *origin; /* malloc'd */
	uint64_t from, to;
	char *checkpoint;
	size_t checkpoint_len; /* malloc'd, NUL-terminated */
	uint8_t left[MERKLE_MAX_FRONTIER][MERKLE_HASH_LEN];
	unsigned nleft;
	uint8_t right[MERKLE_MAX_BORDER][MERKLE_HASH_LEN];
	unsigned nright;
	int has_pin;
	uint64_t pin_size;
	uint8_t consistency[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
	size_t nconsistency;
};

/* Parses the header line (len bytes, no "\n"). Checks the members and
 * their types (no other member), format == BUNDLE_FORMAT, from <= to <=
 * 2^53, nleft == popcount(from), every hash 32 bytes of strict base64,
 * "logs" (when there) 2 to BUNDLE_LOGS_MAX log ids ascending with "log"
 * among them, and that the line is its own canonical form. It cannot check nright,
 * which depends on the checkpoint's size: the caller does. On BUNDLE_OK
 * h is filled (free with bundle_head_clear); otherwise h is zeroed and
 * why (BUNDLE_WHY_LEN bytes, may be NULL) says what is wrong. Returns
 * BUNDLE_OK, BUNDLE_ENOTJSON, BUNDLE_EFORMAT, BUNDLE_ECANON or
 * BUNDLE_ENOMEM. */
BUNDLE_WUR int bundle_header_parse(const char *line, size_t len, struct bundle_head *h, char *why);
/* Frees what h holds and zeroes it (h itself is the caller's). */
void bundle_head_clear(struct bundle_head *h);

/* Whether a line (len bytes) is a header rather than an event line, by
 * its start alone: a header's canonical form begins with {"checkpoint":,
 * an event line's with {"action":. A reader of a bundle that spans logs
 * takes such a line as the next section's header (and bundle_header_parse
 * then says whether it is one). */
int bundle_line_is_header(const char *line, size_t len);

/* The reader's scratch space (the parsed line, arrays and buffers, reused
 * from line to line: memory grows to the largest line and no further). */
struct bundle_reader;
/* *out freed with bundle_reader_free. Returns BUNDLE_OK or BUNDLE_ENOMEM. */
BUNDLE_WUR int bundle_reader_new(struct bundle_reader **out);
void bundle_reader_free(struct bundle_reader *r); /* NULL allowed */

/* What one event line says about itself. */
struct bundle_line {
	int has_seq; /* seq and log were read (even if something else is wrong) */
	uint64_t seq;
	uint32_t log;
	int has_leaf; /* leaf was read: the hash to append to the tree */
	uint8_t leaf[LEAF_HASH_LEN];
	char why[BUNDLE_WHY_LEN]; /* the reason when the status is not BUNDLE_OK */
};

/* Checks one event line (len bytes, no "\n"): that it parses, has exactly
 * the members of the format with their types, that each opened value
 * matches its commitment, that the leaf recomputed from the members and
 * commitments (leaf.h) equals the line's "leaf", and that the line is its
 * own canonical form, in that order; the first failure is returned with
 * out->why. out->seq, log and leaf are filled as far as they could be read,
 * so the caller can place the line and append its leaf to the tree whatever
 * else is wrong. It does not check position or log against the header:
 * that is the caller's. Returns BUNDLE_OK or a negative bundle_status. */
BUNDLE_WUR int bundle_event_check(struct bundle_reader *r, const char *line, size_t len,
                                  struct bundle_line *out);

#endif
