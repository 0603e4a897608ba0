/* jail.h: the parts of pysandbox-jail and the state they share (one run's, set once by args.c). */
#ifndef SBX_JAIL_H
#define SBX_JAIL_H

#include <signal.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "buf.h"
#include "cgroup.h"
#include "conf.h"
#include "jailproto.h"
#include "limit.h"

/*
 * Process tree: outer (main.c: in the host's namespaces and the pool's cgroup; starts slirp4netns for a
 * sandbox with network, removes the run's cgroups) -> init (init.c: pid 1 of a new pid namespace, root in
 * new mount, net, ipc and uts namespaces, still in the pool's cgroup: builds the root (root.c), writes the
 * input files and collects the output ones (files.c), reaps, enforces the deadline, measures a build's
 * environment (envtree.c)) -> the program (program.c: pid 2, alone in the run's cgroups, unprivileged).
 * When init exits the kernel kills every process left in the namespace, so nothing outlives a run.
 * The fds and records are jailproto.h's.
 */

#define NEWROOT		"/tmp"	/* mount point of the new root inside our private mount namespace */
#define INIT_EXIT_NO_RUN 3	/* init of a standby whose worker closed without a run */

/* ---- the run (args.c): its arguments, checked against the configuration, and what they give it ---- */
extern struct conf conf;	/* root's configuration file */
extern struct jail_args args;
extern struct limits lim;	/* the run's kind's, from conf */
extern uid_t run_uid;
extern gid_t run_gid;
extern pid_t outer_pid;		/* the outer helper (cgroups are its to remove) */
/* Whether whoever started the jail was root, as main saw it before becoming root: init (a standby's
 * arguments) is root by then, and must still judge --config by its caller. */
extern bool caller_is_root;
extern struct cg_run run_cgroups;

/* Parse and check argv (run_only: a standby's, which may only be a run); the housekeeping verbs are
 * carried out and exit. Refuses (and exits) on anything the root-owned configuration does not allow. */
void args_take(int argc, char **argv, bool run_only);
/* A standby's run: its argv from JAIL_FD_ARGS up to EOF. Returns argc, 0 when the worker closed without one. */
int args_read_standby(char ***argvp);
/* A warm or fork standby's run, read with the table and checked against the configuration it loaded. */
void args_take_standby_run(int argc, char **argv);

/* ---- failing (fail.c): one failure record, then exit; nothing has run ---- */
/* What the outer helper must end before its cgroups can go (a fork run's processes), when it fails. */
extern void (*fail_cleanup)(void);
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));	/* E, with strerror(errno) */
void refuse(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));	/* L */
void fail_record(enum jail_failure kind, int errnum, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
/* A record after the run could not be written: the worker is gone. */
void status_write_check(int rc);
#ifdef PYSANDBOX_SABOTAGE
bool sabotaged(const char *mech);
#else
#define sabotaged(mech) false
#endif

/* ---- the root (root.c), as init ---- */
void root_open_env(void);
void root_build(void);
void root_enter(void);
void root_loopback_up(void);

/* ---- files (files.c), as init ---- */
void files_write_inputs(void);
void files_collect(void);
/* A warm standby's /work/main.py until its run's replaces it: the interpreter's start (warm_boot.py). */
void files_write_warm_boot(void);
/* Where /work is: a fork server's program's (the directory it sent), instead of this root's. */
void files_set_work(int dirfd);
/* The fork server's /work/main.py (run_main.py and fork_server.py), into its root under construction. */
void files_write_fork_server(void);

/* ---- the program (program.c) ---- */
/* Fork the program's process into the run's cgroups; it waits until program_go. Returns its pid. A warm
 * standby's (ready_r not NULL) also gives the end of a pipe that reads EOF once its interpreter is up (or
 * gone: program_ended). */
pid_t program_fork(const sigset_t *oldmask, int *go_w, int *ready_r);
/* Hand it the run's arguments (once init has them), then let it go. A warm standby's goes at once, on its
 * profile, to start the interpreter, which then waits on the same pipe for program_hand_over. */
void program_configure(bool warm);
void program_go(int go_w);
/* -1 with errno when the program's limits could not be set (ESRCH: it has ended). */
int program_limit_warm(pid_t prog);
/* Whether the program's process has ended (it is left for init's wait to reap). */
bool program_ended(pid_t prog);
void program_hand_over(int go_w, bool has_stdin);
/* The run's go message, as run_main.py reads it: G (stdin holds the run's input) or N, then each argument
 * NUL-terminated. */
void program_go_message(struct buf *msg, bool has_stdin);
/* Close every descriptor from lowfd up (with or without close_range). */
void close_from(int lowfd);
/* (seccomp.c) Load the program's filter into this process, its last step before exec (or the fork server's,
 * fork_server); dies on failure. */
void seccomp_policy_load(bool fork_server);
/* (seccomp.c) The same filter as BPF, for a fork server's program to load itself. */
void seccomp_policy_export(struct buf *bpf);
/* A run's environment variables, and the CPU-seconds and address-space limits of its timeout and memory. */
/* Real ruid/rgid, effective and saved euid/egid, nothing else, no capability; root cannot be regained. */
void program_become(uid_t ruid, uid_t euid, gid_t rgid, gid_t egid);
extern char *program_run_envp[];
rlim_t program_cpu_limit(long timeout_ms);
rlim_t program_as_limit(long memory_mb, bool mem_cgroup);

/* ---- a build's environment and leftovers (envtree.c) ---- */
struct tree {
	long long	bytes, inodes;
	bool		too_deep, too_big;
};
#define ENV_MEASURE_MS	1000
/* Measure (and with seal, seal) /env; false when it is past a limit, with why. */
bool env_check(bool seal, struct tree *t, char *why, size_t whylen);
/* Stop every process of the run but init, as far as they will within a short wait. */
void freeze_all(void);
/* remove .build-N|.trash-N under STATE/envs, as root (the builder cannot: a build uid wrote it). Exits. */
void remove_env_dir(const char *name) __attribute__((noreturn));

/* ---- init (init.c) ---- */
void run_init(int alive_fd, int ctl_fd, bool standby, bool warm) __attribute__((noreturn));
/* The run's cgroup limits, from its checked arguments. */
void run_cgroup_limits(void);

/* ---- the fork server (forkserver.c) and a run forked from it (forkrun.c), in the outer helper ---- */
#define FORK_SOCKET_DIR	"/run/pysandbox-jail"	/* root's alone: where fork servers listen */
struct sockaddr_un;
void fork_socket_path(struct sockaddr_un *sa);
void forkserver_main(void) __attribute__((noreturn));
/* A run through the fork server; a standby's (forkstandby) takes its child first, then reads its run. */
void forkrun_main(bool standby) __attribute__((noreturn));
/* The fork server's root (root.c): a /work of root's with its main.py and every run slot's passwd and group. */
extern bool root_for_fork_server;

#endif
