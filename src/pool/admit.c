/* admit.c: the only writer of the pool's admission state: run slots, the bounded queue, each client's share. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
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

static void
freed_wake(struct admit_state *a)
{
	__atomic_add_fetch(&a->freed, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &a->freed, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Sleep until a release after seen, or until (CLOCK_MONOTONIC, absolute). */
static void
freed_wait(struct admit_state *a, unsigned int seen, const struct timespec *until)
{
	struct timespec now, rel;

	clock_gettime(CLOCK_MONOTONIC, &now);
	rel.tv_sec = until->tv_sec - now.tv_sec;
	rel.tv_nsec = until->tv_nsec - now.tv_nsec;
	if (rel.tv_nsec < 0) {
		rel.tv_sec--;
		rel.tv_nsec += 1000000000L;
	}
	if (rel.tv_sec < 0)
		return;
	syscall(SYS_futex, &a->freed, FUTEX_WAIT, seen, &rel, NULL, 0);
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

	memset(a, 0, sizeof(*a));
	if (pthread_mutexattr_init(&ma) != 0 || pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED) != 0 ||
	    pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST) != 0 || pthread_mutex_init(&a->lock, &ma) != 0)
		return -1;
	pthread_mutexattr_destroy(&ma);
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
	freed_wake(a);
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
		freed_wake(a);
}

/* A free slot below nslots, claimed for pid; -1 if none. Under the lock. */
static int
claim(struct admit_state *a, pid_t pid)
{
	for (int i = 0; i < a->nslots; i++)
		if (a->owner[i] == 0) {
			int running = 0;

			a->owner[i] = pid;
			for (int k = 0; k < ADMIT_MAX_WORKERS; k++)
				running += a->owner[k] != 0;
			if (running > a->max_running)
				a->max_running = running;
			return i;
		}
	return -1;
}

/* Count a refusal. Under the lock. */
static enum admit_result
refused(struct admit_state *a, enum admit_result rc)
{
	if (rc == ADMIT_BUSY)
		a->refused_busy++;
	else if (rc == ADMIT_SHARE)
		a->refused_share++;
	return rc;
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
	if (a->queued > a->max_queued)
		a->max_queued = a->queued;
	a->worker[wslot].state = ADMIT_QUEUED;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)wait_s;
	until.tv_nsec += (long)((wait_s - (double)(time_t)wait_s) * 1e9);
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	for (;;) {
		struct timespec now;
		unsigned int seen;

		if ((*slot = claim(a, me)) != -1) {
			rc = ADMIT_OK;
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > until.tv_sec || (now.tv_sec == until.tv_sec && now.tv_nsec >= until.tv_nsec))
			break;
		/* Read the generation under the lock: a release after it wakes the futex wait. */
		seen = __atomic_load_n(&a->freed, __ATOMIC_ACQUIRE);
		pthread_mutex_unlock(&a->lock);
		freed_wait(a, seen, &until);
		admit_lock(a);
	}
	a->queued--;
	a->worker[wslot].state = rc == ADMIT_OK ? ADMIT_RUNNING : ADMIT_IDLE;
out:
	if (rc != ADMIT_OK) {
		a->worker[wslot].state = ADMIT_IDLE;
		refused(a, rc);
	}
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
	freed_wake(a);
}

enum admit_result
admit_precheck(struct admit_state *a, const char *client)
{
	enum admit_result rc = ADMIT_BUSY;
	bool free_slot = false;

	if (client == NULL)
		client = "";
	admit_lock(a);
	for (int i = 0; i < a->nslots && !free_slot; i++)
		free_slot = a->owner[i] == 0;
	if (a->max_per_client > 0 && client_runs(a, client) >= a->max_per_client)
		rc = ADMIT_SHARE;
	else if (free_slot)
		rc = ADMIT_OK;
	else if (over_share(a, client))
		rc = ADMIT_SHARE;
	else if (a->queued < a->queue_size)
		rc = ADMIT_OK;
	refused(a, rc);
	pthread_mutex_unlock(&a->lock);
	return rc;
}

void
admit_counts(struct admit_state *a, struct admit_stats *st)
{
	memset(st, 0, sizeof(*st));
	admit_lock(a);
	for (int i = 0; i < ADMIT_MAX_WORKERS; i++)
		st->running += a->owner[i] != 0;
	st->queued = a->queued;
	st->max_running = a->max_running;
	st->max_queued = a->max_queued;
	st->refused_busy = a->refused_busy;
	st->refused_share = a->refused_share;
	pthread_mutex_unlock(&a->lock);
}
