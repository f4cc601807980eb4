//! One team channel's rules: who may read, post, invite, remove, edit, delete, archive; its
//! members' read positions and unread mentions. Its messages are a [`Log`], the mechanism
//! sessions share. Pure: the caller persists what this returns and reports durability back
//! (messages in seq order).

use std::collections::{BTreeMap, BTreeSet};

use super::log::{Appended, Entry, Log, LogError, LogLimits};
use super::types::{AgentId, Seq};

/// A channel id.
pub type ChannelId = u64;
/// A channel folder id.
pub type FolderId = u64;

/// Longest channel name, in bytes (shown as `#name` in a sidebar).
pub const CHANNEL_NAME_BYTES_MAX: usize = 80;
/// Longest description or topic, in bytes.
pub const CHANNEL_DESCRIPTION_BYTES_MAX: usize = 1024;
/// Most members of one channel: fan-out is one delivery per member per message, so this
/// bounds the work one post can cause.
pub const CHANNEL_MEMBERS_MAX: usize = 10_000;
/// Most unread mentions remembered per member (the badge shows "99+" long before).
pub const MENTIONS_KEPT_MAX: usize = 1_000;

/// A member's standing in a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// May change the channel (archive, topic), remove members, edit its description.
    Admin,
    Member,
}

/// A channel as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelMeta {
    pub id: ChannelId,
    pub name: String,
    pub description: String,
    pub topic: String,
    pub folder_id: Option<FolderId>,
    /// Private: only members see it listed, read it or post; others join only by invitation.
    pub private: bool,
    pub archived: bool,
    pub created_by: AgentId,
    pub created_at_ms: u64,
}

/// One member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub role: Role,
    pub joined_at_ms: u64,
    /// The newest seq this member has read.
    pub read_seq: Seq,
}

/// A channel message. A deleted message keeps its seq (the log has no gaps) with empty text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelMessage {
    pub seq: Seq,
    pub author: AgentId,
    pub client_msg_id: String,
    pub text: String,
    pub sent_at_ms: u64,
    pub edited_at_ms: Option<u64>,
    pub deleted: bool,
    /// Members `@mentioned` in the text (resolved by the caller), ascending.
    pub mentions: Vec<AgentId>,
}

impl Entry for ChannelMessage {
    type Author = AgentId;
    fn seq(&self) -> Seq {
        self.seq
    }
    fn author(&self) -> AgentId {
        self.author
    }
    fn client_msg_id(&self) -> &str {
        &self.client_msg_id
    }
    fn sent_at_ms(&self) -> u64 {
        self.sent_at_ms
    }
}

/// A channel's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelLimits {
    pub log: LogLimits,
    /// How long after posting an author may edit or delete a message.
    pub edit_window_ms: u64,
}

/// Why a channel refused an action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// The name is not 1 to 80 bytes of `a-z 0-9 - _`.
    #[error("a channel name is 1 to {CHANNEL_NAME_BYTES_MAX} characters of a-z, 0-9, - and _")]
    BadName,
    /// A description or topic is too long.
    #[error("`{field}` is longer than {CHANNEL_DESCRIPTION_BYTES_MAX} bytes")]
    TooLong { field: &'static str },
    /// The acting agent is not a member (for a private channel, it does not exist to them).
    #[error("you are not a member of channel {0}")]
    NotMember(ChannelId),
    /// The action needs a channel admin.
    #[error("only an admin of channel {0} may do this")]
    NotAdmin(ChannelId),
    /// Joining a private channel needs an invitation.
    #[error("channel {0} is private: a member must invite you")]
    Private(ChannelId),
    /// The channel is archived: read-only.
    #[error("channel {0} is archived (read-only)")]
    Archived(ChannelId),
    /// The channel has its maximum number of members.
    #[error("channel {0} has its maximum of {CHANNEL_MEMBERS_MAX} members")]
    MembersFull(ChannelId),
    /// The text is empty or too long.
    #[error("message text must be 1 to {max} bytes, got {len}")]
    BadText { len: usize, max: usize },
    /// The channel holds its maximum number of messages.
    #[error("channel {0} is full ({1} messages)")]
    Full(ChannelId, u64),
    /// No message has this seq (or it is not held in memory any more).
    #[error("channel {0} has no message {1} that can be changed")]
    UnknownMessage(ChannelId, Seq),
    /// Someone else's message.
    #[error("message {1} of channel {0} is not yours")]
    NotAuthor(ChannelId, Seq),
    /// The edit window is over.
    #[error("message {1} of channel {0} can no longer be changed ({2} ms after posting)")]
    EditWindowOver(ChannelId, Seq, u64),
}

