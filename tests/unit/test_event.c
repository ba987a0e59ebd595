#include <stdlib.h>

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

	/* Poison: each is refused with a reason. */
	const char *bad[] = {
	    "",
	    "not json",
	    "[]",
	    "{\"id\":1}",
	    VALID_HEAD "\"action\":\"viewed\"}",                              /* missing refs */
	    VALID_HEAD "\"action\":\"eaten\"," REFS "}",                      /* unknown action */
	    VALID_HEAD "\"action\":\"viewed\"," REFS ",\"extra\":1}",         /* unknown member */
	    VALID_HEAD "\"action\":\"viewed\"," REFS ",\"changes\":{}}",      /* changes on a view */
	    VALID_HEAD "\"action\":\"changed\"," REFS "}",                    /* changed, no changes */
	    VALID_HEAD "\"action\":\"changed\"," REFS ",\"changes\":{\"a\":1}}",
	    VALID_HEAD "\"action\":\"changed\"," REFS ",\"changes\":{\"a\":{\"prev\":1}}}",
	    VALID_HEAD "\"action\":\"viewed\"," REFS
	               ",\"changes\":{\"a\":{\"prev\":1,\"next\":1}}}", /* a view changes nothing */
	    VALID_HEAD "\"action\":\"created\"," REFS
	               ",\"changes\":{\"a\":{\"prev\":1,\"next\":2}}}", /* created: prev not null */
	    VALID_HEAD "\"action\":\"deleted\"," REFS
	               ",\"changes\":{\"a\":{\"prev\":1,\"next\":2}}}", /* deleted: next not null */
	    VALID_HEAD "\"action\":\"created\"," REFS ",\"changes\":{}}",   /* empty changes */
	    VALID_HEAD "\"action\":\"changed\"," REFS  /* the auditor's own names for reads */
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
	               "\"targetType\":\"users\",\"targetId\":\"2\"}",        /* numeric id */
	    VALID_HEAD "\"action\":\"viewed\",\"actorType\":\"us ers\",\"actorId\":\"2\","
	               "\"targetType\":\"users\",\"targetId\":\"2\"}",        /* bad type */
	    VALID_HEAD "\"action\":\"viewed\",\"actorType\":\"users\",\"actorId\":\"\","
	               "\"targetType\":\"users\",\"targetId\":\"2\"}",        /* empty id */
	    "{\"id\":\"not-a-uuid\",\"timestamp\":1,\"action\":\"viewed\"," REFS "}",
	    "{\"id\":\"0190b6a8-7c2e-7abc-8def-0123456789ab\",\"timestamp\":-5,"
	    "\"action\":\"viewed\"," REFS "}",
	    "{\"id\":\"0190b6a8-7c2e-7abc-8def-0123456789ab\",\"timestamp\":\"now\","
	    "\"action\":\"viewed\"," REFS "}",
	    VALID_HEAD "\"action\":\"viewed\",\"action\":\"viewed\"," REFS "}", /* duplicate key */
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
	return test_report("event");
}
