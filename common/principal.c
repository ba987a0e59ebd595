#include "principal.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOCKS 64

enum state { EMPTY, EXISTS, GONE };

struct slot {
	int64_t user_id;
	int64_t fetched_ms; /* when the lookup that produced it began */
	uint32_t version;   /* bumped by every write, so a lookup can tell it was overtaken */
	uint8_t state;
	bool auditor;
};

struct principal_cache {
	struct principal_config cfg;
	struct slot *slots;
	pthread_mutex_t locks[LOCKS]; /* slot i is under locks[i % LOCKS] */
};

static int64_t monotonic_ms(void *ctx)
{
	(void)ctx;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct principal_cache *principal_cache_new(const struct principal_config *cfg)
{
	if (!cfg->lookup || cfg->ttl_ms < 0)
		return NULL;
	struct principal_cache *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->cfg = *cfg;
	if (!c->cfg.slots)
		c->cfg.slots = PRINCIPAL_SLOTS_DEFAULT;
	if (!c->cfg.clock)
		c->cfg.clock = monotonic_ms;
	if (!(c->slots = calloc(c->cfg.slots, sizeof *c->slots))) {
		free(c);
		return NULL;
	}
	for (int i = 0; i < LOCKS; i++)
		pthread_mutex_init(&c->locks[i], NULL);
	return c;
}

void principal_cache_free(struct principal_cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < LOCKS; i++)
		pthread_mutex_destroy(&c->locks[i]);
	free(c->slots);
	free(c);
}

static size_t slot_of(const struct principal_cache *c, int64_t user_id)
{
	uint64_t h = (uint64_t)user_id * 0x9E3779B97F4A7C15ull; /* Fibonacci hashing */
	return (size_t)((h ^ h >> 32) % c->cfg.slots);
}

/* Under the slot's lock: whether s holds an answer for user_id younger
 * than max_age_ms. */
static bool fresh(const struct slot *s, int64_t user_id, int64_t now, int64_t max_age_ms)
{
	return s->state != EMPTY && s->user_id == user_id && now - s->fetched_ms < max_age_ms;
}

static enum principal_status answer(const struct slot *s, int64_t now, bool *auditor,
                                    int64_t *age_ms)
{
	if (s->state == GONE)
		return PRINCIPAL_GONE;
	*auditor = s->auditor;
	if (age_ms)
		*age_ms = now > s->fetched_ms ? now - s->fetched_ms : 0;
	return PRINCIPAL_OK;
}

static void store(struct slot *s, int64_t user_id, int64_t at, enum state state, bool auditor)
{
	*s = (struct slot){user_id, at, s->version + 1, (uint8_t)state, auditor};
}

enum principal_status principal_check(struct principal_cache *c, int64_t user_id,
                                      const void *arg, bool *auditor, int64_t *age_ms)
{
	return principal_check_within(c, user_id, arg, c->cfg.ttl_ms, auditor, age_ms);
}

enum principal_status principal_check_within(struct principal_cache *c, int64_t user_id,
                                             const void *arg, int64_t max_age_ms,
                                             bool *auditor, int64_t *age_ms)
{
	if (max_age_ms > c->cfg.ttl_ms)
		max_age_ms = c->cfg.ttl_ms;
	size_t i = slot_of(c, user_id);
	struct slot *s = &c->slots[i];
	pthread_mutex_t *lock = &c->locks[i % LOCKS];
	enum principal_status st;

	int64_t began = c->cfg.clock(c->cfg.clock_ctx);
	pthread_mutex_lock(lock);
	if (fresh(s, user_id, began, max_age_ms)) {
		st = answer(s, began, auditor, age_ms);
		pthread_mutex_unlock(lock);
		return st;
	}
	uint32_t version = s->version;
	pthread_mutex_unlock(lock);

	bool found_auditor = false;
	st = c->cfg.lookup(c->cfg.lookup_ctx, user_id, arg, &found_auditor);
	if (st == PRINCIPAL_UNAVAILABLE)
		return st;
	if (st != PRINCIPAL_OK)
		st = PRINCIPAL_GONE;

	pthread_mutex_lock(lock);
	if (s->version == version) {
		store(s, user_id, began, st == PRINCIPAL_OK ? EXISTS : GONE, found_auditor);
	} else if (s->state != EMPTY && s->user_id == user_id && s->fetched_ms >= began) {
		/* Overtaken: principal_set or principal_gone (or a lookup that
		 * began after ours) wrote this user while we looked. Theirs is the
		 * newer answer; a deletion must not be undone by our older read. */
		st = answer(s, began, &found_auditor, NULL);
	}
	pthread_mutex_unlock(lock);
	if (st == PRINCIPAL_OK) {
		*auditor = found_auditor;
		if (age_ms) /* from when our lookup began: never younger than the truth */
			*age_ms = c->cfg.clock(c->cfg.clock_ctx) - began;
	}
	return st;
}

static void put(struct principal_cache *c, int64_t user_id, enum state state, bool auditor)
{
	size_t i = slot_of(c, user_id);
	struct slot *s = &c->slots[i];
	int64_t now = c->cfg.clock(c->cfg.clock_ctx);
	pthread_mutex_lock(&c->locks[i % LOCKS]);
	/* Users do not come back: a set that raced with a deletion (its read
	 * before the DELETE, its call after) must not undo it. */
	if (!(state == EXISTS && s->state == GONE && fresh(s, user_id, now, c->cfg.ttl_ms)))
		store(s, user_id, now, state, auditor);
	pthread_mutex_unlock(&c->locks[i % LOCKS]);
}

void principal_set(struct principal_cache *c, int64_t user_id, bool auditor)
{
	put(c, user_id, EXISTS, auditor);
}

void principal_gone(struct principal_cache *c, int64_t user_id)
{
	put(c, user_id, GONE, false);
}

const char *principal_list_next(const char **pos, char sep, size_t *n)
{
	const char *p = *pos;
	while (p && *p) {
		const char *end = strchr(p, sep);
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *item = p;
		p += len + (end != NULL);
		/* "admin, auditor" holds "auditor" */
		while (len && isspace((unsigned char)item[0]))
			item++, len--;
		while (len && isspace((unsigned char)item[len - 1]))
			len--;
		if (len) {
			*pos = p;
			*n = len;
			return item;
		}
	}
	*pos = p;
	return NULL;
}

bool principal_list_has(const char *list, char sep, const char *role)
{
	size_t rlen = strlen(role), n;
	const char *pos = list, *item;
	while ((item = principal_list_next(&pos, sep, &n)))
		if (n == rlen && !memcmp(item, role, n))
			return true;
	return false;
}
