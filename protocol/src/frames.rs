//! Frame types. A frame is a map with a `type` field naming its kind; requests also carry
//! `req` (a client-chosen integer), replies and errors carry `re` (the `req` they answer),
//! events carry neither. Field names are the same in MessagePack and JSON.

use serde::{Deserialize, Serialize};

use crate::channel_frames::{
    ChannelId, ChannelInfo, ChannelMemberInfo, ChannelMessageInfo, CommandInfo, CommandVisibility, FolderInfo,
};
use crate::tickets::TicketInfo;
use crate::ErrorCode;

/// Client-chosen request id. Keep it below 2^53 so JavaScript clients read it exactly.
pub type ReqId = u64;
/// Server-assigned chat session id (a small integer, below 2^53).
pub type SessionId = u64;
/// Server-assigned agent id (a small integer, below 2^53).
pub type AgentId = u64;
/// Per-session message sequence number, starting at 1, without gaps.
pub type Seq = u64;

/// One request from a client: its request id and what it asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientFrame {
    /// Request id; the reply or error answering this request names it in `re`.
    pub req: ReqId,
    /// The request itself.
    pub request: Request,
}

/// Every request a client can send, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// Agent: authenticate this connection with an agent token.
    Auth { token: String },
    /// Agent console: authenticate as the agent signed in by the console session cookie
    /// presented on this WebSocket's upgrade (the browser sends it; scripts cannot read it).
    AuthConsole {},
    /// Visitor: start a new chat session (no credentials needed).
    StartChat {
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        email: Option<String>,
        #[serde(default)]
        page_url: Option<String>,
        /// Optional first message; needs `client_msg_id` too.
        #[serde(default)]
        first_message: Option<String>,
        #[serde(default)]
        client_msg_id: Option<String>,
        /// The department to wait in, by name; the default department when absent.
        #[serde(default)]
        department: Option<String>,
    },
    /// Visitor: resume a chat with its session token, receiving messages after `after_seq`.
    ResumeChat { session_token: String, after_seq: Seq },
    /// Agent: list the chat queue (waiting, active, recently closed).
    ListQueue {},
    /// Agent: claim a waiting session.
    Accept { session_id: SessionId },
    /// Agent or visitor: post a message. `client_msg_id` makes retries idempotent.
    SendMessage { session_id: SessionId, client_msg_id: String, text: String },
    /// Agent or visitor: typing indicator (not stored).
    Typing { session_id: SessionId, typing: bool },
    /// Agent: close a session assigned to this agent.
    Close { session_id: SessionId },
    /// Agent: subscribe to a session's live messages, receiving those after `after_seq` first.
    Attach { session_id: SessionId, after_seq: Seq },
    /// Agent: stop receiving a session's live messages.
    Detach { session_id: SessionId },
    /// Agent: everything up to `seq` in this session has been read (clears unread counts).
    MarkRead { session_id: SessionId, seq: Seq },
    /// Agent: one page of a session's transcript, messages with seq > `after_seq`.
    History {
        session_id: SessionId,
        #[serde(default)]
        after_seq: Seq,
        #[serde(default)]
        limit: Option<u32>,
    },
    /// Agent: set this agent's availability for automatic offers.
    SetPresence { presence: Presence },
    /// Agent: accept the offer of a session (automatic mode).
    AcceptOffer { session_id: SessionId },
    /// Agent: decline the offer of a session; it goes to the next agent.
    DeclineOffer { session_id: SessionId },
    /// Agent: hand an active session you hold to another agent (`to_agent_id`) or to a
    /// department by name (`to_department`: its routing policy picks the receiver and the
    /// chat moves there), with a note. Exactly one of the two.
    Transfer {
        session_id: SessionId,
        #[serde(default)]
        to_agent_id: Option<AgentId>,
        #[serde(default)]
        to_department: Option<String>,
        #[serde(default)]
        note: Option<String>,
    },
    /// Agent: change a chat's queue priority (higher is served first; 0 by default; within
    /// ±`PRIORITY_MAX`). A waiting chat moves to its new place in line at once.
    SetPriority { session_id: SessionId, priority: i64 },
    /// Agent: create a team channel; you are its admin, the invited are members.
    CreateChannel {
        name: String,
        #[serde(default)]
        description: Option<String>,
        #[serde(default)]
        private: bool,
        #[serde(default)]
        folder_id: Option<u64>,
        #[serde(default)]
        invite: Vec<AgentId>,
    },
    /// Agent: the channels you may see (public ones and yours), with your unread counts.
    ListChannels {},
    /// Agent: join a public channel.
    JoinChannel { channel_id: ChannelId },
    /// Agent (a member): add another agent to the channel.
    InviteToChannel { channel_id: ChannelId, agent_id: AgentId },
    /// Agent: leave a channel.
    LeaveChannel { channel_id: ChannelId },
    /// Agent (a member): the channel's members.
    ChannelMembers { channel_id: ChannelId },
    /// Agent (a member): post to a channel; acknowledged once durable.
    SendChannelMessage { channel_id: ChannelId, client_msg_id: String, text: String },
    /// Agent: a page of a channel's history: after `after_seq`, or before `before_seq`
    /// (the newest page when neither is given).
    ChannelHistory {
        channel_id: ChannelId,
        #[serde(default)]
        after_seq: Option<Seq>,
        #[serde(default)]
        before_seq: Option<Seq>,
        #[serde(default)]
        limit: Option<u32>,
    },
    /// Agent (a member): you have read the channel up to `seq`.
    MarkChannelRead { channel_id: ChannelId, seq: Seq },
    /// Agent: edit your own message within the edit window.
    EditChannelMessage { channel_id: ChannelId, seq: Seq, text: String },
    /// Agent: delete your own message within the edit window (its seq stays, its text goes).
    DeleteChannelMessage { channel_id: ChannelId, seq: Seq },
    /// Agent (a channel admin): remove a member.
    RemoveFromChannel { channel_id: ChannelId, agent_id: AgentId },
    /// Agent (a channel admin): archive (read-only) or unarchive the channel.
    ArchiveChannel { channel_id: ChannelId, archived: bool },
    /// Agent (a member): set the channel's topic (at most 1024 bytes; empty clears it).
    SetChannelTopic { channel_id: ChannelId, topic: String },
    /// Agent: the slash commands available where you are typing (exactly one of
    /// `channel_id` and `session_id`), whose names start with `prefix`.
    ListCommands {
        #[serde(default)]
        channel_id: Option<ChannelId>,
        #[serde(default)]
        session_id: Option<SessionId>,
        #[serde(default)]
        prefix: Option<String>,
    },
    /// Agent: run a slash command line (`/topic Q4 plans`) in a channel or a live chat
    /// (exactly one of `channel_id` and `session_id`).
    RunCommand {
        #[serde(default)]
        channel_id: Option<ChannelId>,
        #[serde(default)]
        session_id: Option<SessionId>,
        text: String,
    },
    /// Agent: take the session another agent is handing you.
    AcceptTransfer { session_id: SessionId },
    /// Visitor: rate its chat once it is closed, `score` 1 (bad) to 5 (great), with an
    /// optional comment; once per session.
    RateChat {
        session_id: SessionId,
        score: u8,
        #[serde(default)]
        comment: Option<String>,
    },
    /// Agent: refuse the session another agent is handing you.
    DeclineTransfer { session_id: SessionId },
    /// Visitor (no credentials needed): whether a department takes chats now, before
    /// starting one: inside its business hours, with an agent online. The default
    /// department when `department` is absent.
    DepartmentStatus {
        #[serde(default)]
        department: Option<String>,
    },
    /// Visitor (no credentials needed): leave a message for a department that is closed or
    /// has nobody online; it becomes a helpdesk ticket, answered by email.
    LeaveMessage {
        #[serde(default)]
        department: Option<String>,
        name: String,
        email: String,
        text: String,
        #[serde(default)]
        page_url: Option<String>,
    },
    /// Agent: make a helpdesk ticket of a session (any session you can see), its transcript
    /// as the description, or of message `seq` of a channel you are a member of, with the
    /// messages after it; exactly one source. Asking again returns the same ticket.
    CreateTicket {
        #[serde(default)]
        session_id: Option<SessionId>,
        #[serde(default)]
        channel_id: Option<ChannelId>,
        #[serde(default)]
        seq: Option<u64>,
        /// Default: `Chat with {visitor name} ({date})`, or the message's first line.
        #[serde(default)]
        subject: Option<String>,
    },
}

