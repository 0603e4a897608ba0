/* jail.c: pysandbox-jail, the small privileged helper that runs one Python program in a fresh root,
 * new namespaces, rlimits and an unprivileged uid, then reports its outcome and files. */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <linux/sched.h>	/* struct clone_args, CLONE_INTO_CGROUP */
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <linux/netlink.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <seccomp.h>

#include "buf.h"
#include "cgroup.h"
#include "conf.h"
#include "interp.h"
#include "jailproto.h"
#include "netns.h"

/*
 * File descriptors on entry (set up by the worker, see run.c):
 *   0 stdin of the program, 1 stdout, 2 stderr,
 *   3 status stream to the worker (records described in jail.h),
 *   4 input: a memfd of file records, main.py last,
 *   5 (a standby's) the run's arguments.
 * Process tree: outer (this process, in the host's namespaces and the pool's
 * cgroup; starts slirp4netns for a sandbox with network, removes the run's
 * cgroups) -> init (pid 1 of a new pid namespace, root in new mount, net, ipc
 * and uts namespaces, still in the pool's cgroup: builds the root, reaps,
 * enforces the deadline, measures a build's environment, collects files) ->
 * the program (pid 2, alone in the run's cgroups, unprivileged). When init
 * exits the kernel kills every process left in the namespace, so nothing
 * outlives a run.
 */

#ifdef PYSANDBOX_SABOTAGE
/* A test-only build (configure --enable-sabotage): PYSANDBOX_SABOTAGE names the
 * isolation mechanisms to leave out, so that the tests covering each can be seen
 * to fail (make sabotage). A production build has none of this. */
static bool
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
#else
#define sabotaged(mech) false
#endif

#define FD_STATUS	3
#define FD_INPUT	4
#define FD_ARGS		5	/* a standby's run arguments (jail.h) */
#define NEWROOT		"/tmp"	/* mount point of the new root inside our private mount namespace */
#define MAX_INPUTS	10000
#define INIT_EXIT_NO_RUN 3	/* init of a standby whose worker closed without a run */

struct jail_args {
	long	slot;
	long	cpus_milli;	/* CPU quota; 0: none */
	long	timeout_ms;
	long	memory_mb;
	int	net;
	long	max_files;
	long	max_return_bytes;
	char	**prog_args;
	int	nprog_args;
	/* environments: --env NAME mounts STATE/envs/NAME read-only at /env for a
	 * run; --build adds the build mode (it writable, the setup script run by bash) */
	const char *env;
	int	build;
	char	*python;	/* --python: the build's interpreter, one of the host's */
	/* what the mode allows, from the configuration */
	long	tmp_mb, work_mb, nproc, fsize;
};

struct input_rec {
	char		*name;
	size_t		 len;
	uint64_t	 hash;
};

static struct conf conf;
static struct jail_args args;
static uid_t run_uid;
static gid_t run_gid;
static struct input_rec *inputs;
static size_t ninputs;
static volatile sig_atomic_t init_pid;

static pid_t outer_pid;		/* this process, the outer helper */

static void cgroups_remove(void);

/* Write one status record (jail.h), with strerror(errnum) when with_errno,
 * and exit: nothing has run. */
static void __attribute__((noreturn, format(printf, 4, 0)))
exit_with_record(char record, bool with_errno, int errnum, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno)
		dprintf(FD_STATUS, "%c %s: %s\n", record, msg, strerror(errnum));
	else
		dprintf(FD_STATUS, "%c %s\n", record, msg);
	if (outer_pid != 0 && getpid() == outer_pid)
		cgroups_remove();
	_exit(JAIL_EXIT_SETUP);
}

/* A setup failure ("E"): the worker answers 500 and the pool turns unhealthy. */
static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	exit_with_record('E', true, saved, fmt, ap);
}

/* A run beyond the limits of the configuration file ("L"), so that the worker
 * can tell a file edited but not yet reloaded (or a pool asking for more than
 * it may) from a broken sandbox. */
static void __attribute__((noreturn, format(printf, 1, 2)))
refuse(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	exit_with_record('L', false, 0, fmt, ap);
}

/* An input file could not be written (a client's doing, e.g. the directory
 * is full): say so with an "I" record so the worker does not blame the jail. */
static void __attribute__((noreturn))
input_fail(const char *what)
{
	dprintf(FD_STATUS, "I %s: %s\n", what, strerror(errno));
	_exit(JAIL_EXIT_SETUP);
}

static void
write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, c, n)) == -1) {
			if (errno == EINTR)
				continue;
			_exit(JAIL_EXIT_SETUP);	/* the worker is gone */
		}
		c += w;
		n -= (size_t)w;
	}
}

static long
parse_long(const char *s, const char *what, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno || v < min || v > max) {
		errno = EINVAL;
		die("argument %s=%s outside [%ld, %ld]", what, s, min, max);
	}
	return v;
}

/* An environment directory's name under STATE/envs: no path, no dot-names. */
static bool
env_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 80 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '_' || s[i] == '-' || s[i] == '.'))
			return false;
	return true;
}

/* Every component of path is root's and writable by no one else (a sticky
 * directory such as /tmp excepted, where others cannot replace root's entries):
 * such a file says what root meant, whoever names it. */
static bool
root_owned_chain(const char *path)
{
	char buf[PATH_MAX];
	struct stat st;
	size_t len = strlen(path);

	if (path[0] != '/' || len >= sizeof(buf))
		return false;
	for (size_t i = 1; i <= len; i++) {
		if (i < len && path[i] != '/')
			continue;
		memcpy(buf, path, i);
		buf[i] = '\0';
		if (lstat(buf, &st) == -1 ||
		    st.st_uid != 0 || S_ISLNK(st.st_mode))
			return false;
		if (i < len && !S_ISDIR(st.st_mode))
			return false;
		if (i == len && !S_ISREG(st.st_mode))
			return false;
		if ((st.st_mode & S_IWOTH) && !(S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX)))
			return false;
		if ((st.st_mode & S_IWGRP) && st.st_gid != 0)
			return false;
	}
	return lstat("/", &st) == 0 && st.st_uid == 0;
}

/*
 * rm -rf of a tree of any depth with a bounded number of open fds: a directory
 * found REMOVE_DEPTH levels down is renamed up into the top directory and
 * removed from there on a later pass. Never follows a symlink or crosses a
 * mount. Returns the entries still left (0: the top is empty).
 */
#define REMOVE_DEPTH	64

static long
remove_level(int topfd, int fd, dev_t dev, int depth, unsigned long *moved)
{
	struct dirent *de;
	struct stat st;
	long left = 0;
	DIR *d;
	int dup_fd = dup(fd);

	if (dup_fd == -1 || (d = fdopendir(dup_fd)) == NULL) {
		if (dup_fd != -1)
			close(dup_fd);
		return 1;
	}
	rewinddir(d);	/* a dup shares the offset an earlier pass left at the end */
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		if (!S_ISDIR(st.st_mode)) {
			left += unlinkat(fd, de->d_name, 0) == -1;
			continue;
		}
		if (st.st_dev != dev) {
			left++;	/* a mount point: not ours to descend */
			continue;
		}
		if (depth >= REMOVE_DEPTH) {
			static unsigned long seq;
			char name[64];

			for (;;) {
				snprintf(name, sizeof(name), ".pysandbox-deep-%ld-%lu", (long)getpid(), seq++);
				if (renameat(fd, de->d_name, topfd, name) == 0) {
					(*moved)++;	/* progress: the next pass goes on from there */
					break;
				}
				if (errno != EEXIST)
					break;
			}
			left++;
			continue;
		}
		{
			int sub = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub == -1) {
				left++;
				continue;
			}
			left += remove_level(topfd, sub, dev, depth + 1, moved);
			close(sub);
			left += unlinkat(fd, de->d_name, AT_REMOVEDIR) == -1;
		}
	}
	closedir(d);
	return left;
}

static bool
remove_tree(int topfd)
{
	unsigned long moved = 0;
	struct stat st;

	if (fstat(topfd, &st) == -1)
		return false;
	/* Each pass removes what lies within REMOVE_DEPTH levels and lifts what is deeper. */
	for (unsigned long before = ~0UL; ; ) {
		unsigned long lifted = moved;

		if (remove_level(topfd, topfd, st.st_dev, 0, &moved) == 0)
			return true;
		if (moved == lifted && before == moved)
			return false;	/* no progress: something cannot be removed */
		before = moved;
	}
}

/* The builder (unprivileged) cannot remove what a build uid wrote: only
 * leftovers (.build-N) and deleted environments (.trash-N) are removed here. */
