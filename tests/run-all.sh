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

# 1. The real build, every test: unit (TAP), integration through nginx and the real jail.
rm -rf build-test && mkdir build-test
(cd build-test && ../configure -q CFLAGS="-O2 -g -Werror" && make -j"$jobs" >/dev/null) || exit 1
(cd build-test && make -j"$jobs" check) || status=1

# 2. Under AddressSanitizer and UndefinedBehaviorSanitizer: the unit tests, the fuzz corpora, and the
#    integration tests of the request path, the jail, environments and the admin script (the whole
#    service, sanitized, behind nginx; the hostile2 and packages files only in the real build, for time).
rm -rf build-asan && mkdir build-asan
(cd build-asan && ../configure -q CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	LDFLAGS="-fsanitize=address,undefined" && make -j"$jobs" >/dev/null) || exit 1
unit=$(cd build-asan && make -s print-unit-tests)
(cd build-asan && make -j"$jobs" check TESTS="$unit tests/integration/run-tests.sh" \
	INTEGRATION_FILES="test_smoke.py test_api.py test_pool.py test_hostile.py test_jail_direct.py test_environments.py test_admin.py") \
	|| status=1

# 3. The tests that exercise cgroups again on a pure cgroup v2 host (Debian 12's kernel under qemu): this
#    project's machines have only v1 controllers, Debian 12 hosts only v2.
vm_log=$top/build-test/vm-v2.log
if bash tests/vm/run-v2.sh "$top" "$top/build-test" >"$vm_log" 2>&1; then vm_status=0; else vm_status=1; status=1; fi
tail -n 1 "$vm_log"
vm_pass=$(grep -cE '^ok ' "$vm_log" || true)
vm_fail=$(grep -cE '^not ok ' "$vm_log" || true)
if [[ $vm_status != 0 && $vm_fail == 0 ]]; then vm_fail=1; fi

# 4. Shell scripts are shellcheck-clean.
if shellcheck conf/*.sh tests/*.sh tests/integration/*.sh tests/vm/*.sh environments/*.sh .ci/run \
	src/pysandbox-admin www/examples/curl-examples.sh tests/fuzz/*.sh; then
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
echo "$(( $(sum PASS) + vm_pass + sc_pass )) passed, $(( $(sum FAIL) + $(sum ERROR) + vm_fail + sc_fail )) failed"
exit "$status"
