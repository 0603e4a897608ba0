/* interp.c: finds the host's Python interpreters (the default, /usr/bin/python3.N, configured ones). */
#include "config.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "interp.h"

bool
interp_version_from_path(const char *path, char *out, size_t outlen)
{
	const char *base = strrchr(path, '/');
	const char *p;

	base = base ? base + 1 : path;
	if (strncmp(base, "python", 6) != 0)
		return false;
	p = base + 6;
	if (!(p[0] >= '0' && p[0] <= '9') || p[1] != '.' || !(p[2] >= '0' && p[2] <= '9'))
		return false;
	for (const char *q = p + 2; *q; q++)
		if (*q < '0' || *q > '9')
			return false;
	if (strlen(p) >= outlen)
		return false;
	snprintf(out, outlen, "%s", p);
	return true;
}

static bool
usable(const char *path)
{
	struct stat st;

	return strncmp(path, "/usr/", 5) == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    access(path, X_OK) == 0;
}

static int
add(struct interp *out, int n, int max, const char *version, const char *path, bool is_default)
{
	for (int i = 0; i < n; i++)
		if (strcmp(out[i].version, version) == 0) {
			out[i].is_default |= is_default;
			return n;
		}
	if (n >= max)
		return n;
	snprintf(out[n].version, sizeof(out[n].version), "%s", version);
	snprintf(out[n].path, sizeof(out[n].path), "%s", path);
	out[n].is_default = is_default;
	return n + 1;
}

int
interp_discover(const struct conf *c, struct interp *out, int max)
{
	char real[PATH_MAX], version[16], path[CONF_PATH_MAX];
	struct dirent *de;
	DIR *d;
	int n = 0;

	/* The default first: its version is that of what /usr/bin/python3 points to. */
	if (usable(c->python) && realpath(c->python, real) != NULL &&
	    interp_version_from_path(real, version, sizeof(version)))
		n = add(out, n, max, version, c->python, true);
	else if (usable(c->python))
		n = add(out, n, max, "3", c->python, true);
	for (int i = 0; i < c->ninterps; i++)
		if (usable(c->interps[i].path))
			n = add(out, n, max, c->interps[i].version, c->interps[i].path, false);
	if ((d = opendir("/usr/bin")) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (!interp_version_from_path(de->d_name, version, sizeof(version)) ||
			    strcmp(de->d_name + 6, version) != 0)
				continue;
			snprintf(path, sizeof(path), "/usr/bin/%s", de->d_name);
			if (usable(path))
				n = add(out, n, max, version, path, false);
		}
		closedir(d);
	}
	return n;
}

const struct interp *
interp_find(const struct interp *list, int n, const char *version)
{
	size_t vl;

	if (version == NULL || *version == '\0') {
		for (int i = 0; i < n; i++)
			if (list[i].is_default)
				return &list[i];
		return NULL;
	}
	for (int i = 0; i < n; i++)
		if (strcmp(list[i].version, version) == 0)
			return &list[i];
	/* "3" means the default if it is a 3.x; "3.11.2" means 3.11. */
	for (int i = 0; i < n; i++)
		if (list[i].is_default && strcmp(version, "3") == 0 && strncmp(list[i].version, "3.", 2) == 0)
			return &list[i];
	for (int i = 0; i < n; i++) {
		vl = strlen(list[i].version);
		if (strncmp(version, list[i].version, vl) == 0 && version[vl] == '.')
			return &list[i];
	}
	return NULL;
}
