/* run.c: runs one request's code through pysandbox-jail and turns its outcome into the API's result. */
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

#include <json-c/json.h>

#include "b64.h"
#include "jailproto.h"
#include "log.h"
#include "run.h"

/* Seconds the jail gets beyond the run's timeout to set up and hand back files. */
#define RUN_SLACK_S	15

const char *
run_status_name(enum run_status s)
{
	static const char *names[] = { "ok", "error", "timeout", "memory_limit", "output_limit", "killed" };
	return names[s];
}

void
run_result_free(struct run_result *res)
{
	buf_free(&res->out);
	buf_free(&res->err);
	for (size_t i = 0; i < res->nfiles; i++) {
		free(res->files[i].name);
		free(res->files[i].data);
	}
	free(res->files);
	memset(res, 0, sizeof(*res));
}

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

/* A new fd >= 6 so that the spawn's dup2 onto 0-5 never clobbers a source. */
static int
high_fd(int fd)
{
	int nfd;

	if (fd == -1 || fd >= 6)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 6);
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

/* This worker's jail for its next request, spawned after the last answer. */
static struct jail_proc standby = JAIL_PROC_NONE;

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

/* Spawn the jail with argv (a standby when argv[1] is "standby", which
 * gets the arguments pipe as fd 5), with input and stdin in its memfds
 * when given (a standby's are written later). Only a failed spawn itself is
 * the sandbox's failure (SBX_EJAIL); a lack of memory or fds is the host's. */
