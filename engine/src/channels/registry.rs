//! Channel id → running actor: found, or loaded from storage and started on the channel's
//! shard (`id % shards`), on first use; removed when it stops (idle) and refused when it was
//! quarantined.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix::{Actor, Addr};
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;

use super::actor::{load_channel, ChannelActor};
use crate::domain::channel::ChannelId;
use crate::hub::Hub;
use crate::EngineError;

enum Slot {
    Live { addr: Addr<ChannelActor>, generation: u64 },
    Quarantined,
}

/// Every loaded channel's actor.
#[derive(Default)]
pub(crate) struct ChannelRegistry {
    slots: DashMap<ChannelId, Slot>,
    generation: AtomicU64,
}

impl ChannelRegistry {
    /// The actor of channel `id`, started (and loaded from storage) if needed.
    pub(crate) async fn addr(
        &self,
        hub: &Arc<Hub>,
        id: ChannelId,
    ) -> Result<Addr<ChannelActor>, EngineError> {
        if let Some(slot) = self.slots.get(&id) {
            match &*slot {
                Slot::Live { addr, .. } if addr.connected() => return Ok(addr.clone()),
                Slot::Live { .. } => {}
                Slot::Quarantined => return Err(EngineError::ChannelUnavailable(id)),
            }
        }
        if hub.channels.get(id).is_none() {
            return Err(EngineError::UnknownChannel(id));
        }
        let config = hub.config.clone();
        let channel = hub.read(move |storage| load_channel(storage, id, &config)).await?;
        let spawn = |channel| {
            let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
            let (hub, mailbox) = (hub.clone(), hub.config.session_mailbox);
            let addr = ChannelActor::start_in_arbiter(&hub.registry.shard(id), move |ctx| {
                ctx.set_mailbox_capacity(mailbox);
                ChannelActor::new(id, generation, hub, channel)
            });
            (addr, generation)
        };
        match self.slots.entry(id) {
            Entry::Occupied(mut occupied) => match occupied.get() {
                Slot::Live { addr, .. } if addr.connected() => Ok(addr.clone()),
                Slot::Quarantined => Err(EngineError::ChannelUnavailable(id)),
                Slot::Live { .. } => {
                    let (addr, generation) = spawn(channel);
                    occupied.insert(Slot::Live { addr: addr.clone(), generation });
                    Ok(addr)
                }
            },
            Entry::Vacant(vacant) => {
                let (addr, generation) = spawn(channel);
                vacant.insert(Slot::Live { addr: addr.clone(), generation });
                Ok(addr)
            }
        }
    }

    /// The channel failed too often: refuse it from now on.
    pub(crate) fn quarantine(&self, id: ChannelId) {
        self.slots.insert(id, Slot::Quarantined);
        metrics::counter!("switchboard_actor_quarantines_total").increment(1);
    }

    /// Forget a stopped actor (only if the slot still holds that generation).
    pub(crate) fn remove(&self, id: ChannelId, generation: u64) {
        self.slots
            .remove_if(&id, |_, slot| matches!(slot, Slot::Live { generation: g, .. } if *g == generation));
    }
}
