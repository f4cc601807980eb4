//! State shared by the engine facade and every session actor: the queue view, the online
//! agents that hear about queue changes, the agent directory and the actor registry.
//!
//! Lock order: `queue` before iterating `agents_online`; nothing takes them the other way.

use std::sync::{Arc, Mutex, MutexGuard};

use dashmap::DashMap;
use switchboard_storage::Storage;

use crate::actor::registry::Registry;
use crate::domain::queue::QueueView;
use crate::domain::types::*;
use crate::outbox::{Broadcast, ConnId, Event, Outbox};
use crate::routing::queue_actor::QueueMsg;
use crate::{EngineConfig, EngineError};

/// An agent as the engine knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentProfile {
    pub id: AgentId,
    pub display_name: String,
    pub max_concurrent_chats: u32,
    /// A disabled agent cannot authenticate.
    pub disabled: bool,
    pub(crate) token_sha256: String,
    pub(crate) created_at_ms: u64,
    /// The console sign-in email, if one is set.
    pub email: Option<String>,
    /// The console password (argon2id PHC string), if one is set.
    pub(crate) password_phc: Option<String>,
    /// The password was set by an administrator and must be replaced at sign-in.
    pub password_temporary: bool,
    /// Administers the server from the console (the admin HTTP API with its cookie).
    pub admin: bool,
}

impl AgentProfile {
    /// Whether a console password is set.
    pub fn has_password(&self) -> bool {
        self.password_phc.is_some()
    }
}

/// Shared engine state.
pub struct Hub {
    pub(crate) storage: Storage,
    pub(crate) config: EngineConfig,
    pub(crate) registry: Registry,
    queue: Mutex<QueueView>,
    agents_online: DashMap<ConnId, (AgentId, Outbox)>,
    /// The same connections by agent: offers and channel fan-out find an agent's
    /// connections without scanning every connection.
    by_agent: DashMap<AgentId, Vec<Outbox>>,
    pub(crate) directory: DashMap<AgentId, AgentProfile>,
    reads: tokio::sync::Semaphore,
    /// Departments and their queue actors.
    pub(crate) routing: crate::routing::departments::Departments,
    /// Connections of visitors whose session waits, for their place in line.
    visitors: DashMap<SessionId, Vec<Outbox>>,
    /// Team channels' summaries, and their actors.
    pub(crate) channels: crate::channels::directory::ChannelDirectory,
    pub(crate) channel_actors: crate::channels::registry::ChannelRegistry,
    pub(crate) folders: crate::channels::folders::Folders,
    /// Tickets: ids, the session links shown in `SessionInfo`, the webhook outbox.
    pub(crate) tickets: crate::tickets::TicketDesk,
    /// Visitors' ratings of closed chats.
    pub(crate) ratings: crate::ratings::Ratings,
    /// Connections of each signed-in agent console, closed when it signs out.
    pub(crate) console: crate::console::ConsoleConnections,
    /// Held from reading an agent's profile to storing its change ([`Engine::change_agent`]),
    /// so two changes (an administrator's and the agent's own password) never undo each
    /// other, and an email is claimed by one agent only. Slow work (password hashing) is
    /// done before taking it.
    pub(crate) agent_writes: tokio::sync::Mutex<()>,
    /// Which shards this node may write (everything, on one machine).
    pub(crate) ownership: Arc<crate::ownership::Ownership>,
    /// Cluster mode: channel events for members connected to other nodes.
    pub(crate) peers: std::sync::OnceLock<Arc<dyn crate::replica::Peers>>,
    /// Cluster mode: which agents are connected where.
    pub(crate) presences: crate::routing::across::Presences,
}

impl Hub {
    pub(crate) fn new(
        storage: Storage,
        config: EngineConfig,
        registry: Registry,
        ownership: Arc<crate::ownership::Ownership>,
    ) -> Hub {
        let queue = Mutex::new(QueueView::new(config.closed_listed_max));
        let reads = tokio::sync::Semaphore::new(config.blocking_reads_max);
        Hub {
            storage,
            config,
            registry,
            queue,
            agents_online: DashMap::new(),
            by_agent: DashMap::new(),
            directory: DashMap::new(),
            reads,
            routing: Default::default(),
            visitors: DashMap::new(),
            channels: Default::default(),
            channel_actors: Default::default(),
            folders: Default::default(),
            tickets: Default::default(),
            ratings: Default::default(),
            console: Default::default(),
            agent_writes: tokio::sync::Mutex::new(()),
            ownership,
            peers: std::sync::OnceLock::new(),
            presences: Default::default(),
        }
    }

