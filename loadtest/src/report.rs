//! The summary every scenario produces: one JSON object (`--json`) or a readable table,
//! plus a once-a-second progress line on stderr while it runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// A latency histogram in microseconds, 1 µs to 5 minutes, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 300_000_000, 3).expect("valid histogram bounds")
}

/// The result of a run.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub transport: String,
    pub connections: u64,
    pub offered_rate: f64,
    pub duration_s: f64,
    pub messages_per_s: f64,
    pub deliveries_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub ack_p50_ms: f64,
    pub ack_p99_ms: f64,
    pub sent: u64,
    pub acked: u64,
    pub delivered: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub errors: u64,
    pub server_rss_bytes: Option<u64>,
    pub server_rss_per_connection_bytes: Option<u64>,
    /// Anything else worth knowing (limits hit, notes).
    pub notes: Vec<String>,
    #[serde(skip)]
    pub json: bool,
}

/// The traffic figures shared by the scenarios that send messages.
pub struct Traffic {
    pub scenario: &'static str,
    pub transport: &'static str,
    pub connections: u64,
    pub offered_rate: f64,
    pub duration_s: f64,
    pub sent: u64,
    pub acked: u64,
    pub delivered: u64,
}

impl Summary {
    /// A summary of a traffic run; rates are per second of the run's duration.
    pub fn traffic(t: Traffic, json: bool) -> Summary {
        Summary {
            scenario: t.scenario.into(),
            transport: t.transport.into(),
            connections: t.connections,
            offered_rate: t.offered_rate,
            duration_s: t.duration_s,
            messages_per_s: t.acked as f64 / t.duration_s,
            deliveries_per_s: t.delivered as f64 / t.duration_s,
            sent: t.sent,
            acked: t.acked,
            delivered: t.delivered,
            json,
            ..Summary::default()
        }
    }

    /// Fill the delivery-latency fields from a histogram in µs.
    pub fn set_latency(&mut self, delivery: &Histogram<u64>, ack: &Histogram<u64>) {
        let ms = |v: u64| v as f64 / 1000.0;
        self.p50_ms = ms(delivery.value_at_quantile(0.5));
        self.p99_ms = ms(delivery.value_at_quantile(0.99));
        self.p999_ms = ms(delivery.value_at_quantile(0.999));
        self.max_ms = ms(delivery.max());
        self.ack_p50_ms = ms(ack.value_at_quantile(0.5));
        self.ack_p99_ms = ms(ack.value_at_quantile(0.99));
    }

    /// True when correctness failed (anything lost, duplicated or reordered).
    pub fn failed(&self) -> bool {
        self.lost > 0 || self.duplicates > 0 || self.out_of_order > 0
    }

    /// Print as JSON (one object on stdout) or as a table.
    pub fn print(&self) {
        if self.json {
            println!("{}", serde_json::to_string(self).expect("summary serializes"));
            return;
        }
        let rows: Vec<(&str, String)> = vec![
            ("scenario", self.scenario.clone()),
            ("transport", self.transport.clone()),
            ("connections", self.connections.to_string()),
            ("offered rate (msg/s)", format!("{:.0}", self.offered_rate)),
            ("duration (s)", format!("{:.1}", self.duration_s)),
            ("acked messages/s", format!("{:.0}", self.messages_per_s)),
            ("deliveries/s", format!("{:.0}", self.deliveries_per_s)),
            (
                "delivery p50 / p99 / p99.9 / max (ms)",
                format!("{:.2} / {:.2} / {:.2} / {:.2}", self.p50_ms, self.p99_ms, self.p999_ms, self.max_ms),
            ),
            ("ack p50 / p99 (ms)", format!("{:.2} / {:.2}", self.ack_p50_ms, self.ack_p99_ms)),
            ("sent / acked / delivered", format!("{} / {} / {}", self.sent, self.acked, self.delivered)),
            (
                "lost / duplicates / out of order",
                format!("{} / {} / {}", self.lost, self.duplicates, self.out_of_order),
            ),
            ("errors", self.errors.to_string()),
            (
                "server RSS",
                self.server_rss_bytes
                    .map_or("unknown".into(), |b| format!("{:.1} MiB", b as f64 / 1048576.0)),
            ),
        ];
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        eprintln!();
        for (k, v) in rows {
            println!("{k:<width$}  {v}");
        }
        if let Some(per) = self.server_rss_per_connection_bytes {
            println!("{:<width$}  {per} B", "server memory per connection");
        }
        for note in &self.notes {
            println!("note: {note}");
        }
    }
}

/// Counters shared by a scenario's tasks, read by the progress line.
#[derive(Default)]
pub struct Counters {
    pub sent: AtomicU64,
    pub acked: AtomicU64,
    pub delivered: AtomicU64,
    pub errors: AtomicU64,
}

/// Print a progress line every second until the returned handle is aborted.
pub fn progress(counters: Arc<Counters>, quiet: bool) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if quiet {
            return;
        }
        let start = Instant::now();
        let mut every = tokio::time::interval(Duration::from_secs(1));
        every.tick().await;
        loop {
            every.tick().await;
            let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
            eprint!(
                "\r[{:>4.0}s] sent {:>10}  acked {:>10}  delivered {:>10}  errors {:>6}",
                start.elapsed().as_secs_f64(),
                get(&counters.sent),
                get(&counters.acked),
                get(&counters.delivered),
                get(&counters.errors),
            );
        }
    })
}
