/* envreq.c: the POST /environments body and the build log's query, parsed and validated (pure: fuzzed). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "env.h"
#include "limit.h"
#include "request.h"

static size_t
utf8_chars(const char *s, size_t n)
{
	size_t chars = 0;

	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			chars++;
	return chars;
}

/* An optional text field of at most max characters: true when v is one; else its 422 item is added. */
static bool
short_text(json_object *errs, json_object *v, const char *field, size_t max)
{
	char msg[80];

	if (!json_object_is_type(v, json_type_string)) {
		json_object_array_add(errs, req_error_item(field, NULL, "Input should be a valid string", "string_type", v,
		    NULL));
		return false;
	}
	if (utf8_chars(json_object_get_string(v), (size_t)json_object_get_string_len(v)) > max) {
		snprintf(msg, sizeof(msg), "String should have at most %zu characters", max);
		json_object_array_add(errs, req_error_item(field, NULL, msg, "string_too_long", v,
		    req_ctx_number("max_length", (double)max)));
		return false;
	}
	return true;
}

bool
env_module_name_ok(const char *s, size_t n)
{
	bool start = true;	/* at the start of a component */

	if (n < 1 || n > MODULE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		bool letter = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';

		if (ch == '.' && !start)
			start = true;
		else if (letter || (!start && ch >= '0' && ch <= '9'))
			start = false;
		else
			return false;
	}
	return !start;
}

/* preload: an optional list of at most PRELOAD_MAX distinct module names (null or absent: none), joined
 * with spaces into out. */
static void
parse_preload(json_object *errs, json_object *v, char *out, size_t outlen)
{
	size_t n, used = 0;
	char msg[160];

	if (v == NULL)
		return;
	if (!json_object_is_type(v, json_type_array)) {
		json_object_array_add(errs, req_error_item("preload", NULL, "Input should be a valid list", "list_type", v,
		    NULL));
		return;
	}
	if ((n = json_object_array_length(v)) > PRELOAD_MAX) {
		json_object_array_add(errs, req_error_list_too_long("preload", PRELOAD_MAX, v));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *m = json_object_array_get_idx(v, i);
		const char *s = json_object_get_string(m);
		size_t len = (size_t)json_object_get_string_len(m);
		bool repeated = false;

		if (!json_object_is_type(m, json_type_string)) {
			json_object_array_add(errs, req_error_item_at("preload", i, "Input should be a valid string",
			    "string_type", m, NULL));
			continue;
		}
		if (!env_module_name_ok(s, len)) {
			json_object_array_add(errs, req_error_item_at("preload", i,
			    "String should match pattern '" MODULE_NAME_PATTERN "' (a module name, at most 100 characters)",
			    "string_pattern_mismatch", m, req_ctx_string("pattern", MODULE_NAME_PATTERN)));
			continue;
		}
		for (size_t k = 0; k < i && !repeated; k++) {
			json_object *o = json_object_array_get_idx(v, k);

			repeated = json_object_is_type(o, json_type_string) && strcmp(json_object_get_string(o), s) == 0;
		}
		if (repeated) {
			snprintf(msg, sizeof(msg), "Value error, %s is listed twice", s);
			json_object_array_add(errs, req_error_item_at("preload", i, msg, "value_error", m,
			    req_ctx_string("error", msg + strlen("Value error, "))));
			continue;
		}
		if (len + 2 > outlen - used)
			break;	/* (cannot happen: env_create.preload holds PRELOAD_MAX names and separators) */
		used += (size_t)snprintf(out + used, outlen - used, "%s%s", used ? " " : "", s);
	}
}

enum sbx_err
env_parse_create(const char *body, size_t len, const struct interp *interps, int ninterps,
    struct env_create *out, json_object **detail)
{
	struct limits lim = { .max_code_length = 1, .default_timeout = 1, .max_timeout = 1 };
	json_object *root = NULL, *errs, *v;
	enum sbx_err rc = SBX_EINVAL;
	const struct interp *in;
	char msg[400];
	size_t n;

	memset(out, 0, sizeof(*out));
	*detail = NULL;
	/* Reuse the strict JSON front end of the /execute parser for the syntax. */
	if ((rc = req_parse_json(body, len, &lim, &root, detail)) != SBX_OK)
		return rc;
	rc = SBX_EINVAL;
	errs = json_object_new_array();

	if (!json_object_object_get_ex(root, "name", &v) || v == NULL)
		json_object_array_add(errs, req_error_item("name", NULL, "Field required", "missing", root, NULL));
	else if (!json_object_is_type(v, json_type_string))
		json_object_array_add(errs, req_error_item("name", NULL, "Input should be a valid string", "string_type", v,
		    NULL));
	else if (!limit_env_name_ok(json_object_get_string(v), (size_t)json_object_get_string_len(v)))
		json_object_array_add(errs, req_error_item("name", NULL,
		    "String should match pattern '" ENV_NAME_PATTERN "'", "string_pattern_mismatch", v,
		    req_ctx_string("pattern", ENV_NAME_PATTERN)));
	else
		snprintf(out->name, sizeof(out->name), "%s", json_object_get_string(v));

