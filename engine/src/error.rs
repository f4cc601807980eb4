//! The engine's error type. Every variant a caller branches on is distinct; the gateway maps
//! them to wire error codes in one place.

use switchboard_storage::StorageError;

use crate::domain::contact::ContactError;
use crate::domain::session::SessionError;
use crate::SessionId;

/// Why an engine call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// The session's rules refused the action (taken, closed, not yours, full, bad text).
    #[error(transparent)]
    Session(#[from] SessionError),
    /// A channel's rules refused the action (not a member, archived, not yours…).
    #[error(transparent)]
    Channel(crate::domain::channel::ChannelError),
    /// No channel has this id (or it is private and the caller is not a member).
    #[error("no channel {0}")]
    UnknownChannel(u64),
    /// The channel's actor failed repeatedly and is quarantined.
    #[error("channel {0} is unavailable (its actor failed repeatedly)")]
    ChannelUnavailable(u64),
    /// A channel creation or change was refused (a duplicate name, too many invitations).
    #[error("{0}")]
    InvalidChannel(String),
    /// No folder has this id.
    #[error("no folder {0}")]
    UnknownFolder(u64),
    /// No session has this id.
    #[error("no session {0}")]
    UnknownSession(SessionId),
    /// The token is malformed or matches no credential.
    #[error("bad token")]
    BadToken,
    /// The agent already handles its maximum number of chats.
    #[error("agent already handles {max} concurrent chats")]
    AgentAtCapacity { max: u32 },
    /// A bounded queue is full; retry later with the same ids.
    #[error("overloaded: {0}")]
    Overloaded(&'static str),
    /// The session crashed too often and is quarantined until the server restarts.
    #[error("session {0} is quarantined after repeated failures")]
    SessionUnavailable(SessionId),
    /// Cluster mode: the node has lost NATS, so nothing can be written now.
    #[error("this node has lost the replicated log (NATS); nothing was written")]
    ClusterUnavailable,
    /// Cluster mode: this node does not own the shard now.
    #[error("shard {shard} is served by another node")]
    WrongNode { shard: u32 },
    /// Storage failed; the action did not take effect.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The session is not offered to this agent now (expired, declined, someone else's).
    #[error("session {0} is not offered to you (the offer expired, was declined, or went to someone else)")]
    OfferUnavailable(SessionId),
    /// A transfer's receiver is not connected.
    #[error("agent {0} is not connected")]
    AgentUnavailable(u64),
    /// A transfer to a department none of whose other members is online with room.
    #[error("no agent of department `{0}` is available to take the chat")]
    DepartmentUnavailable(String),
    /// A transfer of this session is already waiting for its receiver.
    #[error("a transfer of session {0} is already pending")]
    TransferPending(SessionId),
    /// No agent has this id.
    #[error("no agent {0}")]
    UnknownAgent(u64),
    /// No department has this name or id.
    #[error("no department {0}")]
    UnknownDepartment(String),
    /// A department or membership change was refused (a duplicate name, a bad setting).
    #[error("{0}")]
    InvalidDepartment(String),
    /// A message left for a closed or unstaffed department breaks a rule (the message
    /// names the field).
    #[error("{0}")]
    InvalidLeftMessage(String),
    /// No contact has this id.
    #[error("no contact {0}")]
    UnknownContact(u64),
    /// A contact's fields break a rule (the message names the field).
    #[error(transparent)]
    InvalidContact(#[from] ContactError),
    /// The contact's email is already another contact's (or another import entry's).
    #[error("{0}")]
    DuplicateContact(String),
    /// An import holds more entries than one import may.
    #[error("an import holds at most {max} contacts; this one has {entries}")]
    ImportTooLarge { entries: usize, max: usize },
    /// An import was refused because of one entry (1-based); nothing was imported.
    #[error("entry {entry}: {reason}")]
    ImportRefused { entry: usize, reason: Box<EngineError> },
    /// No ticket has this id.
    #[error("no ticket {0}")]
    UnknownTicket(u64),
    /// A ticket request breaks a rule (the message names the field).
    #[error(transparent)]
    InvalidTicket(#[from] crate::domain::ticket::TicketError),
    /// Console sign-in refused: no agent has this email and password (or it is disabled).
    #[error("wrong email or password")]
    BadCredentials,
    /// No valid console session: never signed in, signed out, or expired.
    #[error("not signed in (or the console session ended): sign in again")]
    NotSignedIn,
    /// A console email or password breaks a rule (the message says which).
    #[error("{0}")]
    InvalidLogin(String),
    /// The agent signed in with a temporary password and must choose their own first.
    #[error("choose your own password first (the one you signed in with was set by an administrator)")]
    PasswordChangeRequired,
    /// A chat rating is refused: out of range, too long, not closed yet, or rated already.
    #[error("{0}")]
    InvalidRating(String),
    /// The request was lost to a crash of the actor handling it; it may be retried.
    #[error("internal error: {0}")]
    Internal(String),
}
