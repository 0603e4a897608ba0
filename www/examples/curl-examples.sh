#!/bin/sh
# curl-examples.sh: one curl call for each SimplePySandbox endpoint; usage: sh curl-examples.sh [URL] (default http://localhost:8000).
#
# Each call prints the JSON answer and its HTTP status. The environment made
# here (curl-demo) is deleted at the end; its setup script needs PyPI, but the
# delete cancels the build, so the example runs anywhere.
set -eu

URL=${1:-${SIMPLEPYSANDBOX_URL:-http://localhost:8000}}
URL=${URL%/}

# call METHOD PATH [JSON]: the request and its answer
call() {
	printf '\n$ curl -X %s %s%s\n' "$1" "$URL" "$2"
	if [ $# -ge 3 ]; then
		curl -sS -X "$1" "$URL$2" -H 'Content-Type: application/json' -d "$3" -w '\n-> HTTP %{http_code}\n'
	else
		curl -sS -X "$1" "$URL$2" -w '\n-> HTTP %{http_code}\n'
	fi
}

# GET /: service name, version and links
call GET /

# GET /health: healthy or not, the isolation in force, pool, interpreters, limits
call GET /health

# POST /execute: a simple calculation
call POST /execute '{
  "code": "print(\"Hello, SimplePySandbox!\")\nresult = 2 + 3\nprint(f\"2 + 3 = {result}\")",
  "timeout": 10
}'

# POST /execute: input files (base64) in, the files the program writes come back base64-encoded
call POST /execute '{
  "code": "import json\nrows = open(\"data.csv\").read().split()\njson.dump({\"rows\": len(rows)}, open(\"result.json\", \"w\"))\nprint(\"rows:\", len(rows))",
  "files": {"data.csv": "YSwxCmIsMgpjLDMK"},
  "timeout": 15
}'

# POST /execute: stdin and arguments (additions to the original API)
call POST /execute '{"code": "import sys\nprint(sys.argv[1:], sys.stdin.read().upper())", "stdin": "hello", "args": ["-v", "x"]}'

# POST /execute: a failing program is still HTTP 200, with success false and the reason in error
call POST /execute '{"code": "1 / 0"}'

# POST /environments: create an environment; the build runs in the background
call POST /environments '{
  "name": "curl-demo",
  "description": "data science environment",
  "setup_script": "pip install numpy pandas",
  "python_version": "3.11"
}'

# GET /environments: list them
call GET /environments

# GET /environments/{name}: one of them (status building, ready or failed)
call GET /environments/curl-demo

# GET /environments/{name}/logs: the build log from a position on (next_offset continues it)
call GET '/environments/curl-demo/logs?offset=0&limit=100'

# POST /execute-with-environment: run in it (400 until it is ready)
call POST /execute-with-environment '{
  "code": "import numpy as np\nprint(np.arange(5).sum())",
  "environment": "curl-demo",
  "timeout": 30
}'

# DELETE /environments/{name}: delete it (cancels a build in progress)
call DELETE /environments/curl-demo

# The documentation pages, served by nginx
printf '\n$ curl %s/docs, /redoc, /openapi.json (status only)\n' "$URL"
for page in /docs /redoc /openapi.json; do
	curl -sS -o /dev/null -w "$page -> HTTP %{http_code}\n" "$URL$page"
done
