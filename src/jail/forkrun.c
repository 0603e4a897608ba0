/* forkrun.c: a run forked from the fork server: the outer helper asks the server for a child, writes its user
 * namespace's maps, moves it into the run's cgroups, checks the jailed program before any byte of the run's
 * reaches it, writes the run's files, says go, keeps the deadline and reports (fork_server.py is the other side). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <linux/magic.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "jail.h"
#include "slots.h"

#define FORK_CHILD_MS	2000	/* the server's child, from the request to its user namespace */
#define FORK_SETUP_MS	5000	/* from the request to the program waiting for go */
#define FORK_END_MS	5000	/* the run's processes, once killed */
#define FORK_REPORT_MS	2000	/* init's report, once the jail has stopped the run */
#define FORK_SERVER_END_MS	1000	/* a killed server's end, once its namespace's processes are dying */

static int conn = -1, alive_w = -1;
static int pidfd_child = -1, pidfd_init = -1, pidfd_server = -1;
static pid_t server_outer;	/* the root helper that listens (forkserver.c): the server's parent */
static pid_t server;		/* the server, its child: the parent of the child, and then of the run's init */
static ino_t conn_peer;		/* the inode of the server's end of conn, which the run's processes hold */

static int
pidfd_open_pid(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static void
pidfd_kill(int pidfd)
{
	if (pidfd != -1)
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
}

/* Whether the process of pidfd has ended, waiting up to ms for it. */
static bool
pidfd_ended(int pidfd, int ms)
{
	struct pollfd p = { pidfd, POLLIN, 0 };
	int rc;

	while ((rc = poll(&p, 1, ms)) == -1 && errno == EINTR)
		;
	return rc == 1;
}

/* End what the server made for this run: its init (whose end the kernel makes every process of the run's pid
 * namespace's first) and the child that forked it (which leaves at once, but may not have). Whether both
 * ended. */
static bool
fork_end(void)
{
	bool ended = true;

	/* (a process throttled at a tiny CPU quota needs CPU time to die, init too) */
	cg_run_unthrottle(&run_cgroups);
	if (alive_w != -1)
		close(alive_w);
	alive_w = -1;
	pidfd_kill(pidfd_init);
	pidfd_kill(pidfd_child);
	if (pidfd_init != -1)
		ended = pidfd_ended(pidfd_init, FORK_END_MS);
	if (pidfd_child != -1)
		ended = pidfd_ended(pidfd_child, FORK_END_MS) && ended;
	return ended;
}

/* On any failure: the same, so that the run's cgroups can go. */
static void
fork_abandon(void)
{
	(void)fork_end();
}

/* Nothing of the run ran, and the fork path could not take it: the worker runs it cold. */
static void __attribute__((noreturn, format(printf, 1, 2)))
fork_unavailable(const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fail_record(JAIL_FAIL_WARM_GONE, 0, "the fork server could not take the run: %s", msg);
}

/* A step before go failed: when the server's side went away (the server killed, restarting), nothing of the run
 * ran and the worker runs it cold (W); anything else is the sandbox's failure (E). */
static void __attribute__((noreturn))
fork_lost(const char *what)
{
	int saved = errno;

	if (saved == EPIPE || saved == ECONNRESET || saved == ETIMEDOUT || saved == ESRCH ||
	    (pidfd_server != -1 && pidfd_ended(pidfd_server, FORK_SERVER_END_MS)))
		fork_unavailable("%s: the server's child is gone", what);
	errno = saved;
	die("%s", what);
}

/* Milliseconds left until deadline (CLOCK_MONOTONIC), at least 0. */
static int
ms_left(const struct timespec *deadline)
{
	struct timespec now;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	/* (rounded up: poll must not wake before the deadline) */
	ms = (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec + 999999) / 1000000;
	return ms < 0 ? 0 : ms > 86400000L ? 86400000 : (int)ms;
}

static struct timespec
after_ms(long ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/* One message from the server's side, with who sent it (the kernel's SO_PASSCRED) and at most one descriptor.
 * 0: the message; -1: the connection ended or the deadline passed (errno). */
static ssize_t
recv_msg(char *msg, size_t len, struct ucred *who, int *fd, const struct timespec *deadline)
{
	union {
		struct cmsghdr	align;
		char		buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 4)];
	} control;
	struct iovec iov = { msg, len - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
	    .msg_controllen = sizeof(control.buf) };
	struct pollfd p = { conn, POLLIN, 0 };
	ssize_t n;
	int rc;

	if (fd)
		*fd = -1;
	who->pid = 0;
	while ((rc = poll(&p, 1, ms_left(deadline))) == -1 && errno == EINTR)
		;
	if (rc == 0)
		errno = ETIMEDOUT;
	if (rc <= 0)
		return -1;
	while ((n = recvmsg(conn, &mh, MSG_CMSG_CLOEXEC)) == -1 && errno == EINTR)
		;
	if (n <= 0) {
		errno = n == 0 ? EPIPE : errno;
		return -1;
	}
	msg[n] = '\0';
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET)
			continue;
		if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len == CMSG_LEN(sizeof(struct ucred)))
			memcpy(who, CMSG_DATA(c), sizeof(*who));
		else if (c->cmsg_type == SCM_RIGHTS) {
			size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			int got[4];

			memcpy(got, CMSG_DATA(c), (nfds > 4 ? 4 : nfds) * sizeof(int));
			for (size_t i = 0; i < nfds && i < 4; i++) {
				if (fd && *fd == -1 && i == 0)
					*fd = got[i];
				else
					close(got[i]);
			}
		}
	}
	if ((mh.msg_flags & MSG_CTRUNC) || who->pid == 0) {
		if (fd && *fd != -1)
			close(*fd);
		errno = EPROTO;
		return -1;
	}
	return n;
}

