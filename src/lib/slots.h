/* slots.h: the uid pool's arithmetic: which slot (uid_base + slot) each kind of run takes. */
#ifndef SBX_SLOTS_H
#define SBX_SLOTS_H

#include "conf.h"

/*
 * Slots 0 .. workers-1 are the runs' (admit.c hands them out), the top one is the self-test's, and the
 * max_builds below it are the builds'. conf_check insists on enough of them (slots_needed), so that no two
 * processes of a run ever share a uid.
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

static inline int
slots_needed(const struct conf *c)
{
	return conf_workers(c) + 1 + c->max_builds;
}

#endif
