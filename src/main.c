/* main.c: pysandboxd, the FastCGI responder pool of SimplePySandbox: options, configuration, start. */
#include "config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "pool.h"

static void __attribute__((noreturn))
usage(int code)
{
	fprintf(code ? stderr : stdout,
	    "usage: pysandboxd [-c FILE] [-t] [-h]\n"
	    "  -c FILE  configuration file (default %s)\n"
	    "  -t       check the configuration and exit\n"
	    "Runs in the foreground; SIGTERM/SIGQUIT stop gracefully, SIGHUP reloads.\n",
	    PYSANDBOX_CONF_PATH);
	exit(code);
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

	while ((ch = getopt(argc, argv, "c:th")) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 't': test_only = 1; break;
		case 'h': usage(0);
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
	if (test_only) {
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
