/* limit.h: the one home of every bound on a run: the hard maxima, the environment-name rule, and the limits
 * a configuration gives a run or a build (used by the request parser, the jail, the builder, the self-test). */
#ifndef SBX_LIMIT_H
#define SBX_LIMIT_H

#include <stdbool.h>
#include <stddef.h>

struct conf;

/* Hard maxima from the original's limits table; no configuration can exceed them. */
#define HARD_MAX_MEMORY_MB	2048
#define HARD_MAX_TIMEOUT	300
#define HARD_MAX_FILE_SIZE	(100L * 1024 * 1024)
#define HARD_MAX_CODE_LENGTH	(500L * 1024)
#define HARD_MAX_CPUS		2.0
/* Below this not even the interpreter starts: the least a request, the configuration or the jail takes. */
#define LIMIT_MIN_MEMORY_MB	32
#define LIMIT_MIN_CPUS		0.01
#define LIMIT_MAX_ARGS		256	/* the program's arguments */

/* Environment names, as the original's API has them. pysandbox-admin asks `pysandboxd --print-rules`. */
#define ENV_NAME_MAX		50
#define ENV_NAME_PATTERN	"^[A-Za-z0-9_-]{1,50}$"
/* An environment directory under STATE/envs as the jail takes it: a name, or a build's .build-N. */
#define ENV_DIR_MAX		64

/* What one kind of run may ask for and use. */
struct limits {
	/* asked for by a request (the default when it does not) */
	double	 default_timeout, max_timeout;		/* seconds */
	int	 default_memory_mb, max_memory_mb;
	double	 default_cpus, max_cpus;		/* cores */
	bool	 allow_network;
	/* brought by a request */
	long	 max_code_length, max_file_size;
	int	 max_input_files;
	long	 max_input_bytes;	/* all decoded files together: they must fit the working directory */
	/* used and handed back by the run, in the jail */
	long	 max_output;		/* per stream */
	int	 max_return_files;
	long	 max_return_bytes;
	int	 workdir_mb, tmp_mb;	/* tmpfs sizes of /work and of /tmp and /dev/shm */
	int	 processes, open_files;
	long	 file_size;		/* RLIMIT_FSIZE: a build's is the environment's size */
};

enum limit_kind { LIMIT_RUN, LIMIT_BUILD };

/* The limits c gives a run (/execute) or a build (an environment's setup script). Pure. */
void limit_from_conf(const struct conf *c, enum limit_kind kind, struct limits *out);

/* Exactly ENV_NAME_PATTERN. */
bool limit_env_name_ok(const char *s, size_t n);

/* An environment's preload list: modules its builds import once the setup script has run. The names'
 * rule (env_module_name_ok) is the API's alone: the jail passes them on as arguments, unread. */
#define PRELOAD_MAX		32
#define MODULE_NAME_MAX		100
#define MODULE_NAME_PATTERN	"^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)*$"
/* A build's working directory name: ".build-" and digits. */
bool limit_build_dir_ok(const char *s);
/* A deleted environment's directory: ".trash-" or ".trash-old-", and digits. */
bool limit_trash_dir_ok(const char *s);

#endif
