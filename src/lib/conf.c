/* conf.c: parses the INI configuration (pure over a buffer), applies env overrides, checks limits. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <arpa/inet.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "slots.h"

#ifndef PYSANDBOX_JAIL_PATH
#define PYSANDBOX_JAIL_PATH "/usr/libexec/pysandbox/pysandbox-jail"
#endif
#ifndef PYSANDBOX_STATE_DIR
#define PYSANDBOX_STATE_DIR "/var/lib/pysandbox"
#endif
#ifndef PYSANDBOX_SOCKET
#define PYSANDBOX_SOCKET "/run/pysandbox/pysandbox.sock"
#endif
#ifndef PYSANDBOX_API_SOCKET
#define PYSANDBOX_API_SOCKET "/run/pysandbox/pysandbox-api.sock"
#endif
#ifndef PYSANDBOX_PYTHON
#define PYSANDBOX_PYTHON "/usr/bin/python3"
#endif

enum conf_type { CT_INT, CT_LONG, CT_SIZE, CT_DOUBLE, CT_BOOL, CT_STR, CT_NAME, CT_MODE, CT_LEVEL, CT_LOGFMT, CT_URL,
	CT_DNS, CT_ALLOW };

struct conf_directive {
	const char	*section;
	const char	*key;
	enum conf_type	 type;
	size_t		 off;
	double		 min, max;	/* numeric range; ignored for strings */
};

#define D(sec, key, type, field, min, max) \
	{ sec, key, type, offsetof(struct conf, field), min, max }

static const struct conf_directive directives[] = {
	D("service", "workers",		CT_INT,    workers,		0, 256),
	D("service", "user",		CT_NAME,   user,		0, 0),
	D("service", "queue_size",	CT_INT,    queue_size,		0, 256),
	D("service", "queue_timeout",	CT_DOUBLE, queue_timeout,	0, 60),
	D("service", "max_runs_per_client", CT_INT, max_runs_per_client, 0, 256),
	D("service", "spare_workers",	CT_INT,    spare_workers,	1, 64),
	D("service", "max_requests",	CT_LONG,   max_requests,	0, 1e9),
	D("service", "warm_interpreters", CT_BOOL, warm_interpreters,	0, 0),
	D("service", "fork_server",	CT_BOOL,   fork_server,		0, 0),
	D("service", "socket",		CT_STR,    socket,		0, 0),
	D("service", "api_socket",	CT_STR,    api_socket,		0, 0),
	D("service", "socket_mode",	CT_MODE,   socket_mode,		0, 0777),
	D("service", "state_dir",	CT_STR,    state_dir,		0, 0),
	D("service", "shutdown_grace",	CT_INT,    shutdown_grace,	0, 3600),
	D("service", "max_body_size",	CT_SIZE,   max_body_size,	1024, 1024.0 * 1024 * 1024),
	D("service", "log_level",	CT_LEVEL,  log_level,		0, 0),
	D("service", "log_format",	CT_LOGFMT, log_format,		0, 0),
	D("service", "url",		CT_URL,    url,			0, 0),
	D("service", "retention_days",	CT_INT,    retention_days,	0, 36500),
	D("limits", "default_timeout",	CT_DOUBLE, default_timeout,	0.001, HARD_MAX_TIMEOUT),
	D("limits", "max_timeout",	CT_DOUBLE, max_timeout,		0.001, HARD_MAX_TIMEOUT),
	D("limits", "default_memory_mb", CT_INT,   default_memory_mb,	LIMIT_MIN_MEMORY_MB, HARD_MAX_MEMORY_MB),
	D("limits", "max_memory_mb",	CT_INT,    max_memory_mb,	LIMIT_MIN_MEMORY_MB, HARD_MAX_MEMORY_MB),
	D("limits", "default_cpus",	CT_DOUBLE, default_cpus,	LIMIT_MIN_CPUS, HARD_MAX_CPUS),
	D("limits", "max_cpus",		CT_DOUBLE, max_cpus,		LIMIT_MIN_CPUS, HARD_MAX_CPUS),
	D("limits", "max_file_size",	CT_SIZE,   max_file_size,	1, HARD_MAX_FILE_SIZE),
	D("limits", "max_code_length",	CT_SIZE,   max_code_length,	1, HARD_MAX_CODE_LENGTH),
	D("limits", "max_output",	CT_SIZE,   max_output,		1024, 256.0 * 1024 * 1024),
	D("limits", "max_input_files",	CT_INT,    max_input_files,	0, 10000),
	D("limits", "max_return_files",	CT_INT,    max_return_files,	0, 10000),
	D("limits", "max_return_bytes",	CT_SIZE,   max_return_bytes,	0, 1024.0 * 1024 * 1024),
	D("limits", "workdir_mb",	CT_INT,    workdir_mb,		1, 65536),
	D("limits", "tmp_mb",		CT_INT,    tmp_mb,		1, 65536),
	D("limits", "max_processes",	CT_INT,    max_processes,	1, 4096),
	D("limits", "max_open_files",	CT_INT,    max_open_files,	16, 65536),
	D("jail", "jail",		CT_STR,    jail,		0, 0),
	D("jail", "python",		CT_STR,    python,		0, 0),
	D("jail", "uid_base",		CT_LONG,   uid_base,		1000, 4e9),
	D("jail", "uid_count",		CT_INT,    uid_count,		2, 65536),
	D("jail", "allow_network",	CT_BOOL,   allow_network,	0, 0),
	D("environments", "max_builds",	CT_INT,    max_builds,		1, 16),
	D("environments", "build_timeout", CT_DOUBLE, build_timeout,	1, 86400),
	D("environments", "build_memory_mb", CT_INT, build_memory_mb,	64, 65536),
	D("environments", "build_network", CT_BOOL, build_network,	0, 0),
	D("environments", "build_workdir_mb", CT_INT, build_workdir_mb, 16, 65536),
	D("environments", "build_processes", CT_INT, build_processes,	8, 4096),
	D("environments", "max_env_size", CT_SIZE, max_env_size,	1024 * 1024, 1024.0 * 1024 * 1024 * 1024),
	D("environments", "max_env_inodes", CT_LONG, max_env_inodes,	100, 1e9),
	D("network", "dns",		CT_DNS,    net_dns,		0, 0),
	D("network", "allow",		CT_ALLOW,  net_allow,		0, 0),
};

