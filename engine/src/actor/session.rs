//! The session actor: a thin driver around [`Session`]. It receives [`Command`]s, asks the
//! state machine, submits durable writes to storage, and — strictly in submission order,
//! once each write is durable — delivers events to subscribers and answers the callers.
//!
//! Supervision is shared with channels ([`super::supervisor`]): a panic rebuilds the
//! `Session` from storage once in-flight writes finish; too many quarantine the session.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, AsyncContext, Context, Handler, StreamHandler};
use switchboard_storage::{Batch, Storage, StorageError};

use super::durable::{DurableWrites, Written};
use super::subscribers::{Subscribed, Subscribers};
use super::supervisor::{Supervised, Supervisor};
use crate::answer::{Answer, Attached, Posted, Reply};
use crate::convert;
use crate::domain::session::{Post, Replay, Session, SessionLimits};
use crate::domain::types::*;
use crate::hub::Hub;
use crate::outbox::{ConnId, Event};
use crate::{now_ms, EngineConfig, EngineError};

/// A live subscriber of a session's messages.
pub(crate) type Subscriber = Subscribed<Participant>;

/// What a caller asks of a session.
pub(crate) enum CommandKind {
    Accept {
        agent: AgentId,
        subscriber: Subscriber,
    },
    /// An accepted transfer: `to` takes the session from `from`; `subscriber` is `to`'s
    /// connection that accepted it.
    /// With `department`, the session moves to that department (a transfer to a
    /// department).
    Reassign {
        from: AgentId,
        to: AgentId,
        department: Option<crate::DepartmentId>,
        subscriber: Subscriber,
    },
    /// `agent` went offline and its department returns its chats to the queue.
    Requeue {
        agent: AgentId,
    },
    /// A new queue priority (answered with `Done`).
    SetPriority {
        priority: i64,
    },
    Close {
        agent: AgentId,
    },
    Post {
        from: Participant,
        client_msg_id: String,
        text: String,
        origin: ConnId,
    },
    Typing {
        from: Participant,
        typing: bool,
        origin: ConnId,
    },
    Attach {
        subscriber: Subscriber,
        after_seq: Seq,
    },
    Detach {
        conn: ConnId,
    },
    /// Cluster mode: the session's shard is no longer this node's. Subscribers are sent
    /// off to reconnect, and the state is rebuilt before any later use.
    Evict,
}

/// A command and the channel its answer goes to.
pub(crate) struct Command {
    pub(crate) kind: CommandKind,
    pub(crate) reply: Reply,
}

impl actix::Message for Command {
    type Result = ();
}

/// Which answer a state write's waiter gets once it is durable.
#[derive(Debug, Clone, Copy)]
enum StateAnswer {
    Accepted,
    Closed,
    Done,
}

/// What to do once a write is durable.
enum Effect {
    Message {
        message: ChatMessage,
        origin: ConnId,
        waiters: Vec<(Reply, bool)>,
        received: Instant,
    },
    /// `accepted`: this change took the session from waiting to active (its wait ends).
    State {
        meta: SessionMeta,
        waiters: Vec<(Reply, StateAnswer)>,
        subscriber: Option<Subscriber>,
        accepted: bool,
    },
}

impl Effect {
    /// Answer every waiter with `error`.
    fn fail(self, error: EngineError) {
        match self {
            Effect::Message { waiters, .. } => {
                for (reply, _) in waiters {
                    reply.send(Err(error.clone()));
                }
            }
            Effect::State { waiters, .. } => {
                for (reply, _) in waiters {
                    reply.send(Err(error.clone()));
                }
            }
        }
    }
}

/// How to take a change back when storage refuses its write outright.
enum Undo {
    Post(ChatMessage),
    Meta(SessionMeta),
}

/// State writes (accept, close) a session may have in flight beyond `session_inflight_max`
/// posts: a handful at most in practice.
const STATE_WRITES_INFLIGHT_MAX: usize = 16;

/// Text that makes the actor panic, so tests can exercise supervision for real.
#[cfg(test)]
pub(crate) const PANIC_TEXT: &str = "__switchboard_test_panic__";

