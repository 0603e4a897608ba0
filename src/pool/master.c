/* master.c: the master process: listening sockets, prefork workers, the builder, restarts, reload, graceful
 * stop, and the self-test that alone decides the service's health. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "db.h"
#include "log.h"
#include "now.h"
#include "pool.h"
#include "run.h"
#include "scoreboard.h"
#include "signals.h"
#include "slots.h"

#define RECHECK_S	10	/* how often an unhealthy master re-runs the self-test */
#define FAST_DEATH_S	1.0	/* a worker dying sooner than this counts towards the crash-loop guard */
#define SUSPECT_GAP_S	1.0	/* a worker's report of a jail failure re-runs the self-test at most this often */

static int sig_pipe[2] = { -1, -1 };

static void
on_signal(int sig)
{
	unsigned char b = (unsigned char)sig;
	int saved = errno;

	if (write(sig_pipe[1], &b, 1) < 0) {
		/* pipe full: a signal of that kind is already pending */
	}
	errno = saved;
}

/* Bind a FastCGI socket; refuse to steal it from a live instance. */
static int
open_listener(const struct conf *c, const char *path)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_warnx("socket path too long: %s", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("socket");
		return -1;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_warnx("%s exists and is not a socket", path);
			goto fail;
		}
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			log_warnx("%s: another instance is listening", path);
			goto fail;
		}
		unlink(path);
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		log_warn("bind %s", path);
		goto fail;
	}
	if (chmod(path, (mode_t)c->socket_mode) == -1 || listen(fd, 128) == -1) {
		log_warn("listen %s", path);
		unlink(path);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/* Root sweeps itself; an unprivileged pool asks the jail. */
static void
sweep_cgroups(const struct conf *c)
{
	if (geteuid() == 0)
		cg_sweep();
	else
		run_jail_command(c, JAIL_VERB_SWEEP, NULL);
}

/* The run socket's workers: one per run slot and queue place, and spare ones that
 * refuse at once what cannot wait; the rest serve the API socket, so that /health
 * and reads never wait behind runs. */
static bool
is_run_worker(const struct conf *c, int slot)
{
	return slot < slots_run_workers(c);
}

static pid_t
spawn_worker(const struct conf *c, int run_fd, int api_fd, int slot)
{
	int listen_fd = is_run_worker(c, slot) ? run_fd : api_fd;
	sigset_t old;
	pid_t pid;

	/* Signals stay blocked across fork until the child has its own handlers (worker_main unblocks). */
	signals_block_all(&old);
	if ((pid = fork()) == -1) {
		log_warn("fork worker");
		sigprocmask(SIG_SETMASK, &old, NULL);
		return -1;
	}
	if (pid == 0) {
		close(sig_pipe[0]);
		close(sig_pipe[1]);
		signals_default_all();
		close(listen_fd == run_fd ? api_fd : run_fd);
		worker_main(c, listen_fd, slot, listen_fd == run_fd);
		_exit(0);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	sb_worker_started(slot, pid, listen_fd == run_fd);
	log_debug("worker %d started as pid %ld", slot, (long)pid);
	return pid;
}

static pid_t
spawn_builder(const struct conf *c, int run_fd, int api_fd)
{
	sigset_t old;
	pid_t pid;

	signals_block_all(&old);
	if ((pid = fork()) == -1) {
		log_warn("fork builder");
		sigprocmask(SIG_SETMASK, &old, NULL);
		return -1;
	}
	if (pid == 0) {
		close(sig_pipe[0]);
		close(sig_pipe[1]);
		if (run_fd != -1)
			close(run_fd);
		if (api_fd != -1)
			close(api_fd);
		signals_default_all();
		log_init("pysandboxd-builder", (enum log_level)c->log_level);
		log_set_format((enum log_format)c->log_format);
		build_main(c);
		_exit(0);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	sb_set_builder(pid);
	return pid;
}

static void
signal_workers(int sig)
{
	for (int i = 0; i < POOL_MAX_WORKERS; i++)
		if (scoreboard->slot[i].pid > 0)
			kill(scoreboard->slot[i].pid, sig);
	if (scoreboard->builder_pid > 0 && sig != SIGQUIT)
		kill(scoreboard->builder_pid, sig);
}

static int
live_workers(void)
{
	int n = scoreboard->builder_pid > 0 ? 1 : 0;

	for (int i = 0; i < POOL_MAX_WORKERS; i++)
		if (scoreboard->slot[i].pid > 0)
			n++;
	return n;
}

/* The service user of c, checked: NULL (and why) if missing, root, or inside the run uid pool. */
static struct passwd *
service_user(const struct conf *c, char *why, size_t whylen)
{
	struct passwd *pw;

	if ((pw = getpwnam(c->user)) == NULL) {
		snprintf(why, whylen, "service user '%s' does not exist (create it, or set user = to run as root)",
		    c->user);
		return NULL;
	}
	if (pw->pw_uid == 0 || ((long)pw->pw_uid >= c->uid_base && (long)pw->pw_uid < c->uid_base + c->uid_count)) {
		snprintf(why, whylen, "service user '%s' must not be root nor inside the run uid pool", c->user);
		return NULL;
	}
	return pw;
}

/* Become pw for good (OpenBSD order: groups, gid, uid, check). */
static int
become(const struct passwd *pw)
{
	if (setgroups(0, NULL) == -1 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
		return -1;
	if (setresuid(0, 0, 0) != -1 || geteuid() == 0) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

/* As the user the pool now runs as: whether every directory on the way to dir (dir included) can be
 * searched, else which one stops it (a clone under /root is 0700, for example); the message names
 * state_dir. */
static int
path_searchable(const char *dir, const char *state_dir, char *why, size_t whylen)
{
	char prefix[CONF_PATH_MAX];
	struct stat st;
	size_t len = strlen(dir);

	for (size_t i = 1; i <= len && i < sizeof(prefix); i++) {
		if (dir[i] != '/' && dir[i] != '\0')
			continue;
		memcpy(prefix, dir, i);
		prefix[i] = '\0';
		if (access(prefix, X_OK) == 0)
			continue;
		if (stat(prefix, &st) == 0)
			snprintf(why, whylen, "state_dir %s cannot be reached by uid %ld: %s is mode %04o, owner uid %ld "
			    "(set state_dir = to a directory the service user can reach)", state_dir, (long)geteuid(), prefix,
			    (unsigned)(st.st_mode & 07777), (long)st.st_uid);
		else
			snprintf(why, whylen, "state_dir %s cannot be reached by uid %ld: %s: %s", state_dir,
			    (long)geteuid(), prefix, strerror(errno));
		return -1;
	}
	return 0;
}

/* After the drop: whether the pool can use its state directory (else why). */
static int
state_dir_usable(const char *dir, char *why, size_t whylen)
{
	if (access(dir, R_OK | W_OK | X_OK) == 0)
		return 0;
	if (path_searchable(dir, dir, why, whylen) == 0)
		snprintf(why, whylen, "state_dir %s is not usable by uid %ld: %s", dir, (long)geteuid(), strerror(errno));
	return -1;
}

int
pool_check_user(const struct conf *c, char *why, size_t whylen)
{
	struct passwd *pw;
	int fds[2], status = -1;
	ssize_t n;
	pid_t pid;

	if (c->user[0] == '\0' || geteuid() != 0)
		return 0;
	if ((pw = service_user(c, why, whylen)) == NULL)
		return -1;
	/* The directory's own owner and mode are set at start (as root); what must already hold is its
	 * ancestors' search permission, checked in a child that becomes the service user. */
	if (pipe2(fds, O_CLOEXEC) == -1 || (pid = fork()) == -1) {
		snprintf(why, whylen, "checking the state directory: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		char msg[700] = "", parent[CONF_PATH_MAX];
		char *slash;

		close(fds[0]);
		snprintf(parent, sizeof(parent), "%s", c->state_dir);
		if ((slash = strrchr(parent, '/')) != NULL && slash != parent)
			*slash = '\0';
		if (become(pw) == -1)
			snprintf(msg, sizeof(msg), "cannot become %s: %s", c->user, strerror(errno));
		else
			path_searchable(parent, c->state_dir, msg, sizeof(msg));
		if (write(fds[1], msg, strlen(msg)) < 0)
			_exit(2);
		_exit(msg[0] ? 1 : 0);
	}
	close(fds[1]);
	n = read(fds[0], why, whylen - 1);
	why[n > 0 ? n : 0] = '\0';
	close(fds[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (why[0] == '\0')
		snprintf(why, whylen, "checking the state directory as %s failed", c->user);
	return -1;
}

/* Started as root with a service user configured: hand the state directory
 * to it, then become it for good. From here on only pysandbox-jail holds privileges. */
static int
drop_privileges(const struct conf *c)
{
	static const char *owned[] = { "", "/pysandbox.db", "/pysandbox.db-wal", "/pysandbox.db-shm", "/envs" };
	char path[CONF_PATH_MAX + 32], why[700];
	struct passwd *pw;

	if (c->user[0] == '\0' || geteuid() != 0)
		return 0;
	if ((pw = service_user(c, why, sizeof(why))) == NULL) {
		log_warnx("%s", why);
		return -1;
	}
	if (mkdir(c->state_dir, 0750) == -1 && errno != EEXIST) {
		log_warn("mkdir %s", c->state_dir);
		return -1;
	}
	/* Environments, build logs and runs are no other local user's to read. */
	if (chmod(c->state_dir, 0750) == -1) {
		log_warn("chmod %s", c->state_dir);
		return -1;
	}
	for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", c->state_dir, owned[i]);
		if (lchown(path, pw->pw_uid, pw->pw_gid) == -1 && errno != ENOENT) {
			log_warn("chown %s", path);
			return -1;
		}
	}
	if (become(pw) == -1) {
		log_warn("dropping privileges to %s", c->user);
		return -1;
	}
	if (state_dir_usable(c->state_dir, why, sizeof(why)) == -1) {
		log_warnx("%s", why);
		return -1;
	}
	log_info("running as %s (uid %ld); only pysandbox-jail holds privileges", c->user, (long)pw->pw_uid);
	return 0;
}

/* The master's state between its steps. */
struct master {
	struct conf	*c;
	const char	*conf_path;
	int		 listen_fd, api_fd;
	int		 fast_deaths, stopping, killed;
	double		 stop_deadline, last_check, respawn_after, last_suspect_test;
	double		 fork_server_after;	/* not restarted before (one start a second) */
	int		 fork_report;	/* the read end of its jail's reports; -1 */
};

/* Runs' cgroups: v2 where it hands us the controllers, else v1, else the rlimits alone (/health says
 * which); and what jails that died left. */
static void
prepare_cgroups(void)
{
	char why[300] = "not root at start-up", desc[64];
	int n_swept;

	if (geteuid() != 0 || cg_v2_prepare(why, sizeof(why)) == -1)
		log_debug("cgroup v2 not used: %s", why);
	cg_describe(desc, sizeof(desc));
	if (desc[0])
		log_info("cgroups for runs: %s", desc);
	else
		log_warnx("no cgroups for runs, rlimits only (cgroup v2: %s; no v1 memory and pids)", why);
	if ((n_swept = cg_sweep()) > 0)
		log_info("removed %d cgroups left by jails that died", n_swept);
}

/* Check the database opens (and migrate it) before serving; the master then closes it and leaves SQLite
 * to the processes that use it. */
static int
check_database(const struct conf *c)
{
	char err[600];
	sqlite3 *db = db_open(c->state_dir, err, sizeof(err));
	int n_recovered;

	if (db == NULL) {
		log_warnx("database: %s", err);
		return -1;
	}
	/* Builds that were running when the service stopped will never finish: say so before the first
	 * request can ask. */
	if ((n_recovered = db_recover(db)) > 0)
		log_warnx("%d interrupted environment build(s) marked failed", n_recovered);
	db_close(db);
	return 0;
}

/* The fork server (fork_server): started with the pool, again a second after it ends, stopped with it. */
static void
fork_server_start(struct master *m)
{
	pid_t pid;

	if (!m->c->fork_server || scoreboard->fork_server_pid > 0 || now_wall() < m->fork_server_after)
		return;
	m->fork_server_after = now_wall() + 1;
	if ((pid = run_fork_server_spawn(m->c, &m->fork_report)) == -1)
		log_warn("cannot start the fork server");
	else {
		fcntl(m->fork_report, F_SETFL, O_NONBLOCK);
		sb_set_fork_server(pid);
	}
}

/* Its jail's reports ("P <kB>" lines: the server's memory), the last one kept; EOF when it has ended. */
static void
fork_server_read(struct master *m)
{
	char chunk[512], *line, *save = NULL;
	ssize_t n;

	if (m->fork_report == -1 || (n = read(m->fork_report, chunk, sizeof(chunk) - 1)) == -1)
		return;
	if (n == 0) {
		close(m->fork_report);
		m->fork_report = -1;
		return;
	}
	chunk[n] = '\0';
	for (line = strtok_r(chunk, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		long kb;

		if (sscanf(line, "P %ld", &kb) == 1 && kb >= 0)
			sb_set_fork_server_pss(kb);
	}
}

static void
fork_server_stop(void)
{
	if (scoreboard->fork_server_pid > 0)
		kill(scoreboard->fork_server_pid, SIGTERM);
}

/* Everything before the first worker: shared state, signals, cgroups, sockets, the drop, the database. */
static int
master_start(struct master *m)
{
	static const int handled[] = { SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, 0 };
	const struct conf *c = m->c;

	if (sb_create(c) == -1)
		fatalx("cannot set up the shared scoreboard");
	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal("pipe");
	signals_handle(handled, on_signal, SA_RESTART);
	signal(SIGPIPE, SIG_IGN);
	/* A jail whose worker was killed becomes ours to reap (not the host's init's), so that the last sweep
	 * can wait until it is gone. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == -1)
		log_warn("cannot become a subreaper: the last sweep may find jails of killed workers still exiting");
	prepare_cgroups();
	if ((m->listen_fd = open_listener(c, c->socket)) == -1)
		return -1;
	if ((m->api_fd = open_listener(c, c->api_socket)) == -1 || drop_privileges(c) == -1 ||
	    check_database(c) == -1) {
		close(m->listen_fd);
		unlink(c->socket);
		if (m->api_fd != -1) {
			close(m->api_fd);
			unlink(c->api_socket);
		}
		return -1;
	}
	fork_server_start(m);
	selftest_run(c);
	m->last_check = now_wall();
	sb_set_workers(conf_processes(c));
	for (int i = 0; i < scoreboard->nworkers; i++)
		spawn_worker(c, m->listen_fd, m->api_fd, i);
	spawn_builder(c, m->listen_fd, m->api_fd);
	log_info("listening on %s: %d runs at once, %d queued for up to %g s, %d worker processes", c->socket,
	    conf_workers(c), c->queue_size, c->queue_timeout, scoreboard->nworkers);
	return 0;
}

/* SIGTERM, SIGINT, SIGQUIT: stop taking requests; in-flight runs get shutdown_grace. */
static void
master_stop(struct master *m)
{
	if (m->stopping)
		return;
	log_info("stopping: waiting up to %d s for in-flight runs", m->c->shutdown_grace);
	m->stopping = 1;
	m->stop_deadline = now_wall() + m->c->shutdown_grace;
	close(m->listen_fd);
	close(m->api_fd);
	m->listen_fd = m->api_fd = -1;
	signal_workers(SIGQUIT);
	if (scoreboard->builder_pid > 0)
		kill(scoreboard->builder_pid, SIGTERM);
}

/* SIGHUP: the file again; workers and the builder are recycled onto it. */
static void
master_reload(struct master *m)
{
	struct conf newc, *c = m->c;
	char err[600];
	bool fork_layout;

	if (m->stopping)
		return;
	if (conf_load(m->conf_path, &newc, true, err, sizeof(err)) == -1) {
		log_warnx("reload refused, keeping the running configuration: %s", err);
		return;
	}
	if (strcmp(newc.socket, c->socket) != 0 || strcmp(newc.api_socket, c->api_socket) != 0)
		log_warnx("reload: new socket paths take a restart; keeping %s and %s", c->socket, c->api_socket);
	snprintf(newc.socket, sizeof(newc.socket), "%s", c->socket);
	snprintf(newc.api_socket, sizeof(newc.api_socket), "%s", c->api_socket);
	/* A running fork server keeps what it started with (its end is its runs'), unless it is turned off or what
	 * it was built from changed: its uids and its children's (the uid pool's layout), the run slots' users in
	 * its root, its socket's name, its interpreter, its limits. Its runs in flight are then reported killed. */
	fork_layout = newc.uid_base != c->uid_base || newc.uid_count != c->uid_count || newc.max_builds != c->max_builds ||
	    conf_workers(&newc) != conf_workers(c) || slots_run_workers(&newc) != slots_run_workers(c) ||
	    strcmp(newc.state_dir, c->state_dir) != 0 || strcmp(newc.python, c->python) != 0 ||
	    newc.max_memory_mb != c->max_memory_mb || newc.workdir_mb != c->workdir_mb || newc.tmp_mb != c->tmp_mb;
	*c = newc;
	if (!c->fork_server || fork_layout) {
		if (c->fork_server && scoreboard->fork_server_pid > 0)
			log_info("reload: restarting the fork server on the new configuration");
		fork_server_stop();
	}
	log_set_level((enum log_level)c->log_level);
	log_set_format((enum log_format)c->log_format);
	log_info("configuration reloaded; recycling workers");
	selftest_run(c);
	m->last_check = now_wall();
	sb_set_workers(conf_processes(c));
	admit_resize(sb_admit(), conf_workers(c), c->queue_size, c->max_runs_per_client);
	signal_workers(SIGQUIT);
	/* The builder finishes its running builds, then a new one takes over. */
	if (scoreboard->builder_pid > 0)
		kill(scoreboard->builder_pid, SIGHUP);
}

/* Reap; a worker's death is counted towards the crash-loop guard when it came soon after its start. */
static void
reap_children(struct master *m)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == scoreboard->fork_server_pid) {
			if (m->fork_report != -1)
				close(m->fork_report);
			m->fork_report = -1;
			if (!m->stopping)
				log_warnx("fork server (pid %ld) ended (%s %d); restarting it", (long)pid,
				    WIFSIGNALED(status) ? "signal" : "exit",
				    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
			sb_set_fork_server(0);
			continue;
		}
		if (pid == scoreboard->builder_pid) {
			if (!m->stopping && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
				log_warnx("builder (pid %ld) died; restarting it", (long)pid);
			sb_set_builder(0);
			continue;
		}
		/* A worker killed in a run or in the queue leaves its place to others. */
		admit_reclaim(sb_admit(), pid);
		for (int i = 0; i < POOL_MAX_WORKERS; i++) {
			if (scoreboard->slot[i].pid != pid)
				continue;
			if (WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0)) {
				log_warnx("worker %d (pid %ld) died (%s %d)", i, (long)pid,
				    WIFSIGNALED(status) ? "signal" : "exit",
				    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
				if (now_wall() - scoreboard->slot[i].started < FAST_DEATH_S)
					m->fast_deaths++;
			} else
				m->fast_deaths = 0;
			sb_worker_gone(i);
			break;
		}
	}
}

/* Replace what died, unless workers keep dying at start (then pause a while). */
static void
respawn(struct master *m)
{
	if (m->fast_deaths >= 5 && m->respawn_after == 0) {
		log_warnx("workers keep dying at start; pausing restarts for 5 s");
		m->respawn_after = now_wall() + 5;
	}
	if (m->respawn_after != 0 && now_wall() < m->respawn_after)
		return;
	if (m->respawn_after)
		m->fast_deaths = 0;
	m->respawn_after = 0;
	for (int i = 0; i < scoreboard->nworkers; i++)
		if (scoreboard->slot[i].pid == 0)
			spawn_worker(m->c, m->listen_fd, m->api_fd, i);
	if (scoreboard->builder_pid == 0)
		spawn_builder(m->c, m->listen_fd, m->api_fd);
	fork_server_start(m);
}

/* The self-test when a worker saw the jail fail (only a failing one makes it everyone's problem), and
 * every RECHECK_S the sweep, and the self-test again while unhealthy. */
static void
periodic(struct master *m)
{
	if (now_wall() - m->last_suspect_test >= SUSPECT_GAP_S && sb_take_selftest_request()) {
		log_info("a worker reported a jail failure: running the self-test");
		selftest_run(m->c);
		m->last_suspect_test = now_wall();
	}
	if (now_wall() - m->last_check >= RECHECK_S) {
		/* A jail killed outright leaves its (empty) cgroups behind. */
		sweep_cgroups(m->c);
		if (!scoreboard->healthy)
			selftest_run(m->c);
		m->last_check = now_wall();
	}
}

/* After the last worker: the builder and the jails of killed workers, each killed already: wait
 * (boundedly) for them, so that the sweep finds their cgroups free. */
static void
master_finish(struct master *m)
{
	/* (Only now: its end is every fork run's, and in-flight runs had their grace.) */
	fork_server_stop();
	if (m->listen_fd != -1)
		close(m->listen_fd);
	if (m->api_fd != -1)
		close(m->api_fd);
	for (double until = now_wall() + 2; now_wall() < until; ) {
		pid_t p = waitpid(-1, NULL, WNOHANG);

		if (p == -1 && errno != EINTR)
			break;	/* ECHILD: none left */
		if (p == 0)
			usleep(10000);
	}
	sweep_cgroups(m->c);
	unlink(m->c->socket);
	unlink(m->c->api_socket);
	log_info("stopped");
	sb_destroy();
}

int
pool_main(struct conf *c, const char *conf_path)
{
	struct master m = { .c = c, .conf_path = conf_path, .listen_fd = -1, .api_fd = -1, .fork_report = -1 };

	if (master_start(&m) == -1)
		return 1;
	while (!m.stopping || live_workers() > 0) {
		struct pollfd pfd[2] = { { sig_pipe[0], POLLIN, 0 }, { m.fork_report, POLLIN, 0 } };
		unsigned char sigs[64];
		ssize_t n;

		if (poll(pfd, m.fork_report != -1 ? 2 : 1, 1000) == -1 && errno != EINTR)
			fatal("poll");
		if (m.fork_report != -1 && pfd[1].revents)
			fork_server_read(&m);
		n = read(sig_pipe[0], sigs, sizeof(sigs));
		for (ssize_t i = 0; i < n; i++) {
			if (sigs[i] == SIGTERM || sigs[i] == SIGINT || sigs[i] == SIGQUIT)
				master_stop(&m);
			else if (sigs[i] == SIGHUP)
				master_reload(&m);
		}
		reap_children(&m);
		if (!m.stopping) {
			respawn(&m);
			periodic(&m);
		} else if (!m.killed && now_wall() >= m.stop_deadline) {
			log_warnx("grace period over: killing %d busy workers", live_workers());
			signal_workers(SIGKILL);
			m.killed = 1;
		}
	}
	master_finish(&m);
	return 0;
}
