/* cgroup.c: finds where runs' cgroups go (v2 or v1), prepares v2 at start-up, reads and writes cgroup files, sweeps leftovers. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/sched.h>	/* struct clone_args, CLONE_INTO_CGROUP */
#include <sys/vfs.h>
#include <unistd.h>

#include "cgroup.h"

#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif
#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define CG_PATH_MAX 1024

bool
cg_parse_proc_cgroup(const char *text, const char *controller, char *out, size_t outlen)
{
	/* Lines are "ID:controller[,controller]:path"; v2's is "0::path". */
	while (text && *text) {
		const char *eol = strchr(text, '\n'), *c1, *c2;
		size_t len = eol ? (size_t)(eol - text) : strlen(text);

		c1 = memchr(text, ':', len);
		c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - text)) : NULL;
		if (c2 && c2 + 1 < text + len && c2[1] == '/') {
			const char *ctl = c1 + 1, *path = c2 + 1;
			size_t ctl_len = (size_t)(c2 - ctl), path_len = len - (size_t)(path - text);
			bool match = false;

			if (controller == NULL)
				match = ctl_len == 0 && c1 - text == 1 && text[0] == '0';
			else
				for (const char *t = ctl; t < c2 && !match; ) {
					const char *comma = memchr(t, ',', (size_t)(c2 - t));
					size_t tl = comma ? (size_t)(comma - t) : (size_t)(c2 - t);

					match = tl == strlen(controller) && strncmp(t, controller, tl) == 0;
					t += tl + 1;
				}
			if (match) {
				if (path_len >= outlen)
					return false;
				memcpy(out, path, path_len);
				out[path_len] = '\0';
				return true;
			}
		}
		text = eol ? eol + 1 : NULL;
	}
	return false;
}

bool
cg_list_has(const char *list, const char *controller)
{
	size_t n = strlen(controller);

	for (const char *p = list; p && *p; ) {
		size_t tl;

		p += strspn(p, " \t\n");
		tl = strcspn(p, " \t\n");
		if (tl == n && strncmp(p, controller, n) == 0)
			return true;
		p += tl;
	}
	return false;
}

static bool
fs_is(const char *path, long magic)
{
	struct statfs sfs;

	return statfs(path, &sfs) == 0 && (long)sfs.f_type == magic;
}

/* The unified hierarchy's mount point, or NULL. */
static const char *
v2_mount(void)
{
	if (fs_is("/sys/fs/cgroup", CGROUP2_SUPER_MAGIC))
		return "/sys/fs/cgroup";
	if (fs_is("/sys/fs/cgroup/unified", CGROUP2_SUPER_MAGIC))
		return "/sys/fs/cgroup/unified";
	return NULL;
}

bool
cg_self_dir(const char *controller, char *out, size_t outlen)
{
	char text[4096], path[CG_PATH_MAX], mount[256];

	if (controller == NULL) {
		const char *m = v2_mount();

		if (m == NULL)
			return false;
		snprintf(mount, sizeof(mount), "%s", m);
	} else {
		snprintf(mount, sizeof(mount), "/sys/fs/cgroup/%s", controller);
		if (!fs_is(mount, CGROUP_SUPER_MAGIC))
			return false;
	}
	if (cg_read_at(AT_FDCWD, "/proc/self/cgroup", text, sizeof(text)) == -1 ||
	    !cg_parse_proc_cgroup(text, controller, path, sizeof(path)))
		return false;
	return (size_t)snprintf(out, outlen, "%s%s", mount, strcmp(path, "/") ? path : "") < outlen;
}

int
cg_write_at(int dirfd, const char *file, const char *value)
{
	int fd = openat(dirfd, file, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd == -1)
		return -1;
	n = write(fd, value, strlen(value));
	close(fd);
	return n == (ssize_t)strlen(value) ? 0 : -1;
}

int
cg_read_at(int dirfd, const char *file, char *out, size_t outlen)
{
	int fd = openat(dirfd, file, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd == -1)
		return -1;
	n = read(fd, out, outlen - 1);
	close(fd);
	if (n < 0)
		return -1;
	out[n] = '\0';
	return 0;
}

