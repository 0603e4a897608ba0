/* test_conf.c: TAP tests of the INI configuration: conf_parse, conf_env_override, conf_check and conf_load. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "tap.h"
#include "testutil.h"

static const char *env_vars[] = { "MAX_EXECUTION_TIME", "MAX_CODE_LENGTH", "MAX_FILE_SIZE", "LOG_LEVEL" };

/* A TAP skip: counted as a pass by the driver, with the reason shown. */
static void
skip(const char *what, const char *why)
{
	printf("ok %d - %s # SKIP %s\n", ++tap_n, what, why);
}

/* conf_parse over an exact-size heap copy (ASan catches reads past it), on top of the defaults. */
static int
parse(const char *text, struct conf *c, char *err, size_t errlen)
{
	size_t n = strlen(text);
	char *copy = xmalloc(n);
	int rc;

	memcpy(copy, text, n);
	conf_defaults(c);
	err[0] = '\0';
	rc = conf_parse(copy, n, c, err, errlen);
	free(copy);
	return rc;
}

/* One directive, parsed inside its section; returns the parse result. */
static int
parse1(const char *section, const char *line, struct conf *c, char *err, size_t errlen)
{
	char text[2048];

	snprintf(text, sizeof(text), "[%s]\n%s\n", section, line);
	return parse(text, c, err, errlen);
}

/* The text must fail with exactly "line N: <msg>" (msg "" only checks the line prefix). */
static void
parse_fails(const char *text, int line, const char *msg, const char *what)
{
	struct conf c;
	char err[512], want[512];
	int rc = parse(text, &c, err, sizeof(err));
	bool good;

	snprintf(want, sizeof(want), "line %d: %s", line, msg);
	good = rc == -1 && (msg[0] ? strcmp(err, want) == 0 : strncmp(err, want, strlen(want)) == 0);
	ok(good, "%s -> \"%s\"", what, want);
	if (!good)
		printf("#   rc=%d err='%s'\n", rc, err);
}

/* A directive that must be refused at line 2 with a message containing frag. */
static void
directive_fails(const char *section, const char *line, const char *frag, const char *what)
{
	struct conf c;
	char err[512] = "";
	int rc = parse1(section, line, &c, err, sizeof(err));
	bool good = rc == -1 && strncmp(err, "line 2: ", 8) == 0 && strstr(err, frag) != NULL;

	ok(good, "%s: [%s] %s refused (\"%s\")", what, section, line, frag);
	if (!good)
		printf("#   rc=%d err='%s'\n", rc, err);
}

static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return NULL;
	}
	p = xmalloc((size_t)n + 1);
	if (fread(p, 1, (size_t)n, f) != (size_t)n) {
		free(p);
		fclose(f);
		return NULL;
	}
	p[n] = '\0';
	*len = (size_t)n;
	fclose(f);
	return p;
}

/* A path field equals its default, unless this build's prefix differs from the shipped file's FHS paths. */
static void
path_matches(const char *field, const char *got, const char *def, const char *fhs)
{
	char why[1200];

	if (strcmp(def, fhs) != 0 && strcmp(got, fhs) == 0) {
		snprintf(why, sizeof(why), "this build's default %s is %s; the shipped file names %s (a --prefix=/usr "
		    "--localstatedir=/var build)", field, def, fhs);
		skip(field, why);
		return;
	}
	is_str(got, def, "shipped conf: %s is the built-in default", field);
}

