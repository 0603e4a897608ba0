/* jailproto.c: the jail's option table (written by the worker, read by the jail), its status records'
 * writers and their parser. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jailproto.h"

/* ---- arguments ----------------------------------------------------------- */

enum opt_type { OPT_LONG, OPT_FLAG, OPT_STRING };

/* Every option, in the order the worker writes them; offsets into struct jail_args. */
static const struct jail_opt {
	const char	*name;
	enum opt_type	 type;
	size_t		 offset;
	long		 min, max;	/* OPT_LONG: the range; OPT_STRING: max is the field's size */
} jail_opts[] = {
	{ "config", OPT_STRING, offsetof(struct jail_args, config), 1, CONF_PATH_MAX },
	{ "slot", OPT_LONG, offsetof(struct jail_args, slot), 0, 65535 },
	{ "timeout-ms", OPT_LONG, offsetof(struct jail_args, timeout_ms), 1, 86400 * 1000L },
	{ "memory-mb", OPT_LONG, offsetof(struct jail_args, memory_mb), LIMIT_MIN_MEMORY_MB, 65536 },
	{ "cpus-milli", OPT_LONG, offsetof(struct jail_args, cpus_milli), (long)(LIMIT_MIN_CPUS * 1000),
	    (long)(HARD_MAX_CPUS * 1000) },
	{ "max-files", OPT_LONG, offsetof(struct jail_args, max_files), 0, 10000 },
	{ "max-return-bytes", OPT_LONG, offsetof(struct jail_args, max_return_bytes), 0, 1L << 30 },
	{ "net", OPT_FLAG, offsetof(struct jail_args, net), 0, 0 },
	{ "env", OPT_STRING, offsetof(struct jail_args, env), 1, ENV_DIR_MAX },
	{ "build", OPT_FLAG, offsetof(struct jail_args, build), 0, 0 },
	{ "python", OPT_STRING, offsetof(struct jail_args, python), 1, CONF_PATH_MAX },
	{ "fork", OPT_FLAG, offsetof(struct jail_args, fork), 0, 0 },
};
#define NOPTS (sizeof(jail_opts) / sizeof(jail_opts[0]))

static const char *const verb_names[] = {
	[JAIL_VERB_RUN] = "run", [JAIL_VERB_STANDBY] = "standby", [JAIL_VERB_REMOVE] = "remove",
	[JAIL_VERB_SWEEP] = "sweep", [JAIL_VERB_WARM] = "warm", [JAIL_VERB_FORKSERVER] = "forkserver",
	[JAIL_VERB_FORKSTANDBY] = "forkstandby",
};

void
jail_args_init(struct jail_args *a)
{
	memset(a, 0, sizeof(*a));
	a->slot = a->timeout_ms = a->memory_mb = a->cpus_milli = a->max_files = a->max_return_bytes = -1;
}

/* One string, NUL-terminated, onto the argument bytes. */
static int
put(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s) + 1);
}

int
jail_args_to_argv(const struct jail_args *a, struct buf *bytes, char **argv, size_t max)
{
	char num[32];
	size_t argc = 0;
	int rc = put(bytes, "pysandbox-jail");

	for (size_t i = 0; rc == 0 && a->verb != JAIL_VERB_STANDBY && i < NOPTS; i++) {
		const struct jail_opt *o = &jail_opts[i];
		const char *field = (const char *)a + o->offset;
		bool given = (o->type == OPT_FLAG && *(const bool *)field) ||
		    (o->type == OPT_LONG && *(const long *)field >= 0) || (o->type == OPT_STRING && field[0] != '\0');

		if (!given)
			continue;
		if ((rc = buf_printf(bytes, "--%s", o->name)) == 0)
			rc = buf_append(bytes, "", 1);
		if (rc == 0 && o->type == OPT_LONG) {
			snprintf(num, sizeof(num), "%ld", *(const long *)field);
			rc = put(bytes, num);
		} else if (rc == 0 && o->type == OPT_STRING)
			rc = put(bytes, field);
	}
	if (rc == 0)
		rc = put(bytes, verb_names[a->verb]);
	if (rc == 0 && a->verb == JAIL_VERB_REMOVE)
		rc = put(bytes, a->target);
	for (int i = 0; rc == 0 && a->verb == JAIL_VERB_RUN && i < a->nprog_args; i++)
		rc = put(bytes, a->prog_args[i]);
	if (rc == -1)
		return -1;
	/* The pointers once every byte is in place (appending may move them). */
	for (size_t off = 0; off < bytes->len; off += strlen(bytes->data + off) + 1) {
		if (argc + 1 >= max)
			return -1;
		argv[argc++] = bytes->data + off;
	}
	argv[argc] = NULL;
	return (int)argc;
}

