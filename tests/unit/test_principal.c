/* The principal cache without a database: a fake clock and a fake table of
 * users stand in for the records. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "principal.h"
#include "testhelp.h"

#define USERS 64

/* The records: a user exists while present[id], with role auditor[id]. */
struct records {
	atomic_bool present[USERS];
	atomic_bool auditor[USERS];
	atomic_int lookups;
	atomic_bool unavailable;
	atomic_int yield; /* sched_yield this many times inside a lookup */
	const void *last_arg;
};

static enum principal_status lookup(void *ctx, int64_t id, const void *arg, bool *auditor)
{
	struct records *r = ctx;
	atomic_fetch_add(&r->lookups, 1);
	r->last_arg = arg;
	if (atomic_load(&r->unavailable))
		return PRINCIPAL_UNAVAILABLE;
	bool present = id > 0 && id < USERS && atomic_load(&r->present[id]);
	bool role = present && atomic_load(&r->auditor[id]);
	/* Give a concurrent writer room to act between our read and our store. */
	for (int i = atomic_load(&r->yield); i > 0; i--)
		sched_yield();
	if (!present)
		return PRINCIPAL_GONE;
	*auditor = role;
	return PRINCIPAL_OK;
}

static int64_t fake_now;

static int64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

static struct principal_cache *new_cache(struct records *r, int64_t ttl, size_t slots)
{
	struct principal_config cfg = {.ttl_ms = ttl, .slots = slots, .lookup = lookup,
	                               .lookup_ctx = r, .clock = fake_clock};
	return principal_cache_new(&cfg);
}

static void test_expiry(void)
{
	struct records r = {0};
	atomic_store(&r.present[5], true);
	fake_now = 1000;
	struct principal_cache *c = new_cache(&r, 1000, 0);
	bool auditor = true;
	CHECK_INT(principal_check(c, 5, "token", &auditor, NULL), PRINCIPAL_OK);
	CHECK(!auditor);
	CHECK_INT(atomic_load(&r.lookups), 1);
	CHECK(r.last_arg && !strcmp(r.last_arg, "token")); /* arg reaches the lookup */

	/* A role granted and the user deleted elsewhere: unseen until the
	 * answer is ttl old, then seen. */
	atomic_store(&r.auditor[5], true);
	fake_now += 999;
	int64_t age = -1;
	CHECK_INT(principal_check(c, 5, NULL, &auditor, &age), PRINCIPAL_OK);
	CHECK(!auditor);
	CHECK_INT(age, 999); /* how old the answer is */
	CHECK_INT(atomic_load(&r.lookups), 1);
	fake_now += 1;
	CHECK_INT(principal_check(c, 5, NULL, &auditor, &age), PRINCIPAL_OK);
	CHECK(auditor);
	CHECK_INT(age, 0);
	CHECK_INT(atomic_load(&r.lookups), 2);

	atomic_store(&r.present[5], false);
	fake_now += 500;
	CHECK_INT(principal_check(c, 5, NULL, &auditor, NULL), PRINCIPAL_OK);
	fake_now += 500;
	CHECK_INT(principal_check(c, 5, NULL, &auditor, NULL), PRINCIPAL_GONE);
	CHECK_INT(atomic_load(&r.lookups), 3);

	/* A caller that needs an answer fresher than the ttl looks it up
	 * sooner; one that asks for more than the ttl gets the ttl. */
	atomic_store(&r.present[5], true);
	fake_now += 1000;
	CHECK_INT(principal_check(c, 5, NULL, &auditor, NULL), PRINCIPAL_OK);
	CHECK_INT(atomic_load(&r.lookups), 4);
	fake_now += 300;
	CHECK_INT(principal_check_within(c, 5, NULL, 5000, &auditor, &age), PRINCIPAL_OK);
	CHECK_INT(atomic_load(&r.lookups), 4);
	CHECK_INT(age, 300);
	CHECK_INT(principal_check_within(c, 5, NULL, 250, &auditor, &age), PRINCIPAL_OK);
	CHECK_INT(atomic_load(&r.lookups), 5);
	CHECK_INT(age, 0);
	fake_now += 999;
	CHECK_INT(principal_check_within(c, 5, NULL, 5000, &auditor, &age), PRINCIPAL_OK);
	CHECK_INT(atomic_load(&r.lookups), 5);
	fake_now += 1;
	CHECK_INT(principal_check_within(c, 5, NULL, 5000, &auditor, &age), PRINCIPAL_OK);
	CHECK_INT(atomic_load(&r.lookups), 6);
	principal_cache_free(c);
}

