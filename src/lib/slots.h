/* slots.h: the uid pool's arithmetic: which slot (uid_base + slot) each kind of run takes. */
#ifndef SBX_SLOTS_H
#define SBX_SLOTS_H

#include <stdbool.h>

#include "conf.h"

/*
 * Slots 0 .. workers-1 are the runs' (admit.c hands them out), the top one is the self-test's, and the
 * max_builds below it are the builds'. With warm_interpreters, each run worker has one more of its own
 * (workers + its place on the scoreboard), which its warm standby's interpreter runs as before any run is
 * admitted: a worker serves one run at a time; with fork_server its fork standby's child takes that slot the
 * same way. conf_check insists on enough of them (slots_needed), so that
 * no two processes of a run ever share a uid. With fork_server, the two below the builds' are the fork
 * server's (its uid) and its children's before each makes its own user namespace (the server's real uid, so
 * that a child takes it without a capability). A uid that owns a user namespace has every capability in it:
 * no run may hold either (args.c), and the server, which could take its real uid, runs only trusted code
 * (SECURITY.md, the fork path).
 */
static inline int
slot_selftest(const struct conf *c)
{
	return c->uid_count - 1;
}

static inline int
slot_build(const struct conf *c, int build)
{
	return c->uid_count - 2 - build;
}

static inline long
slot_uid(const struct conf *c, long slot)
{
	return c->uid_base + slot;
}

/* The run workers: a worker per run slot and queue place, and the spare ones (the scoreboard's first). */
static inline int
slots_run_workers(const struct conf *c)
{
	return conf_workers(c) + c->queue_size + c->spare_workers;
}

/* The uid slot of run worker w's warm interpreter. */
static inline int
slot_warm(const struct conf *c, int w)
{
	return conf_workers(c) + w;
}

static inline int
slot_fork_server(const struct conf *c)
{
	return c->uid_count - 2 - c->max_builds;
}

static inline int
slot_fork_child(const struct conf *c)
{
	return c->uid_count - 3 - c->max_builds;
}

/* Whether a run in slot may take the fork path: the runs' slots, the run workers' own (their fork standbys') and
 * the self-test's (the fork server's root has their users, and no other). */
static inline bool
slot_may_fork(const struct conf *c, long slot)
{
	return (slot >= 0 && slot < conf_workers(c) + slots_run_workers(c)) || slot == slot_selftest(c);
}

static inline int
slots_needed(const struct conf *c)
{
	return conf_workers(c) + (c->warm_interpreters || c->fork_server ? slots_run_workers(c) : 0) + 1 +
	    c->max_builds + (c->fork_server ? 2 : 0);
}

#endif
