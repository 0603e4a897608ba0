/* request.c: pure parser and validator of /execute bodies (API.md "POST /execute"); no I/O here. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "buf.h"
#include "request.h"

json_object *
req_error_item(const char *field, const char *key, const char *msg, const char *type)
{
	json_object *item = json_object_new_object(), *loc = json_object_new_array();

	json_object_array_add(loc, json_object_new_string("body"));
	if (field)
		json_object_array_add(loc, json_object_new_string(field));
	if (key)
		json_object_array_add(loc, json_object_new_string(key));
	json_object_object_add(item, "loc", loc);
	json_object_object_add(item, "msg", json_object_new_string(msg));
	json_object_object_add(item, "type", json_object_new_string(type));
	return item;
}

void
req_detail_finish(enum sbx_err rc, json_object **errs, json_object **detail)
{
	if (rc == SBX_EINVAL && *errs && *detail == NULL) {
		*detail = *errs;
		*errs = NULL;
	}
	if (rc == SBX_ENOMEM && *detail == NULL)
		*detail = json_object_new_string("Out of memory");
	json_object_put(*errs);
	*errs = NULL;
}

static void
add_err(json_object *errs, const char *field, const char *key, const char *msg, const char *type)
{
	json_object_array_add(errs, req_error_item(field, key, msg, type));
}

/* An error at a list position: FastAPI puts the index in loc as an integer. */
static void
add_err_at(json_object *errs, const char *field, size_t index, const char *msg, const char *type)
{
	json_object *item = req_error_item(field, NULL, msg, type), *loc;

	if (json_object_object_get_ex(item, "loc", &loc))
		json_object_array_add(loc, json_object_new_int64((int64_t)index));
	json_object_array_add(errs, item);
}

bool
req_safe_name(const char *name, size_t len)
{
	return path_safe_relative(name, len, REQ_MAX_NAME, REQ_MAX_DEPTH);
}

static bool
is_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' && s[i] != '\f' && s[i] != '\v')
			return false;
	return true;
}

