/* Per-target order (reorder.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "reorder.h"

struct slot {
	uint64_t key; /* the target's hash with its low bit set; 0: empty */
	uint64_t last;
};

struct reorder {
	int hold_ms;
	pthread_mutex_t lock; /* over everything below */
	struct slot slots[REORDER_SLOTS];
};

/* FNV-1a (64-bit) of "type\0id". */
static uint64_t target_key(const struct event *ev)
{
	uint64_t h = 0xcbf29ce484222325u;
	for (const char *p = ev->target_type;; p++) {
		h = (h ^ (unsigned char)*p) * 0x100000001b3u;
		if (!*p)
			break;
	}
	for (const char *p = ev->target_id; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3u;
	return h | 1;
}

static struct slot *slot_of(struct reorder *r, uint64_t key)
{
	return &r->slots[(key >> 1) % REORDER_SLOTS];
}

/* A mutation whose order counts: one that produced a version. */
static bool versioned(const struct event *ev)
{
	return ev->action != EVENT_VIEWED && ev->target_version > 0;
}

struct reorder *reorder_new(int hold_ms)
{
	struct reorder *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->hold_ms = hold_ms > 0 ? hold_ms : 0;
	pthread_mutex_init(&r->lock, NULL);
	return r;
}

void reorder_free(struct reorder *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r);
}

void reorder_forget(struct reorder *r)
{
	pthread_mutex_lock(&r->lock);
	memset(r->slots, 0, sizeof r->slots);
	pthread_mutex_unlock(&r->lock);
}

/* One versioned event of the batch, sorted by target, then place. */
struct item {
	uint64_t key;
	size_t i;
};

static int cmp_item(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return (x->i > y->i) - (x->i < y->i);
}

int reorder_plan(struct reorder *r, const struct event *events,
                 const int64_t *arrived_ms, size_t n, int64_t active_since_ms, int64_t now_ms,
                 reorder_lookup_fn lookup, void *ctx, bool *hold, size_t *nheld)
{
	memset(hold, 0, n * sizeof *hold);
	*nheld = 0;
	if (!r->hold_ms || !n)
		return 0;
	int64_t window_end = active_since_ms + r->hold_ms;
	/* Outside the window (steady state, one consumer) nothing may wait:
	 * no allocation, no sort on the store's path. */
	size_t in_window = 0;
	for (size_t i = 0; i < n && !in_window; i++)
		in_window = arrived_ms[i] < window_end;
	if (!in_window)
		return 0;
	struct item *items = malloc(n * sizeof *items);
	/* Per group of one target: its last stored version, or UINT64_MAX while
	 * not known. Indexed like items (the group's first item holds it). */
	uint64_t *last = malloc(n * sizeof *last);
	const struct event **ask = malloc(n * sizeof *ask);
	size_t *asked = malloc(n * sizeof *asked); /* the group (first item) of ask[j] */
	uint64_t *found = malloc(n * sizeof *found);
	int st = -1;
	if (!items || !last || !ask || !asked || !found)
		goto out;

	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (versioned(&events[i]))
			items[m++] = (struct item){target_key(&events[i]), i};
	qsort(items, m, sizeof *items, cmp_item);

	/* A group needs its last stored version when one of its events may
	 * wait for it: version over 1, and arrived within the window. */
	size_t nask = 0;
	pthread_mutex_lock(&r->lock);
	for (size_t g = 0, end; g < m; g = end) {
		bool needs = false;
		for (end = g; end < m && items[end].key == items[g].key; end++) {
			const struct event *ev = &events[items[end].i];
			if (ev->target_version > 1 && arrived_ms[items[end].i] < window_end)
				needs = true;
		}
		last[g] = UINT64_MAX;
		if (!needs)
			continue;
		const struct slot *s = slot_of(r, items[g].key);
		if (s->key == items[g].key) {
			last[g] = s->last;
		} else {
			ask[nask] = &events[items[g].i];
			asked[nask++] = g;
		}
	}
	pthread_mutex_unlock(&r->lock);
	if (nask) {
		/* Outside the lock: the other consumers go on meanwhile. */
		st = lookup(ctx, ask, nask, found);
		if (st)
			goto out;
	}

	/* In delivery order within a target: an event goes when the version
	 * before it is stored, or stored earlier in this batch. One stored after
	 * a held one of its target has a lower version (the held one's
	 * predecessor, come late): the next plan lets the held one follow. */
	pthread_mutex_lock(&r->lock);
	for (size_t j = 0; j < nask; j++) {
		last[asked[j]] = found[j];
		*slot_of(r, items[asked[j]].key) = (struct slot){items[asked[j]].key, found[j]};
	}
	for (size_t g = 0, end; g < m; g = end) {
		uint64_t l = last[g];
		for (end = g; end < m && items[end].key == items[g].key; end++) {
			size_t i = items[end].i;
			uint64_t v = (uint64_t)events[i].target_version;
			bool due = now_ms >= arrived_ms[i] + r->hold_ms;
			bool gap = l != UINT64_MAX && v > 1 && arrived_ms[i] < window_end && v > l + 1;
			if (!due && gap) {
				hold[i] = true;
				(*nheld)++;
			} else if (l != UINT64_MAX && v > l) {
				l = v;
			}
		}
	}
	pthread_mutex_unlock(&r->lock);
	st = 0;
out:
	if (st)
		memset(hold, 0, n * sizeof *hold), *nheld = 0;
	free(items);
	free(last);
	free(ask);
	free(asked);
	free(found);
	return st;
}

void reorder_stored(struct reorder *r, const struct event *events, const bool *hold, size_t n)
{
	/* Remembered targets are raised. Others are remembered only from a
	 * creation (version 1, which has nothing before it): a version stored
	 * here may be below the truth (a redelivered event, skipped by the
	 * store, when later ones are stored), and a remembered version below
	 * the truth holds the target's next event for nothing. A creation below
	 * it is rare (one redelivered after its changes), and costs that wait
	 * at most; the API's changes mostly follow creations this remembers. */
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < n; i++) {
		if ((hold && hold[i]) || !versioned(&events[i]))
			continue;
		uint64_t key = target_key(&events[i]), v = (uint64_t)events[i].target_version;
		struct slot *s = slot_of(r, key);
		if (s->key == key && v > s->last)
			s->last = v;
		else if (s->key != key && v == 1)
			*s = (struct slot){key, 1};
	}
	pthread_mutex_unlock(&r->lock);
}

int64_t reorder_next_release(const struct reorder *r, const int64_t *arrived_ms,
                             const bool *hold, size_t n)
{
	int64_t at = INT64_MAX;
	for (size_t i = 0; i < n; i++)
		if (hold[i] && arrived_ms[i] + r->hold_ms < at)
			at = arrived_ms[i] + r->hold_ms;
	return at;
}
