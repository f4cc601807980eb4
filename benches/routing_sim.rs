//! A seeded, deterministic simulation of one department's router (`engine::domain::routing`)
//! on a virtual clock: hundreds of agents, bursty arrivals, agents going away and coming
//! back, declines and offers left to expire. It measures how fast the state machine decides
//! (wall clock) and how fair and prompt its decisions are (virtual clock), and checks the
//! invariants on every step. Prints one JSON object.
//!
//! `cargo bench --bench routing_sim -- [--seed N] [--agents N] [--chats N] [--load-percent N]`

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::time::Instant;

use switchboard_engine::domain::routing::{Capacity, Effect, Presence, Router, RoutingConfig};

/// xorshift64*: deterministic, no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// Exponentially distributed with this mean (ms).
    fn exp(&mut self, mean_ms: f64) -> u64 {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        (-(1.0 - u).ln() * mean_ms) as u64
    }
}

struct Loads {
    held: HashMap<u64, (u32, u32)>,
}

impl Capacity for Loads {
    fn load(&self, agent: u64) -> (u32, u32) {
        self.held[&agent]
    }
    fn try_reserve(&mut self, agent: u64) -> bool {
        let entry = self.held.get_mut(&agent).unwrap();
        if entry.0 >= entry.1 {
            return false;
        }
        entry.0 += 1;
        true
    }
    fn release(&mut self, agent: u64) {
        self.held.get_mut(&agent).unwrap().0 -= 1;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Arrive(u64),
    Respond(u64, u64),
    Close(u64, u64),
    Toggle(u64),
    Deadline,
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let seed = arg("--seed", 7);
    let agents = arg("--agents", 300);
    let chats = arg("--chats", 200_000);
    let capacity = 4u32;
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let config = RoutingConfig {
        automatic: true,
        auto_accept: false,
        offer_timeout_ms: 30_000,
        ramp_max: 3,
        ramp_window_ms: 60_000,
        requeue_on_offline: false,
    };
    let mut router = Router::new(config);
    let mut loads = Loads { held: (1..=agents).map(|a| (a, (0, capacity))).collect() };
    // A tenth of the agents come and go ("churn"); fairness is measured over the others.
    let churn: HashSet<u64> = (1..=agents).filter(|a| a % 10 == 0).collect();
    let service_mean_ms = 300_000.0;
    // Offered load (arrivals × service time ÷ capacity), in percent; bursts add a tenth.
    let load = arg("--load-percent", 75) as f64 / 100.0;
    let arrival_mean_ms = service_mean_ms / (f64::from(capacity) * agents as f64 * load);
    let mut events: BinaryHeap<Reverse<(u64, Event)>> = BinaryHeap::new();
    let mut now = 0u64;
    let mut decisions = 0u64;
    let mut enqueued_at: HashMap<u64, u64> = HashMap::new();
    let mut assigned: HashSet<u64> = HashSet::new();
    let mut active: HashMap<u64, u32> = HashMap::new();
    // Time-weighted load per agent: ∫ active chats dt, and when it last changed.
    let mut area: HashMap<u64, (f64, u64)> = HashMap::new();
    let track = |area: &mut HashMap<u64, (f64, u64)>, agent: u64, held_before: u32, now: u64| {
        let entry = area.entry(agent).or_insert((0.0, 0));
        entry.0 += f64::from(held_before) * (now - entry.1) as f64;
        entry.1 = now;
    };
    let mut waits: Vec<u64> = Vec::new();
    let (mut double_assignments, mut capacity_overshoots) = (0u64, 0u64);
    let started = Instant::now();
    for a in 1..=agents {
        let effects = router.set_presence(a, Presence::Online, 0, &mut loads);
        decisions += 1;
        assert!(effects.is_empty());
        if churn.contains(&a) {
            events.push(Reverse((rng.exp(600_000.0), Event::Toggle(a))));
        }
    }
    let mut t = 0;
    for s in 1..=chats {
        // Bursts: every 2,000th chat brings 200 at once.
        t += if s % 2_000 < 200 { 0 } else { rng.exp(arrival_mean_ms) };
        events.push(Reverse((t, Event::Arrive(s))));
    }
    let mut online: HashSet<u64> = (1..=agents).collect();
    let mut deadline_armed: Option<u64> = None;
    while let Some(Reverse((at, event))) = events.pop() {
        now = now.max(at);
        let effects = match event {
            Event::Arrive(s) => {
                enqueued_at.insert(s, now);
                router.enqueue(s, (s % 7 == 0) as i64, now, now, &mut loads)
            }
            Event::Respond(s, a) => {
                // 5 % decline; the rest accept (offers left to expire are never answered).
                if rng.below(100) < 5 {
                    router.decline(a, s, now, &mut loads).unwrap_or_default()
                } else {
                    router.accept(a, s, now, &mut loads).unwrap_or_default()
                }
            }
            Event::Close(_, a) => {
                let held = active.get_mut(&a).unwrap();
                track(&mut area, a, *held, now);
                *held -= 1;
                loads.held.get_mut(&a).unwrap().0 -= 1;
                router.capacity_changed(now, &mut loads)
            }
            Event::Toggle(a) => {
                let presence = if online.remove(&a) {
                    Presence::Away
                } else {
                    online.insert(a);
                    Presence::Online
                };
                events.push(Reverse((now + rng.exp(600_000.0), Event::Toggle(a))));
                router.set_presence(a, presence, now, &mut loads)
            }
            Event::Deadline => {
                deadline_armed = None;
                router.expire(now, &mut loads)
            }
        };
        decisions += 1;
        // As the queue actor does after every message: take the recorded decisions (to store).
        std::hint::black_box(router.take_decisions());
        for effect in effects {
            match effect {
                Effect::Offer { session, agent, .. } => {
                    // 3 % of offers are ignored and expire; the others are answered within 10 s.
                    if rng.below(100) >= 3 {
                        events.push(Reverse((now + rng.below(10_000), Event::Respond(session, agent))));
                    }
                }
                Effect::Assign { session, agent } => {
                    if !assigned.insert(session) {
                        double_assignments += 1;
                    }
                    let held = active.entry(agent).or_default();
                    track(&mut area, agent, *held, now);
                    *held += 1;
                    if *held > capacity {
                        capacity_overshoots += 1;
                    }
                    waits.push(now - enqueued_at[&session]);
                    events.push(Reverse((now + rng.exp(service_mean_ms), Event::Close(session, agent))));
                }
                Effect::Withdraw { .. } => {}
            }
        }
        if let Some(deadline) = router.next_deadline() {
            if deadline_armed.is_none_or(|armed| deadline < armed) {
                deadline_armed = Some(deadline);
                events.push(Reverse((deadline, Event::Deadline)));
            }
        }
        if assigned.len() as u64 == chats && router.waiting_len() == 0 {
            break;
        }
        // Whatever still waits a virtual day after the last arrival counts as starved.
        if now > t + 86_400_000 {
            break;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    waits.sort_unstable();
    let pct = |p: f64| {
        waits
            .get(((waits.len() as f64 * p) as usize).min(waits.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    // Jain's index over the steady agents' mean load (active chats ÷ capacity, averaged over
    // the run): 1 when every agent carried the same share.
    let counts: Vec<f64> = (1..=agents)
        .filter(|a| !churn.contains(a))
        .map(|a| {
            let held = active.get(&a).copied().unwrap_or(0);
            track(&mut area, a, held, now);
            area.get(&a).map_or(0.0, |(integral, _)| integral / (f64::from(capacity) * now as f64))
        })
        .collect();
    let (sum, squares) = counts.iter().fold((0.0, 0.0), |(s, q), x| (s + x, q + x * x));
    let jain = if squares > 0.0 { sum * sum / (counts.len() as f64 * squares) } else { 0.0 };
    let summary = serde_json::json!({
        "seed": seed,
        "agents": agents,
        "chats": chats,
        "offered_load": load,
        "decisions": decisions,
        "decisions_per_s": (decisions as f64 / elapsed).round(),
        "assignments_per_s": (assigned.len() as f64 / elapsed).round(),
        "virtual_hours": now as f64 / 3_600_000.0,
        "wait_ms_p50": pct(0.50),
        "wait_ms_p99": pct(0.99),
        "wait_ms_max": waits.last().copied().unwrap_or(0),
        "jain_index": (jain * 10_000.0).round() / 10_000.0,
        "mean_load": (sum / counts.len() as f64 * 1000.0).round() / 1000.0,
        "double_assignments": double_assignments,
        "capacity_overshoots": capacity_overshoots,
        "starved": chats - assigned.len() as u64,
    });
    println!("{summary}");
}
