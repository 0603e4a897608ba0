/* jailproto.h: the protocol between a worker and pysandbox-jail: its fds, its arguments, its status records. */
#ifndef SBX_JAILPROTO_H
#define SBX_JAILPROTO_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "conf.h"
#include "err.h"
#include "limit.h"

/*
 * Invocation: pysandbox-jail [--config FILE] --slot N --timeout-ms N --memory-mb N [--cpus-milli N]
 *             [--max-files N] [--max-return-bytes N] [--net] [--env DIR [--build --python PATH]] run [ARG...]
 *             pysandbox-jail [--config FILE] remove .build-N|.trash-N
 *             pysandbox-jail [--config FILE] sweep
 *             pysandbox-jail standby
 *             pysandbox-jail [--config FILE] forkserver
 *             pysandbox-jail [--config FILE] --slot N --timeout-ms N --memory-mb N [...] forkstandby
 * A run with --fork is forked from the fork server (no network, no environment, no build): when the server
 * cannot take it, nothing ran and the failure is W (the worker runs it cold). A fork standby (its profile as a
 * warm standby's) takes the fork server's child ahead and has it jail itself as its profile's slot, then
 * reads its run's argv (a run with --fork, within the profile) from JAIL_FD_ARGS as a standby does.
 * One option table (jailproto.c) both writes (jail_args_to_argv) and reads (jail_args_parse) them.
 *
 * A standby is started ahead of a request: it makes its cgroups, init and the program's process (which
 * joins the cgroups), then init reads its run's argv (argv[0] first, each string NUL-terminated, at most
 * JAIL_ARGS_MAX bytes) from JAIL_FD_ARGS up to EOF and runs it; the worker writes the input and stdin into
 * the memfds (pwrite, at offset 0) before the arguments. EOF with nothing read: not needed, exit 0. Only a
 * run is accepted this way.
 *
 * Input records (JAIL_FD_INPUT):  "<name_len> <data_len>\n" name data   (main.py last)
 * Status records (JAIL_FD_STATUS), in order; a failure record ends the stream (nothing ran):
 *   "E <reason>\n"                        setup failed (JAIL_FAIL_SETUP: the sandbox's fault)
 *   "I <reason>\n"                        an input file could not be written (the client's)
 *   "G <reason>\n"                        the environment was deleted since the worker looked it up
 *   "L <reason>\n"                        beyond the configuration file's limits (edited, not yet
 *                                         reloaded by the pool)
 *   "X <errno> <reason>\n"                the interpreter could not be started (exec failed: e.g. an
 *                                         environment's python was removed)
 *   "W <reason>\n"                        a warm standby's interpreter had ended before its run came, or
 *                                         the fork server could not take it (nothing of the run ran: the
 *                                         worker runs it cold)
 * and after a run:
 *   "Z <reason>\n"                        a build whose environment passed a limit (size, inodes,
 *                                         depth); the build was stopped (before R)
 *   "R <how> <exit> <sig> <wall_us> <utime_us> <stime_us> <maxrss_kb>\n"
 *        how: exited | signaled | timeout | killed
 *   "F <name_len> <data_len>\n" name data  a file created or changed, any number
 *   "T\n"                                  some files were left out (caps)
 *   "S <bytes> <inodes>\n"                 a build's environment as the jail measured it, after it
 *   "C <oom_kills> <peak_bytes>\n"         the run's memory cgroup, when there is one
 *   "D\n"                                  end of stream (written by the outer helper)
 */

/* The fds the jail is handed: the program's 0-2, then the protocol's. */
enum {
	JAIL_FD_STDIN = 0, JAIL_FD_STDOUT = 1, JAIL_FD_STDERR = 2,
	JAIL_FD_STATUS = 3,	/* status records, to the worker */
	JAIL_FD_INPUT = 4,	/* a memfd of input records */
	JAIL_FD_ARGS = 5,	/* a standby's: its run's arguments */
};
#define JAIL_FD_LAST(standby)	((standby) ? JAIL_FD_ARGS : JAIL_FD_INPUT)	/* standby: or warm */

#define JAIL_EXIT_SETUP	125		/* the helper itself failed */
/* A build's own steps' exit codes (the builder words them): its venv could not be made; a preload module
 * did not import after the setup script. */
#define JAIL_BUILD_EXIT_VENV	121
#define JAIL_BUILD_EXIT_PRELOAD	122
#define JAIL_STR_(x)	#x
#define JAIL_STR(x)	JAIL_STR_(x)
#define JAIL_ARGS_MAX	(2 << 20)	/* a standby's argument bytes */
#define JAIL_LINE_MAX	640		/* a status record's line (F records' data excepted), newline included */
#define JAIL_MAX_ARGV	(LIMIT_MAX_ARGS + 32)	/* the program's and the jail's own */

/* run: one run now; standby: one run whose arguments come on JAIL_FD_ARGS; warm: a standby whose interpreter
 * starts ahead, its profile (the options a run may then ask for at most, its slot, no environment, no network)
 * on the command line and its run's arguments on JAIL_FD_ARGS; remove, sweep: the pool's housekeeping;
 * forkserver: the fork server, until it is stopped (SIGTERM); forkstandby: a standby of the fork path. */
enum jail_verb { JAIL_VERB_RUN, JAIL_VERB_STANDBY, JAIL_VERB_REMOVE, JAIL_VERB_SWEEP, JAIL_VERB_WARM,
	JAIL_VERB_FORKSERVER, JAIL_VERB_FORKSTANDBY };

