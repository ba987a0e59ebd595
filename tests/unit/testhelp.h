/* testhelp: the whole unit-test harness. Each check that fails prints
 * where and what; the test's main returns test_report(), non-zero when
 * any check failed. */
#ifndef AUDITLOG_TESTHELP_H
#define AUDITLOG_TESTHELP_H

#include <stdio.h>
#include <string.h>

static int test_checks, test_failures;

#define CHECK(cond)                                                                          \
	do {                                                                                     \
		test_checks++;                                                                       \
		if (!(cond)) {                                                                       \
			test_failures++;                                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);         \
		}                                                                                    \
	} while (0)

#define CHECK_INT(got, want)                                                                 \
	do {                                                                                     \
		long long g_ = (long long)(got), w_ = (long long)(want);                             \
		test_checks++;                                                                       \
		if (g_ != w_) {                                                                      \
			test_failures++;                                                                 \
			fprintf(stderr, "%s:%d: %s is %lld, want %lld\n", __FILE__, __LINE__, #got, g_,  \
			        w_);                                                                     \
		}                                                                                    \
	} while (0)

#define CHECK_STR(got, want)                                                                 \
	do {                                                                                     \
		const char *g_ = (got), *w_ = (want);                                                \
		test_checks++;                                                                       \
		if (!g_ || strcmp(g_, w_)) {                                                         \
			test_failures++;                                                                 \
			fprintf(stderr, "%s:%d: %s is \"%s\", want \"%s\"\n", __FILE__, __LINE__, #got, \
			        g_ ? g_ : "(null)", w_);                                                 \
		}                                                                                    \
	} while (0)

static inline int test_report(const char *name)
{
	fprintf(stderr, "%s: %d checks, %d failed\n", name, test_checks, test_failures);
	return test_failures != 0 || test_checks == 0;
}

#endif
