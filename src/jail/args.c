/* args.c: the jail's arguments, read with jailproto's table and checked against root's configuration. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include "buf.h"
#include "interp.h"
#include "jail.h"
#include "slots.h"

struct conf conf;
struct jail_args args;
struct limits lim;
uid_t run_uid;
gid_t run_gid;
pid_t outer_pid;
bool caller_is_root;
struct cg_run run_cgroups = CG_RUN_NONE;

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

/* A file root wrote to say something: not empty (an empty file is the built-in defaults, whatever root
 * meant to set) and not one the kernel makes (procfs, sysfs, cgroups and the like are root's too). */
static bool
says_something(const char *path)
{
	static const long pseudo[] = { PROC_SUPER_MAGIC, SYSFS_MAGIC, 0x27e0eb /* cgroup v1 */, CGROUP2_SUPER_MAGIC,
	    DEBUGFS_MAGIC, TRACEFS_MAGIC, SECURITYFS_MAGIC, BPF_FS_MAGIC };
	struct statfs fs;
	struct stat st;

	if (stat(path, &st) == -1 || st.st_size <= 0 || statfs(path, &fs) == -1)
		return false;
	for (size_t i = 0; i < sizeof(pseudo) / sizeof(pseudo[0]); i++)
		if ((long)fs.f_type == pseudo[i])
			return false;
	return true;
}

static void __attribute__((noreturn))
usage(void)
{
	errno = EINVAL;
	die("usage: pysandbox-jail [--config FILE] --slot N --timeout-ms N --memory-mb N [--cpus-milli N] "
	    "[--net] [--max-files N] [--max-return-bytes N] [--env NAME [--build --python PATH]] run [ARG...]\n"
	    "       pysandbox-jail [--config FILE] remove .build-N|.trash-N\n"
	    "       pysandbox-jail [--config FILE] sweep");
}

/* The configuration: the built-in file, or one root chose (or root alone can change). */
static void
load_conf(void)
{
	char err[600];

	/* A caller that is already root gains nothing from choosing the file or the environment overrides;
	 * anyone else gets only files root wrote. */
	if (args.config[0] && !caller_is_root && !root_owned_chain(args.config)) {
		errno = EPERM;
		die("--config %s: only root or a file root alone can change is accepted", args.config);
	}
	if (args.config[0] && !caller_is_root && !says_something(args.config)) {
		errno = EPERM;
		die("--config %s: an empty file or one the kernel makes is no configuration", args.config);
	}
	if (conf_load(args.config[0] ? args.config : PYSANDBOX_CONF_PATH, &conf, caller_is_root, err,
	    sizeof(err)) == -1) {
		errno = EINVAL;
		die("configuration: %s", err);
	}
}

/* A build's interpreter must be one of the host's. */
static void
check_build_python(void)
{
	struct interp found[INTERP_MAX];
	int n = interp_discover(&conf, found, INTERP_MAX), i;

	for (i = 0; i < n; i++)
		if (strcmp(found[i].path, args.python) == 0)
			return;
	errno = EPERM;
	die("%s is not one of the host's interpreters", args.python);
}

/* What the configuration's limits for the run's kind allow ("L" beyond them: a pool that has not reloaded
 * an edited file asks for the old ones). */
static void
check_run(void)
{
	const char *kind = args.build ? "build " : "";

	errno = EPERM;
	if (args.slot >= conf.uid_count)
		refuse("slot %ld outside the uid pool of %d", args.slot, conf.uid_count);
	/* The fork server's uids are never a run's (a run as the children's would own their user namespaces). */
	if (conf.fork_server && (args.slot == slot_fork_server(&conf) || args.slot == slot_fork_child(&conf)))
		refuse("slot %ld is the fork server's", args.slot);
	if (args.env[0] && !limit_env_name_ok(args.env, strlen(args.env)) && !limit_build_dir_ok(args.env))
		die("bad environment name");
	if (args.build && !limit_build_dir_ok(args.env))
		die("a build's environment is a .build-N directory");
	if (args.build)
		check_build_python();
	limit_from_conf(&conf, args.build ? LIMIT_BUILD : LIMIT_RUN, &lim);
	/* Not given: the configuration's default share, never no quota at all. */
	if (args.cpus_milli < 0)
		args.cpus_milli = (long)(lim.default_cpus * 1000 + 0.5);
	if (args.cpus_milli > (long)(lim.max_cpus * 1000 + 0.5))
		refuse("cpus above the configured maximum");
	if (args.timeout_ms > (long)(lim.max_timeout * 1000 + 0.5))
		refuse("%stimeout above the configured maximum", kind);
	if (args.memory_mb > lim.max_memory_mb)
		refuse("%smemory above the configured maximum", kind);
	if (args.fork && !conf.fork_server)
		refuse("fork_server is off in the configuration");
	if (args.fork && !slot_may_fork(&conf, args.slot))
		refuse("slot %ld takes no fork run", args.slot);
	if (args.net && !lim.allow_network)
		refuse(args.build ? "network for builds is not allowed by the configuration" :
		    "network is not allowed by the configuration");
	if (args.max_files > lim.max_return_files || args.max_return_bytes > lim.max_return_bytes)
		refuse("return caps above the configured maxima");
	/* Caps not given are none. */
	if (args.max_files < 0)
		args.max_files = 0;
	if (args.max_return_bytes < 0)
		args.max_return_bytes = 0;
	run_uid = (uid_t)slot_uid(&conf, args.slot);
	run_gid = (gid_t)slot_uid(&conf, args.slot);
	if (sabotaged("uid"))
		run_uid = run_gid = 0;	/* (its capabilities are still cleared) */
}

void
args_take(int argc, char **argv, bool run_only)
{
	char why[300];

	if (jail_args_parse(argc, argv, &args, why, sizeof(why)) != SBX_OK) {
		errno = EINVAL;
		die("%s", why);
	}
	if (args.verb == JAIL_VERB_STANDBY || (run_only && args.verb != JAIL_VERB_RUN))
		usage();
	load_conf();
	switch (args.verb) {
	case JAIL_VERB_SWEEP:
		cg_sweep();
		_exit(0);
	case JAIL_VERB_REMOVE:
		remove_env_dir(args.target);
	case JAIL_VERB_FORKSTANDBY:
		args.fork = true;	/* (its runs are) */
		/* fall through */
	case JAIL_VERB_RUN:
	case JAIL_VERB_WARM:
		check_run();
		return;
	case JAIL_VERB_FORKSERVER:
		return;
	case JAIL_VERB_STANDBY:
		break;
	}
	usage();
}

void
args_take_standby_run(int argc, char **argv)
{
	char why[300], config[sizeof(args.config)];

	memcpy(config, args.config, sizeof(config));
	if (jail_args_parse(argc, argv, &args, why, sizeof(why)) != SBX_OK) {
		errno = EINVAL;
		die("%s", why);
	}
	if (args.verb != JAIL_VERB_RUN)
		usage();
	/* The configuration is the profile's, read before the root was entered (its file is not in it). */
	if (strcmp(args.config, config) != 0) {
		errno = EINVAL;
		die("a run names another configuration than its standby's");
	}
	check_run();
}

int
args_read_standby(char ***argvp)
{
	struct buf b = { 0 };
	char chunk[4096], **argv;
	ssize_t n;
	int argc = 0;

	while ((n = read(JAIL_FD_ARGS, chunk, sizeof(chunk))) != 0) {
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
	close(JAIL_FD_ARGS);
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

