/* http.c: a worker's FastCGI accept loop: routing, body reading, JSON responses, one log line per request. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>
#include <json-c/json.h>

#include "db.h"
#include "env.h"
#include "http.h"
#include "log.h"
#include "pool.h"
#include "request.h"
#include "run.h"

static struct {
	bool			valid;
	struct run_record	rec;
	char			environment[64];
	char			status[16];
	char			started[DB_TIME_LEN];
	int64_t			env_id;
} pending;

static volatile sig_atomic_t worker_stop;
static volatile sig_atomic_t worker_in_request;
static volatile sig_atomic_t worker_listen_fd = -1;

/* Graceful stop (php-fpm's way): an idle worker closes its listening socket
 * so that a blocked accept returns; a busy one finishes its request first. */
static void
worker_on_stop(int sig)
{
	worker_stop = 1;
	if (!worker_in_request && worker_listen_fd >= 0) {
		close(worker_listen_fd);
		worker_listen_fd = -1;
	}
	(void)sig;
}

/* Does path match pattern, where '*' stands for one non-empty segment? */
static bool
path_match(const char *pattern, const char *path)
{
	while (*pattern) {
		if (*pattern == '*') {
			size_t seg = strcspn(path, "/");
			if (seg == 0)
				return false;
			path += seg;
			pattern++;
			continue;
		}
		if (*pattern++ != *path++)
			return false;
	}
	return *path == '\0';
}

enum route
http_route(const char *method, const char *path, bool *method_ok, const char **allow)
{
	static const struct { const char *path; const char *methods; enum route r; } table[] = {
		/* HEAD is answered wherever GET is (serve_one asks with GET); listed for the Allow header. */
		{ "/", "GET, HEAD", ROUTE_ROOT },
		{ "/health", "GET, HEAD", ROUTE_HEALTH },
		{ "/metrics", "GET, HEAD", ROUTE_METRICS },
		{ "/execute", "POST", ROUTE_EXECUTE },
		{ "/execute-with-environment", "POST", ROUTE_EXECUTE_ENV },
		{ "/environments", "GET, HEAD, POST", ROUTE_ENVS },
		{ "/environments/*", "GET, HEAD, DELETE", ROUTE_ENV },
		{ "/environments/*/logs", "GET, HEAD", ROUTE_ENV_LOGS },
	};

	*method_ok = false;
	*allow = NULL;
	if (method == NULL || path == NULL)
		return ROUTE_NONE;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const char *m = table[i].methods;
		size_t ml = strlen(method);

		if (!path_match(table[i].path, path))
			continue;
		*allow = m;
		/* methods is "A, B": the method must equal one whole token */
		for (const char *t = m; *t; ) {
			size_t tl = strcspn(t, ",");
			if (tl == ml && ml > 0 && strncmp(t, method, ml) == 0)
				*method_ok = true;
			t += tl;
			t += strspn(t, ", ");
		}
		return table[i].r;
	}
	return ROUTE_NONE;
}