int
cg_write(const char *dir, const char *file, const char *value)
{
	char path[CG_PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return cg_write_at(AT_FDCWD, path, value);
}

int
cg_read(const char *dir, const char *file, char *out, size_t outlen)
{
	char path[CG_PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return cg_read_at(AT_FDCWD, path, out, outlen);
}

/* Split a v2 directory of ours into where runs go: our parent when we sit in
 * the pool leaf, the hierarchy's root when we are there. */
static bool
v2_runs_dir_of(const char *self, char *out, size_t outlen)
{
	const char *m = v2_mount(), *base = strrchr(self, '/');

	if (m == NULL || base == NULL)
		return false;
	if (strcmp(self, m) == 0)
		return (size_t)snprintf(out, outlen, "%s", m) < outlen;
	if (strcmp(base + 1, CG_POOL_LEAF) == 0 && (size_t)(base - self) < outlen) {
		memcpy(out, self, (size_t)(base - self));
		out[base - self] = '\0';
		return true;
	}
	return false;
}

bool
cg_v2_runs_dir(char *out, size_t outlen)
{
	char self[CG_PATH_MAX], list[512];

	if (!cg_self_dir(NULL, self, sizeof(self)) || !v2_runs_dir_of(self, out, outlen))
		return false;
	return cg_read(out, "cgroup.subtree_control", list, sizeof(list)) == 0 &&
	    cg_list_has(list, "memory") && cg_list_has(list, "pids");
}

int
cg_v2_prepare(char *why, size_t whylen)
{
	char self[CG_PATH_MAX], leaf[CG_PATH_MAX + 32], list[512], pid[24];
	bool below_root;

	if (!cg_self_dir(NULL, self, sizeof(self))) {
		snprintf(why, whylen, "no cgroup2 hierarchy");
		return -1;
	}
	if (cg_v2_runs_dir(leaf, sizeof(leaf)))
		return 0;	/* prepared before (a restart inside the same unit) */
	if (cg_read(self, "cgroup.controllers", list, sizeof(list)) == -1 ||
	    !cg_list_has(list, "memory") || !cg_list_has(list, "pids")) {
		snprintf(why, whylen, "cgroup2 does not give us the memory and pids controllers");
		return -1;
	}
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	/* Below the root, a cgroup that hands controllers to its children may
	 * hold no process itself: the pool moves into a leaf beside the runs. */
	below_root = strcmp(self, v2_mount()) != 0;
	if (below_root) {
		snprintf(leaf, sizeof(leaf), "%s/%s", self, CG_POOL_LEAF);
		if ((mkdir(leaf, 0755) == -1 && errno != EEXIST) || cg_write(leaf, "cgroup.procs", pid) == -1) {
			snprintf(why, whylen, "cannot make %s: %s", leaf, strerror(errno));
			rmdir(leaf);
			return -1;
		}
	}
	if (cg_write(self, "cgroup.subtree_control", "+memory +pids") == -1) {
		snprintf(why, whylen, "cannot enable memory and pids below %s (%s; other processes in it? "
		    "under systemd the unit needs Delegate=yes)", self, strerror(errno));
		if (below_root && (cg_write(self, "cgroup.procs", pid) == -1 || rmdir(leaf) == -1)) {
			size_t used = strlen(why);

			snprintf(why + used, whylen - used, "; and %s stays: %s", leaf, strerror(errno));
		}
		return -1;
	}
	if (cg_list_has(list, "cpu"))
		cg_write(self, "cgroup.subtree_control", "+cpu");	/* the quota is optional */
	return 0;
}

void
cg_describe(char *out, size_t outlen)
{
	static const char *controllers[] = { "cpu", "memory", "pids" };
	char dir[CG_PATH_MAX], list[512];
	size_t used = 0;
	bool v2 = cg_v2_runs_dir(dir, sizeof(dir)) && cg_read(dir, "cgroup.subtree_control", list, sizeof(list)) == 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(controllers) / sizeof(controllers[0]); i++) {
		if (v2 ? !cg_list_has(list, controllers[i]) : !cg_self_dir(controllers[i], dir, sizeof(dir)))
			continue;
		used += (size_t)snprintf(out + used, outlen - used, "%s%s", used ? ", " : v2 ? "v2: " : "v1: ",
		    controllers[i]);
		if (used >= outlen)
			break;
	}
}

static bool
is_zombie(pid_t pid)
{
	char path[64], text[512], *state;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (cg_read_at(AT_FDCWD, path, text, sizeof(text)) == -1)
		return false;
	return (state = strrchr(text, ')')) != NULL && state[1] == ' ' && state[2] == 'Z';
}

/* Remove dir's CG_PREFIX-PID children whose jail is gone. */
static int
sweep_dir(const char *dir)
{
	char path[CG_PATH_MAX + 64];
	struct dirent *de;
	int removed = 0;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char *end;
		long pid;

		if (strncmp(de->d_name, CG_PREFIX, strlen(CG_PREFIX)) != 0)
			continue;
		pid = strtol(de->d_name + strlen(CG_PREFIX), &end, 10);
		/* Only a jail that is gone: a live one may still be in its own. A zombie
		 * (killed, not yet reaped by its worker) is gone too: its tasks left the
		 * cgroups as they exited, and its pid stays taken until it is reaped. */
		if (*end != '\0' || pid <= 0 || ((kill((pid_t)pid, 0) == 0 || errno != ESRCH) && !is_zombie((pid_t)pid)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (rmdir(path) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

int
cg_sweep(void)
{
	static const char *controllers[] = { "memory", "pids", "cpu" };
	char dir[CG_PATH_MAX];
	int removed = 0;

	if (cg_v2_runs_dir(dir, sizeof(dir)))
		removed += sweep_dir(dir);
	for (size_t i = 0; i < sizeof(controllers) / sizeof(controllers[0]); i++)
		if (cg_self_dir(controllers[i], dir, sizeof(dir)))
			removed += sweep_dir(dir);
	return removed;
}

/* ---- a run's cgroups (the jail) ------------------------------------------ */

static const char *const cg_controller[CGC_N] = { "memory", "pids", "cpu" };

/* A run's share of a busy CPU beside the service's own processes (the API's workers, the jails' init),
 * which sit in the pool's cgroup: a quarter of theirs, so that /health and the deadlines keep their time
 * however many runs spin. (Defaults: cpu.weight 100, cpu.shares 1024.) */
#define RUN_CPU_WEIGHT_V2	"25"
#define RUN_CPU_WEIGHT_V1	"256"

/* A number from a cgroup file: the first, or the one after key at a line's start. */
static long
read_key_at(int dirfd, const char *file, const char *key)
{
	char text[1024], *p;

	if (cg_read_at(dirfd, file, text, sizeof(text)) == -1)
		return 0;
	if (key == NULL)
		return strtol(text, NULL, 10);
	if ((p = strstr(text, key)) != NULL && (p == text || p[-1] == '\n'))
		return strtol(p + strlen(key), NULL, 10);
	return 0;
}

/* mkdir name under parent and open it; -1 where the controller is not ours to use. */
static int
make_run_dir(const char *parent, const char *name, int *parent_fd_out)
{
	int pfd, dfd;

	if ((pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	/* One left by an earlier jail with our pid would carry its counters (and another jail's sweep may be
	 * removing it at the same moment). */
	if (mkdirat(pfd, name, 0755) == -1 && (errno != EEXIST ||
	    (unlinkat(pfd, name, AT_REMOVEDIR) == -1 && errno != ENOENT) || mkdirat(pfd, name, 0755) == -1)) {
		close(pfd);
		return -1;
	}
	if ((dfd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		unlinkat(pfd, name, AT_REMOVEDIR);
		close(pfd);
		return -1;
	}
	*parent_fd_out = pfd;
	return dfd;
}

int
cg_run_create(struct cg_run *r, long id, char *why, size_t whylen)
{
	char dir[900];

	cg_sweep();
	snprintf(r->name, sizeof(r->name), CG_PREFIX "%ld", id);
	if (cg_v2_runs_dir(dir, sizeof(dir))) {
		/* The pool prepared v2 for its runs: nothing less will do. */
		if ((r->dir[0] = make_run_dir(dir, r->name, &r->parent[0])) == -1) {
			snprintf(why, whylen, "make the run's cgroup in %s", dir);
			return -1;
		}
		r->kind = CG_V2;
		return 0;
	}
	for (int i = 0; i < CGC_N; i++)
		if (cg_self_dir(cg_controller[i], dir, sizeof(dir)) &&
		    (r->dir[i] = make_run_dir(dir, r->name, &r->parent[i])) != -1)
			r->kind = CG_V1;
	return 0;
}

int
cg_run_limit(struct cg_run *r, const struct cg_run_limits *l, char *why, size_t whylen)
{
	char mem[32], pids[32], cpu[48];
	bool v2 = r->kind == CG_V2;

	if (l->memory_bytes >= 0)
		snprintf(mem, sizeof(mem), "%ld", l->memory_bytes);
	else
		snprintf(mem, sizeof(mem), v2 ? "max" : "-1");
	if (l->pids >= 0)
		snprintf(pids, sizeof(pids), "%ld", l->pids);
	else
		snprintf(pids, sizeof(pids), "max");
	/* CFS quota: cpus cores' worth of every 100 ms period. */
	if (l->cpu_milli > 0)
		snprintf(cpu, sizeof(cpu), v2 ? "%ld 100000" : "%ld", l->cpu_milli * 100);
	else
		snprintf(cpu, sizeof(cpu), v2 ? "max 100000" : "-1");
	if (v2) {
		if (cg_write_at(r->dir[0], "memory.max", mem) == -1 || cg_write_at(r->dir[0], "pids.max", pids) == -1)
			goto fail;
		cg_write_at(r->dir[0], "memory.swap.max", "0");	/* absent without swap accounting */
		cg_write_at(r->dir[0], "cpu.max", cpu);		/* absent when cpu is not delegated */
		cg_write_at(r->dir[0], "cpu.weight", RUN_CPU_WEIGHT_V2);
		return 0;
	}
	if (r->dir[CGC_MEMORY] != -1) {
		/* memsw may never be below the memory limit; both are unlimited in a new cgroup. */
		if (cg_write_at(r->dir[CGC_MEMORY], "memory.limit_in_bytes", mem) == -1)
			goto fail;
		cg_write_at(r->dir[CGC_MEMORY], "memory.memsw.limit_in_bytes", mem);	/* absent without swap accounting */
	}
	if (r->dir[CGC_PIDS] != -1 && cg_write_at(r->dir[CGC_PIDS], "pids.max", pids) == -1)
		goto fail;
	if (r->dir[CGC_CPU] != -1 && (cg_write_at(r->dir[CGC_CPU], "cpu.cfs_period_us", "100000") == -1 ||
	    cg_write_at(r->dir[CGC_CPU], "cpu.cfs_quota_us", cpu) == -1))
		goto fail;
	if (r->dir[CGC_CPU] != -1)
		cg_write_at(r->dir[CGC_CPU], "cpu.shares", RUN_CPU_WEIGHT_V1);
	return 0;
fail:
	snprintf(why, whylen, "cgroup limits");
	return -1;
}

bool
cg_run_has_memory(const struct cg_run *r)
{
	return r->dir[CGC_MEMORY] != -1;
}

pid_t
cg_run_fork(struct cg_run *r, int *join_errno)
{
	pid_t pid;

	*join_errno = 0;
	if (r->kind == CG_V2) {
#ifdef SYS_clone3
		struct clone_args ca;

		memset(&ca, 0, sizeof(ca));
		ca.flags = CLONE_INTO_CGROUP;
		ca.exit_signal = SIGCHLD;
		ca.cgroup = (uint64_t)r->dir[0];
		if ((pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca))) != -1 || (errno != ENOSYS && errno != EINVAL))
			return pid;
#endif
		/* A kernel before 5.7: fork, and the child moves itself (one grace period) before it can fork
		 * anything that would stay outside. */
		if ((pid = fork()) == 0 && cg_write_at(r->dir[0], "cgroup.procs", "0") == -1)
			*join_errno = errno;
		return pid;
	}
	if ((pid = fork()) == 0)
		for (int i = 0; i < CGC_N && *join_errno == 0; i++)
			if (r->dir[i] != -1 && cg_write_at(r->dir[i], "cgroup.procs", "0") == -1)
				*join_errno = errno;
	return pid;
}

int
cg_run_attach(struct cg_run *r, pid_t pid)
{
	char num[24];

	snprintf(num, sizeof(num), "%ld", (long)pid);
	for (int i = 0; i < CGC_N; i++)
		if (r->dir[i] != -1 && cg_write_at(r->dir[i], "cgroup.procs", num) == -1)
			return -1;
	return 0;
}

void
cg_run_unthrottle(struct cg_run *r)
{
	if (r->kind == CG_V2)
		cg_write_at(r->dir[0], "cpu.max", "max 100000");
	else if (r->dir[CGC_CPU] != -1)
		cg_write_at(r->dir[CGC_CPU], "cpu.cfs_quota_us", "-1");
}

bool
cg_run_report(const struct cg_run *r, long *oom_kills, long *peak_bytes)
{
	if (r->kind == CG_V2) {
		*oom_kills = read_key_at(r->dir[0], "memory.events", "oom_kill ");
		*peak_bytes = read_key_at(r->dir[0], "memory.peak", NULL);	/* Linux 5.19 and later */
		return true;
	}
	if (!cg_run_has_memory(r))
		return false;
	*oom_kills = read_key_at(r->dir[CGC_MEMORY], "memory.oom_control", "oom_kill ");
	*peak_bytes = read_key_at(r->dir[CGC_MEMORY], "memory.max_usage_in_bytes", NULL);
	return true;
}

void
cg_run_remove(struct cg_run *r)
{
	for (int c = 0; c < CGC_N; c++) {
		if (r->dir[c] != -1)
			close(r->dir[c]);
		r->dir[c] = -1;
		if (r->parent[c] == -1)
			continue;
		/* A dead task leaves its css_set a moment after its parent reaped it. */
		for (int i = 0; i < 100 && unlinkat(r->parent[c], r->name, AT_REMOVEDIR) == -1 && errno == EBUSY; i++)
			usleep(1000);
		close(r->parent[c]);
		r->parent[c] = -1;
	}
}