static void __attribute__((noreturn))
remove_env_dir(const char *name)
{
	char path[CONF_PATH_MAX + 16];
	int envs, fd;

	errno = EPERM;
	if (!env_name_ok(name) || (strncmp(name, ".build-", 7) != 0 && strncmp(name, ".trash-", 7) != 0))
		die("remove: only .build-N and .trash-N directories");
	snprintf(path, sizeof(path), "%s/envs", conf.state_dir);
	if ((envs = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		die("open %s", path);
	if ((fd = openat(envs, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) != -1) {
		bool empty = remove_tree(fd);

		close(fd);
		if (!empty || (unlinkat(envs, name, AT_REMOVEDIR) == -1 && errno != ENOENT))
			die("remove %s", name);
	}
	_exit(0);
}

/* Refuse anything the root-owned configuration does not allow. */
static void
parse_args(int argc, char **argv, bool run_only)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "slot", required_argument, NULL, 's' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "memory-mb", required_argument, NULL, 'm' },
		{ "net", no_argument, NULL, 'n' },
		{ "max-files", required_argument, NULL, 'f' },
		{ "max-return-bytes", required_argument, NULL, 'b' },
		{ "env", required_argument, NULL, 'e' },
		{ "cpus-milli", required_argument, NULL, 'C' },
		{ "build", no_argument, NULL, 'B' },
		{ "python", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = PYSANDBOX_CONF_PATH;
	char err[600];
	int ch;

	/* A caller that is already root gains nothing from choosing the file or
	 * the environment overrides; anyone else gets only files root wrote. */
	bool caller_is_root = getuid() == 0;

	args.slot = args.timeout_ms = args.memory_mb = -1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			if (!caller_is_root && !root_owned_chain(optarg)) {
				errno = EPERM;
				die("--config %s: only root or a file root alone can change is accepted", optarg);
			}
			config = optarg;
			break;
		case 's': args.slot = parse_long(optarg, "slot", 0, 65535); break;
		case 't': args.timeout_ms = parse_long(optarg, "timeout-ms", 1, 86400 * 1000L); break;
		case 'm': args.memory_mb = parse_long(optarg, "memory-mb", 16, 65536); break;
		case 'n': args.net = 1; break;
		case 'f': args.max_files = parse_long(optarg, "max-files", 0, 10000); break;
		case 'b': args.max_return_bytes = parse_long(optarg, "max-return-bytes", 0, 1L << 30); break;
		case 'e': args.env = optarg; break;
		case 'C': args.cpus_milli = parse_long(optarg, "cpus-milli", 10, (long)(HARD_MAX_CPUS * 1000)); break;
		case 'B': args.build = 1; break;
		case 'p': args.python = optarg; break;
		default:
			errno = EINVAL;
			die("unknown option");
		}
	}
	if (!run_only && optind < argc && (strcmp(argv[optind], "remove") == 0 || strcmp(argv[optind], "sweep") == 0)) {
		if (conf_load(config, &conf, caller_is_root, err, sizeof(err)) == -1) {
			errno = EINVAL;
			die("configuration: %s", err);
		}
		if (argv[optind][0] == 's') {
			cg_sweep();
			_exit(0);
		}
		if (optind + 2 != argc) {
			errno = EINVAL;
			die("usage: pysandbox-jail [--config FILE] remove .build-N|.trash-N");
		}
		remove_env_dir(argv[optind + 1]);
		_exit(0);
	}
	if (optind >= argc || strcmp(argv[optind], "run") != 0) {
		errno = EINVAL;
		die("usage: pysandbox-jail [--config FILE] --slot N --timeout-ms N --memory-mb N "
		    "[--net] [--max-files N] [--max-return-bytes N] [--env NAME [--build --python PATH]] run [ARG...]\n"
		    "       pysandbox-jail [--config FILE] remove .build-N|.trash-N\n"
		    "       pysandbox-jail [--config FILE] sweep");
	}
	args.prog_args = argv + optind + 1;
	args.nprog_args = argc - optind - 1;
	if (args.slot < 0 || args.timeout_ms < 0 || args.memory_mb < 0) {
		errno = EINVAL;
		die("--slot, --timeout-ms and --memory-mb are required");
	}
	if (conf_load(config, &conf, caller_is_root, err, sizeof(err)) == -1) {
		errno = EINVAL;
		die("configuration: %s", err);
	}
	errno = EPERM;
	if (args.slot >= conf.uid_count)
		refuse("slot %ld outside the uid pool of %d", args.slot, conf.uid_count);
	if (args.env && !env_name_ok(args.env))
		die("bad environment name");
	if (args.cpus_milli > (long)(conf.max_cpus * 1000 + 0.5))
		refuse("cpus above the configured maximum");
	if (args.build) {
		struct interp found[INTERP_MAX];
		int n = interp_discover(&conf, found, INTERP_MAX), i;

		if (args.env == NULL || args.python == NULL)
			die("--build needs --env and --python");
		for (i = 0; i < n; i++)
			if (strcmp(found[i].path, args.python) == 0)
				break;
		if (i == n)
			die("%s is not one of the host's interpreters", args.python);
		if (args.timeout_ms > (long)(conf.build_timeout * 1000 + 0.5))
			refuse("build timeout above the configured maximum");
		if (args.memory_mb > conf.build_memory_mb)
			refuse("build memory above the configured maximum");
		if (args.net && !conf.build_network)
			refuse("network for builds is not allowed by the configuration");
		args.tmp_mb = args.work_mb = conf.build_workdir_mb;
		args.nproc = conf.build_processes;
		args.fsize = conf.max_env_size;
	} else {
		if (args.python)
			die("--python is for builds only");
		if (args.timeout_ms > (long)(conf.max_timeout * 1000 + 0.5))
			refuse("timeout above the configured maximum");
		if (args.memory_mb > conf.max_memory_mb)
			refuse("memory above the configured maximum");
		if (args.net && !conf.allow_network)
			refuse("network is not allowed by the configuration");
		args.tmp_mb = conf.tmp_mb;
		args.work_mb = conf.workdir_mb;
		args.nproc = conf.max_processes;
		args.fsize = conf.max_file_size;
	}
	if (args.max_files > conf.max_return_files || args.max_return_bytes > conf.max_return_bytes)
		refuse("return caps above the configured maxima");
	run_uid = (uid_t)(conf.uid_base + args.slot);
	run_gid = (gid_t)(conf.uid_base + args.slot);
	if (sabotaged("uid"))
		run_uid = run_gid = 0;	/* (its capabilities are still cleared) */
}

/* ---- cgroups: memory (shared memory and every process counted), pids, cpu -- */

/*
 * Only the program and what it starts live in the run's cgroups: the outer
 * helper and init stay in the pool's, outside the run's memory and CPU limits,
 * so that a run at its memory limit or starved at its CPU quota cannot take
 * down the process that enforces its deadline and reports its outcome.
 *  - v2: one cgroup per run beside the pool's leaf; the program is cloned
 *    straight into it (CLONE_INTO_CGROUP).
 *  - v1: one per controller, which the program joins itself; a join waits for
 *    an RCU grace period when the system was idle (about 10 ms here), so a
 *    standby's program joins while it waits for its request (see run_init).
 * The outer helper removes them when init has gone (every process of the run
 * is dead by then); the pool's sweep removes those of jails killed outright.
 */
enum cg_kind { CG_NONE, CG_V1, CG_V2 };
enum { CGC_MEMORY, CGC_PIDS, CGC_CPU, CGC_N };
static const char *const cg_controller[CGC_N] = { "memory", "pids", "cpu" };
static enum cg_kind cg_kind;
static int cg_dir[CGC_N] = { -1, -1, -1 };	/* v1: one per controller; v2: [0] only */
static int cg_parent[CGC_N] = { -1, -1, -1 };	/* where each was made, for its removal */
static char cg_name[48];
#define cg_mem_on (cg_dir[CGC_MEMORY] != -1)

/* A number from a cgroup file: the first, or the one after key at a line's start. */
static long
cg_fd_read_key(int dirfd, const char *file, const char *key)
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

/* mkdir CG_PREFIX-PID under parent and open it; -1 where the controller is
 * not ours to use (the rlimits then stand alone). */