static enum sbx_err
jail_spawn(const struct conf *c, char *const argv[], const struct buf *input, const struct buf *stdin_data,
    struct jail_proc *j, char *why, size_t whylen)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char envstore[5][256], *envp[6];
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 }, stp[2] = { -1, -1 }, argp[2] = { -1, -1 };
	bool is_standby = argv[1] && strcmp(argv[1], "standby") == 0;
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
	    (stdin_data && pwrite_all(j->stdin_fd, stdin_data->data, stdin_data->len) == -1)) {
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
	posix_spawn_file_actions_adddup2(&fa, j->stdin_fd, 0);
	posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	posix_spawn_file_actions_adddup2(&fa, stp[1], 3);
	posix_spawn_file_actions_adddup2(&fa, j->in_fd, 4);
	if (is_standby)
		posix_spawn_file_actions_adddup2(&fa, argp[0], 5);
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
run_standby(const struct conf *c)
{
	static char *const argv[] = { "pysandbox-jail", "standby", NULL };
	char why[256];

	if (standby.pid > 0)
		return;
	if (jail_spawn(c, argv, NULL, NULL, &standby, why, sizeof(why)) != SBX_OK)
		log_debug("no standby jail: %s", why);	/* the next run spawns its own */
}

void
run_standby_drop(void)
{
	int st;

	if (standby.pid <= 0)
		return;
	jail_proc_close(&standby);	/* EOF on its arguments: it exits (cgroups: see jail.c) */
	while (waitpid(standby.pid, &st, 0) == -1 && errno == EINTR)
		;
	standby.pid = -1;
}

/* Hand a standby its run: the input, then the arguments and EOF. */
static int
standby_start(struct jail_proc *j, char *const argv[], const struct buf *input, const struct buf *stdin_data)
{
	bool gone = false;

	if (pwrite_all(j->in_fd, input->data, input->len) == -1 ||
	    (stdin_data->len && pwrite_all(j->stdin_fd, stdin_data->data, stdin_data->len) == -1))
		return -1;
	for (int i = 0; argv[i] && !gone; i++) {
		const char *p = argv[i];
		size_t left = strlen(p) + 1;

		while (left > 0 && !gone) {
			ssize_t w = write(j->args_w, p, left);

			if (w == -1 && errno == EINTR)
				continue;
			gone = w == -1;	/* it died: its status stream says why */
			if (!gone) {
				p += w;
				left -= (size_t)w;
			}
		}
	}
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

/* Parse the jail's status stream (jail.h). Pure: used on untrusted bytes in the fuzzer. */
int
run_parse_status(const char *p, size_t n, struct run_result *res, char *why, size_t whylen)
{
	const char *end = p + n;
	bool have_r = false, done = false;
	size_t cap = 0;

	why[0] = '\0';
	res->env_bytes = res->env_inodes = -1;
	while (p < end && !done) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t linelen;
		char line[256];

		if (nl == NULL)
			break;
		linelen = (size_t)(nl - p);
		if (linelen >= sizeof(line)) {
			snprintf(why, whylen, "malformed status record");
			return -1;
		}
		memcpy(line, p, linelen);
		line[linelen] = '\0';
		p = nl + 1;
		switch (line[0]) {
		case 'E':
			snprintf(why, whylen, "%s", linelen > 2 ? line + 2 : "unknown failure");
			return -1;
		case 'I':
			snprintf(why, whylen, "%s", linelen > 2 ? line + 2 : "input files could not be written");
			return -2;
		case 'L':
			snprintf(why, whylen, "%s", linelen > 2 ? line + 2 : "beyond the configured limits");
			return -3;
		case 'X': {
			int errnum, used = 0;

			if (sscanf(line, "X %d %n", &errnum, &used) != 1 || used == 0 || errnum <= 0) {
				snprintf(why, whylen, "malformed start record");
				return -1;
			}
			res->start_errno = errnum;
			snprintf(why, whylen, "%s", line + used);
			return -4;
		}
		case 'R': {
			char how[16];
			long wall, ut, st, rss;
			int code, sig;

			if (sscanf(line, "R %15s %d %d %ld %ld %ld %ld", how, &code, &sig, &wall, &ut, &st, &rss) != 7) {
				snprintf(why, whylen, "malformed result record");
				return -1;
			}
			have_r = true;
			res->exit_code = code;
			res->signal = sig;
			res->wall_time = (double)wall / 1e6;
			res->cpu_time = ((double)ut + (double)st) / 1e6;	/* as doubles: the sum may not fit */
			res->max_rss_kb = rss;
			if (strcmp(how, "timeout") == 0)
				res->status = RUN_TIMEOUT;
			else if (strcmp(how, "killed") == 0)
				res->status = RUN_KILLED;
			else if (strcmp(how, "exited") == 0)
				res->status = code == 0 ? RUN_OK : RUN_ERROR;
			else if (strcmp(how, "signaled") == 0)
				res->status = sig == SIGXCPU ? RUN_TIMEOUT : RUN_KILLED;
			else {
				snprintf(why, whylen, "unknown outcome");
				return -1;
			}
			break;
		}
		case 'F': {
			size_t nlen, dlen;
			struct run_file *f;

			if (!have_r || sscanf(line, "F %zu %zu", &nlen, &dlen) != 2 ||
			    nlen == 0 || nlen > 4096 || nlen > (size_t)(end - p) || dlen > (size_t)(end - p) - nlen) {
				snprintf(why, whylen, "malformed file record");
				return -1;
			}
			if (res->nfiles == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				struct run_file *nf = realloc(res->files, ncap * sizeof(*nf));
				if (nf == NULL)
					goto nomem;
				res->files = nf;
				cap = ncap;
			}
			f = &res->files[res->nfiles];
			memset(f, 0, sizeof(*f));
			if ((f->name = malloc(nlen + 1)) == NULL || (f->data = malloc(dlen ? dlen : 1)) == NULL) {
				free(f->name);
				goto nomem;
			}
			memcpy(f->name, p, nlen);
			f->name[nlen] = '\0';
			f->name_len = nlen;
			memcpy(f->data, p + nlen, dlen);
			f->len = dlen;
			res->nfiles++;
			p += nlen + dlen;
			break;
		}
		case 'T':
			res->trunc_files = true;
			break;
		case 'Z':
			if (have_r || linelen < 3) {
				snprintf(why, whylen, "malformed limit record");
				return -1;
			}
			snprintf(res->env_limit, sizeof(res->env_limit), "%.199s", line + 2);
			break;
		case 'S': {
			long long bytes, inodes;

			if (!have_r || sscanf(line, "S %lld %lld", &bytes, &inodes) != 2 || bytes < 0 || inodes < 0) {
				snprintf(why, whylen, "malformed size record");
				return -1;
			}
			res->env_bytes = bytes;
			res->env_inodes = inodes;
			break;
		}
		case 'C': {
			long oom, peak;

			if (!have_r || sscanf(line, "C %ld %ld", &oom, &peak) != 2) {
				snprintf(why, whylen, "malformed cgroup record");
				return -1;
			}
			res->oom_kills = oom;
			res->mem_peak = peak;
			break;
		}
		case 'D':
			done = true;
			break;
		default:
			snprintf(why, whylen, "unknown status record");
			return -1;
		}
	}
	if (!have_r || !done) {
		snprintf(why, whylen, "the sandbox ended without reporting a result");
		return -1;
	}
	return 0;
nomem:
	snprintf(why, whylen, "out of memory");
	return -1;
}

static void
describe_outcome(struct run_result *res, const struct exec_req *req, long max_output)
{
	const char *tail;

	/* The memory cgroup's OOM killer ended (part of) a run that then failed. */
	if (res->oom_kills > 0 && res->status != RUN_OK && res->status != RUN_OUTPUT) {
		res->status = RUN_MEMORY;
		snprintf(res->error, sizeof(res->error), "Memory limit of %d MB exceeded", req->memory_mb);
		return;
	}
	switch (res->status) {
	case RUN_OK:
		res->error[0] = '\0';
		return;
	case RUN_TIMEOUT:
		if (res->signal == SIGXCPU)
			snprintf(res->error, sizeof(res->error), "CPU time limit exceeded (timeout %g s)", req->timeout);
		else
			snprintf(res->error, sizeof(res->error), "Execution timed out after %g seconds", req->timeout);
		return;
	case RUN_OUTPUT:
		snprintf(res->error, sizeof(res->error), "Output limit of %ld bytes reached; the program was stopped",
		    max_output);
		return;
	case RUN_KILLED:
		if (res->signal)
			snprintf(res->error, sizeof(res->error), "Killed by signal SIG%s",
			    sigabbrev_np(res->signal) ? sigabbrev_np(res->signal) : "UNKNOWN");
		else
			snprintf(res->error, sizeof(res->error), "The program was stopped");
		return;
	case RUN_ERROR:
	case RUN_MEMORY:
		break;
	}

	/* Without a memory cgroup, running out of address space shows as a MemoryError. */
	tail = res->err.len ? res->err.data + (res->err.len > 256 ? res->err.len - 256 : 0) : "";
	if (strstr(tail, "\nMemoryError") || strncmp(res->err.data ? res->err.data : "", "MemoryError", 11) == 0) {
		res->status = RUN_MEMORY;
		snprintf(res->error, sizeof(res->error), "Memory limit of %d MB exceeded", req->memory_mb);
		return;
	}
	snprintf(res->error, sizeof(res->error), "Process exited with status %d", res->exit_code);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum sbx_err
run_exec(const struct conf *c, int slot, const struct exec_req *req, const struct run_spec *spec,
    struct run_result *res, char *why, size_t whylen)
{
	static const struct run_spec plain = { 0 };
	struct jail_proc jp = JAIL_PROC_NONE;
	struct buf input = { 0 }, status = { 0 };
	struct buf stdin_data = { req->stdin_data, req->stdin_len, req->stdin_len };
	char *argv[REQ_MAX_ARGS + 32], slotbuf[16], tmbuf[24], mbuf[16], fbuf[16], bbuf[24];
	char confbuf[CONF_PATH_MAX], envbuf_dir[96], pybuf[CONF_PATH_MAX], cbuf[24];
	int argc = 0, wstatus;
	enum sbx_err rc = SBX_EJAIL, spawned;
	bool killed_for_output = false, backstop = false;
	long status_cap = c->max_return_bytes + 1024L * 1024;
	double deadline, next_check;
	pid_t pid = -1;
	bool cancelled = false;

	if (spec == NULL)
		spec = &plain;
	memset(res, 0, sizeof(*res));
	res->exit_code = -1;
	snprintf(why, whylen, "unknown failure");
	run_reap();

	for (size_t i = 0; i < req->nfiles; i++)
		if (input_record(&input, req->files[i].name, req->files[i].data, req->files[i].len) == -1)
			goto nomem;
	if (input_record(&input, spec->main_name ? spec->main_name : "main.py", req->code, req->code_len) == -1)
		goto nomem;

	snprintf(slotbuf, sizeof(slotbuf), "%d", slot);
	snprintf(tmbuf, sizeof(tmbuf), "%ld", (long)ceil(req->timeout * 1000));
	snprintf(mbuf, sizeof(mbuf), "%d", req->memory_mb);
	snprintf(fbuf, sizeof(fbuf), "%d", c->max_return_files);
	snprintf(bbuf, sizeof(bbuf), "%ld", c->max_return_bytes);
	argv[argc++] = "pysandbox-jail";
	/* The jail takes --config from root, or when root alone can change the file. */
	if (c->file[0]) {
		snprintf(confbuf, sizeof(confbuf), "%s", c->file);
		argv[argc++] = "--config";
		argv[argc++] = confbuf;
	}
	argv[argc++] = "--slot";
	argv[argc++] = slotbuf;
	argv[argc++] = "--timeout-ms";
	argv[argc++] = tmbuf;
	argv[argc++] = "--memory-mb";
	argv[argc++] = mbuf;
	if (req->cpus > 0) {
		snprintf(cbuf, sizeof(cbuf), "%ld", (long)(req->cpus * 1000 + 0.5));
		argv[argc++] = "--cpus-milli";
		argv[argc++] = cbuf;
	}
	argv[argc++] = "--max-files";
	argv[argc++] = fbuf;
	argv[argc++] = "--max-return-bytes";
	argv[argc++] = bbuf;
	if (req->network)
		argv[argc++] = "--net";
	if (spec->env_dir) {
		snprintf(envbuf_dir, sizeof(envbuf_dir), "%s", spec->env_dir);
		argv[argc++] = "--env";
		argv[argc++] = envbuf_dir;
	}
	if (spec->build) {
		snprintf(pybuf, sizeof(pybuf), "%s", spec->python);
		argv[argc++] = "--build";
		argv[argc++] = "--python";
		argv[argc++] = pybuf;
	}
	argv[argc++] = "run";
	for (size_t i = 0; i < req->nargs; i++)
		argv[argc++] = req->args[i];
	argv[argc] = NULL;

	/* The worker's standby, if it is still there, else a jail of its own. */
	if (standby.pid > 0) {
		jp = standby;
		standby = (struct jail_proc)JAIL_PROC_NONE;
		if (waitpid(jp.pid, &wstatus, WNOHANG) != 0) {
			log_warnx("standby jail %ld had ended; starting another", (long)jp.pid);
			jail_proc_close(&jp);
			jp.pid = -1;
		} else if (standby_start(&jp, argv, &input, &stdin_data) == -1) {
			snprintf(why, whylen, "input memfd: %s", strerror(errno));
			pid = jp.pid;
			rc = SBX_ESYS;
			goto out;
		}
	}
	if (jp.pid <= 0 && (spawned = jail_spawn(c, argv, &input, &stdin_data, &jp, why, whylen)) != SBX_OK) {
		rc = spawned;
		goto out;
	}
	pid = jp.pid;
	/* Only the worker's read ends stay open here. */
	close(jp.stdin_fd);
	close(jp.in_fd);
	jp.stdin_fd = jp.in_fd = -1;
	buf_free(&input);

	/* Read all three streams until EOF; the jail's init closing them ends the run. */
	deadline = now_s() + req->timeout + RUN_SLACK_S;
	next_check = now_s() + 1;
	for (;;) {
		struct pollfd pfd[3] = {
			{ jp.out_r, POLLIN, 0 }, { jp.err_r, POLLIN, 0 }, { jp.st_r, POLLIN, 0 },
		};
		char chunk[65536];
		double left = deadline - now_s();
		int open_fds = 0, r;

		for (int i = 0; i < 3; i++)
			if (pfd[i].fd != -1)
				open_fds++;
		if (open_fds == 0)
			break;
		if (left <= 0) {
			if (backstop)
				break;	/* the jail ignored SIGKILL's consequences: give up on the pipes */
			log_warnx("jail %ld overran its deadline; killing it", (long)pid);
			kill(pid, SIGKILL);
			backstop = true;
			deadline = now_s() + 5;
			continue;
		}
		if (spec->keep_going && !cancelled && now_s() >= next_check) {
			next_check = now_s() + 1;
			if (!spec->keep_going(spec->ctx)) {
				cancelled = true;
				kill(pid, SIGTERM);	/* the jail ends the run and reports */
			}
		}
		if (spec->keep_going && left > 1)
			left = 1;
		r = poll(pfd, 3, (int)(left * 1000) + 1);
		if (r == -1 && errno != EINTR) {
			snprintf(why, whylen, "poll: %s", strerror(errno));
			rc = SBX_ESYS;
			goto out;
		}
		for (int i = 0; i < 3 && r > 0; i++) {
			struct buf *dst = i == 0 ? &res->out : i == 1 ? &res->err : &status;
			bool *trunc = i == 0 ? &res->trunc_out : i == 1 ? &res->trunc_err : NULL;
			long cap = i < 2 ? c->max_output : status_cap;
			ssize_t n;

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(pfd[i].fd, chunk, sizeof(chunk));
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0) {
				close(pfd[i].fd);
				if (i == 0) jp.out_r = -1;
				else if (i == 1) jp.err_r = -1;
				else jp.st_r = -1;
				continue;
			}
			if (i < 2 && spec->on_output) {
				spec->on_output(spec->ctx, i + 1, chunk, (size_t)n);
				continue;
			}
			if ((long)dst->len + n > cap) {
				size_t keep = (size_t)(cap - (long)dst->len);
				if (buf_append(dst, chunk, keep) == -1)
					goto nomem;
				if (trunc && !*trunc) {
					*trunc = true;
					killed_for_output = true;
					kill(pid, SIGTERM);	/* the jail ends the run and still reports */
				} else if (!trunc && !backstop) {
					kill(pid, SIGKILL);
					backstop = true;
				}
				continue;
			}
			if (buf_append(dst, chunk, (size_t)n) == -1)
				goto nomem;
		}
	}
	/* The jail may still be exiting: reap it at once if it is done, else
	 * once the answer has gone (run_reap; it holds nothing of this run). */
	if (waitpid(pid, &wstatus, WNOHANG) == 0)
		unreaped_jail = pid;
	pid = -1;

	switch (run_parse_status(status.data ? status.data : "", status.len, res, why, whylen)) {
	case 0:
		break;
	case -2:
		rc = SBX_EBADREQ;	/* the input did not fit: the client's doing */
		goto out;
	case -3:
		rc = SBX_ERELOAD;	/* the file's limits are stricter than the pool's */
		goto out;
	case -4:
		rc = SBX_ESTART;	/* the interpreter would not start: the caller says whose fault */
		goto out;
	default:
		rc = SBX_EJAIL;
		goto out;
	}
	if (killed_for_output || res->trunc_out || res->trunc_err)
		res->status = RUN_OUTPUT;
	describe_outcome(res, req, c->max_output);
	rc = SBX_OK;
	goto out;
nomem:
	rc = SBX_ENOMEM;
	snprintf(why, whylen, "out of memory");
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		while (waitpid(pid, &wstatus, 0) == -1 && errno == EINTR)
			;
	}
	jail_proc_close(&jp);
	buf_free(&input);
	buf_free(&status);
	return rc;
}

