/* metrics.h: the service's counters and histograms (shared memory, atomic adds) and their Prometheus text. */
#ifndef SBX_METRICS_H
#define SBX_METRICS_H

#include <stdint.h>

#include "buf.h"

/* The routes requests are counted by (a fixed set: a client's path never becomes a label). */
enum metrics_route {
	MR_OTHER, MR_ROOT, MR_HEALTH, MR_METRICS, MR_EXECUTE, MR_EXECUTE_ENV, MR_ENVS, MR_ENV, MR_ENV_LOGS,
	MR_COUNT
};

/* How a run's jail started (run.c tells, the /execute handler counts): the warm path's hit rate. */
enum metrics_start {
	MS_NONE,		/* not started (refused before the jail) */
	MS_WARM,		/* in a warm standby's interpreter */
	MS_COLD_OFF,		/* cold: warm_interpreters is off */
	MS_COLD_UNFIT,		/* cold: the run does not fit the warm profile (network, an environment, limits) */
	MS_COLD_NOT_READY,	/* cold: no warm standby was there (not yet spawned, ended, or failed to spawn) */
	MS_FORK,		/* forked from the fork server */
	MS_COLD_FORK_DOWN,	/* cold: the fork server could not take it (not running, restarting) */
	MS_COUNT
};

#define METRICS_STATUS_MIN	100
#define METRICS_STATUS_MAX	599
#define METRICS_RUN_STATUSES	9	/* ok error timeout memory_limit output_limit killed failed rejected other */
#define METRICS_BUILD_OUTCOMES	4	/* succeeded failed cancelled interrupted */
#define METRICS_MAX_BUCKETS	16

struct metrics_histogram {
	uint64_t	 bucket[METRICS_MAX_BUCKETS + 1];	/* per bucket (not cumulative); the last is +Inf */
	uint64_t	 count;
	uint64_t	 sum_us;
};

/* Lives in the scoreboard: every process of the pool adds to it with atomic operations, none resets it. */
struct metrics {
	uint64_t	 requests[MR_COUNT][METRICS_STATUS_MAX - METRICS_STATUS_MIN + 2];	/* last: other codes */
	uint64_t	 runs[METRICS_RUN_STATUSES];
	uint64_t	 builds[METRICS_BUILD_OUTCOMES];
	uint64_t	 starts[MS_COUNT];
	struct metrics_histogram run_seconds;
	struct metrics_histogram queue_wait_seconds;
};

/* What /metrics reads at the moment it is asked. */
struct metrics_gauges {
	int		 healthy;
	double		 uptime_s;
	int		 workers_busy, workers_idle;	/* run workers */
	int		 api_workers;
	int		 run_slots, runs, queue_size, queued;
	int		 warm_ready;	/* run workers holding a warm standby */
	int		 fork_server;	/* -1: fork_server off; 0: not running now; 1: running */
	long		 fork_server_starts, fork_server_pss_kb;	/* pss: -1 not known yet */
	/* environments by status, in the order of metrics_env_statuses; -1: the database could not be read */
	long		 envs[3];
};

extern const char *const metrics_env_statuses[3];	/* building ready failed (as the database has them) */

void metrics_count_request(struct metrics *m, enum metrics_route route, int status);
/* status: a run status name (run_status_name), or "failed" for a run the sandbox could not carry out. */
void metrics_count_run(struct metrics *m, const char *status, double seconds);
void metrics_count_queue_wait(struct metrics *m, double seconds);
void metrics_count_start(struct metrics *m, enum metrics_start start);
/* outcome: "succeeded", "failed", "cancelled" or "interrupted". */
void metrics_count_build(struct metrics *m, const char *outcome);

/* A counter's value as the other processes' atomic adds left it (for /health). */
uint64_t metrics_get(const uint64_t *counter);

/* The Prometheus text exposition (format 0.0.4) of m and g, appended to out; -1 on allocation failure. Pure. */
int metrics_render(const struct metrics *m, const struct metrics_gauges *g, struct buf *out);

#endif