/// Check a channel name: lower-case `a-z 0-9 - _`, 1 to 80 bytes.
pub fn check_name(name: &str) -> Result<(), ChannelError> {
    let ok = !name.is_empty()
        && name.len() <= CHANNEL_NAME_BYTES_MAX
        && name.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_');
    ok.then_some(()).ok_or(ChannelError::BadName)
}

/// Check a description or topic.
pub fn check_text(field: &'static str, text: &str) -> Result<(), ChannelError> {
    (text.len() <= CHANNEL_DESCRIPTION_BYTES_MAX).then_some(()).ok_or(ChannelError::TooLong { field })
}

/// The `@name` tokens of a text, lower-cased: `@` at the start or after a space, then
/// letters, digits, `.`, `_` or `-`. Each is matched against members' names by the caller.
pub fn mention_tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    for word in text.split_whitespace() {
        let Some(rest) = word.strip_prefix('@') else { continue };
        let name: String =
            rest.chars().take_while(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-')).collect();
        let name = name.trim_end_matches(['.', '-', '_']).to_lowercase();
        if !name.is_empty() && !tokens.contains(&name) {
            tokens.push(name);
        }
    }
    tokens
}

/// What a post gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    /// Persist it, then report it with [`Channel::message_durable`].
    New(ChannelMessage),
    /// Already posted with this client message id.
    Duplicate { seq: Seq, sent_at_ms: u64 },
}

/// A channel's live state.
#[derive(Debug, Clone)]
pub struct Channel {
    meta: ChannelMeta,
    members: BTreeMap<AgentId, Member>,
    /// Per member, the seqs of durable messages that mention it and it has not read.
    mentions: BTreeMap<AgentId, BTreeSet<Seq>>,
    log: Log<ChannelMessage>,
    limits: ChannelLimits,
}

impl Channel {
    /// Rebuild a channel from its stored metadata, members and newest messages.
    pub fn restore(
        meta: ChannelMeta,
        members: BTreeMap<AgentId, Member>,
        recent: Vec<ChannelMessage>,
        limits: ChannelLimits,
    ) -> Channel {
        let mut mentions: BTreeMap<AgentId, BTreeSet<Seq>> = BTreeMap::new();
        for m in recent.iter().filter(|m| !m.deleted) {
            for agent in &m.mentions {
                if members.get(agent).is_some_and(|member| member.read_seq < m.seq) && *agent != m.author {
                    mentions.entry(*agent).or_default().insert(m.seq);
                }
            }
        }
        let log = Log::restore(recent, limits.log);
        Channel { meta, members, mentions, log, limits }
    }

    pub fn meta(&self) -> &ChannelMeta {
        &self.meta
    }

    pub fn members(&self) -> &BTreeMap<AgentId, Member> {
        &self.members
    }

    pub fn is_member(&self, agent: AgentId) -> bool {
        self.members.contains_key(&agent)
    }

    /// Newest durable seq.
    pub fn durable_seq(&self) -> Seq {
        self.log.durable_seq()
    }

    /// The channel's log (replay of missed messages).
    pub fn log(&self) -> &Log<ChannelMessage> {
        &self.log
    }

    /// May `agent` read this channel? Members always; anyone for a public channel.
    pub fn check_read(&self, agent: AgentId) -> Result<(), ChannelError> {
        if self.meta.private && !self.is_member(agent) {
            return Err(ChannelError::NotMember(self.meta.id));
        }
        Ok(())
    }

    /// `agent` joins a public channel (a no-op for a member). Returns the new member to
    /// persist, or `None`.
    pub fn join(&mut self, agent: AgentId, now_ms: u64) -> Result<Option<Member>, ChannelError> {
        if self.is_member(agent) {
            return Ok(None);
        }
        if self.meta.private {
            return Err(ChannelError::Private(self.meta.id));
        }
        self.add(agent, Role::Member, now_ms).map(Some)
    }

    /// Member `by` invites `agent` (a no-op for a member). Returns the new member to persist.
    pub fn invite(
        &mut self,
        by: AgentId,
        agent: AgentId,
        now_ms: u64,
    ) -> Result<Option<Member>, ChannelError> {
        self.check_member(by)?;
        self.check_open()?;
        if self.is_member(agent) {
            return Ok(None);
        }
        self.add(agent, Role::Member, now_ms).map(Some)
    }

    /// Add the creator (admin) and the invited at creation.
    pub fn found(&mut self, creator: AgentId, invited: &[AgentId], now_ms: u64) -> Result<(), ChannelError> {
        self.add(creator, Role::Admin, now_ms)?;
        for agent in invited.iter().filter(|a| **a != creator) {
            if !self.is_member(*agent) {
                self.add(*agent, Role::Member, now_ms)?;
            }
        }
        Ok(())
    }