static enum sbx_err __attribute__((format(printf, 3, 4)))
bad(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return SBX_EINVAL;
}

/* One option's value into its field, checked against the table. */
static enum sbx_err
set_option(const struct jail_opt *o, const char *value, struct jail_args *a, char *why, size_t whylen)
{
	char *field = (char *)a + o->offset, *end;
	long v;

	if (o->type == OPT_STRING) {
		if (strlen(value) >= (size_t)o->max || value[0] == '\0')
			return bad(why, whylen, "argument --%s: empty or too long", o->name);
		memcpy(field, value, strlen(value) + 1);
		return SBX_OK;
	}
	errno = 0;
	v = strtol(value, &end, 10);
	if (*value == '\0' || *end != '\0' || errno || v < o->min || v > o->max) {
		snprintf(why, whylen, "argument %s=%.40s outside [%ld, %ld]", o->name, value, o->min, o->max);
		return SBX_EINVAL;
	}
	*(long *)field = v;
	return SBX_OK;
}

enum sbx_err
jail_args_parse(int argc, char *const *argv, struct jail_args *a, char *why, size_t whylen)
{
	int i = 1;
	enum sbx_err e;

	jail_args_init(a);
	if (argc == 2 && strcmp(argv[1], "standby") == 0) {
		a->verb = JAIL_VERB_STANDBY;
		return SBX_OK;
	}
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		const struct jail_opt *o = NULL;

		for (size_t k = 0; k < NOPTS && o == NULL; k++)
			if (strcmp(argv[i] + 2, jail_opts[k].name) == 0)
				o = &jail_opts[k];
		if (o == NULL)
			return bad(why, whylen, "unknown option %.40s", argv[i]);
		if (o->type == OPT_FLAG) {
			*(bool *)((char *)a + o->offset) = true;
			continue;
		}
		if (i + 1 >= argc)
			return bad(why, whylen, "argument --%s: missing", o->name);
		if ((e = set_option(o, argv[++i], a, why, whylen)) != SBX_OK)
			return e;
	}
	if (i >= argc)
		return bad(why, whylen, "%s", "no verb (run, warm, remove, sweep, forkserver or forkstandby)");
	if (strcmp(argv[i], "sweep") == 0 && i + 1 == argc) {
		a->verb = JAIL_VERB_SWEEP;
		return SBX_OK;
	}
	if (strcmp(argv[i], "forkserver") == 0 && i + 1 == argc) {
		a->verb = JAIL_VERB_FORKSERVER;
		if (a->slot >= 0 || a->timeout_ms >= 0 || a->memory_mb >= 0 || a->cpus_milli >= 0 || a->max_files >= 0 ||
		    a->max_return_bytes >= 0 || a->net || a->env[0] || a->build || a->python[0] || a->fork)
			return bad(why, whylen, "%s", "usage: pysandbox-jail [--config FILE] forkserver");
		return SBX_OK;
	}
	if (strcmp(argv[i], "remove") == 0) {
		a->verb = JAIL_VERB_REMOVE;
		if (i + 2 != argc || strlen(argv[i + 1]) >= sizeof(a->target))
			return bad(why, whylen, "%s", "usage: pysandbox-jail [--config FILE] remove .build-N|.trash-N");
		memcpy(a->target, argv[i + 1], strlen(argv[i + 1]) + 1);
		return SBX_OK;
	}
	if (strcmp(argv[i], "warm") == 0 || strcmp(argv[i], "forkstandby") == 0) {
		/* A plain run's profile: no program arguments (they come with the run), no environment, no
		 * network, nothing of a build (a fork standby's runs come with --fork). */
		a->verb = strcmp(argv[i], "warm") == 0 ? JAIL_VERB_WARM : JAIL_VERB_FORKSTANDBY;
		if (i + 1 != argc || a->env[0] || a->net || a->build || a->python[0] || a->fork)
			return bad(why, whylen, "usage: pysandbox-jail [--config FILE] --slot N --timeout-ms N "
			    "--memory-mb N [--cpus-milli N] [--max-files N] [--max-return-bytes N] %s", argv[i]);
	} else if (strcmp(argv[i], "run") == 0) {
		a->verb = JAIL_VERB_RUN;
		a->prog_args = argv + i + 1;
		a->nprog_args = argc - i - 1;
	} else
		return bad(why, whylen, "unknown verb %.40s", argv[i]);
	if (a->slot < 0 || a->timeout_ms < 0 || a->memory_mb < 0)
		return bad(why, whylen, "%s", "--slot, --timeout-ms and --memory-mb are required");
	if (a->build && (a->env[0] == '\0' || a->python[0] == '\0'))
		return bad(why, whylen, "%s", "--build needs --env and --python");
	if (!a->build && a->python[0] != '\0')
		return bad(why, whylen, "%s", "--python is for builds only");
	if (a->fork && (a->verb != JAIL_VERB_RUN || a->net || a->env[0] || a->build))
		return bad(why, whylen, "%s", "--fork is for plain runs only (no network, environment or build)");
	return SBX_OK;
}

