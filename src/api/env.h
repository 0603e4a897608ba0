/* env.h: the /environments API in a worker (env.c), and its pure request parsers (envreq.c). */
#ifndef SBX_ENV_H
#define SBX_ENV_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>
#include <sqlite3.h>

#include "conf.h"
#include "err.h"
#include "http.h"
#include "interp.h"

#include "limit.h"
#include "reply.h"

#define ENV_SCRIPT_MAX	(64 * 1024)

struct env_create {
	char			 name[ENV_NAME_MAX + 1];
	char			 description[1024];
	char			*setup_script;
	const struct interp	*interp;
	char			 preload[PRELOAD_MAX * (MODULE_NAME_MAX + 1)];	/* module names, space-separated */
};

/* A dotted module name of at most MODULE_NAME_MAX characters, exactly MODULE_NAME_PATTERN (ASCII). Pure. */
bool env_module_name_ok(const char *s, size_t n);
/* envreq.c (pure). Parse and validate a POST /environments body (pure); detail as req_parse's. */
enum sbx_err env_parse_create(const char *body, size_t len, const struct interp *interps, int ninterps,
    struct env_create *out, json_object **detail);
/* Parse "offset=N&limit=M" (pure); a malformed number gives -1. */
void env_parse_query(const char *q, int64_t *offset, int64_t *limit);

/* Whether an exec error of an environment's interpreter is what the environment
 * holds (missing, not executable, a bad format or link), rather than the host's. */
bool env_caused_start_failure(int errnum);
/* Record that a ready environment cannot start its interpreter (why: the exec error). */
void env_mark_broken(const struct conf *c, int64_t id, const char *why);

/* This worker's database connection, opened on first use. */
sqlite3 *env_db(const struct conf *c);
/* Serve one /environments request. */
void env_handle(const struct conf *c, enum route route, const char *method, const char *path, const char *query,
    const char *body, size_t len, struct reply *r);

#endif