static int
cg_make(const char *parent, int *parent_fd_out)
{
	int pfd, dfd;

	if ((pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	/* One left by an earlier jail with our pid would carry its counters (and
	 * another jail's sweep may be removing it at the same moment). */
	if (mkdirat(pfd, cg_name, 0755) == -1 && (errno != EEXIST ||
	    (unlinkat(pfd, cg_name, AT_REMOVEDIR) == -1 && errno != ENOENT) || mkdirat(pfd, cg_name, 0755) == -1)) {
		close(pfd);
		return -1;
	}
	if ((dfd = openat(pfd, cg_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		unlinkat(pfd, cg_name, AT_REMOVEDIR);
		close(pfd);
		return -1;
	}
	*parent_fd_out = pfd;
	return dfd;
}

/* As root, before the run's arguments are known: make this run's (empty)
 * cgroups, and remove those of jails gone before. */
static void
cgroups_create(void)
{
	char dir[900];

	cg_sweep();
	snprintf(cg_name, sizeof(cg_name), CG_PREFIX "%ld", (long)getpid());
	if (cg_v2_runs_dir(dir, sizeof(dir))) {
		/* The pool prepared v2 for its runs: nothing less will do. */
		if ((cg_dir[0] = cg_make(dir, &cg_parent[0])) == -1)
			die("make the run's cgroup in %s", dir);
		cg_kind = CG_V2;
		return;
	}
	for (int i = 0; i < CGC_N; i++)
		if (cg_self_dir(cg_controller[i], dir, sizeof(dir)) && (cg_dir[i] = cg_make(dir, &cg_parent[i])) != -1)
			cg_kind = CG_V1;
}

/* A run's share of a busy CPU beside the service's own processes (the API's
 * workers, the jails' init), which sit in the pool's cgroup: a quarter of
 * theirs, so that /health and the deadlines keep their time however many runs
 * spin. (Defaults: cpu.weight 100, cpu.shares 1024.) */
#define RUN_CPU_WEIGHT_V2	"25"
#define RUN_CPU_WEIGHT_V1	"256"

/* The run's limits, once its arguments are checked. */
static void
cgroups_limit(void)
{
	char mem[32], pids[32], cpu[48];
	bool v2 = cg_kind == CG_V2;

	snprintf(mem, sizeof(mem), "%ld", args.memory_mb << 20);
	/* a shell wrapper on top of the program's own */
	snprintf(pids, sizeof(pids), "%ld", args.nproc + 4);
	/* CFS quota: cpus cores' worth of every 100 ms period. */
	if (args.cpus_milli > 0)
		snprintf(cpu, sizeof(cpu), v2 ? "%ld 100000" : "%ld", args.cpus_milli * 100);
	else
		snprintf(cpu, sizeof(cpu), v2 ? "max 100000" : "-1");
	if (sabotaged("memory"))
		snprintf(mem, sizeof(mem), v2 ? "max" : "-1");
	if (sabotaged("pids"))
		snprintf(pids, sizeof(pids), "max");
	if (sabotaged("cpu"))
		snprintf(cpu, sizeof(cpu), v2 ? "max 100000" : "-1");
	if (v2) {
		if (cg_write_at(cg_dir[0], "memory.max", mem) == -1 || cg_write_at(cg_dir[0], "pids.max", pids) == -1)
			die("cgroup limits");
		cg_write_at(cg_dir[0], "memory.swap.max", "0");	/* absent without swap accounting */
		cg_write_at(cg_dir[0], "cpu.max", cpu);		/* absent when cpu is not delegated */
		cg_write_at(cg_dir[0], "cpu.weight", RUN_CPU_WEIGHT_V2);
		return;
	}
	if (cg_dir[CGC_MEMORY] != -1) {
		/* memsw may never be below the memory limit; both are unlimited in a new cgroup. */
		if (cg_write_at(cg_dir[CGC_MEMORY], "memory.limit_in_bytes", mem) == -1)
			die("cgroup memory limit");
		cg_write_at(cg_dir[CGC_MEMORY], "memory.memsw.limit_in_bytes", mem);	/* absent without swap accounting */
	}
	if (cg_dir[CGC_PIDS] != -1 && cg_write_at(cg_dir[CGC_PIDS], "pids.max", pids) == -1)
		die("cgroup pids limit");
	if (cg_dir[CGC_CPU] != -1 && (cg_write_at(cg_dir[CGC_CPU], "cpu.cfs_period_us", "100000") == -1 ||
	    cg_write_at(cg_dir[CGC_CPU], "cpu.cfs_quota_us", cpu) == -1))
		die("cgroup cpu quota");
	if (cg_dir[CGC_CPU] != -1)
		cg_write_at(cg_dir[CGC_CPU], "cpu.shares", RUN_CPU_WEIGHT_V1);
}

/* Before the run's processes are killed: a throttled process needs CPU time
 * to die, which a tiny quota hands out a sliver per period. */
static void
cgroups_unthrottle(void)
{
	if (cg_kind == CG_V2)
		cg_write_at(cg_dir[0], "cpu.max", "max 100000");
	else if (cg_dir[CGC_CPU] != -1)
		cg_write_at(cg_dir[CGC_CPU], "cpu.cfs_quota_us", "-1");
}

/* fork() for the program: in v2 straight into the run's cgroup; in v1 the
 * child joins each controller's cgroup itself (it is the only process there). */
static pid_t
fork_into_cgroup(void)
{
	pid_t pid;

	if (cg_kind == CG_V2) {
#ifdef SYS_clone3
		struct clone_args ca;

		memset(&ca, 0, sizeof(ca));
		ca.flags = CLONE_INTO_CGROUP;
		ca.exit_signal = SIGCHLD;
		ca.cgroup = (uint64_t)cg_dir[0];
		if ((pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca))) != -1 || (errno != ENOSYS && errno != EINVAL))
			return pid;
#endif
		/* A kernel before 5.7: fork, and the child moves itself (one grace
		 * period) before it can fork anything that would stay outside. */
		if ((pid = fork()) == 0 && cg_write_at(cg_dir[0], "cgroup.procs", "0") == -1)
			die("join the cgroup");
		return pid;
	}
	if ((pid = fork()) == 0)
		for (int i = 0; i < CGC_N; i++)
			if (cg_dir[i] != -1 && cg_write_at(cg_dir[i], "cgroup.procs", "0") == -1)
				die("join the %s cgroup", cg_controller[i]);
	return pid;
}

/* After the run: was the OOM killer used, and the peak. */
static void
cgroups_report(void)
{
	long oom, peak;

	if (cg_kind == CG_V2) {
		oom = cg_fd_read_key(cg_dir[0], "memory.events", "oom_kill ");
		peak = cg_fd_read_key(cg_dir[0], "memory.peak", NULL);	/* Linux 5.19 and later */
	} else if (cg_mem_on) {
		oom = cg_fd_read_key(cg_dir[CGC_MEMORY], "memory.oom_control", "oom_kill ");
		peak = cg_fd_read_key(cg_dir[CGC_MEMORY], "memory.max_usage_in_bytes", NULL);
	} else
		return;
	dprintf(FD_STATUS, "C %ld %ld\n", oom, peak);
}

/* Remove the run's cgroups (empty once init is reaped: its pid namespace
 * died with it). Also on any failure of the outer helper. */
static void
cgroups_remove(void)
{
	for (int c = 0; c < CGC_N; c++) {
		if (cg_dir[c] != -1)
			close(cg_dir[c]);
		cg_dir[c] = -1;
		if (cg_parent[c] == -1)
			continue;
		/* A dead task leaves its css_set a moment after its parent reaped it. */
		for (int i = 0; i < 100 && unlinkat(cg_parent[c], cg_name, AT_REMOVEDIR) == -1 && errno == EBUSY; i++)
			usleep(1000);
		close(cg_parent[c]);
		cg_parent[c] = -1;
	}
}

/* ---- building the root ------------------------------------------------ */

static void
bind_ro(const char *src, const char *dst, unsigned long extra)
{
	if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) == -1)
		die("bind %s", src);
	if (mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | extra, NULL) == -1)
		die("remount %s read-only", dst);
}

static void
write_file(const char *path, const char *content, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);

	if (fd == -1)
		die("create %s", path);
	write_all(fd, content, strlen(content));
	close(fd);
}

/* Mount a host file (or directory) read-only at the same place under the new root, if it exists. */
static void
bind_host_path(const char *hostpath, unsigned long extra)
{
	char dst[PATH_MAX];
	struct stat st;

	if (stat(hostpath, &st) == -1)
		return;
	snprintf(dst, sizeof(dst), NEWROOT "%s", hostpath);
	/* Parents first (e.g. /etc/ssl for /etc/ssl/certs). */
	for (char *s = strchr(dst + strlen(NEWROOT) + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(dst, 0755) == -1 && errno != EEXIST)
			die("mkdir %s", dst);
		*s = '/';
	}
	if (S_ISDIR(st.st_mode)) {
		if (mkdir(dst, 0755) == -1 && errno != EEXIST)
			die("mkdir %s", dst);
	} else {
		int fd = open(dst, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd == -1)
			die("create mount point %s", dst);
		close(fd);
	}
	bind_ro(hostpath, dst, extra);
}

static void
mount_tmpfs(const char *dst, const char *opts)
{
	if (mkdir(dst, 0755) == -1 && errno != EEXIST)
		die("mkdir %s", dst);
	if (mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NODEV, opts) == -1)
		die("mount tmpfs %s", dst);
}

/* The environment directory, opened before the root is built (it may live
 * under /tmp, which the new root covers) and mounted at /env from its fd. */
static int env_fd = -1;

