#!/bin/sh
# web-scraping.sh: environment setup script for fetching and parsing web pages: requests, beautifulsoup4, lxml, httpx.
#
# The build downloads the packages from PyPI, so the build jail needs network access (it has it by default).
# Runs, unlike builds, have no network unless the operator sets allow_network = true in
# /etc/pysandbox/pysandbox.conf and the request asks for "network": true. Without it the environment
# still parses HTML and XML that the request sends in "files".
#
# Use it with the CLI:
#   pysandbox-admin create web-scraping environments/web-scraping.sh --wait
# or send its text as setup_script:
#   jq -n --rawfile s environments/web-scraping.sh '{name: "web-scraping", setup_script: $s}' |
#     curl -sS -X POST -H 'Content-Type: application/json' --data @- https://HOST/environments
# POSIX sh, so it works whichever shell the environment builder runs it with.

set -e

echo "🔧 Setting up the web-scraping environment..."

pip install requests beautifulsoup4 lxml httpx

# Fail the build now, not the first run, if a library cannot load in the jail.
python -c '
import bs4, httpx, lxml, requests
soup = bs4.BeautifulSoup("<p class=x>ok</p>", "lxml")
assert soup.find("p", class_="x").text == "ok"
print("requests", requests.__version__, "httpx", httpx.__version__, "beautifulsoup4", bs4.__version__)
'

echo "✅ Web-scraping environment ready"
