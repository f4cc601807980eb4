//! Id → live actor, shared by every kind of conversation actor (chat sessions, team
//! channels). An actor is started on first use and removed when it stops (idle); each start
//! gets a new generation, so a stopping actor removes only its own slot, never a successor
//! started meanwhile. An id whose actor escalated stays quarantined until the server
//! restarts. Loading the state is the caller's business, outside the map's lock; when two
//! callers load at once, the first to [`Slots::start`] wins and the other gets its actor.

use std::sync::atomic::{AtomicU64, Ordering};

use actix::{Actor, Addr};
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;

enum Slot<A: Actor> {
    Live { addr: Addr<A>, generation: u64 },
    Quarantined,
}

/// The id's actor crashed too often and is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quarantined;

/// The live actors of one kind.
pub(crate) struct Slots<A: Actor> {
    slots: DashMap<u64, Slot<A>>,
    generation: AtomicU64,
}

impl<A: Actor> Default for Slots<A> {
    fn default() -> Slots<A> {
        Slots { slots: DashMap::new(), generation: AtomicU64::new(1) }
    }
}

impl<A: Actor> Slots<A> {
    /// The running actor of `id`, if any.
    pub(crate) fn live(&self, id: u64) -> Result<Option<Addr<A>>, Quarantined> {
        match self.slots.get(&id).as_deref() {
            Some(Slot::Live { addr, .. }) if addr.connected() => Ok(Some(addr.clone())),
            Some(Slot::Quarantined) => Err(Quarantined),
            Some(Slot::Live { .. }) | None => Ok(None),
        }
    }

    /// The actor of `id`: the one already running, or a new one from `spawn(generation)`.
    pub(crate) fn start(&self, id: u64, spawn: impl FnOnce(u64) -> Addr<A>) -> Result<Addr<A>, Quarantined> {
        let start = || {
            let generation = self.generation.fetch_add(1, Ordering::Relaxed);
            let addr = spawn(generation);
            (addr.clone(), Slot::Live { addr, generation })
        };
        match self.slots.entry(id) {
            Entry::Occupied(mut occupied) => match occupied.get() {
                Slot::Live { addr, .. } if addr.connected() => Ok(addr.clone()),
                Slot::Quarantined => Err(Quarantined),
                Slot::Live { .. } => {
                    let (addr, slot) = start();
                    occupied.insert(slot);
                    Ok(addr)
                }
            },
            Entry::Vacant(vacant) => {
                let (addr, slot) = start();
                vacant.insert(slot);
                Ok(addr)
            }
        }
    }

    /// The ids with a running actor that `pick` selects, and their actors.
    pub(crate) fn live_where(&self, pick: impl Fn(u64) -> bool) -> Vec<(u64, Addr<A>)> {
        self.slots
            .iter()
            .filter(|entry| pick(*entry.key()))
            .filter_map(|entry| match entry.value() {
                Slot::Live { addr, .. } if addr.connected() => Some((*entry.key(), addr.clone())),
                _ => None,
            })
            .collect()
    }

    /// Forget the running actors `pick` selects: the next use of their ids starts a fresh
    /// actor from storage (cluster mode: their shard moved away, so their state may go
    /// stale). The forgotten actors stop by themselves once idle.
    pub(crate) fn forget_where(&self, pick: impl Fn(u64) -> bool) -> usize {
        let before = self.slots.len();
        self.slots.retain(|id, slot| !(pick(*id) && matches!(slot, Slot::Live { .. })));
        before - self.slots.len()
    }

    /// Refuse `id` from now on (its actor gave up after repeated crashes).
    pub(crate) fn quarantine(&self, id: u64) {
        self.slots.insert(id, Slot::Quarantined);
        metrics::counter!("switchboard_actor_quarantines_total").increment(1);
    }

    /// Forget a stopped actor (only if the slot still holds that generation).
    pub(crate) fn remove(&self, id: u64, generation: u64) {
        self.slots
            .remove_if(&id, |_, slot| matches!(slot, Slot::Live { generation: g, .. } if *g == generation));
    }
}
