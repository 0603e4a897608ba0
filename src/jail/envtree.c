/* envtree.c: a build's environment, measured and sealed with privilege; leftovers of builds removed. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jail.h"

/*
 * rm -rf of a tree of any depth with a bounded number of open fds: a directory
 * found REMOVE_DEPTH levels down is renamed up into the top directory and
 * removed from there on a later pass. Never follows a symlink or crosses a
 * mount. Returns the entries still left (0: the top is empty).
 */
#define REMOVE_DEPTH	64

static long
remove_level(int topfd, int fd, dev_t dev, int depth, unsigned long *moved)
{
	struct dirent *de;
	struct stat st;
	long left = 0;
	DIR *d;
	int dup_fd = dup(fd);

	if (dup_fd == -1 || (d = fdopendir(dup_fd)) == NULL) {
		if (dup_fd != -1)
			close(dup_fd);
		return 1;
	}
	rewinddir(d);	/* a dup shares the offset an earlier pass left at the end */
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		if (!S_ISDIR(st.st_mode)) {
			left += unlinkat(fd, de->d_name, 0) == -1;
			continue;
		}
		if (st.st_dev != dev) {
			left++;	/* a mount point: not ours to descend */
			continue;
		}
		if (depth >= REMOVE_DEPTH) {
			static unsigned long seq;
			char name[64];

			for (;;) {
				snprintf(name, sizeof(name), ".pysandbox-deep-%ld-%lu", (long)getpid(), seq++);
				if (renameat(fd, de->d_name, topfd, name) == 0) {
					(*moved)++;	/* progress: the next pass goes on from there */
					break;
				}
				if (errno != EEXIST)
					break;
			}
			left++;
			continue;
		}
		{
			int sub = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub == -1) {
				left++;
				continue;
			}
			left += remove_level(topfd, sub, dev, depth + 1, moved);
			close(sub);
			left += unlinkat(fd, de->d_name, AT_REMOVEDIR) == -1;
		}
	}
	closedir(d);
	return left;
}

static bool
remove_tree(int topfd)
{
	unsigned long moved = 0;
	struct stat st;

	if (fstat(topfd, &st) == -1)
		return false;
	/* Each pass removes what lies within REMOVE_DEPTH levels and lifts what is deeper. */
	for (unsigned long before = ~0UL; ; ) {
		unsigned long lifted = moved;

		if (remove_level(topfd, topfd, st.st_dev, 0, &moved) == 0)
			return true;
		if (moved == lifted && before == moved)
			return false;	/* no progress: something cannot be removed */
		before = moved;
	}
}

/* The builder (unprivileged) cannot remove what a build uid wrote: only leftovers (.build-N) and deleted
 * environments (.trash-N) are removed here. */
