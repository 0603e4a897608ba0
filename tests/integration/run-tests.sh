#!/bin/bash
# run-tests.sh: runs the integration suite (pytest) against the real stack and prints its results as TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir/build}
export top_srcdir top_builddir
tap=$(mktemp /tmp/pysandbox-tap.XXXXXX)
trap 'rm -f "$tap"' EXIT
# INTEGRATION_FILES (e.g. "test_api.py test_hostile.py") runs a subset; the leftover checks always run last.
targets=("$here")
if [[ -n ${INTEGRATION_FILES:-} ]]; then
	targets=()
	for f in $INTEGRATION_FILES test_zz_leftovers.py; do targets+=("$here/$f"); done
fi
# pytest's own report goes to stderr (kept in the .log); the TAP lines go to stdout for the driver.
TAP_FILE=$tap "${PYTHON3:-/usr/bin/python3}" -m pytest -p no:cacheprovider -q -rfE --durations=15 "${targets[@]}" "$@" 1>&2
status=$?
cat "$tap"
# exit 5 means no test ran: that is a failure here.
exit "$status"
