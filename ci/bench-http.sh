#!/usr/bin/env bash
# hyper HTTP/1 hello world on corio (corio::hyper), tokio (hyper-util) and smol
# (smol-hyper), each with one worker thread, driven by wrk on 127.0.0.1 only.
# Each server is pinned to CPU 0 and wrk to CPU 1 (taskset); runs are
# interleaved (round 1: corio, tokio, smol at 64 then 256 connections; round
# 2: ...) so a change in machine load hits all three alike. Prints the median
# req/s and p99 latency of each, and corio's ratios. Each round also prints the
# CPU that other processes used meanwhile ("other", in % of one core: the
# machine's busy time minus the server's and wrk's), so a low figure that came
# with other load on the cores can be told from a slow server.
#
# A fourth server, "ceiling" (benches/http/ceiling.rs: one thread, raw epoll, a
# fixed response per request, no runtime, no hyper), runs in every round too:
# it shows what wrk on its one core can send at all. A runtime whose req/s is
# near the ceiling is limited by the client, and no server can beat another by
# more than the gap between them and the ceiling.
#
#   bash ci/bench-http.sh            # 3 rounds x 10 s
#   ROUNDS=5 SECS=20 bash ci/bench-http.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-10}
CONNS=${CONNS:-"64 256"}
RUNTIMES="corio tokio smol ceiling"
# Below the ephemeral range (32768+): a client probing a port nobody listens on yet
# can otherwise be given that port as its own and connect to itself (a TCP
# self-connect), which then keeps the port from being bound for a minute.
PORT=${PORT:-18080}

if ! command -v wrk >/dev/null; then
  echo "== installing wrk"
  apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
command -v taskset >/dev/null || { echo "bench-http: taskset (util-linux) is required"; exit 1; }

echo "== building the servers (release)"
cargo build --release -p corio-benches --example http_corio --example http_tokio --example http_smol --example http_ceiling
bin_dir="${CARGO_TARGET_DIR:-target}/release/examples"

out=$(mktemp -d)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true; rm -rf "$out"; }
trap cleanup EXIT

# Waits (at most 10 s) until the server accepts connections on $PORT.
wait_listening() {
  for _ in $(seq 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "bench-http: server did not start listening on $PORT"; exit 1
}

# wrk's latency ("850.00us", "1.20ms", "1.02s") in milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); print v }
    else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000 }
    else print v }'
}

# Busy jiffies of the whole machine (all CPUs), from /proc/stat.
busy_jiffies() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
# CPU jiffies (user + system) of process $1, or of this shell's reaped children
# with "children".
proc_jiffies() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
children_jiffies() { awk '{ print $16 + $17 }' "/proc/$$/stat"; }
hz=$(getconf CLK_TCK)

echo "== load before: $(uptime)"
for round in $(seq "$ROUNDS"); do
  for c in $CONNS; do
    for rt in $RUNTIMES; do
      taskset -c 0 "$bin_dir/http_$rt" "$PORT" &
      server_pid=$!
      wait_listening
      log="$out/$rt-$c-$round.txt"
      busy0=$(busy_jiffies); server0=$(proc_jiffies "$server_pid"); wrk0=$(children_jiffies)
      taskset -c 1 wrk -t2 -c"$c" -d"${SECS}s" --latency "http://127.0.0.1:$PORT/" >"$log"
      busy1=$(busy_jiffies); server1=$(proc_jiffies "$server_pid"); wrk1=$(children_jiffies)
      kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
      other=$(awk -v b=$((busy1 - busy0)) -v s=$((server1 - server0)) -v w=$((wrk1 - wrk0)) \
        -v hz="$hz" -v secs="$SECS" 'BEGIN { o = (b - s - w) / hz / secs * 100; printf "%.0f", (o < 0 ? 0 : o) }')
      server_cpu=$(awk -v s=$((server1 - server0)) -v hz="$hz" -v secs="$SECS" 'BEGIN { printf "%.0f", s / hz / secs * 100 }')
      wrk_cpu=$(awk -v w=$((wrk1 - wrk0)) -v hz="$hz" -v secs="$SECS" 'BEGIN { printf "%.0f", w / hz / secs * 100 }')
      rps=$(awk '/^Requests\/sec:/ {print $2}' "$log")
      p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$log")")
      errors=$(awk '/Socket errors|Non-2xx/ {print}' "$log" | tr '\n' ' ')
      echo "round $round  c=$c  $rt  $rps req/s  p99 ${p99} ms  cpu: server ${server_cpu}% wrk ${wrk_cpu}% other ${other}%  ${errors}"
      echo "$rt $c $rps $p99" >>"$out/results"
    done
  done
done
echo "== load after: $(uptime)"

median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo
printf '%-8s %6s %12s %10s %12s\n' runtime conns "req/s" "p99 ms" "corio/this"
for c in $CONNS; do
  corio_rps=$(awk -v c="$c" '$1 == "corio" && $2 == c {print $3}' "$out/results" | median)
  for rt in $RUNTIMES; do
    rps=$(awk -v rt="$rt" -v c="$c" '$1 == rt && $2 == c {print $3}' "$out/results" | median)
    p99=$(awk -v rt="$rt" -v c="$c" '$1 == rt && $2 == c {print $4}' "$out/results" | median)
    ratio=$(awk -v a="$corio_rps" -v b="$rps" 'BEGIN {printf "%.2f", a / b}')
    printf '%-8s %6s %12.0f %10.2f %12s\n' "$rt" "$c" "$rps" "$p99" "$ratio"
  done
done
echo "(medians of $ROUNDS interleaved rounds of ${SECS} s; corio/this = corio's req/s over this runtime's;"
echo " ceiling = the cheapest possible server, benches/http/ceiling.rs: wrk's own limit on its core)"
