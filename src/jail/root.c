/* root.c: the run's root: a tmpfs with read-only binds of /usr and a few host files, a generated /etc,
 * private /dev/shm, /proc, /tmp and /work, and the environment at /env; pivoted into, the old root gone. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "jail.h"
#include "netns.h"
#include "slots.h"

bool root_for_fork_server;


static void
bind_ro(const char *src, const char *dst, unsigned long extra)
{
	if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) == -1)
		die("bind %s", src);
	if (mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | extra, NULL) == -1)
		die("remount %s read-only", dst);
}

static void
write_file(const char *path, const char *content, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	size_t len = strlen(content);

	if (fd == -1)
		die("create %s", path);
	if (write(fd, content, len) != (ssize_t)len)
		die("write %s", path);
	close(fd);
}


/* passwd and group in dir (NEWROOT "/etc" for a run): root, the run's uid as sandbox, nobody. */
static void
write_users(const char *dir, unsigned long uid, unsigned long gid)
{
	char path[PATH_MAX], text[512];

	snprintf(path, sizeof(path), "%s/passwd", dir);
	snprintf(text, sizeof(text),
	    "root:x:0:0:root:/root:/usr/sbin/nologin\n"
	    "sandbox:x:%lu:%lu:sandbox:/work:/usr/sbin/nologin\n"
	    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n", uid, gid);
	write_file(path, text, 0644);
	snprintf(path, sizeof(path), "%s/group", dir);
	snprintf(text, sizeof(text), "root:x:0:\nsandbox:x:%lu:\nnogroup:x:65534:\n", gid);
	write_file(path, text, 0644);
}

/* A fork server's /work (its programs cover it with their own): its main.py, and each run slot's passwd and
 * group in users/UID/ (the self-test's too), which its program binds over /etc's. */
static void
write_fork_server_work(void)
{
	char dir[PATH_MAX];

	files_write_fork_server();
	if (mkdir(NEWROOT "/work/users", 0755) == -1)
		die("mkdir /work/users");
	for (int s = 0; s < conf.uid_count; s++) {
		unsigned long uid = (unsigned long)slot_uid(&conf, s);

		if (!slot_may_fork(&conf, s))
			continue;

		snprintf(dir, sizeof(dir), NEWROOT "/work/users/%lu", uid);
		if (mkdir(dir, 0755) == -1)
			die("mkdir %s", dir);
		write_users(dir, uid, uid);
	}
}

/* Mount a host file (or directory) read-only at the same place under the new root, if it exists. */
static void
bind_host_path(const char *hostpath, unsigned long extra)
{
	char dst[PATH_MAX];
	struct stat st;

	if (stat(hostpath, &st) == -1)
		return;
	snprintf(dst, sizeof(dst), NEWROOT "%s", hostpath);
	/* Parents first (e.g. /etc/ssl for /etc/ssl/certs). */
	for (char *s = strchr(dst + strlen(NEWROOT) + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(dst, 0755) == -1 && errno != EEXIST)
			die("mkdir %s", dst);
		*s = '/';
	}
	if (S_ISDIR(st.st_mode)) {
		if (mkdir(dst, 0755) == -1 && errno != EEXIST)
			die("mkdir %s", dst);
	} else {
		int fd = open(dst, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd == -1)
			die("create mount point %s", dst);
		close(fd);
	}
	bind_ro(hostpath, dst, extra);
}

static void
mount_tmpfs(const char *dst, const char *opts)
{
	if (mkdir(dst, 0755) == -1 && errno != EEXIST)
		die("mkdir %s", dst);
	if (mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NODEV, opts) == -1)
		die("mount tmpfs %s", dst);
}

/* The environment directory, opened before the root is built (it may live
 * under /tmp, which the new root covers) and mounted at /env from its fd. */
static int env_fd = -1;