    fn add(&mut self, agent: AgentId, role: Role, now_ms: u64) -> Result<Member, ChannelError> {
        if self.members.len() >= CHANNEL_MEMBERS_MAX {
            return Err(ChannelError::MembersFull(self.meta.id));
        }
        // A new member has read nothing yet but is not owed the channel's whole past as
        // unread: it starts at the present.
        let member = Member { role, joined_at_ms: now_ms, read_seq: self.log.durable_seq() };
        self.members.insert(agent, member.clone());
        Ok(member)
    }

    /// `agent` leaves (a no-op for a non-member). Returns whether it was a member.
    pub fn leave(&mut self, agent: AgentId) -> bool {
        self.mentions.remove(&agent);
        self.members.remove(&agent).is_some()
    }

    /// Admin `by` removes `agent`. Returns whether it was a member.
    pub fn remove(&mut self, by: AgentId, agent: AgentId) -> Result<bool, ChannelError> {
        self.check_admin(by)?;
        Ok(self.leave(agent))
    }

    /// Admin `by` archives (read-only) or unarchives the channel. Returns the metadata to
    /// persist.
    pub fn set_archived(&mut self, by: AgentId, archived: bool) -> Result<ChannelMeta, ChannelError> {
        self.check_admin(by)?;
        self.meta.archived = archived;
        Ok(self.meta.clone())
    }

    /// A member sets the topic. Returns the metadata to persist.
    pub fn set_topic(&mut self, by: AgentId, topic: &str) -> Result<ChannelMeta, ChannelError> {
        self.check_member(by)?;
        self.check_open()?;
        check_text("topic", topic)?;
        self.meta.topic = topic.to_string();
        Ok(self.meta.clone())
    }

    /// Move the channel into a folder (or out of any): the administrator's decision, so no
    /// member check. Returns the metadata to persist.
    pub fn set_folder(&mut self, folder: Option<FolderId>) -> ChannelMeta {
        self.meta.folder_id = folder;
        self.meta.clone()
    }

    /// Put back metadata whose write storage refused.
    pub fn undo_meta(&mut self, previous: ChannelMeta) {
        self.meta = previous;
    }

    /// A member posts. `mentions` are the agents the text names; only members count.
    pub fn post(
        &mut self,
        author: AgentId,
        client_msg_id: &str,
        text: &str,
        mentions: &[AgentId],
        now_ms: u64,
    ) -> Result<Posted, ChannelError> {
        if let Some(Appended::Duplicate { seq, sent_at_ms }) = self.log.duplicate(author, client_msg_id) {
            return Ok(Posted::Duplicate { seq, sent_at_ms });
        }
        self.check_member(author)?;
        self.check_open()?;
        let id = self.meta.id;
        match self.log.append(author, client_msg_id, text.len(), now_ms) {
            Err(LogError::BadText { len, max }) => Err(ChannelError::BadText { len, max }),
            Err(LogError::Full { max }) => Err(ChannelError::Full(id, max)),
            Ok(Appended::Duplicate { seq, sent_at_ms }) => Ok(Posted::Duplicate { seq, sent_at_ms }),
            Ok(Appended::New { seq, sent_at_ms }) => {
                let mentions = self.member_mentions(author, mentions);
                Ok(Posted::New(ChannelMessage {
                    seq,
                    author,
                    client_msg_id: client_msg_id.to_string(),
                    text: text.to_string(),
                    sent_at_ms,
                    edited_at_ms: None,
                    deleted: false,
                    mentions,
                }))
            }
        }
    }

    /// Take back a post whose write storage refused.
    pub fn undo_post(&mut self, message: &ChannelMessage) {
        self.log.undo(message);
    }

    /// A message is durable (in seq order): its author has read up to it, and the members
    /// it mentions have one more unread mention.
    pub fn message_durable(&mut self, message: ChannelMessage) {
        if let Some(author) = self.members.get_mut(&message.author) {
            author.read_seq = author.read_seq.max(message.seq);
            if let Some(kept) = self.mentions.get_mut(&message.author) {
                *kept = kept.split_off(&(message.seq + 1));
            }
        }
        for agent in &message.mentions {
            let kept = self.mentions.entry(*agent).or_default();
            kept.insert(message.seq);
            while kept.len() > MENTIONS_KEPT_MAX {
                kept.pop_first();
            }
        }
        self.log.durable(message);
    }

