use std::collections::{BTreeSet, HashMap};

use super::*;

/// Loads as a plain map; it panics on overshoot, so every test checks that invariant.
#[derive(Default)]
struct Loads {
    agents: HashMap<AgentId, (u32, u32)>,
}

impl Loads {
    fn with(agents: &[(AgentId, u32)]) -> Loads {
        Loads { agents: agents.iter().map(|&(a, max)| (a, (0, max))).collect() }
    }

    /// A chat of `agent` closed.
    fn close_one(&mut self, agent: AgentId) {
        let entry = self.agents.get_mut(&agent).unwrap();
        assert!(entry.0 > 0);
        entry.0 -= 1;
    }
}

impl Capacity for Loads {
    fn load(&self, agent: AgentId) -> (u32, u32) {
        self.agents.get(&agent).copied().unwrap_or((0, 0))
    }
    fn try_reserve(&mut self, agent: AgentId) -> bool {
        let entry = self.agents.get_mut(&agent).expect("known agent");
        if entry.0 >= entry.1 {
            return false;
        }
        entry.0 += 1;
        assert!(entry.0 <= entry.1, "capacity overshoot");
        true
    }
    fn release(&mut self, agent: AgentId) {
        let entry = self.agents.get_mut(&agent).expect("known agent");
        assert!(entry.0 > 0, "release without a reservation");
        entry.0 -= 1;
    }
}

/// The decisions about `session` made since the last take.
fn decisions_for(r: &mut Router, session: SessionId) -> Vec<Decision> {
    r.take_decisions().into_iter().filter(|d| d.session == session).collect()
}

fn automatic() -> RoutingConfig {
    RoutingConfig { automatic: true, ramp_max: 100, ..RoutingConfig::default() }
}

fn offers(effects: &[Effect]) -> Vec<(SessionId, AgentId)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Offer { session, agent, .. } => Some((*session, *agent)),
            _ => None,
        })
        .collect()
}

#[test]
fn manual_mode_never_offers() {
    let mut loads = Loads::with(&[(1, 5)]);
    let mut r = Router::new(RoutingConfig::default());
    r.set_presence(1, Presence::Online, 0, &mut loads);
    assert!(r.enqueue(10, 0, 1, 1, &mut loads).is_empty());
    assert_eq!(r.queue(), vec![(10, None)]);
}

#[test]
fn the_least_loaded_agent_gets_the_offer_and_ties_go_to_the_longest_idle() {
    let mut loads = Loads::with(&[(1, 4), (2, 4), (3, 2)]);
    let mut r = Router::new(automatic());
    for a in [1, 2, 3] {
        r.set_presence(a, Presence::Online, 0, &mut loads);
    }
    loads.agents.insert(1, (2, 4)); // 50 %
    loads.agents.insert(3, (1, 2)); // 50 %
                                    // Agent 2 holds nothing: it gets the first chat.
    assert_eq!(offers(&r.enqueue(10, 0, 1, 1, &mut loads)), vec![(10, 2)]);
    r.accept(2, 10, 2, &mut loads).unwrap();
    // Now 1 (2/4), 2 (1/4), 3 (1/2): agent 2 again, lowest ratio.
    assert_eq!(offers(&r.enqueue(11, 0, 3, 3, &mut loads)), vec![(11, 2)]);
    r.accept(2, 11, 4, &mut loads).unwrap();
    // 1 (2/4), 2 (2/4), 3 (1/2): a three-way tie; 1 and 3 were never assigned, 1 has the
    // lower id.
    assert_eq!(offers(&r.enqueue(12, 0, 5, 5, &mut loads)), vec![(12, 1)]);
    let why = decisions_for(&mut r, 12);
    assert_eq!(why[0].outcome, Outcome::Offered);
    assert_eq!((why[0].candidates, why[0].idle_ms), (3, None));
}

