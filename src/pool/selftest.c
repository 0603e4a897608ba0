/* selftest.c: the master's jail self-test, at start-up, on reload and when a worker saw the jail fail: it
 * alone turns the service healthy or unhealthy. */
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
#include "interp.h"
#include "log.h"
#include "limit.h"
#include "pool.h"
#include "run.h"
#include "scoreboard.h"
#include "slots.h"

/* Runs inside the jail and reports what it can see; selftest_run judges it. */
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

static char cgroup_desc[96] = "unknown";

static bool
judge(const struct conf *c, int slot, const struct run_result *res, char *version, size_t versionlen, char *why,
    size_t whylen)
{
	json_object *o = NULL, *v, *ifs;
	bool ok = false;
	long uid = slot_uid(c, slot);

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

		snprintf(version, versionlen, "%s",
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

/* Write the canaries the run must not be able to read: in the host's /tmp and in the state directory
 * (where environments and the database live). */
static void
plant_canaries(const struct conf *c, char canary[2][CONF_PATH_MAX + 64])
{
	char secret[40];
	int fd;

	snprintf(secret, sizeof(secret), "pysandbox-canary-%ld-%ld", (long)getpid(), (long)random());
	snprintf(canary[0], sizeof(canary[0]), "/tmp/.%s", secret);
	snprintf(canary[1], sizeof(canary[1]), "%s/.%s", c->state_dir, secret);
	for (int i = 0; i < 2; i++)
		if ((fd = open(canary[i], O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644)) != -1) {
			if (write(fd, secret, strlen(secret)) < 0) {
				/* an unreadable canary proves nothing, but it does no harm either */
			}
			close(fd);
		}
}

/* One self-test program, as a run of the configuration's default limits would be. */
static enum sbx_err
selftest_exec(const struct conf *c, int slot, const char *code, size_t len, double timeout, char *const *argv,
    int argc, struct run_result *res, char *why, size_t whylen)
{
	struct run_input in = { .code = code, .code_len = len };
	struct limits lim;
	struct jail_args a;
	enum sbx_err e;

	limit_from_conf(c, LIMIT_RUN, &lim);
	run_args(c, slot, timeout, lim.default_memory_mb, lim.default_cpus, false, &a);
	a.prog_args = argv;
	a.nprog_args = argc;
	e = run_exec(c, &a, &in, NULL, res, why, whylen);
	run_reap();	/* the master reaps its children by pid: leave nothing pending */
	return e;
}

/* What /health says of the isolation in force. */
static void
describe_isolation(const struct conf *c, char *out, size_t outlen)
{
	snprintf(out, outlen,
	    "{\"namespaces\":[\"mount\",\"pid\",\"ipc\",\"uts\",\"net\"],"
	    "\"root\":\"pivot_root into a tmpfs with read-only binds of /usr and a generated /etc\","
	    "\"uid_range\":\"%ld-%ld\",\"no_new_privs\":true,"
	    "\"rlimits\":[\"cpu\",\"as\",\"fsize\",\"nofile\",\"nproc\",\"core\"],"
	    "\"tmpfs_mb\":{\"work\":%d,\"tmp\":%d},"
	    "\"seccomp\":\"deny-list (namespaces, mounts, ptrace, bpf, keyrings, io_uring, kernel and clock changes)\","
	    "\"cgroup\":\"%s\",\"network_requests_allowed\":%s}",
	    c->uid_base, slot_uid(c, c->uid_count - 1), c->workdir_mb, c->tmp_mb, cgroup_desc,
	    c->allow_network ? "true" : "false");
}

bool
selftest_run(const struct conf *c)
{
	struct run_result res = { 0 };
	char why[256] = "", canary[2][CONF_PATH_MAX + 64], *args[3], version[32] = "", isolation[1024];
	int slot = slot_selftest(c);
	bool ok = false;

	plant_canaries(c, canary);
	args[0] = canary[0];
	args[1] = canary[1];
	args[2] = NULL;
	if (selftest_exec(c, slot, selftest_code, sizeof(selftest_code) - 1, c->max_timeout < 10 ? c->max_timeout : 10,
	    args, 2, &res, why, sizeof(why)) != SBX_OK) {
		char tmp[256];
		snprintf(tmp, sizeof(tmp), "sandbox could not be set up: %.200s", why);
		memcpy(why, tmp, sizeof(why));
	} else
		ok = judge(c, slot, &res, version, sizeof(version), why, sizeof(why));
	run_result_free(&res);
	unlink(canary[0]);
	unlink(canary[1]);

	/* A program that ignores signals must still end at its timeout. */
	if (ok) {
		if (selftest_exec(c, slot, selftest_sleeper, sizeof(selftest_sleeper) - 1, 0.3, NULL, 0, &res, why,
		    sizeof(why)) != SBX_OK || res.status != RUN_TIMEOUT || res.jail.wall_time > 2) {
			snprintf(why, sizeof(why), "self-test outlived its timeout (status %s, %.1f s)",
			    run_status_name(res.status), res.jail.wall_time);
			ok = false;
		}
		run_result_free(&res);
	}
#ifdef PYSANDBOX_SABOTAGE
	/* make sabotage: the mechanisms switched off would fail the self-test; the hostile tests are to find
	 * the holes themselves. */
	if (getenv("PYSANDBOX_SABOTAGE") && *getenv("PYSANDBOX_SABOTAGE")) {
		log_warnx("SABOTAGED BUILD: isolation off (%s); self-test result ignored: %s",
		    getenv("PYSANDBOX_SABOTAGE"), ok ? "passed" : why);
		ok = true;
	}
#endif
	describe_isolation(c, isolation, sizeof(isolation));
	sb_set_health(ok, why, isolation, version[0] ? version : NULL);
	if (ok)
		log_info("jail self-test passed (python %s)", scoreboard->python_version);
	else
		log_warnx("jail self-test failed: %s", why);
	return ok;
}
