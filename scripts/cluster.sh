#!/usr/bin/env bash
# A local Switchboard cluster for trying it (docs/CLUSTER.md): three nats-server processes
# (Debian's, JetStream on, one cluster) and three Switchboard nodes, each pair on its own
# loopback address: 127.0.0.1, 127.0.0.2, 127.0.0.3.
#
#   scripts/cluster.sh start [DIR]   start everything (state under DIR, default ./cluster-data)
#   scripts/cluster.sh stop  [DIR]   stop everything started from DIR
#   scripts/cluster.sh status [DIR]  which processes run, and each node's /readyz
#
# NODES=1|2|3 starts fewer Switchboard nodes (always three NATS servers); SERVER_CPUS=0 pins
# every server process to those CPUs (`taskset -c`), for benchmarks (scripts/bench-cluster.sh);
# NODE_ARGS adds `serve` flags to every node.
#
# Ports on every address: NATS clients 4222, NATS routes 6222, NATS monitoring 8222,
# Switchboard HTTP/WebSocket 8080, QUIC 4433. The nodes are named node1..node3 and share
# one administrator token (DIR/admin-token). Logs: DIR/<name>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
cmd="${1:-start}"
dir="$(realpath -m "${2:-cluster-data}")"
nats=(1 2 3)
nodes=($(seq 1 "${NODES:-3}"))
pin=()
[ -n "${SERVER_CPUS:-}" ] && pin=(taskset -c "$SERVER_CPUS")

nats_args() { # the flags every nats-server of the cluster gets; tests/support/cluster.rs uses the same
  local i=$1 routes=()
  for j in "${nats[@]}"; do [ "$j" = "$i" ] || routes+=("nats://127.0.0.$j:6222"); done
  echo -a 127.0.0.$i -p 4222 -m 8222 -n nats$i -js -sd "$dir/nats$i" \
    --cluster_name switchboard --cluster nats://127.0.0.$i:6222 \
    --routes "$(IFS=,; echo "${routes[*]}")"
}

start() {
  command -v nats-server >/dev/null || ./scripts/setup.sh
  mkdir -p "$dir"
  cargo build --release --bin switchboard
  local bin=target/release/switchboard
  [ -n "${CARGO_TARGET_DIR:-}" ] && bin="$CARGO_TARGET_DIR/release/switchboard"
  [ -f "$dir/admin-token" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/admin-token"
  for i in "${nats[@]}"; do
    # shellcheck disable=SC2046
    nohup "${pin[@]}" nats-server $(nats_args "$i") >"$dir/nats$i.log" 2>&1 &
    echo $! >"$dir/nats$i.pid"
  done
  for i in "${nats[@]}"; do # each NATS server answers before the nodes start
    for _ in $(seq 1 50); do curl -fsS "http://127.0.0.$i:8222/varz" >/dev/null 2>&1 && break; sleep 0.1; done
  done
  local urls=nats://127.0.0.1:4222,nats://127.0.0.2:4222,nats://127.0.0.3:4222
  for i in "${nodes[@]}"; do
    nohup "${pin[@]}" "$bin" serve --data-dir "$dir/node$i" --http-addr 127.0.0.$i:8080 --quic-addr 127.0.0.$i:4433 \
      --cluster-nats "$urls" --node-name node$i --admin-token "$(cat "$dir/admin-token")" ${NODE_ARGS:-} \
      >"$dir/node$i.log" 2>&1 &
    echo $! >"$dir/node$i.pid"
  done
  for i in "${nodes[@]}"; do
    for _ in $(seq 1 100); do
      curl -fsS "http://127.0.0.$i:8080/readyz" >/dev/null 2>&1 && break
      sleep 0.2
    done
  done
  status
  echo "admin token: $dir/admin-token; console: http://127.0.0.1:8080/console"
}

stop() { # nodes first (they drain), then NATS; returns once every process is gone
  local pids=()
  for f in "$dir"/node*.pid "$dir"/nats*.pid; do
    [ -f "$f" ] || continue
    pids+=("$(cat "$f")")
    kill "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
}

status() {
  for i in "${nodes[@]}"; do
    local ready
    ready=$(curl -s "http://127.0.0.$i:8080/readyz" 2>/dev/null || echo unreachable)
    echo "node$i  http://127.0.0.$i:8080  $ready"
  done
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  nats-args) nats_args "${3:-1}" ;;
  *) echo "usage: $0 start|stop|status [DIR]" >&2; exit 2 ;;
esac
