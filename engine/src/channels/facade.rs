//! The `Engine` methods for team channels: create and list them (a private channel only to
//! its members), join, invite, leave, post, read history, move a read position. Requests
//! about one channel go to its actor and are answered through the caller's connection, like
//! a session's.

use std::collections::BTreeSet;
use std::sync::Arc;

use switchboard_storage::Batch;

use super::actor::{ChannelCommand, ChannelOp};
use super::convert;
use super::directory::{ChannelDirectory, ChannelSummary};
use crate::answer::{Reply, ReplyTo};
use crate::domain::channel::{self, Channel, ChannelError, ChannelId, ChannelMessage, ChannelMeta, FolderId};
use crate::domain::types::{AgentId, Seq};
use crate::hub::Hub;
use crate::{now_ms, Engine, EngineError};

/// Most invitations at creation (the rest join or are invited later).
pub const CHANNEL_INVITES_MAX: usize = 1000;

/// Member channels whose counts a listing reads at once (each may load its actor from
/// storage): a listing of 50 channels takes a few loads' time, not 50.
const CHANNEL_VIEWS_CONCURRENT: usize = 8;

/// A channel as one agent sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelView {
    pub summary: ChannelSummary,
    /// The newest durable seq.
    pub last_seq: Seq,
    /// Whether the viewer is a member.
    pub member: bool,
    /// The viewer's unread messages and unread mentions (0 for a non-member).
    pub unread: u64,
    pub mentions: u64,
}

/// Which page of history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum History {
    /// Messages with seq > this, oldest first.
    After(Seq),
    /// Messages with seq < this, the newest of them, oldest first.
    Before(Seq),
}

/// One page of a channel's history, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    pub channel_id: ChannelId,
    pub messages: Vec<ChannelMessage>,
    /// More messages lie beyond the page (after it for `After`, before it for `Before`).
    pub has_more: bool,
}

/// What a channel's actor answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelAnswer {
    /// The message is durable.
    Posted { channel_id: ChannelId, seq: Seq, sent_at_ms: u64, client_msg_id: String, duplicate: bool },
    /// The channel as the caller sees it now.
    View(ChannelView),
    /// A page of history.
    History(HistoryPage),
}

/// The new channel's description.
#[derive(Debug, Clone, Default)]
pub struct NewChannel {
    pub name: String,
    pub description: String,
    pub folder_id: Option<FolderId>,
    pub private: bool,
    pub invited: Vec<AgentId>,
}

/// Load the channel directory at start.
pub(crate) fn load_channels(hub: &Hub) -> Result<(), EngineError> {
    let mut summaries = Vec::new();
    for record in hub.storage.channels()? {
        let members: BTreeSet<AgentId> =
            hub.storage.channel_members(record.id)?.into_iter().map(|(agent, _, _)| agent).collect();
        summaries.push(ChannelSummary { meta: convert::channel_meta(record), members });
    }
    hub.channels.fill(ChannelDirectory::load(summaries));
    hub.folders.fill(hub.storage.folders()?);
    Ok(())
}

impl Engine {
    /// Create a channel with `creator` as its admin and the invited agents as members;
    /// durable before it returns.
    pub async fn create_channel(
        &self,
        creator: AgentId,
        new: NewChannel,
    ) -> Result<ChannelView, EngineError> {
        channel::check_name(&new.name)?;
        channel::check_text("description", &new.description)?;
        if new.invited.len() > CHANNEL_INVITES_MAX {
            return Err(EngineError::InvalidChannel(format!("at most {CHANNEL_INVITES_MAX} invitations")));
        }
        if let Some(unknown) = new.invited.iter().find(|a| !self.hub.directory.contains_key(a)) {
            return Err(EngineError::UnknownAgent(*unknown));
        }
        if let Some(folder) = new.folder_id.filter(|f| !self.hub.folders.contains(*f)) {
            return Err(EngineError::UnknownFolder(folder));
        }
        let counter =
            self.hub.channels.claim(&new.name).ok_or_else(|| {
                EngineError::InvalidChannel(format!("a channel named `{}` exists", new.name))
            })?;
        let id = match self.place(counter) {
            Ok(id) => id,
            Err(e) => {
                self.hub.channels.release(&new.name);
                return Err(e);
            }
        };
        let now = now_ms();
        let meta = ChannelMeta {
            id,
            name: new.name.clone(),
            description: new.description,
            topic: String::new(),
            folder_id: new.folder_id,
            private: new.private,
            archived: false,
            created_by: creator,
            created_at_ms: now,
        };
        let mut channel = Channel::restore(
            meta.clone(),
            Default::default(),
            Vec::new(),
            super::actor::limits(&self.hub.config),
        );
        let founded = channel.found(creator, &new.invited, now);
        let result = match founded {
            Err(e) => Err(e.into()),
            Ok(()) => {
                let mut batch = Batch::new();
                batch.put_channel(&convert::channel_record(&meta));
                for (agent, member) in channel.members() {
                    batch.put_channel_member(id, *agent, &convert::member_record(member));
                }
                self.write(batch).await
            }
        };
        if let Err(e) = result {
            self.hub.channels.release(&new.name);
            return Err(e);
        }
        let summary = ChannelSummary { meta, members: channel.members().keys().copied().collect() };
        self.hub.channels.publish(summary.clone());
        // Each invited agent hears that it was added (its own id), like any later join.
        let channel = Arc::new(summary.clone());
        for member in summary.members.iter().filter(|m| **m != creator) {
            let event = crate::outbox::Event::ChannelMembership {
                channel: channel.clone(),
                agent: *member,
                joined: true,
            };
            let event = crate::outbox::Broadcast::new(event);
            self.hub.tell_agent(*member, &event, None);
            self.hub.tell_elsewhere(std::iter::once(*member), &event);
        }
        Ok(ChannelView { summary, last_seq: 0, member: true, unread: 0, mentions: 0 })
    }

