#!/usr/bin/env python3
"""Write the Switchboard Grafana dashboard (switchboard.json) to stdout.

The dashboard is generated so that its panels stay uniform (same data source, instance
filter, legend, units) and so that scripts/check_deploy.sh can tell when the JSON was
edited without this file: regenerate with

    python3 deploy/grafana/build_dashboard.py > deploy/grafana/switchboard.json

It needs only the standard library. The data source is the templating variable
DS_PROMETHEUS (pick it at the top of the dashboard), which works both when the JSON is
imported in the UI and when it is provisioned from a file; `instance` filters every query.
"""

import json
import sys

DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
SEL = 'instance=~"$instance"'
RATE = "$__rate_interval"
WIDTH = 8
HEIGHT = 8


class Layout:
    """Places panels left to right, three to a line, and rows across the full width."""

    def __init__(self):
        self.panels = []
        self.next_id = 1
        self.x = 0
        self.y = 0

    def _id(self):
        self.next_id += 1
        return self.next_id - 1

    def row(self, title):
        if self.x:
            self.x, self.y = 0, self.y + HEIGHT
        self.panels.append(
            {
                "type": "row",
                "id": self._id(),
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
                "panels": [],
            }
        )
        self.y += 1

    def add(self, panel, width=WIDTH):
        if self.x + width > 24:
            self.x, self.y = 0, self.y + HEIGHT
        panel["id"] = self._id()
        panel["gridPos"] = {"h": HEIGHT, "w": width, "x": self.x, "y": self.y}
        self.panels.append(panel)
        self.x += width


def target(expr, legend, ref, instant=False, fmt="time_series"):
    t = {"refId": ref, "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
    if instant:
        t.update({"instant": True, "range": False, "format": fmt})
    else:
        t["range"] = True
    return t


def timeseries(title, description, queries, unit="short", minimum=0, stack=False, thresholds=None):
    """queries: (expr, legend) pairs."""
    custom = {
        "drawStyle": "line",
        "lineWidth": 1,
        "fillOpacity": 10,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        "thresholdsStyle": {"mode": "line" if thresholds else "off"},
    }
    steps = [{"color": "green", "value": None}]
    if thresholds:
        steps += [{"color": "red", "value": thresholds}]
    defaults = {"unit": unit, "custom": custom, "thresholds": {"mode": "absolute", "steps": steps}}
    if minimum is not None:
        defaults["min"] = minimum
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": [target(e, l, chr(ord("A") + i)) for i, (e, l) in enumerate(queries)],
    }


def quantiles(metric, qs, by="instance", window=RATE, legend_by="{{instance}}"):
    return [
        (
            f"histogram_quantile({q}, sum by ({by}, le) (rate({metric}_bucket{{{SEL}}}[{window}])))",
            f"p{int(q * 100)} {legend_by}",
        )
        for q in qs
    ]


def rate(metric, by="instance", extra=""):
    matchers = SEL + (", " + extra if extra else "")
    return f"sum by ({by}) (rate({metric}{{{matchers}}}[{RATE}]))"


def gauge(metric, by="instance"):
    return f"sum by ({by}) ({metric}{{{SEL}}})"


