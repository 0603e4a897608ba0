/* conf.h: the service configuration (INI), its defaults, hard maxima and environment overrides. */
#ifndef SBX_CONF_H
#define SBX_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "limit.h"

#define CONF_PATH_MAX		512
#define CONF_MAX_PROCESSES	256
#define CONF_NET_MAX_DNS	4
#define CONF_NET_MAX_ALLOW	16

/* The virtual network slirp4netns gives a sandbox (its own address .100, the
 * host's loopback .2, refused, the DNS forwarder .3): never routed outward. */
#define CONF_SANDBOX_NET	0x0a000200U	/* 10.0.2.0 */
#define CONF_SANDBOX_PREFIX	24

/* An IPv4 range, host byte order, its host bits zero. */
struct conf_cidr {
	uint32_t addr;
	int	 prefix;
};

struct conf {
	/* [service] */
	int	 workers;		/* runs at once; 0: 2 x online cores */
	int	 queue_size;		/* runs that may wait for one of them */
	double	 queue_timeout;		/* seconds a run waits before it is refused (503) */
	int	 max_runs_per_client;	/* runs one client address may hold or wait for; 0: its share */
	int	 spare_workers;		/* on each socket: the run socket's refuse at once what cannot wait,
					 * the API socket's alone serve /health and the environment routes */
	char	 user[64];		/* the unprivileged service user ("" = stay as started) */
	long	 max_requests;		/* recycle a worker after this many; 0: never */
	bool	 warm_interpreters;	/* each run worker keeps an interpreter started in its standby jail */
	bool	 fork_server;		/* plain runs are forked from one interpreter up ahead (the jail's fork server) */
	char	 socket[CONF_PATH_MAX];	/* runs (/execute, /execute-with-environment) */
	char	 api_socket[CONF_PATH_MAX];	/* everything else, served by the spare workers alone */
	int	 socket_mode;
	char	 state_dir[CONF_PATH_MAX];
	int	 shutdown_grace;	/* seconds in-flight runs get on stop */
	long	 max_body_size;		/* bytes */
	int	 log_level;
	int	 log_format;		/* enum log_format */
	char	 url[CONF_PATH_MAX];	/* where clients reach the service through nginx (pysandbox-admin's default) */
	int	 retention_days;	/* runs and build logs older than this are pruned (the timer); 0: kept */
	/* [limits] */
	double	 default_timeout;
	double	 max_timeout;
	int	 default_memory_mb;
	int	 max_memory_mb;
	double	 default_cpus;		/* CPU quota in cores, where a cpu cgroup is available */
	double	 max_cpus;
	long	 max_file_size;
	long	 max_code_length;
	long	 max_output;		/* per stream */
	int	 max_input_files;
	int	 max_return_files;
	long	 max_return_bytes;
	int	 workdir_mb;		/* tmpfs size of the working directory */
	int	 tmp_mb;		/* tmpfs size of /tmp and /dev/shm */
	int	 max_processes;
	int	 max_open_files;
	/* [jail] */
	char	 jail[CONF_PATH_MAX];
	char	 python[CONF_PATH_MAX];
	long	 uid_base;
	int	 uid_count;
	bool	 allow_network;
	/* [environments] */
	int	 max_builds;		/* builds running at once */
	double	 build_timeout;		/* seconds */
	int	 build_memory_mb;
	bool	 build_network;
	int	 build_workdir_mb;	/* tmpfs of the build's /work (pip's cache) and /tmp */
	int	 build_processes;
	long	 max_env_size;		/* bytes on disk; a larger environment fails */
	long	 max_env_inodes;	/* files, directories and links; a build with more fails */
	/* [network]: runs with network and builds reach out through slirp4netns */
	uint32_t net_dns[CONF_NET_MAX_DNS];	/* their resolvers; none: the host's, via slirp's forwarder */
	int	 net_ndns;
	struct conf_cidr net_allow[CONF_NET_MAX_ALLOW];	/* reachable despite the private-range block */
	int	 net_nallow;
	/* [interpreters]: version = path, beside those found in /usr/bin */
	struct {
		char	version[16];
		char	path[CONF_PATH_MAX];
	}	 interps[8];
	int	 ninterps;
	/* not directives: the file this was loaded from ("" for none), and
	 * whether the defaults were given (else they follow a lower maximum) */
	char	 file[CONF_PATH_MAX];
	bool	 default_timeout_given;
	bool	 default_memory_given;
};

/* Fill with the built-in defaults. */
void conf_defaults(struct conf *c);
/* Parse INI text over c (pure: no I/O). On error returns -1 and writes
 * "line N: why" into err. Unknown sections or keys are errors. */
int conf_parse(const char *text, size_t len, struct conf *c, char *err, size_t errlen);
/* Apply MAX_EXECUTION_TIME, MAX_CODE_LENGTH, MAX_FILE_SIZE, LOG_LEVEL from getenv. */
int conf_env_override(struct conf *c, char *err, size_t errlen);
/* Cross-field checks (defaults within maxima, maxima within hard maxima). */
int conf_check(const struct conf *c, char *err, size_t errlen);
/* Defaults, then the file (if path is not NULL), then the environment, then checks. */
int conf_load(const char *path, struct conf *c, bool use_env, char *err, size_t errlen);
/* Pure: parse "a.b.c.d[/n], ..." (commas or blanks) into out (at most max); -1 with why on error.
 * With cidr false every entry is a single address (/32 is implied and a prefix refused). */
int conf_parse_ipv4_list(const char *s, bool cidr, struct conf_cidr *out, int max, char *why, size_t whylen);

/* Runs at once (workers, after resolving 0). */
int conf_workers(const struct conf *c);
/* Worker processes of the pool: the run socket's (runs, queue, spares) and the API socket's (spares). */
int conf_processes(const struct conf *c);

#endif
