//! One chat session's rules: who may accept, post, type and close, in which state. Its
//! messages are a [`Log`] (sequence numbers, idempotency by client message id, the replay
//! tail), the mechanism channels share. Pure: the caller persists what this returns and
//! reports durability back.

use super::log::{Appended, Entry, Log, LogError, LogLimits};
use super::types::*;

/// A session's replay: its durable messages after a seq.
pub type Replay = super::log::Replay<ChatMessage>;

impl Entry for ChatMessage {
    type Author = Participant;
    fn seq(&self) -> Seq {
        self.seq
    }
    fn author(&self) -> Participant {
        self.from
    }
    fn client_msg_id(&self) -> &str {
        &self.client_msg_id
    }
    fn sent_at_ms(&self) -> u64 {
        self.sent_at_ms
    }
}

/// Why a session refused an action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// Another agent accepted first.
    #[error("session {0} was already accepted by another agent")]
    AlreadyTaken(SessionId),
    /// The session is closed.
    #[error("session {0} is closed")]
    Closed(SessionId),
    /// The session is not assigned to the acting agent.
    #[error("session {0} is not assigned to you")]
    NotYours(SessionId),
    /// The session holds its maximum number of messages.
    #[error("session {0} is full ({1} messages)")]
    Full(SessionId, u64),
    /// The text is empty or longer than allowed.
    #[error("message text must be 1 to {max} bytes, got {len}")]
    BadText { len: usize, max: usize },
}

/// Per-session limits: those of its log.
pub type SessionLimits = LogLimits;

/// Outcome of a post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Post {
    /// A new message: persist it, then report it with [`Session::message_durable`].
    New(ChatMessage),
    /// This client message id was already posted as `seq` at `sent_at_ms`; nothing new to
    /// write. The original may still be in flight (`seq` > [`Session::durable_seq`]).
    Duplicate { seq: Seq, sent_at_ms: u64 },
}

/// A chat session's live state.
#[derive(Debug, Clone)]
pub struct Session {
    meta: SessionMeta,
    /// Client message ids are scoped per sender, so a visitor and an agent that both pick
    /// `m1` do not collide.
    log: Log<ChatMessage>,
}

impl Session {
    /// Rebuild a session from its stored metadata and every stored message, oldest first.
    pub fn restore(meta: SessionMeta, messages: Vec<ChatMessage>, limits: SessionLimits) -> Session {
        Session { meta, log: Log::restore(messages, limits) }
    }

    /// The session's metadata as it stands (including changes not yet durable).
    pub fn meta(&self) -> &SessionMeta {
        &self.meta
    }

    /// Metadata plus the newest durable seq.
    pub fn snapshot(&self) -> SessionSnapshot {
        SessionSnapshot { meta: self.meta.clone(), last_seq: self.log.durable_seq() }
    }

    /// Newest durable seq.
    pub fn durable_seq(&self) -> Seq {
        self.log.durable_seq()
    }

    /// Claim a waiting session for `agent`. Returns the new metadata to persist, or `None`
    /// when the agent already holds it (an idempotent retry).
    pub fn accept(&mut self, agent: AgentId, now_ms: u64) -> Result<Option<SessionMeta>, SessionError> {
        match self.meta.state {
            State::Closed => Err(SessionError::Closed(self.meta.id)),
            State::Active if self.meta.agent_id == Some(agent) => Ok(None),
            State::Active => Err(SessionError::AlreadyTaken(self.meta.id)),
            State::Waiting => {
                self.meta.state = State::Active;
                self.meta.agent_id = Some(agent);
                self.meta.accepted_at_ms = Some(now_ms);
                Ok(Some(self.meta.clone()))
            }
        }
    }

    /// Put the session back in the queue: its agent `agent` went offline and the
    /// department's policy returns such chats. Returns the metadata to persist.
    pub fn requeue(&mut self, agent: AgentId) -> Result<SessionMeta, SessionError> {
        self.check_participant(Participant::Agent(agent))?;
        self.meta.state = State::Waiting;
        self.meta.agent_id = None;
        self.meta.accepted_at_ms = None;
        Ok(self.meta.clone())
    }

