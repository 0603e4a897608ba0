/* program.c: the program's process: forked into the run's cgroups early, it waits for its run, then drops
 * every privilege, takes its limits and seccomp policy, and becomes the interpreter. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <unistd.h>

#include "buf.h"
#include "jail.h"

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
	int	warm;		/* the interpreter starts on its profile, then waits on fd 4 for its run */
	int	mem_cgroup;	/* RLIMIT_AS is then only a backstop */
	long	timeout_ms, memory_mb, fsize, nproc, nofile;
	char	prog[CONF_PATH_MAX];	/* the interpreter (a run) */
	char	python[CONF_PATH_MAX];	/* a build: the interpreter creating the venv */
	size_t	args_len;
	char	args[JAIL_ARGS_MAX];	/* the program's arguments, each NUL-terminated */
};
static struct launch *launch;
/* The program's process of a warm standby (set in it at the fork): it holds the ready pipe's write end as
 * fd 5 through exec, and the interpreter closes it once it has read and compiled warm_boot.py (init must
 * not write the run's main.py over a file the interpreter still reads, and program_limit_warm must come
 * after the program's own limits). */
static bool warm_child;

void
program_configure(bool warm)
{
	size_t used = 0;

	launch->uid = run_uid;
	launch->gid = run_gid;
	launch->build = args.build;
	launch->warm = warm;
	launch->mem_cgroup = cg_run_has_memory(&run_cgroups);
	launch->timeout_ms = args.timeout_ms;
	launch->memory_mb = args.memory_mb;
	launch->fsize = lim.file_size;
	launch->nproc = lim.processes;
	launch->nofile = lim.open_files;
	snprintf(launch->prog, sizeof(launch->prog), "%s", args.env[0] ? "/env/bin/python" : conf.python);
	snprintf(launch->python, sizeof(launch->python), "%s", args.python);
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

/* Take real uid and gid ruid/rgid, effective and saved euid/egid, no supplementary group and no capability in
 * any set (the bounding set too: nothing exec'd can ever hold one), and make sure root cannot be regained. The
 * run's program takes its uid for all three; the fork server its own, with its children's as the real one. */
void
program_become(uid_t ruid, uid_t euid, gid_t rgid, gid_t egid)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];

	for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == -1)
			die("drop capability %d", cap);
	if (setgroups(0, NULL) == -1)
		die("setgroups");
	if (setresgid(rgid, egid, egid) == -1)
		die("setresgid");
	if (setresuid(ruid, euid, euid) == -1)
		die("setresuid");
	/* From a non-root caller with file capabilities the uid change keeps them. */
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) == -1)
		die("clear capabilities");
	if (!sabotaged("uid") && (setresuid(0, 0, 0) != -1 || setegid(0) != -1 || geteuid() != euid ||
	    getegid() != egid)) {
		errno = EPERM;
		die("privileges could be regained");
	}
}

/* The run's uid and gid alone, then no_new_privs. */
static void
drop_privileges(const struct launch *l)
{
	program_become(l->uid, l->uid, l->gid, l->gid);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		die("no_new_privs");
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1)
		die("pdeathsig");
}

char *program_run_envp[] = {
	"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/work", "USER=sandbox", "LOGNAME=sandbox",
	"LANG=C.UTF-8", "LC_ALL=C.UTF-8", "TMPDIR=/tmp", "MPLBACKEND=Agg", "OPENBLAS_NUM_THREADS=1",
	"OMP_NUM_THREADS=1", "MKL_NUM_THREADS=1", "NUMEXPR_NUM_THREADS=1",
	"VECLIB_MAXIMUM_THREADS=1", NULL,
};