    /// Run a storage read on the blocking pool, at most `blocking_reads_max` at once, so
    /// async worker threads never wait on disk.
    pub(crate) async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Storage) -> Result<T, EngineError> + Send + 'static,
    ) -> Result<T, EngineError> {
        let _permit =
            self.reads.acquire().await.map_err(|_| EngineError::Internal("engine stopped".into()))?;
        let storage = self.storage.clone();
        let task = tokio::task::spawn_blocking(move || read(&storage));
        task.await.map_err(|e| EngineError::Internal(format!("storage read failed: {e}")))?
    }

    /// An agent's read marker on a listed session (0 when none).
    pub(crate) fn queue_marker(&self, session: SessionId, agent: AgentId) -> Seq {
        self.queue().marker(session, agent)
    }

    /// The queue view. Never held across an await.
    pub(crate) fn queue(&self) -> MutexGuard<'_, QueueView> {
        // A panic while holding this lock leaves plain data in a usable state.
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn agent_online(&self, agent: AgentId, outbox: Outbox) {
        self.by_agent.entry(agent).or_default().push(outbox.clone());
        self.agents_online.insert(outbox.id(), (agent, outbox));
        metrics::gauge!("switchboard_agents_online").set(self.agents_online.len() as f64);
    }

    pub(crate) fn connection_gone(&self, conn: ConnId) {
        if let Some((_, (agent, _))) = self.agents_online.remove(&conn) {
            self.by_agent.remove_if_mut(&agent, |_, outboxes| {
                outboxes.retain(|o| o.id() != conn);
                outboxes.is_empty()
            });
            if !self.agent_connected(agent) {
                self.presence_changed_here(agent, None);
                for actor in self.routing.of_agent(agent) {
                    actor.do_send(QueueMsg::Disconnected { agent });
                }
            }
        }
        metrics::gauge!("switchboard_agents_online").set(self.agents_online.len() as f64);
    }

    /// The open connections of `agent`.
    pub(crate) fn agent_outboxes(&self, agent: AgentId) -> Vec<Outbox> {
        self.by_agent.get(&agent).map(|o| o.clone()).unwrap_or_default()
    }

    /// Queue `event` for every open connection of `agent` but `except` (the connection
    /// that caused it, answered instead). Nothing is copied but the event's `Arc`, and it is
    /// encoded once for every agent it is told to; a connection whose queue is full is cut
    /// off by its own overflow, never waited for.
    pub(crate) fn tell_agent(&self, agent: AgentId, event: &Arc<Broadcast>, except: Option<ConnId>) {
        if let Some(outboxes) = self.by_agent.get(&agent) {
            for outbox in outboxes.iter().filter(|o| Some(o.id()) != except) {
                outbox.deliver_shared(event);
            }
        }
    }

    /// Cluster mode: `event` to `members`' connections on other nodes too.
    pub(crate) fn tell_elsewhere(&self, members: impl Iterator<Item = AgentId>, event: &Arc<Broadcast>) {
        if let Some(peers) = self.peers.get() {
            peers.tell_members(members.collect(), event.clone());
        }
    }

    /// Whether `agent` has an open connection.
    pub(crate) fn agent_connected(&self, agent: AgentId) -> bool {
        self.by_agent.contains_key(&agent)
    }

    /// Follow a waiting session's visitor connection (for its place in line).
    pub(crate) fn follow_visitor(&self, session: SessionId, outbox: Outbox) {
        self.visitors.entry(session).or_default().push(outbox);
    }

    /// A hint to a waiting session's visitors (skipped under load); closed connections are
    /// forgotten.
    pub(crate) fn tell_visitors(&self, session: SessionId, event: Event) {
        if let Some(mut outboxes) = self.visitors.get_mut(&session) {
            outboxes.retain(|o| !o.is_closed());
            for outbox in outboxes.iter() {
                outbox.offer(event.clone());
            }
        }
    }

    /// A new session was created: list it (unless an actor already did), tell agents, and
    /// queue it in its department.
    pub(crate) fn session_created(&self, snapshot: &SessionSnapshot) {
        let mut queue = self.queue();
        if queue.get(snapshot.meta.id).is_some() {
            return;
        }
        queue.upsert(snapshot.clone());
        // Queued in its department before any agent hears of it, so an agent's accept (and
        // the `Remove` it causes) always reaches the department after the `Enqueue`.
        self.enqueue(snapshot);
        self.broadcast(&queue, snapshot, Announce::Created);
        update_gauges(&queue);
    }

    /// Queue a waiting session in its department (at creation, and at start-up).
    pub(crate) fn enqueue(&self, snapshot: &SessionSnapshot) {
        let department = snapshot.meta.department_id;
        let actor = self.routing.addr(department).or_else(|| self.routing.addr(DEFAULT_DEPARTMENT));
        if let Some(actor) = actor {
            let (session, priority, since) =
                (snapshot.meta.id, snapshot.meta.priority, snapshot.meta.created_at_ms);
            actor.do_send(QueueMsg::Enqueue { session, priority, since, queued: std::time::Instant::now() });
        }
    }

    /// A session's state changed durably: relist it, tell agents, and tell routing (it left
    /// the queue; a closed chat frees its agent's slot).
    pub(crate) fn session_changed(&self, snapshot: &SessionSnapshot) {
        {
            let mut queue = self.queue();
            let before = queue.get(snapshot.meta.id).and_then(|s| s.meta.agent_id);
            queue.upsert(snapshot.clone());
            self.broadcast(&queue, snapshot, Announce::Changed);
            update_gauges(&queue);
            for agent in before.into_iter().chain(snapshot.meta.agent_id) {
                agent_gauge(&queue, agent);
            }
        }
        if snapshot.meta.state == State::Closed {
            self.visitors.remove(&snapshot.meta.id);
        }
        self.tell_routing(snapshot);
    }

    /// A session's department hears of its change: back in line (its agent went offline),
    /// or out of it (a closed chat frees its agent's slot).
    fn tell_routing(&self, snapshot: &SessionSnapshot) {
        if snapshot.meta.state == State::Waiting {
            self.enqueue(snapshot);
        } else if let Some(actor) = self.routing.addr(snapshot.meta.department_id) {
            let assigned = snapshot.meta.state == State::Active;
            actor.do_send(QueueMsg::Remove { session: snapshot.meta.id, assigned });
        }
        if let (State::Closed, Some(agent)) = (snapshot.meta.state, snapshot.meta.agent_id) {
            for actor in self.routing.of_agent(agent) {
                actor.do_send(QueueMsg::CapacityChanged);
            }
        }
    }

    /// Cluster mode: a session another node owns was created or changed. Listed and
    /// announced here like ours; its routing is the owner's.
    pub(crate) fn remote_session(&self, snapshot: &SessionSnapshot) {
        {
            let mut queue = self.queue();
            let announce =
                if queue.get(snapshot.meta.id).is_some() { Announce::Changed } else { Announce::Created };
            let before = queue.get(snapshot.meta.id).and_then(|s| s.meta.agent_id);
            queue.upsert(snapshot.clone());
            self.broadcast(&queue, snapshot, announce);
            update_gauges(&queue);
            for agent in before.into_iter().chain(snapshot.meta.agent_id) {
                agent_gauge(&queue, agent);
            }
        }
        // Its department's queue hears of it as of ours: only the leader acts.
        self.tell_routing(snapshot);
    }

    /// Something shown about a listed session changed outside its actor (its ticket):
    /// announce it again to the agents.
    pub(crate) fn session_announced(&self, id: SessionId) {
        let queue = self.queue();
        if let Some(snapshot) = queue.get(id).cloned() {
            self.broadcast(&queue, &snapshot, Announce::Changed);
        }
    }

    /// A message became durable: update the listing; announce it while the session waits.
    pub(crate) fn message_committed(&self, id: SessionId, seq: Seq, from: Participant) {
        let mut queue = self.queue();
        if let Some(snapshot) = queue.on_message(id, seq, from) {
            self.broadcast(&queue, &snapshot, Announce::Activity);
        }
    }

    fn broadcast(&self, queue: &QueueView, snapshot: &SessionSnapshot, announce: Announce) {
        let shared = Arc::new(snapshot.clone());
        for entry in self.agents_online.iter() {
            let (agent, outbox) = entry.value();
            let unread = queue.unread(snapshot, *agent);
            match announce {
                Announce::Created => {
                    outbox.deliver(Event::SessionCreated { session: shared.clone(), unread })
                }
                Announce::Changed => {
                    outbox.deliver(Event::SessionUpdated { session: shared.clone(), unread: Some(unread) })
                }
                // New messages in a waiting session only move badges: skippable under load
                // (`list_queue` is always exact), so a chatty visitor cannot overflow agents.
                Announce::Activity => {
                    outbox.offer(Event::SessionUpdated { session: shared.clone(), unread: Some(unread) })
                }
            };
        }
    }
}

/// `switchboard_agent_active_chats` for one agent (one series per agent: bounded by the
/// agent directory, not by traffic).
pub(crate) fn agent_gauge(queue: &QueueView, agent: AgentId) {
    metrics::gauge!("switchboard_agent_active_chats", "agent" => agent.to_string())
        .set(f64::from(queue.active_chats(agent)));
}

pub(crate) fn update_gauges(queue: &QueueView) {
    metrics::gauge!("switchboard_sessions", "state" => "waiting").set(queue.waiting_len() as f64);
    metrics::gauge!("switchboard_sessions", "state" => "active").set(queue.active_len() as f64);
    metrics::gauge!("switchboard_queue_length").set(queue.waiting_len() as f64);
}

/// Why agents are told about a session.
#[derive(Clone, Copy)]
enum Announce {
    /// A new waiting session: must arrive.
    Created,
    /// A state change (accepted, closed): must arrive.
    Changed,
    /// New messages while waiting: may be skipped under load.
    Activity,
}
