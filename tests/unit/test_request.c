/* test_request.c: TAP tests of req_parse/req_safe_name against API.md's POST /execute table and error rules. */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "b64.h"
#include "request.h"
#include "tap.h"
#include "testutil.h"

#define JFLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* The service defaults (conf_defaults; max_input_bytes as http.c derives it from workdir_mb 64). */
static const struct limits deflim = {
	.max_code_length = 51200, .default_timeout = 30, .max_timeout = 300,
	.max_file_size = 10485760, .max_input_files = 100,
	.max_input_bytes = 63L * 1024 * 1024,
	.default_memory_mb = 512, .max_memory_mb = 2048, .allow_network = false,
};

/* Whether the route parsed for requires an environment (/execute-with-environment). */
static bool env_required;

/* req_parse over an exact-size heap copy, so that ASan catches any read past the body. */
static enum sbx_err
parse_n(const char *body, size_t len, const struct limits *lim, struct exec_req *req, json_object **detail)
{
	char *copy = xmalloc(len);
	enum sbx_err rc;

	memcpy(copy, body, len);
	rc = req_parse(copy, len, lim, env_required, req, detail);
	free(copy);
	return rc;
}

static const char *
js(json_object *o)
{
	return o ? json_object_to_json_string_ext(o, JFLAGS) : "(null)";
}

/* want may list alternatives separated by sep: where pydantic's exact answer depends on the input kind. */
static bool
one_of(const char *got, const char *want, const char *sep)
{
	size_t n = strlen(got), seplen = strlen(sep);

	for (const char *p = want; ; ) {
		const char *bar = strstr(p, sep);
		size_t k = bar ? (size_t)(bar - p) : strlen(p);
		if (k == n && strncmp(p, got, n) == 0)
			return true;
		if (bar == NULL)
			return false;
		p = bar + seplen;
	}
}

/* True iff item is {"loc": loc, "msg": non-empty string, "type": type}; loc NULL skips the loc check,
 * "A OR B" accepts either. */
static bool
item_is(json_object *item, const char *type, const char *loc)
{
	json_object *t, *l, *m;

	return json_object_is_type(item, json_type_object) &&
	    json_object_object_get_ex(item, "type", &t) && json_object_is_type(t, json_type_string) &&
	    one_of(json_object_get_string(t), type, "|") &&
	    json_object_object_get_ex(item, "loc", &l) && json_object_is_type(l, json_type_array) &&
	    (loc == NULL || one_of(js(l), loc, " OR ")) &&
	    json_object_object_get_ex(item, "msg", &m) && json_object_is_type(m, json_type_string) &&
	    json_object_get_string_len(m) > 0;
}

/* A 422 whose detail list holds exactly one item of this type and loc. */
static void
expect_422_lim(const char *body, size_t len, const struct limits *lim, const char *type, const char *loc,
    const char *what)
{
	struct exec_req req;
	json_object *d = NULL;
	enum sbx_err rc = parse_n(body, len, lim, &req, &d);
	bool good = rc == SBX_EINVAL && json_object_is_type(d, json_type_array) &&
	    json_object_array_length(d) == 1 && item_is(json_object_array_get_idx(d, 0), type, loc);

	ok(good, "%s -> 422 %s at %s", what, type, loc ? loc : "(any)");
	if (!good)
		printf("#   rc=%d detail=%s\n", rc, js(d));
	json_object_put(d);
	req_free(&req);
}

#define expect_422(body, type, loc, what) expect_422_lim(body, strlen(body), &deflim, type, loc, what)

/* An input file the original took and then failed the run over (unsafe name, not base64): parsed, with
 * input_error saying why (the handler answers 200, success false). */
static void
expect_file_failure(const char *body, const char *what, const char *why)
{
	struct exec_req req;
	json_object *d = NULL;
	enum sbx_err rc = parse_n(body, strlen(body), &deflim, &req, &d);
	bool good = rc == SBX_OK && req.input_error && strstr(req.input_error, why);

	ok(good, "%s -> a failed run: %s", what, why);
	if (!good)
		printf("#   rc=%d detail=%s input_error=%s\n", rc, js(d), rc == SBX_OK && req.input_error ?
		    req.input_error : "(none)");
	json_object_put(d);
	req_free(&req);
}
#define expect_422_l(body, lim, type, loc, what) expect_422_lim(body, strlen(body), lim, type, loc, what)

/* FastAPI's json_invalid: loc ["body", position], ctx.error a string; pos -1 accepts any 0..len. */
static void
expect_json_invalid(const char *body, size_t len, long pos, const char *what)
{
	struct exec_req req;
	json_object *d = NULL, *item, *loc, *ctx, *e;
	enum sbx_err rc = parse_n(body, len, &deflim, &req, &d);
	bool good = false;

	if (rc == SBX_EINVAL && json_object_is_type(d, json_type_array) && json_object_array_length(d) == 1) {
		item = json_object_array_get_idx(d, 0);
		if (item_is(item, "json_invalid", NULL) && json_object_object_get_ex(item, "loc", &loc) &&
		    json_object_array_length(loc) == 2 &&
		    strcmp(json_object_get_string(json_object_array_get_idx(loc, 0)), "body") == 0 &&
		    json_object_is_type(json_object_array_get_idx(loc, 1), json_type_int)) {
			int64_t at = json_object_get_int64(json_object_array_get_idx(loc, 1));
			good = at >= 0 && (uint64_t)at <= len && (pos < 0 || at == pos) &&
			    json_object_object_get_ex(item, "ctx", &ctx) && json_object_object_get_ex(ctx, "error", &e) &&
			    json_object_is_type(e, json_type_string) && json_object_get_string_len(e) > 0;
		}
	}
	if (pos >= 0)
		ok(good, "%s -> 422 json_invalid at [\"body\", %ld]", what, pos);
	else
		ok(good, "%s -> 422 json_invalid at [\"body\", N]", what);
	if (!good)
		printf("#   rc=%d detail=%s\n", rc, js(d));
	json_object_put(d);
	req_free(&req);
}

#define JSON_INVALID(lit, pos, what) expect_json_invalid(lit, sizeof(lit) - 1, pos, what)

/* A non-422 error whose detail is a plain string containing want. */
static void
expect_detail_str(const char *body, size_t len, const struct limits *lim, enum sbx_err want_rc,
    const char *want, const char *what)
{
	struct exec_req req;
	json_object *d = NULL;
	enum sbx_err rc = parse_n(body, len, lim, &req, &d);
	bool good = rc == want_rc && json_object_is_type(d, json_type_string) &&
	    strstr(json_object_get_string(d), want) != NULL;

	ok(good, "%s -> rc %d, detail string with '%s'", what, want_rc, want);
	if (!good)
		printf("#   rc=%d detail=%s\n", rc, js(d));
	json_object_put(d);
	req_free(&req);
}

#define DETAIL_STR(lit, lim, rc, want, what) expect_detail_str(lit, sizeof(lit) - 1, lim, rc, want, what)

/* Parse what must be accepted; the caller inspects and frees req. */
static bool
accept_lim(const char *body, size_t len, const struct limits *lim, struct exec_req *req, const char *what)
{
	json_object *d = NULL;
	enum sbx_err rc = parse_n(body, len, lim, req, &d);
	bool good = rc == SBX_OK && d == NULL;

	ok(good, "%s: accepted", what);
	if (!good)
		printf("#   rc=%d detail=%s\n", rc, js(d));
	json_object_put(d);
	return good;
}

#define accept(body, req, what) accept_lim(body, strlen(body), &deflim, req, what)
#define accept_l(body, lim, req, what) accept_lim(body, strlen(body), lim, req, what)

static const struct run_file *
find_file(const struct exec_req *req, const char *name, size_t namelen)
{
	for (size_t i = 0; i < req->nfiles; i++)
		if (strlen(req->files[i].name) == namelen && memcmp(req->files[i].name, name, namelen) == 0)
			return &req->files[i];
	return NULL;
}

