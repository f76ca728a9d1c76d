#!/usr/bin/env bash
# fuzz.sh — run every fuzz target of the module for FUZZTIME (default 10s)
# each. go test -fuzz takes one target of one package at a time, so the
# targets are found in the _test.go files and run one by one.
set -euo pipefail

FUZZTIME="${FUZZTIME:-10s}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

found=0
while IFS= read -r file; do
	dir="./$(dirname "$file")"
	while IFS= read -r name; do
		found=1
		printf '== fuzz %s %s (%s)\n' "$dir" "$name" "$FUZZTIME"
		go test -run='^$' -fuzz="^${name}\$" -fuzztime="$FUZZTIME" "$dir"
	done < <(sed -nE 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/p' "$file")
done < <(find . -name '*_test.go' -not -path './.git/*' | sed 's#^\./##' | sort)

if ((found == 0)); then
	echo "fuzz: no fuzz targets (func FuzzXxx(f *testing.F)) in the module yet"
fi
