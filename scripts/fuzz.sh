#!/usr/bin/env bash
# make fuzz: run every fuzz target in the module for FUZZTIME each.
#
# Go 1.26's fuzz coordinator can end a healthy run with a bare "context
# deadline exceeded" at the -fuzztime boundary (golang/go#75804, fixed in
# Go 1.27). A run fails here only when it wrote a new reproducer under
# testdata/fuzz/<target>/, which is what a real crasher does; a deadline
# flake without one is reported and retried once.
set -uo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10s}
pass=0; fail=0; flaked=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for t in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    corpus="$dir/testdata/fuzz/$t"
    for attempt in 1 2; do
      before=$(ls "$corpus" 2>/dev/null | sort)
      echo "== $pkg $t (attempt $attempt)"
      out=$(go test -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 5s "$pkg" 2>&1); rc=$?
      after=$(ls "$corpus" 2>/dev/null | sort)
      if [ $rc -eq 0 ]; then pass=$((pass+1)); break; fi
      if [ "$before" != "$after" ]; then
        echo "$out"; echo "FAIL: $t wrote a reproducer in $corpus"; fail=$((fail+1)); break
      fi
      if echo "$out" | grep -q 'context deadline exceeded' && [ $attempt -eq 1 ]; then
        echo "   deadline flake without a reproducer (golang/go#75804); retrying"; flaked=$((flaked+1)); continue
      fi
      echo "$out"; fail=$((fail+1)); break
    done
  done
done
echo "fuzz: $pass passed, $fail failed ($flaked deadline flakes retried)"
[ $fail -eq 0 ]
