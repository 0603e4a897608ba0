/* build.c: the builder process: claims queued environments from SQLite and builds each in the build jail. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "log.h"
#include "pool.h"
#include "run.h"
#include "scoreboard.h"
#include "signals.h"
#include "slots.h"

#define BUILD_LOG_LINE_MAX	4096	/* a longer line is split */
#define BUILD_LOG_MAX_BYTES	(4L * 1024 * 1024)	/* stored per build; the rest is counted */
#define GC_RETRY_MIN_S		1.0	/* a leftover that could not be removed is tried again after this, */
#define GC_RETRY_MAX_S		300.0	/* doubling up to this */
#define GC_MAX			64	/* leftovers whose retries are tracked */

static volatile sig_atomic_t builder_stop;
static volatile sig_atomic_t builder_drain;	/* reload: finish running builds, start none, exit */
static volatile sig_atomic_t builder_wake;

static void
on_builder_signal(int sig)
{
	if (sig == SIGUSR1 || sig == SIGCHLD)
		builder_wake = 1;
	else if (sig == SIGHUP)
		builder_drain = 1;
	else
		builder_stop = 1;
}

static double
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Remove what no build owns: leftovers of crashed builds and deleted
 * environments. Their files belong to build uids (or root, once sealed), so the
 * jail removes them. One that will not go is tried again later, less and less
 * often, and said once per try: never a busy loop. */
static struct {
	char	name[256];
	double	next_try, gap;
} gc_failed[GC_MAX];