    /// The channels `agent` may see, grouped by folder in folder order (channels in no
    /// folder last), by name within a group, with its unread and mention counts where it is
    /// a member (each member channel's actor is asked, a few at once; they load on first
    /// use). A member channel that cannot answer is listed without counts.
    pub async fn list_channels(&self, agent: AgentId) -> Result<Vec<ChannelView>, EngineError> {
        let mut views = self.channel_views(agent).await?;
        let place: std::collections::HashMap<_, _> =
            self.folders().into_iter().enumerate().map(|(i, f)| (f.id, i)).collect();
        views.sort_by_cached_key(|v| {
            let folder = v.summary.meta.folder_id.and_then(|f| place.get(&f).copied()).unwrap_or(usize::MAX);
            (folder, v.summary.meta.name.clone())
        });
        Ok(views)
    }

    /// Every channel `agent` may see, as it sees it.
    async fn channel_views(&self, agent: AgentId) -> Result<Vec<ChannelView>, EngineError> {
        use futures_util::stream::{self, StreamExt};
        let views = stream::iter(self.hub.channels.visible_to(agent))
            .map(|summary| async move {
                if !summary.members.contains(&agent) {
                    return ChannelView { summary, last_seq: 0, member: false, unread: 0, mentions: 0 };
                }
                let id = summary.meta.id;
                match self.member_view(agent, id).await {
                    Ok(view) => view,
                    // One channel that cannot answer (quarantined after crashes, a storage
                    // error) must not hide the others: it is listed without counts, and
                    // opening it names the error.
                    Err(error) => {
                        tracing::warn!(channel = id, agent, %error, "channel listed without its counts");
                        ChannelView { summary, last_seq: 0, member: true, unread: 0, mentions: 0 }
                    }
                }
            })
            .buffered(CHANNEL_VIEWS_CONCURRENT)
            .collect()
            .await;
        Ok(views)
    }

    /// A member's view of one channel, from its actor (started if needed).
    async fn member_view(&self, agent: AgentId, id: ChannelId) -> Result<ChannelView, EngineError> {
        let actor = self.hub.channel_actors.addr(&self.hub, id).await?;
        let (reply, answer) = crate::answer::oneshot_reply();
        actor
            .send(ChannelCommand { op: ChannelOp::View { agent }, reply })
            .await
            .map_err(|_| EngineError::ChannelUnavailable(id))?;
        match answer.await? {
            crate::Answer::Channel(ChannelAnswer::View(view)) => Ok(view),
            other => Err(EngineError::Internal(format!("unexpected answer {other:?}"))),
        }
    }

    /// A channel's members with their display names, by id (for members, or anyone for a
    /// public channel).
    pub fn channel_members(
        &self,
        agent: AgentId,
        id: ChannelId,
    ) -> Result<Vec<(AgentId, String)>, EngineError> {
        let summary = self
            .hub
            .channels
            .get(id)
            .filter(|s| s.visible_to(agent))
            .ok_or(EngineError::UnknownChannel(id))?;
        Ok(summary
            .members
            .iter()
            .map(|a| (*a, self.hub.directory.get(a).map(|p| p.display_name.clone()).unwrap_or_default()))
            .collect())
    }

    /// Ask channel `id`'s actor; answered through `reply`.
    pub(crate) async fn channel_command(
        &self,
        id: ChannelId,
        op: ChannelOp,
        reply: ReplyTo,
    ) -> Result<(), EngineError> {
        // A private channel does not exist for a non-member: the same error as no channel.
        let visible = self.hub.channels.get(id).filter(|s| s.visible_to(op_agent(&op)));
        if visible.is_none() {
            return Err(EngineError::UnknownChannel(id));
        }
        let actor = self.hub.channel_actors.addr(&self.hub, id).await?;
        let command = ChannelCommand { op, reply: Reply::new(reply, None) };
        actor.send(command).await.map_err(|_| EngineError::ChannelUnavailable(id))
    }

