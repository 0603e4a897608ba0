/* worker.c: a worker process: its accept loop on one FastCGI socket, its standby jail, its recycling. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "http.h"
#include "log.h"
#include "pool.h"
#include "run.h"
#include "scoreboard.h"
#include "signals.h"

static volatile sig_atomic_t worker_stop;
static volatile sig_atomic_t worker_in_request;
static volatile sig_atomic_t worker_listen_fd = -1;

/* Graceful stop (php-fpm's way): an idle worker closes its listening socket so that a blocked accept
 * returns; a busy one finishes its request first. */
static void
worker_on_stop(int sig)
{
	worker_stop = 1;
	if (!worker_in_request && worker_listen_fd >= 0) {
		close(worker_listen_fd);
		worker_listen_fd = -1;
	}
	(void)sig;
}

void
worker_main(const struct conf *c, int listen_fd, int slot, bool takes_runs)
{
	static const int stops[] = { SIGQUIT, SIGTERM, SIGINT, 0 };
	FCGX_Request fr;

	if (FCGX_Init() != 0)
		fatalx("FCGX_Init failed");
	signals_handle(stops, worker_on_stop, 0);	/* no SA_RESTART: a blocked accept must return */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signals_unblock_all();	/* blocked by the master across fork */
	/* Stop with the master: a worker never outlives its pool. */
	prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
	if (getppid() == 1)
		return;
	worker_listen_fd = listen_fd;
	if (FCGX_InitRequest(&fr, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0)
		fatalx("FCGX_InitRequest failed");

	for (unsigned long served = 0; !worker_stop; ) {
		bool recycle;

		if (takes_runs)
			run_standby(c, slot);
		if (FCGX_Accept_r(&fr) < 0) {
			if (worker_stop)
				break;
			if (errno == EINTR)
				continue;
			log_warn("accept");
			break;
		}
		worker_in_request = 1;
		sb_worker_busy(slot, true);
		http_serve(c, slot, &fr);
		FCGX_Finish_r(&fr);
		run_reap();
		served++;
		recycle = c->max_requests > 0 && served >= (unsigned long)c->max_requests;
		if (!recycle && !worker_stop && takes_runs)
			run_standby(c, slot);	/* the next run's jail, now that the answer has gone */
		http_after_answer(c);
		sb_worker_busy(slot, false);
		sb_worker_served(slot, served);
		worker_in_request = 0;
		if (recycle) {
			log_debug("worker recycled after %lu requests", served);
			break;
		}
	}
	run_standby_drop();
}
