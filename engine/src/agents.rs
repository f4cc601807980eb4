//! Agent administration beyond creation: change a name or capacity, disable (its
//! connections are closed and its token refused; its offers go to others; its active chats
//! stay assigned), rotate its token (the old one stops working and its connections are
//! closed), and list agents with their live state.

use switchboard_storage::records::RECORD_VERSION;
use switchboard_storage::{AgentRecord, Batch};

use crate::domain::routing::Presence;
use crate::hub::AgentProfile;
use crate::routing::queue_actor::QueueMsg;
use crate::{auth, AgentId, Engine, EngineError};

/// An agent's live state, for the admin listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentState {
    pub profile: AgentProfile,
    /// Open authenticated connections.
    pub connections: usize,
    /// Chats it holds, slots reserved for offers and accepts in progress included.
    pub load: u32,
}

/// What [`Engine::update_agent`] changes: the fields given.
#[derive(Debug, Clone, Default)]
pub struct AgentChanges {
    pub display_name: Option<String>,
    pub max_concurrent_chats: Option<u32>,
    pub disabled: Option<bool>,
    pub admin: Option<bool>,
}

impl Engine {
    /// Every agent with its live state, by id.
    pub fn agent_states(&self) -> Vec<AgentState> {
        self.agents()
            .into_iter()
            .map(|profile| {
                let connections = self.hub.agent_outboxes(profile.id).len();
                let load = self.hub.queue().load(profile.id);
                AgentState { profile, connections, load }
            })
            .collect()
    }

    /// Change an agent's name, capacity, disabled flag or administrator role (the fields
    /// given). A raised capacity is offered at once; disabling closes its connections.
    pub async fn update_agent(
        &self,
        id: AgentId,
        changes: AgentChanges,
    ) -> Result<AgentProfile, EngineError> {
        let AgentChanges { display_name, max_concurrent_chats, disabled, admin } = changes;
        let profile = self
            .change_agent(id, |profile| {
                if let Some(admin) = admin {
                    profile.admin = admin;
                }
                if let Some(name) = display_name {
                    profile.display_name = name;
                }
                if let Some(max) = max_concurrent_chats {
                    profile.max_concurrent_chats = max;
                }
                if let Some(disabled) = disabled {
                    profile.disabled = disabled;
                }
                Ok(())
            })
            .await?;
        if profile.disabled {
            self.revoke(id);
        }
        for actor in self.hub.routing.of_agent(id) {
            actor.do_send(QueueMsg::CapacityChanged);
        }
        Ok(profile)
    }

    /// Give an agent a new token (returned, shown only now); the old one stops working and
    /// the agent's connections are closed.
    pub async fn rotate_token(&self, id: AgentId) -> Result<String, EngineError> {
        let secret = auth::new_secret();
        let token_sha256 = auth::hash_secret(&secret);
        self.change_agent(id, |profile| {
            profile.token_sha256 = token_sha256;
            Ok(())
        })
        .await?;
        self.revoke(id);
        Ok(auth::token(&id.to_string(), &secret))
    }

    /// Close the agent's connections; it is offline for routing at once (no grace).
    pub(crate) fn revoke(&self, id: AgentId) {
        for outbox in self.hub.agent_outboxes(id) {
            outbox.revoke();
        }
        for actor in self.hub.routing.of_agent(id) {
            actor.do_send(QueueMsg::Presence { agent: id, presence: Presence::Offline });
        }
    }

    pub(crate) fn existing_agent(&self, id: AgentId) -> Result<AgentProfile, EngineError> {
        self.hub.directory.get(&id).map(|a| a.clone()).ok_or(EngineError::UnknownAgent(id))
    }

    /// Change agent `id`'s profile with `change` (which may refuse), store it durably and
    /// publish it, all under [`Hub::agent_writes`]: the one way a profile changes after
    /// creation. Returns the stored profile.
    pub(crate) async fn change_agent(
        &self,
        id: AgentId,
        change: impl FnOnce(&mut AgentProfile) -> Result<(), EngineError>,
    ) -> Result<AgentProfile, EngineError> {
        let _writing = self.hub.agent_writes.lock().await;
        let mut profile = self.existing_agent(id)?;
        change(&mut profile)?;
        self.save_agent(&profile).await?;
        self.hub.directory.insert(id, profile.clone());
        Ok(profile)
    }

    async fn save_agent(&self, profile: &AgentProfile) -> Result<(), EngineError> {
        let record = AgentRecord {
            v: RECORD_VERSION,
            id: profile.id,
            display_name: profile.display_name.clone(),
            max_concurrent_chats: profile.max_concurrent_chats,
            token_sha256: profile.token_sha256.clone(),
            created_at_ms: profile.created_at_ms,
            disabled: profile.disabled,
            email: profile.email.clone(),
            password_phc: profile.password_phc.clone(),
            password_temporary: profile.password_temporary,
            admin: profile.admin,
        };
        let mut batch = Batch::new();
        batch.put_agent(&record);
        self.write(batch).await
    }
}
