/* clock: the monotonic clock (CLOCK_MONOTONIC, POSIX), for timeouts,
 * back-offs and durations: it does not jump when the wall clock is set.
 * Event timestamps are wall-clock time and do not come from here. */
#ifndef AUDITLOG_CLOCK_H
#define AUDITLOG_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Now, in milliseconds and in nanoseconds, from an arbitrary origin. */
int64_t clock_ms(void);
int64_t clock_ns(void);

/* The instant ms milliseconds from now (ms >= 0), as an absolute time for
 * pthread_cond_timedwait on a condition whose attribute clock is
 * CLOCK_MONOTONIC (pthread_condattr_setclock). */
struct timespec clock_deadline(int64_t ms);

#endif
