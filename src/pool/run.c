/* run.c: the jail's client: spawns pysandbox-jail (or hands a worker's standby its run), feeds it the
 * input, reads the program's output and the jail's report. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jailproto.h"
#include "limit.h"
#include "log.h"
#include "now.h"
#include "run.h"
#include "scoreboard.h"
#include "slots.h"

/* Seconds the jail gets beyond the run's timeout to set up and hand back files. */
#define RUN_SLACK_S	15

/* A jail still cleaning up after the previous run (see run_exec). */
static pid_t unreaped_jail = -1;

void
run_reap(void)
{
	int st;

	if (unreaped_jail > 0)
		while (waitpid(unreaped_jail, &st, 0) == -1 && errno == EINTR)
			;
	unreaped_jail = -1;
}

/* A new fd above the jail's so that the spawn's dup2 onto them never clobbers a source. */
static int
high_fd(int fd)
{
	int nfd;

	if (fd == -1 || fd > JAIL_FD_ARGS)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, JAIL_FD_ARGS + 1);
	close(fd);
	return nfd;
}

/* Write all of data at offset 0 of a memfd without moving its file offset,
 * which the jail shares and reads from. */
static int
pwrite_all(int fd, const char *data, size_t len)
{
	size_t off = 0;
	ssize_t w;

	while (off < len) {
		if ((w = pwrite(fd, data + off, len - off, (off_t)off)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		off += (size_t)w;
	}
	return 0;
}

/* One jail's ends, as the worker holds them. */
struct jail_proc {
	pid_t	pid;
	int	stdin_fd, in_fd;	/* memfds: the program's stdin, the input records */
	int	out_r, err_r, st_r;	/* the program's stdout and stderr, the status stream */
	int	args_w;			/* a standby's: its run's arguments, then EOF */
};
#define JAIL_PROC_NONE { -1, -1, -1, -1, -1, -1, -1 }

/* This worker's jail for its next request, spawned after the last answer; a warm one's profile (the most
 * a plain run it takes may ask for, and its uid slot). */
static struct jail_proc standby = JAIL_PROC_NONE;
static bool standby_is_warm, standby_is_fork;
static struct jail_args warm_profile;
static bool have_warm_profile;	/* this worker's warm profile is set (its first warm standby) */
static int standby_wslot;	/* the worker's place on the scoreboard, where it shows what it holds */

static void
jail_proc_close(struct jail_proc *j)
{
	int *fds[] = { &j->stdin_fd, &j->in_fd, &j->out_r, &j->err_r, &j->st_r, &j->args_w };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] != -1) {
			close(*fds[i]);
			*fds[i] = -1;
		}
}

static char **
jail_envp(char storage[][256], char **envp, size_t max)
{
	static const char *pass_env[] = { "MAX_EXECUTION_TIME", "MAX_CODE_LENGTH", "MAX_FILE_SIZE", "LOG_LEVEL",
#ifdef PYSANDBOX_SABOTAGE
		"PYSANDBOX_SABOTAGE",
#endif
	};
	size_t envc = 0;

	for (size_t i = 0; i < sizeof(pass_env) / sizeof(pass_env[0]) && envc + 1 < max; i++) {
		const char *v = getenv(pass_env[i]);
		if (v && snprintf(storage[envc], 256, "%s=%s", pass_env[i], v) < 256) {
			envp[envc] = storage[envc];
			envc++;
		}
	}
	envp[envc] = NULL;
	return envp;
}

/* Spawn the jail with argv (a standby, or a warm one, when is_standby: it
 * gets the arguments pipe as JAIL_FD_ARGS), with input and stdin in its memfds
 * when given (a standby's are written later: in is NULL). Only a failed spawn itself is
 * the sandbox's failure (SBX_EJAIL); a lack of memory or fds is the host's. */
