/* fail.c: how pysandbox-jail fails: one failure record on the status stream, then exit (nothing has run). */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jail.h"

void (*fail_cleanup)(void);

static void __attribute__((noreturn, format(printf, 3, 0)))
exit_with_record(enum jail_failure kind, int errnum, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	jail_write_failure(JAIL_FD_STATUS, kind, errnum, msg);
	if (fail_cleanup != NULL && outer_pid != 0 && getpid() == outer_pid)
		fail_cleanup();
	if (outer_pid != 0 && getpid() == outer_pid)
		cg_run_remove(&run_cgroups);
	_exit(JAIL_EXIT_SETUP);
}

/* A setup failure ("E"): the worker answers 500 and the pool runs its self-test. */
void
die(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	exit_with_record(JAIL_FAIL_SETUP, saved, fmt, ap);
}

/* A run beyond the limits of the configuration file ("L"), so that the worker can tell a file edited but
 * not yet reloaded (or a pool asking for more than it may) from a broken sandbox. */
void
refuse(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	exit_with_record(JAIL_FAIL_LIMITS, 0, fmt, ap);
}

/* Any other failure record: the client's input (I), its environment gone (G), the interpreter (X). */
void
fail_record(enum jail_failure kind, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	exit_with_record(kind, errnum, fmt, ap);
}

void
status_write_check(int rc)
{
	if (rc == -1)
		_exit(JAIL_EXIT_SETUP);
}

#ifdef PYSANDBOX_SABOTAGE
/* A test-only build (configure --enable-sabotage): PYSANDBOX_SABOTAGE names the isolation mechanisms to
 * leave out, so that the tests covering each can be seen to fail (make sabotage). A production build has
 * none of this. */
bool
sabotaged(const char *mech)
{
	const char *p = getenv("PYSANDBOX_SABOTAGE");
	size_t n = strlen(mech);

	while (p && *p) {
		size_t len = strcspn(p, ",");

		if (len == n && strncmp(p, mech, n) == 0)
			return true;
		p += len + (p[len] == ',');
	}
	return false;
}
#endif