static void
test_shipped_file(void)
{
	const char *top = getenv("top_srcdir");
	char path[1024], err[512] = "";
	struct conf d, c;
	size_t len = 0;
	char *text;

	snprintf(path, sizeof(path), "%s/conf/pysandbox.conf", top && *top ? top : "/work/main");
	text = read_file(path, &len);
	ok(text != NULL, "read %s", path);
	if (text == NULL)
		return;
	conf_defaults(&d);
	conf_defaults(&c);
	ok(conf_parse(text, len, &c, err, sizeof(err)) == 0, "shipped conf parses");
	free(text);

#define SAME_NUM(f) ok(c.f == d.f, "shipped conf: " #f " is the built-in default")
	SAME_NUM(workers);
	SAME_NUM(max_requests);
	SAME_NUM(queue_size);
	SAME_NUM(queue_timeout);
	SAME_NUM(max_runs_per_client);
	SAME_NUM(spare_workers);
	SAME_NUM(max_env_inodes);
	SAME_NUM(net_ndns);
	SAME_NUM(net_nallow);
	path_matches("socket", c.socket, d.socket, "/run/pysandbox/pysandbox.sock");
	path_matches("api_socket", c.api_socket, d.api_socket, "/run/pysandbox/pysandbox-api.sock");
	SAME_NUM(socket_mode);
	path_matches("state_dir", c.state_dir, d.state_dir, "/var/lib/pysandbox");
	SAME_NUM(shutdown_grace);
	SAME_NUM(max_body_size);
	SAME_NUM(log_level);
	SAME_NUM(default_timeout);
	SAME_NUM(max_timeout);
	SAME_NUM(default_memory_mb);
	SAME_NUM(max_memory_mb);
	SAME_NUM(max_file_size);
	SAME_NUM(max_code_length);
	SAME_NUM(max_output);
	SAME_NUM(max_input_files);
	SAME_NUM(max_return_files);
	SAME_NUM(max_return_bytes);
	SAME_NUM(workdir_mb);
	SAME_NUM(tmp_mb);
	SAME_NUM(max_processes);
	SAME_NUM(max_open_files);
	path_matches("jail", c.jail, d.jail, "/usr/libexec/pysandbox/pysandbox-jail");
	path_matches("python", c.python, d.python, "/usr/bin/python3");
	SAME_NUM(uid_base);
	SAME_NUM(uid_count);
	SAME_NUM(allow_network);
#undef SAME_NUM
	is_str(c.file, "", "conf_parse does not set file");

	/* The documented defaults themselves (API.md "Configuration"). */
	ok(d.default_memory_mb == 512 && d.max_memory_mb == 2048, "defaults: memory 512 MB, max 2048");
	ok(d.default_timeout == 30 && d.max_timeout == 300, "defaults: timeout 30 s, max 300");
	ok(d.max_file_size == 10L * 1024 * 1024, "defaults: file size 10 MB");
	ok(d.max_code_length == 50L * 1024, "defaults: code length 50 KB");
	ok(!d.allow_network, "defaults: no network");
	ok(conf_check(&d, err, sizeof(err)) == 0, "the defaults pass conf_check");
}

