/* clock: the monotonic clock (CLOCK_MONOTONIC, POSIX), for timeouts,
 * back-offs and durations: it does not jump when the wall clock is set.
 * Event timestamps are wall-clock time and do not come from it
 * (clock_wall_ms, for instants, does). */
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

/* The wall clock (CLOCK_REALTIME): milliseconds since the Unix epoch, for
 * instants a client is told (when a checkpoint was signed), never for
 * durations. */
int64_t clock_wall_ms(void);

#endif
