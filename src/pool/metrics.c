/* metrics.c: the only code that writes the service's counters (atomically, from any process) and renders them. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "metrics.h"

static const char *const route_labels[MR_COUNT] = {
	"other", "/", "/health", "/metrics", "/execute", "/execute-with-environment", "/environments",
	"/environments/{name}", "/environments/{name}/logs",
};
static const char *const run_labels[METRICS_RUN_STATUSES] = {
	"ok", "error", "timeout", "memory_limit", "output_limit", "killed", "failed", "rejected", "other",
};
/* (path, reason) of each enum metrics_start but MS_NONE */
static const char *const start_labels[MS_COUNT][2] = {
	[MS_WARM] = { "warm", "ready" }, [MS_COLD_OFF] = { "cold", "off" }, [MS_COLD_UNFIT] = { "cold", "unfit" },
	[MS_COLD_NOT_READY] = { "cold", "not_ready" }, [MS_FORK] = { "fork", "ready" },
	[MS_COLD_FORK_DOWN] = { "cold", "fork_unavailable" },
};
static const char *const build_labels[METRICS_BUILD_OUTCOMES] = { "succeeded", "failed", "cancelled", "interrupted" };
const char *const metrics_env_statuses[3] = { "building", "ready", "failed" };

/* Upper bounds in seconds; a run lasts from milliseconds to max_timeout (300 s), a wait up to queue_timeout. */
static const double run_bounds[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300 };
static const double wait_bounds[] = { 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 };
#define NBOUNDS(a) (sizeof(a) / sizeof((a)[0]))
_Static_assert(NBOUNDS(run_bounds) <= METRICS_MAX_BUCKETS, "run_bounds: more bounds than buckets");
_Static_assert(NBOUNDS(wait_bounds) <= METRICS_MAX_BUCKETS, "wait_bounds: more bounds than buckets");
#define MAX_OBSERVED_S	1e7	/* a sum stays an exact integer of microseconds */

static void
add(uint64_t *p, uint64_t n)
{
	__atomic_add_fetch(p, n, __ATOMIC_RELAXED);
}

static uint64_t
get(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

uint64_t
metrics_get(const uint64_t *counter)
{
	return get(counter);
}

void
metrics_count_start(struct metrics *m, enum metrics_start start)
{
	if (start > MS_NONE && start < MS_COUNT)
		add(&m->starts[start], 1);
}

void
metrics_count_request(struct metrics *m, enum metrics_route route, int status)
{
	size_t col = METRICS_STATUS_MAX - METRICS_STATUS_MIN + 1;

	if ((unsigned)route >= MR_COUNT)
		route = MR_OTHER;
	if (status >= METRICS_STATUS_MIN && status <= METRICS_STATUS_MAX)
		col = (size_t)(status - METRICS_STATUS_MIN);
	add(&m->requests[route][col], 1);
}

/* The index of s among labels[0..n), else fallback. */
static size_t
label_index(const char *const *labels, size_t n, const char *s, size_t fallback)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(labels[i], s) == 0)
			return i;
	return fallback;
}

static void
observe(struct metrics_histogram *h, const double *bounds, size_t nbounds, double seconds)
{
	size_t i = 0;

	if (!(seconds >= 0))	/* NaN too */
		seconds = 0;
	if (seconds > MAX_OBSERVED_S)	/* +Inf too: counted in the last bucket, its sum bounded */
		seconds = MAX_OBSERVED_S;
	while (i < nbounds && seconds > bounds[i])
		i++;
	add(&h->bucket[i], 1);
	add(&h->count, 1);
	add(&h->sum_us, (uint64_t)(seconds * 1e6));
}

void
metrics_count_run(struct metrics *m, const char *status, double seconds)
{
	add(&m->runs[label_index(run_labels, METRICS_RUN_STATUSES, status, METRICS_RUN_STATUSES - 1)], 1);	/* other */
	observe(&m->run_seconds, run_bounds, NBOUNDS(run_bounds), seconds);
}