static void test_negative_entries(void)
{
	struct records r = {0};
	fake_now = 0;
	struct principal_cache *c = new_cache(&r, 1000, 0);
	bool auditor = false;
	/* A user that does not exist is remembered as gone: its token costs no
	 * lookup per request. */
	for (int i = 0; i < 10; i++)
		CHECK_INT(principal_check(c, 7, NULL, &auditor, NULL), PRINCIPAL_GONE);
	CHECK_INT(atomic_load(&r.lookups), 1);
	/* ... for ttl only: a user made later (by another producer of ids) is
	 * seen then. */
	atomic_store(&r.present[7], true);
	fake_now += 1000;
	CHECK_INT(principal_check(c, 7, NULL, &auditor, NULL), PRINCIPAL_OK);
	CHECK_INT(atomic_load(&r.lookups), 2);
	principal_cache_free(c);
}

static void test_unavailable_not_cached(void)
{
	struct records r = {0};
	atomic_store(&r.present[3], true);
	fake_now = 0;
	struct principal_cache *c = new_cache(&r, 1000, 0);
	bool auditor = false;
	atomic_store(&r.unavailable, true);
	CHECK_INT(principal_check(c, 3, NULL, &auditor, NULL), PRINCIPAL_UNAVAILABLE);
	CHECK_INT(principal_check(c, 3, NULL, &auditor, NULL), PRINCIPAL_UNAVAILABLE);
	CHECK_INT(atomic_load(&r.lookups), 2);
	atomic_store(&r.unavailable, false);
	CHECK_INT(principal_check(c, 3, NULL, &auditor, NULL), PRINCIPAL_OK);
	CHECK_INT(atomic_load(&r.lookups), 3);
	/* A cached answer is used while the records are away, until it is ttl old. */
	atomic_store(&r.unavailable, true);
	fake_now += 999;
	CHECK_INT(principal_check(c, 3, NULL, &auditor, NULL), PRINCIPAL_OK);
	fake_now += 1;
	CHECK_INT(principal_check(c, 3, NULL, &auditor, NULL), PRINCIPAL_UNAVAILABLE);
	principal_cache_free(c);
}

static void test_set_and_gone_at_once(void)
{
	struct records r = {0};
	atomic_store(&r.present[9], true);
	fake_now = 0;
	struct principal_cache *c = new_cache(&r, 1000, 0);
	bool auditor = false;
	CHECK_INT(principal_check(c, 9, NULL, &auditor, NULL), PRINCIPAL_OK);
	CHECK(!auditor);
	principal_set(c, 9, true);
	CHECK_INT(principal_check(c, 9, NULL, &auditor, NULL), PRINCIPAL_OK);
	CHECK(auditor);
	principal_gone(c, 9);
	CHECK_INT(principal_check(c, 9, NULL, &auditor, NULL), PRINCIPAL_GONE);
	CHECK_INT(atomic_load(&r.lookups), 1); /* neither needed a lookup */
	/* A set whose read raced with the deletion does not bring it back. */
	principal_set(c, 9, true);
	CHECK_INT(principal_check(c, 9, NULL, &auditor, NULL), PRINCIPAL_GONE);
	/* set and gone are fresh answers too: they expire like looked-up ones. */
	fake_now += 1000;
	CHECK_INT(principal_check(c, 9, NULL, &auditor, NULL), PRINCIPAL_OK);
	CHECK_INT(atomic_load(&r.lookups), 2);
	principal_cache_free(c);
}

static void test_ttl_zero_and_collisions(void)
{
	struct records r = {0};
	for (int i = 1; i < USERS; i++)
		atomic_store(&r.present[i], i % 2 == 0);
	atomic_store(&r.auditor[4], true);
	fake_now = 0;
	struct principal_cache *c = new_cache(&r, 0, 0);
	bool auditor = false;
	CHECK_INT(principal_check(c, 4, NULL, &auditor, NULL), PRINCIPAL_OK);
	CHECK_INT(principal_check(c, 4, NULL, &auditor, NULL), PRINCIPAL_OK);
	CHECK_INT(atomic_load(&r.lookups), 2); /* ttl 0: every check looks up */
	principal_cache_free(c);

	/* One slot for every user: each id still gets its own answer. */
	c = new_cache(&r, 1000, 1);
	for (int round = 0; round < 2; round++)
		for (int64_t id = 1; id < USERS; id++) {
			auditor = false;
			CHECK_INT(principal_check(c, id, NULL, &auditor, NULL),
			          id % 2 == 0 ? PRINCIPAL_OK : PRINCIPAL_GONE);
			CHECK(auditor == (id == 4));
		}
	principal_cache_free(c);

	struct principal_config bad = {.ttl_ms = 1000};
	CHECK(principal_cache_new(&bad) == NULL); /* no lookup */
	bad = (struct principal_config){.ttl_ms = -1, .lookup = lookup};
	CHECK(principal_cache_new(&bad) == NULL);
}

