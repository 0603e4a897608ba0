/* test_cgroup.c: TAP tests of the pure cgroup parsers (cgroup.c): /proc/PID/cgroup lines and controller lists. */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cgroup.h"
#include "tap.h"

/* What /proc/self/cgroup says on this project's hosts. */
static const char hybrid[] =
    "9:name=systemd:/\n"
    "8:pids:/\n"
    "4:memory:/process_api/410c5c4e\n"
    "2:cpuacct:/\n"
    "1:cpu:/\n"
    "0::/\n";
static const char debian12[] = "0::/system.slice/pysandbox.service/pysandbox-pool\n";
static const char comounted[] = "3:cpu,cpuacct:/user.slice\n5:net_cls,net_prio:/\n";

static void
parse(const char *text, const char *controller, const char *want, const char *what)
{
	char out[256] = "";
	bool found = cg_parse_proc_cgroup(text, controller, out, sizeof(out));

	if (want == NULL)
		ok(!found, "%s: not found", what);
	else
		is_str(found ? out : NULL, want, "%s", what);
}

int
main(void)
{
	char small[8];

	parse(hybrid, "memory", "/process_api/410c5c4e", "v1 memory on a hybrid host");
	parse(hybrid, "pids", "/", "v1 pids at the root");
	parse(hybrid, "cpu", "/", "cpu is not cpuacct");
	parse(hybrid, NULL, "/", "the v2 line of a hybrid host");
	parse(hybrid, "blkio", NULL, "a controller not mounted");
	parse(hybrid, "system", NULL, "name=systemd is not a controller called systemd");
	parse(debian12, NULL, "/system.slice/pysandbox.service/pysandbox-pool", "v2 only (Debian 12)");
	parse(debian12, "memory", NULL, "v2 only: no v1 memory");
	parse(comounted, "cpuacct", "/user.slice", "second of co-mounted controllers");
	parse(comounted, "cpu", "/user.slice", "first of co-mounted controllers");
	parse(comounted, "net_prio", "/", "co-mounted, last line");
	parse(comounted, NULL, NULL, "v1 only: no v2 line");
	parse("", "memory", NULL, "empty text");
	parse("garbage without colons\n", NULL, NULL, "garbage");
	parse("0::\n", NULL, NULL, "a v2 line without a path");
	parse("1:memory:relative\n", "memory", NULL, "a path that is not absolute");
	parse("0::/last-line-without-newline", NULL, "/last-line-without-newline", "no final newline");
	parse("10::/x\n", NULL, NULL, "only hierarchy 0 is v2");
	ok(!cg_parse_proc_cgroup("0::/a/much/longer/path\n", NULL, small, sizeof(small)), "a path longer than the buffer");

	ok(cg_list_has("cpuset cpu io memory pids", "cpu"), "cpu among several");
	ok(cg_list_has("cpuset cpu io memory pids\n", "pids"), "last, before the newline");
	ok(!cg_list_has("cpuset io memory", "cpu"), "cpuset is not cpu");
	ok(!cg_list_has("", "memory"), "empty list");
	ok(cg_list_has("memory", "memory"), "alone");
	ok(!cg_list_has("memory.max", "memory"), "a longer word");
	return done_testing();
}
