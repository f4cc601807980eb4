//! The shapes team-channel frames carry (the frames themselves are variants of
//! [`crate::Request`] and [`crate::ServerFrame`]).

use serde::{Deserialize, Serialize};

use crate::frames::{AgentId, Seq};

/// Server-assigned channel id (a small integer, below 2^53).
pub type ChannelId = u64;

/// A channel as the receiving agent sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelInfo {
    pub channel_id: ChannelId,
    /// Unique; shown as `#name`.
    pub name: String,
    pub description: String,
    pub topic: String,
    pub folder_id: Option<u64>,
    pub private: bool,
    pub archived: bool,
    pub created_by: AgentId,
    pub created_at_ms: u64,
    pub member_count: u64,
    /// The newest durable seq (0: no message yet). In events, `0` (unknown).
    pub last_seq: Seq,
    /// Whether the receiving agent is a member.
    pub member: bool,
    /// The receiving agent's unread messages and unread `@mentions` (0 when not a member).
    pub unread: u64,
    pub mentions: u64,
}

/// One channel message. A deleted message keeps its seq, with empty `text`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelMessageInfo {
    pub seq: Seq,
    pub author_id: AgentId,
    pub client_msg_id: String,
    pub text: String,
    pub sent_at_ms: u64,
    pub edited_at_ms: Option<u64>,
    pub deleted: bool,
    /// Members the text `@mentions`, ascending.
    pub mentions: Vec<AgentId>,
}

/// One member in a `channel_members` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelMemberInfo {
    pub agent_id: AgentId,
    pub display_name: String,
}

/// A channel folder, in `channels` replies and the folder routes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderInfo {
    pub folder_id: u64,
    pub name: String,
    /// 0 = first.
    pub position: u32,
}

/// One slash command in a `commands` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandInfo {
    /// Without the `/`.
    pub name: String,
    /// The full usage line, e.g. `/invite @agent`.
    pub usage: String,
    pub description: String,
}

/// Who sees a command's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandVisibility {
    /// Only the caller: show it locally, it is not stored.
    Caller,
    /// The command posted to the conversation: everyone there receives that message.
    Posted,
}