void
remove_env_dir(const char *name)
{
	char path[CONF_PATH_MAX + 16];
	int envs, fd;

	errno = EPERM;
	if (!limit_build_dir_ok(name) && !limit_trash_dir_ok(name))
		die("remove: only .build-N and .trash-N directories");
	snprintf(path, sizeof(path), "%s/envs", conf.state_dir);
	if ((envs = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		die("open %s", path);
	if ((fd = openat(envs, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) != -1) {
		bool empty = remove_tree(fd);

		close(fd);
		if (!empty || (unlinkat(envs, name, AT_REMOVEDIR) == -1 && errno != ENOENT))
			die("remove %s", name);
	}
	_exit(0);
}

/* ---- a build's environment: measured with privilege, sealed after it ---- */

/*
 * The environment lies on the host's disk, so the jail measures it: init, as
 * root, walks /env once a second while every process of the build is stopped
 * (nothing can move a file out of the walker's way, and what the build's uid
 * cannot read is counted too), and once more after the build. Bytes, inodes
 * and depth are bounded; set-id bits are stripped whenever they are seen, and
 * a successful build's tree becomes root's with no group or other write, so
 * no uid of the pool (later builds reuse them) owns or can change it.
 */
#define ENV_MAX_DEPTH		256
#define ENV_FREEZE_WAIT_MS	200

/* chmod an entry through an fd of it, never a symlink's target: a build process
 * that did not stop in time may have swapped the entry since it was seen. */
static void
chmod_entry(int dirfd, const char *name, const struct stat *seen, mode_t mode)
{
	struct stat now;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

	if (fd == -1)
		return;
	if (fstat(fd, &now) == 0 && now.st_ino == seen->st_ino && now.st_dev == seen->st_dev)
		fchmod(fd, mode);
	close(fd);
}

static void
tree_walk(int dirfd, dev_t dev, int depth, bool seal, struct tree *t)
{
	struct dirent *de;
	struct stat st;
	DIR *d;

	if ((d = fdopendir(dirfd)) == NULL) {
		close(dirfd);
		return;
	}
	while ((de = readdir(d)) != NULL && !t->too_deep && !t->too_big) {
		mode_t keep;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		t->inodes++;
		t->bytes += (long long)st.st_blocks * 512;
		if (t->bytes > conf.max_env_size || t->inodes > conf.max_env_inodes) {
			t->too_big = true;
			break;
		}
		if (seal)
			fchownat(dirfd, de->d_name, 0, 0, AT_SYMLINK_NOFOLLOW);
		keep = st.st_mode & 07777 & ~(mode_t)(S_ISUID | S_ISGID | (seal ? S_IWGRP | S_IWOTH : 0));
		/* (A symlink's mode means nothing.) */
		if (!S_ISLNK(st.st_mode) && keep != (st.st_mode & 07777))
			chmod_entry(dirfd, de->d_name, &st, keep);
		if (S_ISDIR(st.st_mode) && st.st_dev == dev) {
			int sub;

			if (depth + 1 > ENV_MAX_DEPTH) {
				t->too_deep = true;
				break;
			}
			if ((sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) != -1)
				tree_walk(sub, dev, depth + 1, seal, t);
		}
	}
	closedir(d);
}

bool
env_check(bool seal, struct tree *t, char *why, size_t whylen)
{
	struct stat st;
	int fd;

	memset(t, 0, sizeof(*t));
	if ((fd = open("/env", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1 || fstat(fd, &st) == -1)
		die("open /env");
	if (seal) {
		if (fchown(fd, 0, 0) == -1 ||
		    fchmod(fd, st.st_mode & 07777 & ~(mode_t)(S_ISUID | S_ISGID | S_IWGRP | S_IWOTH)) == -1)
			die("seal /env");
	}
	t->inodes = 1;
	t->bytes = (long long)st.st_blocks * 512;
	tree_walk(fd, st.st_dev, 0, seal, t);
	if (t->too_deep)
		snprintf(why, whylen, "the environment's tree is deeper than %d levels", ENV_MAX_DEPTH);
	else if (t->too_big && t->inodes > conf.max_env_inodes)
		snprintf(why, whylen, "the environment holds more than max_env_inodes (%ld) files", conf.max_env_inodes);
	else if (t->too_big)
		snprintf(why, whylen, "the environment grew past max_env_size (%ld bytes)", conf.max_env_size);
	return !t->too_deep && !t->too_big;
}

/* (One inside a long system call stops when it returns.) */
void
freeze_all(void)
{
	struct timespec pause = { 0, 2000000 };

	if (sabotaged("pid"))
		return;
	kill(-1, SIGSTOP);
	for (int waited = 0; waited < ENV_FREEZE_WAIT_MS; waited += 2) {
		bool running = false;
		struct dirent *de;
		DIR *d = opendir("/proc");

		if (d == NULL)
			return;
		while (!running && (de = readdir(d)) != NULL) {
			char path[300], text[256], *state;
			int fd;
			ssize_t n;

			if (de->d_name[0] < '0' || de->d_name[0] > '9' || strcmp(de->d_name, "1") == 0)
				continue;
			snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
			if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
				continue;
			n = read(fd, text, sizeof(text) - 1);
			close(fd);
			if (n <= 0)
				continue;
			text[n] = '\0';
			/* "pid (comm) S ...": the state follows the last ')' */
			if ((state = strrchr(text, ')')) != NULL && state[1] == ' ')
				running = !(state[2] == 'T' || state[2] == 't' || state[2] == 'Z' || state[2] == 'X');
		}
		closedir(d);
		if (!running)
			return;
		nanosleep(&pause, NULL);
	}
}
