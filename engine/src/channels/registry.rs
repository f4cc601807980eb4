//! Channel id → running actor: found, or loaded from storage and started on the channel's
//! shard (`id % shards`), on first use; removed when it stops (idle) and refused when it was
//! quarantined (the shared [`Slots`] mechanism, as for sessions).

use std::sync::Arc;

use actix::{Actor, Addr};

use super::actor::{load_channel, ChannelActor};
use crate::actor::slots::Slots;
use crate::domain::channel::ChannelId;
use crate::hub::Hub;
use crate::EngineError;

/// Every loaded channel's actor.
#[derive(Default)]
pub(crate) struct ChannelRegistry {
    slots: Slots<ChannelActor>,
}

impl ChannelRegistry {
    /// The actor of channel `id`, started (and loaded from storage) if needed.
    pub(crate) async fn addr(
        &self,
        hub: &Arc<Hub>,
        id: ChannelId,
    ) -> Result<Addr<ChannelActor>, EngineError> {
        let unavailable = |_| EngineError::ChannelUnavailable(id);
        if let Some(addr) = self.slots.live(id).map_err(unavailable)? {
            return Ok(addr);
        }
        if hub.channels.get(id).is_none() {
            return Err(EngineError::UnknownChannel(id));
        }
        let config = hub.config.clone();
        let channel = hub.read(move |storage| load_channel(storage, id, &config)).await?;
        let spawn = |generation| {
            let (hub, mailbox) = (hub.clone(), hub.config.session_mailbox);
            ChannelActor::start_in_arbiter(&hub.registry.shard(id), move |ctx| {
                ctx.set_mailbox_capacity(mailbox);
                ChannelActor::new(id, generation, hub, channel)
            })
        };
        self.slots.start(id, spawn).map_err(unavailable)
    }

    /// The channel failed too often: refuse it from now on.
    /// Cluster mode: forget the actors of the channels `pick` selects (their shard moved).
    pub(crate) fn forget_where(&self, pick: impl Fn(ChannelId) -> bool) -> usize {
        self.slots.forget_where(pick)
    }

    pub(crate) fn quarantine(&self, id: ChannelId) {
        self.slots.quarantine(id);
    }

    /// Forget a stopped actor (only if the slot still holds that generation).
    pub(crate) fn remove(&self, id: ChannelId, generation: u64) {
        self.slots.remove(id, generation);
    }
}
