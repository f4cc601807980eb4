//! One department's queue actor: the only writer of its routing decisions. It feeds events
//! to its [`Router`] and carries out what comes back: offers and withdrawals to the agent's
//! connections, assignments through the session actors (holding the reserved slot until
//! the accept is answered), places in line to waiting visitors; and it keeps the router's
//! one timer (the next offer expiry or ramp window) and one grace timer per disconnected
//! member.
//!
//! Its mailbox is bounded for requests from clients (`try_send`: a full one answers
//! `overloaded`); the engine's own notifications (a chat to enqueue, a chat gone, capacity
//! freed) are one per session or agent event and are never dropped (`do_send`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, AsyncContext, Context, Handler, SpawnHandle};
use tokio::sync::oneshot;

use super::across::{Granted, RouteWire, HELD_FOR};
use super::capacity::HubCapacity;
use crate::actor::registry;
use crate::actor::session::{CommandKind, Subscriber};
use crate::answer::{Reply, ReplyTo, Requeue, Reservation};
use crate::domain::routing::{Capacity, Decision, Effect, Outcome, Presence, Router, RoutingConfig};
use crate::hub::Hub;
use crate::outbox::{Event, Outbox};
use crate::{now_ms, AgentId, DepartmentId, EngineError, Participant, SessionId, State};
use switchboard_storage::records::RECORD_VERSION;
use switchboard_storage::{Batch, DecisionRecord};

/// What a queue actor is told or asked.
pub(crate) enum QueueMsg {
    /// A chat waits in this department (since it started, for its place in line).
    Enqueue { session: SessionId, priority: i64, since: u64, queued: std::time::Instant },
    /// A chat left the queue: `assigned` when an agent took it (the wait estimate counts it).
    Remove { session: SessionId, assigned: bool },
    /// An agent's availability changed (its `auth`, `set_presence`, a revoked credential).
    Presence { agent: AgentId, presence: Presence },
    /// The agent's last connection is gone: offline after the grace period unless it is back.
    Disconnected { agent: AgentId },
    /// An agent joined or left this department.
    Member { agent: AgentId, joined: bool },
    /// A slot freed somewhere (a chat closed, a reservation released, a capacity raised).
    CapacityChanged,
    /// The department's settings changed.
    Configure(RoutingConfig),
    /// An agent accepts its offer; the reply is the session actor's `accepted`, or
    /// `no_offer` when this agent holds no offer of the session.
    AcceptOffer {
        agent: AgentId,
        session: SessionId,
        subscriber: Subscriber,
        reply: ReplyTo,
        no_offer: EngineError,
    },
    /// An agent declines its offer.
    DeclineOffer { agent: AgentId, session: SessionId, reply: ReplyTo },
    /// The router's deadline passed.
    Expire,
    /// Agent `from` hands `session` to an agent or to this department, with a note;
    /// answered once offered.
    Transfer { from: AgentId, to: TransferTarget, session: SessionId, note: Option<String>, reply: ReplyTo },
    /// The receiver accepts (with the connection to subscribe) or declines a transfer.
    AnswerTransfer { agent: AgentId, session: SessionId, accept: Option<Subscriber>, reply: ReplyTo },
    /// A transfer ends without a hand-over (`expired`, or `closed` with its session).
    EndTransfer { session: SessionId, reason: &'static str },
    /// Cluster mode: this node now leads the department's queue (it took the department's
    /// shard), or no longer does.
    Lead(bool),
    /// Cluster mode, on the leader: may `agent` take `session` (accepting its offer on the
    /// session's owner)?
    Grant { agent: AgentId, session: SessionId, reply: oneshot::Sender<Granted> },
    /// Cluster mode, on the leader: `agent` declined `session` on another node.
    DeclineHere { agent: AgentId, session: SessionId },
    /// Cluster mode, on the leader: a slot held for a grant or an assignment carried out
    /// elsewhere was held long enough.
    HoldEnded { session: SessionId },
}

/// Who a transfer goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferTarget {
    /// A named agent (the chat stays in its department).
    Agent(AgentId),
    /// The department whose queue actor gets the request: it chooses the receiver by its
    /// routing policy, and the chat moves to it.
    Department,
}

