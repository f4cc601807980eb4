//! Fencing in the log, as a plain rule: every node applies the same log in the same order
//! and so reaches the same verdict on every write.
//!
//! A node that takes a shard over first appends a fence entry naming the shard and the
//! lease revision it took it under, and serves the shard only once that entry is applied.
//! From that point in the log on, a write tagged with an older lease for that shard is
//! refused, wherever it comes from: a paused or partitioned former owner that wakes up and
//! writes cannot overwrite or reorder what its successor wrote. Writes before the fence
//! were the former owner's to make; the successor read them before it served.

use std::collections::HashMap;

use switchboard_storage::replication::Owner;

/// The highest fence of every shard, as applied so far.
#[derive(Debug, Clone, Default)]
pub struct Fences {
    by_shard: HashMap<u32, u64>,
}

impl Fences {
    /// The fences stored with the applied log (after a restart).
    pub fn from_stored(stored: impl IntoIterator<Item = (u32, u64)>) -> Fences {
        Fences { by_shard: stored.into_iter().collect() }
    }

    /// A fence entry: writes to `shard` under a lease below `lease` are refused from now
    /// on. A fence below the current one changes nothing (returns false).
    pub fn raise(&mut self, shard: u32, lease: u64) -> bool {
        let current = self.by_shard.entry(shard).or_insert(0);
        if lease > *current {
            *current = lease;
            true
        } else {
            false
        }
    }

    /// Whether a write tagged `owner` is accepted here. Untagged writes always are.
    pub fn admits(&self, owner: Option<Owner>) -> bool {
        match owner {
            None => true,
            Some(Owner { shard, lease }) => lease >= self.by_shard.get(&shard).copied().unwrap_or(0),
        }
    }

    /// The current fence of `shard` (0: never taken over).
    pub fn of(&self, shard: u32) -> u64 {
        self.by_shard.get(&shard).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(shard: u32, lease: u64) -> Option<Owner> {
        Some(Owner { shard, lease })
    }

    #[test]
    fn a_takeover_refuses_the_former_owners_later_writes_only() {
        let mut fences = Fences::default();
        assert!(fences.admits(owner(3, 10)), "no fence yet: the first owner writes");
        assert!(fences.raise(3, 10));
        assert!(fences.admits(owner(3, 10)));
        // Another node takes shard 3 under lease 25: the old owner's writes stop counting.
        assert!(fences.raise(3, 25));
        assert!(!fences.admits(owner(3, 10)));
        assert!(fences.admits(owner(3, 25)));
        assert!(fences.admits(owner(3, 30)), "a renewal's newer revision is still the owner");
        assert!(fences.admits(owner(4, 1)), "other shards are unaffected");
        assert!(fences.admits(None), "untagged writes are never fenced");
        assert!(!fences.raise(3, 20), "a late, lower fence changes nothing");
        assert!(!fences.admits(owner(3, 20)));
        assert_eq!(fences.of(3), 25);
    }

    #[test]
    fn stored_fences_are_restored() {
        let fences = Fences::from_stored([(1, 5), (2, 9)]);
        assert!(!fences.admits(owner(2, 8)));
        assert!(fences.admits(owner(1, 5)));
        assert_eq!(fences.of(7), 0);
    }
}