static void
test_directives(void)
{
	struct conf c;
	char err[512] = "";

	/* Sizes: bytes, or K/M/G (powers of 1024), any case, optional B. */
	ok(parse1("limits", "max_file_size = 12345", &c, err, sizeof(err)) == 0 && c.max_file_size == 12345,
	    "size in bytes");
	ok(parse1("limits", "max_file_size = 64K", &c, err, sizeof(err)) == 0 && c.max_file_size == 65536, "size 64K");
	ok(parse1("limits", "max_file_size = 64k", &c, err, sizeof(err)) == 0 && c.max_file_size == 65536, "size 64k");
	ok(parse1("limits", "max_file_size = 5M", &c, err, sizeof(err)) == 0 && c.max_file_size == 5L * 1024 * 1024,
	    "size 5M");
	ok(parse1("limits", "max_file_size = 100M", &c, err, sizeof(err)) == 0 && c.max_file_size == 100L * 1024 * 1024,
	    "size 100M (the hard maximum)");
	ok(parse1("limits", "max_file_size = 2MB", &c, err, sizeof(err)) == 0 && c.max_file_size == 2L * 1024 * 1024,
	    "size 2MB");
	ok(parse1("service", "max_body_size = 1G", &c, err, sizeof(err)) == 0 && c.max_body_size == 1024L * 1024 * 1024,
	    "size 1G");
	ok(parse1("limits", "max_code_length = 500K", &c, err, sizeof(err)) == 0 && c.max_code_length == 500L * 1024,
	    "code length 500K (the hard maximum)");
	ok(parse1("limits", "max_return_bytes = 0", &c, err, sizeof(err)) == 0 && c.max_return_bytes == 0,
	    "size 0 where allowed");

	/* Octal modes. */
	ok(parse1("service", "socket_mode = 0660", &c, err, sizeof(err)) == 0 && c.socket_mode == 0660, "mode 0660");
	ok(parse1("service", "socket_mode = 600", &c, err, sizeof(err)) == 0 && c.socket_mode == 0600,
	    "mode 600 is octal too");
	ok(parse1("service", "socket_mode = 0777", &c, err, sizeof(err)) == 0 && c.socket_mode == 0777, "mode 0777");

	/* Booleans. */
	static const struct { const char *v; bool want; } bools[] = {
		{ "yes", true }, { "no", false }, { "true", true }, { "false", false }, { "1", true }, { "0", false },
		{ "on", true }, { "off", false }, { "YES", true }, { "False", false },
	};
	for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
		char line[64];
		snprintf(line, sizeof(line), "allow_network = %s", bools[i].v);
		c.allow_network = !bools[i].want;
		ok(parse1("jail", line, &c, err, sizeof(err)) == 0 && c.allow_network == bools[i].want,
		    "bool %s -> %s", bools[i].v, bools[i].want ? "true" : "false");
	}

	/* Levels. */
	static const struct { const char *v; int want; } levels[] = {
		{ "error", LOG_LVL_ERROR }, { "warning", LOG_LVL_WARN }, { "info", LOG_LVL_INFO },
		{ "debug", LOG_LVL_DEBUG }, { "DEBUG", LOG_LVL_DEBUG }, { "Warning", LOG_LVL_WARN },
	};
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		char line[64];
		snprintf(line, sizeof(line), "log_level = %s", levels[i].v);
		ok(parse1("service", line, &c, err, sizeof(err)) == 0 && c.log_level == levels[i].want,
		    "level %s", levels[i].v);
	}

	/* Numbers, doubles, strings. */
	ok(parse1("service", "workers = 8", &c, err, sizeof(err)) == 0 && c.workers == 8, "int 8");
	ok(parse1("limits", "default_timeout = 2.5", &c, err, sizeof(err)) == 0 && c.default_timeout == 2.5,
	    "double 2.5");
	ok(parse1("limits", "max_timeout = 300", &c, err, sizeof(err)) == 0 && c.max_timeout == 300,
	    "max_timeout 300 (the hard maximum)");
	ok(parse1("limits", "max_memory_mb = 2048", &c, err, sizeof(err)) == 0 && c.max_memory_mb == 2048,
	    "max_memory_mb 2048 (the hard maximum)");
	ok(parse1("jail", "uid_base = 4000000000", &c, err, sizeof(err)) == 0 && c.uid_base == 4000000000L,
	    "long 4000000000");
	ok(parse1("service", "state_dir = /srv/pysandbox state", &c, err, sizeof(err)) == 0 &&
	    strcmp(c.state_dir, "/srv/pysandbox state") == 0, "path with a space");
	ok(parse1("jail", "python = /opt/py/bin/python3.12", &c, err, sizeof(err)) == 0 &&
	    strcmp(c.python, "/opt/py/bin/python3.12") == 0, "python path");

	/* Layout: comments, blank lines, CRLF, indentation, no final newline, section spacing, repeats. */
	ok(parse("# top comment\n; another\n\n[service]\r\n  workers=3  \r\n\t# indented comment\n[ limits ]\n"
	    "max_output = 2M\nmax_output = 3M", &c, err, sizeof(err)) == 0 && c.workers == 3 &&
	    c.max_output == 3L * 1024 * 1024, "comments, CRLF, spacing, repeated key (last wins), no final newline");
	ok(parse("", &c, err, sizeof(err)) == 0 && c.workers == 0, "empty text keeps the defaults");

	/* Inline comments after whitespace; '#' inside a value is kept. */
	ok(parse1("service", "workers = 4 # four", &c, err, sizeof(err)) == 0 && c.workers == 4, "inline # comment");
	ok(parse1("service", "workers = 5 ; five", &c, err, sizeof(err)) == 0 && c.workers == 5, "inline ; comment");
	ok(parse1("service", "log_level = debug\t# tab before", &c, err, sizeof(err)) == 0 && c.log_level == LOG_LVL_DEBUG,
	    "inline comment after a tab");
	ok(parse1("service", "socket = /run/a#b.sock", &c, err, sizeof(err)) == 0 && strcmp(c.socket, "/run/a#b.sock") == 0,
	    "'#' inside a value is not a comment");
	ok(parse1("limits", "max_file_size = 1M # one meg", &c, err, sizeof(err)) == 0 &&
	    c.max_file_size == 1024 * 1024, "inline comment after a size");
}

