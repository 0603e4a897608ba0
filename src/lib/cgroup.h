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

#endif