static void
open_env(void)
{
	char path[CONF_PATH_MAX + 16];
	int envs;

	if (args.env == NULL)
		return;
	snprintf(path, sizeof(path), "%s/envs", conf.state_dir);
	if ((envs = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		die("open %s", path);
	env_fd = openat(envs, args.env, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	close(envs);
	if (env_fd == -1) {
		/* Deleted between the worker's look-up and now: the client's race, not a jail fault. */
		dprintf(FD_STATUS, "I environment '%s' is no longer available: %s\n", args.env, strerror(errno));
		_exit(JAIL_EXIT_SETUP);
	}
	/* A build owns its environment directory (open to runs, whatever mode the
	 * pool made it with); a run only reads it. */
	if (args.build && (fchown(env_fd, run_uid, run_gid) == -1 || fchmod(env_fd, 0755) == -1))
		die("chown environment");
}

static void
mount_env(void)
{
	char src[64];

	snprintf(src, sizeof(src), "/proc/self/fd/%d", env_fd);
	if (mkdir(NEWROOT "/env", 0755) == -1)
		die("mkdir /env");
	if (mount(src, NEWROOT "/env", NULL, MS_BIND, NULL) == -1)
		die("bind environment");
	if (mount(NULL, NEWROOT "/env", NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV |
	    (args.build ? 0 : MS_RDONLY), NULL) == -1)
		die("remount environment");
	close(env_fd);
	env_fd = -1;
}

static void
build_root(void)
{
	static const char *top_level[] = { "bin", "sbin", "lib", "lib32", "lib64", "libx32" };
	static const char *etc_files[] = {
		"/etc/ld.so.cache", "/etc/localtime", "/etc/mime.types", "/etc/matplotlibrc",
		"/etc/alternatives", "/etc/ssl/certs", "/etc/ssl/openssl.cnf", "/etc/ca-certificates",
		"/etc/ca-certificates.conf",
	};
	static const char *devices[] = { "null", "zero", "full", "random", "urandom" };
	char path[PATH_MAX], target[PATH_MAX], opts[160];
	struct dirent *de;
	struct stat st;
	DIR *d;
	ssize_t n;

	/* Nothing we mount may propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
		die("make mounts private");
	if (mount("tmpfs", NEWROOT, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=512,mode=0755") == -1)
		die("mount root tmpfs");

	if (mkdir(NEWROOT "/usr", 0755) == -1)
		die("mkdir /usr");
	bind_ro("/usr", NEWROOT "/usr", MS_NODEV);
	/* /bin, /lib...: the same symlinks as the host (merged /usr), or read-only binds. */
	for (size_t i = 0; i < sizeof(top_level) / sizeof(top_level[0]); i++) {
		snprintf(path, sizeof(path), "/%s", top_level[i]);
		if (lstat(path, &st) == -1)
			continue;
		if (S_ISLNK(st.st_mode)) {
			if ((n = readlink(path, target, sizeof(target) - 1)) < 0)
				die("readlink %s", path);
			target[n] = '\0';
			snprintf(path, sizeof(path), NEWROOT "/%s", top_level[i]);
			if (symlink(target, path) == -1)
				die("symlink %s", path);
		} else if (S_ISDIR(st.st_mode))
			bind_host_path(path, MS_NODEV);
	}

	/* /etc: generated, plus the few host files Python, SSL and the loader need. */
	if (mkdir(NEWROOT "/etc", 0755) == -1)
		die("mkdir /etc");
	snprintf(target, sizeof(target),
	    "root:x:0:0:root:/root:/usr/sbin/nologin\n"
	    "sandbox:x:%lu:%lu:sandbox:/work:/usr/sbin/nologin\n"
	    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
	    (unsigned long)run_uid, (unsigned long)run_gid);
	write_file(NEWROOT "/etc/passwd", target, 0644);
	snprintf(target, sizeof(target), "root:x:0:\nsandbox:x:%lu:\nnogroup:x:65534:\n", (unsigned long)run_gid);
	write_file(NEWROOT "/etc/group", target, 0644);
	write_file(NEWROOT "/etc/hosts", "127.0.0.1\tlocalhost sandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n", 0644);
	write_file(NEWROOT "/etc/hostname", "sandbox\n", 0644);
	write_file(NEWROOT "/etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\n", 0644);
	if (args.net) {
		netns_resolv_conf(&conf, target, sizeof(target));
		write_file(NEWROOT "/etc/resolv.conf", target, 0644);
	}
	for (size_t i = 0; i < sizeof(etc_files) / sizeof(etc_files[0]); i++)
		bind_host_path(etc_files[i], MS_NODEV);
	/* Debian's /etc/python3.X holds sitecustomize.py that the stdlib links to. */
	if ((d = opendir("/etc")) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (strncmp(de->d_name, "python3", 7) == 0 && strlen(de->d_name) < 32) {
				snprintf(path, sizeof(path), "/etc/%s", de->d_name);
				bind_host_path(path, MS_NODEV);
			}
		closedir(d);
	}

	/* /dev: the five harmless character devices, the usual links, a private /dev/shm. */
	if (mkdir(NEWROOT "/dev", 0755) == -1)
		die("mkdir /dev");
	for (size_t i = 0; i < sizeof(devices) / sizeof(devices[0]); i++) {
		snprintf(path, sizeof(path), "/dev/%s", devices[i]);
		bind_host_path(path, MS_NOEXEC);
	}
	if (symlink("/proc/self/fd", NEWROOT "/dev/fd") == -1 ||
	    symlink("/proc/self/fd/0", NEWROOT "/dev/stdin") == -1 ||
	    symlink("/proc/self/fd/1", NEWROOT "/dev/stdout") == -1 ||
	    symlink("/proc/self/fd/2", NEWROOT "/dev/stderr") == -1)
		die("symlinks in /dev");
	snprintf(opts, sizeof(opts), "size=%ldm,nr_inodes=4096,mode=1777", args.tmp_mb);
	mount_tmpfs(NEWROOT "/dev/shm", opts);

	/* A proc of our own pid namespace; hidepid hides init (root) from the program. */
	if (mkdir(NEWROOT "/proc", 0555) == -1)
		die("mkdir /proc");
	if (mount("proc", NEWROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2") == -1)
		die("mount /proc");

	snprintf(opts, sizeof(opts), "size=%ldm,nr_inodes=%d,mode=1777", args.tmp_mb, args.build ? 262144 : 16384);
	mount_tmpfs(NEWROOT "/tmp", opts);
	snprintf(opts, sizeof(opts), "size=%ldm,nr_inodes=%d,mode=0700,uid=%lu,gid=%lu",
	    args.work_mb, args.build ? 262144 : 16384, (unsigned long)run_uid, (unsigned long)run_gid);
	mount_tmpfs(NEWROOT "/work", opts);
	if (mkdir(NEWROOT "/root", 0700) == -1)
		die("mkdir /root");
	if (sabotaged("root")) {
		bind_host_path("/root", MS_NODEV);
		bind_host_path("/var", MS_NODEV);
	}
	if (env_fd != -1)
		mount_env();
}

/* Swap roots and drop every path to the host's tree. */
static void
enter_root(void)
{
	if (chdir(NEWROOT) == -1)
		die("chdir new root");
	if (syscall(SYS_pivot_root, ".", ".") == -1)
		die("pivot_root");
	if (umount2(".", MNT_DETACH) == -1)
		die("detach old root");
	if (chdir("/") == -1)
		die("chdir /");
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) == -1)
		die("remount root read-only");
}

/* A new network namespace starts with lo down; programs expect localhost to work. */
static void
loopback_up(void)
{
	struct ifreq ifr;
	int s;

	if ((s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		die("socket for lo");
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == -1)
		die("get lo flags");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) == -1)
		die("bring lo up");
	close(s);
}

/* ---- input files -------------------------------------------------------- */

static uint64_t
fnv1a(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

/* Create the parent directories of name under dirfd, owned by the run's uid. */
static void
make_parents(int dirfd, char *name)
{
	for (char *s = strchr(name, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdirat(dirfd, name, 0755) == 0) {
			if (fchownat(dirfd, name, run_uid, run_gid, AT_SYMLINK_NOFOLLOW) == -1)
				die("chown directory");
		} else if (errno != EEXIST)
			input_fail("mkdir for an input file");
		*s = '/';
	}
}

/* Records: "<name_len> <data_len>\n<name><data>", repeated. The worker wrote
 * them, but the names came from a client: check them again. */
static void
write_inputs(void)
{
	struct stat st;
	char *map;
	const char *p, *end;
	int workfd, fd;

	if (fstat(FD_INPUT, &st) == -1)
		die("stat input");
	if ((workfd = open("/work", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		die("open /work");
	if (st.st_size == 0)
		die("no main.py in the input");
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, FD_INPUT, 0);
	if (map == MAP_FAILED)
		die("map input");
	if ((inputs = calloc(MAX_INPUTS, sizeof(*inputs))) == NULL)
		die("allocate");
	p = map;
	end = map + st.st_size;
	while (p < end) {
		unsigned long nlen, dlen;
		char *nl, *name;
		int used;

		errno = EINVAL;
		if (sscanf(p, "%lu %lu\n%n", &nlen, &dlen, &used) != 2 || used <= 0 ||
		    (nl = memchr(p, '\n', (size_t)(end - p))) == NULL || (size_t)(nl + 1 - p) != (size_t)used)
			die("malformed input record");
		p += used;
		if (nlen > (size_t)(end - p) || dlen > (size_t)(end - p) - nlen || ninputs >= MAX_INPUTS)
			die("truncated input record");
		if (!path_safe_relative(p, nlen, 255, 16))
			die("unsafe input file name");
		if ((name = strndup(p, nlen)) == NULL)
			die("allocate");
		p += nlen;
		make_parents(workfd, name);
		fd = openat(workfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd == -1)
			input_fail("create an input file");
		for (size_t off = 0; off < dlen; ) {
			ssize_t w = write(fd, p + off, dlen - off);
			if (w == -1 && errno == EINTR)
				continue;
			if (w == -1)
				input_fail("write an input file");
			off += (size_t)w;
		}
		if (fchown(fd, run_uid, run_gid) == -1)
			die("chown input file");
		close(fd);
		inputs[ninputs].name = name;
		inputs[ninputs].len = dlen;
		inputs[ninputs].hash = fnv1a((const unsigned char *)p, dlen);
		ninputs++;
		p += dlen;
	}
	munmap(map, (size_t)st.st_size);
	close(FD_INPUT);
	close(workfd);
}

/* ---- the program ------------------------------------------------------ */

/*
 * The seccomp policy, kept as data: system calls a Python program has no
 * business making, answered with an error rather than a kill so that
 * libraries that probe for them degrade gracefully. Everything else is
 * allowed; the namespaces, the uid and the read-only root do the rest.
 * Other architectures (the 32-bit and x32 ABIs) are killed by libseccomp's
 * architecture check.
 */
static const struct { const char *name; int err; } seccomp_deny[] = {
	/* namespaces and mounts: the program must not build its own sandbox */
	{ "unshare", EPERM }, { "setns", EPERM }, { "clone3", ENOSYS },
	{ "mount", EPERM }, { "umount2", EPERM }, { "pivot_root", EPERM }, { "chroot", EPERM },
	{ "fsopen", EPERM }, { "fsconfig", EPERM }, { "fsmount", EPERM }, { "fspick", EPERM },
	{ "move_mount", EPERM }, { "open_tree", EPERM }, { "mount_setattr", EPERM },
	/* other processes and the kernel */
	{ "ptrace", EPERM }, { "process_vm_readv", EPERM }, { "process_vm_writev", EPERM },
	{ "kexec_load", EPERM }, { "kexec_file_load", EPERM }, { "init_module", EPERM },
	{ "finit_module", EPERM }, { "delete_module", EPERM }, { "bpf", EPERM },
	{ "perf_event_open", EPERM }, { "userfaultfd", EPERM }, { "lookup_dcookie", EPERM },
	{ "keyctl", EPERM }, { "add_key", EPERM }, { "request_key", EPERM },
	{ "io_uring_setup", ENOSYS }, { "io_uring_enter", ENOSYS }, { "io_uring_register", ENOSYS },
	{ "open_by_handle_at", EPERM }, { "name_to_handle_at", EPERM },
	/* side channels: /usr is shared read-only with every run and the host, so
	 * inotify and fanotify on it would show what others open */
	{ "inotify_init", ENOSYS }, { "inotify_init1", ENOSYS }, { "inotify_add_watch", ENOSYS },
	{ "fanotify_init", ENOSYS }, { "fanotify_mark", ENOSYS },
	/* the machine */
	{ "reboot", EPERM }, { "swapon", EPERM }, { "swapoff", EPERM }, { "acct", EPERM },
	{ "quotactl", EPERM }, { "syslog", EPERM }, { "settimeofday", EPERM },
	{ "clock_settime", EPERM }, { "clock_adjtime", EPERM }, { "adjtimex", EPERM },
	{ "vhangup", EPERM }, { "uselib", EPERM }, { "nfsservctl", EPERM },
};

/* Socket families a run may open: local, IP (its own loopback, and with
 * network slirp4netns's way out) and netlink, NETLINK_ROUTE alone (interface
 * and address queries in its own namespace, for getaddrinfo and
 * if_nameindex; kobject-uevent and audit would carry the host's events).
 * Everything else (vsock, which ignores network namespaces, packet,
 * bluetooth, can, alg, ...) is refused as unsupported, and socketpair(2),
 * which loads a family's module too, is AF_UNIX's alone. */
static const int seccomp_socket_families[] = { AF_UNIX, AF_INET, AF_INET6, AF_NETLINK };

/* clone(2) flags that would create namespaces (clone's first argument on x86-64). */
static const unsigned long seccomp_clone_ns_flags[] = {
	CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWCGROUP,
};

static void
load_seccomp(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int rc = 0;

	if (ctx == NULL) {
		errno = ENOMEM;
		die("seccomp init");
	}
	for (size_t i = 0; i < sizeof(seccomp_deny) / sizeof(seccomp_deny[0]) && rc == 0; i++) {
		int nr = seccomp_syscall_resolve_name(seccomp_deny[i].name);
		if (nr != __NR_SCMP_ERROR)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(seccomp_deny[i].err), nr, 0);
	}
	for (size_t i = 0; i < sizeof(seccomp_clone_ns_flags) / sizeof(seccomp_clone_ns_flags[0]) && rc == 0; i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
		    SCMP_A0(SCMP_CMP_MASKED_EQ, seccomp_clone_ns_flags[i], seccomp_clone_ns_flags[i]));
	/* socket(2): every family below the largest allowed one that is not in the list, and all above it. */
	for (int fam = 0; fam <= AF_NETLINK && rc == 0; fam++) {
		bool allowed = false;
		for (size_t i = 0; i < sizeof(seccomp_socket_families) / sizeof(seccomp_socket_families[0]); i++)
			allowed |= seccomp_socket_families[i] == fam;
		if (!allowed)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
			    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)fam));
	}
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
		    SCMP_A0(SCMP_CMP_GT, (scmp_datum_t)AF_NETLINK));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPROTONOSUPPORT), SCMP_SYS(socket), 2,
		    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)AF_NETLINK), SCMP_A2(SCMP_CMP_NE, (scmp_datum_t)NETLINK_ROUTE));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socketpair), 1,
		    SCMP_A0(SCMP_CMP_NE, (scmp_datum_t)AF_UNIX));
	/* personality(2) may only query, never switch to another ABI or turn ASLR off. */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality), 1,
		    SCMP_A0(SCMP_CMP_NE, 0xffffffffUL));
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc != 0) {
		errno = -rc;
		die("seccomp");
	}
}

