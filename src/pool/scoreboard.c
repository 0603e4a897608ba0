/* scoreboard.c: the pool's shared state, mapped by the master before it forks, and its only writers. */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "now.h"
#include "scoreboard.h"

static struct scoreboard *board;
const struct scoreboard *scoreboard;

int
sb_create(const struct conf *c)
{
	board = mmap(NULL, sizeof(*board), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (board == MAP_FAILED) {
		board = NULL;
		return -1;
	}
	memset(board, 0, sizeof(*board));
	board->started = now_wall();
	board->master_pid = getpid();
	if (admit_init(&board->admit, conf_workers(c), c->queue_size, c->max_runs_per_client) == -1) {
		sb_destroy();
		return -1;
	}
	scoreboard = board;
	return 0;
}

void
sb_destroy(void)
{
	if (board != NULL)
		munmap(board, sizeof(*board));
	board = NULL;
	scoreboard = NULL;
}

/* The master's alone: a worker that wrote here would be the bug this guards against. */
static bool
is_master(const char *what)
{
	if (getpid() == board->master_pid)
		return true;
	log_warnx("%s is the master's to write (pid %ld is not it)", what, (long)getpid());
	return false;
}

void
sb_set_health(bool healthy, const char *reason, const char *isolation_json, const char *python_version)
{
	if (!is_master("the health state"))
		return;
	snprintf(board->isolation, sizeof(board->isolation), "%s", isolation_json);
	if (python_version)
		snprintf(board->python_version, sizeof(board->python_version), "%s", python_version);
	snprintf(board->reason, sizeof(board->reason), "%s", healthy ? "" : reason);
	board->checked_at = now_wall();
	board->healthy = healthy;
}

void
sb_set_workers(int nworkers)
{
	if (is_master("the worker count"))
		board->nworkers = nworkers;
}

void
sb_worker_started(int slot, pid_t pid, bool takes_runs)
{
	if (!is_master("a worker slot"))
		return;
	board->slot[slot].pid = pid;
	board->slot[slot].busy = 0;
	board->slot[slot].takes_runs = takes_runs;
	board->slot[slot].served = 0;
	board->slot[slot].started = now_wall();
}

void
sb_worker_gone(int slot)
{
	if (!is_master("a worker slot"))
		return;
	board->slot[slot].pid = 0;
	board->slot[slot].busy = 0;
	board->slot[slot].standby = SB_STANDBY_NONE;	/* (its standby ended with it: PDEATHSIG, EOF on its arguments) */
}

void
sb_set_fork_server(pid_t pid)
{
	if (is_master("the fork server's pid")) {
		board->fork_server_pid = pid;
		board->fork_server_pss_kb = -1;
		if (pid > 0)
			board->fork_server_starts++;
	}
}

void
sb_set_fork_server_pss(long kb)
{
	if (is_master("the fork server's memory"))
		board->fork_server_pss_kb = kb;
}

void
sb_set_builder(pid_t pid)
{
	if (is_master("the builder's pid"))
		board->builder_pid = pid;
}

bool
sb_take_selftest_request(void)
{
	return __atomic_exchange_n(&board->selftest_wanted, 0, __ATOMIC_ACQ_REL) != 0;
}

void
sb_worker_busy(int slot, bool busy)
{
	board->slot[slot].busy = busy;
}

void
sb_worker_standby(int slot, enum sb_standby standby)
{
	board->slot[slot].standby = standby;
}

void
sb_worker_served(int slot, unsigned long served)
{
	board->slot[slot].served = served;
	__atomic_add_fetch(&board->requests, 1, __ATOMIC_RELAXED);
}

void
sb_request_selftest(void)
{
	/* The master runs it at most once a second however many workers ask. */
	__atomic_store_n(&board->selftest_wanted, 1, __ATOMIC_RELEASE);
	if (board->master_pid > 0 && board->master_pid != getpid())
		kill(board->master_pid, SIGUSR1);
}

void
sb_wake_builder(void)
{
	if (board->builder_pid > 0)
		kill(board->builder_pid, SIGUSR1);
}

struct admit_state *
sb_admit(void)
{
	return &board->admit;
}

struct metrics *
sb_metrics(void)
{
	return &board->metrics;
}
