#!/bin/bash
# serve.sh: runs inside the installed root (deb-test.sh): starts the pool as its unit would and nginx with the installed
# site, then drives the README's example, an environment build, /metrics and the prune command through HTTPS.
set -euo pipefail
say() { echo "serve: $*"; }
url=https://localhost
ca=(--cacert /etc/ssl/certs/pysandbox.pem)
api() { curl -sS "${ca[@]}" --max-time 120 "$@"; }

# What systemd does for the unit before ExecStartPre: its RuntimeDirectory=. (The state directory, which the
# unit only makes writable, is the package's own.)
install -d -m 0750 /run/pysandbox
[[ -d /var/lib/pysandbox ]]
# The unit's ExecStartPre= lines, then its ExecStart= line (the last one), as root, as systemd runs them.
mapfile -t commands </tmp/unit-commands
for ((i = 0; i < ${#commands[@]} - 1; i++)); do
	say "ExecStartPre: ${commands[i]}"
	eval "${commands[i]}"
done
say "ExecStart: ${commands[-1]}"
# exec: $! is then the pool's master itself, which the stop below signals.
eval "exec ${commands[-1]}" >/tmp/pool.log 2>&1 &
pool=$!
nginx -t 2>&1 | sed 's/^/serve: /'
nginx
for _ in $(seq 100); do
	api -o /dev/null -f "$url/health" 2>/dev/null && break
	kill -0 "$pool" || { cat /tmp/pool.log; exit 1; }
	sleep 0.1
done
api -f "$url/health" | jq -e '.status == "healthy"' >/dev/null
say "healthy; pool: $(jq -c '.pool | {workers, run_slots, queue_size}' <<<"$(api "$url/health")")"

# The README's first example, through TLS, the site's limits and the FastCGI snippet.
out=$(api -f -X POST "$url/execute" -H 'Content-Type: application/json' -H 'X-Request-ID: deb-test-1' \
	-D /tmp/headers --data-binary @/tmp/readme-example.json)
say "README example: $(jq -c '{success, stdout, status}' <<<"$out")"
jq -e '.success and .stdout == "Hello, SimplePySandbox!\n2 + 3 = 5\n"' <<<"$out" >/dev/null
grep -qi '^x-request-id: deb-test-1' /tmp/headers
grep -qi '^strict-transport-security:' /tmp/headers

# The installed snippets: CORS on answers and preflights; the installed pages, with their policy.
api -f -o /dev/null -D /tmp/headers -X OPTIONS -H 'Origin: https://elsewhere.example' \
	-H 'Access-Control-Request-Method: POST' "$url/execute"
grep -qi '^access-control-allow-origin: \*' /tmp/headers && grep -qi '^access-control-allow-methods: .*POST' /tmp/headers
for page in docs redoc playground playground/environments; do
	api -f -o /tmp/page -D /tmp/headers "$url/$page"
	grep -qi '^content-security-policy: default-src .self.' /tmp/headers && grep -qi '<!doctype html>' /tmp/page
done
api -f -o /dev/null "$url/static/vendor/swagger-ui/swagger-ui-bundle.js"
say "CORS preflight, /docs /redoc /playground: ok"

# An environment built by its setup script (a local package: no index here), then used.
setup='set -e
mkdir -p /work/pkg/debtestpkg
echo "VALUE = 42" > /work/pkg/debtestpkg/__init__.py
printf "from setuptools import setup\nsetup(name=\"debtestpkg\", version=\"1.0\", packages=[\"debtestpkg\"])\n" > /work/pkg/setup.py
pip install --no-index /work/pkg'
api -f -X POST "$url/environments" -H 'Content-Type: application/json' \
	-d "$(jq -n --arg s "$setup" '{name: "debtest", setup_script: $s}')" >/dev/null
status=building
for _ in $(seq 300); do
	status=$(api -f "$url/environments/debtest" | jq -r .status)
	[[ $status != building ]] && break
	sleep 0.2
done
say "environment build: $status"
[[ $status == ready ]] || { api "$url/environments/debtest/logs" | jq -r '.logs[]?.line // .'; exit 1; }
out=$(api -f -X POST "$url/execute-with-environment" -H 'Content-Type: application/json' \
	-d '{"code": "import debtestpkg; print(debtestpkg.VALUE)", "environment": "debtest"}')
jq -e '.stdout == "42\n"' <<<"$out" >/dev/null

# Observability: /metrics from this host (the site allows loopback only), the request id in the access log.
metrics=$(api -f "$url/metrics")
grep -q '^pysandbox_runs_total{status="ok"} 2$' <<<"$metrics"
grep -q '^pysandbox_builds_total{outcome="succeeded"} 1$' <<<"$metrics"
grep -q 'request_id=deb-test-1 ' /var/log/nginx/pysandbox.access.log
# From another address (of this test's own network namespace): refused, in JSON.
code=$(api -o /tmp/denied -w '%{http_code}' --interface 192.0.2.1 --resolve localhost:443:192.0.2.1 "$url/metrics")
[[ $code == 403 ]] && jq -e '.detail == "Forbidden"' /tmp/denied >/dev/null
say "metrics (refused to 192.0.2.1), access log: ok"

# The prune timer's command, as its service runs it (the service user), and the operator's view of the runs.
cmd=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/pysandbox-prune.service)
# shellcheck disable=SC2086  # the unit's command line, split into words as systemd splits it
out=$(runuser -u pysandbox -- $cmd)
say "prune: $out"
grep -q 'deleted 0 run records' <<<"$out"
pysandbox-admin runs --json | jq -e '(.runs | length) >= 2' >/dev/null

# Stop as systemd would (SIGQUIT to the master), and nginx.
kill -QUIT "$pool"
wait "$pool" || true
nginx -s quit
say "stopped"
