/* health.c: the /health document and the /metrics text, read from the scoreboard. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "db.h"
#include "health.h"
#include "interp.h"
#include "now.h"
#include "scoreboard.h"
#include "slots.h"

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
	int	 total, busy, api, run_busy, warm_ready, fork_ready;
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
			w->warm_ready += scoreboard->slot[i].standby == SB_STANDBY_WARM;
			w->fork_ready += scoreboard->slot[i].standby == SB_STANDBY_FORK;
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
	admit_counts(sb_admit(), &st);
	g.healthy = scoreboard->healthy;
	g.uptime_s = now_wall() - scoreboard->started;
	g.workers_busy = w.run_busy;
	g.workers_idle = w.total - w.api - w.run_busy;
	g.api_workers = w.api;
	g.run_slots = conf_workers(c);
	g.runs = st.running;
	g.queue_size = c->queue_size;
	g.queued = st.queued;
	g.warm_ready = w.warm_ready;
	g.fork_server = c->fork_server ? scoreboard->fork_server_pid > 0 : -1;
	g.fork_server_starts = (long)scoreboard->fork_server_starts;
	g.fork_server_pss_kb = scoreboard->fork_server_pid > 0 ? scoreboard->fork_server_pss_kb : -1;
	if (envs_db == NULL || db_env_counts(envs_db, metrics_env_statuses, g.envs, 3) != SBX_OK)
		g.envs[0] = -1;
	if (metrics_render(&scoreboard->metrics, &g, &out) == -1) {
		buf_free(&out);
		return NULL;
	}
	return out.data;
}

/* The warm path: its configuration, the warm interpreters held now and how runs started since the start. */
static json_object *
warm_json(const struct conf *c, const struct worker_counts *w)
{
	json_object *o = json_object_new_object(), *cold = json_object_new_object();
	const struct metrics *m = &scoreboard->metrics;
	uint64_t warm = metrics_get(&m->starts[MS_WARM]), off = metrics_get(&m->starts[MS_COLD_OFF]),
	    unfit = metrics_get(&m->starts[MS_COLD_UNFIT]), not_ready = metrics_get(&m->starts[MS_COLD_NOT_READY]);
	uint64_t all = warm + off + unfit + not_ready;

	json_object_object_add(o, "enabled", json_object_new_boolean(c->warm_interpreters));
	json_object_object_add(o, "workers", json_object_new_int(c->warm_interpreters ? slots_run_workers(c) : 0));
	json_object_object_add(o, "ready", json_object_new_int(w->warm_ready));
	json_object_object_add(o, "runs", json_object_new_int64((int64_t)warm));
	json_object_object_add(cold, "off", json_object_new_int64((int64_t)off));
	json_object_object_add(cold, "unfit", json_object_new_int64((int64_t)unfit));
	json_object_object_add(cold, "not_ready", json_object_new_int64((int64_t)not_ready));
	json_object_object_add(o, "cold_runs", cold);
	json_object_object_add(o, "hit_rate", all ? json_object_new_double((double)warm / (double)all) : NULL);
	return o;
}

/* The fork path: whether it is on and running, its server's memory, the run workers holding its child for their
 * next run, and how runs took it since the start. */
static json_object *
fork_json(const struct conf *c, const struct worker_counts *w)
{
	json_object *o = json_object_new_object();
	const struct metrics *m = &scoreboard->metrics;
	uint64_t forked = metrics_get(&m->starts[MS_FORK]), down = metrics_get(&m->starts[MS_COLD_FORK_DOWN]);
	bool running = scoreboard->fork_server_pid > 0;

	json_object_object_add(o, "enabled", json_object_new_boolean(c->fork_server));
	json_object_object_add(o, "running", json_object_new_boolean(running));
	json_object_object_add(o, "starts", json_object_new_int64((int64_t)scoreboard->fork_server_starts));
	json_object_object_add(o, "pss_kb", running && scoreboard->fork_server_pss_kb >= 0 ?
	    json_object_new_int64(scoreboard->fork_server_pss_kb) : NULL);
	json_object_object_add(o, "ready", json_object_new_int(w->fork_ready));
	json_object_object_add(o, "runs", json_object_new_int64((int64_t)forked));
	json_object_object_add(o, "cold_runs", json_object_new_int64((int64_t)down));
	return o;
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
	iso8601(now_wall(), ts, sizeof(ts));
	json_object_object_add(o, "timestamp", json_object_new_string(ts));
	json_object_object_add(o, "version", json_object_new_string(PACKAGE_VERSION));
	if (!scoreboard->healthy)
		json_object_object_add(o, "reason", json_object_new_string(scoreboard->reason));
	json_object_object_add(o, "uptime", json_object_new_int64((int64_t)(now_wall() - scoreboard->started)));
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

		admit_counts(sb_admit(), &st);
		json_object_object_add(pool, "run_slots", json_object_new_int(conf_workers(c)));
		json_object_object_add(pool, "runs", json_object_new_int(st.running));
		json_object_object_add(pool, "queue_size", json_object_new_int(c->queue_size));
		json_object_object_add(pool, "queued", json_object_new_int(st.queued));
		/* The fields of php-fpm's pool status page, with its names, for the tools that read them. */
		json_object_object_add(pool, "pool", json_object_new_string("pysandbox"));
		json_object_object_add(pool, "process manager", json_object_new_string("static"));
		iso8601(scoreboard->started, ts, sizeof(ts));
		json_object_object_add(pool, "start time", json_object_new_string(ts));
		json_object_object_add(pool, "start since", json_object_new_int64((int64_t)(now_wall() - scoreboard->started)));
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
	json_object_object_add(o, "warm", warm_json(c, &w));
	json_object_object_add(o, "fork_server", fork_json(c, &w));
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
