//! Stable error codes. Clients branch on the code; the message is for humans and may change.

use serde::{Deserialize, Serialize};

/// Every error code the server sends, in `error` frames and in HTTP error bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame could not be decoded at all (not MessagePack/JSON, or not a map).
    MalformedFrame,
    /// The frame's `type` is not one this server knows.
    UnknownType,
    /// A field is missing, has the wrong type, or is out of its allowed range.
    InvalidRequest,
    /// The frame is larger than the server's frame limit (the connection is closed, 1009).
    FrameTooLarge,
    /// A text frame was not valid UTF-8 (the connection is closed, 1007).
    InvalidUtf8,
    /// A message text is longer than the protocol's text limit.
    TextTooLong,
    /// The request needs an authenticated agent and this connection has not authenticated.
    NotAuthenticated,
    /// The token presented is unknown, malformed or revoked.
    BadToken,
    /// The connection already has a role (agent or visitor) that forbids this request.
    WrongRole,
    /// A visitor named a session other than its own, or a caller lacks the right to act.
    Forbidden,
    /// No session, agent or record has this id.
    UnknownSession,
    /// Another agent accepted this session first.
    AlreadyTaken,
    /// The session is closed: no more messages, accepts or closes.
    SessionClosed,
    /// The session is assigned to another agent (or to nobody yet).
    NotYourSession,
    /// The agent already handles its maximum number of concurrent chats.
    AgentAtCapacity,
    /// The session reached its maximum number of messages.
    SessionFull,
    /// The server is shedding load; retry the same request (with the same ids) later.
    Overloaded,
    /// The session's actor failed repeatedly and is quarantined; an operator must look.
    SessionUnavailable,
    /// The connection's outbound queue overflowed; it is closed and may resume.
    SendQueueOverflow,
    /// Durable storage failed; the request did not take effect and may be retried.
    StorageError,
    /// An unexpected server fault; the request did not take effect and may be retried.
    Internal,
    /// The connection sends faster than its rate limit allows; wait and retry.
    RateLimited,
    /// A per-connection limit was reached (e.g. sessions attached to one connection).
    LimitReached,
    /// The connection was idle (no frame, no pong) for too long and is closed.
    IdleTimeout,
    /// HTTP only: missing or wrong administrator credential.
    Unauthorized,
    /// HTTP only: no such route.
    NotFound,
    /// The server is shutting down (graceful drain): sent just before the close (WebSocket
    /// 1001, QUIC application code 1001). Reconnect and resume, on another node or after the
    /// restart; every request answered before it is durable.
    ShuttingDown,
    /// `accept_offer`/`decline_offer` for a session not offered to this agent now (the offer
    /// expired, was declined, or went to someone else).
    OfferUnavailable,
    /// `start_chat` named a department that does not exist; HTTP: no such department.
    UnknownDepartment,
    /// The connection's agent was disabled or its token rotated: the connection is closed
    /// (4003) and the old token no longer authenticates.
    CredentialsRevoked,
    /// `transfer` to an agent that is not connected (or disabled, or yourself).
    AgentUnavailable,
    /// `transfer` to a department none of whose other members is online with a free slot.
    DepartmentUnavailable,
    /// No channel has this id, or it is private and you are not a member.
    UnknownChannel,
    /// The request needs you to be a member of the channel (post, invite, mark read).
    NotChannelMember,
    /// The channel is archived: read-only.
    ChannelArchived,
    /// The channel's actor failed repeatedly and is quarantined; an operator must look.
    ChannelUnavailable,
    /// HTTP only: no contact has this id.
    UnknownContact,
    /// HTTP only: a contact field breaks its rule (the message names the field, and in an
    /// import the entry).
    InvalidContact,
    /// HTTP only: the contact's email is already another contact's (or another import
    /// entry's).
    DuplicateContact,
    /// HTTP only: no ticket has this id.
    UnknownTicket,
    /// Console sign-in: the email and password match no agent (which of the two was wrong
    /// is not said).
    BadCredentials,
    /// `auth_console` (or a console HTTP route) without a valid console session: never
    /// signed in, signed out, or expired. Sign in again.
    NotSignedIn,
    /// `auth_console` by an agent whose password was set by an administrator: choose your
    /// own first (`POST /api/v1/console/password`).
    PasswordChangeRequired,
    /// Cluster mode: this node has lost the replicated log (NATS); the write did not take
    /// effect. Reads are still served. Retry later, or reconnect to another node.
    ClusterUnavailable,
    /// Cluster mode: the session is served by another node now (its shard moved). Reconnect
    /// to another address and resume.
    WrongNode,
}