/// An agent's availability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// Gets offers (automatic departments).
    Online,
    /// Connected, but gets no new offers.
    Away,
    /// Gets no offers; what a disconnected agent becomes after the grace period.
    Offline,
}

impl Request {
    /// Every request `type` this protocol defines (used to tell unknown types from bad fields).
    pub const TYPES: &'static [&'static str] = &[
        "auth",
        "auth_console",
        "rate_chat",
        "department_status",
        "leave_message",
        "start_chat",
        "resume_chat",
        "list_queue",
        "accept",
        "send_message",
        "typing",
        "close",
        "attach",
        "detach",
        "mark_read",
        "history",
        "set_presence",
        "accept_offer",
        "decline_offer",
        "transfer",
        "accept_transfer",
        "decline_transfer",
        "set_priority",
        "create_channel",
        "list_channels",
        "join_channel",
        "invite_to_channel",
        "leave_channel",
        "channel_members",
        "send_channel_message",
        "channel_history",
        "mark_channel_read",
        "edit_channel_message",
        "delete_channel_message",
        "remove_from_channel",
        "archive_channel",
        "set_channel_topic",
        "list_commands",
        "run_command",
        "create_ticket",
    ];
}

/// Session lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Waiting,
    Active,
    Closed,
}

/// What the visitor told us when starting the chat.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VisitorInfo {
    pub name: Option<String>,
    pub email: Option<String>,
    pub page_url: Option<String>,
}

