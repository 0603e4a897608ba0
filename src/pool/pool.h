/* pool.h: the prefork process pool (master and workers) and the scoreboard they share. */
#ifndef SBX_POOL_H
#define SBX_POOL_H

#include <stdbool.h>
#include <sys/types.h>

#include "admit.h"
#include "conf.h"
#include "metrics.h"

struct sqlite3;

#define POOL_MAX_WORKERS 256

struct pool_slot {
	pid_t		 pid;		/* 0: empty */
	int		 busy;
	int		 takes_runs;	/* the run socket's (else the API socket's) */
	unsigned long	 served;
	double		 started;	/* CLOCK_REALTIME seconds */
};

/* Shared (MAP_SHARED) between the master and its workers; each worker writes only its slot. */
struct scoreboard {
	int		 healthy;	/* jail self-test passed and no jail failure since */
	char		 reason[256];	/* why unhealthy */
	char		 isolation[1024]; /* JSON object describing the isolation in force */
	char		 python_version[32]; /* of the default interpreter, as the self-test saw it */
	double		 started;
	double		 checked_at;
	unsigned long	 requests;
	int		 nworkers;
	pid_t		 builder_pid;	/* workers wake it with SIGUSR1 */
	pid_t		 master_pid;	/* workers ask it for a self-test with SIGUSR1 */
	struct admit_state admit;	/* run slots and the queue (admit.c alone writes it) */
	int		 selftest_wanted; /* set by a worker (atomically), cleared by the master */
	struct metrics	 metrics;	/* counters of every process (metrics.c alone writes them) */
	struct pool_slot slot[POOL_MAX_WORKERS];
};

extern struct scoreboard *scoreboard;

/* As root with a service user configured: whether that user exists, may serve, and can reach the
 * state directory (else why). 0 when there is nothing to check. */
int pool_check_user(const struct conf *c, char *why, size_t whylen);

/* Run the master until stopped; returns the process exit status. */
int pool_main(struct conf *c, const char *conf_path);

/* health.c: run the jail self-test as uid slot `slot`; fills the scoreboard. */
bool health_selftest(const struct conf *c, int slot);
/* health.c: a worker saw the jail fail for no reason of its request's: ask
 * the master for a self-test, which alone may turn the service unhealthy. */
void health_suspect(void);
/* health.c: the /health document; *status gets 200 or 503. Caller frees. */
char *health_json(const struct conf *c, int *status);
/* health.c: the /metrics text (Prometheus); envs_db may be NULL (no environment gauges). Caller frees. */
char *health_metrics(const struct conf *c, struct sqlite3 *envs_db);

/* build.c: the builder process's loop; returns when it should exit. */
void build_main(const struct conf *c);

/* http.c: a worker's accept loop on listen_fd (takes_runs: the run socket's, which keeps a
 * standby jail); returns when it should exit. */
void http_worker(const struct conf *c, int listen_fd, int slot, bool takes_runs);

#endif
