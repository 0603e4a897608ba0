#!/bin/sh
# replay.sh: replays a corpus through a fuzz target binary, one process per file, and prints TAP (1..N, ok i - file).
#
# Usage: replay.sh BINARY [DIR|FILE]...
#   BINARY is a replay binary (tests/fuzz/replay_request) or a libFuzzer one
#   (tests/fuzz/fuzz_request, as make fuzz builds it): both take input files
#   as arguments. Without DIR, the corpus of BINARY's target is used:
#   $top_srcdir/tests/fuzz/corpus/TARGET, TARGET being what follows the
#   first "_" in BINARY's name; top_srcdir defaults to this script's ../..
#   (so that it works from a VPATH build directory too).
# Exits non-zero if any input crashed, leaked or broke a property.

if [ $# -lt 1 ]; then
	echo "usage: $0 BINARY [DIR|FILE]..." >&2
	exit 2
fi
bin=$1
shift
case $bin in
*/*) ;;
*) bin=./$bin ;;
esac
if [ ! -x "$bin" ]; then
	echo "1..0"
	echo "Bail out! $bin is not an executable (make check builds the replay binaries)"
	exit 1
fi
if [ $# -eq 0 ]; then
	: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
	name=$(basename "$bin")
	set -- "$top_srcdir/tests/fuzz/corpus/${name#*_}"
fi

# The inputs: files as given, directories' regular files in name order.
list=$(
	for arg in "$@"; do
		if [ -d "$arg" ]; then
			for f in "$arg"/*; do
				[ -f "$f" ] && printf '%s\n' "$f"
			done
		else
			printf '%s\n' "$arg"
		fi
	done
)
if [ -z "$list" ]; then
	echo "1..0"
	echo "Bail out! no input in $*"
	exit 1
fi

n=$(printf '%s\n' "$list" | wc -l | tr -d ' ')
echo "1..$n"
i=0
failed=0
# Corpus file names hold no newline; the loop reads one a line.
while IFS= read -r f; do
	i=$((i + 1))
	if out=$("$bin" "$f" 2>&1); then
		echo "ok $i - $f"
	else
		rc=$?
		failed=$((failed + 1))
		echo "not ok $i - $f # exit status $rc"
		printf '%s\n' "$out" | sed 's/^/# /'
	fi
done <<LIST
$list
LIST
[ "$failed" -eq 0 ]
