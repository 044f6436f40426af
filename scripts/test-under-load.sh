#!/bin/bash
# Runs `npm test` N times in a row (default 10) with a CPU hog beside it: one
# busy loop per core, so every test runs starved, as on a loaded station or CI
# machine. Stops at the first failing run. Each run's output is kept in
# test-output/under-load/run-K.log; one line per run goes to stdout.
#
#   scripts/test-under-load.sh [N]
set -u
cd "$(dirname "$0")/.."
runs=${1:-10}
logs=test-output/under-load
mkdir -p "$logs"
hogs=()
stop_hogs() { [ ${#hogs[@]} -gt 0 ] && kill "${hogs[@]}" 2>/dev/null; hogs=(); }
trap stop_hogs EXIT
for i in $(seq 1 "$runs"); do
  for _ in $(seq 1 "$(nproc)"); do
    (while :; do :; done) &
    hogs+=($!)
  done
  start=$(date +%s)
  npm test >"$logs/run-$i.log" 2>&1
  rc=$?
  stop_hogs
  echo "run $i: exit $rc, $(($(date +%s) - start)) s, $(grep -E '^# (pass|fail) ' "$logs/run-$i.log" | tr '\n' ' ')"
  [ "$rc" -eq 0 ] || exit "$rc"
done
