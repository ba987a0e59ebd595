/* Which mutations of a batch wait for their target's previous version
 * (services/auditor/reorder.c), against a lookup stub that answers from a
 * table of "stored" versions and counts what it was asked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reorder.h"
#include "testhelp.h"

#define HOLD_MS 5000

static struct {
	const char *id[8];
	uint64_t version[8];
	size_t n;
	size_t calls, asked;
	int fail; /* status to return */
} L;

static void stored_reset(void)
{
	memset(&L, 0, sizeof L);
}

static void stored_set(const char *id, uint64_t v)
{
	L.id[L.n] = id;
	L.version[L.n++] = v;
}

static int lookup(void *ctx, const struct event *const *events, size_t n, uint64_t *last)
{
	CHECK(ctx == &L);
	L.calls++;
	L.asked += n;
	if (L.fail)
		return L.fail;
	for (size_t i = 0; i < n; i++) {
		last[i] = 0;
		for (size_t k = 0; k < L.n; k++)
			if (!strcmp(L.id[k], events[i]->target_id))
				last[i] = L.version[k];
	}
	return 0;
}

static struct event ev(enum event_action action, const char *id, int64_t version)
{
	struct event e;
	memset(&e, 0, sizeof e);
	e.action = action;
	snprintf(e.target_type, sizeof e.target_type, "users");
	snprintf(e.target_id, sizeof e.target_id, "%s", id);
	e.target_version = version;
	return e;
}

/* Plans events (all arrived at `at`, the consumer active since 0) at now. */
static size_t plan(struct reorder *r, const struct event *e, size_t n, int64_t at, int64_t now,
                   bool *hold)
{
	int64_t arrived[16];
	for (size_t i = 0; i < n; i++)
		arrived[i] = at;
	size_t nheld = 99;
	CHECK_INT(reorder_plan(r, e, arrived, n, 0, now, lookup, &L, hold, &nheld), 0);
	return nheld;
}

/* The case from the node kill: a change arrives before its creation. */
static void test_change_waits_for_creation(void)
{
	stored_reset();
	struct reorder *r = reorder_new(HOLD_MS);
	struct event b[] = {ev(EVENT_CHANGED, "a", 2), ev(EVENT_CREATED, "a", 1),
	                    ev(EVENT_CHANGED, "b", 7)};
	stored_set("b", 6);
	bool hold[3];
	CHECK_INT(plan(r, b, 3, 100, 200, hold), 1);
	CHECK(hold[0] && !hold[1] && !hold[2]);
	CHECK_INT(L.calls, 1); /* one lookup for both targets */
	CHECK_INT(L.asked, 2);
	reorder_stored(r, b, hold, 3);
	/* The held change, planned again: its creation is stored now. */
	CHECK_INT(plan(r, b, 1, 100, 300, hold), 0);
	CHECK(!hold[0]);
	CHECK_INT(L.calls, 1); /* remembered: no lookup */
	reorder_free(r);
}

/* Within one batch, order of arrival does not matter when every version
 * is there; a later version than a held one waits too. */
static void test_chain_in_batch(void)
{
	stored_reset();
	struct reorder *r = reorder_new(HOLD_MS);
	stored_set("a", 1);
	struct event b[] = {ev(EVENT_CHANGED, "a", 3), ev(EVENT_CHANGED, "a", 2),
	                    ev(EVENT_DELETED, "a", 4)};
	bool hold[3];
	CHECK_INT(plan(r, b, 3, 0, 10, hold), 2);
	CHECK(hold[0] && !hold[1] && hold[2]);
	reorder_stored(r, b, hold, 3);
	struct event rest[] = {b[0], b[2]};
	CHECK_INT(plan(r, rest, 2, 0, 20, hold), 0);
	/* In order, all go at once. */
	stored_reset();
	reorder_forget(r);
	struct event inorder[] = {ev(EVENT_CREATED, "c", 1), ev(EVENT_CHANGED, "c", 2),
	                          ev(EVENT_CHANGED, "c", 3)};
	CHECK_INT(plan(r, inorder, 3, 0, 10, hold), 0);
	CHECK_INT(L.calls, 1);
	reorder_free(r);
}

/* Only within the window after activation; released after HOLD_MS. */
static void test_window_and_release(void)
{
	stored_reset();
	struct reorder *r = reorder_new(HOLD_MS);
	struct event b[] = {ev(EVENT_CHANGED, "a", 5)};
	stored_set("a", 2);
	bool hold[1];
	/* Arrived after the window: stored as it comes, nothing looked up. */
	CHECK_INT(plan(r, b, 1, HOLD_MS, HOLD_MS + 1, hold), 0);
	CHECK_INT(L.calls, 0);
	/* Arrived in it: held until its time is up. */
	CHECK_INT(plan(r, b, 1, 1000, 1001, hold), 1);
	int64_t arrived = 1000;
	CHECK_INT(reorder_next_release(r, &arrived, hold, 1), 1000 + HOLD_MS);
	CHECK_INT(plan(r, b, 1, 1000, 1000 + HOLD_MS - 1, hold), 1);
	CHECK_INT(plan(r, b, 1, 1000, 1000 + HOLD_MS, hold), 0);
	reorder_free(r);
}

