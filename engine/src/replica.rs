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
//! Not followed yet (docs/CLUSTER.md, "What is not done"): departments, channel summaries
//! and memberships, folders, ticket and rating links, console sessions.

use std::sync::atomic::Ordering;

use switchboard_storage::{catalog, keys, Batch};

use crate::Engine;

impl Engine {
    /// Another node's batches, just applied to this node's database.
    pub fn follow_remote(&self, batches: &[&Batch]) {
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
                    catalog::TICKET => {
                        self.hub.tickets.next_id.fetch_max(id + 1, Ordering::Relaxed);
                    }
                    catalog::CONTACT => self.contacts.saw_id(id),
                    catalog::CHANNEL => self
                        .hub
                        .channels
                        .counter_above(crate::engine::first_session_counter(id, self.hub.ownership.shards())),
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

    fn follow_agent(&self, id: u64) {
        self.next_agent.fetch_max(id + 1, Ordering::Relaxed);
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