/// One chat session's actor.
pub struct SessionActor {
    id: SessionId,
    generation: u64,
    hub: Arc<Hub>,
    session: Session,
    /// Writes in flight, released in order once durable (shared with channels).
    writes: DurableWrites<Effect>,
    inflight: HashMap<Seq, u64>,
    subscribers: Subscribers<Participant>,
    supervisor: Supervisor,
    /// The newest state write (accept/close), so an accept retry can wait for it.
    state_write: Option<u64>,
    last_activity_ms: u64,
    /// Cluster mode: the shard lease this state was loaded under. A write under another
    /// lease means the shard was lost and taken back meanwhile, so this state may be stale:
    /// the write is refused and the state rebuilt from storage.
    loaded_lease: u64,
}

/// Build a session's state from storage.
pub(crate) fn load_session(
    storage: &Storage,
    id: SessionId,
    config: &EngineConfig,
) -> Result<Session, EngineError> {
    let record = storage.session(id)?.ok_or(EngineError::UnknownSession(id))?;
    let limit = config.session_messages_max as usize;
    let messages = storage
        .messages(id, 0, limit)?
        .into_iter()
        .map(|(seq, record)| convert::chat_message(seq, record))
        .collect();
    Ok(Session::restore(convert::session_meta(record), messages, limits(config)))
}

fn limits(config: &EngineConfig) -> SessionLimits {
    SessionLimits {
        text_bytes_max: config.text_bytes_max,
        messages_max: config.session_messages_max,
        tail_max: config.session_tail_max,
        // A session remembers every client message id it holds.
        dedup_max: config.session_messages_max as usize,
    }
}

impl Actor for SessionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Some(reports) = self.writes.reports() {
            ctx.add_stream(reports);
        }
        let every = Duration::from_millis((self.hub.config.session_idle_ms / 4).clamp(1000, 30_000));
        ctx.run_interval(every, |act, ctx| {
            let idle = now_ms().saturating_sub(act.last_activity_ms) >= act.hub.config.session_idle_ms;
            if idle && act.subscribers.is_empty() && act.writes.is_empty() {
                actix::ActorContext::stop(ctx);
            }
        });
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.hub.registry.remove(self.id, self.generation);
    }
}

impl Handler<Command> for SessionActor {
    type Result = ();

    fn handle(&mut self, command: Command, _ctx: &mut Context<Self>) {
        self.last_activity_ms = now_ms();
        match self.admit() {
            Ok(()) => self.supervised(|actor| actor.dispatch(command)),
            Err(refused) => command.reply.send(Err(refused)),
        }
    }
}

impl StreamHandler<Written> for SessionActor {
    fn handle(&mut self, (write, result): Written, _ctx: &mut Context<Self>) {
        self.supervised(|actor| actor.written(write, result));
    }
}

impl SessionActor {
    pub(crate) fn new(id: SessionId, generation: u64, hub: Arc<Hub>, session: Session) -> SessionActor {
        let supervisor = Supervisor::new(&hub.config);
        let writes_inflight_max = hub.config.session_inflight_max + STATE_WRITES_INFLIGHT_MAX;
        let subscribers = Subscribers::new(hub.config.session_subscribers_max);
        let loaded_lease = hub.ownership.lease_of(hub.ownership.shard_of(id));
        SessionActor {
            loaded_lease,
            id,
            generation,
            hub,
            session,
            writes: DurableWrites::new(writes_inflight_max),
            inflight: HashMap::new(),
            subscribers,
            supervisor,
            state_write: None,
            last_activity_ms: now_ms(),
        }
    }

