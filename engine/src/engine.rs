//! [`Engine`]: the facade the gateway calls. One method per user action. Methods that go
//! through a session actor resolve once the actor's mailbox has taken the command (so
//! commands from one connection reach a session in the order they were sent); the actor
//! answers later, straight into the connection's queue ([`ReplyTo`]: for posts, once
//! durable). A connection pipelines many requests this way without reordering them, and
//! without a channel or future per request. Errors found before the command is queued are
//! returned at once instead (and then no answer follows).

use crate::ids::IdCounter;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use switchboard_storage::{catalog, AgentRecord, Batch, Storage};
use tokio::sync::oneshot;

use crate::actor::registry::{self, Registry};
use crate::actor::session::{CommandKind, Subscriber};
use crate::answer::{Reply, ReplyTo, Reservation};
use crate::domain::session::SessionError;
use crate::domain::types::*;
use crate::hub::{AgentProfile, Hub};
use crate::outbox::{ConnId, Outbox};
use crate::ownership::Ownership;
use crate::{auth, convert, now_ms, EngineConfig, EngineError};

/// The result of starting a chat.
#[derive(Debug, Clone)]
pub struct StartedChat {
    /// The visitor's credential for resuming: `<session_id>.<secret>`.
    pub session_token: String,
    pub session: SessionSnapshot,
    pub first_message: Option<ChatMessage>,
}

/// The queue as one agent sees it: each session with that agent's unread count.
#[derive(Debug, Clone, Default)]
pub struct QueueListing {
    /// How many sessions wait in all (the list holds at most `queue_listing_max`).
    pub waiting_total: usize,
    /// How many sessions are active in all.
    pub active_total: usize,
    pub waiting: Vec<(SessionSnapshot, u64)>,
    pub active: Vec<(SessionSnapshot, u64)>,
    pub closed: Vec<(SessionSnapshot, u64)>,
}

/// The engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub(crate) hub: Arc<Hub>,
    next_session: Arc<IdCounter>,
    pub(crate) next_agent: Arc<IdCounter>,
    next_conn: Arc<AtomicU64>,
    admin_sha256: Arc<RwLock<Option<String>>>,
    pub(crate) contacts: Arc<crate::contacts::ContactBook>,
}

impl Engine {
    /// Start the engine over `storage`: load agents and the open queue (not the history) and
    /// start the arbiters. Must be called inside an actix `System`.
    pub fn start(storage: Storage, config: EngineConfig) -> Result<Engine, EngineError> {
        Engine::start_with(storage, config, Arc::new(Ownership::single()))
    }

    /// Start the engine as a node of a cluster: it writes only the shards `ownership` grants
    /// (see [`crate::ownership`]).
    pub fn start_with(
        storage: Storage,
        config: EngineConfig,
        ownership: Arc<Ownership>,
    ) -> Result<Engine, EngineError> {
        let registry = Registry::new(config.arbiters);
        let shards = ownership.shards();
        let hub = Arc::new(Hub::new(storage.clone(), config, registry, ownership));
        for record in storage.agents()? {
            hub.directory.insert(record.id, profile(record));
        }
        crate::routing::facade::load_departments(&hub)?;
        crate::channels::facade::load_channels(&hub)?;
        hub.tickets.load(&storage, shards)?;
        load_queue(&hub, &storage)?;
        let admin =
            storage.meta(catalog::META_ADMIN_TOKEN_HASH)?.map(|b| String::from_utf8_lossy(&b).into_owned());
        Ok(Engine {
            next_session: Arc::new(IdCounter::above(storage.max_id(catalog::SESSION)?, shards)),
            next_agent: Arc::new(IdCounter::above(storage.max_id(catalog::AGENT)?, shards)),
            next_conn: Arc::new(AtomicU64::new(1)),
            admin_sha256: Arc::new(RwLock::new(admin)),
            contacts: Arc::new(crate::contacts::ContactBook::load(&storage, shards)?),
            hub,
        })
    }