/// A transfer waiting for its receiver, whose slot is reserved meanwhile.
struct PendingTransfer {
    from: AgentId,
    to: AgentId,
    /// Set for a transfer to this department: the session moves here on accept.
    department: Option<DepartmentId>,
    timer: SpawnHandle,
}

impl actix::Message for QueueMsg {
    type Result = ();
}

pub(crate) struct QueueActor {
    id: DepartmentId,
    router: Router,
    hub: Arc<Hub>,
    timer: Option<(u64, SpawnHandle)>,
    /// The place in line last told to each waiting visitor.
    told: HashMap<SessionId, (u32, Option<u64>)>,
    /// The grace timer of each member whose last connection dropped (at most one per
    /// member).
    grace: HashMap<AgentId, SpawnHandle>,
    /// Transfers waiting for their receivers (at most one per active session).
    transfers: HashMap<SessionId, PendingTransfer>,
    /// Decisions stored by this actor (tells apart the keys of one millisecond).
    decisions_stored: u64,
    /// Whether this node routes the department: always on one machine; in cluster mode on
    /// the node holding the department's shard only ([`super::across`]).
    leading: bool,
    /// Cluster mode: slots held for sessions granted or assigned on another node, until
    /// the log shows them leave the queue.
    held: HashMap<SessionId, (Reservation, SpawnHandle)>,
}

impl QueueActor {
    pub(crate) fn new(id: DepartmentId, config: RoutingConfig, hub: Arc<Hub>) -> QueueActor {
        let leading = hub.leads(id);
        if leading && hub.ownership.is_cluster() {
            metrics::gauge!("switchboard_cluster_departments_led").increment(1.0);
        }
        QueueActor {
            id,
            router: Router::new(config),
            hub,
            timer: None,
            told: HashMap::new(),
            grace: HashMap::new(),
            transfers: HashMap::new(),
            decisions_stored: 0,
            leading,
            held: HashMap::new(),
        }
    }

    fn apply(&mut self, effects: Vec<Effect>, ctx: &mut Context<Self>) {
        for effect in effects {
            match effect {
                Effect::Offer { session, agent, expires_at_ms } => {
                    let Some(snapshot) = self.hub.queue().get(session).cloned() else { continue };
                    if snapshot.meta.state != State::Waiting {
                        // It left the queue while its `Remove` was on the way: void the offer.
                        ctx.address().do_send(QueueMsg::Remove { session, assigned: false });
                        continue;
                    }
                    let event = Event::Offer { session: Arc::new(snapshot), expires_at_ms };
                    self.hub.tell_agent_anywhere(agent, event);
                    metrics::counter!("switchboard_routing_offers_total").increment(1);
                }
                Effect::Withdraw { session, agent, why } => {
                    let reason = outcome_name(why);
                    self.hub
                        .tell_agent_anywhere(agent, Event::OfferWithdrawn { session_id: session, reason });
                    metrics::counter!("switchboard_routing_withdrawals_total", "reason" => reason)
                        .increment(1);
                    // The agent's slot is free again: its other departments may offer it.
                    let me = ctx.address();
                    for actor in self.hub.routing.of_agent(agent).into_iter().filter(|a| *a != me) {
                        actor.do_send(QueueMsg::CapacityChanged);
                    }
                }
                // Auto-accept: no connection asked; one of the agent's connections follows it
                // (any: each lists its chats with `list_queue`).
                Effect::Assign { session, agent } => {
                    if let (Some(owner), Some(peers)) =
                        (self.hub.owner_elsewhere(session), self.hub.peers.get())
                    {
                        // Carried out by the session's owner; the slot is held here meanwhile.
                        peers.route(Some(&owner), RouteWire::Assign { session, agent });
                        self.hold(session, agent, ctx);
                        metrics::counter!("switchboard_routing_assignments_total").increment(1);
                        continue;
                    }
                    if !self.hub.owns_now(session) {
                        // Its shard is between owners (a node died): the slot waits here, and
                        // the chat goes back in line once held long enough.
                        self.hold(session, agent, ctx);
                        continue;
                    }
                    let outbox = self.hub.agent_outboxes(agent).pop().unwrap_or_else(Outbox::closed);
                    let subscriber = Subscriber { who: Participant::Agent(agent), outbox };
                    let reply = Reply::holding(Reservation { hub: self.hub.clone(), agent });
                    self.assign(session, agent, subscriber, reply, None);
                }
            }
        }
    }