void
metrics_count_queue_wait(struct metrics *m, double seconds)
{
	observe(&m->queue_wait_seconds, wait_bounds, NBOUNDS(wait_bounds), seconds);
}

void
metrics_count_build(struct metrics *m, const char *outcome)
{
	/* An unknown outcome is a bug here, not a client's doing: count it as failed rather than lose it. */
	add(&m->builds[label_index(build_labels, METRICS_BUILD_OUTCOMES, outcome, 1)], 1);
}

static int
render_histogram(struct buf *out, const char *name, const char *help, const struct metrics_histogram *h,
    const double *bounds, size_t nbounds)
{
	uint64_t cum = 0;
	int rc = 0;

	rc |= buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (size_t i = 0; i < nbounds; i++) {
		cum += get(&h->bucket[i]);
		rc |= buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], (unsigned long long)cum);
	}
	cum += get(&h->bucket[nbounds]);
	rc |= buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
	/* _count equals the +Inf bucket even while other processes add: both come from the same reads. */
	rc |= buf_printf(out, "%s_sum %.6f\n%s_count %llu\n", name, (double)get(&h->sum_us) / 1e6, name,
	    (unsigned long long)cum);
	return rc;
}

int
metrics_render(const struct metrics *m, const struct metrics_gauges *g, struct buf *out)
{
	int rc = 0;

	rc |= buf_printf(out, "# HELP pysandbox_up Whether the jail self-test passed (1) or the service is unhealthy (0).\n"
	    "# TYPE pysandbox_up gauge\npysandbox_up %d\n", g->healthy ? 1 : 0);
	rc |= buf_printf(out, "# HELP pysandbox_uptime_seconds Seconds since the pool started.\n"
	    "# TYPE pysandbox_uptime_seconds gauge\npysandbox_uptime_seconds %.0f\n", g->uptime_s);

	rc |= buf_printf(out, "# HELP pysandbox_requests_total HTTP requests answered by the pool, by route and status.\n"
	    "# TYPE pysandbox_requests_total counter\n");
	for (int r = 0; r < MR_COUNT; r++)
		for (int s = 0; s <= METRICS_STATUS_MAX - METRICS_STATUS_MIN + 1; s++) {
			uint64_t n = get(&m->requests[r][s]);
			char code[12];	/* room for any int, as GCC checks it */

			if (n == 0)
				continue;
			if (s == METRICS_STATUS_MAX - METRICS_STATUS_MIN + 1)
				snprintf(code, sizeof(code), "other");
			else
				snprintf(code, sizeof(code), "%d", s + METRICS_STATUS_MIN);
			rc |= buf_printf(out, "pysandbox_requests_total{route=\"%s\",status=\"%s\"} %llu\n", route_labels[r],
			    code, (unsigned long long)n);
		}

	rc |= buf_printf(out, "# HELP pysandbox_runs_total Runs carried out, by outcome (failed: the sandbox could not "
	    "run the code).\n# TYPE pysandbox_runs_total counter\n");
	for (int i = 0; i < METRICS_RUN_STATUSES; i++)
		rc |= buf_printf(out, "pysandbox_runs_total{status=\"%s\"} %llu\n", run_labels[i],
		    (unsigned long long)get(&m->runs[i]));
	rc |= buf_printf(out, "# HELP pysandbox_run_starts_total Runs started, by path: warm (in an interpreter up "
	    "before the request), fork (forked from the fork server) or cold, and why cold (off: warm_interpreters is "
	    "off; unfit: network, an environment or limits beyond the warm profile; not_ready: no warm interpreter was "
	    "there; fork_unavailable: the fork server could not take it).\n"
	    "# TYPE pysandbox_run_starts_total counter\n");
	for (int i = MS_NONE + 1; i < MS_COUNT; i++)
		rc |= buf_printf(out, "pysandbox_run_starts_total{path=\"%s\",reason=\"%s\"} %llu\n", start_labels[i][0],
		    start_labels[i][1], (unsigned long long)get(&m->starts[i]));
	rc |= buf_printf(out, "# HELP pysandbox_builds_total Environment builds ended, by outcome.\n"
	    "# TYPE pysandbox_builds_total counter\n");
	for (int i = 0; i < METRICS_BUILD_OUTCOMES; i++)
		rc |= buf_printf(out, "pysandbox_builds_total{outcome=\"%s\"} %llu\n", build_labels[i],
		    (unsigned long long)get(&m->builds[i]));

	rc |= render_histogram(out, "pysandbox_run_duration_seconds", "Wall time of runs, from the jail's start of the "
	    "program to its end.", &m->run_seconds, run_bounds, NBOUNDS(run_bounds));
	rc |= render_histogram(out, "pysandbox_queue_wait_seconds", "Time runs waited for a free sandbox (0 when one "
	    "was free).", &m->queue_wait_seconds, wait_bounds, NBOUNDS(wait_bounds));

	rc |= buf_printf(out, "# HELP pysandbox_workers Worker processes of the run socket, by state.\n"
	    "# TYPE pysandbox_workers gauge\npysandbox_workers{state=\"busy\"} %d\npysandbox_workers{state=\"idle\"} %d\n",
	    g->workers_busy, g->workers_idle);
	rc |= buf_printf(out, "# HELP pysandbox_api_workers Worker processes of the API socket (they never take a run).\n"
	    "# TYPE pysandbox_api_workers gauge\npysandbox_api_workers %d\n", g->api_workers);
	rc |= buf_printf(out, "# HELP pysandbox_warm_interpreters_ready Run workers holding a warm interpreter for "
	    "their next run (started, or starting: about 10 ms after the last answer).\n"
	    "# TYPE pysandbox_warm_interpreters_ready gauge\npysandbox_warm_interpreters_ready %d\n", g->warm_ready);
	if (g->fork_server >= 0) {
		rc |= buf_printf(out, "# HELP pysandbox_fork_server_up Whether the fork server is running (1) or being "
		    "restarted (0).\n# TYPE pysandbox_fork_server_up gauge\npysandbox_fork_server_up %d\n", g->fork_server);
		rc |= buf_printf(out, "# HELP pysandbox_fork_server_starts_total Times the master started the fork server.\n"
		    "# TYPE pysandbox_fork_server_starts_total counter\npysandbox_fork_server_starts_total %ld\n",
		    g->fork_server_starts);
		if (g->fork_server_pss_kb >= 0)
			rc |= buf_printf(out, "# HELP pysandbox_fork_server_pss_bytes The fork server's proportional set size "
			    "(its children, the runs, are charged apart).\n# TYPE pysandbox_fork_server_pss_bytes gauge\n"
			    "pysandbox_fork_server_pss_bytes %ld\n", g->fork_server_pss_kb * 1024);
	}
	rc |= buf_printf(out, "# HELP pysandbox_run_slots Runs that may run at once (workers in the configuration).\n"
	    "# TYPE pysandbox_run_slots gauge\npysandbox_run_slots %d\n", g->run_slots);
	rc |= buf_printf(out, "# HELP pysandbox_runs_running Runs running now.\n"
	    "# TYPE pysandbox_runs_running gauge\npysandbox_runs_running %d\n", g->runs);
	rc |= buf_printf(out, "# HELP pysandbox_queue_length Runs waiting for a sandbox now.\n"
	    "# TYPE pysandbox_queue_length gauge\npysandbox_queue_length %d\n", g->queued);
	rc |= buf_printf(out, "# HELP pysandbox_queue_size Runs that may wait at most (queue_size).\n"
	    "# TYPE pysandbox_queue_size gauge\npysandbox_queue_size %d\n", g->queue_size);
	if (g->envs[0] >= 0) {
		rc |= buf_printf(out, "# HELP pysandbox_environments Environments, by status.\n"
		    "# TYPE pysandbox_environments gauge\n");
		for (int i = 0; i < 3; i++)
			rc |= buf_printf(out, "pysandbox_environments{status=\"%s\"} %ld\n", metrics_env_statuses[i], g->envs[i]);
	}
	return rc ? -1 : 0;
}
