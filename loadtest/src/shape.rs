//! The load shape shared by `chat` and `nats-chat`: N pairs, two sides each, every side an
//! open-loop sender at `rate / (2 N)` messages per second and a receiver of the other
//! side's messages. Here: the schedule, what senders and receivers tally, when a receiver
//! stops draining, and how the tallies become a [`Summary`].
//!
//! Sides are numbered so that side `j` receives from side `j ^ 1`; `j` even is the
//! visitor (tag `v`), odd the agent (tag `a`).

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::report::{self, Counters, Summary, Traffic};

/// After the traffic ends, a receiver stops once nothing arrived for this long …
pub const QUIET: Duration = Duration::from_secs(2);
/// … or at the latest this long after the end (an overloaded server's backlog).
pub const DRAIN_MAX: Duration = Duration::from_secs(60);
/// A sender whose last acknowledgements do not come within this long counts them as errors
/// (the same patience as the client library's request timeout).
pub const ACK_WAIT: Duration = Duration::from_secs(10);
/// Time between the epoch and the first intended send: room to spawn every task.
const START_DELAY: Duration = Duration::from_millis(200);
/// Most a sender's first message is offset to spread the pairs over one interval.
const PHASE_MAX: Duration = Duration::from_secs(1);

/// The tag of side `j`'s messages.
pub fn tag(side: usize) -> u8 {
    if side & 1 == 0 {
        b'v'
    } else {
        b'a'
    }
}

/// When one sender sends message k: `start + k × interval`, until `end`.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub epoch: Instant,
    pub start: Instant,
    pub end: Instant,
    pub interval: Duration,
}

impl Plan {
    /// The plan of pair `pair` of `pairs` at a total `rate` for `duration_s` from `epoch`
    /// (both sides of a pair share it; pairs are phase-shifted so sends spread evenly).
    pub fn new(epoch: Instant, pair: usize, pairs: usize, rate: f64, duration_s: f64) -> Plan {
        let per_sender = (rate / (2.0 * pairs as f64)).max(1e-9);
        let start = epoch + START_DELAY;
        let phase = Duration::from_secs_f64((pair as f64 / pairs as f64) / per_sender).min(PHASE_MAX);
        Plan {
            epoch,
            start: start + phase,
            end: start + Duration::from_secs_f64(duration_s),
            interval: Duration::from_secs_f64(1.0 / per_sender),
        }
    }

    /// The intended time of message k, or `None` once it falls past the end.
    pub fn intended(&self, k: u64) -> Option<Instant> {
        let at = self.start + self.interval.mul_f64(k as f64);
        (at < self.end).then_some(at)
    }

    /// Nanoseconds from the epoch to `at` (what the payload carries).
    pub fn ns(&self, at: Instant) -> u64 {
        at.duration_since(self.epoch).as_nanos() as u64
    }

    /// Microseconds from the intended time of message k to now.
    pub fn us_since(&self, k: u64, now: Instant) -> u64 {
        let at = self.start + self.interval.mul_f64(k as f64);
        now.saturating_duration_since(at).as_micros() as u64
    }
}

/// What one sender tallies.
pub struct Sent {
    pub ack_latency: Histogram<u64>,
    /// The counters k of every acknowledged message.
    pub acked: Vec<u64>,
    pub errors: u64,
}

impl Sent {
    pub fn new() -> Sent {
        Sent { ack_latency: report::histogram(), acked: Vec::new(), errors: 0 }
    }

    pub fn ack(&mut self, k: u64, latency_us: u64, counters: &Counters) {
        self.acked.push(k);
        self.ack_latency.saturating_record(latency_us);
        counters.acked.fetch_add(1, Ordering::Relaxed);
    }

    pub fn error(&mut self, n: u64, counters: &Counters) {
        self.errors += n;
        counters.errors.fetch_add(n, Ordering::Relaxed);
    }
}