/// A chat session as clients see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub session_id: SessionId,
    pub state: SessionState,
    pub visitor: VisitorInfo,
    /// The assigned agent, once accepted.
    pub agent_id: Option<AgentId>,
    pub agent_name: Option<String>,
    pub created_at_ms: u64,
    pub accepted_at_ms: Option<u64>,
    pub closed_at_ms: Option<u64>,
    /// Sequence number of the newest durable message (0 when there is none).
    pub last_seq: Seq,
    /// The department whose queue it is in.
    #[serde(default)]
    pub department_id: u64,
    /// Queue priority: higher is served first (0 by default).
    #[serde(default)]
    pub priority: i64,
    /// The contact whose email the visitor gave at `start_chat` (case-insensitive), if any.
    #[serde(default)]
    pub contact_id: Option<u64>,
    /// The ticket made from this session, if any.
    #[serde(default)]
    pub ticket_id: Option<u64>,
    /// The visitor's rating, once given (after the chat closed).
    #[serde(default)]
    pub rating: Option<RatingInfo>,
    /// Unread messages for the agent receiving this frame, in `queue` replies and in
    /// `session_created`/`session_updated` events sent to agents; `null` elsewhere.
    pub unread: Option<u64>,
}

/// A visitor's rating of a closed chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatingInfo {
    /// 1 (bad) to 5 (great).
    pub score: u8,
    pub comment: Option<String>,
    pub rated_at_ms: u64,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sender {
    Visitor,
    Agent,
}

/// A stored chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub seq: Seq,
    pub from: Sender,
    /// The writing agent when `from` is `agent`.
    pub agent_id: Option<AgentId>,
    pub client_msg_id: String,
    pub text: String,
    pub sent_at_ms: u64,
}

/// The authenticated agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentInfo {
    pub agent_id: AgentId,
    pub display_name: String,
    pub max_concurrent_chats: u32,
}

