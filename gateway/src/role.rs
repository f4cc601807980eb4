//! What a connection is and what it may do. Every connection starts anonymous; `auth` makes
//! it an agent, `start_chat` or `resume_chat` make it the visitor of one session. Pure.

use switchboard_engine::{AgentId, Participant, SessionId};
use switchboard_protocol::ErrorCode;

use crate::errors::Failure;

/// A connection's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Anonymous,
    Agent(AgentId),
    Visitor(SessionId),
}

impl Role {
    /// `anonymous`, `agent` or `visitor`, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Role::Anonymous => "anonymous",
            Role::Agent(_) => "agent",
            Role::Visitor(_) => "visitor",
        }
    }

    /// The agent behind this connection, for agent-only requests.
    pub fn agent(&self) -> Result<AgentId, Failure> {
        match self {
            Role::Agent(id) => Ok(*id),
            Role::Anonymous => {
                Err(Failure::new(ErrorCode::NotAuthenticated, "authenticate with `auth` first"))
            }
            Role::Visitor(_) => Err(Failure::new(ErrorCode::Forbidden, "only agents may do this")),
        }
    }

    /// Who acts when this connection touches `session`.
    pub fn participant(&self, session: SessionId) -> Result<Participant, Failure> {
        match self {
            Role::Agent(id) => Ok(Participant::Agent(*id)),
            Role::Visitor(own) if *own == session => Ok(Participant::Visitor),
            Role::Visitor(_) => {
                Err(Failure::new(ErrorCode::Forbidden, format!("session {session} is not yours")))
            }
            Role::Anonymous => Err(Failure::new(
                ErrorCode::NotAuthenticated,
                "start or resume a chat, or authenticate, first",
            )),
        }
    }

    /// Check that this connection may take on a new role (`auth`, `start_chat`, `resume_chat`).
    pub fn may_become(&self, next: Role) -> Result<(), Failure> {
        match (self, next) {
            (Role::Anonymous, _) => Ok(()),
            (Role::Visitor(a), Role::Visitor(b)) if *a == b => Ok(()),
            (Role::Agent(a), Role::Agent(b)) if *a == b => Ok(()),
            _ => Err(Failure::new(
                ErrorCode::WrongRole,
                "this connection already has another role; open a new one",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_by_role() {
        // (role, session touched, expected participant or error code)
        let cases = [
            (Role::Agent(1), 5, Ok(Participant::Agent(1))),
            (Role::Visitor(5), 5, Ok(Participant::Visitor)),
            (Role::Visitor(5), 6, Err(ErrorCode::Forbidden)),
            (Role::Anonymous, 5, Err(ErrorCode::NotAuthenticated)),
        ];
        for (role, session, expected) in cases {
            assert_eq!(role.participant(session).map_err(|f| f.code), expected, "{role:?}");
        }
        assert_eq!(Role::Visitor(5).agent().unwrap_err().code, ErrorCode::Forbidden);
        assert_eq!(Role::Anonymous.agent().unwrap_err().code, ErrorCode::NotAuthenticated);
        assert!(Role::Anonymous.may_become(Role::Agent(1)).is_ok());
        assert!(Role::Agent(1).may_become(Role::Agent(1)).is_ok());
        assert_eq!(Role::Agent(1).may_become(Role::Visitor(2)).unwrap_err().code, ErrorCode::WrongRole);
        assert_eq!(Role::Visitor(2).may_become(Role::Visitor(3)).unwrap_err().code, ErrorCode::WrongRole);
    }
}
