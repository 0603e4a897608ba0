#!/bin/bash
# run-all.sh: the README's test command: install, build (warnings as errors), run every test, then the unit
# tests and the request path again under ASan+UBSan, the cgroup tests on a cgroup v2 guest, shellcheck;
# ends with one "N passed, N failed" line.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/conf/deps.sh" --test
cd "$top"
autoreconf -fi >/dev/null 2>&1
jobs=$(nproc)
status=0
# Each step's wall time, so that keeping the suite well inside CI's limit is a matter of reading the log.
step_start=$SECONDS
step_done() { echo "time: $1 $((SECONDS - step_start)) s"; step_start=$SECONDS; }

# The cgroup v2 guest of step 3 needs a Debian root file system (2-3 minutes, mostly downloading):
# prepared in the background, at low priority, while steps 1 and 2 run. (Not named pysandbox-*:
# the leftover tests would take debootstrap's mounts in it for the service's.)
vm_base=$(mktemp -d /tmp/sbx-v2-base.XXXXXX)
# In a process group of its own (this script has no job control, so setsid needs no fork and the
# group's id is $!): an early exit ends debootstrap and every child of it.
setsid nice -n 19 bash tests/vm/run-v2.sh --prepare "$vm_base" >"$vm_base.log" 2>&1 &
vm_prep=$!
# shellcheck disable=SC2317  # invoked by the EXIT trap
end_vm_prepare() {
	if [[ -n $vm_prep ]]; then
		kill -- "-$vm_prep" 2>/dev/null || true
		wait "$vm_prep" 2>/dev/null || true
		for _ in $(seq 50); do pgrep -g "$vm_prep" >/dev/null || break; sleep 0.1; done
		if pgrep -g "$vm_prep" >/dev/null; then kill -KILL -- "-$vm_prep" 2>/dev/null || true; fi
	fi
	vm_prep=""
	bash tests/vm/run-v2.sh --remove "$vm_base"
	rm -f "$vm_base.log"
}
trap end_vm_prepare EXIT

# 1. The real build, every test: unit (TAP), integration through nginx and the real jail.
rm -rf build-test && mkdir build-test
(cd build-test && ../configure -q CFLAGS="-O2 -g -Werror") || exit 1
# The tests' pinned npm tools (tests/js), installed into the build tree while it compiles (not while tests
# with deadlines run); the tests that use them then find them (or wait on its lock).
(cd tests/integration && top_srcdir=$top top_builddir=$top/build-test /usr/bin/python3 -c \
	'import nodejs; nodejs.node_modules()') >build-test/js-install.log 2>&1 &
js_install=$!
(cd build-test && make -j"$jobs" >/dev/null) || { kill "$js_install" 2>/dev/null; wait "$js_install"; exit 1; }
wait "$js_install" || { echo "not ok - npm install of tests/js:"; cat build-test/js-install.log; status=1; }
(cd build-test && make -j"$jobs" check PYTEST_JOBS="$jobs") || status=1
# The browser tests' screenshots of each page, the run's artifacts (kept with the build tree, not committed).
echo "screenshots in build-test/tests/artifacts/: $(find build-test/tests/artifacts -name '*.png' -printf '%f ' 2>/dev/null || true)"
step_done "install, build and check"

# 1b. Load and faults in their short form (make load), a sample of the sabotage switches (make sabotage:
#     each mechanism off in a test-only build; the hostile tests covering it must then fail), and the warm
#     path's run of the suites (make check-warm). Each ends with its own "N passed, N failed" line, counted
#     below.
extra_pass=0 extra_fail=0
run_counted() {	# NAME MAKE-ARGS...: make in build-test, its log in build-test/NAME.log, its counts added
	local name=$1 line p f
	shift
	(cd build-test && make --no-print-directory "$@") >"build-test/$name.log" 2>&1 || status=1
	grep -E '^(not ok|  FAIL) ' "build-test/$name.log" || true
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "build-test/$name.log" | tail -n 1 || true)
	echo "$name: ${line:-no result line}"
	if [[ -n $line ]]; then
		read -r p _ f _ <<<"$line"
		extra_pass=$((extra_pass + p)) extra_fail=$((extra_fail + f))
	else
		extra_fail=$((extra_fail + 1)); status=1
	fi
}
run_counted load load LOAD_ARGS="--duration 15"
step_done load
run_counted sabotage sabotage SABOTAGE="seccomp memory pid forkseccomp forkcheck forkshare forkfd forksock forkcaps forkstay forkserver"
step_done sabotage
# The API, hostile and environment suites again on the warm path (every stack with warm_interpreters).
run_counted warm check-warm PYTEST_JOBS="$jobs"
step_done "warm path"
# And on the fork path (every stack with fork_server).
run_counted fork check-fork PYTEST_JOBS="$jobs"
step_done "fork path"

