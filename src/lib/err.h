/* err.h: the one error enum of the service and its mapping to HTTP status. */
#ifndef SBX_ERR_H
#define SBX_ERR_H

enum sbx_err {
	SBX_OK = 0,
	SBX_EBADREQ,	/* 400: well-formed but unacceptable (blank code, code too long) */
	SBX_EINVAL,	/* 422: validation failed; detail is a FastAPI-shaped list */
	SBX_ETOOBIG,	/* 413: body or a file over its limit */
	SBX_ENOTFOUND,	/* 404: unknown path or environment */
	SBX_EMETHOD,	/* 405: path exists, method does not */
	SBX_ECONFLICT,	/* 400: environment exists / not ready (the original's 400, not 409) */
	SBX_EBUSY,	/* 503: over capacity or unhealthy */
	SBX_ESHARE,	/* 429: one client over its share of the sandboxes while others wait */
	SBX_ENOMEM,	/* 500: out of memory */
	SBX_ESYS,	/* 500: a system call failed */
	SBX_EJAIL,	/* 500: the sandbox could not be set up */
	SBX_ERELOAD,	/* 503: the configuration file's limits changed; the pool has not reloaded them */
	SBX_ESTART,	/* 500: the interpreter could not be started (a caller may blame an environment) */
};

/* HTTP status for an error; the single place this mapping lives. */
int sbx_err_status(enum sbx_err e);
/* Reason phrase for a status code, for the CGI Status header. */
const char *sbx_status_text(int status);

#endif
