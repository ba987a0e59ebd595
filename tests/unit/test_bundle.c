/* bundle: the event line of docs/ledger.md "Export bundles" (the worked
 * example of "What a leaf commits to", one side open, one erased) byte for
 * byte and read back; which check names a changed value with a stored or
 * a computed commitment; the writer's refusals; the header written, read
 * back, and refused when it breaks the format; a spanning bundle's header
 * (its "logs") likewise, and which lines read as headers. */
#include "b64.h"
#include "bundle.h"
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

static struct leaf_event example_event(void)
{
	return (struct leaf_event){.log = 0,
	                           .seq = 7,
	                           .id = "01890a5d-ac96-774b-bcce-b302099a8057",
	                           .action = "changed",
	                           .timestamp = 1688000000000LL,
	                           .actor_type = "users",
	                           .actor_id = "1",
	                           .target_type = "users",
	                           .target_id = "42"};
}

static uint8_t leaf[LEAF_HASH_LEN];
static struct bundle_field field;

static void example_field(void)
{
	memset(&field, 0, sizeof field);
	field.field = "email";
	field.prev.erased = 1;
	uint8_t buf[LEAF_COMMITMENT_LEN];
	CHECK_INT(leaf_commitment_parse("JUFPNiH_RZvpU74d5pMQRS5wIi4jRAVsSZmYSG3Df_Y", 43, buf), 0);
	memcpy(field.prev.commitment, buf, sizeof buf);
	unhex("101112131415161718191a1b1c1d1e1f", field.next.salt);
	field.next.value_json = "\"b@example.com\"";
	field.next.value_len = strlen(field.next.value_json);
	unhex("fbb4214f83704174fa0179056a2faa5cf1a5846e30fbeed17272fd52726c8bf7", leaf);
}

static int check_line(struct bundle_reader *r, const struct jcs_buf *b, struct bundle_line *bl)
{
	return bundle_event_check(r, b->data, b->len - 1, bl);
}

