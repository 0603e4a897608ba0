/* test_result.c: TAP tests of the jail status parser, the /execute response serialiser, routing and Content-Length. */
#include "config.h"

#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "b64.h"
#include "buf.h"
#include "conf.h"
#include "http.h"
#include "pool.h"
#include "run.h"
#include "tap.h"

/* Defined in pool.c, which is not linked here; health.c and http.c use it. */
struct scoreboard *scoreboard;

static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL) {
		perror("malloc");
		exit(99);
	}
	return p;
}

/* run_parse_status over an exact-size heap copy, so that ASan catches any read past the stream. */
static int
parse_n(const char *s, size_t n, struct run_result *res, char *why, size_t whylen)
{
	char *copy = xmalloc(n);
	int rc;

	memcpy(copy, s, n);
	memset(res, 0, sizeof(*res));
	res->exit_code = -1;
	rc = run_parse_status(copy, n, res, why, whylen);
	free(copy);
	return rc;
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

static bool
near(double a, double b)
{
	return fabs(a - b) < 1e-9;
}

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
		ok(rc == 0 && res.status == outcomes[i].st && res.exit_code == outcomes[i].code &&
		    res.signal == outcomes[i].sig && near(res.wall_time, 1.5) && near(res.cpu_time, 0.25) &&
		    res.max_rss_kb == 12345 && res.nfiles == 0 && !res.trunc_files,
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
		ok(res.nfiles == 3, "3 files (got %zu)", res.nfiles);
		if (res.nfiles == 3) {
			ok(res.files[0].name_len == 5 && memcmp(res.files[0].name, "ab\ncd", 6) == 0,
			    "a name with a newline, NUL-terminated");
			ok(res.files[0].len == 6 && memcmp(res.files[0].data, "\0\nD\n\xff" "E", 6) == 0,
			    "binary data with NUL, newlines and record letters");
			ok(res.files[1].name_len == 7 && strcmp(res.files[1].name, "empty.x") == 0 && res.files[1].len == 0,
			    "an empty file");
			ok(res.files[2].name_len == 12 && strcmp(res.files[2].name, "sub/dir/f.py") == 0 &&
			    res.files[2].len == 4 && memcmp(res.files[2].data, "\nF \n", 4) == 0, "a nested name");
		}
		ok(res.trunc_files, "T sets trunc_files");
		ok(res.wall_time > 0 && near(res.wall_time, 10e-6) && near(res.cpu_time, 50e-6) && res.max_rss_kb == 40,
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
		good = parse_n(b.data, b.len, &res, why, sizeof(why)) == 0 && res.nfiles == 100;
		for (size_t i = 0; good && i < res.nfiles; i++) {
			char name[32];
			snprintf(name, sizeof(name), "f%03zu.txt", i);
			good = strcmp(res.files[i].name, name) == 0 && res.files[i].len == i;
			for (size_t k = 0; good && k < i; k++)
				good = res.files[i].data[k] == (unsigned char)(i + k);
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
		ok(rc == -4 && res.start_errno == 2 && strcmp(why, "exec /env/bin/python: No such file or directory") == 0,
		    "X record -> -4 with its errno and reason (rc %d, errno %d, %s)", rc, res.start_errno, why);
		run_result_free(&res);
		REFUSED("X\n", "malformed start record", "bare X record");
		REFUSED("X 0 exec x: Success\n", "malformed start record", "X record with errno 0");
		REFUSED("X -5 exec x: y\n", "malformed start record", "X record with a negative errno");
		REFUSED("X two exec x: y\n", "malformed start record", "X record without an errno");
	}
	{
		int rc = PARSE("Z the environment grew past max_env_size (100 bytes)\nR killed -1 0 5 1 1 100\n"
		    "S 4096 12\nD\n", &res, why);
		ok(rc == 0 && strcmp(res.env_limit, "the environment grew past max_env_size (100 bytes)") == 0 &&
		    res.env_bytes == 4096 && res.env_inodes == 12 && res.status == RUN_KILLED,
		    "Z before R and S after it: the limit and the measure (rc %d, %s)", rc, res.env_limit);
		run_result_free(&res);
		rc = PARSE("R exited 0 0 5 1 1 100\nD\n", &res, why);
		ok(rc == 0 && res.env_bytes == -1 && res.env_inodes == -1 && res.env_limit[0] == '\0',
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

static json_object *
get(json_object *o, const char *key)
{
	json_object *v = NULL;

	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static bool
has_null(json_object *o, const char *key)
{
	static int sentinel;
	json_object *v = (json_object *)&sentinel;

	/* Present, and JSON null. */
	return json_object_object_get_ex(o, key, &v) && v == NULL;
}

static bool
is_type(json_object *o, const char *key, json_type t)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && v != NULL && json_object_is_type(v, t);
}

/* The string value of key is the base64 (no newlines) of want[0..n). */
static bool
b64_is(json_object *o, const char *key, const void *want, size_t n)
{
	json_object *v = get(o, key);
	unsigned char *dec = NULL;
	size_t dlen = 0;
	bool good;

	if (!json_object_is_type(v, json_type_string))
		return false;
	good = memchr(json_object_get_string(v), '\n', (size_t)json_object_get_string_len(v)) == NULL &&
	    b64_decode(json_object_get_string(v), (size_t)json_object_get_string_len(v), &dec, &dlen) == 0 &&
	    dlen == n && (n == 0 || memcmp(dec, want, n) == 0);
	free(dec);
	return good;
}

static bool
str_is(json_object *o, const char *key, const char *want, size_t n)
{
	json_object *v = get(o, key);

	return json_object_is_type(v, json_type_string) && (size_t)json_object_get_string_len(v) == n &&
	    memcmp(json_object_get_string(v), want, n) == 0;
}

static void
add_file(struct run_result *r, const char *name, size_t nlen, const void *data, size_t len)
{
	struct run_file *f;

	r->files = realloc(r->files, (r->nfiles + 1) * sizeof(*r->files));
	if (r->files == NULL)
		exit(99);
	f = &r->files[r->nfiles++];
	f->name = xmalloc(nlen + 1);
	memcpy(f->name, name, nlen);
	f->name[nlen] = '\0';
	f->name_len = nlen;
	f->data = xmalloc(len);
	memcpy(f->data, data, len);
	f->len = len;
}

/* Serialise, check the text is valid UTF-8 JSON, and parse it back. */
static json_object *
serialise(const struct run_result *r, const char *env, bool b64, const char *what)
{
	char *txt = run_result_json(r, env, b64);
	json_object *o = NULL;
	json_tokener *tok;

	ok(txt != NULL && utf8_valid(txt, strlen(txt)), "%s: serialised as valid UTF-8", what);
	if (txt == NULL)
		return NULL;
	tok = json_tokener_new();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, txt, (int)strlen(txt) + 1);
	ok(json_object_is_type(o, json_type_object), "%s: parses back as a JSON object", what);
	if (!json_object_is_type(o, json_type_object))
		printf("#   %s\n", txt);
	json_tokener_free(tok);
	free(txt);
	return o;
}

static void
test_json_ok(void)
{
	struct run_result r = { 0 };
	unsigned char data[200];
	json_object *o, *files, *t, *rs;
	static const char out[] = "hello \xff world\n\xe6\x97\xa5";

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 37 + 11);
	r.status = RUN_OK;
	r.exit_code = 0;
	buf_append(&r.out, out, sizeof(out) - 1);
	buf_append(&r.err, "warn: \"quoted\" \\ </script>\n", 28);
	r.wall_time = 1.234567;
	r.cpu_time = 0.5;
	r.max_rss_kb = 20480;
	add_file(&r, "out.bin", 7, data, sizeof(data));
	add_file(&r, "sub/r\xe9sum\xe9.txt", 15, "x", 1);
	add_file(&r, "empty", 5, "", 0);

	o = serialise(&r, NULL, false, "success result");
	ok(is_type(o, "success", json_type_boolean) && json_object_get_boolean(get(o, "success")), "success: true");
	{
		static const char want[] = "hello \xef\xbf\xbd world\n\xe6\x97\xa5";
		ok(str_is(o, "stdout", want, sizeof(want) - 1), "stdout: 0xFF replaced by U+FFFD, rest kept");
	}
	ok(str_is(o, "stderr", "warn: \"quoted\" \\ </script>\n", 28), "stderr kept byte for byte");
	ok(has_null(o, "error"), "error: null on success");
	ok((is_type(o, "execution_time", json_type_double) || is_type(o, "execution_time", json_type_int)) &&
	    near(json_object_get_double(get(o, "execution_time")), 1.234567), "execution_time: 1.234567");
	files = get(o, "files");
	ok(json_object_is_type(files, json_type_object) && json_object_object_length(files) == 3, "files: 3 entries");
	ok(b64_is(files, "out.bin", data, sizeof(data)), "files: out.bin is its base64, no newline (200 bytes > 72 columns)");
	ok(b64_is(files, "sub/r\xef\xbf\xbdsum\xef\xbf\xbd.txt", "x", 1), "files: a non-UTF-8 name is sanitised");
	ok(b64_is(files, "empty", "", 0), "files: empty file is \"\"");
	ok(is_type(o, "exit_code", json_type_int) && json_object_get_int(get(o, "exit_code")) == 0, "exit_code: 0");
	ok(has_null(o, "signal"), "signal: null");
	ok(str_is(o, "status", "ok", 2), "status: ok");
	t = get(o, "truncated");
	ok(json_object_is_type(t, json_type_object) && json_object_object_length(t) == 3 &&
	    is_type(t, "stdout", json_type_boolean) && !json_object_get_boolean(get(t, "stdout")) &&
	    is_type(t, "stderr", json_type_boolean) && !json_object_get_boolean(get(t, "stderr")) &&
	    is_type(t, "files", json_type_boolean) && !json_object_get_boolean(get(t, "files")),
	    "truncated: {stdout, stderr, files} all false");
	rs = get(o, "resources");
	ok(json_object_is_type(rs, json_type_object) &&
	    (is_type(rs, "cpu_time", json_type_double) || is_type(rs, "cpu_time", json_type_int)) &&
	    near(json_object_get_double(get(rs, "cpu_time")), 0.5) &&
	    is_type(rs, "max_rss_kb", json_type_int) && json_object_get_int64(get(rs, "max_rss_kb")) == 20480,
	    "resources: cpu_time 0.5, max_rss_kb 20480");
	ok(has_null(o, "environment"), "environment: null");
	ok(get(o, "stdout_base64") == NULL && get(o, "stderr_base64") == NULL && !has_null(o, "stdout_base64"),
	    "no *_base64 members unless asked");
	json_object_put(o);
	run_result_free(&r);
}

static void
test_json_failures(void)
{
	struct run_result r = { 0 };
	json_object *o, *t;
	static const char raw[] = "\xff\xfe\0abc\xe6\x97";

	r.status = RUN_KILLED;
	r.exit_code = -1;
	r.signal = SIGKILL;
	snprintf(r.error, sizeof(r.error), "Killed by signal SIGKILL");
	buf_append(&r.out, raw, sizeof(raw) - 1);
	r.trunc_out = r.trunc_err = r.trunc_files = true;
	r.wall_time = 300.5;

	o = serialise(&r, "data-science", true, "killed result");
	ok(is_type(o, "success", json_type_boolean) && !json_object_get_boolean(get(o, "success")), "success: false");
	ok(str_is(o, "error", "Killed by signal SIGKILL", 24), "error: the sentence");
	ok(has_null(o, "exit_code"), "exit_code: null when it did not exit");
	ok(str_is(o, "signal", "SIGKILL", 7), "signal: SIGKILL");
	ok(str_is(o, "status", "killed", 6), "status: killed");
	ok(str_is(o, "environment", "data-science", 12), "environment: its name");
	ok(near(json_object_get_double(get(o, "execution_time")), 300.5), "execution_time: 300.5");
	t = get(o, "truncated");
	ok(json_object_get_boolean(get(t, "stdout")) && json_object_get_boolean(get(t, "stderr")) &&
	    json_object_get_boolean(get(t, "files")), "truncated: all true");
	{
		json_object *s = get(o, "stdout");
		const char *p = json_object_get_string(s);
		size_t n = (size_t)json_object_get_string_len(s);
		/* FF, FE each one U+FFFD; NUL kept; the cut sequence at the end one more (at least one). */
		ok(n >= 13 && memcmp(p, "\xef\xbf\xbd\xef\xbf\xbd\0abc\xef\xbf\xbd", 13) == 0 && utf8_valid(p, n),
		    "stdout: invalid bytes replaced, NUL kept");
	}
	ok(b64_is(o, "stdout_base64", raw, sizeof(raw) - 1), "stdout_base64: the raw bytes");
	ok(b64_is(o, "stderr_base64", "", 0), "stderr_base64: \"\" for no output");
	ok(json_object_is_type(get(o, "files"), json_type_object) && json_object_object_length(get(o, "files")) == 0,
	    "files: {}");
	json_object_put(o);
	run_result_free(&r);

	/* Every status name, and an empty result (NULL buffers). */
	{
		static const struct { enum run_status s; const char *name; } names[] = {
			{ RUN_OK, "ok" }, { RUN_ERROR, "error" }, { RUN_TIMEOUT, "timeout" },
			{ RUN_MEMORY, "memory_limit" }, { RUN_OUTPUT, "output_limit" }, { RUN_KILLED, "killed" },
		};
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			struct run_result e = { 0 };
			char what[64];
			e.status = names[i].s;
			e.exit_code = names[i].s == RUN_OK ? 0 : 1;
			if (names[i].s != RUN_OK)
				snprintf(e.error, sizeof(e.error), "Process exited with status 1");
			snprintf(what, sizeof(what), "status %s", names[i].name);
			is_str(run_status_name(names[i].s), names[i].name, "run_status_name(%d)", (int)names[i].s);
			o = serialise(&e, NULL, true, what);
			ok(str_is(o, "status", names[i].name, strlen(names[i].name)) &&
			    json_object_get_boolean(get(o, "success")) == (names[i].s == RUN_OK) &&
			    str_is(o, "stdout", "", 0) && str_is(o, "stderr", "", 0) && b64_is(o, "stdout_base64", "", 0) &&
			    (names[i].s == RUN_OK ? has_null(o, "error") : is_type(o, "error", json_type_string)) &&
			    json_object_get_int(get(o, "exit_code")) == e.exit_code,
			    "%s: status, success, error, exit_code and empty output", what);
			json_object_put(o);
		}
	}
	{
		/* Two names that sanitise alike must not silently lose a file: both kept, or truncated.files set. */
		struct run_result e = { 0 };
		json_object *f;
		add_file(&e, "a\xff", 2, "1", 1);
		add_file(&e, "a\xfe", 2, "2", 1);
		o = serialise(&e, NULL, false, "colliding names");
		f = get(o, "files");
		ok(json_object_object_length(f) == 2 || json_object_get_boolean(get(get(o, "truncated"), "files")),
		    "files whose names sanitise alike: none silently lost (%d kept)", json_object_object_length(f));
		json_object_put(o);
		run_result_free(&e);
	}
}

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

static void
test_health(void)
{
	struct conf c;
	json_object *o;
	char *txt;
	int status = 0;

	conf_defaults(&c);
	scoreboard = calloc(1, sizeof(*scoreboard));
	if (scoreboard == NULL)
		exit(99);
	scoreboard->healthy = 1;
	snprintf(scoreboard->isolation, sizeof(scoreboard->isolation), "{\"seccomp\":false}");
	snprintf(scoreboard->python_version, sizeof(scoreboard->python_version), "3.11.2");
	scoreboard->slot[0].pid = 100;
	scoreboard->slot[0].busy = 1;
	scoreboard->slot[1].pid = 101;
	txt = health_json(&c, &status);
	o = txt ? json_tokener_parse(txt) : NULL;
	ok(status == 200 && str_is(o, "status", "healthy", 7), "health: healthy -> 200");
	{
		json_object *ts = get(o, "timestamp");
		const char *s = json_object_get_string(ts);
		size_t n = s ? strlen(s) : 0;
		/* Python's isoformat() of an aware UTC time: 2026-12-01T19:38:22[.548239]+00:00 */
		ok(s && (n == 25 || n == 32) && s[4] == '-' && s[10] == 'T' && strcmp(s + n - 6, "+00:00") == 0 &&
		    (n == 25 || s[19] == '.'), "health: ISO 8601 UTC timestamp as the original wrote it (%s)",
		    s ? s : "none");
	}
	ok(json_object_get_int(get(get(o, "pool"), "workers")) == 2 && json_object_get_int(get(get(o, "pool"), "busy")) == 1 &&
	    json_object_get_int(get(get(o, "pool"), "idle")) == 1, "health: pool workers 2, busy 1, idle 1");
	ok(json_object_is_type(get(o, "isolation"), json_type_object), "health: isolation object");
	ok(get(o, "reason") == NULL, "health: no reason when healthy");
	json_object_put(o);
	free(txt);
	/* A worker's report alone changes nothing: the master's self-test decides. */
	health_suspect();
	ok(scoreboard->healthy == 1 && scoreboard->selftest_wanted == 1, "health: a suspected failure asks for a self-test");
	scoreboard->healthy = 0;
	snprintf(scoreboard->reason, sizeof(scoreboard->reason), "self-test failed: spawn failed");
	txt = health_json(&c, &status);
	o = txt ? json_tokener_parse(txt) : NULL;
	ok(status == 503 && str_is(o, "status", "unhealthy", 9) && json_object_get_string(get(o, "reason")) &&
	    strstr(json_object_get_string(get(o, "reason")), "spawn failed"), "health: unhealthy -> 503 with the reason");
	json_object_put(o);
	free(txt);
	free(scoreboard);
	scoreboard = NULL;
}

int
main(void)
{
	test_parse_ok();
	test_parse_bad();
	test_parse_fuzz();
	test_json_ok();
	test_json_failures();
	test_route();
	test_content_length();
	test_health();
	return done_testing();
}
