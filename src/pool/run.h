/* run.h: one run of user code through pysandbox-jail, and its result. */
#ifndef SBX_RUN_H
#define SBX_RUN_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "conf.h"
#include "err.h"
#include "request.h"

enum run_status { RUN_OK, RUN_ERROR, RUN_TIMEOUT, RUN_MEMORY, RUN_OUTPUT, RUN_KILLED };

struct run_file {
	char		*name;		/* as the jail reported it: any bytes but NUL and '/' abuse */
	size_t		 name_len;
	unsigned char	*data;
	size_t		 len;
};

struct run_result {
	enum run_status	 status;
	int		 exit_code;	/* -1 when the program did not exit normally */
	int		 signal;	/* 0 when not killed by a signal */
	struct buf	 out, err;
	bool		 trunc_out, trunc_err, trunc_files;
	double		 wall_time, cpu_time;
	long		 max_rss_kb;
	long		 oom_kills;	/* from the memory cgroup; 0 without one */
	long		 mem_peak;	/* bytes, from the memory cgroup */
	int		 start_errno;	/* the exec error when the interpreter could not start */
	char		 env_limit[200];	/* a build the jail stopped: which limit its environment passed */
	long long	 env_bytes, env_inodes;	/* a build's environment as the jail measured it; -1: not */
	struct run_file	*files;
	size_t		 nfiles;
	char		 error[256];	/* empty on success */
};

/* How a run differs from a plain /execute (all optional). */
struct run_spec {
	const char	*env_dir;	/* directory under STATE/envs mounted at /env */
	bool		 build;		/* build mode: env_dir writable, setup.sh run by bash */
	const char	*python;	/* build mode: the interpreter creating the venv */
	const char	*main_name;	/* name the code is written as (default main.py) */
	/* Output handed over as it comes (then not kept in the result). */
	void		(*on_output)(void *ctx, int stream, const char *data, size_t n);
	/* Asked about once a second; false stops the run (cancelled). */
	bool		(*keep_going)(void *ctx);
	void		*ctx;
};

/* Run req in the jail as uid slot `slot` (0-based index into the uid pool).
 * On a sandbox failure returns SBX_EJAIL and puts the reason in why; when
 * the input (files, environment) could not be put in place, SBX_EBADREQ;
 * when the jail refused limits its configuration file no longer allows
 * (changed on disk, not yet reloaded), SBX_ERELOAD; when the interpreter
 * could not be started, SBX_ESTART with res->start_errno set. */
enum sbx_err run_exec(const struct conf *c, int slot, const struct exec_req *req, const struct run_spec *spec,
    struct run_result *res, char *why, size_t whylen);
void run_result_free(struct run_result *res);
const char *run_status_name(enum run_status s);

/* Wait for a jail that was still exiting when its run's answer was ready. */
void run_reap(void);
/* A worker, once its answer has gone: spawn the jail for its next run now,
 * so that what the jail does before it needs the request (its cgroups) is
 * off the request's path. run_standby_drop ends it (at the worker's exit). */
void run_standby(const struct conf *c);
void run_standby_drop(void);

/* Run one of the jail's housekeeping verbs ("remove", ".build-N"), ("sweep", NULL):
 * the privileged clean-ups an unprivileged pool cannot do itself. 0 on success. */
int run_jail_command(const struct conf *c, const char *verb, const char *arg);

/* Parse the jail's status stream (pure; fuzzable). Returns 0; -1 with why set when the
 * sandbox failed; -2 when the input files could not be written (the client's fault);
 * -3 when the run is beyond the configuration file's limits (edited, not reloaded);
 * -4 when the interpreter could not be started (res->start_errno). */
int run_parse_status(const char *p, size_t n, struct run_result *res, char *why, size_t whylen);

/* The response body (API.md "POST /execute" response) for a finished run. */
char *run_result_json(const struct run_result *res, const char *environment, bool output_base64);

#endif
