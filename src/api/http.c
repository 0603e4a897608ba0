/* http.c: one request in a worker: routing it, reading its body, answering, logging, recording runs. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fcgiapp.h>
#include <json-c/json.h>

#include "db.h"
#include "env.h"
#include "execute.h"
#include "health.h"
#include "http.h"
#include "log.h"
#include "now.h"
#include "reply.h"
#include "scoreboard.h"

/* The run record of the answer just sent, written once the client has it (http_after_answer). */
static struct {
	bool			valid;
	struct run_record	rec;
	char			environment[64];
	char			status[16];
	char			started[DB_TIME_LEN];
	int64_t			env_id;
} pending;

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

/* A body-carrying route: read the body (within max_body_size), then hand it on. */
static void
serve_body(const struct conf *c, int wslot, FCGX_Request *fr, enum route route, const char *method,
    const char *path, struct reply *r)
{
	long declared;
	size_t len = 0;
	bool too_big;
	char *body = NULL;
	int cl = http_content_length(FCGX_GetParam("CONTENT_LENGTH", fr->envp), c->max_body_size, &declared);

	if (cl == 1) {
		reply_msg(r, SBX_ETOOBIG, "Request body too large");
	} else if (cl == -1) {
		reply_msg(r, SBX_EBADREQ, "Invalid Content-Length");
	} else if ((body = read_body(fr, declared, c->max_body_size, &len, &too_big)) == NULL) {
		reply_msg(r, SBX_ENOMEM, "Out of memory");
	} else if (too_big) {
		reply_msg(r, SBX_ETOOBIG, "Request body too large");
	} else if (route == ROUTE_EXECUTE || route == ROUTE_EXECUTE_ENV) {
		r->bytes_in = (long)len;
		execute_handle(c, wslot, FCGX_GetParam("REMOTE_ADDR", fr->envp), body, len, route == ROUTE_EXECUTE_ENV, r);
	} else
		env_handle(c, route, method, path, FCGX_GetParam("QUERY_STRING", fr->envp), body, len, r);
	free(body);
}

/* The answer to method on path (HEAD asked as GET); returns the route it took. */
static enum route
dispatch(const struct conf *c, int wslot, FCGX_Request *fr, const char *method, const char *path, struct reply *r)
{
	const char *allow;
	char location[300];
	bool method_ok;
	enum route route = http_route(method, path, &method_ok, &allow);

	if (route == ROUTE_NONE && http_redirect_location(path, FCGX_GetParam("QUERY_STRING", fr->envp), location,
	    sizeof(location))) {
		/* The original's redirect of a trailing slash; 307 keeps the method and the body. */
		reply_msg(r, SBX_OK, "Temporary Redirect");
		r->status = 307;
		snprintf(r->headers, sizeof(r->headers), "Location: %s\r\n", location);
	} else if (route == ROUTE_NONE) {
		reply_msg(r, SBX_ENOTFOUND, "Not Found");
	} else if (!method_ok) {
		reply_msg(r, SBX_EMETHOD, "Method Not Allowed");
		snprintf(r->headers, sizeof(r->headers), "Allow: %s\r\n", allow);
	} else if (route == ROUTE_ROOT) {
		handle_root(r);
	} else if (route == ROUTE_HEALTH) {
		r->body = health_json(c, &r->status);
	} else if (route == ROUTE_METRICS) {
		if ((r->body = health_metrics(c, env_db(c))) != NULL) {
			r->status = 200;
			r->content_type = "text/plain; version=0.0.4; charset=utf-8";
		}
	} else if ((route == ROUTE_ENVS || route == ROUTE_ENV || route == ROUTE_ENV_LOGS) && strcmp(method, "POST") != 0) {
		env_handle(c, route, method, path, FCGX_GetParam("QUERY_STRING", fr->envp), NULL, 0, r);
	} else
		serve_body(c, wslot, fr, route, method, path, r);
	return route;
}

/* Keep what the run record needs, to write it after the answer has gone. */
static void
keep_run_record(const struct reply *r, const char *started, double duration)
{
	pending.valid = true;
	snprintf(pending.environment, sizeof(pending.environment), "%s", r->environment);
	/* A run that never produced a result failed on our side; a request refused before one was tried was rejected. */
	snprintf(pending.status, sizeof(pending.status), "%s", r->run_status ? r->run_status : r->is_run ? "failed" : "rejected");
	snprintf(pending.started, sizeof(pending.started), "%s", started);
	pending.env_id = r->is_run ? r->env_id : 0;
	pending.rec.duration = duration;
	pending.rec.exit_code = r->exit_code;
	pending.rec.bytes_in = r->bytes_in;
	pending.rec.bytes_out = (int64_t)(r->body ? strlen(r->body) : 0);
	pending.rec.http_status = r->status;
}

void
http_serve(const struct conf *c, int wslot, struct FCGX_Request *fr)
{
	const char *method = FCGX_GetParam("REQUEST_METHOD", fr->envp), *logged_method = method;
	const char *path = FCGX_GetParam("DOCUMENT_URI", fr->envp);
	const char *rid = request_id_param(FCGX_GetParam("REQUEST_ID", fr->envp));
	struct reply r = { .exit_code = -1 };
	double t0 = now_mono();
	char started[DB_TIME_LEN], logged_path[220];
	enum route route;
	bool head;

	log_set_request_id(rid);
	db_now(started);
	if (path == NULL)
		path = FCGX_GetParam("SCRIPT_NAME", fr->envp);
	/* HEAD is GET without the body, on every GET route (as the original answered it). */
	if ((head = method && strcmp(method, "HEAD") == 0))
		method = "GET";
	route = dispatch(c, wslot, fr, method, path, &r);
	if (r.body == NULL) {
		r.status = 500;
		r.body = strdup("{\"detail\":\"Internal Server Error\"}");
	}
	FCGX_FPrintF(fr->out, "Status: %d %s\r\nContent-Type: %s\r\n"
	    "Cache-Control: no-store\r\n%s\r\n", r.status, sbx_status_text(r.status),
	    r.content_type ? r.content_type : "application/json; charset=utf-8", r.headers);
	metrics_count_request(sb_metrics(), metrics_route(route), r.status);
	if (r.body && !head)
		FCGX_PutStr(r.body, (int)strlen(r.body), fr->out);
	log_info("method=%s path=%s status=%d dur_ms=%.1f run=%s exit=%d",
	    logged_method ? logged_method : "-", log_path(path, logged_path, sizeof(logged_path)), r.status,
	    (now_mono() - t0) * 1000, r.run_status ? r.run_status : "-", r.exit_code);
	if (r.is_run || r.bytes_in)
		keep_run_record(&r, started, now_mono() - t0);
	free(r.body);
	log_set_request_id(NULL);
}

/* Write the run record and last_used once the client has its answer. */
void
http_after_answer(const struct conf *c)
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

