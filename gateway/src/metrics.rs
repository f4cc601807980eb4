//! The Prometheus recorder. Metrics are recorded through the `metrics` facade everywhere;
//! this module installs the exporter (without its HTTP server and TLS stack: see
//! NOTES.md), renders the text format for `GET /metrics`, and runs the exporter's upkeep.
//!
//! Every counter and gauge is created at zero when the recorder is installed, so a fresh
//! server exports every series (dashboards and `rate()` need them to exist). What is read
//! rather than counted is refreshed at each scrape: process figures (`metrics-process`:
//! resident memory, open and maximum file descriptors, CPU, threads) and RocksDB's own
//! properties (`Engine::storage_stats`). `deploy/metrics.txt` lists every name; a test
//! checks a fresh server exports each.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use switchboard_engine::StorageStats;
use switchboard_protocol::ErrorCode;

/// How often histogram buckets are compacted by the exporter's upkeep.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Latency buckets in seconds: 50 µs to 5 s, covering an fsync on fast and slow disks.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Group-commit batch-size buckets.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0];

/// Wait-time buckets in seconds: a visitor's wait from start to accept.
const WAIT_BUCKETS: &[f64] = &[1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0];

/// HTTP request-duration buckets in seconds: health checks take microseconds, a checkpoint
/// seconds.
const HTTP_BUCKETS: &[f64] = &[0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0];

/// What `switchboard_build_info` reports.
#[derive(Debug, Clone)]
pub struct BuildInfo {
    pub version: String,
    pub commit: String,
}

/// Handle to the installed recorder.
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
    process: Arc<metrics_process::Collector>,
}

impl Metrics {
    /// Install the process-wide recorder. Call once, from the binary.
    pub fn install(build: BuildInfo) -> Result<Metrics, BuildError> {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("latency_seconds".into()), LATENCY_BUCKETS)?
            .set_buckets_for_metric(
                Matcher::Full("switchboard_group_commit_batch_size".into()),
                BATCH_BUCKETS,
            )?
            .set_buckets_for_metric(Matcher::Full("switchboard_wait_time_seconds".into()), WAIT_BUCKETS)?
            .set_buckets_for_metric(
                Matcher::Full("switchboard_department_wait_seconds".into()),
                WAIT_BUCKETS,
            )?
            .set_buckets_for_metric(
                Matcher::Full("switchboard_http_request_duration_seconds".into()),
                HTTP_BUCKETS,
            )?
            .install_recorder()?;
        describe();
        metrics::describe_gauge!("switchboard_build_info", "Always 1; the labels say which build runs.");
        metrics::gauge!("switchboard_build_info", "version" => build.version, "commit" => build.commit)
            .set(1.0);
        let process = metrics_process::Collector::default();
        process.describe();
        process.collect();
        let upkeep = handle.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(UPKEEP_INTERVAL);
            loop {
                every.tick().await;
                upkeep.run_upkeep();
            }
        });
        Ok(Metrics { handle, process: Arc::new(process) })
    }

    /// The Prometheus text exposition, with the process figures read now.
    pub fn render(&self) -> String {
        self.process.collect();
        self.handle.render()
    }
}

/// Publish RocksDB's properties (read at each scrape).
pub fn publish_storage(stats: &StorageStats) {
    use metrics::gauge;
    gauge!("switchboard_rocksdb_live_data_bytes").set(stats.live_data_bytes as f64);
    gauge!("switchboard_rocksdb_sst_bytes").set(stats.sst_bytes as f64);
    gauge!("switchboard_rocksdb_wal_bytes").set(stats.wal_bytes as f64);
    gauge!("switchboard_rocksdb_memtable_bytes").set(stats.memtable_bytes as f64);
    gauge!("switchboard_rocksdb_pending_compaction_bytes").set(stats.pending_compaction_bytes as f64);
    gauge!("switchboard_rocksdb_running_compactions").set(stats.running_compactions as f64);
    gauge!("switchboard_rocksdb_write_stopped").set(if stats.write_stopped { 1.0 } else { 0.0 });
    gauge!("switchboard_rocksdb_delayed_write_rate_bytes_per_second")
        .set(stats.delayed_write_rate_bytes as f64);
    gauge!("switchboard_rocksdb_background_errors").set(stats.background_errors as f64);
    metrics::counter!("switchboard_rocksdb_stall_microseconds_total").absolute(stats.stall_micros);
}