/* Body with one input file: {"code":"print(1)","files":{<key_json>:<val_json>}} (both already JSON text). */
static char *
files_body(const char *key_json, const char *val_json)
{
	size_t n = strlen(key_json) + strlen(val_json) + 64;
	char *b = xmalloc(n);

	snprintf(b, n, "{\"code\":\"print(1)\",\"files\":{%s:%s}}", key_json, val_json);
	return b;
}

/* The parser's loc for a file name, built with json-c so escapes match byte for byte. */
static char *
file_loc(const char *name, size_t len)
{
	json_object *a = json_object_new_array();
	char *s;

	json_object_array_add(a, json_object_new_string("body"));
	json_object_array_add(a, json_object_new_string("files"));
	json_object_array_add(a, json_object_new_string_len(name, (int)len));
	s = strdup(js(a));
	json_object_put(a);
	return s;
}

static char *
repeat(char c, size_t n)
{
	char *s = xmalloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void
test_valid(void)
{
	struct exec_req r;
	const struct run_file *f;
	static const char full[] =
	    "{\"code\":\"import sys\\nprint(sys.argv)\","
	    "\"timeout\":12.5,"
	    "\"files\":{\"data.csv\":\"YSxiCjEsMgo=\",\"sub/dir/b.bin\":\"AAEC/w==\",\"empty\":\"\"},"
	    "\"environment\":\"data-science_1\","
	    "\"stdin\":\"line1\\nline2\","
	    "\"args\":[\"--n\",\"3\",\"\\u00e9t\\u00e9\"],"
	    "\"memory_mb\":256,"
	    "\"network\":false,"
	    "\"output_encoding\":\"base64\","
	    "\"unknown_field\":{\"nested\":[1,2,{\"x\":null}]},\"another\":true}";

	if (accept("{\"code\":\"print(1)\"}", &r, "minimal request")) {
		ok(r.code && r.code_len == 8 && memcmp(r.code, "print(1)", 8) == 0, "minimal: code");
		ok(r.timeout == 30, "minimal: timeout defaults to 30 (got %g)", r.timeout);
		ok(r.memory_mb == 512, "minimal: memory_mb defaults to 512 (got %d)", r.memory_mb);
		ok(!r.network, "minimal: network defaults to false");
		ok(r.environment == NULL, "minimal: environment defaults to null");
		ok(r.stdin_len == 0, "minimal: stdin defaults to empty");
		ok(r.nargs == 0, "minimal: args default to []");
		ok(r.nfiles == 0, "minimal: files default to {}");
		ok(!r.output_base64, "minimal: output_encoding defaults to utf-8");
	}
	req_free(&r);

	if (accept(full, &r, "full request")) {
		is_str(r.code, "import sys\nprint(sys.argv)", "full: code");
		ok(r.code_len == strlen("import sys\nprint(sys.argv)"), "full: code_len");
		ok(r.timeout == 12.5, "full: timeout 12.5 (got %g)", r.timeout);
		ok(r.memory_mb == 256, "full: memory_mb 256 (got %d)", r.memory_mb);
		ok(!r.network, "full: network false");
		is_str(r.environment, "data-science_1", "full: environment");
		ok(r.stdin_len == 11 && r.stdin_data && memcmp(r.stdin_data, "line1\nline2", 11) == 0, "full: stdin");
		ok(r.nargs == 3, "full: 3 args (got %zu)", r.nargs);
		if (r.nargs == 3) {
			is_str(r.args[0], "--n", "full: args[0]");
			is_str(r.args[1], "3", "full: args[1]");
			is_str(r.args[2], "\xc3\xa9t\xc3\xa9", "full: args[2] is UTF-8");
			ok(r.args[3] == NULL, "full: args NULL-terminated");
		}
		ok(r.output_base64, "full: output_encoding base64");
		ok(r.nfiles == 3, "full: 3 files (got %zu)", r.nfiles);
		f = find_file(&r, "data.csv", 8);
		ok(f && f->len == 8 && memcmp(f->data, "a,b\n1,2\n", 8) == 0, "full: data.csv decoded");
		f = find_file(&r, "sub/dir/b.bin", 13);
		ok(f && f->len == 4 && memcmp(f->data, "\x00\x01\x02\xff", 4) == 0, "full: nested sub/dir/b.bin decoded");
		f = find_file(&r, "empty", 5);
		ok(f && f->len == 0, "full: empty file allowed");
	}
	req_free(&r);

	if (accept("  \r\n\t{ \"code\" : \"x=1\" , \"timeout\" : 5 }\r\n  ", &r, "whitespace around tokens and the value"))
		ok(r.timeout == 5, "whitespace: timeout 5");
	req_free(&r);

	if (accept("{\"code\":\"x\",\"code\":\"y=2\"}", &r, "duplicate key"))
		is_str(r.code, "y=2", "duplicate key: the last one wins, as in Python's json");
	req_free(&r);

	if (accept("{\"code\":\"x=1\",\"environment\":null}", &r, "explicit null environment"))
		ok(r.environment == NULL, "explicit null environment is none");
	req_free(&r);

	{
		char deep[128];
		strcpy(deep, "{\"code\":\"x=1\",\"a\":");
		memset(deep + 18, '[', 20);
		strcpy(deep + 38, "1");
		memset(deep + 39, ']', 20);
		strcpy(deep + 59, "}");
		if (accept(deep, &r, "unknown field 20 deep"))
			ok(r.code_len == 3, "unknown nested field ignored");
		req_free(&r);
	}
}

static void
test_malformed_json(void)
{
	static const char nul_after[] = "{\"code\":\"x\"}\0";
	static const char nul_inside[] = "{\"code\":\"a\0b\"}";
	char *deep, *deep_obj;
	size_t n = 100000;

	JSON_INVALID("", 0, "empty body");
	JSON_INVALID("{\"code\":\"x\"", 11, "truncated (no closing brace)");
	JSON_INVALID("{\"code\":\"x", 10, "truncated inside a string");
	JSON_INVALID("{\"code\":", 8, "truncated after a colon");
	JSON_INVALID("{\"code\":\"x\"} x", 13, "trailing garbage");
	JSON_INVALID("{\"code\":\"x\"}{}", 12, "two JSON values");
	expect_json_invalid(nul_after, sizeof(nul_after) - 1, 12, "trailing NUL byte");
	JSON_INVALID("{'code':'x'}", -1, "single quotes");
	JSON_INVALID("{\"code\":\"x\",\"timeout\":NaN}", -1, "NaN literal");
	JSON_INVALID("{\"code\":\"x\",\"a\":NaN}", -1, "NaN in an unknown field");
	JSON_INVALID("{\"code\":\"x\",\"a\":Infinity}", -1, "Infinity literal");
	JSON_INVALID("{\"code\":\"x\",\"a\":-Infinity}", -1, "-Infinity literal");
	JSON_INVALID("{\"code\":\"x\"/* c */}", -1, "block comment");
	JSON_INVALID("{\"code\":\"x\"} // c", -1, "line comment");
	JSON_INVALID("// c\n{\"code\":\"x\"}", -1, "leading comment");
	JSON_INVALID("{\"code\":\"x\",}", -1, "trailing comma");
	JSON_INVALID("{\"code\":\"x\",\"timeout\":01}", -1, "leading zero");
	JSON_INVALID("{\"code\":\"x\",\"timeout\":.5}", -1, "number without integer part");
	JSON_INVALID("{code:\"x\"}", -1, "unquoted key");
	JSON_INVALID("{\"code\":\"\\x41\"}", -1, "invalid escape");
	JSON_INVALID("{\"code\":\"a\nb\"}", -1, "raw newline inside a string (RFC 8259: must be escaped)");
	JSON_INVALID("{\"code\":\"a\x01" "b\"}", -1, "raw U+0001 inside a string");
	expect_json_invalid(nul_inside, sizeof(nul_inside) - 1, -1, "raw NUL inside a string");
	JSON_INVALID("{\"code\":\"\xff\"}", -1, "invalid UTF-8 (0xFF) in a string");
	JSON_INVALID("{\"code\":\"\xc0\x80\"}", -1, "overlong NUL (C0 80) in a string");
	JSON_INVALID("{\"code\":\"\xed\xa0\x80\"}", -1, "UTF-8 surrogate (ED A0 80) in a string");
	JSON_INVALID("{\"code\":\"\xe6\x97\"}", -1, "truncated UTF-8 sequence in a string");
	JSON_INVALID("{\"code\":\"\xf4\x90\x80\x80\"}", -1, "code point past U+10FFFF in a string");
	JSON_INVALID("{\"code\":\"\x80\"}", -1, "lone continuation byte in a string");
	JSON_INVALID("{\"stdin\":\"\xe0\x80\x80\",\"code\":\"x\"}", -1, "overlong E0 80 80 in stdin");
	JSON_INVALID("{\"c\xff\":\"x\"}", -1, "invalid UTF-8 in a key");

	/* Deep nesting must hit the depth limit, not the stack. */
	deep = repeat('[', n);
	expect_json_invalid(deep, n, -1, "100000 '[' (deep nesting)");
	free(deep);
	deep_obj = xmalloc(2 * n + 32);
	strcpy(deep_obj, "{\"code\":\"x\",\"a\":");
	memset(deep_obj + strlen(deep_obj), '[', 40);
	memset(deep_obj + 16 + 40, ']', 40);
	strcpy(deep_obj + 16 + 80, "}");
	expect_json_invalid(deep_obj, strlen(deep_obj), -1, "40 levels inside the object (over the depth limit)");
	free(deep_obj);
	deep = xmalloc(2 * n);
	memset(deep, '[', n);
	memset(deep + n, ']', n);
	expect_json_invalid(deep, 2 * n, -1, "100000 nested closed arrays");
	free(deep);
	deep = repeat('{', n);
	for (size_t i = 0; i + 4 < n; i += 5)
		memcpy(deep + i, "{\"a\":", 5);
	expect_json_invalid(deep, n, -1, "20000 nested objects");
	free(deep);

	/* Valid JSON that is not an object: FastAPI's model_attributes_type at ["body"]. */
	expect_422("[]", "model_attributes_type", "[\"body\"]", "array body");
	expect_422("[{\"code\":\"x\"}]", "model_attributes_type", "[\"body\"]", "array of a request");
	expect_422("\"print(1)\"", "model_attributes_type", "[\"body\"]", "string body");
	expect_422("42", "model_attributes_type", "[\"body\"]", "number body 42");
	expect_422("42 ", "model_attributes_type", "[\"body\"]", "number body '42 '");
	expect_422("true", "model_attributes_type", "[\"body\"]", "boolean body");
	/* FastAPI answers a null body with "missing" at ["body"]; either is fine, json_invalid is not. */
	expect_422("null", "missing|model_attributes_type", "[\"body\"]", "null body");
	expect_422("null\n", "missing|model_attributes_type", "[\"body\"]", "null body with a newline");
}

static void
test_code(void)
{
	struct exec_req r;
	static const char nul_code[] = "{\"code\":\"print(1)\\u0000#\"}";
	char *body, *code;
	size_t max = (size_t)deflim.max_code_length;

	expect_422("{}", "missing", "[\"body\",\"code\"]", "missing code");
	expect_422("{\"timeout\":5}", "missing", "[\"body\",\"code\"]", "missing code, other fields present");
	expect_422("{\"code\":123}", "string_type", "[\"body\",\"code\"]", "code a number");
	expect_422("{\"code\":[\"x\"]}", "string_type", "[\"body\",\"code\"]", "code a list");
	expect_422("{\"code\":{}}", "string_type", "[\"body\",\"code\"]", "code an object");
	expect_422("{\"code\":true}", "string_type", "[\"body\",\"code\"]", "code a boolean");

	DETAIL_STR("{\"code\":\"\"}", &deflim, SBX_EBADREQ, "empty", "empty code -> 400");
	DETAIL_STR("{\"code\":\"   \"}", &deflim, SBX_EBADREQ, "empty", "spaces-only code -> 400");
	DETAIL_STR("{\"code\":\"\\n\\n\\n\"}", &deflim, SBX_EBADREQ, "empty", "newlines-only code -> 400");
	DETAIL_STR("{\"code\":\" \\t\\r\\n \"}", &deflim, SBX_EBADREQ, "empty", "mixed blank code -> 400");

	if (accept(nul_code, &r, "code with \\u0000")) {
		ok(r.code_len == 10, "code with NUL keeps its length 10 (got %zu)", r.code_len);
		ok(r.code && memcmp(r.code, "print(1)\0#", 10) == 0, "code with NUL keeps its bytes");
	}
	req_free(&r);

	/* At most max_code_length bytes (not characters). */
	code = repeat('#', max + 1);
	body = xmalloc(max + 32);
	snprintf(body, max + 32, "{\"code\":\"%.*s\"}", (int)max, code);
	if (accept(body, &r, "code of exactly max_code_length bytes"))
		ok(r.code_len == max, "code length %zu", r.code_len);
	req_free(&r);
	snprintf(body, max + 32, "{\"code\":\"%s\"}", code);
	expect_detail_str(body, strlen(body), &deflim, SBX_EBADREQ, "too long", "code of max_code_length + 1 bytes -> 400");
	free(body);
	free(code);
	body = xmalloc(max + 64);
	code = body + snprintf(body, max + 64, "{\"code\":\"");
	for (size_t i = 0; i < max / 2; i++, code += 2)
		memcpy(code, "\xc3\xa9", 2);
	strcpy(code, "\"}");
	if (accept(body, &r, "25600 two-byte characters = max bytes"))
		ok(r.code_len == max, "UTF-8 code counted in bytes");
	req_free(&r);
	strcpy(code, "\xc3\xa9\"}");
	expect_detail_str(body, strlen(body), &deflim, SBX_EBADREQ, "too long", "25601 two-byte characters -> 400");
	free(body);

	/* 422s win over the 400 checks: a validation error is reported even with blank code. */
	expect_422("{\"code\":\"  \",\"timeout\":0}", "greater_than", "[\"body\",\"timeout\"]", "blank code and bad timeout");
}

static void
test_timeout(void)
{
	struct exec_req r;

	expect_422("{\"code\":\"x\",\"timeout\":0}", "greater_than", "[\"body\",\"timeout\"]", "timeout 0");
	expect_422("{\"code\":\"x\",\"timeout\":0.0}", "greater_than", "[\"body\",\"timeout\"]", "timeout 0.0");
	expect_422("{\"code\":\"x\",\"timeout\":-0}", "greater_than", "[\"body\",\"timeout\"]", "timeout -0");
	expect_422("{\"code\":\"x\",\"timeout\":-1}", "greater_than", "[\"body\",\"timeout\"]", "timeout -1");
	expect_422("{\"code\":\"x\",\"timeout\":-0.5}", "greater_than", "[\"body\",\"timeout\"]", "timeout -0.5");
	expect_422("{\"code\":\"x\",\"timeout\":301}", "less_than_equal", "[\"body\",\"timeout\"]", "timeout 301");
	expect_422("{\"code\":\"x\",\"timeout\":300.001}", "less_than_equal", "[\"body\",\"timeout\"]", "timeout 300.001");
	expect_422("{\"code\":\"x\",\"timeout\":99999999999999999999}", "less_than_equal", "[\"body\",\"timeout\"]",
	    "timeout 99999999999999999999");
	expect_422("{\"code\":\"x\",\"timeout\":-99999999999999999999}", "greater_than", "[\"body\",\"timeout\"]",
	    "timeout -99999999999999999999");
	/* 1e400 overflows a double: 422 at timeout whatever the type says (pydantic: less_than_equal). */
	expect_422("{\"code\":\"x\",\"timeout\":1e400}", "float_type|less_than_equal|finite_number",
	    "[\"body\",\"timeout\"]", "timeout 1e400");
	expect_422("{\"code\":\"x\",\"timeout\":[1]}", "float_type", "[\"body\",\"timeout\"]", "timeout a list");
	expect_422("{\"code\":\"x\",\"timeout\":{}}", "float_type", "[\"body\",\"timeout\"]", "timeout an object");
	expect_422("{\"code\":\"x\",\"timeout\":\"soon\"}", "float_type|float_parsing", "[\"body\",\"timeout\"]",
	    "timeout a non-numeric string");

	/* pydantic's lax mode, as the original took them: numeric strings are numbers. */
	if (accept("{\"code\":\"x\",\"timeout\":\"5\"}", &r, "timeout \"5\""))
		ok(r.timeout == 5, "timeout \"5\" is 5");
	req_free(&r);
	if (accept("{\"code\":\"x\",\"timeout\":\" 2.5e0\\n\"}", &r, "timeout \" 2.5e0\\n\""))
		ok(r.timeout == 2.5, "timeout \" 2.5e0\\n\" is 2.5");
	req_free(&r);
	expect_422("{\"code\":\"x\",\"timeout\":\"0x10\"}", "float_parsing", "[\"body\",\"timeout\"]", "timeout \"0x10\"");
	expect_422("{\"code\":\"x\",\"timeout\":\"inf\"}", "float_parsing", "[\"body\",\"timeout\"]", "timeout \"inf\"");
	expect_422("{\"code\":\"x\",\"timeout\":\"nan\"}", "float_parsing", "[\"body\",\"timeout\"]", "timeout \"nan\"");
	expect_422("{\"code\":\"x\",\"timeout\":\"\"}", "float_parsing", "[\"body\",\"timeout\"]", "timeout \"\"");
	expect_422("{\"code\":\"x\",\"timeout\":\"5s\"}", "float_parsing", "[\"body\",\"timeout\"]", "timeout \"5s\"");
	expect_422("{\"code\":\"x\",\"timeout\":\"-1\"}", "greater_than", "[\"body\",\"timeout\"]", "timeout \"-1\"");
	expect_422("{\"code\":\"x\",\"timeout\":\"301\"}", "less_than_equal", "[\"body\",\"timeout\"]", "timeout \"301\"");
	expect_422("{\"code\":\"x\",\"timeout\":true}", "float_type", "[\"body\",\"timeout\"]", "timeout true");
	{
		double v = 0;
		ok(req_lax_number("1.", 2, &v) && v == 1, "lax number \"1.\"");
		ok(req_lax_number(".5", 2, &v) && v == 0.5, "lax number \".5\"");
		ok(req_lax_number("+3", 2, &v) && v == 3, "lax number \"+3\"");
		ok(!req_lax_number(".", 1, &v), "lax number \".\" refused");
		ok(!req_lax_number("1e", 2, &v), "lax number \"1e\" refused");
		ok(!req_lax_number("1 2", 3, &v), "lax number \"1 2\" refused");
		ok(!req_lax_number("1e999", 5, &v), "lax number \"1e999\" (not finite) refused");
		ok(!req_lax_number("5\0", 2, &v), "lax number with a NUL refused");
	}
	/* A large input is not echoed (null): a 422 stays small whatever the body. */
	{
		size_t big = REQ_ERROR_INPUT_MAX + 10;
		char *body = xmalloc(big + 64), *txt;
		json_object *d = NULL, *it, *x;
		enum sbx_err rc;

		snprintf(body, big + 64, "{\"timeout\":\"%0*d\"}", (int)big, 0);
		memset(strchr(body, '0'), 'x', big);
		rc = parse_n(body, strlen(body), &deflim, &r, &d);
		txt = rc == SBX_EINVAL ? strdup(json_object_to_json_string(d)) : NULL;
		ok(txt && strlen(txt) < 2048, "422 of a %zu-byte field and a missing code is small (%zu bytes)", big,
		    txt ? strlen(txt) : 0);
		it = rc == SBX_EINVAL ? json_object_array_get_idx(d, 0) : NULL;
		ok(it && json_object_object_get_ex(it, "input", &x) && x == NULL, "422 item: large input is null");
		free(txt);
		free(body);
		json_object_put(d);
	}
	/* No body holds 100000 values: refused before json-c builds them. */
	{
		size_t n = REQ_MAX_JSON_VALUES + 1;
		char *body = xmalloc(3 * n + 16);
		size_t o = 0;

		o += (size_t)sprintf(body, "{\"args\":[");
		for (size_t i = 0; i < n; i++)
			o += (size_t)sprintf(body + o, "%s1", i ? "," : "");
		sprintf(body + o, "]}");
		expect_json_invalid(body, strlen(body), -1, "100001 values");
		free(body);
	}
	/* The 422 item as pydantic 2 wrote it: type, loc, msg, input, ctx, url. */
	{
		json_object *d = NULL, *it, *x;
		enum sbx_err rc = parse_n("{\"code\":\"x\",\"timeout\":-1}", 25, &deflim, &r, &d);

		it = rc == SBX_EINVAL ? json_object_array_get_idx(d, 0) : NULL;
		ok(it && json_object_object_get_ex(it, "input", &x) && json_object_get_int(x) == -1,
		    "422 item: input is the value");
		ok(it && json_object_object_get_ex(it, "ctx", &x) && json_object_object_get_ex(x, "gt", &x) &&
		    json_object_get_int(x) == 0, "422 item: ctx {\"gt\": 0}");
		ok(it && json_object_object_get_ex(it, "url", &x) &&
		    strcmp(json_object_get_string(x), "https://errors.pydantic.dev/2.6/v/greater_than") == 0,
		    "422 item: url of pydantic's page for the type");
		json_object_put(d);
		rc = parse_n("{\"timeout\":1}", 13, &deflim, &r, &d);
		it = rc == SBX_EINVAL ? json_object_array_get_idx(d, 0) : NULL;
		ok(it && json_object_object_get_ex(it, "input", &x) && json_object_is_type(x, json_type_object) &&
		    json_object_object_get_ex(x, "timeout", NULL), "422 missing: input is the enclosing body");
		json_object_put(d);
	}

	if (accept("{\"code\":\"x\",\"timeout\":300}", &r, "timeout 300 (the maximum)"))
		ok(r.timeout == 300, "timeout 300 kept");
	req_free(&r);
	if (accept("{\"code\":\"x\",\"timeout\":0.001}", &r, "timeout 0.001"))
		ok(r.timeout == 0.001, "timeout 0.001 kept");
	req_free(&r);
	if (accept("{\"code\":\"x\",\"timeout\":1E1}", &r, "timeout 1E1"))
		ok(r.timeout == 10, "timeout 1E1 is 10");
	req_free(&r);
	{
		struct limits lim = deflim;
		lim.max_timeout = 60;
		lim.default_timeout = 20;
		expect_422_l("{\"code\":\"x\",\"timeout\":61}", &lim, "less_than_equal", "[\"body\",\"timeout\"]",
		    "timeout above a configured max of 60");
		if (accept_l("{\"code\":\"x\"}", &lim, &r, "configured default timeout"))
			ok(r.timeout == 20, "configured default timeout 20 applied");
		req_free(&r);
	}
}

static void
test_memory(void)
{
	struct exec_req r;

	expect_422("{\"code\":\"x\",\"memory_mb\":31}", "greater_than_equal", "[\"body\",\"memory_mb\"]", "memory_mb 31");
	expect_422("{\"code\":\"x\",\"memory_mb\":0}", "greater_than_equal", "[\"body\",\"memory_mb\"]", "memory_mb 0");
	expect_422("{\"code\":\"x\",\"memory_mb\":-512}", "greater_than_equal", "[\"body\",\"memory_mb\"]", "memory_mb -512");
	expect_422("{\"code\":\"x\",\"memory_mb\":2049}", "less_than_equal", "[\"body\",\"memory_mb\"]", "memory_mb 2049");
	expect_422("{\"code\":\"x\",\"memory_mb\":99999999999999999999}", "less_than_equal", "[\"body\",\"memory_mb\"]",
	    "memory_mb 99999999999999999999");
	expect_422("{\"code\":\"x\",\"memory_mb\":1e300}", "less_than_equal", "[\"body\",\"memory_mb\"]", "memory_mb 1e300");
	expect_422("{\"code\":\"x\",\"memory_mb\":1e400}", "int_type|less_than_equal|finite_number",
	    "[\"body\",\"memory_mb\"]", "memory_mb 1e400");
	expect_422("{\"code\":\"x\",\"memory_mb\":-1e400}", "int_type|greater_than_equal|finite_number",
	    "[\"body\",\"memory_mb\"]", "memory_mb -1e400");
	expect_422("{\"code\":\"x\",\"memory_mb\":1.5}", "int_type|int_from_float", "[\"body\",\"memory_mb\"]",
	    "memory_mb 1.5 (not integral)");
	expect_422("{\"code\":\"x\",\"memory_mb\":512.25}", "int_type|int_from_float", "[\"body\",\"memory_mb\"]",
	    "memory_mb 512.25");
	expect_422("{\"code\":\"x\",\"memory_mb\":{}}", "int_type", "[\"body\",\"memory_mb\"]", "memory_mb an object");
	expect_422("{\"code\":\"x\",\"memory_mb\":[512]}", "int_type", "[\"body\",\"memory_mb\"]", "memory_mb a list");
	expect_422("{\"code\":\"x\",\"memory_mb\":\"lots\"}", "int_type|int_parsing", "[\"body\",\"memory_mb\"]",
	    "memory_mb a non-numeric string");

	if (accept("{\"code\":\"x\",\"memory_mb\":\"512\"}", &r, "memory_mb \"512\" (lax)"))
		ok(r.memory_mb == 512, "memory_mb \"512\" is 512");
	req_free(&r);
	expect_422("{\"code\":\"x\",\"memory_mb\":\"512.5\"}", "int_parsing", "[\"body\",\"memory_mb\"]",
	    "memory_mb \"512.5\"");
	if (accept("{\"code\":\"x\",\"memory_mb\":1024.0}", &r, "memory_mb 1024.0"))
		ok(r.memory_mb == 1024, "memory_mb 1024.0 is 1024");
	req_free(&r);
	if (accept("{\"code\":\"x\",\"memory_mb\":32}", &r, "memory_mb 32"))
		ok(r.memory_mb == 32, "memory_mb 32 kept");
	req_free(&r);
	if (accept("{\"code\":\"x\",\"memory_mb\":2048}", &r, "memory_mb 2048"))
		ok(r.memory_mb == 2048, "memory_mb 2048 kept");
	req_free(&r);
	{
		struct limits lim = deflim;
		lim.max_memory_mb = 256;
		expect_422_l("{\"code\":\"x\",\"memory_mb\":257}", &lim, "less_than_equal", "[\"body\",\"memory_mb\"]",
		    "memory_mb above a configured max of 256");
	}
}

static void
test_network(void)
{
	struct exec_req r;
	struct limits lim = deflim;

	expect_422("{\"code\":\"x\",\"network\":true}", "value_error", "[\"body\",\"network\"]",
	    "network true when the operator did not allow it");
	expect_422("{\"code\":\"x\",\"network\":[]}", "bool_type", "[\"body\",\"network\"]", "network a list");
	expect_422("{\"code\":\"x\",\"network\":{}}", "bool_type", "[\"body\",\"network\"]", "network an object");
	expect_422("{\"code\":\"x\",\"network\":\"maybe\"}", "bool_type|bool_parsing", "[\"body\",\"network\"]",
	    "network a string");
	if (accept("{\"code\":\"x\",\"network\":\"No\"}", &r, "network \"No\" (lax)"))
		ok(!r.network, "network \"No\" is false");
	req_free(&r);
	if (accept("{\"code\":\"x\",\"network\":0}", &r, "network 0 (lax)"))
		ok(!r.network, "network 0 is false");
	req_free(&r);
	expect_422("{\"code\":\"x\",\"network\":\"yes\"}", "value_error", "[\"body\",\"network\"]",
	    "network \"yes\" when the operator did not allow it");
	expect_422("{\"code\":\"x\",\"network\":2}", "bool_type|bool_parsing", "[\"body\",\"network\"]", "network 2");
	expect_422("{\"code\":\"x\",\"network\":\"false\\u0000x\"}", "bool_type|bool_parsing", "[\"body\",\"network\"]",
	    "network \"false\\u0000x\" (a NUL after the word)");
	expect_422("{\"code\":\"x\",\"output_encoding\":\"base64\\u0000x\"}", "literal_error",
	    "[\"body\",\"output_encoding\"]", "output_encoding \"base64\\u0000x\"");
	if (accept("{\"code\":\"x\",\"network\":false}", &r, "network false"))
		ok(!r.network, "network false kept");
	req_free(&r);
	lim.allow_network = true;
	if (accept_l("{\"code\":\"x\",\"network\":true}", &lim, &r, "network true when allowed"))
		ok(r.network, "network true kept when allowed");
	req_free(&r);
	if (accept_l("{\"code\":\"x\"}", &lim, &r, "network absent when allowed"))
		ok(!r.network, "network still defaults to false when allowed");
	req_free(&r);
}

static void
test_environment(void)
{
	struct exec_req r;
	struct limits lim = deflim;
	char body[256], *name;

	if (accept("{\"code\":\"x\",\"environment\":\"data-science\"}", &r, "environment data-science"))
		is_str(r.environment, "data-science", "environment kept");
	req_free(&r);
	if (accept("{\"code\":\"x\",\"environment\":\"A_z-0\"}", &r, "environment A_z-0"))
		is_str(r.environment, "A_z-0", "environment with all allowed classes");
	req_free(&r);
	name = repeat('e', 50);
	snprintf(body, sizeof(body), "{\"code\":\"x\",\"environment\":\"%s\"}", name);
	if (accept(body, &r, "environment of 50 characters"))
		ok(r.environment && strlen(r.environment) == 50, "50-character name kept");
	req_free(&r);
	free(name);
	name = repeat('e', 51);
	snprintf(body, sizeof(body), "{\"code\":\"x\",\"environment\":\"%s\"}", name);
	expect_422(body, "string_pattern_mismatch", "[\"body\",\"environment\"]", "environment of 51 characters");
	free(name);
	expect_422("{\"code\":\"x\",\"environment\":\"../x\"}", "string_pattern_mismatch", "[\"body\",\"environment\"]",
	    "environment ../x");
	expect_422("{\"code\":\"x\",\"environment\":\"a b\"}", "string_pattern_mismatch", "[\"body\",\"environment\"]",
	    "environment 'a b'");
	expect_422("{\"code\":\"x\",\"environment\":\"\"}", "string_pattern_mismatch", "[\"body\",\"environment\"]",
	    "environment empty");
	expect_422("{\"code\":\"x\",\"environment\":\"a/b\"}", "string_pattern_mismatch", "[\"body\",\"environment\"]",
	    "environment a/b");
	expect_422("{\"code\":\"x\",\"environment\":\"caf\\u00e9\"}", "string_pattern_mismatch",
	    "[\"body\",\"environment\"]", "environment with a non-ASCII letter");
	expect_422("{\"code\":\"x\",\"environment\":\"a\\u0000b\"}", "string_pattern_mismatch",
	    "[\"body\",\"environment\"]", "environment with a NUL");
	expect_422("{\"code\":\"x\",\"environment\":\"ds\\n\"}", "string_pattern_mismatch", "[\"body\",\"environment\"]",
	    "environment with a trailing newline");
	expect_422("{\"code\":\"x\",\"environment\":5}", "string_type", "[\"body\",\"environment\"]", "environment a number");

	env_required = true;
	expect_422_l("{\"code\":\"x\"}", &lim, "missing", "[\"body\",\"environment\"]",
	    "environment_required and absent");
	expect_422_l("{\"code\":\"x\",\"environment\":null}", &lim, "missing|string_type",
	    "[\"body\",\"environment\"]", "environment_required and null");
	if (accept_l("{\"code\":\"x\",\"environment\":\"ds\"}", &lim, &r, "environment_required and given"))
		is_str(r.environment, "ds", "required environment kept");
	req_free(&r);
	env_required = false;
}

/* loc of args[i], as FastAPI's integer or (tolerated here) a string index. */
#define ARG_LOC(i) "[\"body\",\"args\"," i "] OR [\"body\",\"args\",\"" i "\"]"

static void
test_stdin_args_encoding(void)
{
	struct exec_req r;
	char *body, *p, *arg;
	size_t cap;

	if (accept("{\"code\":\"x\",\"stdin\":\"abc\\u0000def\\n\"}", &r, "stdin with a NUL")) {
		ok(r.stdin_len == 8 && r.stdin_data && memcmp(r.stdin_data, "abc\0def\n", 8) == 0, "stdin bytes and length");
	}
	req_free(&r);
	if (accept("{\"code\":\"x\",\"stdin\":\"\"}", &r, "empty stdin"))
		ok(r.stdin_len == 0, "empty stdin has length 0");
	req_free(&r);
	expect_422("{\"code\":\"x\",\"stdin\":5}", "string_type", "[\"body\",\"stdin\"]", "stdin a number");
	expect_422("{\"code\":\"x\",\"stdin\":[\"a\"]}", "string_type", "[\"body\",\"stdin\"]", "stdin a list");

	if (accept("{\"code\":\"x\",\"output_encoding\":\"utf-8\"}", &r, "output_encoding utf-8"))
		ok(!r.output_base64, "utf-8 is not base64");
	req_free(&r);
	if (accept("{\"code\":\"x\",\"output_encoding\":\"base64\"}", &r, "output_encoding base64"))
		ok(r.output_base64, "base64 selected");
	req_free(&r);
	expect_422("{\"code\":\"x\",\"output_encoding\":\"latin-1\"}", "literal_error", "[\"body\",\"output_encoding\"]",
	    "output_encoding latin-1");
	expect_422("{\"code\":\"x\",\"output_encoding\":\"BASE64\"}", "literal_error", "[\"body\",\"output_encoding\"]",
	    "output_encoding BASE64 (literals are case-sensitive)");
	expect_422("{\"code\":\"x\",\"output_encoding\":5}", "literal_error", "[\"body\",\"output_encoding\"]",
	    "output_encoding a number");

	if (accept("{\"code\":\"x\",\"args\":[]}", &r, "empty args"))
		ok(r.nargs == 0, "no args");
	req_free(&r);
	if (accept("{\"code\":\"x\",\"args\":[\"a b\",\"\",\"--x=1\"]}", &r, "args with a space and an empty one")) {
		ok(r.nargs == 3, "3 args");
		if (r.nargs == 3) {
			is_str(r.args[0], "a b", "args[0] keeps its space");
			is_str(r.args[1], "", "args[1] empty");
			is_str(r.args[2], "--x=1", "args[2]");
		}
	}
	req_free(&r);
	expect_422("{\"code\":\"x\",\"args\":\"a b\"}", "list_type", "[\"body\",\"args\"]", "args a string");
	expect_422("{\"code\":\"x\",\"args\":{\"a\":1}}", "list_type", "[\"body\",\"args\"]", "args an object");
	/* FastAPI/pydantic give list positions in loc as integers; checked once here, leniently below. */
	expect_422("{\"code\":\"x\",\"args\":[\"a\",1]}", "string_type", "[\"body\",\"args\",1]",
	    "args with a number (FastAPI loc: integer index)");
	expect_422("{\"code\":\"x\",\"args\":[null]}", "string_type", ARG_LOC("0"), "args with a null");
	expect_422("{\"code\":\"x\",\"args\":[\"ok\",\"a\\u0000b\"]}", "value_error", ARG_LOC("1"), "arg with a NUL");

	/* REQ_MAX_ARGS items at most. */
	cap = (REQ_MAX_ARGS + 2) * 6 + 64;
	body = xmalloc(cap);
	for (int n = REQ_MAX_ARGS; n <= REQ_MAX_ARGS + 1; n++) {
		p = body + sprintf(body, "{\"code\":\"x\",\"args\":[");
		for (int i = 0; i < n; i++)
			p += sprintf(p, "%s\"a\"", i ? "," : "");
		strcpy(p, "]}");
		if (n == REQ_MAX_ARGS) {
			if (accept(body, &r, "256 args"))
				ok(r.nargs == 256 && r.args[256] == NULL, "256 args kept");
			req_free(&r);
		} else
			expect_422(body, "too_long", "[\"body\",\"args\"]", "257 args");
	}
	free(body);

	/* Each arg at most REQ_MAX_ARGLEN bytes, all together at most REQ_MAX_ARGS_BYTES. */
	cap = 20 * (REQ_MAX_ARGLEN + 4) + 64;
	body = xmalloc(cap);
	arg = repeat('a', REQ_MAX_ARGLEN + 1);
	snprintf(body, cap, "{\"code\":\"x\",\"args\":[\"%.*s\"]}", REQ_MAX_ARGLEN, arg);
	if (accept(body, &r, "arg of REQ_MAX_ARGLEN bytes"))
		ok(r.nargs == 1 && strlen(r.args[0]) == REQ_MAX_ARGLEN, "longest arg kept");
	req_free(&r);
	snprintf(body, cap, "{\"code\":\"x\",\"args\":[\"%s\"]}", arg);
	expect_422(body, "value_error", ARG_LOC("0"), "arg of REQ_MAX_ARGLEN + 1 bytes");
	p = body + sprintf(body, "{\"code\":\"x\",\"args\":[");
	for (int i = 0; i < 16; i++)
		p += sprintf(p, "%s\"%.*s\"", i ? "," : "", REQ_MAX_ARGLEN, arg);
	strcpy(p, "]}");
	expect_422(body, "value_error", ARG_LOC("15"), "16 args of 4096 bytes (over 64 KB in all)");
	free(arg);
	free(body);
}

static void
test_files(void)
{
	struct exec_req r;
	const struct run_file *f;
	char *body, *name, *key, *loc, *enc, *data, *p;
	size_t enclen, cap;
	static const struct { const char *json; const char *raw; size_t rawlen; const char *why; } unsafe[] = {
		{ "\"/etc/x\"", "/etc/x", 6, "absolute /etc/x" },
		{ "\"/\"", "/", 1, "/" },
		{ "\"..\"", "..", 2, ".." },
		{ "\".\"", ".", 1, "." },
		{ "\"../a\"", "../a", 4, "../a" },
		{ "\"a/../b\"", "a/../b", 6, "a/../b" },
		{ "\"a/..\"", "a/..", 4, "a/.." },
		{ "\"a//b\"", "a//b", 4, "a//b" },
		{ "\"./a\"", "./a", 3, "./a" },
		{ "\"a/./b\"", "a/./b", 5, "a/./b" },
		{ "\"sub/\"", "sub/", 4, "trailing /" },
		{ "\"\"", "", 0, "empty name" },
		{ "\"a\\nb\"", "a\nb", 3, "newline" },
		{ "\"a\\tb\"", "a\tb", 3, "tab" },
		{ "\"a\\rb\"", "a\rb", 3, "carriage return" },
		{ "\"\\u001b[31m\"", "\x1b[31m", 5, "ESC" },
		{ "\"a\\u007fb\"", "a\x7f" "b", 3, "DEL" },
		{ "\"a\\\\b\"", "a\\b", 3, "backslash" },
		{ "\"..\\\\x\"", "..\\x", 4, "backslash traversal" },
		{ "\"a\\u0085b\"", "a\xc2\x85" "b", 4, "C1 control U+0085" },
		{ "\"a\\u009bb\"", "a\xc2\x9b" "b", 4, "C1 control U+009B (CSI)" },
	};
	static const struct { const char *json; const char *raw; const char *why; } safe[] = {
		{ "\"sub/dir/a.csv\"", "sub/dir/a.csv", "nested sub/dir/a.csv" },
		{ "\"a..b\"", "a..b", "a..b" },
		{ "\"..a\"", "..a", "..a" },
		{ "\"...\"", "...", "..." },
		{ "\".hidden\"", ".hidden", ".hidden" },
		{ "\"with space.txt\"", "with space.txt", "a space" },
		{ "\"donn\\u00e9es/\\u00e9t\\u00e9.csv\"", "donn\xc3\xa9" "es/\xc3\xa9t\xc3\xa9.csv", "non-ASCII" },
		{ "\"\xe6\x97\xa5\xe6\x9c\xac.txt\"", "\xe6\x97\xa5\xe6\x9c\xac.txt", "raw UTF-8 CJK" },
		{ "\"a\\u00a0b\"", "a\xc2\xa0" "b", "U+00A0 is not a control" },
		{ "\"sub/main.py\"", "sub/main.py", "main.py in a subdirectory" },
	};
	static const struct { const char *val; const char *why; } badb64[] = {
		{ "\"QQ=\"", "wrong length (QQ=)" },
		{ "\"QUJDR\"", "wrong length (5)" },
		{ "\"Q\"", "one character" },
		{ "\"Q===\"", "Q===" },
		{ "\"====\"", "only padding" },
		{ "\"QR==\"", "non-canonical QR==" },
		{ "\"QUJ=\"", "non-canonical QUJ=" },
		{ "\"QU*D\"", "bad character *" },
		{ "\"QU D\"", "space" },
		{ "\"QUJD\\nQUJD\"", "embedded newline" },
		{ "\"QU\\nJ\"", "newline making length 4" },
		{ "\"QUJD\\r\\n\"", "trailing CRLF" },
		{ "\"-_-_\"", "url-safe alphabet" },
		{ "\"QQ==QQ==\"", "padding in the middle" },
		{ "\"=QUJ\"", "leading padding" },
		{ "\"QUJD====\"", "too much padding" },
		{ "\"QU\\u0000J\"", "NUL inside" },
		{ "\"\\u00c0\\u00c1\\u00c2\\u00c3\"", "non-ASCII" },
	};

	for (size_t i = 0; i < sizeof(unsafe) / sizeof(unsafe[0]); i++) {
		char what[128];
		body = files_body(unsafe[i].json, "\"QQ==\"");
		loc = file_loc(unsafe[i].raw, unsafe[i].rawlen);
		snprintf(what, sizeof(what), "unsafe file name (%s)", unsafe[i].why);
		expect_file_failure(body, what, "Unsafe file name");
		ok(!req_safe_name(unsafe[i].raw, unsafe[i].rawlen), "req_safe_name rejects %s", unsafe[i].why);
		free(loc);
		free(body);
	}
	for (size_t i = 0; i < sizeof(safe) / sizeof(safe[0]); i++) {
		char what[128];
		body = files_body(safe[i].json, "\"QUJD\"");
		snprintf(what, sizeof(what), "safe file name (%s)", safe[i].why);
		if (accept(body, &r, what)) {
			f = find_file(&r, safe[i].raw, strlen(safe[i].raw));
			ok(r.nfiles == 1 && f && f->len == 3 && memcmp(f->data, "ABC", 3) == 0, "%s: name and data kept",
			    safe[i].why);
		}
		req_free(&r);
		ok(req_safe_name(safe[i].raw, strlen(safe[i].raw)), "req_safe_name accepts %s", safe[i].why);
		free(body);
	}

	/* A NUL in a name (json-c keys are C strings): must be refused, never truncated to "a". */
	{
		json_object *d = NULL, *it, *l;
		enum sbx_err rc;
		bool good = false;
		body = files_body("\"a\\u0000b\"", "\"QQ==\"");
		rc = parse_n(body, strlen(body), &deflim, &r, &d);
		if (rc == SBX_EINVAL && json_object_is_type(d, json_type_array) && json_object_array_length(d) == 1) {
			it = json_object_array_get_idx(d, 0);
			/* The key cannot be shown as json-c read it, so any loc under "body" will do. */
			good = item_is(it, "value_error", NULL) && json_object_object_get_ex(it, "loc", &l) &&
			    json_object_array_length(l) >= 1 &&
			    strcmp(json_object_get_string(json_object_array_get_idx(l, 0)), "body") == 0;
		}
		ok(good, "file name with \\u0000 -> 422 value_error");
		if (rc == SBX_OK)
			printf("#   accepted as %zu file(s), the first named '%s'\n", r.nfiles,
			    r.nfiles ? r.files[0].name : "");
		json_object_put(d);
		req_free(&r);
		free(body);
		body = files_body("\"main.py\\u0000.txt\"", "\"QQ==\"");
		expect_422(body, "value_error", NULL, "file name main.py\\u0000.txt -> 422");
		free(body);
		/* NULs in values (not keys) stay allowed, even next to ':' or quotes. */
		if (accept("{\"code\":\"d = {'\\u0000': 1}\",\"stdin\":\"\\u0000\\\":\"}", &r, "NULs inside values"))
			ok(r.stdin_len == 3 && memcmp(r.stdin_data, "\0\":", 3) == 0, "stdin NUL, quote, colon");
		req_free(&r);
		ok(!req_safe_name("a\0b", 3), "req_safe_name rejects an embedded NUL");
		ok(!req_safe_name("main\0.py", 8), "req_safe_name rejects main\\0.py");
	}

	/* Length (255 bytes) and depth (16 levels) limits. */
	name = repeat('n', REQ_MAX_NAME + 1);
	key = xmalloc(REQ_MAX_NAME + 8);
	snprintf(key, REQ_MAX_NAME + 8, "\"%.*s\"", REQ_MAX_NAME, name);
	body = files_body(key, "\"QQ==\"");
	if (accept(body, &r, "255-byte file name"))
		ok(r.nfiles == 1 && strlen(r.files[0].name) == REQ_MAX_NAME, "255-byte name kept");
	req_free(&r);
	free(body);
	snprintf(key, REQ_MAX_NAME + 8, "\"%s\"", name);
	body = files_body(key, "\"QQ==\"");
	loc = file_loc(name, REQ_MAX_NAME + 1);
	expect_file_failure(body, "256-byte file name", "Unsafe file name");
	free(loc);
	free(body);
	free(key);
	free(name);
	ok(req_safe_name("a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p", 31), "req_safe_name: 16 levels accepted");
	body = files_body("\"a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p\"", "\"QQ==\"");
	if (accept(body, &r, "16 levels deep"))
		ok(r.nfiles == 1, "16-level name kept");
	req_free(&r);
	free(body);
	body = files_body("\"a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q\"", "\"QQ==\"");
	expect_file_failure(body, "17 levels deep", "Unsafe file name");
	free(body);
	ok(!req_safe_name("a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q", 33), "req_safe_name: 17 levels refused");
	/* Invalid UTF-8 cannot reach a key through JSON (tested as json_invalid); the checker refuses it directly. */
	ok(!req_safe_name("a\xff", 2), "req_safe_name refuses invalid UTF-8");
	ok(!req_safe_name("a\xc0\xaf", 3), "req_safe_name refuses an overlong '/'");

	/* main.py is the code. */
	body = files_body("\"main.py\"", "\"QQ==\"");
	expect_file_failure(body, "main.py is reserved", "reserved for the code");
	free(body);

	/* Values must be base64 strings. */
	body = files_body("\"a.txt\"", "5");
	expect_422(body, "string_type", "[\"body\",\"files\",\"a.txt\"]", "file value a number");
	free(body);
	body = files_body("\"a.txt\"", "null");
	expect_422(body, "string_type", "[\"body\",\"files\",\"a.txt\"]", "file value null");
	free(body);
	body = files_body("\"a.txt\"", "[\"QQ==\"]");
	expect_422(body, "string_type", "[\"body\",\"files\",\"a.txt\"]", "file value a list");
	free(body);
	for (size_t i = 0; i < sizeof(badb64) / sizeof(badb64[0]); i++) {
		char what[128];
		body = files_body("\"a.txt\"", badb64[i].val);
		snprintf(what, sizeof(what), "invalid base64 (%s)", badb64[i].why);
		expect_file_failure(body, what, "is not valid base64");
		free(body);
	}
	expect_422("{\"code\":\"x\",\"files\":[]}", "dict_type", "[\"body\",\"files\"]", "files a list");
	expect_422("{\"code\":\"x\",\"files\":\"a\"}", "dict_type", "[\"body\",\"files\"]", "files a string");

	/* A file and the directory of another cannot share a name. */
	expect_file_failure("{\"code\":\"x\",\"files\":{\"a\":\"QQ==\",\"a/b\":\"QQ==\"}}", "a and a/b both given",
	    "its parent 'a' is also given");
	if (accept("{\"code\":\"x\",\"files\":{\"a\":\"QQ==\",\"ab/c\":\"QQ==\",\"b/c\":\"\",\"b/d\":\"\"}}", &r,
	    "a with ab/c, and siblings b/c b/d"))
		ok(r.nfiles == 4, "4 files");
	req_free(&r);

	/* Size of one decoded file: max_file_size (10 MiB) exactly is fine, one byte more is 413. */
	cap = (size_t)deflim.max_file_size + 1;
	data = xmalloc(cap);
	for (size_t i = 0; i < cap; i++)
		data[i] = (char)(i * 7 + 3);
	for (int extra = 0; extra <= 1; extra++) {
		enc = b64_encode(data, (size_t)deflim.max_file_size + (size_t)extra, &enclen);
		body = xmalloc(enclen + 64);
		snprintf(body, enclen + 64, "{\"code\":\"x\",\"files\":{\"big.bin\":\"%s\"}}", enc);
		if (extra == 0) {
			if (accept(body, &r, "file of exactly max_file_size bytes"))
				ok(r.nfiles == 1 && r.files[0].len == (size_t)deflim.max_file_size &&
				    memcmp(r.files[0].data, data, r.files[0].len) == 0, "10 MiB file decoded intact");
			req_free(&r);
		} else
			expect_detail_str(body, strlen(body), &deflim, SBX_ETOOBIG, "larger than", "file of max_file_size + 1 bytes -> 413");
		free(body);
		free(enc);
	}
	free(data);
	{
		/* Both paths of the size check: before decoding (by encoded length) and after. */
		struct limits lim = deflim;
		lim.max_file_size = 10;
		body = files_body("\"f\"", "\"MDEyMzQ1Njc4OQ==\"");	/* 10 bytes */
		if (accept_lim(body, strlen(body), &lim, &r, "10-byte file with max_file_size 10"))
			ok(r.files[0].len == 10, "10 bytes");
		req_free(&r);
		free(body);
		body = files_body("\"f\"", "\"MDEyMzQ1Njc4OWE=\"");	/* 11 bytes */
		expect_detail_str(body, strlen(body), &lim, SBX_ETOOBIG, "larger than", "11-byte file, max 10 -> 413");
		free(body);
		body = files_body("\"f\"", "\"MDEyMzQ1Njc4OWFiYw==\"");	/* 13 bytes: refused before decoding */
		expect_detail_str(body, strlen(body), &lim, SBX_ETOOBIG, "larger than", "13-byte file, max 10 -> 413");
		free(body);
	}
	{
		/* All input (files + code) must fit the working directory. */
		struct limits lim = deflim;
		lim.max_input_bytes = 100;
		data = repeat('A', 120);	/* "AAAA" decodes to 3 zero bytes */
		body = xmalloc(256);
		snprintf(body, 256, "{\"code\":\"print(1) #x\",\"files\":{\"f\":\"%.116sAAA=\"}}", data);	/* 89 bytes */
		if (accept_lim(body, strlen(body), &lim, &r, "89-byte file + 11-byte code = max_input_bytes"))
			ok(r.files[0].len == 89, "89 bytes");
		req_free(&r);
		snprintf(body, 256, "{\"code\":\"print(1) #x\",\"files\":{\"f\":\"%.120s\"}}", data);	/* 90 bytes */
		expect_detail_str(body, strlen(body), &lim, SBX_ETOOBIG, "total", "90-byte file + 11-byte code -> 413");
		free(body);
		free(data);
	}

	/* At most max_input_files files. */
	cap = 128 * 16 + 64;
	body = xmalloc(cap);
	for (int n = deflim.max_input_files; n <= deflim.max_input_files + 1; n++) {
		p = body + sprintf(body, "{\"code\":\"x\",\"files\":{");
		for (int i = 0; i < n; i++)
			p += sprintf(p, "%s\"f%d\":\"\"", i ? "," : "", i);
		strcpy(p, "}}");
		if (n == deflim.max_input_files) {
			if (accept(body, &r, "100 files"))
				ok(r.nfiles == 100, "100 files kept");
			req_free(&r);
		} else
			expect_detail_str(body, strlen(body), &deflim, SBX_ETOOBIG, "Too many files", "101 files -> 413");
	}
	free(body);
}

/* Every expected (loc, type) pair appears exactly once and nothing else does. */
static void
expect_items(const char *body, const char *const (*want)[2], size_t nwant, const char *what)
{
	struct exec_req r;
	json_object *d = NULL;
	enum sbx_err rc = parse_n(body, strlen(body), &deflim, &r, &d);
	bool good = rc == SBX_EINVAL && json_object_is_type(d, json_type_array) &&
	    json_object_array_length(d) == nwant;

	ok(good, "%s: 422 with %zu items", what, nwant);
	if (!good)
		printf("#   rc=%d detail=%s\n", rc, js(d));
	for (size_t i = 0; i < nwant; i++) {
		size_t hits = 0;
		for (size_t k = 0; d && json_object_is_type(d, json_type_array) && k < json_object_array_length(d); k++)
			if (item_is(json_object_array_get_idx(d, k), want[i][1], want[i][0]))
				hits++;
		ok(hits == 1, "%s: %s at %s", what, want[i][1], want[i][0]);
	}
	json_object_put(d);
	req_free(&r);
}

static void
test_several(void)
{
	static const char *const all[][2] = {
		{ "[\"body\",\"code\"]", "missing" },
		{ "[\"body\",\"timeout\"]", "float_type" },
		{ "[\"body\",\"memory_mb\"]", "int_type|int_from_float" },
		{ "[\"body\",\"network\"]", "bool_type" },
		{ "[\"body\",\"environment\"]", "string_pattern_mismatch" },
		{ "[\"body\",\"stdin\"]", "string_type" },
		{ "[\"body\",\"output_encoding\"]", "literal_error" },
		{ "[\"body\",\"args\"]", "list_type" },
	};
	static const char *const files[][2] = {
		/* The unsafe names and bad base64 beside them are not 422 items (a failed run, once valid). */
		{ "[\"body\",\"files\",\"n\"]", "string_type" },
		{ ARG_LOC("0"), "string_type" },
		{ ARG_LOC("2"), "value_error" },
		{ "[\"body\",\"timeout\"]", "less_than_equal" },
	};

	expect_items("{\"timeout\":[],\"memory_mb\":1.5,\"network\":[],\"environment\":\"a b\",\"stdin\":1,"
	    "\"output_encoding\":\"x\",\"args\":\"x\",\"files\":{\"../a\":\"QQ==\"},\"ignored\":1}",
	    all, sizeof(all) / sizeof(all[0]), "every field wrong");
	expect_items("{\"code\":\"x\",\"timeout\":1000,\"args\":[1,\"fine\",\"a\\u0000\"],"
	    "\"files\":{\"/abs\":\"QQ==\",\"ok.txt\":\"!!!!\",\"n\":5,\"good\":\"QQ==\",\"main.py\":\"\"}}",
	    files, sizeof(files) / sizeof(files[0]), "several file, arg and timeout errors");
}

int
main(void)
{
	test_valid();
	test_malformed_json();
	test_code();
	test_timeout();
	test_memory();
	test_network();
	test_environment();
	test_stdin_args_encoding();
	test_files();
	test_several();
	return done_testing();
}
