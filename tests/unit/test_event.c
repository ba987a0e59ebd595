#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "uuid.h"
#include "testhelp.h"

static int decode(const char *json, char *why)
{
	struct event ev;
	int rc = event_decode(json, strlen(json), &ev, why, 256);
	if (rc == 0)
		event_clear(&ev);
	return rc;
}

#define VALID_HEAD "{\"id\":\"0190b6a8-7c2e-7abc-8def-0123456789ab\",\"timestamp\":1732760000000,"
#define REFS "\"actorType\":\"users\",\"actorId\":\"1\",\"targetType\":\"users\",\"targetId\":\"2\""

struct tally {
	int good, bad;
	char last_why[256];
};

static int count_event(void *ctx, size_t index, struct event *ev, json_t *element,
                       const char *why)
{
	struct tally *t = ctx;
	(void)index, (void)element;
	if (ev) {
		t->good++;
		event_clear(ev);
	} else {
		t->bad++;
		snprintf(t->last_why, sizeof t->last_why, "%s", why);
	}
	return 0;
}

static int message(const char *json, struct tally *t, char *why)
{
	memset(t, 0, sizeof *t);
	return event_decode_message(json, strlen(json), count_event, t, why, 256);
}

/* uuid_v7 (RFC 9562 §5.7): the canonical lowercase form, version 7,
 * variant 10, the millisecond timestamp in the first 48 bits, and ids
 * strictly increasing within the process. */
static void test_uuid_v7(void)
{
	char prev[UUID_STR_LEN + 1] = "", id[UUID_STR_LEN + 1];
	for (int i = 0; i < 10000; i++) {
		int64_t ms = uuid_v7(id);
		CHECK(uuid_valid(id, strlen(id)));
		CHECK(id[14] == '7');
		CHECK(strchr("89ab", id[19]) != NULL);
		char stamp[13];
		memcpy(stamp, id, 8);
		memcpy(stamp + 8, id + 9, 4);
		stamp[12] = '\0';
		CHECK(strtoll(stamp, NULL, 16) == ms);
		CHECK(strcmp(prev, id) < 0);
		memcpy(prev, id, sizeof id);
	}
}

/* A random string of up to max bytes drawn from set (every ASCII byte
 * when set is NULL, so quotes, backslashes and control characters). */
static void random_string(char *out, size_t max, const char *set, unsigned *seed)
{
	size_t n = (size_t)rand_r(seed) % (max + 1);
	for (size_t i = 0; i < n; i++) {
		if (set)
			out[i] = set[(size_t)rand_r(seed) % strlen(set)];
		else
			out[i] = (char)(1 + rand_r(seed) % 127);
	}
	out[n] = '\0';
}

/* The allocation-free encoder writes exactly what jansson writes, and
 * what it writes decodes back to the event; it declines what it must. */