static void event_lines(void)
{
	struct leaf_event e = example_event();
	struct bundle_reader *r = NULL;
	struct bundle_line bl;
	struct jcs_buf b = {0};
	char leaf64[45], want[1024];
	CHECK_INT(bundle_reader_new(&r), BUNDLE_OK);
	example_field();
	b64_encode(leaf, LEAF_HASH_LEN, leaf64);
	snprintf(
	    want, sizeof want,
	    "{\"action\":\"changed\",\"actorId\":\"1\",\"actorType\":\"users\",\"changes\":{"
	    "\"email\":{\"next\":{\"commitment\":\"WnxqbjHIE_Xn0JiNw9Hi-ef9JJUCRRRZULCLtJUFSZw\","
	    "\"salt\":\"EBESExQVFhcYGRobHB0eHw\",\"value\":\"b@example.com\"},\"prev\":{"
	    "\"erased\":\"JUFPNiH_RZvpU74d5pMQRS5wIi4jRAVsSZmYSG3Df_Y\"}}},\"id\":\"01890a5d-"
	    "ac96-774b-bcce-b302099a8057\",\"leaf\":\"%s\",\"log\":0,\"seq\":7,\"targetId\":"
	    "\"42\",\"targetType\":\"users\",\"timestamp\":1688000000000}\n",
	    leaf64);
	CHECK_INT(bundle_event_write(&e, &field, 1, leaf, &b), LEAF_OK);
	CHECK(b.len == strlen(want) && !memcmp(b.data, want, b.len));
	if (b.len != strlen(want) || memcmp(b.data, want, b.len))
		fprintf(stderr, "got  %.*s\nwant %s", (int)b.len, b.data, want);
	CHECK_INT(check_line(r, &b, &bl), BUNDLE_OK);
	CHECK(bl.has_seq && bl.seq == 7 && bl.log == 0 && bl.has_leaf &&
	      !memcmp(bl.leaf, leaf, LEAF_HASH_LEN));

	/* The stored commitment given: the same line. */
	uint8_t next_c[LEAF_COMMITMENT_LEN];
	CHECK_INT(leaf_commitment_parse("WnxqbjHIE_Xn0JiNw9Hi-ef9JJUCRRRZULCLtJUFSZw", 43, next_c),
	          0);
	memcpy(field.next.commitment, next_c, sizeof next_c);
	b.len = 0;
	CHECK_INT(bundle_event_write(&e, &field, 1, leaf, &b), LEAF_OK);
	CHECK(b.len == strlen(want) && !memcmp(b.data, want, b.len));

	/* A stored value changed: with the stored commitment, a value that
	 * does not match it; with the commitment computed, a leaf mismatch. */
	field.next.value_json = "\"c@example.com\"";
	b.len = 0;
	CHECK_INT(bundle_event_write(&e, &field, 1, leaf, &b), LEAF_OK);
	CHECK_INT(check_line(r, &b, &bl), BUNDLE_EVALUE);
	CHECK(strstr(bl.why, "changes.email.next") != NULL);
	memset(field.next.commitment, 0, LEAF_COMMITMENT_LEN);
	b.len = 0;
	CHECK_INT(bundle_event_write(&e, &field, 1, leaf, &b), LEAF_OK);
	CHECK_INT(check_line(r, &b, &bl), BUNDLE_ELEAF);
	CHECK(bl.has_seq && bl.seq == 7 && bl.has_leaf);

	/* A changed member. */
	example_field();
	e.actor_id = "2";
	b.len = 0;
	CHECK_INT(bundle_event_write(&e, &field, 1, leaf, &b), LEAF_OK);
	CHECK_INT(check_line(r, &b, &bl), BUNDLE_ELEAF);
	e.actor_id = "1";

	/* Not canonical, not JSON, another member, a missing one. */
	b.len = 0;
	CHECK_INT(bundle_event_write(&e, &field, 1, leaf, &b), LEAF_OK);
	char *line = strndup(b.data, b.len - 1);
	size_t n = b.len - 1;
	char *spaced = malloc(n + 16);
	memcpy(spaced, line, n);
	spaced[n] = ' ';
	CHECK_INT(bundle_event_check(r, spaced, n + 1, &bl), BUNDLE_ECANON);
	memcpy(spaced, "{\"extra\":1,", 11);
	memcpy(spaced + 11, line + 1, n - 1);
	CHECK_INT(bundle_event_check(r, spaced, n + 10, &bl), BUNDLE_EFORMAT);
	CHECK(strstr(bl.why, "extra") != NULL);
	CHECK_INT(bundle_event_check(r, line, n - 5, &bl), BUNDLE_ENOTJSON);
	CHECK_INT(bundle_event_check(r, "[1]", 3, &bl), BUNDLE_EFORMAT);
	CHECK_INT(bundle_event_check(r, "{\"seq\":1,\"log\":0}", 17, &bl), BUNDLE_EFORMAT);
	CHECK(bl.has_seq && bl.seq == 1 && !bl.has_leaf);
	free(spaced);
	free(line);

	/* The writer's refusals. */
	example_field();
	field.next.value_json = "{";
	field.next.value_len = 1;
	b.len = 0;
	CHECK_INT(bundle_event_write(&e, &field, 1, leaf, &b), LEAF_EVALUE);
	field.next.value_json = "9007199254740993"; /* beyond 2^53: no canonical form */
	field.next.value_len = strlen(field.next.value_json);
	CHECK_INT(bundle_event_write(&e, &field, 1, leaf, &b), LEAF_EVALUE);
	struct bundle_field two[2] = {field, field};
	two[0].field = "name";
	two[1].field = "email";
	CHECK_INT(bundle_event_write(&e, two, 2, leaf, &b), LEAF_EINVAL);
	e.seq = (uint64_t)LEAF_INT_MAX + 1;
	CHECK_INT(bundle_event_write(&e, NULL, 0, leaf, &b), LEAF_EINVAL);
	e.seq = 7;

	/* A real written in integer digits (canonical 1e20), an erased and an
	 * open side, no changes: written, leaf recomputed, read back. */
	example_field();
	field.next.value_json = "100000000000000000000";
	field.next.value_len = strlen(field.next.value_json);
	struct leaf_change ch = {.field = "email"};
	struct jcs_buf scratch = {0};
	json_t *v = json_real(1e20);
	CHECK_INT(leaf_commit(field.next.salt, v, &scratch, ch.next), LEAF_OK);
	json_decref(v);
	memcpy(ch.prev, field.prev.commitment, LEAF_COMMITMENT_LEN);
	e.changes = &ch;
	e.nchanges = 1;
	uint8_t h[LEAF_HASH_LEN];
	CHECK_INT(leaf_hash(&e, &scratch, h), LEAF_OK);
	b.len = 0;
	CHECK_INT(bundle_event_write(&e, &field, 1, h, &b), LEAF_OK);
	CHECK(strstr(b.data, "\"value\":100000000000000000000}") != NULL);
	CHECK_INT(check_line(r, &b, &bl), BUNDLE_OK);
	e.changes = NULL;
	e.nchanges = 0;
	e.action = "viewed";
	e.event_name = "profile.viewed";
	CHECK_INT(leaf_hash(&e, &scratch, h), LEAF_OK);
	b.len = 0;
	CHECK_INT(bundle_event_write(&e, NULL, 0, h, &b), LEAF_OK);
	CHECK_INT(check_line(r, &b, &bl), BUNDLE_OK);

	/* A traceId: the line's last member, as in the leaf; checked. A line
	 * whose traceId was changed no longer matches its leaf; one that is
	 * not a trace-id is refused as such. */
	e.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
	CHECK_INT(leaf_hash(&e, &scratch, h), LEAF_OK);
	b.len = 0;
	CHECK_INT(bundle_event_write(&e, NULL, 0, h, &b), LEAF_OK);
	CHECK(b.len > 47 && !memcmp(b.data + b.len - 47,
	                            ",\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\"}\n", 47));
	CHECK_INT(check_line(r, &b, &bl), BUNDLE_OK);
	char *traced = strndup(b.data, b.len - 1);
	size_t tn = b.len - 1;
	traced[tn - 3] = '7'; /* ...4736 -> ...4737 */
	CHECK_INT(bundle_event_check(r, traced, tn, &bl), BUNDLE_ELEAF);
	traced[tn - 3] = 'A';
	CHECK_INT(bundle_event_check(r, traced, tn, &bl), BUNDLE_EFORMAT);
	CHECK(strstr(bl.why, "traceId") != NULL);
	free(traced);
	/* Removed: the leaf of an event without one, which this is not. */
	e.trace_id = NULL;
	b.len = 0;
	CHECK_INT(bundle_event_write(&e, NULL, 0, h, &b), LEAF_OK);
	CHECK_INT(check_line(r, &b, &bl), BUNDLE_ELEAF);

	jcs_buf_free(&scratch);
	jcs_buf_free(&b);
	bundle_reader_free(r);
}

