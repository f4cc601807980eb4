//! Fair assignment for one department: the queue order, offers, burst control and the
//! visitors' place in line, as a plain state machine (no I/O, the clock passed in). A
//! department's queue actor is its only writer, so every decision is made in one place,
//! without locks and without counting anything in storage.
//!
//! # The policy
//! - Order: higher `priority` first, then longest waiting (enqueue time), then session id.
//! - A chat goes to the eligible agent with the lowest load (chats held, offers pending
//!   included, ÷ capacity); ties go to the agent who has gone longest without an
//!   assignment, then the lowest id. Eligible: online, not at capacity (checked and
//!   reserved through [`Capacity`], which an agent in several departments shares), not
//!   ramping (at most `ramp_max` new chats per `ramp_window_ms`), and not one who let this
//!   chat pass before (unless every eligible agent did: then it goes round again).
//! - Automatic mode makes an **offer**: the agent's capacity is reserved at once, and the
//!   offer is accepted, declined or expires after `offer_timeout_ms`; the chat is then
//!   re-offered to the next agent. With `auto_accept` the offer is an assignment at once.
//!   Manual mode makes no offers: agents accept from the queue.
//! - Dispatch is driven by events (a chat arrives, an agent comes online, capacity frees, a
//!   setting changes), never by a sweep; the only timers are the earliest offer's expiry
//!   and the end of a ramping agent's window while chats wait ([`Router::next_deadline`]).
//! - Every decision is recorded with its reason ([`Decision`]), handed to the actor to store
//!   ([`Router::take_decisions`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use super::types::{AgentId, SessionId};

/// A department's routing settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingConfig {
    /// Automatic (offers) or manual (agents pull from the queue).
    pub automatic: bool,
    /// An offer is an assignment at once (no accept step).
    pub auto_accept: bool,
    /// How long an agent has to accept an offer.
    pub offer_timeout_ms: u64,
    /// Burst control: at most this many new chats per agent per window …
    pub ramp_max: u32,
    /// … of this many milliseconds.
    pub ramp_window_ms: u64,
    /// When a member goes offline (after its grace period), its active chats in this
    /// department go back to the queue (`true`) or stay with it (`false`, "keep").
    pub requeue_on_offline: bool,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            automatic: false,
            auto_accept: false,
            offer_timeout_ms: 30_000,
            ramp_max: 3,
            ramp_window_ms: 60_000,
            requeue_on_offline: false,
        }
    }
}

/// An agent's availability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Online,
    Away,
    Offline,
}

/// Agents' loads, shared by every department an agent belongs to. Reserving is the only way
/// a slot is taken, so an implementation that reserves atomically (compare and swap on the
/// agent's count) makes overshoot impossible however departments, accepts and transfers
/// race.
pub trait Capacity {
    /// (chats held including reservations, maximum).
    fn load(&self, agent: AgentId) -> (u32, u32);
    /// Take one slot if one is free.
    fn try_reserve(&mut self, agent: AgentId) -> bool;
    /// Give back a reserved slot that did not become a chat.
    fn release(&mut self, agent: AgentId);
}

/// What the department's actor must carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Tell `agent` it is offered `session` until `expires_at_ms` (its slot is reserved).
    Offer { session: SessionId, agent: AgentId, expires_at_ms: u64 },
    /// Assign `session` to `agent` (an accepted offer, or auto-accept): the slot reserved
    /// for the offer becomes the chat.
    Assign { session: SessionId, agent: AgentId },
    /// `agent`'s offer of `session` is void (declined, expired, taken from the queue, the
    /// agent went offline); its slot was released.
    Withdraw { session: SessionId, agent: AgentId, why: Outcome },
}