impl ErrorCode {
    /// The code as it appears on the wire, e.g. `already_taken`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedFrame => "malformed_frame",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::InvalidUtf8 => "invalid_utf8",
            ErrorCode::TextTooLong => "text_too_long",
            ErrorCode::NotAuthenticated => "not_authenticated",
            ErrorCode::BadToken => "bad_token",
            ErrorCode::WrongRole => "wrong_role",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::UnknownSession => "unknown_session",
            ErrorCode::AlreadyTaken => "already_taken",
            ErrorCode::SessionClosed => "session_closed",
            ErrorCode::NotYourSession => "not_your_session",
            ErrorCode::AgentAtCapacity => "agent_at_capacity",
            ErrorCode::SessionFull => "session_full",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::SessionUnavailable => "session_unavailable",
            ErrorCode::SendQueueOverflow => "send_queue_overflow",
            ErrorCode::StorageError => "storage_error",
            ErrorCode::Internal => "internal",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::LimitReached => "limit_reached",
            ErrorCode::IdleTimeout => "idle_timeout",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::NotFound => "not_found",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::OfferUnavailable => "offer_unavailable",
            ErrorCode::UnknownDepartment => "unknown_department",
            ErrorCode::CredentialsRevoked => "credentials_revoked",
            ErrorCode::AgentUnavailable => "agent_unavailable",
            ErrorCode::DepartmentUnavailable => "department_unavailable",
            ErrorCode::UnknownChannel => "unknown_channel",
            ErrorCode::NotChannelMember => "not_channel_member",
            ErrorCode::ChannelArchived => "channel_archived",
            ErrorCode::ChannelUnavailable => "channel_unavailable",
            ErrorCode::UnknownContact => "unknown_contact",
            ErrorCode::InvalidContact => "invalid_contact",
            ErrorCode::DuplicateContact => "duplicate_contact",
            ErrorCode::UnknownTicket => "unknown_ticket",
            ErrorCode::BadCredentials => "bad_credentials",
            ErrorCode::NotSignedIn => "not_signed_in",
            ErrorCode::PasswordChangeRequired => "password_change_required",
            ErrorCode::ClusterUnavailable => "cluster_unavailable",
            ErrorCode::WrongNode => "wrong_node",
        }
    }

    /// Every code, for exporting a zero counter per code from the start.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::MalformedFrame,
        ErrorCode::UnknownType,
        ErrorCode::InvalidRequest,
        ErrorCode::FrameTooLarge,
        ErrorCode::InvalidUtf8,
        ErrorCode::TextTooLong,
        ErrorCode::NotAuthenticated,
        ErrorCode::BadToken,
        ErrorCode::WrongRole,
        ErrorCode::Forbidden,
        ErrorCode::UnknownSession,
        ErrorCode::AlreadyTaken,
        ErrorCode::SessionClosed,
        ErrorCode::NotYourSession,
        ErrorCode::AgentAtCapacity,
        ErrorCode::SessionFull,
        ErrorCode::Overloaded,
        ErrorCode::SessionUnavailable,
        ErrorCode::SendQueueOverflow,
        ErrorCode::StorageError,
        ErrorCode::Internal,
        ErrorCode::RateLimited,
        ErrorCode::LimitReached,
        ErrorCode::IdleTimeout,
        ErrorCode::Unauthorized,
        ErrorCode::NotFound,
        ErrorCode::ShuttingDown,
        ErrorCode::OfferUnavailable,
        ErrorCode::UnknownDepartment,
        ErrorCode::CredentialsRevoked,
        ErrorCode::AgentUnavailable,
        ErrorCode::DepartmentUnavailable,
        ErrorCode::UnknownChannel,
        ErrorCode::NotChannelMember,
        ErrorCode::ChannelArchived,
        ErrorCode::ChannelUnavailable,
        ErrorCode::UnknownContact,
        ErrorCode::InvalidContact,
        ErrorCode::DuplicateContact,
        ErrorCode::UnknownTicket,
        ErrorCode::BadCredentials,
        ErrorCode::NotSignedIn,
        ErrorCode::PasswordChangeRequired,
        ErrorCode::ClusterUnavailable,
        ErrorCode::WrongNode,
    ];
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A match without a wildcard: a new variant fails to compile here until it is given a
    /// place, and the test below then fails until `ALL` lists it.
    fn position(code: ErrorCode) -> usize {
        use ErrorCode::*;
        match code {
            MalformedFrame => 0,
            UnknownType => 1,
            InvalidRequest => 2,
            FrameTooLarge => 3,
            InvalidUtf8 => 4,
            TextTooLong => 5,
            NotAuthenticated => 6,
            BadToken => 7,
            WrongRole => 8,
            Forbidden => 9,
            UnknownSession => 10,
            AlreadyTaken => 11,
            SessionClosed => 12,
            NotYourSession => 13,
            AgentAtCapacity => 14,
            SessionFull => 15,
            Overloaded => 16,
            SessionUnavailable => 17,
            SendQueueOverflow => 18,
            StorageError => 19,
            Internal => 20,
            RateLimited => 21,
            LimitReached => 22,
            IdleTimeout => 23,
            Unauthorized => 24,
            NotFound => 25,
            ShuttingDown => 26,
            OfferUnavailable => 27,
            UnknownDepartment => 28,
            CredentialsRevoked => 29,
            AgentUnavailable => 30,
            DepartmentUnavailable => 31,
            UnknownChannel => 32,
            NotChannelMember => 33,
            ChannelArchived => 34,
            ChannelUnavailable => 35,
            UnknownContact => 36,
            InvalidContact => 37,
            DuplicateContact => 38,
            UnknownTicket => 39,
            BadCredentials => 40,
            NotSignedIn => 41,
            PasswordChangeRequired => 42,
            ClusterUnavailable => 43,
            WrongNode => 44,
        }
    }

    #[test]
    fn all_lists_every_code_once() {
        for (i, &code) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(position(code), i, "{code} out of place in ALL");
        }
        // The last variant: a new code goes after it (and here).
        assert_eq!(ErrorCode::ALL.len(), position(ErrorCode::WrongNode) + 1);
    }

    #[test]
    fn wire_name_matches_as_str() {
        for &code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
    }
}