/// Every frame the server sends, tagged by `type`: replies (with `re`), the `error` frame
/// (with `re` when it answers a request) and events (neither).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Reply to `auth`.
    Authed { re: ReqId, agent: AgentInfo },
    /// Reply to `start_chat`: keep `session_token` to resume later.
    ChatStarted {
        re: ReqId,
        session_token: String,
        session: SessionInfo,
        /// The first message, when one was sent with `start_chat`.
        first_message: Option<Message>,
    },
    /// Reply to `resume_chat` and `attach`: the missed messages, oldest first.
    Attached {
        re: ReqId,
        session: SessionInfo,
        messages: Vec<Message>,
        /// More missed messages exist; the connection is NOT subscribed yet: attach again
        /// with `after_seq` = the last seq received.
        has_more: bool,
    },
    /// Reply to `list_queue`.
    Queue {
        re: ReqId,
        /// Sessions waiting in all (`waiting` lists at most 1000).
        waiting_total: u64,
        /// Sessions active in all (`active` lists at most 1000).
        active_total: u64,
        /// In queue order: higher priority first, then the longest waiting.
        waiting: Vec<SessionInfo>,
        /// Oldest first.
        active: Vec<SessionInfo>,
        /// Most recently closed first, bounded.
        closed: Vec<SessionInfo>,
    },
    /// Reply to `accept`: the session is now yours and this connection is subscribed to it.
    Accepted { re: ReqId, session: SessionInfo },
    /// Reply to `send_message`, sent only once the message is durable.
    MessageAck {
        re: ReqId,
        session_id: SessionId,
        seq: Seq,
        client_msg_id: String,
        sent_at_ms: u64,
        /// True when this `client_msg_id` was already stored: nothing new was written.
        duplicate: bool,
    },
    /// Reply to `close`.
    Closed { re: ReqId, session: SessionInfo },
    /// Reply to `history`.
    History { re: ReqId, session_id: SessionId, messages: Vec<Message>, has_more: bool },
    /// Reply to requests with nothing to return (`typing`, `detach`, `mark_read`).
    Ok { re: ReqId },
    /// A request failed, or (without `re`) the connection is about to be closed.
    Error { re: Option<ReqId>, code: ErrorCode, message: String },
    /// Event to agents: a new session is waiting.
    SessionCreated { session: SessionInfo },
    /// Event: a session changed (state, assignment, or new messages while waiting).
    SessionUpdated { session: SessionInfo },
    /// Event to a session's subscribers: a new durable message.
    Message { session_id: SessionId, message: Message },
    /// Event to a session's subscribers: someone started or stopped typing.
    Typing { session_id: SessionId, from: Sender, agent_id: Option<AgentId>, typing: bool },
    /// Event to an agent (automatic mode): this session is offered to you until
    /// `expires_at_ms`; answer with `accept_offer` or `decline_offer`.
    Offer { session: SessionInfo, expires_at_ms: u64 },
    /// Event to an agent: an offer is void (`declined`, `expired`, `taken`, `unavailable`).
    OfferWithdrawn { session_id: SessionId, reason: String },
    /// Event to an agent: `from_agent_id` hands you this active session, with a note; answer
    /// with `accept_transfer` or `decline_transfer` before `expires_at_ms`. `department_id`
    /// is set when the chat was transferred to that department (it moves there on accept).
    TransferOffer {
        session: SessionInfo,
        from_agent_id: AgentId,
        department_id: Option<u64>,
        note: Option<String>,
        expires_at_ms: u64,
    },
    /// Event to the agent who asked for a transfer: it did not happen (`declined`,
    /// `expired`, `closed`).
    TransferRefused { session_id: SessionId, to_agent_id: AgentId, reason: String },
    /// Reply to `create_channel`, `join_channel`, `invite_to_channel`, `leave_channel` and
    /// `mark_channel_read`: the channel as you see it now.
    Channel { re: ReqId, channel: ChannelInfo },
    /// Reply to `list_channels`: the folders in order, then the channels grouped by folder
    /// in that order (those in no folder last), by name within a group.
    Channels { re: ReqId, folders: Vec<FolderInfo>, channels: Vec<ChannelInfo> },
    /// Reply to `channel_members`, by agent id.
    ChannelMemberList { re: ReqId, channel_id: ChannelId, members: Vec<ChannelMemberInfo> },
    /// Reply to `list_commands`, in listing order.
    Commands { re: ReqId, commands: Vec<CommandInfo> },
    /// Reply to `run_command`: what the command says, and who sees it.
    CommandResult { re: ReqId, visibility: CommandVisibility, text: String },
    /// Reply to `send_channel_message`: the message is durable.
    ChannelMessageAck {
        re: ReqId,
        channel_id: ChannelId,
        seq: Seq,
        client_msg_id: String,
        sent_at_ms: u64,
        duplicate: bool,
    },
    /// Reply to `channel_history`: messages oldest first.
    ChannelHistoryPage { re: ReqId, channel_id: ChannelId, messages: Vec<ChannelMessageInfo>, has_more: bool },
    /// Event to every connection of every member (the poster's other connections too): a
    /// new durable channel message.
    ChannelMessage { channel_id: ChannelId, message: ChannelMessageInfo },
    /// Event to every connection of every member (but the one that asked): a channel
    /// message was edited or deleted; `message` is its new state.
    ChannelMessageUpdated { channel_id: ChannelId, message: ChannelMessageInfo },
    /// Event to every connection of every member: the channel's metadata changed
    /// (archived, topic). The per-agent fields (`member`, `unread`, `mentions`, `last_seq`)
    /// are not filled in: keep yours.
    ChannelUpdated { channel: ChannelInfo },
    /// Event to the channel's members and to the agent concerned: `agent_id` joined
    /// (`joined`) or left the channel.
    ChannelMembership { channel: ChannelInfo, agent_id: AgentId, joined: bool },
    /// Reply to `create_ticket`: the session's ticket (new, or the one it already had).
    Ticket { re: ReqId, ticket: TicketInfo },
    /// Reply to `department_status`. `open`: inside the department's business hours
    /// (always, when it has none); `agents_online`: at least one of its agents is connected;
    /// a chat started when either is false may wait long (offer `leave_message` instead).
    /// `next_open_ms`: when it opens next, while closed; `time_zone`: its hours' zone.
    DepartmentStatus {
        re: ReqId,
        department: String,
        open: bool,
        agents_online: bool,
        next_open_ms: Option<u64>,
        time_zone: Option<String>,
    },
    /// Reply to `leave_message`: the ticket it became (durable).
    MessageLeft { re: ReqId, ticket_id: u64 },
    /// Event to a waiting visitor: its place in line (1 = next) and the estimated wait
    /// (`null` while the department has too little history to estimate).
    QueuePosition { session_id: SessionId, position: u32, estimated_wait_ms: Option<u64> },
}

