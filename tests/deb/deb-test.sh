#!/bin/bash
# deb-test.sh: builds the .deb, lints it, installs it into a fresh Debian 12 root, serves the README's example and an
# environment build through the installed unit's command line and the installed nginx site, then purges it.
#
# usage: deb-test.sh [--base DIR] SRCDIR   (as root; make deb-test)
#        --base DIR: a debootstrapped Debian 12 in DIR/root to copy (run-all.sh's, made for the cgroup v2
#        guest) instead of running debootstrap here.
# Each step prints "ok - ..." or "not ok - ..."; the last line is "N passed, N failed". Leaves nothing behind:
# the service runs in pid and network namespaces of its own, and the root's mounts are undone at exit.
# shellcheck disable=SC2317  # the steps are functions that check() calls
set -euo pipefail
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
base=""
if [[ ${1:-} == --base ]]; then base=$2; shift 2; fi
src=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)

work=$(mktemp -d /tmp/debtest.XXXXXX)
root=$work/root
# What the tools make for themselves (lintian's indexes, for one) goes with the rest at the end.
mkdir "$work/tmp"
export TMPDIR=$work/tmp
pass=0 fail=0
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
	trap '' INT TERM
	local m
	awk -v d="$root" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

check() {	# DESCRIPTION COMMAND...: one TAP-like line
	local what=$1
	shift
	if "$@" >"$work/step.log" 2>&1; then
		echo "ok - $what"; pass=$((pass + 1))
	else
		echo "not ok - $what"; fail=$((fail + 1))
		sed 's/^/#   /' "$work/step.log" | tail -n 40
	fi
}
finish() {
	echo "$pass passed, $fail failed"
	[[ $fail == 0 ]]
	exit $?
}
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }

# ---- 1. the package, built as Debian builds it, from the tree as it is (uncommitted changes included) ----------
build_deb() {
	mkdir "$work/src"
	if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
		(cd "$src" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -) | tar -C "$work/src" -xf -
	else
		(cd "$src" && tar --exclude=./build --exclude=./build-test --exclude=./build-asan -cf - .) | tar -C "$work/src" -xf -
	fi
	# nocheck: the unit tests run in the suite's own build (make check); DEB_TEST_CHECK=1 runs them here too.
	local opts
	opts="parallel=$(nproc) noddebs"
	[[ ${DEB_TEST_CHECK:-} == 1 ]] || opts+=" nocheck"
	(cd "$work/src" && DEB_BUILD_OPTIONS=$opts dpkg-buildpackage -b -us -uc)
	ls "$work"/pysandbox_*.deb
}
check "the package builds (dpkg-buildpackage -b)" build_deb
deb=$(find "$work" -maxdepth 1 -name 'pysandbox_*_*.deb' | head -n 1)
[[ -n $deb ]] || finish

lint() {
	local out
	out=$(lintian -EvIL +pedantic --color never "$work"/pysandbox_*.changes 2>&1 || true)
	printf '%s\n' "$out" >"$work/lintian.log"
	# Every tag at this level is a finding: none may remain (overrides, each with its reason, aside).
	! grep -E '^[EWIPX]: ' <<<"$out"
}
check "lintian -EvIL +pedantic reports nothing" lint
sed 's/^/#   lintian: /' "$work/lintian.log" | grep -v 'N: \|not recommended' | head -n 20 || true

# ---- 2. a fresh Debian 12 root, itself a mount point ------------------------------------------------------------
make_root() {
	mkdir "$root"
	mount -t tmpfs -o size=4g,mode=0755 debtest-root "$root"
	if [[ -n $base && -f $base/ready ]]; then
		cp -a "$base/root/." "$root/"
	else
		debootstrap --variant=minbase bookworm "$root" "$mirror"
	fi
	mount -t proc proc "$root/proc"
	mount --rbind /sys "$root/sys"
	mount --make-rslave "$root/sys"
	mount --rbind /dev "$root/dev"
	mount --make-rslave "$root/dev"
	cp /etc/resolv.conf "$root/etc/resolv.conf"
	# Installing must start nothing on this host (nginx's postinst would start the default site).
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 0755 "$root/usr/sbin/policy-rc.d"
	mountpoint -q "$root"
}
check "a Debian 12 root made with debootstrap, on a mount point of its own" make_root