/* Views, events without a version and creations never wait; 0 holds none. */
static void test_never_held(void)
{
	stored_reset();
	struct reorder *r = reorder_new(HOLD_MS);
	struct event b[] = {ev(EVENT_VIEWED, "a", 9), ev(EVENT_CHANGED, "b", 0),
	                    ev(EVENT_CREATED, "c", 1)};
	bool hold[3];
	CHECK_INT(plan(r, b, 3, 0, 1, hold), 0);
	CHECK_INT(L.calls, 0);
	reorder_free(r);
	r = reorder_new(0);
	struct event gap[] = {ev(EVENT_CHANGED, "a", 9)};
	CHECK_INT(plan(r, gap, 1, 0, 1, hold), 0);
	CHECK_INT(L.calls, 0);
	reorder_free(r);
}

/* What is remembered: looked-up targets, raised by what is stored; not a
 * target never looked up (its stored version may be higher), nothing after
 * a reset. */
static void test_memory(void)
{
	stored_reset();
	struct reorder *r = reorder_new(HOLD_MS);
	bool hold[1];
	struct event late[] = {ev(EVENT_CHANGED, "a", 3)};
	/* Stored outside the window: not remembered. */
	reorder_stored(r, late, NULL, 1);
	stored_set("a", 10);
	struct event next[] = {ev(EVENT_CHANGED, "a", 11)};
	CHECK_INT(plan(r, next, 1, 0, 1, hold), 0); /* looked up: 10 */
	CHECK_INT(L.calls, 1);
	reorder_stored(r, next, hold, 1);
	struct event after[] = {ev(EVENT_CHANGED, "a", 12)};
	CHECK_INT(plan(r, after, 1, 0, 2, hold), 0); /* remembered: 11 */
	CHECK_INT(L.calls, 1);
	reorder_forget(r);
	CHECK_INT(plan(r, after, 1, 0, 3, hold), 1); /* looked up again: 10 */
	CHECK_INT(L.calls, 2);
	/* A creation stored is remembered: its change needs no lookup. */
	struct event created[] = {ev(EVENT_CREATED, "new", 1)}, change[] = {ev(EVENT_CHANGED, "new", 2)};
	reorder_stored(r, created, NULL, 1);
	CHECK_INT(plan(r, change, 1, 0, 4, hold), 0);
	CHECK_INT(L.calls, 2);
	reorder_free(r);
}

/* Several consumers of one queue: the rule holds whenever the change came
 * (active_since is now at every plan): the change waits while its creation
 * is not stored, and goes once the other consumer stored it. Many targets
 * at once, each remembered. */
static void test_shared_queue_always(void)
{
	stored_reset();
	struct reorder *r = reorder_new(HOLD_MS);
	int64_t late = 10 * HOLD_MS; /* long after any window */
	struct event changed[] = {ev(EVENT_CHANGED, "a", 2)};
	bool hold[1];
	int64_t arrived[1] = {late};
	size_t nheld;
	CHECK_INT(reorder_plan(r, changed, arrived, 1, late + 1, late + 1, lookup, &L, hold, &nheld),
	          0);
	CHECK(hold[0] && nheld == 1);
	/* The other consumer stores the creation (and the store says so). */
	struct event created[] = {ev(EVENT_CREATED, "a", 1)};
	stored_set("a", 1);
	reorder_stored(r, created, NULL, 1);
	CHECK_INT(reorder_plan(r, changed, arrived, 1, late + 2, late + 2, lookup, &L, hold, &nheld),
	          0);
	CHECK(!hold[0]);
	char id[16];
	for (int i = 0; i < 300; i++) {
		snprintf(id, sizeof id, "t%d", i);
		struct event e[] = {ev(EVENT_CHANGED, id, 2)};
		CHECK_INT(reorder_plan(r, e, arrived, 1, late + 3, late + 3, lookup, &L, hold, &nheld),
		          0);
		CHECK_INT(nheld, 1);
	}
	reorder_free(r);
}

static void test_lookup_fails(void)
{
	stored_reset();
	L.fail = -3;
	struct reorder *r = reorder_new(HOLD_MS);
	struct event b[] = {ev(EVENT_CHANGED, "a", 3), ev(EVENT_CHANGED, "b", 3)};
	bool hold[2] = {true, true};
	int64_t arrived[2] = {0, 0};
	size_t nheld = 7;
	CHECK_INT(reorder_plan(r, b, arrived, 2, 0, 1, lookup, &L, hold, &nheld), -3);
	CHECK(!hold[0] && !hold[1]);
	CHECK_INT(nheld, 0);
	reorder_free(r);
}

int main(void)
{
	test_change_waits_for_creation();
	test_chain_in_batch();
	test_window_and_release();
	test_never_held();
	test_memory();
	test_shared_queue_always();
	test_lookup_fails();
	return test_report("reorder");
}
