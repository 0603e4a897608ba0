/* test_status.c: TAP tests of the jail protocol (jailproto.c): the status parser, the record writers, the
 * option table both ways; and a run's outcome in the API's words (outcome.c). */
#include "config.h"

#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "buf.h"
#include "jailproto.h"
#include "run.h"
#include "tap.h"
#include "testutil.h"

/* jail_parse_status's answer as one number, so that each case reads as one: 0 ok, -1 the sandbox's failure
 * (setup or a malformed stream), -2 the input's (files, or the environment gone), -3 limits beyond the
 * configuration file's, -4 the interpreter would not start. */
static int
code_of(enum sbx_err e)
{
	switch (e) {
	case SBX_OK: return 0;
	case SBX_EBADREQ: return -2;
	case SBX_ERELOAD: return -3;
	case SBX_ESTART: return -4;
	default: return -1;
	}
}

static enum jail_failure last_failure;

/* jail_parse_status over an exact-size heap copy, so that ASan catches any read past the stream; a run
 * that reported is described as a 30 s, 512 MB run would be. */
static int
parse_n(const char *s, size_t n, struct run_result *res, char *why, size_t whylen)
{
	char *copy = xmalloc(n);
	enum sbx_err e;

	memcpy(copy, s, n);
	memset(res, 0, sizeof(*res));
	e = jail_parse_status(copy, n, &res->jail, &last_failure, why, whylen);
	if (e == SBX_OK)
		run_describe(res, 30, 512, 1024, false);
	free(copy);
	return code_of(e);
}

#define PARSE(lit, res, why) parse_n(lit, sizeof(lit) - 1, res, why, sizeof(why))

/* The stream must be refused with -1 and a reason (containing frag when frag is not NULL). */
static void
refused_n(const char *s, size_t n, const char *frag, const char *what)
{
	struct run_result res;
	char why[256] = "";
	int rc = parse_n(s, n, &res, why, sizeof(why));
	bool good = rc == -1 && why[0] != '\0' && (frag == NULL || strstr(why, frag) != NULL);

	ok(good, "status stream refused: %s", what);
	if (!good)
		printf("#   rc=%d why='%s'\n", rc, why);
	run_result_free(&res);
}

#define REFUSED(lit, frag, what) refused_n(lit, sizeof(lit) - 1, frag, what)