void
conf_defaults(struct conf *c)
{
	memset(c, 0, sizeof(*c));
	c->workers = 0;
	c->queue_size = 4;
	c->queue_timeout = 5;
	c->max_runs_per_client = 0;
	c->spare_workers = 2;
	snprintf(c->user, sizeof(c->user), "pysandbox");
	c->max_requests = 1000;
	snprintf(c->socket, sizeof(c->socket), "%s", PYSANDBOX_SOCKET);
	snprintf(c->api_socket, sizeof(c->api_socket), "%s", PYSANDBOX_API_SOCKET);
	c->socket_mode = 0660;
	snprintf(c->state_dir, sizeof(c->state_dir), "%s", PYSANDBOX_STATE_DIR);
	c->shutdown_grace = 10;
	c->max_body_size = 64L * 1024 * 1024;
	c->log_level = LOG_LVL_INFO;
	c->log_format = LOG_FMT_TEXT;
	c->retention_days = 30;
	c->default_timeout = 30;
	c->max_timeout = HARD_MAX_TIMEOUT;
	c->default_memory_mb = 512;
	c->max_memory_mb = HARD_MAX_MEMORY_MB;
	c->default_cpus = 1;
	c->max_cpus = HARD_MAX_CPUS;
	c->max_file_size = 10L * 1024 * 1024;
	c->max_code_length = 50L * 1024;
	c->max_output = 1024L * 1024;
	c->max_input_files = 100;
	c->max_return_files = 100;
	c->max_return_bytes = 32L * 1024 * 1024;
	c->workdir_mb = 64;
	c->tmp_mb = 64;
	c->max_processes = 64;
	c->max_open_files = 256;
	snprintf(c->jail, sizeof(c->jail), "%s", PYSANDBOX_JAIL_PATH);
	snprintf(c->python, sizeof(c->python), "%s", PYSANDBOX_PYTHON);
	c->uid_base = 60000;
	c->uid_count = 64;
	c->allow_network = false;
	c->max_builds = 2;
	c->build_timeout = 600;
	c->build_memory_mb = 4096;
	c->build_network = true;
	c->build_workdir_mb = 2048;
	c->build_processes = 256;
	c->max_env_size = 4L * 1024 * 1024 * 1024;
	c->max_env_inodes = 200000;
}