static void test_encode_to(void)
{
	unsigned seed = 14;
	char buf[EVENT_ENCODE_TO_MAX];
	for (int k = 0; k < 20000; k++) {
		struct event ev;
		event_init(&ev, (enum event_action)(k % 4), "users", "1", "notes", "2", NULL);
		const char *ids = "0123456789abcXYZ-._~@+";
		random_string(ev.actor_type, EVENT_TYPE_MAX, k % 2 ? NULL : "abcz_.-", &seed);
		random_string(ev.actor_id, EVENT_REF_MAX, k % 3 ? NULL : ids, &seed);
		random_string(ev.target_type, EVENT_TYPE_MAX, k % 5 ? NULL : "ab-", &seed);
		random_string(ev.target_id, EVENT_REF_MAX, k % 2 ? ids : NULL, &seed);
		random_string(ev.event_name, k % 3 ? EVENT_NAME_MAX : 0, NULL, &seed);
		ev.target_version = k % 7 ? (int64_t)(rand_r(&seed) % 100000) : EVENT_VERSION_MAX;
		ev.timestamp = k % 11 ? ev.timestamp : 0;
		/* A traceId on three in four (an older producer's event has none). */
		if (k % 4) {
			for (int i = 0; i < TRACE_ID_HEX_LEN; i++)
				ev.trace_id[i] = "0123456789abcdef"[rand_r(&seed) % 16];
			ev.trace_id[TRACE_ID_HEX_LEN] = '\0';
		}
		size_t len, n = event_encode_to(&ev, buf, sizeof buf);
		char *want = event_encode(&ev, &len);
		CHECK(want != NULL);
		CHECK(n > 0);
		if (!want || !n || n != len || memcmp(buf, want, len) || buf[n]) {
			fprintf(stderr, "  event_encode_to: %s\n  event_encode:    %s\n", buf,
			        want ? want : "(null)");
			CHECK(0);
			free(want);
			break;
		}
		/* The publisher's router reads back the target it wrote, even when
		 * an earlier member's value looks like it (they hold no quote). */
		const char *pt, *pi;
		size_t ptl, pil;
		bool valid = event_type_valid(ev.target_type, strlen(ev.target_type)) &&
		             event_ref_valid(ev.target_id, strlen(ev.target_id));
		CHECK(event_target_peek(buf, n, &pt, &ptl, &pi, &pil) == valid);
		if (valid) {
			CHECK(ptl == strlen(ev.target_type) && !memcmp(pt, ev.target_type, ptl));
			CHECK(pil == strlen(ev.target_id) && !memcmp(pi, ev.target_id, pil));
		}
		/* Valid names decode back to the same members. */
		if (!(k % 2) && !(k % 3) && event_type_valid(ev.actor_type, strlen(ev.actor_type))) {
			json_t *j = json_loadb(buf, n, 0, NULL);
			CHECK(j != NULL);
			CHECK_STR(json_string_value(json_object_get(j, "actorType")), ev.actor_type);
			CHECK_STR(json_string_value(json_object_get(j, "targetId")), ev.target_id);
			const char *name = json_string_value(json_object_get(j, "eventName"));
			CHECK_STR(name ? name : "", ev.event_name);
			const char *trace = json_string_value(json_object_get(j, "traceId"));
			CHECK_STR(trace ? trace : "", ev.trace_id);
			json_decref(j);
		}
		free(want);
	}

	const char *pt, *pi;
	size_t ptl, pil;
	static const char cut[] = "{\"id\":\"x\",\"targetType\":\"users\",\"targetId\":\"12";
	CHECK(!event_target_peek(cut, sizeof cut - 1, &pt, &ptl, &pi, &pil)); /* unterminated */
	CHECK(!event_target_peek(cut, 20, &pt, &ptl, &pi, &pil));
	static const char changes_first[] = "{\"changes\":{\"targetType\":\"a b\"},"
	                                    "\"targetType\":\"users\",\"targetId\":\"1\"}";
	/* Not our encoding (changes come last there): refused, not misread. */
	CHECK(!event_target_peek(changes_first, sizeof changes_first - 1, &pt, &ptl, &pi, &pil));

	struct event ev;
	event_init(&ev, EVENT_VIEWED, "users", "josé", "users", "2", NULL);
	CHECK_INT((int)event_encode_to(&ev, buf, sizeof buf), 0); /* beyond ASCII: jansson's */
	event_init(&ev, EVENT_VIEWED, "users", "1", "users", "2", NULL);
	size_t need = event_encode_to(&ev, buf, sizeof buf);
	CHECK(need > 0);
	CHECK_INT((int)event_encode_to(&ev, buf, need), 0); /* no room for the NUL */
	CHECK_INT((int)event_encode_to(&ev, buf, need + 1), (int)need);
	event_init(&ev, EVENT_CHANGED, "users", "1", "users", "2", json_object());
	CHECK_INT((int)event_encode_to(&ev, buf, sizeof buf), 0); /* changes: jansson's */
	event_clear(&ev);
}

