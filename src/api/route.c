/* route.c: the API's routes and the FastCGI parameters it reads, parsed (pure: unit-tested and fuzzed). */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "http.h"

/* Does path match pattern, where '*' stands for one non-empty segment? */
static bool
path_match(const char *pattern, const char *path)
{
	while (*pattern) {
		if (*pattern == '*') {
			size_t seg = strcspn(path, "/");
			if (seg == 0)
				return false;
			path += seg;
			pattern++;
			continue;
		}
		if (*pattern++ != *path++)
			return false;
	}
	return *path == '\0';
}

enum route
http_route(const char *method, const char *path, bool *method_ok, const char **allow)
{
	static const struct { const char *path; const char *methods; enum route r; } table[] = {
		/* HEAD is answered wherever GET is (serve_one asks with GET); listed for the Allow header. */
		{ "/", "GET, HEAD", ROUTE_ROOT },
		{ "/health", "GET, HEAD", ROUTE_HEALTH },
		{ "/metrics", "GET, HEAD", ROUTE_METRICS },
		{ "/execute", "POST", ROUTE_EXECUTE },
		{ "/execute-with-environment", "POST", ROUTE_EXECUTE_ENV },
		{ "/environments", "GET, HEAD, POST", ROUTE_ENVS },
		{ "/environments/*", "GET, HEAD, DELETE", ROUTE_ENV },
		{ "/environments/*/logs", "GET, HEAD", ROUTE_ENV_LOGS },
	};

	*method_ok = false;
	*allow = NULL;
	if (method == NULL || path == NULL)
		return ROUTE_NONE;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const char *m = table[i].methods;
		size_t ml = strlen(method);

		if (!path_match(table[i].path, path))
			continue;
		*allow = m;
		/* methods is "A, B": the method must equal one whole token */
		for (const char *t = m; *t; ) {
			size_t tl = strcspn(t, ",");
			if (tl == ml && ml > 0 && strncmp(t, method, ml) == 0)
				*method_ok = true;
			t += tl;
			t += strspn(t, ", ");
		}
		return table[i].r;
	}
	return ROUTE_NONE;
}

bool
http_env_name(const char *path, char *out, size_t outlen)
{
	const char *p = path + strlen("/environments/");
	size_t n;

	if (strncmp(path, "/environments/", 14) != 0)
		return false;
	n = strcspn(p, "/");
	if (n == 0 || n >= outlen)
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

bool
http_redirect_location(const char *path, const char *query, char *out, size_t outlen)
{
	static const char keep[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/";
	const char *allow;
	size_t n, o = 0;
	bool method_ok;
	char stripped[256];

	if (path == NULL || (n = strlen(path)) < 2 || path[n - 1] != '/' || n - 1 >= sizeof(stripped))
		return false;
	memcpy(stripped, path, n - 1);
	stripped[n - 1] = '\0';
	if (http_route("GET", stripped, &method_ok, &allow) == ROUTE_NONE)
		return false;
	/* path is nginx's $uri, decoded: encoded again, so that no byte of it can end the header line. */
	for (const unsigned char *p = (const unsigned char *)stripped; *p; p++) {
		if (o + 4 > outlen)
			return false;
		if (strchr(keep, *p))
			out[o++] = (char)*p;
		else
			o += (size_t)snprintf(out + o, outlen - o, "%%%02X", *p);
	}
	if (query && *query) {
		if (o + 2 > outlen)
			return false;
		out[o++] = '?';
		/* The query is raw from the request line; still, nothing but visible ASCII goes out. */
		for (const unsigned char *p = (const unsigned char *)query; *p; p++) {
			if (o + 4 > outlen)
				return false;
			if (*p > ' ' && *p < 0x7f)
				out[o++] = (char)*p;
			else
				o += (size_t)snprintf(out + o, outlen - o, "%%%02X", *p);
		}
	}
	if (o >= outlen)
		return false;
	out[o] = '\0';
	return true;
}

int
http_content_length(const char *s, long max, long *out)
{
	long v = 0;

	*out = 0;
	if (s == NULL || *s == '\0')
		return 0;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return -1;
	for (const char *p = s; *p; p++) {
		if (v > (LONG_MAX - (*p - '0')) / 10) {
			*out = LONG_MAX;	/* past any limit; never overflow */
			return 1;
		}
		v = v * 10 + (*p - '0');
	}
	*out = v;
	return v > max ? 1 : 0;
}
