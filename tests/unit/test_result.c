/* test_result.c: TAP tests of the /execute response serialiser (result.c) and the status names. */
#include "config.h"

#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "b64.h"
#include "buf.h"
#include "result.h"
#include "run.h"
#include "tap.h"
#include "testjson.h"
#include "testutil.h"

/* The string value of key is the base64 (no newlines) of want[0..n). */
static bool
b64_is(json_object *o, const char *key, const void *want, size_t n)
{
	json_object *v = json_get(o, key);
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

static void
add_file(struct run_result *r, const char *name, size_t nlen, const void *data, size_t len)
{
	struct jail_file *f;

	r->jail.files = realloc(r->jail.files, (r->jail.nfiles + 1) * sizeof(*r->jail.files));
	if (r->jail.files == NULL)
		exit(99);
	f = &r->jail.files[r->jail.nfiles++];
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
	r.jail.exit_code = 0;
	buf_append(&r.out, out, sizeof(out) - 1);
	buf_append(&r.err, "warn: \"quoted\" \\ </script>\n", 28);
	r.jail.wall_time = 1.234567;
	r.jail.cpu_time = 0.5;
	r.jail.max_rss_kb = 20480;
	add_file(&r, "out.bin", 7, data, sizeof(data));
	add_file(&r, "sub/r\xe9sum\xe9.txt", 15, "x", 1);
	add_file(&r, "empty", 5, "", 0);

	o = serialise(&r, NULL, false, "success result");
	ok(json_is(o, "success", json_type_boolean) && json_object_get_boolean(json_get(o, "success")), "success: true");
	{
		static const char want[] = "hello \xef\xbf\xbd world\n\xe6\x97\xa5";
		ok(json_str_is(o, "stdout", want, sizeof(want) - 1), "stdout: 0xFF replaced by U+FFFD, rest kept");
	}
	ok(json_str_is(o, "stderr", "warn: \"quoted\" \\ </script>\n", 28), "stderr kept byte for byte");
	ok(json_has_null(o, "error"), "error: null on success");
	ok((json_is(o, "execution_time", json_type_double) || json_is(o, "execution_time", json_type_int)) &&
	    near(json_object_get_double(json_get(o, "execution_time")), 1.234567), "execution_time: 1.234567");
	files = json_get(o, "files");
	ok(json_object_is_type(files, json_type_object) && json_object_object_length(files) == 3, "files: 3 entries");
	ok(b64_is(files, "out.bin", data, sizeof(data)), "files: out.bin is its base64, no newline (200 bytes > 72 columns)");
	ok(b64_is(files, "sub/r\xef\xbf\xbdsum\xef\xbf\xbd.txt", "x", 1), "files: a non-UTF-8 name is sanitised");
	ok(b64_is(files, "empty", "", 0), "files: empty file is \"\"");
	ok(json_is(o, "exit_code", json_type_int) && json_object_get_int(json_get(o, "exit_code")) == 0, "exit_code: 0");
	ok(json_has_null(o, "signal"), "signal: null");
	ok(json_str_is(o, "status", "ok", 2), "status: ok");
	t = json_get(o, "truncated");
	ok(json_object_is_type(t, json_type_object) && json_object_object_length(t) == 3 &&
	    json_is(t, "stdout", json_type_boolean) && !json_object_get_boolean(json_get(t, "stdout")) &&
	    json_is(t, "stderr", json_type_boolean) && !json_object_get_boolean(json_get(t, "stderr")) &&
	    json_is(t, "files", json_type_boolean) && !json_object_get_boolean(json_get(t, "files")),
	    "truncated: {stdout, stderr, files} all false");
	rs = json_get(o, "resources");
	ok(json_object_is_type(rs, json_type_object) &&
	    (json_is(rs, "cpu_time", json_type_double) || json_is(rs, "cpu_time", json_type_int)) &&
	    near(json_object_get_double(json_get(rs, "cpu_time")), 0.5) &&
	    json_is(rs, "max_rss_kb", json_type_int) && json_object_get_int64(json_get(rs, "max_rss_kb")) == 20480,
	    "resources: cpu_time 0.5, max_rss_kb 20480");
	ok(json_has_null(o, "environment"), "environment: null");
	ok(json_get(o, "stdout_base64") == NULL && json_get(o, "stderr_base64") == NULL && !json_has_null(o, "stdout_base64"),
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
	r.jail.exit_code = -1;
	r.jail.signal = SIGKILL;
	snprintf(r.error, sizeof(r.error), "Killed by signal SIGKILL");
	buf_append(&r.out, raw, sizeof(raw) - 1);
	r.trunc_out = r.trunc_err = r.jail.trunc_files = true;
	r.jail.wall_time = 300.5;

	o = serialise(&r, "data-science", true, "killed result");
	ok(json_is(o, "success", json_type_boolean) && !json_object_get_boolean(json_get(o, "success")), "success: false");
	ok(json_str_is(o, "error", "Killed by signal SIGKILL", 24), "error: the sentence");
	ok(json_has_null(o, "exit_code"), "exit_code: null when it did not exit");
	ok(json_str_is(o, "signal", "SIGKILL", 7), "signal: SIGKILL");
	ok(json_str_is(o, "status", "killed", 6), "status: killed");
	ok(json_str_is(o, "environment", "data-science", 12), "environment: its name");
	ok(near(json_object_get_double(json_get(o, "execution_time")), 300.5), "execution_time: 300.5");
	t = json_get(o, "truncated");
	ok(json_object_get_boolean(json_get(t, "stdout")) && json_object_get_boolean(json_get(t, "stderr")) &&
	    json_object_get_boolean(json_get(t, "files")), "truncated: all true");
	{
		json_object *s = json_get(o, "stdout");
		const char *p = json_object_get_string(s);
		size_t n = (size_t)json_object_get_string_len(s);
		/* FF, FE each one U+FFFD; NUL kept; the cut sequence at the end one more (at least one). */
		ok(n >= 13 && memcmp(p, "\xef\xbf\xbd\xef\xbf\xbd\0abc\xef\xbf\xbd", 13) == 0 && utf8_valid(p, n),
		    "stdout: invalid bytes replaced, NUL kept");
	}
	ok(b64_is(o, "stdout_base64", raw, sizeof(raw) - 1), "stdout_base64: the raw bytes");
	ok(b64_is(o, "stderr_base64", "", 0), "stderr_base64: \"\" for no output");
	ok(json_object_is_type(json_get(o, "files"), json_type_object) && json_object_object_length(json_get(o, "files")) == 0,
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
			e.jail.exit_code = names[i].s == RUN_OK ? 0 : 1;
			if (names[i].s != RUN_OK)
				snprintf(e.error, sizeof(e.error), "Process exited with status 1");
			snprintf(what, sizeof(what), "status %s", names[i].name);
			is_str(run_status_name(names[i].s), names[i].name, "run_status_name(%d)", (int)names[i].s);
			o = serialise(&e, NULL, true, what);
			ok(json_str_is(o, "status", names[i].name, strlen(names[i].name)) &&
			    json_object_get_boolean(json_get(o, "success")) == (names[i].s == RUN_OK) &&
			    json_str_is(o, "stdout", "", 0) && json_str_is(o, "stderr", "", 0) && b64_is(o, "stdout_base64", "", 0) &&
			    (names[i].s == RUN_OK ? json_has_null(o, "error") : json_is(o, "error", json_type_string)) &&
			    json_object_get_int(json_get(o, "exit_code")) == e.jail.exit_code,
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
		f = json_get(o, "files");
		ok(json_object_object_length(f) == 2 || json_object_get_boolean(json_get(json_get(o, "truncated"), "files")),
		    "files whose names sanitise alike: none silently lost (%d kept)", json_object_object_length(f));
		json_object_put(o);
		run_result_free(&e);
	}
}

int
main(void)
{
	test_json_ok();
	test_json_failures();
	return done_testing();
}
