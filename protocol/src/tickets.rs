//! The shapes tickets take on the wire: [`TicketInfo`] (in the `ticket` frame, the HTTP
//! routes and the helpdesk webhook's body) and the HTTP bodies of the ticket routes. The
//! frames themselves are variants of [`crate::Request`] and [`crate::ServerFrame`].

use serde::{Deserialize, Serialize};

use crate::frames::{AgentId, SessionId};

/// Server-assigned ticket id (a small integer, below 2^53).
pub type TicketId = u64;

/// Largest ticket subject, in bytes: longer than any helpdesk shows in a list.
pub const TICKET_SUBJECT_BYTES_MAX: usize = 200;

/// Most tickets one `GET /api/v1/tickets` page holds. A description may be up to the
/// engine's transcript bound (1 MiB), so a full page stays near 20 MiB at worst.
pub const TICKETS_PAGE_MAX: usize = 20;

/// A ticket: who asked, what about, and the chat's transcript as its description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketInfo {
    pub ticket_id: TicketId,
    pub subject: String,
    /// The visitor's name (when given).
    pub requester_name: Option<String>,
    /// The visitor's email (when given).
    pub requester_email: Option<String>,
    /// The transcript: one line per message, `[time UTC] name: text`.
    pub description: String,
    /// The chat session it was made from.
    pub session_id: Option<SessionId>,
    /// Reserved for tickets made from a channel message: the channel and the message's seq.
    pub channel_id: Option<u64>,
    pub channel_seq: Option<u64>,
    /// The agent who created it (`null`: the administrator API).
    pub created_by: Option<AgentId>,
    pub created_at_ms: u64,
    /// The session's contact, when it has one.
    pub contact_id: Option<u64>,
    /// What it was made from.
    #[serde(default)]
    pub source: TicketOrigin,
    /// The department a message left while it was closed or unstaffed was for
    /// (`source` = `left_message`).
    #[serde(default)]
    pub department_id: Option<u64>,
}

/// What a ticket was made from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketOrigin {
    /// A chat session (`session_id`), its transcript as the description.
    #[default]
    Session,
    /// A team-channel message (`channel_id`, `channel_seq`) and those after it.
    ChannelMessage,
    /// A message a visitor left with `leave_message` (the description is the message).
    LeftMessage,
}

/// `POST /api/v1/sessions/{id}/ticket` request body (it may also be empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTicket {
    /// Default: `Chat with {visitor name} ({date})`.
    #[serde(default)]
    pub subject: Option<String>,
}

/// `GET /api/v1/tickets` response body: one page, by `ticket_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketPage {
    pub tickets: Vec<TicketInfo>,
    /// More tickets follow: ask again with `after_id` = the last `ticket_id` here.
    pub has_more: bool,
}

/// The helpdesk webhook's JSON body (docs/TICKETS.md): the same for every attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketWebhook {
    /// Always `ticket.created`.
    pub event: String,
    /// Also in the `Idempotency-Key` header: `ticket-{ticket_id}`.
    pub idempotency_key: String,
    pub ticket: TicketInfo,
}