    /// Accept `session` for `agent` through its session actor; the reserved slot is held
    /// until the accept is answered (then the chat counts instead). If the accept fails (it
    /// cannot reach the session actor, the write fails, the actor crashes), the chat goes
    /// back in line.
    fn assign(
        &self,
        session: SessionId,
        agent: AgentId,
        subscriber: Subscriber,
        reply: Reply,
        asked: Option<ReplyTo>,
    ) {
        assign(self.hub.clone(), session, agent, subscriber, reply, asked);
    }

    /// Cluster mode: hold `agent`'s reserved slot for `session`, granted or assigned on
    /// another node, until the log shows it leave the queue ([`QueueMsg::Remove`]) or for
    /// [`HELD_FOR`] at most.
    fn hold(&mut self, session: SessionId, agent: AgentId, ctx: &mut Context<Self>) {
        let timer = ctx.run_later(HELD_FOR, move |act, ctx| act.handle(QueueMsg::HoldEnded { session }, ctx));
        let reservation = Reservation { hub: self.hub.clone(), agent };
        if let Some((_, earlier)) = self.held.insert(session, (reservation, timer)) {
            ctx.cancel_future(earlier);
        }
    }

    /// Cluster mode: this node starts or stops leading the department. A new leader builds
    /// its queue from what every node knows (the waiting sessions in the queue view, the
    /// members' presence wherever connected); a former one withdraws its offers and
    /// releases every slot it held.
    fn lead(&mut self, leading: bool, ctx: &mut Context<Self>) -> Vec<Effect> {
        if leading == self.leading {
            return Vec::new();
        }
        self.leading = leading;
        metrics::gauge!("switchboard_cluster_departments_led").increment(if leading { 1.0 } else { -1.0 });
        let hub = self.hub.clone();
        let mut cap = HubCapacity::new(&hub);
        for (session, agent) in self.router.queue() {
            if let Some(agent) = agent {
                cap.release(agent);
                hub.tell_agent_anywhere(
                    agent,
                    Event::OfferWithdrawn { session_id: session, reason: "moved" },
                );
            }
        }
        for (_, (reservation, timer)) in self.held.drain() {
            ctx.cancel_future(timer);
            drop(reservation);
        }
        self.router = Router::new(self.router.config().clone());
        self.told.clear();
        // Members with their presence either way (an idle node still picks transfer receivers).
        let now = now_ms();
        let mut effects = Vec::new();
        let members = hub.routing.get(self.id).map(|d| d.agents).unwrap_or_default();
        for agent in members {
            effects.extend(self.router.set_presence(agent, hub.presence_anywhere(agent), now, &mut cap));
        }
        if !leading {
            return effects;
        }
        let waiting: Vec<(SessionId, i64, u64)> = {
            let queue = hub.queue();
            let [waiting, _, _] = queue.lists();
            waiting
                .into_iter()
                .filter(|s| s.meta.department_id == self.id)
                .map(|s| (s.meta.id, s.meta.priority, s.meta.created_at_ms))
                .collect()
        };
        for (session, priority, since) in waiting {
            effects.extend(self.router.enqueue(session, priority, since, now, &mut cap));
        }
        tracing::info!(target: "cluster", department = self.id, "leading the department's queue");
        effects
    }

