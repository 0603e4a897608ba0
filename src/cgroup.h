/* cgroup.h: per-run cgroups (v1 memory and pids controllers, as this host has) and their clean-up. */
#ifndef SBX_CGROUP_H
#define SBX_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define CG_PREFIX "pysandbox-"

/* The directory of this process's cgroup for a v1 controller ("memory",
 * "pids"), e.g. /sys/fs/cgroup/memory/some/path; false if the controller is
 * not mounted as v1 or cannot be found. */
bool cg_self_dir(const char *controller, char *out, size_t outlen);
/* Write value into dir/file; -1 with errno on failure. */
int cg_write(const char *dir, const char *file, const char *value);
/* Read the first line of dir/file into out; -1 on failure. */
int cg_read(const char *dir, const char *file, char *out, size_t outlen);
/* Remove leftover pysandbox-PID cgroups under this process's cgroup whose PID is gone. Returns how many. */
int cg_sweep(void);

#endif
