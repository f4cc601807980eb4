#!/usr/bin/env bash
# Side-by-side peer run: the same chat load against Switchboard (`loadtest chat`) and NATS
# JetStream (`loadtest nats-chat`): PAIRS pairs (two connections each, both sending), RATE
# messages/s in all, DURATION seconds, SIZE-byte texts, at most WINDOW unacknowledged per
# sender. Each server is pinned to SERVER_CPUS (nats-server runs under `taskset -c`), the
# load generator to CLIENT_CPUS. Prints both delivered rates, both servers' CPU per message
# and their ratio, and each generator's own CPU (a saturated generator invalidates a run).
#
# Not like for like in one respect: nats-server 2.9 (Debian's) has no per-write sync
# setting (JetStream syncs its file store periodically), while Switchboard fsyncs before
# every acknowledgement. NATS receivers are core subscribers on the stream's subjects and
# every publish carries Nats-Msg-Id (JetStream's de-duplication, like client_msg_id).
#
# Usage: scripts/bench-peers.sh            (defaults below; override with environment
#        PAIRS=200 RATE=20000 DURATION=10 scripts/bench-peers.sh   variables)
set -euo pipefail
cd "$(dirname "$0")/.."

PAIRS=${PAIRS:-100}
RATE=${RATE:-10000}
DURATION=${DURATION:-10}
SIZE=${SIZE:-64}
WINDOW=${WINDOW:-256}
SERVER_CPUS=${SERVER_CPUS:-0}
CLIENT_CPUS=${CLIENT_CPUS:-1}
# The RocksDB build takes ~14 minutes: reuse the shared target directory, as .ci/run does.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/switchboard-target}"

need=()
command -v nats-server >/dev/null 2>&1 || need+=(nats-server)
command -v jq >/dev/null 2>&1 || need+=(jq)
if [ ${#need[@]} -gt 0 ]; then
  echo "bench-peers: installing ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null ||
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null; }
fi
./scripts/setup.sh
cargo build --release -p switchboard-loadtest -p switchboard
# Other checkouts may build into the same target directory: run private copies.
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
cp "$CARGO_TARGET_DIR/release/loadtest" "$CARGO_TARGET_DIR/release/switchboard" "$bin/"

echo "== machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== $(nats-server --version)"
load=(--pairs "$PAIRS" --rate "$RATE" --duration "$DURATION" --size "$SIZE" --window "$WINDOW"
  --server-cpus "$SERVER_CPUS" --client-cpus "$CLIENT_CPUS" --json)

# loadtest exits 2 when a correctness check failed; the JSON still says what happened.
run() {
  local out status=0
  out=$("$@") || status=$?
  if [ -z "$out" ]; then
    echo "bench-peers: '$*' failed (exit $status)" >&2
    exit 1
  fi
  echo "$out"
}
echo "== Switchboard: loadtest chat (fsync before every acknowledgement)"
sb=$(run "$bin/loadtest" chat --spawn-server "$bin/switchboard" "${load[@]}")
echo "== NATS: loadtest nats-chat (JetStream file storage, periodic sync)"
nats=$(run "$bin/loadtest" nats-chat --spawn-nats "$(command -v nats-server)" --msg-id "${load[@]}")

row() { # label, jq expression
  printf '%-34s %16s %16s\n' "$1" "$(jq -r "$2" <<<"$sb")" "$(jq -r "$2" <<<"$nats")"
}
echo
echo "$PAIRS pairs, $RATE msg/s offered, $DURATION s, $SIZE B texts, window $WINDOW;" \
  "servers on CPU $SERVER_CPUS, generator on CPU $CLIENT_CPUS"
printf '%-34s %16s %16s\n' "" "switchboard" "nats-jetstream"
row "delivered msg/s" '.deliveries_per_s | floor'
row "delivery p50 / p99 (ms)" '"\(.p50_ms) / \(.p99_ms)"'
row "ack p50 / p99 (ms)" '"\(.ack_p50_ms) / \(.ack_p99_ms)"'
row "lost / duplicates / out of order" '"\(.lost) / \(.duplicates) / \(.out_of_order)"'
row "errors" '.errors'
row "server CPU (s)" '.server_cpu_s // "?" | if type == "number" then (. * 100 | round / 100) else . end'
row "server CPU per message (µs)" '.server_cpu_us_per_msg // "?" | if type == "number" then (. * 10 | round / 10) else . end'
row "generator CPU per message (µs)" '.client_cpu_us_per_msg // "?" | if type == "number" then (. * 10 | round / 10) else . end'
row "generator CPU use of its CPUs (%)" '.client_cpu_util * 100 | round'
row "generator wait for its CPUs (%)" '.client_cpu_wait * 100 | round'
row "generator saturated / starved" '"\(.client_saturated) / \(.client_starved)"'
ratio=$(jq -rn --argjson a "$sb" --argjson b "$nats" \
  'if ($a.server_cpu_us_per_msg and $b.server_cpu_us_per_msg and $b.server_cpu_us_per_msg > 0)
   then ($a.server_cpu_us_per_msg / $b.server_cpu_us_per_msg * 100 | round / 100) else "?" end')
echo
echo "server CPU per message, switchboard / nats-jetstream: $ratio"
echo "note: nats-server 2.9 has no per-write sync setting (JetStream syncs its file store"
echo "      periodically); Switchboard fsyncs before every acknowledgement."
if jq -e '.client_saturated' <<<"$sb" >/dev/null || jq -e '.client_saturated' <<<"$nats" >/dev/null; then
  echo "WARNING: a load generator saturated its CPUs: that run measures the client." >&2
elif jq -e '.client_starved' <<<"$sb" >/dev/null || jq -e '.client_starved' <<<"$nats" >/dev/null; then
  echo "WARNING: a load generator waited for its CPUs (other work runs there): its latencies" \
    "include its own scheduling delays." >&2
fi
