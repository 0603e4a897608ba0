#!/bin/bash
# devserver.sh: runs nginx in front of the pysandboxd pool from a build tree, in the foreground (make run, tests).
#
# usage: devserver.sh SRCDIR BUILDDIR
# env:   PORT (8000), STATE_DIR (where environments and the database live: BUILDDIR/run-state, or
#        /var/lib/pysandbox-dev/CLONE-HASH (of the build directory) when the pool drops to PYSANDBOX_USER,
#        who may not be able to reach a clone under /root), NGINX (the nginx binary), PYSANDBOX_EXTRA_CONF (INI text appended),
#        RATE / BURST (requests per second per client on /execute; 1000 / 2000 for development),
#        CORS_ORIGINS (space-separated origins browsers may call the API from; any when unset),
#        CONN (requests one client address may have in progress at once; 256 for development),
#        PYSANDBOX_USER (when set and run as root: the pool drops to this user, created if missing,
#        and a copy of the jail gets the file capabilities it needs, as in production)
# Stops everything it started on SIGINT or SIGTERM (a second one included) and removes its runtime directory;
# when either nginx or the pool exits, stops the other within seconds and exits non-zero naming it.
set -euo pipefail

src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
port=${PORT:-8000}
nginx_bin=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
# nginx reads a variable of this name as a list of inherited listening sockets ("invalid socket number").
unset NGINX
rate=${RATE:-1000}
burst=${BURST:-2000}
conn=${CONN:-256}
# Each origin goes into nginx's configuration as a string: scheme, host and port only.
read -ra cors_origins <<<"${CORS_ORIGINS:-}"
for origin in "${cors_origins[@]}"; do
	[[ $origin =~ ^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$ ]] || { echo "devserver: bad origin in CORS_ORIGINS: $origin" >&2; exit 2; }
done
# nginx refuses burst=0; no burst clause means none.
if [[ $burst == 0 ]]; then burst_clause=""; else burst_clause=" burst=$burst"; fi

user=""
if [[ -n ${PYSANDBOX_USER:-} && $(id -u) == 0 ]]; then user=$PYSANDBOX_USER; fi
if [[ -n ${STATE_DIR:-} ]]; then
	state=$STATE_DIR
elif [[ -n $user ]]; then
	# Out of the clone: the service user must reach it, and /root is 0700. One per build directory.
	state=/var/lib/pysandbox-dev/$(basename "$src")-$(printf '%s' "$build" | sha256sum | cut -c1-12)
	install -d -m 0755 /var/lib/pysandbox-dev
else
	state=$build/run-state
fi
mkdir -p "$state"

