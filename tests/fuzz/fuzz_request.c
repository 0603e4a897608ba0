/* fuzz_request.c: fuzz target for req_parse/req_parse_json (POST /execute bodies) under every option that matters. */
#include "config.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "err.h"
#include "request.h"
#include "fuzz.h"

/* The service defaults, as http.c derives them from conf_defaults (workdir_mb 64). */
static const struct limits deflim = {
	.max_code_length = 51200, .default_timeout = 30, .max_timeout = 300,
	.max_file_size = 10485760, .max_input_files = 100, .max_input_bytes = 63L * 1024 * 1024,
	.default_memory_mb = 512, .max_memory_mb = 2048, .default_cpus = 1, .max_cpus = 2,
};

/* Small limits, so that short inputs reach every "too large" branch; each is at most deflim's. */
static const struct limits tightlim = {
	.max_code_length = 64, .default_timeout = 0.5, .max_timeout = 2,
	.max_file_size = 16, .max_input_files = 3, .max_input_bytes = 40,
	.default_memory_mb = 32, .max_memory_mb = 64, .default_cpus = 0.5, .max_cpus = 1,
};

static bool
env_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 50)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

/* What a request that passed validation guarantees to run.c and the jail. */
static void
check_accepted(const struct exec_req *req, const struct limits *lim, bool env_required)
{
	size_t total = 0;
	bool blank = true;

	FUZZ_CHECK(req->code != NULL);
	FUZZ_CHECK(req->code_len <= (size_t)lim->max_code_length);
	for (size_t i = 0; i < req->code_len; i++)
		if (strchr(" \t\n\r\f\v", req->code[i]) == NULL || req->code[i] == '\0')
			blank = false;
	FUZZ_CHECK(!blank);
	FUZZ_CHECK(isfinite(req->timeout) && req->timeout > 0 && req->timeout <= lim->max_timeout);
	FUZZ_CHECK(req->memory_mb == lim->default_memory_mb ||
	    (req->memory_mb >= 32 && req->memory_mb <= lim->max_memory_mb));
	FUZZ_CHECK(req->cpus == lim->default_cpus || (isfinite(req->cpus) && req->cpus >= 0.01 &&
	    req->cpus <= lim->max_cpus));
	FUZZ_CHECK(!req->network || lim->allow_network);
	FUZZ_CHECK(!env_required || req->environment != NULL);
	FUZZ_CHECK(req->environment == NULL || env_name_ok(req->environment));
	FUZZ_CHECK(req->nfiles <= (size_t)lim->max_input_files);
	FUZZ_CHECK(req->nfiles == 0 || req->files != NULL);
	for (size_t i = 0; i < req->nfiles; i++) {
		const struct run_file *f = &req->files[i];

		FUZZ_CHECK(f->name != NULL && f->data != NULL);
		FUZZ_CHECK(req_safe_name(f->name, strlen(f->name)));
		FUZZ_CHECK(strcmp(f->name, "main.py") != 0);
		FUZZ_CHECK(f->len <= (size_t)lim->max_file_size);
		total += f->len;
		/* No name is also the directory of another, unless the run is to fail over it (never written). */
		for (size_t j = 0; j < req->nfiles && req->input_error == NULL; j++) {
			size_t li = strlen(f->name);
			FUZZ_CHECK(i == j || strcmp(f->name, req->files[j].name) != 0);
			FUZZ_CHECK(i == j || strncmp(req->files[j].name, f->name, li) != 0 || req->files[j].name[li] != '/');
		}
	}
	FUZZ_CHECK(lim->max_input_bytes <= 0 || total + req->code_len <= (size_t)lim->max_input_bytes);
	FUZZ_CHECK(req->nargs <= REQ_MAX_ARGS);
	FUZZ_CHECK(req->nargs == 0 || (req->args != NULL && req->args[req->nargs] == NULL));
	total = 0;
	for (size_t i = 0; i < req->nargs; i++) {
		FUZZ_CHECK(req->args[i] != NULL && strlen(req->args[i]) <= REQ_MAX_ARGLEN);
		total += strlen(req->args[i]) + 1;
	}
	FUZZ_CHECK(total <= REQ_MAX_ARGS_BYTES);
	FUZZ_CHECK(req->stdin_len == 0 || req->stdin_data != NULL);
	/* The reason a run fails over its files: one line of valid UTF-8, for the response's error. */
	if (req->input_error) {
		FUZZ_CHECK(req->input_error[0] != '\0' && utf8_valid(req->input_error, strlen(req->input_error)));
		FUZZ_CHECK(strchr(req->input_error, '\n') == NULL);
	}
}