    /// Which shards this node may write (everything, on one machine).
    pub fn ownership(&self) -> Arc<Ownership> {
        self.hub.ownership.clone()
    }

    /// Cluster mode: `shard` was just taken over (its log applied up to the takeover): new
    /// session ids stay above every id the shard's previous owner used.
    pub fn shard_taken(&self, shard: u32) -> Result<(), EngineError> {
        let max = self.hub.storage.max_id(catalog::SESSION)?;
        self.next_session.saw(max, self.hub.ownership.shards());
        tracing::info!(target: "cluster", shard, "shard taken over");
        self.lead_departments_of(shard, true);
        Ok(())
    }

    /// The departments of `shard` start (or stop) routing here: their queue's leader is the
    /// shard's owner (`routing::across`).
    fn lead_departments_of(&self, shard: u32, leading: bool) {
        let ownership = &self.hub.ownership;
        for department in self.hub.routing.list() {
            if ownership.shard_of(department.id) == shard {
                if let Some(actor) = self.hub.routing.addr(department.id) {
                    actor.do_send(crate::routing::queue_actor::QueueMsg::Lead(leading));
                }
            }
        }
    }

    /// Cluster mode: `shard` is no longer this node's. Connections following its sessions
    /// here are closed to reconnect (to the new owner, through any node) and resume.
    pub fn shard_lost(&self, shard: u32) {
        let ownership = &self.hub.ownership;
        let evicted = self.hub.registry.evict_where(|id| ownership.shard_of(id) == shard);
        let channels = self.hub.channel_actors.forget_where(|id| ownership.shard_of(id) == shard);
        self.lead_departments_of(shard, false);
        tracing::info!(target: "cluster", shard, sessions = evicted, channels, "shard lost");
    }

