//! Cluster mode: what the engine does with writes other nodes made. Every node applies the
//! whole replicated log to its own database, so reads find other nodes' records at once;
//! this keeps what the engine holds in memory in step: the agent directory (an agent
//! created or changed on another node authenticates here with its current profile) and
//! the id counters of records any node may create (agents, tickets, contacts, channels),
//! so a node's next id stays above every id it has seen.
//!
//! It also lists the sessions other nodes own in this node's queue view (so every agent
//! sees one queue, with its badges), without routing them: the owner's department queue
//! does that.
//!
//! Channels another node owns are listed here as their records and memberships are
//! applied; their live events come from the owner through [`Peers`].
//!
//! Departments are followed too: one created or changed elsewhere gets its queue actor
//! here, told its members and settings (the shard's owner leads it, `routing::across`).
//!
//! So are sessions' ticket and rating links (shown in every node's queue), and the end of
//! a console session (its connections on every node are closed).
//!
//! Channel folders are read again whenever another node changed one.

use std::collections::BTreeSet;
use std::sync::Arc;

use switchboard_storage::{catalog, keys, Batch};

use tokio::sync::oneshot;

use crate::outbox::Broadcast;
use crate::routing::across::{Granted, RouteWire};
use crate::{AgentId, Engine};

/// Cluster mode: the other nodes, as the engine sees them (`gateway::relay`). None of these
/// may wait: they are called from actors.
pub trait Peers: Send + Sync + 'static {
    /// This node's name.
    fn node(&self) -> &str;
    /// An event for agents connected elsewhere (a channel's members, an offer's agent): the
    /// ones connected here got it directly.
    fn tell_members(&self, members: Vec<AgentId>, event: Arc<Broadcast>);
    /// A routing message to `node`, or to every other node (`None`).
    fn route(&self, node: Option<&str>, wire: RouteWire);
    /// Ask `node`, a department's leader, for a grant ([`RouteWire::Grant`]); `Err` when it
    /// does not answer in time.
    fn ask(&self, node: &str, wire: RouteWire) -> oneshot::Receiver<Result<Granted, String>>;
}

impl Engine {
    /// Cluster mode: where channel events for members on other nodes go.
    pub fn set_peers(&self, peers: Arc<dyn Peers>) {
        let _ = self.hub.peers.set(peers);
    }

    /// Another node's channel event (cluster mode), encoded there in both encodings: to
    /// the connections here of those of `members` that have one.
    pub fn tell_members_here(&self, members: &[AgentId], frames: &Arc<[bytes::Bytes; 2]>) {
        for member in members {
            for outbox in self.hub.agent_outboxes(*member) {
                outbox.deliver_encoded(frames);
            }
        }
    }

    /// Another node's batches, just applied to this node's database.
    pub fn follow_remote(&self, batches: &[&Batch]) {
        let mut channels = BTreeSet::new();
        for batch in batches {
            for (cf, key) in batch.keys() {
                if cf == catalog::CHANNEL_MEMBER {
                    if let Some((channel, _)) = keys::decode_pair(key) {
                        channels.insert(channel);
                    }
                }
            }
        }
        for channel in channels {
            self.follow_channel(channel);
        }
        let mut folders = false;
        for batch in batches {
            for (cf, key) in batch.keys() {
                match cf {
                    catalog::CONSOLE_SESSION => self.follow_console_session(key),
                    catalog::FOLDER => folders = true,
                    _ => {}
                }
            }
        }
        if folders {
            match self.hub.storage.folders() {
                Ok(records) => self.hub.folders.reload(records),
                Err(e) => {
                    tracing::warn!(target: "cluster", error = %e, "reading another node's folders failed")
                }
            }
        }
        for batch in batches {
            for (cf, key) in batch.puts() {
                if cf == catalog::SESSION_MESSAGE {
                    if let Some((session, seq)) = keys::decode_pair(key) {
                        self.follow_message(session, seq);
                    }
                    continue;
                }
                let Some(id) = keys::decode_id(key) else { continue };
                match cf {
                    catalog::AGENT => self.follow_agent(id),
                    catalog::SESSION => self.follow_session(id),
                    catalog::TICKET => self.hub.tickets.next_id.saw(id, self.hub.ownership.shards()),
                    // Its session shows the ticket here too, and "Create Ticket" pressed again
                    // on this node finds it instead of making a second one.
                    catalog::SESSION_TICKET => {
                        self.follow_link(id, |hub, s| hub.tickets.remember(&hub.storage, s))
                    }
                    catalog::SESSION_RATING => {
                        self.follow_link(id, |hub, s| hub.ratings.remember(&hub.storage, s))
                    }
                    catalog::CONTACT => self.contacts.next_id.saw(id, self.hub.ownership.shards()),
                    catalog::DEPARTMENT => {
                        if let Err(e) = crate::routing::facade::follow_department(&self.hub, id) {
                            tracing::warn!(target: "cluster", department = id, error = %e, "reading another node's department failed");
                        }
                    }
                    catalog::CHANNEL => {
                        let counter = crate::ids::first_counter(id, self.hub.ownership.shards());
                        self.hub.channels.counter_above(counter);
                        self.follow_channel(id);
                    }
                    _ => {}
                }
            }
        }
    }