/// How an offer ended, or why a decision was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Offered,
    Accepted,
    AutoAccepted,
    Declined,
    Expired,
    /// Someone accepted the chat from the queue, or it left the queue otherwise.
    Taken,
    /// The agent went away or offline.
    Unavailable,
    /// The agent was chosen to receive a chat transferred to this department.
    TransferOffered,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: &'static [Outcome] = &[
        Outcome::Offered,
        Outcome::Accepted,
        Outcome::AutoAccepted,
        Outcome::Declined,
        Outcome::Expired,
        Outcome::Taken,
        Outcome::Unavailable,
        Outcome::TransferOffered,
    ];

    /// The outcome's name on the wire and in storage.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Offered => "offered",
            Outcome::Accepted => "accepted",
            Outcome::AutoAccepted => "auto_accepted",
            Outcome::Declined => "declined",
            Outcome::Expired => "expired",
            Outcome::Taken => "taken",
            Outcome::Unavailable => "unavailable",
            Outcome::TransferOffered => "transfer_offered",
        }
    }

    /// The outcome of a stored name.
    pub fn from_name(name: &str) -> Option<Outcome> {
        Outcome::ALL.iter().copied().find(|o| o.name() == name)
    }
}

/// One routing decision, kept for "why did this chat go to Ann?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub at_ms: u64,
    pub session: SessionId,
    pub agent: AgentId,
    pub outcome: Outcome,
    /// The chosen agent's load before the decision: (held, capacity).
    pub load: (u32, u32),
    /// How long the chosen agent had gone without an assignment (`None`: never assigned).
    pub idle_ms: Option<u64>,
    /// Agents passed over because they let this chat pass before.
    pub skipped: Vec<AgentId>,
    /// Eligible agents considered.
    pub candidates: usize,
}

/// Why a request to the router was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("session {0} has no offer for this agent (it expired, was declined, or went to someone else)")]
    NoSuchOffer(SessionId),
    #[error("agent {0} is not in this department")]
    UnknownAgent(AgentId),
}

#[derive(Debug, Clone)]
struct Waiting {
    key: Key,
    /// Agents who let this chat pass.
    skipped: HashSet<AgentId>,
    /// The pending offer, if any.
    offer: Option<(AgentId, u64)>,
}

/// Queue order: priority (higher first), then enqueue time, then id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    neg_priority: i64,
    enqueued_at_ms: u64,
    session: SessionId,
}

#[derive(Debug, Clone)]
struct AgentState {
    presence: Presence,
    last_assigned_ms: Option<u64>,
    /// Times of recent offers (burst control), oldest first.
    recent: VecDeque<u64>,
}

/// How many recent assignment intervals the wait estimate averages over (an exponential
/// moving average with this weight).
const ESTIMATE_WEIGHT: u64 = 8;

/// One department's router.
#[derive(Debug)]
pub struct Router {
    config: RoutingConfig,
    order: BTreeSet<Key>,
    waiting: HashMap<SessionId, Waiting>,
    /// Offer expiries: (expires_at_ms, session).
    expiries: BTreeSet<(u64, SessionId)>,
    agents: BTreeMap<AgentId, AgentState>,
    /// Decisions made since the last [`Router::take_decisions`].
    decisions: Vec<Decision>,
    last_assignment_ms: Option<u64>,
    /// Moving average of the time between assignments (the wait estimate's rate).
    interval_ms: Option<u64>,
}

impl Router {
    pub fn new(config: RoutingConfig) -> Router {
        Router {
            config,
            order: BTreeSet::new(),
            waiting: HashMap::new(),
            expiries: BTreeSet::new(),
            agents: BTreeMap::new(),
            decisions: Vec::new(),
            last_assignment_ms: None,
            interval_ms: None,
        }
    }

    pub fn config(&self) -> &RoutingConfig {
        &self.config
    }

    /// Change the settings; switching to automatic mode dispatches at once.
    pub fn configure(&mut self, config: RoutingConfig, now: u64, cap: &mut impl Capacity) -> Vec<Effect> {
        self.config = config;
        self.dispatch(now, cap)
    }

    /// A chat starts waiting in this department (`since`: when it started waiting, so a
    /// chat queued again after a restart keeps its place). A chat already waiting keeps its
    /// place among its priority; a new `priority` moves it to its new place in line.
    pub fn enqueue(
        &mut self,
        session: SessionId,
        priority: i64,
        since: u64,
        now: u64,
        cap: &mut impl Capacity,
    ) -> Vec<Effect> {
        match self.waiting.get_mut(&session) {
            None => {
                let key = Key { neg_priority: -priority, enqueued_at_ms: since, session };
                self.order.insert(key);
                self.waiting.insert(session, Waiting { key, skipped: HashSet::new(), offer: None });
            }
            Some(waiting) if waiting.key.neg_priority != -priority => {
                self.order.remove(&waiting.key);
                waiting.key.neg_priority = -priority;
                self.order.insert(waiting.key);
            }
            Some(_) => {}
        }
        self.dispatch(now, cap)
    }

