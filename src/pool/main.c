/* main.c: pysandboxd, the FastCGI responder pool of SimplePySandbox: options, configuration, start. */
#include "config.h"

#include <fcntl.h>
#include <getopt.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "db.h"
#include "limit.h"
#include "log.h"
#include "pool.h"

static void __attribute__((noreturn))
usage(int code)
{
	fprintf(code ? stderr : stdout,
	    "usage: pysandboxd [-t] [-c FILE]\n"
	    "       pysandboxd --help | --version | --print-rules\n"
	    "  -c, --config FILE  configuration file (default %s)\n"
	    "  -t, --test         check the configuration (and, as root, that the service user can reach\n"
	    "                     the state directory), then exit\n"
	    "  -h, --help         this text\n"
	    "  -V, --version      the version\n"
	    "      --print-rules  the rules other tools must share (pysandbox-admin reads them), as KEY=VALUE\n"
	    "Runs in the foreground; SIGTERM/SIGQUIT stop gracefully, SIGHUP reloads. See pysandboxd(8).\n",
	    PYSANDBOX_CONF_PATH);
	exit(code);
}

/* The one place a shell tool learns the rules that live in C (limit.h, db.h): KEY=VALUE lines. */
static void
print_rules(void)
{
	printf("env_name_pattern=%s\n", ENV_NAME_PATTERN);
	printf("env_name_max=%d\n", ENV_NAME_MAX);
	printf("schema_version=%d\n", DB_SCHEMA_VERSION);
	printf("memory_mb_min=%d\n", LIMIT_MIN_MEMORY_MB);
}

int
main(int argc, char **argv)
{
	const char *path = PYSANDBOX_CONF_PATH;
	struct conf c;
	char err[700];
	int ch, test_only = 0, fd;

	/* What the pool creates (the database, its journal, environments' directories)
	 * is no other local user's business. */
	umask(027);
	/* fds 0-2 must be open, or the first file we open would become one of them. */
	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		;
	if (fd > 2)
		close(fd);

	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "print-rules", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	while ((ch = getopt_long(argc, argv, "c:thV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 't': test_only = 1; break;
		case 'h': usage(0);
		case 'V':
			printf("pysandboxd (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			return 0;
		case 'R':
			print_rules();
			return 0;
		default: usage(2);
		}
	}
	if (optind != argc)
		usage(2);
	log_init("pysandboxd", LOG_LVL_INFO);
	if (conf_load(path, &c, true, err, sizeof(err)) == -1) {
		fprintf(stderr, "pysandboxd: bad configuration: %s\n", err);
		return 1;
	}
	log_set_level((enum log_level)c.log_level);
	log_set_format((enum log_format)c.log_format);
	if (test_only) {
		if (pool_check_user(&c, err, sizeof(err)) == -1) {
			fprintf(stderr, "pysandboxd: %s\n", err);
			return 1;
		}
		printf("configuration %s is valid (%d runs at once, %d queued, %d worker processes, uids %ld-%ld)\n",
		    path, conf_workers(&c), c.queue_size, conf_processes(&c),
		    c.uid_base, c.uid_base + c.uid_count - 1);
		return 0;
	}
	if (access(c.jail, X_OK) == -1) {
		fprintf(stderr, "pysandboxd: jail helper %s is not executable\n", c.jail);
		return 1;
	}
	if (access(c.python, X_OK) == -1) {
		fprintf(stderr, "pysandboxd: interpreter %s is not executable\n", c.python);
		return 1;
	}
	return pool_main(&c, path);
}
