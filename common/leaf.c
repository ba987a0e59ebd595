/* The canonical leaf of a stored event and its value commitments: see
 * leaf.h and docs/ledger.md "What a leaf commits to". */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "b64.h"
#include "leaf.h"
#include "merkle.h"

const char *leaf_status_string(int status)
{
	switch (status) {
	case LEAF_OK:
		return "ok";
	case LEAF_ENOMEM:
		return "out of memory";
	case LEAF_EINVAL:
		return "a member of the event is missing, out of range or out of order";
	case LEAF_EVALUE:
		return "a value has no canonical form (an integer beyond 2^53, ill-formed UTF-8, "
		       "nesting too deep)";
	case LEAF_ECRYPTO:
		return "SHA-256 failed";
	}
	return "unknown leaf status";
}

static int from_jcs(int status)
{
	return status == JCS_ENOMEM ? LEAF_ENOMEM : LEAF_EVALUE;
}

int leaf_commit(const uint8_t salt[LEAF_SALT_LEN], const json_t *value, struct jcs_buf *scratch,
                uint8_t out[LEAF_COMMITMENT_LEN])
{
	scratch->len = 0;
	scratch->status = 0;
	jcs_buf_put(scratch, (const char *)salt, LEAF_SALT_LEN);
	jcs_buf_value(scratch, value);
	if (scratch->status)
		return from_jcs(scratch->status);
	return merkle_sha256(scratch->data, scratch->len, NULL, 0, out) ? LEAF_ECRYPTO : LEAF_OK;
}

void leaf_commitment_b64(const uint8_t c[LEAF_COMMITMENT_LEN], char out[LEAF_COMMITMENT_B64_LEN + 1])
{
	b64url_encode(c, LEAF_COMMITMENT_LEN, out);
}

int leaf_commitment_parse(const char *s, size_t len, uint8_t out[LEAF_COMMITMENT_LEN])
{
	uint8_t buf[LEAF_COMMITMENT_LEN + 3];
	if (len != LEAF_COMMITMENT_B64_LEN || b64url_decode(s, len, buf) != LEAF_COMMITMENT_LEN)
		return -1;
	/* Only the canonical spelling: the last character's unused bits are 0. */
	char back[LEAF_COMMITMENT_B64_LEN + 1];
	b64url_encode(buf, LEAF_COMMITMENT_LEN, back);
	if (memcmp(back, s, len))
		return -1;
	memcpy(out, buf, LEAF_COMMITMENT_LEN);
	return 0;
}

static void put_str(struct jcs_buf *b, const char *name, const char *value)
{
	jcs_buf_lit(b, name);
	jcs_buf_string(b, value, strlen(value));
}

static void put_int(struct jcs_buf *b, const char *name, long long v)
{
	jcs_buf_lit(b, name);
	jcs_buf_int(b, v);
}

static void put_commitment(struct jcs_buf *b, const uint8_t c[LEAF_COMMITMENT_LEN])
{
	char s[LEAF_COMMITMENT_B64_LEN + 1];
	leaf_commitment_b64(c, s);
	jcs_buf_lit(b, "\"");
	jcs_buf_lit(b, s);
	jcs_buf_lit(b, "\"");
}

static void put_side(struct jcs_buf *b, const struct leaf_event *e, const struct leaf_render *r,
                     size_t i, int next)
{
	if (r && r->side)
		r->side(r->ctx, i, next, b);
	else
		put_commitment(b, next ? e->changes[i].next : e->changes[i].prev);
}

int leaf_write_rendered(const struct leaf_event *e, const struct leaf_render *r,
                        struct jcs_buf *out)
{
	if (!e->id || !e->action || !e->actor_type || !e->actor_id || !e->target_type ||
	    !e->target_id || e->seq > (uint64_t)LEAF_INT_MAX || e->timestamp > LEAF_INT_MAX ||
	    e->timestamp < -LEAF_INT_MAX || e->target_version < 0 ||
	    e->target_version > LEAF_INT_MAX || (e->nchanges && !e->changes))
		return LEAF_EINVAL;
	for (size_t i = 0; i < e->nchanges; i++)
		if (!e->changes[i].field || (i && strcmp(e->changes[i - 1].field, e->changes[i].field) >= 0))
			return LEAF_EINVAL;
	put_str(out, "{\"action\":", e->action);
	put_str(out, ",\"actorId\":", e->actor_id);
	put_str(out, ",\"actorType\":", e->actor_type);
	if (e->nchanges) {
		jcs_buf_lit(out, ",\"changes\":{");
		for (size_t i = 0; i < e->nchanges; i++) {
			if (i)
				jcs_buf_lit(out, ",");
			jcs_buf_string(out, e->changes[i].field, strlen(e->changes[i].field));
			jcs_buf_lit(out, ":{\"next\":");
			put_side(out, e, r, i, 1);
			jcs_buf_lit(out, ",\"prev\":");
			put_side(out, e, r, i, 0);
			jcs_buf_lit(out, "}");
		}
		jcs_buf_lit(out, "}");
	}
	if (e->event_name)
		put_str(out, ",\"eventName\":", e->event_name);
	put_str(out, ",\"id\":", e->id);
	if (r && r->after_id)
		r->after_id(r->ctx, out);
	put_int(out, ",\"log\":", (long long)e->log);
	put_int(out, ",\"seq\":", (long long)e->seq);
	put_str(out, ",\"targetId\":", e->target_id);
	put_str(out, ",\"targetType\":", e->target_type);
	if (e->target_version)
		put_int(out, ",\"targetVersion\":", (long long)e->target_version);
	put_int(out, ",\"timestamp\":", (long long)e->timestamp);
	/* "traceId" sorts after "timestamp" ('r' > 'i'): the last member. */
	if (e->trace_id)
		put_str(out, ",\"traceId\":", e->trace_id);
	jcs_buf_lit(out, "}");
	return out->status ? from_jcs(out->status) : LEAF_OK;
}

int leaf_write(const struct leaf_event *e, struct jcs_buf *out)
{
	return leaf_write_rendered(e, NULL, out);
}

int leaf_hash(const struct leaf_event *e, struct jcs_buf *scratch, uint8_t out[LEAF_HASH_LEN])
{
	scratch->len = 0;
	scratch->status = 0;
	int st = leaf_write(e, scratch);
	if (st)
		return st;
	return merkle_leaf_hash(scratch->data, scratch->len, out) ? LEAF_ECRYPTO : LEAF_OK;
}
