/* admit.h: admission of runs: a fixed number of run slots, a bounded queue with a short wait, a share per client. */
#ifndef SBX_ADMIT_H
#define SBX_ADMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#define ADMIT_MAX_WORKERS	256
#define ADMIT_CLIENT_MAX	48	/* an address as nginx gives it (IPv6 included) */

/*
 * The capacity model: `workers` runs at once, each with a uid of the pool
 * (slot i runs as uid_base + i); `queue_size` more wait at most
 * `queue_timeout` seconds for a slot; beyond that a run is refused at once
 * (503, Retry-After). When runs wait, a client holding its share of the
 * slots and the queue (or max_runs_per_client, if set) is refused with 429,
 * so that one client cannot take the service from the others. The run socket
 * has a worker per slot and per queue place and spare_workers more, which
 * refuse at once what cannot wait; the API socket (/health, the environment
 * routes) has spare_workers of its own, which never take a run.
 *
 * This state lives in the scoreboard, shared by the master and its workers;
 * admit.c is its only writer. A robust mutex guards it, so a worker killed
 * while holding it costs nothing; the master frees what a dead worker held.
 */

enum admit_result { ADMIT_OK, ADMIT_BUSY, ADMIT_SHARE };

struct admit_state {
	pthread_mutex_t	 lock;
	/* Bumped when a slot is released; waiters sleep on it (a futex: unlike a
	 * process-shared condition variable, a waiter that dies leaves nothing behind). */
	unsigned int	 freed;
	int		 nslots, queue_size, max_per_client;
	int		 queued;
	/* Since the start, for /health and /metrics: the most runs at once and waiting at once, and the
	 * runs refused for capacity (php-fpm's max children reached) and for a client's share. */
	int		 max_running, max_queued;
	unsigned long	 refused_busy, refused_share;
	pid_t		 owner[ADMIT_MAX_WORKERS];	/* the worker holding run slot i, 0: free */
	struct {
		pid_t	 pid;
		int	 state;		/* ADMIT_IDLE, ADMIT_QUEUED, ADMIT_RUNNING */
		char	 client[ADMIT_CLIENT_MAX];
	}		 worker[ADMIT_MAX_WORKERS];
};

enum { ADMIT_IDLE, ADMIT_QUEUED, ADMIT_RUNNING };

/* Master, once, in shared memory: process-shared, robust; the limits of the configuration. */
int admit_init(struct admit_state *a, int nslots, int queue_size, int max_per_client);
/* Master, at a reload: the new limits (slots in use above the new count drain as their runs end). */
void admit_resize(struct admit_state *a, int nslots, int queue_size, int max_per_client);
/* Master: free what a dead worker held (its run slot, its place in the queue). */
void admit_reclaim(struct admit_state *a, pid_t pid);

/* Worker, before it parses a run's body: what admit_acquire would most likely say without
 * waiting (so that a refusal costs nothing). The answer may be stale at once; admit_acquire decides. */
enum admit_result admit_precheck(struct admit_state *a, const char *client);
/* Worker wslot (pid self) asks for a run slot for client, waiting at most wait_s when all are taken.
 * ADMIT_OK with *slot set, or why not. */
enum admit_result admit_acquire(struct admit_state *a, int wslot, const char *client, double wait_s, int *slot);
void admit_release(struct admit_state *a, int wslot, int slot);

struct admit_stats {
	int		 running, queued, max_running, max_queued;
	unsigned long	 refused_busy, refused_share;
};

/* For /health and /metrics: slots in use, runs waiting, and the figures since the start. */
void admit_counts(struct admit_state *a, struct admit_stats *st);

/* Pure: a client's share when runs wait: the slots and queue places divided among the clients that
 * hold or wait for one (the asker counted), at least one. */
int admit_share(int nslots, int queue_size, int active_clients);

#endif