static void
test_errors(void)
{
	char big[1100];

	parse_fails("[bogus]\n", 1, "unknown section [bogus]", "unknown section");
	parse_fails("# c\n\n[service]\nworkers = 1\n[limitz]\n", 5, "unknown section [limitz]", "unknown section on line 5");
	parse_fails("[service]\nbogus = 1\n", 2, "unknown directive 'bogus' in [service]", "unknown key");
	parse_fails("[limits]\nworkers = 1\n", 2, "unknown directive 'workers' in [limits]", "key of another section");
	parse_fails("workers = 4\n", 1, "'workers' outside of any section", "key outside a section");
	parse_fails("# comment\n\nworkers = 4\n[service]\n", 3, "'workers' outside of any section",
	    "key outside a section on line 3");
	parse_fails("[service\nworkers = 1\n", 1, "malformed section header", "header without ]");
	parse_fails("[service] x\n", 1, "malformed section header", "text after a header");
	parse_fails("[service]]\n", 1, "malformed section header", "header with ]]");
	parse_fails("[aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n", 1, "malformed section header", "overlong header");
	parse_fails("[]\n", 1, "unknown section []", "empty header");
	parse_fails("[service]\nworkers\n", 2, "expected key = value", "line without '='");
	parse_fails("[service]\r\nworkers 4\r\n", 2, "expected key = value", "CRLF line without '='");
	memset(big, 'x', sizeof(big));
	memcpy(big, "[service]\n# ", 12);
	big[sizeof(big) - 1] = '\0';
	parse_fails(big, 2, "line too long", "a line of over 1024 bytes");
	{
		/* A NUL inside a line (conf_parse takes a length, not a C string). */
		static const char text[] = "[service]\nworkers = 1\0 2\n";
		struct conf c;
		char err[256] = "";
		conf_defaults(&c);
		ok(conf_parse(text, sizeof(text) - 1, &c, err, sizeof(err)) == -1 && strcmp(err, "line 2: NUL byte") == 0,
		    "NUL inside a line -> \"line 2: NUL byte\" (got '%s')", err);
	}

	/* Out of range: nothing may exceed the hard maxima. */
	parse_fails("[limits]\nmax_memory_mb = 2049\n", 2, "max_memory_mb = 2049 is out of range [32, 2048]",
	    "max_memory_mb above 2048");
	parse_fails("[limits]\n\ndefault_memory_mb = 4096\n", 3, "default_memory_mb = 4096 is out of range [32, 2048]",
	    "default_memory_mb above 2048");
	parse_fails("[limits]\nmax_timeout = 301\n", 2, "max_timeout = 301 is out of range [0.001, 300]",
	    "max_timeout above 300");
	parse_fails("[limits]\ndefault_timeout = 300.5\n", 2, "default_timeout = 300.5 is out of range [0.001, 300]",
	    "default_timeout above 300");
	/* The floor is the one a request and the jail have (limit.h): below it not even the interpreter starts. */
	parse_fails("[limits]\nmax_memory_mb = 31\n", 2, "max_memory_mb = 31 is out of range [32, 2048]",
	    "max_memory_mb under the floor a request has");
	parse_fails("[limits]\nmax_timeout = 0\n", 2, "max_timeout = 0 is out of range [0.001, 300]", "max_timeout 0");
	directive_fails("limits", "max_file_size = 101M", "max_file_size = 101M is out of range", "max_file_size above 100M");
	directive_fails("limits", "max_file_size = 104857601", "out of range", "max_file_size 100M + 1 byte");
	directive_fails("limits", "max_code_length = 501K", "max_code_length = 501K is out of range",
	    "code length above 500K");
	directive_fails("limits", "max_code_length = 512001", "out of range", "code length 500K + 1 byte");
	directive_fails("service", "workers = 257", "out of range", "workers 257");
	directive_fails("service", "workers = -1", "out of range", "workers -1");
	directive_fails("service", "workers = 2147483648", "out of range", "workers past INT_MAX");
	directive_fails("service", "socket_mode = 01000", "out of range", "mode 01000");
	directive_fails("jail", "uid_count = 1", "out of range", "uid_count 1");
	directive_fails("jail", "uid_base = 999", "out of range", "uid_base 999");

	/* Garbage numbers. */
	directive_fails("service", "workers = abc", "workers: 'abc' is not a valid number", "workers abc");
	directive_fails("service", "workers = 12abc", "is not a valid number", "workers 12abc");
	directive_fails("service", "workers = 1.5", "is not a valid number", "workers 1.5");
	directive_fails("service", "workers =", "is not a valid number", "workers empty");
	directive_fails("service", "workers = 99999999999999999999", "is not a valid number", "workers overflowing");
	directive_fails("limits", "default_timeout = abc", "is not a valid number", "timeout abc");
	directive_fails("limits", "default_timeout = nan", "is not a valid number", "timeout nan");
	directive_fails("limits", "default_timeout = inf", "is not a valid number", "timeout inf");
	directive_fails("limits", "default_timeout = 1e999", "is not a valid number", "timeout 1e999");
	directive_fails("limits", "max_file_size = 10X", "is not a valid size", "size 10X");
	directive_fails("limits", "max_file_size = 10 M", "is not a valid size", "size '10 M'");
	directive_fails("limits", "max_file_size = -1", "is not a valid size", "size -1");
	directive_fails("limits", "max_file_size = M", "is not a valid size", "size M");
	directive_fails("limits", "max_file_size = 1.3K", "is not a valid size", "size 1.3K (not whole bytes)");
	directive_fails("limits", "max_file_size = 5MM", "is not a valid size", "size 5MM");
	directive_fails("service", "socket_mode = 0999", "is not a valid octal mode", "mode 0999");
	directive_fails("service", "socket_mode = rw", "is not a valid octal mode", "mode rw");
	directive_fails("jail", "allow_network = maybe", "allow_network must be true or false", "bool maybe");
	directive_fails("jail", "allow_network = 2", "must be true or false", "bool 2");
	directive_fails("service", "log_level = verbose", "log_level must be one of", "level verbose");

	/* Paths must be absolute and fit. */
	directive_fails("service", "socket = run/x.sock", "socket must be an absolute path", "relative socket");
	directive_fails("service", "state_dir = ./state", "state_dir must be an absolute path", "relative state_dir");
	directive_fails("jail", "jail = pysandbox-jail", "jail must be an absolute path", "relative jail");
	directive_fails("jail", "python = python3", "python must be an absolute path", "relative python");
	directive_fails("service", "state_dir =", "non-empty path", "empty state_dir");
	{
		char line[700];
		snprintf(line, sizeof(line), "state_dir = /%0600d", 0);
		directive_fails("service", line, "non-empty path shorter than", "601-byte path");
	}
}

