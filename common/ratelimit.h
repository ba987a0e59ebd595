/* ratelimit: how often a line that can repeat may be logged.
 *
 * A struct ratelimit, zeroed (static or in a struct), stands for one kind
 * of line; ratelimit_allow says whether this occurrence may be logged.
 * Thread-safe (one process-wide mutex: meant for failures and warnings,
 * not for a hot path). */
#ifndef AUDITLOG_RATELIMIT_H
#define AUDITLOG_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct ratelimit {
	int64_t window_ms; /* clock_ms() when the current window began; 0 before the first */
	unsigned in_window;
	unsigned long suppressed;
};

/* True for at most burst calls in each window of window_ms milliseconds
 * (the first call always). When suppressed is not NULL it receives how
 * many calls were refused in the windows before this one, once: the first
 * call of a window hands the count over and resets it. */
bool ratelimit_allow(struct ratelimit *r, unsigned burst, int64_t window_ms,
                     unsigned long *suppressed);

#endif