static enum sbx_err
jail_spawn(const struct conf *c, char *const argv[], bool is_standby, const struct buf *input,
    const struct run_input *in, struct jail_proc *j, char *why, size_t whylen)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char envstore[5][256], *envp[6];
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 }, stp[2] = { -1, -1 }, argp[2] = { -1, -1 };
	sigset_t none, def;
	enum sbx_err rc = SBX_ESYS;

	*j = (struct jail_proc)JAIL_PROC_NONE;
	if (posix_spawn_file_actions_init(&fa) != 0) {
		snprintf(why, whylen, "out of memory");
		return SBX_ENOMEM;
	}
	if (posix_spawnattr_init(&attr) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		snprintf(why, whylen, "out of memory");
		return SBX_ENOMEM;
	}
	j->in_fd = high_fd(memfd_create("pysandbox-input", MFD_CLOEXEC));
	j->stdin_fd = high_fd(memfd_create("pysandbox-stdin", MFD_CLOEXEC));
	if (j->in_fd == -1 || j->stdin_fd == -1 ||
	    (input && pwrite_all(j->in_fd, input->data, input->len) == -1) ||
	    (in && pwrite_all(j->stdin_fd, in->stdin_data, in->stdin_len) == -1)) {
		snprintf(why, whylen, "input memfd: %s", strerror(errno));
		goto out;
	}
	if (pipe2(outp, O_CLOEXEC) == -1 || pipe2(errp, O_CLOEXEC) == -1 || pipe2(stp, O_CLOEXEC) == -1 ||
	    (is_standby && pipe2(argp, O_CLOEXEC) == -1)) {
		snprintf(why, whylen, "pipes: %s", strerror(errno));
		goto out;
	}
	for (int i = 0; i < 2; i++) {
		outp[i] = high_fd(outp[i]);
		errp[i] = high_fd(errp[i]);
		stp[i] = high_fd(stp[i]);
		argp[i] = high_fd(argp[i]);
	}
	if (outp[0] == -1 || outp[1] == -1 || errp[0] == -1 || errp[1] == -1 || stp[0] == -1 || stp[1] == -1 ||
	    (is_standby && (argp[0] == -1 || argp[1] == -1))) {
		snprintf(why, whylen, "pipes: %s", strerror(errno));
		goto out;
	}
	posix_spawn_file_actions_adddup2(&fa, j->stdin_fd, JAIL_FD_STDIN);
	posix_spawn_file_actions_adddup2(&fa, outp[1], JAIL_FD_STDOUT);
	posix_spawn_file_actions_adddup2(&fa, errp[1], JAIL_FD_STDERR);
	posix_spawn_file_actions_adddup2(&fa, stp[1], JAIL_FD_STATUS);
	posix_spawn_file_actions_adddup2(&fa, j->in_fd, JAIL_FD_INPUT);
	if (is_standby)
		posix_spawn_file_actions_adddup2(&fa, argp[0], JAIL_FD_ARGS);
	sigemptyset(&none);
	sigfillset(&def);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &def);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if ((errno = posix_spawn(&j->pid, c->jail, &fa, &attr, argv, jail_envp(envstore, envp, 6))) != 0) {
		snprintf(why, whylen, "spawn %s: %s", c->jail, strerror(errno));
		j->pid = -1;
		rc = SBX_EJAIL;
		goto out;
	}
	j->out_r = outp[0];
	j->err_r = errp[0];
	j->st_r = stp[0];
	j->args_w = argp[1];
	outp[0] = errp[0] = stp[0] = argp[1] = -1;
	rc = SBX_OK;
out:
	for (int i = 0; i < 2; i++) {
		if (outp[i] != -1) close(outp[i]);
		if (errp[i] != -1) close(errp[i]);
		if (stp[i] != -1) close(stp[i]);
		if (argp[i] != -1) close(argp[i]);
	}
	if (rc != SBX_OK)
		jail_proc_close(j);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return rc;
}

