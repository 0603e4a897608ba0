/* scoreboard.h: the state the pool's processes share (one MAP_SHARED mapping), each part with one writer. */
#ifndef SBX_SCOREBOARD_H
#define SBX_SCOREBOARD_H

#include <stdbool.h>
#include <sys/types.h>

#include "admit.h"
#include "conf.h"
#include "metrics.h"

#define POOL_MAX_WORKERS 256

/*
 * Who writes what (every write goes through a function below, each called by one kind of process):
 *  - the master: the health state (after its self-test), the worker slots' pids (and a gone worker's slot
 *    cleared), the builder's pid;
 *  - each worker: its own slot's busy, served and standby (run.c), the requests counter (atomic), and the self-test
 *    request flag (atomic: a worker that saw the jail fail raises it, the master lowers it);
 *  - admit.c: the run slots and the queue (its own lock); metrics.c: the counters (atomic adds).
 * Everyone reads through the const pointer `scoreboard`.
 */
/* What a run worker holds for its next run (run.c's standby). */
enum sb_standby { SB_STANDBY_NONE, SB_STANDBY_PLAIN, SB_STANDBY_WARM, SB_STANDBY_FORK };

struct pool_slot {
	pid_t		 pid;		/* 0: empty */
	int		 busy;
	int		 takes_runs;	/* the run socket's (else the API socket's) */
	unsigned long	 served;
	double		 started;	/* CLOCK_REALTIME seconds */
	int		 standby;	/* enum sb_standby; the master clears it when the worker is gone */
};

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
	pid_t		 fork_server_pid;	/* the fork server's jail (fork_server); 0: not running */
	uint64_t	 fork_server_starts;
	long		 fork_server_pss_kb;	/* the server's PSS, as its jail last reported it; -1: not yet */
	pid_t		 master_pid;	/* workers ask it for a self-test with SIGUSR1 */
	int		 selftest_wanted;
	struct admit_state admit;
	struct metrics	 metrics;
	struct pool_slot slot[POOL_MAX_WORKERS];
};

extern const struct scoreboard *scoreboard;

/* ---- the master ---- */
/* Map and initialise it (admission limits from c); -1 on failure. */
int sb_create(const struct conf *c);
void sb_destroy(void);
void sb_set_health(bool healthy, const char *reason, const char *isolation_json, const char *python_version);
void sb_set_workers(int nworkers);
void sb_worker_started(int slot, pid_t pid, bool takes_runs);
void sb_worker_gone(int slot);
void sb_set_builder(pid_t pid);
/* The fork server's jail, started (counted) or gone (0). */
void sb_set_fork_server(pid_t pid);
void sb_set_fork_server_pss(long kb);
/* Whether a worker asked for a self-test since the last call (and lower the flag). */
bool sb_take_selftest_request(void);

/* ---- a worker ---- */
void sb_worker_busy(int slot, bool busy);
/* The jail its next run will take: none, a plain standby, or a warm one (its interpreter up or starting). */
void sb_worker_standby(int slot, enum sb_standby standby);
/* A request answered: its slot's count, and the pool's. */
void sb_worker_served(int slot, unsigned long served);
/* The jail failed for no reason of the request's: ask the master for a self-test, which alone may turn
 * the service unhealthy. */
void sb_request_selftest(void);
/* Wake the builder (an environment was created or deleted). */
void sb_wake_builder(void);

/* ---- the parts with writers of their own ---- */
struct admit_state *sb_admit(void);
struct metrics *sb_metrics(void);

#endif