impl ServerFrame {
    /// The request id this frame answers, if it is a reply or a request's error.
    pub fn re(&self) -> Option<ReqId> {
        match self {
            ServerFrame::Authed { re, .. }
            | ServerFrame::ChatStarted { re, .. }
            | ServerFrame::Attached { re, .. }
            | ServerFrame::Queue { re, .. }
            | ServerFrame::Accepted { re, .. }
            | ServerFrame::MessageAck { re, .. }
            | ServerFrame::Closed { re, .. }
            | ServerFrame::History { re, .. }
            | ServerFrame::Channel { re, .. }
            | ServerFrame::Channels { re, .. }
            | ServerFrame::ChannelMemberList { re, .. }
            | ServerFrame::ChannelMessageAck { re, .. }
            | ServerFrame::ChannelHistoryPage { re, .. }
            | ServerFrame::Commands { re, .. }
            | ServerFrame::CommandResult { re, .. }
            | ServerFrame::Ticket { re, .. }
            | ServerFrame::DepartmentStatus { re, .. }
            | ServerFrame::MessageLeft { re, .. }
            | ServerFrame::Ok { re } => Some(*re),
            ServerFrame::Error { re, .. } => *re,
            ServerFrame::SessionCreated { .. }
            | ServerFrame::SessionUpdated { .. }
            | ServerFrame::Message { .. }
            | ServerFrame::Typing { .. }
            | ServerFrame::Offer { .. }
            | ServerFrame::OfferWithdrawn { .. }
            | ServerFrame::QueuePosition { .. }
            | ServerFrame::TransferOffer { .. }
            | ServerFrame::TransferRefused { .. }
            | ServerFrame::ChannelMessage { .. }
            | ServerFrame::ChannelMembership { .. }
            | ServerFrame::ChannelMessageUpdated { .. }
            | ServerFrame::ChannelUpdated { .. } => None,
        }
    }
}
