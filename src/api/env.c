/* env.c: the /environments API (create, list, inspect, delete, read the build log) in a worker. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "db.h"
#include "env.h"
#include "interp.h"
#include "log.h"
#include "pool.h"
#include "request.h"

static sqlite3 *worker_db;

sqlite3 *
env_db(const struct conf *c)
{
	char err[300];

	/* Opened lazily, after fork, in the process that uses it. */
	if (worker_db == NULL && (worker_db = db_open(c->state_dir, err, sizeof(err))) == NULL)
		log_warnx("database: %s", err);
	return worker_db;
}

bool
env_name_valid(const char *s, size_t n)
{
	if (n < 1 || n > ENV_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

bool
env_caused_start_failure(int errnum)
{
	switch (errnum) {
	case ENOENT: case ENOTDIR: case EACCES: case ENOEXEC: case ELOOP: case EISDIR: case ENAMETOOLONG:
	case ELIBBAD: case EPERM:
		return true;
	default:
		return false;
	}
}

void
env_mark_broken(const struct conf *c, int64_t id, const char *why)
{
	sqlite3 *db = env_db(c);
	char error[400];

	if (db == NULL || id <= 0)
		return;
	snprintf(error, sizeof(error), "broken after its build: its Python could not be started (%.300s); "
	    "delete and create the environment again", why);
	if (db_env_mark_broken(db, id, error) != SBX_OK)
		log_warnx("could not mark environment %lld failed", (long long)id);
}

static size_t
utf8_chars(const char *s, size_t n)
{
	size_t chars = 0;

	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			chars++;
	return chars;
}

/* An optional text field of at most max characters: true when v is one; else its 422 item is added. */
static bool
short_text(json_object *errs, json_object *v, const char *field, size_t max)
{
	char msg[80];

	if (!json_object_is_type(v, json_type_string)) {
		json_object_array_add(errs, req_error_item(field, NULL, "Input should be a valid string", "string_type", v,
		    NULL));
		return false;
	}
	if (utf8_chars(json_object_get_string(v), (size_t)json_object_get_string_len(v)) > max) {
		snprintf(msg, sizeof(msg), "String should have at most %zu characters", max);
		json_object_array_add(errs, req_error_item(field, NULL, msg, "string_too_long", v,
		    req_ctx_number("max_length", (double)max)));
		return false;
	}
	return true;
}

enum sbx_err
env_parse_create(const char *body, size_t len, const struct interp *interps, int ninterps,
    struct env_create *out, json_object **detail)
{
	struct req_limits lim = { .max_code_length = 1, .default_timeout = 1, .max_timeout = 1 };
	json_object *root = NULL, *errs, *v;
	enum sbx_err rc = SBX_EINVAL;
	const struct interp *in;
	char msg[400];
	size_t n;

	memset(out, 0, sizeof(*out));
	*detail = NULL;
	/* Reuse the strict JSON front end of the /execute parser for the syntax. */
	if ((rc = req_parse_json(body, len, &lim, &root, detail)) != SBX_OK)
		return rc;
	rc = SBX_EINVAL;
	errs = json_object_new_array();

	if (!json_object_object_get_ex(root, "name", &v) || v == NULL)
		json_object_array_add(errs, req_error_item("name", NULL, "Field required", "missing", root, NULL));
	else if (!json_object_is_type(v, json_type_string))
		json_object_array_add(errs, req_error_item("name", NULL, "Input should be a valid string", "string_type", v,
		    NULL));
	else if (!env_name_valid(json_object_get_string(v), (size_t)json_object_get_string_len(v)))
		json_object_array_add(errs, req_error_item("name", NULL,
		    "String should match pattern '" REQ_ENV_NAME_PATTERN "'", "string_pattern_mismatch", v,
		    req_ctx_string("pattern", REQ_ENV_NAME_PATTERN)));
	else
		snprintf(out->name, sizeof(out->name), "%s", json_object_get_string(v));

	if (json_object_object_get_ex(root, "description", &v) && v != NULL) {
		if (!short_text(errs, v, "description", 200))
			;	/* its 422 item is added */
		else if ((size_t)json_object_get_string_len(v) != strlen(json_object_get_string(v)))
			json_object_array_add(errs, req_error_item("description", NULL,
			    "Value error, the description contains NUL", "value_error", v,
			    req_ctx_string("error", "the description contains NUL")));
		else
			snprintf(out->description, sizeof(out->description), "%s", json_object_get_string(v));
	}

	if (!json_object_object_get_ex(root, "setup_script", &v) || v == NULL)
		json_object_array_add(errs, req_error_item("setup_script", NULL, "Field required", "missing", root, NULL));
	else if (!json_object_is_type(v, json_type_string))
		json_object_array_add(errs, req_error_item("setup_script", NULL, "Input should be a valid string",
		    "string_type", v, NULL));
	else if ((n = (size_t)json_object_get_string_len(v)) > ENV_SCRIPT_MAX)
		json_object_array_add(errs, req_error_item("setup_script", NULL,
		    "String should have at most 65536 bytes", "string_too_long", v,
		    req_ctx_number("max_length", ENV_SCRIPT_MAX)));
	else if (n != strlen(json_object_get_string(v)))
		json_object_array_add(errs, req_error_item("setup_script", NULL,
		    "Value error, the setup script contains NUL", "value_error", v,
		    req_ctx_string("error", "the setup script contains NUL")));
	else if (strspn(json_object_get_string(v), " \t\r\n\f\v") == n)
		json_object_array_add(errs, req_error_item("setup_script", NULL,
		    "Value error, the setup script is blank", "value_error", v,
		    req_ctx_string("error", "the setup script is blank")));
	else if ((out->setup_script = strdup(json_object_get_string(v))) == NULL) {
		rc = SBX_ENOMEM;
		goto out;
	}

	/* base_image: the original's Docker image; taken (its clients may send it) and not used: environments
	 * here are built on the host's interpreter, which the environment object's base_image names. */
	if (json_object_object_get_ex(root, "base_image", &v) && v != NULL)
		(void)short_text(errs, v, "base_image", 200);

	out->interp = NULL;
	v = NULL;
	json_object_object_get_ex(root, "python_version", &v);
	if (v != NULL && !json_object_is_type(v, json_type_string)) {
		json_object_array_add(errs, req_error_item("python_version", NULL, "Input should be a valid string",
		    "string_type", v, NULL));
	} else {
		const char *want = v ? json_object_get_string(v) : NULL;
		if ((in = interp_find(interps, ninterps, want)) == NULL) {
			struct buf avail = { 0 };
			for (int i = 0; i < ninterps; i++)
				buf_printf(&avail, "%s%s", i ? ", " : "", interps[i].version);
			const char *shown = want ? want : "(default)";
			snprintf(msg, sizeof(msg), "Value error, python_version '%.*s' is not available on this server; "
			    "available: %s", utf8_clip(shown, 20), shown, avail.data ? avail.data : "none");
			buf_free(&avail);
			json_object_array_add(errs, req_error_item("python_version", NULL, msg, "value_error", v,
			    req_ctx_string("error", msg + strlen("Value error, "))));
		} else
			out->interp = in;
	}

	if (json_object_array_length(errs) == 0)
		rc = SBX_OK;
out:
	req_detail_finish(rc, &errs, detail);
	json_object_put(root);
	if (rc != SBX_OK) {
		free(out->setup_script);
		out->setup_script = NULL;
	}
	return rc;
}

/* "offset=N&limit=M" (pure). Unknown keys are ignored; bad numbers are -1. */
void
env_parse_query(const char *q, int64_t *offset, int64_t *limit)
{
	*offset = 0;
	*limit = 1000;
	while (q && *q) {
		size_t seg = strcspn(q, "&");
		int64_t *dst = strncmp(q, "offset=", 7) == 0 ? offset : strncmp(q, "limit=", 6) == 0 ? limit : NULL;

		if (dst) {
			const char *p = strchr(q, '=') + 1;
			int64_t v = 0;
			bool ok = p < q + seg;
			for (; p < q + seg; p++) {
				if (*p < '0' || *p > '9' || v > 100000000) {
					ok = false;
					break;
				}
				v = v * 10 + (*p - '0');
			}
			*dst = ok ? v : -1;
		}
		q += seg;
		if (*q == '&')
			q++;
	}
}

static void
not_found(struct reply *r, const char *name)
{
	char msg[120];

	snprintf(msg, sizeof(msg), "Environment '%s' not found", name);
	reply_msg(r, SBX_ENOTFOUND, msg);
}

/* Move a deleted environment's directory out of the way; the builder removes it. */
static void
env_trash(const struct conf *c, const char *name, int64_t id)
{
	char from[CONF_PATH_MAX + 80], to[CONF_PATH_MAX + 80];

	snprintf(from, sizeof(from), "%s/envs/%s", c->state_dir, name);
	snprintf(to, sizeof(to), "%s/envs/.trash-%lld", c->state_dir, (long long)id);
	if (rename(from, to) == -1 && errno != ENOENT)
		log_warn("move %s out of the way", from);
	if (scoreboard->builder_pid > 0)
		kill(scoreboard->builder_pid, SIGUSR1);
}

void
env_handle(const struct conf *c, enum route route, const char *method, const char *path, const char *query,
    const char *body, size_t len, struct reply *r)
{
	struct interp interps[INTERP_MAX];
	struct env_create ec;
	json_object *out = NULL, *detail = NULL;
	sqlite3 *db = env_db(c);
	char name[ENV_NAME_MAX + 2];
	enum sbx_err e;

	if (db == NULL) {
		reply_msg(r, SBX_ESYS, "The environment database is unavailable");
		return;
	}
	if (route == ROUTE_ENVS && strcmp(method, "GET") == 0) {
		if ((e = db_env_list(db, &out)) != SBX_OK)
			reply_msg(r, e, "Could not list the environments");
		else
			reply_json(r, 200, out);
		return;
	}
	if (route == ROUTE_ENVS) {
		int n = interp_discover(c, interps, INTERP_MAX);
		struct env_new en;

		if ((e = env_parse_create(body, len, interps, n, &ec, &detail)) != SBX_OK) {
			reply_detail(r, e, detail);
			return;
		}
		en.name = ec.name;
		en.description = ec.description;
		en.python_version = ec.interp->version;
		en.python_path = ec.interp->path;
		en.setup_script = ec.setup_script;
		e = db_env_create(db, &en, &out);
		free(ec.setup_script);
		if (e == SBX_ECONFLICT) {
			char msg[120];
			snprintf(msg, sizeof(msg), "Environment '%s' already exists", ec.name);
			reply_msg(r, e, msg);
			return;
		}
		if (e != SBX_OK) {
			reply_msg(r, e, "Could not create the environment");
			return;
		}
		/* The build happens in the builder, never in this request. */
		if (scoreboard->builder_pid > 0)
			kill(scoreboard->builder_pid, SIGUSR1);
		reply_json(r, 200, out);
		return;
	}
	if (!http_env_name(path, name, sizeof(name)) || !env_name_valid(name, strlen(name))) {
		reply_msg(r, SBX_ENOTFOUND, "Environment not found");
		return;
	}
	if (route == ROUTE_ENV_LOGS) {
		int64_t offset, limit;

		env_parse_query(query, &offset, &limit);
		if (offset < 0 || limit < 1 || limit > 10000) {
			reply_detail(r, SBX_EINVAL, json_tokener_parse("[{\"type\":\"value_error\",\"loc\":[\"query\",\"offset\"],"
			    "\"msg\":\"offset must be a whole number >= 0 and limit between 1 and 10000\",\"input\":null}]"));
			return;
		}
		if ((e = db_log_read(db, name, offset, limit, &out)) == SBX_ENOTFOUND)
			not_found(r, name);
		else if (e != SBX_OK)
			reply_msg(r, e, "Could not read the log");
		else
			reply_json(r, 200, out);
		return;
	}
	if (strcmp(method, "GET") == 0) {
		if ((e = db_env_get(db, name, &out)) == SBX_ENOTFOUND)
			not_found(r, name);
		else if (e != SBX_OK)
			reply_msg(r, e, "Could not read the environment");
		else
			reply_json(r, 200, out);
		return;
	}
	/* DELETE: the row (and its log) go at once; a running build notices and stops. */
	{
		int64_t id;
		bool was_ready;
		char msg[120];

		if ((e = db_env_delete(db, name, &id, &was_ready)) == SBX_ENOTFOUND) {
			not_found(r, name);
			return;
		}
		if (e != SBX_OK) {
			reply_msg(r, e, "Could not delete the environment");
			return;
		}
		if (was_ready)
			env_trash(c, name, id);
		else if (scoreboard->builder_pid > 0)
			kill(scoreboard->builder_pid, SIGUSR1);
		out = json_object_new_object();
		snprintf(msg, sizeof(msg), "Environment '%s' deleted", name);
		json_object_object_add(out, "message", json_object_new_string(msg));
		reply_json(r, 200, out);
	}
}
