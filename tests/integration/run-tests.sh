#!/bin/bash
# run-tests.sh: runs the integration suite (pytest) against the real stack and prints its results as TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir/build}
export top_srcdir top_builddir
py=${PYTHON3:-/usr/bin/python3}
tap_main=$(mktemp /tmp/pysandbox-tap.XXXXXX)
tap_last=$(mktemp /tmp/pysandbox-tap.XXXXXX)
trap 'rm -f "$tap_main" "$tap_last"' EXIT
# INTEGRATION_FILES (e.g. "test_api.py test_hostile.py") runs a subset; the leftover checks always run last,
# alone, once every other stack of the suite has stopped.
targets=("$here" --ignore="$here/test_zz_leftovers.py")
if [[ -n ${INTEGRATION_FILES:-} ]]; then
	targets=()
	for f in $INTEGRATION_FILES; do targets+=("$here/$f"); done
fi
# PYTEST_JOBS=N runs N test files at once (pytest-xdist), each in a pytest process with stacks of its own; a
# module's tests stay together (their shared stacks and their order).
parallel=()
if [[ ${PYTEST_JOBS:-1} -gt 1 ]] && "$py" -c 'import xdist' 2>/dev/null; then
	parallel=(-n "$PYTEST_JOBS" --dist loadfile)
fi
# pytest's own report goes to stderr (kept in the .log); the TAP lines go to stdout for the driver.
TAP_FILE=$tap_main "$py" -m pytest -p no:cacheprovider -p no:tmpdir -q -rfE --durations=15 "${parallel[@]}" "${targets[@]}" "$@" 1>&2
status=$?
TAP_FILE=$tap_last "$py" -m pytest -p no:cacheprovider -p no:tmpdir -q -rfE "$here/test_zz_leftovers.py" 1>&2
last=$?
# One TAP stream: both runs' lines numbered on, one plan.
awk '/^ok [0-9]+/ { sub(/^ok [0-9]+/, "ok " ++n); print; next }
	/^not ok [0-9]+/ { sub(/^not ok [0-9]+/, "not ok " ++n); print; next }
	END { print "1.." n }' "$tap_main" "$tap_last"
# exit 5 means no test ran: that is a failure here.
if [[ $status == 0 ]]; then status=$last; fi
exit "$status"