static void
set_limit(int resource, rlim_t soft, rlim_t hard, const char *what)
{
	struct rlimit rl = { soft, hard };

	if (setrlimit(resource, &rl) == -1)
		die("setrlimit %s", what);
}

/*
 * What the program's process needs of the run's arguments to become the
 * program. It is forked (and, in v1, joins its cgroups) before a standby's
 * arguments have come, so init hands them over in memory shared with it, and
 * then a byte on a pipe says go.
 */
struct launch {
	uid_t	uid;
	gid_t	gid;
	int	build;
	int	mem_cgroup;	/* RLIMIT_AS is then only a backstop */
	long	timeout_ms, memory_mb, fsize, nproc, nofile;
	char	prog[CONF_PATH_MAX];	/* the interpreter (a run) */
	char	python[CONF_PATH_MAX];	/* a build: the interpreter creating the venv */
	size_t	args_len;
	char	args[JAIL_ARGS_MAX];	/* the program's arguments, each NUL-terminated */
};
static struct launch *launch;

static void
launch_fill(void)
{
	size_t used = 0;

	launch->uid = run_uid;
	launch->gid = run_gid;
	launch->build = args.build;
	launch->mem_cgroup = cg_mem_on;
	launch->timeout_ms = args.timeout_ms;
	launch->memory_mb = args.memory_mb;
	launch->fsize = args.fsize;
	launch->nproc = args.nproc;
	launch->nofile = conf.max_open_files;
	snprintf(launch->prog, sizeof(launch->prog), "%s", args.env ? "/env/bin/python" : conf.python);
	snprintf(launch->python, sizeof(launch->python), "%s", args.python ? args.python : "");
	for (int k = 0; k < args.nprog_args; k++) {
		size_t n = strlen(args.prog_args[k]) + 1;

		if (n > sizeof(launch->args) - used) {
			errno = E2BIG;
			die("the program's arguments");
		}
		memcpy(launch->args + used, args.prog_args[k], n);
		used += n;
	}
	launch->args_len = used;
}

/* The program's process could not exec its interpreter ("X"): what the run
 * or its environment holds (a removed or broken interpreter), not the jail. */
static void __attribute__((noreturn))
exec_fail(const char *prog)
{
	int saved = errno;

	dprintf(FD_STATUS, "X %d exec %s: %s\n", saved, prog, strerror(saved));
	_exit(JAIL_EXIT_SETUP);
}

