/* ratelimit: at most burst lines a window, and the count of the refused
 * handed over once, at the next window's first call. */
#include <time.h>

#include "ratelimit.h"
#include "testhelp.h"

static void sleep_ms(long ms)
{
	nanosleep(&(struct timespec){.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000}, NULL);
}

int main(void)
{
	struct ratelimit r = {0};
	unsigned long dropped = 99;
	int allowed = 0;
	for (int i = 0; i < 25; i++)
		allowed += ratelimit_allow(&r, 10, 200, &dropped);
	CHECK_INT(allowed, 10);
	CHECK_INT((int)dropped, 0); /* nothing refused before this window */
	sleep_ms(250);
	CHECK(ratelimit_allow(&r, 10, 200, &dropped));
	CHECK_INT((int)dropped, 15);
	CHECK(ratelimit_allow(&r, 10, 200, &dropped));
	CHECK_INT((int)dropped, 0); /* handed over once */

	struct ratelimit once = {0};
	CHECK(ratelimit_allow(&once, 1, 200, NULL));
	CHECK(!ratelimit_allow(&once, 1, 200, NULL));
	sleep_ms(250);
	CHECK(ratelimit_allow(&once, 1, 200, NULL));
	return test_report("ratelimit");
}