static void
test_check(void)
{
	struct conf c;
	char err[512] = "";

	conf_defaults(&c);
	c.default_timeout = 60;
	c.max_timeout = 30;
	ok(conf_check(&c, err, sizeof(err)) == -1 && strcmp(err, "default_timeout (60) exceeds max_timeout (30)") == 0,
	    "default_timeout above max_timeout (%s)", err);
	conf_defaults(&c);
	c.default_memory_mb = 1024;
	c.max_memory_mb = 512;
	ok(conf_check(&c, err, sizeof(err)) == -1 && strcmp(err, "default_memory_mb (1024) exceeds max_memory_mb (512)") == 0,
	    "default_memory_mb above max_memory_mb (%s)", err);
	conf_defaults(&c);
	c.workers = 8;
	c.uid_count = 8;
	/* Each run (workers), the self-test and each build (max_builds, default 2) needs a uid. */
	ok(conf_check(&c, err, sizeof(err)) == -1 &&
	    strstr(err, "uid_count (8) must be at least workers + 1 + max_builds (11)"),
	    "uid_count = workers (%s)", err);
	c.uid_count = 10;
	ok(conf_check(&c, err, sizeof(err)) == -1, "uid_count = workers + 1 + max_builds - 1 fails");
	c.uid_count = 11;
	ok(conf_check(&c, err, sizeof(err)) == 0, "uid_count = workers + 1 + max_builds passes");
	conf_defaults(&c);
	c.workers = 0;
	c.uid_count = conf_workers(&c);
	ok(conf_check(&c, err, sizeof(err)) == -1 && strstr(err, "uid_count"), "uid_count below the automatic workers + 1");
	conf_defaults(&c);
	c.uid_base = 4294967290L;
	ok(conf_check(&c, err, sizeof(err)) == -1 && strstr(err, "overflows"), "uid range past 2^32 - 2 (%s)", err);
	conf_defaults(&c);
	c.workdir_mb = 5;
	ok(conf_check(&c, err, sizeof(err)) == -1 && strstr(err, "workdir_mb (5)"), "workdir smaller than a file (%s)", err);

	conf_defaults(&c);
	c.workers = 5;
	ok(conf_workers(&c) == 5, "conf_workers: explicit 5");
	c.workers = 0;
	ok(conf_workers(&c) >= 2 && conf_workers(&c) % 2 == 0, "conf_workers: automatic is 2 x cores (%d)", conf_workers(&c));
}

