#!/bin/bash
# quickstart.sh: the README's first command: install, build, and run the service on 127.0.0.1:${PORT:-8000} in the foreground.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/conf/deps.sh"
cd "$top"
[[ -x configure ]] || autoreconf -fi >/dev/null
mkdir -p build
cd build
[[ -f Makefile ]] || ../configure --prefix=/usr --sysconfdir=/etc --localstatedir=/var >/dev/null
make -j"$(nproc)" >/dev/null
# As in production: the pool runs as the unprivileged user pysandbox (created if
# missing); only a copy of the jail with file capabilities holds privileges.
export PYSANDBOX_USER=${PYSANDBOX_USER:-pysandbox}
exec make --no-print-directory run PORT="${PORT:-8000}"