def build():
    d = Layout()

    d.row("Traffic")
    d.add(timeseries(
        "Messages per second",
        "Chat messages made durable (switchboard_messages_total).",
        [(rate("switchboard_messages_total"), "{{instance}}")],
        unit="suffix: msg/s"))
    d.add(timeseries(
        "Sessions started and closed per second",
        "Chats started by visitors and closed by agents.",
        [(rate("switchboard_sessions_started_total"), "started {{instance}}"),
         (rate("switchboard_sessions_closed_total"), "closed {{instance}}")],
        unit="suffix: /s"))
    d.add(timeseries(
        "Open connections by transport",
        "Open client connections (ws: WebSocket over TCP, quic). Each transport is limited to connections_max.",
        [(gauge("switchboard_connections", "instance, transport"), "{{transport}} {{instance}}")]))
    d.add(timeseries(
        "Connections opened and closed per second",
        "Connections accepted and ended, by transport.",
        [(rate("switchboard_connections_opened_total", "instance, transport"), "opened {{transport}} {{instance}}"),
         (rate("switchboard_connections_closed_total", "instance, transport"), "closed {{transport}} {{instance}}")],
        unit="suffix: /s"))
    d.add(timeseries(
        "Agents online",
        "Authenticated agent connections.",
        [(gauge("switchboard_agents_online"), "{{instance}}")]))
    d.add(timeseries(
        "Queue length and sessions by state",
        "Chats waiting for an agent (the queue), and listed sessions by state.",
        [(gauge("switchboard_queue_length"), "queue {{instance}}"),
         (gauge("switchboard_sessions", "instance, state"), "{{state}} {{instance}}")]))
    d.add(timeseries(
        "Visitor wait time (p50, p90)",
        "How long accepted chats waited from start to accept, over the last 10 minutes "
        "(only accepted chats are counted: see the queue length for the rest).",
        quantiles("switchboard_wait_time_seconds", (0.5, 0.9), window="10m"),
        unit="s"))
    d.add(timeseries(
        "Session actors started per second",
        "Session actors loaded from storage (lazily, on first use after start-up or after being idle).",
        [(rate("switchboard_session_actors_started_total"), "{{instance}}")],
        unit="suffix: /s"))
    d.add(timeseries(
        "Administrative actions per second",
        "Admin API and command actions, by action (each is also in the audit log).",
        [(rate("switchboard_admin_actions_total", "instance, action"), "{{action}} {{instance}}")],
        unit="suffix: /s"))

    d.row("Latency")
    d.add(timeseries(
        "Durable write latency (p50, p99)",
        "Submit-to-durable latency of storage writes (group commit and fsync). Every acknowledgement waits for it.",
        quantiles("switchboard_append_latency_seconds", (0.5, 0.99)),
        unit="s", thresholds=0.1))
    d.add(timeseries(
        "Delivery latency (p50, p99)",
        "From the session accepting a message to its frame being handed to a subscriber's socket.",
        quantiles("switchboard_delivery_latency_seconds", (0.5, 0.99)),
        unit="s", thresholds=0.5))
    d.add(timeseries(
        "Group commit batch size",
        "Writes sharing one fsync: p50, p99 and the mean.",
        quantiles("switchboard_group_commit_batch_size", (0.5, 0.99))
        + [(f"sum by (instance) (rate(switchboard_group_commit_batch_size_sum{{{SEL}}}[{RATE}]))"
            f" / sum by (instance) (rate(switchboard_group_commit_batch_size_count{{{SEL}}}[{RATE}]))",
            "mean {{instance}}")]))
    d.add(timeseries(
        "HTTP request duration by route (p50, p99)",
        "Duration of HTTP requests by route (/ws counts the upgrade only, not the WebSocket session).",
        quantiles("switchboard_http_request_duration_seconds", (0.5, 0.99), by="route", legend_by="{{route}}"),
        unit="s"), width=24)

    d.row("Errors")
    d.add(timeseries(
        "Error answers by code",
        "Error frames and HTTP errors by protocol error code (docs/PROTOCOL.md §8.1); codes with none are hidden.",
        [(rate("switchboard_errors_total", "code") + " > 0", "{{code}}")],
        unit="suffix: /s"))
    d.add(timeseries(
        "HTTP requests by route and status",
        "HTTP requests per second by route and status code.",
        [(rate("switchboard_http_requests_total", "route, status"), "{{route}} {{status}}")],
        unit="reqps"))
    d.add(timeseries(
        "Authentication failures per second",
        "Rejected agent and session tokens (the alert fires above 5/s for 5 minutes).",
        [(rate("switchboard_auth_failures_total"), "{{instance}}")],
        unit="suffix: /s", thresholds=5))
    d.add(timeseries(
        "Send queue overflows per second",
        "Connections closed (4008) because their send queue overflowed: the client read too slowly. They resume.",
        [(rate("switchboard_send_queue_overflows_total"), "{{instance}}")],
        unit="suffix: /s"))
    d.add(timeseries(
        "Session actor restarts and quarantines",
        "Actor crashes answered by a rebuild from storage, and sessions quarantined after too many (per second).",
        [(rate("switchboard_actor_restarts_total"), "restarts {{instance}}"),
         (rate("switchboard_actor_quarantines_total"), "quarantines {{instance}}")],
        unit="suffix: /s"))
    d.add(timeseries(
        "Refused connections and subscribers",
        "Connections refused at connections_max, and attaches refused at the per-session subscriber limit (per second).",
        [(rate("switchboard_connections_refused_total"), "connections {{instance}}"),
         (rate("switchboard_subscribers_refused_total"), "subscribers {{instance}}")],
        unit="suffix: /s"))

    d.row("Storage")
    d.add(timeseries(
        "Database size",
        "RocksDB estimated live data, SST files and write-ahead log on disk.",
        [(gauge("switchboard_rocksdb_live_data_bytes"), "live data {{instance}}"),
         (gauge("switchboard_rocksdb_sst_bytes"), "SST files {{instance}}"),
         (gauge("switchboard_rocksdb_wal_bytes"), "WAL {{instance}}")],
        unit="bytes"))
    d.add(timeseries(
        "Memtables",
        "Memory held by RocksDB memtables (all column families).",
        [(gauge("switchboard_rocksdb_memtable_bytes"), "{{instance}}")],
        unit="bytes"))
    d.add(timeseries(
        "Pending compaction",
        "Bytes RocksDB estimates it must compact. It slows writes from 64 GiB and stops them at 256 GiB (defaults).",
        [(gauge("switchboard_rocksdb_pending_compaction_bytes"), "{{instance}}")],
        unit="bytes", thresholds=64 * 1024**3))
    d.add(timeseries(
        "Writes stopped and background errors",
        "1 while RocksDB stops all writes; background errors (failed flushes or compactions) since start.",
        [(gauge("switchboard_rocksdb_write_stopped"), "write stopped {{instance}}"),
         (gauge("switchboard_rocksdb_background_errors"), "background errors {{instance}}")]))
    d.add(timeseries(
        "Delayed write rate",
        "The rate RocksDB limits writes to while it delays them (0 when not delaying).",
        [(gauge("switchboard_rocksdb_delayed_write_rate_bytes_per_second"), "{{instance}}")],
        unit="Bps"))
    d.add(timeseries(
        "Time stalled",
        "Share of time writes spent stalled by RocksDB (seconds stalled per second).",
        [(rate("switchboard_rocksdb_stall_microseconds_total") + " / 1e6", "{{instance}}")],
        unit="percentunit"))
    d.add(timeseries(
        "Running compactions",
        "Compactions running now.",
        [(gauge("switchboard_rocksdb_running_compactions"), "{{instance}}")]), width=12)
    d.add(timeseries(
        "Storage write errors per second",
        "Storage writes that failed (their requests were answered storage_error).",
        [(rate("switchboard_storage_write_errors_total"), "{{instance}}")],
        unit="suffix: /s"), width=12)

    d.row("Process")
    d.add(timeseries(
        "Memory",
        "Resident and virtual memory of the server process.",
        [(gauge("process_resident_memory_bytes"), "resident {{instance}}"),
         (gauge("process_virtual_memory_bytes"), "virtual {{instance}}")],
        unit="bytes"))
    d.add(timeseries(
        "Open file descriptors",
        "Open file descriptors against the limit (one per TCP connection, plus RocksDB's files).",
        [(gauge("process_open_fds"), "open {{instance}}"),
         (gauge("process_max_fds"), "max {{instance}}")]))
    d.add(timeseries(
        "CPU",
        "CPU time used per second (100 % is one core).",
        [(rate("process_cpu_seconds_total"), "{{instance}}")],
        unit="percentunit"))
    d.add(timeseries(
        "Threads",
        "Operating-system threads of the server (shards, the storage writer, RocksDB and tokio pools).",
        [(gauge("process_threads"), "{{instance}}")]))
    d.add(timeseries(
        "Ready and draining",
        "1 while /readyz answers 200 (storage takes writes, not draining); draining is 1 from SIGTERM to exit.",
        [(gauge("switchboard_ready"), "ready {{instance}}"),
         (gauge("switchboard_draining"), "draining {{instance}}")]))
    d.add(uptime())
    d.add(build_info(), width=24)

    return {
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "description": "Switchboard live chat server: traffic, latency, errors, storage, process. "
        "Metrics: docs/OPERATIONS.md.",
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [],
        "panels": d.panels,
        "refresh": "30s",
        "schemaVersion": 39,
        "tags": ["switchboard"],
        "templating": {"list": [datasource_variable(), instance_variable()]},
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": "Switchboard",
        "uid": "switchboard",
        "version": 1,
    }


