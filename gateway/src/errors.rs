//! The one place engine errors become wire error codes.

use switchboard_engine::domain::channel::ChannelError;
use switchboard_engine::domain::session::SessionError;
use switchboard_engine::EngineError;
use switchboard_engine::StorageError;
use switchboard_protocol::{ErrorCode, ReqId, ServerFrame};

/// A request's failure as the client will see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: ErrorCode,
    pub message: String,
}

impl Failure {
    /// A failure with a code and a human-readable message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into() }
    }

    /// The `error` frame answering request `re`. Every error frame the server sends is
    /// made here, so this is where `switchboard_errors_total{code}` counts them.
    pub fn frame(self, re: Option<ReqId>) -> ServerFrame {
        count(self.code);
        ServerFrame::Error { re, code: self.code, message: self.message }
    }
}

impl From<EngineError> for Failure {
    fn from(error: EngineError) -> Failure {
        let message = error.to_string();
        let code = match &error {
            EngineError::Session(e) => match e {
                SessionError::AlreadyTaken(_) => ErrorCode::AlreadyTaken,
                SessionError::Closed(_) => ErrorCode::SessionClosed,
                SessionError::NotYours(_) => ErrorCode::NotYourSession,
                SessionError::Full(..) => ErrorCode::SessionFull,
                SessionError::BadText { len: 0, .. } => ErrorCode::InvalidRequest,
                SessionError::BadText { .. } => ErrorCode::TextTooLong,
            },
            EngineError::UnknownSession(_) => ErrorCode::UnknownSession,
            EngineError::BadToken => ErrorCode::BadToken,
            EngineError::AgentAtCapacity { .. } => ErrorCode::AgentAtCapacity,
            EngineError::Overloaded(_) => ErrorCode::Overloaded,
            EngineError::SessionUnavailable(_) => ErrorCode::SessionUnavailable,
            EngineError::Storage(StorageError::Overloaded) => ErrorCode::Overloaded,
            EngineError::Storage(StorageError::Fenced { .. }) | EngineError::WrongNode { .. } => {
                ErrorCode::WrongNode
            }
            EngineError::Storage(StorageError::Unreplicated(_)) | EngineError::ClusterUnavailable => {
                ErrorCode::ClusterUnavailable
            }
            EngineError::Storage(_) => ErrorCode::StorageError,
            EngineError::OfferUnavailable(_) => ErrorCode::OfferUnavailable,
            EngineError::UnknownDepartment(_) => ErrorCode::UnknownDepartment,
            EngineError::UnknownAgent(_) => ErrorCode::NotFound,
            EngineError::AgentUnavailable(_) => ErrorCode::AgentUnavailable,
            EngineError::DepartmentUnavailable(_) => ErrorCode::DepartmentUnavailable,
            EngineError::TransferPending(_) => ErrorCode::InvalidRequest,
            EngineError::InvalidDepartment(_) => ErrorCode::InvalidRequest,
            EngineError::UnknownContact(_) => ErrorCode::UnknownContact,
            EngineError::InvalidContact(_) => ErrorCode::InvalidContact,
            EngineError::DuplicateContact(_) => ErrorCode::DuplicateContact,
            EngineError::ImportTooLarge { .. } => ErrorCode::InvalidRequest,
            EngineError::ImportRefused { reason, .. } => Failure::from((**reason).clone()).code,
            EngineError::UnknownTicket(_) => ErrorCode::UnknownTicket,
            EngineError::InvalidTicket(_) => ErrorCode::InvalidRequest,
            EngineError::InvalidLeftMessage(_) => ErrorCode::InvalidRequest,
            EngineError::Internal(_) => ErrorCode::Internal,
            EngineError::Channel(e) => channel_code(e),
            EngineError::UnknownChannel(_) => ErrorCode::UnknownChannel,
            EngineError::ChannelUnavailable(_) => ErrorCode::ChannelUnavailable,
            EngineError::InvalidChannel(_) => ErrorCode::InvalidRequest,
            EngineError::UnknownFolder(_) => ErrorCode::NotFound,
            EngineError::BadCredentials => ErrorCode::BadCredentials,
            EngineError::NotSignedIn => ErrorCode::NotSignedIn,
            EngineError::InvalidLogin(_) => ErrorCode::InvalidRequest,
            EngineError::InvalidRating(_) => ErrorCode::InvalidRequest,
            EngineError::PasswordChangeRequired => ErrorCode::PasswordChangeRequired,
        };
        if matches!(code, ErrorCode::StorageError | ErrorCode::Internal) {
            tracing::error!(%message, "request failed");
        }
        Failure { code, message }
    }
}

/// Count one error sent to a client (a frame, or an HTTP error body).
pub fn count(code: ErrorCode) {
    metrics::counter!("switchboard_errors_total", "code" => code.as_str()).increment(1);
}

/// The wire code of a channel rule's refusal.
fn channel_code(e: &ChannelError) -> ErrorCode {
    match e {
        ChannelError::BadName | ChannelError::TooLong { .. } => ErrorCode::InvalidRequest,
        ChannelError::NotMember(_) => ErrorCode::NotChannelMember,
        ChannelError::NotAdmin(_) | ChannelError::Private(_) | ChannelError::NotAuthor(..) => {
            ErrorCode::Forbidden
        }
        ChannelError::Archived(_) => ErrorCode::ChannelArchived,
        ChannelError::MembersFull(_) | ChannelError::Full(..) => ErrorCode::LimitReached,
        ChannelError::BadText { len: 0, .. } => ErrorCode::InvalidRequest,
        ChannelError::BadText { .. } => ErrorCode::TextTooLong,
        ChannelError::UnknownMessage(..) | ChannelError::EditWindowOver(..) => ErrorCode::InvalidRequest,
    }
}