	if (json_object_object_get_ex(root, "description", &v) && v != NULL) {
		if (!short_text(errs, v, "description", 200))
			;	/* its 422 item is added */
		else if ((size_t)json_object_get_string_len(v) != strlen(json_object_get_string(v)))
			json_object_array_add(errs, req_error_item("description", NULL,
			    "Value error, the description contains NUL", "value_error", v,
			    req_ctx_string("error", "the description contains NUL")));
		else
			snprintf(out->description, sizeof(out->description), "%s", json_object_get_string(v));
	}

	if (!json_object_object_get_ex(root, "setup_script", &v) || v == NULL)
		json_object_array_add(errs, req_error_item("setup_script", NULL, "Field required", "missing", root, NULL));
	else if (!json_object_is_type(v, json_type_string))
		json_object_array_add(errs, req_error_item("setup_script", NULL, "Input should be a valid string",
		    "string_type", v, NULL));
	else if ((n = (size_t)json_object_get_string_len(v)) > ENV_SCRIPT_MAX)
		json_object_array_add(errs, req_error_item("setup_script", NULL,
		    "String should have at most 65536 bytes", "string_too_long", v,
		    req_ctx_number("max_length", ENV_SCRIPT_MAX)));
	else if (n != strlen(json_object_get_string(v)))
		json_object_array_add(errs, req_error_item("setup_script", NULL,
		    "Value error, the setup script contains NUL", "value_error", v,
		    req_ctx_string("error", "the setup script contains NUL")));
	else if (strspn(json_object_get_string(v), " \t\r\n\f\v") == n)
		json_object_array_add(errs, req_error_item("setup_script", NULL,
		    "Value error, the setup script is blank", "value_error", v,
		    req_ctx_string("error", "the setup script is blank")));
	else if ((out->setup_script = strdup(json_object_get_string(v))) == NULL) {
		rc = SBX_ENOMEM;
		goto out;
	}

	v = NULL;
	json_object_object_get_ex(root, "preload", &v);
	parse_preload(errs, v, out->preload, sizeof(out->preload));

	/* base_image: the original's Docker image; taken (its clients may send it) and not used: environments
	 * here are built on the host's interpreter, which the environment object's base_image names. */
	if (json_object_object_get_ex(root, "base_image", &v) && v != NULL)
		(void)short_text(errs, v, "base_image", 200);

	out->interp = NULL;
	v = NULL;
	json_object_object_get_ex(root, "python_version", &v);
	if (v != NULL && !json_object_is_type(v, json_type_string)) {
		json_object_array_add(errs, req_error_item("python_version", NULL, "Input should be a valid string",
		    "string_type", v, NULL));
	} else {
		const char *want = v ? json_object_get_string(v) : NULL;
		if ((in = interp_find(interps, ninterps, want)) == NULL) {
			struct buf avail = { 0 };
			for (int i = 0; i < ninterps; i++)
				buf_printf(&avail, "%s%s", i ? ", " : "", interps[i].version);
			const char *shown = want ? want : "(default)";
			snprintf(msg, sizeof(msg), "Value error, python_version '%.*s' is not available on this server; "
			    "available: %s", utf8_clip(shown, 20), shown, avail.data ? avail.data : "none");
			buf_free(&avail);
			json_object_array_add(errs, req_error_item("python_version", NULL, msg, "value_error", v,
			    req_ctx_string("error", msg + strlen("Value error, "))));
		} else
			out->interp = in;
	}

	if (json_object_array_length(errs) == 0)
		rc = SBX_OK;
out:
	req_detail_finish(rc, &errs, detail);
	json_object_put(root);
	if (rc != SBX_OK) {
		free(out->setup_script);
		out->setup_script = NULL;
	}
	return rc;
}

/* "offset=N&limit=M" (pure). Unknown keys are ignored; bad numbers are -1. */
void
env_parse_query(const char *q, int64_t *offset, int64_t *limit)
{
	*offset = 0;
	*limit = 1000;
	while (q && *q) {
		size_t seg = strcspn(q, "&");
		int64_t *dst = strncmp(q, "offset=", 7) == 0 ? offset : strncmp(q, "limit=", 6) == 0 ? limit : NULL;

		if (dst) {
			const char *p = strchr(q, '=') + 1;
			int64_t v = 0;
			bool ok = p < q + seg;
			for (; p < q + seg; p++) {
				if (*p < '0' || *p > '9' || v > 100000000) {
					ok = false;
					break;
				}
				v = v * 10 + (*p - '0');
			}
			*dst = ok ? v : -1;
		}
		q += seg;
		if (*q == '&')
			q++;
	}
}

