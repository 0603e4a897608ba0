/* test_health.c: TAP tests of the /health document (health.c) read from a real scoreboard (scoreboard.c),
 * written through its setters as the master and a worker write it. */
#include "config.h"

#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "health.h"
#include "scoreboard.h"
#include "slots.h"
#include "tap.h"
#include "testjson.h"
#include "testutil.h"

static void
test_health(void)
{
	struct conf c;
	json_object *o;
	char *txt;
	int status = 0;

	conf_defaults(&c);
	if (sb_create(&c) == -1)
		exit(99);
	/* This process is the master: its setters; worker 0 busy, worker 1 idle. */
	sb_set_health(true, "", "{\"seccomp\":false}", "3.11.2");
	sb_worker_started(0, 100, true);
	sb_worker_started(1, 101, false);
	sb_worker_busy(0, true);
	txt = health_json(&c, &status);
	o = txt ? json_tokener_parse(txt) : NULL;
	ok(status == 200 && json_str_is(o, "status", "healthy", 7), "health: healthy -> 200");
	{
		json_object *ts = json_get(o, "timestamp");
		const char *s = json_object_get_string(ts);
		size_t n = s ? strlen(s) : 0;
		/* Python's isoformat() of an aware UTC time: 2026-12-01T19:38:22[.548239]+00:00 */
		ok(s && (n == 25 || n == 32) && s[4] == '-' && s[10] == 'T' && strcmp(s + n - 6, "+00:00") == 0 &&
		    (n == 25 || s[19] == '.'), "health: ISO 8601 UTC timestamp as the original wrote it (%s)",
		    s ? s : "none");
	}
	ok(json_object_get_int(json_get(json_get(o, "pool"), "workers")) == 2 && json_object_get_int(json_get(json_get(o, "pool"), "busy")) == 1 &&
	    json_object_get_int(json_get(json_get(o, "pool"), "idle")) == 1, "health: pool workers 2, busy 1, idle 1");
	ok(json_object_get_int(json_get(json_get(o, "pool"), "api_workers")) == 1, "health: one of them the API socket's");
	ok(json_object_is_type(json_get(o, "isolation"), json_type_object), "health: isolation object");
	ok(json_get(o, "reason") == NULL, "health: no reason when healthy");
	{
		json_object *warm = json_get(o, "warm");

		ok(warm && !json_object_get_boolean(json_get(warm, "enabled")) &&
		    json_object_get_int(json_get(warm, "workers")) == 0 && json_object_get_int(json_get(warm, "ready")) == 0 &&
		    json_get(warm, "hit_rate") == NULL, "health: warm path off, no runs yet: no hit rate");
	}
	json_object_put(o);
	free(txt);
	/* Warm: worker 0 holds a warm standby; 3 runs warm, 1 cold (unfit). A worker gone shows none. */
	c.warm_interpreters = true;
	sb_worker_started(2, 102, true);
	sb_worker_standby(0, SB_STANDBY_WARM);
	sb_worker_standby(1, SB_STANDBY_PLAIN);
	sb_worker_standby(2, SB_STANDBY_WARM);
	sb_worker_gone(2);
	for (int i = 0; i < 3; i++)
		metrics_count_start(sb_metrics(), MS_WARM);
	metrics_count_start(sb_metrics(), MS_COLD_UNFIT);
	txt = health_json(&c, &status);
	o = txt ? json_tokener_parse(txt) : NULL;
	{
		json_object *warm = json_get(o, "warm");

		ok(warm && json_object_get_boolean(json_get(warm, "enabled")) &&
		    json_object_get_int(json_get(warm, "workers")) == slots_run_workers(&c) &&
		    json_object_get_int(json_get(warm, "ready")) == 1 && json_object_get_int(json_get(warm, "runs")) == 3 &&
		    json_object_get_int(json_get(json_get(warm, "cold_runs"), "unfit")) == 1 &&
		    json_object_get_int(json_get(json_get(warm, "cold_runs"), "not_ready")) == 0 &&
		    near(json_object_get_double(json_get(warm, "hit_rate")), 0.75),
		    "health: warm ready 1 (a plain standby and a gone worker's not counted), hit rate 3 of 4");
	}
	json_object_put(o);
	free(txt);
	/* A worker's report alone changes nothing: the master's self-test decides. */
	sb_request_selftest();
	ok(scoreboard->healthy == 1 && sb_take_selftest_request() && !sb_take_selftest_request(),
	    "health: a suspected failure asks for one self-test, and changes nothing itself");
	sb_set_health(false, "self-test failed: spawn failed", "{}", NULL);
	txt = health_json(&c, &status);
	o = txt ? json_tokener_parse(txt) : NULL;
	ok(status == 503 && json_str_is(o, "status", "unhealthy", 9) && json_object_get_string(json_get(o, "reason")) &&
	    strstr(json_object_get_string(json_get(o, "reason")), "spawn failed"), "health: unhealthy -> 503 with the reason");
	ok(strcmp(scoreboard->python_version, "3.11.2") == 0, "health: a failed self-test keeps the last version seen");
	json_object_put(o);
	free(txt);
	sb_destroy();
}

int
main(void)
{
	test_health();
	return done_testing();
}