static void
collect_garbage(const struct conf *c, const char *envs, bool include_builds)
{
	struct dirent *de;
	DIR *d;

	if ((d = opendir(envs)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		int slot = -1, free_slot = -1;

		if (strncmp(de->d_name, ".trash-", 7) != 0 &&
		    !(include_builds && strncmp(de->d_name, ".build-", 7) == 0))
			continue;
		for (int i = 0; i < GC_MAX; i++) {
			if (strcmp(gc_failed[i].name, de->d_name) == 0)
				slot = i;
			else if (gc_failed[i].name[0] == '\0' && free_slot == -1)
				free_slot = i;
		}
		if (slot != -1 && mono_now() < gc_failed[slot].next_try)
			continue;
		if (run_jail_command(c, JAIL_VERB_REMOVE, de->d_name) == 0) {
			if (slot != -1)
				gc_failed[slot].name[0] = '\0';
			continue;
		}
		if (slot == -1 && (slot = free_slot) == -1)
			slot = 0;	/* a table full of stuck leftovers: reuse, the retries only get more frequent */
		if (strcmp(gc_failed[slot].name, de->d_name) != 0) {
			snprintf(gc_failed[slot].name, sizeof(gc_failed[slot].name), "%s", de->d_name);
			gc_failed[slot].gap = GC_RETRY_MIN_S;
		} else if ((gc_failed[slot].gap *= 2) > GC_RETRY_MAX_S)
			gc_failed[slot].gap = GC_RETRY_MAX_S;
		gc_failed[slot].next_try = mono_now() + gc_failed[slot].gap;
		log_warnx("could not remove %s/%s; trying again in %.0f s", envs, de->d_name, gc_failed[slot].gap);
	}
	closedir(d);
}

/* ---- one build, in its own process ------------------------------------- */

struct build_ctx {
	sqlite3		*db;
	int64_t		 id;
	int64_t		 seq;
	struct buf	 partial[2];	/* an unfinished line per stream */
	bool		 gone;		/* the environment was deleted */
	long		 log_bytes;	/* stored so far */
	long		 dropped_lines, dropped_bytes;
};

static void
log_line(struct build_ctx *b, const char *stream, const char *line, size_t len)
{
	if (b->gone)
		return;
	/* A flood is counted, not stored: the database is not the build's disk. */
	if (strcmp(stream, "system") != 0 && b->log_bytes + (long)len > BUILD_LOG_MAX_BYTES) {
		b->dropped_lines++;
		b->dropped_bytes += (long)len;
		return;
	}
	b->log_bytes += (long)len;
	if (db_log_append(b->db, b->id, b->seq, stream, line, len) == SBX_ENOTFOUND)
		b->gone = true;
	b->seq++;
}

static void
system_line(struct build_ctx *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
system_line(struct build_ctx *b, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		log_line(b, "system", line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* Every output line goes to SQLite as it is produced. */
static void
on_output(void *ctx, int stream, const char *data, size_t n)
{
	struct build_ctx *b = ctx;
	struct buf *p = &b->partial[stream - 1];
	const char *name = stream == 1 ? "stdout" : "stderr";

	for (size_t i = 0; i < n; i++) {
		if (data[i] == '\n' || p->len >= BUILD_LOG_LINE_MAX) {
			log_line(b, name, p->data ? p->data : "", p->len);
			p->len = 0;
			if (data[i] == '\n')
				continue;
		}
		if (data[i] != '\r')
			buf_append(p, data + i, 1);
	}
}

static bool
keep_going(void *ctx)
{
	struct build_ctx *b = ctx;

	if (builder_stop)
		return false;
	if (!b->gone && !db_env_alive(b->db, b->id))
		b->gone = true;
	return !b->gone;
}

static void __attribute__((noreturn))
build_one(const struct conf *c, int slot, int64_t id, const char *name, const char *python, char *script,
    char *preload)
{
	struct build_ctx b = { 0 };
	struct run_input in = { .code = script, .code_len = strlen(script), .main_name = "setup.sh" };
	struct run_spec spec = { .on_output = on_output, .keep_going = keep_going, .ctx = &b };
	struct limits lim;
	struct jail_args a;
	struct run_result res = { 0 };
	char envs[CONF_PATH_MAX + 16], tmpname[64], tmp[CONF_PATH_MAX + 96], final[CONF_PATH_MAX + 96];
	char trash[CONF_PATH_MAX + 96], trashname[64], why[300], error[400] = "";
	double t0 = mono_now(), seconds;
	int64_t size = -1;
	enum sbx_err e;
	bool ok = false;
	char *mods[PRELOAD_MAX];
	int nmods = 0;

	if ((b.db = db_open(c->state_dir, why, sizeof(why))) == NULL)
		fatalx("build %s: database: %s", name, why);
	b.id = id;
	snprintf(envs, sizeof(envs), "%s/envs", c->state_dir);
	snprintf(tmpname, sizeof(tmpname), ".build-%lld", (long long)id);
	snprintf(tmp, sizeof(tmp), "%s/%s", envs, tmpname);
	snprintf(final, sizeof(final), "%s/%s", envs, name);
	log_info("building environment %s with %s", name, python);
	system_line(&b, "build started: python %s, timeout %g s%s", python, c->build_timeout,
	    c->build_network ? "" : ", no network");
	run_jail_command(c, JAIL_VERB_REMOVE, tmpname);
	if (mkdir(tmp, 0755) == -1) {
		snprintf(error, sizeof(error), "could not create the build directory: %s", strerror(errno));
		goto done;
	}

	limit_from_conf(c, LIMIT_BUILD, &lim);
	run_args(c, slot, lim.max_timeout, lim.max_memory_mb, lim.max_cpus, lim.allow_network, &a);
	snprintf(a.env, sizeof(a.env), "%s", tmpname);
	a.build = true;
	snprintf(a.python, sizeof(a.python), "%s", python);
	/* The preload modules, the program's arguments (the jail hands them to the import check). */
	if (preload[0])
		system_line(&b, "preload: %s", preload);
	for (char *save = NULL, *m = strtok_r(preload, " ", &save); m && nmods < PRELOAD_MAX;
	    m = strtok_r(NULL, " ", &save))
		mods[nmods++] = m;
	a.prog_args = mods;
	a.nprog_args = nmods;
	e = run_exec(c, &a, &in, &spec, &res, why, sizeof(why));
	for (int s = 0; s < 2; s++)
		if (b.partial[s].len)
			log_line(&b, s ? "stderr" : "stdout", b.partial[s].data, b.partial[s].len);
	if (b.dropped_lines)
		system_line(&b, "%ld more lines (%ld bytes) of output were not stored: the log keeps the first %ld bytes",
		    b.dropped_lines, b.dropped_bytes, BUILD_LOG_MAX_BYTES);
	if (b.gone || builder_stop)
		goto done;
	if (e == SBX_ERELOAD) {
		snprintf(error, sizeof(error), "the configuration file's build limits changed and the service has "
		    "not reloaded them yet (%.200s); create the environment again after the reload", why);
		goto done;
	}
	if (e != SBX_OK) {
		snprintf(error, sizeof(error), "the build sandbox could not be set up: %s", why);
		goto done;
	}
	/* The jail measured the environment, with privilege, while the build ran and after it. */
	if (res.jail.env_limit[0]) {
		snprintf(error, sizeof(error), "%.250s; the build was stopped", res.jail.env_limit);
		goto done;
	}
	switch (res.status) {
	case RUN_OK:
		break;
	case RUN_TIMEOUT:
		snprintf(error, sizeof(error), "the setup script timed out after %g seconds", c->build_timeout);
		goto done;
	case RUN_MEMORY:
		snprintf(error, sizeof(error), "the setup script ran out of memory (%d MB)", c->build_memory_mb);
		goto done;
	default:
		if (res.jail.exit_code == JAIL_BUILD_EXIT_VENV)
			snprintf(error, sizeof(error), "creating the virtual environment with %.200s failed", python);
		else if (res.jail.exit_code == JAIL_BUILD_EXIT_PRELOAD && nmods)
			snprintf(error, sizeof(error), "a preload module could not be imported after the setup script "
			    "(the build log shows which, and why)");
		else if (res.jail.exit_code > 0)
			snprintf(error, sizeof(error), "the setup script exited with status %d", res.jail.exit_code);
		else
			snprintf(error, sizeof(error), "the setup script was stopped: %s", res.error);
		goto done;
	}
	size = res.jail.env_bytes;
	/* A leftover of an environment of the same name deleted earlier goes first. */
	snprintf(trashname, sizeof(trashname), ".trash-old-%lld", (long long)id);
	snprintf(trash, sizeof(trash), "%s/%s", envs, trashname);
	if (rename(final, trash) == 0)
		run_jail_command(c, JAIL_VERB_REMOVE, trashname);
	if (rename(tmp, final) == -1) {
		snprintf(error, sizeof(error), "could not move the environment into place: %s", strerror(errno));
		goto done;
	}
	ok = true;
done:
	run_result_free(&res);
	seconds = mono_now() - t0;
	if (b.gone || (builder_stop && !ok)) {
		/* Deleted while building (or the service is stopping): leave no trace. */
		run_jail_command(c, JAIL_VERB_REMOVE, tmpname);
		if (builder_stop && !b.gone) {
			system_line(&b, "build interrupted: the service is stopping");
			db_build_finish(b.db, id, false, "interrupted: the service stopped during the build; "
			    "delete and create the environment again to retry", seconds, -1);
		}
		log_info("build of %s %s", name, b.gone ? "cancelled: the environment was deleted" : "interrupted");
		metrics_count_build(sb_metrics(), b.gone ? "cancelled" : "interrupted");
		db_close(b.db);
		_exit(0);
	}
	if (!ok)
		run_jail_command(c, JAIL_VERB_REMOVE, tmpname);
	system_line(&b, ok ? "build succeeded in %.1f s" : "build failed after %.1f s: %s", seconds, error);
	db_build_finish(b.db, id, ok, error, seconds, size);
	/* Deleted during the last moments: do not leave a directory behind. */
	if (ok && !db_env_alive(b.db, id)) {
		snprintf(trashname, sizeof(trashname), ".trash-%lld", (long long)id);
		snprintf(trash, sizeof(trash), "%s/%s", envs, trashname);
		if (rename(final, trash) == 0)
			run_jail_command(c, JAIL_VERB_REMOVE, trashname);
	}
	log_info("build of %s %s (%.1f s)%s%s", name, ok ? "succeeded" : "failed", seconds, ok ? "" : ": ", error);
	metrics_count_build(sb_metrics(), ok ? "succeeded" : "failed");
	buf_free(&b.partial[0]);
	buf_free(&b.partial[1]);
	db_close(b.db);
	_exit(ok ? 0 : 1);
}

/* ---- the builder's loop ------------------------------------------------ */

void
build_main(const struct conf *c)
{
	pid_t running[16] = { 0 };
	char envs[CONF_PATH_MAX + 16], why[300];
	static const int handled[] = { SIGUSR1, SIGCHLD, SIGTERM, SIGQUIT, SIGINT, SIGHUP, 0 };
	sigset_t wake, unblocked;
	sqlite3 *db;
	int nslots = c->max_builds < 16 ? c->max_builds : 16;

	signals_handle(handled, on_builder_signal, 0);
	signal(SIGPIPE, SIG_IGN);
	signals_unblock_all();
	/* Wake-ups stay blocked except inside ppoll, so none is lost between
	 * looking for work and going to sleep. */
	sigemptyset(&wake);
	sigaddset(&wake, SIGUSR1);
	sigaddset(&wake, SIGCHLD);
	sigaddset(&wake, SIGTERM);
	sigaddset(&wake, SIGHUP);
	sigprocmask(SIG_BLOCK, &wake, &unblocked);
	prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
	/* Tell it apart from the workers in ps and /proc/PID/comm. */
	prctl(PR_SET_NAME, "pysandbox-build", 0, 0, 0);
	if (getppid() == 1)
		return;

	snprintf(envs, sizeof(envs), "%s/envs", c->state_dir);
	if (mkdir(envs, 0750) == -1 && errno != EEXIST)
		fatal("mkdir %s", envs);
	if ((db = db_open(c->state_dir, why, sizeof(why))) == NULL)
		fatalx("builder: database: %s", why);
	/* No build runs yet: builds marked started were interrupted (the service
	 * or the builder died), and whatever a build directory holds is a leftover. */
	{
		int n = db_recover(db);
		if (n > 0)
			log_warnx("%d interrupted environment build(s) marked failed", n);
	}
	collect_garbage(c, envs, true);

	while (!builder_stop) {
		int status, free_slot = -1;
		pid_t p;

		while ((p = waitpid(-1, &status, WNOHANG)) > 0)
			for (int i = 0; i < nslots; i++)
				if (running[i] == p)
					running[i] = 0;
		collect_garbage(c, envs, false);
		for (int i = 0; i < nslots; i++)
			if (running[i] == 0) {
				free_slot = i;
				break;
			}
		if (builder_drain) {
			int busy = 0;
			for (int i = 0; i < nslots; i++)
				busy += running[i] != 0;
			if (busy == 0)
				break;	/* the master starts a builder with the new configuration */
			free_slot = -1;
		}
		if (free_slot >= 0) {
			char name[64], python[CONF_PATH_MAX], *script = NULL, *preload = NULL;
			int64_t id;

			if (db_build_claim(db, &id, name, sizeof(name), python, sizeof(python), &script, &preload) ==
			    SBX_OK) {
				/* Build uids come from the top of the pool, below the self-test's. */
				int slot = slot_build(c, free_slot);
				pid_t child = fork();

				if (child == 0) {
					sigprocmask(SIG_SETMASK, &unblocked, NULL);
					/* A builder that dies takes its builds down (they record it). */
					prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
					db_close(db);
					build_one(c, slot, id, name, python, script, preload);
				}
				if (child == -1) {
					log_warn("fork build");
					db_build_finish(db, id, false, "could not start the build", 0, -1);
				} else
					running[free_slot] = child;
				free(script);
				free(preload);
				continue;	/* look for more work at once */
			}
		}
		if (!builder_wake && !builder_stop) {
			struct timespec ts = { 1, 0 };
			ppoll(NULL, 0, &ts, &unblocked);
		}
		builder_wake = 0;
	}
	/* Stopping: builds end (each marks itself interrupted). */
	for (int i = 0; i < nslots; i++)
		if (running[i] > 0)
			kill(running[i], SIGTERM);
	for (int i = 0; i < nslots; i++)
		if (running[i] > 0)
			while (waitpid(running[i], NULL, 0) == -1 && errno == EINTR)
				;
	db_close(db);
}