bool
http_env_name(const char *path, char *out, size_t outlen)
{
	const char *p = path + strlen("/environments/");
	size_t n;

	if (strncmp(path, "/environments/", 14) != 0)
		return false;
	n = strcspn(p, "/");
	if (n == 0 || n >= outlen)
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

bool
http_redirect_location(const char *path, const char *query, char *out, size_t outlen)
{
	static const char keep[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/";
	const char *allow;
	size_t n, o = 0;
	bool method_ok;
	char stripped[256];

	if (path == NULL || (n = strlen(path)) < 2 || path[n - 1] != '/' || n - 1 >= sizeof(stripped))
		return false;
	memcpy(stripped, path, n - 1);
	stripped[n - 1] = '\0';
	if (http_route("GET", stripped, &method_ok, &allow) == ROUTE_NONE)
		return false;
	/* path is nginx's $uri, decoded: encoded again, so that no byte of it can end the header line. */
	for (const unsigned char *p = (const unsigned char *)stripped; *p; p++) {
		if (o + 4 > outlen)
			return false;
		if (strchr(keep, *p))
			out[o++] = (char)*p;
		else
			o += (size_t)snprintf(out + o, outlen - o, "%%%02X", *p);
	}
	if (query && *query) {
		if (o + 2 > outlen)
			return false;
		out[o++] = '?';
		/* The query is raw from the request line; still, nothing but visible ASCII goes out. */
		for (const unsigned char *p = (const unsigned char *)query; *p; p++) {
			if (o + 4 > outlen)
				return false;
			if (*p > ' ' && *p < 0x7f)
				out[o++] = (char)*p;
			else
				o += (size_t)snprintf(out + o, outlen - o, "%%%02X", *p);
		}
	}
	if (o >= outlen)
		return false;
	out[o] = '\0';
	return true;
}

int
http_content_length(const char *s, long max, long *out)
{
	long v = 0;

	*out = 0;
	if (s == NULL || *s == '\0')
		return 0;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return -1;
	for (const char *p = s; *p; p++) {
		if (v > (LONG_MAX - (*p - '0')) / 10) {
			*out = LONG_MAX;	/* past any limit; never overflow */
			return 1;
		}
		v = v * 10 + (*p - '0');
	}
	*out = v;
	return v > max ? 1 : 0;
}

static double
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
reply_detail(struct reply *r, enum sbx_err e, json_object *detail)
{
	json_object *o = json_object_new_object();

	r->status = sbx_err_status(e);
	json_object_object_add(o, "detail", detail);
	r->body = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

void
reply_refusal(struct reply *r, enum sbx_err e, const char *msg, const char *reason)
{
	json_object *o = json_object_new_object();

	r->status = sbx_err_status(e);
	json_object_object_add(o, "detail", json_object_new_string(msg));
	json_object_object_add(o, "reason", json_object_new_string(reason));
	r->body = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

void
reply_msg(struct reply *r, enum sbx_err e, const char *msg)
{
	reply_detail(r, e, json_object_new_string(msg));
}

void
reply_json(struct reply *r, int status, json_object *o)
{
	r->status = status;
	r->body = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

static void
handle_root(struct reply *r)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "message", json_object_new_string("SimplePySandbox API"));
	json_object_object_add(o, "version", json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(o, "docs", json_object_new_string("/docs"));
	json_object_object_add(o, "health", json_object_new_string("/health"));
	r->status = 200;
	r->body = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

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
	struct run_result res = { .status = RUN_ERROR, .exit_code = -1 };

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

static void
handle_execute(const struct conf *c, int wslot, const char *client, const char *body, size_t len, bool env_required,
    struct reply *r)
{
	struct req_limits lim = {
		.max_code_length = c->max_code_length, .default_timeout = c->default_timeout,
		.max_timeout = c->max_timeout, .max_file_size = c->max_file_size,
		.max_input_files = c->max_input_files, .default_memory_mb = c->default_memory_mb,
		.max_input_bytes = (long)c->workdir_mb * 1024 * 1024 - 1024 * 1024,
		.max_memory_mb = c->max_memory_mb, .allow_network = c->allow_network,
		.default_cpus = c->default_cpus, .max_cpus = c->max_cpus,
		.environment_required = env_required,
	};
	struct exec_req req;
	struct run_result res = { 0 };
	struct run_spec spec = { 0 };
	json_object *detail = NULL;
	enum sbx_err e;
	enum admit_result admitted;
	char why[300], msg[400];
	int slot = -1;
	double t_wait;

	/* Full (every slot taken, the queue too): refuse before the body is parsed,
	 * so that refusals stay cheap for the workers that answer them. */
	if ((admitted = admit_precheck(&scoreboard->admit, client)) != ADMIT_OK) {
		refuse(c, r, admitted);
		return;
	}
	if ((e = req_parse(body, len, &lim, &req, &detail)) != SBX_OK) {
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
	if (req.environment) {
		sqlite3 *db = env_db(c);
		char status[16];

		if (db == NULL) {
			reply_msg(r, SBX_ESYS, "The environment database is unavailable");
			goto out;
		}
		if ((e = db_env_status(db, req.environment, status, sizeof(status), &r->env_id)) == SBX_ENOTFOUND) {
			snprintf(msg, sizeof(msg), "Environment '%s' not found", req.environment);
			reply_env_unusable(r, env_required, e, req.environment, msg);
			goto out;
		}
		if (e != SBX_OK) {
			reply_msg(r, e, "Could not read the environment");
			goto out;
		}
		if (strcmp(status, "ready") != 0) {
			snprintf(msg, sizeof(msg), "Environment '%s' is not ready (status: %s)", req.environment, status);
			reply_env_unusable(r, env_required, SBX_ECONFLICT, req.environment, msg);
			goto out;
		}
		spec.env_dir = req.environment;
	}
	if (!scoreboard->healthy) {
		snprintf(msg, sizeof(msg), "Sandbox unavailable: %s", scoreboard->reason);
		reply_msg(r, SBX_EBUSY, msg);
		snprintf(r->headers, sizeof(r->headers), "Retry-After: 10\r\n");
		goto out;
	}
	/* A slot (and so a uid of the pool) for this run, or a short wait in the queue, or a refusal. */
	t_wait = mono_now();
	if ((admitted = admit_acquire(&scoreboard->admit, wslot, client, c->queue_timeout, &slot)) != ADMIT_OK) {
		refuse(c, r, admitted);
		goto out;
	}
	metrics_count_queue_wait(&scoreboard->metrics, mono_now() - t_wait);
	r->is_run = true;
	e = run_exec(c, slot, &req, &spec, &res, why, sizeof(why));
	admit_release(&scoreboard->admit, wslot, slot);
	if (e == SBX_ESTART && req.environment && env_caused_start_failure(res.start_errno)) {
		/* What the environment holds (its setup script removed or broke its
		 * interpreter) fails this run and marks the environment, nothing else. */
		log_warnx("environment %s cannot start its interpreter (%s); marking it failed", req.environment, why);
		env_mark_broken(c, r->env_id, why);
		res.status = RUN_ERROR;
		res.exit_code = -1;
		snprintf(res.error, sizeof(res.error), "The environment's Python could not be started (%.150s); "
		    "the environment is marked failed: create it again", why);
		e = SBX_OK;
	} else if (e == SBX_EJAIL || e == SBX_ESTART) {
		/* Not something the request did: the master's self-test decides
		 * whether the sandbox is broken for everyone. */
		log_warnx("sandbox could not be set up: %s", why);
		health_suspect();
		reply_msg(r, SBX_EJAIL, "The sandbox could not be set up; the code was not run");
		goto out;
	}
	if (e == SBX_ERELOAD) {
		/* Not the sandbox's fault: the file was edited and the pool runs the
		 * old limits until its reload (SIGHUP), which is usually under way. */
		log_warnx("the jail refused a run: %s; the configuration file's limits differ from the "
		    "running ones: reload the service (SIGHUP) to apply them", why);
		snprintf(msg, sizeof(msg), "The service's limits were tightened and are not reloaded yet (%s); "
		    "retry shortly", why);
		reply_msg(r, e, msg);
		snprintf(r->headers, sizeof(r->headers), "Retry-After: 1\r\n");
		goto out;
	}
	if (e == SBX_EBADREQ && req.environment && strncmp(why, "environment", 11) == 0) {
		snprintf(msg, sizeof(msg), "Environment '%s' is no longer available", req.environment);
		reply_env_unusable(r, env_required, SBX_ECONFLICT, req.environment, msg);
		goto out;
	}
	if (e == SBX_EBADREQ) {
		snprintf(msg, sizeof(msg), "Input files could not be written: %s", why);
		reply_failed_run(r, req.environment, msg);
		goto out;
	}
	if (e != SBX_OK) {
		log_warnx("run failed: %s", why);
		reply_msg(r, e, "Internal error while running the code");
		goto out;
	}
	r->status = 200;
	r->run_status = run_status_name(res.status);
	r->exit_code = res.exit_code;
	if ((r->body = run_result_json(&res, req.environment, req.output_base64)) == NULL)
		reply_msg(r, SBX_ENOMEM, "Out of memory");
out:
	/* A run refused over its input or environment (a failed run, as the original answered) counts as rejected. */
	if (r->is_run || (r->run_status && strcmp(r->run_status, "rejected") == 0))
		metrics_count_run(&scoreboard->metrics, r->run_status ? r->run_status : "failed", res.wall_time);
	run_result_free(&res);
	req_free(&req);
}

/* Read the whole body, at most max bytes; *too_big when it is longer. */
static char *
read_body(FCGX_Request *fr, long declared, long max, size_t *len, bool *too_big)
{
	size_t cap = declared > 0 ? (size_t)declared + 1 : 65536, got = 0;
	char *b = malloc(cap), *nb;
	int n;

	*too_big = false;
	if (b == NULL)
		return NULL;
	for (;;) {
		if (got + 1 >= cap) {
			if ((long)cap > max + 1) {
				*too_big = true;
				break;
			}
			if ((nb = realloc(b, cap * 2)) == NULL) {
				free(b);
				return NULL;
			}
			b = nb;
			cap *= 2;
		}
		n = FCGX_GetStr(b + got, (int)(cap - got - 1), fr->in);
		if (n <= 0)
			break;
		got += (size_t)n;
		if ((long)got > max) {
			*too_big = true;
			break;
		}
	}
	b[got] = '\0';
	*len = got;
	return b;
}

/* nginx passes the client's X-Request-ID when it is sane, else its own $request_id; checked again here, as
 * it reaches every log line: 1-128 of [A-Za-z0-9._:-], else none. */
static const char *
request_id_param(const char *id)
{
	size_t n;

	if (id == NULL)
		return NULL;
	n = strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-");
	return n > 0 && n <= 128 && id[n] == '\0' ? id : NULL;
}

/* path (nginx's $uri, decoded) for a log line: at most 200 bytes, with spaces, control bytes, '%' and
 * '"' percent-encoded again, so that it stays one field a reader cannot be fooled by. */
static const char *
log_path(const char *path, char *out, size_t outlen)
{
	size_t o = 0;

	if (path == NULL)
		return "-";
	for (const unsigned char *p = (const unsigned char *)path; *p && o + 4 < outlen && o < 200; p++) {
		if (*p <= ' ' || *p == 0x7f || *p == '%' || *p == '"')
			o += (size_t)snprintf(out + o, outlen - o, "%%%02X", *p);
		else
			out[o++] = (char)*p;
	}
	out[o] = '\0';
	return out;
}

static enum metrics_route
metrics_route(enum route route)
{
	switch (route) {
	case ROUTE_ROOT: return MR_ROOT;
	case ROUTE_HEALTH: return MR_HEALTH;
	case ROUTE_METRICS: return MR_METRICS;
	case ROUTE_EXECUTE: return MR_EXECUTE;
	case ROUTE_EXECUTE_ENV: return MR_EXECUTE_ENV;
	case ROUTE_ENVS: return MR_ENVS;
	case ROUTE_ENV: return MR_ENV;
	case ROUTE_ENV_LOGS: return MR_ENV_LOGS;
	case ROUTE_NONE: break;
	}
	return MR_OTHER;
}

static void
serve_one(const struct conf *c, int wslot, FCGX_Request *fr)
{
	const char *method = FCGX_GetParam("REQUEST_METHOD", fr->envp), *logged_method = method;
	const char *path = FCGX_GetParam("DOCUMENT_URI", fr->envp);
	const char *rid = request_id_param(FCGX_GetParam("REQUEST_ID", fr->envp));
	const char *allow;
	struct reply r = { .exit_code = -1 };
	double t0 = mono_now();
	char started[DB_TIME_LEN], logged_path[220], location[300];
	char *body = NULL;
	size_t len = 0;
	long declared;
	bool method_ok, too_big, head;
	enum route route;

	log_set_request_id(rid);
	db_now(started);
	if (path == NULL)
		path = FCGX_GetParam("SCRIPT_NAME", fr->envp);
	/* HEAD is GET without the body, on every GET route (as the original answered it). */
	if ((head = method && strcmp(method, "HEAD") == 0))
		method = "GET";
	route = http_route(method, path, &method_ok, &allow);
	if (route == ROUTE_NONE && http_redirect_location(path, FCGX_GetParam("QUERY_STRING", fr->envp), location,
	    sizeof(location))) {
		/* The original's redirect of a trailing slash; 307 keeps the method and the body. */
		reply_msg(&r, SBX_OK, "Temporary Redirect");
		r.status = 307;
		snprintf(r.headers, sizeof(r.headers), "Location: %s\r\n", location);
	} else if (route == ROUTE_NONE) {
		reply_msg(&r, SBX_ENOTFOUND, "Not Found");
	} else if (!method_ok) {
		reply_msg(&r, SBX_EMETHOD, "Method Not Allowed");
		snprintf(r.headers, sizeof(r.headers), "Allow: %s\r\n", allow);
	} else if (route == ROUTE_ROOT) {
		handle_root(&r);
	} else if (route == ROUTE_HEALTH) {
		r.body = health_json(c, &r.status);
	} else if (route == ROUTE_METRICS) {
		if ((r.body = health_metrics(c, env_db(c))) != NULL) {
			r.status = 200;
			r.content_type = "text/plain; version=0.0.4; charset=utf-8";
		}
	} else if ((route == ROUTE_ENVS || route == ROUTE_ENV || route == ROUTE_ENV_LOGS) && strcmp(method, "POST") != 0) {
		env_handle(c, route, method, path, FCGX_GetParam("QUERY_STRING", fr->envp), NULL, 0, &r);
	} else {
		int cl = http_content_length(FCGX_GetParam("CONTENT_LENGTH", fr->envp), c->max_body_size, &declared);
		if (cl == 1) {
			reply_msg(&r, SBX_ETOOBIG, "Request body too large");
		} else if (cl == -1) {
			reply_msg(&r, SBX_EBADREQ, "Invalid Content-Length");
		} else if ((body = read_body(fr, declared, c->max_body_size, &len, &too_big)) == NULL) {
			reply_msg(&r, SBX_ENOMEM, "Out of memory");
		} else if (too_big) {
			reply_msg(&r, SBX_ETOOBIG, "Request body too large");
		} else if (route == ROUTE_EXECUTE || route == ROUTE_EXECUTE_ENV) {
			r.bytes_in = (long)len;
			handle_execute(c, wslot, FCGX_GetParam("REMOTE_ADDR", fr->envp), body, len, route == ROUTE_EXECUTE_ENV,
			    &r);
		} else
			env_handle(c, route, method, path, FCGX_GetParam("QUERY_STRING", fr->envp), body, len, &r);
	}
	if (r.body == NULL) {
		r.status = 500;
		r.body = strdup("{\"detail\":\"Internal Server Error\"}");
	}
	FCGX_FPrintF(fr->out, "Status: %d %s\r\nContent-Type: %s\r\n"
	    "Cache-Control: no-store\r\n%s\r\n", r.status, sbx_status_text(r.status),
	    r.content_type ? r.content_type : "application/json; charset=utf-8", r.headers);
	metrics_count_request(&scoreboard->metrics, metrics_route(route), r.status);
	if (r.body && !head)
		FCGX_PutStr(r.body, (int)strlen(r.body), fr->out);
	log_info("method=%s path=%s status=%d dur_ms=%.1f run=%s exit=%d",
	    logged_method ? logged_method : "-", log_path(path, logged_path, sizeof(logged_path)), r.status,
	    (mono_now() - t0) * 1000, r.run_status ? r.run_status : "-", r.exit_code);
	if (r.is_run || r.bytes_in) {
		/* Recorded after the response has gone (see http_worker). */
		pending.valid = true;
		snprintf(pending.environment, sizeof(pending.environment), "%s", r.environment);
		/* A run that never produced a result failed on our side; a request refused before one was tried was rejected. */
		snprintf(pending.status, sizeof(pending.status), "%s",
		    r.run_status ? r.run_status : r.is_run ? "failed" : "rejected");
		snprintf(pending.started, sizeof(pending.started), "%s", started);
		pending.env_id = r.is_run ? r.env_id : 0;
		pending.rec.duration = mono_now() - t0;
		pending.rec.exit_code = r.exit_code;
		pending.rec.bytes_in = r.bytes_in;
		pending.rec.bytes_out = (int64_t)(r.body ? strlen(r.body) : 0);
		pending.rec.http_status = r.status;
	}
	free(body);
	free(r.body);
	log_set_request_id(NULL);
}

/* Write the run record and last_used once the client has its answer. */
static void
record_pending(const struct conf *c)
{
	sqlite3 *db;

	if (!pending.valid || (db = env_db(c)) == NULL) {
		pending.valid = false;
		return;
	}
	pending.rec.environment = pending.environment[0] ? pending.environment : NULL;
	pending.rec.status = pending.status;
	pending.rec.started_at = pending.started;
	db_run_insert(db, &pending.rec);
	if (pending.env_id > 0)
		db_env_touch(db, pending.env_id);
	pending.valid = false;
}

void
http_worker(const struct conf *c, int listen_fd, int slot, bool takes_runs)
{
	struct sigaction sa;
	FCGX_Request fr;

	if (FCGX_Init() != 0)
		fatalx("FCGX_Init failed");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = worker_on_stop;	/* no SA_RESTART: a blocked accept must return */
	sigaction(SIGQUIT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	{
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);	/* blocked by the master across fork */
	}
	/* Stop with the master: a worker never outlives its pool. */
	prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
	if (getppid() == 1)
		return;
	worker_listen_fd = listen_fd;
	if (FCGX_InitRequest(&fr, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0)
		fatalx("FCGX_InitRequest failed");

	for (unsigned long served = 0; !worker_stop; ) {
		bool recycle;

		if (takes_runs)
			run_standby(c);
		if (FCGX_Accept_r(&fr) < 0) {
			if (worker_stop)
				break;
			if (errno == EINTR)
				continue;
			log_warn("accept");
			break;
		}
		worker_in_request = 1;
		scoreboard->slot[slot].busy = 1;
		serve_one(c, slot, &fr);
		FCGX_Finish_r(&fr);
		run_reap();
		served++;
		recycle = c->max_requests > 0 && served >= (unsigned long)c->max_requests;
		if (!recycle && !worker_stop && takes_runs)
			run_standby(c);	/* the next run's jail, now that the answer has gone */
		record_pending(c);
		scoreboard->slot[slot].busy = 0;
		scoreboard->slot[slot].served = served;
		__atomic_add_fetch(&scoreboard->requests, 1, __ATOMIC_RELAXED);
		worker_in_request = 0;
		if (recycle) {
			log_debug("worker recycled after %lu requests", served);
			break;
		}
	}
	run_standby_drop();
}