/* Whether the directory dirfd holds nothing (its names are what the jail writes next). */
static bool
dir_empty(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	bool empty = true;
	DIR *d;

	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return false;
	}
	while (empty && (de = readdir(d)) != NULL)
		empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
	closedir(d);
	return empty;
}

/* A field of /proc/PID/status ("Uid:" ...), its value after the tab; false if absent. */
static bool
status_field(pid_t pid, const char *key, char *out, size_t outlen)
{
	char path[64], line[512];
	size_t klen = strlen(key);
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			char *v = line + klen + 1;

			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			snprintf(out, outlen, "%s", v);
			found = true;
		}
	fclose(f);
	return found;
}

/* NSpid's depth (how many pid namespaces, from ours down) and the pid in the innermost one. */
static int
ns_depth(pid_t pid, long *innermost)
{
	char v[256], *save = NULL;
	int depth = 0;

	if (!status_field(pid, "NSpid", v, sizeof(v)))
		return -1;
	for (char *t = strtok_r(v, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		*innermost = strtol(t, NULL, 10);
		depth++;
	}
	return depth;
}

static long
parent_of(pid_t pid)
{
	char v[32];

	return status_field(pid, "PPid", v, sizeof(v)) ? strtol(v, NULL, 10) : -1;
}

/* Whether the four ids of a Uid: or Gid: line are all id. */
static bool
ids_all(pid_t pid, const char *key, long id)
{
	char v[128], want[128];

	snprintf(want, sizeof(want), "%ld\t%ld\t%ld\t%ld", id, id, id, id);
	return status_field(pid, key, v, sizeof(v)) && strcmp(v, want) == 0;
}

static bool
field_is(pid_t pid, const char *key, const char *want)
{
	char v[128];

	return status_field(pid, key, v, sizeof(v)) && strcmp(v, want) == 0;
}

/* Whether a's namespace of kind is b's: 1, 0, or -1 when either cannot be read. */
static int
ns_same(pid_t a, pid_t b, const char *kind)
{
	char pa[64], pb[64];
	struct stat sa, sb;

	snprintf(pa, sizeof(pa), "/proc/%ld/ns/%s", (long)a, kind);
	snprintf(pb, sizeof(pb), "/proc/%ld/ns/%s", (long)b, kind);
	if (stat(pa, &sa) == -1 || stat(pb, &sb) == -1)
		return -1;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static bool
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* The inode of the socket at the other end of the connected unix socket fd (sock_diag's UNIX_DIAG_PEER), or 0. */
static ino_t
unix_peer_inode(int fd)
{
	struct {
		struct nlmsghdr		nlh;
		struct unix_diag_req	req;
	} q;
	union {
		struct nlmsghdr	nlh;
		char		buf[8192];
	} answer;
	struct stat st;
	ino_t peer = 0;
	ssize_t n;
	int nl;

	if (fstat(fd, &st) == -1 || (nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG)) == -1)
		return 0;
	memset(&q, 0, sizeof(q));
	q.nlh.nlmsg_len = sizeof(q);
	q.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	q.nlh.nlmsg_flags = NLM_F_REQUEST;
	q.req.sdiag_family = AF_UNIX;
	q.req.udiag_states = ~0U;
	q.req.udiag_ino = (__u32)st.st_ino;
	q.req.udiag_show = UDIAG_SHOW_PEER;
	q.req.udiag_cookie[0] = q.req.udiag_cookie[1] = ~0U;	/* (INET_DIAG_NOCOOKIE: look it up by inode alone) */
	if (send(nl, &q, sizeof(q), 0) == (ssize_t)sizeof(q) && (n = recv(nl, &answer, sizeof(answer), 0)) > 0) {
		struct nlmsghdr *h = &answer.nlh;

		if (NLMSG_OK(h, (size_t)n) && h->nlmsg_type == SOCK_DIAG_BY_FAMILY &&
		    h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct unix_diag_msg))) {
			struct unix_diag_msg *m = NLMSG_DATA(h);
			int left = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*m)));

			for (struct rtattr *a = (struct rtattr *)(m + 1); m->udiag_ino == st.st_ino && RTA_OK(a, left);
			    a = RTA_NEXT(a, left))
				if (a->rta_type == UNIX_DIAG_PEER && RTA_PAYLOAD(a) >= (int)sizeof(__u32))
					peer = *(__u32 *)RTA_DATA(a);
		}
	}
	close(nl);
	return peer;
}

