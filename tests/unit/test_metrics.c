/* test_metrics.c: the counters and their Prometheus text (metrics.c), and the JSON log lines' escaping (log.c). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "tap.h"

static int
has(const char *text, const char *line)
{
	return strstr(text, line) != NULL;
}

/* Every line is a comment (# HELP/# TYPE) or "name{labels} value" with a value that parses. */
static int
well_formed(const char *text)
{
	const char *p = text;

	while (*p) {
		const char *nl = strchr(p, '\n');
		char line[512], *sp, *end;

		if (nl == NULL || (size_t)(nl - p) >= sizeof(line))
			return 0;
		memcpy(line, p, (size_t)(nl - p));
		line[nl - p] = '\0';
		p = nl + 1;
		if (strncmp(line, "# HELP pysandbox_", 17) == 0 || strncmp(line, "# TYPE pysandbox_", 17) == 0)
			continue;
		if (strncmp(line, "pysandbox_", 10) != 0 || (sp = strrchr(line, ' ')) == NULL)
			return 0;
		strtod(sp + 1, &end);
		if (*end != '\0' || end == sp + 1)
			return 0;
	}
	return 1;
}

static void
test_render(void)
{
	struct metrics *m = calloc(1, sizeof(*m));
	struct metrics_gauges g = { .healthy = 1, .uptime_s = 12, .workers_busy = 1, .workers_idle = 3, .api_workers = 2,
		.run_slots = 4, .runs = 1, .queue_size = 4, .queued = 0, .warm_ready = 3, .envs = { 1, 2, 3 } };
	struct buf out = { 0 };

	metrics_count_request(m, MR_EXECUTE, 200);
	metrics_count_request(m, MR_EXECUTE, 200);
	metrics_count_request(m, MR_HEALTH, 503);
	metrics_count_request(m, MR_OTHER, 404);
	metrics_count_request(m, MR_ENVS, 42);		/* not an HTTP status: "other" */
	metrics_count_request(m, (enum metrics_route)99, 200);	/* not a route: "other" */
	metrics_count_run(m, "ok", 0.02);
	metrics_count_run(m, "timeout", 3);
	metrics_count_run(m, "no-such-status", 1000);	/* past the last bound: +Inf only */
	metrics_count_run(m, NULL, -1);			/* a negative time counts as 0 */
	metrics_count_queue_wait(m, 0);
	metrics_count_queue_wait(m, 0.3);
	metrics_count_build(m, "succeeded");
	metrics_count_build(m, "bogus");		/* counted as failed, not lost */
	metrics_count_start(m, MS_WARM);
	metrics_count_start(m, MS_WARM);
	metrics_count_start(m, MS_COLD_UNFIT);
	metrics_count_start(m, MS_NONE);		/* not started: not counted */
	metrics_count_start(m, (enum metrics_start)99);	/* not a path: not counted, and no write out of bounds */
	ok(metrics_render(m, &g, &out) == 0, "renders");
	ok(well_formed(out.data), "every line is a comment or a sample");
	ok(has(out.data, "pysandbox_requests_total{route=\"/execute\",status=\"200\"} 2\n"), "requests by route and status");
	ok(has(out.data, "pysandbox_requests_total{route=\"/health\",status=\"503\"} 1\n"), "a 503");
	ok(has(out.data, "pysandbox_requests_total{route=\"other\",status=\"404\"} 1\n"), "unknown paths under other");
	ok(has(out.data, "pysandbox_requests_total{route=\"/environments\",status=\"other\"} 1\n"), "odd status: other");
	ok(has(out.data, "pysandbox_requests_total{route=\"other\",status=\"200\"} 1\n"), "odd route: other");
	ok(!has(out.data, "status=\"201\""), "no zero request series");
	ok(has(out.data, "pysandbox_runs_total{status=\"ok\"} 1\n"), "runs ok");
	ok(has(out.data, "pysandbox_runs_total{status=\"timeout\"} 1\n"), "runs timeout");
	ok(has(out.data, "pysandbox_runs_total{status=\"other\"} 2\n"), "unknown run status: other");
	ok(has(out.data, "pysandbox_runs_total{status=\"failed\"} 0\n"), "zero run series are shown");
	ok(has(out.data, "pysandbox_builds_total{outcome=\"succeeded\"} 1\n"), "builds");
	ok(has(out.data, "pysandbox_builds_total{outcome=\"failed\"} 1\n"), "bogus outcome counted failed");
	ok(has(out.data, "# TYPE pysandbox_run_duration_seconds histogram\n"), "a histogram");
	ok(has(out.data, "pysandbox_run_duration_seconds_bucket{le=\"0.005\"} 1\n"), "0 s in the first bucket");
	ok(has(out.data, "pysandbox_run_duration_seconds_bucket{le=\"0.025\"} 2\n"), "cumulative buckets");
	ok(has(out.data, "pysandbox_run_duration_seconds_bucket{le=\"300\"} 3\n"), "last bound");
	ok(has(out.data, "pysandbox_run_duration_seconds_bucket{le=\"+Inf\"} 4\n"), "+Inf holds all");
	ok(has(out.data, "pysandbox_run_duration_seconds_count 4\n"), "count");
	ok(has(out.data, "pysandbox_run_duration_seconds_sum 1003.020000\n"), "sum");
	ok(has(out.data, "pysandbox_queue_wait_seconds_bucket{le=\"0.25\"} 1\n"), "wait below 0.3");
	ok(has(out.data, "pysandbox_queue_wait_seconds_bucket{le=\"0.5\"} 2\n"), "wait 0.3");
	ok(has(out.data, "pysandbox_workers{state=\"busy\"} 1\npysandbox_workers{state=\"idle\"} 3\n"), "worker gauges");
	ok(has(out.data, "pysandbox_queue_length 0\n") && has(out.data, "pysandbox_up 1\n"), "queue and up gauges");
	ok(has(out.data, "pysandbox_environments{status=\"failed\"} 3\n"), "environments by status");
	ok(has(out.data, "pysandbox_run_starts_total{path=\"warm\",reason=\"ready\"} 2\n"
	    "pysandbox_run_starts_total{path=\"cold\",reason=\"off\"} 0\n"
	    "pysandbox_run_starts_total{path=\"cold\",reason=\"unfit\"} 1\n"
	    "pysandbox_run_starts_total{path=\"cold\",reason=\"not_ready\"} 0\n"), "run starts by path and reason");
	ok(has(out.data, "pysandbox_warm_interpreters_ready 3\n"), "warm interpreters gauge");
	buf_free(&out);
	g.envs[0] = -1;
	ok(metrics_render(m, &g, &out) == 0 && !has(out.data, "pysandbox_environments"),
	    "no environment gauges when the database could not be read");
	buf_free(&out);
	free(m);
}

static void
test_json_escape(void)
{
	char out[64];

	log_json_escape("a\"b\\c\n\x01", 7, out, sizeof(out));
	is_str(out, "a\\\"b\\\\c\\u000a\\u0001", "quotes, backslashes and control bytes");
	log_json_escape("h\xc3\xa9 \xe2\x82\xac", 7, out, sizeof(out));
	is_str(out, "h\xc3\xa9 \xe2\x82\xac", "UTF-8 passes");
	log_json_escape("\xff\xc3(\xed\xa0\x80\xc0\xaf", 8, out, sizeof(out));
	is_str(out, "\\ufffd\\ufffd(\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd", "bad bytes, surrogates and overlongs replaced");
	log_json_escape("\x1b[31m", 5, out, sizeof(out));
	is_str(out, "\\u001b[31m", "a terminal escape stays inert");
	ok(log_json_escape("\"\"\"\"", 4, out, 6) == 4 && strcmp(out, "\\\"\\\"") == 0,
	    "cut only between escapes, always terminated");
	ok(log_json_escape("abc", 3, out, 1) == 0 && out[0] == '\0', "no room: empty");
}

int
main(void)
{
	test_render();
	test_json_escape();
	return done_testing();
}
