/* db.c: the SQLite store (environments, build logs, runs); every statement prepared with bound parameters. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "db.h"
#include "log.h"

/* Schema migrations, applied in order; index i brings user_version from i to i + 1. */
static const char *const migrations[] = {
	/* AUTOINCREMENT: an id is never reused, so a cancelled build can never
	 * mistake a new environment of the same name for its own. */
	"CREATE TABLE environments ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE,"
	"  description TEXT NOT NULL DEFAULT '',"
	"  python_version TEXT NOT NULL,"
	"  python_path TEXT NOT NULL,"
	"  setup_script TEXT NOT NULL,"
	"  status TEXT NOT NULL CHECK (status IN ('building', 'ready', 'failed')),"
	"  error TEXT,"
	"  created_at TEXT NOT NULL,"
	"  updated_at TEXT NOT NULL,"
	"  last_used TEXT,"
	"  build_started_at TEXT,"
	"  build_finished_at TEXT,"
	"  build_seconds REAL,"
	"  size_bytes INTEGER);"
	"CREATE TABLE build_logs ("
	"  env_id INTEGER NOT NULL REFERENCES environments(id) ON DELETE CASCADE,"
	"  seq INTEGER NOT NULL,"
	"  ts TEXT NOT NULL,"
	"  stream TEXT NOT NULL CHECK (stream IN ('stdout', 'stderr', 'system')),"
	"  line TEXT NOT NULL,"
	"  PRIMARY KEY (env_id, seq));"
	"CREATE TABLE runs ("
	"  id INTEGER PRIMARY KEY,"
	"  started_at TEXT NOT NULL,"
	"  environment TEXT,"
	"  duration REAL NOT NULL,"
	"  status TEXT NOT NULL,"
	"  exit_code INTEGER,"
	"  bytes_in INTEGER NOT NULL,"
	"  bytes_out INTEGER NOT NULL,"
	"  http_status INTEGER NOT NULL);"
	"CREATE INDEX runs_started ON runs(started_at);"
	"CREATE INDEX runs_env ON runs(environment, started_at);",
	/* 2: the original's timestamps (Python's datetime.now(timezone.utc).isoformat()): "+00:00" for
	 * "Z", which datetime.fromisoformat before Python 3.11 rejects; microseconds from now on. */
	"UPDATE environments SET created_at = substr(created_at, 1, 19) || '+00:00' WHERE created_at LIKE '%Z';"
	"UPDATE environments SET updated_at = substr(updated_at, 1, 19) || '+00:00' WHERE updated_at LIKE '%Z';"
	"UPDATE environments SET last_used = substr(last_used, 1, 19) || '+00:00' WHERE last_used LIKE '%Z';"
	"UPDATE environments SET build_started_at = substr(build_started_at, 1, 19) || '+00:00'"
	"  WHERE build_started_at LIKE '%Z';"
	"UPDATE environments SET build_finished_at = substr(build_finished_at, 1, 19) || '+00:00'"
	"  WHERE build_finished_at LIKE '%Z';"
	"UPDATE build_logs SET ts = substr(ts, 1, 19) || '+00:00' WHERE ts LIKE '%Z';"
	"UPDATE runs SET started_at = substr(started_at, 1, 19) || '+00:00' WHERE started_at LIKE '%Z';",
	/* 3: the modules an environment's builds import after the setup script (space-separated). */
	"ALTER TABLE environments ADD COLUMN preload TEXT NOT NULL DEFAULT '';",
};

#define ENV_COLUMNS "name, description, python_version, status, created_at, updated_at, last_used, error, " \
	"build_started_at, build_finished_at, build_seconds, size_bytes, python_path, preload"

void
db_format_time(const struct timespec *ts, char out[DB_TIME_LEN])
{
	struct tm tm;
	size_t n;
	int usec = (int)((ts->tv_nsec / 1000) % 1000000);

	gmtime_r(&ts->tv_sec, &tm);
	n = strftime(out, DB_TIME_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
	/* As Python's isoformat(): the fraction only when it is not zero. Sorts as text, at a second's
	 * precision against the older rows without one. */
	if (usec)
		snprintf(out + n, DB_TIME_LEN - n, ".%06d+00:00", usec);
	else
		snprintf(out + n, DB_TIME_LEN - n, "+00:00");
}

void
db_now(char out[DB_TIME_LEN])
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	db_format_time(&ts, out);
}

