/* limit.c: the limits a configuration gives each kind of run, and the environment-name rule. */
#include "config.h"

#include <string.h>

#include "conf.h"
#include "limit.h"

void
limit_from_conf(const struct conf *c, enum limit_kind kind, struct limits *out)
{
	memset(out, 0, sizeof(*out));
	out->max_code_length = c->max_code_length;
	out->max_file_size = c->max_file_size;
	out->max_input_files = c->max_input_files;
	out->max_output = c->max_output;
	out->max_return_files = c->max_return_files;
	out->max_return_bytes = c->max_return_bytes;
	out->open_files = c->max_open_files;
	if (kind == LIMIT_BUILD) {
		/* A build asks for nothing: it gets the [environments] section's figures. */
		out->default_timeout = out->max_timeout = c->build_timeout;
		out->default_memory_mb = out->max_memory_mb = c->build_memory_mb;
		out->default_cpus = out->max_cpus = c->max_cpus;
		out->allow_network = c->build_network;
		out->workdir_mb = out->tmp_mb = c->build_workdir_mb;
		out->processes = c->build_processes;
		out->file_size = c->max_env_size;
	} else {
		out->default_timeout = c->default_timeout;
		out->max_timeout = c->max_timeout;
		out->default_memory_mb = c->default_memory_mb;
		out->max_memory_mb = c->max_memory_mb;
		out->default_cpus = c->default_cpus;
		out->max_cpus = c->max_cpus;
		out->allow_network = c->allow_network;
		out->workdir_mb = c->workdir_mb;
		out->tmp_mb = c->tmp_mb;
		out->processes = c->max_processes;
		out->file_size = c->max_file_size;
	}
	/* The input files share /work with what the program writes: leave it a megabyte. */
	out->max_input_bytes = (long)out->workdir_mb * 1024 * 1024 - 1024 * 1024;
}

bool
limit_env_name_ok(const char *s, size_t n)
{
	if (n < 1 || n > ENV_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

static bool
prefix_digits(const char *s, const char *prefix)
{
	size_t n = strlen(prefix), d;

	if (strncmp(s, prefix, n) != 0)
		return false;
	d = strspn(s + n, "0123456789");
	return d > 0 && d <= 20 && s[n + d] == '\0';
}

bool
limit_build_dir_ok(const char *s)
{
	return prefix_digits(s, ".build-");
}

bool
limit_trash_dir_ok(const char *s)
{
	return prefix_digits(s, ".trash-") || prefix_digits(s, ".trash-old-");
}
