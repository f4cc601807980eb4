//! The summary every scenario produces: one JSON object (`--json`) or a readable table,
//! plus a once-a-second progress line on stderr while it runs. A warning goes to stderr in
//! both forms when the load generator saturated its CPUs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::cpu::{self, CpuReport};

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
    /// Wall time of the CPU window: start of traffic to the end of the drain.
    pub cpu_window_s: Option<f64>,
    /// Server CPU (user + system, all threads) over the window; needs the server's PID.
    pub server_cpu_s: Option<f64>,
    /// Server CPU per delivered (relayed) message.
    pub server_cpu_us_per_msg: Option<f64>,
    /// The load generator's own CPU over the window.
    pub client_cpu_s: Option<f64>,
    pub client_cpu_us_per_msg: Option<f64>,
    /// The generator's CPU as a fraction of its allowed CPUs, over the busy part of the
    /// window (start of traffic to the last acknowledgement).
    pub client_cpu_util: Option<f64>,
    /// Time the generator's threads waited for a CPU over the same part, as a fraction of
    /// its allowed CPUs' time (high when it shares them with the server).
    pub client_cpu_wait: Option<f64>,
    /// CPUs in the generator's affinity mask.
    pub client_cpus: Option<usize>,
    /// The generator used more than 80 % of its CPUs: the result measures the client.
    pub client_saturated: bool,
    /// The generator used and waited for more than 80 % of its CPUs' time: something else
    /// competes for them, and latencies include the generator's scheduling delays.
    pub client_starved: bool,
    /// Scenario-specific figures (e.g. `restart`'s timings), named with their unit last;
    /// top-level fields in JSON.
    #[serde(flatten)]
    pub figures: BTreeMap<String, f64>,
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

    /// Fill the CPU fields from a closed CPU window.
    pub fn set_cpu(&mut self, r: &CpuReport) {
        self.cpu_window_s = Some(r.window_s);
        self.server_cpu_s = r.server_cpu_s;
        self.server_cpu_us_per_msg = r.server_cpu_us_per_msg;
        self.client_cpu_s = Some(r.client_cpu_s);
        self.client_cpu_us_per_msg = r.client_cpu_us_per_msg;
        self.client_cpu_util = Some(r.client_cpu_util);
        self.client_cpu_wait = Some(r.client_cpu_wait);
        self.client_cpus = Some(r.client_cpus);
        self.client_saturated = r.client_saturated;
        self.client_starved = r.client_starved;
    }

    /// True when correctness failed (anything lost, duplicated or reordered; for `assign`,
    /// a chat assigned twice, an agent over capacity or a chat never served).
    pub fn failed(&self) -> bool {
        let broken = |name: &str| self.figures.get(name).is_some_and(|v| *v > 0.0);
        self.lost > 0
            || self.duplicates > 0
            || self.out_of_order > 0
            || broken("double_assignments")
            || broken("capacity_overshoots")
            || broken("starved")
    }

    /// Print as JSON (one object on stdout) or as a table.
    pub fn print(&self) {
        let (util, wait) =
            (self.client_cpu_util.unwrap_or(0.0) * 100.0, self.client_cpu_wait.unwrap_or(0.0) * 100.0);
        let (cpus, limit) = (self.client_cpus.unwrap_or(0), cpu::SATURATION_UTIL * 100.0);
        if self.client_saturated {
            eprintln!(
                "\nWARNING: the load generator used {util:.0} % of its {cpus} CPU(s) (over {limit:.0} %): \
                 this result measures the client, not the server. Give it more or other CPUs \
                 (--client-cpus) or offer less load."
            );
        } else if self.client_starved {
            eprintln!(
                "\nWARNING: the load generator used {util:.0} % of its {cpus} CPU(s) and waited \
                 {wait:.0} % more for them (over {limit:.0} % in all): something else runs on its \
                 CPUs, and latencies include the generator's own scheduling delays. Pin it apart \
                 from the server (--client-cpus, --server-cpus)."
            );
        }
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
            ("server CPU", self.server_cpu_line()),
            ("client CPU", self.client_cpu_line()),
        ];
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        eprintln!();
        for (k, v) in rows {
            println!("{k:<width$}  {v}");
        }
        if let Some(per) = self.server_rss_per_connection_bytes {
            println!("{:<width$}  {per} B", "server memory per connection");
        }
        for (name, value) in &self.figures {
            println!("{name:<width$}  {value:.1}");
        }
        for note in &self.notes {
            println!("note: {note}");
        }
    }
}

impl Summary {
    fn server_cpu_line(&self) -> String {
        match self.server_cpu_s {
            Some(s) => format!("{s:.2} s{}", per_msg(self.server_cpu_us_per_msg)),
            None => "unknown (pass --server-pid)".into(),
        }
    }

    fn client_cpu_line(&self) -> String {
        let Some(s) = self.client_cpu_s else { return "not measured".into() };
        let util = self.client_cpu_util.unwrap_or(0.0) * 100.0;
        let wait = self.client_cpu_wait.unwrap_or(0.0) * 100.0;
        let cpus = self.client_cpus.unwrap_or(0);
        let saturated = match (self.client_saturated, self.client_starved) {
            (true, _) => "  SATURATED",
            (false, true) => "  STARVED",
            _ => "",
        };
        let per = per_msg(self.client_cpu_us_per_msg);
        format!("{s:.2} s{per}, {util:.0} % of {cpus} CPU(s) (+{wait:.0} % waiting){saturated}")
    }
}

fn per_msg(us: Option<f64>) -> String {
    us.map_or(String::new(), |us| format!(", {us:.1} µs/msg"))
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
        let cpus = cpu::allowed_cpus() as f64;
        let mut every = tokio::time::interval(Duration::from_secs(1));
        every.tick().await;
        let mut last = (Instant::now(), cpu::self_cpu());
        loop {
            every.tick().await;
            let now = (Instant::now(), cpu::self_cpu());
            let wall = now.0.duration_since(last.0).as_secs_f64().max(1e-9);
            let util = now.1.saturating_sub(last.1).as_secs_f64() / (wall * cpus);
            last = now;
            let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
            eprint!(
                "\r[{:>4.0}s] sent {:>10}  acked {:>10}  delivered {:>10}  errors {:>6}  client CPU {:>3.0} %",
                start.elapsed().as_secs_f64(),
                get(&counters.sent),
                get(&counters.acked),
                get(&counters.delivered),
                get(&counters.errors),
                util * 100.0,
            );
        }
    })
}
