#!/usr/bin/env bash
# Build the cargo-fuzz targets in fuzz/ and run each one in turn, after replaying its
# regression inputs (fuzz/regressions/<target>/). Fails loudly (non-zero exit, the failing
# input and how to reproduce it) on any crash, panic, timeout or memory-limit hit.
#
#   scripts/fuzz.sh --seconds 15            # CI: each target for 15 s
#   scripts/fuzz.sh --runs 10000000         # full run: each target for 10M executions
#   scripts/fuzz.sh --seconds 60 ws_framing # only some targets
#
# Other options: --grow-corpus (new inputs go into fuzz/corpus/<target>, to be minimized
# with --cmin and committed; by default they go to a temporary directory and are dropped),
# --cmin (minimize fuzz/corpus/<target> in place, no fuzzing), --seeds (rewrite the seed
# inputs, fuzz/examples/seeds.rs). Needs the nightly toolchain (sanitizer flags); the build
# goes to $FUZZ_TARGET_DIR (default /var/cache/switchboard-fuzz-target) so it is reused.
# docs/FUZZING.md explains the targets and records the results.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(decode_msgpack decode_json decode_server_msgpack quic_framing ws_framing)
# libFuzzer flags: unbounded allocation (-rss_limit_mb) and hangs (-timeout, seconds) are
# failures; inputs up to a full frame (16 KiB) plus WebSocket/QUIC headers.
FLAGS=(-rss_limit_mb=512 -timeout=5 -max_len=17408 -print_final_stats=1)

usage() {
  echo "usage: $0 (--seconds N | --runs N | --cmin | --seeds) [--grow-corpus] [TARGET...]" >&2
  echo "targets: ${TARGETS[*]}" >&2
  exit 2
}

mode="" amount="" grow=0 selected=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds | --runs)
      [ $# -ge 2 ] && [[ "$2" =~ ^[1-9][0-9]*$ ]] || usage
      mode="${1#--}" amount="$2"
      shift 2
      ;;
    --cmin | --seeds) mode="${1#--}"; shift ;;
    --grow-corpus) grow=1; shift ;;
    -h | --help) usage ;;
    -*) usage ;;
    *)
      [[ " ${TARGETS[*]} " == *" $1 "* ]] || { echo "fuzz: unknown target '$1'" >&2; usage; }
      selected+=("$1")
      shift
      ;;
  esac
done
[ -n "$mode" ] || usage
[ ${#selected[@]} -gt 0 ] || selected=("${TARGETS[@]}")

fail() {
  echo "FUZZ FAILED: $*" >&2
  exit 1
}

# ASan's defaults keep 256 MB of freed memory in quarantine and a stack trace for every
# distinct allocation site; together they grew decode_msgpack's RSS from 263 to 515 MB over
# 10M runs with nothing leaking (the targets check that), tripping -rss_limit_mb. A small
# quarantine and 2-frame allocation stacks keep RSS flat (about 130 MB), so the limit
# measures the code under test.
export ASAN_OPTIONS="${ASAN_OPTIONS:-quarantine_size_mb=32:malloc_context_size=2}"

# The fuzz build is its own workspace with its own target directory: never the main one
# (a CARGO_TARGET_DIR exported for the workspace build must not leak in).
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-/var/cache/switchboard-fuzz-target}"

rustup toolchain list 2>/dev/null | grep -q '^nightly' \
  || fail "the nightly toolchain is missing (cargo fuzz needs it): rustup toolchain install nightly"
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked || fail "could not install cargo-fuzz"
fi

if [ "$mode" = seeds ]; then
  echo "== writing seed inputs into fuzz/corpus/"
  exec cargo +nightly run --quiet --release --manifest-path fuzz/Cargo.toml --example seeds
fi

echo "== cargo fuzz build ($CARGO_TARGET_DIR)"
build_start=$SECONDS
cargo +nightly fuzz build || fail "the fuzz targets do not build"
echo "build: $((SECONDS - build_start)) s"

if [ "$mode" = cmin ]; then
  for target in "${selected[@]}"; do
    before=$(find "fuzz/corpus/$target" -type f | wc -l)
    mkdir -p "fuzz/artifacts/$target"
    cargo +nightly fuzz cmin "$target" -- "${FLAGS[@]}" >"fuzz/artifacts/$target/cmin.log" 2>&1 \
      || { tail -n 30 "fuzz/artifacts/$target/cmin.log" >&2; fail "cmin $target"; }
    echo "cmin $target: $before -> $(find "fuzz/corpus/$target" -type f | wc -l) inputs"
  done
  exit 0
fi

# One of libFuzzer's final statistics (-print_final_stats) from the current log.
stat() { awk -v key="stat::$1:" '$1 == key {print $2}' "$log"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
summary=()
for target in "${selected[@]}"; do
  mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
  log="fuzz/artifacts/$target/last-run.log"
  regressions=(fuzz/regressions/"$target"/*)
  if [ -e "${regressions[0]}" ]; then
    echo "== $target: ${#regressions[@]} regression inputs"
    cargo +nightly fuzz run "$target" "${regressions[@]}" -- "${FLAGS[@]}" -runs=1 >"$log" 2>&1 \
      || { tail -n 40 "$log" >&2; fail "$target on its regression inputs (log above)"; }
  fi
  # The first corpus directory receives new inputs: a scratch one unless growing.
  corpora=("fuzz/corpus/$target")
  [ "$grow" -eq 1 ] || { mkdir -p "$work/new/$target"; corpora=("$work/new/$target" "${corpora[@]}"); }
  case "$mode" in
    seconds) limit=(-max_total_time="$amount") ;;
    runs) limit=(-runs="$amount") ;;
  esac
  echo "== $target: ${mode} ${amount}"
  start=$SECONDS
  set +e
  # Half of a tokio worker thread's 2 MiB stack: decoding that recurses deeply enough to
  # threaten a server thread overflows here first, and counts as a crash.
  (ulimit -s 1024 && exec nice -n 10 cargo +nightly fuzz run "$target" "${corpora[@]}" -- "${FLAGS[@]}" "${limit[@]}") \
    >"$log" 2>&1
  status=$?
  set -e
  elapsed=$((SECONDS - start))
  if [ "$status" -ne 0 ]; then
    grep -E -m 5 'panicked|ERROR: libFuzzer|held .* heap|SUMMARY' "$log" >&2 || true
    tail -n 25 "$log" >&2
    artifact=$(grep -Eo 'fuzz/artifacts/[^ ]+' "$log" | tail -n 1)
    fail "$target crashed (exit $status). Input: ${artifact:-see log above}. Reproduce: cargo +nightly fuzz run $target ${artifact:-ARTIFACT}"
  fi
  runs=$(stat number_of_executed_units) rate=$(stat average_exec_per_sec) rss=$(stat peak_rss_mb)
  files=$(find "${corpora[@]}" -type f | wc -l)
  corpus=$(find "${corpora[@]}" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
  summary+=("$(printf '%-22s %12s %6ss %8s/s %6s MB  %5s inputs (%s bytes)' \
    "$target" "${runs:-?}" "$elapsed" "${rate:-?}" "${rss:-?}" "$files" "$corpus")")
done

echo "== fuzz summary: target, executions, time, exec/s, peak RSS, corpus"
printf '%s\n' "${summary[@]}"
echo "fuzz: no crash in ${#selected[@]} targets"
