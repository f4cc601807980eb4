//! The Prometheus recorder. Metrics are recorded through the `metrics` facade everywhere;
//! this module installs the exporter (without its HTTP server and TLS stack: see
//! NOTES.md), renders the text format for `GET /metrics`, and runs the exporter's upkeep.

use std::time::Duration;

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

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

/// Handle to the installed recorder.
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
}

impl Metrics {
    /// Install the process-wide recorder. Call once, from the binary.
    pub fn install() -> Result<Metrics, BuildError> {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("latency_seconds".into()), LATENCY_BUCKETS)?
            .set_buckets_for_metric(
                Matcher::Full("switchboard_group_commit_batch_size".into()),
                BATCH_BUCKETS,
            )?
            .set_buckets_for_metric(Matcher::Full("switchboard_wait_time_seconds".into()), WAIT_BUCKETS)?
            .install_recorder()?;
        describe();
        let upkeep = handle.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(UPKEEP_INTERVAL);
            loop {
                every.tick().await;
                upkeep.run_upkeep();
            }
        });
        Ok(Metrics { handle })
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

/// Describe every metric and create the counters and gauges at zero, so a fresh server
/// already exports every series (dashboards and alerts need them to exist).
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    let counters = [
        ("switchboard_messages_total", "Chat messages made durable."),
        ("switchboard_sessions_started_total", "Chat sessions started by visitors."),
        ("switchboard_sessions_closed_total", "Chat sessions closed by agents."),
        ("switchboard_actor_restarts_total", "Session actor crashes answered by a rebuild from storage."),
        ("switchboard_actor_quarantines_total", "Sessions quarantined after too many crashes."),
        ("switchboard_send_queue_overflows_total", "Connections closed because their send queue overflowed."),
        ("switchboard_connections_refused_total", "TCP connections refused at the connection limit."),
        ("switchboard_subscribers_refused_total", "Attaches refused at the per-session subscriber limit."),
        ("switchboard_session_actors_started_total", "Session actors started (lazily loaded from storage)."),
    ];
    for (name, help) in counters {
        describe_counter!(name, help);
        metrics::counter!(name).increment(0);
    }
    describe_gauge!("switchboard_connections", "Open client connections by transport.");
    metrics::gauge!("switchboard_connections", "transport" => "ws").increment(0.0);
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
}
