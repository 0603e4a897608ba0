/* err.c: maps the service's error enum to HTTP status codes (the only such mapping). */
#include "config.h"
#include "err.h"

int
sbx_err_status(enum sbx_err e)
{
	switch (e) {
	case SBX_OK:		return 200;
	case SBX_EBADREQ:	return 400;
	case SBX_EINVAL:	return 422;
	case SBX_ETOOBIG:	return 413;
	case SBX_ENOTFOUND:	return 404;
	case SBX_EMETHOD:	return 405;
	case SBX_ECONFLICT:	return 400;	/* the original's status for both; its clients test for it */
	case SBX_ESHARE:	return 429;
	case SBX_EBUSY:
	case SBX_ERELOAD:	return 503;
	case SBX_ENOMEM:
	case SBX_ESYS:
	case SBX_EJAIL:
	case SBX_ESTART:	return 500;
	}
	return 500;
}

const char *
sbx_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 307: return "Temporary Redirect";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default:  return "Unknown";
	}
}
