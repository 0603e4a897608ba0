/* main.c: pysandbox-jail, the small privileged helper that runs one Python program in a fresh root, new
 * namespaces, cgroups, rlimits, seccomp and an unprivileged uid, then reports its outcome and files. This
 * is the outer helper: it stays in the host's namespaces and the pool's cgroup, waits for init and
 * removes the run's cgroups. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <unistd.h>

#include "jail.h"
#include "netns.h"

static volatile sig_atomic_t init_pid;

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
/* CAP_SYS_PTRACE serves only the fork path's check of a forked run (forkrun.c reads the run's processes' /proc,
 * which are not the jail's uid's): every other helper gives it up at once. (From its own sets, not from the
 * bounding set: slirp4netns, which it executes as root, opens init's network namespace with it.) */
static void
drop_ptrace(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data) == -1)
		die("drop CAP_SYS_PTRACE");
	data[CAP_TO_INDEX(CAP_SYS_PTRACE)].effective &= ~CAP_TO_MASK(CAP_SYS_PTRACE);
	data[CAP_TO_INDEX(CAP_SYS_PTRACE)].permitted &= ~CAP_TO_MASK(CAP_SYS_PTRACE);
	data[CAP_TO_INDEX(CAP_SYS_PTRACE)].inheritable &= ~CAP_TO_MASK(CAP_SYS_PTRACE);
	if (syscall(SYS_capset, &hdr, data) == -1)
		die("drop CAP_SYS_PTRACE");
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
	bool standby = argc == 2 && strcmp(argv[1], "standby") == 0, parsed, warm, args_fd, server, fork_standby;
	struct jail_args peek;
	char peek_why[64];
	pid_t child, p, slirp = -1;

	/* A warm standby's, a fork server's or a fork standby's verb, read by the pure parser (before any fd of ours
	 * is opened); args_take below refuses what it does not accept. */
	parsed = !standby && jail_args_parse(argc, argv, &peek, peek_why, sizeof(peek_why)) == SBX_OK;
	warm = parsed && peek.verb == JAIL_VERB_WARM;
	server = parsed && peek.verb == JAIL_VERB_FORKSERVER;
	fork_standby = parsed && peek.verb == JAIL_VERB_FORKSTANDBY;
	args_fd = standby || warm || fork_standby;

	/* The worker must hand us exactly fds 0-4 (0-5 to a standby, 0-2 to a fork server); refuse to run with
	 * fewer. */
	for (fd = 0; fd <= (server ? JAIL_FD_STDERR : JAIL_FD_LAST(args_fd)); fd++)
		if (fcntl(fd, F_GETFD) == -1)
			return JAIL_EXIT_SETUP;
	close_from(server ? JAIL_FD_STDERR + 1 : JAIL_FD_LAST(args_fd) + 1);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1)
		die("pdeathsig");
	outer_pid = getpid();
	caller_is_root = getuid() == 0;
	/* What the jail creates has the modes it names, whatever the caller's umask. */
	umask(022);
	/* A standby makes what costs time ahead of the request (its cgroups,
	 * init and the program's process); init then reads and checks the
	 * arguments. A direct invocation checks them first. */
	if (!standby)
		args_take(argc, argv, false);
	become_root();
	if (!args.fork && !fork_standby)
		drop_ptrace();
	if (server)
		forkserver_main();
	{
		char why[300];

		if (cg_run_create(&run_cgroups, (long)getpid(), why, sizeof(why)) == -1)
			die("%s", why);
	}
	if (args.fork || fork_standby)
		forkrun_main(fork_standby);

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
		run_init(alive[0], ctl[1], standby, warm);
	}
	init_pid = child;
	close(alive[0]);
	close(ctl[1]);

	/* Hold no end of the program's pipes, so the worker sees EOF when the run
	 * ends; keep only the status stream for the last records. */
	for (fd = 0; fd <= JAIL_FD_LAST(args_fd); fd++)
		if (fd != JAIL_FD_STATUS)
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
		close(JAIL_FD_STATUS);
		cg_run_remove(&run_cgroups);
		_exit(0);
	}
	{
		long oom, peak;

		if (cg_run_report(&run_cgroups, &oom, &peak))
			(void)jail_write_cgroup(JAIL_FD_STATUS, oom, peak);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		(void)jail_write_done(JAIL_FD_STATUS);
	close(JAIL_FD_STATUS);
	netns_slirp_stop(slirp, slirp_exit);
	cg_run_remove(&run_cgroups);
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : JAIL_EXIT_SETUP);
}