static void
test_parse_ok(void)
{
	struct run_result res;
	char why[256];
	static const struct { const char *s; enum run_status st; int code, sig; } outcomes[] = {
		{ "R exited 0 0 1500000 200000 50000 12345\nD\n", RUN_OK, 0, 0 },
		{ "R exited 3 0 1500000 200000 50000 12345\nD\n", RUN_ERROR, 3, 0 },
		{ "R exited 255 0 1500000 200000 50000 12345\nD\n", RUN_ERROR, 255, 0 },
		{ "R signaled -1 9 1500000 200000 50000 12345\nD\n", RUN_KILLED, -1, 9 },
		{ "R signaled -1 11 1500000 200000 50000 12345\nD\n", RUN_KILLED, -1, 11 },
		{ "R signaled -1 24 1500000 200000 50000 12345\nD\n", RUN_TIMEOUT, -1, 24 },
		{ "R timeout -1 9 1500000 200000 50000 12345\nD\n", RUN_TIMEOUT, -1, 9 },
		{ "R killed -1 0 1500000 200000 50000 12345\nD\n", RUN_KILLED, -1, 0 },
	};

	for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++) {
		int rc = parse_n(outcomes[i].s, strlen(outcomes[i].s), &res, why, sizeof(why));
		ok(rc == 0 && res.status == outcomes[i].st && res.jail.exit_code == outcomes[i].code &&
		    res.jail.signal == outcomes[i].sig && near(res.jail.wall_time, 1.5) && near(res.jail.cpu_time, 0.25) &&
		    res.jail.max_rss_kb == 12345 && res.jail.nfiles == 0 && !res.jail.trunc_files,
		    "R %.*s -> %s", (int)(strchr(outcomes[i].s, '\n') - outcomes[i].s - 2), outcomes[i].s + 2,
		    run_status_name(outcomes[i].st));
		run_result_free(&res);
	}
	ok(outcomes[5].sig == SIGXCPU, "signal 24 is SIGXCPU here");

	/* Files: names with newlines, binary data that looks like records, an empty file, then T and D. */
	{
		static const char s[] =
		    "R exited 0 0 10 20 30 40\n"
		    "F 5 6\nab\ncd\0\nD\n\xff" "E"
		    "F 7 0\nempty.x"
		    "F 12 4\nsub/dir/f.py\nF \n"
		    "T\n"
		    "D\n";
		int rc = PARSE(s, &res, why);
		ok(rc == 0, "stream with files parses (%s)", why);
		ok(res.jail.nfiles == 3, "3 files (got %zu)", res.jail.nfiles);
		if (res.jail.nfiles == 3) {
			ok(res.jail.files[0].name_len == 5 && memcmp(res.jail.files[0].name, "ab\ncd", 6) == 0,
			    "a name with a newline, NUL-terminated");
			ok(res.jail.files[0].len == 6 && memcmp(res.jail.files[0].data, "\0\nD\n\xff" "E", 6) == 0,
			    "binary data with NUL, newlines and record letters");
			ok(res.jail.files[1].name_len == 7 && strcmp(res.jail.files[1].name, "empty.x") == 0 && res.jail.files[1].len == 0,
			    "an empty file");
			ok(res.jail.files[2].name_len == 12 && strcmp(res.jail.files[2].name, "sub/dir/f.py") == 0 &&
			    res.jail.files[2].len == 4 && memcmp(res.jail.files[2].data, "\nF \n", 4) == 0, "a nested name");
		}
		ok(res.jail.trunc_files, "T sets trunc_files");
		ok(res.jail.wall_time > 0 && near(res.jail.wall_time, 10e-6) && near(res.jail.cpu_time, 50e-6) && res.jail.max_rss_kb == 40,
		    "microseconds and kB converted");
		run_result_free(&res);
	}
	{
		static const char s[] = "R exited 0 0 1 1 1 1\nD\ntrailing garbage \xff\n";
		ok(PARSE(s, &res, why) == 0, "bytes after D are ignored");
		run_result_free(&res);
	}
	{
		/* Many files: the array must grow (16, 32, 64, 128...). */
		struct buf b = { 0 };
		bool good;
		buf_printf(&b, "R exited 0 0 1 1 1 1\n");
		for (int i = 0; i < 100; i++) {
			char name[32];
			int nl = snprintf(name, sizeof(name), "f%03d.txt", i);
			buf_printf(&b, "F %d %d\n%s", nl, i, name);
			for (int k = 0; k < i; k++)
				buf_append(&b, (char[]){ (char)(i + k) }, 1);
		}
		buf_printf(&b, "D\n");
		good = parse_n(b.data, b.len, &res, why, sizeof(why)) == 0 && res.jail.nfiles == 100;
		for (size_t i = 0; good && i < res.jail.nfiles; i++) {
			char name[32];
			snprintf(name, sizeof(name), "f%03zu.txt", i);
			good = strcmp(res.jail.files[i].name, name) == 0 && res.jail.files[i].len == i;
			for (size_t k = 0; good && k < i; k++)
				good = res.jail.files[i].data[k] == (unsigned char)(i + k);
		}
		ok(good, "100 files, each with its name and data");
		run_result_free(&res);

		/* Every strict prefix of a complete stream is incomplete: -1, and no read past it. */
		{
			size_t bad = 0;
			for (size_t n = 0; n < b.len; n++) {
				if (parse_n(b.data, n, &res, why, sizeof(why)) != -1)
					bad++;
				run_result_free(&res);
			}
			ok(bad == 0, "all %zu strict prefixes refused (%zu accepted)", b.len, bad);
		}
		buf_free(&b);
	}
}

