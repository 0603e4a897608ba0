/* run.h: the jail's client: one run through pysandbox-jail (a worker's standby, or one spawned), its output
 * and report, and the run's outcome in the API's words. */
#ifndef SBX_RUN_H
#define SBX_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "conf.h"
#include "err.h"
#include "jailproto.h"
#include "metrics.h"

enum run_status { RUN_OK, RUN_ERROR, RUN_TIMEOUT, RUN_MEMORY, RUN_OUTPUT, RUN_KILLED };

/* An input file, as the run is handed it. */
struct run_file {
	char		*name;		/* a safe relative path (req_safe_name) */
	unsigned char	*data;
	size_t		 len;
};

/* What the program is given. */
struct run_input {
	const char		*code;
	size_t			 code_len;
	const char		*main_name;	/* what the code is written as (default main.py) */
	const struct run_file	*files;
	size_t			 nfiles;
	const char		*stdin_data;
	size_t			 stdin_len;
};

struct run_result {
	enum run_status	 status;
	struct jail_report jail;	/* what the jail reported of the run */
	struct buf	 out, err;
	bool		 trunc_out, trunc_err;
	enum jail_failure failure;	/* why run_exec did not return SBX_OK, when it was the jail's report */
	enum metrics_start start;	/* how its jail started (MS_NONE: it did not) */
	char		 error[256];	/* empty on success */
};

/* How a run differs from a plain /execute (all optional). */
struct run_spec {
	/* Output handed over as it comes (then not kept in the result). */
	void		(*on_output)(void *ctx, int stream, const char *data, size_t n);
	/* Asked about once a second; false stops the run (cancelled). */
	bool		(*keep_going)(void *ctx);
	void		*ctx;
};

/* The jail's arguments for a run in uid slot `slot` with these limits (seconds and cores, as requests
 * give them), the configuration file and the caps on returned files from c. The program's arguments, an
 * environment and a build's options the caller adds. */
void run_args(const struct conf *c, int slot, double timeout_s, int memory_mb, double cpus, bool network,
    struct jail_args *a);

/* Run in the jail. SBX_OK with res filled (res->status, res->error); otherwise what failed, with why:
 * SBX_EJAIL the sandbox (its setup, or a malformed report), SBX_EBADREQ the input (files that could not be
 * written, an environment deleted under the run: res->failure tells), SBX_ERELOAD limits the configuration
 * file no longer allows (edited, not yet reloaded), SBX_ESTART the interpreter (res->jail.start_errno). */
enum sbx_err run_exec(const struct conf *c, const struct jail_args *a, const struct run_input *in,
    const struct run_spec *spec, struct run_result *res, char *why, size_t whylen);
void run_result_free(struct run_result *res);
const char *run_status_name(enum run_status s);

/* Pure: the run's status and error message from its report and output (res->jail, out, err, trunc_*), in
 * the API's words; timeout and memory_mb as asked, max_output the cap that stopped it. */
void run_describe(struct run_result *res, double timeout_s, int memory_mb, long max_output, bool killed_for_output);

/* Wait for a jail that was still exiting when its run's answer was ready. */
void run_reap(void);
/* A worker (wslot: its place on the scoreboard), once its answer has gone: spawn the jail for its next run
 * now, so that what the jail does before it needs the request (its cgroups; with warm_interpreters its root,
 * uid, limits and the interpreter itself) is off the request's path. run_standby_drop ends it (at the
 * worker's exit). */
void run_standby(const struct conf *c, int wslot);
void run_standby_drop(void);

/* Run one of the jail's housekeeping verbs ("remove", ".build-N"), ("sweep", NULL): the privileged
 * clean-ups an unprivileged pool cannot do itself. 0 on success. */
int run_jail_command(const struct conf *c, enum jail_verb verb, const char *target);
/* Start the fork server's jail (the master's to reap and stop); its pid and the read end of its reports
 * ("P <PSS kB>" lines), or -1. */
pid_t run_fork_server_spawn(const struct conf *c, int *report_r);

#endif
