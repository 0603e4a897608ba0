/* fuzz_env.c: fuzz target for env_parse_create (POST /environments bodies) against fixed interpreter lists. */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "env.h"
#include "interp.h"
#include "fuzz.h"

/* What interp_discover might find: a default 3.11, two more, and a configured one. */
static const struct interp interps[] = {
	{ "3.11", "/usr/bin/python3.11", true },
	{ "3.12", "/usr/bin/python3.12", false },
	{ "3.9", "/usr/bin/python3.9", false },
	{ "3.13", "/usr/local/python3.13/bin/python3", false },
};
#define NINTERPS ((int)(sizeof(interps) / sizeof(interps[0])))

static size_t
chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

static enum sbx_err
parse_one(const char *body, size_t len, const struct interp *list, int n, struct env_create *out)
{
	json_object *detail = NULL;
	enum sbx_err rc = env_parse_create(body, len, list, n, out, &detail);

	if (rc != SBX_OK) {
		FUZZ_CHECK(out->setup_script == NULL);
		fuzz_check_detail(rc, detail);
		return rc;
	}
	FUZZ_CHECK(detail == NULL);
	FUZZ_CHECK(limit_env_name_ok(out->name, strlen(out->name)));
	FUZZ_CHECK(out->setup_script != NULL);
	FUZZ_CHECK(strlen(out->setup_script) <= ENV_SCRIPT_MAX);
	FUZZ_CHECK(strspn(out->setup_script, " \t\r\n\f\v") < strlen(out->setup_script));
	FUZZ_CHECK(strlen(out->description) < sizeof(out->description));
	FUZZ_CHECK(utf8_valid(out->description, strlen(out->description)));
	FUZZ_CHECK(chars(out->description) <= 200);
	FUZZ_CHECK(out->interp != NULL && out->interp >= list && out->interp < list + n);
	FUZZ_CHECK(strlen(out->preload) < sizeof(out->preload));
	{
		/* Distinct module names, one space apart, at most PRELOAD_MAX. */
		const char *p = out->preload, *names[PRELOAD_MAX];
		size_t lens[PRELOAD_MAX];
		int count = 0;

		while (*p) {
			size_t nlen = strcspn(p, " ");

			FUZZ_CHECK(count < PRELOAD_MAX && env_module_name_ok(p, nlen));
			for (int k = 0; k < count; k++)
				FUZZ_CHECK(lens[k] != nlen || memcmp(names[k], p, nlen) != 0);
			names[count] = p;
			lens[count++] = nlen;
			p += nlen;
			if (*p == ' ') {
				p++;
				FUZZ_CHECK(*p != '\0' && *p != ' ');
			}
		}
	}
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	struct env_create all, nodefault, none;
	enum sbx_err rc_all, rc_nodefault, rc_none;

	rc_all = parse_one(body, size, interps, NINTERPS, &all);
	/* Without the default interpreter, and with no interpreter at all. */
	rc_nodefault = parse_one(body, size, interps + 1, NINTERPS - 1, &nodefault);
	rc_none = parse_one(body, size, interps, 0, &none);

	FUZZ_CHECK(rc_none != SBX_OK);
	/* More interpreters never refuse more. */
	FUZZ_CHECK(rc_nodefault != SBX_OK || rc_all == SBX_OK);
	if (rc_nodefault == SBX_OK) {
		FUZZ_CHECK(strcmp(all.name, nodefault.name) == 0);
		FUZZ_CHECK(strcmp(all.description, nodefault.description) == 0);
		FUZZ_CHECK(strcmp(all.setup_script, nodefault.setup_script) == 0);
	}
	if (rc_all == SBX_OK)
		free(all.setup_script);
	if (rc_nodefault == SBX_OK)
		free(nodefault.setup_script);
	return 0;
}