    /// Cluster mode, on a node not leading the department: an agent accepts its offer of a
    /// session owned here (the relay brought the request): the leader grants it, then it
    /// is accepted here, where the session's actor is.
    fn accept_elsewhere(
        &self,
        agent: AgentId,
        session: SessionId,
        subscriber: Subscriber,
        reply: ReplyTo,
        no_offer: EngineError,
    ) {
        let (Some(leader), Some(peers)) = (self.hub.leader_elsewhere(self.id), self.hub.peers.get()) else {
            reply.outbox.answer(reply.req, Err(EngineError::ClusterUnavailable));
            return;
        };
        let asked = peers.ask(&leader, RouteWire::Grant { department: self.id, agent, session });
        let hub = self.hub.clone();
        actix::spawn(async move {
            match asked.await {
                Ok(Ok(Granted::Yes)) => {
                    metrics::counter!("switchboard_cluster_grants_total", "answer" => "granted").increment(1);
                    let held = Reply::new(reply.clone(), None);
                    assign(hub, session, agent, subscriber, held, Some(reply));
                }
                Ok(Ok(Granted::NoOffer)) => {
                    metrics::counter!("switchboard_cluster_grants_total", "answer" => "no_offer")
                        .increment(1);
                    reply.outbox.answer(reply.req, Err(no_offer));
                }
                Ok(Err(_)) | Err(_) => {
                    metrics::counter!("switchboard_cluster_grants_total", "answer" => "unavailable")
                        .increment(1);
                    reply.outbox.answer(reply.req, Err(EngineError::ClusterUnavailable));
                }
            }
        });
    }

    /// The department's policy returns an offline agent's active chats to the queue: each
    /// session actor makes it waiting again, and it comes back here as an `Enqueue`.
    fn requeue_chats_of(&self, agent: AgentId) {
        let held: Vec<SessionId> = {
            let queue = self.hub.queue();
            let [_, active, _] = queue.lists();
            active
                .into_iter()
                .filter(|s| s.meta.agent_id == Some(agent) && s.meta.department_id == self.id)
                .map(|s| s.meta.id)
                .collect()
        };
        for session in held {
            let hub = self.hub.clone();
            actix::spawn(async move {
                let _ =
                    registry::command(&hub, session, CommandKind::Requeue { agent }, Reply::silent()).await;
            });
        }
    }

    /// Send `agent`'s pending offers again (it reconnected: its new connection never saw
    /// them).
    fn replay_offers(&self, agent: AgentId) {
        for (session, expires_at_ms) in self.router.offers_of(agent) {
            let Some(snapshot) = self.hub.queue().get(session).cloned() else { continue };
            self.hub.tell_agent_anywhere(agent, Event::Offer { session: Arc::new(snapshot), expires_at_ms });
        }
    }

    /// Store the decisions this message made, through the group commit without waiting for
    /// it (a decision is a record for people, not state routing recovers from: one in flight
    /// when the process dies may be lost). Counted when the writer is saturated or failing.
    fn store_decisions(&mut self) {
        let decisions = self.router.take_decisions();
        if decisions.is_empty() {
            return;
        }
        let mut batch = Batch::new();
        for d in &decisions {
            self.decisions_stored += 1;
            // Unique per department and run; the department id tells departments apart
            // (a transferred chat has decisions from two).
            let n = (self.id << 40) | (self.decisions_stored & ((1 << 40) - 1));
            batch.put_decision(d.session, n, &decision_record(self.id, d));
        }
        let count = decisions.len() as u64;
        let unrecorded =
            move || metrics::counter!("switchboard_routing_decisions_unrecorded_total").increment(count);
        let done = Box::new(move |result: Result<(), switchboard_storage::StorageError>| {
            if result.is_err() {
                unrecorded();
            }
        });
        if self.hub.storage.submit(batch, done).is_err() {
            metrics::counter!("switchboard_routing_decisions_unrecorded_total").increment(count);
        }
    }

    /// Tell each waiting visitor whose place in line changed (a hint: skipped under load).
    fn publish_positions(&mut self) {
        let positions = self.router.positions();
        let mut told = HashMap::with_capacity(positions.len());
        for (session, position, estimate) in positions {
            if self.told.get(&session) != Some(&(position, estimate)) {
                let event =
                    Event::QueuePosition { session_id: session, position, estimated_wait_ms: estimate };
                self.hub.tell_visitors(session, event);
            }
            told.insert(session, (position, estimate));
        }
        self.told = told;
        let department = self.id.to_string();
        metrics::gauge!("switchboard_department_queue_length", "department" => department.clone())
            .set(self.router.waiting_len() as f64);
        let fairness = self.router.fairness(&HubCapacity::new(&self.hub)).unwrap_or(1.0);
        metrics::gauge!("switchboard_routing_fairness", "department" => department).set(fairness);
    }

