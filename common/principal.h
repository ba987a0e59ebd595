/* principal: what a token's user is now, by the service's own records,
 * cached for a bounded time.
 *
 * A token says who its user was and what roles it had when it was signed;
 * it stays valid for twenty minutes. Whether the user still exists and what
 * roles it has now are the records' answer, which costs a database query
 * (the API) or an HTTP call (the auditor). This cache keeps that answer per
 * user id for ttl_ms, so a request costs a hash lookup under a lock and the
 * records are asked at most about once per user per ttl_ms:
 *
 *  - An answer is used for at most ttl_ms after the lookup that produced it
 *    began, so a deletion or role change made elsewhere is seen within
 *    ttl_ms (plus the lookup's own duration).
 *  - principal_set and principal_gone record what this process itself just
 *    did or read (a role it read, a user it deleted): they take effect at
 *    once, also over a lookup that was under way when they were called.
 *    A user is never brought back: principal_set does not overwrite a
 *    "gone" answer younger than ttl_ms (user ids are not reused), so a set
 *    whose read raced with a deletion cannot undo it.
 *  - "Gone" answers are cached like positive ones (a deleted user's token
 *    costs no lookup per request); failed lookups are never cached.
 *
 * The lookup runs without any lock held, possibly on several threads at
 * once for the same user, so it must be thread-safe. The table has a fixed
 * number of slots (a user id maps to one; a colliding id replaces it), so
 * memory does not grow with the number of users.
 *
 * Pure: no I/O; the clock and the lookup are the caller's, so a unit test
 * drives both. Thread-safe. */
#ifndef AUDITLOG_PRINCIPAL_H
#define AUDITLOG_PRINCIPAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PRINCIPAL_TTL_MS_DEFAULT 1000
#define PRINCIPAL_SLOTS_DEFAULT 4096

enum principal_status {
	PRINCIPAL_OK = 0,          /* the user exists; *auditor says whether it has that role */
	PRINCIPAL_GONE = 1,        /* no such user */
	PRINCIPAL_UNAVAILABLE = 2, /* the records cannot be read now */
};

/* Looks user_id up in the records: PRINCIPAL_OK with *auditor set,
 * PRINCIPAL_GONE, or PRINCIPAL_UNAVAILABLE. ctx is the config's
 * lookup_ctx; arg is what principal_check was given (borrowed for the
 * call). */
typedef enum principal_status (*principal_lookup_fn)(void *ctx, int64_t user_id,
                                                     const void *arg, bool *auditor);

/* Milliseconds on a clock that never goes back. */
typedef int64_t (*principal_clock_fn)(void *ctx);

struct principal_config {
	int64_t ttl_ms;             /* >= 0; 0 looks up on every check */
	size_t slots;               /* 0: PRINCIPAL_SLOTS_DEFAULT */
	principal_lookup_fn lookup; /* required */
	void *lookup_ctx;
	principal_clock_fn clock; /* NULL: CLOCK_MONOTONIC */
	void *clock_ctx;
};

struct principal_cache;

/* Returns a cache to free with principal_cache_free, or NULL (out of
 * memory, no lookup, negative ttl). cfg is copied. */
struct principal_cache *principal_cache_new(const struct principal_config *cfg);
void principal_cache_free(struct principal_cache *cache);

/* What user_id is now: a cached answer younger than ttl_ms, or else the
 * lookup's (called with arg). *auditor is set only for PRINCIPAL_OK; so is
 * *age_ms (may be NULL): how long ago the lookup behind the answer began. */
enum principal_status principal_check(struct principal_cache *cache, int64_t user_id,
                                      const void *arg, bool *auditor, int64_t *age_ms);
/* principal_check, but a cached answer is used only while younger than
 * max_age_ms (at most ttl_ms): for a caller that passes the answer on and
 * needs it fresher than the bound. */
enum principal_status principal_check_within(struct principal_cache *cache, int64_t user_id,
                                             const void *arg, int64_t max_age_ms,
                                             bool *auditor, int64_t *age_ms);

/* This process knows user_id exists with these roles now (it read them);
 * ignored while a "gone" answer for it is younger than ttl_ms. */
void principal_set(struct principal_cache *cache, int64_t user_id, bool auditor);
/* This process knows user_id no longer exists (it deleted it). */
void principal_gone(struct principal_cache *cache, int64_t user_id);

/* The role that reads the whole audit log. */
#define PRINCIPAL_ROLE_AUDITOR "auditor"

/* The items of list, separated by sep (',' in the users.roles column, ' '
 * in an OAuth scope), one per call, each without the white space around
 * it; empty items are passed over. *pos starts at the list (may be NULL)
 * and is advanced. Returns the next item (pointing into the list, *n bytes
 * long, not NUL-terminated), or NULL after the last. */
const char *principal_list_next(const char **pos, char sep, size_t *n);

/* True if list has an item (as principal_list_next reads them) equal to
 * role; case counts. list may be NULL. */
bool principal_list_has(const char *list, char sep, const char *role);

#endif
