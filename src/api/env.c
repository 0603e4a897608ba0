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
#include "limit.h"
#include "log.h"
#include "reply.h"
#include "scoreboard.h"

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
	sb_wake_builder();
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
		en.preload = ec.preload;
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
		sb_wake_builder();
		reply_json(r, 200, out);
		return;
	}
	if (!http_env_name(path, name, sizeof(name)) || !limit_env_name_ok(name, strlen(name))) {
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
		else
			sb_wake_builder();
		out = json_object_new_object();
		snprintf(msg, sizeof(msg), "Environment '%s' deleted", name);
		json_object_object_add(out, "message", json_object_new_string(msg));
		reply_json(r, 200, out);
	}
}
