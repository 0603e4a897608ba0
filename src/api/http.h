/* http.h: a worker's requests: the routes and FastCGI parameters (pure parts, tested and fuzzed), serving one. */
#ifndef SBX_HTTP_H
#define SBX_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

enum route {
	ROUTE_NONE, ROUTE_ROOT, ROUTE_HEALTH, ROUTE_EXECUTE, ROUTE_EXECUTE_ENV,
	ROUTE_ENVS, ROUTE_ENV, ROUTE_ENV_LOGS, ROUTE_METRICS,
};

/* Match a request line; *method_ok tells 404 from 405, *allow names the method the path takes. */
enum route http_route(const char *method, const char *path, bool *method_ok, const char **allow);
/* CONTENT_LENGTH: 0 ok (absent is 0), 1 larger than max, -1 malformed. */
int http_content_length(const char *s, long max, long *out);
/* The original's redirect of a trailing slash: true and out set to the Location (path without its slash,
 * percent-encoded again, and the query) when path ends in '/' and names a route without it. Pure. */
bool http_redirect_location(const char *path, const char *query, char *out, size_t outlen);
/* The {name} of /environments/{name}[/logs]; false if there is none or it is too long. */
bool http_env_name(const char *path, char *out, size_t outlen);

/* Serve one request in worker slot wslot: route, read, answer, log. */
struct FCGX_Request;
void http_serve(const struct conf *c, int wslot, struct FCGX_Request *fr);
/* Once the answer has gone: write the run record it left (SQLite, off the client's time). */
void http_after_answer(const struct conf *c);

#endif