/* What a process of the run may hold open when the jail checks it: the run's stdio on 0-2 (the jail's own),
 * and at most: its connection to the jail (conn's other end), the run's /work, the alive pipe's read end,
 * pidfds. */
struct fd_allowance {
	int sockets, pidfds;
	bool work, alive;
};

/* Whether pid holds nothing open beyond allow (no pipe, socket, memory file or directory of the server's). */
static bool
fds_within(pid_t pid, int workfd, struct fd_allowance allow)
{
	char path[320], link[64];
	struct stat st, mine;
	struct dirent *de;
	bool ok = true;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	if ((d = opendir(path)) == NULL)
		return false;
	while (ok && (de = readdir(d)) != NULL) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/fd/%s", (long)pid, de->d_name);
		if (*end != '\0' || stat(path, &st) == -1 || (n = readlink(path, link, sizeof(link) - 1)) == -1) {
			ok = false;
			break;
		}
		link[n] = '\0';
		if (fd >= JAIL_FD_STDIN && fd <= JAIL_FD_STDERR)
			ok = fstat((int)fd, &mine) == 0 && same_file(&st, &mine);
		else if (S_ISSOCK(st.st_mode))
			ok = st.st_ino == conn_peer && allow.sockets-- > 0;	/* (the server's end of conn, and no other) */
		else if (S_ISDIR(st.st_mode) && allow.work)
			ok = fstat(workfd, &mine) == 0 && same_file(&st, &mine), allow.work = false;
		else if (S_ISFIFO(st.st_mode) && allow.alive)
			ok = fstat(alive_w, &mine) == 0 && same_file(&st, &mine), allow.alive = false;
		else
			ok = (strcmp(link, "anon_inode:[pidfd]") == 0 || strncmp(link, "pidfd:", 6) == 0) &&
			    allow.pidfds-- > 0;
	}
	closedir(d);
	return ok;
}

