#!/usr/bin/env bash
# Paired A/B of two corio trees on the shared peer benchmark: builds the peer
# benchmark against each tree (its own copy and target dir per tree), then runs
# the two binaries alternately, A B A B ..., corio-mt only, and prints every
# run's per-workload median side by side. With --contended, one busy loop per
# core runs for the whole comparison, so each A/B pair sees the same placement
# of the busy loops (a separate --contended run per tree does not: its figures
# swing by 30 % with where the kernel put the loops).
#
# Even then, where the kernel puts corio's two workers (each beside a busy loop,
# both beside one, or both on a CPU of their own) decides most contended figures,
# and it may differ from run to run. --pin split|same fixes the arrangement: busy
# loop i is pinned to CPU i, and each run's worker threads (named corio-worker-*)
# are pinned as they appear, one per CPU in turn (split) or all to CPU 0 (same).
# Other threads (the benchmark's main thread, blocking threads) float. A worker is
# pinned within about 5 ms of its start, so the first warm-up iterations may run
# unpinned. Pinned, the per-run medians of one binary spread far less (2 cores,
# 6 runs each: spawn_remote 385-425 against 251-615 ns/task unpinned).
#
#   bash ci/peer-ab.sh TREE_A TREE_B [--rounds N] [--workloads a,b,...] [--contended]
#                      [--pin split|same]
#
# TREE_A/TREE_B: directories holding crates/corio (a worktree or `git archive`).
# Workloads are the peer benchmark's (`timers` runs the timers child too).
# The peer benchmark is copied from ../shared/peerbench (override: PEERBENCH=DIR)
# into ${AB_DIR:-/tmp/peer-ab}/{a,b}. Busy loops are killed by PID at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n '2,26p' "$0"; exit 2; }
tree_a=$(cd "$1" && pwd); tree_b=$(cd "$2" && pwd); shift 2
rounds=5
workloads=spawn_many,spawn_remote,yield_many,ping_pong,chained_spawn,spawn_recursively,channel_ring,blocking,blocking_seq,tcp_echo
contended=0
pin=
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --workloads) workloads=$2; shift 2 ;;
    --contended) contended=1; shift ;;
    --pin) pin=$2; contended=1; shift 2
      case "$pin" in split|same) ;; *) echo "peer-ab: --pin takes split or same"; exit 2 ;; esac ;;
    *) echo "peer-ab: unknown argument $1"; exit 2 ;;
  esac
done
peerbench=${PEERBENCH:-../shared/peerbench}
[ -f "$peerbench/run.sh" ] || { echo "peer-ab: no peer benchmark at $peerbench (set PEERBENCH)"; exit 2; }
dir=${AB_DIR:-/tmp/peer-ab}

build() { # $1: a or b, $2: tree
  local copy="$dir/$1"
  mkdir -p "$copy"
  # Keep the copy's target dir between calls: only the tree's crates rebuild.
  rsync -a --delete --exclude target "$peerbench/" "$copy/" 2>/dev/null ||
    { rm -rf "${copy:?}"/src; cp -r "$peerbench"/. "$copy"/; }
  echo "== building $1 against $2" >&2
  (cd "$copy" && RUNS=1 PROJECT_DIR="$2" bash run.sh --runtimes corio-mt --workloads none \
    --no-floors --no-timers >"$dir/$1.build.log" 2>&1) ||
    { tail -n 20 "$dir/$1.build.log"; exit 1; }
}
build a "$tree_a"
build b "$tree_b"
bin_a="$dir/a/target/with-project/target/release/peerbench"
bin_b="$dir/b/target/with-project/target/release/peerbench"

hogs=()
stop_hogs() { for p in ${hogs[@]+"${hogs[@]}"}; do kill "$p" 2>/dev/null || true; done; }
trap stop_hogs EXIT
if [ "$contended" = 1 ]; then
  for cpu in $(seq 0 $(($(nproc) - 1))); do
    if [ -n "$pin" ]; then
      taskset -c "$cpu" bash -c 'while :; do :; done' &
    else
      bash -c 'while :; do :; done' &
    fi
    hogs+=("$!")
  done
fi

# Runs the benchmark binary $1 (further arguments: its own), pinning its worker
# threads as they appear when --pin is given.
run_bench() {
  local bin=$1; shift
  if [ -z "$pin" ]; then
    "$bin" "$@"
    return
  fi
  "$bin" "$@" &
  local pid=$! pinned=" " n=0 task tid cpu
  while kill -0 "$pid" 2>/dev/null; do
    for task in /proc/"$pid"/task/*; do
      tid=${task##*/}
      case "$pinned" in *" $tid "*) continue ;; esac
      case "$(cat "$task/comm" 2>/dev/null)" in
        corio-worker-*)
          if [ "$pin" = split ]; then cpu=$((n % $(nproc))); else cpu=0; fi
          taskset -p -c "$cpu" "$tid" >/dev/null 2>&1 || true
          pinned="$pinned$tid "; n=$((n + 1)) ;;
      esac
    done
    sleep 0.005
  done
  wait "$pid"
}
timers=--no-timers
case ",$workloads," in *,timers,*) timers= ;; esac

out="$dir/results.txt"
: >"$out"
echo "== load before: $(uptime)"
for round in $(seq 1 "$rounds"); do
  for side in a b; do
    bin=$bin_a; [ "$side" = b ] && bin=$bin_b
    run_bench "$bin" --runtimes corio-mt --workloads "$workloads" --no-floors $timers 2>/dev/null |
      awk -v s="$side" '$1 == "RES" && $4 !~ /rss/ { print s, $4, $5, $6 }' >>"$out"
  done
done
echo "== load after: $(uptime)"
echo "A = $tree_a ($(git -C "$tree_a" describe --always --dirty 2>/dev/null || echo '?'))"
echo "B = $tree_b ($(git -C "$tree_b" describe --always --dirty 2>/dev/null || echo '?'))"
echo "per-run medians, in run order$([ "$contended" = 1 ] && echo ', with one busy loop per core')$([ -n "$pin" ] && echo ", workers pinned: $pin"):"
awk '{ key = $2 " " $3; v[$1, key] = v[$1, key] " " $4; keys[key] = 1 }
  END { for (k in keys) { printf "%-32s A%s\n%-32s B%s\n", k, v["a", k], "", v["b", k] } }' "$out"
