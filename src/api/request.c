/* request.c: pure parser and validator of /execute bodies (API.md "POST /execute"); no I/O here. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "b64.h"
#include "buf.h"
#include "request.h"

/* Where pydantic (2.6, as the original ran) documents each error type; FastAPI 0.110 passed the link on. */
#define REQ_ERRORS_URL "https://errors.pydantic.dev/2.6/v/"

/* Is o's JSON text (roughly: strings and keys counted as their bytes) longer than limit? Stops early. */
static bool
json_larger_than(json_object *o, size_t *budget)
{
	size_t n = 8;

	switch (json_object_get_type(o)) {
	case json_type_string:
		n += (size_t)json_object_get_string_len(o);
		break;
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			if (json_larger_than(json_object_array_get_idx(o, i), budget))
				return true;
		break;
	case json_type_object: {
		json_object_object_foreach(o, k, v) {
			n += strlen(k) + 4;
			if (n > *budget || json_larger_than(v, budget))
				return true;
		}
		break;
	}
	default:
		break;
	}
	if (n > *budget)
		return true;
	*budget -= n;
	return false;
}

json_object *
req_error_item(const char *field, const char *key, const char *msg, const char *type, json_object *input,
    json_object *ctx)
{
	size_t budget = REQ_ERROR_INPUT_MAX;
	json_object *item = json_object_new_object(), *loc = json_object_new_array();
	char url[128];

	/* pydantic's key order: type, loc, msg, input, ctx, url. */
	json_object_object_add(item, "type", json_object_new_string(type));
	json_object_array_add(loc, json_object_new_string("body"));
	if (field)
		json_object_array_add(loc, json_object_new_string(field));
	if (key)
		json_object_array_add(loc, json_object_new_string(key));
	json_object_object_add(item, "loc", loc);
	json_object_object_add(item, "msg", json_object_new_string(msg));
	/* The offending value back, as pydantic did, unless it is large: a 422 must stay small, whatever the
	 * body (a missing field's input is the whole body). */
	json_object_object_add(item, "input", json_larger_than(input, &budget) ? NULL : json_object_get(input));
	if (ctx)
		json_object_object_add(item, "ctx", ctx);
	snprintf(url, sizeof(url), REQ_ERRORS_URL "%s", type);
	json_object_object_add(item, "url", json_object_new_string(url));
	return item;
}

/* pydantic's ctx of a bound: {"gt": 0}, {"le": 300}, {"max_length": 200}... */
json_object *
req_ctx_number(const char *name, double value)
{
	json_object *ctx = json_object_new_object();

	if (value == floor(value) && fabs(value) < 1e15)
		json_object_object_add(ctx, name, json_object_new_int64((int64_t)value));
	else
		json_object_object_add(ctx, name, json_object_new_double(value));
	return ctx;
}