void
run_standby(const struct conf *c, int wslot)
{
	struct jail_args a;
	struct buf bytes = { 0 };
	char *argv[32], why[256];

	if (standby.pid > 0)
		return;
	/* With fork_server, a run worker's standby holds the fork server's child for its next plain run. */
	standby_is_fork = c->fork_server && wslot < slots_run_workers(c);
	standby_is_warm = !standby_is_fork && c->warm_interpreters && wslot < slots_run_workers(c);
	if (standby_is_fork || standby_is_warm) {
		struct limits lim;

		/* Its profile: the configuration's maxima for a plain run, as this worker's own uid. */
		limit_from_conf(c, LIMIT_RUN, &lim);
		run_args(c, slot_warm(c, wslot), lim.max_timeout, lim.max_memory_mb, lim.max_cpus, false, &a);
		a.verb = standby_is_fork ? JAIL_VERB_FORKSTANDBY : JAIL_VERB_WARM;
		warm_profile = a;
		have_warm_profile = true;
	} else {
		jail_args_init(&a);
		a.verb = JAIL_VERB_STANDBY;
	}
	standby_wslot = wslot;
	if (jail_args_to_argv(&a, &bytes, argv, sizeof(argv) / sizeof(argv[0])) == -1)
		log_debug("no standby jail: out of memory");
	else if (jail_spawn(c, argv, true, NULL, NULL, &standby, why, sizeof(why)) != SBX_OK)
		log_debug("no standby jail: %s", why);	/* the next run spawns its own */
	else
		sb_worker_standby(wslot, standby_is_fork ? SB_STANDBY_FORK : standby_is_warm ? SB_STANDBY_WARM :
		    SB_STANDBY_PLAIN);
	buf_free(&bytes);
}

void
run_standby_drop(void)
{
	int st;

	if (standby.pid <= 0)
		return;
	sb_worker_standby(standby_wslot, SB_STANDBY_NONE);
	jail_proc_close(&standby);	/* EOF on its arguments: it exits (its cgroups go with it: lib/cgroup.c) */
	while (waitpid(standby.pid, &st, 0) == -1 && errno == EINTR)
		;
	standby.pid = -1;
}

/* Hand a standby its run: the input, then the arguments (argv's bytes, as jail_args_to_argv wrote them)
 * and EOF. */
static int
standby_start(struct jail_proc *j, const struct buf *argv_bytes, const struct buf *input, const struct run_input *in)
{
	if (pwrite_all(j->in_fd, input->data, input->len) == -1 ||
	    (in->stdin_len && pwrite_all(j->stdin_fd, in->stdin_data, in->stdin_len) == -1))
		return -1;
	(void)fd_write_all(j->args_w, argv_bytes->data, argv_bytes->len);	/* (failing: it died; its status says why) */
	close(j->args_w);
	j->args_w = -1;
	return 0;
}

static int
input_record(struct buf *b, const char *name, const void *data, size_t len)
{
	if (buf_printf(b, "%zu %zu\n", strlen(name), len) == -1 ||
	    buf_append(b, name, strlen(name)) == -1 || buf_append(b, data, len) == -1)
		return -1;
	return 0;
}

void
run_args(const struct conf *c, int slot, double timeout_s, int memory_mb, double cpus, bool network,
    struct jail_args *a)
{
	jail_args_init(a);
	a->verb = JAIL_VERB_RUN;
	/* The jail takes --config from root, or when root alone can change the file. */
	snprintf(a->config, sizeof(a->config), "%s", c->file);
	a->slot = slot;
	a->timeout_ms = (long)ceil(timeout_s * 1000);
	a->memory_mb = memory_mb;
	if (cpus > 0)
		a->cpus_milli = (long)(cpus * 1000 + 0.5);
	a->max_files = c->max_return_files;
	a->max_return_bytes = c->max_return_bytes;
	a->net = network;
}

/* The input records (jailproto.h): the files, the code last. */
static int
input_records(const struct run_input *in, struct buf *b)
{
	for (size_t i = 0; i < in->nfiles; i++)
		if (input_record(b, in->files[i].name, in->files[i].data, in->files[i].len) == -1)
			return -1;
	return input_record(b, in->main_name ? in->main_name : "main.py", in->code, in->code_len);
}

/* A plain run with fork_server: the worker's fork standby (its child jailed already as the worker's own slot,
 * when the run fits its profile: the configuration's maxima), or a jail of its own that asks the server for one
 * as the slot the run was admitted to. */
