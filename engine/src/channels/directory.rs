//! The channel directory: each channel's summary — name, visibility, folder, members — for
//! listing (a private channel is listed only to its members) and for unique names. Loaded
//! at start; after that only channel actors (and channel creation) change it, once their
//! writes are durable.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use dashmap::DashMap;

use crate::domain::channel::{ChannelId, ChannelMeta};
use crate::domain::types::AgentId;

/// A channel as listings see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSummary {
    pub meta: ChannelMeta,
    pub members: BTreeSet<AgentId>,
}

impl ChannelSummary {
    /// Whether `agent` may see the channel listed (members, or anyone for a public one).
    pub fn visible_to(&self, agent: AgentId) -> bool {
        !self.meta.private || self.members.contains(&agent)
    }
}

/// Every channel's summary.
pub struct ChannelDirectory {
    entries: DashMap<ChannelId, ChannelSummary>,
    next_id: AtomicU64,
    /// Names claimed by creations whose write is not durable yet: two creations cannot
    /// take one name.
    claimed: Mutex<BTreeSet<String>>,
}

impl Default for ChannelDirectory {
    fn default() -> Self {
        ChannelDirectory::load(Vec::new())
    }
}

impl ChannelDirectory {
    pub(crate) fn load(channels: Vec<ChannelSummary>) -> ChannelDirectory {
        let next = channels.iter().map(|c| c.meta.id).max().unwrap_or(0) + 1;
        let entries = channels.into_iter().map(|c| (c.meta.id, c)).collect();
        ChannelDirectory { entries, next_id: AtomicU64::new(next), claimed: Mutex::new(BTreeSet::new()) }
    }

    /// Take the loaded directory's channels (at start, into the hub's empty one).
    pub(crate) fn fill(&self, loaded: ChannelDirectory) {
        for (id, summary) in loaded.entries {
            self.entries.insert(id, summary);
        }
        self.next_id.fetch_max(loaded.next_id.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    pub(crate) fn get(&self, id: ChannelId) -> Option<ChannelSummary> {
        self.entries.get(&id).map(|e| e.clone())
    }

    /// Every channel.
    pub(crate) fn all(&self) -> Vec<ChannelSummary> {
        self.entries.iter().map(|e| e.clone()).collect()
    }

    /// The channels `agent` may see, by name.
    pub(crate) fn visible_to(&self, agent: AgentId) -> Vec<ChannelSummary> {
        let mut all: Vec<ChannelSummary> =
            self.entries.iter().filter(|e| e.visible_to(agent)).map(|e| e.clone()).collect();
        all.sort_by(|a, b| a.meta.name.cmp(&b.meta.name));
        all
    }

    /// Cluster mode: new channels' counter starts at `counter` or above (another node
    /// created one, or this node took a shard over; ids are placed by [`crate::Engine::place`]).
    pub(crate) fn counter_above(&self, counter: u64) {
        self.next_id.fetch_max(counter, Ordering::Relaxed);
    }

    /// Claim `name` for a new channel and give it a counter (its id on one machine, see
    /// [`crate::Engine::place`]); `None` when a channel has the name or a creation claimed
    /// it. Release it with [`ChannelDirectory::publish`] or [`ChannelDirectory::release`].
    pub(crate) fn claim(&self, name: &str) -> Option<ChannelId> {
        let mut claimed = self.claimed.lock().unwrap_or_else(|p| p.into_inner());
        if claimed.contains(name) || self.entries.iter().any(|e| e.meta.name == name) {
            return None;
        }
        claimed.insert(name.to_string());
        Some(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// A claimed name whose channel was not created.
    pub(crate) fn release(&self, name: &str) {
        self.claimed.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
    }

    /// A durable change of a channel's summary (created, joined, left, archived…).
    pub(crate) fn publish(&self, summary: ChannelSummary) {
        let name = summary.meta.name.clone();
        self.entries.insert(summary.meta.id, summary);
        self.release(&name);
    }
}