/// The delivery-latency histogram, looked up once (it is recorded for every delivered
/// message, on the hot path).
pub fn delivery_latency() -> &'static metrics::Histogram {
    static HISTOGRAM: OnceLock<metrics::Histogram> = OnceLock::new();
    HISTOGRAM.get_or_init(|| metrics::histogram!("switchboard_delivery_latency_seconds"))
}

/// The routes HTTP metrics are labelled with; any other path counts as `other` (a label
/// per unknown path would let any client grow the series without bound).
pub const HTTP_ROUTES: &[&str] = &[
    "/healthz",
    "/readyz",
    "/metrics",
    "/ws",
    "/api/v1/agents",
    "/api/v1/admin/checkpoints",
    "/api/v1/contacts",
    "/api/v1/contacts/search",
    "/api/v1/contacts/import",
    "/api/v1/tickets",
];

/// The route label of a request path.
pub fn route_label(path: &str) -> &'static str {
    HTTP_ROUTES.iter().find(|route| **route == path).copied().unwrap_or("other")
}

/// Count one HTTP request and its duration.
pub fn record_http(route: &'static str, status: u16, elapsed: Duration) {
    let status = status.to_string();
    metrics::counter!("switchboard_http_requests_total", "route" => route, "status" => status).increment(1);
    metrics::histogram!("switchboard_http_request_duration_seconds", "route" => route)
        .record(elapsed.as_secs_f64());
}