def build_info():
    return {
        "type": "table",
        "title": "Build",
        "description": "Version and commit each instance runs (switchboard_build_info).",
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": {}, "overrides": []},
        "options": {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}},
        "targets": [target(f"switchboard_build_info{{{SEL}}}", "", "A", instant=True, fmt="table")],
        "transformations": [
            {
                "id": "organize",
                "options": {
                    "excludeByName": {"Time": True, "Value": True, "__name__": True, "job": True},
                    "indexByName": {"instance": 0, "version": 1, "commit": 2},
                    "renameByName": {},
                },
            }
        ],
    }


def uptime():
    return {
        "type": "stat",
        "title": "Uptime",
        "description": "Time since each instance's process started.",
        "datasource": DATASOURCE,
        "fieldConfig": {
            "defaults": {
                "unit": "s",
                "thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}]},
            },
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "none",
            "graphMode": "none",
            "textMode": "auto",
            "justifyMode": "auto",
            "orientation": "auto",
        },
        "targets": [target(f"time() - process_start_time_seconds{{{SEL}}}", "{{instance}}", "A", instant=True)],
    }


def datasource_variable():
    return {
        "name": "DS_PROMETHEUS",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "includeAll": False,
        "multi": False,
        "options": [],
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
    }


def instance_variable():
    query = "label_values(switchboard_build_info, instance)"
    return {
        "name": "instance",
        "label": "Instance",
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 1},
        "current": {},
        "hide": 0,
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "options": [],
        "refresh": 2,
        "regex": "",
        "skipUrlSync": False,
        "sort": 1,
    }


if __name__ == "__main__":
    json.dump(build(), sys.stdout, indent=2)
    sys.stdout.write("\n")