void
root_open_env(void)
{
	char path[CONF_PATH_MAX + 16];
	int envs;

	if (args.env[0] == '\0')
		return;
	snprintf(path, sizeof(path), "%s/envs", conf.state_dir);
	if ((envs = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		die("open %s", path);
	env_fd = openat(envs, args.env, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	close(envs);
	if (env_fd == -1) {
		/* Deleted between the worker's look-up and now: the client's race, not a jail fault. */
		fail_record(JAIL_FAIL_ENV_GONE, errno, "environment '%s' is no longer available", args.env);
	}
	/* A build owns its environment directory (open to runs, whatever mode the
	 * pool made it with); a run only reads it. */
	if (args.build && (fchown(env_fd, run_uid, run_gid) == -1 || fchmod(env_fd, 0755) == -1))
		die("chown environment");
}

static void
mount_env(void)
{
	char src[64];

	snprintf(src, sizeof(src), "/proc/self/fd/%d", env_fd);
	if (mkdir(NEWROOT "/env", 0755) == -1)
		die("mkdir /env");
	if (mount(src, NEWROOT "/env", NULL, MS_BIND, NULL) == -1)
		die("bind environment");
	if (mount(NULL, NEWROOT "/env", NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV |
	    (args.build ? 0 : MS_RDONLY), NULL) == -1)
		die("remount environment");
	close(env_fd);
	env_fd = -1;
}

void
root_build(void)
{
	static const char *top_level[] = { "bin", "sbin", "lib", "lib32", "lib64", "libx32" };
	static const char *etc_files[] = {
		"/etc/ld.so.cache", "/etc/localtime", "/etc/mime.types", "/etc/matplotlibrc",
		"/etc/alternatives", "/etc/ssl/certs", "/etc/ssl/openssl.cnf", "/etc/ca-certificates",
		"/etc/ca-certificates.conf",
	};
	static const char *devices[] = { "null", "zero", "full", "random", "urandom" };
	char path[PATH_MAX], target[PATH_MAX], opts[160];
	struct dirent *de;
	struct stat st;
	DIR *d;
	ssize_t n;

	/* Nothing we mount may propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
		die("make mounts private");
	if (mount("tmpfs", NEWROOT, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=512,mode=0755") == -1)
		die("mount root tmpfs");

	if (mkdir(NEWROOT "/usr", 0755) == -1)
		die("mkdir /usr");
	bind_ro("/usr", NEWROOT "/usr", MS_NODEV);
	/* /bin, /lib...: the same symlinks as the host (merged /usr), or read-only binds. */
	for (size_t i = 0; i < sizeof(top_level) / sizeof(top_level[0]); i++) {
		snprintf(path, sizeof(path), "/%s", top_level[i]);
		if (lstat(path, &st) == -1)
			continue;
		if (S_ISLNK(st.st_mode)) {
			if ((n = readlink(path, target, sizeof(target) - 1)) < 0)
				die("readlink %s", path);
			target[n] = '\0';
			snprintf(path, sizeof(path), NEWROOT "/%s", top_level[i]);
			if (symlink(target, path) == -1)
				die("symlink %s", path);
		} else if (S_ISDIR(st.st_mode))
			bind_host_path(path, MS_NODEV);
	}

	/* /etc: generated, plus the few host files Python, SSL and the loader need. */
	if (mkdir(NEWROOT "/etc", 0755) == -1)
		die("mkdir /etc");
	write_users(NEWROOT "/etc", (unsigned long)run_uid, (unsigned long)run_gid);
	write_file(NEWROOT "/etc/hosts", "127.0.0.1\tlocalhost sandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n", 0644);
	write_file(NEWROOT "/etc/hostname", "sandbox\n", 0644);
	write_file(NEWROOT "/etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\n", 0644);
	if (args.net) {
		netns_resolv_conf(&conf, target, sizeof(target));
		write_file(NEWROOT "/etc/resolv.conf", target, 0644);
	}
	for (size_t i = 0; i < sizeof(etc_files) / sizeof(etc_files[0]); i++)
		bind_host_path(etc_files[i], MS_NODEV);
	/* Debian's /etc/python3.X holds sitecustomize.py that the stdlib links to. */
	if ((d = opendir("/etc")) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (strncmp(de->d_name, "python3", 7) == 0 && strlen(de->d_name) < 32) {
				snprintf(path, sizeof(path), "/etc/%s", de->d_name);
				bind_host_path(path, MS_NODEV);
			}
		closedir(d);
	}

	/* /dev: the five harmless character devices, the usual links, a private /dev/shm. */
	if (mkdir(NEWROOT "/dev", 0755) == -1)
		die("mkdir /dev");
	for (size_t i = 0; i < sizeof(devices) / sizeof(devices[0]); i++) {
		snprintf(path, sizeof(path), "/dev/%s", devices[i]);
		bind_host_path(path, MS_NOEXEC);
	}
	if (symlink("/proc/self/fd", NEWROOT "/dev/fd") == -1 ||
	    symlink("/proc/self/fd/0", NEWROOT "/dev/stdin") == -1 ||
	    symlink("/proc/self/fd/1", NEWROOT "/dev/stdout") == -1 ||
	    symlink("/proc/self/fd/2", NEWROOT "/dev/stderr") == -1)
		die("symlinks in /dev");
	snprintf(opts, sizeof(opts), "size=%ldm,nr_inodes=4096,mode=1777", (long)lim.tmp_mb);
	mount_tmpfs(NEWROOT "/dev/shm", opts);

	/* A proc of our own pid namespace; hidepid hides init (root) from the program. */
	if (mkdir(NEWROOT "/proc", 0555) == -1)
		die("mkdir /proc");
	if (mount("proc", NEWROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2") == -1)
		die("mount /proc");

	snprintf(opts, sizeof(opts), "size=%ldm,nr_inodes=%d,mode=1777", (long)lim.tmp_mb, args.build ? 262144 : 16384);
	mount_tmpfs(NEWROOT "/tmp", opts);
	/* (A fork server's holds its main.py and the run slots' users, root's; each of its programs covers it with
	 * one of the run's.) */
	if (root_for_fork_server)
		snprintf(opts, sizeof(opts), "size=%dk,nr_inodes=%d,mode=0755",
		    128 + 8 * (conf_workers(&conf) + slots_run_workers(&conf) + 1),
		    3 * (conf_workers(&conf) + slots_run_workers(&conf) + 1) + 16);	/* (a page for each file) */
	else
		snprintf(opts, sizeof(opts), "size=%ldm,nr_inodes=%d,mode=0700,uid=%lu,gid=%lu",
		    (long)lim.workdir_mb, args.build ? 262144 : 16384, (unsigned long)run_uid, (unsigned long)run_gid);
	mount_tmpfs(NEWROOT "/work", opts);
	if (mkdir(NEWROOT "/root", 0700) == -1)
		die("mkdir /root");
	if (sabotaged("root")) {
		bind_host_path("/root", MS_NODEV);
		bind_host_path("/var", MS_NODEV);
	}
	if (env_fd != -1)
		mount_env();
	if (root_for_fork_server)
		write_fork_server_work();
}

/* Swap roots and drop every path to the host's tree. */
void
root_enter(void)
{
	if (chdir(NEWROOT) == -1)
		die("chdir new root");
	if (syscall(SYS_pivot_root, ".", ".") == -1)
		die("pivot_root");
	if (umount2(".", MNT_DETACH) == -1)
		die("detach old root");
	if (chdir("/") == -1)
		die("chdir /");
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) == -1)
		die("remount root read-only");
}

/* A new network namespace starts with lo down; programs expect localhost to work. */
void
root_loopback_up(void)
{
	struct ifreq ifr;
	int s;

	if ((s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		die("socket for lo");
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == -1)
		die("get lo flags");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) == -1)
		die("bring lo up");
	close(s);
}