static bool
env_name_valid(const char *s, size_t n)
{
	if (n < 1 || n > 50)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static char *
dup_bytes(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* What json-c lets through that RFC 8259 forbids, found on the raw text:
 * unescaped control characters in strings (section 7), and object keys with
 * an escaped NUL, which json-c would silently truncate ("a\u0000b" -> "a").
 * Returns the offset of the first raw control character, or -1. */
static long
json_scan(const char *s, size_t n, bool *nul_key)
{
	size_t i = 0;

	*nul_key = false;
	while (i < n) {
		bool nul = false;

		if (s[i++] != '"')
			continue;
		while (i < n && s[i] != '"') {
			if ((unsigned char)s[i] < 0x20)
				return (long)i;
			if (s[i] == '\\' && i + 1 < n) {
				if (s[i + 1] == 'u' && i + 5 < n && memcmp(s + i + 2, "0000", 4) == 0)
					nul = true;
				i += 2;
				continue;
			}
			i++;
		}
		i++;
		while (nul && i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
			i++;
		if (nul && i < n && s[i] == ':')
			*nul_key = true;
	}
	return -1;
}

/* NaN and Infinity: json-c takes them even in strict mode; RFC 8259 section 6 does not. */
static bool
json_has_nonfinite(json_object *o)
{
	const char *text;

	switch (json_object_get_type(o)) {
	case json_type_double:
		/* The literals only: 1e400 is a number too large, for the field check to refuse. */
		text = json_object_get_string(o);
		return !isfinite(json_object_get_double(o)) && text &&
		    (text[0] == 'N' || text[0] == 'I' || text[0] == 'n' || text[0] == 'i' ||
		    (text[0] == '-' && (text[1] == 'I' || text[1] == 'i')));
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			if (json_has_nonfinite(json_object_array_get_idx(o, i)))
				return true;
		return false;
	case json_type_object: {
		json_object_object_foreach(o, key, val) {
			(void)key;
			if (json_has_nonfinite(val))
				return true;
		}
		return false;
	}
	default:
		return false;
	}
}

static void
add_json_invalid(json_object *errs, size_t offset, const char *why)
{
	json_object *item = json_object_new_object(), *loc = json_object_new_array(), *ctx = json_object_new_object();

	json_object_array_add(loc, json_object_new_string("body"));
	json_object_array_add(loc, json_object_new_int64((int64_t)offset));
	json_object_object_add(item, "loc", loc);
	json_object_object_add(item, "msg", json_object_new_string("JSON decode error"));
	json_object_object_add(item, "type", json_object_new_string("json_invalid"));
	json_object_object_add(ctx, "error", json_object_new_string(why));
	json_object_object_add(item, "ctx", ctx);
	json_object_array_add(errs, item);
}

/* A JSON number as a double, or false if v is not a number (booleans are not numbers). */
static bool
get_number(json_object *v, double *out)
{
	json_type t = json_object_get_type(v);

	if (t != json_type_int && t != json_type_double)
		return false;
	*out = t == json_type_int ? (double)json_object_get_int64(v) : json_object_get_double(v);
	return isfinite(*out);
}

static json_object *
detail_string(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static json_object *
detail_string(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_object_new_string(msg);
}

enum sbx_err
req_parse_json(const char *body, size_t len, const struct req_limits *lim, json_object **rootp, json_object **detail)
{
	json_tokener *tok = NULL;
	json_object *root = NULL, *errs;
	enum sbx_err rc = SBX_EINVAL;
	enum json_tokener_error je;
	size_t prefix;
	bool nul_key;
	long ctl;

	(void)lim;
	*rootp = NULL;
	*detail = NULL;
	if ((errs = json_object_new_array()) == NULL)
		return SBX_ENOMEM;
	/* RFC 8259: strict grammar, valid UTF-8, bounded depth, nothing after the value. */
	if ((tok = json_tokener_new_ex(REQ_JSON_DEPTH)) == NULL) {
		rc = SBX_ENOMEM;
		goto out;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	/* The body limit keeps len far below INT_MAX; refuse anything that is not. */
	if (len == 0 || len >= INT32_MAX) {
		add_json_invalid(errs, 0, len ? "body too large to parse" : "empty body");
		goto out;
	}
	if ((prefix = utf8_valid_prefix(body, len)) != len) {
		add_json_invalid(errs, prefix, "invalid UTF-8");
		goto out;
	}
	if ((ctl = json_scan(body, len, &nul_key)) >= 0) {
		add_json_invalid(errs, (size_t)ctl, "unescaped control character in a string");
		goto out;
	}
	root = json_tokener_parse_ex(tok, body, (int)len);
	je = json_tokener_get_error(tok);
	if (je == json_tokener_success) {
		/* Only whitespace may follow the value. */
		for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
			if (body[i] != ' ' && body[i] != '\t' && body[i] != '\n' && body[i] != '\r') {
				add_json_invalid(errs, i, "extra data after the JSON value");
				goto out;
			}
	} else if (je == json_tokener_continue) {
		/* A bare number or literal ends only at end of input: say so. */
		root = json_tokener_parse_ex(tok, "", 1);
		if ((je = json_tokener_get_error(tok)) != json_tokener_success) {
			add_json_invalid(errs, len, "unexpected end of input");
			goto out;
		}
	} else {
		add_json_invalid(errs, json_tokener_get_parse_end(tok), json_tokener_error_desc(je));
		goto out;
	}
	if (root == NULL) {
		add_err(errs, NULL, NULL, "Field required", "missing");	/* a JSON null body */
		goto out;
	}
	if (json_has_nonfinite(root)) {
		add_json_invalid(errs, 0, "NaN and Infinity are not JSON");
		goto out;
	}
	if (!json_object_is_type(root, json_type_object)) {
		add_err(errs, NULL, NULL, "Input should be a valid dictionary or object to extract fields from",
		    "model_attributes_type");
		goto out;
	}
	if (nul_key) {
		add_err(errs, NULL, NULL, "Value error, object keys (such as file names) must not contain NUL",
		    "value_error");
		goto out;
	}
	*rootp = root;
	root = NULL;
	rc = SBX_OK;

out:
	req_detail_finish(rc, &errs, detail);
	json_object_put(root);
	if (tok)
		json_tokener_free(tok);
	return rc;
}

enum sbx_err
req_parse(const char *body, size_t len, const struct req_limits *lim,
    struct exec_req *req, json_object **detail)
{
	json_object *root = NULL, *errs = NULL, *v;
	enum sbx_err rc = SBX_EINVAL;
	char msg[160];

	memset(req, 0, sizeof(*req));
	*detail = NULL;
	req->timeout = lim->default_timeout;
	req->memory_mb = lim->default_memory_mb;
	req->cpus = lim->default_cpus;
	if ((errs = json_object_new_array()) == NULL)
		return SBX_ENOMEM;

	if ((rc = req_parse_json(body, len, lim, &root, detail)) != SBX_OK) {
		json_object_put(errs);
		return rc;
	}
	rc = SBX_EINVAL;

	/* code: required, string */
	if (!json_object_object_get_ex(root, "code", &v) || v == NULL) {
		add_err(errs, "code", NULL, "Field required", "missing");
	} else if (!json_object_is_type(v, json_type_string)) {
		add_err(errs, "code", NULL, "Input should be a valid string", "string_type");
	} else {
		req->code_len = (size_t)json_object_get_string_len(v);
		if ((req->code = dup_bytes(json_object_get_string(v), req->code_len)) == NULL) {
			rc = SBX_ENOMEM;
			goto out;
		}
	}

	/* timeout: number, 0 < t <= max_timeout */
	if (json_object_object_get_ex(root, "timeout", &v) && v != NULL) {
		double t;
		if (!get_number(v, &t)) {
			add_err(errs, "timeout", NULL, "Input should be a valid number", "float_type");
		} else if (t <= 0) {
			add_err(errs, "timeout", NULL, "Input should be greater than 0", "greater_than");
		} else if (t > lim->max_timeout) {
			snprintf(msg, sizeof(msg), "Input should be less than or equal to %g", lim->max_timeout);
			add_err(errs, "timeout", NULL, msg, "less_than_equal");
		} else
			req->timeout = t;
	}

	/* memory_mb: integer, 32 <= m <= max_memory_mb */
	if (json_object_object_get_ex(root, "memory_mb", &v) && v != NULL) {
		double m;
		if (!get_number(v, &m) || m != floor(m)) {
			add_err(errs, "memory_mb", NULL, "Input should be a valid integer", "int_type");
		} else if (m < 32) {
			add_err(errs, "memory_mb", NULL, "Input should be greater than or equal to 32", "greater_than_equal");
		} else if (m > lim->max_memory_mb) {
			snprintf(msg, sizeof(msg), "Input should be less than or equal to %d", lim->max_memory_mb);
			add_err(errs, "memory_mb", NULL, msg, "less_than_equal");
		} else
			req->memory_mb = (int)m;
	}

	/* cpus: number, 0 < cpus <= max_cpus (the original's limits table: 1 core, max 2) */
	if (json_object_object_get_ex(root, "cpus", &v) && v != NULL) {
		double n;
		if (!get_number(v, &n)) {
			add_err(errs, "cpus", NULL, "Input should be a valid number", "float_type");
		} else if (n < 0.01) {
			add_err(errs, "cpus", NULL, "Input should be greater than or equal to 0.01", "greater_than_equal");
		} else if (n > lim->max_cpus) {
			snprintf(msg, sizeof(msg), "Input should be less than or equal to %g", lim->max_cpus);
			add_err(errs, "cpus", NULL, msg, "less_than_equal");
		} else
			req->cpus = n;
	}

	/* network: boolean; true only where the operator allows it */
	if (json_object_object_get_ex(root, "network", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_boolean))
			add_err(errs, "network", NULL, "Input should be a valid boolean", "bool_type");
		else if (json_object_get_boolean(v) && !lim->allow_network)
			add_err(errs, "network", NULL, "Value error, network access is disabled on this server", "value_error");
		else
			req->network = json_object_get_boolean(v);
	}

	/* environment: string matching ^[A-Za-z0-9_-]{1,50}$, or null */
	if (json_object_object_get_ex(root, "environment", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_string)) {
			add_err(errs, "environment", NULL, "Input should be a valid string", "string_type");
		} else if (!env_name_valid(json_object_get_string(v), (size_t)json_object_get_string_len(v))) {
			add_err(errs, "environment", NULL, "String should match pattern '^[A-Za-z0-9_-]{1,50}$'",
			    "string_pattern_mismatch");
		} else if ((req->environment = strdup(json_object_get_string(v))) == NULL) {
			rc = SBX_ENOMEM;
			goto out;
		}
	}
	if (lim->environment_required && req->environment == NULL &&
	    !(json_object_object_get_ex(root, "environment", &v) && v != NULL))
		add_err(errs, "environment", NULL, "Field required", "missing");

	/* stdin: string */
	if (json_object_object_get_ex(root, "stdin", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_string)) {
			add_err(errs, "stdin", NULL, "Input should be a valid string", "string_type");
		} else {
			req->stdin_len = (size_t)json_object_get_string_len(v);
			if ((req->stdin_data = dup_bytes(json_object_get_string(v), req->stdin_len)) == NULL) {
				rc = SBX_ENOMEM;
				goto out;
			}
		}
	}

	/* output_encoding: "utf-8" (default) or "base64" */
	if (json_object_object_get_ex(root, "output_encoding", &v) && v != NULL) {
		const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
		if (s && strcmp(s, "base64") == 0)
			req->output_base64 = true;
		else if (s == NULL || (strcmp(s, "utf-8") != 0 && strcmp(s, "utf8") != 0))
			add_err(errs, "output_encoding", NULL, "Input should be 'utf-8' or 'base64'", "literal_error");
	}

	/* args: array of strings without NUL */
	if (json_object_object_get_ex(root, "args", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_array)) {
			add_err(errs, "args", NULL, "Input should be a valid list", "list_type");
		} else if (json_object_array_length(v) > REQ_MAX_ARGS) {
			snprintf(msg, sizeof(msg), "List should have at most %d items", REQ_MAX_ARGS);
			add_err(errs, "args", NULL, msg, "too_long");
		} else {
			size_t n = json_object_array_length(v);
			if ((req->args = calloc(n + 1, sizeof(char *))) == NULL) {
				rc = SBX_ENOMEM;
				goto out;
			}
			size_t total = 0;
			for (size_t i = 0; i < n; i++) {
				json_object *a = json_object_array_get_idx(v, i);
				if (!json_object_is_type(a, json_type_string)) {
					add_err_at(errs, "args", i, "Input should be a valid string", "string_type");
					continue;
				}
				if ((size_t)json_object_get_string_len(a) != strlen(json_object_get_string(a)) ||
				    json_object_get_string_len(a) > REQ_MAX_ARGLEN ||
				    (total += (size_t)json_object_get_string_len(a) + 1) > REQ_MAX_ARGS_BYTES) {
					add_err_at(errs, "args", i, "Value error, argument contains NUL or is too long "
					    "(4096 bytes each, 64 KB in all)", "value_error");
					continue;
				}
				if ((req->args[req->nargs++] = strdup(json_object_get_string(a))) == NULL) {
					rc = SBX_ENOMEM;
					goto out;
				}
			}
		}
	}

	/* files: object of safe relative name -> strict base64 */
	if (json_object_object_get_ex(root, "files", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_object)) {
			add_err(errs, "files", NULL, "Input should be a valid dictionary", "dict_type");
		} else if (json_object_object_length(v) > lim->max_input_files) {
			json_object_put(errs);
			errs = NULL;
			*detail = detail_string("Too many files: %d (maximum %d)", json_object_object_length(v),
			    lim->max_input_files);
			rc = SBX_ETOOBIG;
			goto out;
		} else {
			size_t n = (size_t)json_object_object_length(v);
			if ((req->files = calloc(n ? n : 1, sizeof(*req->files))) == NULL) {
				rc = SBX_ENOMEM;
				goto out;
			}
			json_object_object_foreach(v, key, val) {
				size_t klen = strlen(key), elen;
				const char *enc;
				struct req_file *f;

				if (!req_safe_name(key, klen)) {
					add_err(errs, "files", key, "Value error, unsafe file name: it must be a relative path "
					    "without '..', empty components, control characters or backslashes", "value_error");
					continue;
				}
				if (strcmp(key, "main.py") == 0) {
					add_err(errs, "files", key, "Value error, main.py is reserved for the code", "value_error");
					continue;
				}
				if (!json_object_is_type(val, json_type_string)) {
					add_err(errs, "files", key, "Input should be a valid string", "string_type");
					continue;
				}
				enc = json_object_get_string(val);
				elen = (size_t)json_object_get_string_len(val);
				/* Refuse oversized files before decoding them. */
				if (b64_decoded_max(elen) > (size_t)lim->max_file_size + 2) {
					json_object_put(errs);
					errs = NULL;
					*detail = detail_string("File '%.*s' is larger than the limit of %ld bytes", utf8_clip(key, 100), key,
					    lim->max_file_size);
					rc = SBX_ETOOBIG;
					goto out;
				}
				f = &req->files[req->nfiles];
				if (b64_decode(enc, elen, &f->data, &f->len) == -1) {
					if (errno == ENOMEM) {
						rc = SBX_ENOMEM;
						goto out;
					}
					add_err(errs, "files", key, "Value error, invalid base64 (RFC 4648 standard alphabet, "
					    "padded, no line breaks)", "value_error");
					continue;
				}
				if ((f->name = strdup(key)) == NULL) {
					free(f->data);
					f->data = NULL;
					rc = SBX_ENOMEM;
					goto out;
				}
				req->nfiles++;
				if (f->len > (size_t)lim->max_file_size) {
					json_object_put(errs);
					errs = NULL;
					*detail = detail_string("File '%.*s' is larger than the limit of %ld bytes", utf8_clip(key, 100), key,
					    lim->max_file_size);
					rc = SBX_ETOOBIG;
					goto out;
				}
			}
		}
	}

	/* A name cannot be both a file and the directory of another file. */
	for (size_t i = 0; i < req->nfiles; i++)
		for (size_t j = 0; j < req->nfiles; j++) {
			size_t li = strlen(req->files[i].name);
			if (i != j && strncmp(req->files[j].name, req->files[i].name, li) == 0 &&
			    req->files[j].name[li] == '/')
				add_err(errs, "files", req->files[j].name, "Value error, a parent of this name is also "
				    "given as a file", "value_error");
		}
	if (json_object_array_length(errs) > 0)
		goto out;
	{
		size_t total = 0;
		for (size_t i = 0; i < req->nfiles; i++)
			total += req->files[i].len;
		if (lim->max_input_bytes > 0 && total + req->code_len > (size_t)lim->max_input_bytes) {
			*detail = detail_string("Input files total %zu bytes, more than the working directory holds (%ld)",
			    total + req->code_len, lim->max_input_bytes);
			rc = SBX_ETOOBIG;
			goto out;
		}
	}

	/* Checks the original answered with 400 rather than 422. */
	if (is_blank(req->code, req->code_len)) {
		*detail = json_object_new_string("Code cannot be empty");
		rc = SBX_EBADREQ;
		goto out;
	}
	if (req->code_len > (size_t)lim->max_code_length) {
		*detail = detail_string("Code too long: %zu bytes (maximum %ld)", req->code_len, lim->max_code_length);
		rc = SBX_EBADREQ;
		goto out;
	}
	rc = SBX_OK;
out:
	req_detail_finish(rc, &errs, detail);
	json_object_put(root);
	if (rc != SBX_OK)
		req_free(req);
	return rc;
}

void
req_free(struct exec_req *req)
{
	size_t i;

	free(req->code);
	free(req->environment);
	free(req->stdin_data);
	for (i = 0; i < req->nfiles; i++) {
		free(req->files[i].name);
		free(req->files[i].data);
	}
	free(req->files);
	for (i = 0; i < req->nargs; i++)
		free(req->args[i]);
	free(req->args);
	memset(req, 0, sizeof(*req));
}
