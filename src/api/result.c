/* result.c: a run's result as the API answers it (API.md, "POST /execute" response). */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "b64.h"
#include "result.h"

/* Seconds with microsecond precision, printed as such (json-c would print 17 digits). */
static json_object *
json_seconds(double s)
{
	char txt[32];

	snprintf(txt, sizeof(txt), "%.6f", s);
	return json_object_new_double_s(strtod(txt, NULL), txt);
}

static json_object *
json_text(const char *p, size_t n)
{
	size_t outlen;
	char *clean = utf8_sanitize(p ? p : "", n, &outlen);
	json_object *o;

	if (clean == NULL)
		return NULL;
	o = json_object_new_string_len(clean, (int)outlen);
	free(clean);
	return o;
}

static json_object *
json_b64(const void *p, size_t n)
{
	size_t outlen;
	char *enc = b64_encode(p, n, &outlen);
	json_object *o;

	if (enc == NULL)
		return NULL;
	o = json_object_new_string_len(enc, (int)outlen);
	free(enc);
	return o;
}

char *
run_result_json(const struct run_result *res, const char *environment, bool output_base64)
{
	json_object *o = json_object_new_object(), *files, *trunc, *rsrc;
	bool collided = false;
	char *out = NULL;

	if (o == NULL)
		return NULL;
	json_object_object_add(o, "success", json_object_new_boolean(res->status == RUN_OK));
	json_object_object_add(o, "stdout", json_text(res->out.data, res->out.len));
	json_object_object_add(o, "stderr", json_text(res->err.data, res->err.len));
	json_object_object_add(o, "error", res->error[0] ? json_object_new_string(res->error) : NULL);
	json_object_object_add(o, "execution_time", json_seconds(res->jail.wall_time));
	files = json_object_new_object();
	for (size_t i = 0; i < res->jail.nfiles; i++) {
		size_t nlen;
		char *name = utf8_sanitize(res->jail.files[i].name, res->jail.files[i].name_len, &nlen);
		if (name == NULL)
			goto fail;
		/* Two non-UTF-8 names can sanitise alike: never drop one silently. */
		if (json_object_object_get_ex(files, name, NULL))
			collided = true;
		else
			json_object_object_add(files, name, json_b64(res->jail.files[i].data, res->jail.files[i].len));
		free(name);
	}
	json_object_object_add(o, "files", files);
	json_object_object_add(o, "exit_code", res->jail.exit_code >= 0 ? json_object_new_int(res->jail.exit_code) : NULL);
	if (res->jail.signal) {
		char sig[32];
		snprintf(sig, sizeof(sig), "SIG%s", sigabbrev_np(res->jail.signal) ? sigabbrev_np(res->jail.signal) : "UNKNOWN");
		json_object_object_add(o, "signal", json_object_new_string(sig));
	} else
		json_object_object_add(o, "signal", NULL);
	json_object_object_add(o, "status", json_object_new_string(run_status_name(res->status)));
	trunc = json_object_new_object();
	json_object_object_add(trunc, "stdout", json_object_new_boolean(res->trunc_out));
	json_object_object_add(trunc, "stderr", json_object_new_boolean(res->trunc_err));
	json_object_object_add(trunc, "files", json_object_new_boolean(res->jail.trunc_files || collided));
	json_object_object_add(o, "truncated", trunc);
	rsrc = json_object_new_object();
	json_object_object_add(rsrc, "cpu_time", json_seconds(res->jail.cpu_time));
	json_object_object_add(rsrc, "max_rss_kb", json_object_new_int64(res->jail.max_rss_kb));
	json_object_object_add(o, "resources", rsrc);
	json_object_object_add(o, "environment", environment ? json_object_new_string(environment) : NULL);
	if (output_base64) {
		json_object_object_add(o, "stdout_base64", json_b64(res->out.data ? res->out.data : "", res->out.len));
		json_object_object_add(o, "stderr_base64", json_b64(res->err.data ? res->err.data : "", res->err.len));
	}
	out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
fail:
	json_object_put(o);
	return out;
}