static void
test_parse_bad(void)
{
	struct run_result res;
	char why[256] = "";
	char *big;

	memset(&res, 0, sizeof(res));
	{
		int rc = PARSE("E cannot mount /proc: Permission denied\n", &res, why);
		ok(rc == -1 && strcmp(why, "cannot mount /proc: Permission denied") == 0, "E record -> -1 with its reason (%s)",
		    why);
		run_result_free(&res);
	}
	REFUSED("E\n", NULL, "bare E record");
	REFUSED("R exited 0 0 1 1 1 1\nE late failure\nD\n", "late failure", "E after R");
	{
		int rc = PARSE("I create an input file: No space left on device\n", &res, why);
		ok(rc == -2 && strstr(why, "No space left"), "I record -> -2 with its reason (rc %d, %s)", rc, why);
		run_result_free(&res);
	}
	{
		int rc = PARSE("L timeout above the configured maximum\n", &res, why);
		ok(rc == -3 && strcmp(why, "timeout above the configured maximum") == 0,
		    "L record -> -3 with its reason (rc %d, %s)", rc, why);
		run_result_free(&res);
		rc = PARSE("L\n", &res, why);
		ok(rc == -3 && why[0] != '\0', "bare L record -> -3 with a reason (rc %d, %s)", rc, why);
		run_result_free(&res);
		rc = PARSE("R exited 0 0 1 1 1 1\nL late\nD\n", &res, why);
		ok(rc == -3, "L after R -> -3: nothing of the run is trusted (rc %d)", rc);
		run_result_free(&res);
	}
	{
		int rc = PARSE("X 2 exec /env/bin/python: No such file or directory\n", &res, why);
		ok(rc == -4 && res.jail.start_errno == 2 && strcmp(why, "exec /env/bin/python: No such file or directory") == 0,
		    "X record -> -4 with its errno and reason (rc %d, errno %d, %s)", rc, res.jail.start_errno, why);
		run_result_free(&res);
		REFUSED("X\n", "malformed start record", "bare X record");
		REFUSED("X 0 exec x: Success\n", "malformed start record", "X record with errno 0");
		REFUSED("X -5 exec x: y\n", "malformed start record", "X record with a negative errno");
		REFUSED("X two exec x: y\n", "malformed start record", "X record without an errno");
	}
	{
		int rc = PARSE("Z the environment grew past max_env_size (100 bytes)\nR killed -1 0 5 1 1 100\n"
		    "S 4096 12\nD\n", &res, why);
		ok(rc == 0 && strcmp(res.jail.env_limit, "the environment grew past max_env_size (100 bytes)") == 0 &&
		    res.jail.env_bytes == 4096 && res.jail.env_inodes == 12 && res.status == RUN_KILLED,
		    "Z before R and S after it: the limit and the measure (rc %d, %s)", rc, res.jail.env_limit);
		run_result_free(&res);
		rc = PARSE("R exited 0 0 5 1 1 100\nD\n", &res, why);
		ok(rc == 0 && res.jail.env_bytes == -1 && res.jail.env_inodes == -1 && res.jail.env_limit[0] == '\0',
		    "no S record: not measured (-1)");
		run_result_free(&res);
		REFUSED("R exited 0 0 5 1 1 100\nZ late\nD\n", "malformed limit record", "Z after R");
		REFUSED("Z\nR exited 0 0 5 1 1 100\nD\n", "malformed limit record", "bare Z record");
		REFUSED("S 1 1\nR exited 0 0 5 1 1 100\nD\n", "malformed size record", "S before R");
		REFUSED("R exited 0 0 5 1 1 100\nS -1 3\nD\n", "malformed size record", "negative S");
		REFUSED("R exited 0 0 5 1 1 100\nS 1\nD\n", "malformed size record", "S with one number");
	}
	REFUSED("", NULL, "empty stream");
	REFUSED("D\n", NULL, "D without R");
	REFUSED("T\nD\n", NULL, "T and D without R");
	REFUSED("R exited 0 0 1 1 1 1\n", NULL, "R without D");
	REFUSED("R exited 0 0 1 1 1 1\nT\n", NULL, "R and T without D");
	REFUSED("R exited 0 0 1 1 1 1", NULL, "R without its newline");
	REFUSED("F 1 1\nab\nR exited 0 0 1 1 1 1\nD\n", NULL, "F before R");
	REFUSED("R exited 0 0 1 1 1 1\nF 3 100\nabcdef\nD\n", NULL, "data length past the end");
	REFUSED("R exited 0 0 1 1 1 1\nF 100 1\nabc\nD\n", NULL, "name length past the end");
	REFUSED("R exited 0 0 1 1 1 1\nF 3 2\nab", NULL, "name cut by the end");
	REFUSED("R exited 0 0 1 1 1 1\nF 0 1\nx\nD\n", NULL, "empty name");
	REFUSED("R exited 0 0 1 1 1 1\nF -1 1\nx\nD\n", NULL, "negative name length");
	REFUSED("R exited 0 0 1 1 1 1\nF 1 -1\nx\nD\n", NULL, "negative data length");
	REFUSED("R exited 0 0 1 1 1 1\nF 1 18446744073709551615\nx\nD\n", NULL, "SIZE_MAX data length");
	REFUSED("R exited 0 0 1 1 1 1\nF 18446744073709551615 1\nx\nD\n", NULL, "SIZE_MAX name length");
	REFUSED("R exited 0 0 1 1 1 1\nF 1 18446744073709551614\nx\nD\n", NULL, "data length wrapping with the name");
	REFUSED("R exited 0 0 1 1 1 1\nF 1\nx\nD\n", NULL, "F with one number");
	REFUSED("R exited 0 0 1 1 1 1\nF a b\nx\nD\n", NULL, "F with words");
	REFUSED("R exited 0 0 1 1 1 1\nX what\nD\n", NULL, "unknown record X");
	REFUSED("R exited 0 0 1 1 1 1\n\nD\n", NULL, "empty line");
	REFUSED("R bogus 0 0 1 1 1 1\nD\n", NULL, "unknown outcome");
	REFUSED("R exited 0 0 1 1 1\nD\n", NULL, "R with 6 fields");
	REFUSED("R exited\nD\n", NULL, "bare R");
	REFUSED("R exited 0 0 x 1 1 1\nD\n", NULL, "R with a word for a number");
	REFUSED("r exited 0 0 1 1 1 1\nD\n", NULL, "lower-case r");
	{
		size_t n = 5000;
		big = xmalloc(n + 64);
		memcpy(big, "R exited 0 0 1 1 1 1\nF 4097 0\n", 31);
		memset(big + 31, 'n', 4097);
		memcpy(big + 31 + 4097, "D\n", 2);
		refused_n(big, 31 + 4097 + 2, NULL, "a 4097-byte name");
		memset(big, '1', n);
		memcpy(big, "R exited 0 0 ", 13);
		big[n - 1] = '\n';
		refused_n(big, n, NULL, "a 5000-byte R line");
		memset(big, 'x', n);
		memcpy(big, "E ", 2);
		big[n - 1] = '\n';
		refused_n(big, n, NULL, "a 5000-byte E line");
		memset(big, 'R', n);
		refused_n(big, n, NULL, "5000 bytes without a newline");
		free(big);
	}
	{
		/* Lines of 254/255/256 bytes around the parser's line buffer: must not overflow it. */
		for (size_t len = 250; len <= 260; len++) {
			big = xmalloc(len + 3);
			memset(big, ' ', len);
			memcpy(big, "R exited 0 0 1 1 1 1", 20);
			big[len] = '\n';
			memcpy(big + len + 1, "D\n", 2);
			{
				int rc = parse_n(big, len + 3, &res, why, sizeof(why));
				/* Padding keeps a short line valid; past the line buffer it may be refused, never overrun. */
				ok(len < 255 ? rc == 0 : rc == 0 || rc == -1, "a %zu-byte R line is handled (rc %d)", len, rc);
				run_result_free(&res);
			}
			free(big);
		}
	}
}

