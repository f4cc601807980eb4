#!/usr/bin/env python3
"""Summarise an Autobahn fuzzingclient report (index.json plus one JSON file per case).

Prints a table by case group (OK / NON-STRICT / INFORMATIONAL / UNIMPLEMENTED / LIMIT /
FAILED counts), then every case that is not OK with its close code and the runner's own
explanation. Exits 1 when a case failed, 0 otherwise.

A case FAILS when its behaviour is FAILED, or its closing behaviour is FAILED or UNCLEAN
(the verdicts Autobahn's report paints red). NON-STRICT, INFORMATIONAL and UNIMPLEMENTED are
reported, not failures, and so are the close verdicts WRONG CODE and FAILED BY CLIENT.

LIMIT: a case in LIMIT_CASES or LIMIT_GROUPS (each sends a message larger than the
server's 16 KiB `frame_bytes_max`) whose only fault is that the server refused that message with close
code 1009, as configured. Anything else in those cases is still a failure; with a raised
limit (`--frame-bytes-max`) they are expected to pass like any other case.

Usage: autobahn_report.py REPORT_DIR [AGENT]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

GROUPS = {
    "1": "Framing",
    "2": "Pings/Pongs",
    "3": "Reserved bits",
    "4": "Opcodes",
    "5": "Fragmentation",
    "6": "UTF-8 handling",
    "7": "Close handling",
    "9": "Limits/performance",
    "10": "Miscellaneous",
    "12": "permessage-deflate",
    "13": "permessage-deflate",
}

# Cases whose message exceeds the default 16 KiB limit (sizes from the case files).
LIMIT_CASES = {
    "1.1.6": "65,535-byte text message",
    "1.1.7": "65,536-byte text message",
    "1.1.8": "65,536-byte text message in 997-byte frames",
    "1.2.6": "65,535-byte binary message",
    "1.2.7": "65,536-byte binary message",
    "1.2.8": "65,536-byte binary message in 997-byte frames",
    "10.1.1": "65,536-byte text message, auto-fragmented",
}
# The performance cases 9.1-9.6 (run only with --all) all send 64 KiB to 16 MiB messages.
LIMIT_GROUPS = {
    "9.1": "64 KiB to 16 MiB text messages",
    "9.2": "64 KiB to 16 MiB binary messages",
    "9.3": "4 MiB text message in 64 B to 4 MiB frames",
    "9.4": "4 MiB binary message in 64 B to 4 MiB frames",
    "9.5": "1 MiB text message in 64 B to 2 KiB chops",
    "9.6": "1 MiB binary message in 64 B to 2 KiB chops",
}
CLOSE_TOO_BIG = 1009

COLUMNS = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "LIMIT", "FAILED"]


def sort_key(case_id: str) -> list[int]:
    return [int(part) for part in case_id.split(".")]


def too_big(case_id: str) -> str | None:
    """Why the case's message exceeds the default limit, if it does."""
    return LIMIT_CASES.get(case_id) or LIMIT_GROUPS.get(".".join(case_id.split(".")[:2]))


def verdict(case_id: str, entry: dict) -> str:
    """One of COLUMNS for a case's index entry."""
    behavior, close = entry["behavior"], entry["behaviorClose"]
    failed = behavior == "FAILED" or close in ("FAILED", "UNCLEAN")
    if failed:
        if too_big(case_id) and entry.get("remoteCloseCode") == CLOSE_TOO_BIG:
            return "LIMIT"
        return "FAILED"
    return behavior if behavior in COLUMNS else "FAILED"


def runs(outdir: Path, not_ok: list) -> list[tuple[str, str, int, str]]:
    """Consecutive not-OK cases that read the same, collapsed: (first, last, count, line)."""
    out: list[tuple[str, str, int, str]] = []
    for case_id, v, entry in not_ok:
        detail = json.loads((outdir / entry["reportfile"]).read_text())
        why = too_big(case_id) if v == "LIMIT" else None
        line = (
            f"{v}; {entry['behavior']} / {entry['behaviorClose']}; close {entry.get('remoteCloseCode')}; "
            f"{detail.get('result', '')} / {detail.get('resultClose', '')}" + (f" [{why}]" if why else "")
        )
        if out and out[-1][3] == line:
            first, _, count, _ = out[-1]
            out[-1] = (first, case_id, count + 1, line)
        else:
            out.append((case_id, case_id, 1, line))
    return out


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    outdir = Path(sys.argv[1])
    index = json.loads((outdir / "index.json").read_text())
    agent = sys.argv[2] if len(sys.argv) > 2 else next(iter(index))
    cases = index[agent]

    table: dict[str, dict[str, int]] = {}
    not_ok = []
    for case_id in sorted(cases, key=sort_key):
        entry = cases[case_id]
        v = verdict(case_id, entry)
        group = case_id.split(".")[0]
        row = table.setdefault(group, {c: 0 for c in COLUMNS})
        row[v] += 1
        if v != "OK" or entry["behaviorClose"] != "OK":
            not_ok.append((case_id, v, entry))

    print(f"Autobahn fuzzingclient results for agent {agent!r} ({len(cases)} cases)\n")
    header = f"| {'group':<24} | {'cases':>5} | " + " | ".join(f"{c:>13}" for c in COLUMNS) + " |"
    print(header)
    print("|" + "|".join("-" * len(cell) for cell in header.split("|")[1:-1]) + "|")
    totals = {c: 0 for c in COLUMNS}
    for group in sorted(table, key=int):
        row = table[group]
        name = f"{group} {GROUPS.get(group, '')}"
        print(f"| {name:<24} | {sum(row.values()):>5} | " + " | ".join(f"{row[c]:>13}" for c in COLUMNS) + " |")
        for c in COLUMNS:
            totals[c] += row[c]
    print(f"| {'total':<24} | {sum(totals.values()):>5} | " + " | ".join(f"{totals[c]:>13}" for c in COLUMNS) + " |")

    if not_ok:
        print("\nCases not OK (verdict; behaviour / close behaviour; server close code; runner's words):")
    for first, last, count, line in runs(outdir, not_ok):
        name = first if count == 1 else f"{first} to {last} ({count} cases)"
        print(f"- {name}: {line}")

    failed = totals["FAILED"]
    others = ", ".join(f"{totals[c]} {c}" for c in COLUMNS[1:-1] if totals[c])
    print(f"\nautobahn: {totals['OK']} OK" + (f", {others}" if others else "") + f", {failed} FAILED")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