    /// The chat left the queue (accepted from the queue, closed, transferred away): any
    /// pending offer is withdrawn and its slot released.
    pub fn remove(
        &mut self,
        session: SessionId,
        assigned: bool,
        now: u64,
        cap: &mut impl Capacity,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        if let Some(waiting) = self.waiting.remove(&session) {
            self.order.remove(&waiting.key);
            if assigned {
                // An agent took it from the queue: the wait estimate counts it too.
                self.note_assignment(now);
            }
            if let Some((agent, expires)) = waiting.offer {
                self.expiries.remove(&(expires, session));
                cap.release(agent);
                effects.push(Effect::Withdraw { session, agent, why: Outcome::Taken });
            }
        }
        effects.extend(self.dispatch(now, cap));
        effects
    }

    /// An agent joins the department (or is already in it) with a presence.
    pub fn set_presence(
        &mut self,
        agent: AgentId,
        presence: Presence,
        now: u64,
        cap: &mut impl Capacity,
    ) -> Vec<Effect> {
        let state = self.agents.entry(agent).or_insert(AgentState {
            presence,
            last_assigned_ms: None,
            recent: VecDeque::new(),
        });
        let was = state.presence;
        state.presence = presence;
        let mut effects = Vec::new();
        if presence != Presence::Online {
            effects.extend(self.withdraw_offers_of(agent, Outcome::Unavailable, cap));
        } else if was != Presence::Online {
            // Burst control starts from a clean window for an agent coming online.
            if let Some(state) = self.agents.get_mut(&agent) {
                state.recent.clear();
            }
        }
        effects.extend(self.dispatch(now, cap));
        effects
    }

    /// The agent leaves the department: its offers are withdrawn.
    pub fn remove_agent(&mut self, agent: AgentId, now: u64, cap: &mut impl Capacity) -> Vec<Effect> {
        let mut effects = self.withdraw_offers_of(agent, Outcome::Unavailable, cap);
        self.agents.remove(&agent);
        for waiting in self.waiting.values_mut() {
            waiting.skipped.remove(&agent);
        }
        effects.extend(self.dispatch(now, cap));
        effects
    }

    /// Capacity freed somewhere (a chat closed, a capacity raised, a transfer completed):
    /// offer what can be offered now.
    pub fn capacity_changed(&mut self, now: u64, cap: &mut impl Capacity) -> Vec<Effect> {
        self.dispatch(now, cap)
    }

    /// `agent` accepts its offer of `session`.
    pub fn accept(
        &mut self,
        agent: AgentId,
        session: SessionId,
        now: u64,
        cap: &mut impl Capacity,
    ) -> Result<Vec<Effect>, RouteError> {
        self.take_offer(agent, session)?;
        let waiting = self.waiting.remove(&session).expect("offered chats are waiting");
        self.order.remove(&waiting.key);
        self.record(now, session, agent, Outcome::Accepted, cap.load(agent), &waiting.skipped, 0);
        self.assigned(agent, now);
        let mut effects = vec![Effect::Assign { session, agent }];
        effects.extend(self.dispatch(now, cap));
        Ok(effects)
    }

    /// `agent` declines its offer of `session`: it is skipped for that chat, which goes to
    /// the next agent.
    pub fn decline(
        &mut self,
        agent: AgentId,
        session: SessionId,
        now: u64,
        cap: &mut impl Capacity,
    ) -> Result<Vec<Effect>, RouteError> {
        self.take_offer(agent, session)?;
        cap.release(agent);
        self.pass(agent, session, now, Outcome::Declined, cap);
        let mut effects = vec![Effect::Withdraw { session, agent, why: Outcome::Declined }];
        effects.extend(self.dispatch(now, cap));
        Ok(effects)
    }

