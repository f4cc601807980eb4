#!/usr/bin/env bash
# Start the Switchboard server (building it first; the first build compiles RocksDB, ~15 min
# on 2 cores). Extra arguments go to `switchboard serve`, e.g. --http-addr 0.0.0.0:8080.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec cargo run --release --bin switchboard -- serve "$@"