    /// Keep one timer, at the router's next deadline.
    fn arm(&mut self, ctx: &mut Context<Self>) {
        let deadline = self.router.next_deadline();
        if self.timer.as_ref().map(|(at, _)| *at) == deadline {
            return;
        }
        if let Some((_, handle)) = self.timer.take() {
            ctx.cancel_future(handle);
        }
        if let Some(at) = deadline {
            let wait = Duration::from_millis(at.saturating_sub(now_ms()));
            let handle = ctx.run_later(wait, |act, ctx| {
                act.timer = None;
                act.handle(QueueMsg::Expire, ctx);
            });
            self.timer = Some((at, handle));
        }
    }

    /// Start (or restart) `agent`'s grace period; at its end it counts as offline unless
    /// it reconnected.
    fn start_grace(&mut self, agent: AgentId, ctx: &mut Context<Self>) {
        let grace = Duration::from_millis(self.hub.config.presence_grace_ms);
        let timer = ctx.run_later(grace, move |act, ctx| {
            act.grace.remove(&agent);
            if !act.hub.agent_reachable(agent) && act.router.presence(agent).is_some() {
                act.handle(QueueMsg::Presence { agent, presence: Presence::Offline }, ctx);
            }
        });
        if let Some(earlier) = self.grace.insert(agent, timer) {
            ctx.cancel_future(earlier);
        }
    }

    /// An offer answered: `accept` hands the session to the agent through its session
    /// actor; otherwise the effects of a decline.
    fn answer_offer(
        &mut self,
        agent: AgentId,
        session: SessionId,
        accept: Option<(Subscriber, EngineError)>,
        reply: ReplyTo,
    ) -> Vec<Effect> {
        let now = now_ms();
        let hub = self.hub.clone();
        let mut cap = HubCapacity::new(&hub);
        let unavailable =
            |reply: &ReplyTo| reply.outbox.answer(reply.req, Err(EngineError::OfferUnavailable(session)));
        match accept {
            Some((subscriber, no_offer)) => match self.router.accept(agent, session, now, &mut cap) {
                Ok(effects) => {
                    let held = Reply::new(reply.clone(), Some(Reservation { hub: hub.clone(), agent }));
                    self.assign(session, agent, subscriber, held, Some(reply));
                    effects.into_iter().filter(|e| *e != Effect::Assign { session, agent }).collect()
                }
                Err(_) => {
                    reply.outbox.answer(reply.req, Err(no_offer));
                    Vec::new()
                }
            },
            None => match self.router.decline(agent, session, now, &mut cap) {
                Ok(effects) => {
                    metrics::counter!("switchboard_routing_declines_total").increment(1);
                    reply.outbox.answer(reply.req, Ok(crate::Answer::Done));
                    effects
                }
                Err(_) => {
                    unavailable(&reply);
                    Vec::new()
                }
            },
        }
    }
}

impl QueueActor {
    /// Offer `session` to a receiver on behalf of its agent `from`, reserving the
    /// receiver's slot: the named agent, or the one this department's policy picks.
    fn transfer(
        &mut self,
        from: AgentId,
        to: TransferTarget,
        session: SessionId,
        note: Option<String>,
        ctx: &mut Context<Self>,
    ) -> Result<(), EngineError> {
        let snapshot = self.hub.queue().get(session).cloned().ok_or(EngineError::UnknownSession(session))?;
        if snapshot.meta.state != State::Active || snapshot.meta.agent_id != Some(from) {
            return Err(crate::domain::session::SessionError::NotYours(session).into());
        }
        if !self.hub.routing.claim_transfer(session, self.id) {
            return Err(EngineError::TransferPending(session));
        }
        let receiver = match to {
            TransferTarget::Agent(to) => self.reserve_agent(from, to),
            TransferTarget::Department => self.reserve_member(from, session),
        };
        let (to, department) = match receiver {
            Ok(found) => found,
            Err(e) => {
                self.hub.routing.release_transfer(session);
                return Err(e);
            }
        };
        let timeout = self.router.config().offer_timeout_ms;
        let expires_at_ms = now_ms() + timeout;
        let timer = ctx.run_later(Duration::from_millis(timeout), move |act, ctx| {
            act.handle(QueueMsg::EndTransfer { session, reason: "expired" }, ctx);
        });
        self.transfers.insert(session, PendingTransfer { from, to, department, timer });
        let event =
            Event::TransferOffer { session: Arc::new(snapshot), from, department, note, expires_at_ms };
        self.hub.tell_agent_anywhere(to, event);
        Ok(())
    }

