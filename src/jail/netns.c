/* netns.c: builds a sandbox's nftables filter (pure), loads it with nft, and runs slirp4netns, its only way out. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "netns.h"

#ifndef PYSANDBOX_SLIRP4NETNS
#define PYSANDBOX_SLIRP4NETNS "/usr/bin/slirp4netns"
#endif
#ifndef PYSANDBOX_NFT
#define PYSANDBOX_NFT "/usr/sbin/nft"
#endif

#define SLIRP_READY_MS	10000	/* slirp4netns has this long to configure the namespace */

/* What a sandbox may never reach, whatever it asks: this host and its neighbours
 * (RFC 6890's this-network, private, shared, loopback, link-local, multicast and
 * reserved ranges). Documentation and benchmarking ranges stay reachable. */
static const char *const denied_ranges[] = {
	"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
	"192.0.0.0/24", "192.168.0.0/16", "224.0.0.0/3",
};

int
netns_host_addrs(char *out, size_t outlen)
{
	struct ifaddrs *ifs, *i;
	size_t used = 0;

	out[0] = '\0';
	if (getifaddrs(&ifs) == -1)
		return -1;
	for (i = ifs; i; i = i->ifa_next) {
		char a[INET_ADDRSTRLEN];
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)i->ifa_addr;

		if (sin == NULL || sin->sin_family != AF_INET || (ntohl(sin->sin_addr.s_addr) >> 24) == 127)
			continue;
		if (inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a)) == NULL || used + strlen(a) + 2 > outlen)
			continue;
		used += (size_t)snprintf(out + used, outlen - used, "%s%s", used ? " " : "", a);
	}
	freeifaddrs(ifs);
	return 0;
}

static void
ipv4_text(uint32_t addr, int prefix, char *out, size_t outlen)
{
	snprintf(out, outlen, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xff, (addr >> 8) & 0xff, addr & 0xff);
	if (prefix < 32)
		snprintf(out + strlen(out), outlen - strlen(out), "/%d", prefix);
}

int
netns_ruleset(const struct conf *c, const char *host_addrs, struct buf *out, char *why, size_t whylen)
{
	char a[INET_ADDRSTRLEN + 4];
	int rc = 0;

	rc |= buf_printf(out, "table inet pysandbox {\n\tset denied {\n\t\ttype ipv4_addr; flags interval; auto-merge;\n"
	    "\t\telements = { ");
	for (size_t i = 0; i < sizeof(denied_ranges) / sizeof(denied_ranges[0]); i++)
		rc |= buf_printf(out, "%s%s", i ? ", " : "", denied_ranges[i]);
	rc |= buf_printf(out, " }\n\t}\n");
	/* The host's own addresses (listeners on 0.0.0.0 answer on each), refused
	 * even inside an allowed range: a mirror's subnet may hold one of them. */
	rc |= buf_printf(out, "\tset host {\n\t\ttype ipv4_addr; flags interval; auto-merge;\n\t\telements = { 127.0.0.1");
	for (const char *p = host_addrs; *p; ) {
		struct in_addr in;
		char tok[INET_ADDRSTRLEN];
		size_t n;

		p += strspn(p, " ");
		if ((n = strcspn(p, " ")) == 0)
			break;
		if (n >= sizeof(tok)) {
			snprintf(why, whylen, "malformed host address");
			return -1;
		}
		memcpy(tok, p, n);
		tok[n] = '\0';
		p += n;
		if (inet_pton(AF_INET, tok, &in) != 1) {
			snprintf(why, whylen, "malformed host address '%s'", tok);
			return -1;
		}
		rc |= buf_printf(out, ", %s", tok);
	}
	rc |= buf_printf(out, " }\n\t}\n");
	if (c->net_nallow > 0) {
		rc |= buf_printf(out, "\tset allowed {\n\t\ttype ipv4_addr; flags interval; auto-merge;\n\t\telements = { ");
		for (int i = 0; i < c->net_nallow; i++) {
			ipv4_text(c->net_allow[i].addr, c->net_allow[i].prefix, a, sizeof(a));
			rc |= buf_printf(out, "%s%s", i ? ", " : "", a);
		}
		rc |= buf_printf(out, " }\n\t}\n");
	}
	rc |= buf_printf(out, "\tchain output {\n\t\ttype filter hook output priority 0; policy accept;\n"
	    /* the sandbox's own loopback never leaves it */
	    "\t\toifname \"lo\" accept\n"
	    "\t\tmeta nfproto ipv6 reject with icmpx type admin-prohibited\n");
	/* DNS, and only DNS, to the resolvers; slirp's forwarder when none is configured. */
	rc |= buf_printf(out, "\t\tip daddr { ");
	if (c->net_ndns == 0)
		rc |= buf_printf(out, "%s", NETNS_DNS_FORWARDER);
	for (int i = 0; i < c->net_ndns; i++) {
		ipv4_text(c->net_dns[i], 32, a, sizeof(a));
		rc |= buf_printf(out, "%s%s", i ? ", " : "", a);
	}
	rc |= buf_printf(out, " } meta l4proto { tcp, udp } th dport 53 accept\n");
	/* slirp's virtual network maps to the host (its loopback, its resolver): never, even inside an allowed range. */
	ipv4_text(CONF_SANDBOX_NET, CONF_SANDBOX_PREFIX, a, sizeof(a));
	rc |= buf_printf(out, "\t\tip daddr { %s } meta l4proto tcp reject with tcp reset\n"
	    "\t\tip daddr { %s } reject with icmpx type admin-prohibited\n", a, a);
	rc |= buf_printf(out, "\t\tip daddr @host meta l4proto tcp reject with tcp reset\n"
	    "\t\tip daddr @host reject with icmpx type admin-prohibited\n");
	if (c->net_nallow > 0)
		rc |= buf_printf(out, "\t\tip daddr @allowed accept\n");
	/* A refusal the program sees at once: connection refused, or EPERM for datagrams. */
	rc |= buf_printf(out, "\t\tip daddr @denied meta l4proto tcp reject with tcp reset\n"
	    "\t\tip daddr @denied reject with icmpx type admin-prohibited\n\t}\n}\n");
	if (rc != 0) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	return 0;
}