/* [interpreters]: "3.12 = /usr/bin/python3.12"; the jail only sees /usr. */
static int
conf_add_interp(struct conf *c, const char *key, const char *val, char *why, size_t whylen)
{
	const char *p = key;

	if (!(*p >= '0' && *p <= '9'))
		goto badkey;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p++ != '.' || !(*p >= '0' && *p <= '9'))
		goto badkey;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p != '\0' || strlen(key) >= sizeof(c->interps[0].version))
		goto badkey;
	if (strncmp(val, "/usr/", 5) != 0 || strlen(val) >= CONF_PATH_MAX || strstr(val, "/../") || strchr(val, ' ')) {
		snprintf(why, whylen, "interpreter %s must be an absolute path under /usr", key);
		return -1;
	}
	for (int i = 0; i < c->ninterps; i++)
		if (strcmp(c->interps[i].version, key) == 0) {
			snprintf(c->interps[i].path, CONF_PATH_MAX, "%s", val);
			return 0;
		}
	if (c->ninterps >= (int)(sizeof(c->interps) / sizeof(c->interps[0]))) {
		snprintf(why, whylen, "too many interpreters");
		return -1;
	}
	snprintf(c->interps[c->ninterps].version, sizeof(c->interps[0].version), "%s", key);
	snprintf(c->interps[c->ninterps].path, CONF_PATH_MAX, "%s", val);
	c->ninterps++;
	return 0;
badkey:
	snprintf(why, whylen, "interpreter key '%s' must be a version like 3.11", key);
	return -1;
}

int
conf_parse_ipv4_list(const char *s, bool cidr, struct conf_cidr *out, int max, char *why, size_t whylen)
{
	int n = 0;

	while (*s) {
		char tok[32], *slash;
		size_t len;
		struct in_addr a;
		long prefix = 32;

		s += strspn(s, ", \t");
		if ((len = strcspn(s, ", \t")) == 0)
			break;
		if (len >= sizeof(tok)) {
			snprintf(why, whylen, "'%.40s...' is not an IPv4 %s", s, cidr ? "range" : "address");
			return -1;
		}
		memcpy(tok, s, len);
		tok[len] = '\0';
		s += len;
		if ((slash = strchr(tok, '/')) != NULL) {
			char *end;

			*slash = '\0';
			errno = 0;
			prefix = strtol(slash + 1, &end, 10);
			if (!cidr || slash[1] == '\0' || *end != '\0' || errno || prefix < 0 || prefix > 32 ||
			    !(slash[1] >= '0' && slash[1] <= '9')) {
				snprintf(why, whylen, "'%s/%s' is not %s", tok, slash + 1,
				    cidr ? "an IPv4 range like 10.20.0.0/16" : "a single IPv4 address");
				return -1;
			}
		}
		if (inet_pton(AF_INET, tok, &a) != 1) {
			snprintf(why, whylen, "'%s' is not an IPv4 address (runs have IPv4 only)", tok);
			return -1;
		}
		if (n >= max) {
			snprintf(why, whylen, "more than %d entries", max);
			return -1;
		}
		out[n].addr = ntohl(a.s_addr);
		out[n].prefix = (int)prefix;
		if (prefix < 32 && (out[n].addr & ~(0xffffffffU << (32 - prefix))) != 0) {
			snprintf(why, whylen, "%s/%ld has bits set past its prefix", tok, prefix);
			return -1;
		}
		n++;
	}
	return n;
}

/* Parse a byte size: digits with an optional K, M or G suffix (powers of 1024). */
static int
parse_size(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno || !isdigit((unsigned char)*s))
		return -1;
	switch (toupper((unsigned char)*end)) {
	case 'K': v *= 1024; end++; break;
	case 'M': v *= 1024 * 1024; end++; break;
	case 'G': v *= 1024.0 * 1024 * 1024; end++; break;
	default: break;
	}
	if (toupper((unsigned char)*end) == 'B')
		end++;
	if (*end != '\0' || v != floor(v))
		return -1;
	*out = v;
	return 0;
}

