/* forkserver.c: the forkserver verb: the fork server's root, namespaces, cgroup and listening socket, and the
 * server (fork_server.py) started in them without any privilege; this outer helper waits for it and removes
 * what it made. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jail.h"
#include "slots.h"

#define FORK_LISTEN_FD	3	/* the server's listening socket (fork_server.py's LISTEN_FD) */

#define FORK_PSS_EVERY_S	2

static volatile sig_atomic_t server_pid, stopping;
static char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

/* A failure of ours after the socket was bound, or our end: nobody will listen on it; and the directory when
 * no other server's socket is left in it (rmdir refuses one that is not empty). */
static void
remove_socket(void)
{
	unlink(socket_path);
	(void)rmdir(FORK_SOCKET_DIR);
}

/* "P <kB>\n": the server's proportional set size (its own pages, and its share of what its children still
 * share with it), from smaps_rollup. */
static void
report_pss(pid_t pid)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/smaps_rollup", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), f)) {
		long kb;

		if (sscanf(line, "Pss: %ld kB", &kb) == 1) {
			int n = snprintf(line, sizeof(line), "P %ld\n", kb);
			/* (non-blocking: a master that does not read it only misses figures) */
			ssize_t w = write(STDOUT_FILENO, line, (size_t)n);

			(void)w;
			break;
		}
	}
	fclose(f);
}

static void
stop_server(int sig)
{
	if (server_pid > 0)
		kill(server_pid, SIGKILL);	/* pid 1 of its namespace: every child it made goes with it */
	stopping = 1;
	(void)sig;
}

/* The socket, in a directory of root's alone (so that whoever connects reaches this server, and only the
 * jail, as root, can connect). A socket left by a server killed outright is replaced; a live one is not. */
static int
listen_socket(struct sockaddr_un *sa)
{
	struct stat st;
	int fd, rc, tries = 0;

	fork_socket_path(sa);
	if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) == -1)
		die("socket");
	/* (Again when another server's jail, ending, removed the directory between our mkdir and bind.) */
	do {
		if (mkdir(FORK_SOCKET_DIR, 0700) == -1 && errno != EEXIST)
			die("mkdir %s", FORK_SOCKET_DIR);
		if (lstat(FORK_SOCKET_DIR, &st) == -1 || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
		    (st.st_mode & 077) != 0) {
			errno = EPERM;
			die("%s is not a directory of root's alone", FORK_SOCKET_DIR);
		}
	} while ((rc = bind(fd, (struct sockaddr *)sa, sizeof(*sa))) == -1 && errno == ENOENT && ++tries < 5);
	if (rc == -1) {
		int in_use = errno == EADDRINUSE, probe;

		if (!in_use || (probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) == -1)
			die("bind %s", sa->sun_path);
		if (connect(probe, (struct sockaddr *)sa, sizeof(*sa)) == 0) {
			errno = EADDRINUSE;
			die("another fork server serves %s", conf.state_dir);
		}
		close(probe);
		if (unlink(sa->sun_path) == -1 || bind(fd, (struct sockaddr *)sa, sizeof(*sa)) == -1)
			die("bind %s", sa->sun_path);
	}
	if (listen(fd, 64) == -1)
		die("listen on %s", sa->sun_path);
	return fd;
}

/* Become the server: uid A with real uid B (each child takes B without a capability; the server, effective A,
 * is not its children's user namespaces' owner, though it could make itself so: its code is trusted,
 * SECURITY.md), no supplementary group, no capability in any set. */
static void
drop_to_server(void)
{
	program_become((uid_t)slot_uid(&conf, slot_fork_child(&conf)), (uid_t)slot_uid(&conf, slot_fork_server(&conf)),
	    (gid_t)slot_uid(&conf, slot_fork_child(&conf)), (gid_t)slot_uid(&conf, slot_fork_server(&conf)));
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1)
		die("pdeathsig");
}