static void
clear_env(void)
{
	for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
		unsetenv(env_vars[i]);
}

/* Set one variable, run conf_env_override on the defaults, unset it. */
static int
env1(const char *name, const char *value, struct conf *c, char *err, size_t errlen)
{
	int rc;

	conf_defaults(c);
	err[0] = '\0';
	setenv(name, value, 1);
	rc = conf_env_override(c, err, errlen);
	unsetenv(name);
	return rc;
}

static void
test_env(void)
{
	struct conf c, d;
	char err[512] = "";

	clear_env();
	conf_defaults(&d);
	conf_defaults(&c);
	ok(conf_env_override(&c, err, sizeof(err)) == 0 && memcmp(&c, &d, sizeof(c)) == 0, "no variables: no change");

	ok(env1("MAX_EXECUTION_TIME", "60", &c, err, sizeof(err)) == 0 && c.max_timeout == 60 && c.default_timeout == 30,
	    "MAX_EXECUTION_TIME=60");
	ok(env1("MAX_EXECUTION_TIME", "10", &c, err, sizeof(err)) == 0 && c.max_timeout == 10,
	    "MAX_EXECUTION_TIME=10");
	ok(env1("MAX_EXECUTION_TIME", "2.5", &c, err, sizeof(err)) == 0 && c.max_timeout == 2.5, "MAX_EXECUTION_TIME=2.5");
	ok(env1("MAX_CODE_LENGTH", "102400", &c, err, sizeof(err)) == 0 && c.max_code_length == 102400,
	    "MAX_CODE_LENGTH=102400");
	ok(env1("MAX_CODE_LENGTH", "100K", &c, err, sizeof(err)) == 0 && c.max_code_length == 102400,
	    "MAX_CODE_LENGTH=100K");
	ok(env1("MAX_FILE_SIZE", "20971520", &c, err, sizeof(err)) == 0 && c.max_file_size == 20971520,
	    "MAX_FILE_SIZE=20971520");
	ok(env1("MAX_FILE_SIZE", "20M", &c, err, sizeof(err)) == 0 && c.max_file_size == 20971520, "MAX_FILE_SIZE=20M");
	ok(env1("LOG_LEVEL", "debug", &c, err, sizeof(err)) == 0 && c.log_level == LOG_LVL_DEBUG, "LOG_LEVEL=debug");
	ok(env1("LOG_LEVEL", "WARNING", &c, err, sizeof(err)) == 0 && c.log_level == LOG_LVL_WARN, "LOG_LEVEL=WARNING");
	ok(env1("LOG_LEVEL", "", &c, err, sizeof(err)) == 0 && c.log_level == d.log_level, "LOG_LEVEL empty is ignored");

	ok(env1("MAX_EXECUTION_TIME", "abc", &c, err, sizeof(err)) == -1 &&
	    strncmp(err, "environment MAX_EXECUTION_TIME: ", 32) == 0, "MAX_EXECUTION_TIME=abc (%s)", err);
	ok(env1("MAX_EXECUTION_TIME", "301", &c, err, sizeof(err)) == -1 && strstr(err, "MAX_EXECUTION_TIME") &&
	    strstr(err, "out of range"), "MAX_EXECUTION_TIME=301 (%s)", err);
	ok(env1("MAX_EXECUTION_TIME", "0", &c, err, sizeof(err)) == -1, "MAX_EXECUTION_TIME=0");
	ok(env1("MAX_EXECUTION_TIME", "-5", &c, err, sizeof(err)) == -1, "MAX_EXECUTION_TIME=-5");
	ok(env1("MAX_CODE_LENGTH", "600K", &c, err, sizeof(err)) == -1 && strstr(err, "MAX_CODE_LENGTH"),
	    "MAX_CODE_LENGTH=600K (%s)", err);
	ok(env1("MAX_CODE_LENGTH", "lots", &c, err, sizeof(err)) == -1 && strstr(err, "MAX_CODE_LENGTH"),
	    "MAX_CODE_LENGTH=lots (%s)", err);
	ok(env1("MAX_FILE_SIZE", "1G", &c, err, sizeof(err)) == -1 && strstr(err, "MAX_FILE_SIZE"),
	    "MAX_FILE_SIZE=1G (%s)", err);
	ok(env1("MAX_FILE_SIZE", "10MiB", &c, err, sizeof(err)) == -1 && strstr(err, "MAX_FILE_SIZE"),
	    "MAX_FILE_SIZE=10MiB (%s)", err);
	ok(env1("LOG_LEVEL", "loud", &c, err, sizeof(err)) == -1 && strstr(err, "LOG_LEVEL"), "LOG_LEVEL=loud (%s)", err);

	/* The original README's tuning example, through conf_load and conf_check. */
	setenv("MAX_EXECUTION_TIME", "60", 1);
	setenv("MAX_CODE_LENGTH", "100000", 1);
	setenv("MAX_FILE_SIZE", "50000000", 1);
	setenv("LOG_LEVEL", "INFO", 1);
	err[0] = '\0';
	ok(conf_load(NULL, &c, true, err, sizeof(err)) == 0 && c.max_timeout == 60 && c.max_code_length == 100000 &&
	    c.max_file_size == 50000000 && c.log_level == LOG_LVL_INFO, "the original README's example values (%s)",
	    err);
	clear_env();

	/* As in the original, a lower maximum takes the built-in default down with it (conf_load). */
	setenv("MAX_EXECUTION_TIME", "10", 1);
	err[0] = '\0';
	ok(conf_load(NULL, &c, true, err, sizeof(err)) == 0 && c.max_timeout == 10 && c.default_timeout == 10,
	    "MAX_EXECUTION_TIME=10 without a file lowers the default timeout to 10 (%s)", err);
	{
		/* The shipped file only restates the defaults: the same must hold with it. */
		const char *top = getenv("top_srcdir");
		char path[1024];
		snprintf(path, sizeof(path), "%s/conf/pysandbox.conf", top && *top ? top : "/work/main");
		err[0] = '\0';
		ok(conf_load(path, &c, true, err, sizeof(err)) == 0 && c.max_timeout == 10 && c.default_timeout == 10,
		    "MAX_EXECUTION_TIME=10 with the shipped conf file starts, default timeout 10 (%s)", err);
	}
	clear_env();

	/* All at once. */
	setenv("MAX_EXECUTION_TIME", "120", 1);
	setenv("MAX_CODE_LENGTH", "200K", 1);
	setenv("MAX_FILE_SIZE", "50M", 1);
	setenv("LOG_LEVEL", "error", 1);
	conf_defaults(&c);
	ok(conf_env_override(&c, err, sizeof(err)) == 0 && c.max_timeout == 120 && c.max_code_length == 200L * 1024 &&
	    c.max_file_size == 50L * 1024 * 1024 && c.log_level == LOG_LVL_ERROR, "all four variables together");
	clear_env();
}

