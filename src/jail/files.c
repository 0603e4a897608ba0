/* files.c: the run's input files written into /work as its uid, and the files it created or changed
 * collected from there afterwards. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "jail.h"
#include "warm_boot.h"	/* generated from run_main.py and warm_boot.py (Makefile.am) */
#include "fork_server.h"	/* generated from run_main.py and fork_server.py */

#define MAX_INPUTS	10000

/* What was written, to tell changed files from inputs handed back unchanged. */
struct input_rec {
	char		*name;
	size_t		 len;
	uint64_t	 hash;
};
static struct input_rec *inputs;
static size_t ninputs;
static int work_fd = -1;	/* files_set_work's */

void
files_set_work(int dirfd)
{
	work_fd = dirfd;
}

/* /work: the program's own, as the fork server's program handed it over, or ours (the run's root). */
static int
open_work(void)
{
	if (work_fd != -1)
		return fcntl(work_fd, F_DUPFD_CLOEXEC, 0);
	return open("/work", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* An input file could not be written (a client's doing, e.g. the directory is full): say so with an "I"
 * record so the worker does not blame the jail. */
static void __attribute__((noreturn))
input_fail(const char *what)
{
	fail_record(JAIL_FAIL_INPUT, errno, "%s", what);
}

static uint64_t
fnv1a(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

/* Create the parent directories of name under dirfd, owned by the run's uid. */
static void
make_parents(int dirfd, char *name)
{
	for (char *s = strchr(name, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdirat(dirfd, name, 0755) == 0) {
			if (fchownat(dirfd, name, run_uid, run_gid, AT_SYMLINK_NOFOLLOW) == -1)
				die("chown directory");
		} else if (errno != EEXIST)
			input_fail("mkdir for an input file");
		*s = '/';
	}
}

/* Records: "<name_len> <data_len>\n<name><data>", repeated. The worker wrote
 * them, but the names came from a client: check them again. */
void
files_write_inputs(void)
{
	struct stat st;
	char *map;
	const char *p, *end;
	int workfd, fd;

	if (fstat(JAIL_FD_INPUT, &st) == -1)
		die("stat input");
	if ((workfd = open_work()) == -1)
		die("open /work");
	if (st.st_size == 0)
		die("no main.py in the input");
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, JAIL_FD_INPUT, 0);
	if (map == MAP_FAILED)
		die("map input");
	if ((inputs = calloc(MAX_INPUTS, sizeof(*inputs))) == NULL)
		die("allocate");
	p = map;
	end = map + st.st_size;
	while (p < end) {
		unsigned long nlen, dlen;
		char *nl, *name;
		int used;

		errno = EINVAL;
		if (sscanf(p, "%lu %lu\n%n", &nlen, &dlen, &used) != 2 || used <= 0 ||
		    (nl = memchr(p, '\n', (size_t)(end - p))) == NULL || (size_t)(nl + 1 - p) != (size_t)used)
			die("malformed input record");
		p += used;
		if (nlen > (size_t)(end - p) || dlen > (size_t)(end - p) - nlen || ninputs >= MAX_INPUTS)
			die("truncated input record");
		if (!path_safe_relative(p, nlen, 255, 16))
			die("unsafe input file name");
		if ((name = strndup(p, nlen)) == NULL)
			die("allocate");
		p += nlen;
		make_parents(workfd, name);
		fd = openat(workfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd == -1)
			input_fail("create an input file");
		if (fd_write_all(fd, p, dlen) == -1)
			input_fail("write an input file");
		if (fchown(fd, run_uid, run_gid) == -1)
			die("chown input file");
		close(fd);
		inputs[ninputs].name = name;
		inputs[ninputs].len = dlen;
		inputs[ninputs].hash = fnv1a((const unsigned char *)p, dlen);
		ninputs++;
		p += dlen;
	}
	munmap(map, (size_t)st.st_size);
	close(JAIL_FD_INPUT);
	close(workfd);
}

void
files_write_warm_boot(void)
{
	int fd = open("/work/main.py", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);

	if (fd == -1)
		die("create the warm start");
	if (fd_write_all(fd, warm_boot_py, sizeof(warm_boot_py) - 1) == -1)
		die("write the warm start");
	if (fchown(fd, run_uid, run_gid) == -1)
		die("chown the warm start");
	close(fd);
}

void
files_write_fork_server(void)
{
	int fd = open(NEWROOT "/work/main.py", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);

	if (fd == -1)
		die("create the fork server's main.py");
	if (fd_write_all(fd, fork_server_py, sizeof(fork_server_py) - 1) == -1)
		die("write the fork server's main.py");
	close(fd);
}

struct collect {
	long	files;
	long	bytes;
	bool	truncated;
	long	scanned;
};

static bool
unchanged_input(const char *name, const unsigned char *data, size_t len)
{
	for (size_t i = 0; i < ninputs; i++)
		if (inputs[i].len == len && strcmp(inputs[i].name, name) == 0)
			return inputs[i].hash == fnv1a(data, len);
	return false;
}

static void
send_file(int dirfd, const char *entry, const char *relname, struct collect *col)
{
	unsigned char *data = NULL;
	struct stat st;
	size_t got = 0;
	ssize_t r;
	int fd;

	/* Every process of the run is dead: nothing can swap this file under us. */
	fd = openat(dirfd, entry, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd == -1)
		return;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		goto out;
	if (col->files >= args.max_files || st.st_size > args.max_return_bytes - col->bytes) {
		col->truncated = true;
		goto out;
	}
	if ((data = malloc((size_t)st.st_size + 1)) == NULL)
		goto out;
	while (got < (size_t)st.st_size && (r = read(fd, data + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)r;
	if (strcmp(relname, "main.py") == 0 || unchanged_input(relname, data, got))
		goto out;
	status_write_check(jail_write_file(JAIL_FD_STATUS, relname, data, got));
	col->files++;
	col->bytes += (long)got;
out:
	free(data);
	close(fd);
}

static void
collect_dir(int dirfd, const char *prefix, int depth, struct collect *col)
{
	char rel[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int sub;

	if (depth > 32 || (d = fdopendir(dirfd)) == NULL) {
		close(dirfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (++col->scanned > 100000) {
			col->truncated = true;
			break;
		}
		if ((size_t)snprintf(rel, sizeof(rel), "%s%s%s", prefix, *prefix ? "/" : "", de->d_name) >= sizeof(rel))
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		if (S_ISDIR(st.st_mode)) {
			sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub != -1)
				collect_dir(sub, rel, depth + 1, col);
		} else if (S_ISREG(st.st_mode))
			send_file(dirfd, de->d_name, rel, col);
	}
	closedir(d);
}

void
files_collect(void)
{
	struct collect col = { 0 };
	int workfd;

	/* A build's working directory is its scratch space (pip's cache): nothing to return. */
	if (!args.build && (workfd = open_work()) != -1)
		collect_dir(workfd, "", 0, &col);
	if (col.truncated)
		status_write_check(jail_write_truncated(JAIL_FD_STATUS));
}