static enum sbx_err
fork_start(const struct conf *c, const struct jail_args *a, const struct buf *input, const struct run_input *in,
    struct jail_proc *jp, char *why, size_t whylen)
{
	struct jail_args own = *a;
	struct buf bytes = { 0 };
	char *argv[JAIL_MAX_ARGV];
	bool take = standby.pid > 0 && standby_is_fork && have_warm_profile;
	enum sbx_err rc = SBX_OK;
	int wstatus;

	own.slot = warm_profile.slot;
	if (take && jail_args_within(&own, &warm_profile)) {
		*jp = standby;
		standby = (struct jail_proc)JAIL_PROC_NONE;
		sb_worker_standby(standby_wslot, SB_STANDBY_NONE);
		if (waitpid(jp->pid, &wstatus, WNOHANG) != 0) {
			char rec[400] = "";
			ssize_t n = read(jp->st_r, rec, sizeof(rec) - 1);	/* (it has ended: its record is all there) */

			rec[n > 0 ? n : 0] = '\0';
			rec[strcspn(rec, "\n")] = '\0';
			/* W: the fork server was away (restarting, say), no surprise; anything else is a failure. */
			if (rec[0] == 'W' || rec[0] == '\0')
				log_info("fork standby jail %ld had ended (%s); starting another", (long)jp->pid,
				    rec[0] ? rec + 2 : "no record");
			else
				log_warnx("fork standby jail %ld failed: %s", (long)jp->pid, rec);
			jail_proc_close(jp);
			jp->pid = -1;
			take = false;
		}
	} else
		take = false;
	if (!take)
		own.slot = a->slot;
	own.fork = true;
	if (jail_args_to_argv(&own, &bytes, argv, JAIL_MAX_ARGV) == -1) {
		rc = SBX_ENOMEM;
		snprintf(why, whylen, "out of memory");
	} else if (take && standby_start(jp, &bytes, input, in) == -1) {
		rc = SBX_ESYS;
		snprintf(why, whylen, "input memfd: %s", strerror(errno));
	} else if (!take)
		rc = jail_spawn(c, argv, false, input, in, jp, why, whylen);
	buf_free(&bytes);
	return rc;
}

/* A plain run with fork_server: fork_start (unless the server could not take it a moment ago). Else the
 * worker's standby, if it is still there and takes the run, else a jail of its own. A warm standby takes it as
 * its own uid slot (argv_bytes rewritten); a run it does not fit goes cold and leaves it waiting for the next.
 * *start: which path it took, and why cold. */
static enum sbx_err
jail_start(const struct conf *c, const struct jail_args *a, char *const *argv, const struct buf *argv_bytes,
    const struct buf *input, const struct run_input *in, struct jail_proc *jp, enum metrics_start *start,
    char *why, size_t whylen)
{
	struct buf warm_bytes = { 0 };
	struct jail_args own = *a;
	int wstatus, started;

	if (c->fork_server && !a->net && a->env[0] == '\0' && !a->build && *start != MS_COLD_FORK_DOWN) {
		*start = MS_FORK;
		return fork_start(c, a, input, in, jp, why, whylen);
	}
	own.slot = warm_profile.slot;	/* a warm standby's run is its worker's own uid slot */
	/* A fork standby takes only fork runs: the rest spawn a jail of their own, and it waits for the next. */
	if (standby.pid > 0 && standby_is_fork) {
		if (*start != MS_COLD_FORK_DOWN)
			*start = MS_COLD_UNFIT;
		return jail_spawn(c, argv, false, input, in, jp, why, whylen);
	}
	if (*start == MS_COLD_FORK_DOWN) {
		/* (counted as the fork server's; a warm standby, which takes its own slot's runs, waits) */
		if (standby.pid > 0 && standby_is_warm)
			return jail_spawn(c, argv, false, input, in, jp, why, whylen);
	} else if (!c->warm_interpreters)
		*start = MS_COLD_OFF;
	else if (have_warm_profile && !jail_args_within(&own, &warm_profile))
		*start = MS_COLD_UNFIT;	/* (whether or not a warm standby is there: it would not have fit) */
	else
		*start = standby.pid > 0 && standby_is_warm ? MS_WARM : MS_COLD_NOT_READY;
	if (*start == MS_COLD_UNFIT && standby.pid > 0 && standby_is_warm)
		return jail_spawn(c, argv, false, input, in, jp, why, whylen);	/* it waits for the next */
	if (*start == MS_WARM) {
		char *warm_argv[JAIL_MAX_ARGV];

		if (jail_args_to_argv(&own, &warm_bytes, warm_argv, JAIL_MAX_ARGV) == -1) {
			buf_free(&warm_bytes);
			snprintf(why, whylen, "out of memory");
			return SBX_ENOMEM;
		}
		argv_bytes = &warm_bytes;
	}
	if (standby.pid > 0) {
		*jp = standby;
		standby = (struct jail_proc)JAIL_PROC_NONE;
		sb_worker_standby(standby_wslot, SB_STANDBY_NONE);
		if (waitpid(jp->pid, &wstatus, WNOHANG) != 0) {
			log_warnx("standby jail %ld had ended; starting another", (long)jp->pid);
			jail_proc_close(jp);
			jp->pid = -1;
			if (*start == MS_WARM)
				*start = MS_COLD_NOT_READY;
		} else {
			started = standby_start(jp, argv_bytes, input, in);
			buf_free(&warm_bytes);
			if (started == -1) {
				snprintf(why, whylen, "input memfd: %s", strerror(errno));
				return SBX_ESYS;
			}
			return SBX_OK;
		}
	}
	buf_free(&warm_bytes);
	return jail_spawn(c, argv, false, input, in, jp, why, whylen);
}