/* What is exec'd: a build's venv and setup script under bash, or the interpreter on main.py. */
static char **
program_argv(struct launch *l, char **prog, char ***envp)
{
	static char *build_envp[] = {
		"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/work", "USER=sandbox", "LOGNAME=sandbox",
		"LANG=C.UTF-8", "LC_ALL=C.UTF-8", "TMPDIR=/tmp", "PIP_DISABLE_PIP_VERSION_CHECK=1",
		"PIP_NO_INPUT=1", "PYTHONUNBUFFERED=1", "MAKEFLAGS=-j2", NULL,
	};
	size_t nargs = 0, i = 0;
	char **argv;

	for (size_t off = 0; off < l->args_len; off += strlen(l->args + off) + 1)
		nargs++;
	if ((argv = calloc(nargs + 8, sizeof(char *))) == NULL)
		die("allocate");
	if (l->build) {
		/* The venv goes to /env, the path runs mount it at, so the paths it records (shebangs,
		 * pyvenv.cfg) hold in both. The program's arguments are the environment's preload modules,
		 * imported once the setup script has succeeded (positional parameters: never parsed). */
		argv[i++] = *prog = "/bin/bash";
		argv[i++] = "-c";
		argv[i++] = "echo \"pysandbox: creating the virtual environment with $1\"; "
		    "\"$1\" -m venv /env || exit " JAIL_STR(JAIL_BUILD_EXIT_VENV) "; "
		    "export VIRTUAL_ENV=/env PATH=\"/env/bin:$PATH\"; "
		    "echo 'pysandbox: running the setup script'; check=$2; shift 2; "
		    "[ $# -eq 0 ] && exec bash -e /work/setup.sh; "
		    "bash -e /work/setup.sh || exit; "
		    "echo \"pysandbox: importing the preload modules: $*\"; "
		    "exec /env/bin/python -I -c \"$check\" \"$@\"";
		argv[i++] = "pysandbox-build";
		argv[i++] = l->python;
		argv[i++] = "import importlib, sys, traceback\n"
		    "for name in sys.argv[1:]:\n"
		    "    try:\n"
		    "        importlib.import_module(name)\n"
		    "    except BaseException:\n"
		    "        traceback.print_exc()\n"
		    "        print(f'pysandbox: the preload module {name} could not be imported', flush=True)\n"
		    "        sys.exit(" JAIL_STR(JAIL_BUILD_EXIT_PRELOAD) ")\n";
		for (size_t off = 0; off < l->args_len; off += strlen(l->args + off) + 1)
			argv[i++] = l->args + off;
		*envp = build_envp;
		return argv;
	}
	argv[i++] = *prog = l->prog;
	/* -I without its -P: no PYTHON* variables, no user site, but the script's directory (/work) first on
	 * sys.path, as for `python main.py`, so that uploaded modules import (the original's behaviour). */
	argv[i++] = "-E";
	argv[i++] = "-s";
	argv[i++] = "-u";	/* unbuffered: output written before a timeout is kept */
	argv[i++] = "main.py";
	for (size_t off = 0; off < l->args_len; off += strlen(l->args + off) + 1)
		argv[i++] = l->args + off;
	*envp = program_run_envp;
	return argv;
}

/* The limits that follow the run's timeout and memory: CPU seconds, and the address space (with a memory
 * cgroup only a stop for absurd reservations: RLIMIT_AS at the real limit breaks numpy's and OpenBLAS's
 * imports). */
rlim_t
program_cpu_limit(long timeout_ms)
{
	return (rlim_t)((timeout_ms + 999) / 1000 + 1);
}

rlim_t
program_as_limit(long memory_mb, bool mem_cgroup)
{
	return sabotaged("memory") ? RLIM_INFINITY : (rlim_t)memory_mb << (mem_cgroup ? 22 : 20);
}

/* Limits last: nothing of ours allocates after them (an address-space limit would starve a sanitizer's or
 * libseccomp's allocator). */
static void
set_limits(const struct launch *l)
{
	rlim_t cpu = program_cpu_limit(l->timeout_ms), as = program_as_limit(l->memory_mb, l->mem_cgroup);

	set_limit(RLIMIT_CPU, cpu, cpu + 1, "cpu");
	set_limit(RLIMIT_AS, as, as, "as");
	set_limit(RLIMIT_FSIZE, (rlim_t)l->fsize, (rlim_t)l->fsize, "fsize");
	set_limit(RLIMIT_NOFILE, (rlim_t)l->nofile, (rlim_t)l->nofile, "nofile");
	set_limit(RLIMIT_NPROC, (rlim_t)l->nproc, (rlim_t)l->nproc, "nproc");
	set_limit(RLIMIT_CORE, 0, 0, "core");
	set_limit(RLIMIT_STACK, 8 << 20, 8 << 20, "stack");
	set_limit(RLIMIT_MEMLOCK, 0, 0, "memlock");
	set_limit(RLIMIT_MSGQUEUE, 0, 0, "msgqueue");
}

static void __attribute__((noreturn))
exec_program(const sigset_t *oldmask)
{
	struct launch *l = launch;
	char **argv, **envp, *prog;
	int saved;

	/* Signals back to defaults, unblocked, for the program. */
	for (int i = 1; i < NSIG; i++)
		signal(i, SIG_DFL);
	sigprocmask(SIG_SETMASK, oldmask, NULL);
	if (setsid() == -1)
		die("setsid");
	if (chdir("/work") == -1)
		die("chdir /work");
	drop_privileges(l);
	umask(022);
	if (!sabotaged("seccomp"))
		seccomp_policy_load(false);
	argv = program_argv(l, &prog, &envp);
	set_limits(l);
	/* Only 0-2 and the status stream (closed on exec) stay open, and a warm interpreter's go and ready
	 * pipes (warm_boot.py closes both before any byte of the run's runs). */
	if (fcntl(JAIL_FD_STATUS, F_SETFD, FD_CLOEXEC) == -1)
		die("cloexec");
	close_from(l->warm ? JAIL_FD_ARGS + 1 : JAIL_FD_STATUS + 1);
	execve(prog, argv, envp);
	/* What the run or its environment holds (a removed or broken interpreter), not the jail ("X"). */
	saved = errno;
	fail_record(JAIL_FAIL_START, saved, "exec %s", prog);
}