/* Whether pid maps nothing that writes through to another process: no VM_SHARED mapping (anonymous shared
 * memory, or a file opened for writing, made before the fork, would be the server's too). A file opened read-only
 * may be mapped shared (glibc's gconv cache is): nothing written in the run reaches it. */
static bool
maps_private(pid_t pid)
{
	char path[64], line[512];
	bool ok = true, bol = true;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/smaps", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return false;
	while (ok && fgets(line, sizeof(line), f)) {
		/* (a line's start only: a long path goes on in the next read) */
		if (bol && strncmp(line, "VmFlags:", 8) == 0) {
			char *save = NULL;

			for (char *t = strtok_r(line + 8, " \n", &save); ok && t; t = strtok_r(NULL, " \n", &save))
				ok = strcmp(t, "sh") != 0;
			bol = true;
			continue;
		}
		bol = strchr(line, '\n') != NULL;
	}
	fclose(f);
	return ok;
}

/* What both processes of the run show: no_new_privs, the server's seccomp filter and one of their own,
 * namespaces none of which is the server's (and the program's are its init's), nothing shared mapped. */
static const char *
check_run_process(pid_t pid, pid_t prog)
{
	static const char *const kinds[] = { "user", "mnt", "pid", "net", "ipc", "uts" };
	char v[32];

	if (!field_is(pid, "NoNewPrivs", "1"))
		return "no no_new_privs";
	if (!field_is(pid, "Seccomp", "2") || (status_field(pid, "Seccomp_filters", v, sizeof(v)) && strcmp(v, "2") != 0))
		return "not the server's seccomp filter and one of its own";
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (ns_same(pid, server, kinds[i]) != 0 || ns_same(pid, prog, kinds[i]) != 1)
			return "a namespace not the run's own";
	if (!maps_private(pid))
		return "a shared mapping";
	return NULL;
}

/*
 * The jail's own check of what the server's code did (it ran in an interpreter, not in the jail), which fails
 * the run closed: the child the server made has left; the program is pid 2 of a pid namespace two below ours,
 * its parent pid 1 there (the run's init, whose parent is the server now); the program holds the run's uid and
 * gid and nothing else, no capability in any set, and init its uid B and CAP_KILL alone (in the run's user
 * namespace); both have no_new_privs, one seccomp filter, namespaces of their own, nothing shared mapped and
 * nothing open but the run's stdio and their connection (init: the alive pipe, a pidfd; the program: its /work);
 * the run's cgroups, and an empty /work of its own. Why not, or NULL.
 */
