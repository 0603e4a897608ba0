/* result.h: a run's result as the API answers it. */
#ifndef SBX_RESULT_H
#define SBX_RESULT_H

#include <stdbool.h>

#include "run.h"

/* The response body (API.md "POST /execute" response) for a finished run; NULL when out of memory. */
char *run_result_json(const struct run_result *res, const char *environment, bool output_base64);

#endif
