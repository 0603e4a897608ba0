/* http.h: routing and FastCGI parameter handling of a worker (pure parts exposed for tests and fuzzing). */
#ifndef SBX_HTTP_H
#define SBX_HTTP_H

#include <stdbool.h>

enum route { ROUTE_NONE, ROUTE_ROOT, ROUTE_HEALTH, ROUTE_EXECUTE, ROUTE_EXECUTE_ENV };

/* Match a request line; *method_ok tells 404 from 405, *allow names the method the path takes. */
enum route http_route(const char *method, const char *path, bool *method_ok, const char **allow);
/* CONTENT_LENGTH: 0 ok (absent is 0), 1 larger than max, -1 malformed. */
int http_content_length(const char *s, long max, long *out);

#endif