/* Random and mutated streams: only ASan/UBSan judge these; the result must be 0, -1 or -2. */
static void
test_parse_fuzz(void)
{
	static const char seed[] =
	    "R exited 0 0 10 20 30 40\nF 5 6\nab\ncd\0\nD\n\xff" "EF 7 0\nempty.xT\nE x\nI y\nD\n";
	uint64_t st = 0x2545f4914f6cdd1dULL;
	struct run_result res;
	char why[64], buf[sizeof(seed) + 16];
	size_t odd = 0;

	for (int iter = 0; iter < 20000; iter++) {
		size_t n = sizeof(seed) - 1;
		memcpy(buf, seed, n);
		for (int k = 0; k < 1 + iter % 4; k++) {
			st ^= st << 13;
			st ^= st >> 7;
			st ^= st << 17;
			if (n == 0 && st % 4 < 3)
				continue;
			switch (st % 4) {
			case 0: buf[st / 7 % n] = (char)(st >> 40); break;		/* flip a byte */
			case 1: buf[st / 7 % n] = "RFTDEI \n0123456789-"[st / 11 % 19]; break;
			case 2: n = st / 5 % (n + 1); break;				/* cut */
			case 3: if (n < sizeof(buf)) buf[n++] = (char)(st >> 32); break;	/* grow */
			}
		}
		{
			int rc = parse_n(buf, n, &res, why, sizeof(why));
			if (rc != 0 && rc != -1 && rc != -2)
				odd++;
		}
		run_result_free(&res);
	}
	ok(odd == 0, "20000 mutated streams parsed without a stray result");
}

