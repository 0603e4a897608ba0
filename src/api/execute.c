/* execute.c: POST /execute and /execute-with-environment: admission, the request, its environment, the
 * run, and the answer, including the original's failed-run answers for refused input. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "env.h"
#include "execute.h"
#include "log.h"
#include "now.h"
#include "reply.h"
#include "request.h"
#include "result.h"
#include "run.h"
#include "scoreboard.h"

/* A run admission refused: 503 when the service is full, 429 when this client holds its share. */
static void
refuse(const struct conf *c, struct reply *r, enum admit_result why)
{
	if (why == ADMIT_SHARE)
		reply_refusal(r, SBX_ESHARE, "This client already holds its share of the sandboxes while others "
		    "wait; retry when one of its runs has ended", "client_share");
	else {
		char msg[160];

		snprintf(msg, sizeof(msg), "All %d sandboxes are busy and %d runs are waiting; retry shortly",
		    conf_workers(c), c->queue_size);
		reply_refusal(r, SBX_EBUSY, msg, "capacity");
	}
	snprintf(r->headers, sizeof(r->headers), "Retry-After: 1\r\n");
}

/* A run that failed before it started, as the original answered it (200, success false, the reason in
 * error): its clients call raise_for_status() and then read success. */
static void
reply_failed_run(struct reply *r, const char *environment, const char *why)
{
	struct run_result res = { .status = RUN_ERROR, .jail.exit_code = -1 };

	/* Cut at a character, not inside one (names in why are the client's UTF-8). */
	snprintf(res.error, sizeof(res.error), "%.*s", utf8_clip(why, sizeof(res.error) - 1), why);
	r->status = 200;
	r->run_status = "rejected";
	r->body = run_result_json(&res, environment, false);
}

/* An environment /execute cannot use: a failed run there (the original's answer), a refusal on
 * /execute-with-environment (404 unknown, 400 not ready, as the original). */
static void
reply_env_unusable(struct reply *r, bool env_route, enum sbx_err e, const char *environment, const char *why)
{
	if (env_route)
		reply_msg(r, e, why);
	else
		reply_failed_run(r, environment, why);
}

/* The request's environment, when it names one: SBX_OK when it is ready (or none is named); otherwise the
 * answer is in r. */
static enum sbx_err
check_environment(const struct conf *c, const struct exec_req *req, bool env_route, struct reply *r)
{
	sqlite3 *db;
	char status[16], msg[400];
	enum sbx_err e;

	if (req->environment == NULL)
		return SBX_OK;
	if ((db = env_db(c)) == NULL) {
		reply_msg(r, SBX_ESYS, "The environment database is unavailable");
		return SBX_ESYS;
	}
	if ((e = db_env_status(db, req->environment, status, sizeof(status), &r->env_id)) == SBX_ENOTFOUND) {
		snprintf(msg, sizeof(msg), "Environment '%s' not found", req->environment);
		reply_env_unusable(r, env_route, e, req->environment, msg);
		return e;
	}
	if (e != SBX_OK) {
		reply_msg(r, e, "Could not read the environment");
		return e;
	}
	if (strcmp(status, "ready") != 0) {
		snprintf(msg, sizeof(msg), "Environment '%s' is not ready (status: %s)", req->environment, status);
		reply_env_unusable(r, env_route, SBX_ECONFLICT, req->environment, msg);
		return SBX_ECONFLICT;
	}
	return SBX_OK;
}

/* The run in uid slot `slot`, as the request asks. */
static enum sbx_err
execute_run(const struct conf *c, int slot, const struct exec_req *req, struct run_result *res, char *why,
    size_t whylen)
{
	struct run_input in = {
		.code = req->code, .code_len = req->code_len, .files = req->files, .nfiles = req->nfiles,
		.stdin_data = req->stdin_data, .stdin_len = req->stdin_len,
	};
	struct jail_args a;

	run_args(c, slot, req->timeout, req->memory_mb, req->cpus, req->network, &a);
	a.prog_args = req->args;
	a.nprog_args = (int)req->nargs;
	if (req->environment)
		snprintf(a.env, sizeof(a.env), "%s", req->environment);
	return run_exec(c, &a, &in, NULL, res, why, whylen);
}