    /// Post to a channel; answered once durable.
    pub async fn channel_post(
        &self,
        author: AgentId,
        id: ChannelId,
        client_msg_id: String,
        text: String,
        reply: ReplyTo,
    ) -> Result<(), EngineError> {
        let origin = reply.outbox.id();
        self.channel_command(id, ChannelOp::Post { author, client_msg_id, text, origin }, reply).await
    }

    /// Join a public channel; answered with the channel's view.
    pub async fn channel_join(
        &self,
        agent: AgentId,
        id: ChannelId,
        reply: ReplyTo,
    ) -> Result<(), EngineError> {
        self.channel_command(id, ChannelOp::Join { agent }, reply).await
    }

    /// Invite an agent (any member may); answered with the channel's view.
    pub async fn channel_invite(
        &self,
        by: AgentId,
        id: ChannelId,
        agent: AgentId,
        reply: ReplyTo,
    ) -> Result<(), EngineError> {
        if !self.hub.directory.contains_key(&agent) {
            return Err(EngineError::UnknownAgent(agent));
        }
        self.channel_command(id, ChannelOp::Invite { by, agent }, reply).await
    }

    /// Leave a channel; answered with the channel's view.
    pub async fn channel_leave(
        &self,
        agent: AgentId,
        id: ChannelId,
        reply: ReplyTo,
    ) -> Result<(), EngineError> {
        self.channel_command(id, ChannelOp::Leave { agent }, reply).await
    }

    /// Move a read position; answered with the channel's view (new counts).
    pub async fn channel_mark_read(
        &self,
        agent: AgentId,
        id: ChannelId,
        seq: Seq,
        reply: ReplyTo,
    ) -> Result<(), EngineError> {
        self.channel_command(id, ChannelOp::MarkRead { agent, seq }, reply).await
    }

    /// A page of history.
    pub async fn channel_history(
        &self,
        agent: AgentId,
        id: ChannelId,
        page: History,
        limit: usize,
        reply: ReplyTo,
    ) -> Result<(), EngineError> {
        self.channel_command(id, ChannelOp::History { agent, page, limit }, reply).await
    }
}

impl Engine {
    /// The author edits its message (within the edit window); answered `Done`.
    pub async fn channel_edit(
        &self,
        by: AgentId,
        id: ChannelId,
        seq: Seq,
        text: String,
        reply: ReplyTo,
    ) -> Result<(), EngineError> {
        let origin = reply.outbox.id();
        self.channel_command(id, ChannelOp::Edit { by, seq, text, origin }, reply).await
    }

    /// The author deletes its message (within the edit window); answered `Done`.
    pub async fn channel_delete(
        &self,
        by: AgentId,
        id: ChannelId,
        seq: Seq,
        reply: ReplyTo,
    ) -> Result<(), EngineError> {
        let origin = reply.outbox.id();
        self.channel_command(id, ChannelOp::Delete { by, seq, origin }, reply).await
    }

    /// A channel admin removes a member; answered with the channel's view.
    pub async fn channel_remove(
        &self,
        by: AgentId,
        id: ChannelId,
        agent: AgentId,
        reply: ReplyTo,
    ) -> Result<(), EngineError> {
        self.channel_command(id, ChannelOp::Remove { by, agent }, reply).await
    }

    /// A channel admin archives (read-only) or unarchives it; answered with the view.
    pub async fn channel_set_archived(
        &self,
        by: AgentId,
        id: ChannelId,
        archived: bool,
        reply: ReplyTo,
    ) -> Result<(), EngineError> {
        self.channel_command(id, ChannelOp::SetArchived { by, archived }, reply).await
    }

    /// A member sets the topic; answered with the view.
    pub async fn channel_set_topic(
        &self,
        by: AgentId,
        id: ChannelId,
        topic: String,
        reply: ReplyTo,
    ) -> Result<(), EngineError> {
        self.channel_command(id, ChannelOp::SetTopic { by, topic }, reply).await
    }
}

/// The agent a channel operation is for (whose visibility is checked).
fn op_agent(op: &ChannelOp) -> AgentId {
    match op {
        ChannelOp::Post { author, .. } => *author,
        ChannelOp::Join { agent }
        | ChannelOp::Leave { agent }
        | ChannelOp::MarkRead { agent, .. }
        | ChannelOp::History { agent, .. }
        | ChannelOp::View { agent } => *agent,
        ChannelOp::SetFolder { .. } => 0,
        ChannelOp::Invite { by, .. }
        | ChannelOp::Edit { by, .. }
        | ChannelOp::Delete { by, .. }
        | ChannelOp::Remove { by, .. }
        | ChannelOp::SetArchived { by, .. }
        | ChannelOp::SetTopic { by, .. } => *by,
    }
}

impl From<ChannelError> for EngineError {
    fn from(e: ChannelError) -> EngineError {
        EngineError::Channel(e)
    }
}
