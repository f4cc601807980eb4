//! New ids for records: one mechanism for sessions, agents, contacts and tickets.
//!
//! On one machine an id is its counter: 1, 2, 3, … In cluster mode any node may create a
//! record, so an id is `counter × shards + a shard this node owns` ([`Engine::place`]):
//! two nodes never own one shard at once, so they never pick the same id, however many
//! records they create in the same instant. Each node's counter stays above every id it
//! has seen, its own and, through the log, the other nodes' ([`IdCounter::saw`]).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Engine, EngineError};

/// The counter behind one kind of id.
#[derive(Debug, Default)]
pub(crate) struct IdCounter(AtomicU64);

impl IdCounter {
    /// A counter whose ids are all above `max_id`.
    pub(crate) fn above(max_id: u64, shards: u32) -> IdCounter {
        IdCounter(AtomicU64::new(first_counter(max_id, shards)))
    }

    /// Keep this counter's ids above `id` (read at start, or another node's record).
    pub(crate) fn saw(&self, id: u64, shards: u32) {
        self.0.fetch_max(first_counter(id, shards), Ordering::Relaxed);
    }

    fn take(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

/// The first counter whose ids are all above `max_id`.
pub(crate) fn first_counter(max_id: u64, shards: u32) -> u64 {
    if shards == 0 {
        max_id + 1
    } else {
        max_id / u64::from(shards) + 1
    }
}

impl Engine {
    /// A new id from `counter` (see the module comment): `cluster_unavailable` or
    /// `wrong_node` in cluster mode while this node owns no shard.
    pub(crate) fn new_id(&self, counter: &IdCounter) -> Result<u64, EngineError> {
        self.place(counter.take())
    }

    /// A new id above `max_id` for records made rarely, under a lock, with every id in
    /// memory (departments, folders): no counter to keep, and still no two nodes pick the
    /// same one.
    pub(crate) fn new_id_after(&self, max_id: u64) -> Result<u64, EngineError> {
        self.place(first_counter(max_id, self.hub.ownership.shards()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_stay_above_what_they_saw() {
        let one = IdCounter::above(0, 0);
        assert_eq!(one.take(), 1);
        one.saw(9, 0);
        assert_eq!(one.take(), 10);
        one.saw(3, 0);
        assert_eq!(one.take(), 11, "never back");
        // Cluster: id 130 is counter 2 of shard 2 (2 × 64 + 2); the next counter is 3.
        let cluster = IdCounter::above(130, 64);
        assert_eq!(cluster.take(), 3);
        cluster.saw(64 * 7 + 63, 64);
        assert_eq!(cluster.take(), 8);
    }
}
