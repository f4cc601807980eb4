//! Cluster mode: what the engine does with writes other nodes made. Every node applies the
//! whole replicated log to its own database, so reads find other nodes' records at once;
//! this keeps what the engine holds in memory in step: the agent directory (an agent
//! created or changed on another node authenticates here with its current profile) and
//! the id counters of records any node may create (agents, tickets, contacts, channels),
//! so a node's next id stays above every id it has seen.
//!
//! Not followed yet (docs/CLUSTER.md, "What is not done"): the queue view and routing
//! (sessions of shards owned elsewhere), departments, channel summaries and memberships,
//! folders, ticket and rating links, console sessions.

use std::sync::atomic::Ordering;

use switchboard_storage::{catalog, keys, Batch};

use crate::Engine;

impl Engine {
    /// Another node's batches, just applied to this node's database.
    pub fn follow_remote(&self, batches: &[&Batch]) {
        for batch in batches {
            for (cf, key) in batch.puts() {
                let Some(id) = keys::decode_id(key) else { continue };
                match cf {
                    catalog::AGENT => self.follow_agent(id),
                    catalog::TICKET => {
                        self.hub.tickets.next_id.fetch_max(id + 1, Ordering::Relaxed);
                    }
                    catalog::CONTACT => self.contacts.saw_id(id),
                    catalog::CHANNEL => self.hub.channels.saw_id(id),
                    _ => {}
                }
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