/* Reading a running jail: its three streams, and what happened while they were read. */
struct reading {
	struct jail_proc	*jp;
	struct run_result	*res;
	struct buf		 status;
	long			 max_output, status_cap;
	double			 deadline, next_check;
	bool			 backstop, cancelled, killed_for_output;
};

/* One chunk from stream i (0 stdout, 1 stderr, 2 status); -1 when out of memory. */
static int
read_stream(struct reading *rd, const struct run_spec *spec, int i, int *fd)
{
	struct buf *dst = i == 0 ? &rd->res->out : i == 1 ? &rd->res->err : &rd->status;
	bool *trunc = i == 0 ? &rd->res->trunc_out : i == 1 ? &rd->res->trunc_err : NULL;
	long cap = i < 2 ? rd->max_output : rd->status_cap;
	char chunk[65536];
	ssize_t n = read(*fd, chunk, sizeof(chunk));

	if (n == -1 && errno == EINTR)
		return 0;
	if (n <= 0) {
		close(*fd);
		*fd = -1;
		return 0;
	}
	if (i < 2 && spec->on_output) {
		spec->on_output(spec->ctx, i + 1, chunk, (size_t)n);
		return 0;
	}
	if ((long)dst->len + n <= cap)
		return buf_append(dst, chunk, (size_t)n);
	if (buf_append(dst, chunk, (size_t)(cap - (long)dst->len)) == -1)
		return -1;
	if (trunc && !*trunc) {
		*trunc = true;
		rd->killed_for_output = true;
		kill(rd->jp->pid, SIGTERM);	/* the jail ends the run and still reports */
	} else if (!trunc && !rd->backstop) {
		kill(rd->jp->pid, SIGKILL);
		rd->backstop = true;
	}
	return 0;
}

/* Read all three streams until EOF (the jail's init closing them ends the run), within the run's deadline
 * and some slack; cancel when the spec says so. */
