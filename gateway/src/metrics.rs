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
            .set_buckets_for_metric(Matcher::Full("switchboard_group_commit_batch_size".into()), BATCH_BUCKETS)?
            .set_buckets_for_metric(Matcher::Full("switchboard_wait_time_seconds".into()), WAIT_BUCKETS)?
            .install_recorder()?;
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