/* Concurrency: readers check users (and sometimes principal_set them after
 * reading them) while a deleter removes them from the records and then
 * calls principal_gone, and lookups yield between their read and their
 * store so that they are overtaken. A check that begins after
 * principal_gone returned must answer GONE, whatever lookup or set was
 * under way; and an answer OK must carry the right role. */
struct race {
	struct records r;
	struct principal_cache *c;
	atomic_bool deleted[USERS]; /* set after principal_gone returned */
	atomic_int wrong;
	atomic_bool stop;
};

static void *reader(void *arg)
{
	struct race *x = arg;
	unsigned seed = (unsigned)(uintptr_t)pthread_self();
	while (!atomic_load(&x->stop)) {
		int64_t id = 1 + rand_r(&seed) % (USERS - 1);
		if (rand_r(&seed) % 8 == 0 && atomic_load(&x->r.present[id])) {
			/* As the token endpoint does: it read the user, then says so,
			 * perhaps after the deletion. */
			sched_yield();
			principal_set(x->c, id, id % 3 == 0);
		}
		bool was_deleted = atomic_load(&x->deleted[id]);
		bool auditor = false;
		enum principal_status st = principal_check(x->c, id, NULL, &auditor, NULL);
		if (was_deleted && st != PRINCIPAL_GONE)
			atomic_fetch_add(&x->wrong, 1);
		if (st == PRINCIPAL_OK && auditor != (id % 3 == 0))
			atomic_fetch_add(&x->wrong, 1);
	}
	return NULL;
}

static void test_concurrency(void)
{
	static struct race x;
	for (int i = 1; i < USERS; i++) {
		atomic_store(&x.r.present[i], true);
		atomic_store(&x.r.auditor[i], i % 3 == 0);
	}
	atomic_store(&x.r.yield, 20);
	fake_now = 0; /* frozen: only set/gone and misses change entries */
	struct principal_config cfg = {.ttl_ms = 1000, .slots = 16, /* collisions too */
	                               .lookup = lookup, .lookup_ctx = &x.r, .clock = fake_clock};
	x.c = principal_cache_new(&cfg);
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, reader, &x);
	for (int id = 1; id < USERS; id++) {
		for (int k = 0; k < 300; k++)
			sched_yield();
		atomic_store(&x.r.present[id], false); /* the DELETE commits ... */
		principal_gone(x.c, id);               /* ... then the process says so */
		atomic_store(&x.deleted[id], true);
	}
	atomic_store(&x.stop, true);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	CHECK_INT(atomic_load(&x.wrong), 0);
	bool auditor;
	for (int64_t id = 1; id < USERS; id++)
		CHECK_INT(principal_check(x.c, id, NULL, &auditor, NULL), PRINCIPAL_GONE);
	CHECK(atomic_load(&x.r.lookups) > 0);
	principal_cache_free(x.c);
}

static void test_list_has(void)
{
	CHECK(principal_list_has("auditor", ',', "auditor"));
	CHECK(principal_list_has("a,auditor,b", ',', "auditor"));
	CHECK(principal_list_has("read write auditor", ' ', "auditor"));
	CHECK(!principal_list_has("auditors,b", ',', "auditor"));
	CHECK(!principal_list_has("x-auditor", ',', "auditor"));
	CHECK(!principal_list_has("auditor x", ',', "auditor")); /* the separator is exact */
	CHECK(!principal_list_has("", ',', "auditor"));
	CHECK(!principal_list_has(NULL, ',', "auditor"));
	CHECK(principal_list_has(",,auditor,", ',', "auditor"));
	/* White space around an item is not part of it; case is. */
	CHECK(principal_list_has("admin, auditor", ',', "auditor"));
	CHECK(principal_list_has(" auditor\n", ',', "auditor"));
	CHECK(principal_list_has("a,\tauditor ,b", ',', "auditor"));
	CHECK(!principal_list_has("Auditor", ',', "auditor"));
	CHECK(!principal_list_has("audi tor", ',', "auditor"));
	const char *pos = " a , ,b,, c ", *item;
	size_t n;
	CHECK((item = principal_list_next(&pos, ',', &n)) && n == 1 && item[0] == 'a');
	CHECK((item = principal_list_next(&pos, ',', &n)) && n == 1 && item[0] == 'b');
	CHECK((item = principal_list_next(&pos, ',', &n)) && n == 1 && item[0] == 'c');
	CHECK(!principal_list_next(&pos, ',', &n));
	CHECK(!principal_list_next(&pos, ',', &n));
}

int main(void)
{
	test_expiry();
	test_negative_entries();
	test_unavailable_not_cached();
	test_set_and_gone_at_once();
	test_ttl_zero_and_collisions();
	test_concurrency();
	test_list_has();
	return test_report("principal");
}