    /// A session another node owns was created or changed: list it here too, and tell
    /// this node's agents, so every agent sees one queue. Routing stays with the owner
    /// (its department queue offers the chat); an accept from here is relayed there.
    fn follow_session(&self, id: u64) {
        let read = || -> Result<Option<crate::SessionSnapshot>, crate::EngineError> {
            let Some(record) = self.hub.storage.session(id)? else { return Ok(None) };
            let last_seq = self.hub.storage.last_seq(id)?;
            Ok(Some(crate::SessionSnapshot { meta: crate::convert::session_meta(record), last_seq }))
        };
        match read() {
            Ok(Some(snapshot)) => self.hub.remote_session(&snapshot),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(target: "cluster", session = id, error = %e, "reading another node's session failed")
            }
        }
    }

    /// A message of a session another node owns became durable: move the queue's badges.
    fn follow_message(&self, session: u64, seq: u64) {
        match self.hub.storage.messages(session, seq - 1, 1) {
            Ok(found) => {
                if let Some((seq, record)) = found.into_iter().next() {
                    let from = crate::convert::chat_message(seq, record).from;
                    self.hub.message_committed(session, seq, from);
                }
            }
            Err(e) => {
                tracing::warn!(target: "cluster", session, error = %e, "reading another node's message failed")
            }
        }
    }

    /// A channel another node owns was created or changed, or its members: list it here
    /// as it now is (names, membership, for `list_channels` and `channel_members`).
    fn follow_channel(&self, id: u64) {
        let read = || -> Result<Option<crate::channels::directory::ChannelSummary>, crate::EngineError> {
            let Some(record) = self.hub.storage.channel(id)? else { return Ok(None) };
            let members =
                self.hub.storage.channel_members(id)?.into_iter().map(|(agent, _, _)| agent).collect();
            Ok(Some(crate::channels::directory::ChannelSummary {
                meta: crate::channels::convert::channel_meta(record),
                members,
            }))
        };
        match read() {
            Ok(Some(summary)) => self.hub.channels.publish(summary),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(target: "cluster", channel = id, error = %e, "reading another node's channel failed")
            }
        }
    }

    /// A session's ticket or rating was made on another node: remember it, and show it.
    fn follow_link(
        &self,
        session: u64,
        remember: impl Fn(&crate::hub::Hub, u64) -> Result<(), crate::EngineError>,
    ) {
        match remember(&self.hub, session) {
            Ok(()) => self.hub.session_announced(session),
            Err(e) => {
                tracing::warn!(target: "cluster", session, error = %e, "reading another node's ticket or rating failed")
            }
        }
    }

    /// A console session was ended on another node (signed out, a new password): close the
    /// connections here that authenticated with it.
    fn follow_console_session(&self, key: &[u8]) {
        let Ok(hash) = <[u8; 32]>::try_from(key) else { return };
        if matches!(self.hub.storage.console_session(&hash), Ok(None)) {
            self.hub.console.end(&hash);
        }
    }

    fn follow_agent(&self, id: u64) {
        self.next_agent.saw(id, self.hub.ownership.shards());
        match self.hub.storage.agent(id) {
            Ok(Some(record)) => {
                self.hub.directory.insert(id, crate::engine::profile(record));
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(target: "cluster", agent = id, error = %e, "reading another node's agent failed")
            }
        }
    }
}
