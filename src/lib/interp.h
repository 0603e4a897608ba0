/* interp.h: the host's Python interpreters: discovered in /usr/bin and listed in the configuration. */
#ifndef SBX_INTERP_H
#define SBX_INTERP_H

#include <stdbool.h>

#include "conf.h"

#define INTERP_MAX	16

struct interp {
	char	version[16];		/* "3.11" */
	char	path[CONF_PATH_MAX];	/* absolute, under /usr (the only host tree a jail sees) */
	bool	is_default;
};

/* Fill out[] with the interpreters of this host: the configured default
 * (conf->python), every /usr/bin/python3.N, and the [interpreters] entries
 * of the configuration. Returns how many. */
int interp_discover(const struct conf *c, struct interp *out, int max);
/* The entry matching a requested version ("3.11"; also "3" for the default
 * major, or a full "3.11.2" whose major.minor matches); NULL if none. */
const struct interp *interp_find(const struct interp *list, int n, const char *version);
/* Version "3.N" from an interpreter path's name (python3.11 -> 3.11); false if it has none. */
bool interp_version_from_path(const char *path, char *out, size_t outlen);

#endif
