/* cgroup.h: finding the cgroups runs are made in (v2, or v1 memory/pids/cpu), and sweeping leftovers. */
#ifndef SBX_CGROUP_H
#define SBX_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Every cgroup the service makes is named CG_PREFIX + something: a run's is
 * CG_PREFIX + the jail's pid; the pool's v2 leaf is CG_POOL_LEAF. */
#define CG_PREFIX	"pysandbox-"
#define CG_POOL_LEAF	CG_PREFIX "pool"

/* Pure: in the text of /proc/PID/cgroup, the path of the v1 hierarchy that
 * has controller, or of the v2 one ("0::/path") when controller is NULL.
 * False if absent or longer than outlen. */
bool cg_parse_proc_cgroup(const char *text, const char *controller, char *out, size_t outlen);
/* Pure: whether a space-separated controller list ("cpu memory pids", as in
 * cgroup.controllers and cgroup.subtree_control) names controller. */
bool cg_list_has(const char *list, const char *controller);

/* The directory of this process's cgroup: for a v1 controller ("memory",
 * "pids", "cpu"), or the v2 one when controller is NULL (the unified
 * hierarchy at /sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host). */
bool cg_self_dir(const char *controller, char *out, size_t outlen);
/* v2: the directory runs' cgroups are made in, when it hands the memory and
 * pids controllers to its children: the parent of our pool leaf, or the root
 * when that is where we are. */
bool cg_v2_runs_dir(char *out, size_t outlen);
/* v2, as root at start-up: move this (single-threaded) process into the
 * pool leaf beside which runs' cgroups go, and enable memory, pids and cpu
 * for them. Returns 0 when v2 is then usable, -1 with why set otherwise
 * (nothing changed, or why says what stays). */
int cg_v2_prepare(char *why, size_t whylen);
/* Which cgroups runs get, for /health: "v2: cpu, memory, pids",
 * "v1: cpu, memory, pids" or "" when none. */
void cg_describe(char *out, size_t outlen);

/* Write value into dir/file (or file under the directory fd dirfd); -1 with errno on failure. */
int cg_write(const char *dir, const char *file, const char *value);
int cg_write_at(int dirfd, const char *file, const char *value);
/* Read what fits of dir/file (or file under dirfd) into out, NUL-terminated; -1 on failure. */
int cg_read(const char *dir, const char *file, char *out, size_t outlen);
int cg_read_at(int dirfd, const char *file, char *out, size_t outlen);
/* Remove the empty CG_PREFIX-PID cgroups of jails that are gone, wherever
 * runs' cgroups are made (v2 and v1). Returns how many. */
int cg_sweep(void);

/*
 * A run's cgroups, made by the jail as root. Only the program and what it starts live in them: the outer
 * helper and init stay in the pool's, outside the run's memory and CPU limits, so that a run at its memory
 * limit or starved at its CPU quota cannot take down the process that enforces its deadline and reports.
 *  - v2: one cgroup per run beside the pool's leaf; the program is cloned straight into it
 *    (CLONE_INTO_CGROUP).
 *  - v1: one per controller, which the program joins itself; a join waits for an RCU grace period when the
 *    system was idle (about 10 ms here), so a standby's program joins while it waits for its request.
 * The outer helper removes them when init has gone (every process of the run is dead by then); the pool's
 * sweep removes those of jails killed outright.
 */
enum cg_kind { CG_NONE, CG_V1, CG_V2 };
enum { CGC_MEMORY, CGC_PIDS, CGC_CPU, CGC_N };

struct cg_run {
	enum cg_kind	 kind;
	int		 dir[CGC_N];	/* v1: one per controller; v2: [0] only; -1: none */
	int		 parent[CGC_N];	/* where each was made, for its removal */
	char		 name[48];
};
#define CG_RUN_NONE { CG_NONE, { -1, -1, -1 }, { -1, -1, -1 }, "" }

/* What a run may use; -1: no limit (a test-only sabotaged build asks for that). */
struct cg_run_limits {
	long	 memory_bytes;
	long	 pids;
	long	 cpu_milli;	/* CFS quota in thousandths of a core */
};

/* As root, before the run's arguments are known: sweep the cgroups of jails gone before, then make this
 * run's (empty) ones, CG_PREFIX + id. -1 with why when v2 was prepared for runs and its cgroup cannot be
 * made; a v1 controller that is not ours to use is left out (the rlimits then stand alone). */
int cg_run_create(struct cg_run *r, long id, char *why, size_t whylen);
/* The run's limits, once its arguments are checked; -1 with why. */
int cg_run_limit(struct cg_run *r, const struct cg_run_limits *l, char *why, size_t whylen);
/* Whether the run has a memory cgroup (RLIMIT_AS is then only a backstop). */
bool cg_run_has_memory(const struct cg_run *r);
/* fork() for the program: in v2 straight into the run's cgroup; in v1 the child joins each controller's
 * cgroup itself (it is the only process there). In the child, 0, with *join_errno set when a join failed. */
pid_t cg_run_fork(struct cg_run *r, int *join_errno);
/* Before the run's processes are killed: a throttled process needs CPU time to die, which a tiny quota
 * hands out a sliver per period. */
void cg_run_unthrottle(struct cg_run *r);
/* Move process pid (a fork server's child, before it forks anything) into the run's cgroups; -1 with errno. */
int cg_run_attach(struct cg_run *r, pid_t pid);
/* After the run: OOM kills and the memory peak; false without a memory cgroup. */
bool cg_run_report(const struct cg_run *r, long *oom_kills, long *peak_bytes);
/* Remove the run's cgroups (empty once init is reaped: its pid namespace died with it). */
void cg_run_remove(struct cg_run *r);

#endif
