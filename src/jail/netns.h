/* netns.h: a sandbox's way out to the internet (builds, runs with network): slirp4netns NAT and an nftables filter. */
#ifndef SBX_NETNS_H
#define SBX_NETNS_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "conf.h"

/*
 * A sandbox with network has a network namespace of its own, like every run;
 * its only way out is slirp4netns (user-mode NAT, run in the host's namespace,
 * --disable-host-loopback), and inside the namespace an nftables filter on
 * output refuses the host's loopback, link-local, private and shared ranges,
 * the host's own addresses and all of IPv6, unless [network] allow names a
 * range. DNS goes to the configured resolvers or slirp's forwarder (which asks
 * the host's), port 53 only.
 */
#define NETNS_DNS_FORWARDER	"10.0.2.3"
#define NETNS_HOST_ADDRS_MAX	2048	/* bytes of "a.b.c.d a.b.c.d ..." */

/* The host's own IPv4 addresses (every interface's but loopback), space-separated. 0, or -1 with errno. */
int netns_host_addrs(char *out, size_t outlen);
/* Pure: the nftables ruleset for a sandbox, given the host's addresses as netns_host_addrs
 * wrote them. -1 with why when an address is malformed or out of memory. */
int netns_ruleset(const struct conf *c, const char *host_addrs, struct buf *out, char *why, size_t whylen);
/* Pure: the sandbox's /etc/resolv.conf. */
void netns_resolv_conf(const struct conf *c, char *out, size_t outlen);

/* In the sandbox's network namespace, as root: load the ruleset with nft. 0, or -1 with why. */
int netns_filter_load(const char *ruleset, size_t len, char *why, size_t whylen);
/* In the host's network namespace, as root: slirp4netns for the namespace of process target,
 * configured and ready. Returns its pid and the write end of its exit pipe, or -1 with why. */
pid_t netns_slirp_start(pid_t target, int *exit_w, char *why, size_t whylen);
/* End it: close its exit pipe, wait briefly, kill it if it lingers. */
void netns_slirp_stop(pid_t pid, int exit_w);

#endif