json_object *
req_ctx_string(const char *name, const char *value)
{
	json_object *ctx = json_object_new_object();

	json_object_object_add(ctx, name, json_object_new_string(value));
	return ctx;
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
add_err(json_object *errs, const char *field, const char *key, const char *msg, const char *type, json_object *input,
    json_object *ctx)
{
	json_object_array_add(errs, req_error_item(field, key, msg, type, input, ctx));
}

json_object *
req_error_list_too_long(const char *field, int max, json_object *list)
{
	json_object *ctx = json_object_new_object();
	size_t n = json_object_array_length(list);
	char msg[120];

	json_object_object_add(ctx, "field_type", json_object_new_string("List"));
	json_object_object_add(ctx, "max_length", json_object_new_int(max));
	json_object_object_add(ctx, "actual_length", json_object_new_int64((int64_t)n));
	snprintf(msg, sizeof(msg), "List should have at most %d items after validation, not %zu", max, n);
	return req_error_item(field, NULL, msg, "too_long", list, ctx);
}

json_object *
req_error_item_at(const char *field, size_t index, const char *msg, const char *type, json_object *input,
    json_object *ctx)
{
	json_object *item = req_error_item(field, NULL, msg, type, input, ctx), *loc;

	if (json_object_object_get_ex(item, "loc", &loc))
		json_object_array_add(loc, json_object_new_int64((int64_t)index));
	return item;
}

static void
add_err_at(json_object *errs, const char *field, size_t index, const char *msg, const char *type, json_object *input)
{
	json_object_array_add(errs, req_error_item_at(field, index, msg, type, input, NULL));
}

/* pydantic's lax mode (what the original accepted): a string holding a decimal number counts as that
 * number, surrounding whitespace allowed. Pure; true and *out set when text is one. */
bool
req_lax_number(const char *text, size_t len, double *out)
{
	size_t i = 0, end = len, digits = 0;
	char buf[64];

	while (i < end && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
		i++;
	while (end > i && (text[end - 1] == ' ' || text[end - 1] == '\t' || text[end - 1] == '\n' ||
	    text[end - 1] == '\r'))
		end--;
	if (end - i == 0 || end - i >= sizeof(buf) || memchr(text + i, '\0', end - i))
		return false;
	memcpy(buf, text + i, end - i);
	buf[end - i] = '\0';
	/* The decimal grammar only: strtod alone would take hex, "inf" and "nan". */
	i = buf[0] == '+' || buf[0] == '-';
	for (; buf[i] >= '0' && buf[i] <= '9'; i++)
		digits++;
	if (buf[i] == '.')
		for (i++; buf[i] >= '0' && buf[i] <= '9'; i++)
			digits++;
	if (digits == 0)
		return false;
	if (buf[i] == 'e' || buf[i] == 'E') {
		i++;
		if (buf[i] == '+' || buf[i] == '-')
			i++;
		if (buf[i] < '0' || buf[i] > '9')
			return false;
		while (buf[i] >= '0' && buf[i] <= '9')
			i++;
	}
	if (buf[i] != '\0')
		return false;
	*out = strtod(buf, NULL);
	return isfinite(*out);
}

/* pydantic's lax booleans: 0/1 and the words it takes, in any case. */
static bool
lax_bool(json_object *v, bool *out)
{
	static const char *const yes[] = { "1", "on", "t", "true", "y", "yes" }, *const no[] = { "0", "off", "f",
	    "false", "n", "no" };
	const char *s;

	switch (json_object_get_type(v)) {
	case json_type_boolean:
		*out = json_object_get_boolean(v);
		return true;
	case json_type_int:
		if (json_object_get_int64(v) != 0 && json_object_get_int64(v) != 1)
			return false;
		*out = json_object_get_int64(v) == 1;
		return true;
	case json_type_string:
		s = json_object_get_string(v);
		if ((size_t)json_object_get_string_len(v) != strlen(s))
			return false;	/* "true\u0000x" is not "true" */
		for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
			if (strcasecmp(s, yes[i]) == 0) {
				*out = true;
				return true;
			}
			if (strcasecmp(s, no[i]) == 0) {
				*out = false;
				return true;
			}
		}
		return false;
	default:
		return false;
	}
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
 * Returns the offset of the first raw control character, or -1. *values counts the
 * arrays, objects and separators outside strings: json-c spends about 50 bytes on each. */
static long
json_scan(const char *s, size_t n, bool *nul_key, size_t *values)
{
	size_t i = 0;

	*nul_key = false;
	*values = 0;
	while (i < n) {
		bool nul = false;

		if (s[i] == '[' || s[i] == '{' || s[i] == ',')
			(*values)++;
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

/* FastAPI's own entry for a body that is not JSON: type, loc, msg, input {}, ctx; no url (not pydantic's). */
static void
add_json_invalid(json_object *errs, size_t offset, const char *why)
{
	json_object *item = json_object_new_object(), *loc = json_object_new_array(), *ctx = json_object_new_object();

	json_object_object_add(item, "type", json_object_new_string("json_invalid"));
	json_object_array_add(loc, json_object_new_string("body"));
	json_object_array_add(loc, json_object_new_int64((int64_t)offset));
	json_object_object_add(item, "loc", loc);
	json_object_object_add(item, "msg", json_object_new_string("JSON decode error"));
	json_object_object_add(item, "input", json_object_new_object());
	json_object_object_add(ctx, "error", json_object_new_string(why));
	json_object_object_add(item, "ctx", ctx);
	json_object_array_add(errs, item);
}

/* A JSON number as a double, or a numeric string (lax mode); false otherwise (booleans are not numbers).
 * *parsing tells a string that is not a number (pydantic's *_parsing) from a wrong type (*_type). */
static bool
get_number(json_object *v, double *out, bool *parsing)
{
	json_type t = json_object_get_type(v);

	*parsing = false;
	if (t == json_type_string) {
		*parsing = true;
		return req_lax_number(json_object_get_string(v), (size_t)json_object_get_string_len(v), out);
	}
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
req_parse_json(const char *body, size_t len, const struct limits *lim, json_object **rootp, json_object **detail)
{
	json_tokener *tok = NULL;
	json_object *root = NULL, *errs;
	enum sbx_err rc = SBX_EINVAL;
	enum json_tokener_error je;
	size_t prefix;
	bool nul_key;
	size_t values;
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
	if ((ctl = json_scan(body, len, &nul_key, &values)) >= 0) {
		add_json_invalid(errs, (size_t)ctl, "unescaped control character in a string");
		goto out;
	}
	/* No request has this many values; 64 MB of "[]," would cost json-c gigabytes. */
	if (values > REQ_MAX_JSON_VALUES) {
		add_json_invalid(errs, 0, "too many values (more than 100000 arrays, objects and members)");
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
		add_err(errs, NULL, NULL, "Field required", "missing", NULL, NULL);	/* a JSON null body */
		goto out;
	}
	if (json_has_nonfinite(root)) {
		add_json_invalid(errs, 0, "NaN and Infinity are not JSON");
		goto out;
	}
	if (!json_object_is_type(root, json_type_object)) {
		add_err(errs, NULL, NULL, "Input should be a valid dictionary or object to extract fields from",
		    "model_attributes_type", root, NULL);
		goto out;
	}
	if (nul_key) {
		add_err(errs, NULL, NULL, "Value error, object keys (such as file names) must not contain NUL",
		    "value_error", root, req_ctx_string("error", "object keys (such as file names) must not contain NUL"));
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

/* A value error as pydantic words it: msg "Value error, WHY", ctx {"error": WHY}. */
static void
add_value_err(json_object *errs, const char *field, const char *key, const char *why, json_object *input)
{
	char msg[300];

	snprintf(msg, sizeof(msg), "Value error, %s", why);
	add_err(errs, field, key, msg, "value_error", input, req_ctx_string("error", why));
}

/* A number field: lax number, then its bounds. min_gt: the bound is exclusive (gt) rather than ge. */
static bool
number_field(json_object *errs, json_object *v, const char *field, bool integer, double min, bool min_gt,
    double max, double *out)
{
	char msg[160];
	bool parsing;
	double n;

	if (!get_number(v, &n, &parsing) || (integer && n != floor(n))) {
		if (integer)
			add_err(errs, field, NULL, parsing ? "Input should be a valid integer, unable to parse string as an "
			    "integer" : "Input should be a valid integer", parsing ? "int_parsing" : "int_type", v, NULL);
		else
			add_err(errs, field, NULL, parsing ? "Input should be a valid number, unable to parse string as a "
			    "number" : "Input should be a valid number", parsing ? "float_parsing" : "float_type", v, NULL);
		return false;
	}
	if (min_gt ? n <= min : n < min) {
		snprintf(msg, sizeof(msg), "Input should be greater than %s%g", min_gt ? "" : "or equal to ", min);
		add_err(errs, field, NULL, msg, min_gt ? "greater_than" : "greater_than_equal", v,
		    req_ctx_number(min_gt ? "gt" : "ge", min));
		return false;
	}
	if (n > max) {
		snprintf(msg, sizeof(msg), "Input should be less than or equal to %g", max);
		add_err(errs, field, NULL, msg, "less_than_equal", v, req_ctx_number("le", max));
		return false;
	}
	*out = n;
	return true;
}

/* A client's file name as a message shows it: at most 100 bytes, cut at a character, control bytes as '?'
 * (an unsafe name may hold any of them). */
static const char *
shown_name(const char *name, char *out, size_t outlen)
{
	int n = utf8_clip(name, outlen - 1 < 100 ? outlen - 1 : 100);

	for (int i = 0; i < n; i++)
		out[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ? '?' : name[i];
	out[n] = '\0';
	return out;
}

/* The input files: type errors are 422 and sizes 413, as before; what the original found only when it
 * wrote them (an unsafe name, content that is not base64) fails the run instead: *why says which. */
static enum sbx_err
parse_files(json_object *v, const struct limits *lim, struct exec_req *req, json_object *errs,
    char *why, size_t whylen, json_object **detail)
{
	char shown[104];
	size_t n;

	if (!json_object_is_type(v, json_type_object)) {
		add_err(errs, "files", NULL, "Input should be a valid dictionary", "dict_type", v, NULL);
		return SBX_OK;
	}
	if (json_object_object_length(v) > lim->max_input_files) {
		*detail = detail_string("Too many files: %d (maximum %d)", json_object_object_length(v),
		    lim->max_input_files);
		return SBX_ETOOBIG;
	}
	n = (size_t)json_object_object_length(v);
	if ((req->files = calloc(n ? n : 1, sizeof(*req->files))) == NULL)
		return SBX_ENOMEM;
	json_object_object_foreach(v, key, val) {
		size_t klen = strlen(key), elen;
		const char *enc;
		struct run_file *f;

		if (!json_object_is_type(val, json_type_string)) {
			add_err(errs, "files", key, "Input should be a valid string", "string_type", val, NULL);
			continue;
		}
		if (!req_safe_name(key, klen)) {
			if (!why[0])
				snprintf(why, whylen, "Unsafe file name '%s': input file names must be relative paths "
				    "without '..', empty components, control characters or backslashes",
				    shown_name(key, shown, sizeof(shown)));
			continue;
		}
		if (strcmp(key, "main.py") == 0) {
			if (!why[0])
				snprintf(why, whylen, "Unsafe file name 'main.py': it is reserved for the code");
			continue;
		}
		enc = json_object_get_string(val);
		elen = (size_t)json_object_get_string_len(val);
		/* Refuse oversized files before decoding them. */
		if (b64_decoded_max(elen) > (size_t)lim->max_file_size + 2) {
			*detail = detail_string("File '%.*s' is larger than the limit of %ld bytes", utf8_clip(key, 100), key,
			    lim->max_file_size);
			return SBX_ETOOBIG;
		}
		f = &req->files[req->nfiles];
		if (b64_decode(enc, elen, &f->data, &f->len) == -1) {
			if (errno == ENOMEM)
				return SBX_ENOMEM;
			if (!why[0])
				snprintf(why, whylen, "File '%s' is not valid base64 (RFC 4648 standard alphabet, padded, "
				    "no line breaks)", shown_name(key, shown, sizeof(shown)));
			continue;
		}
		if ((f->name = strdup(key)) == NULL) {
			free(f->data);
			f->data = NULL;
			return SBX_ENOMEM;
		}
		req->nfiles++;
		if (f->len > (size_t)lim->max_file_size) {
			*detail = detail_string("File '%.*s' is larger than the limit of %ld bytes", utf8_clip(key, 100), key,
			    lim->max_file_size);
			return SBX_ETOOBIG;
		}
	}
	/* A name cannot be both a file and the directory of another file. */
	for (size_t i = 0; i < req->nfiles && !why[0]; i++)
		for (size_t j = 0; j < req->nfiles; j++) {
			size_t li = strlen(req->files[i].name);
			if (i != j && strncmp(req->files[j].name, req->files[i].name, li) == 0 &&
			    req->files[j].name[li] == '/') {
				char parent[104];

				snprintf(why, whylen, "Unsafe file name '%s': its parent '%s' is also given as a file",
				    shown_name(req->files[j].name, shown, sizeof(shown)),
				    shown_name(req->files[i].name, parent, sizeof(parent)));
				break;
			}
		}
	return SBX_OK;
}

/* args: a list of strings without NUL, bounded in count and size. */
static enum sbx_err
parse_args(json_object *v, struct exec_req *req, json_object *errs)
{
	size_t n, total = 0;

	if (!json_object_is_type(v, json_type_array)) {
		add_err(errs, "args", NULL, "Input should be a valid list", "list_type", v, NULL);
		return SBX_OK;
	}
	if ((n = json_object_array_length(v)) > REQ_MAX_ARGS) {
		json_object_array_add(errs, req_error_list_too_long("args", REQ_MAX_ARGS, v));
		return SBX_OK;
	}
	if ((req->args = calloc(n + 1, sizeof(char *))) == NULL)
		return SBX_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *a = json_object_array_get_idx(v, i);

		if (!json_object_is_type(a, json_type_string)) {
			add_err_at(errs, "args", i, "Input should be a valid string", "string_type", a);
			continue;
		}
		if ((size_t)json_object_get_string_len(a) != strlen(json_object_get_string(a)) ||
		    json_object_get_string_len(a) > REQ_MAX_ARGLEN ||
		    (total += (size_t)json_object_get_string_len(a) + 1) > REQ_MAX_ARGS_BYTES) {
			add_err_at(errs, "args", i, "Value error, argument contains NUL or is too long "
			    "(4096 bytes each, 64 KB in all)", "value_error", a);
			continue;
		}
		if ((req->args[req->nargs++] = strdup(json_object_get_string(a))) == NULL)
			return SBX_ENOMEM;
	}
	return SBX_OK;
}

/* A string field copied out with its length (it may hold NUL: code and stdin are bytes to the program). */
static enum sbx_err
string_field(json_object *errs, json_object *v, const char *field, char **out, size_t *outlen)
{
	if (!json_object_is_type(v, json_type_string)) {
		add_err(errs, field, NULL, "Input should be a valid string", "string_type", v, NULL);
		return SBX_OK;
	}
	*outlen = (size_t)json_object_get_string_len(v);
	return (*out = dup_bytes(json_object_get_string(v), *outlen)) ? SBX_OK : SBX_ENOMEM;
}

enum sbx_err
req_parse(const char *body, size_t len, const struct limits *lim, bool environment_required,
    struct exec_req *req, json_object **detail)
{
	json_object *root = NULL, *errs = NULL, *v;
	enum sbx_err rc = SBX_EINVAL;
	char file_problem[400] = "";
	double n;
	bool b;

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
	if (!json_object_object_get_ex(root, "code", &v) || v == NULL)
		add_err(errs, "code", NULL, "Field required", "missing", root, NULL);
	else if (string_field(errs, v, "code", &req->code, &req->code_len) != SBX_OK)
		goto nomem;

	/* timeout: number, 0 < t <= max_timeout */
	if (json_object_object_get_ex(root, "timeout", &v) && v != NULL &&
	    number_field(errs, v, "timeout", false, 0, true, lim->max_timeout, &n))
		req->timeout = n;

	/* memory_mb: integer, LIMIT_MIN_MEMORY_MB <= m <= max_memory_mb */
	if (json_object_object_get_ex(root, "memory_mb", &v) && v != NULL &&
	    number_field(errs, v, "memory_mb", true, LIMIT_MIN_MEMORY_MB, false, lim->max_memory_mb, &n))
		req->memory_mb = (int)n;

	/* cpus: number, 0.01 <= cpus <= max_cpus (the original's limits table: 1 core, max 2) */
	if (json_object_object_get_ex(root, "cpus", &v) && v != NULL &&
	    number_field(errs, v, "cpus", false, LIMIT_MIN_CPUS, false, lim->max_cpus, &n))
		req->cpus = n;

	/* network: boolean (lax); true only where the operator allows it */
	if (json_object_object_get_ex(root, "network", &v) && v != NULL) {
		if (!lax_bool(v, &b))
			add_err(errs, "network", NULL, json_object_is_type(v, json_type_string) ? "Input should be a valid "
			    "boolean, unable to interpret input" : "Input should be a valid boolean", json_object_is_type(v,
			    json_type_string) ? "bool_parsing" : "bool_type", v, NULL);
		else if (b && !lim->allow_network)
			add_value_err(errs, "network", NULL, "network access is disabled on this server", v);
		else
			req->network = b;
	}

	/* environment: string matching the name rule, or null */
	if (json_object_object_get_ex(root, "environment", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_string)) {
			add_err(errs, "environment", NULL, "Input should be a valid string", "string_type", v, NULL);
		} else if (!limit_env_name_ok(json_object_get_string(v), (size_t)json_object_get_string_len(v))) {
			add_err(errs, "environment", NULL, "String should match pattern '" ENV_NAME_PATTERN "'",
			    "string_pattern_mismatch", v, req_ctx_string("pattern", ENV_NAME_PATTERN));
		} else if ((req->environment = strdup(json_object_get_string(v))) == NULL)
			goto nomem;
	}
	if (environment_required && req->environment == NULL &&
	    !(json_object_object_get_ex(root, "environment", &v) && v != NULL))
		add_err(errs, "environment", NULL, "Field required", "missing", root, NULL);

	/* stdin: string */
	if (json_object_object_get_ex(root, "stdin", &v) && v != NULL &&
	    string_field(errs, v, "stdin", &req->stdin_data, &req->stdin_len) != SBX_OK)
		goto nomem;

	/* output_encoding: "utf-8" (default) or "base64" */
	if (json_object_object_get_ex(root, "output_encoding", &v) && v != NULL) {
		const char *s = json_object_is_type(v, json_type_string) &&
		    (size_t)json_object_get_string_len(v) == strlen(json_object_get_string(v)) ? json_object_get_string(v) : NULL;
		if (s && strcmp(s, "base64") == 0)
			req->output_base64 = true;
		else if (s == NULL || (strcmp(s, "utf-8") != 0 && strcmp(s, "utf8") != 0))
			add_err(errs, "output_encoding", NULL, "Input should be 'utf-8' or 'base64'", "literal_error", v,
			    req_ctx_string("expected", "'utf-8' or 'base64'"));
	}

	if (json_object_object_get_ex(root, "args", &v) && v != NULL && parse_args(v, req, errs) != SBX_OK)
		goto nomem;

	if (json_object_object_get_ex(root, "files", &v) && v != NULL &&
	    (rc = parse_files(v, lim, req, errs, file_problem, sizeof(file_problem), detail)) != SBX_OK) {
		json_object_put(errs);
		errs = NULL;
		goto out;
	}
	rc = SBX_EINVAL;
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
	/* Last, as the original found it only when it wrote the files: a failed run, not a refusal. */
	if (file_problem[0] && (req->input_error = strdup(file_problem)) == NULL)
		goto nomem;
	rc = SBX_OK;
	goto out;
nomem:
	rc = SBX_ENOMEM;
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
	free(req->input_error);
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