    /// Reserve a slot of the named receiver `to` (connected, enabled, not `from`).
    fn reserve_agent(
        &self,
        from: AgentId,
        to: AgentId,
    ) -> Result<(AgentId, Option<DepartmentId>), EngineError> {
        let receiver = self.hub.directory.get(&to).map(|a| (a.disabled, a.max_concurrent_chats));
        match receiver {
            None => Err(EngineError::UnknownAgent(to)),
            Some((true, _)) => Err(EngineError::AgentUnavailable(to)),
            Some(_) if to == from || !self.hub.agent_reachable(to) => Err(EngineError::AgentUnavailable(to)),
            Some((false, max)) if !self.hub.queue().try_reserve(to, max) => {
                Err(EngineError::AgentAtCapacity { max })
            }
            Some(_) => Ok((to, None)),
        }
    }

    /// Reserve a slot of the member this department's policy picks for a chat transferred
    /// to it: `department_unavailable` when no member other than `from` is online with room.
    fn reserve_member(
        &mut self,
        from: AgentId,
        session: SessionId,
    ) -> Result<(AgentId, Option<DepartmentId>), EngineError> {
        let hub = self.hub.clone();
        let mut cap = HubCapacity::new(&hub);
        match self.router.pick_receiver(session, from, now_ms(), &mut cap) {
            Some(agent) => Ok((agent, Some(self.id))),
            None => {
                let name = hub.routing.get(self.id).map_or_else(|| self.id.to_string(), |d| d.name);
                Err(EngineError::DepartmentUnavailable(name))
            }
        }
    }

    /// The transfer of `session` ends without a hand-over: the receiver's slot is released
    /// and both sides are told.
    fn end_transfer(&mut self, session: SessionId, reason: &'static str, ctx: &mut Context<Self>) {
        let Some(pending) = self.transfers.remove(&session) else { return };
        self.hub.routing.release_transfer(session);
        ctx.cancel_future(pending.timer);
        // Dropping the reservation releases the slot and wakes the receiver's departments.
        drop(Reservation { hub: self.hub.clone(), agent: pending.to });
        let refused = Event::TransferRefused { session_id: session, to: pending.to, reason };
        self.hub.tell_agent_anywhere(pending.from, refused);
        self.hub.tell_agent_anywhere(pending.to, Event::OfferWithdrawn { session_id: session, reason });
    }

    /// The receiver answers: accepting hands the session over through its session actor
    /// (the reserved slot becomes the chat); declining ends the transfer.
    fn answer_transfer(
        &mut self,
        agent: AgentId,
        session: SessionId,
        accept: Option<Subscriber>,
        reply: ReplyTo,
        ctx: &mut Context<Self>,
    ) {
        if self.transfers.get(&session).is_none_or(|p| p.to != agent) {
            reply.outbox.answer(reply.req, Err(EngineError::OfferUnavailable(session)));
            return;
        }
        let Some(subscriber) = accept else {
            self.end_transfer(session, "declined", ctx);
            reply.outbox.answer(reply.req, Ok(crate::Answer::Done));
            return;
        };
        let pending = self.transfers.remove(&session).expect("checked above");
        self.hub.routing.release_transfer(session);
        ctx.cancel_future(pending.timer);
        metrics::counter!("switchboard_routing_transfers_total").increment(1);
        let held = Reply::new(reply.clone(), Some(Reservation { hub: self.hub.clone(), agent }));
        let hub = self.hub.clone();
        actix::spawn(async move {
            let kind = CommandKind::Reassign {
                from: pending.from,
                to: agent,
                department: pending.department,
                subscriber,
            };
            if let Err(e) = registry::command(&hub, session, kind, held).await {
                reply.outbox.answer(reply.req, Err(e));
            }
        });
    }
}

