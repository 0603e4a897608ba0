#!/bin/bash
# run-tests.sh: runs the integration suite (pytest) against the real stack and prints its results as TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir/build}
export top_srcdir top_builddir
py=${PYTHON3:-/usr/bin/python3}
tap=$(mktemp /tmp/pysandbox-tap.XXXXXX)
trap 'rm -f "$tap"' EXIT
# INTEGRATION_FILES (e.g. "test_api.py test_hostile_files.py") runs a subset. Either way the leftover checks
# (leftovers.py) run at the end of the pytest run, once every stack of it has stopped: conftest.py's
# session-finish hook, in pytest-xdist's controller after its workers have exited.
targets=("$here")
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
TAP_FILE=$tap "$py" -m pytest -p no:cacheprovider -p no:tmpdir -q -rfE --durations=15 "${parallel[@]}" "${targets[@]}" "$@" 1>&2
status=$?
# One TAP stream, numbered and closed by its plan (1..N) by conftest.py: the tests' lines, then the leftover checks'.
cat "$tap"
# exit 5 means no test ran: that is a failure here.
exit "$status"
