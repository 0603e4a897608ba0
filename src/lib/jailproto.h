/* jail.h: the contract between the worker (run.c) and pysandbox-jail (jail.c). */
#ifndef SBX_JAIL_H
#define SBX_JAIL_H

/*
 * Invocation: pysandbox-jail [--config FILE] --slot N --timeout-ms N --memory-mb N
 *             [--net] [--max-files N] [--max-return-bytes N] run [ARG...]
 * fds: 0 stdin, 1 stdout, 2 stderr, 3 status (write end), 4 input memfd.
 *
 * Standby: pysandbox-jail standby, with fd 5 the read end of a pipe. Started
 * ahead of a request, it makes its cgroups, init and the program's process
 * (which joins the cgroups), then init reads that invocation's
 * argv (argv[0] first, each string NUL-terminated, at most JAIL_ARGS_MAX
 * bytes) from fd 5 up to EOF and runs it; the worker writes the input and
 * stdin into the memfds (pwrite, at offset 0) before the arguments. EOF with
 * nothing read: not needed, exit 0. Only a run is accepted this way.
 *
 * Input records (fd 4):  "<name_len> <data_len>\n" name data   (main.py last)
 * Status records (fd 3), in order:
 *   "E <reason>\n"                        setup failed; nothing ran (or exec failed)
 *   "I <reason>\n"                        an input file could not be written; nothing ran
 *   "L <reason>\n"                        beyond the configuration file's limits (edited, not
 *                                         yet reloaded by the pool); nothing ran
 *   "X <errno> <reason>\n"                the program's interpreter could not be started (exec
 *                                         failed: e.g. an environment's python was removed)
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

#define JAIL_EXIT_SETUP	125	/* the helper itself failed */
#define JAIL_ARGS_MAX	(2 << 20)	/* a standby's argument bytes */

#endif
