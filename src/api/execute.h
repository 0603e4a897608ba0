/* execute.h: POST /execute and /execute-with-environment. */
#ifndef SBX_EXECUTE_H
#define SBX_EXECUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "reply.h"

/* Serve one run request from client (its address, for its share of the sandboxes) in worker slot wslot;
 * env_route: /execute-with-environment (an environment required, refusals instead of failed runs). */
void execute_handle(const struct conf *c, int wslot, const char *client, const char *body, size_t len,
    bool env_route, struct reply *r);

#endif