static const char *
check_program(pid_t prog, int workfd, int own_depth)
{
	static const char *const caps[] = { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" };
	static const char *const init_caps[] = { "0000000000000000", "0000000000000020", "0000000000000020",
	    "0000000000000000", "0000000000000000" };
	struct fd_allowance prog_fds = { .sockets = 1, .work = true }, init_fds = { .sockets = 1, .pidfds = 1, .alive = true };
	char path[64], cg[512];
	const char *why;
	struct statfs sfs;
	struct stat st;
	long inner;
	pid_t init;
	FILE *f;
	bool in_cgroup = false;

	if (sabotaged("forkcheck"))
		return NULL;
	if (!pidfd_ended(pidfd_child, FORK_CHILD_MS))
		return "the server's child did not leave";
	if (ns_depth(prog, &inner) != own_depth + 2 || inner != 2)
		return "the program is not pid 2 of a pid namespace of its own";
	init = (pid_t)parent_of(prog);
	if (init <= 0 || ns_depth(init, &inner) != own_depth + 2 || inner != 1 || parent_of(init) != server)
		return "the program's parent is not the run's init under the server";
	if (!ids_all(prog, "Uid", (long)run_uid) || !ids_all(prog, "Gid", (long)run_gid) || !field_is(prog, "Groups", ""))
		return "the program does not hold the run's uid and gid alone";
	if (!ids_all(init, "Uid", (long)slot_uid(&conf, slot_fork_child(&conf))) || !field_is(init, "Groups", ""))
		return "the run's init does not hold the server's children's uid alone";
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		if (!field_is(prog, caps[i], "0000000000000000"))
			return "the program holds a capability";
		if (!field_is(init, caps[i], init_caps[i]))
			return "the run's init holds another capability than CAP_KILL";
	}
	if ((why = check_run_process(prog, prog)) != NULL || (why = check_run_process(init, prog)) != NULL)
		return why;
	if (!fds_within(prog, workfd, prog_fds) || !fds_within(init, workfd, init_fds))
		return "a process of the run holds a file that is not the run's";
	snprintf(path, sizeof(path), "/proc/%ld/cgroup", (long)prog);
	if ((f = fopen(path, "re")) == NULL)
		return "the program's cgroups cannot be read";
	while (fgets(cg, sizeof(cg), f)) {
		char *slash = strrchr(cg, '/');

		cg[strcspn(cg, "\n")] = '\0';
		if (run_cgroups.kind == CG_NONE || (slash && strcmp(slash + 1, run_cgroups.name) == 0))
			in_cgroup = true;
	}
	fclose(f);
	if (!in_cgroup)
		return "the program is not in the run's cgroups";
	if (fstatfs(workfd, &sfs) == -1 || sfs.f_type != TMPFS_MAGIC || fstat(workfd, &st) == -1 ||
	    !S_ISDIR(st.st_mode) || st.st_uid != run_uid || (st.st_mode & 07777) != 0700 || !dir_empty(workfd))
		return "the program's /work is not an empty tmpfs of the run's";
	return NULL;
}

/* The fork server's socket: in a directory of root's alone, named by the service's state directory (one server
 * per service; services on one host may share a uid pool, never a state directory). */
void
fork_socket_path(struct sockaddr_un *sa)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (const char *p = conf.state_dir; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	snprintf(sa->sun_path, sizeof(sa->sun_path), FORK_SOCKET_DIR "/fork-%016llx.sock", (unsigned long long)h);
}

/* Connect and hand the server the run's stdio and the alive pipe's read end. */
static void
fork_request(void)
{
	struct sockaddr_un sa;
	struct ucred peer;
	socklen_t plen = sizeof(peer);
	int one = 1, alive[2], fds[4];
	union {
		struct cmsghdr	align;
		char		buf[CMSG_SPACE(sizeof(fds))];
	} control;
	struct iovec iov = { "F", 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
	    .msg_controllen = sizeof(control.buf) };
	struct cmsghdr *c;

	fork_socket_path(&sa);
	if ((conn = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(conn, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) == -1)
		die("fork server socket");
	if (connect(conn, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		fork_unavailable("connect %s: %s", sa.sun_path, strerror(errno));
	/* The listener is the root helper that started the server (only root can bind there). */
	if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &peer, &plen) == -1 || peer.uid != 0)
		fork_unavailable("the socket's owner is not root");

	if (pipe2(alive, O_CLOEXEC) == -1)
		die("pipe");
	alive_w = alive[1];
	fds[0] = JAIL_FD_STDIN;
	fds[1] = JAIL_FD_STDOUT;
	fds[2] = JAIL_FD_STDERR;
	fds[3] = alive[0];
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	if (sendmsg(conn, &mh, MSG_NOSIGNAL) != 1)
		fork_unavailable("send the request: %s", strerror(errno));
	close(alive[0]);
	server_outer = peer.pid;
}

/* The child's user namespace: the run's uid and gid alone (only a root helper may map another uid than its
 * own), no setgroups. */
static void
fork_map_child(pid_t child)
{
	char path[64], map[64];
	static const char *const files[] = { "setgroups", "uid_map", "gid_map" };

	for (size_t i = 0; i < 3; i++) {
		int fd;

		snprintf(path, sizeof(path), "/proc/%ld/%s", (long)child, files[i]);
		if (i == 0)
			snprintf(map, sizeof(map), "deny");
		else
			snprintf(map, sizeof(map), "%lu %lu 1\n", i == 1 ? (unsigned long)run_uid : (unsigned long)run_gid,
			    i == 1 ? (unsigned long)run_uid : (unsigned long)run_gid);
		if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1 || write(fd, map, strlen(map)) != (ssize_t)strlen(map))
			fork_lost("write the child's user namespace maps");
		close(fd);
	}
}

