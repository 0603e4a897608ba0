/* request.h: the /execute request, parsed and validated by one pure function (fuzzable). */
#ifndef SBX_REQUEST_H
#define SBX_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "err.h"
#include "limit.h"
#include "run.h"

#define REQ_MAX_NAME	255	/* bytes in one input file name */
#define REQ_MAX_DEPTH	16	/* directory levels in an input file name */
#define REQ_MAX_ARGS	LIMIT_MAX_ARGS
#define REQ_MAX_ARGLEN	4096
#define REQ_MAX_ARGS_BYTES (64 * 1024)	/* all args together, well under ARG_MAX */
#define REQ_JSON_DEPTH	32
#define REQ_ERROR_INPUT_MAX 4096	/* a 422 item echoes its input only up to about this many bytes */
#define REQ_MAX_JSON_VALUES 100000	/* arrays, objects and their members in one body */


struct exec_req {
	char		*code;
	size_t		 code_len;
	double		 timeout;
	struct run_file	*files;
	size_t		 nfiles;
	char		*environment;	/* NULL when none */
	char		*stdin_data;
	size_t		 stdin_len;
	char		**args;
	size_t		 nargs;
	int		 memory_mb;
	double		 cpus;		/* CPU quota in cores; 0: none */
	bool		 network;
	bool		 output_base64;	/* output_encoding: "base64" */
	/* Set (with SBX_OK) when an input file is unsafe or not base64: the original answered a failed
	 * run (200, success false) rather than a refusal, and its clients rely on that. */
	char		*input_error;
};

/* Parse and validate body[0..len). On success returns SBX_OK and fills req.
 * Otherwise returns the error and sets *detail to the value of the response's
 * "detail" member (a FastAPI-shaped list for SBX_EINVAL, a string otherwise);
 * the caller owns it. Never reads outside the buffer; never does I/O. */
enum sbx_err req_parse(const char *body, size_t len, const struct limits *lim, bool environment_required,
    struct exec_req *req, json_object **detail);
void req_free(struct exec_req *req);
/* The strict JSON front end alone (RFC 8259: grammar, UTF-8, no NaN, no raw
 * control characters, no NUL in keys): on SBX_OK *root is an object the caller owns. */
enum sbx_err req_parse_json(const char *body, size_t len, const struct limits *lim,
    json_object **root, json_object **detail);

/* True iff name is a safe relative path: 1..REQ_MAX_NAME bytes of valid UTF-8,
 * no control characters or backslashes, no empty, "." or ".." component,
 * not absolute, at most REQ_MAX_DEPTH components. */
bool req_safe_name(const char *name, size_t len);

/* A parser's last step: the 422 list (or an out-of-memory message) becomes
 * *detail, unless one is set already; what is left of errs is released. */
void req_detail_finish(enum sbx_err rc, json_object **errs, json_object **detail);

/* One FastAPI-shaped error item as pydantic 2 words it: {"type", "loc": ["body", field(, key)], "msg",
 * "input"(, "ctx"), "url"}. input is the offending value (a reference is taken; NULL is JSON null; for a
 * missing field, the enclosing object), null when its JSON is over REQ_ERROR_INPUT_MAX; ctx, when not
 * NULL, becomes the item's. */
json_object *req_error_item(const char *field, const char *key, const char *msg, const char *type,
    json_object *input, json_object *ctx);
/* A list longer than max, as pydantic words it (type too_long, ctx field_type, max_length, actual_length). */
json_object *req_error_list_too_long(const char *field, int max, json_object *list);
/* One at a list's position: FastAPI puts the index in loc as an integer (["body", field, index]). */
json_object *req_error_item_at(const char *field, size_t index, const char *msg, const char *type,
    json_object *input, json_object *ctx);
/* A ctx of one member: {"name": value}. */
json_object *req_ctx_number(const char *name, double value);
json_object *req_ctx_string(const char *name, const char *value);
/* pydantic's lax mode: a string holding a decimal number (whitespace around allowed) is that number. */
bool req_lax_number(const char *text, size_t len, double *out);

#endif
