/* reply.c: building a response: a JSON body and its status, the API's error shapes. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "reply.h"

void
reply_detail(struct reply *r, enum sbx_err e, json_object *detail)
{
	json_object *o = json_object_new_object();

	r->status = sbx_err_status(e);
	json_object_object_add(o, "detail", detail);
	r->body = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

void
reply_refusal(struct reply *r, enum sbx_err e, const char *msg, const char *reason)
{
	json_object *o = json_object_new_object();

	r->status = sbx_err_status(e);
	json_object_object_add(o, "detail", json_object_new_string(msg));
	json_object_object_add(o, "reason", json_object_new_string(reason));
	r->body = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

void
reply_msg(struct reply *r, enum sbx_err e, const char *msg)
{
	reply_detail(r, e, json_object_new_string(msg));
}

void
reply_json(struct reply *r, int status, json_object *o)
{
	r->status = status;
	r->body = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}
