/* fuzz_params.c: fuzz target for the FastCGI parameters (route, env name, Content-Length, query) and byte helpers. */
#include "config.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "b64.h"
#include "buf.h"
#include "env.h"
#include "http.h"
#include "request.h"
#include "fuzz.h"

/*
 * Input: "METHOD\nPATH\nCONTENT_LENGTH\nQUERY_STRING" (the query is the rest,
 * newlines and all). A field the input does not reach is an absent
 * parameter (NULL); each is a C string, as FCGX_GetParam hands it over.
 */
#define NFIELDS 4

/* The route table of API.md, written out independently of http.c's. */
static enum route
ref_route(const char *path)
{
	const char *rest;
	size_t seg;

	if (path == NULL)
		return ROUTE_NONE;
	if (strcmp(path, "/") == 0)
		return ROUTE_ROOT;
	if (strcmp(path, "/health") == 0)
		return ROUTE_HEALTH;
	if (strcmp(path, "/execute") == 0)
		return ROUTE_EXECUTE;
	if (strcmp(path, "/execute-with-environment") == 0)
		return ROUTE_EXECUTE_ENV;
	if (strcmp(path, "/environments") == 0)
		return ROUTE_ENVS;
	if (strncmp(path, "/environments/", 14) != 0)
		return ROUTE_NONE;
	rest = path + 14;
	if ((seg = strcspn(rest, "/")) == 0)
		return ROUTE_NONE;
	if (rest[seg] == '\0')
		return ROUTE_ENV;
	return strcmp(rest + seg, "/logs") == 0 ? ROUTE_ENV_LOGS : ROUTE_NONE;
}

/* Is method one of the comma-separated tokens of allow ("GET, POST")? */
static bool
ref_allowed(const char *method, const char *allow)
{
	size_t ml = strlen(method);

	for (const char *t = allow; *t; ) {
		size_t n = strcspn(t, ",");
		if (n == ml && strncmp(t, method, ml) == 0)
			return true;
		t += n;
		t += strspn(t, ", ");
	}
	return false;
}

static void
check_route(const char *method, const char *path)
{
	const char *allow = (const char *)1;
	bool method_ok = true;
	enum route r = http_route(method, path, &method_ok, &allow);

	if (method == NULL || path == NULL) {
		FUZZ_CHECK(r == ROUTE_NONE && !method_ok && allow == NULL);
		return;
	}
	FUZZ_CHECK(r == ref_route(path));
	FUZZ_CHECK((r == ROUTE_NONE) == (allow == NULL));
	FUZZ_CHECK(r != ROUTE_NONE || !method_ok);
	/* A method is allowed only when it is exactly one of the methods the Allow header names. */
	if (allow)
		FUZZ_CHECK(method_ok == ref_allowed(method, allow));
}

static void
check_env_name(const char *path)
{
	static const size_t lens[] = { ENV_NAME_MAX + 2, 2, 1 };
	char out[ENV_NAME_MAX + 2];

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		bool got;
		size_t seg = 0;
		bool want = strncmp(path, "/environments/", 14) == 0 &&
		    (seg = strcspn(path + 14, "/")) > 0 && seg < lens[i];

		memset(out, 'x', sizeof(out));
		got = http_env_name(path, out, lens[i]);
		FUZZ_CHECK(got == want);
		if (got)
			FUZZ_CHECK(strlen(out) == seg && memcmp(out, path + 14, seg) == 0);
	}
}

