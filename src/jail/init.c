/* init.c: init, pid 1 of the run's pid namespace: sets the run up, starts the program, enforces its
 * deadline (and a build's environment limits), ends every process of the run, and reports. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "jail.h"
#include "netns.h"

static long
elapsed_us(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000000L + (b->tv_nsec - a->tv_nsec) / 1000;
}

/* The run's arguments, for init: a standby's come on JAIL_FD_ARGS now; a direct invocation's were checked
 * by the outer helper before it forked us. */
static void
init_take_args(bool standby)
{
	if (standby) {
		char **argv;
		int argc;

		if ((argc = args_read_standby(&argv)) == 0)
			_exit(INIT_EXIT_NO_RUN);
		args_take(argc, argv, true);
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
static int ctl_fd = -1;	/* run_init's */

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

/* Root through and through (only the outer helper keeps the caller's real uid, so that the worker may
 * signal it): the tools init runs (nft) refuse a real uid that differs from the effective one. */
static void
init_become(int alive_fd)
{
	struct pollfd pfd = { alive_fd, POLLIN, 0 };

	if (setresgid(0, 0, 0) == -1 || setresuid(0, 0, 0) == -1)
		die("become root for init");
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1)
		die("pdeathsig");
	/* getppid() is 0 across the pid namespace boundary; the outer helper's end of this pipe tells
	 * whether it died before PDEATHSIG was armed. */
	if (poll(&pfd, 1, 0) != 0)
		_exit(JAIL_EXIT_SETUP);
	close(alive_fd);
}

/* The pid namespace came with our fork; the rest are made here, so that the outer helper stays in the
 * host's (its network, for slirp4netns). */
static void
init_namespaces(void)
{
	if (unshare(CLONE_NEWNS | (sabotaged("net") ? 0 : CLONE_NEWNET) | (sabotaged("ipc") ? 0 : CLONE_NEWIPC) |
	    (sabotaged("uts") ? 0 : CLONE_NEWUTS)) == -1)
		die("unshare namespaces");
}

void
run_cgroup_limits(void)
{
	struct cg_run_limits l = {
		.memory_bytes = args.memory_mb << 20,
		.pids = lim.processes + 4,	/* a shell wrapper on top of the program's own */
		.cpu_milli = args.cpus_milli,
	};
	char why[200];

	if (sabotaged("memory"))
		l.memory_bytes = -1;
	if (sabotaged("pids"))
		l.pids = -1;
	if (sabotaged("cpu"))
		l.cpu_milli = -1;
	if (cg_run_limit(&run_cgroups, &l, why, sizeof(why)) == -1)
		die("%s", why);
}

/* Everything the program needs before it may start: its arguments, limits, network, root and input (a warm
 * standby's: its profile, and the interpreter's start in place of the input). */
static void
init_prepare(bool standby, bool warm)
{
	if (!warm)
		init_take_args(standby);
	run_cgroup_limits();
	program_configure(warm);
	if (args.net && !sabotaged("net") && !sabotaged("buildnet"))
		net_filter();	/* before the root: nft is the host's */
	root_open_env();
	root_build();
	root_enter();
	if (!sabotaged("uts") && sethostname("sandbox", 7) == -1)
		die("sethostname");
	if (!sabotaged("net"))
		root_loopback_up();
	if (args.net && !sabotaged("net"))
		net_wait_ready();
	close(ctl_fd);
	if (warm)
		files_write_warm_boot();
	else
		files_write_inputs();
}

/* A warm standby's run: its arguments (a plain run within the profile, as its own uid slot: the worker's),
 * its limits in place of the profile's, its files over the interpreter's start, then the message that
 * starts it. No run (EOF): the interpreter and init end. */
static void
init_warm_hand_over(int go_w, int ready_r, pid_t prog)
{
	struct jail_args profile = args;
	struct stat st;
	char **argv, c;
	int argc;
	ssize_t n;

	if ((argc = args_read_standby(&argv)) == 0) {
		close(go_w);
		kill(-1, SIGKILL);
		while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
			;
		_exit(INIT_EXIT_NO_RUN);
	}
	args_take_standby_run(argc, argv);
	prctl(PR_SET_NAME, "pysandbox-init", 0, 0, 0);
	if (!jail_args_within(&args, &profile)) {
		errno = EINVAL;
		die("a run beyond its warm standby's profile");
	}
	run_cgroup_limits();
	/* EOF: the interpreter is up and has read its boot file (warm_boot.py closed fd 5), so its own limits
	 * are set and main.py may be written over; only then lower the limits to the run's. */
	while ((n = read(ready_r, &c, 1)) > 0 || (n == -1 && errno == EINTR))
		;
	close(ready_r);
	/* EOF comes at its death too (killed while it waited, say): then nothing of the run is written, and
	 * the worker runs it cold. */
	if (program_ended(prog))
		fail_record(JAIL_FAIL_WARM_GONE, 0, "the warm interpreter had ended before its run");
	if (program_limit_warm(prog) == -1)
		die("the warm run's limits");
	files_write_inputs();
	program_hand_over(go_w, fstat(JAIL_FD_STDIN, &st) == 0 && !(S_ISREG(st.st_mode) && st.st_size == 0));
}

/* init holds nothing the program's readers wait on. */
static void
init_drop_stdio(void)
{
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (devnull == -1)
		die("open /dev/null");
	dup2(devnull, 0);
	dup2(devnull, 1);
	dup2(devnull, 2);
	close(devnull);
}

/* How the run ended and the program's wait status. */
struct ending {
	const char	*how;		/* exited, signaled, timeout, killed */
	int		 status;	/* -1: it was never reaped */
	struct timespec	 at;
	struct tree	 tree;		/* a build's environment, as last measured */
	char		 env_limit[200];	/* which limit it passed */
};

/* Once a second in a build: stop everything, measure the environment, go on; false past a limit. */
static bool
build_within_limits(struct ending *e)
{
	bool within;

	freeze_all();
	within = env_check(false, &e->tree, e->env_limit, sizeof(e->env_limit));
	if (!sabotaged("pid"))
		kill(-1, SIGCONT);
	return within;
}

/* Reap until the program exits, its deadline passes, a build passes a limit or the worker says stop. */
static void
init_wait(pid_t prog, const sigset_t *mask, const struct timespec *start, struct ending *e)
{
	struct timespec now, deadline = *start, next_measure = *start, wait;
	int status;
	pid_t p;

	deadline.tv_sec += args.timeout_ms / 1000;
	deadline.tv_nsec += (args.timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	e->how = "exited";
	for (;;) {
		long left, to_measure;
		int sig;

		while ((p = waitpid(-1, &status, WNOHANG)) > 0)
			if (p == prog)
				e->status = status;
		if (e->status != -1)
			return;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((left = elapsed_us(&now, &deadline)) <= 0) {
			e->how = "timeout";
			return;
		}
		if (args.build && (to_measure = elapsed_us(&now, &next_measure)) <= 0) {
			if (!build_within_limits(e)) {
				e->how = "killed";
				return;
			}
			next_measure = now;
			next_measure.tv_sec += ENV_MEASURE_MS / 1000;
			continue;
		}
		if (args.build && to_measure < left)
			left = to_measure;
		wait.tv_sec = left / 1000000;
		wait.tv_nsec = (left % 1000000) * 1000;
		sig = sigtimedwait(mask, NULL, &wait);
		if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
			e->how = "killed";
			return;
		}
	}
}

/* End everything else in the namespace, daemons included, and reap it. */
static void
init_end_all(pid_t prog, struct ending *e)
{
	int status;
	pid_t p;

	clock_gettime(CLOCK_MONOTONIC, &e->at);
	cg_run_unthrottle(&run_cgroups);
	/* (Without a pid namespace of its own, -1 would be every process of the host.) */
	kill(sabotaged("pid") ? -prog : -1, SIGKILL);
	while ((p = waitpid(-1, &status, 0)) > 0 || (p == -1 && errno == EINTR))
		if (p == prog && e->status == -1)
			e->status = status;
	if (strcmp(e->how, "exited") == 0 && WIFSIGNALED(e->status))
		e->how = "signaled";
}

/* The records after the run: a build's limit, the result, a build's size; then the files. */
static void
init_report(const struct timespec *start, struct ending *e)
{
	struct rusage ru;
	int st = e->status;

	/* Nothing of the build runs now: the last measure is exact, and a good build's tree is sealed. */
	if (args.build && e->env_limit[0] == '\0') {
		bool good = strcmp(e->how, "exited") == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;

		env_check(good, &e->tree, e->env_limit, sizeof(e->env_limit));
	}
	if (e->env_limit[0])
		status_write_check(jail_write_env_limit(JAIL_FD_STATUS, e->env_limit));
	getrusage(RUSAGE_CHILDREN, &ru);
	status_write_check(jail_write_result(JAIL_FD_STATUS, e->how,
	    st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1, st != -1 && WIFSIGNALED(st) ? WTERMSIG(st) : 0,
	    elapsed_us(start, &e->at), ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec,
	    ru.ru_stime.tv_sec * 1000000L + ru.ru_stime.tv_usec, ru.ru_maxrss));
	if (args.build)
		status_write_check(jail_write_env_size(JAIL_FD_STATUS, e->tree.bytes, e->tree.inodes));
	files_collect();
}

void
run_init(int alive_fd, int ctl, bool standby, bool warm)
{
	struct ending e = { .status = -1 };
	struct timespec start;
	sigset_t mask, oldmask;
	int go_w, ready_r = -1;
	pid_t prog;

	ctl_fd = ctl;
	init_become(alive_fd);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, &oldmask) == -1)
		die("block signals");
	signal(SIGPIPE, SIG_IGN);
	init_namespaces();
	/* The program's process first: in v1 its cgroup joins wait out their grace period while a standby
	 * waits for its request. */
	prog = program_fork(&oldmask, &go_w, warm ? &ready_r : NULL);
	/* ps tells a standby still waiting for its request from a run. */
	if (standby || warm)
		prctl(PR_SET_NAME, "pysandbox-idle", 0, 0, 0);
	init_prepare(standby, warm);
	if (warm) {
		program_go(go_w);	/* the interpreter starts on the profile, and waits */
		init_warm_hand_over(go_w, ready_r, prog);
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	if (!warm)
		program_go(go_w);
	init_drop_stdio();
	init_wait(prog, &mask, &start, &e);
	init_end_all(prog, &e);
	init_report(&start, &e);
	_exit(0);	/* the outer helper adds the cgroup's account and the end mark */
}
