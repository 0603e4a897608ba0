#!/bin/bash
# run-all.sh: the README's test command: install, build (warnings as errors), run every test, then the unit
# tests again under ASan+UBSan; ends with one "N passed, N failed" line.
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
#    integration tests of the request path and the jail (the whole service, sanitized, behind nginx).
rm -rf build-asan && mkdir build-asan
(cd build-asan && ../configure -q CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	LDFLAGS="-fsanitize=address,undefined" && make -j"$jobs" >/dev/null) || exit 1
unit=$(cd build-asan && make -s print-unit-tests)
(cd build-asan && make -j"$jobs" check TESTS="$unit tests/integration/run-tests.sh" \
	INTEGRATION_FILES="test_smoke.py test_api.py test_pool.py test_hostile.py") || status=1

# 3. Shell scripts are shellcheck-clean.
if shellcheck conf/*.sh tests/*.sh tests/integration/*.sh environments/*.sh .ci/run src/pysandbox-admin \
	www/examples/curl-examples.sh tests/fuzz/*.sh; then
	echo "ok - shellcheck"; sc_pass=1; sc_fail=0
else
	echo "not ok - shellcheck"; sc_pass=0; sc_fail=1; status=1
fi

sum() { awk -v k="$1" '$1 == "#" && $2 == k":" { n += $3 } END { print n + 0 }' "$top"/build-test/test-suite.log "$top"/build-asan/test-suite.log; }
for log in build-test/test-suite.log build-asan/test-suite.log; do
	grep -q '^# FAIL: *[1-9]' "$log" && sed -n '/^FAIL\|^ERROR\|^not ok/p' "$log" | head -50
done
echo "$(( $(sum PASS) + sc_pass )) passed, $(( $(sum FAIL) + $(sum ERROR) + sc_fail )) failed"
exit "$status"