    /// A new session id (see [`Engine::place`]) and the fencing token its first write
    /// carries. A shard handed over between the two (a node joining) is skipped for the
    /// next owned one, a few times.
    fn new_session_placed(
        &self,
        now: u64,
    ) -> Result<(SessionId, Option<switchboard_storage::replication::Owner>), EngineError> {
        let mut attempts = 0;
        loop {
            let id = self.new_id(&self.next_session)?;
            match self.hub.ownership.owner(id, now) {
                Ok(owner) => return Ok((id, owner)),
                Err(EngineError::WrongNode { .. }) if attempts < PLACE_ATTEMPTS => attempts += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// The id for the `counter`-th new session or channel. On one machine the counter
    /// itself; in a cluster `counter × shards + shard` for a shard this node owns, spread
    /// round-robin over them, so ids never collide between nodes (a shard's ids are
    /// allocated only by its owner, and a new owner's counter starts above every id it
    /// read: [`Engine::shard_taken`]).
    pub(crate) fn place(&self, counter: u64) -> Result<u64, EngineError> {
        let ownership = &self.hub.ownership;
        if !ownership.is_cluster() {
            return Ok(counter);
        }
        if !ownership.connected() {
            return Err(EngineError::ClusterUnavailable);
        }
        let owned = ownership.owned(now_ms());
        if owned.is_empty() {
            return Err(EngineError::WrongNode { shard: 0 });
        }
        let shard = owned[(counter % owned.len() as u64) as usize];
        Ok(counter * u64::from(ownership.shards()) + u64::from(shard))
    }

    /// Set the queue gauges from the current state (call once a metrics recorder exists).
    pub fn publish_gauges(&self) {
        let queue = self.hub.queue();
        crate::hub::update_gauges(&queue);
        for agent in self.hub.directory.iter().map(|a| *a.key()) {
            crate::hub::agent_gauge(&queue, agent);
        }
    }

    /// Run a connection's task on a shard (see [`EngineConfig::arbiters`]): spread
    /// round-robin by `key` (normally the connection id).
    pub fn spawn_on_shard(&self, key: u64, future: impl Future<Output = ()> + Send + 'static) {
        self.hub.registry.spawn_on_shard(key, future);
    }

    /// Number of shards: threads that run session actors and connections together.
    pub fn shards(&self) -> usize {
        self.hub.registry.shards()
    }

    /// A fresh connection id.
    pub fn next_conn_id(&self) -> ConnId {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Make sure an administrator credential exists. With `configured`, that token becomes
    /// the credential. Otherwise a stored one is kept, or a new one is generated and
    /// returned (the only time it is ever visible).
    pub fn ensure_admin_token(&self, configured: Option<&str>) -> Result<Option<String>, EngineError> {
        let existing = self.admin_sha256.read().expect("admin lock").clone();
        let (token, fresh) = match (configured, existing) {
            (Some(token), _) => (token.to_string(), false),
            (None, Some(_)) => return Ok(None),
            (None, None) => (auth::new_secret(), true),
        };
        let hash = auth::hash_secret(&token);
        let mut batch = Batch::new();
        batch.put_meta(catalog::META_ADMIN_TOKEN_HASH, hash.clone().into_bytes());
        self.hub.storage.write_blocking(batch)?;
        *self.admin_sha256.write().expect("admin lock") = Some(hash);
        Ok(fresh.then_some(token))
    }

    /// True when `token` is the administrator credential.
    pub fn check_admin(&self, token: &str) -> bool {
        match &*self.admin_sha256.read().expect("admin lock") {
            Some(hash) => auth::verify(token, hash),
            None => false,
        }
    }

    /// Create an agent; returns its profile and its token (shown only now).
    pub async fn create_agent(
        &self,
        display_name: String,
        max_concurrent_chats: u32,
    ) -> Result<(AgentProfile, String), EngineError> {
        let id = self.new_id(&self.next_agent)?;
        let secret = auth::new_secret();
        let record = AgentRecord {
            v: switchboard_storage::records::RECORD_VERSION,
            id,
            display_name,
            max_concurrent_chats,
            token_sha256: auth::hash_secret(&secret),
            created_at_ms: now_ms(),
            disabled: false,
            email: None,
            password_phc: None,
            password_temporary: false,
            admin: false,
        };
        let mut batch = Batch::new();
        batch.put_agent(&record);
        self.write(batch).await?;
        let profile = profile(record);
        self.hub.directory.insert(id, profile.clone());
        crate::hub::agent_gauge(&self.hub.queue(), id);
        self.join_default(id).await?;
        Ok((profile, auth::token(&id.to_string(), &secret)))
    }

    /// Every agent, by id.
    pub fn agents(&self) -> Vec<AgentProfile> {
        let mut agents: Vec<AgentProfile> = self.hub.directory.iter().map(|e| e.value().clone()).collect();
        agents.sort_by_key(|a| a.id);
        agents
    }

    /// The agent a token belongs to.
    pub fn authenticate_agent(&self, token: &str) -> Result<AgentProfile, EngineError> {
        let (id, secret) = auth::parse(token).ok_or(EngineError::BadToken)?;
        let agent = self.hub.directory.get(&id).ok_or(EngineError::BadToken)?;
        if !agent.disabled && auth::verify(secret, &agent.token_sha256) {
            Ok(agent.clone())
        } else {
            Err(EngineError::BadToken)
        }
    }

    /// An agent's display name.
    pub fn agent_name(&self, id: AgentId) -> Option<String> {
        self.hub.directory.get(&id).map(|a| a.display_name.clone())
    }

    /// The session a visitor token belongs to.
    pub async fn authenticate_visitor(&self, token: &str) -> Result<SessionId, EngineError> {
        let (id, secret) = auth::parse(token).ok_or(EngineError::BadToken)?;
        let stored =
            self.hub.read(move |storage| Ok(storage.session(id)?)).await?.ok_or(EngineError::BadToken)?;
        if auth::verify(secret, &stored.token_sha256) {
            Ok(id)
        } else {
            Err(EngineError::BadToken)
        }
    }

    /// An authenticated agent connection: it now hears queue events.
    pub fn agent_online(&self, agent: AgentId, outbox: Outbox) {
        self.hub.agent_online(agent, outbox);
        self.announce_presence(agent, crate::domain::routing::Presence::Online);
    }

    /// A connection closed: stop delivering queue events to it. (Session actors drop closed
    /// outboxes on their own.)
    pub fn connection_gone(&self, conn: ConnId) {
        self.hub.connection_gone(conn);
    }

    /// The queue as `agent` sees it.
    pub fn queue_listing(&self, agent: AgentId) -> QueueListing {
        let queue = self.hub.queue();
        let [waiting, active, closed] = queue.lists();
        let max = self.hub.config.queue_listing_max;
        let with_unread = |list: Vec<&SessionSnapshot>| -> Vec<(SessionSnapshot, u64)> {
            list.into_iter().take(max).map(|s| (s.clone(), queue.unread(s, agent))).collect()
        };
        QueueListing {
            waiting_total: waiting.len(),
            active_total: active.len(),
            waiting: with_unread(waiting),
            active: with_unread(active),
            closed: with_unread(closed),
        }
    }

    /// Start a chat: the session is durable (with its first message, if any) before this
    /// returns, agents have been told, and `outbox` is subscribed to the session. It is
    /// linked to the contact whose email the visitor gave, if there is one.
    pub async fn start_chat(
        &self,
        visitor: Visitor,
        department_id: DepartmentId,
        first_message: Option<(String, String)>,
        outbox: Outbox,
    ) -> Result<StartedChat, EngineError> {
        if let Some((_, text)) = &first_message {
            let max = self.hub.config.text_bytes_max;
            if text.is_empty() || text.len() > max {
                return Err(SessionError::BadText { len: text.len(), max }.into());
            }
        }
        let contact_id = self.contact_of(&visitor).await?;
        let now = now_ms();
        let (id, owner) = self.new_session_placed(now)?;
        let secret = auth::new_secret();
        let meta = SessionMeta {
            id,
            state: State::Waiting,
            visitor,
            token_sha256: auth::hash_secret(&secret),
            agent_id: None,
            created_at_ms: now,
            accepted_at_ms: None,
            closed_at_ms: None,
            department_id,
            priority: 0,
            contact_id,
        };
        let first = first_message.map(|(client_msg_id, text)| ChatMessage {
            seq: 1,
            from: Participant::Visitor,
            client_msg_id,
            text,
            sent_at_ms: now,
        });
        let mut batch = Batch::new();
        if let Some(owner) = owner {
            batch.owned_by(owner);
        }
        batch.put_session(&convert::session_record(&meta));
        if let Some(m) = &first {
            batch.put_message(id, 1, &convert::message_record(m));
        }
        self.write(batch).await?;
        let session = SessionSnapshot { meta, last_seq: first.as_ref().map_or(0, |m| m.seq) };
        // Before it is queued: the visitor hears its first place in line.
        self.hub.follow_visitor(id, outbox.clone());
        self.hub.session_created(&session);
        metrics::counter!("switchboard_sessions_started_total").increment(1);
        tracing::debug!(target: "session", session = id, "session started (waiting)");
        if first.is_some() {
            metrics::counter!("switchboard_messages_total").increment(1);
        }
        let subscriber = Subscriber { who: Participant::Visitor, outbox };
        let attach = CommandKind::Attach { subscriber, after_seq: session.last_seq };
        // Queued is enough: every later command to the session comes after it, so the
        // visitor is subscribed before anything can be posted (its answer is not needed).
        self.command(id, attach, Reply::silent()).await?;
        Ok(StartedChat {
            session_token: auth::token(&id.to_string(), &secret),
            session,
            first_message: first,
        })
    }

    /// Accept a waiting session for `agent`; the asking connection is subscribed to it on
    /// success. The agent's capacity is reserved until the answer is sent.
    pub async fn accept(
        &self,
        agent: AgentId,
        session: SessionId,
        reply: ReplyTo,
    ) -> Result<(), EngineError> {
        let max =
            self.hub.directory.get(&agent).map(|a| a.max_concurrent_chats).ok_or(EngineError::BadToken)?;
        let reservation = {
            let mut queue = self.hub.queue();
            // Only a session listed as waiting can become this agent's; anything else is
            // answered by the session itself (taken, closed, unknown, or already yours).
            let waiting = queue.get(session).is_some_and(|s| s.meta.state == State::Waiting);
            if !waiting {
                None
            } else if queue.try_reserve(agent, max) {
                Some(Reservation { hub: self.hub.clone(), agent })
            } else {
                // At capacity, unless one of the slots is this very chat's offer to this agent.
                drop(queue);
                return self.accept_offered(agent, session, reply, EngineError::AgentAtCapacity { max });
            }
        };
        let subscriber = Subscriber { who: Participant::Agent(agent), outbox: reply.outbox.clone() };
        let reply = Reply::new(reply, reservation);
        self.command(session, CommandKind::Accept { agent, subscriber }, reply).await
    }

    /// Close `agent`'s session.
    pub async fn close(&self, agent: AgentId, session: SessionId, reply: ReplyTo) -> Result<(), EngineError> {
        self.command(session, CommandKind::Close { agent }, Reply::new(reply, None)).await
    }

    /// Post a message; it is answered once durable.
    pub async fn post(
        &self,
        from: Participant,
        session: SessionId,
        client_msg_id: String,
        text: String,
        reply: ReplyTo,
    ) -> Result<(), EngineError> {
        let origin = reply.outbox.id();
        let kind = CommandKind::Post { from, client_msg_id, text, origin };
        self.command(session, kind, Reply::new(reply, None)).await
    }

    /// Relay a typing indicator to the session's other subscribers.
    pub async fn typing(
        &self,
        from: Participant,
        session: SessionId,
        typing: bool,
        reply: ReplyTo,
    ) -> Result<(), EngineError> {
        let kind = CommandKind::Typing { from, typing, origin: reply.outbox.id() };
        self.command(session, kind, Reply::new(reply, None)).await
    }

    /// Subscribe the asking connection to a session, replaying durable messages after
    /// `after_seq`.
    pub async fn attach(
        &self,
        who: Participant,
        session: SessionId,
        after_seq: Seq,
        reply: ReplyTo,
    ) -> Result<(), EngineError> {
        let subscriber = Subscriber { who, outbox: reply.outbox.clone() };
        if who == Participant::Visitor
            && self.hub.queue().get(session).is_some_and(|s| s.meta.state == State::Waiting)
        {
            self.hub.follow_visitor(session, reply.outbox.clone());
        }
        self.command(session, CommandKind::Attach { subscriber, after_seq }, Reply::new(reply, None)).await
    }

    /// Unsubscribe the asking connection from a session.
    pub async fn detach(&self, session: SessionId, reply: ReplyTo) -> Result<(), EngineError> {
        let conn = reply.outbox.id();
        self.command(session, CommandKind::Detach { conn }, Reply::new(reply, None)).await
    }

    /// Mark `session` read up to `seq` for `agent` (persisted in the background). Markers
    /// beyond the newest message are clamped to it and never move backwards. Only listed
    /// sessions keep their markers in memory; others are just persisted.
    pub async fn mark_read(&self, agent: AgentId, session: SessionId, seq: Seq) -> Result<(), EngineError> {
        let listed = self.hub.queue().get(session).map(|s| s.last_seq);
        let seq = match listed {
            Some(last) => {
                let current = self.hub.queue_marker(session, agent);
                if seq.min(last) <= current {
                    return Ok(());
                }
                seq.min(last)
            }
            None => {
                let read = move |storage: &Storage| {
                    storage.session(session)?.ok_or(EngineError::UnknownSession(session))?;
                    let current = storage.read_markers(session)?.into_iter().find(|(a, _)| *a == agent);
                    Ok((storage.last_seq(session)?, current.map_or(0, |(_, s)| s)))
                };
                let (last, current) = self.hub.read(read).await?;
                seq.min(last).max(current)
            }
        };
        let mut batch = Batch::new();
        if let Some(owner) = self.hub.ownership.owner(session, now_ms())? {
            batch.owned_by(owner);
        }
        batch.put_read_marker(session, agent, seq);
        let done = Box::new(|result: Result<(), _>| {
            if let Err(e) = result {
                tracing::warn!(error = %e, "read marker not persisted");
            }
        });
        self.hub.storage.submit(batch, done)?;
        if listed.is_some() {
            self.hub.queue().mark_read(session, agent, seq);
        }
        Ok(())
    }

    /// One page of a session's durable transcript: up to `limit` messages after `after_seq`.
    pub async fn history(
        &self,
        session: SessionId,
        after_seq: Seq,
        limit: usize,
    ) -> Result<(Vec<ChatMessage>, bool), EngineError> {
        self.hub
            .read(move |storage| {
                storage.session(session)?.ok_or(EngineError::UnknownSession(session))?;
                let mut page = storage.messages(session, after_seq, limit + 1)?;
                let has_more = page.len() > limit;
                page.truncate(limit);
                let messages = page.into_iter().map(|(seq, r)| convert::chat_message(seq, r)).collect();
                Ok((messages, has_more))
            })
            .await
    }

    /// Write a batch through group commit and wait until it is durable.
    pub(crate) async fn write(&self, batch: Batch) -> Result<(), EngineError> {
        let (tx, rx) = oneshot::channel();
        self.hub.storage.submit(batch, Box::new(move |result| drop(tx.send(result))))?;
        rx.await.map_err(|_| EngineError::Internal("storage writer stopped".into()))??;
        Ok(())
    }

    /// Hand a command to the session's actor (see [`registry::command`]).
    async fn command(&self, session: SessionId, kind: CommandKind, reply: Reply) -> Result<(), EngineError> {
        registry::command(&self.hub, session, kind, reply).await
    }
}

pub(crate) fn profile(record: AgentRecord) -> AgentProfile {
    AgentProfile {
        id: record.id,
        display_name: record.display_name,
        max_concurrent_chats: record.max_concurrent_chats,
        disabled: record.disabled,
        email: record.email,
        password_phc: record.password_phc,
        password_temporary: record.password_temporary,
        admin: record.admin,
        token_sha256: record.token_sha256,
        created_at_ms: record.created_at_ms,
    }
}

/// Rebuild the queue view: open sessions (oldest first) and the recently closed ones.
fn load_queue(hub: &Hub, storage: &Storage) -> Result<(), EngineError> {
    let mut sessions = storage.open_sessions()?;
    let mut closed = storage.recently_closed(hub.config.closed_listed_max)?;
    closed.reverse();
    sessions.extend(closed);
    let mut waiting = Vec::new();
    {
        let mut queue = hub.queue();
        for record in sessions {
            let id = record.id;
            let last_seq = storage.last_seq(id)?;
            let snapshot = SessionSnapshot { meta: convert::session_meta(record), last_seq };
            if snapshot.meta.state == State::Waiting {
                waiting.push(snapshot.clone());
            }
            queue.upsert(snapshot);
            for (agent, seq) in storage.read_markers(id)? {
                queue.mark_read(id, agent, seq);
            }
            hub.tickets.remember(storage, id)?;
            hub.ratings.remember(storage, id)?;
        }
    }
    // Back in their departments' queues, in their original order (enqueue time is the
    // restart's, so a waiting chat keeps its place relative to the others).
    for snapshot in &waiting {
        hub.enqueue(snapshot);
    }
    Ok(())
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;

/// Shards tried for a new session before giving up (`wrong_node`) while this node's shards
/// are being handed over.
const PLACE_ATTEMPTS: u32 = 8;
