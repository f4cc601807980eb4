//! Which shards this node may write, as the engine sees it (docs/CLUSTER.md).
//!
//! On one machine every id is ours and nothing here is consulted beyond one branch. In a
//! cluster, ids are grouped into shards (`id % shards`); the cluster crate holds a lease per
//! shard in NATS and tells [`Ownership`] which shards this node owns, under which lease
//! revision (the fencing token), and until when the lease is certainly still ours. Every
//! durable write of a session is tagged with that token ([`Ownership::owner`]); a write for
//! a shard we do not own is refused here, and one that slips through after a takeover is
//! refused by the replicated log's fence.
//!
//! This module has no I/O; the clock is passed in.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use switchboard_storage::replication::Owner;
use switchboard_storage::Batch;

use crate::EngineError;

/// A write [`Ownership::tag`] refused.
pub struct Refused {
    pub error: EngineError,
    /// The actor's state was loaded under another lease: rebuild it from storage.
    pub stale: bool,
}

/// Shards in a cluster. Fixed for the life of a cluster (ids map to shards by `id %
/// shards`): 64 spreads evenly over up to a few dozen nodes, and keeps a node's lease work
/// (one compare-and-set per shard per renewal) small.
pub const CLUSTER_SHARDS: u32 = 64;

struct Slot {
    /// The lease revision we hold, 0 when not ours.
    lease: AtomicU64,
    /// Until when (ms since the epoch, our clock) the lease is certainly ours.
    until_ms: AtomicU64,
}

/// This node's shards. Shared by the engine (reads on every write) and the cluster's lease
/// driver (grants and revocations).
pub struct Ownership {
    /// 0: one machine, everything is ours.
    shards: u32,
    slots: Vec<Slot>,
    /// False while the node has lost NATS: writes are refused as `cluster_unavailable`.
    connected: AtomicBool,
    /// Every shard's owner as last read from the leases (`None`: free or expired).
    owners: RwLock<Vec<Option<Arc<str>>>>,
    /// The nodes whose heartbeat was current at the last read.
    live: RwLock<Vec<String>>,
}

impl Ownership {
    /// One machine: every id is ours and no write is tagged.
    pub fn single() -> Ownership {
        Ownership {
            shards: 0,
            slots: Vec::new(),
            connected: AtomicBool::new(true),
            owners: RwLock::default(),
            live: RwLock::default(),
        }
    }

    /// A node of a cluster with `shards` shards, owning none yet.
    pub fn cluster(shards: u32) -> Ownership {
        let slots =
            (0..shards).map(|_| Slot { lease: AtomicU64::new(0), until_ms: AtomicU64::new(0) }).collect();
        Ownership {
            shards,
            slots,
            connected: AtomicBool::new(false),
            owners: RwLock::new(vec![None; shards as usize]),
            live: RwLock::default(),
        }
    }

    /// True in cluster mode.
    pub fn is_cluster(&self) -> bool {
        self.shards > 0
    }

    /// Number of shards (0 on one machine).
    pub fn shards(&self) -> u32 {
        self.shards
    }

    /// The shard of an id.
    pub fn shard_of(&self, id: u64) -> u32 {
        if self.shards == 0 {
            0
        } else {
            (id % u64::from(self.shards)) as u32
        }
    }

    /// The fencing token to tag a write of `id` with: `None` on one machine; an error when
    /// this node does not own the id's shard now (or has lost NATS).
    pub fn owner(&self, id: u64, now_ms: u64) -> Result<Option<Owner>, EngineError> {
        if self.shards == 0 {
            return Ok(None);
        }
        if !self.connected.load(Ordering::Acquire) {
            return Err(EngineError::ClusterUnavailable);
        }
        let shard = self.shard_of(id);
        let slot = &self.slots[shard as usize];
        let lease = slot.lease.load(Ordering::Acquire);
        if lease == 0 {
            return Err(EngineError::WrongNode { shard });
        }
        // Still ours as far as we know, but not renewed in time (NATS slow or failing over):
        // nobody can write it now; retry here.
        if now_ms >= slot.until_ms.load(Ordering::Acquire) {
            return Err(EngineError::ClusterUnavailable);
        }
        Ok(Some(Owner { shard, lease }))
    }