# The pids of processes holding a file below directory $1 open (one find over every process's fds: a
# readlink each would fork thousands of times).
fd_holders() {
	local fd
	find /proc/[0-9]*/fd -maxdepth 1 -lname "$1/*" 2>/dev/null | while read -r fd; do
		fd=${fd#/proc/}
		echo "${fd%%/*}"
	done | sort -u
}

# The runtime directories of dev servers that were killed outright (SIGKILL cannot be trapped) still
# hold a copy of the jail with file capabilities: remove them before making ours.
for old in /tmp/pysandbox-run.*; do
	[[ -d $old && -f $old/devserver.pid && ! -L $old ]] || continue
	[[ $(stat -c %u "$old") == "$(id -u)" ]] || continue
	# Left alone while anything it started may still run from it (its pool or nginx, orphaned).
	alive=""
	for f in devserver.pid pool.pid nginx.pid; do
		old_pid=$(cat "$old/$f" 2>/dev/null || true)
		# (A zombie counts as gone: its parent was killed and the host's init may reap it late.)
		if [[ $old_pid =~ ^[0-9]+$ ]] && kill -0 "$old_pid" 2>/dev/null &&
			! grep -q '^State:[[:space:]]*Z' "/proc/$old_pid/status" 2>/dev/null; then alive=1; fi
	done
	# Nor while any process holds a file of it open (the orphaned workers of a killed nginx still serve).
	if [[ -z $alive ]]; then
		if [[ -n $(fd_holders "$old") ]]; then alive=1; fi
	fi
	if [[ -z $alive ]]; then
		echo "devserver: removing $old, left by a dev server that was killed" >&2
		rm -rf "$old"
	fi
done
# Socket paths are limited to 108 bytes, so the runtime files live in a short temporary directory.
runtime=$(mktemp -d /tmp/pysandbox-run.XXXXXX)
chmod 0755 "$runtime"
echo "$$" > "$runtime/devserver.pid"
pool_pid=""
nginx_pid=""
pool_cgroup=""

# Waits up to $2 tenths of a second for process $1 (a child) to end; 0 if it did.
# shellcheck disable=SC2317  # called from cleanup, the EXIT trap
wait_gone() {
	local i
	for ((i = 0; i < $2; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	! kill -0 "$1" 2>/dev/null
}

# The nginx processes that still hold a file of our runtime directory open: the workers of a master that
# was killed outright go on serving (nginx does not end them), orphaned, and were started by us.
# shellcheck disable=SC2317  # called from cleanup, the EXIT trap
orphaned_nginx_workers() {
	local exe pid
	exe=$(readlink -f "$nginx_bin")
	for pid in $(fd_holders "$runtime"); do
		if [[ $pid != "$nginx_pid" && $(readlink "/proc/$pid/exe" 2>/dev/null) == "$exe" ]]; then echo "$pid"; fi
	done
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
	# A second INT or TERM (make passes its own TERM on to us after the process group's) must not cut the
	# clean-up short and leave the jail's privileged copy behind.
	trap '' INT TERM
	trap - EXIT
	local i
	if [[ -n $pool_pid ]] && kill -0 "$pool_pid" 2>/dev/null; then
		kill -TERM "$pool_pid" 2>/dev/null || true
	fi
	# A master that ends on our QUIT takes its workers with it; one that had died already, or needed a KILL,
	# may have left them behind.
	local nginx_lost=""
	if [[ -n $nginx_pid ]] && ! kill -0 "$nginx_pid" 2>/dev/null; then nginx_lost=1; fi
	if [[ -n $nginx_pid ]] && kill -0 "$nginx_pid" 2>/dev/null; then
		# A QUIT that reaches nginx while it is still starting is lost: repeat it, then insist.
		for ((i = 0; i < 30; i++)); do
			kill -QUIT "$nginx_pid" 2>/dev/null || break
			wait_gone "$nginx_pid" 2 && break
		done
		if kill -KILL "$nginx_pid" 2>/dev/null; then nginx_lost=1; fi
	fi
	if [[ -n $nginx_lost ]]; then
		for i in $(orphaned_nginx_workers); do kill -KILL "$i" 2>/dev/null || true; done
	fi
	# The pool lets runs in flight finish for shutdown_grace (10 s by default), then kills them.
	if [[ -n $pool_pid ]] && ! wait_gone "$pool_pid" 150; then
		echo "devserver: pysandboxd $pool_pid still running after 15 s; killing it" >&2
		kill -KILL "$pool_pid" 2>/dev/null || true
	fi
	if [[ -n $nginx_pid ]]; then wait "$nginx_pid" 2>/dev/null || true; fi
	if [[ -n $pool_pid ]]; then wait "$pool_pid" 2>/dev/null || true; fi
	if [[ -n $pool_cgroup ]]; then
		rmdir "$pool_cgroup/pysandbox-pool" "$pool_cgroup" 2>/dev/null || true
	fi
	rm -rf "$runtime"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# nginx workers run unprivileged: give them a readable copy of the static site.
cp -r "$src/www" "$runtime/www"
chmod -R a+rX "$runtime/www"

# The capabilities pysandbox-jail needs (and nothing else holds): namespaces and
# mounts, the uid drop, chown of the run's files, its cgroups, lo, kill(-1).
jail_caps=cap_sys_admin,cap_setuid,cap_setgid,cap_setpcap,cap_chown,cap_fowner,cap_dac_override,cap_kill,cap_net_admin,cap_sys_ptrace+ep
jail=$build/src/pysandbox-jail
if [[ -n $user ]]; then
	# Two stacks starting at once may race to create it; either way it exists after.
	id -u "$user" >/dev/null 2>&1 ||
		useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user" 2>/dev/null ||
		id -u "$user" >/dev/null
	# Only the service user may reach or execute the capability-holding copy (the rest of the
	# runtime directory stays open to nginx's workers, which need the socket and the site).
	group=$(id -gn "$user")
	install -d -o root -g "$group" -m 0750 "$runtime/jail"
	install -o root -g "$group" -m 0750 "$jail" "$runtime/jail/pysandbox-jail"
	setcap "$jail_caps" "$runtime/jail/pysandbox-jail"
	jail=$runtime/jail/pysandbox-jail
fi

cat > "$runtime/pysandbox.conf" <<CONF
# generated by devserver.sh for a build-tree run
[service]
socket = $runtime/pysandbox.sock
api_socket = $runtime/pysandbox-api.sock
socket_mode = 0666
state_dir = $state
user = $user
[jail]
jail = $jail
CONF
if [[ -n ${PYSANDBOX_EXTRA_CONF:-} ]]; then
	printf '%s\n' "$PYSANDBOX_EXTRA_CONF" >> "$runtime/pysandbox.conf"
fi

body_size=$(awk -F= '/^[[:space:]]*max_body_size/ { gsub(/[[:space:]]/, "", $2); print $2 }' "$runtime/pysandbox.conf" | tail -n 1)
body_size=${body_size:-64M}
mkdir -p "$runtime/nginx"
cp "$src/conf/fastcgi.inc" "$runtime/fastcgi.inc"
cp "$src/conf/pysandbox-cors-headers.conf" "$runtime/pysandbox-cors-headers.conf"
# CORS_ORIGINS="https://a.example http://localhost:3000": only these origins, instead of any.
if [[ -n ${CORS_ORIGINS:-} ]]; then
	cors_lines="    default \"\";"
	for origin in "${cors_origins[@]}"; do
		cors_lines+=$'\n'"    \"$origin\" \$http_origin;"
	done
	CORS_LINES=$cors_lines awk '$0 == "    default \"*\";" { print ENVIRON["CORS_LINES"]; next } { print }' \
	    "$src/conf/pysandbox-cors.conf" > "$runtime/pysandbox-cors.conf"
else
	cp "$src/conf/pysandbox-cors.conf" "$runtime/pysandbox-cors.conf"
fi
sed -e "s|@RUNTIME@|$runtime|g" -e "s|@PORT@|$port|g" -e "s|@RATE@|$rate|g" \
    -e "s|@BURST@|$burst_clause|g" -e "s|@BODY_SIZE@|$body_size|g" -e "s|@CONN@|$conn|g" \
    "$src/conf/nginx-dev.conf.in" > "$runtime/nginx.conf"

"$build/src/pysandboxd" -t -c "$runtime/pysandbox.conf" >/dev/null
# On a cgroup v2 host, as root: the pool starts alone in a cgroup of its own below the root, as
# systemd's Delegate=yes gives the packaged service, so that runs get v2 cgroups (a cgroup that
# also holds this shell or a login session cannot hand controllers down). Removed at exit.
if [[ $(id -u) == 0 && -f /sys/fs/cgroup/cgroup.controllers ]] && mkdir "/sys/fs/cgroup/pysandbox-dev.${runtime##*.}"; then
	pool_cgroup=/sys/fs/cgroup/pysandbox-dev.${runtime##*.}
	# shellcheck disable=SC2016  # expanded by the inner shell
	bash -c 'echo "$$" > "$1/cgroup.procs" && exec "${@:2}"' devserver-pool "$pool_cgroup" \
		"$build/src/pysandboxd" -c "$runtime/pysandbox.conf" &
else
	"$build/src/pysandboxd" -c "$runtime/pysandbox.conf" &
fi
pool_pid=$!
echo "$pool_pid" > "$runtime/pool.pid"
for _ in $(seq 1 100); do
	[[ -S $runtime/pysandbox.sock && -S $runtime/pysandbox-api.sock ]] && break
	if ! kill -0 "$pool_pid" 2>/dev/null; then
		wait "$pool_pid" && st=0 || st=$?
		pool_pid=""
		echo "devserver: pysandboxd exited at start with status $st (its log above says why)" >&2
		exit 1
	fi
	sleep 0.05
done
[[ -S $runtime/pysandbox.sock ]] || { echo "devserver: pysandboxd made no socket in 5 s" >&2; exit 1; }

"$nginx_bin" -e stderr -p "$runtime" -c "$runtime/nginx.conf" &
nginx_pid=$!

# Ready once /health answers 200 through nginx (the pool's first self-test has passed).
url=http://127.0.0.1:$port
ready=""
for ((i = 0; i < 300; i++)); do
	if ! kill -0 "$pool_pid" 2>/dev/null || ! kill -0 "$nginx_pid" 2>/dev/null; then break; fi
	if curl -fsS -o /dev/null --max-time 1 "$url/health" 2>/dev/null; then ready=1; break; fi
	sleep 0.05
done
if [[ -n $ready ]]; then
	echo "devserver: SimplePySandbox on $url (state in $state; pool pid $pool_pid, nginx pid $nginx_pid; Ctrl-C stops)" >&2
elif kill -0 "$pool_pid" 2>/dev/null && kill -0 "$nginx_pid" 2>/dev/null; then
	echo "devserver: $url/health is not healthy yet: $(curl -sS --max-time 2 "$url/health" 2>&1 | head -c 600)" >&2
fi

# Either one ending ends the run, and is named.
set +e
wait -n "$pool_pid" "$nginx_pid"
status=$?
if kill -0 "$pool_pid" 2>/dev/null; then what="nginx (pid $nginx_pid)"; else what="pysandboxd (pid $pool_pid)"; fi
echo "devserver: $what exited with status $status; stopping everything" >&2
exit $((status == 0 ? 1 : status))