static int
conf_set(struct conf *c, const struct conf_directive *d, const char *val, char *why, size_t whylen)
{
	char *p = (char *)c + d->off, *end;
	double v = 0;
	int lvl;

	switch (d->type) {
	case CT_NAME:
		/* A user name: [a-z_][a-z0-9_-]*, as useradd takes. */
		if (strlen(val) >= 64 || strspn(val, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(val) ||
		    (*val && (*val == '-' || (*val >= '0' && *val <= '9')))) {
			snprintf(why, whylen, "%s must be a user name", d->key);
			return -1;
		}
		memcpy(p, val, strlen(val) + 1);
		return 0;
	case CT_STR:
		if (*val == '\0' || strlen(val) >= CONF_PATH_MAX) {
			snprintf(why, whylen, "%s must be a non-empty path shorter than %d bytes", d->key, CONF_PATH_MAX);
			return -1;
		}
		if (val[0] != '/') {
			snprintf(why, whylen, "%s must be an absolute path", d->key);
			return -1;
		}
		memcpy(p, val, strlen(val) + 1);
		return 0;
	case CT_BOOL:
		if (!strcasecmp(val, "true") || !strcasecmp(val, "yes") || !strcasecmp(val, "on") || !strcmp(val, "1"))
			*(bool *)p = true;
		else if (!strcasecmp(val, "false") || !strcasecmp(val, "no") || !strcasecmp(val, "off") || !strcmp(val, "0"))
			*(bool *)p = false;
		else {
			snprintf(why, whylen, "%s must be true or false", d->key);
			return -1;
		}
		return 0;
	case CT_DNS:
	case CT_ALLOW: {
		struct conf_cidr list[CONF_NET_MAX_ALLOW];
		int n = conf_parse_ipv4_list(val, d->type == CT_ALLOW, list,
		    d->type == CT_ALLOW ? CONF_NET_MAX_ALLOW : CONF_NET_MAX_DNS, why, whylen);

		if (n < 0)
			return -1;
		if (d->type == CT_DNS) {
			for (int i = 0; i < n; i++)
				c->net_dns[i] = list[i].addr;
			c->net_ndns = n;
		} else {
			memcpy(c->net_allow, list, sizeof(list[0]) * (size_t)n);
			c->net_nallow = n;
		}
		return 0;
	}
	case CT_LOGFMT:
		if (strcmp(val, "text") == 0)
			*(int *)p = LOG_FMT_TEXT;
		else if (strcmp(val, "json") == 0)
			*(int *)p = LOG_FMT_JSON;
		else {
			snprintf(why, whylen, "%s must be text or json", d->key);
			return -1;
		}
		return 0;
	case CT_URL:
		/* Read by pysandbox-admin (curl --url): http(s), then no space or control byte. */
		if (!((strncmp(val, "http://", 7) == 0 && val[7] != '\0') || (strncmp(val, "https://", 8) == 0 && val[8] != '\0')) ||
		    strlen(val) >= CONF_PATH_MAX) {
			snprintf(why, whylen, "%s must be an http:// or https:// URL", d->key);
			return -1;
		}
		for (const char *q = val; *q; q++)
			if ((unsigned char)*q <= ' ' || *q == 0x7f) {
				snprintf(why, whylen, "%s must be an http:// or https:// URL", d->key);
				return -1;
			}
		memcpy(p, val, strlen(val) + 1);
		return 0;
	case CT_LEVEL:
		if ((lvl = log_level_parse(val)) < 0) {
			snprintf(why, whylen, "%s must be one of error, warning, info, debug", d->key);
			return -1;
		}
		*(int *)p = lvl;
		return 0;
	case CT_MODE:
		errno = 0;
		v = (double)strtol(val, &end, 8);
		if (*val == '\0' || *end != '\0' || errno)
			goto badnum;
		break;
	case CT_SIZE:
		if (parse_size(val, &v) == -1)
			goto badnum;
		break;
	case CT_INT:
	case CT_LONG:
		errno = 0;
		v = (double)strtoll(val, &end, 10);
		if (*val == '\0' || *end != '\0' || errno)
			goto badnum;
		break;
	case CT_DOUBLE:
		errno = 0;
		v = strtod(val, &end);
		if (*val == '\0' || *end != '\0' || errno || !isfinite(v))
			goto badnum;
		break;
	}
	if (v < d->min || v > d->max) {
		snprintf(why, whylen, "%s = %s is out of range [%.15g, %.15g]", d->key, val, d->min, d->max);
		return -1;
	}
	switch (d->type) {
	case CT_INT: case CT_MODE:	*(int *)p = (int)v; break;
	case CT_LONG: case CT_SIZE:	*(long *)p = (long)v; break;
	case CT_DOUBLE:			*(double *)p = v; break;
	default: break;
	}
	if (d->off == offsetof(struct conf, default_timeout))
		c->default_timeout_given = true;
	if (d->off == offsetof(struct conf, default_memory_mb))
		c->default_memory_given = true;
	return 0;
badnum:
	snprintf(why, whylen, "%s: '%s' is not a valid %s", d->key, val,
	    d->type == CT_SIZE ? "size (bytes, or with K/M/G)" :
	    d->type == CT_MODE ? "octal mode" : "number");
	return -1;
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

int
conf_parse(const char *text, size_t len, struct conf *c, char *err, size_t errlen)
{
	char section[32] = "", line[1024], why[256];
	size_t pos = 0, lineno = 0, n;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		char *s, *eq, *key, *val;
		size_t i;

		n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		lineno++;
		if (n >= sizeof(line)) {
			snprintf(err, errlen, "line %zu: line too long", lineno);
			return -1;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos += n + (nl ? 1 : 0);
		if (memchr(line, '\0', n)) {
			snprintf(err, errlen, "line %zu: NUL byte", lineno);
			return -1;
		}
		s = trim(line);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']'), *h;

			/* "[section] # comment" */
			if (close && (h = strpbrk(close + 1, "#;")) != NULL)
				*h = '\0';
			if (close)
				close[1 + strspn(close + 1, " \t")] == '\0' ? (void)(close[1] = '\0') : (void)0;
			if (close == NULL || close[1] != '\0' || (size_t)(close - s - 1) >= sizeof(section)) {
				snprintf(err, errlen, "line %zu: malformed section header", lineno);
				return -1;
			}
			*close = '\0';
			snprintf(section, sizeof(section), "%s", trim(s + 1));
			for (i = 0; i < sizeof(directives) / sizeof(directives[0]); i++)
				if (strcmp(directives[i].section, section) == 0)
					break;
			if (i == sizeof(directives) / sizeof(directives[0]) && strcmp(section, "interpreters") != 0) {
				snprintf(err, errlen, "line %zu: unknown section [%s]", lineno, section);
				return -1;
			}
			continue;
		}
		if ((eq = strchr(s, '=')) == NULL) {
			snprintf(err, errlen, "line %zu: expected key = value", lineno);
			return -1;
		}
		*eq = '\0';
		key = trim(s);
		val = trim(eq + 1);
		/* Inline comments: " # ..." after the value. */
		for (char *h = val; *h; h++)
			if ((*h == '#' || *h == ';') && h > val && (h[-1] == ' ' || h[-1] == '\t')) {
				*h = '\0';
				val = trim(val);
				break;
			}
		if (*section == '\0') {
			snprintf(err, errlen, "line %zu: '%s' outside of any section", lineno, key);
			return -1;
		}
		if (strcmp(section, "interpreters") == 0) {
			if (conf_add_interp(c, key, val, why, sizeof(why)) == -1) {
				snprintf(err, errlen, "line %zu: %s", lineno, why);
				return -1;
			}
			continue;
		}
		for (i = 0; i < sizeof(directives) / sizeof(directives[0]); i++)
			if (!strcmp(directives[i].section, section) && !strcmp(directives[i].key, key))
				break;
		if (i == sizeof(directives) / sizeof(directives[0])) {
			snprintf(err, errlen, "line %zu: unknown directive '%s' in [%s]", lineno, key, section);
			return -1;
		}
		if (conf_set(c, &directives[i], val, why, sizeof(why)) == -1) {
			snprintf(err, errlen, "line %zu: %s", lineno, why);
			return -1;
		}
	}
	return 0;
}

