/* health.c: the jail self-test run at start-up, and the /health document built from the scoreboard. */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cgroup.h"
#include "db.h"
#include "interp.h"
#include "log.h"
#include "pool.h"
#include "run.h"

/* Runs inside the jail and reports what it can see; health_selftest judges it. */
static char selftest_code[] =
    "import json, os, socket, sys\n"
    "r = {'uid': os.getuid(), 'gid': os.getgid(), 'pid': os.getpid(), 'hostname': socket.gethostname(),\n"
    "     'interfaces': [n for _, n in socket.if_nameindex()], 'shadow': os.path.exists('/etc/shadow'),\n"
    "     'version': '%d.%d.%d' % sys.version_info[:3], 'groups': os.getgroups()}\n"
    "r['cgroups'] = sorted(l.split(':')[1] for l in open('/proc/self/cgroup') if 'pysandbox-' in l)\n"
    "import ctypes\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "r['unshare_user'] = libc.unshare(0x10000000) == 0 or ctypes.get_errno() != 1\n"
    "try:\n"
    "    open('/usr/.pysandbox-selftest', 'w')\n"
    "    r['usr_writable'] = True\n"
    "except OSError:\n"
    "    r['usr_writable'] = False\n"
    "leaks = []\n"
    "for path in sys.argv[1:]:\n"
    "    try:\n"
    "        leaks.append(open(path).read())\n"
    "    except OSError:\n"
    "        pass\n"
    "r['canary_read'] = leaks\n"
    "print(json.dumps(r))\n";

/* Must not outlive its timeout, whatever it does with signals. */
static char selftest_sleeper[] =
    "import signal, time\n"
    "for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n"
    "    signal.signal(s, signal.SIG_IGN)\n"
    "time.sleep(30)\n";

static double
wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char cgroup_desc[96] = "unknown";

static bool
judge(const struct conf *c, int slot, const struct run_result *res, char *why, size_t whylen)
{
	json_object *o = NULL, *v, *ifs;
	bool ok = false;
	long uid = c->uid_base + slot;

	if (res->status != RUN_OK) {
		snprintf(why, whylen, "self-test program failed: %.200s", res->error);
		return false;
	}
	if ((o = json_tokener_parse(res->out.data ? res->out.data : "")) == NULL) {
		snprintf(why, whylen, "self-test printed no report");
		return false;
	}
#define GET(key) (json_object_object_get_ex(o, key, &v) ? v : NULL)
	if (json_object_get_int64(GET("uid")) != uid || json_object_get_int64(GET("gid")) != uid)
		snprintf(why, whylen, "self-test ran with the wrong uid/gid");
	else if (json_object_array_length(GET("groups")) != 0)
		snprintf(why, whylen, "self-test kept supplementary groups");
	else if (json_object_get_int(GET("pid")) != 2)
		snprintf(why, whylen, "self-test is not in its own pid namespace");
	else if (strcmp(json_object_get_string(GET("hostname")) ? json_object_get_string(GET("hostname")) : "", "sandbox"))
		snprintf(why, whylen, "self-test is not in its own uts namespace");
	else if ((ifs = GET("interfaces")) == NULL || json_object_array_length(ifs) != 1 ||
	    strcmp(json_object_get_string(json_object_array_get_idx(ifs, 0)), "lo"))
		snprintf(why, whylen, "self-test is not in its own network namespace");
	else if (json_object_get_boolean(GET("shadow")))
		snprintf(why, whylen, "self-test can see the host's /etc/shadow");
	else if (json_object_get_boolean(GET("unshare_user")))
		snprintf(why, whylen, "self-test could create a user namespace (seccomp not in force)");
	else if (json_object_array_length(GET("canary_read")) != 0)
		snprintf(why, whylen, "self-test could read a canary the service planted on the host");
	else if (json_object_get_boolean(GET("usr_writable")))
		snprintf(why, whylen, "self-test can write to /usr");
	else {
		json_object *cgs = GET("cgroups");
		size_t n = cgs ? json_object_array_length(cgs) : 0;

		snprintf(scoreboard->python_version, sizeof(scoreboard->python_version), "%s",
		    json_object_get_string(GET("version")) ? json_object_get_string(GET("version")) : "");
		/* Whether the run itself was in cgroups of ours (as /proc/self/cgroup
		 * showed it), then which version and controllers they are. */
		cgroup_desc[0] = '\0';
		if (n > 0)
			cg_describe(cgroup_desc, sizeof(cgroup_desc));
		if (cgroup_desc[0] == '\0')
			snprintf(cgroup_desc, sizeof(cgroup_desc), "none (rlimits only)");
		ok = true;
	}
#undef GET
	json_object_put(o);
	return ok;
}

