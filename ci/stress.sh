#!/usr/bin/env bash
# Runs the whole test suite (ci/test.sh) N times in a row while busy-loop processes
# hog the CPU, to catch tests that only pass on an idle machine.
#
#   bash ci/stress.sh [N]        N runs (default 3); extra arguments go to ci/test.sh
#   STRESS_HOGS=4 bash ci/stress.sh    number of busy loops (default 2: both cores of
#                                      a 2-core box)
#
# The test binaries are built first, without the hogs (building is not what is tested).
# The hogs are started by this script and killed by their PIDs when it exits, also on
# failure or Ctrl-C. Each run's output goes to target/stress/run-K.log; a summary line
# per run gives its result, wall time and the load average, and the last line counts
# passed and failed runs. Exits non-zero if any run failed.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
[ $# -gt 0 ] && shift
hogs="${STRESS_HOGS:-2}"
logs="${CARGO_TARGET_DIR:-target}/stress"
mkdir -p "$logs"

echo "stress: building the tests"
bash ci/test.sh --no-run "$@" >"$logs/build.log" 2>&1 || {
  tail -n 40 "$logs/build.log"
  echo "stress: the build failed (see $logs/build.log)"
  exit 1
}

pids=()
stop_hogs() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  pids=()
}
trap stop_hogs EXIT
trap 'stop_hogs; exit 130' INT TERM
for _ in $(seq "$hogs"); do
  bash -c 'while :; do :; done' &
  pids+=("$!")
done
echo "stress: $hogs busy loops running (pids ${pids[*]}); $runs runs of ci/test.sh"

passed=0
failed=0
for k in $(seq "$runs"); do
  start=$(date +%s)
  if bash ci/test.sh "$@" >"$logs/run-$k.log" 2>&1; then
    result=pass
    passed=$((passed + 1))
  else
    result=FAIL
    failed=$((failed + 1))
  fi
  secs=$(($(date +%s) - start))
  echo "stress: run $k/$runs: $result in ${secs} s, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  if [ "$result" = FAIL ]; then
    grep -E '^test .* FAILED$|panicked at|^error: test failed' "$logs/run-$k.log" | head -n 20 || true
    echo "stress: full output in $logs/run-$k.log"
  fi
done
stop_hogs
echo "stress: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
