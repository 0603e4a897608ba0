/* health.h: GET /health and GET /metrics. */
#ifndef SBX_HEALTH_H
#define SBX_HEALTH_H

#include "conf.h"

struct sqlite3;

/* The /health document; *status gets 200 or 503. Caller frees. */
char *health_json(const struct conf *c, int *status);
/* The /metrics text (Prometheus); envs_db may be NULL (no environment gauges). Caller frees. */
char *health_metrics(const struct conf *c, struct sqlite3 *envs_db);

#endif