static const struct conf_directive *
conf_find(const char *section, const char *key)
{
	for (size_t i = 0; i < sizeof(directives) / sizeof(directives[0]); i++)
		if (!strcmp(directives[i].section, section) && !strcmp(directives[i].key, key))
			return &directives[i];
	return NULL;
}

int
conf_env_override(struct conf *c, char *err, size_t errlen)
{
	static const struct { const char *env, *section, *key; } map[] = {
		{ "MAX_EXECUTION_TIME", "limits", "max_timeout" },
		{ "MAX_CODE_LENGTH", "limits", "max_code_length" },
		{ "MAX_FILE_SIZE", "limits", "max_file_size" },
		{ "LOG_LEVEL", "service", "log_level" },
	};
	char why[256];

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		const char *v = getenv(map[i].env);
		if (v == NULL || *v == '\0')
			continue;
		if (conf_set(c, conf_find(map[i].section, map[i].key), v, why, sizeof(why)) == -1) {
			snprintf(err, errlen, "environment %s: %s", map[i].env, why);
			return -1;
		}
	}
	return 0;
}

int
conf_check(const struct conf *c, char *err, size_t errlen)
{
	if (c->default_timeout > c->max_timeout) {
		snprintf(err, errlen, "default_timeout (%g) exceeds max_timeout (%g)", c->default_timeout, c->max_timeout);
		return -1;
	}
	if (c->default_cpus > c->max_cpus) {
		snprintf(err, errlen, "default_cpus (%g) exceeds max_cpus (%g)", c->default_cpus, c->max_cpus);
		return -1;
	}
	if (c->default_memory_mb > c->max_memory_mb) {
		snprintf(err, errlen, "default_memory_mb (%d) exceeds max_memory_mb (%d)", c->default_memory_mb, c->max_memory_mb);
		return -1;
	}
	if (c->uid_count < slots_needed(c)) {
		snprintf(err, errlen, "uid_count (%d) must be at least workers + 1 + max_builds%s%s (%d): "
		    "each concurrent run and build needs its own uid", c->uid_count,
		    c->warm_interpreters || c->fork_server ? " + the run workers (warm_interpreters, fork_server)" : "",
		    c->fork_server ? " + 2 (fork_server)" : "", slots_needed(c));
		return -1;
	}
	if (strcmp(c->socket, c->api_socket) == 0) {
		snprintf(err, errlen, "socket and api_socket must differ");
		return -1;
	}
	if (c->spare_workers < 1) {
		snprintf(err, errlen, "spare_workers must be at least 1: they alone serve api_socket");
		return -1;
	}
	if (conf_processes(c) > CONF_MAX_PROCESSES) {
		snprintf(err, errlen, "workers + queue_size + 2 x spare_workers (%d) is more than %d worker processes",
		    conf_processes(c), CONF_MAX_PROCESSES);
		return -1;
	}
	if (c->uid_base + c->uid_count > 4294967294L) {
		snprintf(err, errlen, "uid_base + uid_count overflows the uid range");
		return -1;
	}
	for (int i = 0; i < c->net_ndns; i++)
		if ((c->net_dns[i] >> (32 - CONF_SANDBOX_PREFIX)) == (CONF_SANDBOX_NET >> (32 - CONF_SANDBOX_PREFIX))) {
			snprintf(err, errlen, "[network] dns: 10.0.2.0/24 is the sandbox's own virtual network "
			    "(leave dns empty for the host's resolvers)");
			return -1;
		}
	if ((long)c->workdir_mb * 1024 * 1024 < c->max_file_size) {
		snprintf(err, errlen, "workdir_mb (%d) is smaller than max_file_size", c->workdir_mb);
		return -1;
	}
	return 0;
}