bool
jail_args_within(const struct jail_args *a, const struct jail_args *profile)
{
	return a->slot == profile->slot && a->env[0] == '\0' && !a->net && !a->build && !a->fork &&
	    a->timeout_ms <= profile->timeout_ms && a->memory_mb <= profile->memory_mb &&
	    a->cpus_milli <= profile->cpus_milli && a->max_files <= profile->max_files &&
	    a->max_return_bytes <= profile->max_return_bytes;
}

/* ---- status records ------------------------------------------------------ */

/* The failure records, and what each means to the worker. */
static const struct {
	char		 letter;
	enum sbx_err	 err;
	const char	*fallback;	/* the reason when the record has none */
} failures[] = {
	[JAIL_FAIL_NONE] = { 0, SBX_OK, "" },
	[JAIL_FAIL_SETUP] = { 'E', SBX_EJAIL, "unknown failure" },
	[JAIL_FAIL_INPUT] = { 'I', SBX_EBADREQ, "input files could not be written" },
	[JAIL_FAIL_ENV_GONE] = { 'G', SBX_EBADREQ, "the environment is no longer available" },
	[JAIL_FAIL_LIMITS] = { 'L', SBX_ERELOAD, "beyond the configured limits" },
	[JAIL_FAIL_START] = { 'X', SBX_ESTART, "the interpreter could not be started" },
	[JAIL_FAIL_WARM_GONE] = { 'W', SBX_EJAIL, "the warm interpreter had ended" },
	[JAIL_FAIL_PROTOCOL] = { 0, SBX_EJAIL, "malformed status stream" },
	[JAIL_FAIL_NOMEM] = { 0, SBX_ENOMEM, "out of memory" },
};
#define NFAILURES (sizeof(failures) / sizeof(failures[0]))

/* A formatted line of size bytes at most (n: what snprintf said it wanted); one cut short still ends
 * its record with a newline, so that it cannot run into the next. */
static int
write_line_n(int fd, char *line, int n, size_t size)
{
	if (n < 0 || size < 2)
		return -1;
	if ((size_t)n >= size) {
		n = (int)size - 1;
		line[n - 1] = '\n';
	}
	return fd_write_all(fd, line, (size_t)n);
}
#define write_line(fd, line, n) write_line_n(fd, line, n, sizeof(line))

void
jail_write_failure(int fd, enum jail_failure kind, int errnum, const char *msg)
{
	char line[JAIL_LINE_MAX];
	int n;

	if ((size_t)kind >= NFAILURES || failures[kind].letter == 0)
		kind = JAIL_FAIL_SETUP;
	if (kind == JAIL_FAIL_START)
		n = snprintf(line, sizeof(line), "X %d %.500s: %s\n", errnum, msg, strerror(errnum));
	else if (errnum != 0)
		n = snprintf(line, sizeof(line), "%c %.500s: %s\n", failures[kind].letter, msg, strerror(errnum));
	else
		n = snprintf(line, sizeof(line), "%c %.500s\n", failures[kind].letter, msg);
	(void)write_line(fd, line, n);
}

int
jail_write_result(int fd, const char *how, int exit_code, int sig, long wall_us, long utime_us, long stime_us,
    long maxrss_kb)
{
	char line[160];

	return write_line(fd, line, snprintf(line, sizeof(line), "R %s %d %d %ld %ld %ld %ld\n", how, exit_code, sig,
	    wall_us, utime_us, stime_us, maxrss_kb));
}