static void
check_content_length(const char *s)
{
	static const long maxes[] = { 64L * 1024 * 1024, 1024, 1024L * 1024 * 1024, 0, 1, LONG_MAX };
	bool digits = s != NULL && *s != '\0';
	bool overflow = false;
	unsigned long long v = 0;

	for (const char *p = s; digits && *p; p++) {
		if (*p < '0' || *p > '9') {
			digits = false;
			break;
		}
		if (overflow)
			continue;
		if (v > ((unsigned long long)LONG_MAX - (unsigned)(*p - '0')) / 10)
			overflow = true;
		else
			v = v * 10 + (unsigned)(*p - '0');
	}
	for (size_t i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
		long out = -12345;
		int rc = http_content_length(s, maxes[i], &out);

		FUZZ_CHECK(rc == 0 || rc == 1 || rc == -1);
		/* Never "fine" with a length read_body cannot use. */
		FUZZ_CHECK(rc != 0 || (out >= 0 && out <= maxes[i]));
		/* Larger than max, or past LONG_MAX (then clamped to it). */
		FUZZ_CHECK(rc != 1 || out > maxes[i] || out == LONG_MAX);
		if (s == NULL || *s == '\0') {
			FUZZ_CHECK(rc == 0 && out == 0);
		} else if (!digits) {
			FUZZ_CHECK(rc == -1);
		} else if (overflow) {
			FUZZ_CHECK(rc == 1 && out == LONG_MAX);
		} else {
			FUZZ_CHECK(out == (long)v);
			FUZZ_CHECK(rc == ((long)v > maxes[i] ? 1 : 0));
		}
	}
}

/* The trailing-slash redirect: only to a route, and a Location of visible ASCII that decodes back to
 * the path without its slash (so no byte of a client's path can end the header line). */
static void
check_redirect(const char *path, const char *query)
{
	char loc[300], decoded[300];
	size_t n = path ? strlen(path) : 0, d = 0;
	bool got = http_redirect_location(path, query, loc, sizeof(loc));

	if (!got)
		return;
	FUZZ_CHECK(n >= 2 && path[n - 1] == '/');
	for (const char *p = loc; *p; p++)
		FUZZ_CHECK(*p > ' ' && *p < 0x7f);
	for (const char *p = loc; *p && *p != '?' && d + 1 < sizeof(decoded); p++) {
		unsigned v;
		if (*p == '%' && sscanf(p + 1, "%2x", &v) == 1) {
			decoded[d++] = (char)v;
			p += 2;
		} else
			decoded[d++] = *p;
	}
	decoded[d] = '\0';
	FUZZ_CHECK(d == n - 1 && memcmp(decoded, path, n - 1) == 0);
	FUZZ_CHECK(ref_route(decoded) != ROUTE_NONE || strcmp(decoded, "/metrics") == 0);
}

/* One "offset=" or "limit=" value as env_parse_query must read it: a number up to 1000000009, else -1. */
static int64_t
ref_number(const char *p, size_t n)
{
	int64_t v = 0;

	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
		if (v > 1000000009)
			return -1;
	}
	return v;
}

static void
check_query(const char *q)
{
	int64_t offset, limit, want_offset = 0, want_limit = 1000;

	env_parse_query(q, &offset, &limit);
	for (const char *s = q; s && *s; ) {
		size_t seg = strcspn(s, "&");
		if (seg >= 7 && strncmp(s, "offset=", 7) == 0)
			want_offset = ref_number(s + 7, seg - 7);
		else if (seg >= 6 && strncmp(s, "limit=", 6) == 0)
			want_limit = ref_number(s + 6, seg - 6);
		s += seg;
		if (*s == '&')
			s++;
	}
	FUZZ_CHECK(offset == want_offset && limit == want_limit);
}

/* path_safe_relative's rule, written out on whole components. */
static bool
ref_safe(const char *s, size_t len, size_t max_len, size_t max_depth)
{
	size_t start = 0, depth = 0;

	if (len == 0 || len > max_len || !utf8_valid(s, len) || s[0] == '/')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || c == '\\')
			return false;
		/* U+0080..U+009F, the C1 controls, are C2 80..C2 9F in UTF-8. */
		if (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] <= 0x9f)
			return false;
	}
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '/')
			continue;
		if (i == start || (i - start == 1 && s[start] == '.') ||
		    (i - start == 2 && s[start] == '.' && s[start + 1] == '.'))
			return false;
		depth++;
		start = i + 1;
	}
	return depth <= max_depth;
}

