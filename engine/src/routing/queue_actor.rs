//! One department's queue actor: the only writer of its routing decisions. It feeds events
//! to its [`Router`] and carries out what comes back: offers and withdrawals to the agent's
//! connections, assignments through the session actors (holding the reserved slot until
//! the accept is answered), places in line to waiting visitors; and it keeps the router's
//! one timer (the next offer expiry or ramp window).
//!
//! Its mailbox is bounded for requests from clients (`try_send`: a full one answers
//! `overloaded`); the engine's own notifications (a chat to enqueue, a chat gone, capacity
//! freed) are one per session or agent event and are never dropped (`do_send`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, AsyncContext, Context, Handler, SpawnHandle};
use tokio::sync::oneshot;

use super::capacity::HubCapacity;
use crate::actor::registry;
use crate::actor::session::{CommandKind, Subscriber};
use crate::answer::{Reply, ReplyTo, Reservation};
use crate::domain::routing::{Decision, Effect, Outcome, Presence, RouteError, Router, RoutingConfig};
use crate::hub::Hub;
use crate::outbox::{Event, Outbox};
use crate::{now_ms, AgentId, DepartmentId, EngineError, Participant, SessionId};

/// What a queue actor is told or asked.
pub(crate) enum QueueMsg {
    Enqueue {
        session: SessionId,
        priority: i64,
        since: u64,
    },
    Remove {
        session: SessionId,
    },
    Presence {
        agent: AgentId,
        presence: Presence,
    },
    /// The agent's last connection is gone: offline after the grace period unless it is back.
    Disconnected {
        agent: AgentId,
    },
    Member {
        agent: AgentId,
        joined: bool,
    },
    CapacityChanged,
    Configure(RoutingConfig),
    AcceptOffer {
        agent: AgentId,
        session: SessionId,
        subscriber: Subscriber,
        reply: ReplyTo,
    },
    DeclineOffer {
        agent: AgentId,
        session: SessionId,
        reply: ReplyTo,
    },
    Decisions {
        session: SessionId,
        tx: oneshot::Sender<Vec<Decision>>,
    },
    Expire,
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
}

impl QueueActor {
    pub(crate) fn new(id: DepartmentId, config: RoutingConfig, hub: Arc<Hub>) -> QueueActor {
        QueueActor { id, router: Router::new(config), hub, timer: None, told: HashMap::new() }
    }

    fn apply(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Offer { session, agent, expires_at_ms } => {
                    let Some(snapshot) = self.hub.queue().get(session).cloned() else { continue };
                    let event = Event::Offer { session: Arc::new(snapshot), expires_at_ms };
                    for outbox in self.hub.agent_outboxes(agent) {
                        outbox.deliver(event.clone());
                    }
                    metrics::counter!("switchboard_routing_offers_total").increment(1);
                }
                Effect::Withdraw { session, agent, why } => {
                    let reason = outcome_name(why);
                    for outbox in self.hub.agent_outboxes(agent) {
                        outbox.deliver(Event::OfferWithdrawn { session_id: session, reason });
                    }
                    metrics::counter!("switchboard_routing_withdrawals_total", "reason" => reason)
                        .increment(1);
                }
                // Auto-accept: no connection asked; the agent's newest connection follows it.
                Effect::Assign { session, agent } => {
                    let outbox = self.hub.agent_outboxes(agent).pop().unwrap_or_else(Outbox::closed);
                    let subscriber = Subscriber { who: Participant::Agent(agent), outbox };
                    let reply = Reply::holding(Reservation { hub: self.hub.clone(), agent });
                    self.assign(session, agent, subscriber, reply, None);
                }
            }
        }
    }

    /// Accept `session` for `agent` through its session actor; the reserved slot is held
    /// until the accept is answered (then the chat counts instead).
    fn assign(
        &self,
        session: SessionId,
        agent: AgentId,
        subscriber: Subscriber,
        reply: Reply,
        asked: Option<ReplyTo>,
    ) {
        metrics::counter!("switchboard_routing_assignments_total").increment(1);
        let hub = self.hub.clone();
        actix::spawn(async move {
            let kind = CommandKind::Accept { agent, subscriber };
            if let Err(e) = registry::command(&hub, session, kind, reply).await {
                if let Some(asked) = asked {
                    asked.outbox.answer(asked.req, Err(e));
                }
            }
        });
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
        metrics::gauge!("switchboard_department_queue_length", "department" => self.id.to_string())
            .set(self.router.waiting_len() as f64);
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
}

