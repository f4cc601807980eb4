#!/usr/bin/env bash
# Install what building Switchboard needs on a fresh Debian machine: a C/C++ toolchain and
# libclang (bindgen, for the bundled RocksDB), and promtool (Debian's prometheus package) for
# scripts/check_deploy.sh, Chromium with its WebDriver for the browser tests, and nats-server
# for the cluster tests and scripts/cluster.sh. Checks that cargo and rustfmt are there (rustup installs those).
# Idempotent and quiet when all is present.
set -euo pipefail

need=()
command -v cc >/dev/null 2>&1 || need+=(build-essential)
command -v clang >/dev/null 2>&1 || need+=(clang)
if ! ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 && ! ls /usr/lib/x86_64-linux-gnu/libclang*.so* >/dev/null 2>&1; then
  need+=(libclang-dev)
fi
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
# The browser tests (tests/browser/) drive Debian's Chromium headless over WebDriver.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
# The cluster tests and scripts/cluster.sh run real NATS servers (JetStream).
command -v nats-server >/dev/null 2>&1 || need+=(nats-server)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null 2>&1 || { echo "setup: cargo is missing; install Rust with rustup" >&2; exit 1; }
missing=""
cargo fmt --version >/dev/null 2>&1 || missing="\`cargo fmt --version\`"
rustfmt --version >/dev/null 2>&1 || missing="${missing:+$missing and }\`rustfmt --version\`"
if [ -n "$missing" ]; then
  echo "setup: rustfmt is missing ($missing failed); install it with: rustup component add rustfmt" >&2
  exit 1
fi