bool
health_selftest(const struct conf *c, int slot)
{
	struct exec_req req = { 0 };
	struct run_result res = { 0 };
	char why[256] = "", canary[2][CONF_PATH_MAX + 64], secret[40], *args[3];
	bool ok = false;
	int fd;

	/* Canaries the run must not be able to read: in the host's /tmp and in
	 * the state directory (where environments and the database live). */
	snprintf(secret, sizeof(secret), "pysandbox-canary-%ld-%ld", (long)getpid(), (long)random());
	snprintf(canary[0], sizeof(canary[0]), "/tmp/.%s", secret);
	snprintf(canary[1], sizeof(canary[1]), "%s/.%s", c->state_dir, secret);
	for (int i = 0; i < 2; i++) {
		if ((fd = open(canary[i], O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644)) != -1) {
			if (write(fd, secret, strlen(secret)) < 0) {
				/* an unreadable canary proves nothing, but it does no harm either */
			}
			close(fd);
		}
		args[i] = canary[i];
	}
	args[2] = NULL;

	req.code = (char *)selftest_code;
	req.code_len = sizeof(selftest_code) - 1;
	req.args = args;
	req.nargs = 2;
	req.timeout = c->max_timeout < 10 ? c->max_timeout : 10;
	req.memory_mb = c->default_memory_mb;
	req.cpus = c->default_cpus;
	if (run_exec(c, slot, &req, NULL, &res, why, sizeof(why)) != SBX_OK) {
		char tmp[256];
		snprintf(tmp, sizeof(tmp), "sandbox could not be set up: %.200s", why);
		memcpy(why, tmp, sizeof(why));
	} else
		ok = judge(c, slot, &res, why, sizeof(why));
	run_result_free(&res);
	run_reap();	/* the master reaps its children by pid: leave nothing pending */
	unlink(canary[0]);
	unlink(canary[1]);

	/* A program that ignores signals must still end at its timeout. */
	if (ok) {
		memset(&req, 0, sizeof(req));
		req.code = selftest_sleeper;
		req.code_len = sizeof(selftest_sleeper) - 1;
		req.timeout = 0.3;
		req.memory_mb = c->default_memory_mb;
		if (run_exec(c, slot, &req, NULL, &res, why, sizeof(why)) != SBX_OK || res.status != RUN_TIMEOUT ||
		    res.wall_time > 2) {
			snprintf(why, sizeof(why), "self-test outlived its timeout (status %s, %.1f s)",
			    run_status_name(res.status), res.wall_time);
			ok = false;
		}
		run_result_free(&res);
	run_reap();	/* the master reaps its children by pid: leave nothing pending */
	}

#ifdef PYSANDBOX_SABOTAGE
	/* make sabotage: the mechanisms switched off would fail the self-test; the
	 * hostile tests are to find the holes themselves. */
	if (getenv("PYSANDBOX_SABOTAGE") && *getenv("PYSANDBOX_SABOTAGE")) {
		log_warnx("SABOTAGED BUILD: isolation off (%s); self-test result ignored: %s",
		    getenv("PYSANDBOX_SABOTAGE"), ok ? "passed" : why);
		ok = true;
	}
#endif
	snprintf(scoreboard->isolation, sizeof(scoreboard->isolation),
	    "{\"namespaces\":[\"mount\",\"pid\",\"ipc\",\"uts\",\"net\"],"
	    "\"root\":\"pivot_root into a tmpfs with read-only binds of /usr and a generated /etc\","
	    "\"uid_range\":\"%ld-%ld\",\"no_new_privs\":true,"
	    "\"rlimits\":[\"cpu\",\"as\",\"fsize\",\"nofile\",\"nproc\",\"core\"],"
	    "\"tmpfs_mb\":{\"work\":%d,\"tmp\":%d},"
	    "\"seccomp\":\"deny-list (namespaces, mounts, ptrace, bpf, keyrings, io_uring, kernel and clock changes)\",\"cgroup\":\"%s\",\"network_requests_allowed\":%s}",
	    c->uid_base, c->uid_base + c->uid_count - 1, c->workdir_mb, c->tmp_mb, cgroup_desc,
	    c->allow_network ? "true" : "false");
	scoreboard->checked_at = wall_now();
	if (ok) {
		scoreboard->reason[0] = '\0';
		scoreboard->healthy = 1;
		log_info("jail self-test passed (python %s)", scoreboard->python_version);
	} else {
		snprintf(scoreboard->reason, sizeof(scoreboard->reason), "%s", why);
		scoreboard->healthy = 0;
		log_warnx("jail self-test failed: %s", why);
	}
	return ok;
}

