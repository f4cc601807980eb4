#!/usr/bin/env bash
# Check the deployment kit in deploy/ without building anything: the Prometheus alert rules
# and their unit tests (promtool), the Grafana dashboard (valid JSON, generated, its queries
# parse as PromQL), that every metric name the dashboard and the alerts use is one the
# server exports (deploy/metrics.txt), that the docs cover every alert and metric, that the
# example settings file names every setting, and the systemd unit (systemd-analyze verify,
# when installed). Prints one line per check, runs them all, and exits 1 if any failed.
#
# Needs promtool (Debian's `prometheus` package; scripts/setup.sh installs it), python3 with
# PyYAML, and optionally systemd-analyze. The Containerfile is not checked: no container
# engine runs here.
set -euo pipefail
cd "$(dirname "$0")/.."

failed=0
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# check DESCRIPTION COMMAND...: run COMMAND; on success print "ok", on failure print
# "FAILED" and the command's output, indented.
check() {
  local what=$1
  shift
  if "$@" >"$scratch/out" 2>&1; then
    echo "ok: $what"
  else
    echo "FAILED: $what" >&2
    sed 's/^/    /' "$scratch/out" >&2
    failed=$((failed + 1))
  fi
}

# systemd-analyze verify exits 0 on unknown keys and bad values (it only warns), so any
# output is a failure. It also wants ExecStart's binary to exist: verify in a scratch root
# holding a copy of the system's units and a stub /usr/local/bin/switchboard.
verify_unit() {
  local root=$scratch/root
  mkdir -p "$root/usr/local/bin" "$root/etc/systemd/system" "$root/usr/lib/systemd"
  cp -r /usr/lib/systemd/system "$root/usr/lib/systemd/"
  printf '#!/bin/sh\n' >"$root/usr/local/bin/switchboard"
  chmod 0755 "$root/usr/local/bin/switchboard"
  cp deploy/switchboard.service "$root/etc/systemd/system/"
  local out
  out=$(systemd-analyze verify --root="$root" --man=no switchboard.service 2>&1) || {
    echo "$out"
    return 1
  }
  [ -z "$out" ] || {
    echo "$out"
    return 1
  }
}

py=(python3 scripts/check_deploy.py)

if command -v promtool >/dev/null 2>&1; then
  check "promtool check rules deploy/prometheus/alerts.yml" promtool check rules deploy/prometheus/alerts.yml
  check "promtool test rules deploy/prometheus/alerts_test.yml" promtool test rules deploy/prometheus/alerts_test.yml
else
  echo "FAILED: promtool is missing (apt-get install prometheus, or run scripts/setup.sh)" >&2
  failed=$((failed + 1))
fi
check "every alert has a test that fires it and one that does not" "${py[@]}" alerts-tested
check "every alert has summary, description and a runbook section in docs/OPERATIONS.md" "${py[@]}" runbooks
check "deploy/grafana/switchboard.json is valid JSON with the expected variables, rows and data source" "${py[@]}" dashboard
check "deploy/grafana/switchboard.json is what deploy/grafana/build_dashboard.py generates" "${py[@]}" dashboard-generated
if command -v promtool >/dev/null 2>&1; then
  check "the dashboard's queries parse as PromQL" \
    bash -c "${py[*]} dashboard-rules '$scratch/dashboard-rules.yml' && promtool check rules '$scratch/dashboard-rules.yml'"
fi
check "every metric in the dashboard and alert expressions is in deploy/metrics.txt" "${py[@]}" metric-names
check "docs/OPERATIONS.md's metric table lists exactly deploy/metrics.txt" "${py[@]}" metrics-documented
check "deploy/switchboard.toml names every FileSettings field of src/settings.rs, and no other" "${py[@]}" settings
if command -v systemd-analyze >/dev/null 2>&1; then
  check "systemd-analyze verify deploy/switchboard.service" verify_unit
else
  echo "skipped: systemd-analyze verify deploy/switchboard.service (systemd-analyze is not installed)"
fi

if [ "$failed" -ne 0 ]; then
  echo "FAILED: $failed deployment check(s) failed" >&2
  exit 1
fi
echo "deploy checks: all passed"