    /// Tag `batch`, a write of `id` by an actor whose state was loaded under lease
    /// `loaded`, with its fencing token (nothing on one machine). Refused when the shard is
    /// not ours now, or is ours under another lease than the state was loaded under (lost
    /// and taken back meanwhile: the state may be stale, and must be rebuilt first).
    pub fn tag(&self, batch: &mut Batch, id: u64, loaded: u64, now_ms: u64) -> Result<(), Refused> {
        match self.owner(id, now_ms) {
            Ok(None) => Ok(()),
            Ok(Some(owner)) if owner.lease != loaded => {
                Err(Refused { error: EngineError::WrongNode { shard: owner.shard }, stale: true })
            }
            Ok(Some(owner)) => {
                batch.owned_by(owner);
                Ok(())
            }
            Err(error) => Err(Refused { error, stale: false }),
        }
    }

    /// The lease driver took `shard` under revision `lease`, certain until `until_ms`.
    pub fn grant(&self, shard: u32, lease: u64, until_ms: u64) {
        let slot = &self.slots[shard as usize];
        slot.until_ms.store(until_ms, Ordering::Release);
        slot.lease.store(lease, Ordering::Release);
    }

    /// The lease was renewed: certain until `until_ms`.
    pub fn extend(&self, shard: u32, until_ms: u64) {
        self.slots[shard as usize].until_ms.store(until_ms, Ordering::Release);
    }

    /// `shard` is no longer ours (lost, expired or handed over).
    pub fn revoke(&self, shard: u32) {
        let slot = &self.slots[shard as usize];
        slot.lease.store(0, Ordering::Release);
        slot.until_ms.store(0, Ordering::Release);
    }

    /// Whether the node currently reaches NATS.
    pub fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Release);
    }

    /// Whether writes can reach the replicated log (always true on one machine).
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// The shards owned now (lease held and not past its certain time).
    pub fn owned(&self, now_ms: u64) -> Vec<u32> {
        (0..self.shards)
            .filter(|s| {
                let slot = &self.slots[*s as usize];
                slot.lease.load(Ordering::Acquire) != 0 && now_ms < slot.until_ms.load(Ordering::Acquire)
            })
            .collect()
    }

    /// The lease driver read every shard's owner and the live nodes.
    pub fn set_view(&self, owners: Vec<Option<Arc<str>>>, live: Vec<String>) {
        *self.owners.write().expect("owners lock") = owners;
        *self.live.write().expect("live lock") = live;
    }

    /// The node owning `id`'s shard as last read, when it is not this one.
    pub fn owner_elsewhere(&self, id: u64, me: &str) -> Option<Arc<str>> {
        if self.shards == 0 {
            return None;
        }
        let owner =
            self.owners.read().expect("owners lock").get(self.shard_of(id) as usize).cloned().flatten();
        owner.filter(|node| &**node != me)
    }

    /// The nodes whose heartbeat was current at the last read.
    pub fn live_nodes(&self) -> Vec<String> {
        self.live.read().expect("live lock").clone()
    }

    /// The lease revision held for `shard` (0: none), whatever its certain time.
    pub fn lease_of(&self, shard: u32) -> u64 {
        self.slots.get(shard as usize).map_or(0, |s| s.lease.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_machine_owns_everything_untagged() {
        let o = Ownership::single();
        assert!(matches!(o.owner(12345, 0), Ok(None)));
    }

    #[test]
    fn a_cluster_node_writes_only_its_shards_while_certain() {
        let o = Ownership::cluster(4);
        o.set_connected(true);
        assert!(matches!(o.owner(6, 10), Err(EngineError::WrongNode { shard: 2 })));
        o.grant(2, 77, 1_000);
        assert_eq!(o.owner(6, 10).unwrap(), Some(Owner { shard: 2, lease: 77 }));
        assert!(o.owner(7, 10).is_err(), "shard 3 is not ours");
        assert!(
            matches!(o.owner(6, 1_000), Err(EngineError::ClusterUnavailable)),
            "past the certain time, unrenewed: nobody writes it now"
        );
        o.extend(2, 2_000);
        assert!(o.owner(6, 1_000).is_ok());
        assert_eq!(o.owned(1_500), vec![2]);
        o.set_connected(false);
        assert!(matches!(o.owner(6, 10), Err(EngineError::ClusterUnavailable)));
        o.set_connected(true);
        o.revoke(2);
        assert!(o.owner(6, 10).is_err());
        assert!(o.owned(10).is_empty());
    }
}
