/* reply.h: a response being built: its status, JSON body, extra headers, and what the run record keeps. */
#ifndef SBX_REPLY_H
#define SBX_REPLY_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "err.h"

struct reply {
	int	 status;
	char	*body;		/* malloc'ed JSON (or content_type's text) */
	const char *content_type;	/* NULL: JSON */
	char	 headers[400];	/* extra header lines, each ending in \r\n */
	const char *run_status;
	int	 exit_code;
	/* for the run record */
	bool	 is_run;
	long	 bytes_in;
	int64_t	 env_id;
	char	 environment[64];
};

/* {"detail": detail} with e's status (sbx_err_status); detail is taken. */
void reply_detail(struct reply *r, enum sbx_err e, json_object *detail);
void reply_msg(struct reply *r, enum sbx_err e, const char *msg);
/* {"detail": msg, "reason": reason}: a refusal a client can tell apart (capacity, client_share). */
void reply_refusal(struct reply *r, enum sbx_err e, const char *msg, const char *reason);
/* o as the body with status; o is taken. */
void reply_json(struct reply *r, int status, json_object *o);

#endif
