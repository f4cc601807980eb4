//! Shard leases as plain rules, no I/O, the clock passed in: what a node does with each
//! shard's lease on one turn of the lease driver ([`plan`]).
//!
//! A lease is a key per shard in a JetStream key-value bucket whose value names the owner
//! and the time it holds it until ([`LeaseValue`]). Every change is a compare-and-set on
//! the key's revision, so two nodes can never both succeed from the same state; the
//! revision that granted a lease is its fencing token.
//!
//! Which node should own a shard is decided by rendezvous hashing over the live nodes
//! ([`preferred`]): every node computes the same answer from the same membership, shards
//! spread evenly, and when a node joins or leaves only its share moves.

use serde::{Deserialize, Serialize};

/// A lease's value in the bucket. `node` empty: released (free since `until_ms`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseValue {
    pub node: String,
    pub until_ms: u64,
}

impl LeaseValue {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a lease encodes")
    }

    /// `None` for bytes that are not a lease (treated as free: anyone may overwrite by CAS).
    pub fn decode(bytes: &[u8]) -> Option<LeaseValue> {
        serde_json::from_slice(bytes).ok()
    }
}

/// A shard's lease as read this turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// `None`: no key yet, or a value that is not a lease.
    pub value: Option<LeaseValue>,
    /// The key's revision; 0 when there is no key (take it with a create).
    pub revision: u64,
}

/// What to do with one shard this turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// It is ours: extend it (CAS on `revision`).
    Renew { shard: u32, revision: u64 },
    /// It is free or expired and ours to take (create when `revision` is 0, else CAS).
    Acquire { shard: u32, revision: u64 },
    /// It is ours but another live node should own it: hand it over (CAS to free).
    Release { shard: u32, revision: u64 },
}

/// The node that should own `shard` among `live` (rendezvous hashing: the highest hash of
/// node and shard wins). `None` when no node is live.
pub fn preferred(shard: u32, live: &[String]) -> Option<&str> {
    live.iter().max_by_key(|node| (score(node, shard), node.as_str())).map(String::as_str)
}

