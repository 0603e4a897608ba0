/* outcome.c: a run's result: its outcome in the API's words (status: ok, timeout, memory_limit, ...; and
 * message), and its release. */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "run.h"

const char *
run_status_name(enum run_status s)
{
	static const char *names[] = { "ok", "error", "timeout", "memory_limit", "output_limit", "killed" };
	return names[s];
}

void
run_result_free(struct run_result *res)
{
	buf_free(&res->out);
	buf_free(&res->err);
	jail_report_free(&res->jail);
	memset(res, 0, sizeof(*res));
}

/* What the jail saw, before the memory heuristics. */
static enum run_status
run_status_of(const struct jail_report *rep, bool output_capped)
{
	if (output_capped)
		return RUN_OUTPUT;
	switch (rep->how) {
	case JAIL_TIMEOUT:
		return RUN_TIMEOUT;
	case JAIL_KILLED:
		return RUN_KILLED;
	case JAIL_EXITED:
		return rep->exit_code == 0 ? RUN_OK : RUN_ERROR;
	case JAIL_SIGNALED:
		break;
	}
	/* RLIMIT_CPU's signal is the CPU time limit. */
	return rep->signal == SIGXCPU ? RUN_TIMEOUT : RUN_KILLED;
}

void
run_describe(struct run_result *res, double timeout_s, int memory_mb, long max_output, bool killed_for_output)
{
	const struct jail_report *rep = &res->jail;
	const char *tail;

	res->status = run_status_of(rep, killed_for_output || res->trunc_out || res->trunc_err);

	/* The memory cgroup's OOM killer ended (part of) a run that then failed. */
	if (rep->oom_kills > 0 && res->status != RUN_OK && res->status != RUN_OUTPUT) {
		res->status = RUN_MEMORY;
		snprintf(res->error, sizeof(res->error), "Memory limit of %d MB exceeded", memory_mb);
		return;
	}
	switch (res->status) {
	case RUN_OK:
		res->error[0] = '\0';
		return;
	case RUN_TIMEOUT:
		if (rep->signal == SIGXCPU)
			snprintf(res->error, sizeof(res->error), "CPU time limit exceeded (timeout %g s)", timeout_s);
		else
			snprintf(res->error, sizeof(res->error), "Execution timed out after %g seconds", timeout_s);
		return;
	case RUN_OUTPUT:
		snprintf(res->error, sizeof(res->error), "Output limit of %ld bytes reached; the program was stopped",
		    max_output);
		return;
	case RUN_KILLED:
		if (rep->signal)
			snprintf(res->error, sizeof(res->error), "Killed by signal SIG%s",
			    sigabbrev_np(rep->signal) ? sigabbrev_np(rep->signal) : "UNKNOWN");
		else
			snprintf(res->error, sizeof(res->error), "The program was stopped");
		return;
	case RUN_ERROR:
	case RUN_MEMORY:
		break;
	}

	/* Without a memory cgroup, running out of address space shows as a MemoryError. */
	tail = res->err.len ? res->err.data + (res->err.len > 256 ? res->err.len - 256 : 0) : "";
	if (strstr(tail, "\nMemoryError") || strncmp(res->err.data ? res->err.data : "", "MemoryError", 11) == 0) {
		res->status = RUN_MEMORY;
		snprintf(res->error, sizeof(res->error), "Memory limit of %d MB exceeded", memory_mb);
		return;
	}
	snprintf(res->error, sizeof(res->error), "Process exited with status %d", rep->exit_code);
}

