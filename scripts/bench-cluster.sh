#!/usr/bin/env bash
# The cluster benchmark of docs/BENCHMARKS.md ("Cluster"): for 1, 2 and 3 Switchboard nodes
# (always three NATS servers, JetStream R3), `loadtest chat` with every pair's visitor and
# agent on different nodes (through the relay) when there are several. Every server process
# (nodes and NATS) is pinned to CPU 0 and the load generator to CPU 1; the servers' CPU
# time per delivered message is read from /proc before and after each run.
#
#   scripts/bench-cluster.sh [PAIRS] [RATE] [DURATION_S]
set -euo pipefail
cd "$(dirname "$0")/.."
pairs="${1:-50}" rate="${2:-2000}" duration="${3:-10}"
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -p switchboard -p switchboard-loadtest --bins
ticks() { # utime+stime of the given pids, in clock ticks
  local total=0
  for pid in "$@"; do
    read -r -a f <"/proc/$pid/stat"
    total=$((total + f[13] + f[14]))
  done
  echo "$total"
}
hz=$(getconf CLK_TCK)
dir=""
trap '[ -n "$dir" ] && scripts/cluster.sh stop "$dir" >/dev/null 2>&1' EXIT
for n in 1 2 3; do
  dir=$(mktemp -d)
  NODES=$n SERVER_CPUS=0 NODE_ARGS="--visitor-rate-per-s 1000000 --visitor-burst 1000000" scripts/cluster.sh start "$dir" >/dev/null
  # Settled: all 64 shards owned, by every node, and no more handovers for a while.
  for _ in $(seq 1 100); do
    owned=$(for i in $(seq 1 "$n"); do curl -s "http://127.0.0.$i:8080/metrics" | awk '/^switchboard_cluster_shards_owned /{print $2}'; done | paste -sd+ | bc)
    [ "${owned%.*}" = 64 ] && break
    sleep 0.2
  done
  sleep 3
  pids=$(cat "$dir"/node*.pid "$dir"/nats*.pid)
  urls=$(for i in $(seq 1 "$n"); do printf 'http://127.0.0.%s:8080,' "$i"; done)
  before=$(ticks $pids)
  out=$("$target/release/loadtest" chat --target http://127.0.0.1:8080 --admin-token "$(cat "$dir/admin-token")" \
    --nodes "${urls%,}" --pairs "$pairs" --rate "$rate" --duration "$duration" --client-cpus 1 --json)
  after=$(ticks $pids)
  scripts/cluster.sh stop "$dir" >/dev/null
  rm -rf "$dir"
  python3 - "$n" "$before" "$after" "$hz" "$out" <<'PY'
import json, sys
n, before, after, hz, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), json.loads(sys.argv[5])
delivered = out.get("delivered") or 1
cpu_s = (after - before) / hz
print(json.dumps({
    "nodes": n,
    "acked_per_s": out.get("messages_per_s"),
    "delivery_p50_ms": out.get("p50_ms"), "delivery_p99_ms": out.get("p99_ms"),
    "ack_p50_ms": out.get("ack_p50_ms"), "ack_p99_ms": out.get("ack_p99_ms"),
    "lost": out.get("lost"), "duplicates": out.get("duplicates"), "out_of_order": out.get("out_of_order"),
    "errors": out.get("errors"),
    "servers_cpu_s": round(cpu_s, 2), "servers_cpu_us_per_msg": round(cpu_s * 1e6 / delivered, 1),
    "client_cpu_util": out.get("client_cpu_util"), "client_saturated": out.get("client_saturated"),
}))
PY
done