/* The program's parameters, then the seccomp filter (the jail's one policy, as BPF), then its environment. */
static void
fork_send_params(void)
{
	/* Test-only: a child that keeps what the check must find (fork_server.py's misbehave; make sabotage) */
	static const char *const misbehave[] = { "forkshare", "forkfd", "forksock", "forkcaps", "forkstay" };
	struct buf bpf = { 0 }, env = { 0 };
	const char *bad = "";
	char msg[256];
	int n;

	for (size_t i = 0; i < sizeof(misbehave) / sizeof(misbehave[0]); i++)
		if (sabotaged(misbehave[i]))
			bad = misbehave[i];
	n = snprintf(msg, sizeof(msg), "M %lu %lu %ld %ld %ld %ld %ld %ld %ld%s%s", (unsigned long)run_uid,
	    (unsigned long)run_gid, (long)lim.workdir_mb, (long)lim.tmp_mb, (long)program_cpu_limit(args.timeout_ms),
	    (long)program_as_limit(args.memory_mb, cg_run_has_memory(&run_cgroups)), lim.file_size,
	    (long)lim.open_files, (long)lim.processes, *bad ? " " : "", bad);
	seccomp_policy_export(&bpf);
	/* Test-only: a child that skips its filter, which the check must catch (forkseccomp), or which nothing
	 * checks (forkcheck: the hostile tests must). */
	if (sabotaged("forkseccomp") || sabotaged("forkcheck"))
		bpf.len = 8;	/* one instruction, which the program takes for "none" (fork_server.py) */
	for (char **e = program_run_envp; *e; e++)
		if (buf_append(&env, *e, strlen(*e) + 1) == -1)
			die("the run's environment");
	if (send(conn, msg, (size_t)n, MSG_NOSIGNAL) != n || send(conn, bpf.data, bpf.len, MSG_NOSIGNAL) != (ssize_t)bpf.len ||
	    send(conn, env.data, env.len, MSG_NOSIGNAL) != (ssize_t)env.len)
		fork_lost("send the child its parameters");
	buf_free(&bpf);
	buf_free(&env);
}

/* The go message (run_main.py's, as a warm interpreter's): once the program has its files, it runs. */
static void
fork_go(bool has_stdin)
{
	struct buf msg = { 0 };

	program_go_message(&msg, has_stdin);
	if (send(conn, msg.data, msg.len, MSG_NOSIGNAL) != (ssize_t)msg.len)
		fork_lost("send the go message");
	buf_free(&msg);
}

/* A fork standby's run: its argv on JAIL_FD_ARGS (EOF alone: none; the child and the cgroups go), a run with
 * --fork within the profile the program jailed itself by (its slot, no more than its limits); its own limits in
 * place of the profile's, the cgroup's and the program's CPU and address-space ones. */
static void
fork_take_run(pid_t prog)
{
	struct jail_args profile = args, within;
	char **argv;
	int argc;

	if ((argc = args_read_standby(&argv)) == 0) {
		fork_abandon();
		close(JAIL_FD_STATUS);
		cg_run_remove(&run_cgroups);
		_exit(0);
	}
	args_take_standby_run(argc, argv);
	within = args;
	within.fork = false;	/* (what the profile's check asks of any plain run) */
	if (!args.fork || !jail_args_within(&within, &profile)) {
		errno = EINVAL;
		die("a run beyond its fork standby's profile");
	}
	/* The run's init may have gone with its server while the standby waited: then nothing of the run ran. */
	if (pidfd_ended(pidfd_init, 0) || pidfd_ended(pidfd_server, 0))
		fork_unavailable("the fork server had ended before its run");
	run_cgroup_limits();
	if (program_limit_warm(prog) == -1)
		fork_lost("the run's limits");
}