static void __attribute__((noreturn))
exec_program(const sigset_t *oldmask)
{
	static char *build_envp[] = {
		"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/work", "USER=sandbox", "LOGNAME=sandbox",
		"LANG=C.UTF-8", "LC_ALL=C.UTF-8", "TMPDIR=/tmp", "PIP_DISABLE_PIP_VERSION_CHECK=1",
		"PIP_NO_INPUT=1", "PYTHONUNBUFFERED=1", "MAKEFLAGS=-j2", NULL,
	};
	static char *run_envp[] = {
		"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/work", "USER=sandbox", "LOGNAME=sandbox",
		"LANG=C.UTF-8", "LC_ALL=C.UTF-8", "TMPDIR=/tmp", "MPLBACKEND=Agg", "OPENBLAS_NUM_THREADS=1",
		"OMP_NUM_THREADS=1", "MKL_NUM_THREADS=1", "NUMEXPR_NUM_THREADS=1",
		"VECLIB_MAXIMUM_THREADS=1", NULL,
	};
	struct launch *l = launch;
	char **argv, **envp, *prog;
	rlim_t cpu = (rlim_t)((l->timeout_ms + 999) / 1000 + 1), as;
	size_t nargs = 0;
	int i;

	/* Signals back to defaults, unblocked, for the program. */
	for (i = 1; i < NSIG; i++)
		signal(i, SIG_DFL);
	sigprocmask(SIG_SETMASK, oldmask, NULL);
	if (setsid() == -1)
		die("setsid");
	if (chdir("/work") == -1)
		die("chdir /work");

	/* Empty the bounding set so that nothing exec'd can ever hold a capability. */
	for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == -1)
			die("drop capability %d", cap);
	/* Drop privileges in the fixed order: groups, gid, uid; then prove it. */
	if (setgroups(0, NULL) == -1)
		die("setgroups");
	if (setresgid(l->gid, l->gid, l->gid) == -1)
		die("setresgid");
	if (setresuid(l->uid, l->uid, l->uid) == -1)
		die("setresuid");
	/* From a non-root caller with file capabilities the uid change keeps
	 * them: clear every set before checking that nothing can be regained. */
	{
		struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
		struct __user_cap_data_struct data[2];

		memset(data, 0, sizeof(data));
		if (syscall(SYS_capset, &hdr, data) == -1)
			die("clear capabilities");
	}
	if (!sabotaged("uid") && (setresuid(0, 0, 0) != -1 || setegid(0) != -1 || geteuid() != l->uid ||
	    getegid() != l->gid)) {
		errno = EPERM;
		die("privileges could be regained");
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		die("no_new_privs");
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1)
		die("pdeathsig");
	umask(022);
	if (!sabotaged("seccomp"))
		load_seccomp();

	for (size_t off = 0; off < l->args_len; off += strlen(l->args + off) + 1)
		nargs++;
	if ((argv = calloc(nargs + 8, sizeof(char *))) == NULL)
		die("allocate");
	i = 0;
	if (l->build) {
		/* The venv goes to /env, the path runs mount it at, so the paths
		 * it records (shebangs, pyvenv.cfg) hold in both. */
		argv[i++] = prog = "/bin/bash";
		argv[i++] = "-c";
		argv[i++] = "echo \"pysandbox: creating the virtual environment with $1\"; "
		    "\"$1\" -m venv /env || exit 121; "
		    "export VIRTUAL_ENV=/env PATH=\"/env/bin:$PATH\"; "
		    "echo 'pysandbox: running the setup script'; exec bash -e /work/setup.sh";
		argv[i++] = "pysandbox-build";
		argv[i++] = l->python;
		envp = build_envp;
	} else {
		argv[i++] = prog = l->prog;
		/* -I without its -P: no PYTHON* variables, no user site, but the script's
		 * directory (/work) first on sys.path, as for `python main.py`, so that
		 * uploaded modules import (the original's behaviour). */
		argv[i++] = "-E";
		argv[i++] = "-s";
		argv[i++] = "-u";	/* unbuffered: output written before a timeout is kept */
		argv[i++] = "main.py";
		for (size_t off = 0; off < l->args_len; off += strlen(l->args + off) + 1)
			argv[i++] = l->args + off;
		envp = run_envp;
	}
	/* Limits last: nothing of ours allocates after them (an address-space
	 * limit would starve a sanitizer's or libseccomp's allocator). */
	set_limit(RLIMIT_CPU, cpu, cpu + 1, "cpu");
	/* With a memory cgroup the address space only stops absurd reservations
	 * (RLIMIT_AS at the real limit breaks numpy's and OpenBLAS's imports). */
	as = sabotaged("memory") ? RLIM_INFINITY : (rlim_t)l->memory_mb << (l->mem_cgroup ? 22 : 20);
	set_limit(RLIMIT_AS, as, as, "as");
	set_limit(RLIMIT_FSIZE, (rlim_t)l->fsize, (rlim_t)l->fsize, "fsize");
	set_limit(RLIMIT_NOFILE, (rlim_t)l->nofile, (rlim_t)l->nofile, "nofile");
	set_limit(RLIMIT_NPROC, (rlim_t)l->nproc, (rlim_t)l->nproc, "nproc");
	set_limit(RLIMIT_CORE, 0, 0, "core");
	set_limit(RLIMIT_STACK, 8 << 20, 8 << 20, "stack");
	set_limit(RLIMIT_MEMLOCK, 0, 0, "memlock");
	set_limit(RLIMIT_MSGQUEUE, 0, 0, "msgqueue");

	/* Only 0-2 and the status stream (closed on exec) stay open. */
	if (fcntl(FD_STATUS, F_SETFD, FD_CLOEXEC) == -1)
		die("cloexec");
#ifdef HAVE_CLOSE_RANGE
	close_range(FD_STATUS + 1, ~0U, 0);
#endif
	execve(prog, argv, envp);
	exec_fail(prog);
}

/* The program's process, from its fork until init says go: it holds only
 * 0-2, the status stream and the go pipe, and its cgroups are joined. */
static void __attribute__((noreturn))
program_wait(int go_fd, const sigset_t *oldmask)
{
	struct stat st;
	ssize_t n;
	char go;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1)
		die("pdeathsig");
	prctl(PR_SET_NAME, "pysandbox-prog", 0, 0, 0);
	/* Init's pivot_root moves a root and working directory that are the old root's. */
	if (chdir("/") == -1)
		die("chdir /");
	if (dup2(go_fd, FD_INPUT) == -1)
		die("dup go");
#ifdef HAVE_CLOSE_RANGE
	close_range(FD_INPUT + 1, ~0U, 0);
#endif
	while ((n = read(FD_INPUT, &go, 1)) == -1 && errno == EINTR)
		;
	if (n != 1)
		_exit(0);	/* init ended without a run */
	close(FD_INPUT);
	/* No stdin (the worker's memfd is empty): the program reads /dev/null,
	 * as it would started from a shell. */
	if (fstat(0, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0) {
		int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (devnull == -1 || dup2(devnull, 0) == -1)
			die("stdin from /dev/null");
		close(devnull);
	}
	exec_program(oldmask);
}

/* ---- after the run: collect the files it created or changed ----------- */

struct collect {
	long	files;
	long	bytes;
	bool	truncated;
	long	scanned;
};

static bool
unchanged_input(const char *name, const unsigned char *data, size_t len)
{
	for (size_t i = 0; i < ninputs; i++)
		if (inputs[i].len == len && strcmp(inputs[i].name, name) == 0)
			return inputs[i].hash == fnv1a(data, len);
	return false;
}

