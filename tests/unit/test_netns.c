/* test_netns.c: TAP tests of a sandbox's network policy: [network] address lists and the nftables ruleset. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "netns.h"
#include "tap.h"

/* Where needle first occurs in the ruleset, or -1. */
static long
at(const struct buf *b, const char *needle)
{
	const char *p = b->data ? strstr(b->data, needle) : NULL;

	return p ? p - b->data : -1;
}

static void
test_lists(void)
{
	struct conf_cidr l[4];
	char why[200];
	int n;

	n = conf_parse_ipv4_list("10.20.0.0/16, 192.168.5.10/32 1.2.3.4", true, l, 4, why, sizeof(why));
	ok(n == 3 && l[0].addr == 0x0a140000 && l[0].prefix == 16 && l[1].prefix == 32 && l[2].addr == 0x01020304 &&
	    l[2].prefix == 32, "three ranges, commas and blanks (%d)", n);
	ok(conf_parse_ipv4_list("", true, l, 4, why, sizeof(why)) == 0, "an empty list");
	ok(conf_parse_ipv4_list("10.1.2.3/16", true, l, 4, why, sizeof(why)) == -1 && strstr(why, "past its prefix"),
	    "host bits past the prefix refused (%s)", why);
	ok(conf_parse_ipv4_list("10.0.0.0/33", true, l, 4, why, sizeof(why)) == -1, "prefix 33 refused");
	ok(conf_parse_ipv4_list("10.0.0.0/", true, l, 4, why, sizeof(why)) == -1, "an empty prefix refused");
	ok(conf_parse_ipv4_list("10.0.0.0/8x", true, l, 4, why, sizeof(why)) == -1, "a prefix with trailing bytes refused");
	ok(conf_parse_ipv4_list("fd00::/8", true, l, 4, why, sizeof(why)) == -1 && strstr(why, "IPv4"), "IPv6 refused");
	ok(conf_parse_ipv4_list("1.2.3.4/32", false, l, 4, why, sizeof(why)) == -1, "a prefix where addresses are taken");
	ok(conf_parse_ipv4_list("1.1.1.1 2.2.2.2 3.3.3.3 4.4.4.4 5.5.5.5", false, l, 4, why, sizeof(why)) == -1 &&
	    strstr(why, "more than 4"), "too many entries refused");
	ok(conf_parse_ipv4_list("1.2.3", false, l, 4, why, sizeof(why)) == -1, "a short address refused");
	ok(conf_parse_ipv4_list("1.2.3.4.5.6.7.8.9.10.11.12.13.14", false, l, 4, why, sizeof(why)) == -1,
	    "an overlong token refused");
}

static void
test_ruleset(void)
{
	struct conf c;
	struct buf b = { 0 };
	char why[200], resolv[256];

	conf_defaults(&c);
	ok(netns_ruleset(&c, "192.0.2.2 10.9.9.9", &b, why, sizeof(why)) == 0, "ruleset built");
	ok(at(&b, "10.0.0.0/8") > 0 && at(&b, "169.254.0.0/16") > 0 && at(&b, "100.64.0.0/10") > 0 &&
	    at(&b, "172.16.0.0/12") > 0 && at(&b, "192.168.0.0/16") > 0, "private, shared and link-local ranges denied");
	ok(at(&b, "192.0.2.2") > 0 && at(&b, "10.9.9.9") > 0, "the host's addresses denied");
	ok(at(&b, "ip daddr { 10.0.2.3 } meta l4proto { tcp, udp } th dport 53 accept") > 0,
	    "DNS to slirp's forwarder, port 53 only");
	ok(at(&b, "meta nfproto ipv6 reject") > 0, "IPv6 refused");
	ok(at(&b, "@allowed") == -1, "no allowed set without [network] allow");
	buf_free(&b);

	c.net_allow[0] = (struct conf_cidr){ 0x0a000000, 8 };
	c.net_nallow = 1;
	c.net_dns[0] = 0x01010101;
	c.net_ndns = 1;
	ok(netns_ruleset(&c, "10.1.1.254", &b, why, sizeof(why)) == 0, "ruleset with allow and dns built");
	/* The order is the policy: the sandbox's own network and the host come before an allowed range. */
	ok(at(&b, "ip daddr @host meta") > 0 && at(&b, "ip daddr { 10.0.2.0/24 } meta") > 0 &&
	    at(&b, "ip daddr @host meta") < at(&b, "ip daddr @allowed accept") &&
	    at(&b, "ip daddr { 10.0.2.0/24 } meta") < at(&b, "ip daddr @allowed accept") &&
	    at(&b, "ip daddr @allowed accept") < at(&b, "ip daddr @denied meta"),
	    "host and 10.0.2.0/24 refused before the allowed range, the allowed range before the denied ones");
	ok(at(&b, "ip daddr { 1.1.1.1 } meta l4proto { tcp, udp } th dport 53 accept") > 0 && at(&b, "10.0.2.3") == -1,
	    "DNS to the configured resolver only");
	buf_free(&b);
	ok(netns_ruleset(&c, "10.1.1.254 not-an-address", &b, why, sizeof(why)) == -1 && strstr(why, "malformed"),
	    "a malformed host address refused (%s)", why);
	buf_free(&b);

	netns_resolv_conf(&c, resolv, sizeof(resolv));
	is_str(resolv, "nameserver 1.1.1.1\n", "resolv.conf names the configured resolver");
	c.net_ndns = 0;
	netns_resolv_conf(&c, resolv, sizeof(resolv));
	is_str(resolv, "nameserver 10.0.2.3\n", "resolv.conf names slirp's forwarder by default");
}

int
main(void)
{
	test_lists();
	test_ruleset();
	return done_testing();
}