static int
exec_sql(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int
migrate(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int version = 0;
	char sql[64];

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return -1;
	}
	version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version > DB_SCHEMA_VERSION) {
		snprintf(err, errlen, "database schema %d is newer than this program (%d)", version, DB_SCHEMA_VERSION);
		return -1;
	}
	for (; version < DB_SCHEMA_VERSION; version++) {
		/* One transaction per step: a crash leaves the previous version intact. */
		if (exec_sql(db, "BEGIN IMMEDIATE", err, errlen) == -1)
			return -1;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version + 1);
		if (exec_sql(db, migrations[version], err, errlen) == -1 || exec_sql(db, sql, err, errlen) == -1) {
			exec_sql(db, "ROLLBACK", err + strlen(err), 0);
			return -1;
		}
		if (exec_sql(db, "COMMIT", err, errlen) == -1)
			return -1;
		log_info("database migrated to schema %d", version + 1);
	}
	return 0;
}

sqlite3 *
db_open(const char *state_dir, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	char path[1024];

	if (mkdir(state_dir, 0750) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", state_dir, strerror(errno));
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/pysandbox.db", state_dir);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(db, 5000);
	if (exec_sql(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
	    err, errlen) == -1 || migrate(db, err, errlen) == -1)
		goto fail;
	return db;
fail:
	sqlite3_close(db);
	return NULL;
}

void
db_close(sqlite3 *db)
{
	sqlite3_close(db);
}

static sqlite3_stmt *
prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_warnx("sqlite prepare: %s", sqlite3_errmsg(db));
		return NULL;
	}
	return st;
}

static json_object *
col_text(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return NULL;
	return json_object_new_string((const char *)sqlite3_column_text(st, i));
}

/* The preload column (names separated by single spaces) as a list. */
static json_object *
preload_json(const char *names)
{
	json_object *list = json_object_new_array();

	while (names && *names) {
		size_t n = strcspn(names, " ");

		if (n)
			json_object_array_add(list, json_object_new_string_len(names, (int)n));
		names += n + (names[n] == ' ');
	}
	return list;
}

/* The environment object from a row selected with ENV_COLUMNS: the original's fields in its order, then ours. */
static json_object *
env_json(sqlite3_stmt *st)
{
	json_object *o = json_object_new_object();
	const char *name = (const char *)sqlite3_column_text(st, 0), *status = (const char *)sqlite3_column_text(st, 3);
	char conda[80];
	/* Columns 4..9 under these names (created_at..build_finished_at). */
	static const char *const later[] = { "created_at", "updated_at", "last_used", "error", "build_started_at",
	    "build_finished_at" };

	json_object_object_add(o, "name", col_text(st, 0));
	json_object_object_add(o, "description", col_text(st, 1));
	/* The original's image and conda environment, as they are here: the interpreter the venv was made
	 * from, no Docker image, the name the original would have given, and where runs see it (sys.prefix). */
	json_object_object_add(o, "base_image", col_text(st, 12));
	json_object_object_add(o, "docker_image", NULL);
	snprintf(conda, sizeof(conda), "sandbox-%s", name ? name : "");
	json_object_object_add(o, "conda_env_name", json_object_new_string(conda));
	json_object_object_add(o, "env_path", status && strcmp(status, "ready") == 0 ? json_object_new_string("/env") :
	    NULL);
	json_object_object_add(o, "python_version", col_text(st, 2));
	json_object_object_add(o, "status", col_text(st, 3));
	for (int i = 0; i < 6; i++)
		json_object_object_add(o, later[i], col_text(st, 4 + i));
	if (sqlite3_column_type(st, 10) == SQLITE_NULL)
		json_object_object_add(o, "build_seconds", NULL);
	else {
		char txt[32];
		snprintf(txt, sizeof(txt), "%.3f", sqlite3_column_double(st, 10));
		json_object_object_add(o, "build_seconds", json_object_new_double_s(strtod(txt, NULL), txt));
	}
	json_object_object_add(o, "size_bytes", sqlite3_column_type(st, 11) == SQLITE_NULL ? NULL :
	    json_object_new_int64(sqlite3_column_int64(st, 11)));
	json_object_object_add(o, "preload", preload_json((const char *)sqlite3_column_text(st, 13)));
	return o;
}

