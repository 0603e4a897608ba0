/* fuzz_conf.c: fuzz target for conf_parse (the INI configuration) over the built-in defaults. */
#include "config.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "conf.h"
#include "fuzz.h"

static bool
path_ok(const char *p)
{
	size_t n = strnlen(p, CONF_PATH_MAX);

	return n > 0 && n < CONF_PATH_MAX && p[0] == '/';
}

/* Every directive conf_parse accepted is within its range; the rest are still the defaults'. */
static void
check_conf(const struct conf *c)
{
	FUZZ_CHECK(c->workers >= 0 && c->workers <= 256);
	FUZZ_CHECK(c->max_requests >= 0 && c->max_requests <= 1000000000L);
	FUZZ_CHECK(path_ok(c->socket) && path_ok(c->state_dir) && path_ok(c->jail) && path_ok(c->python));
	/* The service user: "" or [a-z_][a-z0-9_-]*, as useradd takes. */
	FUZZ_CHECK(strnlen(c->user, sizeof(c->user)) < sizeof(c->user));
	FUZZ_CHECK(strspn(c->user, "abcdefghijklmnopqrstuvwxyz0123456789_-") == strlen(c->user));
	FUZZ_CHECK(c->user[0] != '-' && !(c->user[0] >= '0' && c->user[0] <= '9'));
	FUZZ_CHECK(c->socket_mode >= 0 && c->socket_mode <= 0777);
	FUZZ_CHECK(c->shutdown_grace >= 0 && c->shutdown_grace <= 3600);
	FUZZ_CHECK(c->max_body_size >= 1024 && c->max_body_size <= 1024L * 1024 * 1024);
	FUZZ_CHECK(c->log_level >= 0 && c->log_level <= 3);
	FUZZ_CHECK(isfinite(c->default_timeout) && c->default_timeout >= 0.001 && c->default_timeout <= HARD_MAX_TIMEOUT);
	FUZZ_CHECK(isfinite(c->max_timeout) && c->max_timeout >= 0.001 && c->max_timeout <= HARD_MAX_TIMEOUT);
	FUZZ_CHECK(c->default_memory_mb >= 16 && c->default_memory_mb <= HARD_MAX_MEMORY_MB);
	FUZZ_CHECK(c->max_memory_mb >= 16 && c->max_memory_mb <= HARD_MAX_MEMORY_MB);
	FUZZ_CHECK(isfinite(c->default_cpus) && c->default_cpus >= 0.01 && c->default_cpus <= HARD_MAX_CPUS);
	FUZZ_CHECK(isfinite(c->max_cpus) && c->max_cpus >= 0.01 && c->max_cpus <= HARD_MAX_CPUS);
	FUZZ_CHECK(c->max_file_size >= 1 && c->max_file_size <= HARD_MAX_FILE_SIZE);
	FUZZ_CHECK(c->max_code_length >= 1 && c->max_code_length <= HARD_MAX_CODE_LENGTH);
	FUZZ_CHECK(c->max_output >= 1024 && c->max_output <= 256L * 1024 * 1024);
	FUZZ_CHECK(c->max_input_files >= 0 && c->max_input_files <= 10000);
	FUZZ_CHECK(c->max_return_files >= 0 && c->max_return_files <= 10000);
	FUZZ_CHECK(c->max_return_bytes >= 0 && c->max_return_bytes <= 1024L * 1024 * 1024);
	FUZZ_CHECK(c->workdir_mb >= 1 && c->workdir_mb <= 65536 && c->tmp_mb >= 1 && c->tmp_mb <= 65536);
	FUZZ_CHECK(c->max_processes >= 1 && c->max_processes <= 4096);
	FUZZ_CHECK(c->max_open_files >= 16 && c->max_open_files <= 65536);
	FUZZ_CHECK(c->uid_base >= 1000 && c->uid_base <= 4000000000L);
	FUZZ_CHECK(c->uid_count >= 2 && c->uid_count <= 65536);
	FUZZ_CHECK(c->max_builds >= 1 && c->max_builds <= 16);
	FUZZ_CHECK(isfinite(c->build_timeout) && c->build_timeout >= 1 && c->build_timeout <= 86400);
	FUZZ_CHECK(c->build_memory_mb >= 64 && c->build_memory_mb <= 65536);
	FUZZ_CHECK(c->build_workdir_mb >= 16 && c->build_workdir_mb <= 65536);
	FUZZ_CHECK(c->build_processes >= 8 && c->build_processes <= 4096);
	FUZZ_CHECK(c->max_env_size >= 1024L * 1024 && c->max_env_size <= 1024L * 1024 * 1024 * 1024);
	FUZZ_CHECK(c->ninterps >= 0 && c->ninterps <= (int)(sizeof(c->interps) / sizeof(c->interps[0])));
	for (int i = 0; i < c->ninterps; i++) {
		size_t vl = strnlen(c->interps[i].version, sizeof(c->interps[i].version));
		FUZZ_CHECK(vl > 2 && vl < sizeof(c->interps[i].version) && strchr(c->interps[i].version, '.') != NULL);
		FUZZ_CHECK(strncmp(c->interps[i].path, "/usr/", 5) == 0 && strnlen(c->interps[i].path, CONF_PATH_MAX) <
		    CONF_PATH_MAX && strstr(c->interps[i].path, "/../") == NULL && strchr(c->interps[i].path, ' ') == NULL);
		for (int j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(c->interps[i].version, c->interps[j].version) != 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf c, again;
	char err[300], small[12];
	int rc, rc_small;

	conf_defaults(&c);
	memset(err, 'x', sizeof(err));
	rc = conf_parse((const char *)data, size, &c, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -1);
	/* Even a refused file leaves only in-range values behind (conf_load throws them away; SIGHUP must too). */
	check_conf(&c);
	if (rc == -1) {
		FUZZ_CHECK(strnlen(err, sizeof(err)) < sizeof(err));
		FUZZ_CHECK(strncmp(err, "line ", 5) == 0);
	} else {
		/* The cross-field checks work on anything the parser accepts (conf_load then runs them). */
		FUZZ_CHECK(conf_check(&c, err, sizeof(err)) == 0 || strnlen(err, sizeof(err)) < sizeof(err));
	}

	/* A short error buffer changes nothing but the message (written only on error). */
	conf_defaults(&again);
	memset(small, 'x', sizeof(small));
	rc_small = conf_parse((const char *)data, size, &again, small, sizeof(small));
	FUZZ_CHECK(rc_small == rc);
	FUZZ_CHECK(rc == 0 || strnlen(small, sizeof(small)) < sizeof(small));
	FUZZ_CHECK(memcmp(&c, &again, sizeof(c)) == 0);
	return 0;
}