/* Seconds with microsecond precision, printed as such (json-c would print 17 digits). */
static json_object *
json_seconds(double s)
{
	char txt[32];

	snprintf(txt, sizeof(txt), "%.6f", s);
	return json_object_new_double_s(strtod(txt, NULL), txt);
}

int
run_jail_command(const struct conf *c, const char *verb, const char *arg)
{
	char *argv[8], confbuf[CONF_PATH_MAX], verbbuf[16], argbuf[96];
	int argc = 0, status, devnull, fds[5];
	posix_spawn_file_actions_t fa;
	pid_t pid;

	snprintf(verbbuf, sizeof(verbbuf), "%s", verb);
	argv[argc++] = "pysandbox-jail";
	if (c->file[0]) {
		snprintf(confbuf, sizeof(confbuf), "%s", c->file);
		argv[argc++] = "--config";
		argv[argc++] = confbuf;
	}
	argv[argc++] = verbbuf;
	if (arg) {
		snprintf(argbuf, sizeof(argbuf), "%s", arg);
		argv[argc++] = argbuf;
	}
	argv[argc] = NULL;
	/* The jail insists on fds 0-4; give it /dev/null for all of them. */
	if ((devnull = high_fd(open("/dev/null", O_RDWR | O_CLOEXEC))) == -1)
		return -1;
	for (int i = 0; i < 5; i++)
		fds[i] = devnull;
	posix_spawn_file_actions_init(&fa);
	for (int i = 0; i < 5; i++)
		posix_spawn_file_actions_adddup2(&fa, fds[i], i);
	errno = posix_spawn(&pid, c->jail, &fa, NULL, argv, (char *[]){ NULL });
	posix_spawn_file_actions_destroy(&fa);
	close(devnull);
	if (errno != 0)
		return -1;
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static json_object *
json_text(const char *p, size_t n)
{
	size_t outlen;
	char *clean = utf8_sanitize(p ? p : "", n, &outlen);
	json_object *o;

	if (clean == NULL)
		return NULL;
	o = json_object_new_string_len(clean, (int)outlen);
	free(clean);
	return o;
}

static json_object *
json_b64(const void *p, size_t n)
{
	size_t outlen;
	char *enc = b64_encode(p, n, &outlen);
	json_object *o;

	if (enc == NULL)
		return NULL;
	o = json_object_new_string_len(enc, (int)outlen);
	free(enc);
	return o;
}

char *
run_result_json(const struct run_result *res, const char *environment, bool output_base64)
{
	json_object *o = json_object_new_object(), *files, *trunc, *rsrc;
	bool collided = false;
	char *out = NULL;

	if (o == NULL)
		return NULL;
	json_object_object_add(o, "success", json_object_new_boolean(res->status == RUN_OK));
	json_object_object_add(o, "stdout", json_text(res->out.data, res->out.len));
	json_object_object_add(o, "stderr", json_text(res->err.data, res->err.len));
	json_object_object_add(o, "error", res->error[0] ? json_object_new_string(res->error) : NULL);
	json_object_object_add(o, "execution_time", json_seconds(res->wall_time));
	files = json_object_new_object();
	for (size_t i = 0; i < res->nfiles; i++) {
		size_t nlen;
		char *name = utf8_sanitize(res->files[i].name, res->files[i].name_len, &nlen);
		if (name == NULL)
			goto fail;
		/* Two non-UTF-8 names can sanitise alike: never drop one silently. */
		if (json_object_object_get_ex(files, name, NULL))
			collided = true;
		else
			json_object_object_add(files, name, json_b64(res->files[i].data, res->files[i].len));
		free(name);
	}
	json_object_object_add(o, "files", files);
	json_object_object_add(o, "exit_code", res->exit_code >= 0 ? json_object_new_int(res->exit_code) : NULL);
	if (res->signal) {
		char sig[32];
		snprintf(sig, sizeof(sig), "SIG%s", sigabbrev_np(res->signal) ? sigabbrev_np(res->signal) : "UNKNOWN");
		json_object_object_add(o, "signal", json_object_new_string(sig));
	} else
		json_object_object_add(o, "signal", NULL);
	json_object_object_add(o, "status", json_object_new_string(run_status_name(res->status)));
	trunc = json_object_new_object();
	json_object_object_add(trunc, "stdout", json_object_new_boolean(res->trunc_out));
	json_object_object_add(trunc, "stderr", json_object_new_boolean(res->trunc_err));
	json_object_object_add(trunc, "files", json_object_new_boolean(res->trunc_files || collided));
	json_object_object_add(o, "truncated", trunc);
	rsrc = json_object_new_object();
	json_object_object_add(rsrc, "cpu_time", json_seconds(res->cpu_time));
	json_object_object_add(rsrc, "max_rss_kb", json_object_new_int64(res->max_rss_kb));
	json_object_object_add(o, "resources", rsrc);
	json_object_object_add(o, "environment", environment ? json_object_new_string(environment) : NULL);
	if (output_base64) {
		json_object_object_add(o, "stdout_base64", json_b64(res->out.data ? res->out.data : "", res->out.len));
		json_object_object_add(o, "stderr_base64", json_b64(res->err.data ? res->err.data : "", res->err.len));
	}
	out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
fail:
	json_object_put(o);
	return out;
}
