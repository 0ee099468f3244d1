/* A minimal unit-test harness: CHECK records a failure and goes on; the
 * binary prints "N passed, N failed" and exits non-zero on any failure. */
#ifndef VIGIL_UNIT_H
#define VIGIL_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_passed, unit_failed;

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (cond) {                                                      \
			unit_passed++;                                           \
		} else {                                                         \
			unit_failed++;                                           \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,   \
				__LINE__, #cond);                                \
		}                                                                \
	} while (0)

#define CHECK_STR(a, b)                                                          \
	do {                                                                     \
		const char *unit_a = (a), *unit_b = (b);                         \
		if (unit_a && unit_b && strcmp(unit_a, unit_b) == 0) {           \
			unit_passed++;                                           \
		} else {                                                         \
			unit_failed++;                                           \
			fprintf(stderr, "%s:%d: CHECK_STR failed: %s\n  got:  %s\n  want: %s\n", \
				__FILE__, __LINE__, #a, unit_a ? unit_a : "(null)",  \
				unit_b ? unit_b : "(null)");                     \
		}                                                                \
	} while (0)

#define CHECK_INT(a, b)                                                          \
	do {                                                                     \
		long long unit_a = (long long)(a), unit_b = (long long)(b);      \
		if (unit_a == unit_b) {                                          \
			unit_passed++;                                           \
		} else {                                                         \
			unit_failed++;                                           \
			fprintf(stderr, "%s:%d: CHECK_INT failed: %s: got %lld want %lld\n", \
				__FILE__, __LINE__, #a, unit_a, unit_b);         \
		}                                                                \
	} while (0)

static inline int unit_report(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, unit_passed, unit_failed);
	return unit_failed ? 1 : 0;
}

#endif
