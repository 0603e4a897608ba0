/* now.h: the current time as seconds in a double, the one way the daemon reads its clocks for durations
 * (monotonic) and for timestamps (wall clock). */
#ifndef SBX_NOW_H
#define SBX_NOW_H

#include <time.h>

/* Seconds on CLOCK_MONOTONIC: for durations, unmoved by clock changes. */
static inline double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Seconds on CLOCK_REALTIME: for what is shown or stored as a time of day. */
static inline double
now_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