/// What one receiver tallies.
pub struct Received {
    latency: Histogram<u64>,
    seen: HashSet<u64>,
    unique: u64,
    duplicates: u64,
    out_of_order: u64,
    highest: Option<u64>,
}

impl Received {
    pub fn new() -> Received {
        Received {
            latency: report::histogram(),
            seen: HashSet::new(),
            unique: 0,
            duplicates: 0,
            out_of_order: 0,
            highest: None,
        }
    }

    /// Message k arrived `latency_us` after its intended send time.
    pub fn note(&mut self, k: u64, latency_us: u64, counters: &Counters) {
        if !self.seen.insert(k) {
            self.duplicates += 1;
            return;
        }
        if self.highest.is_some_and(|h| k < h) {
            self.out_of_order += 1;
        }
        self.highest = Some(self.highest.map_or(k, |h| h.max(k)));
        self.unique += 1;
        counters.delivered.fetch_add(1, Ordering::Relaxed);
        self.latency.saturating_record(latency_us);
    }
}

/// Every side's tallies, combined.
pub struct Totals {
    latency: Histogram<u64>,
    ack_latency: Histogram<u64>,
    pub acked: u64,
    pub delivered: u64,
    errors: u64,
    lost: u64,
    duplicates: u64,
    out_of_order: u64,
}

impl Totals {
    /// Combine; `sent[j]` and `received[j]` belong to side j, and side j's messages are
    /// received by side `j ^ 1`. Lost: acknowledged, never delivered to the other side.
    pub fn new(sent: &[Sent], received: &[Received]) -> anyhow::Result<Totals> {
        let mut t = Totals {
            latency: report::histogram(),
            ack_latency: report::histogram(),
            acked: 0,
            delivered: 0,
            errors: 0,
            lost: 0,
            duplicates: 0,
            out_of_order: 0,
        };
        for (j, s) in sent.iter().enumerate() {
            t.ack_latency.add(&s.ack_latency)?;
            t.acked += s.acked.len() as u64;
            t.errors += s.errors;
            let peer = received.get(j ^ 1);
            t.lost += s.acked.iter().filter(|k| !peer.is_some_and(|r| r.seen.contains(k))).count() as u64;
        }
        for r in received {
            t.latency.add(&r.latency)?;
            t.delivered += r.unique;
            t.duplicates += r.duplicates;
            t.out_of_order += r.out_of_order;
        }
        Ok(t)
    }

    /// The summary of a run with these totals.
    pub fn summary(&self, traffic: Traffic, json: bool) -> Summary {
        let mut summary = Summary {
            lost: self.lost,
            duplicates: self.duplicates,
            out_of_order: self.out_of_order,
            errors: self.errors,
            ..Summary::traffic(traffic, json)
        };
        summary.set_latency(&self.latency, &self.ack_latency);
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_duplicates_and_order_are_counted_per_pair() {
        let counters = Counters::default();
        let (mut v, mut a) = (Sent::new(), Sent::new());
        for k in 0..4 {
            v.ack(k, 10, &counters);
        }
        a.ack(0, 10, &counters);
        let (mut hears_a, mut hears_v) = (Received::new(), Received::new());
        hears_a.note(0, 5, &counters);
        for k in [0, 2, 1, 2] {
            hears_v.note(k, 5, &counters); // 3 never arrives, 1 late, 2 twice
        }
        let t = Totals::new(&[v, a], &[hears_a, hears_v]).unwrap();
        assert_eq!((t.acked, t.delivered, t.lost, t.duplicates, t.out_of_order), (5, 4, 1, 1, 1));
    }

    #[test]
    fn plan_ends_before_end() {
        let epoch = Instant::now();
        let plan = Plan::new(epoch, 0, 1, 20.0, 1.0); // 10 msg/s per sender for 1 s
        assert!(plan.intended(9).is_some());
        assert!(plan.intended(10).is_none());
        assert_eq!(plan.ns(plan.start), START_DELAY.as_nanos() as u64);
    }
}
