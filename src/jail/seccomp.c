/* seccomp.c: the program's seccomp policy, as data, its loading (libseccomp) and its BPF for a fork server's child. */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/netlink.h>

#include <seccomp.h>

#include "buf.h"
#include "jail.h"

/*
 * The seccomp policy, kept as data: system calls a Python program has no
 * business making, answered with an error rather than a kill so that
 * libraries that probe for them degrade gracefully. Everything else is
 * allowed; the namespaces, the uid and the read-only root do the rest.
 * Other architectures (the 32-bit and x32 ABIs) are killed by libseccomp's
 * architecture check.
 */
static const struct { const char *name; int err; } seccomp_deny[] = {
	/* namespaces and mounts: the program must not build its own sandbox */
	{ "unshare", EPERM }, { "setns", EPERM }, { "clone3", ENOSYS },
	{ "mount", EPERM }, { "umount2", EPERM }, { "pivot_root", EPERM }, { "chroot", EPERM },
	{ "fsopen", EPERM }, { "fsconfig", EPERM }, { "fsmount", EPERM }, { "fspick", EPERM },
	{ "move_mount", EPERM }, { "open_tree", EPERM }, { "mount_setattr", EPERM },
	/* other processes and the kernel */
	{ "ptrace", EPERM }, { "process_vm_readv", EPERM }, { "process_vm_writev", EPERM },
	{ "kexec_load", EPERM }, { "kexec_file_load", EPERM }, { "init_module", EPERM },
	{ "finit_module", EPERM }, { "delete_module", EPERM }, { "bpf", EPERM },
	{ "perf_event_open", EPERM }, { "userfaultfd", EPERM }, { "lookup_dcookie", EPERM },
	{ "keyctl", EPERM }, { "add_key", EPERM }, { "request_key", EPERM },
	{ "io_uring_setup", ENOSYS }, { "io_uring_enter", ENOSYS }, { "io_uring_register", ENOSYS },
	{ "open_by_handle_at", EPERM }, { "name_to_handle_at", EPERM },
	/* side channels: /usr is shared read-only with every run and the host, so
	 * inotify and fanotify on it would show what others open */
	{ "inotify_init", ENOSYS }, { "inotify_init1", ENOSYS }, { "inotify_add_watch", ENOSYS },
	{ "fanotify_init", ENOSYS }, { "fanotify_mark", ENOSYS },
	/* the machine */
	{ "reboot", EPERM }, { "swapon", EPERM }, { "swapoff", EPERM }, { "acct", EPERM },
	{ "quotactl", EPERM }, { "syslog", EPERM }, { "settimeofday", EPERM },
	{ "clock_settime", EPERM }, { "clock_adjtime", EPERM }, { "adjtimex", EPERM },
	{ "vhangup", EPERM }, { "uselib", EPERM }, { "nfsservctl", EPERM },
};

/* Socket families a run may open: local, IP (its own loopback, and with
 * network slirp4netns's way out) and netlink, NETLINK_ROUTE alone (interface
 * and address queries in its own namespace, for getaddrinfo and
 * if_nameindex; kobject-uevent and audit would carry the host's events).
 * Everything else (vsock, which ignores network namespaces, packet,
 * bluetooth, can, alg, ...) is refused as unsupported, and socketpair(2),
 * which loads a family's module too, is AF_UNIX's alone. */
static const int seccomp_socket_families[] = { AF_UNIX, AF_INET, AF_INET6, AF_NETLINK };

/* clone(2) flags that would create namespaces (clone's first argument on x86-64). */
static const unsigned long seccomp_clone_ns_flags[] = {
	CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWCGROUP,
};

/* What the fork server's filter denies besides the run's: the last ways to reach into another process
 * (its children's, whose user namespaces its real uid owns) that the run's policy leaves to a run's own. */
static const char *const seccomp_server_deny[] = { "pidfd_getfd", "kcmp", "process_madvise" };

/* The policy as a libseccomp filter (released by the caller); dies on failure. The fork server's (server):
 * the run's, except what its children need before their own filter (unshare, mount), and seccomp_server_deny
 * as well; each child adds the run's on top. */
static scmp_filter_ctx
seccomp_policy(bool server)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int rc = 0;

	if (ctx == NULL) {
		errno = ENOMEM;
		die("seccomp init");
	}
	for (size_t i = 0; i < sizeof(seccomp_deny) / sizeof(seccomp_deny[0]) && rc == 0; i++) {
		int nr = seccomp_syscall_resolve_name(seccomp_deny[i].name);

		if (server && (strcmp(seccomp_deny[i].name, "unshare") == 0 || strcmp(seccomp_deny[i].name, "mount") == 0))
			continue;
		if (nr != __NR_SCMP_ERROR)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(seccomp_deny[i].err), nr, 0);
	}
	for (size_t i = 0; server && i < sizeof(seccomp_server_deny) / sizeof(seccomp_server_deny[0]) && rc == 0; i++) {
		int nr = seccomp_syscall_resolve_name(seccomp_server_deny[i]);

		if (nr != __NR_SCMP_ERROR)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
	}
	for (size_t i = 0; i < sizeof(seccomp_clone_ns_flags) / sizeof(seccomp_clone_ns_flags[0]) && rc == 0; i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
		    SCMP_A0(SCMP_CMP_MASKED_EQ, seccomp_clone_ns_flags[i], seccomp_clone_ns_flags[i]));
	/* socket(2): every family below the largest allowed one that is not in the list, and all above it. */
	for (int fam = 0; fam <= AF_NETLINK && rc == 0; fam++) {
		bool allowed = false;
		for (size_t i = 0; i < sizeof(seccomp_socket_families) / sizeof(seccomp_socket_families[0]); i++)
			allowed |= seccomp_socket_families[i] == fam;
		if (!allowed)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
			    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)fam));
	}
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
		    SCMP_A0(SCMP_CMP_GT, (scmp_datum_t)AF_NETLINK));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPROTONOSUPPORT), SCMP_SYS(socket), 2,
		    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)AF_NETLINK), SCMP_A2(SCMP_CMP_NE, (scmp_datum_t)NETLINK_ROUTE));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socketpair), 1,
		    SCMP_A0(SCMP_CMP_NE, (scmp_datum_t)AF_UNIX));
	/* personality(2) may only query, never switch to another ABI or turn ASLR off. */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality), 1,
		    SCMP_A0(SCMP_CMP_NE, 0xffffffffUL));
	if (rc != 0) {
		errno = -rc;
		die("seccomp");
	}
	return ctx;
}

void
seccomp_policy_load(bool fork_server)
{
	scmp_filter_ctx ctx = seccomp_policy(fork_server);
	int rc = seccomp_load(ctx);

	seccomp_release(ctx);
	if (rc != 0) {
		errno = -rc;
		die("seccomp");
	}
}

void
seccomp_policy_export(struct buf *bpf)
{
	scmp_filter_ctx ctx = seccomp_policy(false);
	int fd = memfd_create("pysandbox-seccomp", MFD_CLOEXEC), rc;
	char chunk[4096];
	ssize_t n;

	if (fd == -1)
		die("memfd for the seccomp filter");
	if ((rc = seccomp_export_bpf(ctx, fd)) != 0) {
		errno = -rc;
		die("export the seccomp filter");
	}
	seccomp_release(ctx);
	if (lseek(fd, 0, SEEK_SET) == -1)
		die("rewind the seccomp filter");
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_append(bpf, chunk, (size_t)n) == -1)
			die("the seccomp filter");
	if (n == -1 || bpf->len == 0 || bpf->len % 8 != 0)
		die("read the seccomp filter");
	close(fd);
}