/// The wire name of how an offer ended.
pub fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Offered => "offered",
        Outcome::Accepted => "accepted",
        Outcome::AutoAccepted => "auto_accepted",
        Outcome::Declined => "declined",
        Outcome::Expired => "expired",
        Outcome::Taken => "taken",
        Outcome::Unavailable => "unavailable",
    }
}

impl Actor for QueueActor {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Context<Self>) {
        self.publish_positions();
    }
}

impl Handler<QueueMsg> for QueueActor {
    type Result = ();

    fn handle(&mut self, msg: QueueMsg, ctx: &mut Context<Self>) {
        let now = now_ms();
        let hub = self.hub.clone();
        let mut cap = HubCapacity { hub: &hub };
        let effects = match msg {
            QueueMsg::Enqueue { session, priority, since } => {
                self.router.enqueue(session, priority, since, now, &mut cap)
            }
            QueueMsg::Remove { session } => {
                self.told.remove(&session);
                self.router.remove(session, now, &mut cap)
            }
            QueueMsg::Presence { agent, presence } => {
                self.router.set_presence(agent, presence, now, &mut cap)
            }
            QueueMsg::Disconnected { agent } => {
                let grace = Duration::from_millis(self.hub.config.presence_grace_ms);
                ctx.run_later(grace, move |act, ctx| {
                    if !act.hub.agent_connected(agent) && act.router.presence(agent).is_some() {
                        act.handle(QueueMsg::Presence { agent, presence: Presence::Offline }, ctx);
                    }
                });
                Vec::new()
            }
            QueueMsg::Member { agent, joined: true } => {
                let presence =
                    if self.hub.agent_connected(agent) { Presence::Online } else { Presence::Offline };
                self.router.set_presence(agent, presence, now, &mut cap)
            }
            QueueMsg::Member { agent, joined: false } => self.router.remove_agent(agent, now, &mut cap),
            QueueMsg::CapacityChanged => self.router.capacity_changed(now, &mut cap),
            QueueMsg::Configure(config) => self.router.configure(config, now, &mut cap),
            QueueMsg::AcceptOffer { agent, session, subscriber, reply } => {
                match self.router.accept(agent, session, now, &mut cap) {
                    Ok(effects) => {
                        let rest = effects
                            .into_iter()
                            .filter(|e| *e != crate::domain::routing::Effect::Assign { session, agent })
                            .collect();
                        let held = Reply::new(reply.clone(), Some(Reservation { hub: hub.clone(), agent }));
                        self.assign(session, agent, subscriber, held, Some(reply));
                        rest
                    }
                    Err(RouteError::NoSuchOffer(_) | RouteError::UnknownAgent(_)) => {
                        reply.outbox.answer(reply.req, Err(EngineError::OfferUnavailable(session)));
                        Vec::new()
                    }
                }
            }
            QueueMsg::DeclineOffer { agent, session, reply } => {
                match self.router.decline(agent, session, now, &mut cap) {
                    Ok(effects) => {
                        metrics::counter!("switchboard_routing_declines_total").increment(1);
                        reply.outbox.answer(reply.req, Ok(crate::Answer::Done));
                        effects
                    }
                    Err(_) => {
                        reply.outbox.answer(reply.req, Err(EngineError::OfferUnavailable(session)));
                        Vec::new()
                    }
                }
            }
            QueueMsg::Decisions { session, tx } => {
                let _ = tx.send(self.router.decisions_for(session));
                Vec::new()
            }
            QueueMsg::Expire => self.router.expire(now, &mut cap),
        };
        self.apply(effects);
        self.publish_positions();
        self.arm(ctx);
    }
}
