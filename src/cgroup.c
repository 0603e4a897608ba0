/* cgroup.c: finds this process's v1 cgroups, reads and writes their files, sweeps leftovers. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "cgroup.h"

#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif

bool
cg_self_dir(const char *controller, char *out, size_t outlen)
{
	char line[1024], mount[256];
	struct statfs sfs;
	bool found = false;
	FILE *f;

	snprintf(mount, sizeof(mount), "/sys/fs/cgroup/%s", controller);
	if (statfs(mount, &sfs) == -1 || sfs.f_type != CGROUP_SUPER_MAGIC)
		return false;
	if ((f = fopen("/proc/self/cgroup", "re")) == NULL)
		return false;
	/* Lines are "ID:controller[,controller]:path". */
	while (!found && fgets(line, sizeof(line), f)) {
		char *ctl = strchr(line, ':'), *path, *tok, *save = NULL;

		if (ctl == NULL || (path = strchr(++ctl, ':')) == NULL)
			continue;
		*path++ = '\0';
		path[strcspn(path, "\n")] = '\0';
		for (tok = strtok_r(ctl, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
			if (strcmp(tok, controller) == 0) {
				found = (size_t)snprintf(out, outlen, "%s%s", mount, strcmp(path, "/") ? path : "") < outlen;
				break;
			}
	}
	fclose(f);
	return found;
}

int
cg_write(const char *dir, const char *file, const char *value)
{
	char path[1024];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1)
		return -1;
	n = write(fd, value, strlen(value));
	close(fd);
	return n == (ssize_t)strlen(value) ? 0 : -1;
}

int
cg_read(const char *dir, const char *file, char *out, size_t outlen)
{
	char path[1024];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, out, outlen - 1);
	close(fd);
	if (n < 0)
		return -1;
	out[n] = '\0';
	return 0;
}

int
cg_sweep(void)
{
	static const char *controllers[] = { "memory", "pids", "cpu" };
	char dir[1024], path[1300];
	struct dirent *de;
	int removed = 0;
	DIR *d;

	for (size_t i = 0; i < sizeof(controllers) / sizeof(controllers[0]); i++) {
		if (!cg_self_dir(controllers[i], dir, sizeof(dir)) || (d = opendir(dir)) == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			char *end;
			long pid;

			if (strncmp(de->d_name, CG_PREFIX, strlen(CG_PREFIX)) != 0)
				continue;
			pid = strtol(de->d_name + strlen(CG_PREFIX), &end, 10);
			/* Only a jail that is gone: a live one removes its own. */
			if (*end != '\0' || pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			if (rmdir(path) == 0)
				removed++;
		}
		closedir(d);
	}
	return removed;
}