    /// Expire every offer whose time is up, and offer what a ramp window now allows (call
    /// at [`Router::next_deadline`]).
    pub fn expire(&mut self, now: u64, cap: &mut impl Capacity) -> Vec<Effect> {
        let mut effects = Vec::new();
        while let Some(&(at, session)) = self.expiries.first() {
            if at > now {
                break;
            }
            self.expiries.remove(&(at, session));
            let Some(waiting) = self.waiting.get_mut(&session) else { continue };
            let Some((agent, _)) = waiting.offer.take() else { continue };
            cap.release(agent);
            self.pass(agent, session, now, Outcome::Expired, cap);
            effects.push(Effect::Withdraw { session, agent, why: Outcome::Expired });
        }
        effects.extend(self.dispatch(now, cap));
        effects
    }

    /// When [`Router::expire`] must next be called: the earliest offer expiry, or, while
    /// chats wait unoffered, the moment a ramping agent's window lets it take one more.
    pub fn next_deadline(&self) -> Option<u64> {
        let offer = self.expiries.first().map(|(at, _)| *at);
        let unoffered = self.config.automatic && self.waiting.values().any(|w| w.offer.is_none());
        let ramp = unoffered
            .then(|| {
                self.agents
                    .values()
                    .filter(|a| {
                        a.presence == Presence::Online && a.recent.len() >= self.config.ramp_max as usize
                    })
                    .filter_map(|a| a.recent.front().map(|t| t + self.config.ramp_window_ms))
                    .min()
            })
            .flatten();
        [offer, ramp].into_iter().flatten().min()
    }

    /// Choose who receives a chat transferred to this department, by the same policy as an
    /// offer (lowest load, then longest idle; online, with a free slot, not ramping), never
    /// `from`. The receiver's slot is reserved and the choice recorded; `None` when nobody is
    /// available.
    pub fn pick_receiver(
        &mut self,
        session: SessionId,
        from: AgentId,
        now: u64,
        cap: &mut impl Capacity,
    ) -> Option<AgentId> {
        let ids: Vec<AgentId> = self.agents.keys().copied().filter(|a| *a != from).collect();
        let mut eligible: Vec<AgentId> = ids.into_iter().filter(|a| self.eligible(*a, now, cap)).collect();
        loop {
            let agent = self.best(&eligible, &HashSet::new(), cap)?;
            let load = cap.load(agent);
            if cap.try_reserve(agent) {
                let candidates = eligible.len();
                self.agents.get_mut(&agent).expect("eligible agents are known").recent.push_back(now);
                self.record(now, session, agent, Outcome::TransferOffered, load, &HashSet::new(), candidates);
                return Some(agent);
            }
            eligible.retain(|a| *a != agent);
        }
    }

    /// The offers pending for `agent`: (session, expires_at_ms).
    pub fn offers_of(&self, agent: AgentId) -> Vec<(SessionId, u64)> {
        self.waiting
            .iter()
            .filter_map(|(s, w)| w.offer.filter(|(a, _)| *a == agent).map(|(_, at)| (*s, at)))
            .collect()
    }

    /// The waiting chats in order, with each one's pending offer.
    pub fn queue(&self) -> Vec<(SessionId, Option<AgentId>)> {
        self.order.iter().map(|k| (k.session, self.waiting[&k.session].offer.map(|(a, _)| a))).collect()
    }

