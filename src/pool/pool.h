/* pool.h: the pool's processes: the master (master.c), its self-test (selftest.c), the builder (build.c)
 * and a worker (worker.c). */
#ifndef SBX_POOL_H
#define SBX_POOL_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

/* As root with a service user configured: whether that user exists, may serve, and can reach the
 * state directory (else why). 0 when there is nothing to check. */
int pool_check_user(const struct conf *c, char *why, size_t whylen);
/* Run the master until stopped; returns the process exit status. */
int pool_main(struct conf *c, const char *conf_path);

/* The master's jail self-test, in the self-test's uid slot: sets the scoreboard's health state. */
bool selftest_run(const struct conf *c);

/* The builder process's loop; returns when it should exit. */
void build_main(const struct conf *c);

/* A worker's accept loop on listen_fd (takes_runs: the run socket's, which keeps a standby jail); returns
 * when it should exit. */
void worker_main(const struct conf *c, int listen_fd, int slot, bool takes_runs);

#endif