static void
send_file(int dirfd, const char *entry, const char *relname, struct collect *col)
{
	unsigned char *data = NULL;
	struct stat st;
	size_t got = 0;
	ssize_t r;
	char hdr[64];
	int fd;

	/* Every process of the run is dead: nothing can swap this file under us. */
	fd = openat(dirfd, entry, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd == -1)
		return;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		goto out;
	if (col->files >= args.max_files || st.st_size > args.max_return_bytes - col->bytes) {
		col->truncated = true;
		goto out;
	}
	if ((data = malloc((size_t)st.st_size + 1)) == NULL)
		goto out;
	while (got < (size_t)st.st_size && (r = read(fd, data + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)r;
	if (strcmp(relname, "main.py") == 0 || unchanged_input(relname, data, got))
		goto out;
	snprintf(hdr, sizeof(hdr), "F %zu %zu\n", strlen(relname), got);
	write_all(FD_STATUS, hdr, strlen(hdr));
	write_all(FD_STATUS, relname, strlen(relname));
	write_all(FD_STATUS, data, got);
	col->files++;
	col->bytes += (long)got;
out:
	free(data);
	close(fd);
}

static void
collect_dir(int dirfd, const char *prefix, int depth, struct collect *col)
{
	char rel[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int sub;

	if (depth > 32 || (d = fdopendir(dirfd)) == NULL) {
		close(dirfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (++col->scanned > 100000) {
			col->truncated = true;
			break;
		}
		if ((size_t)snprintf(rel, sizeof(rel), "%s%s%s", prefix, *prefix ? "/" : "", de->d_name) >= sizeof(rel))
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		if (S_ISDIR(st.st_mode)) {
			sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub != -1)
				collect_dir(sub, rel, depth + 1, col);
		} else if (S_ISREG(st.st_mode))
			send_file(dirfd, de->d_name, rel, col);
	}
	closedir(d);
}

/* ---- a build's environment: measured with privilege, sealed after it ---- */

/*
 * The environment lies on the host's disk, so the jail measures it: init, as
 * root, walks /env once a second while every process of the build is stopped
 * (nothing can move a file out of the walker's way, and what the build's uid
 * cannot read is counted too), and once more after the build. Bytes, inodes
 * and depth are bounded; set-id bits are stripped whenever they are seen, and
 * a successful build's tree becomes root's with no group or other write, so
 * no uid of the pool (later builds reuse them) owns or can change it.
 */
#define ENV_MAX_DEPTH		256
#define ENV_MEASURE_MS		1000
#define ENV_FREEZE_WAIT_MS	200

struct tree {
	long long	bytes, inodes;
	bool		too_deep, too_big;
};

/* chmod an entry through an fd of it, never a symlink's target: a build process
 * that did not stop in time may have swapped the entry since it was seen. */
static void
chmod_entry(int dirfd, const char *name, const struct stat *seen, mode_t mode)
{
	struct stat now;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

	if (fd == -1)
		return;
	if (fstat(fd, &now) == 0 && now.st_ino == seen->st_ino && now.st_dev == seen->st_dev)
		fchmod(fd, mode);
	close(fd);
}

static void
tree_walk(int dirfd, dev_t dev, int depth, bool seal, struct tree *t)
{
	struct dirent *de;
	struct stat st;
	DIR *d;

	if ((d = fdopendir(dirfd)) == NULL) {
		close(dirfd);
		return;
	}
	while ((de = readdir(d)) != NULL && !t->too_deep && !t->too_big) {
		mode_t keep;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		t->inodes++;
		t->bytes += (long long)st.st_blocks * 512;
		if (t->bytes > conf.max_env_size || t->inodes > conf.max_env_inodes) {
			t->too_big = true;
			break;
		}
		if (seal)
			fchownat(dirfd, de->d_name, 0, 0, AT_SYMLINK_NOFOLLOW);
		keep = st.st_mode & 07777 & ~(mode_t)(S_ISUID | S_ISGID | (seal ? S_IWGRP | S_IWOTH : 0));
		/* (A symlink's mode means nothing.) */
		if (!S_ISLNK(st.st_mode) && keep != (st.st_mode & 07777))
			chmod_entry(dirfd, de->d_name, &st, keep);
		if (S_ISDIR(st.st_mode) && st.st_dev == dev) {
			int sub;

			if (depth + 1 > ENV_MAX_DEPTH) {
				t->too_deep = true;
				break;
			}
			if ((sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) != -1)
				tree_walk(sub, dev, depth + 1, seal, t);
		}
	}
	closedir(d);
}

/* Measure (and with seal, seal) /env; false when it is past a limit, with why. */
static bool
env_check(bool seal, struct tree *t, char *why, size_t whylen)
{
	struct stat st;
	int fd;

	memset(t, 0, sizeof(*t));
	if ((fd = open("/env", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1 || fstat(fd, &st) == -1)
		die("open /env");
	if (seal) {
		if (fchown(fd, 0, 0) == -1 ||
		    fchmod(fd, st.st_mode & 07777 & ~(mode_t)(S_ISUID | S_ISGID | S_IWGRP | S_IWOTH)) == -1)
			die("seal /env");
	}
	t->inodes = 1;
	t->bytes = (long long)st.st_blocks * 512;
	tree_walk(fd, st.st_dev, 0, seal, t);
	if (t->too_deep)
		snprintf(why, whylen, "the environment's tree is deeper than %d levels", ENV_MAX_DEPTH);
	else if (t->too_big && t->inodes > conf.max_env_inodes)
		snprintf(why, whylen, "the environment holds more than max_env_inodes (%ld) files", conf.max_env_inodes);
	else if (t->too_big)
		snprintf(why, whylen, "the environment grew past max_env_size (%ld bytes)", conf.max_env_size);
	return !t->too_deep && !t->too_big;
}

/* Every process of the run but init stopped, as far as they will within a short
 * wait (one inside a long system call stops when it returns). */
static void
freeze_all(void)
{
	struct timespec pause = { 0, 2000000 };

	if (sabotaged("pid"))
		return;
	kill(-1, SIGSTOP);
	for (int waited = 0; waited < ENV_FREEZE_WAIT_MS; waited += 2) {
		bool running = false;
		struct dirent *de;
		DIR *d = opendir("/proc");

		if (d == NULL)
			return;
		while (!running && (de = readdir(d)) != NULL) {
			char path[300], text[256], *state;
			int fd;
			ssize_t n;

			if (de->d_name[0] < '0' || de->d_name[0] > '9' || strcmp(de->d_name, "1") == 0)
				continue;
			snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
			if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
				continue;
			n = read(fd, text, sizeof(text) - 1);
			close(fd);
			if (n <= 0)
				continue;
			text[n] = '\0';
			/* "pid (comm) S ...": the state follows the last ')' */
			if ((state = strrchr(text, ')')) != NULL && state[1] == ' ')
				running = !(state[2] == 'T' || state[2] == 't' || state[2] == 'Z' || state[2] == 'X');
		}
		closedir(d);
		if (!running)
			return;
		nanosleep(&pause, NULL);
	}
}

/* ---- init: pid 1 of the run's pid namespace --------------------------- */

static long
elapsed_us(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000000L + (b->tv_nsec - a->tv_nsec) / 1000;
}

static int read_args(char ***argvp);

/* The run's arguments, for init: a standby's come on FD_ARGS now; a direct
 * invocation's were checked by the outer helper before it forked us. */
static void
init_take_args(bool standby)
{
	if (standby) {
		char **argv;
		int argc;

		if ((argc = read_args(&argv)) == 0)
			_exit(INIT_EXIT_NO_RUN);
		parse_args(argc, argv, true);
	}
	prctl(PR_SET_NAME, "pysandbox-init", 0, 0, 0);
}

/*
 * A sandbox with network asks the outer helper, which stays in the host's
 * network namespace, over a socketpair (SOCK_SEQPACKET, one message each):
 *   init -> outer  "N"             please connect my namespace
 *   outer -> init  "A <addrs>"     the host's own addresses (for the filter)
 *   outer -> init  "R" | "F <why>" slirp4netns is ready, or it failed
 * init loads the filter while slirp4netns starts, and waits for "R" before
 * the program may run.
 */
static int ctl_fd = -1;

static void
ctl_recv(char *msg, size_t len, char kind)
{
	ssize_t n;

	while ((n = recv(ctl_fd, msg, len - 1, 0)) == -1 && errno == EINTR)
		;
	if (n <= 0) {
		errno = n == 0 ? EPIPE : errno;
		die("network: no answer from the outer helper");
	}
	msg[n] = '\0';
	if (msg[0] == 'F') {
		errno = ENETUNREACH;
		die("network: %s", msg + (n > 2 ? 2 : 1));
	}
	if (msg[0] != kind) {
		errno = EPROTO;
		die("network: unexpected message");
	}
}

static void
net_filter(void)
{
	char msg[NETNS_HOST_ADDRS_MAX + 8], why[400];
	struct buf rules = { 0 };

	if (send(ctl_fd, "N", 1, 0) != 1)
		die("network: ask the outer helper");
	ctl_recv(msg, sizeof(msg), 'A');
	if (netns_ruleset(&conf, msg + (msg[1] ? 2 : 1), &rules, why, sizeof(why)) == -1 ||
	    netns_filter_load(rules.data, rules.len, why, sizeof(why)) == -1) {
		errno = EINVAL;
		die("network filter: %s", why);
	}
	buf_free(&rules);
}

static void
net_wait_ready(void)
{
	char msg[512];

	ctl_recv(msg, sizeof(msg), 'R');
}

static void __attribute__((noreturn))
run_init(int alive_fd, bool standby)
{
	sigset_t mask, oldmask;
	struct timespec start, now, deadline, wait, next_measure;
	struct rusage ru;
	struct collect col = { 0 };
	struct tree tree = { 0 };
	char env_limit[200] = "";
	const char *how = "exited";
	int status = 0, prog_status = -1, sig, workfd, go[2];
	pid_t prog, p;
	char rec[160];

	/* Root through and through (only the outer helper keeps the caller's real
	 * uid, so that the worker may signal it): the tools init runs (nft) refuse
	 * a real uid that differs from the effective one. */
	if (setresgid(0, 0, 0) == -1 || setresuid(0, 0, 0) == -1)
		die("become root for init");
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1)
		die("pdeathsig");
	/* getppid() is 0 across the pid namespace boundary; the outer helper's
	 * end of this pipe tells whether it died before PDEATHSIG was armed. */
	{
		struct pollfd pfd = { alive_fd, POLLIN, 0 };
		if (poll(&pfd, 1, 0) != 0)
			_exit(JAIL_EXIT_SETUP);
		close(alive_fd);
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, &oldmask) == -1)
		die("block signals");
	signal(SIGPIPE, SIG_IGN);
	/* The pid namespace came with our fork; the rest are made here, so that
	 * the outer helper stays in the host's (its network, for slirp4netns). */
	if (unshare(CLONE_NEWNS | (sabotaged("net") ? 0 : CLONE_NEWNET) | (sabotaged("ipc") ? 0 : CLONE_NEWIPC) |
	    (sabotaged("uts") ? 0 : CLONE_NEWUTS)) == -1)
		die("unshare namespaces");

	/* The program's process first: in v1 its cgroup joins wait out their
	 * grace period while a standby waits for its request. */
	launch = mmap(NULL, sizeof(*launch), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (launch == MAP_FAILED)
		die("map the launch record");
	if (pipe2(go, O_CLOEXEC) == -1)
		die("pipe");
	if ((prog = fork_into_cgroup()) == -1)
		die("fork program");
	if (prog == 0) {
		close(go[1]);
		program_wait(go[0], &oldmask);
	}
	close(go[0]);
	/* ps tells a standby still waiting for its request from a run. */
	if (standby)
		prctl(PR_SET_NAME, "pysandbox-idle", 0, 0, 0);

	init_take_args(standby);
	cgroups_limit();
	launch_fill();
	if (args.net && !sabotaged("net") && !sabotaged("buildnet"))
		net_filter();	/* before the root: nft is the host's */
	open_env();
	build_root();
	enter_root();
	if (!sabotaged("uts") && sethostname("sandbox", 7) == -1)
		die("sethostname");
	if (!sabotaged("net"))
		loopback_up();
	if (args.net && !sabotaged("net"))
		net_wait_ready();
	close(ctl_fd);
	write_inputs();

	clock_gettime(CLOCK_MONOTONIC, &start);
	if (write(go[1], "G", 1) != 1)
		die("start the program");
	close(go[1]);

	/* init holds nothing the program's readers wait on. */
	{
		int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (devnull == -1)
			die("open /dev/null");
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		close(devnull);
	}

	deadline.tv_sec = start.tv_sec + args.timeout_ms / 1000;
	deadline.tv_nsec = start.tv_nsec + (args.timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	next_measure = start;
	for (;;) {
		long left, to_measure;

		while ((p = waitpid(-1, &status, WNOHANG)) > 0)
			if (p == prog)
				prog_status = status;
		if (prog_status != -1)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = elapsed_us(&now, &deadline);
		if (left <= 0) {
			how = "timeout";
			break;
		}
		if (args.build && (to_measure = elapsed_us(&now, &next_measure)) <= 0) {
			bool within;

			freeze_all();
			within = env_check(false, &tree, env_limit, sizeof(env_limit));
			if (!sabotaged("pid"))
				kill(-1, SIGCONT);
			if (!within) {
				how = "killed";
				break;
			}
			next_measure = now;
			next_measure.tv_sec += ENV_MEASURE_MS / 1000;
			continue;
		}
		if (args.build && to_measure < left)
			left = to_measure;
		wait.tv_sec = left / 1000000;
		wait.tv_nsec = (left % 1000000) * 1000;
		sig = sigtimedwait(&mask, NULL, &wait);
		if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
			how = "killed";
			break;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &now);

	/* End everything else in the namespace, daemons included, and reap it. */
	cgroups_unthrottle();
	/* (Without a pid namespace of its own, -1 would be every process of the host.) */
	kill(sabotaged("pid") ? -prog : -1, SIGKILL);
	while ((p = waitpid(-1, &status, 0)) > 0 || (p == -1 && errno == EINTR))
		if (p == prog && prog_status == -1)
			prog_status = status;

	if (strcmp(how, "exited") == 0 && WIFSIGNALED(prog_status))
		how = "signaled";
	/* Nothing of the build runs now: the last measure is exact, and a good
	 * build's tree is sealed. */
	if (args.build && env_limit[0] == '\0') {
		bool good = strcmp(how, "exited") == 0 && WIFEXITED(prog_status) && WEXITSTATUS(prog_status) == 0;

		env_check(good, &tree, env_limit, sizeof(env_limit));
	}
	if (env_limit[0]) {
		snprintf(rec, sizeof(rec), "Z %.150s\n", env_limit);
		write_all(FD_STATUS, rec, strlen(rec));
	}
	getrusage(RUSAGE_CHILDREN, &ru);
	snprintf(rec, sizeof(rec), "R %s %d %d %ld %ld %ld %ld\n", how,
	    prog_status != -1 && WIFEXITED(prog_status) ? WEXITSTATUS(prog_status) : -1,
	    prog_status != -1 && WIFSIGNALED(prog_status) ? WTERMSIG(prog_status) : 0,
	    elapsed_us(&start, &now),
	    ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec,
	    ru.ru_stime.tv_sec * 1000000L + ru.ru_stime.tv_usec,
	    ru.ru_maxrss);
	write_all(FD_STATUS, rec, strlen(rec));
	if (args.build) {
		snprintf(rec, sizeof(rec), "S %lld %lld\n", tree.bytes, tree.inodes);
		write_all(FD_STATUS, rec, strlen(rec));
	}

	/* A build's working directory is its scratch space (pip's cache): nothing to return. */
	if (!args.build && (workfd = open("/work", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) != -1)
		collect_dir(workfd, "", 0, &col);
	if (col.truncated)
		write_all(FD_STATUS, "T\n", 2);
	_exit(0);	/* the outer helper adds the cgroup's account and the end mark */
}

/* ---- outer: waits for init in the host's namespaces ------------------- */

static void
forward_signal(int sig)
{
	if (init_pid > 0)
		kill(init_pid, SIGTERM);
	(void)sig;
}

/* With its arguments checked (or, as a standby, to make its cgroups), take
 * effective uid 0: started by the unprivileged pool through file capabilities,
 * CAP_SETUID allows it anyway, and what the jail creates (the root, /etc,
 * cgroups) is then root's. The real uid stays the caller's, so the worker can
 * still signal its jail. */
static void
become_root(void)
{
	if (geteuid() == 0 && getegid() == 0)
		return;
	if (setgroups(0, NULL) == -1 || setresgid(getgid(), 0, 0) == -1 || setresuid(getuid(), 0, 0) == -1)
		die("become root");
	/* A credential change clears the parent-death signal: arm it again. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1)
		die("pdeathsig");
}

/* A standby's run: NUL-terminated strings on FD_ARGS up to EOF, argv[0]
 * first. Returns argc, 0 when the worker closed without a run. */
static int
read_args(char ***argvp)
{
	struct buf b = { 0 };
	char chunk[4096], **argv;
	ssize_t n;
	int argc = 0;

	while ((n = read(FD_ARGS, chunk, sizeof(chunk))) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			die("read the run's arguments");
		if (b.len + (size_t)n > JAIL_ARGS_MAX) {
			errno = E2BIG;
			die("read the run's arguments");
		}
		if (buf_append(&b, chunk, (size_t)n) == -1) {
			errno = ENOMEM;
			die("read the run's arguments");
		}
	}
	close(FD_ARGS);
	if (b.len == 0)
		return 0;
	if (b.data[b.len - 1] != '\0') {
		errno = EINVAL;
		die("unterminated argument");
	}
	for (size_t i = 0; i < b.len; i++)
		argc += b.data[i] == '\0';
	if ((argv = calloc((size_t)argc + 1, sizeof(*argv))) == NULL)
		die("arguments");
	for (size_t i = 0, k = 0; i < b.len; i += strlen(b.data + i) + 1)
		argv[k++] = b.data + i;
	*argvp = argv;
	return argc;
}

/* The outer helper's side of init's network requests, until init closes its end. */
static void
serve_init(int fd, pid_t init, pid_t *slirp, int *slirp_exit)
{
	char msg[16], addrs[NETNS_HOST_ADDRS_MAX + 8], why[300];
	ssize_t n;

	for (;;) {
		while ((n = recv(fd, msg, sizeof(msg), 0)) == -1 && errno == EINTR)
			;
		if (n <= 0)
			return;
		if (msg[0] != 'N' || *slirp > 0)
			return;	/* init would not ask twice: it is not ours to trust further */
		memcpy(addrs, "A ", 2);
		if (netns_host_addrs(addrs + 2, sizeof(addrs) - 2) == -1) {
			snprintf(addrs, sizeof(addrs), "F the host's addresses: %s", strerror(errno));
			send(fd, addrs, strlen(addrs), 0);
			return;
		}
		send(fd, addrs, strlen(addrs), 0);
		if ((*slirp = netns_slirp_start(init, slirp_exit, why, sizeof(why))) == -1) {
			snprintf(addrs, sizeof(addrs), "F %s", why);
			send(fd, addrs, strlen(addrs), 0);
			return;
		}
		send(fd, "R", 1, 0);
	}
}

/* fork() with the child as pid 1 of a new pid namespace, the caller staying in its own. */
static pid_t
fork_init(void)
{
	int own = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	pid_t pid;

	if (own == -1)
		die("open our pid namespace");
	if (!sabotaged("pid") && unshare(CLONE_NEWPID) == -1)
		die("unshare the pid namespace");
	if ((pid = fork()) != 0 && setns(own, CLONE_NEWPID) == -1)
		die("back to our pid namespace");
	if (pid != 0)
		close(own);
	return pid;
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	int status, fd, alive[2], ctl[2], slirp_exit = -1;
	bool standby = argc == 2 && strcmp(argv[1], "standby") == 0;
	pid_t child, p, slirp = -1;

	/* The worker must hand us exactly fds 0-4 (0-5 to a standby); refuse to run with fewer. */
	for (fd = 0; fd <= (standby ? FD_ARGS : FD_INPUT); fd++)
		if (fcntl(fd, F_GETFD) == -1)
			return JAIL_EXIT_SETUP;
#ifdef HAVE_CLOSE_RANGE
	close_range((standby ? FD_ARGS : FD_INPUT) + 1, ~0U, 0);
#endif
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1)
		die("pdeathsig");
	outer_pid = getpid();
	/* What the jail creates has the modes it names, whatever the caller's umask. */
	umask(022);
	/* A standby makes what costs time ahead of the request (its cgroups,
	 * init and the program's process); init then reads and checks the
	 * arguments. A direct invocation checks them first. */
	if (!standby)
		parse_args(argc, argv, false);
	become_root();
	cgroups_create();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	if (pipe2(alive, O_CLOEXEC) == -1 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) == -1)
		die("pipe");
	if ((child = fork_init()) == -1)
		die("fork init");
	if (child == 0) {
		close(alive[1]);
		close(ctl[0]);
		ctl_fd = ctl[1];
		run_init(alive[0], standby);
	}
	init_pid = child;
	close(alive[0]);
	close(ctl[1]);

	/* Hold no end of the program's pipes, so the worker sees EOF when the run
	 * ends; keep only the status stream for the last records. */
	for (fd = 0; fd <= (standby ? FD_ARGS : FD_INPUT); fd++)
		if (fd != FD_STATUS)
			close(fd);
	serve_init(ctl[0], child, &slirp, &slirp_exit);
	close(ctl[0]);
	while ((p = waitpid(child, &status, 0)) == -1 && errno == EINTR)
		;
	if (p == -1)
		return JAIL_EXIT_SETUP;
	/* init's exit means the kernel has reaped its whole pid namespace. The
	 * worker answers at EOF on the status stream: the cgroups go after it. */
	if (WIFEXITED(status) && WEXITSTATUS(status) == INIT_EXIT_NO_RUN) {
		close(FD_STATUS);
		cgroups_remove();
		_exit(0);
	}
	cgroups_report();
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		write_all(FD_STATUS, "D\n", 2);
	close(FD_STATUS);
	netns_slirp_stop(slirp, slirp_exit);
	cgroups_remove();
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : JAIL_EXIT_SETUP);
}