int main(void)
{
	char why[256];

	/* Integers in changes: within 2^53 (exact in the canonical form the log
	 * commits to), at any depth; beyond it, refused with a reason. */
	CHECK_INT(decode(VALID_HEAD "\"action\":\"changed\"," REFS
	                 ",\"changes\":{\"n\":{\"prev\":-9007199254740992,\"next\":"
	                 "[{\"k\":9007199254740992}]}}}",
	                 why),
	          0);
	CHECK_INT(decode(VALID_HEAD "\"action\":\"changed\"," REFS
	                 ",\"changes\":{\"n\":{\"prev\":1,\"next\":9007199254740993}}}",
	                 why),
	          -1);
	CHECK(strstr(why, "2^53") != NULL);
	CHECK_INT(decode(VALID_HEAD "\"action\":\"changed\"," REFS
	                 ",\"changes\":{\"n\":{\"prev\":{\"a\":[1,-9007199254740993]},"
	                 "\"next\":1.5e300}}}",
	                 why),
	          -1);
	/* Beyond 64 bits the reader refuses it: said so, not "not JSON". */
	CHECK_INT(decode(VALID_HEAD "\"action\":\"changed\"," REFS
	                 ",\"changes\":{\"n\":{\"prev\":1,\"next\":123456789012345678901}}}",
	                 why),
	          -1);
	CHECK(strncmp(why, "JSON we cannot hold: ", 21) == 0 && strstr(why, "2^63-1") != NULL);

	/* Round trip of a changed event. */
	struct event ev, back;
	event_init(&ev, EVENT_CHANGED, "users", "1", "users", "2",
	           json_pack("{s:{s:b, s:b}}", "agreedTos", "prev", 0, "next", 1));
	size_t len;
	char *s = event_encode(&ev, &len);
	CHECK(s != NULL);
	CHECK_INT(event_decode(s, len, &back, why, sizeof why), 0);
	CHECK_STR(back.id, ev.id);
	CHECK_INT(back.action, EVENT_CHANGED);
	CHECK_INT(back.timestamp, ev.timestamp);
	CHECK_STR(back.actor_type, "users");
	CHECK_STR(back.target_id, "2");
	CHECK(json_equal(back.changes, ev.changes));
	free(s);
	event_clear(&back);
	event_clear(&ev);

	/* Ids made in a row sort in creation order, even within a millisecond. */
	struct event a, b;
	event_init(&a, EVENT_CREATED, "users", "1", "users", "2", NULL);
	event_init(&b, EVENT_VIEWED, "users", "1", "users", "2", NULL);
	CHECK(strcmp(a.id, b.id) < 0);
	CHECK(uuid_valid(a.id, strlen(a.id)));
	CHECK(a.id[14] == '7'); /* version 7 */

	/* An id's 16 bytes (the store's key) compare as its text does. */
	uint8_t x[UUID_BIN_LEN], y[UUID_BIN_LEN];
	CHECK_INT(uuid_to_bin("0190b6a8-7c2e-7abc-8def-0123456789ab", UUID_STR_LEN, x), 0);
	static const uint8_t want[UUID_BIN_LEN] = {0x01, 0x90, 0xb6, 0xa8, 0x7c, 0x2e, 0x7a, 0xbc,
	                                           0x8d, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab};
	CHECK(!memcmp(x, want, sizeof x));
	CHECK_INT(uuid_to_bin(a.id, strlen(a.id), x), 0);
	CHECK_INT(uuid_to_bin(b.id, strlen(b.id), y), 0);
	CHECK(memcmp(x, y, sizeof x) < 0);
	CHECK_INT(uuid_to_bin("0190B6A8-7c2e-7abc-8def-0123456789ab", UUID_STR_LEN, x), -1);
	CHECK_INT(uuid_to_bin("0190b6a8-7c2e-7abc-8def-0123456789a", UUID_STR_LEN - 1, x), -1);
	CHECK_INT(uuid_to_bin("0190b6a807c2e-7abc-8def-0123456789ab", UUID_STR_LEN, x), -1);

	CHECK_INT(decode(VALID_HEAD "\"action\":\"viewed\"," REFS "}", why), 0);
	CHECK_INT(decode(VALID_HEAD "\"action\":\"viewed\",\"eventName\":\"login\"," REFS "}", why), 0);

	/* targetVersion: 1 to 2^53, kept; created carries initial values (prev
	 * null), deleted the last ones (next null). */
	CHECK_INT(decode(VALID_HEAD "\"action\":\"viewed\",\"targetVersion\":9007199254740992," REFS
	                 "}",
	                 why),
	          0);
	CHECK_INT(decode(VALID_HEAD "\"action\":\"created\",\"targetVersion\":1," REFS
	                 ",\"changes\":{\"name\":{\"prev\":null,\"next\":\"Ann\"},"
	                 "\"tos\":{\"prev\":null,\"next\":null}}}",
	                 why),
	          0);
	CHECK_INT(decode(VALID_HEAD "\"action\":\"deleted\",\"targetVersion\":7," REFS
	                 ",\"changes\":{\"name\":{\"prev\":\"Ann\",\"next\":null}}}",
	                 why),
	          0);
	{
		struct event v;
		event_init(&v, EVENT_DELETED, "users", "1", "users", "2",
		           json_pack("{s:{s:s, s:n}}", "name", "prev", "Ann", "next"));
		v.target_version = 12;
		char *text = event_encode(&v, &len);
		CHECK(text && strstr(text, "\"targetVersion\":12"));
		struct event w;
		CHECK_INT(event_decode(text, len, &w, why, sizeof why), 0);
		CHECK_INT(w.target_version, 12);
		CHECK_INT(w.action, EVENT_DELETED);
		CHECK(json_equal(w.changes, v.changes));
		free(text);
		event_clear(&w);
		event_clear(&v);
		/* Without a version, none is written and none read. */
		event_init(&v, EVENT_VIEWED, "users", "1", "users", "2", NULL);
		text = event_encode(&v, &len);
		CHECK(text && !strstr(text, "targetVersion"));
		CHECK_INT(event_decode(text, len, &w, why, sizeof why), 0);
		CHECK_INT(w.target_version, 0);
		CHECK(w.changes == NULL);
		free(text);
		event_clear(&w);
	}

	/* traceId: kept as sent, written back in both encoders, and absent
	 * (older producers) when not sent. */
	{
		struct event v, w;
		CHECK_INT(event_decode(VALID_HEAD
		                       "\"action\":\"viewed\"," REFS
		                       ",\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\"}",
		                       strlen(VALID_HEAD
		                              "\"action\":\"viewed\"," REFS
		                              ",\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\"}"),
		                       &v, why, sizeof why),
		          0);
		CHECK_STR(v.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
		char buf[EVENT_ENCODE_TO_MAX];
		size_t n = event_encode_to(&v, buf, sizeof buf);
		char *text = event_encode(&v, &len);
		CHECK(text && n == len && !memcmp(buf, text, len));
		CHECK(text && strstr(text, ",\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\"}"));
		CHECK_INT(event_decode(text, len, &w, why, sizeof why), 0);
		CHECK_STR(w.trace_id, v.trace_id);
		free(text);
		event_clear(&w);
		event_clear(&v);
		event_init(&v, EVENT_CHANGED, "users", "1", "users", "2",
		           json_pack("{s:{s:s, s:s}}", "name", "prev", "Ann", "next", "Bo"));
		snprintf(v.trace_id, sizeof v.trace_id, "0af7651916cd43dd8448eb211c80319c");
		text = event_encode(&v, &len);
		CHECK(text && event_decode(text, len, &w, why, sizeof why) == 0);
		CHECK_STR(w.trace_id, "0af7651916cd43dd8448eb211c80319c");
		CHECK(json_equal(w.changes, v.changes));
		free(text);
		event_clear(&w);
		event_clear(&v);
		CHECK_INT(decode(VALID_HEAD "\"action\":\"viewed\"," REFS "}", why), 0);
		CHECK_INT(event_decode(VALID_HEAD "\"action\":\"viewed\"," REFS "}",
		                       strlen(VALID_HEAD "\"action\":\"viewed\"," REFS "}"), &w,
		                       why, sizeof why),
		          0);
		CHECK_STR(w.trace_id, "");
		event_clear(&w);
		why[0] = '\0';
		CHECK_INT(decode(VALID_HEAD "\"action\":\"viewed\"," REFS
		                            ",\"traceId\":\"4BF92F3577B34DA6A3CE929D0E0E4736\"}",
		                 why),
		          -1);
		CHECK(strstr(why, "traceId") != NULL);
	}

	/* Poison: each is refused with a reason. */
	const char *bad[] = {
	    "",
	    "not json",
	    "[]",
	    "{\"id\":1}",
	    VALID_HEAD "\"action\":\"viewed\"}",                         /* missing refs */
	    VALID_HEAD "\"action\":\"eaten\"," REFS "}",                 /* unknown action */
	    VALID_HEAD "\"action\":\"viewed\"," REFS ",\"extra\":1}",    /* unknown member */
	    VALID_HEAD "\"action\":\"viewed\"," REFS ",\"changes\":{}}", /* changes on a view */
	    VALID_HEAD "\"action\":\"changed\"," REFS "}",               /* changed, no changes */
	    VALID_HEAD "\"action\":\"changed\"," REFS ",\"changes\":{\"a\":1}}",
	    VALID_HEAD "\"action\":\"changed\"," REFS ",\"changes\":{\"a\":{\"prev\":1}}}",
	    VALID_HEAD "\"action\":\"viewed\"," REFS
	               ",\"changes\":{\"a\":{\"prev\":1,\"next\":1}}}", /* a view changes nothing */
	    VALID_HEAD "\"action\":\"created\"," REFS
	               ",\"changes\":{\"a\":{\"prev\":1,\"next\":2}}}", /* created: prev not null */
	    VALID_HEAD "\"action\":\"deleted\"," REFS
	               ",\"changes\":{\"a\":{\"prev\":1,\"next\":2}}}", /* deleted: next not null */
	    VALID_HEAD "\"action\":\"created\"," REFS ",\"changes\":{}}", /* empty changes */
	    VALID_HEAD "\"action\":\"changed\"," REFS /* the auditor's own names for reads */
	               ",\"changes\":{\"read.target\":{\"prev\":null,\"next\":\"users:1\"}}}",
	    VALID_HEAD "\"action\":\"created\"," REFS
	               ",\"changes\":{\"a\":{\"prev\":null,\"next\":1},\"read.\":{\"prev\":null,"
	               "\"next\":2}}}",
	    VALID_HEAD "\"action\":\"viewed\",\"targetVersion\":0," REFS "}",
	    VALID_HEAD "\"action\":\"viewed\",\"targetVersion\":-1," REFS "}",
	    VALID_HEAD "\"action\":\"viewed\",\"targetVersion\":1.5," REFS "}",
	    VALID_HEAD "\"action\":\"viewed\",\"targetVersion\":\"3\"," REFS "}",
	    VALID_HEAD "\"action\":\"viewed\",\"targetVersion\":9007199254740993," REFS "}",
	    VALID_HEAD "\"action\":\"viewed\",\"actorType\":\"users\",\"actorId\":2,"
	               "\"targetType\":\"users\",\"targetId\":\"2\"}", /* numeric id */
	    VALID_HEAD "\"action\":\"viewed\",\"actorType\":\"us ers\",\"actorId\":\"2\","
	               "\"targetType\":\"users\",\"targetId\":\"2\"}", /* bad type */
	    VALID_HEAD "\"action\":\"viewed\",\"actorType\":\"users\",\"actorId\":\"\","
	               "\"targetType\":\"users\",\"targetId\":\"2\"}", /* empty id */
	    "{\"id\":\"not-a-uuid\",\"timestamp\":1,\"action\":\"viewed\"," REFS "}",
	    "{\"id\":\"0190b6a8-7c2e-7abc-8def-0123456789ab\",\"timestamp\":-5,"
	    "\"action\":\"viewed\"," REFS "}",
	    "{\"id\":\"0190b6a8-7c2e-7abc-8def-0123456789ab\",\"timestamp\":\"now\","
	    "\"action\":\"viewed\"," REFS "}",
	    VALID_HEAD "\"action\":\"viewed\",\"action\":\"viewed\"," REFS "}", /* duplicate key */
	    /* traceId: a W3C trace-id or nothing */
	    VALID_HEAD "\"action\":\"viewed\"," REFS ",\"traceId\":null}",
	    VALID_HEAD "\"action\":\"viewed\"," REFS ",\"traceId\":\"\"}",
	    VALID_HEAD "\"action\":\"viewed\"," REFS ",\"traceId\":42}",
	    VALID_HEAD "\"action\":\"viewed\"," REFS
	               ",\"traceId\":\"00000000000000000000000000000000\"}",
	    VALID_HEAD "\"action\":\"viewed\"," REFS
	               ",\"traceId\":\"4BF92F3577B34DA6A3CE929D0E0E4736\"}",
	    VALID_HEAD "\"action\":\"viewed\"," REFS
	               ",\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e473\"}",
	    VALID_HEAD "\"action\":\"viewed\"," REFS
	               ",\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736a\"}",
	    VALID_HEAD "\"action\":\"viewed\"," REFS
	               ",\"traceId\":\"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\"}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why[0] = '\0';
		int rc = decode(bad[i], why);
		CHECK_INT(rc, -1);
		CHECK(why[0] != '\0');
		if (rc == 0)
			fprintf(stderr, "accepted poison #%zu: %s\n", i, bad[i]);
	}

	/* Ids follow the grammar of event.h: the ids producers use pass, and an
	 * event naming an object no query could name is refused (dead-lettered). */
	const char *good_ids[] = {"42",
	                          "0190b6a8-7c2e-7abc-8def-0123456789ab",
	                          "inv-2026-0001",
	                          "a.b@c",
	                          "jos\u00e9.x@example.com",
	                          "\u6f22\u5b57"};
	for (size_t i = 0; i < sizeof good_ids / sizeof good_ids[0]; i++) {
		char json[512];
		snprintf(json, sizeof json,
		         VALID_HEAD
		         "\"action\":\"viewed\",\"actorType\":\"users\",\"actorId\":\"%s\","
		         "\"targetType\":\"invoices\",\"targetId\":\"%s\"}",
		         good_ids[i], good_ids[i]);
		CHECK_INT(decode(json, why), 0);
	}
	const char *bad_ids[] = {"1:2:3",     "a b",       "'1'",       "\\\"1\\\"", "a/b",
	                         "a\\u00a0b", "a\\u200bb", "a\\u202eb", ".."};
	for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
		char json[512];
		for (int side = 0; side < 2; side++) {
			snprintf(
			    json, sizeof json,
			    VALID_HEAD
			    "\"action\":\"viewed\",\"actorType\":\"users\","
			    "\"actorId\":\"%s\",\"targetType\":\"invoices\",\"targetId\":\"%s\"}",
			    side ? "1" : bad_ids[i], side ? bad_ids[i] : "1");
			why[0] = '\0';
			CHECK_INT(decode(json, why), -1);
			CHECK(strstr(why, side ? "\"targetId\" must be" : "\"actorId\" must be") !=
			      NULL);
		}
	}

	/* Messages: one event, or an array of them decoded element by element. */
	struct tally t;
	CHECK_INT(message(VALID_HEAD "\"action\":\"viewed\"," REFS "}", &t, why), 0);
	CHECK_INT(t.good, 1);
	CHECK_INT(t.bad, 0);
	CHECK_INT(message("[" VALID_HEAD "\"action\":\"viewed\"," REFS "},{\"id\":1},"
	                  VALID_HEAD "\"action\":\"deleted\"," REFS "}]",
	                  &t, why),
	          0);
	CHECK_INT(t.good, 2);
	CHECK_INT(t.bad, 1);
	CHECK(strstr(t.last_why, "id") != NULL);
	CHECK_INT(message("[]", &t, why), -1);
	CHECK_INT(message("\"x\"", &t, why), -1);
	CHECK_INT(message("", &t, why), -1);
	CHECK_INT(message("[1", &t, why), -1);
	CHECK_INT(t.good + t.bad, 0);
	char *many = malloc(EVENT_BATCH_MAX * 4 + 16);
	strcpy(many, "[");
	for (int i = 0; i <= EVENT_BATCH_MAX; i++)
		strcat(many, i ? ",{}" : "{}");
	strcat(many, "]");
	CHECK_INT(message(many, &t, why), -1);
	free(many);

	/* Oversize is refused before parsing. */
	size_t big = EVENT_MAX_BYTES + 10;
	char *huge = malloc(big + 1);
	memset(huge, ' ', big);
	huge[big] = '\0';
	CHECK_INT(decode(huge, why), -1);
	CHECK(strstr(why, "limit") != NULL);
	free(huge);

	/* An event over the limit: a whole message of one is refused; inside an
	 * array it alone is invalid, its neighbours go through. */
	size_t pad = EVENT_MAX_BYTES;
	char *one = malloc(pad + 512), *arr = malloc(pad + 1024);
	snprintf(one, pad + 512, VALID_HEAD "\"action\":\"viewed\",\"eventName\":\"x\"," REFS
	         ",\"changes\":{\"data\":{\"prev\":null,\"next\":\"%0*d\"}}}", (int)pad, 0);
	CHECK_INT(message(one, &t, why), -1);
	CHECK(strstr(why, "limit") != NULL);
	snprintf(arr, pad + 1024, "[" VALID_HEAD "\"action\":\"viewed\"," REFS "},%s]", one);
	CHECK_INT(message(arr, &t, why), 0);
	CHECK_INT(t.good, 1);
	CHECK_INT(t.bad, 1);
	CHECK(strstr(t.last_why, "limit") != NULL);
	free(one);
	free(arr);
	test_encode_to();
	test_uuid_v7();
	return test_report("event");
}
