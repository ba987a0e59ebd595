/* leaf: the worked example of docs/ledger.md "What a leaf commits to" byte
 * for byte (with and without traceId and targetVersion); leaf_write
 * against jcs_serialize of the same event built as a jansson object, on
 * random events (strings with quotes, backslashes, control characters and
 * non-ASCII, eventName and traceId absent or present, 0 to 5 changes); and
 * the refusals. */
#include "b64.h"
#include "leaf.h"
#include "testhelp.h"

#include <stdint.h>
#include <stdlib.h>

static void unhex(const char *s, uint8_t *out)
{
	for (size_t i = 0; s[2 * i]; i++) {
		unsigned v;
		sscanf(s + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

static int hex_is(const uint8_t *h, size_t n, const char *hex)
{
	uint8_t want[64];
	unhex(hex, want);
	return strlen(hex) == 2 * n && memcmp(h, want, n) == 0;
}

static void worked_example(void)
{
	static const char leaf_text[] =
	    "{\"action\":\"changed\",\"actorId\":\"1\",\"actorType\":\"users\",\"changes\":{"
	    "\"email\":{\"next\":\"WnxqbjHIE_Xn0JiNw9Hi-ef9JJUCRRRZULCLtJUFSZw\",\"prev\":"
	    "\"JUFPNiH_RZvpU74d5pMQRS5wIi4jRAVsSZmYSG3Df_Y\"}},\"id\":\"01890a5d-ac96-774b-"
	    "bcce-b302099a8057\",\"log\":0,\"seq\":7,\"targetId\":\"42\",\"targetType\":"
	    "\"users\",\"targetVersion\":3,\"timestamp\":1688000000000,\"traceId\":"
	    "\"4bf92f3577b34da6a3ce929d0e0e4736\"}";
	uint8_t salt_prev[LEAF_SALT_LEN], salt_next[LEAF_SALT_LEN];
	unhex("000102030405060708090a0b0c0d0e0f", salt_prev);
	unhex("101112131415161718191a1b1c1d1e1f", salt_next);
	struct jcs_buf scratch = {0}, out = {0};
	struct leaf_change ch = {.field = "email"};
	json_t *a = json_string("a@example.com"), *b = json_string("b@example.com");
	CHECK_INT(leaf_commit(salt_prev, a, &scratch, ch.prev), LEAF_OK);
	CHECK_INT(leaf_commit(salt_next, b, &scratch, ch.next), LEAF_OK);
	/* JCS("a@example.com") is 15 bytes, quotes included. */
	CHECK_INT((int)scratch.len, LEAF_SALT_LEN + 15);
	char c[LEAF_COMMITMENT_B64_LEN + 1];
	leaf_commitment_b64(ch.prev, c);
	CHECK_STR(c, "JUFPNiH_RZvpU74d5pMQRS5wIi4jRAVsSZmYSG3Df_Y");
	leaf_commitment_b64(ch.next, c);
	CHECK_STR(c, "WnxqbjHIE_Xn0JiNw9Hi-ef9JJUCRRRZULCLtJUFSZw");
	uint8_t back[LEAF_COMMITMENT_LEN];
	CHECK_INT(leaf_commitment_parse(c, strlen(c), back), 0);
	CHECK(memcmp(back, ch.next, sizeof back) == 0);
	c[42] = 'x'; /* stray bits in the last character: not the canonical spelling */
	CHECK_INT(leaf_commitment_parse(c, strlen(c), back), -1);

	struct leaf_event e = {.log = 0,
	                       .seq = 7,
	                       .id = "01890a5d-ac96-774b-bcce-b302099a8057",
	                       .action = "changed",
	                       .timestamp = 1688000000000LL,
	                       .actor_type = "users",
	                       .actor_id = "1",
	                       .target_type = "users",
	                       .target_id = "42",
	                       .target_version = 3,
	                       .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
	                       .changes = &ch,
	                       .nchanges = 1};
	CHECK_INT(leaf_write(&e, &out), LEAF_OK);
	CHECK_INT((int)out.len, 368);
	CHECK_INT((int)strlen(leaf_text), 368);
	CHECK(out.len == strlen(leaf_text) && memcmp(out.data, leaf_text, out.len) == 0);
	uint8_t h[LEAF_HASH_LEN];
	CHECK_INT(leaf_hash(&e, &scratch, h), LEAF_OK);
	CHECK(hex_is(h, LEAF_HASH_LEN,
	             "d354f5d37aaf065d0e1df475671434a4f0dfe82a1009b70e3bf01f16c42a2aac"));
	/* Another trace-id is another leaf: the trace is committed. */
	e.trace_id = "4bf92f3577b34da6a3ce929d0e0e4737";
	uint8_t other[LEAF_HASH_LEN];
	CHECK_INT(leaf_hash(&e, &scratch, other), LEAF_OK);
	CHECK(memcmp(h, other, sizeof h) != 0);
	/* Without a traceId (an event of an older producer, or stored before
	 * traces) the member is absent: the leaf, and its hash, of before. */
	e.trace_id = NULL;
	CHECK_INT(leaf_hash(&e, &scratch, h), LEAF_OK);
	CHECK_INT((int)scratch.len, 323);
	CHECK(scratch.len == 323 && memcmp(scratch.data, leaf_text, 322) == 0 &&
	      scratch.data[322] == '}');
	CHECK(hex_is(h, LEAF_HASH_LEN,
	             "c5a14ed7222f2640d33149e49eecc600d19b16aa343bf4e476cb4f0a6fae1ba7"));
	/* Without a version (a producer that sends none, an event stored
	 * before versions) the member is absent: the leaf of docs/ledger.md
	 * before versions, hash unchanged. */
	e.target_version = 0;
	CHECK_INT(leaf_hash(&e, &scratch, h), LEAF_OK);
	CHECK_INT((int)scratch.len, 305);
	CHECK(hex_is(h, LEAF_HASH_LEN,
	             "fbb4214f83704174fa0179056a2faa5cf1a5846e30fbeed17272fd52726c8bf7"));
	e.target_version = LEAF_INT_MAX + 1;
	CHECK_INT(leaf_hash(&e, &scratch, h), LEAF_EINVAL);
	e.target_version = -1;
	CHECK_INT(leaf_hash(&e, &scratch, h), LEAF_EINVAL);
	json_decref(a);
	json_decref(b);
	jcs_buf_free(&scratch);
	jcs_buf_free(&out);
}

/* ---- random events ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static size_t put_utf8(char *p, uint32_t cp)
{
	if (cp < 0x80) {
		p[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		p[0] = (char)(0xc0 | cp >> 6);
		p[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		p[0] = (char)(0xe0 | cp >> 12);
		p[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		p[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	p[0] = (char)(0xf0 | cp >> 18);
	p[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	p[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	p[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Up to 20 characters from a mix that exercises every escape rule. */
static void random_string(char *out /* >= 81 bytes */)
{
	static const uint32_t special[] = {'"',    '\\',   '/',     0x01,   0x08,   0x09,
	                                   0x0a,   0x0c,   0x0d,    0x1f,   0x7f,   0xe9,
	                                   0x2028, 0x2029, 0x1f600, 0xe000, 0xff61, 0x10ffff};
	size_t n = next_rand() % 21, len = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t cp;
		if (next_rand() % 3)
			cp = 0x20 + (uint32_t)(next_rand() % 95);
		else
			cp = special[next_rand() % (sizeof special / sizeof *special)];
		len += put_utf8(out + len, cp);
	}
	out[len] = '\0';
}

static void random_event_matches_jcs(int round)
{
	char strs[8][81], names[5][9];
	struct leaf_change ch[5];
	for (int i = 0; i < 8; i++)
		random_string(strs[i]);
	size_t nch = next_rand() % 6;
	/* Distinct ASCII field names, sorted (strcmp is UTF-16 order for ASCII). */
	for (size_t i = 0; i < nch; i++) {
		size_t len = 1 + next_rand() % 8;
		for (size_t k = 0; k < len; k++)
			names[i][k] =
			    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"[next_rand() %
			                                                            53];
		names[i][len] = '\0';
		for (size_t k = 0; k < i; k++)
			if (!strcmp(names[k], names[i])) {
				i--;
				goto again;
			}
		continue;
	again:;
	}
	qsort(names, nch, sizeof *names, (int (*)(const void *, const void *))strcmp);
	json_t *obj = json_object(), *changes = json_object();
	for (size_t i = 0; i < nch; i++) {
		char c[LEAF_COMMITMENT_B64_LEN + 1];
		ch[i].field = names[i];
		for (size_t k = 0; k < LEAF_COMMITMENT_LEN; k++) {
			ch[i].prev[k] = (uint8_t)next_rand();
			ch[i].next[k] = (uint8_t)next_rand();
		}
		json_t *f = json_object();
		leaf_commitment_b64(ch[i].prev, c);
		json_object_set_new(f, "prev", json_string(c));
		leaf_commitment_b64(ch[i].next, c);
		json_object_set_new(f, "next", json_string(c));
		json_object_set_new(changes, names[i], f);
	}
	struct leaf_event e = {
	    .log = (uint32_t)(next_rand() % 3 ? 0 : next_rand()),
	    .seq = next_rand() % ((uint64_t)LEAF_INT_MAX + 1),
	    .id = strs[0],
	    .action = strs[1],
	    .timestamp = (int64_t)(next_rand() % (2 * (uint64_t)LEAF_INT_MAX + 1)) - LEAF_INT_MAX,
	    .actor_type = strs[2],
	    .actor_id = strs[3],
	    .target_type = strs[4],
	    .target_id = strs[5],
	    .event_name = next_rand() % 2 ? strs[6] : NULL,
	    .trace_id = next_rand() % 2 ? strs[7] : NULL,
	    .changes = ch,
	    .nchanges = nch};
	/* Members added in an order of their own: JCS sorts them. */
	json_object_set_new(obj, "timestamp", json_integer(e.timestamp));
	json_object_set_new(obj, "seq", json_integer((json_int_t)e.seq));
	json_object_set_new(obj, "targetType", json_string(e.target_type));
	json_object_set_new(obj, "id", json_string(e.id));
	json_object_set_new(obj, "log", json_integer(e.log));
	json_object_set_new(obj, "actorType", json_string(e.actor_type));
	json_object_set_new(obj, "action", json_string(e.action));
	json_object_set_new(obj, "targetId", json_string(e.target_id));
	json_object_set_new(obj, "actorId", json_string(e.actor_id));
	if (e.event_name)
		json_object_set_new(obj, "eventName", json_string(e.event_name));
	if (e.trace_id)
		json_object_set_new(obj, "traceId", json_string(e.trace_id));
	if (nch)
		json_object_set_new(obj, "changes", changes);
	else
		json_decref(changes);

	char *want = NULL;
	size_t want_len = 0;
	struct jcs_buf out = {0};
	CHECK_INT(jcs_serialize(obj, &want, &want_len), JCS_OK);
	CHECK_INT(leaf_write(&e, &out), LEAF_OK);
	int same = want && out.len == want_len && memcmp(out.data, want, want_len) == 0;
	CHECK(same);
	if (!same)
		fprintf(stderr, "round %d:\n  jcs:  %s\n  leaf: %.*s\n", round, want ? want : "",
		        (int)out.len, out.data);
	free(want);
	jcs_buf_free(&out);
	json_decref(obj);
}

static void refusals(void)
{
	struct leaf_change ch[2] = {{.field = "name"}, {.field = "email"}};
	struct leaf_event e = {.seq = 1,
	                       .id = "x",
	                       .action = "changed",
	                       .actor_type = "users",
	                       .actor_id = "1",
	                       .target_type = "users",
	                       .target_id = "2",
	                       .changes = ch,
	                       .nchanges = 2};
	struct jcs_buf out = {0}, scratch = {0};
	uint8_t h[LEAF_HASH_LEN], salt[LEAF_SALT_LEN] = {0};
	CHECK_INT(leaf_write(&e, &out), LEAF_EINVAL); /* fields out of order */
	ch[1].field = "name";
	CHECK_INT(leaf_write(&e, &out), LEAF_EINVAL); /* a field twice */
	ch[1].field = "nick";
	out.len = 0;
	CHECK_INT(leaf_write(&e, &out), LEAF_OK);
	e.seq = (uint64_t)LEAF_INT_MAX;
	CHECK_INT(leaf_hash(&e, &scratch, h), LEAF_OK);
	e.seq = (uint64_t)LEAF_INT_MAX + 1; /* beyond 2^53 */
	CHECK_INT(leaf_hash(&e, &scratch, h), LEAF_EINVAL);
	e.seq = 1;
	e.timestamp = -LEAF_INT_MAX - 1;
	CHECK_INT(leaf_hash(&e, &scratch, h), LEAF_EINVAL);
	e.timestamp = 0;
	e.actor_id = NULL;
	CHECK_INT(leaf_hash(&e, &scratch, h), LEAF_EINVAL);
	e.actor_id = "\xc3\x28"; /* ill-formed UTF-8 */
	CHECK_INT(leaf_hash(&e, &scratch, h), LEAF_EVALUE);

	/* An integer beyond 2^53 in a value, at the top or nested. */
	json_t *big = json_integer(9007199254740993LL);
	CHECK_INT(leaf_commit(salt, big, &scratch, ch[0].prev), LEAF_EVALUE);
	json_t *nested = json_pack("{s:[i,O]}", "k", 1, big);
	CHECK_INT(leaf_commit(salt, nested, &scratch, ch[0].prev), LEAF_EVALUE);
	json_t *edge = json_integer(9007199254740992LL);
	CHECK_INT(leaf_commit(salt, edge, &scratch, ch[0].prev), LEAF_OK);
	json_decref(big);
	json_decref(nested);
	json_decref(edge);
	jcs_buf_free(&out);
	jcs_buf_free(&scratch);
}

int main(void)
{
	worked_example();
	for (int i = 0; i < 2000; i++)
		random_event_matches_jcs(i);
	refusals();
	return test_report("test_leaf");
}
