#!/bin/bash
# run-v2.sh: runs integration tests on a pure cgroup v2 host: Debian 12's kernel under qemu, booted into a
# debootstrapped Debian 12 holding this source and build tree (this project's machines have v1 controllers only).
#
# usage: run-v2.sh [--base DIR] SRCDIR BUILDDIR [TEST_FILE...]   (as root; default: the files that
#                                                               exercise cgroups)
#        run-v2.sh --prepare DIR   the guest's kernel and root file system, into the empty DIR, ahead of
#                                  time (run-all.sh does it while the host's tests run); --base DIR then
#                                  boots it and uses it up.
#        run-v2.sh --remove DIR    removes such a DIR, also one a killed --prepare left half done.
# Prints the tests' TAP lines, then "N passed, N failed"; exits non-zero when a test failed or none ran.
# VM_CONSOLE=FILE keeps the guest's whole console (pytest's report included) in FILE.
# VM_STALL_AFTER=S (1440): a guest still running after S seconds is asked where its vCPUs are, then ended.
# Needs qemu-system-x86, debootstrap and cpio (deps.sh --test) and Debian's mirror; KVM is not needed
# (software emulation: nested KVM is unreliable on the VMs this runs on). Leaves nothing behind.
set -euo pipefail
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

# The kernel (DIR/kernel) and the guest's Debian 12 (DIR/root); DIR/ready once both are complete.
prepare() {
	local dir=$1 kpkg
	# Debian 12's cloud flavour (cgroup v2, namespaces, seccomp built in; no modules needed).
	if ! (cd "$dir" && apt-get download -q linux-image-cloud-amd64 >/dev/null 2>&1); then
		apt-get update -qq
		(cd "$dir" && apt-get download -q linux-image-cloud-amd64 >/dev/null)
	fi
	kpkg=$(dpkg-deb -f "$dir"/linux-image-cloud-amd64_*.deb Depends | sed -n 's/^\(linux-image-[^ ,]*\).*/\1/p')
	(cd "$dir" && apt-get download -q "$kpkg" >/dev/null 2>&1)
	dpkg-deb -x "$dir/$kpkg"_*.deb "$dir/kernel"
	rm -f "$dir"/*.deb
	# What the service and its tests need at run time (the binaries come from the build tree).
	debootstrap --variant=minbase \
		--include=libb64-0d,libfcgi0ldbl,libjson-c5,libseccomp2,libsqlite3-0,nginx,python3,python3-venv,python3-pytest,python3-requests,curl,jq,sqlite3,libcap2-bin,passwd,procps,iproute2,slirp4netns,nftables \
		bookworm "$dir/root" "$mirror" >"$dir/debootstrap.log" 2>&1 || { tail -20 "$dir/debootstrap.log" >&2; return 1; }
	touch "$dir/ready"
}

# Remove a work or base directory, whatever state a killed debootstrap left it in: first what it
# mounted inside (proc, sys), then the files, never crossing into another file system.
remove() {
	local dir=$1 m
	[[ -d $dir ]] || return 0
	awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
		umount -l "$m" || true
	done
	rm -rf --one-file-system "$dir"
}

if [[ ${1:-} == --remove ]]; then
	remove "$2"
	exit 0
fi
if [[ ${1:-} == --prepare ]]; then
	[[ -d ${2:-} ]] || { echo "usage: run-v2.sh --prepare DIR" >&2; exit 2; }
	prepare "$2"
	exit 0
fi
base=""
if [[ ${1:-} == --base ]]; then
	base=$2
	shift 2
fi
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
shift 2
files=("$@")
if [[ ${#files[@]} == 0 ]]; then
	# What depends on cgroups (v2 differs from v1): runs' cgroups and limits, the jail's own processes outside
	# them, standbys and their cgroups, killed jails' cleanup; the memory and CPU tests of test_hostile_limits.py.
	files=(test_supervisor.py
		test_pool.py::test_killed_busy_worker_ends_its_run test_pool.py::test_sigterm_kills_a_run_past_grace
		test_pool.py::test_each_run_worker_keeps_one_standby_jail
		test_pool.py::test_every_run_gets_fresh_cgroups_removed_after_it
		test_pool.py::test_a_killed_standby_is_replaced test_pool.py::test_a_recycled_worker_ends_its_standby
		test_jail_direct.py::test_the_pool_user_can_run_what_the_configuration_allows
		test_jail_direct.py::test_a_standby_runs_what_the_configuration_allows
		test_jail_direct.py::test_a_standby_closed_unused_leaves_no_cgroup
		test_hostile_limits.py::test_huge_allocation_hits_memory_limit test_hostile_limits.py::test_memfd_cannot_bypass_memory_limit
		test_hostile_limits.py::test_memory_limit_covers_all_processes test_hostile_limits.py::test_fork_bomb_ends
		test_hostile_limits.py::test_cpu_loop_times_out test_hostile_limits.py::test_cpu_loop_in_four_threads_times_out)
fi

work=$(mktemp -d /tmp/pysandbox-vm.XXXXXX)
qemu_pid=""
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
	if [[ -n $qemu_pid ]]; then kill "$qemu_pid" 2>/dev/null || true; wait "$qemu_pid" 2>/dev/null || true; fi
	remove "$work"
}
trap cleanup EXIT

if [[ -n $base && -f $base/ready ]]; then
	mv "$base/kernel" "$base/root" "$work/"
else
	prepare "$work"
fi
kernel=$(ls "$work"/kernel/boot/vmlinuz-*)

# Same absolute paths as here: the build tree names its source directory.
mkdir -p "$work/root$src" "$work/root$build"
tar -C "$src" --exclude=./.git --exclude=./build --exclude=./build-test --exclude=./build-asan -cf - . |
	tar -C "$work/root$src" -xf -
# Not the tests' npm install or the browser's screenshots (100+ MB the guest's tests do not use).
tar -C "$build" --exclude=./tests/js-modules --exclude=./tests/artifacts -cf - . | tar -C "$work/root$build" -xf -

# First stage: the initial rootfs refuses pivot_root (the jail's), so copy it into a tmpfs and switch.
cat >"$work/root/init" <<'EOF'
#!/bin/bash
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t tmpfs -o size=3g tmpfs /mnt
for d in /*; do
	case "$d" in /proc | /sys | /dev | /mnt) mkdir -p "/mnt$d" ;; *) cp -a "$d" /mnt/ ;; esac
done
umount /proc
exec switch_root /mnt /init2
EOF
# Second stage: cgroup2 alone at /sys/fs/cgroup with memory, pids and cpu handed down from the root, as
# systemd sets a Debian 12 host up; then the tests, their TAP lines marked for the host to pick out.
cat >"$work/root/init2" <<EOF
#!/bin/bash
# PY_COLORS=0: the console is a terminal, but its report is read as text.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 PY_COLORS=0
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs tmpfs /dev/shm
# No tmpfs over /tmp: the root is one already, and the trees under test may live in /tmp.
mount -t tmpfs tmpfs /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo "+memory +pids +cpu" >/sys/fs/cgroup/cgroup.subtree_control
ip link set lo up
echo "vm: kernel \$(uname -r), cgroup2 subtree_control: \$(cat /sys/fs/cgroup/cgroup.subtree_control)"
# A watchdog: a guest whose tests stall (a task blocked in the kernel ignores timeout's signals) says what is
# blocked, in which of the runs' cgroups, and powers off, well before qemu's own limit.
( sleep 1200
  echo "vm: stalled: the tests ran past 1200 s; the tasks, the runs' cgroups and the blocked tasks' stacks follow"
  echo 8 >/proc/sys/kernel/printk
  ps -eo pid,ppid,user,stat,wchan:32,etimes,args
  for d in \$(find /sys/fs/cgroup -name 'pysandbox-*'); do
	echo "\$d: procs \$(tr '\\n' ' ' <"\$d/cgroup.procs"), \$(tr '\\n' ' ' <"\$d/memory.events")"
  done
  echo w >/proc/sysrq-trigger
  sleep 5
  echo o >/proc/sysrq-trigger ) >/dev/console 2>&1 &
# faulthandler_timeout: a test stuck in Python prints its traceback (the report reaches the console).
top_srcdir=$src top_builddir=$build INTEGRATION_FILES="${files[*]}" \\
	timeout -k 10 1100 bash $src/tests/integration/run-tests.sh -o faulthandler_timeout=300 2>/dev/console |
	sed 's/^/vm-tap: /'
echo "vm: cgroups left: \$(find /sys/fs/cgroup -name 'pysandbox-*' | wc -l)"
echo o >/proc/sysrq-trigger
sleep 30
EOF
chmod +x "$work/root/init" "$work/root/init2"
(cd "$work/root" && find . -xdev | cpio -o -H newc --quiet >"$work/initrd.cpio")
rm -rf "$work/root"

# timeout(1) bounds the guest (25 minutes; its own watchdog ends it at 20) and ends with it: a watchdog
# subshell here would leave its sleep behind when it is killed. nokaslr: a kernel address the report
# below prints reads the same in every boot of this kernel.
timeout 1500 qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp 2 -m 4096 -nographic -no-reboot \
	-monitor "unix:$work/monitor.sock,server=on,wait=off" \
	-kernel "$kernel" -initrd "$work/initrd.cpio" -append "console=ttyS0 rdinit=/init panic=-1 quiet nokaslr" \
	</dev/null >"$work/console.log" 2>&1 &
qemu_pid=$!
# A guest that stalls so hard that its own watchdog never speaks (seen: about 1 CI run in 4, after the
# tmpfs-past-memory-limit tests, with nothing on the console) is asked from outside, before timeout(1)
# ends it, where each vCPU is: halted (nothing to run: every task waits), in the kernel or in user space.
stall_after=${VM_STALL_AFTER:-1440}	# (smaller to see this report on a guest that is not stalled)
for ((waited = 0; waited < stall_after; waited++)); do
	kill -0 "$qemu_pid" 2>/dev/null || break
	sleep 1
done
if kill -0 "$qemu_pid" 2>/dev/null; then
	echo "run-v2: the guest is still running after $stall_after s; where its vCPUs are:" >&2
	python3 - "$work/monitor.sock" <<'PY' >&2 || true
import re, socket, sys, time
sock = socket.socket(socket.AF_UNIX)
sock.connect(sys.argv[1])
sock.settimeout(1)
# Three looks two seconds apart: a vCPU that stays at one kernel address is stuck there.
for look in range(3):
    sock.sendall(b"info registers -a\n")
    out, until = b"", time.monotonic() + 2
    while time.monotonic() < until:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            break
        out += chunk
    # Per vCPU: its instruction pointer, privilege level (0: the kernel; 3: user space) and HLT=1 when it
    # idles. (Debian's System.map is a placeholder: a kernel address reads against the -dbg package's.)
    for rip, cpl, hlt in re.findall(r"RIP=([0-9a-f]+).*?CPL=(\d).*?HLT=(\d)", out.decode("utf-8", "replace"), re.S):
        print(f"look {look + 1}: vCPU RIP={rip} CPL={cpl} HLT={hlt} ("
              + ("halted: nothing to run, every task waits" if hlt == "1"
                 else "in the kernel" if cpl == "0" else "in user space") + ")")
PY
	kill "$qemu_pid" 2>/dev/null || true
fi
wait "$qemu_pid" || true
qemu_pid=""

tr -d '\r' <"$work/console.log" >"$work/console.txt"
if [[ -n ${VM_CONSOLE:-} ]]; then cp "$work/console.txt" "$VM_CONSOLE"; fi
sed -n 's/^vm-tap: //p' "$work/console.txt" | grep -E '^(not )?ok ' || true
passed=$(grep -cE '^vm-tap: ok ' "$work/console.txt" || true)
failed=$(grep -cE '^vm-tap: not ok ' "$work/console.txt" || true)
left=$(sed -n 's/^vm: cgroups left: //p' "$work/console.txt")
if [[ $left != 0 ]]; then
	echo "not ok - cgroup v2 guest: ${left:-unknown} pysandbox cgroups left after the tests"
	failed=$((failed + 1))
else
	echo "ok - cgroup v2 guest: no pysandbox cgroup left"
	passed=$((passed + 1))
fi
if [[ $((passed + failed)) -le 1 ]]; then
	echo "run-v2: no test ran" >&2
	failed=$((failed + 1))
fi
if [[ $failed != 0 ]]; then
	# pytest's report of the failures (from its FAILURES heading on), else the end of the boot.
	echo "run-v2: the end of the guest's console:" >&2
	if grep -q '= FAILURES =' "$work/console.txt"; then
		grep -v '^vm-tap: ' "$work/console.txt" | sed -n '/= FAILURES =/,$p' | tail -n 150 >&2
	else
		grep -v '^vm-tap: ' "$work/console.txt" | tail -n 200 >&2
	fi
fi
echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