    /// Each waiting chat's place in line (1 = next) and estimated wait in ms (`None`
    /// before the department has assigned two chats: no rate to estimate from).
    pub fn positions(&self) -> Vec<(SessionId, u32, Option<u64>)> {
        let interval = self.interval_ms;
        self.order
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let place = i as u32 + 1;
                (k.session, place, interval.map(|ms| ms.saturating_mul(u64::from(place))))
            })
            .collect()
    }

    /// The decisions made since the last call, oldest first (the actor stores them).
    pub fn take_decisions(&mut self) -> Vec<Decision> {
        std::mem::take(&mut self.decisions)
    }

    /// Jain's index over the online members' load ratios (held ÷ capacity): 1 when every
    /// agent carries the same share, 1/n when one carries everything; `None` without load.
    pub fn fairness(&self, cap: &impl Capacity) -> Option<f64> {
        let ratios: Vec<f64> = self
            .agents
            .iter()
            .filter(|(_, a)| a.presence == Presence::Online)
            .map(|(id, _)| {
                let (held, max) = cap.load(*id);
                f64::from(held) / f64::from(max.max(1))
            })
            .collect();
        let (sum, squares) = ratios.iter().fold((0.0, 0.0), |(s, q), x| (s + x, q + x * x));
        (squares > 0.0).then(|| sum * sum / (ratios.len() as f64 * squares))
    }

    /// How many chats wait.
    pub fn waiting_len(&self) -> usize {
        self.order.len()
    }

    /// The agent's presence in this department, if it belongs to it.
    pub fn presence(&self, agent: AgentId) -> Option<Presence> {
        self.agents.get(&agent).map(|a| a.presence)
    }

    fn take_offer(&mut self, agent: AgentId, session: SessionId) -> Result<(), RouteError> {
        let waiting = self.waiting.get_mut(&session).ok_or(RouteError::NoSuchOffer(session))?;
        match waiting.offer {
            Some((offered, expires)) if offered == agent => {
                waiting.offer = None;
                self.expiries.remove(&(expires, session));
                Ok(())
            }
            _ => Err(RouteError::NoSuchOffer(session)),
        }
    }

    /// `agent` let `session` pass: skip it for that chat from now on.
    fn pass(&mut self, agent: AgentId, session: SessionId, now: u64, outcome: Outcome, cap: &impl Capacity) {
        let skipped = match self.waiting.get_mut(&session) {
            Some(waiting) => {
                waiting.skipped.insert(agent);
                waiting.skipped.clone()
            }
            None => HashSet::new(),
        };
        self.record(now, session, agent, outcome, cap.load(agent), &skipped, 0);
    }

    fn withdraw_offers_of(&mut self, agent: AgentId, why: Outcome, cap: &mut impl Capacity) -> Vec<Effect> {
        let mut effects = Vec::new();
        for (session, waiting) in self.waiting.iter_mut() {
            if let Some((offered, expires)) = waiting.offer {
                if offered == agent {
                    waiting.offer = None;
                    self.expiries.remove(&(expires, *session));
                    cap.release(agent);
                    effects.push(Effect::Withdraw { session: *session, agent, why });
                }
            }
        }
        effects
    }

    fn assigned(&mut self, agent: AgentId, now: u64) {
        if let Some(state) = self.agents.get_mut(&agent) {
            state.last_assigned_ms = Some(now);
        }
        self.note_assignment(now);
    }

    /// One more assignment in this department: the rate behind the wait estimate.
    fn note_assignment(&mut self, now: u64) {
        if let Some(last) = self.last_assignment_ms {
            let gap = now.saturating_sub(last);
            self.interval_ms = Some(match self.interval_ms {
                None => gap,
                Some(avg) => (avg * (ESTIMATE_WEIGHT - 1) + gap) / ESTIMATE_WEIGHT,
            });
        }
        self.last_assignment_ms = Some(now);
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        now: u64,
        session: SessionId,
        agent: AgentId,
        outcome: Outcome,
        load: (u32, u32),
        skipped: &HashSet<AgentId>,
        candidates: usize,
    ) {
        let idle_ms = self.agents.get(&agent).and_then(|a| a.last_assigned_ms).map(|t| now.saturating_sub(t));
        let mut skipped: Vec<AgentId> = skipped.iter().copied().collect();
        skipped.sort_unstable();
        let decision = Decision { at_ms: now, session, agent, outcome, load, idle_ms, skipped, candidates };
        self.decisions.push(decision);
    }

    /// Offer (or assign) waiting chats, in order, while an eligible agent has room. The
    /// eligible agents are found once per call (O(agents)) and kept current as this call
    /// reserves their slots, so a dispatch costs O(agents + offers × eligible).
    fn dispatch(&mut self, now: u64, cap: &mut impl Capacity) -> Vec<Effect> {
        let mut effects = Vec::new();
        if !self.config.automatic || self.order.is_empty() {
            return effects;
        }
        let ids: Vec<AgentId> = self.agents.keys().copied().collect();
        let mut eligible: Vec<AgentId> = ids.into_iter().filter(|a| self.eligible(*a, now, cap)).collect();
        let mut cursor = None;
        while !eligible.is_empty() {
            let next = match cursor {
                None => self.order.iter().next(),
                Some(after) => {
                    self.order.range((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded)).next()
                }
            };
            let Some(&key) = next else { break };
            cursor = Some(key);
            let session = key.session;
            if self.waiting[&session].offer.is_some() {
                continue;
            }
            // The best agent for this chat whose slot can still be reserved: another
            // department may have taken one since `eligible` was computed.
            let chosen = loop {
                let Some((agent, candidates, skipped)) = self.choose(session, &eligible, cap) else {
                    break None;
                };
                let load = cap.load(agent);
                if cap.try_reserve(agent) {
                    break Some((agent, candidates, skipped, load));
                }
                eligible.retain(|a| *a != agent);
            };
            let Some((agent, candidates, skipped, load)) = chosen else { continue };
            self.agents.get_mut(&agent).expect("chosen agents are known").recent.push_back(now);
            if !self.eligible(agent, now, cap) {
                eligible.retain(|a| *a != agent);
            }
            if self.config.auto_accept {
                let waiting = self.waiting.remove(&session).expect("pending chats wait");
                self.order.remove(&waiting.key);
                self.record(now, session, agent, Outcome::AutoAccepted, load, &skipped, candidates);
                self.assigned(agent, now);
                effects.push(Effect::Assign { session, agent });
            } else {
                let expires_at_ms = now + self.config.offer_timeout_ms;
                let waiting = self.waiting.get_mut(&session).expect("pending chats wait");
                waiting.offer = Some((agent, expires_at_ms));
                self.expiries.insert((expires_at_ms, session));
                self.record(now, session, agent, Outcome::Offered, load, &skipped, candidates);
                effects.push(Effect::Offer { session, agent, expires_at_ms });
            }
        }
        effects
    }

    fn eligible(&mut self, agent: AgentId, now: u64, cap: &impl Capacity) -> bool {
        let window = self.config.ramp_window_ms;
        let ramp_max = self.config.ramp_max as usize;
        let Some(state) = self.agents.get_mut(&agent) else { return false };
        while state.recent.front().is_some_and(|t| now.saturating_sub(*t) >= window) {
            state.recent.pop_front();
        }
        let (held, max) = cap.load(agent);
        state.presence == Presence::Online && held < max && state.recent.len() < ramp_max
    }

    /// The best of the `eligible` agents for `session`: lowest load ratio, then longest
    /// idle, then lowest id. When every eligible agent let this chat pass, the skips are
    /// forgotten and it goes round again (a chat is never stranded).
    fn choose(
        &mut self,
        session: SessionId,
        eligible: &[AgentId],
        cap: &impl Capacity,
    ) -> Option<(AgentId, usize, HashSet<AgentId>)> {
        let waiting = self.waiting.get_mut(&session)?;
        if !waiting.skipped.is_empty() && eligible.iter().all(|a| waiting.skipped.contains(a)) {
            waiting.skipped.clear();
        }
        let skipped = waiting.skipped.clone();
        let candidates = eligible.iter().filter(|a| !skipped.contains(a)).count();
        let best = self.best(eligible, &skipped, cap)?;
        Some((best, candidates, skipped))
    }

    /// The best of `eligible` not in `skipped`: lowest load ratio, then longest idle, then
    /// lowest id.
    fn best(&self, eligible: &[AgentId], skipped: &HashSet<AgentId>, cap: &impl Capacity) -> Option<AgentId> {
        let agents = &self.agents;
        eligible.iter().copied().filter(|a| !skipped.contains(a)).min_by(|a, b| {
            let (ha, ma) = cap.load(*a);
            let (hb, mb) = cap.load(*b);
            // ha/ma < hb/mb  ⇔  ha·mb < hb·ma (capacities are at least 1).
            let by_load = (u64::from(ha) * u64::from(mb.max(1))).cmp(&(u64::from(hb) * u64::from(ma.max(1))));
            let idle = |x: AgentId| agents[&x].last_assigned_ms;
            // Never assigned (None) counts as idle the longest.
            by_load.then_with(|| idle(*a).cmp(&idle(*b))).then_with(|| a.cmp(b))
        })
    }
}

#[cfg(test)]
#[path = "routing_tests.rs"]
mod tests;