enum sbx_err
db_env_create(sqlite3 *db, const struct env_new *e, json_object **out)
{
	sqlite3_stmt *st = prepare(db, "INSERT INTO environments (name, description, python_version, python_path,"
	    " setup_script, status, created_at, updated_at, preload) VALUES (?, ?, ?, ?, ?, 'building', ?, ?, ?)");
	char now[DB_TIME_LEN];
	int rc;

	if (st == NULL)
		return SBX_ESYS;
	db_now(now);
	sqlite3_bind_text(st, 1, e->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, e->description, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, e->python_version, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, e->python_path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, e->setup_script, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, now, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, now, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, e->preload ? e->preload : "", -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_CONSTRAINT)
		return SBX_ECONFLICT;
	if (rc != SQLITE_DONE) {
		log_warnx("insert environment: %s", sqlite3_errmsg(db));
		return SBX_ESYS;
	}
	return db_env_get(db, e->name, out);
}

enum sbx_err
db_env_get(sqlite3 *db, const char *name, json_object **out)
{
	sqlite3_stmt *st = prepare(db, "SELECT " ENV_COLUMNS " FROM environments WHERE name = ?");
	enum sbx_err rc = SBX_ENOTFOUND;

	*out = NULL;
	if (st == NULL)
		return SBX_ESYS;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*out = env_json(st);
		rc = SBX_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

enum sbx_err
db_env_list(sqlite3 *db, json_object **out)
{
	sqlite3_stmt *st = prepare(db, "SELECT " ENV_COLUMNS " FROM environments ORDER BY created_at, id");
	json_object *arr;
	int n = 0, rc;

	*out = NULL;
	if (st == NULL)
		return SBX_ESYS;
	arr = json_object_new_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_object_array_add(arr, env_json(st));
		n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		json_object_put(arr);
		return SBX_ESYS;
	}
	*out = json_object_new_object();
	json_object_object_add(*out, "environments", arr);
	json_object_object_add(*out, "total", json_object_new_int(n));
	return SBX_OK;
}

enum sbx_err
db_env_delete(sqlite3 *db, const char *name, int64_t *id, bool *was_ready)
{
	sqlite3_stmt *st = prepare(db, "DELETE FROM environments WHERE name = ? RETURNING id, status");
	enum sbx_err rc = SBX_ENOTFOUND;

	if (st == NULL)
		return SBX_ESYS;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		*was_ready = strcmp((const char *)sqlite3_column_text(st, 1), "ready") == 0;
		rc = SBX_OK;
		sqlite3_step(st);
	}
	sqlite3_finalize(st);
	return rc;
}

