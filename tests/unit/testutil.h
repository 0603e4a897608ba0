/* testutil.h: what the C unit tests share besides TAP (tap.h): allocation that cannot fail quietly, and a
 * comparison of computed doubles. */
#ifndef SBX_TESTUTIL_H
#define SBX_TESTUTIL_H

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

/* malloc, or the test ends (exit 99: a hard error to automake's driver, not a failed check). */
static inline void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL) {
		perror("malloc");
		exit(99);
	}
	return p;
}

/* Equal but for rounding: the figures under test are sums and quotients of exact inputs. */
static inline bool
near(double a, double b)
{
	return fabs(a - b) < 1e-9;
}

#endif