int
conf_processes(const struct conf *c)
{
	return conf_workers(c) + c->queue_size + 2 * c->spare_workers;
}

int
conf_workers(const struct conf *c)
{
	long n;

	if (c->workers > 0)
		return c->workers;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 && n < 64 ? (int)n * 2 : 2;
}

int
conf_load(const char *path, struct conf *c, bool use_env, char *err, size_t errlen)
{
	char *text = NULL, perr[300];
	struct stat st;
	int fd = -1, rc = -1;
	ssize_t r;

	conf_defaults(c);
	if (path) {
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 || fstat(fd, &st) == -1) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (!S_ISREG(st.st_mode) || st.st_size > 1024 * 1024) {
			snprintf(err, errlen, "%s: not a regular file of at most 1 MB", path);
			goto out;
		}
		if ((text = malloc((size_t)st.st_size + 1)) == NULL) {
			snprintf(err, errlen, "%s: out of memory", path);
			goto out;
		}
		if ((r = read(fd, text, (size_t)st.st_size)) != st.st_size) {
			snprintf(err, errlen, "%s: short read", path);
			goto out;
		}
		if (conf_parse(text, (size_t)r, c, perr, sizeof(perr)) == -1) {
			snprintf(err, errlen, "%s: %s", path, perr);
			goto out;
		}
	}
	if (path)
		snprintf(c->file, sizeof(c->file), "%s", path);
	if (use_env && conf_env_override(c, err, errlen) == -1)
		goto out;
	/* A lowered maximum (file or MAX_EXECUTION_TIME, as in the original) takes
	 * the built-in default down with it; a default given explicitly must fit. */
	if ((!c->default_timeout_given || (use_env && getenv("MAX_EXECUTION_TIME"))) &&
	    c->default_timeout > c->max_timeout)
		c->default_timeout = c->max_timeout;
	if (!c->default_memory_given && c->default_memory_mb > c->max_memory_mb)
		c->default_memory_mb = c->max_memory_mb;
	if (conf_check(c, perr, sizeof(perr)) == -1) {
		snprintf(err, errlen, "%s: %s", path ? path : "configuration", perr);
		goto out;
	}
	rc = 0;
out:
	free(text);
	if (fd != -1)
		close(fd);
	return rc;
}