/// FNV-1a over the node name and the shard number, then a final mix: stable across builds
/// and platforms (every node must compute the same preference).
fn score(node: &str, shard: u32) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in node.as_bytes().iter().chain(shard.to_be_bytes().iter()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// One turn: for each shard (index = shard number), what `me` does. `live` are the nodes
/// whose heartbeat is current (it includes `me`). A free or expired shard is taken by its
/// preferred node at once, and by anyone once it has been free for `grace_ms` more (so a
/// shard whose preferred node does not act is never stranded).
pub fn plan(me: &str, now_ms: u64, grace_ms: u64, live: &[String], leases: &[Seen]) -> Vec<Step> {
    let mut steps = Vec::new();
    for (shard, seen) in leases.iter().enumerate() {
        let shard = shard as u32;
        let revision = seen.revision;
        let wanted_by = preferred(shard, live);
        match &seen.value {
            Some(v) if v.node == me => match wanted_by {
                Some(other) if other != me => steps.push(Step::Release { shard, revision }),
                _ => steps.push(Step::Renew { shard, revision }),
            },
            Some(v) if !v.node.is_empty() && v.until_ms > now_ms => {}
            free => {
                let free_since = free.as_ref().map(|v| v.until_ms);
                let stranded = free_since.is_some_and(|t| now_ms > t.saturating_add(grace_ms));
                if wanted_by == Some(me) || stranded {
                    steps.push(Step::Acquire { shard, revision });
                }
            }
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn held(node: &str, until_ms: u64, revision: u64) -> Seen {
        Seen { value: Some(LeaseValue { node: node.into(), until_ms }), revision }
    }

    fn absent() -> Seen {
        Seen { value: None, revision: 0 }
    }

    #[test]
    fn preference_spreads_shards_and_moves_only_a_leaving_nodes_share() {
        let three = nodes(&["a", "b", "c"]);
        let two = nodes(&["a", "b"]);
        let mut counts = [0; 3];
        for shard in 0..64 {
            let p = preferred(shard, &three).unwrap();
            counts[(p.as_bytes()[0] - b'a') as usize] += 1;
            if p != "c" {
                assert_eq!(preferred(shard, &two), Some(p), "shard {shard} moved though its node stayed");
            }
        }
        assert!(counts.iter().all(|&n| (10..=34).contains(&n)), "uneven spread: {counts:?}");
        assert_eq!(preferred(0, &[]), None);
    }

    #[test]
    fn a_fresh_cluster_is_divided_by_preference() {
        let live = nodes(&["a", "b", "c"]);
        let leases = vec![absent(); 64];
        let mut taken = 0;
        for me in &live {
            for step in plan(me, 1_000, 3_000, &live, &leases) {
                let Step::Acquire { shard, revision: 0 } = step else { panic!("{step:?}") };
                assert_eq!(preferred(shard, &live), Some(me.as_str()));
                taken += 1;
            }
        }
        assert_eq!(taken, 64, "every shard is wanted by exactly one node");
    }

    #[test]
    fn ours_is_renewed_theirs_is_left_expired_is_taken() {
        let live = nodes(&["a", "b"]);
        let me = "a";
        let mine = (0..64).find(|s| preferred(*s, &live) == Some("a")).unwrap();
        let theirs = (0..64).find(|s| preferred(*s, &live) == Some("b")).unwrap();
        let mut leases = vec![held("b", 10_000, 1); 64];
        leases[mine as usize] = held("a", 10_000, 5);
        let steps = plan(me, 5_000, 3_000, &live, &leases);
        assert_eq!(steps, vec![Step::Renew { shard: mine, revision: 5 }]);
        // b's lease on a shard a prefers expired (b died): a takes it by CAS at once...
        leases[mine as usize] = held("b", 4_000, 7);
        let steps = plan(me, 5_000, 3_000, &live, &leases);
        assert_eq!(steps, vec![Step::Acquire { shard: mine, revision: 7 }]);
        // ...but a shard b prefers only once it has been free past the grace.
        leases = vec![held("a", 10_000, 1); 64];
        leases[theirs as usize] = held("b", 4_000, 9);
        let steps = plan(me, 5_000, 3_000, &live, &leases);
        assert!(!steps.contains(&Step::Acquire { shard: theirs, revision: 9 }));
        let steps = plan(me, 7_001, 3_000, &live, &leases);
        assert!(steps.contains(&Step::Acquire { shard: theirs, revision: 9 }));
    }

    #[test]
    fn a_joining_node_gets_its_share_handed_over() {
        let before = nodes(&["a"]);
        let after = nodes(&["a", "b"]);
        let leases: Vec<Seen> = (0..64).map(|s| held("a", 10_000, 100 + s)).collect();
        assert!(plan("a", 5_000, 3_000, &before, &leases).iter().all(|s| matches!(s, Step::Renew { .. })));
        let steps = plan("a", 5_000, 3_000, &after, &leases);
        for step in &steps {
            match *step {
                Step::Release { shard, .. } => assert_eq!(preferred(shard, &after), Some("b")),
                Step::Renew { shard, .. } => assert_eq!(preferred(shard, &after), Some("a")),
                Step::Acquire { .. } => panic!("nothing is free"),
            }
        }
        assert!(steps.iter().any(|s| matches!(s, Step::Release { .. })));
        // b waits for the release; then takes what was handed over, and only that.
        assert!(plan("b", 5_000, 3_000, &after, &leases).is_empty());
        let released: Vec<Seen> = (0..64)
            .map(|s| {
                if preferred(s, &after) == Some("b") {
                    Seen {
                        value: Some(LeaseValue { node: String::new(), until_ms: 5_000 }),
                        revision: 200 + u64::from(s),
                    }
                } else {
                    held("a", 10_000, 100 + u64::from(s))
                }
            })
            .collect();
        let steps = plan("b", 5_100, 3_000, &after, &released);
        assert!(!steps.is_empty());
        assert!(steps.iter().all(|s| matches!(s, Step::Acquire { .. })));
    }

    #[test]
    fn values_round_trip_and_junk_is_free() {
        let v = LeaseValue { node: "n1".into(), until_ms: 42 };
        assert_eq!(LeaseValue::decode(&v.encode()), Some(v));
        assert_eq!(LeaseValue::decode(b"junk"), None);
        let live = nodes(&["a"]);
        let leases = vec![Seen { value: None, revision: 3 }];
        assert_eq!(plan("a", 0, 0, &live, &leases), vec![Step::Acquire { shard: 0, revision: 3 }]);
    }
}