static void header_lines(void)
{
	uint8_t left[3][32], right[2][32], proof[4][32];
	for (int i = 0; i < 32; i++) {
		for (int k = 0; k < 3; k++)
			left[k][i] = (uint8_t)(k * 32 + i);
		for (int k = 0; k < 2; k++)
			right[k][i] = (uint8_t)(100 + k * 32 + i);
		for (int k = 0; k < 4; k++)
			proof[k][i] = (uint8_t)(200 - k * 32 - i);
	}
	const char *cp =
	    "audit.example.com/log/0\n40\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n"
	    "\xe2\x80\x94 audit.example.com/log/0 AAAA\n";
	struct bundle_header h = {.log = 3,
	                          .origin = "audit.example.com/log/0",
	                          .from = 13,
	                          .to = 21,
	                          .checkpoint = cp,
	                          .checkpoint_len = strlen(cp),
	                          .left = (const uint8_t(*)[32])left,
	                          .nleft = 3,
	                          .right = (const uint8_t(*)[32])right,
	                          .nright = 2,
	                          .has_pin = 1,
	                          .pin_size = 9,
	                          .consistency = (const uint8_t(*)[32])proof,
	                          .nconsistency = 4};
	struct jcs_buf b = {0};
	struct bundle_head p;
	char why[BUNDLE_WHY_LEN];
	CHECK_INT(bundle_header_write(&h, &b), LEAF_OK);
	CHECK(b.len > 0 && b.data[b.len - 1] == '\n');
	CHECK(!strncmp(b.data, "{\"checkpoint\":\"audit.example.com/log/0\\n40\\n", 43));
	CHECK_INT(bundle_header_parse(b.data, b.len - 1, &p, why), BUNDLE_OK);
	CHECK(p.log == 3 && p.from == 13 && p.to == 21 && p.nleft == 3 && p.nright == 2 &&
	      p.has_pin && p.pin_size == 9 && p.nconsistency == 4);
	CHECK_STR(p.origin, "audit.example.com/log/0");
	CHECK(p.checkpoint_len == strlen(cp) && !memcmp(p.checkpoint, cp, strlen(cp)));
	CHECK(!memcmp(p.left, left, sizeof left) && !memcmp(p.right, right, sizeof right) &&
	      !memcmp(p.consistency, proof, sizeof proof));
	bundle_head_clear(&p);

	/* Refusals: a wrong border count, a format, not canonical. */
	h.nleft = 2;
	CHECK_INT(bundle_header_write(&h, &b), LEAF_EINVAL);
	h.nleft = 3;
	h.from = 22;
	CHECK_INT(bundle_header_write(&h, &b), LEAF_EINVAL);
	h.from = 13;
	const char *bad[][2] = {
	    {"{\"a\":1}", "unknown member"},
	    {"[]", "not a JSON object"},
	    {"{\"checkpoint\":\"x\",\"format\":\"auditlog-bundle/v2\",\"from\":0,\"left\":[],"
	     "\"log\":0,\"origin\":\"o\",\"right\":[],\"to\":0}",
	     "format"},
	    {"{\"checkpoint\":\"x\",\"format\":\"auditlog-bundle/v1\",\"from\":1,\"left\":[],"
	     "\"log\":0,\"origin\":\"o\",\"right\":[],\"to\":1}",
	     "left"},
	    {"{\"checkpoint\":\"x\",\"format\":\"auditlog-bundle/v1\",\"from\":2,\"left\":[],"
	     "\"log\":0,\"origin\":\"o\",\"right\":[],\"to\":1}",
	     "to"},
	    {"{\"checkpoint\":\"x\",\"format\":\"auditlog-bundle/v1\",\"from\":0,\"left\":[],"
	     "\"log\":0,\"origin\":\"o\",\"right\":[\"AA==\"],\"to\":0}",
	     "right"},
	    {"{\"checkpoint\":\"x\",\"format\":\"auditlog-bundle/v1\",\"from\":0,\"left\":[],"
	     "\"log\":0,\"origin\":\"o\",\"right\":[],\"to\":0} ",
	     "canonical"},
	    {"{\"checkpoint\":\"x\",\"format\":\"auditlog-bundle/v1\",\"from\":0,\"left\":[],"
	     "\"log\":0,\"origin\":\"o\",\"right\":[],\"to\":0.0}",
	     "canonical"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		int st = bundle_header_parse(bad[i][0], strlen(bad[i][0]), &p, why);
		CHECK(st < 0);
		CHECK(strstr(why, bad[i][1]) != NULL);
		if (st >= 0 || !strstr(why, bad[i][1]))
			fprintf(stderr, "case %zu: %d %s\n", i, st, why);
	}
	const char *ok = "{\"checkpoint\":\"x\",\"format\":\"auditlog-bundle/v1\",\"from\":0,"
	                 "\"left\":[],\"log\":0,\"origin\":\"o\",\"right\":[],\"to\":0}";
	CHECK_INT(bundle_header_parse(ok, strlen(ok), &p, why), BUNDLE_OK);
	bundle_head_clear(&p);
	CHECK_INT(bundle_header_parse("{", 1, &p, why), BUNDLE_ENOTJSON);
	jcs_buf_free(&b);
}

/* A header of a bundle that spans logs: "logs" after "log", written and
 * read back; refused unless 2 or more ascending ids holding "log". */
static void spanning_headers(void)
{
	const char *cp = "o/2\n0\nx\n";
	uint32_t logs[] = {0, 2, 1024};
	struct bundle_header h = {.log = 2,
	                          .logs = logs,
	                          .nlogs = 3,
	                          .origin = "o/2",
	                          .checkpoint = cp,
	                          .checkpoint_len = strlen(cp)};
	struct jcs_buf b = {0};
	struct bundle_head p;
	char why[BUNDLE_WHY_LEN];
	CHECK_INT(bundle_header_write(&h, &b), LEAF_OK);
	CHECK(strstr(b.data, ",\"log\":2,\"logs\":[0,2,1024],\"origin\":") != NULL);
	CHECK(bundle_line_is_header(b.data, b.len - 1));
	CHECK_INT(bundle_header_parse(b.data, b.len - 1, &p, why), BUNDLE_OK);
	CHECK(p.log == 2 && p.nlogs == 3 && p.logs[0] == 0 && p.logs[1] == 2 && p.logs[2] == 1024);
	bundle_head_clear(&p);
	CHECK(p.logs == NULL && p.nlogs == 0);

	/* The writer's refusals: one log, not ascending, log not among them. */
	struct {
		uint32_t logs[3];
		size_t n;
		uint32_t log;
	} wrong[] = {{{2}, 1, 2}, {{2, 0}, 2, 2}, {{0, 0, 2}, 3, 2}, {{0, 1}, 2, 2}};
	for (size_t i = 0; i < sizeof wrong / sizeof *wrong; i++) {
		h.logs = wrong[i].logs;
		h.nlogs = wrong[i].n;
		h.log = wrong[i].log;
		b.len = 0;
		CHECK_INT(bundle_header_write(&h, &b), LEAF_EINVAL);
	}

	/* The reader's: the same, and ids that are not log ids. */
	const char *head = "{\"checkpoint\":\"x\",\"format\":\"auditlog-bundle/v1\",\"from\":0,"
	                   "\"left\":[],\"log\":2,\"logs\":";
	const char *tail = ",\"origin\":\"o\",\"right\":[],\"to\":0}";
	const char *lists[] = {"[2]", "[]", "[2,0]", "[0,0,2]", "[0,1]", "[0,2.5]", "[-1,2]",
	                       "[0,\"2\"]", "{}", "[0,2,4294967296]"};
	for (size_t i = 0; i < sizeof lists / sizeof *lists; i++) {
		char line[512];
		snprintf(line, sizeof line, "%s%s%s", head, lists[i], tail);
		int st = bundle_header_parse(line, strlen(line), &p, why);
		CHECK_INT(st, BUNDLE_EFORMAT);
		CHECK(strstr(why, "\"logs\"") != NULL);
		if (st != BUNDLE_EFORMAT)
			fprintf(stderr, "logs %s: %d %s\n", lists[i], st, why);
	}
	char line[512];
	snprintf(line, sizeof line, "%s%s%s", head, "[0,2,4294967295]", tail);
	CHECK_INT(bundle_header_parse(line, strlen(line), &p, why), BUNDLE_OK);
	bundle_head_clear(&p);
	/* Not canonical: a space in the list. */
	snprintf(line, sizeof line, "%s%s%s", head, "[0, 2]", tail);
	CHECK_INT(bundle_header_parse(line, strlen(line), &p, why), BUNDLE_ECANON);

	/* A header begins {"checkpoint":, an event line {"action":. */
	CHECK(!bundle_line_is_header("{\"action\":\"viewed\"}", 19));
	CHECK(!bundle_line_is_header("{\"checkpoint\"", 13));
	CHECK(!bundle_line_is_header(" {\"checkpoint\":1}", 18));
	jcs_buf_free(&b);
}

int main(void)
{
	event_lines();
	header_lines();
	spanning_headers();
	return test_report("test_bundle");
}