void
forkrun_main(bool standby)
{
	struct timespec child_by = after_ms(FORK_CHILD_MS), setup, start, end, deadline;
	struct ucred who;
	char msg[512];
	const char *why, *how = "exited";
	long own_inner, status = -1, utime = 0, stime = 0, maxrss = 0;
	pid_t child, init;
	int own_depth = ns_depth(getpid(), &own_inner), workfd, sfd;
	bool has_stdin;
	struct stat st;
	sigset_t mask;

	fail_cleanup = fork_abandon;
	/* The worker's SIGTERM (output past its cap) ends the run as a kill; read it as an event. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1 || (sfd = signalfd(-1, &mask, SFD_CLOEXEC)) == -1)
		die("signalfd");
	fork_request();
	/* The child, once it has its user namespace: the kernel says who it is (pid and uid, in ours). */
	if (recv_msg(msg, sizeof(msg), &who, NULL, &child_by) == -1 || strcmp(msg, "U") != 0)
		fork_unavailable("no child: %s", strerror(errno));
	child = who.pid;
	/* The server's end of conn, accepted by now (an embryo has no inode). Without sock_diag the check could
	 * not tell it from another socket of the server's: cold. */
	if ((conn_peer = unix_peer_inode(conn)) == 0)
		fork_unavailable("sock_diag does not name the server's end of the connection");
	/* (Its uid again once the pidfd holds it: the pid cannot have been reused by another than a child.) */
	if (who.uid != (uid_t)slot_uid(&conf, slot_fork_child(&conf)) || (pidfd_child = pidfd_open_pid(child)) == -1)
		die("the fork server's child is not the server's");
	server = (pid_t)parent_of(child);
	if (server <= 0 || (pidfd_server = pidfd_open_pid(server)) == -1 || parent_of(server) != server_outer ||
	    parent_of(child) != server || !ids_all(child, "Uid", (long)who.uid))
		fork_lost("the fork server's child is not the server's");
	/* (A server without its own filter is not one this jail started as it starts them: cold, and said.) */
	if (!field_is(server, "Seccomp", "2"))
		fork_unavailable("the fork server holds no seccomp filter");
	/* Into the run's cgroups first: with cgroup v1 a move waits out an RCU grace period (some 10 ms), which a
	 * standby spends before its run comes. */
	if (cg_run_attach(&run_cgroups, child) == -1)
		fork_lost("move the child into the run's cgroups");
	setup = after_ms(FORK_SETUP_MS);
	run_cgroup_limits();	/* (a standby's: its profile's until its run) */
	fork_map_child(child);
	fork_send_params();
	/* The program, jailed, with its /work. */
	if (recv_msg(msg, sizeof(msg), &who, &workfd, &setup) == -1)
		fork_lost("the fork server's child did not become the program");
	if (strcmp(msg, "P") != 0 || workfd == -1) {
		errno = EPROTO;
		die("the fork server's child did not become the program");
	}
	/* A failed check is the sandbox's failure whatever the child does next (one that exits must not turn it
	 * into a quiet cold run). */
	if ((why = who.uid != run_uid ? "not the run's uid" : check_program(who.pid, workfd, own_depth)) != NULL) {
		/* (A server killed meanwhile takes the run's pid namespace, and its /proc with it: nothing ran.) */
		/* (The server's end follows its pid namespace's: give it a moment to show.) */
		if (pidfd_ended(pidfd_server, FORK_SERVER_END_MS))
			fork_unavailable("the server ended while the jail checked its program (%s)", why);
		errno = EPERM;
		die("the fork server's program failed the jail's check: %s", why);
	}
	init = (pid_t)parent_of(who.pid);
	if ((pidfd_init = pidfd_open_pid(init)) == -1 || parent_of(init) != server)
		fork_lost("pidfd of the run's init");
	/* A standby has all it can do ahead done: the program waits for go as its profile's slot. */
	if (standby)
		fork_take_run(who.pid);
	has_stdin = fstat(JAIL_FD_STDIN, &st) == 0 && !(S_ISREG(st.st_mode) && st.st_size == 0);
	/* Still empty (a standby's program has waited since the check; nothing of the jail's may follow a link it
	 * planted). Its tmpfs belongs to its user namespace, where only the run's ids are mapped: create as the
	 * run. */
	if (!dir_empty(workfd)) {
		errno = EEXIST;
		die("the fork server's program wrote into its /work before its run");
	}
	setfsgid(run_gid);
	setfsuid(run_uid);
	files_set_work(workfd);
	files_write_inputs();
	setfsuid(0);
	setfsgid(0);
	/* Hold no end of the program's pipes, so the worker sees EOF when the run ends. */
	close(JAIL_FD_STDIN);
	close(JAIL_FD_STDOUT);
	close(JAIL_FD_STDERR);
	fork_go(has_stdin);
	clock_gettime(CLOCK_MONOTONIC, &start);
	deadline = after_ms(args.timeout_ms);
	for (;;) {
		struct pollfd p[2] = { { conn, POLLIN, 0 }, { sfd, POLLIN, 0 } };
		int rc = poll(p, 2, ms_left(&deadline));

		if ((rc == -1 && errno == EINTR) || (rc == 0 && ms_left(&deadline) > 0))
			continue;
		if (rc == -1)
			die("poll");
		if (rc == 0 || p[1].revents) {
			how = rc == 0 ? "timeout" : "killed";
			break;
		}
		if (p[0].revents)
			break;
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	/* Stopped by us: init ends every process of the run and still reports (unthrottled, as the cold path's
	 * init ends its run). */
	if (strcmp(how, "exited") != 0) {
		cg_run_unthrottle(&run_cgroups);
		close(alive_w);
		alive_w = -1;
	}
	setup = after_ms(FORK_REPORT_MS);
	if (recv_msg(msg, sizeof(msg), &who, NULL, &setup) == -1) {
		/* Its init ended without a word: killed from outside the run (its fork server ended, taking its
		 * pid namespace, or the run's memory cgroup chose it): the run was killed, with what it had done. */
		/* (its files close before it has ended: wait for that) */
		if ((errno != EPIPE && errno != ECONNRESET) || !pidfd_ended(pidfd_init, FORK_END_MS))
			die("the run's init did not report");
		status = SIGKILL;	/* (a wait status: killed by SIGKILL) */
		if (strcmp(how, "exited") == 0)
			how = "killed";
	} else if (who.pid != init || sscanf(msg, "R %ld %ld %ld %ld", &status, &utime, &stime, &maxrss) != 4) {
		errno = EPROTO;
		die("the run's init did not report");
	}
	/* Every process of the run has ended before its files are read (as root: none may swap one under us). */
	if (!fork_end())
		die("the run's processes did not end");
	if (strcmp(how, "exited") == 0 && status != -1 && WIFSIGNALED(status))
		how = "signaled";
	status_write_check(jail_write_result(JAIL_FD_STATUS, how,
	    status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1,
	    status != -1 && WIFSIGNALED(status) ? WTERMSIG(status) : 0,
	    (end.tv_sec - start.tv_sec) * 1000000L + (end.tv_nsec - start.tv_nsec) / 1000, utime, stime, maxrss));
	files_collect();
	{
		long oom, peak;

		if (cg_run_report(&run_cgroups, &oom, &peak))
			(void)jail_write_cgroup(JAIL_FD_STATUS, oom, peak);
	}
	(void)jail_write_done(JAIL_FD_STATUS);
	close(JAIL_FD_STATUS);
	cg_run_remove(&run_cgroups);
	_exit(0);
}
