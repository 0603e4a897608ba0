#!/bin/bash
# deps.sh: installs, on Debian 12 as root, what building and running SimplePySandbox needs (and, with --test, testing it).
set -euo pipefail

packages=(build-essential autoconf automake libtool pkg-config
	libfcgi-dev libfcgi-bin libjson-c-dev libsqlite3-dev libb64-dev libseccomp-dev
	nginx python3 python3-venv python3-pip curl jq sqlite3 ca-certificates libcap2-bin passwd
	slirp4netns nftables)
if [[ ${1:-} == --test ]]; then
	packages+=(python3-pytest python3-pytest-xdist python3-requests shellcheck clang procps iproute2 wrk
		python3-numpy python3-pandas python3-matplotlib libclang-rt-14-dev
		qemu-system-x86 debootstrap cpio debhelper dpkg-dev fakeroot lintian openssl
		python3-jsonschema chromium fonts-dejavu-core)
	# Node.js and npm for the OpenAPI linter and the browser driver (pinned in tests/js): Debian's, unless a
	# node is there already (a Node.js from elsewhere brings its own npm, and Debian's npm would conflict).
	command -v node >/dev/null || packages+=(nodejs)
	command -v npm >/dev/null || packages+=(npm)
fi

missing=()
for p in "${packages[@]}"; do
	[[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || missing+=("$p")
done
policy=/usr/sbin/policy-rc.d
marker="# written by SimplePySandbox conf/deps.sh while it installs packages, pid"
# One that a killed deps.sh left would keep every later package's service from starting: remove it.
if [[ -f $policy ]] && old_pid=$(sed -n "s|^$marker \([0-9]*\)\$|\1|p" "$policy") && [[ -n $old_pid ]] &&
	! kill -0 "$old_pid" 2>/dev/null; then
	rm -f "$policy"
fi
if ((${#missing[@]})); then
	export DEBIAN_FRONTEND=noninteractive
	# Installing nginx would start Debian's default site on port 80, a service nobody asked for (the
	# project runs its own nginx, with its own prefix and port). What this install brings stays stopped
	# (policy-rc.d, removed again at exit); services already on the machine, a system nginx included,
	# are left as they are.
	if [[ ! -e $policy ]]; then
		trap 'rm -f "$policy"' EXIT
		trap 'exit 130' INT
		trap 'exit 143' TERM
		printf '#!/bin/sh\n%s %d\nexit 101\n' "$marker" "$$" >"$policy"
		chmod 0755 "$policy"
	fi
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# libfcgi before Debian's 2.4.2-2+deb12u1 has CVE-2025-23016.
v=$(dpkg-query -W -f='${Version}' libfcgi0ldbl 2>/dev/null || true)
if [[ -z $v ]] || ! dpkg --compare-versions "$v" ge 2.4.2-2+deb12u1; then
	echo "deps.sh: libfcgi0ldbl $v is older than 2.4.2-2+deb12u1 (CVE-2025-23016); upgrade it" >&2
	exit 1
fi
