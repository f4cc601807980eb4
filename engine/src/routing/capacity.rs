//! The router's [`Capacity`]: the hub's queue view, where manual accepts reserve too, so one
//! ledger counts every slot (held chats plus reservations) whatever path takes it.
//!
//! Reading a load does not lock the ledger: the first read in a queue-actor message copies
//! every load at once (one lock, which shard threads also take), and this message's own
//! reservations and releases keep the copy current. A copy can be stale by what other
//! threads did meanwhile; that only affects the choice, never the limit, because a slot is
//! only ever taken by [`Capacity::try_reserve`], which checks the ledger itself under its
//! lock. A slot freed elsewhere is followed by a `CapacityChanged` that dispatches again.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::domain::routing::Capacity;
use crate::hub::Hub;
use crate::AgentId;

/// Loads as the hub's queue view counts them; capacities from the agent directory.
pub(crate) struct HubCapacity<'a> {
    hub: &'a Hub,
    /// Loads copied from the ledger on first use.
    loads: RefCell<Option<HashMap<AgentId, u32>>>,
}

impl<'a> HubCapacity<'a> {
    pub(crate) fn new(hub: &'a Hub) -> HubCapacity<'a> {
        HubCapacity { hub, loads: RefCell::new(None) }
    }

    fn max(&self, agent: AgentId) -> u32 {
        self.hub.directory.get(&agent).map_or(0, |a| a.max_concurrent_chats)
    }

    /// Set the copy of `agent`'s load to what the ledger said under its lock.
    fn note(&self, agent: AgentId, load: u32) {
        if let Some(loads) = self.loads.borrow_mut().as_mut() {
            loads.insert(agent, load);
        }
    }
}

impl Capacity for HubCapacity<'_> {
    fn load(&self, agent: AgentId) -> (u32, u32) {
        let mut loads = self.loads.borrow_mut();
        let loads = loads.get_or_insert_with(|| self.hub.queue().loads());
        (loads.get(&agent).copied().unwrap_or(0), self.max(agent))
    }

    fn try_reserve(&mut self, agent: AgentId) -> bool {
        let max = self.max(agent);
        let (taken, load) = {
            let mut ledger = self.hub.queue();
            let taken = ledger.try_reserve(agent, max);
            (taken, ledger.load(agent))
        };
        self.note(agent, load);
        taken
    }

    fn release(&mut self, agent: AgentId) {
        let load = {
            let mut ledger = self.hub.queue();
            ledger.release(agent);
            ledger.load(agent)
        };
        self.note(agent, load);
    }
}