int
jail_write_file(int fd, const char *name, const void *data, size_t len)
{
	char hdr[64];

	if (write_line(fd, hdr, snprintf(hdr, sizeof(hdr), "F %zu %zu\n", strlen(name), len)) == -1 ||
	    fd_write_all(fd, name, strlen(name)) == -1)
		return -1;
	return fd_write_all(fd, data, len);
}

int
jail_write_truncated(int fd)
{
	return fd_write_all(fd, "T\n", 2);
}

int
jail_write_env_limit(int fd, const char *why)
{
	char line[200];

	return write_line(fd, line, snprintf(line, sizeof(line), "Z %.150s\n", why));
}

int
jail_write_env_size(int fd, long long bytes, long long inodes)
{
	char line[64];

	return write_line(fd, line, snprintf(line, sizeof(line), "S %lld %lld\n", bytes, inodes));
}

int
jail_write_cgroup(int fd, long oom_kills, long peak_bytes)
{
	char line[64];

	return write_line(fd, line, snprintf(line, sizeof(line), "C %ld %ld\n", oom_kills, peak_bytes));
}

int
jail_write_done(int fd)
{
	return fd_write_all(fd, "D\n", 2);
}

void
jail_report_free(struct jail_report *rep)
{
	for (size_t i = 0; i < rep->nfiles; i++) {
		free(rep->files[i].name);
		free(rep->files[i].data);
	}
	free(rep->files);
	memset(rep, 0, sizeof(*rep));
}

/* Parsing: one record at a time; the stream's state. */
struct parse {
	const char		*p, *end;
	struct jail_report	*rep;
	size_t			 cap;		/* of rep->files */
	bool			 have_r, done;
};

static enum jail_failure
protocol_error(char *why, size_t whylen, const char *what)
{
	snprintf(why, whylen, "%s", what);
	return JAIL_FAIL_PROTOCOL;
}

static enum jail_failure
parse_result(const char *line, struct jail_report *rep, char *why, size_t whylen)
{
	static const struct { const char *name; enum jail_how how; } hows[] = {
		{ "exited", JAIL_EXITED }, { "signaled", JAIL_SIGNALED }, { "timeout", JAIL_TIMEOUT },
		{ "killed", JAIL_KILLED },
	};
	char how[16];
	long wall, ut, st, rss;
	int code, sig;
	size_t i;

	if (sscanf(line, "R %15s %d %d %ld %ld %ld %ld", how, &code, &sig, &wall, &ut, &st, &rss) != 7)
		return protocol_error(why, whylen, "malformed result record");
	for (i = 0; i < sizeof(hows) / sizeof(hows[0]) && strcmp(how, hows[i].name) != 0; i++)
		;
	if (i == sizeof(hows) / sizeof(hows[0]))
		return protocol_error(why, whylen, "unknown outcome");
	rep->how = hows[i].how;
	rep->exit_code = code;
	rep->signal = sig;
	rep->wall_time = (double)wall / 1e6;
	rep->cpu_time = ((double)ut + (double)st) / 1e6;	/* as doubles: the sum may not fit */
	rep->max_rss_kb = rss;
	return JAIL_FAIL_NONE;
}

static enum jail_failure
parse_file(struct parse *ps, const char *line, char *why, size_t whylen)
{
	struct jail_report *rep = ps->rep;
	struct jail_file *f;
	size_t nlen, dlen;

	if (!ps->have_r || sscanf(line, "F %zu %zu", &nlen, &dlen) != 2 || nlen == 0 || nlen > 4096 ||
	    nlen > (size_t)(ps->end - ps->p) || dlen > (size_t)(ps->end - ps->p) - nlen)
		return protocol_error(why, whylen, "malformed file record");
	if (rep->nfiles == ps->cap) {
		size_t ncap = ps->cap ? ps->cap * 2 : 16;
		struct jail_file *nf = realloc(rep->files, ncap * sizeof(*nf));

		if (nf == NULL)
			return JAIL_FAIL_NOMEM;
		rep->files = nf;
		ps->cap = ncap;
	}
	f = &rep->files[rep->nfiles];
	memset(f, 0, sizeof(*f));
	if ((f->name = malloc(nlen + 1)) == NULL || (f->data = malloc(dlen ? dlen : 1)) == NULL) {
		free(f->name);
		return JAIL_FAIL_NOMEM;
	}
	memcpy(f->name, ps->p, nlen);
	f->name[nlen] = '\0';
	f->name_len = nlen;
	memcpy(f->data, ps->p + nlen, dlen);
	f->len = dlen;
	rep->nfiles++;
	ps->p += nlen + dlen;
	return JAIL_FAIL_NONE;
}