static enum sbx_err
read_streams(struct reading *rd, const struct run_spec *spec, char *why, size_t whylen)
{
	struct jail_proc *jp = rd->jp;

	for (;;) {
		struct pollfd pfd[3] = {
			{ jp->out_r, POLLIN, 0 }, { jp->err_r, POLLIN, 0 }, { jp->st_r, POLLIN, 0 },
		};
		int *fds[3] = { &jp->out_r, &jp->err_r, &jp->st_r };
		double left = rd->deadline - now_mono();
		int r;

		if (jp->out_r == -1 && jp->err_r == -1 && jp->st_r == -1)
			return SBX_OK;
		if (left <= 0) {
			if (rd->backstop)
				return SBX_OK;	/* the jail ignored SIGKILL's consequences: give up on the pipes */
			log_warnx("jail %ld overran its deadline; killing it", (long)jp->pid);
			kill(jp->pid, SIGKILL);
			rd->backstop = true;
			rd->deadline = now_mono() + 5;
			continue;
		}
		if (spec->keep_going && !rd->cancelled && now_mono() >= rd->next_check) {
			rd->next_check = now_mono() + 1;
			if (!spec->keep_going(spec->ctx)) {
				rd->cancelled = true;
				kill(jp->pid, SIGTERM);	/* the jail ends the run and reports */
			}
		}
		if (spec->keep_going && left > 1)
			left = 1;
		r = poll(pfd, 3, (int)(left * 1000) + 1);
		if (r == -1 && errno != EINTR) {
			snprintf(why, whylen, "poll: %s", strerror(errno));
			return SBX_ESYS;
		}
		for (int i = 0; i < 3 && r > 0; i++)
			if ((pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) && read_stream(rd, spec, i, fds[i]) == -1) {
				snprintf(why, whylen, "out of memory");
				return SBX_ENOMEM;
			}
	}
}

/* A result with nothing reported yet (no exit code). */
static void
result_clear(struct run_result *res)
{
	memset(res, 0, sizeof(*res));
	res->jail.exit_code = -1;
}

enum sbx_err
run_exec(const struct conf *c, const struct jail_args *a, const struct run_input *in,
    const struct run_spec *spec, struct run_result *res, char *why, size_t whylen)
{
	static const struct run_spec plain = { 0 };
	struct jail_proc jp = JAIL_PROC_NONE;
	struct buf input = { 0 }, argv_bytes = { 0 };
	struct reading rd = { .jp = &jp, .res = res, .max_output = c->max_output,
	    .status_cap = c->max_return_bytes + 1024L * 1024 };
	char *argv[JAIL_MAX_ARGV];
	enum sbx_err rc;
	bool retried = false;
	pid_t jail_pid;
	int wstatus;

	if (spec == NULL)
		spec = &plain;
	result_clear(res);
	snprintf(why, whylen, "unknown failure");
	run_reap();
	if (input_records(in, &input) == -1 || jail_args_to_argv(a, &argv_bytes, argv, JAIL_MAX_ARGV) == -1) {
		rc = SBX_ENOMEM;
		snprintf(why, whylen, "out of memory");
		goto out;
	}
again:
	if ((rc = jail_start(c, a, argv, &argv_bytes, &input, in, &jp, &res->start, why, whylen)) != SBX_OK)
		goto out;
	/* Only the worker's read ends stay open here. */
	close(jp.stdin_fd);
	close(jp.in_fd);
	jp.stdin_fd = jp.in_fd = -1;
	buf_free(&input);

	rd.deadline = now_mono() + (double)a->timeout_ms / 1000 + RUN_SLACK_S;
	rd.next_check = now_mono() + 1;
	if ((rc = read_streams(&rd, spec, why, whylen)) != SBX_OK)
		goto out;
	/* The jail may still be exiting: reap it at once if it is done, else once the answer has gone
	 * (run_reap; it holds nothing of this run). */
	jail_pid = jp.pid;
	if (waitpid(jp.pid, &wstatus, WNOHANG) == 0)
		unreaped_jail = jp.pid;
	jp.pid = -1;
	rc = jail_parse_status(rd.status.data ? rd.status.data : "", rd.status.len, &res->jail, &res->failure, why,
	    whylen);
	if (rc != SBX_OK && res->failure == JAIL_FAIL_WARM_GONE && (res->start == MS_WARM || res->start == MS_FORK) &&
	    !retried) {
		/* Nothing of the run ran (its files, if written, went with that jail): run it cold, in a jail
		 * of its own (the standby is used up, so jail_start spawns one). The fork server away (restarting,
		 * say) is no surprise: jail_start then leaves it out for this run. */
		bool fork = res->start == MS_FORK;

		if (fork)
			log_info("fork server: %s; running cold", why);
		else
			log_warnx("standby jail %ld: %s; running cold", (long)jail_pid, why);
		retried = true;
		jail_proc_close(&jp);
		run_reap();
		run_result_free(res);
		result_clear(res);
		if (fork)
			res->start = MS_COLD_FORK_DOWN;
		buf_free(&rd.status);
		rd = (struct reading){ .jp = &jp, .res = res, .max_output = rd.max_output, .status_cap = rd.status_cap };
		if (input_records(in, &input) == -1) {
			rc = SBX_ENOMEM;
			snprintf(why, whylen, "out of memory");
			goto out;
		}
		goto again;
	}
	if (rc == SBX_OK)
		run_describe(res, (double)a->timeout_ms / 1000, (int)a->memory_mb, c->max_output, rd.killed_for_output);
out:
	if (jp.pid > 0) {
		kill(jp.pid, SIGKILL);
		while (waitpid(jp.pid, &wstatus, 0) == -1 && errno == EINTR)
			;
	}
	jail_proc_close(&jp);
	buf_free(&input);
	buf_free(&argv_bytes);
	buf_free(&rd.status);
	return rc;
}