/* pid 1 of the server's pid namespace: its other namespaces and root, then the interpreter. */
static void __attribute__((noreturn))
server_start(int listen_fd)
{
	char *argv[] = { conf.python, "-E", "-s", "-u", "main.py", NULL };

	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1)
		die("pdeathsig");
	if (unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) == -1)
		die("unshare namespaces");
	root_for_fork_server = true;
	root_build();
	root_enter();
	if (sethostname("sandbox", 7) == -1)
		die("sethostname");
	/* (dup2 onto itself would keep close-on-exec) */
	if ((listen_fd != FORK_LISTEN_FD && dup2(listen_fd, FORK_LISTEN_FD) == -1) ||
	    fcntl(FORK_LISTEN_FD, F_SETFD, 0) == -1)
		die("dup the listening socket");
	close_from(FORK_LISTEN_FD + 1);
	if (chdir("/work") == -1)
		die("chdir /work");
	drop_to_server();
	/* Its own filter (it cannot reach into its children through ptrace, process_vm_*, pidfd_getfd, setns or
	 * kcmp, whatever uid it takes), which each child keeps under the run's. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		die("no_new_privs");
	if (!sabotaged("forkserver"))
		seccomp_policy_load(true);
	prctl(PR_SET_NAME, "pysandbox-fork", 0, 0, 0);
	execve(conf.python, argv, program_run_envp);
	die("exec %s", conf.python);
}

void
forkserver_main(void)
{
	/* (its children until each is moved into its run's: every fork standby's and run's at once, at most) */
	struct cg_run_limits l = { .pids = 2L * (conf_workers(&conf) + slots_run_workers(&conf)) + 16, .cpu_milli = -1 };
	struct sockaddr_un sa;
	struct sigaction act;
	char why[300];
	int listen_fd, status = 0, join_errno;
	pid_t pid, master = getppid();	/* (main armed a SIGKILL for its end until here) */

	/* Its failure records (and its server's, before it runs) go to the master's log: no worker reads them. */
	if (dup2(STDERR_FILENO, JAIL_FD_STATUS) == -1)
		_exit(JAIL_EXIT_SETUP);
	if (!conf.fork_server)
		refuse("fork_server is off in the configuration");
	/* The server's root is a run's (its programs cover /proc, /work, /tmp and /dev/shm); its cgroup holds it and
	 * the children not yet moved into their runs': at most one run's memory, a few processes per run slot. */
	limit_from_conf(&conf, LIMIT_RUN, &lim);
	l.memory_bytes = (long)lim.max_memory_mb << 20;
	listen_fd = listen_socket(&sa);
	snprintf(socket_path, sizeof(socket_path), "%s", sa.sun_path);
	fail_cleanup = remove_socket;
	if (cg_run_create(&run_cgroups, (long)getpid(), why, sizeof(why)) == -1 ||
	    cg_run_limit(&run_cgroups, &l, why, sizeof(why)) == -1)
		die("%s", why);
	memset(&act, 0, sizeof(act));
	act.sa_handler = stop_server;
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	sigaction(SIGHUP, &act, NULL);
	/* The master's end is ours too, but by SIGTERM: the socket and the cgroup go with us. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) == -1)
		die("pdeathsig");
	if (getppid() != master)
		die("the master is gone");
	if (unshare(CLONE_NEWPID) == -1)
		die("unshare the pid namespace");
	if ((pid = cg_run_fork(&run_cgroups, &join_errno)) == -1)
		die("fork the server");
	if (pid == 0) {
		if (join_errno != 0) {
			errno = join_errno;
			die("join the server's cgroup");
		}
		server_start(listen_fd);
	}
	server_pid = pid;
	if (stopping)
		kill(pid, SIGKILL);	/* (stopped before its pid was known) */
	close(listen_fd);
	/* Until it ends: its memory for the master (which cannot read it: the server is not its uid), on fd 1. */
	signal(SIGPIPE, SIG_IGN);
	(void)fcntl(STDOUT_FILENO, F_SETFL, O_NONBLOCK);
	for (;;) {
		struct timespec pause = { FORK_PSS_EVERY_S, 0 };
		pid_t w = waitpid(pid, &status, stopping ? 0 : WNOHANG);

		if (w == pid || (w == -1 && errno != EINTR))
			break;
		/* (a signal ends the pause early: stop_server has killed the server, and the next wait blocks) */
		if (w == 0 && nanosleep(&pause, NULL) == 0)
			report_pss(pid);
	}
	remove_socket();
	cg_run_remove(&run_cgroups);
	/* (The master logs our end; say the server's, unless it was ours to stop.) */
	if (!stopping && WIFSIGNALED(status))
		fprintf(stderr, "pysandbox-jail: the fork server was killed by signal %d\n", WTERMSIG(status));
	_exit(stopping ? 0 : WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}