/// Accept `session` for `agent` through its session actor (see [`QueueActor::assign`]).
fn assign(
    hub: Arc<Hub>,
    session: SessionId,
    agent: AgentId,
    subscriber: Subscriber,
    reply: Reply,
    asked: Option<ReplyTo>,
) {
    metrics::counter!("switchboard_routing_assignments_total").increment(1);
    let reply = reply.requeue_on_failure(Requeue { hub: hub.clone(), session });
    actix::spawn(async move {
        let kind = CommandKind::Accept { agent, subscriber };
        if let Err(e) = registry::command(&hub, session, kind, reply).await {
            if let Some(asked) = asked {
                asked.outbox.answer(asked.req, Err(e));
            }
        }
    });
}

/// A decision as stored.
fn decision_record(department: DepartmentId, d: &Decision) -> DecisionRecord {
    DecisionRecord {
        v: RECORD_VERSION,
        at_ms: d.at_ms,
        department_id: department,
        agent_id: d.agent,
        outcome: d.outcome.name().to_string(),
        load: d.load.0,
        capacity: d.load.1,
        idle_ms: d.idle_ms,
        skipped: d.skipped.clone(),
        candidates: d.candidates as u32,
    }
}

/// The wire name of how an offer ended.
pub fn outcome_name(outcome: Outcome) -> &'static str {
    outcome.name()
}

impl Actor for QueueActor {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Context<Self>) {
        self.publish_positions();
    }
}

impl Handler<QueueMsg> for QueueActor {
    type Result = ();

