//! Where session actors live. Actors are started lazily on first use (so start-up does not
//! grow with history), placed on arbiter `id % arbiters`, and removed when they stop. A
//! session whose actor escalated stays quarantined until the server restarts (the shared
//! [`Slots`] mechanism, as for channels).

use std::sync::Arc;

use actix::{Actor, Addr, Arbiter};

use actix::dev::SendError;

use super::session::{load_session, Command, CommandKind, SessionActor};
use super::slots::Slots;
use crate::answer::Reply;
use crate::hub::Hub;
use crate::{EngineError, SessionId};

/// Hand a command to the session's actor (starting it if needed); resolves once the actor's
/// mailbox has taken it. On an error returned here the reply is cancelled: the caller
/// answers with the error itself.
pub(crate) async fn command(
    hub: &Arc<Hub>,
    session: SessionId,
    kind: CommandKind,
    reply: Reply,
) -> Result<(), EngineError> {
    let mut command = Command { kind, reply };
    // One retry covers an actor that stopped (idle) between lookup and send.
    for _ in 0..2 {
        let addr = match hub.registry.addr(hub, session).await {
            Ok(addr) => addr,
            Err(e) => {
                command.reply.cancel();
                return Err(e);
            }
        };
        // Enqueue without waiting for the actor to run: a connection pipelines. Order is
        // kept because the caller awaits this before sending its next command.
        match addr.try_send(command) {
            Ok(()) => return Ok(()),
            // The mailbox is full: wait for room, which pushes back on this caller. If the
            // actor stops meanwhile, the command is dropped with its mailbox and its reply
            // answers `internal` by itself.
            Err(SendError::Full(back)) => return Ok(addr.send(back).await.unwrap_or(())),
            Err(SendError::Closed(back)) => command = back,
        }
    }
    command.reply.cancel();
    Err(EngineError::Internal(format!("session {session} actor unavailable")))
}

/// Session id → running actor.
pub struct Registry {
    slots: Slots<SessionActor>,
    arbiters: Vec<Arbiter>,
    /// The thread of every department's queue actor: routing decisions are small and must
    /// not wait behind the shards' connection and session work (an offer is due within a
    /// millisecond of a chat being queued).
    routing: Arbiter,
}

impl Registry {
    /// Start `arbiters` arbiter threads. Must run inside an actix `System`.
    pub(crate) fn new(arbiters: usize) -> Registry {
        let arbiters = (0..arbiters.max(1)).map(|_| Arbiter::new()).collect();
        Registry { slots: Slots::default(), arbiters, routing: Arbiter::new() }
    }

    /// The actor of session `id`, started (and loaded from storage) if needed.
    pub(crate) async fn addr(
        &self,
        hub: &Arc<Hub>,
        id: SessionId,
    ) -> Result<Addr<SessionActor>, EngineError> {
        let unavailable = |_| EngineError::SessionUnavailable(id);
        if let Some(addr) = self.slots.live(id).map_err(unavailable)? {
            return Ok(addr);
        }
        // Load on the blocking pool, outside the map's lock; a concurrent loader may win the
        // insert below.
        let config = hub.config.clone();
        let loader = hub.clone();
        let session = hub
            .read(move |storage| {
                let session = load_session(storage, id, &config)?;
                // What its answers will show: the session's ticket, if it has one.
                loader.tickets.remember(storage, id)?;
                loader.ratings.remember(storage, id)?;
                Ok(session)
            })
            .await?;
        self.slots.start(id, |generation| self.spawn(hub, id, session, generation)).map_err(unavailable)
    }

    fn spawn(
        &self,
        hub: &Arc<Hub>,
        id: SessionId,
        session: crate::domain::session::Session,
        generation: u64,
    ) -> Addr<SessionActor> {
        let arbiter = &self.arbiters[(id % self.arbiters.len() as u64) as usize];
        let hub = hub.clone();
        let mailbox = hub.config.session_mailbox;
        let addr = SessionActor::start_in_arbiter(&arbiter.handle(), move |ctx| {
            ctx.set_mailbox_capacity(mailbox);
            SessionActor::new(id, generation, hub, session)
        });
        metrics::counter!("switchboard_session_actors_started_total").increment(1);
        addr
    }

    /// Run `future` on shard `key % shards`: the same threads that host session actors, so
    /// a connection's work and its sessions' actors share a thread (no cross-thread wake-up
    /// between them) whenever they land on the same shard; always with one shard.
    pub(crate) fn spawn_on_shard(
        &self,
        key: u64,
        future: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let arbiter = &self.arbiters[(key % self.arbiters.len() as u64) as usize];
        if !arbiter.spawn(future) {
            tracing::error!(shard = key % self.arbiters.len() as u64, "shard is gone; task dropped");
        }
    }

    /// The arbiter of shard `key % shards` (where channel `key`'s actor lives).
    pub(crate) fn shard(&self, key: u64) -> actix::ArbiterHandle {
        self.arbiters[(key % self.arbiters.len() as u64) as usize].handle()
    }

    /// The routing thread, where every department's queue actor lives.
    pub(crate) fn routing_arbiter(&self) -> actix::ArbiterHandle {
        self.routing.handle()
    }

    /// Number of shards (arbiter threads).
    pub(crate) fn shards(&self) -> usize {
        self.arbiters.len()
    }

    /// Cluster mode: tell every running session actor `pick` selects that its shard is gone
    /// from this node ([`CommandKind::Evict`]). Returns how many were told.
    pub(crate) fn evict_where(&self, pick: impl Fn(SessionId) -> bool) -> usize {
        let live = self.slots.live_where(pick);
        for (_, addr) in &live {
            // Full mailbox: it is busy and its next write is refused anyway (the lease
            // check); the eviction only hurries its subscribers along.
            let _ = addr.try_send(Command { kind: CommandKind::Evict, reply: Reply::silent() });
        }
        live.len()
    }

    /// Mark a session quarantined: its actor gave up after repeated crashes.
    pub(crate) fn quarantine(&self, id: SessionId) {
        self.slots.quarantine(id);
    }

    /// Forget a stopped actor (only if the slot still holds that generation).
    pub(crate) fn remove(&self, id: SessionId, generation: u64) {
        self.slots.remove(id, generation);
    }
}