void
health_suspect(void)
{
	/* The master runs the self-test (it alone writes the health state), at
	 * most once a second however many workers ask. */
	__atomic_store_n(&scoreboard->selftest_wanted, 1, __ATOMIC_RELEASE);
	if (scoreboard->master_pid > 0)
		kill(scoreboard->master_pid, SIGUSR1);
}

/* A wall-clock time in seconds as the API's timestamps are written (db_format_time). */
static void
iso8601(double t, char *out, size_t n)
{
	struct timespec ts = { .tv_sec = (time_t)t, .tv_nsec = (long)((t - (double)(time_t)t) * 1e9) };
	char text[DB_TIME_LEN];

	db_format_time(&ts, text);
	snprintf(out, n, "%s", text);
}

/* The worker processes now: every one, the busy ones, those of the API socket, the busy ones of the run socket. */
struct worker_counts {
	int	 total, busy, api, run_busy;
};

static void
count_workers(struct worker_counts *w)
{
	memset(w, 0, sizeof(*w));
	for (int i = 0; i < POOL_MAX_WORKERS; i++)
		if (scoreboard->slot[i].pid > 0) {
			w->total++;
			w->busy += scoreboard->slot[i].busy ? 1 : 0;
			w->api += !scoreboard->slot[i].takes_runs;
			w->run_busy += scoreboard->slot[i].takes_runs && scoreboard->slot[i].busy;
		}
}

char *
health_metrics(const struct conf *c, struct sqlite3 *envs_db)
{
	struct metrics_gauges g = { 0 };
	struct worker_counts w;
	struct admit_stats st;
	struct buf out = { 0 };

	count_workers(&w);
	admit_counts(&scoreboard->admit, &st);
	g.healthy = scoreboard->healthy;
	g.uptime_s = wall_now() - scoreboard->started;
	g.workers_busy = w.run_busy;
	g.workers_idle = w.total - w.api - w.run_busy;
	g.api_workers = w.api;
	g.run_slots = conf_workers(c);
	g.runs = st.running;
	g.queue_size = c->queue_size;
	g.queued = st.queued;
	if (envs_db == NULL || db_env_counts(envs_db, metrics_env_statuses, g.envs, 3) != SBX_OK)
		g.envs[0] = -1;
	if (metrics_render(&scoreboard->metrics, &g, &out) == -1) {
		buf_free(&out);
		return NULL;
	}
	return out.data;
}

