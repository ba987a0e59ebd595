#include "ratelimit.h"

#include <pthread.h>

#include "clock.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

bool ratelimit_allow(struct ratelimit *r, unsigned burst, int64_t window_ms,
                     unsigned long *suppressed)
{
	int64_t now = clock_ms();
	unsigned long before = 0;
	pthread_mutex_lock(&lock);
	if (!r->window_ms || now - r->window_ms >= window_ms) {
		r->window_ms = now ? now : 1;
		r->in_window = 0;
		before = r->suppressed;
		r->suppressed = 0;
	}
	bool allow = r->in_window < burst;
	if (allow)
		r->in_window++;
	else
		r->suppressed++;
	pthread_mutex_unlock(&lock);
	if (suppressed)
		*suppressed = before;
	return allow;
}