/* Each failure record: what it answers and which failure it names. */
static void
test_failures(void)
{
	static const struct { const char *s; int rc; enum jail_failure f; } cases[] = {
		{ "E x\n", -1, JAIL_FAIL_SETUP }, { "I x\n", -2, JAIL_FAIL_INPUT }, { "G x\n", -2, JAIL_FAIL_ENV_GONE },
		{ "L x\n", -3, JAIL_FAIL_LIMITS }, { "X 2 x\n", -4, JAIL_FAIL_START }, { "Q x\n", -1, JAIL_FAIL_PROTOCOL },
		{ "W x\n", -1, JAIL_FAIL_WARM_GONE },
		{ "R exited 0 0 1 1 1 1\n", -1, JAIL_FAIL_PROTOCOL },
	};
	struct run_result res;
	char why[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = parse_n(cases[i].s, strlen(cases[i].s), &res, why, sizeof(why));

		ok(rc == cases[i].rc && last_failure == cases[i].f, "'%.1s' record -> %d, failure %d (got %d, %d)",
		    cases[i].s, cases[i].rc, (int)cases[i].f, rc, (int)last_failure);
		run_result_free(&res);
	}
	ok(PARSE("G environment 'ds' is no longer available: No such file or directory\n", &res, why) == -2 &&
	    strcmp(why, "environment 'ds' is no longer available: No such file or directory") == 0,
	    "G record: the environment gone, with its reason (%s)", why);
	run_result_free(&res);
}