/* One req_parse; returns its result, with *req filled (and to be freed) only on SBX_OK. */
static enum sbx_err
parse_one(const char *body, size_t len, const struct limits *base, bool env_required, bool allow_net,
    struct exec_req *req)
{
	struct limits lim = *base;
	json_object *detail = NULL;
	enum sbx_err rc;

	lim.allow_network = allow_net;
	rc = req_parse(body, len, &lim, env_required, req, &detail);
	if (rc == SBX_OK) {
		FUZZ_CHECK(detail == NULL);
		check_accepted(req, &lim, env_required);
	} else {
		/* A refused request leaves nothing behind to free. */
		FUZZ_CHECK(req->code == NULL && req->files == NULL && req->args == NULL && req->environment == NULL &&
		    req->stdin_data == NULL && req->nfiles == 0 && req->nargs == 0);
		fuzz_check_detail(rc, detail);
	}
	return rc;
}

/* Two accepted parses of one body differ only in what the options allow. */
static void
check_same(const struct exec_req *a, const struct exec_req *b)
{
	FUZZ_CHECK(a->code_len == b->code_len && memcmp(a->code, b->code, a->code_len) == 0);
	FUZZ_CHECK(a->nfiles == b->nfiles && a->nargs == b->nargs && a->stdin_len == b->stdin_len);
	FUZZ_CHECK(a->output_base64 == b->output_base64 && a->network == b->network);
	FUZZ_CHECK((a->environment == NULL) == (b->environment == NULL));
	FUZZ_CHECK(a->environment == NULL || strcmp(a->environment, b->environment) == 0);
	for (size_t i = 0; i < a->nfiles; i++)
		FUZZ_CHECK(strcmp(a->files[i].name, b->files[i].name) == 0 && a->files[i].len == b->files[i].len &&
		    memcmp(a->files[i].data, b->files[i].data, a->files[i].len) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	const struct limits *sets[] = { &deflim, &tightlim };
	enum sbx_err rc[2][2][2], jrc;
	struct exec_req req[2][2][2];
	json_object *root = NULL, *detail = NULL;

	/* The strict JSON front end alone. */
	jrc = req_parse_json(body, size, &deflim, &root, &detail);
	if (jrc == SBX_OK) {
		FUZZ_CHECK(detail == NULL && json_object_is_type(root, json_type_object));
		json_object_put(root);
	} else {
		FUZZ_CHECK(root == NULL);
		fuzz_check_detail(jrc, detail);
	}

	/* limits x environment_required x allow_network */
	for (int l = 0; l < 2; l++)
		for (int e = 0; e < 2; e++)
			for (int n = 0; n < 2; n++) {
				rc[l][e][n] = parse_one(body, size, sets[l], e, n, &req[l][e][n]);
				/* The JSON front end decides first: its refusal is the parser's. */
				FUZZ_CHECK(jrc == SBX_OK || rc[l][e][n] == jrc);
			}

	for (int l = 0; l < 2; l++)
		for (int e = 0; e < 2; e++)
			for (int n = 0; n < 2; n++) {
				if (rc[l][e][n] != SBX_OK)
					continue;
				/* Allowing the network or dropping the environment requirement refuses nothing more. */
				FUZZ_CHECK(rc[l][e][1] == SBX_OK && rc[l][0][n] == SBX_OK);
				check_same(&req[l][e][n], &req[l][0][1]);
				/* What fits the tight limits fits the defaults. */
				FUZZ_CHECK(l == 1 ? rc[0][e][n] == SBX_OK : true);
				if (l == 1)
					check_same(&req[1][e][n], &req[0][e][n]);
			}

	for (int l = 0; l < 2; l++)
		for (int e = 0; e < 2; e++)
			for (int n = 0; n < 2; n++)
				if (rc[l][e][n] == SBX_OK)
					req_free(&req[l][e][n]);
	return 0;
}