# 2. Under AddressSanitizer and UndefinedBehaviorSanitizer: the unit tests, the fuzz corpora, and the
#    integration tests of the request path, the jail, capacity and metrics (builds included) (the whole service,
#    sanitized, behind nginx; the environment, admin, hostile, network and disk files only in the real build,
#    for time).
rm -rf build-asan && mkdir build-asan
(cd build-asan && ../configure -q CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	LDFLAGS="-fsanitize=address,undefined" && make -j"$jobs" >/dev/null) || exit 1
unit=$(cd build-asan && make -s print-unit-tests)
(cd build-asan && make -j"$jobs" check PYTEST_JOBS="$jobs" TESTS="$unit tests/integration/run-tests.sh" \
	INTEGRATION_FILES="test_smoke.py test_api.py test_jail_direct.py test_supervisor.py test_capacity.py test_metrics.py") \
	|| status=1
step_done "sanitizer build and check"

# 2b. The package for real (make deb-test): built with dpkg-buildpackage, lintian-clean, installed into a copy of
#     the Debian 12 root debootstrapped for step 3, served through its unit's command lines and nginx site, purged.
wait "$vm_prep" || cat "$vm_base.log" >&2	# without a base, run-v2.sh prepares one itself (and deb-test too)
vm_prep=""
run_counted deb-test deb-test DEB_TEST_ARGS="--base $vm_base"
step_done "package install test"

# 3. The tests that exercise cgroups again on a pure cgroup v2 host (Debian 12's kernel under qemu): this
#    project's machines have only v1 controllers, Debian 12 hosts only v2.
vm_log=$top/build-test/vm-v2.log
if bash tests/vm/run-v2.sh --base "$vm_base" "$top" "$top/build-test" >"$vm_log" 2>&1; then
	vm_status=0
else
	vm_status=1; status=1
fi
tail -n 1 "$vm_log"
vm_pass=$(grep -cE '^ok ' "$vm_log" || true)
vm_fail=$(grep -cE '^not ok ' "$vm_log" || true)
if [[ $vm_status != 0 && $vm_fail == 0 ]]; then vm_fail=1; fi
step_done "cgroup v2 guest"

# 4. Shell scripts are shellcheck-clean.
if shellcheck conf/*.sh tests/*.sh tests/integration/*.sh tests/vm/*.sh environments/*.sh .ci/run \
	src/admin/pysandbox-admin www/examples/curl-examples.sh tests/fuzz/*.sh tests/deb/*.sh tests/js/*.sh www/static/vendor/update.sh; then
	echo "ok - shellcheck"; sc_pass=1; sc_fail=0
else
	echo "not ok - shellcheck"; sc_pass=0; sc_fail=1; status=1
fi

sum() { awk -v k="$1" '$1 == "#" && $2 == k":" { n += $3 } END { print n + 0 }' "$top"/build-test/test-suite.log "$top"/build-asan/test-suite.log; }
# The failures' details (read to the end: a "| head" ends the writer by SIGPIPE, and pipefail the script).
for log in build-test/test-suite.log build-asan/test-suite.log; do
	if grep -q '^# FAIL: *[1-9]' "$log"; then awk '/^(FAIL|ERROR|not ok)/ && n++ < 50' "$log"; fi
done
if [[ $vm_status != 0 ]]; then sed -n '/^not ok\|^run-v2/,$p' "$vm_log" | tail -n 200; fi
echo "$(( $(sum PASS) + vm_pass + sc_pass + extra_pass )) passed, $(( $(sum FAIL) + $(sum ERROR) + vm_fail + sc_fail + extra_fail )) failed"
exit "$status"
