//! The router's [`Capacity`]: the hub's queue view, where manual accepts reserve too, so one
//! ledger counts every slot (held chats plus reservations) whatever path takes it.

use crate::domain::routing::Capacity;
use crate::hub::Hub;
use crate::AgentId;

/// Loads as the hub's queue view counts them; capacities from the agent directory.
pub(crate) struct HubCapacity<'a> {
    pub(crate) hub: &'a Hub,
}

impl HubCapacity<'_> {
    fn max(&self, agent: AgentId) -> u32 {
        self.hub.directory.get(&agent).map_or(0, |a| a.max_concurrent_chats)
    }
}

impl Capacity for HubCapacity<'_> {
    fn load(&self, agent: AgentId) -> (u32, u32) {
        (self.hub.queue().load(agent), self.max(agent))
    }

    fn try_reserve(&mut self, agent: AgentId) -> bool {
        let max = self.max(agent);
        self.hub.queue().try_reserve(agent, max)
    }

    fn release(&mut self, agent: AgentId) {
        self.hub.queue().release(agent);
    }
}