#[test]
fn order_is_priority_then_longest_waiting() {
    let mut loads = Loads::with(&[(1, 10)]);
    let mut r = Router::new(automatic());
    r.enqueue(1, 0, 10, 10, &mut loads);
    r.enqueue(2, 5, 20, 20, &mut loads);
    r.enqueue(3, 0, 5, 5, &mut loads);
    r.enqueue(4, 5, 30, 30, &mut loads);
    let order: Vec<SessionId> = r.queue().into_iter().map(|(s, _)| s).collect();
    assert_eq!(order, vec![2, 4, 3, 1]);
    assert_eq!(r.positions().iter().map(|p| p.1).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    // The agent comes online: offers go out in that order.
    let effects = r.set_presence(1, Presence::Online, 40, &mut loads);
    assert_eq!(offers(&effects), vec![(2, 1), (4, 1), (3, 1), (1, 1)]);
}

#[test]
fn a_declined_or_expired_offer_goes_to_the_next_agent_and_skips_the_one_who_passed() {
    let mut loads = Loads::with(&[(1, 5), (2, 5)]);
    let mut r = Router::new(RoutingConfig { offer_timeout_ms: 100, ..automatic() });
    r.set_presence(1, Presence::Online, 0, &mut loads);
    r.set_presence(2, Presence::Online, 0, &mut loads);
    assert_eq!(offers(&r.enqueue(7, 0, 0, 0, &mut loads)), vec![(7, 1)]);
    assert_eq!(loads.load(1), (1, 5), "an offer reserves the slot");
    let effects = r.decline(1, 7, 10, &mut loads).unwrap();
    assert_eq!(loads.load(1), (0, 5));
    assert_eq!(offers(&effects), vec![(7, 2)]);
    assert_eq!(r.next_deadline(), Some(110));
    assert!(r.expire(109, &mut loads).is_empty());
    // Agent 2 lets it expire; both passed, so it goes round again, to agent 1.
    let effects = r.expire(110, &mut loads);
    assert!(effects.contains(&Effect::Withdraw { session: 7, agent: 2, why: Outcome::Expired }));
    assert_eq!(offers(&effects), vec![(7, 1)]);
    assert_eq!(r.decline(2, 7, 111, &mut loads), Err(RouteError::NoSuchOffer(7)), "not 2's any more");
    let outcomes: Vec<Outcome> = decisions_for(&mut r, 7).iter().map(|d| d.outcome).collect();
    assert_eq!(
        outcomes,
        [Outcome::Offered, Outcome::Declined, Outcome::Offered, Outcome::Expired, Outcome::Offered]
    );
}

#[test]
fn auto_accept_assigns_at_once_and_capacity_is_never_exceeded() {
    let mut loads = Loads::with(&[(1, 2)]);
    let mut r = Router::new(RoutingConfig { auto_accept: true, ..automatic() });
    r.set_presence(1, Presence::Online, 0, &mut loads);
    let mut assigned = Vec::new();
    for s in 1..=5 {
        for e in r.enqueue(s, 0, s, s, &mut loads) {
            if let Effect::Assign { session, .. } = e {
                assigned.push(session);
            }
        }
    }
    assert_eq!(assigned, vec![1, 2]);
    assert_eq!(r.waiting_len(), 3);
    // A chat closes: the next one is assigned at once (event-driven, no sweep).
    loads.close_one(1);
    let effects = r.capacity_changed(10, &mut loads);
    assert_eq!(effects, vec![Effect::Assign { session: 3, agent: 1 }]);
}

#[test]
fn an_agent_going_away_returns_its_offers_and_burst_control_ramps_a_newcomer() {
    let mut loads = Loads::with(&[(1, 10), (2, 10)]);
    let mut r = Router::new(RoutingConfig { ramp_max: 2, ramp_window_ms: 1000, ..automatic() });
    for s in 1..=6 {
        r.enqueue(s, 0, 0, 0, &mut loads);
    }
    // Agent 1 comes online to a backlog of six: it gets two, not six.
    assert_eq!(offers(&r.set_presence(1, Presence::Online, 0, &mut loads)).len(), 2);
    let effects = r.set_presence(1, Presence::Away, 5, &mut loads);
    let withdrawn =
        effects.iter().filter(|e| matches!(e, Effect::Withdraw { why: Outcome::Unavailable, .. })).count();
    assert_eq!(withdrawn, 2);
    assert_eq!(loads.load(1), (0, 10));
    assert_eq!(offers(&r.set_presence(2, Presence::Online, 6, &mut loads)).len(), 2);
    // The end of agent 2's window is a deadline; at it agent 2 may take more.
    assert_eq!(r.next_deadline(), Some(1006));
    assert_eq!(offers(&r.expire(1006, &mut loads)).len(), 2);
}

#[test]
fn taking_a_chat_from_the_queue_withdraws_its_offer() {
    let mut loads = Loads::with(&[(1, 3), (2, 3)]);
    let mut r = Router::new(automatic());
    r.set_presence(1, Presence::Online, 0, &mut loads);
    r.enqueue(5, 0, 0, 0, &mut loads);
    let effects = r.remove(5, false, 1, &mut loads);
    assert_eq!(effects, vec![Effect::Withdraw { session: 5, agent: 1, why: Outcome::Taken }]);
    assert_eq!(loads.load(1), (0, 3));
    assert_eq!(r.accept(1, 5, 2, &mut loads), Err(RouteError::NoSuchOffer(5)));
}

#[test]
fn fairness_is_jains_index_over_online_loads() {
    let mut loads = Loads::with(&[(1, 4), (2, 4)]);
    let mut r = Router::new(automatic());
    r.set_presence(1, Presence::Online, 0, &mut loads);
    r.set_presence(2, Presence::Online, 0, &mut loads);
    assert_eq!(r.fairness(&loads), None, "no load, nothing to judge");
    loads.agents.insert(1, (2, 4));
    assert_eq!(r.fairness(&loads), Some(0.5), "one carries everything: 1/n");
    loads.agents.insert(2, (2, 4));
    assert_eq!(r.fairness(&loads), Some(1.0));
}

#[test]
fn the_wait_estimate_follows_the_rate_of_assignments() {
    let mut loads = Loads::with(&[(1, 100)]);
    let mut r = Router::new(RoutingConfig { auto_accept: true, ..automatic() });
    r.set_presence(1, Presence::Online, 0, &mut loads);
    assert!(r.positions().is_empty());
    r.enqueue(1, 0, 0, 0, &mut loads);
    r.enqueue(2, 0, 1000, 1000, &mut loads);
    r.set_presence(1, Presence::Away, 1001, &mut loads);
    r.enqueue(3, 0, 1002, 1002, &mut loads);
    r.enqueue(4, 0, 1003, 1003, &mut loads);
    // One interval of 1000 ms seen: the second in line waits about 2000 ms.
    assert_eq!(r.positions(), vec![(3, 1, Some(1000)), (4, 2, Some(2000))]);
}

/// A small deterministic PRNG (xorshift64*), so the property test needs no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Random interleavings of every input; after each step: no chat assigned twice, no slot
/// overshot (the `Loads` asserts), every offer ends exactly once, and at the end, with
/// everybody online and time passing, no chat is left waiting.
#[test]
fn property_no_double_assignment_no_overshoot_every_offer_ends_no_starvation() {
    for seed in 1..=200u64 {
        let mut rng = Rng(seed * 0x9E37_79B9_7F4A_7C15);
        let agents: Vec<(AgentId, u32)> = (1..=6).map(|a| (a, 1 + (a as u32 % 3))).collect();
        let mut loads = Loads::with(&agents);
        let config = RoutingConfig {
            automatic: true,
            auto_accept: rng.below(4) == 0,
            offer_timeout_ms: 50,
            ramp_max: 1 + rng.below(3) as u32,
            ramp_window_ms: 200,
            requeue_on_offline: false,
        };
        let mut r = Router::new(config);
        let mut now = 0u64;
        // Ordered, so a failing seed replays exactly.
        let mut open_offers: BTreeSet<(SessionId, AgentId)> = BTreeSet::new();
        let mut assigned: HashMap<SessionId, AgentId> = HashMap::new();
        let mut held: Vec<(SessionId, AgentId)> = Vec::new();
        let mut next_session = 1;
        let apply = |effects: Vec<Effect>,
                     open: &mut BTreeSet<(SessionId, AgentId)>,
                     assigned: &mut HashMap<SessionId, AgentId>,
                     held: &mut Vec<(SessionId, AgentId)>| {
            for e in effects {
                match e {
                    Effect::Offer { session, agent, .. } => {
                        assert!(open.insert((session, agent)), "offered twice at once");
                        assert!(!assigned.contains_key(&session));
                    }
                    Effect::Assign { session, agent } => {
                        open.remove(&(session, agent));
                        assert!(
                            assigned.insert(session, agent).is_none(),
                            "seed {seed}: {session} assigned twice"
                        );
                        held.push((session, agent));
                    }
                    Effect::Withdraw { session, agent, .. } => {
                        assert!(open.remove(&(session, agent)), "withdrew an offer that was not open");
                    }
                }
            }
        };
        for _ in 0..400 {
            now += rng.below(20);
            let agent = 1 + rng.below(6);
            let effects = match rng.below(8) {
                0 | 1 => {
                    next_session += 1;
                    r.enqueue(next_session, rng.below(3) as i64, now, now, &mut loads)
                }
                2 => {
                    let presence =
                        [Presence::Online, Presence::Away, Presence::Offline][rng.below(3) as usize];
                    r.set_presence(agent, presence, now, &mut loads)
                }
                3 => match open_offers.iter().find(|(_, a)| *a == agent).copied() {
                    Some((s, a)) => r.accept(a, s, now, &mut loads).unwrap(),
                    None => Vec::new(),
                },
                4 => match open_offers.iter().find(|(_, a)| *a == agent).copied() {
                    Some((s, a)) => r.decline(a, s, now, &mut loads).unwrap(),
                    None => Vec::new(),
                },
                5 if !held.is_empty() => {
                    let (_, a) = held.remove(rng.below(held.len() as u64) as usize);
                    loads.close_one(a);
                    r.capacity_changed(now, &mut loads)
                }
                _ => r.expire(now, &mut loads),
            };
            apply(effects, &mut open_offers, &mut assigned, &mut held);
            // The ledger holds exactly the chats held plus the offers open: no slot leaks.
            for (agent, (load, max)) in &loads.agents {
                let expected = held.iter().filter(|(_, a)| a == agent).count()
                    + open_offers.iter().filter(|(_, a)| a == agent).count();
                assert_eq!(*load as usize, expected, "seed {seed}: agent {agent}'s slots leaked");
                assert!(load <= max, "seed {seed}: agent {agent} over capacity");
            }
        }
        // Everybody comes online, chats close, offers are accepted: nothing starves.
        for a in 1..=6 {
            let effects = r.set_presence(a, Presence::Online, now, &mut loads);
            apply(effects, &mut open_offers, &mut assigned, &mut held);
        }
        for _ in 0..10_000 {
            if r.waiting_len() == 0 {
                break;
            }
            now += 60;
            while let Some((_, a)) = held.pop() {
                loads.close_one(a);
            }
            let mut effects = r.capacity_changed(now, &mut loads);
            effects.extend(r.expire(now, &mut loads));
            apply(effects, &mut open_offers, &mut assigned, &mut held);
            for (s, a) in open_offers.clone() {
                let effects = r.accept(a, s, now, &mut loads).unwrap();
                apply(effects, &mut open_offers, &mut assigned, &mut held);
            }
        }
        assert_eq!(r.waiting_len(), 0, "seed {seed}: chats starved");
        assert!(open_offers.is_empty(), "seed {seed}: offers never ended");
    }
}

#[test]
fn a_transfer_to_the_department_goes_to_the_least_loaded_available_agent_but_never_the_sender() {
    let mut loads = Loads::with(&[(1, 2), (2, 2), (3, 2), (4, 2)]);
    let mut r = Router::new(RoutingConfig::default());
    for a in [1, 2, 3] {
        r.set_presence(a, Presence::Online, 0, &mut loads);
    }
    r.set_presence(4, Presence::Away, 0, &mut loads);
    loads.agents.insert(2, (1, 2));
    // Agent 1 (0/2) is the sender; 3 (0/2) beats 2 (1/2); 4 is away.
    assert_eq!(r.pick_receiver(10, 1, 5, &mut loads), Some(3));
    assert_eq!(loads.load(3), (1, 2), "the receiver's slot is reserved");
    let decision = decisions_for(&mut r, 10).pop().unwrap();
    assert_eq!((decision.agent, decision.outcome, decision.candidates), (3, Outcome::TransferOffered, 2));
    // 2 and 3 now hold 1 of 2 each: a tie goes to the one idle the longest (never assigned
    // either, so the lower id).
    assert_eq!(r.pick_receiver(11, 1, 6, &mut loads), Some(2));
    assert_eq!(r.pick_receiver(12, 1, 7, &mut loads), Some(3));
    assert_eq!(r.pick_receiver(13, 1, 8, &mut loads), None, "everyone but the sender is full or away");
    assert_eq!((loads.load(2), loads.load(3), loads.load(4)), ((2, 2), (2, 2), (0, 2)));
}

#[test]
fn a_new_priority_moves_a_waiting_chat_to_its_place_in_line_keeping_its_waiting_time() {
    let mut loads = Loads::with(&[(1, 1)]);
    let mut r = Router::new(RoutingConfig::default());
    for (session, since) in [(10, 1), (11, 2), (12, 3)] {
        r.enqueue(session, 0, since, since, &mut loads);
    }
    r.enqueue(12, 5, 3, 4, &mut loads);
    r.enqueue(11, 5, 2, 5, &mut loads);
    let order: Vec<SessionId> = r.queue().into_iter().map(|(s, _)| s).collect();
    assert_eq!(order, [11, 12, 10], "same priority: the one waiting longer first");
    r.enqueue(11, 0, 2, 6, &mut loads);
    let order: Vec<SessionId> = r.queue().into_iter().map(|(s, _)| s).collect();
    assert_eq!(order, [12, 10, 11]);
}

#[test]
fn every_outcome_name_reads_back() {
    for outcome in Outcome::ALL {
        assert_eq!(Outcome::from_name(outcome.name()), Some(*outcome));
    }
    assert_eq!(Outcome::from_name("nonsense"), None);
}
