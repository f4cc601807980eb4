#!/usr/bin/env bash
# Run the whole test suite: formatting, the deployment kit's checks, then every crate's unit
# tests and the end-to-end tests (real server processes, real sockets, real RocksDB; some
# mount a small tmpfs, so run as root), then a short fuzzing pass.
# Fails loudly if any test fails, if no test ran at all, or if a fuzz target crashes.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

# The deployment kit: alert rules and their unit tests (promtool), the dashboard, the unit.
echo "== deploy kit"
./scripts/check_deploy.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "== cargo test --release --workspace"
set +e
cargo test --release --workspace --all-targets 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

passed=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{s += $4} END {print s + 0}')
failed=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s += $1} END {print s + 0}')
if [ "$status" -ne 0 ]; then
  echo "tests: ${passed} passed, ${failed} failed"
  echo "FAILED: cargo test exited with $status" >&2
  exit "$status"
fi
if [ "$passed" -eq 0 ]; then
  echo "FAILED: no test ran" >&2
  exit 1
fi
# The front end's tests drive real Chromium: every one of them must have run and passed
# (none skipped or filtered out), or the widget and console went untested.
browser_expected=$(grep -c '#\[tokio::test' tests/browser.rs)
browser_passed=$(grep -Ec '^test browser::[a-z_]+ \.\.\. ok$' "$log" || true)
if [ "$browser_passed" -ne "$browser_expected" ]; then
  echo "FAILED: ${browser_passed} of ${browser_expected} browser tests passed" >&2
  exit 1
fi
echo "browser tests: ${browser_passed} of ${browser_expected} passed"

# A short coverage-guided pass over every frame decoder (about 1.5 minutes warm; the build
# is kept in $FUZZ_TARGET_DIR). The full run and its results: docs/FUZZING.md.
echo "== fuzz"
./scripts/fuzz.sh --seconds 15

# The closing line CI reads: the cargo test totals (the fuzz pass above would have failed
# the run on any crash).
echo "tests: ${passed} passed, ${failed} failed"
