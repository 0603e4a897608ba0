/* http.h: routing and FastCGI parameter handling of a worker (pure parts exposed for tests and fuzzing). */
#ifndef SBX_HTTP_H
#define SBX_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "err.h"

enum route {
	ROUTE_NONE, ROUTE_ROOT, ROUTE_HEALTH, ROUTE_EXECUTE, ROUTE_EXECUTE_ENV,
	ROUTE_ENVS, ROUTE_ENV, ROUTE_ENV_LOGS, ROUTE_METRICS,
};

/* A response being built: status, JSON body, extra headers, what to log. */
struct reply {
	int	 status;
	char	*body;		/* malloc'ed JSON (or content_type's text) */
	const char *content_type;	/* NULL: JSON */
	char	 headers[400];	/* extra header lines, each ending in \r\n */
	const char *run_status;
	int	 exit_code;
	/* for the run record */
	bool	 is_run;
	long	 bytes_in;
	int64_t	 env_id;
	char	 environment[64];
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

void reply_detail(struct reply *r, enum sbx_err e, json_object *detail);
void reply_msg(struct reply *r, enum sbx_err e, const char *msg);
/* {"detail": msg, "reason": reason}: a refusal a client can tell apart (capacity, client_share). */
void reply_refusal(struct reply *r, enum sbx_err e, const char *msg, const char *reason);
void reply_json(struct reply *r, int status, json_object *o);

#endif
