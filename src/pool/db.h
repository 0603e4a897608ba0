/* db.h: the SQLite store: environments, their build logs, and a record of every run. */
#ifndef SBX_DB_H
#define SBX_DB_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>
#include <sqlite3.h>

#include "err.h"

#define DB_SCHEMA_VERSION 3

/* Open (creating) STATE_DIR/pysandbox.db in this process, in WAL mode with a
 * busy timeout and foreign keys, migrated to DB_SCHEMA_VERSION. Must be
 * called after fork, in the process that uses the connection. */
sqlite3 *db_open(const char *state_dir, char *err, size_t errlen);
void db_close(sqlite3 *db);

#include <time.h>

/* "2026-12-01T19:38:22.548239+00:00": the original's timestamps (Python's
 * datetime.now(timezone.utc).isoformat()), stored and answered as they are. */
#define DB_TIME_LEN 40
void db_format_time(const struct timespec *ts, char out[DB_TIME_LEN]);
void db_now(char out[DB_TIME_LEN]);

struct env_new {
	const char	*name;
	const char	*description;
	const char	*python_version;
	const char	*python_path;
	const char	*setup_script;
	const char	*preload;	/* module names, space-separated ("" or NULL: none) */
};

/* The API's environment object for a row, or NULL. */
enum sbx_err db_env_create(sqlite3 *db, const struct env_new *e, json_object **out);
enum sbx_err db_env_get(sqlite3 *db, const char *name, json_object **out);
enum sbx_err db_env_list(sqlite3 *db, json_object **out);
/* Deletes the row and its log; *was_ready tells whether a directory exists to remove. */
enum sbx_err db_env_delete(sqlite3 *db, const char *name, int64_t *id, bool *was_ready);
/* For a run: the environment's status ("ready", ...) and id; SBX_ENOTFOUND if none. */
enum sbx_err db_env_status(sqlite3 *db, const char *name, char *status, size_t statuslen, int64_t *id);
void db_env_touch(sqlite3 *db, int64_t id);
/* A ready environment found broken after its build (its interpreter will not start): failed, with why. */
enum sbx_err db_env_mark_broken(sqlite3 *db, int64_t id, const char *error);
/* Environments by status, in the order of names[0..n) (for /metrics). */
enum sbx_err db_env_counts(sqlite3 *db, const char *const *names, long *counts, int n);

/* Builder side. Claim the oldest queued build: *id, name and interpreter path. */
enum sbx_err db_build_claim(sqlite3 *db, int64_t *id, char *name, size_t namelen, char *python, size_t pylen,
    char **script, char **preload);
bool db_env_alive(sqlite3 *db, int64_t id);
enum sbx_err db_build_finish(sqlite3 *db, int64_t id, bool ok, const char *error, double seconds, int64_t size);
enum sbx_err db_log_append(sqlite3 *db, int64_t id, int64_t seq, const char *stream, const char *line, size_t len);
/* At start-up: started builds that no builder finishes become failed ("interrupted"). Returns how many. */
int db_recover(sqlite3 *db);

/* The log from line `offset` on (at most `limit` lines), as the API's logs object. */
enum sbx_err db_log_read(sqlite3 *db, const char *name, int64_t offset, int64_t limit, json_object **out);

struct run_record {
	const char	*started_at;	/* when the request arrived (ISO 8601) */
	const char	*environment;
	double		 duration;
	const char	*status;	/* run status; "rejected" before a run, "failed" when ours failed */
	int		 exit_code;	/* -1: none */
	int64_t		 bytes_in, bytes_out;
	int		 http_status;
};
void db_run_insert(sqlite3 *db, const struct run_record *r);

#endif