install_deb() {
	cp "$deb" "$root/tmp/"
	in_root apt-get update -qq
	DEBIAN_FRONTEND=noninteractive in_root apt-get install -y -qq --no-install-recommends "/tmp/${deb##*/}"
	in_root dpkg -L pysandbox >"$work/files"
	# The jail: only the service's group may run it, with exactly its file capabilities.
	[[ $(stat -c '%U:%G %a' "$root/usr/libexec/pysandbox/pysandbox-jail") == "root:pysandbox 750" ]]
	in_root getcap /usr/libexec/pysandbox/pysandbox-jail | grep -q cap_sys_admin
	# What the unit and the package name for documentation is there, uncompressed.
	[[ -f $root/usr/share/doc/pysandbox/README.md && -f $root/usr/share/doc/pysandbox/SECURITY.md ]]
	[[ -f $root/lib/systemd/system/pysandbox-prune.timer ]]
}
check "apt-get install ./pysandbox.deb (dependencies from Debian)" install_deb

# ---- 3. serve through the installed files: the unit's command lines, the installed nginx site ----------------------
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -addext subjectAltName=DNS:localhost -days 2 \
	-keyout "$root/etc/ssl/private/pysandbox.key" -out "$root/etc/ssl/certs/pysandbox.pem" 2>/dev/null
chmod 0640 "$root/etc/ssl/private/pysandbox.key"
site=$root/usr/share/doc/pysandbox/examples/nginx-site.conf
if [[ -f $site.gz ]]; then zcat "$site.gz" >"$work/site"; else cp "$site" "$work/site"; fi
# What an operator replaces (the host name; the certificate paths are the site's defaults).
sed 's/sandbox\.example\.com/localhost/' "$work/site" >"$root/etc/nginx/sites-enabled/pysandbox"
grep -E '^(ExecStartPre|ExecStart)=' "$root/lib/systemd/system/pysandbox.service" | sed 's/^[A-Za-z]*=//' \
	>"$root/tmp/unit-commands"
cp "$here/serve.sh" "$root/tmp/serve.sh"
# The README's example, as the README writes it (the test fails if the two drift apart).
grep -A1 '^curl -X POST http://localhost:8000/execute ' "$src/README.md" | sed -n "2s/^  -d '\(.*\)'\$/\1/p" \
	>"$root/tmp/readme-example.json"

serve() {
	# New pid and network namespaces: everything the service starts ends with this step; only lo exists.
	# Bounded: unshare ignores TERM while it waits, and a KILL to it ends its child and so the whole namespace.
	# shellcheck disable=SC2016  # expanded by the inner shell
	timeout --signal=KILL 600 unshare --pid --fork --net --mount --kill-child bash -c '
		set -e
		ip link set lo up
		ip addr add 192.0.2.1/32 dev lo	# a client address other than 127.0.0.1, for /metrics
		mount --make-rprivate /
		mount -t proc proc "$1/proc"
		exec chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 bash /tmp/serve.sh' \
		serve "$root"
}
cgroups_before=$(find /sys/fs/cgroup -type d -name 'pysandbox*' 2>/dev/null | sort)
check "the installed service serves the README example and an environment build" serve
# The chrooted pool made its runs' cgroups in this host's hierarchies: what a killed one left goes too.
comm -13 <(printf '%s\n' "$cgroups_before") <(find /sys/fs/cgroup -type d -name 'pysandbox*' 2>/dev/null | sort) |
	sort -r | while read -r d; do rmdir "$d" 2>/dev/null || true; done
sed 's/^/#   /' "$work/step.log" | grep '^#   serve:' || true

# ---- 4. purge, and what is left ---------------------------------------------------------------------------------------
purge() {
	DEBIAN_FRONTEND=noninteractive in_root apt-get purge -y -qq pysandbox
	local left=() f
	while read -r f; do
		# Directories the package shares with others (/usr, /etc/nginx/snippets, ...) stay; its own files must go.
		[[ -e $root$f && ! -d $root$f ]] && left+=("$f")
	done <"$work/files"
	for f in /etc/pysandbox /var/lib/pysandbox /usr/libexec/pysandbox /usr/share/pysandbox /usr/share/doc/pysandbox \
		/etc/nginx/snippets/pysandbox-fastcgi.conf /etc/nginx/snippets/pysandbox-cors.conf \
		/etc/nginx/snippets/pysandbox-cors-headers.conf /lib/systemd/system/pysandbox.service; do
		[[ -e $root$f ]] && left+=("$f")
	done
	if in_root dpkg-statoverride --list | grep -q pysandbox; then left+=("a dpkg-statoverride"); fi
	echo "serve: left after purge: ${left[*]:-nothing of the package}"
	# Debian policy keeps the system user (files owned by it may remain elsewhere): reported, not removed.
	if in_root getent passwd pysandbox >/dev/null; then echo "serve: the system user pysandbox stays (Debian policy)"; fi
	((${#left[@]} == 0))
}
check "apt-get purge leaves nothing of the package" purge
sed 's/^/#   /' "$work/step.log" | grep '^#   serve:' || true
finish