/* A failure record: what it says (or its fallback) in why. */
static enum jail_failure
parse_failure(enum jail_failure kind, const char *line, size_t linelen, struct jail_report *rep, char *why,
    size_t whylen)
{
	if (kind == JAIL_FAIL_START) {
		int errnum, used = 0;

		if (sscanf(line, "X %d %n", &errnum, &used) != 1 || used == 0 || errnum <= 0)
			return protocol_error(why, whylen, "malformed start record");
		rep->start_errno = errnum;
		snprintf(why, whylen, "%s", line + used);
		return kind;
	}
	snprintf(why, whylen, "%s", linelen > 2 ? line + 2 : failures[kind].fallback);
	return kind;
}

/* The record in line (the stream's next); JAIL_FAIL_NONE to go on. */
static enum jail_failure
parse_record(struct parse *ps, const char *line, size_t linelen, char *why, size_t whylen)
{
	struct jail_report *rep = ps->rep;

	for (size_t k = 0; k < NFAILURES; k++)
		if (failures[k].letter != 0 && line[0] == failures[k].letter)
			return parse_failure((enum jail_failure)k, line, linelen, rep, why, whylen);
	switch (line[0]) {
	case 'R':
		ps->have_r = true;
		return parse_result(line, rep, why, whylen);
	case 'F':
		return parse_file(ps, line, why, whylen);
	case 'T':
		rep->trunc_files = true;
		return JAIL_FAIL_NONE;
	case 'Z':
		if (ps->have_r || linelen < 3)
			return protocol_error(why, whylen, "malformed limit record");
		snprintf(rep->env_limit, sizeof(rep->env_limit), "%.199s", line + 2);
		return JAIL_FAIL_NONE;
	case 'S':
		if (!ps->have_r || sscanf(line, "S %lld %lld", &rep->env_bytes, &rep->env_inodes) != 2 ||
		    rep->env_bytes < 0 || rep->env_inodes < 0)
			return protocol_error(why, whylen, "malformed size record");
		return JAIL_FAIL_NONE;
	case 'C':
		if (!ps->have_r || sscanf(line, "C %ld %ld", &rep->oom_kills, &rep->mem_peak) != 2)
			return protocol_error(why, whylen, "malformed cgroup record");
		return JAIL_FAIL_NONE;
	case 'D':
		ps->done = true;
		return JAIL_FAIL_NONE;
	default:
		return protocol_error(why, whylen, "unknown status record");
	}
}

enum sbx_err
jail_parse_status(const char *p, size_t n, struct jail_report *rep, enum jail_failure *failure, char *why,
    size_t whylen)
{
	struct parse ps = { .p = p, .end = p + n, .rep = rep };
	enum jail_failure f = JAIL_FAIL_NONE;

	memset(rep, 0, sizeof(*rep));
	rep->exit_code = -1;
	rep->env_bytes = rep->env_inodes = -1;
	why[0] = '\0';
	while (ps.p < ps.end && !ps.done && f == JAIL_FAIL_NONE) {
		const char *nl = memchr(ps.p, '\n', (size_t)(ps.end - ps.p));
		size_t linelen;
		char line[JAIL_LINE_MAX];

		if (nl == NULL)
			break;
		linelen = (size_t)(nl - ps.p);
		if (linelen >= sizeof(line)) {
			f = protocol_error(why, whylen, "malformed status record");
			break;
		}
		memcpy(line, ps.p, linelen);
		line[linelen] = '\0';
		ps.p = nl + 1;
		f = parse_record(&ps, line, linelen, why, whylen);
	}
	if (f == JAIL_FAIL_NONE && (!ps.have_r || !ps.done))
		f = protocol_error(why, whylen, "the sandbox ended without reporting a result");
	if (f == JAIL_FAIL_NOMEM)
		snprintf(why, whylen, "%s", failures[f].fallback);
	*failure = f;
	return failures[f].err;
}
