/* fuzz_status.c: fuzz target for jail_parse_status (the jail's status stream), then run_describe and
 * run_result_json on what it parsed. */
#include "config.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "b64.h"
#include "buf.h"
#include "jailproto.h"
#include "result.h"
#include "run.h"
#include "fuzz.h"

/* value must be a string whose base64 decodes to exactly p[0..n). */
static void
check_b64(json_object *value, const void *p, size_t n)
{
	unsigned char *dec;
	size_t declen;

	FUZZ_CHECK(json_object_is_type(value, json_type_string));
	FUZZ_CHECK(b64_decode(json_object_get_string(value), (size_t)json_object_get_string_len(value),
	    &dec, &declen) == 0);
	FUZZ_CHECK(declen == n && (n == 0 || memcmp(dec, p, n) == 0));
	free(dec);
}

/* value must be the string utf8_sanitize makes of p[0..n). */
static void
check_text(json_object *value, const char *p, size_t n)
{
	size_t clen;
	char *clean = utf8_sanitize(p ? p : "", n, &clen);

	FUZZ_CHECK(clean != NULL);
	FUZZ_CHECK(json_object_is_type(value, json_type_string));
	FUZZ_CHECK((size_t)json_object_get_string_len(value) == clen);
	FUZZ_CHECK(memcmp(json_object_get_string(value), clean, clen) == 0);
	free(clean);
}