/* One invocation. Numbers are -1 when not given; strings "" when not given. */
struct jail_args {
	enum jail_verb	 verb;
	char		 config[CONF_PATH_MAX];	/* --config: taken from root, or a file root alone can change */
	long		 slot;			/* the run's uid is uid_base + slot */
	long		 timeout_ms, memory_mb;
	long		 cpus_milli;		/* the CPU quota; -1: none */
	long		 max_files, max_return_bytes;	/* the caps on returned files */
	bool		 net;			/* a way out (slirp4netns) */
	char		 env[ENV_DIR_MAX];	/* --env: STATE/envs/DIR mounted at /env */
	bool		 build;			/* --build: /env writable, the setup script run by bash */
	char		 python[CONF_PATH_MAX];	/* --python: a build's interpreter */
	bool		 fork;			/* --fork: forked from the fork server */
	char		 target[ENV_DIR_MAX];	/* remove's directory */
	char		*const *prog_args;	/* run's: the program's arguments (not owned) */
	int		 nprog_args;
};

void jail_args_init(struct jail_args *a);
/* argv for a: its strings appended to bytes, each NUL-terminated (as a standby reads them), and argv[0..max)
 * pointing into them, NULL-terminated. Returns argc, or -1 when out of memory or over max. */
int jail_args_to_argv(const struct jail_args *a, struct buf *bytes, char **argv, size_t max);
/* Pure: parse argv (argv[0] the program's name) into a. SBX_OK, or SBX_EINVAL with why: an unknown
 * option, a number outside the table's range, a string too long, a verb missing or of the wrong shape
 * (run without --slot, --timeout-ms and --memory-mb; --build without --env and --python). What the
 * configuration allows is the jail's to check. a->prog_args points into argv. */
enum sbx_err jail_args_parse(int argc, char *const *argv, struct jail_args *a, char *why, size_t whylen);
/* Pure: whether the run a is one the warm standby of profile may take: a plain run (no environment, no
 * network, no build) as the profile's slot, asking for nothing more than the profile. The worker asks before
 * it hands a run over; the jail refuses one that is not. */
bool jail_args_within(const struct jail_args *a, const struct jail_args *profile);

/* Why nothing ran (a failure record), or why the stream could not be read. */
enum jail_failure {
	JAIL_FAIL_NONE,
	JAIL_FAIL_SETUP,	/* E: the sandbox could not be set up */
	JAIL_FAIL_INPUT,	/* I: an input file could not be written (the client's doing) */
	JAIL_FAIL_ENV_GONE,	/* G: the environment was deleted under the run */
	JAIL_FAIL_LIMITS,	/* L: beyond the configuration file's limits */
	JAIL_FAIL_START,	/* X: the interpreter could not be started */
	JAIL_FAIL_WARM_GONE,	/* W: a warm standby's interpreter had ended before its run came */
	JAIL_FAIL_PROTOCOL,	/* the stream was malformed or ended early */
	JAIL_FAIL_NOMEM,	/* no memory to hold what it reported */
};

/* Failure records (E, I, G, L, X, W): msg, and ": strerror(errnum)" when errnum is not 0 (X carries errnum
 * as a field too). Best effort: the helper exits after it. */
void jail_write_failure(int fd, enum jail_failure kind, int errnum, const char *msg);
/* The records after a run; each returns 0, or -1 when the worker is gone. */
int jail_write_result(int fd, const char *how, int exit_code, int sig, long wall_us, long utime_us,
    long stime_us, long maxrss_kb);
int jail_write_file(int fd, const char *name, const void *data, size_t len);
int jail_write_truncated(int fd);
int jail_write_env_limit(int fd, const char *why);
int jail_write_env_size(int fd, long long bytes, long long inodes);
int jail_write_cgroup(int fd, long oom_kills, long peak_bytes);
int jail_write_done(int fd);

enum jail_how { JAIL_EXITED, JAIL_SIGNALED, JAIL_TIMEOUT, JAIL_KILLED };

struct jail_file {
	char		*name;		/* as the jail reported it: any bytes but NUL */
	size_t		 name_len;
	unsigned char	*data;
	size_t		 len;
};

/* What the status stream said of a run. */
struct jail_report {
	enum jail_how	 how;
	int		 exit_code;	/* -1 when the program did not exit normally */
	int		 signal;	/* 0 when not killed by a signal */
	double		 wall_time, cpu_time;	/* seconds */
	long		 max_rss_kb;
	long		 oom_kills;	/* from the memory cgroup; 0 without one */
	long		 mem_peak;	/* bytes, from the memory cgroup */
	int		 start_errno;	/* JAIL_FAIL_START: the exec error */
	char		 env_limit[200];	/* a build the jail stopped: which limit its environment passed */
	long long	 env_bytes, env_inodes;	/* a build's environment as the jail measured it; -1: not */
	struct jail_file *files;
	size_t		 nfiles;
	bool		 trunc_files;
};

/* Pure (fuzzed): parse a status stream. SBX_OK with rep filled, or the error the run fails with, *failure
 * saying which and why the jail's words: SBX_EJAIL (setup, protocol), SBX_EBADREQ (input, env_gone),
 * SBX_ERELOAD (limits), SBX_ESTART (start; rep->start_errno), SBX_ENOMEM. */
enum sbx_err jail_parse_status(const char *p, size_t n, struct jail_report *rep, enum jail_failure *failure,
    char *why, size_t whylen);
void jail_report_free(struct jail_report *rep);

#endif