pid_t
run_fork_server_spawn(const struct conf *c, int *report_r)
{
	struct jail_args a;
	struct buf bytes = { 0 };
	char *argv[8], envstore[5][256], *envp[6];
	int devnull, report[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	pid_t pid = -1;

	jail_args_init(&a);
	a.verb = JAIL_VERB_FORKSERVER;
	snprintf(a.config, sizeof(a.config), "%s", c->file);
	if (jail_args_to_argv(&a, &bytes, argv, 8) == -1 || (devnull = high_fd(open("/dev/null", O_RDWR | O_CLOEXEC))) == -1) {
		buf_free(&bytes);
		return -1;
	}
	if (pipe2(report, O_CLOEXEC) == -1 || (report[1] = high_fd(report[1])) == -1) {
		close(devnull);
		if (report[0] != -1)
			close(report[0]);
		buf_free(&bytes);
		return -1;
	}
	/* Its stdout is its reports (the server's memory), its stderr ours (the server's own complaints reach the
	 * log); nothing else of ours. */
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, devnull, 0);
	posix_spawn_file_actions_adddup2(&fa, report[1], 1);
	errno = posix_spawn(&pid, c->jail, &fa, NULL, argv, jail_envp(envstore, envp, 6));	/* (as a run's jail's) */
	posix_spawn_file_actions_destroy(&fa);
	close(devnull);
	close(report[1]);
	buf_free(&bytes);
	if (errno != 0) {
		close(report[0]);
		return -1;
	}
	*report_r = report[0];
	return pid;
}

int
run_jail_command(const struct conf *c, enum jail_verb verb, const char *target)
{
	struct jail_args a;
	struct buf bytes = { 0 };
	char *argv[8];
	int status, devnull, rc = -1;
	posix_spawn_file_actions_t fa;
	pid_t pid, w;

	jail_args_init(&a);
	a.verb = verb;
	snprintf(a.config, sizeof(a.config), "%s", c->file);
	if (target && strlen(target) >= sizeof(a.target))
		return -1;	/* no directory of ours has such a name: never remove a truncated one */
	snprintf(a.target, sizeof(a.target), "%s", target ? target : "");
	if (jail_args_to_argv(&a, &bytes, argv, 8) == -1)
		goto out;
	/* The jail insists on its fds; give it /dev/null for all of them. */
	if ((devnull = high_fd(open("/dev/null", O_RDWR | O_CLOEXEC))) == -1)
		goto out;
	posix_spawn_file_actions_init(&fa);
	for (int i = 0; i <= JAIL_FD_LAST(false); i++)
		posix_spawn_file_actions_adddup2(&fa, devnull, i);
	errno = posix_spawn(&pid, c->jail, &fa, NULL, argv, (char *[]){ NULL });
	posix_spawn_file_actions_destroy(&fa);
	close(devnull);
	if (errno != 0)
		goto out;
	while ((w = waitpid(pid, &status, 0)) == -1 && errno == EINTR)
		;
	rc = w == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
out:
	buf_free(&bytes);
	return rc;
}
