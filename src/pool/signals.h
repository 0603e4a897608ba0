/* signals.h: the pool's processes' signal set-up, written once. */
#ifndef SBX_SIGNALS_H
#define SBX_SIGNALS_H

#include <signal.h>

/* Install handler for each signal of sigs (ended by 0), with sa_flags flags (SA_RESTART or 0). */
void signals_handle(const int *sigs, void (*handler)(int), int flags);
/* In a new child of the master: every catchable signal back to its default. */
void signals_default_all(void);
/* Block every signal (across a fork: the child must not run its parent's handlers, and a stop sent to it
 * early stays pending until it has its own); old gets the mask to restore. */
void signals_block_all(sigset_t *old);
/* Unblock every signal (a child, once its handlers are in place). */
void signals_unblock_all(void);

#endif