void
netns_resolv_conf(const struct conf *c, char *out, size_t outlen)
{
	char a[INET_ADDRSTRLEN];
	size_t used = 0;

	out[0] = '\0';
	if (c->net_ndns == 0)
		snprintf(out, outlen, "nameserver %s\n", NETNS_DNS_FORWARDER);
	for (int i = 0; i < c->net_ndns && used < outlen; i++) {
		ipv4_text(c->net_dns[i], 32, a, sizeof(a));
		used += (size_t)snprintf(out + used, outlen - used, "nameserver %s\n", a);
	}
}

/* Wait for pid at most ms milliseconds; its status, or -1 if it is still running. */
static int
wait_bounded(pid_t pid, int ms)
{
	struct timespec pause = { 0, 5000000 };
	int status;

	for (int waited = 0; ; waited += 5) {
		pid_t p = waitpid(pid, &status, WNOHANG);

		if (p == pid)
			return status;
		if (p == -1 && errno != EINTR)
			return 0;
		if (waited >= ms)
			return -1;
		nanosleep(&pause, NULL);
	}
}

int
netns_filter_load(const char *ruleset, size_t len, char *why, size_t whylen)
{
	char *const argv[] = { "nft", "-f", "-", NULL };
	posix_spawn_file_actions_t fa;
	int in = -1, errp[2] = { -1, -1 }, status, rc = -1;
	char msg[300];
	ssize_t n = 0;
	pid_t pid;

	if ((in = memfd_create("pysandbox-nft", MFD_CLOEXEC)) == -1 || write(in, ruleset, len) != (ssize_t)len ||
	    lseek(in, 0, SEEK_SET) == -1 || pipe2(errp, O_CLOEXEC) == -1) {
		snprintf(why, whylen, "nft input: %s", strerror(errno));
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in, 0);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	/* The status stream and the input are init's alone. */
	posix_spawn_file_actions_addclose(&fa, 3);
	posix_spawn_file_actions_addclose(&fa, 4);
	errno = posix_spawn(&pid, PYSANDBOX_NFT, &fa, NULL, argv, (char *[]){ NULL });
	posix_spawn_file_actions_destroy(&fa);
	if (errno != 0) {
		snprintf(why, whylen, "spawn %s: %s", PYSANDBOX_NFT, strerror(errno));
		goto out;
	}
	close(errp[1]);
	errp[1] = -1;
	for (ssize_t r; n < (ssize_t)sizeof(msg) - 1 && (r = read(errp[0], msg + n, sizeof(msg) - 1 - (size_t)n)) != 0; )
		if (r > 0)
			n += r;
		else if (errno != EINTR)
			break;
	msg[n] = '\0';
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		rc = 0;
		goto out;
	}
	for (char *p = msg; *p; p++)
		if (*p == '\n')
			*p = ' ';
	snprintf(why, whylen, "nft refused the filter (%s %d%s%s)", WIFEXITED(status) ? "exit" : "signal",
	    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), msg[0] ? ": " : "", msg);