/// Describe every metric and create the counters and gauges at zero, so a fresh server
/// already exports every series (dashboards and alerts need them to exist).
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_cluster();
    let counters = [
        ("switchboard_messages_total", "Chat messages made durable."),
        ("switchboard_sessions_started_total", "Chat sessions started by visitors."),
        ("switchboard_sessions_closed_total", "Chat sessions closed by agents."),
        ("switchboard_actor_restarts_total", "Session actor crashes answered by a rebuild from storage."),
        ("switchboard_actor_quarantines_total", "Sessions quarantined after too many crashes."),
        ("switchboard_send_queue_overflows_total", "Connections closed because their send queue overflowed."),
        ("switchboard_connections_refused_total", "TCP connections refused at the connection limit."),
        ("switchboard_subscribers_refused_total", "Attaches refused at the per-session subscriber limit."),
        (
            "switchboard_broadcast_encodings_total",
            "Frames encoded for events shared by many connections (once per event and encoding).",
        ),
        ("switchboard_session_actors_started_total", "Session actors started (lazily loaded from storage)."),
        ("switchboard_auth_failures_total", "Failed authentications (agent, session or admin tokens)."),
        ("switchboard_storage_write_errors_total", "Storage writes that failed (disk full, I/O error)."),
        ("switchboard_routing_offers_total", "Chats offered to agents (automatic departments)."),
        (
            "switchboard_routing_assignments_total",
            "Chats assigned by routing (accepted offers and auto-accepts).",
        ),
        ("switchboard_routing_declines_total", "Offers declined by agents."),
        (
            "switchboard_routing_decisions_unrecorded_total",
            "Routing decisions not stored (the writer queue was full or the write failed).",
        ),
        ("switchboard_routing_transfers_total", "Transfers accepted by their receivers."),
        ("switchboard_channel_messages_total", "Team-channel messages made durable."),
        (
            "switchboard_tickets_created_total",
            "Tickets created (from chats, channel messages and left messages).",
        ),
        (
            "switchboard_left_messages_total",
            "Messages visitors left while a department was closed or unstaffed (each a ticket).",
        ),
        (
            "switchboard_rocksdb_stall_microseconds_total",
            "Microseconds RocksDB stalled writes (delayed or stopped them).",
        ),
    ];
    for (name, help) in counters {
        describe_counter!(name, help);
        metrics::counter!(name).increment(0);
    }
    describe_counter!(
        "switchboard_chat_ratings_total",
        "Visitors' ratings of closed chats, by score (1 to 5)."
    );
    for score in switchboard_engine::ratings::SCORES {
        metrics::counter!("switchboard_chat_ratings_total", "score" => score).increment(0);
    }
    describe_counter!("switchboard_errors_total", "Error frames and HTTP error bodies sent, by code.");
    for code in ErrorCode::ALL {
        metrics::counter!("switchboard_errors_total", "code" => code.as_str()).increment(0);
    }
    describe_counter!(
        "switchboard_admin_actions_total",
        "Administrative actions, by action (the audit log has each)."
    );
    for action in crate::audit::ADMIN_ACTIONS {
        metrics::counter!("switchboard_admin_actions_total", "action" => *action).increment(0);
    }
    describe_counter!(
        "switchboard_routing_withdrawals_total",
        "Offers that ended without an assignment, by reason (declined, expired, taken, unavailable)."
    );
    for reason in ["declined", "expired", "taken", "unavailable"] {
        metrics::counter!("switchboard_routing_withdrawals_total", "reason" => reason).increment(0);
    }
    describe_counter!(
        "switchboard_ticket_webhook_deliveries_total",
        "Helpdesk webhook attempts, by result (delivered, http_error, timeout, unreachable)."
    );
    for result in crate::webhook::RESULTS {
        metrics::counter!("switchboard_ticket_webhook_deliveries_total", "result" => *result).increment(0);
    }
    describe_gauge!(
        "switchboard_ticket_webhook_pending",
        "Tickets waiting in the outbox for delivery to the helpdesk webhook."
    );
    metrics::gauge!("switchboard_ticket_webhook_pending").increment(0.0);
    describe_gauge!("switchboard_department_queue_length", "Chats waiting, by department id.");
    describe_gauge!("switchboard_agent_active_chats", "Active chats held, by agent id.");
    describe_gauge!(
        "switchboard_routing_fairness",
        "Jain's index over the online members' load (held ÷ capacity), by department: 1 = perfectly even."
    );
    describe_histogram!(
        "switchboard_department_wait_seconds",
        Unit::Seconds,
        "Visitor wait from chat start to accept, by department id."
    );
    describe_histogram!(
        "switchboard_routing_offer_latency_seconds",
        Unit::Seconds,
        "From a chat being queued in its department to its offer, when an agent was free at once."
    );
    let _ = metrics::histogram!("switchboard_routing_offer_latency_seconds");
    // The default department (id 1) always exists: its series from the start.
    let _ = metrics::histogram!("switchboard_department_wait_seconds", "department" => "1");
    describe_counter!("switchboard_http_requests_total", "HTTP requests by route and status.");
    describe_histogram!(
        "switchboard_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request handling time by route (for /ws: the upgrade)."
    );
    for route in HTTP_ROUTES {
        metrics::counter!("switchboard_http_requests_total", "route" => *route, "status" => "200")
            .increment(0);
        let _ = metrics::histogram!("switchboard_http_request_duration_seconds", "route" => *route);
    }
    describe_gauge!("switchboard_connections", "Open client connections by transport.");
    describe_counter!("switchboard_connections_opened_total", "Client connections opened, by transport.");
    describe_counter!("switchboard_connections_closed_total", "Client connections closed, by transport.");
    for transport in crate::connection::Transport::ALL.map(|t| t.as_str()) {
        metrics::gauge!("switchboard_connections", "transport" => transport).increment(0.0);
        metrics::counter!("switchboard_connections_opened_total", "transport" => transport).increment(0);
        metrics::counter!("switchboard_connections_closed_total", "transport" => transport).increment(0);
    }
    let gauges = [
        ("switchboard_ready", "1 when this node serves: storage takes writes and it is not draining."),
        ("switchboard_draining", "1 once a graceful shutdown began."),
        ("switchboard_rocksdb_live_data_bytes", "RocksDB's estimate of live data."),
        ("switchboard_rocksdb_sst_bytes", "Bytes of SST files in use."),
        ("switchboard_rocksdb_wal_bytes", "Bytes of write-ahead log files."),
        ("switchboard_rocksdb_memtable_bytes", "Bytes in memtables."),
        ("switchboard_rocksdb_pending_compaction_bytes", "Bytes compaction must rewrite to catch up."),
        ("switchboard_rocksdb_running_compactions", "Compactions running."),
        ("switchboard_rocksdb_write_stopped", "1 while RocksDB stops writes."),
        (
            "switchboard_rocksdb_delayed_write_rate_bytes_per_second",
            "Write rate allowed while RocksDB delays writes (0: not delayed).",
        ),
        ("switchboard_rocksdb_background_errors", "RocksDB background errors since start."),
    ];
    for (name, help) in gauges {
        describe_gauge!(name, help);
        metrics::gauge!(name).set(0.0);
    }
    describe_gauge!("switchboard_sessions", "Listed sessions by state (waiting, active).");
    describe_gauge!("switchboard_queue_length", "Sessions waiting for an agent.");
    describe_gauge!("switchboard_agents_online", "Authenticated agent connections.");
    metrics::gauge!("switchboard_agents_online").set(0.0);
    describe_histogram!(
        "switchboard_append_latency_seconds",
        Unit::Seconds,
        "Submit-to-durable latency of storage writes."
    );
    describe_histogram!("switchboard_group_commit_batch_size", Unit::Count, "Writes sharing one fsync.");
    describe_histogram!(
        "switchboard_wait_time_seconds",
        Unit::Seconds,
        "Visitor wait from chat start to accept."
    );
    describe_histogram!(
        "switchboard_delivery_latency_seconds",
        Unit::Seconds,
        "From a session taking a message to its frame being queued for each subscriber's socket."
    );
    for name in [
        "switchboard_append_latency_seconds",
        "switchboard_group_commit_batch_size",
        "switchboard_wait_time_seconds",
        "switchboard_delivery_latency_seconds",
    ] {
        // Registered now, so the series exist before the first observation.
        let _ = metrics::histogram!(name);
    }
}