/* Write text to a new file in dir; returns its malloc'ed path. */
static char *
write_temp(const char *dir, const char *name, const char *text)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *path = xmalloc(n);
	FILE *f;

	snprintf(path, n, "%s/%s", dir, name);
	if ((f = fopen(path, "w")) == NULL || fputs(text, f) == EOF || fclose(f) != 0) {
		perror(path);
		exit(99);
	}
	return path;
}

static void
test_load(void)
{
	char tmpl[] = "/tmp/test_conf.XXXXXX", err[1024] = "", missing[256];
	struct conf c;
	char *good, *bad, *range, *low, *given;
	const char *dir;

	clear_env();
	if ((dir = mkdtemp(tmpl)) == NULL) {
		perror("mkdtemp");
		exit(99);
	}
	snprintf(missing, sizeof(missing), "%s/nope.conf", dir);
	err[0] = '\0';
	ok(conf_load(missing, &c, false, err, sizeof(err)) == -1 && strstr(err, missing) &&
	    strstr(err, "No such file or directory"), "conf_load of a missing file (%s)", err);
	err[0] = '\0';
	ok(conf_load(dir, &c, false, err, sizeof(err)) == -1 && strstr(err, dir) && strstr(err, "not a regular file"),
	    "conf_load of a directory (%s)", err);

	good = write_temp(dir, "good.conf", "[limits]\nmax_timeout = 100\ndefault_timeout = 20\n");
	ok(conf_load(good, &c, false, err, sizeof(err)) == 0 && c.max_timeout == 100 && c.default_timeout == 20 &&
	    strcmp(c.file, good) == 0, "conf_load of a good file records its path");
	setenv("MAX_EXECUTION_TIME", "50", 1);
	ok(conf_load(good, &c, true, err, sizeof(err)) == 0 && c.max_timeout == 50 && c.default_timeout == 20,
	    "the environment overrides the file");
	ok(conf_load(good, &c, false, err, sizeof(err)) == 0 && c.max_timeout == 100, "use_env false ignores it");
	setenv("MAX_EXECUTION_TIME", "junk", 1);
	ok(conf_load(good, &c, true, err, sizeof(err)) == -1 && strstr(err, "MAX_EXECUTION_TIME"),
	    "a bad environment value fails the load (%s)", err);
	clear_env();

	/* A lowered maximum in the file lowers the defaults it does not give; given ones must fit. */
	low = write_temp(dir, "low.conf", "[limits]\nmax_timeout = 20\nmax_memory_mb = 256\n");
	err[0] = '\0';
	ok(conf_load(low, &c, false, err, sizeof(err)) == 0 && c.default_timeout == 20 && c.default_memory_mb == 256,
	    "lower maxima take the unset defaults down (%s)", err);
	given = write_temp(dir, "given.conf", "[limits]\ndefault_timeout = 25\nmax_timeout = 20\n");
	ok(conf_load(given, &c, false, err, sizeof(err)) == -1 && strstr(err, "default_timeout (25) exceeds max_timeout (20)"),
	    "an explicit default above the maximum fails (%s)", err);
	unlink(low);
	unlink(given);
	free(low);
	free(given);

	bad = write_temp(dir, "bad.conf", "[service]\nworkers = 2\n\n[limits]\nbogus = 1\n");
	ok(conf_load(bad, &c, false, err, sizeof(err)) == -1 && strstr(err, bad) &&
	    strstr(err, "line 5: unknown directive 'bogus' in [limits]"), "conf_load reports file and line (%s)", err);
	range = write_temp(dir, "cross.conf", "[limits]\ndefault_memory_mb = 1024\nmax_memory_mb = 512\n");
	ok(conf_load(range, &c, false, err, sizeof(err)) == -1 && strstr(err, "exceeds max_memory_mb"),
	    "conf_load runs conf_check (%s)", err);
	ok(conf_load(NULL, &c, false, err, sizeof(err)) == 0 && c.file[0] == '\0' && c.max_timeout == 300,
	    "conf_load(NULL) gives the defaults");

	unlink(good);
	unlink(bad);
	unlink(range);
	free(good);
	free(bad);
	free(range);
	ok(rmdir(dir) == 0, "temporary directory removed");
}

int
main(void)
{
	test_shipped_file();
	test_directives();
	test_errors();
	test_check();
	test_env();
	test_load();
	return done_testing();
}
