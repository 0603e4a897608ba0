/* fuzz.h: the libFuzzer entry point every fuzz target defines, and the property checks they share. */
#ifndef SBX_FUZZ_H
#define SBX_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "err.h"

/* Called once per input by libFuzzer (make fuzz) or by replay.c (make check); always returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property that must hold: say which and abort, which both libFuzzer and replay.c report as a crash. */
#define FUZZ_CHECK(cond) do {							\
	if (!(cond)) {								\
		fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
		abort();							\
	}									\
} while (0)

#define FUZZ_JFLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* An exact-size heap copy of in[0..n) (not NUL-terminated), so that ASan sees any read past it. */
static inline char *
fuzz_dup(const void *in, size_t n)
{
	char *p = malloc(n ? n : 1);

	FUZZ_CHECK(p != NULL);
	if (n)
		memcpy(p, in, n);
	return p;
}

/* A NUL-terminated heap copy of in[0..n) (a C string as FastCGI hands parameters over). */
static inline char *
fuzz_strndup(const void *in, size_t n)
{
	char *p = malloc(n + 1);

	FUZZ_CHECK(p != NULL);
	if (n)
		memcpy(p, in, n);
	p[n] = '\0';
	return p;
}

/* Parse text as strict RFC 8259 JSON (valid UTF-8, nothing after the value); NULL if it is not. */
static inline json_object *
fuzz_json_strict(const char *text, size_t n)
{
	json_tokener *tok = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH);
	json_object *o;
	size_t end;

	FUZZ_CHECK(tok != NULL);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, text, (int)n);
	if (json_tokener_get_error(tok) == json_tokener_continue)
		o = json_tokener_parse_ex(tok, "", 1);
	end = json_tokener_get_parse_end(tok);
	if (json_tokener_get_error(tok) != json_tokener_success || !utf8_valid(text, n))
		goto bad;
	for (; end < n; end++)
		if (text[end] != ' ' && text[end] != '\t' && text[end] != '\n' && text[end] != '\r' && text[end] != '\0')
			goto bad;
	json_tokener_free(tok);
	return o;
bad:
	json_object_put(o);
	json_tokener_free(tok);
	return NULL;
}

static inline bool
fuzz_is_type(json_object *parent, const char *key, json_type t)
{
	json_object *v;

	return json_object_object_get_ex(parent, key, &v) && json_object_get_type(v) == t;
}

/*
 * The "detail" an error leaves for the response (reply_detail in http.c):
 * a FastAPI-shaped list for SBX_EINVAL, a string otherwise; and the body
 * {"detail": ...} it becomes is valid UTF-8 and strict JSON. Takes detail.
 */
static inline void
fuzz_check_detail(enum sbx_err rc, json_object *detail)
{
	json_object *body, *back, *d;
	const char *text;

	FUZZ_CHECK(rc != SBX_OK);
	FUZZ_CHECK(detail != NULL);
	if (rc == SBX_EINVAL) {
		FUZZ_CHECK(json_object_is_type(detail, json_type_array));
		FUZZ_CHECK(json_object_array_length(detail) > 0);
		for (size_t i = 0; i < json_object_array_length(detail); i++) {
			json_object *item = json_object_array_get_idx(detail, i), *loc;

			FUZZ_CHECK(json_object_is_type(item, json_type_object));
			FUZZ_CHECK(fuzz_is_type(item, "msg", json_type_string));
			FUZZ_CHECK(fuzz_is_type(item, "type", json_type_string));
			FUZZ_CHECK(json_object_object_get_ex(item, "loc", &loc));
			FUZZ_CHECK(json_object_is_type(loc, json_type_array) && json_object_array_length(loc) >= 1);
			FUZZ_CHECK(strcmp(json_object_get_string(json_object_array_get_idx(loc, 0)), "body") == 0);
		}
	} else
		FUZZ_CHECK(json_object_is_type(detail, json_type_string));
	body = json_object_new_object();
	json_object_object_add(body, "detail", detail);
	text = json_object_to_json_string_ext(body, FUZZ_JFLAGS);
	FUZZ_CHECK(text != NULL);
	/* What a client decodes: a 4xx body a strict UTF-8 JSON decoder refuses is a bug. */
	FUZZ_CHECK(utf8_valid(text, strlen(text)));
	back = fuzz_json_strict(text, strlen(text));
	FUZZ_CHECK(back != NULL);
	FUZZ_CHECK(json_object_object_get_ex(back, "detail", &d));
	json_object_put(back);
	json_object_put(body);
}

#endif