static void
check_safe(const char *s, size_t len)
{
	FUZZ_CHECK(path_safe_relative(s, len, REQ_MAX_NAME, REQ_MAX_DEPTH) == ref_safe(s, len, REQ_MAX_NAME, REQ_MAX_DEPTH));
	FUZZ_CHECK(req_safe_name(s, len) == ref_safe(s, len, REQ_MAX_NAME, REQ_MAX_DEPTH));
	FUZZ_CHECK(path_safe_relative(s, len, 8, 2) == ref_safe(s, len, 8, 2));
}

static void
check_utf8(const char *in, size_t n)
{
	size_t prefix = utf8_valid_prefix(in, n), outlen, againlen;
	char *out, *again;

	FUZZ_CHECK(prefix <= n && utf8_valid(in, prefix));
	FUZZ_CHECK(utf8_valid(in, n) == (prefix == n));
	out = utf8_sanitize(in, n, &outlen);
	FUZZ_CHECK(out != NULL);
	FUZZ_CHECK(out[outlen] == '\0');
	/* Valid output; valid input kept as it is; each bad byte at most one U+FFFD. */
	FUZZ_CHECK(utf8_valid(out, outlen));
	FUZZ_CHECK(outlen <= 3 * n);
	FUZZ_CHECK(outlen >= prefix && memcmp(out, in, prefix) == 0);
	if (prefix == n)
		FUZZ_CHECK(outlen == n);
	else
		FUZZ_CHECK(outlen >= prefix + 3 && memcmp(out + prefix, "\xef\xbf\xbd", 3) == 0);
	again = utf8_sanitize(out, outlen, &againlen);
	FUZZ_CHECK(again != NULL && againlen == outlen && memcmp(again, out, outlen) == 0);
	free(again);
	free(out);
}

static void
check_b64(const char *in, size_t n)
{
	unsigned char *dec;
	size_t enclen, declen;
	char *enc = b64_encode(in, n, &enclen);

	/* Encoding round-trips, on one line, padded. */
	FUZZ_CHECK(enc != NULL && enclen == (n + 2) / 3 * 4 && strlen(enc) == enclen);
	FUZZ_CHECK(b64_decode(enc, enclen, &dec, &declen) == 0);
	FUZZ_CHECK(declen == n && (n == 0 || memcmp(dec, in, n) == 0));
	free(dec);
	free(enc);
	/* Strict decoding accepts only the canonical encoding of what it returns. */
	if (b64_decode(in, n, &dec, &declen) == 0) {
		FUZZ_CHECK(declen <= b64_decoded_max(n));
		enc = b64_encode(dec, declen, &enclen);
		FUZZ_CHECK(enc != NULL && enclen == n && memcmp(enc, in, n) == 0);
		free(enc);
		free(dec);
	} else
		FUZZ_CHECK(dec == NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	char *field[NFIELDS] = { NULL };
	size_t flen[NFIELDS] = { 0 };
	size_t pos = 0;

	for (int i = 0; i < NFIELDS && pos <= size; i++) {
		const char *nl = i < NFIELDS - 1 ? memchr(in + pos, '\n', size - pos) : NULL;
		size_t n = nl ? (size_t)(nl - (in + pos)) : size - pos;

		field[i] = fuzz_strndup(in + pos, n);
		flen[i] = n;
		pos += n + 1;
	}

	check_route(field[0], field[1]);
	check_redirect(field[1], field[3]);
	if (field[1]) {
		check_env_name(field[1]);
		check_safe(field[1], flen[1]);
	}
	check_content_length(field[2]);
	check_query(field[3]);

	check_safe(in, size);
	check_utf8(in, size);
	check_b64(in, size);

	for (int i = 0; i < NFIELDS; i++)
		free(field[i]);
	return 0;
}
