#!/usr/bin/env python3
"""The deployment kit's static checks, one per subcommand, for scripts/check_deploy.sh.

Each subcommand prints nothing and exits 0 when the check passes, or prints what is wrong
(one line per problem) and exits 1. It reads files only; it never builds or runs the
server. Needs python3 (3.11+ for tomllib) and PyYAML.

    check_deploy.py alerts-tested        every alert has a promtool test that fires it and one that does not
    check_deploy.py runbooks             every alert's runbook_url names a section of docs/OPERATIONS.md
    check_deploy.py dashboard            deploy/grafana/switchboard.json is valid and well-formed
    check_deploy.py dashboard-generated  ... and is exactly what build_dashboard.py writes
    check_deploy.py dashboard-rules OUT  write the dashboard's queries as recording rules (for promtool)
    check_deploy.py metric-names         every metric in the dashboard and alert expressions is in deploy/metrics.txt
    check_deploy.py metrics-documented   docs/OPERATIONS.md's metric table lists exactly deploy/metrics.txt
    check_deploy.py settings [RS]        deploy/switchboard.toml parses and names every FileSettings field of
                                         src/settings.rs (or RS), no more
"""

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALERTS = ROOT / "deploy/prometheus/alerts.yml"
ALERTS_TEST = ROOT / "deploy/prometheus/alerts_test.yml"
DASHBOARD = ROOT / "deploy/grafana/switchboard.json"
DASHBOARD_BUILDER = ROOT / "deploy/grafana/build_dashboard.py"
METRICS = ROOT / "deploy/metrics.txt"
OPERATIONS = ROOT / "docs/OPERATIONS.md"
SETTINGS_TOML = ROOT / "deploy/switchboard.toml"
SETTINGS_RS = ROOT / "src/settings.rs"

# Series Prometheus adds itself; allowed in expressions without being exported.
SYNTHETIC = {"up"}
# PromQL words that look like identifiers but are not metric names.
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
            "bool", "offset", "inf", "nan"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def load_yaml(path):
    try:
        import yaml
    except ImportError:
        sys.exit("python3 has no PyYAML: pip install pyyaml (or apt-get install python3-yaml)")
    with open(path) as f:
        return yaml.safe_load(f)


def alert_rules():
    doc = load_yaml(ALERTS)
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]


def dashboard():
    with open(DASHBOARD) as f:
        return json.load(f)


def all_panels(panels):
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


def dashboard_queries(dash):
    """(where, expr) for every Prometheus query: panel targets and templating queries."""
    for panel in all_panels(dash.get("panels", [])):
        for t in panel.get("targets", []):
            if "expr" in t:
                yield f"panel {panel.get('id')} {panel.get('title')!r} target {t.get('refId')}", t["expr"]
    for var in dash.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            query = var.get("query")
            text = query.get("query", "") if isinstance(query, dict) else (query or "")
            m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\)\s*", text)
            yield f"variable {var.get('name')}", (m.group(1) if m else text)


def metric_names(expr):
    """The metric names an expression selects (label values, ranges and grouping removed)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w:$.])([A-Za-z_:][\w:]*)", e):
        if re.match(r"\s*\(", e[m.end():]) or m.group(1).lower() in KEYWORDS:
            continue  # a function or aggregation, or an operator word
        names.add(m.group(1))
    return names


def exported_metrics():
    names = [line.strip() for line in METRICS.read_text().splitlines()]
    return [n for n in names if n]


def base_name(name, known):
    if name in known:
        return name
    for suffix in HISTOGRAM_SUFFIXES:
        base = name[: -len(suffix)]
        if name.endswith(suffix) and base in known and not base.endswith("_total"):
            return base
    return None


def heading_anchors(markdown):
    """GitHub's anchors for every heading: lower case, punctuation dropped, spaces to '-'."""
    anchors = set()
    for line in markdown.splitlines():
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            anchor = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            anchors.add(anchor)
    return anchors


# ---- checks -------------------------------------------------------------------------------