/* Close every descriptor from lowfd up: close_range, or on a kernel without it (before 5.9) each one below
 * a bound past any this process can hold (its limits are lowered only after the jail opened its own). */
void
close_from(int lowfd)
{
#ifdef HAVE_CLOSE_RANGE
	if (close_range((unsigned)lowfd, ~0U, 0) == 0)
		return;
#endif
	for (int fd = lowfd; fd < 65536; fd++)
		close(fd);
}

/* The program's process, from its fork until init says go: it holds only 0-2, the status stream and the
 * go pipe, and its cgroups are joined. */
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
	if (dup2(go_fd, JAIL_FD_INPUT) == -1)
		die("dup go");
	close_from(warm_child ? JAIL_FD_ARGS + 1 : JAIL_FD_INPUT + 1);
	while ((n = read(JAIL_FD_INPUT, &go, 1)) == -1 && errno == EINTR)
		;
	if (n != 1)
		_exit(0);	/* init ended without a run */
	/* A warm interpreter keeps the pipe: its run comes on it (warm_boot.py), /dev/null for stdin too. */
	if (launch->warm)
		exec_program(oldmask);
	close(JAIL_FD_INPUT);
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

pid_t
program_fork(const sigset_t *oldmask, int *go_w, int *ready_r)
{
	int go[2], ready[2] = { -1, -1 }, join_errno;
	pid_t pid;

	launch = mmap(NULL, sizeof(*launch), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (launch == MAP_FAILED)
		die("map the launch record");
	if (pipe2(go, O_CLOEXEC) == -1 || (ready_r && pipe2(ready, O_CLOEXEC) == -1))
		die("pipe");
	if ((pid = cg_run_fork(&run_cgroups, &join_errno)) == -1)
		die("fork program");
	if (pid == 0) {
		if (join_errno != 0) {
			errno = join_errno;
			die("join the run's cgroup");
		}
		close(go[1]);
		if (ready_r) {
			warm_child = true;
			close(ready[0]);
			if (dup2(ready[1], JAIL_FD_ARGS) == -1)
				die("dup ready");
		}
		program_wait(go[0], oldmask);
	}
	close(go[0]);
	if (ready_r) {
		close(ready[1]);
		*ready_r = ready[0];
	}
	*go_w = go[1];
	return pid;
}

void
program_go(int go_w)
{
	if (write(go_w, "G", 1) != 1)
		die("start the program");
	if (!launch->warm)
		close(go_w);
}

/* A warm interpreter (or a fork standby's program) started under its profile's CPU and address-space limits:
 * the run's own, from init (or the outer helper), before the run starts. Neither holds CAP_SYS_RESOURCE: they
 * may lower the limits of a process whose uids and gids are their real ones, so they take the run's as their
 * real ids for the call (nothing of the run's runs yet: its message comes after), then their own again. */
int
program_limit_warm(pid_t prog)
{
	rlim_t cpu = program_cpu_limit(args.timeout_ms), as = program_as_limit(args.memory_mb,
	    cg_run_has_memory(&run_cgroups));
	struct rlimit rl_cpu = { cpu, cpu + 1 }, rl_as = { as, as };
	uid_t ruid = getuid();
	gid_t rgid = getgid();
	int rc, saved;

	if (setresgid(run_gid, 0, 0) == -1 || setresuid(run_uid, 0, 0) == -1)
		die("take the run's ids");
	rc = prlimit(prog, RLIMIT_CPU, &rl_cpu, NULL) == -1 || prlimit(prog, RLIMIT_AS, &rl_as, NULL) == -1 ? -1 : 0;
	saved = errno;
	if (setresuid(ruid, 0, 0) == -1 || setresgid(rgid, 0, 0) == -1)
		die("back to root");
	errno = saved;
	return rc;
}

bool
program_ended(pid_t prog)
{
	siginfo_t si = { 0 };

	return waitid(P_PID, (id_t)prog, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == prog;
}

/* The warm interpreter's run: G (stdin holds the run's input) or N (it reads /dev/null), the program's
 * arguments each NUL-terminated, then EOF (warm_boot.py). Its main.py and files are in /work already. */
void
program_go_message(struct buf *msg, bool has_stdin)
{
	if (buf_append(msg, has_stdin ? "G" : "N", 1) == -1)
		die("the run's go message");
	for (int k = 0; k < args.nprog_args; k++)
		if (buf_append(msg, args.prog_args[k], strlen(args.prog_args[k]) + 1) == -1)
			die("the run's go message");
}

void
program_hand_over(int go_w, bool has_stdin)
{
	struct buf msg = { 0 };

	program_go_message(&msg, has_stdin);
	/* EPIPE: the interpreter is gone (dying as init looked), and nothing of the run has run: W, as for one
	 * found dead. */
	if (fd_write_all(go_w, msg.data, msg.len) == -1 && errno == EPIPE)
		fail_record(JAIL_FAIL_WARM_GONE, 0, "the warm interpreter ended as its run was handed over");
	close(go_w);
	buf_free(&msg);
}
