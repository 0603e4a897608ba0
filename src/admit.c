/* admit.c: the only writer of the pool's admission state: run slots, the bounded queue, each client's share. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admit.h"

int
admit_share(int nslots, int queue_size, int active_clients)
{
	int places = nslots + queue_size, share;

	if (active_clients < 1)
		active_clients = 1;
	share = (places + active_clients - 1) / active_clients;
	return share > 0 ? share : 1;
}

/* Lock, taking over a lock whose holder died (its changes are single assignments). */
static void
admit_lock(struct admit_state *a)
{
	if (pthread_mutex_lock(&a->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&a->lock);
}

int
admit_init(struct admit_state *a, int nslots, int queue_size, int max_per_client)
{
	pthread_mutexattr_t ma;
	pthread_condattr_t ca;

	memset(a, 0, sizeof(*a));
	if (pthread_mutexattr_init(&ma) != 0 || pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED) != 0 ||
	    pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST) != 0 || pthread_mutex_init(&a->lock, &ma) != 0)
		return -1;
	pthread_mutexattr_destroy(&ma);
	if (pthread_condattr_init(&ca) != 0 || pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED) != 0 ||
	    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 || pthread_cond_init(&a->freed, &ca) != 0)
		return -1;
	pthread_condattr_destroy(&ca);
	admit_resize(a, nslots, queue_size, max_per_client);
	return 0;
}

void
admit_resize(struct admit_state *a, int nslots, int queue_size, int max_per_client)
{
	admit_lock(a);
	a->nslots = nslots < ADMIT_MAX_WORKERS ? nslots : ADMIT_MAX_WORKERS;
	a->queue_size = queue_size;
	a->max_per_client = max_per_client;
	pthread_mutex_unlock(&a->lock);
	pthread_cond_broadcast(&a->freed);
}

void
admit_reclaim(struct admit_state *a, pid_t pid)
{
	bool freed = false;

	admit_lock(a);
	for (int i = 0; i < ADMIT_MAX_WORKERS; i++) {
		if (a->owner[i] == pid) {
			a->owner[i] = 0;
			freed = true;
		}
		if (a->worker[i].pid == pid) {
			if (a->worker[i].state == ADMIT_QUEUED && a->queued > 0)
				a->queued--;
			a->worker[i].pid = 0;
			a->worker[i].state = ADMIT_IDLE;
		}
	}
	pthread_mutex_unlock(&a->lock);
	if (freed)
		pthread_cond_signal(&a->freed);
}

/* A free slot below nslots, claimed for pid; -1 if none. Under the lock. */
static int
claim(struct admit_state *a, pid_t pid)
{
	for (int i = 0; i < a->nslots; i++)
		if (a->owner[i] == 0) {
			a->owner[i] = pid;
			return i;
		}
	return -1;
}

/* Runs client holds or waits for. Under the lock. */
static int
client_runs(const struct admit_state *a, const char *client)
{
	int n = 0;

	for (int i = 0; i < ADMIT_MAX_WORKERS; i++)
		n += a->worker[i].pid != 0 && a->worker[i].state != ADMIT_IDLE && strcmp(a->worker[i].client, client) == 0;
	return n;
}

/* Whether client is past its share now that runs must wait. Under the lock. */
static bool
over_share(const struct admit_state *a, const char *client)
{
	char seen[ADMIT_MAX_WORKERS][ADMIT_CLIENT_MAX];
	int mine = 0, active = 0;
	bool me_seen = false;

	for (int i = 0; i < ADMIT_MAX_WORKERS; i++) {
		bool dup = false;

		if (a->worker[i].pid == 0 || a->worker[i].state == ADMIT_IDLE)
			continue;
		if (strcmp(a->worker[i].client, client) == 0) {
			mine++;
			me_seen = true;
		}
		for (int k = 0; k < active && !dup; k++)
			dup = strcmp(seen[k], a->worker[i].client) == 0;
		if (!dup)
			snprintf(seen[active++], ADMIT_CLIENT_MAX, "%s", a->worker[i].client);
	}
	if (!me_seen)
		active++;
	if (a->max_per_client > 0 && mine >= a->max_per_client)
		return true;
	return active > 1 && mine >= admit_share(a->nslots, a->queue_size, active);
}

enum admit_result
admit_acquire(struct admit_state *a, int wslot, const char *client, double wait_s, int *slot)
{
	struct timespec until;
	enum admit_result rc = ADMIT_BUSY;
	pid_t me = getpid();

	*slot = -1;
	admit_lock(a);
	a->worker[wslot].pid = me;
	snprintf(a->worker[wslot].client, sizeof(a->worker[wslot].client), "%s", client ? client : "");
	/* A free slot: only the configured cap applies; shares matter when runs wait. */
	if (a->max_per_client > 0 && client_runs(a, a->worker[wslot].client) >= a->max_per_client) {
		rc = ADMIT_SHARE;
		goto out;
	}
	if ((*slot = claim(a, me)) != -1) {
		a->worker[wslot].state = ADMIT_RUNNING;
		rc = ADMIT_OK;
		goto out;
	}
	if (over_share(a, a->worker[wslot].client)) {
		rc = ADMIT_SHARE;
		goto out;
	}
	if (a->queued >= a->queue_size || wait_s <= 0)
		goto out;
	a->queued++;
	a->worker[wslot].state = ADMIT_QUEUED;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)wait_s;
	until.tv_nsec += (long)((wait_s - (double)(time_t)wait_s) * 1e9);
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	for (;;) {
		int w;

		if ((*slot = claim(a, me)) != -1) {
			rc = ADMIT_OK;
			break;
		}
		w = pthread_cond_timedwait(&a->freed, &a->lock, &until);
		if (w == EOWNERDEAD)
			pthread_mutex_consistent(&a->lock);
		else if (w == ETIMEDOUT) {
			if ((*slot = claim(a, me)) != -1)
				rc = ADMIT_OK;
			break;
		}
	}
	a->queued--;
	a->worker[wslot].state = rc == ADMIT_OK ? ADMIT_RUNNING : ADMIT_IDLE;
out:
	if (rc != ADMIT_OK)
		a->worker[wslot].state = ADMIT_IDLE;
	pthread_mutex_unlock(&a->lock);
	return rc;
}

void
admit_release(struct admit_state *a, int wslot, int slot)
{
	admit_lock(a);
	if (slot >= 0 && slot < ADMIT_MAX_WORKERS && a->owner[slot] == getpid())
		a->owner[slot] = 0;
	a->worker[wslot].state = ADMIT_IDLE;
	pthread_mutex_unlock(&a->lock);
	pthread_cond_signal(&a->freed);
}

void
admit_counts(struct admit_state *a, int *running, int *queued)
{
	*running = 0;
	admit_lock(a);
	for (int i = 0; i < ADMIT_MAX_WORKERS; i++)
		*running += a->owner[i] != 0;
	*queued = a->queued;
	pthread_mutex_unlock(&a->lock);
}