char *
health_json(const struct conf *c, int *status)
{
	json_object *o = json_object_new_object(), *pool = json_object_new_object(), *interp, *lim, *iso;
	struct worker_counts w;
	char ts[DB_TIME_LEN], *out;

	count_workers(&w);
	*status = scoreboard->healthy ? 200 : 503;
	json_object_object_add(o, "status", json_object_new_string(scoreboard->healthy ? "healthy" : "unhealthy"));
	iso8601(wall_now(), ts, sizeof(ts));
	json_object_object_add(o, "timestamp", json_object_new_string(ts));
	json_object_object_add(o, "version", json_object_new_string(PACKAGE_VERSION));
	if (!scoreboard->healthy)
		json_object_object_add(o, "reason", json_object_new_string(scoreboard->reason));
	json_object_object_add(o, "uptime", json_object_new_int64((int64_t)(wall_now() - scoreboard->started)));
	iso8601(scoreboard->checked_at, ts, sizeof(ts));
	json_object_object_add(o, "self_test_at", json_object_new_string(ts));
	iso = json_tokener_parse(scoreboard->isolation);
	json_object_object_add(o, "isolation", iso);
	json_object_object_add(pool, "workers", json_object_new_int(w.total));
	json_object_object_add(pool, "busy", json_object_new_int(w.busy));
	json_object_object_add(pool, "idle", json_object_new_int(w.total - w.busy));
	json_object_object_add(pool, "api_workers", json_object_new_int(w.api));
	json_object_object_add(pool, "requests", json_object_new_int64((int64_t)scoreboard->requests));
	{
		struct admit_stats st;

		admit_counts(&scoreboard->admit, &st);
		json_object_object_add(pool, "run_slots", json_object_new_int(conf_workers(c)));
		json_object_object_add(pool, "runs", json_object_new_int(st.running));
		json_object_object_add(pool, "queue_size", json_object_new_int(c->queue_size));
		json_object_object_add(pool, "queued", json_object_new_int(st.queued));
		/* The fields of php-fpm's pool status page, with its names, for the tools that read them. */
		json_object_object_add(pool, "pool", json_object_new_string("pysandbox"));
		json_object_object_add(pool, "process manager", json_object_new_string("static"));
		iso8601(scoreboard->started, ts, sizeof(ts));
		json_object_object_add(pool, "start time", json_object_new_string(ts));
		json_object_object_add(pool, "start since", json_object_new_int64((int64_t)(wall_now() - scoreboard->started)));
		json_object_object_add(pool, "accepted conn", json_object_new_int64((int64_t)scoreboard->requests));
		json_object_object_add(pool, "listen queue", json_object_new_int(st.queued));
		json_object_object_add(pool, "max listen queue", json_object_new_int(st.max_queued));
		json_object_object_add(pool, "listen queue len", json_object_new_int(c->queue_size));
		json_object_object_add(pool, "idle processes", json_object_new_int(w.total - w.busy));
		json_object_object_add(pool, "active processes", json_object_new_int(w.busy));
		json_object_object_add(pool, "total processes", json_object_new_int(w.total));
		json_object_object_add(pool, "max active processes", json_object_new_int(st.max_running));
		json_object_object_add(pool, "max children reached", json_object_new_int64((int64_t)st.refused_busy));
		json_object_object_add(pool, "refused client share", json_object_new_int64((int64_t)st.refused_share));
	}
	json_object_object_add(o, "pool", pool);
	{
		struct interp found[INTERP_MAX];
		int n = interp_discover(c, found, INTERP_MAX);
		json_object *arr = json_object_new_array();

		for (int i = 0; i < n; i++) {
			interp = json_object_new_object();
			json_object_object_add(interp, "version", json_object_new_string(found[i].version));
			json_object_object_add(interp, "path", json_object_new_string(found[i].path));
			json_object_object_add(interp, "default", json_object_new_boolean(found[i].is_default));
			if (found[i].is_default)
				json_object_object_add(interp, "release", json_object_new_string(scoreboard->python_version));
			json_object_array_add(arr, interp);
		}
		json_object_object_add(o, "interpreters", arr);
	}
	lim = json_object_new_object();
	json_object_object_add(lim, "default_timeout", json_object_new_double(c->default_timeout));
	json_object_object_add(lim, "max_timeout", json_object_new_double(c->max_timeout));
	json_object_object_add(lim, "default_memory_mb", json_object_new_int(c->default_memory_mb));
	json_object_object_add(lim, "max_memory_mb", json_object_new_int(c->max_memory_mb));
	json_object_object_add(lim, "max_file_size", json_object_new_int64(c->max_file_size));
	json_object_object_add(lim, "max_code_length", json_object_new_int64(c->max_code_length));
	json_object_object_add(lim, "max_output", json_object_new_int64(c->max_output));
	json_object_object_add(o, "limits", lim);
	out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return out;
}