/// Cluster mode's series (docs/CLUSTER.md), present and zero on one machine.
fn describe_cluster() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    let gauges = [
        ("switchboard_cluster_shards_owned", "Shards this node owns (holds the lease of) now."),
        ("switchboard_cluster_nodes_live", "Nodes whose heartbeat was current at the last lease turn."),
        ("switchboard_cluster_nats_connected", "1 while this node is connected to NATS."),
        (
            "switchboard_cluster_log_applied",
            "The last replicated-log position applied to this node's database.",
        ),
        ("switchboard_cluster_replication_lag", "Log entries stored in JetStream and not yet applied here."),
        (
            "switchboard_cluster_departments_led",
            "Departments whose queue this node leads (routes for every node).",
        ),
    ];
    for (name, help) in gauges {
        describe_gauge!(name, help);
        metrics::gauge!(name).increment(0.0);
    }
    let counters = [
        (
            "switchboard_cluster_lease_acquisitions_total",
            "Shard leases taken (each after its fence was applied).",
        ),
        ("switchboard_cluster_lease_renewals_total", "Shard leases renewed."),
        ("switchboard_cluster_lease_losses_total", "Shard leases lost to another node (renewal refused)."),
        (
            "switchboard_cluster_fenced_writes_total",
            "Writes refused by a fence: made under a lease another node took over.",
        ),
        (
            "switchboard_cluster_append_failures_total",
            "Writes refused because the replicated log could not be reached in time.",
        ),
        (
            "switchboard_cluster_entries_skipped_total",
            "Log entries every node leaves out: an unknown kind, undecodable, or landed after a later entry of its node.",
        ),
        (
            "switchboard_cluster_legs_opened_total",
            "Relay legs opened: a client's connection reaching a session another node owns.",
        ),
        ("switchboard_cluster_relay_send_failures_total", "Relay frames NATS refused to send."),
        (
            "switchboard_cluster_relay_malformed_total",
            "Relay messages without the headers they need, dropped.",
        ),
    ];
    for (name, help) in counters {
        describe_counter!(name, help);
        metrics::counter!(name).increment(0);
    }
    describe_counter!(
        "switchboard_cluster_relayed_frames_total",
        "Frames relayed, by way (out: to a leg; in: from one)."
    );
    for way in ["out", "in"] {
        metrics::counter!("switchboard_cluster_relayed_frames_total", "way" => way).increment(0);
    }
    describe_counter!(
        "switchboard_cluster_grants_total",
        "Accepts of offers made here for a department another node leads, by its answer (granted, no_offer, unavailable)."
    );
    for answer in ["granted", "no_offer", "unavailable"] {
        metrics::counter!("switchboard_cluster_grants_total", "answer" => answer).increment(0);
    }
    describe_histogram!(
        "switchboard_cluster_nats_round_trip_seconds",
        Unit::Seconds,
        "From publishing a log entry to JetStream's acknowledgement (stored on a majority)."
    );
    describe_histogram!(
        "switchboard_cluster_append_seconds",
        Unit::Seconds,
        "From handing a group of writes to the log to applying it here (what an acknowledgement waits for)."
    );
    let _ = metrics::histogram!("switchboard_cluster_nats_round_trip_seconds");
    let _ = metrics::histogram!("switchboard_cluster_append_seconds");
}