    /// Change the session's queue priority (higher is served first); refused once closed.
    /// Returns the metadata to persist.
    pub fn set_priority(&mut self, priority: i64) -> Result<SessionMeta, SessionError> {
        if self.meta.state == State::Closed {
            return Err(SessionError::Closed(self.meta.id));
        }
        self.meta.priority = priority;
        Ok(self.meta.clone())
    }

    /// Hand the session from its agent `from` to agent `to` (an accepted transfer). Returns
    /// the metadata to persist.
    pub fn reassign(
        &mut self,
        from: AgentId,
        to: AgentId,
        department: Option<DepartmentId>,
    ) -> Result<SessionMeta, SessionError> {
        self.check_participant(Participant::Agent(from))?;
        self.meta.agent_id = Some(to);
        if let Some(department) = department {
            self.meta.department_id = department;
        }
        Ok(self.meta.clone())
    }

    /// Close the session; only its assigned agent may. Returns the metadata to persist.
    pub fn close(&mut self, agent: AgentId, now_ms: u64) -> Result<SessionMeta, SessionError> {
        self.check_participant(Participant::Agent(agent))?;
        self.meta.state = State::Closed;
        self.meta.closed_at_ms = Some(now_ms);
        Ok(self.meta.clone())
    }

    /// Post a message. Visitors may post while waiting or active; agents only to their own
    /// active session. A `client_msg_id` this sender already used returns the original.
    pub fn post(
        &mut self,
        from: Participant,
        client_msg_id: &str,
        text: &str,
        now_ms: u64,
    ) -> Result<Post, SessionError> {
        // A retry of a stored message is answered even after the session closed: the
        // sender learns its message was kept.
        if let Some(Appended::Duplicate { seq, sent_at_ms }) = self.log.duplicate(from, client_msg_id) {
            return Ok(Post::Duplicate { seq, sent_at_ms });
        }
        self.check_participant(from)?;
        match self.log.append(from, client_msg_id, text.len(), now_ms) {
            Err(LogError::BadText { len, max }) => Err(SessionError::BadText { len, max }),
            Err(LogError::Full { max }) => Err(SessionError::Full(self.meta.id, max)),
            Ok(Appended::Duplicate { seq, sent_at_ms }) => Ok(Post::Duplicate { seq, sent_at_ms }),
            Ok(Appended::New { seq, sent_at_ms }) => Ok(Post::New(ChatMessage {
                seq,
                from,
                client_msg_id: client_msg_id.to_string(),
                text: text.to_string(),
                sent_at_ms,
            })),
        }
    }

    /// Take back the newest post, whose write storage refused before accepting it (nothing
    /// was written), so the seq is handed out again and a retry is not a duplicate.
    pub fn undo_post(&mut self, message: &ChatMessage) {
        self.log.undo(message);
    }

    /// Put back metadata whose write storage refused before accepting it.
    pub fn undo_meta(&mut self, previous: SessionMeta) {
        self.meta = previous;
    }

    /// A typing indicator from `from`: allowed where posting is.
    pub fn typing(&self, from: Participant) -> Result<(), SessionError> {
        self.check_participant(from)
    }

    /// Report that message `message` is durable. Messages must be reported in seq order.
    pub fn message_durable(&mut self, message: ChatMessage) {
        self.log.durable(message);
    }

    /// Durable messages with seq > `after_seq`, at most `max` of them.
    pub fn replay(&self, after_seq: Seq, max: usize) -> Replay {
        self.log.replay(after_seq, max)
    }

    fn check_participant(&self, who: Participant) -> Result<(), SessionError> {
        let id = self.meta.id;
        match (self.meta.state, who) {
            (State::Closed, _) => Err(SessionError::Closed(id)),
            (_, Participant::Visitor) => Ok(()),
            (State::Active, Participant::Agent(a)) if self.meta.agent_id == Some(a) => Ok(()),
            (_, Participant::Agent(_)) => Err(SessionError::NotYours(id)),
        }
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
