#!/bin/bash
# quickstart.sh: the README's first command: install, build, and run the service on 127.0.0.1:${PORT:-8000} in the foreground.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/conf/deps.sh"
cd "$top"
mkdir -p build
# The build tools' chatter goes to build/quickstart.log, and to the terminal only when a step fails.
log=$top/build/quickstart.log
: > "$log"
quiet() {
	if ! "$@" >>"$log" 2>&1; then
		echo "quickstart: '$*' failed; its output (also in $log):" >&2
		tail -n 40 "$log" >&2
		exit 1
	fi
}
[[ -x configure ]] || quiet autoreconf -fi
cd build
[[ -f Makefile ]] || quiet ../configure --prefix=/usr --sysconfdir=/etc --localstatedir=/var
quiet make -j"$(nproc)"
# As in production: the pool runs as the unprivileged user pysandbox (created if
# missing); only a copy of the jail with file capabilities holds privileges.
export PYSANDBOX_USER=${PYSANDBOX_USER:-pysandbox}
exec make -s --no-print-directory run PORT="${PORT:-8000}"