    /// One message: feed the router, then carry out its effects, tell visitors their places
    /// and re-arm the timer. One arm per message kind.
    fn handle(&mut self, msg: QueueMsg, ctx: &mut Context<Self>) {
        let now = now_ms();
        let hub = self.hub.clone();
        let mut cap = HubCapacity::new(&hub);
        let effects = match msg {
            // Not leading (cluster mode): the leader routes this department. Requests about
            // offers go to it; what would fill a queue here is dropped.
            QueueMsg::Enqueue { .. } if !self.leading => return,
            // Granted or assigned on another node, not yet shown taken in the log.
            QueueMsg::Enqueue { session, .. } if self.held.contains_key(&session) => return,
            QueueMsg::AcceptOffer { agent, session, subscriber, reply, no_offer } if !self.leading => {
                self.accept_elsewhere(agent, session, subscriber, reply, no_offer);
                return;
            }
            QueueMsg::DeclineOffer { agent, session, reply } if !self.leading => {
                let told = match (self.hub.leader_elsewhere(self.id), self.hub.peers.get()) {
                    (Some(leader), Some(peers)) => {
                        peers
                            .route(Some(&leader), RouteWire::Decline { department: self.id, agent, session });
                        Ok(crate::Answer::Done)
                    }
                    _ => Err(EngineError::ClusterUnavailable),
                };
                reply.outbox.answer(reply.req, told);
                return;
            }
            QueueMsg::Grant { agent, session, reply } => {
                // The agent may have taken chats elsewhere since the offer (a plain accept on
                // another node): its offer's slot must still fit.
                let (load, max) = cap.load(agent);
                let fits = self.leading && load <= max;
                let accepted =
                    if fits { self.router.accept(agent, session, now, &mut cap).ok() } else { None };
                let granted = accepted.is_some();
                if let Some(effects) = accepted {
                    self.hold(session, agent, ctx);
                    let rest =
                        effects.into_iter().filter(|e| *e != Effect::Assign { session, agent }).collect();
                    self.apply(rest, ctx);
                }
                let _ = reply.send(if granted { Granted::Yes } else { Granted::NoOffer });
                Vec::new()
            }
            QueueMsg::DeclineHere { agent, session } => {
                if !self.leading {
                    return;
                }
                let effects = self.router.decline(agent, session, now, &mut cap).unwrap_or_default();
                metrics::counter!("switchboard_routing_declines_total").increment(1);
                effects
            }
            QueueMsg::HoldEnded { session } => {
                let Some((reservation, _)) = self.held.remove(&session) else { return };
                drop(reservation);
                // Not taken in time (the accept failed there, or its node died): back in line
                // if it still waits.
                let waiting =
                    self.hub.queue().get(session).filter(|s| s.meta.state == State::Waiting).cloned();
                match waiting {
                    Some(s) if self.leading => {
                        self.router.enqueue(session, s.meta.priority, s.meta.created_at_ms, now, &mut cap)
                    }
                    _ => self.router.capacity_changed(now, &mut cap),
                }
            }
            QueueMsg::Lead(leading) => self.lead(leading, ctx),
            QueueMsg::Enqueue { session, priority, since, queued } => {
                let effects = self.router.enqueue(session, priority, since, now, &mut cap);
                // Routing's own latency: from the chat being queued to its offer, when an agent
                // was free at once (the mailbox wait included; a chat that waits for an agent
                // is measured by the wait-time histograms instead).
                if effects.iter().any(|e| matches!(e, Effect::Offer { session: s, .. } | Effect::Assign { session: s, .. } if *s == session)) {
                    metrics::histogram!("switchboard_routing_offer_latency_seconds").record(queued.elapsed().as_secs_f64());
                }
                effects
            }
            QueueMsg::Remove { session, assigned } => {
                self.told.remove(&session);
                if let Some((reservation, timer)) = self.held.remove(&session) {
                    // The log shows it taken: its chat counts instead of the held slot.
                    ctx.cancel_future(timer);
                    drop(reservation);
                }
                // A closed session's pending transfer ends with it, whichever department
                // holds it.
                if self.hub.queue().get(session).is_none_or(|s| s.meta.state == State::Closed) {
                    match self.hub.routing.transfer_holder(session) {
                        Some(holder) if holder == self.id => self.end_transfer(session, "closed", ctx),
                        Some(holder) => {
                            if let Some(actor) = self.hub.routing.addr(holder) {
                                actor.do_send(QueueMsg::EndTransfer { session, reason: "closed" });
                            }
                        }
                        None => {}
                    }
                }
                self.router.remove(session, assigned, now, &mut cap)
            }
            QueueMsg::Presence { agent, presence } => {
                if presence == Presence::Offline && self.router.config().requeue_on_offline {
                    self.requeue_chats_of(agent);
                }
                if presence == Presence::Online {
                    if let Some(timer) = self.grace.remove(&agent) {
                        ctx.cancel_future(timer);
                    }
                    self.replay_offers(agent);
                }
                self.router.set_presence(agent, presence, now, &mut cap)
            }
            QueueMsg::Disconnected { agent } => {
                self.start_grace(agent, ctx);
                Vec::new()
            }
            QueueMsg::Member { agent, joined: true } => {
                self.router.set_presence(agent, self.hub.presence_anywhere(agent), now, &mut cap)
            }
            QueueMsg::Member { agent, joined: false } => self.router.remove_agent(agent, now, &mut cap),
            QueueMsg::CapacityChanged => self.router.capacity_changed(now, &mut cap),
            QueueMsg::Configure(config) => self.router.configure(config, now, &mut cap),
            QueueMsg::AcceptOffer { agent, session, subscriber, reply, no_offer } => {
                self.answer_offer(agent, session, Some((subscriber, no_offer)), reply)
            }
            QueueMsg::DeclineOffer { agent, session, reply } => {
                self.answer_offer(agent, session, None, reply)
            }
            QueueMsg::Expire => self.router.expire(now, &mut cap),
            QueueMsg::Transfer { from, to, session, note, reply } => {
                let answer = self.transfer(from, to, session, note, ctx).map(|()| crate::Answer::Done);
                reply.outbox.answer(reply.req, answer);
                Vec::new()
            }
            QueueMsg::AnswerTransfer { agent, session, accept, reply } => {
                self.answer_transfer(agent, session, accept, reply, ctx);
                Vec::new()
            }
            QueueMsg::EndTransfer { session, reason } => {
                self.end_transfer(session, reason, ctx);
                Vec::new()
            }
        };
        self.apply(effects, ctx);
        self.store_decisions();
        self.publish_positions();
        self.arm(ctx);
    }
}
