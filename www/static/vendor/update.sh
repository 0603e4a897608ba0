#!/bin/bash
# update.sh: refreshes the vendored Swagger UI and ReDoc files here from npm, at the versions pinned in VERSIONS (integrity checked).
#
# Usage: update.sh          fetch each package in VERSIONS with `npm pack`, check its tarball against the
#                           pinned sha512 integrity and its license, and copy the files the pages use into
#                           swagger-ui/ and redoc/ (replacing what is there).
#        update.sh --check  the same fetch and checks, but only compare: exit 1 if a committed file differs
#                           from (or is missing in) the pinned package, or an extra file is there.
# Needs npm (and so node) and network access to the npm registry; nothing else. Package builds and
# deployments never run it: its output is committed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mode=update
case "${1:-}" in
    '') ;;
    --check) mode=check ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

command -v npm >/dev/null || { echo "update.sh: npm not found (apt-get install npm)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Which files of each package the pages need, and the directory they go to. Paths are inside the
# tarball's package/ directory; each is copied under its base name.
files_for() {
    case "$1" in
        # swagger-ui-bundle.js.LICENSE.txt: the licences of the libraries bundled in swagger-ui-bundle.js.
        # No swagger-ui-standalone-preset.js: docs-init.js uses the BaseLayout (no top bar to load other URLs).
        swagger-ui-dist) echo "swagger-ui swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css favicon-32x32.png favicon-16x16.png LICENSE NOTICE" ;;
        redoc) echo "redoc bundles/redoc.standalone.js LICENSE" ;;
        *) echo "update.sh: VERSIONS names $1, which this script has no file list for" >&2; return 1 ;;
    esac
}

# The integrity string npm uses: "sha512-" and the base64 of the tarball's SHA-512.
integrity_of() {
    node -e 'const c = require("crypto"), fs = require("fs");
             process.stdout.write("sha512-" + c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"));' "$1"
}

status=0
found=0
while read -r -u 3 name version license integrity rest; do
    case "$name" in ''|'#'*) continue ;; esac
    if [ -z "$integrity" ] || [ -n "$rest" ]; then
        echo "update.sh: VERSIONS: bad line for $name (want: package version license integrity)" >&2
        exit 1
    fi
    found=$((found + 1))
    spec=$(files_for "$name")
    read -r dir paths <<<"$spec"

    # In the temporary directory (no project's package.json or .npmrc applies), with a private cache:
    # a fresh download, and nothing left behind in ~/.npm.
    (cd "$tmp" && npm pack --silent --ignore-scripts --cache "$tmp/npm-cache" "$name@$version" >/dev/null)
    tgz="$tmp/$name-$version.tgz"
    [ -f "$tgz" ] || { echo "update.sh: npm pack $name@$version made no $tgz" >&2; exit 1; }

    got=$(integrity_of "$tgz")
    if [ "$got" != "$integrity" ]; then
        echo "update.sh: $name@$version: tarball integrity $got, VERSIONS pins $integrity" >&2
        exit 1
    fi

    mkdir "$tmp/$name"
    tar -xzf "$tgz" -C "$tmp/$name"
    pkg="$tmp/$name/package"
    got=$(node -e 'const p = require(process.argv[1]); process.stdout.write(p.name + " " + p.version + " " + p.license);' "$pkg/package.json")
    if [ "$got" != "$name $version $license" ]; then
        echo "update.sh: package.json says \"$got\", VERSIONS says \"$name $version $license\"" >&2
        exit 1
    fi

    # The new directory, built beside the tarball first.
    mkdir "$tmp/out-$dir"
    for p in $paths; do
        [ -f "$pkg/$p" ] || { echo "update.sh: $name@$version has no $p" >&2; exit 1; }
        install -m 0644 "$pkg/$p" "$tmp/out-$dir/${p##*/}"
    done

    if [ "$mode" = check ]; then
        if diff -r "$tmp/out-$dir" "$here/$dir" >/dev/null 2>&1; then
            echo "$dir/: matches $name@$version"
        else
            echo "$dir/: differs from $name@$version:" >&2
            diff -rq "$tmp/out-$dir" "$here/$dir" >&2 || true
            status=1
        fi
    else
        rm -rf "${here:?}/${dir:?}"
        mv "$tmp/out-$dir" "$here/$dir"
        chmod 0755 "$here/$dir"
        echo "$dir/: $name@$version ($license), $(du -sh "$here/$dir" | cut -f1)"
    fi
done 3<"$here/VERSIONS"

[ "$found" -gt 0 ] || { echo "update.sh: no packages in $here/VERSIONS" >&2; exit 1; }
exit "$status"