out:
	if (in != -1)
		close(in);
	if (errp[0] != -1)
		close(errp[0]);
	if (errp[1] != -1)
		close(errp[1]);
	return rc;
}

/* Move *fd to 10 or above (close-on-exec). */
static int
move_high(int *fd)
{
	int hi = fcntl(*fd, F_DUPFD_CLOEXEC, 10);

	if (hi == -1)
		return -1;
	close(*fd);
	*fd = hi;
	return 0;
}

pid_t
netns_slirp_start(pid_t target, int *exit_w, char *why, size_t whylen)
{
	char pidtxt[24], *argv[12];
	posix_spawn_file_actions_t fa;
	int ready[2] = { -1, -1 }, ex[2] = { -1, -1 }, devnull = -1, argc = 0, status;
	struct pollfd pfd;
	pid_t pid = -1;
	char b = 0;

	*exit_w = -1;
	/* Above 4, so that the dup2s onto 3 and 4 never clobber a source. */
	if (pipe2(ready, O_CLOEXEC) == -1 || pipe2(ex, O_CLOEXEC) == -1 ||
	    (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1) {
		snprintf(why, whylen, "pipes for slirp4netns: %s", strerror(errno));
		goto fail;
	}
	if (move_high(&ready[0]) == -1 || move_high(&ready[1]) == -1 || move_high(&ex[0]) == -1 ||
	    move_high(&ex[1]) == -1 || move_high(&devnull) == -1) {
		snprintf(why, whylen, "fds for slirp4netns: %s", strerror(errno));
		goto fail;
	}
	snprintf(pidtxt, sizeof(pidtxt), "%ld", (long)target);
	argv[argc++] = "slirp4netns";
	argv[argc++] = "--configure";
	argv[argc++] = "--mtu=65520";
	/* 10.0.2.2 would be the host's loopback: refused. */
	argv[argc++] = "--disable-host-loopback";
	/* Its own empty root, no capabilities, a system call filter. */
	argv[argc++] = "--enable-sandbox";
	argv[argc++] = "--enable-seccomp";
	argv[argc++] = "--ready-fd=3";
	argv[argc++] = "--exit-fd=4";
	argv[argc++] = pidtxt;
	argv[argc++] = "tap0";
	argv[argc] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, devnull, 0);
	posix_spawn_file_actions_adddup2(&fa, devnull, 1);
	posix_spawn_file_actions_adddup2(&fa, devnull, 2);
	posix_spawn_file_actions_adddup2(&fa, ready[1], 3);
	posix_spawn_file_actions_adddup2(&fa, ex[0], 4);
	errno = posix_spawn(&pid, PYSANDBOX_SLIRP4NETNS, &fa, NULL, argv, (char *[]){ NULL });
	posix_spawn_file_actions_destroy(&fa);
	if (errno != 0) {
		snprintf(why, whylen, "spawn %s: %s", PYSANDBOX_SLIRP4NETNS, strerror(errno));
		pid = -1;
		goto fail;
	}
	close(ready[1]);
	close(ex[0]);
	ready[1] = ex[0] = -1;
	/* It writes "1" once tap0 is up with its address and route; EOF if it died. */
	pfd = (struct pollfd){ ready[0], POLLIN, 0 };
	if (poll(&pfd, 1, SLIRP_READY_MS) != 1 || read(ready[0], &b, 1) != 1 || b != '1') {
		snprintf(why, whylen, "slirp4netns did not configure the network");
		goto fail;
	}
	close(ready[0]);
	close(devnull);
	*exit_w = ex[1];
	return pid;
fail:
	if (pid > 0) {
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
			;
	}
	for (int i = 0; i < 2; i++) {
		if (ready[i] != -1)
			close(ready[i]);
		if (ex[i] != -1)
			close(ex[i]);
	}
	if (devnull != -1)
		close(devnull);
	return -1;
}

void
netns_slirp_stop(pid_t pid, int exit_w)
{
	if (exit_w != -1)
		close(exit_w);
	if (pid <= 0)
		return;
	if (wait_bounded(pid, 1000) == -1) {
		kill(pid, SIGKILL);
		wait_bounded(pid, 1000);
	}
}
