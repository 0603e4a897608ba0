#!/bin/bash
# lint-openapi.sh: lints www/openapi.json with Redocly CLI, pinned by tests/js/package-lock.json and installed by
# npm ci into a work directory (never into the source tree); fails on any error or warning.
#
# usage: [NODE_MODULES_DIR=DIR] lint-openapi.sh SRCDIR WORKDIR
#   SRCDIR   the source tree (www/openapi.json, tests/js/)
#   WORKDIR  a directory outside SRCDIR for node_modules and the lint's outputs (created if missing; the caller
#            removes it)
#   NODE_MODULES_DIR  optional: a node_modules directory already installed from tests/js/package-lock.json (the
#            integration tests share one per build tree, tests/integration/nodejs.py); then nothing is installed
#            and WORKDIR holds only the lint's outputs. Its Redocly CLI must be the pinned version.
# needs: node (18.17 or later: Debian 12's 18.19+ will do) and npm on PATH; the npm registry (or npm's cache)
# unless NODE_MODULES_DIR is given.
set -euo pipefail

if [[ $# -ne 2 ]]; then
	echo "usage: $0 SRCDIR WORKDIR" >&2
	exit 2
fi
src=$(cd "$1" && pwd -P)
mkdir -p "$2"
work=$(cd "$2" && pwd -P)
case "$work/" in
"$src/"*)
	echo "lint-openapi.sh: WORKDIR ($work) must be outside the source tree ($src): node_modules never goes there" >&2
	exit 2
	;;
esac
for tool in node npm; do
	if ! command -v "$tool" >/dev/null; then
		echo "lint-openapi.sh: $tool not found (conf/deps.sh --test installs nodejs and npm)" >&2
		exit 1
	fi
done
doc=$src/www/openapi.json
config=$src/tests/js/redocly.yaml

if [[ -n ${NODE_MODULES_DIR:-} ]]; then
	modules=$(cd "$NODE_MODULES_DIR" 2>/dev/null && pwd -P) || {
		echo "lint-openapi.sh: NODE_MODULES_DIR ($NODE_MODULES_DIR) is not a directory" >&2
		exit 2
	}
else
	cp "$src/tests/js/package.json" "$src/tests/js/package-lock.json" "$work/"
	# The lock alone decides what is installed; no install scripts run (the tree needs none), nothing is audited.
	(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >"$work/npm-ci.log" 2>&1 || {
		echo "lint-openapi.sh: npm ci failed:" >&2
		cat "$work/npm-ci.log" >&2
		exit 1
	}
	modules=$work/node_modules
fi
redocly=$modules/.bin/redocly
if [[ ! -x $redocly ]]; then
	echo "lint-openapi.sh: no Redocly CLI in $modules (not installed from tests/js/package-lock.json?)" >&2
	exit 1
fi
version=$("$redocly" --version)
pinned=$(node -p 'require(process.argv[1]).devDependencies["@redocly/cli"]' "$src/tests/js/package.json")
if [[ $version != "$pinned" ]]; then
	echo "lint-openapi.sh: $modules has Redocly CLI $version, tests/js/package.json pins $pinned" >&2
	exit 1
fi
echo "lint-openapi.sh: node $(node --version), npm $(npm --version), redocly $version ($modules)"

# No telemetry and no update check: the lint talks to nobody.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
status=0
# For people: every problem with its place.
"$redocly" lint --config "$config" --format=stylish "$doc" || status=$?
# For the verdict: the totals, warnings and ignored problems included (an ignore file would hide them).
"$redocly" lint --config "$config" --format=json "$doc" >"$work/lint.json" 2>"$work/lint.err" || true
# shellcheck disable=SC2016  # JavaScript in single quotes, not shell
if ! node -e '
	const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
	const t = r.totals || {};
	console.log(`lint-openapi.sh: ${t.errors} errors, ${t.warnings} warnings, ${t.ignored} ignored`);
	process.exit(t.errors === 0 && t.warnings === 0 && t.ignored === 0 ? 0 : 1);
' "$work/lint.json"; then
	cat "$work/lint.err" >&2
	status=1
fi
exit "$status"
