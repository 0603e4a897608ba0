/* test_http.c: TAP tests of the API's routes, its trailing-slash redirect and Content-Length (route.c). */
#include "config.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http.h"
#include "tap.h"

static void
test_route(void)
{
	static const struct { const char *m, *p; enum route r; bool ok; const char *allow; } cases[] = {
		{ "GET", "/", ROUTE_ROOT, true, "GET, HEAD" },
		{ "GET", "/health", ROUTE_HEALTH, true, "GET, HEAD" },
		{ "HEAD", "/health", ROUTE_HEALTH, true, "GET, HEAD" },
		{ "GET", "/environments", ROUTE_ENVS, true, "GET, HEAD, POST" },
		{ "DELETE", "/environments/x", ROUTE_ENV, true, "GET, HEAD, DELETE" },
		{ "POST", "/execute", ROUTE_EXECUTE, true, "POST" },
		{ "POST", "/execute-with-environment", ROUTE_EXECUTE_ENV, true, "POST" },
		{ "POST", "/", ROUTE_ROOT, false, "GET, HEAD" },
		{ "DELETE", "/", ROUTE_ROOT, false, "GET, HEAD" },
		{ "PUT", "/health", ROUTE_HEALTH, false, "GET, HEAD" },
		{ "POST", "/health", ROUTE_HEALTH, false, "GET, HEAD" },
		{ "GET", "/execute", ROUTE_EXECUTE, false, "POST" },
		{ "PUT", "/execute", ROUTE_EXECUTE, false, "POST" },
		{ "GET", "/execute-with-environment", ROUTE_EXECUTE_ENV, false, "POST" },
		{ "post", "/execute", ROUTE_EXECUTE, false, "POST" },
		{ "", "/execute", ROUTE_EXECUTE, false, "POST" },
		{ "GET", "/nope", ROUTE_NONE, false, NULL },
		{ "POST", "/execute/", ROUTE_NONE, false, NULL },
		{ "POST", "/Execute", ROUTE_NONE, false, NULL },
		{ "POST", "/execute-with-environment/x", ROUTE_NONE, false, NULL },
		{ "POST", "/executes", ROUTE_NONE, false, NULL },
		{ "GET", "/health/", ROUTE_NONE, false, NULL },
		{ "GET", "//health", ROUTE_NONE, false, NULL },
		{ "GET", "", ROUTE_NONE, false, NULL },
		{ "GET", "health", ROUTE_NONE, false, NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool mok = !cases[i].ok;
		const char *allow = "unset";
		enum route r = http_route(cases[i].m, cases[i].p, &mok, &allow);
		ok(r == cases[i].r && mok == cases[i].ok &&
		    (cases[i].allow ? allow && strcmp(allow, cases[i].allow) == 0 : allow == NULL),
		    "%s '%s' -> %s%s", cases[i].m, cases[i].p,
		    cases[i].r == ROUTE_NONE ? "404" : cases[i].ok ? "200" : "405 Allow: ",
		    cases[i].r != ROUTE_NONE && !cases[i].ok ? cases[i].allow : "");
	}
	{
		bool mok = true;
		const char *allow = "unset";
		ok(http_route(NULL, "/", &mok, &allow) == ROUTE_NONE && !mok && allow == NULL, "NULL method -> 404");
		mok = true, allow = "unset";
		ok(http_route("GET", NULL, &mok, &allow) == ROUTE_NONE && !mok && allow == NULL, "NULL path -> 404");
		mok = true, allow = "unset";
		ok(http_route(NULL, NULL, &mok, &allow) == ROUTE_NONE && !mok && allow == NULL, "NULL both -> 404");
	}
	/* The original's 307 for a trailing slash: only to a route, and nothing in Location but visible ASCII. */
	{
		static const struct { const char *path, *query, *want; } redir[] = {
			{ "/environments/", NULL, "/environments" },
			{ "/environments/", "", "/environments" },
			{ "/execute/", NULL, "/execute" },
			{ "/health/", "a=1&b=2", "/health?a=1&b=2" },
			{ "/environments/x/logs/", "offset=3", "/environments/x/logs?offset=3" },
			{ "/environments/a\r\nSet-Cookie: x/", NULL, "/environments/a%0D%0ASet-Cookie%3A%20x" },
			{ "/environments/\xc3\xa9/", "q=\x01\xff", "/environments/%C3%A9?q=%01%FF" },
			{ "/nope/", NULL, NULL },
			{ "/", NULL, NULL },
			{ "/health", NULL, NULL },
			{ "/health//", NULL, NULL },
			{ "", NULL, NULL },
		};
		char loc[300];

		for (size_t i = 0; i < sizeof(redir) / sizeof(redir[0]); i++) {
			bool got = http_redirect_location(redir[i].path, redir[i].query, loc, sizeof(loc));
			ok(redir[i].want ? got && strcmp(loc, redir[i].want) == 0 : !got, "redirect %d: '%s' -> %s", (int)i,
			    redir[i].path, redir[i].want ? redir[i].want : "none");
		}
		ok(!http_redirect_location(NULL, NULL, loc, sizeof(loc)), "redirect: NULL path -> none");
		ok(!http_redirect_location("/environments/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx/", NULL, loc, 20),
		    "redirect: a Location that does not fit -> none");
	}
}

/* Call http_content_length in a child, so that a sanitizer abort (e.g. signed overflow) is a failed check. */
static bool
content_length(const char *s, long max, int *rc, long *out)
{
	struct { int rc; long out; } r = { 99, 0 };
	int fd[2], status;
	pid_t pid;
	bool got;

	fflush(stdout);
	if (pipe(fd) == -1 || (pid = fork()) == -1) {
		perror("pipe/fork");
		exit(99);
	}
	if (pid == 0) {
		close(fd[0]);
		r.rc = http_content_length(s, max, &r.out);
		if (write(fd[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(3);
		_exit(0);
	}
	close(fd[1]);
	got = read(fd[0], &r, sizeof(r)) == (ssize_t)sizeof(r);
	close(fd[0]);
	while (waitpid(pid, &status, 0) == -1)
		;
	*rc = r.rc;
	*out = r.out;
	return got && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void
test_content_length(void)
{
	const long max = 64L * 1024 * 1024;
	static const struct { const char *s; int rc; long out; } cases[] = {
		{ NULL, 0, 0 },
		{ "", 0, 0 },
		{ "0", 0, 0 },
		{ "123", 0, 123 },
		{ "67108864", 0, 67108864 },	/* == max */
		{ "67108865", 1, 67108865 },	/* max + 1 */
		{ "000123", 0, 123 },
		{ "999999999999999999", 1, 999999999999999999L },	/* 18 digits */
		{ "9223372036854775807", 1, 9223372036854775807L },	/* LONG_MAX, 19 digits */
		{ "-1", -1, 0 },
		{ "-0", -1, 0 },
		{ "+5", -1, 0 },
		{ " 5", -1, 0 },
		{ "5 ", -1, 0 },
		{ "12a", -1, 0 },
		{ "0x10", -1, 0 },
		{ "1.5", -1, 0 },
		{ "1e3", -1, 0 },
		{ "12,34", -1, 0 },
	};
	/* Past LONG_MAX: too big (1) or malformed (-1), never accepted and never an overflow. */
	static const char *huge[] = {
		"9223372036854775808", "9999999999999999999", "18446744073709551616",
		"99999999999999999999", "123456789012345678901234567890",
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = 42;
		long out = -42;
		bool ran = content_length(cases[i].s, max, &rc, &out);
		ok(ran && rc == cases[i].rc && (rc == -1 || out == cases[i].out), "Content-Length %s%s%s -> %d",
		    cases[i].s ? "'" : "", cases[i].s ? cases[i].s : "absent", cases[i].s ? "'" : "", cases[i].rc);
		if (!(ran && rc == cases[i].rc))
			printf("#   ran=%d rc=%d out=%ld\n", ran, rc, out);
	}
	for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
		int rc = 42;
		long out = -42;
		bool ran = content_length(huge[i], max, &rc, &out);
		ok(ran && (rc == 1 || rc == -1), "Content-Length '%s' (%zu digits) -> 1 or -1, without overflow",
		    huge[i], strlen(huge[i]));
		if (!(ran && (rc == 1 || rc == -1)))
			printf("#   child %s; rc=%d out=%ld\n", ran ? "returned" : "died or was cut short", rc, out);
	}
}

int
main(void)
{
	test_route();
	test_content_length();
	return done_testing();
}