/* What the jail's writers write, the parser reads back. */
static void
test_writers(void)
{
	int fd = memfd_create("status", 0);
	struct run_result res;
	char why[256], *text;
	off_t n;

	if (fd == -1) {
		ok(0, "memfd: %s", strerror(errno));
		return;
	}
	ok(jail_write_env_limit(fd, "too big") == 0 &&
	    jail_write_result(fd, "exited", 3, 0, 1500000, 200000, 50000, 777) == 0 &&
	    jail_write_file(fd, "out/a.txt", "abc\n", 4) == 0 && jail_write_file(fd, "empty", "", 0) == 0 &&
	    jail_write_truncated(fd) == 0 && jail_write_env_size(fd, 4096, 12) == 0 &&
	    jail_write_cgroup(fd, 1, 1 << 20) == 0 && jail_write_done(fd) == 0, "every record written");
	n = lseek(fd, 0, SEEK_CUR);
	text = xmalloc((size_t)n);
	ok(pread(fd, text, (size_t)n, 0) == n, "read back");
	ok(parse_n(text, (size_t)n, &res, why, sizeof(why)) == 0, "the writers' stream parses (%s)", why);
	ok(res.jail.how == JAIL_EXITED && res.jail.exit_code == 3 && res.jail.max_rss_kb == 777 &&
	    res.jail.nfiles == 2 && strcmp(res.jail.files[0].name, "out/a.txt") == 0 && res.jail.files[0].len == 4 &&
	    res.jail.files[1].len == 0 && res.jail.trunc_files && res.jail.env_bytes == 4096 &&
	    res.jail.env_inodes == 12 && res.jail.oom_kills == 1 && res.jail.mem_peak == 1 << 20 &&
	    strcmp(res.jail.env_limit, "too big") == 0, "every field read back as written");
	ok(res.status == RUN_MEMORY && strcmp(res.error, "Memory limit of 512 MB exceeded") == 0,
	    "an OOM kill in a failed run is the memory limit (%s)", res.error);
	run_result_free(&res);
	free(text);
	close(fd);
	fd = memfd_create("status", 0);
	jail_write_failure(fd, JAIL_FAIL_START, ENOENT, "exec /env/bin/python");
	n = lseek(fd, 0, SEEK_CUR);
	text = xmalloc((size_t)n);
	ok(pread(fd, text, (size_t)n, 0) == n && parse_n(text, (size_t)n, &res, why, sizeof(why)) == -4 &&
	    res.jail.start_errno == ENOENT && strcmp(why, "exec /env/bin/python: No such file or directory") == 0,
	    "a start failure written is read back with its errno (%s)", why);
	run_result_free(&res);
	free(text);
	close(fd);
	/* The longest a writer writes (a message cut at 500 bytes: a long interpreter path, say) is still a
	 * record the parser takes for what it is, never a malformed stream (the sandbox's fault). */
	{
		char path[2000];

		memset(path, 'p', sizeof(path) - 1);
		path[sizeof(path) - 1] = '\0';
		fd = memfd_create("status", 0);
		jail_write_failure(fd, JAIL_FAIL_START, ENOENT, path);
		jail_write_failure(fd, JAIL_FAIL_SETUP, 0, path);
		n = lseek(fd, 0, SEEK_CUR);
		text = xmalloc((size_t)n);
		ok(pread(fd, text, (size_t)n, 0) == n && text[n - 1] == '\n' &&
		    parse_n(text, (size_t)n, &res, why, sizeof(why)) == -4 && last_failure == JAIL_FAIL_START &&
		    res.jail.start_errno == ENOENT, "a start failure with a 2000-byte path is still a start failure");
		run_result_free(&res);
		free(text);
		close(fd);
	}
}

