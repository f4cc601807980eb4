//! Domain types shared by the state machines and the engine's public API.

/// Server-assigned session id.
pub type SessionId = u64;
/// Server-assigned agent id.
pub type AgentId = u64;
/// Per-session message sequence number (1, 2, 3 … without gaps).
pub type Seq = u64;
/// Server-assigned department id.
pub type DepartmentId = u64;
/// Server-assigned contact id.
pub type ContactId = u64;

/// The department every server has (created on first start), where chats go that name
/// none, and where sessions from before departments belong.
pub const DEFAULT_DEPARTMENT: DepartmentId = 1;

/// Lifecycle of a chat session: WAITING → ACTIVE → CLOSED (or WAITING → CLOSED never: only
/// the assigned agent closes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Waiting,
    Active,
    Closed,
}

/// Who acts on a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Participant {
    /// The visitor who started the session.
    Visitor,
    /// An authenticated agent.
    Agent(AgentId),
}

/// What the visitor told us when starting the chat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Visitor {
    pub name: Option<String>,
    pub email: Option<String>,
    pub page_url: Option<String>,
}

/// A session's metadata: everything but its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionMeta {
    pub id: SessionId,
    pub state: State,
    pub visitor: Visitor,
    /// Hex SHA-256 of the visitor's token secret.
    pub token_sha256: String,
    pub agent_id: Option<AgentId>,
    pub created_at_ms: u64,
    pub accepted_at_ms: Option<u64>,
    pub closed_at_ms: Option<u64>,
    /// The department whose queue it waits in.
    pub department_id: DepartmentId,
    /// Queue priority: higher first.
    pub priority: i64,
    /// The contact whose email the visitor gave at `start_chat`, if one matched.
    pub contact_id: Option<ContactId>,
}

/// A session as listed and announced: its metadata plus the newest durable seq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSnapshot {
    pub meta: SessionMeta,
    pub last_seq: Seq,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub seq: Seq,
    pub from: Participant,
    pub client_msg_id: String,
    pub text: String,
    pub sent_at_ms: u64,
}