/* A run that did not finish for a reason that is not its program's: the answer, by whose fault it was. */
static void
reply_run_failure(const struct exec_req *req, bool env_route, enum sbx_err e,
    const struct run_result *res, const char *why, struct reply *r)
{
	char msg[400];

	switch (e) {
	case SBX_EJAIL:
	case SBX_ESTART:
		/* Not something the request did: the master's self-test decides whether the sandbox is broken
		 * for everyone. */
		log_warnx("sandbox could not be set up: %s", why);
		sb_request_selftest();
		reply_msg(r, SBX_EJAIL, "The sandbox could not be set up; the code was not run");
		return;
	case SBX_ERELOAD:
		/* Not the sandbox's fault: the file was edited and the pool runs the old limits until its reload
		 * (SIGHUP), which is usually under way. */
		log_warnx("the jail refused a run: %s; the configuration file's limits differ from the running ones: "
		    "reload the service (SIGHUP) to apply them", why);
		snprintf(msg, sizeof(msg), "The service's limits were tightened and are not reloaded yet (%s); "
		    "retry shortly", why);
		reply_msg(r, e, msg);
		snprintf(r->headers, sizeof(r->headers), "Retry-After: 1\r\n");
		return;
	case SBX_EBADREQ:
		if (res->failure == JAIL_FAIL_ENV_GONE && req->environment) {
			snprintf(msg, sizeof(msg), "Environment '%s' is no longer available", req->environment);
			reply_env_unusable(r, env_route, SBX_ECONFLICT, req->environment, msg);
			return;
		}
		snprintf(msg, sizeof(msg), "Input files could not be written: %s", why);
		reply_failed_run(r, req->environment, msg);
		return;
	default:
		log_warnx("run failed: %s", why);
		reply_msg(r, e, "Internal error while running the code");
		return;
	}
}

/* What the environment holds (its setup script removed or broke its interpreter) fails this run and marks
 * the environment, nothing else. */
static void
environment_broke(const struct conf *c, const struct exec_req *req, int64_t env_id, struct run_result *res,
    const char *why)
{
	log_warnx("environment %s cannot start its interpreter (%s); marking it failed", req->environment, why);
	env_mark_broken(c, env_id, why);
	res->status = RUN_ERROR;
	res->jail.exit_code = -1;
	snprintf(res->error, sizeof(res->error), "The environment's Python could not be started (%.150s); "
	    "the environment is marked failed: create it again", why);
}

void
execute_handle(const struct conf *c, int wslot, const char *client, const char *body, size_t len, bool env_route,
    struct reply *r)
{
	struct limits lim;
	struct exec_req req;
	struct run_result res = { 0 };
	json_object *detail = NULL;
	enum sbx_err e;
	enum admit_result admitted;
	char why[300], msg[400];
	int slot = -1;
	double t_wait;

	/* Full (every slot taken, the queue too): refuse before the body is parsed, so that refusals stay
	 * cheap for the workers that answer them. */
	if ((admitted = admit_precheck(sb_admit(), client)) != ADMIT_OK) {
		refuse(c, r, admitted);
		return;
	}
	limit_from_conf(c, LIMIT_RUN, &lim);
	if ((e = req_parse(body, len, &lim, env_route, &req, &detail)) != SBX_OK) {
		reply_detail(r, e, detail);
		return;
	}
	/* Recorded with the run, refused or not. */
	if (req.environment)
		snprintf(r->environment, sizeof(r->environment), "%s", req.environment);
	if (req.input_error) {
		reply_failed_run(r, req.environment, req.input_error);
		goto out;
	}
	if (check_environment(c, &req, env_route, r) != SBX_OK)
		goto out;
	if (!scoreboard->healthy) {
		snprintf(msg, sizeof(msg), "Sandbox unavailable: %s", scoreboard->reason);
		reply_msg(r, SBX_EBUSY, msg);
		snprintf(r->headers, sizeof(r->headers), "Retry-After: 10\r\n");
		goto out;
	}
	/* A slot (and so a uid of the pool) for this run, or a short wait in the queue, or a refusal. */
	t_wait = now_mono();
	if ((admitted = admit_acquire(sb_admit(), wslot, client, c->queue_timeout, &slot)) != ADMIT_OK) {
		refuse(c, r, admitted);
		goto out;
	}
	metrics_count_queue_wait(sb_metrics(), now_mono() - t_wait);
	r->is_run = true;
	e = execute_run(c, slot, &req, &res, why, sizeof(why));
	admit_release(sb_admit(), wslot, slot);
	if (e == SBX_ESTART && req.environment && env_caused_start_failure(res.jail.start_errno)) {
		environment_broke(c, &req, r->env_id, &res, why);
		e = SBX_OK;
	}
	if (e != SBX_OK) {
		reply_run_failure(&req, env_route, e, &res, why, r);
		goto out;
	}
	r->status = 200;
	r->run_status = run_status_name(res.status);
	r->exit_code = res.jail.exit_code;
	if ((r->body = run_result_json(&res, req.environment, req.output_base64)) == NULL)
		reply_msg(r, SBX_ENOMEM, "Out of memory");
out:
	/* A run refused over its input or environment (a failed run, as the original answered) counts as rejected. */
	if (r->is_run || (r->run_status && strcmp(r->run_status, "rejected") == 0))
		metrics_count_run(sb_metrics(), r->run_status ? r->run_status : "failed", res.jail.wall_time);
	metrics_count_start(sb_metrics(), res.start);
	run_result_free(&res);
	req_free(&req);
}