/* jail_args_to_argv and jail_args_parse are one table read both ways. */
static void
test_args(void)
{
	static char *prog[] = { "one", "--not-an-option", "" };
	struct jail_args a, b;
	struct buf bytes = { 0 };
	char *argv[JAIL_MAX_ARGV], why[200];
	int argc;

	jail_args_init(&a);
	a.verb = JAIL_VERB_RUN;
	snprintf(a.config, sizeof(a.config), "/etc/pysandbox/pysandbox.conf");
	a.slot = 7;
	a.timeout_ms = 1500;
	a.memory_mb = 256;
	a.cpus_milli = 500;
	a.max_files = 10;
	a.max_return_bytes = 1 << 20;
	a.net = true;
	snprintf(a.env, sizeof(a.env), ".build-12");
	a.build = true;
	snprintf(a.python, sizeof(a.python), "/usr/bin/python3.11");
	a.prog_args = prog;
	a.nprog_args = 3;
	argc = jail_args_to_argv(&a, &bytes, argv, JAIL_MAX_ARGV);
	ok(argc > 0 && strcmp(argv[0], "pysandbox-jail") == 0 && strcmp(argv[argc - 4], "run") == 0 &&
	    argv[argc] == NULL, "argv written: %d strings, the verb before the program's arguments", argc);
	ok(jail_args_parse(argc, argv, &b, why, sizeof(why)) == SBX_OK, "and read back (%s)", why);
	ok(b.verb == JAIL_VERB_RUN && strcmp(b.config, a.config) == 0 && b.slot == 7 && b.timeout_ms == 1500 &&
	    b.memory_mb == 256 && b.cpus_milli == 500 && b.max_files == 10 && b.max_return_bytes == 1 << 20 &&
	    b.net && b.build && strcmp(b.env, ".build-12") == 0 && strcmp(b.python, a.python) == 0 &&
	    b.nprog_args == 3 && strcmp(b.prog_args[1], "--not-an-option") == 0 && b.prog_args[2][0] == '\0',
	    "every field as written, the program's arguments untouched");
	buf_free(&bytes);

	jail_args_init(&a);
	a.verb = JAIL_VERB_REMOVE;
	snprintf(a.target, sizeof(a.target), ".trash-3");
	argc = jail_args_to_argv(&a, &bytes, argv, JAIL_MAX_ARGV);
	ok(argc == 3 && jail_args_parse(argc, argv, &b, why, sizeof(why)) == SBX_OK && b.verb == JAIL_VERB_REMOVE &&
	    strcmp(b.target, ".trash-3") == 0, "remove .trash-3 both ways");
	buf_free(&bytes);
	{
		static const struct { char *argv[8]; const char *why; } bad[] = {
			{ { "j", "--slot", "1", "--timeout-ms", "1", "run", NULL }, "are required" },
			{ { "j", "--slot", "1", "--timeout-ms", "1", "--memory-mb", "31", "run" }, "outside [32, 65536]" },
			{ { "j", "--slot", "1e3", "run", NULL }, "argument slot=1e3 outside" },
			{ { "j", "--bogus", "run", NULL }, "unknown option" },
			{ { "j", "--slot", NULL }, "missing" },
			{ { "j", "--slot", "1", NULL }, "no verb" },
			{ { "j", "frobnicate", NULL }, "unknown verb" },
			{ { "j", "remove", NULL }, "usage" },
			{ { "j", "--env", "", "sweep", NULL }, "empty or too long" },
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			int n = 0;

			while (n < 8 && bad[i].argv[n])
				n++;
			ok(jail_args_parse(n, bad[i].argv, &b, why, sizeof(why)) == SBX_EINVAL && strstr(why, bad[i].why),
			    "refused: %s (%s)", bad[i].why, why);
		}
	}
}

/* A warm standby takes a plain run of its own slot asking for no more than its profile, and nothing else. */
static void
test_within_profile(void)
{
	struct jail_args profile, a;

	jail_args_init(&profile);
	profile.verb = JAIL_VERB_WARM;
	profile.slot = 5;
	profile.timeout_ms = 300000;
	profile.memory_mb = 2048;
	profile.cpus_milli = 2000;
	profile.max_files = 100;
	profile.max_return_bytes = 1 << 20;
	a = profile;
	a.verb = JAIL_VERB_RUN;
	a.timeout_ms = 1000;
	a.memory_mb = 64;
	ok(jail_args_within(&a, &profile), "a smaller plain run of the slot fits its profile");
	a.slot = 4;
	ok(!jail_args_within(&a, &profile), "another slot does not");
	a.slot = 5;
	a.memory_mb = 4096;
	ok(!jail_args_within(&a, &profile), "more memory than the profile does not");
	a.memory_mb = 64;
	a.net = true;
	ok(!jail_args_within(&a, &profile), "a run with network does not");
	a.net = false;
	snprintf(a.env, sizeof(a.env), "ds");
	ok(!jail_args_within(&a, &profile), "a run in an environment does not");
}

int
main(void)
{
	test_parse_ok();
	test_parse_bad();
	test_parse_fuzz();
	test_failures();
	test_writers();
	test_args();
	test_within_profile();
	return done_testing();
}