enum sbx_err
db_env_status(sqlite3 *db, const char *name, char *status, size_t statuslen, int64_t *id)
{
	sqlite3_stmt *st = prepare(db, "SELECT id, status FROM environments WHERE name = ?");
	enum sbx_err rc = SBX_ENOTFOUND;

	if (st == NULL)
		return SBX_ESYS;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		snprintf(status, statuslen, "%s", (const char *)sqlite3_column_text(st, 1));
		rc = SBX_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

enum sbx_err
db_env_counts(sqlite3 *db, const char *const *names, long *counts, int n)
{
	sqlite3_stmt *st = prepare(db, "SELECT status, count(*) FROM environments GROUP BY status");
	int rc;

	for (int i = 0; i < n; i++)
		counts[i] = 0;
	if (st == NULL)
		return SBX_ESYS;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *status = (const char *)sqlite3_column_text(st, 0);

		for (int i = 0; status && i < n; i++)
			if (strcmp(status, names[i]) == 0)
				counts[i] = (long)sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SBX_OK : SBX_ESYS;
}

void
db_env_touch(sqlite3 *db, int64_t id)
{
	sqlite3_stmt *st = prepare(db, "UPDATE environments SET last_used = ? WHERE id = ?");
	char now[DB_TIME_LEN];

	if (st == NULL)
		return;
	db_now(now);
	sqlite3_bind_text(st, 1, now, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	if (sqlite3_step(st) != SQLITE_DONE)
		log_warnx("update last_used: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
}

enum sbx_err
db_build_claim(sqlite3 *db, int64_t *id, char *name, size_t namelen, char *python, size_t pylen, char **script,
    char **preload)
{
	sqlite3_stmt *st = prepare(db, "UPDATE environments SET build_started_at = ?, updated_at = ?"
	    " WHERE id = (SELECT id FROM environments WHERE status = 'building' AND build_started_at IS NULL"
	    " ORDER BY id LIMIT 1) RETURNING id, name, python_path, setup_script, preload");
	enum sbx_err rc = SBX_ENOTFOUND;
	char now[DB_TIME_LEN];
	int r;

	if (st == NULL)
		return SBX_ESYS;
	db_now(now);
	sqlite3_bind_text(st, 1, now, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
	if ((r = sqlite3_step(st)) == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		snprintf(name, namelen, "%s", (const char *)sqlite3_column_text(st, 1));
		snprintf(python, pylen, "%s", (const char *)sqlite3_column_text(st, 2));
		*script = strdup((const char *)sqlite3_column_text(st, 3));
		*preload = strdup((const char *)sqlite3_column_text(st, 4));
		rc = *script && *preload ? SBX_OK : SBX_ENOMEM;
		if (rc != SBX_OK) {
			free(*script);
			free(*preload);
			*script = *preload = NULL;
		}
		sqlite3_step(st);
	} else if (r != SQLITE_DONE)
		rc = SBX_ESYS;
	sqlite3_finalize(st);
	return rc;
}

bool
db_env_alive(sqlite3 *db, int64_t id)
{
	sqlite3_stmt *st = prepare(db, "SELECT 1 FROM environments WHERE id = ?");
	int r;

	if (st == NULL)
		return true;	/* cannot tell: keep building rather than lose work */
	sqlite3_bind_int64(st, 1, id);
	r = sqlite3_step(st);
	sqlite3_finalize(st);
	return r != SQLITE_DONE;
}

enum sbx_err
db_env_mark_broken(sqlite3 *db, int64_t id, const char *error)
{
	sqlite3_stmt *st = prepare(db, "UPDATE environments SET status = 'failed', error = ?, updated_at = ?"
	    " WHERE id = ? AND status = 'ready'");
	char now[DB_TIME_LEN];
	int r;

	if (st == NULL)
		return SBX_ESYS;
	db_now(now);
	sqlite3_bind_text(st, 1, error, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, id);
	r = sqlite3_step(st);
	sqlite3_finalize(st);
	return r == SQLITE_DONE ? SBX_OK : SBX_ESYS;
}

enum sbx_err
db_build_finish(sqlite3 *db, int64_t id, bool ok, const char *error, double seconds, int64_t size)
{
	sqlite3_stmt *st = prepare(db, "UPDATE environments SET status = ?, error = ?, updated_at = ?,"
	    " build_finished_at = ?, build_seconds = ?, size_bytes = ? WHERE id = ?");
	char now[DB_TIME_LEN];
	int r;

	if (st == NULL)
		return SBX_ESYS;
	db_now(now);
	sqlite3_bind_text(st, 1, ok ? "ready" : "failed", -1, SQLITE_STATIC);
	if (ok)
		sqlite3_bind_null(st, 2);
	else
		sqlite3_bind_text(st, 2, error, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 5, seconds);
	if (size >= 0)
		sqlite3_bind_int64(st, 6, size);
	else
		sqlite3_bind_null(st, 6);
	sqlite3_bind_int64(st, 7, id);
	r = sqlite3_step(st);
	sqlite3_finalize(st);
	return r == SQLITE_DONE ? SBX_OK : SBX_ESYS;
}

enum sbx_err
db_log_append(sqlite3 *db, int64_t id, int64_t seq, const char *stream, const char *line, size_t len)
{
	sqlite3_stmt *st = prepare(db, "INSERT INTO build_logs (env_id, seq, ts, stream, line) VALUES (?, ?, ?, ?, ?)");
	char now[DB_TIME_LEN], *clean;
	size_t clen;
	int r;

	if (st == NULL)
		return SBX_ESYS;
	if ((clean = utf8_sanitize(line, len, &clen)) == NULL) {
		sqlite3_finalize(st);
		return SBX_ENOMEM;
	}
	db_now(now);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, seq);
	sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, stream, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, clean, (int)clen, SQLITE_STATIC);
	r = sqlite3_step(st);
	sqlite3_finalize(st);
	free(clean);
	/* A constraint failure here means the environment was deleted meanwhile. */
	return r == SQLITE_DONE ? SBX_OK : r == SQLITE_CONSTRAINT ? SBX_ENOTFOUND : SBX_ESYS;
}

int
db_recover(sqlite3 *db)
{
	sqlite3_stmt *st = prepare(db, "UPDATE environments SET status = 'failed', updated_at = ?,"
	    " build_finished_at = ?, error = 'interrupted: the service stopped during the build;"
	    " delete and create the environment again to retry' WHERE status = 'building'"
	    " AND build_started_at IS NOT NULL");
	char now[DB_TIME_LEN];
	int n = 0;

	if (st == NULL)
		return -1;
	db_now(now);
	sqlite3_bind_text(st, 1, now, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_DONE)
		n = sqlite3_changes(db);
	sqlite3_finalize(st);
	return n;
}

enum sbx_err
db_log_read(sqlite3 *db, const char *name, int64_t offset, int64_t limit, json_object **out)
{
	sqlite3_stmt *st = prepare(db, "SELECT l.seq, l.ts, l.stream, l.line FROM build_logs l"
	    " JOIN environments e ON e.id = l.env_id WHERE e.name = ? AND l.seq >= ? ORDER BY l.seq LIMIT ?");
	json_object *env = NULL, *lines, *status;
	int64_t next = offset;
	enum sbx_err rc;

	*out = NULL;
	if ((rc = db_env_get(db, name, &env)) != SBX_OK)
		goto out;
	rc = SBX_ESYS;
	if (st == NULL)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, offset);
	sqlite3_bind_int64(st, 3, limit);
	lines = json_object_new_array();
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_object *l = json_object_new_object();
		json_object_object_add(l, "seq", json_object_new_int64(sqlite3_column_int64(st, 0)));
		json_object_object_add(l, "ts", col_text(st, 1));
		json_object_object_add(l, "stream", col_text(st, 2));
		json_object_object_add(l, "line", col_text(st, 3));
		json_object_array_add(lines, l);
		next = sqlite3_column_int64(st, 0) + 1;
	}
	*out = json_object_new_object();
	json_object_object_add(*out, "name", json_object_new_string(name));
	json_object_object_get_ex(env, "status", &status);
	json_object_object_add(*out, "status", json_object_get(status));
	json_object_object_add(*out, "offset", json_object_new_int64(offset));
	json_object_object_add(*out, "next_offset", json_object_new_int64(next));
	json_object_object_add(*out, "complete", json_object_new_boolean(
	    strcmp(json_object_get_string(status), "building") != 0 && json_object_array_length(lines) < (size_t)limit));
	json_object_object_add(*out, "lines", lines);
	rc = SBX_OK;
out:
	sqlite3_finalize(st);
	json_object_put(env);
	return rc;
}

void
db_run_insert(sqlite3 *db, const struct run_record *r)
{
	sqlite3_stmt *st = prepare(db, "INSERT INTO runs (started_at, environment, duration, status, exit_code,"
	    " bytes_in, bytes_out, http_status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
	char now[DB_TIME_LEN];

	if (st == NULL)
		return;
	db_now(now);
	sqlite3_bind_text(st, 1, r->started_at ? r->started_at : now, -1, SQLITE_STATIC);
	if (r->environment)
		sqlite3_bind_text(st, 2, r->environment, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_double(st, 3, r->duration);
	sqlite3_bind_text(st, 4, r->status, -1, SQLITE_STATIC);
	if (r->exit_code >= 0)
		sqlite3_bind_int(st, 5, r->exit_code);
	else
		sqlite3_bind_null(st, 5);
	sqlite3_bind_int64(st, 6, r->bytes_in);
	sqlite3_bind_int64(st, 7, r->bytes_out);
	sqlite3_bind_int(st, 8, r->http_status);
	if (sqlite3_step(st) != SQLITE_DONE)
		log_warnx("record run: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
}
