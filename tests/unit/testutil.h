/* testutil.h: what the C unit tests share besides TAP (tap.h): allocation that cannot fail quietly. */
#ifndef SBX_TESTUTIL_H
#define SBX_TESTUTIL_H

#include <errno.h>
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

#endif