    /// The author edits its message within the window; `mentions` are the agents the new
    /// text names (as for [`Channel::post`]). Returns the message to persist (then
    /// [`Channel::message_changed`]).
    pub fn edit(
        &self,
        by: AgentId,
        seq: Seq,
        text: &str,
        mentions: &[AgentId],
        now_ms: u64,
    ) -> Result<ChannelMessage, ChannelError> {
        let mut message = self.changeable(by, seq, now_ms)?;
        let max = self.limits.log.text_bytes_max;
        if text.is_empty() || text.len() > max {
            return Err(ChannelError::BadText { len: text.len(), max });
        }
        message.text = text.to_string();
        message.mentions = self.member_mentions(by, mentions);
        message.edited_at_ms = Some(now_ms);
        Ok(message)
    }

    /// The members among `mentions`, but the author, ascending, once each.
    fn member_mentions(&self, author: AgentId, mentions: &[AgentId]) -> Vec<AgentId> {
        let mut mentions: Vec<AgentId> =
            mentions.iter().copied().filter(|a| self.is_member(*a) && *a != author).collect();
        mentions.sort_unstable();
        mentions.dedup();
        mentions
    }

    /// The author deletes its message within the window: the seq stays, the text goes.
    pub fn delete(&self, by: AgentId, seq: Seq, now_ms: u64) -> Result<ChannelMessage, ChannelError> {
        let mut message = self.changeable(by, seq, now_ms)?;
        message.text.clear();
        message.deleted = true;
        message.mentions.clear();
        message.edited_at_ms = Some(now_ms);
        Ok(message)
    }

    /// An edit or deletion is durable. Unread mentions follow the new text: a member no
    /// longer named loses this one; a member newly named who has not read this far gains it.
    pub fn message_changed(&mut self, message: ChannelMessage) {
        for (agent, kept) in self.mentions.iter_mut() {
            if !message.mentions.contains(agent) {
                kept.remove(&message.seq);
            }
        }
        for agent in &message.mentions {
            if self.members.get(agent).is_some_and(|m| m.read_seq < message.seq) {
                let kept = self.mentions.entry(*agent).or_default();
                kept.insert(message.seq);
                while kept.len() > MENTIONS_KEPT_MAX {
                    kept.pop_first();
                }
            }
        }
        self.log.replace(message);
    }

    fn changeable(&self, by: AgentId, seq: Seq, now_ms: u64) -> Result<ChannelMessage, ChannelError> {
        let id = self.meta.id;
        self.check_member(by)?;
        self.check_open()?;
        let message =
            self.log.get(seq).filter(|m| !m.deleted).ok_or(ChannelError::UnknownMessage(id, seq))?;
        if message.author != by {
            return Err(ChannelError::NotAuthor(id, seq));
        }
        let window = self.limits.edit_window_ms;
        if now_ms.saturating_sub(message.sent_at_ms) > window {
            return Err(ChannelError::EditWindowOver(id, seq, window));
        }
        Ok(message.clone())
    }

    /// A member read up to `seq` (capped at the newest durable seq; never moves back).
    /// Returns the new read position to persist when it moved.
    pub fn mark_read(&mut self, agent: AgentId, seq: Seq) -> Result<Option<Seq>, ChannelError> {
        let newest = self.log.durable_seq();
        let member = self.members.get_mut(&agent).ok_or(ChannelError::NotMember(self.meta.id))?;
        let seq = seq.min(newest);
        if seq <= member.read_seq {
            return Ok(None);
        }
        member.read_seq = seq;
        if let Some(kept) = self.mentions.get_mut(&agent) {
            *kept = kept.split_off(&(seq + 1));
        }
        Ok(Some(seq))
    }

    /// A member's (unread messages, unread mentions).
    pub fn unread(&self, agent: AgentId) -> (u64, u64) {
        let Some(member) = self.members.get(&agent) else { return (0, 0) };
        let unread = self.log.durable_seq().saturating_sub(member.read_seq);
        let mentions = self.mentions.get(&agent).map_or(0, |kept| kept.len() as u64);
        (unread, mentions)
    }

    fn check_member(&self, agent: AgentId) -> Result<(), ChannelError> {
        self.is_member(agent).then_some(()).ok_or(ChannelError::NotMember(self.meta.id))
    }

    fn check_admin(&self, agent: AgentId) -> Result<(), ChannelError> {
        match self.members.get(&agent) {
            Some(m) if m.role == Role::Admin => Ok(()),
            Some(_) => Err(ChannelError::NotAdmin(self.meta.id)),
            None => Err(ChannelError::NotMember(self.meta.id)),
        }
    }

    fn check_open(&self) -> Result<(), ChannelError> {
        (!self.meta.archived).then_some(()).ok_or(ChannelError::Archived(self.meta.id))
    }
}

#[cfg(test)]
#[path = "channel_tests.rs"]
mod tests;
