/* testjson.h: what the C unit tests that read JSON documents share: a member by key, its type, its text. */
#ifndef SBX_TESTJSON_H
#define SBX_TESTJSON_H

#include <stdbool.h>
#include <string.h>

#include <json-c/json.h>

/* The member key of o (NULL when absent or JSON null). */
static inline json_object *
json_get(json_object *o, const char *key)
{
	json_object *v = NULL;

	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/* Present, and JSON null. */
static inline bool
json_has_null(json_object *o, const char *key)
{
	static int sentinel;
	json_object *v = (json_object *)&sentinel;

	return json_object_object_get_ex(o, key, &v) && v == NULL;
}

static inline bool
json_is(json_object *o, const char *key, json_type t)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && v != NULL && json_object_is_type(v, t);
}

/* The member key is a string of exactly want[0..n). */
static inline bool
json_str_is(json_object *o, const char *key, const char *want, size_t n)
{
	json_object *v = json_get(o, key);

	return json_object_is_type(v, json_type_string) && (size_t)json_object_get_string_len(v) == n &&
	    memcmp(json_object_get_string(v), want, n) == 0;
}

#endif