def check_alerts_tested():
    tests = load_yaml(ALERTS_TEST).get("tests", [])
    firing, quiet = set(), set()
    for test in tests:
        for case in test.get("alert_rule_test", []):
            (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    problems = []
    for rule in alert_rules():
        name = rule["alert"]
        if name not in firing:
            problems.append(f"{name}: no promtool test expects it to fire")
        if name not in quiet:
            problems.append(f"{name}: no promtool test expects it to stay quiet")
    return problems


def check_runbooks():
    anchors = heading_anchors(OPERATIONS.read_text()) if OPERATIONS.exists() else set()
    problems = [] if OPERATIONS.exists() else [f"{OPERATIONS.relative_to(ROOT)} is missing"]
    for rule in alert_rules():
        name = rule["alert"]
        annotations = rule.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            if not annotations.get(key):
                problems.append(f"{name}: no {key} annotation")
        url = annotations.get("runbook_url", "")
        expected = f"docs/OPERATIONS.md#{name.lower()}"
        if url != expected:
            problems.append(f"{name}: runbook_url is {url!r}, expected {expected!r}")
        elif name.lower() not in anchors:
            problems.append(f"{name}: docs/OPERATIONS.md has no heading '{name}' (anchor #{name.lower()})")
    return problems


def check_dashboard():
    try:
        dash = dashboard()
    except (OSError, json.JSONDecodeError) as e:
        return [f"{DASHBOARD.relative_to(ROOT)}: {e}"]
    problems = []
    if not 36 <= dash.get("schemaVersion", 0) <= 41:
        problems.append(f"schemaVersion is {dash.get('schemaVersion')}, expected about 39")
    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    if variables.get("DS_PROMETHEUS", {}).get("type") != "datasource":
        problems.append("no datasource variable DS_PROMETHEUS")
    if variables.get("instance", {}).get("type") != "query":
        problems.append("no query variable instance")
    ids = [p.get("id") for p in all_panels(dash.get("panels", []))]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        problems.append(f"duplicate panel ids {duplicates}")
    rows = [p["title"] for p in dash.get("panels", []) if p.get("type") == "row"]
    for row in ("Traffic", "Latency", "Errors", "Storage", "Process"):
        if row not in rows:
            problems.append(f"no row {row!r}")
    for panel in all_panels(dash.get("panels", [])):
        if panel.get("type") == "row":
            continue
        where = f"panel {panel.get('id')} {panel.get('title')!r}"
        sources = [panel.get("datasource")] + [t.get("datasource") for t in panel.get("targets", [])]
        if any((s or {}).get("uid") != "${DS_PROMETHEUS}" for s in sources):
            problems.append(f"{where}: data source is not ${{DS_PROMETHEUS}}")
        if not panel.get("targets"):
            problems.append(f"{where}: no query")
        for t in panel.get("targets", []):
            if 'instance=~"$instance"' not in t.get("expr", ""):
                problems.append(f"{where}: query {t.get('refId')} ignores the instance variable")
    return problems


def check_dashboard_generated():
    built = subprocess.run([sys.executable, str(DASHBOARD_BUILDER)], capture_output=True, text=True)
    if built.returncode != 0:
        return [f"build_dashboard.py failed: {built.stderr.strip()}"]
    if built.stdout != DASHBOARD.read_text():
        return ["switchboard.json differs from build_dashboard.py's output: edit the builder, then run "
                "python3 deploy/grafana/build_dashboard.py > deploy/grafana/switchboard.json"]
    return []


def write_dashboard_rules(out):
    """The dashboard's queries as recording rules, so promtool can parse them as PromQL."""
    import yaml

    rules = []
    for i, (where, expr) in enumerate(dashboard_queries(dashboard())):
        expr = expr.replace("$__rate_interval", "5m").replace("$__interval", "1m").replace("$__range", "1h")
        expr = expr.replace('"$instance"', '".*"')
        rules.append({"record": f"dashboard:query_{i}", "expr": expr})
    with open(out, "w") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f, sort_keys=False)
    return []


def check_metric_names():
    known = set(exported_metrics())
    uses = [(f"alert {r['alert']}", r["expr"]) for r in alert_rules()]
    uses += list(dashboard_queries(dashboard()))
    problems = []
    for where, expr in uses:
        for name in sorted(metric_names(expr)):
            if name not in SYNTHETIC and base_name(name, known) is None:
                problems.append(f"{where}: {name} is not in deploy/metrics.txt")
    return problems


def check_metrics_documented():
    if not OPERATIONS.exists():
        return [f"{OPERATIONS.relative_to(ROOT)} is missing"]
    documented = re.findall(r"^\|\s*`([a-z_:][a-z0-9_:]*)(?:\{[^`]*\})?`\s*\|\s*(counter|gauge|histogram)\s*\|",
                            OPERATIONS.read_text(), re.M)
    names = {n for n, _ in documented}
    exported = set(exported_metrics())
    problems = [f"{n}: in deploy/metrics.txt, not in docs/OPERATIONS.md's metric table" for n in sorted(exported - names)]
    problems += [f"{n}: in docs/OPERATIONS.md's metric table, not in deploy/metrics.txt" for n in sorted(names - exported)]
    return problems


def check_settings(settings_rs=SETTINGS_RS):
    import tomllib

    try:
        with open(SETTINGS_TOML, "rb") as f:
            active = set(tomllib.load(f))
    except (OSError, tomllib.TOMLDecodeError) as e:
        return [f"{SETTINGS_TOML.relative_to(ROOT)}: {e}"]
    commented = set(re.findall(r"^#\s?([a-z_]+) = ", SETTINGS_TOML.read_text(), re.M))
    m = re.search(r"struct FileSettings \{(.*?)\n\}", Path(settings_rs).read_text(), re.S)
    if not m:
        return [f"no `struct FileSettings` in {settings_rs}"]
    fields = set(re.findall(r"^\s*(?:pub\s+)?([a-z_]+):", m.group(1), re.M))
    problems = [f"{k}: set in switchboard.toml but not a FileSettings field (the server would refuse the file)"
                for k in sorted(active - fields)]
    problems += [f"{k}: FileSettings field missing from switchboard.toml" for k in sorted(fields - active - commented)]
    problems += [f"{k}: commented out in switchboard.toml but not a FileSettings field"
                 for k in sorted(commented - fields - active)]
    return problems


CHECKS = {
    "alerts-tested": check_alerts_tested,
    "runbooks": check_runbooks,
    "dashboard": check_dashboard,
    "dashboard-generated": check_dashboard_generated,
    "dashboard-rules": write_dashboard_rules,
    "metric-names": check_metric_names,
    "metrics-documented": check_metrics_documented,
    "settings": check_settings,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in CHECKS:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(CHECKS)}}} [ARG]")
    problems = CHECKS[sys.argv[1]](*sys.argv[2:])
    for problem in problems:
        print(problem)
    sys.exit(1 if problems else 0)