/* The response body of API.md "POST /execute" for res, checked field by field. */
static void
check_result_json(const struct run_result *res, const char *environment, bool output_base64)
{
	char *text = run_result_json(res, environment, output_base64);
	json_object *o, *v, *files, *trunc, *rsrc;
	bool collided = false;

	FUZZ_CHECK(text != NULL);
	FUZZ_CHECK(utf8_valid(text, strlen(text)));
	o = fuzz_json_strict(text, strlen(text));
	FUZZ_CHECK(o != NULL && json_object_is_type(o, json_type_object));

	FUZZ_CHECK(json_object_object_get_ex(o, "success", &v) && json_object_is_type(v, json_type_boolean));
	FUZZ_CHECK(json_object_get_boolean(v) == (res->status == RUN_OK));
	FUZZ_CHECK(json_object_object_get_ex(o, "status", &v) && json_object_is_type(v, json_type_string));
	FUZZ_CHECK(strcmp(json_object_get_string(v), run_status_name(res->status)) == 0);
	FUZZ_CHECK(json_object_object_get_ex(o, "stdout", &v));
	check_text(v, res->out.data, res->out.len);
	FUZZ_CHECK(json_object_object_get_ex(o, "stderr", &v));
	check_text(v, res->err.data, res->err.len);
	FUZZ_CHECK(json_object_object_get_ex(o, "error", &v));
	FUZZ_CHECK(res->error[0] ? json_object_is_type(v, json_type_string) : v == NULL);
	FUZZ_CHECK(json_object_object_get_ex(o, "execution_time", &v) && json_object_is_type(v, json_type_double));
	FUZZ_CHECK(json_object_object_get_ex(o, "exit_code", &v));
	FUZZ_CHECK(res->jail.exit_code >= 0 ? json_object_is_type(v, json_type_int) && json_object_get_int(v) == res->jail.exit_code
	    : v == NULL);
	FUZZ_CHECK(json_object_object_get_ex(o, "signal", &v));
	FUZZ_CHECK(res->jail.signal ? json_object_is_type(v, json_type_string) &&
	    strncmp(json_object_get_string(v), "SIG", 3) == 0 : v == NULL);
	FUZZ_CHECK(json_object_object_get_ex(o, "environment", &v));
	FUZZ_CHECK(environment ? json_object_is_type(v, json_type_string) &&
	    strcmp(json_object_get_string(v), environment) == 0 : v == NULL);
	FUZZ_CHECK(json_object_object_get_ex(o, "resources", &rsrc) && json_object_is_type(rsrc, json_type_object));
	FUZZ_CHECK(fuzz_is_type(rsrc, "cpu_time", json_type_double) && fuzz_is_type(rsrc, "max_rss_kb", json_type_int));
	FUZZ_CHECK(json_object_object_get_ex(o, "truncated", &trunc) && json_object_is_type(trunc, json_type_object));
	FUZZ_CHECK(fuzz_is_type(trunc, "stdout", json_type_boolean) && fuzz_is_type(trunc, "stderr", json_type_boolean) &&
	    fuzz_is_type(trunc, "files", json_type_boolean));

	/* Each file under its sanitised name (as a C string), the first of those that sanitise alike. */
	FUZZ_CHECK(json_object_object_get_ex(o, "files", &files) && json_object_is_type(files, json_type_object));
	FUZZ_CHECK((size_t)json_object_object_length(files) <= res->jail.nfiles);
	for (size_t i = 0; i < res->jail.nfiles; i++) {
		size_t nlen;
		char *name = utf8_sanitize(res->jail.files[i].name, res->jail.files[i].name_len, &nlen);
		bool first = true;

		FUZZ_CHECK(name != NULL);
		for (size_t j = 0; j < i && first; j++) {
			size_t olen;
			char *other = utf8_sanitize(res->jail.files[j].name, res->jail.files[j].name_len, &olen);
			FUZZ_CHECK(other != NULL);
			first = strcmp(name, other) != 0;
			free(other);
		}
		FUZZ_CHECK(json_object_object_get_ex(files, name, &v));
		if (first)
			check_b64(v, res->jail.files[i].data, res->jail.files[i].len);
		else
			collided = true;
		free(name);
	}
	json_object_object_get_ex(trunc, "files", &v);
	FUZZ_CHECK(json_object_get_boolean(v) == (res->jail.trunc_files || collided));

	FUZZ_CHECK(json_object_object_get_ex(o, "stdout_base64", &v) == output_base64);
	if (output_base64)
		check_b64(v, res->out.data, res->out.len);
	FUZZ_CHECK(json_object_object_get_ex(o, "stderr_base64", &v) == output_base64);
	if (output_base64)
		check_b64(v, res->err.data, res->err.len);
	json_object_put(o);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run_result res, small;
	enum jail_failure failure, failure_small;
	char why[300], tiny[8];
	enum sbx_err rc, rc_small;

	/* As run_exec: a zeroed result, what the program printed, then the status stream. */
	memset(&res, 0, sizeof(res));
	FUZZ_CHECK(buf_append(&res.out, data, size) == 0);
	rc = jail_parse_status((const char *)data, size, &res.jail, &failure, why, sizeof(why));
	FUZZ_CHECK(rc == SBX_OK || rc == SBX_EJAIL || rc == SBX_EBADREQ || rc == SBX_ERELOAD || rc == SBX_ESTART ||
	    rc == SBX_ENOMEM);
	/* The error and the failure agree, through the one table. */
	FUZZ_CHECK((rc == SBX_OK) == (failure == JAIL_FAIL_NONE));
	FUZZ_CHECK(rc != SBX_EBADREQ || failure == JAIL_FAIL_INPUT || failure == JAIL_FAIL_ENV_GONE);
	FUZZ_CHECK(rc != SBX_ESTART || (failure == JAIL_FAIL_START && res.jail.start_errno > 0));
	FUZZ_CHECK(strlen(why) < sizeof(why));
	/* (A reason may be empty: "E \0..." from a jail that wrote a NUL, which it never does.) */
	FUZZ_CHECK(rc != SBX_OK || why[0] == '\0');
	FUZZ_CHECK(res.jail.nfiles == 0 || res.jail.files != NULL);
	for (size_t i = 0; i < res.jail.nfiles; i++)
		FUZZ_CHECK(res.jail.files[i].name != NULL && res.jail.files[i].data != NULL &&
		    res.jail.files[i].name_len > 0 && res.jail.files[i].name_len <= 4096 && res.jail.files[i].len <= size);

	/* A short reason buffer changes nothing but the reason. */
	memset(&small, 0, sizeof(small));
	rc_small = jail_parse_status((const char *)data, size, &small.jail, &failure_small, tiny, sizeof(tiny));
	FUZZ_CHECK(rc_small == rc && failure_small == failure && strlen(tiny) < sizeof(tiny) &&
	    small.jail.nfiles == res.jail.nfiles);
	run_result_free(&small);

	if (rc == SBX_OK) {
		/* Described as run_exec describes it, with some stderr (the input's second half). */
		FUZZ_CHECK(buf_append(&res.err, data + size / 2, size - size / 2) == 0);
		run_describe(&res, 30, 512, 1 << 20, false);
		FUZZ_CHECK(res.status == RUN_OK ? res.error[0] == '\0' : res.error[0] != '\0');
		check_result_json(&res, NULL, false);
		check_result_json(&res, "data-science", true);
		res.trunc_out = true;
		run_describe(&res, 30, 512, 1 << 20, false);
		FUZZ_CHECK(res.status == RUN_OUTPUT);
		check_result_json(&res, "x", false);
	}
	run_result_free(&res);
	return 0;
}