    fn dispatch(&mut self, command: Command) {
        let Command { kind, reply } = command;
        let now = now_ms();
        match kind {
            CommandKind::Accept { agent, subscriber } => {
                let previous = self.session.meta().clone();
                match self.session.accept(agent, now) {
                    Err(e) => reply.send(Err(e.into())),
                    Ok(None) => self.accept_again(subscriber, reply),
                    Ok(Some(meta)) => {
                        let effect = Effect::State {
                            meta: meta.clone(),
                            waiters: vec![(reply, StateAnswer::Accepted)],
                            subscriber: Some(subscriber),
                            accepted: true,
                        };
                        self.write_state(meta, effect, previous)
                    }
                }
            }
            CommandKind::Reassign { from, to, department, subscriber } => {
                let previous = self.session.meta().clone();
                match self.session.reassign(from, to, department) {
                    Err(e) => reply.send(Err(e.into())),
                    Ok(meta) => {
                        let effect = Effect::State {
                            meta: meta.clone(),
                            waiters: vec![(reply, StateAnswer::Accepted)],
                            subscriber: Some(subscriber),
                            accepted: false,
                        };
                        self.write_state(meta, effect, previous)
                    }
                }
            }
            CommandKind::Requeue { agent } => {
                let previous = self.session.meta().clone();
                match self.session.requeue(agent) {
                    Err(e) => reply.send(Err(e.into())),
                    Ok(meta) => {
                        let effect = Effect::State {
                            meta: meta.clone(),
                            waiters: Vec::new(),
                            subscriber: None,
                            accepted: false,
                        };
                        self.write_state(meta, effect, previous)
                    }
                }
            }
            CommandKind::SetPriority { priority } => {
                let previous = self.session.meta().clone();
                match self.session.set_priority(priority) {
                    Err(e) => reply.send(Err(e.into())),
                    Ok(meta) => {
                        let waiters = vec![(reply, StateAnswer::Done)];
                        let effect =
                            Effect::State { meta: meta.clone(), waiters, subscriber: None, accepted: false };
                        self.write_state(meta, effect, previous)
                    }
                }
            }
            CommandKind::Close { agent } => {
                let previous = self.session.meta().clone();
                match self.session.close(agent, now) {
                    Err(e) => reply.send(Err(e.into())),
                    Ok(meta) => {
                        let waiters = vec![(reply, StateAnswer::Closed)];
                        let effect =
                            Effect::State { meta: meta.clone(), waiters, subscriber: None, accepted: false };
                        self.write_state(meta, effect, previous)
                    }
                }
            }
            CommandKind::Post { from, client_msg_id, text, origin } => {
                self.post(from, &client_msg_id, &text, origin, reply, now)
            }
            CommandKind::Typing { from, typing, origin } => {
                let result = self.session.typing(from).map(|()| {
                    let event = Event::Typing { session_id: self.id, from, typing };
                    // Typing indicators are optional: skipped for a busy connection.
                    self.subscribers.deliver(&event, Some(origin), false, |_| true);
                    Answer::Done
                });
                reply.send(result.map_err(Into::into));
            }
            CommandKind::Attach { subscriber, after_seq } => {
                reply.send(self.attach(subscriber, after_seq));
            }
            CommandKind::Detach { conn } => {
                self.subscribers.remove(conn);
                reply.send(Ok(Answer::Done));
            }
            CommandKind::Evict => {
                self.subscribers.evict_all();
                self.supervisor.reload_later();
                reply.send(Ok(Answer::Done));
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn post(
        &mut self,
        from: Participant,
        client_msg_id: &str,
        text: &str,
        origin: ConnId,
        reply: Reply,
        now: u64,
    ) {
        #[cfg(test)]
        if text == PANIC_TEXT {
            panic!("test-injected panic in session {}", self.id);
        }
        if self.writes.len() >= self.hub.config.session_inflight_max {
            reply.send(Err(EngineError::Overloaded("too many writes in flight for this session")));
            return;
        }
        match self.session.post(from, client_msg_id, text, now) {
            Err(e) => reply.send(Err(e.into())),
            Ok(Post::Duplicate { seq, sent_at_ms }) => {
                let in_flight = self.inflight.get(&seq).copied();
                match in_flight.and_then(|write| self.writes.get_mut(write)) {
                    Some(Effect::Message { waiters, .. }) => waiters.push((reply, true)),
                    _ => reply.send(Ok(Answer::Posted(Posted {
                        session_id: self.id,
                        seq,
                        sent_at_ms,
                        client_msg_id: client_msg_id.to_string(),
                        duplicate: true,
                    }))),
                }
            }
            Ok(Post::New(message)) => {
                let mut batch = Batch::new();
                batch.put_message(self.id, message.seq, &convert::message_record(&message));
                if let Participant::Agent(agent) = from {
                    batch.put_read_marker(self.id, agent, message.seq);
                }
                let seq = message.seq;
                let undo = Undo::Post(message.clone());
                let received = Instant::now();
                let effect = Effect::Message { message, origin, waiters: vec![(reply, false)], received };
                if let Some(write) = self.write(batch, effect, undo) {
                    self.inflight.insert(seq, write);
                }
            }
        }
    }

    /// The holder accepts again: answer once the first accept is durable, not before.
    fn accept_again(&mut self, subscriber: Subscriber, reply: Reply) {
        let _ = self.subscribers.add(subscriber.who, subscriber.outbox);
        match self.state_write.and_then(|write| self.writes.get_mut(write)) {
            Some(Effect::State { waiters, .. }) => waiters.push((reply, StateAnswer::Accepted)),
            _ => reply.send(Ok(Answer::Accepted(self.session.snapshot()))),
        }
    }

    fn attach(&mut self, subscriber: Subscriber, after_seq: Seq) -> Result<Answer, EngineError> {
        let max = self.hub.config.replay_max;
        let (messages, has_more) = match self.session.replay(after_seq, max) {
            Replay::Messages { messages, has_more } => (messages, has_more),
            Replay::FromStorage { durable_seq } => {
                // Rare (a reconnect far behind the in-memory tail): a bounded range read.
                let stored = self.hub.storage.messages(self.id, after_seq, max)?;
                let messages: Vec<ChatMessage> = stored
                    .into_iter()
                    .filter(|(seq, _)| *seq <= durable_seq)
                    .map(|(seq, r)| convert::chat_message(seq, r))
                    .collect();
                let has_more = messages.last().is_some_and(|m| m.seq < durable_seq);
                (messages, has_more)
            }
        };
        if !has_more && !self.subscribers.add(subscriber.who, subscriber.outbox) {
            return Err(EngineError::Overloaded("too many connections attached to this session"));
        }
        Ok(Answer::Attached(Attached { session: self.session.snapshot(), messages, has_more }))
    }

    fn write_state(&mut self, meta: SessionMeta, effect: Effect, previous: SessionMeta) {
        let mut batch = Batch::new();
        batch.put_session(&convert::session_record(&meta));
        if let Some(write) = self.write(batch, effect, Undo::Meta(previous)) {
            self.state_write = Some(write);
        }
    }

    /// Submit a write; its effect runs once it and every earlier write are durable. When
    /// storage refuses the write outright (queue full), nothing was written: the change is
    /// taken back and the waiters are told to retry.
    fn write(&mut self, mut batch: Batch, effect: Effect, undo: Undo) -> Option<u64> {
        let submitted = match self.hub.ownership.tag(&mut batch, self.id, self.loaded_lease, now_ms()) {
            Ok(()) => self.writes.submit(&self.hub.storage, batch, effect),
            Err(refused) => {
                if refused.stale {
                    self.supervisor.reload_later();
                }
                Err((effect, refused.error))
            }
        };
        match submitted {
            Ok(write) => Some(write),
            Err((effect, error)) => {
                match undo {
                    Undo::Post(message) => self.session.undo_post(&message),
                    Undo::Meta(previous) => self.session.undo_meta(previous),
                }
                effect.fail(error);
                None
            }
        }
    }

    fn written(&mut self, write: u64, result: Result<(), StorageError>) {
        if result.is_err() {
            // Refuse new commands now, so no later write can land after this failed one.
            self.supervisor.reload_later();
        }
        for (effect, failure) in self.writes.written(write, result) {
            self.commit(effect, failure);
        }
    }

    fn commit(&mut self, effect: Effect, failure: Option<EngineError>) {
        if let Some(error) = failure {
            // The in-memory state ran ahead of storage: rebuild it once nothing is in flight.
            self.supervisor.reload_later();
            if let Effect::Message { message, .. } = &effect {
                self.inflight.remove(&message.seq);
            }
            effect.fail(error);
            return;
        }
        match effect {
            Effect::Message { message, origin, waiters, received } => {
                self.commit_message(message, origin, waiters, received)
            }
            Effect::State { meta, waiters, subscriber, accepted } => {
                let snapshot = SessionSnapshot { meta, last_seq: self.session.durable_seq() };
                self.hub.session_changed(&snapshot);
                // Counted once, when the wait ends (not again at a transfer or a priority change).
                if let (true, Some(accepted)) = (accepted, snapshot.meta.accepted_at_ms) {
                    let waited = accepted.saturating_sub(snapshot.meta.created_at_ms) as f64 / 1000.0;
                    metrics::histogram!("switchboard_wait_time_seconds").record(waited);
                    let department = snapshot.meta.department_id.to_string();
                    metrics::histogram!("switchboard_department_wait_seconds", "department" => department)
                        .record(waited);
                    tracing::debug!(target: "session", session = self.id, agent = ?snapshot.meta.agent_id, waited_s = waited, "session accepted (active)");
                }
                if snapshot.meta.state == State::Closed {
                    metrics::counter!("switchboard_sessions_closed_total").increment(1);
                    tracing::debug!(target: "session", session = self.id, messages = snapshot.last_seq, "session closed");
                }
                let event = Event::SessionUpdated { session: Arc::new(snapshot.clone()), unread: None };
                self.subscribers.deliver(&event, None, true, |who| who == Participant::Visitor);
                if let Some(subscriber) = subscriber {
                    // The accept is durable either way; a full list is reported by `attach`.
                    let _ = self.subscribers.add(subscriber.who, subscriber.outbox);
                }
                for (reply, kind) in waiters {
                    reply.send(Ok(match kind {
                        StateAnswer::Accepted => Answer::Accepted(snapshot.clone()),
                        StateAnswer::Closed => Answer::Closed(snapshot.clone()),
                        StateAnswer::Done => Answer::Done,
                    }));
                }
            }
        }
    }

    fn commit_message(
        &mut self,
        message: ChatMessage,
        origin: ConnId,
        waiters: Vec<(Reply, bool)>,
        received: Instant,
    ) {
        let (seq, sent_at_ms, from) = (message.seq, message.sent_at_ms, message.from);
        let message_id = message.client_msg_id.clone();
        self.inflight.remove(&seq);
        if !self.supervisor.needs_reload() {
            self.session.message_durable(message.clone());
        }
        let event = Event::Message { session_id: self.id, message: Arc::new(message), received };
        self.subscribers.deliver(&event, Some(origin), true, |_| true);
        self.hub.message_committed(self.id, seq, from);
        metrics::counter!("switchboard_messages_total").increment(1);
        for (reply, duplicate) in waiters {
            let client_msg_id = message_id.clone();
            reply.send(Ok(Answer::Posted(Posted {
                session_id: self.id,
                seq,
                sent_at_ms,
                client_msg_id,
                duplicate,
            })));
        }
    }
}

impl Supervised for SessionActor {
    type State = Session;
    const KIND: &'static str = "session";
    const RESTARTING: &'static str = "session is restarting";

    fn id(&self) -> u64 {
        self.id
    }
    fn supervisor(&mut self) -> &mut Supervisor {
        &mut self.supervisor
    }
    fn writes_idle(&self) -> bool {
        self.writes.is_empty()
    }
    fn load(&self) -> Result<Session, EngineError> {
        load_session(&self.hub.storage, self.id, &self.hub.config)
    }
    fn restore(&mut self, session: Session) {
        self.loaded_lease = self.hub.ownership.lease_of(self.hub.ownership.shard_of(self.id));
        self.session = session;
        self.inflight.clear();
    }
    fn quarantine_in_registry(&self) {
        self.hub.registry.quarantine(self.id);
    }
    fn unavailable(&self) -> EngineError {
        EngineError::SessionUnavailable(self.id)
    }
}
