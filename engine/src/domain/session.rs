//! One chat session's rules: who may accept, post, type and close, in which state; message
//! sequence numbers; idempotency by client message id; the in-memory tail used to replay
//! missed messages. Pure: the caller persists what this returns and reports durability back.
//!
//! Invariant: `durable_seq <= last_seq`; every seq in `1..=last_seq` was handed out exactly
//! once, and seqs become durable in order (the actor's [`super::pipeline::Pipeline`]).

use std::collections::{HashMap, VecDeque};

use super::types::*;

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

/// Per-session limits.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Largest message text in bytes.
    pub text_bytes_max: usize,
    /// Most messages one session may hold.
    pub messages_max: u64,
    /// Most recent durable messages kept in memory for replay.
    pub tail_max: usize,
}

/// Outcome of a post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Post {
    /// A new message: persist it, then report it with [`Session::message_durable`].
    New(ChatMessage),
    /// This client message id was already posted as `seq` at `sent_at_ms`; nothing new to
    /// write. The original may still be in flight (`seq` > [`Session::durable_seq`]).
    Duplicate { seq: Seq, sent_at_ms: u64 },
}

/// Outcome of a replay request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// The missed messages (at most the asked number) and whether more remain.
    Messages { messages: Vec<ChatMessage>, has_more: bool },
    /// The range starts before the in-memory tail: read it from storage up to `durable_seq`.
    FromStorage { durable_seq: Seq },
}

/// A chat session's live state.
#[derive(Debug, Clone)]
pub struct Session {
    meta: SessionMeta,
    limits: SessionLimits,
    last_seq: Seq,
    durable_seq: Seq,
    /// (sender, client message id) → (seq, sent_at_ms): ids are scoped per sender, so a
    /// visitor and an agent that both pick `m1` do not collide.
    dedup: HashMap<(Participant, String), (Seq, u64)>,
    tail: VecDeque<ChatMessage>,
}

impl Session {
    /// Rebuild a session from its stored metadata and every stored message, oldest first.
    pub fn restore(meta: SessionMeta, messages: Vec<ChatMessage>, limits: SessionLimits) -> Session {
        let last = messages.last().map_or(0, |m| m.seq);
        let dedup =
            messages.iter().map(|m| ((m.from, m.client_msg_id.clone()), (m.seq, m.sent_at_ms))).collect();
        let skip = messages.len().saturating_sub(limits.tail_max);
        let tail = messages.into_iter().skip(skip).collect();
        Session { meta, limits, last_seq: last, durable_seq: last, dedup, tail }
    }

    /// The session's metadata as it stands (including changes not yet durable).
    pub fn meta(&self) -> &SessionMeta {
        &self.meta
    }

    /// Metadata plus the newest durable seq.
    pub fn snapshot(&self) -> SessionSnapshot {
        SessionSnapshot { meta: self.meta.clone(), last_seq: self.durable_seq }
    }

    /// Newest durable seq.
    pub fn durable_seq(&self) -> Seq {
        self.durable_seq
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
        let key = (from, client_msg_id.to_string());
        // A retry of a stored message is answered even after the session closed: the
        // sender learns its message was kept.
        if let Some(&(seq, sent_at_ms)) = self.dedup.get(&key) {
            return Ok(Post::Duplicate { seq, sent_at_ms });
        }
        self.check_participant(from)?;
        if text.is_empty() || text.len() > self.limits.text_bytes_max {
            return Err(SessionError::BadText { len: text.len(), max: self.limits.text_bytes_max });
        }
        if self.last_seq >= self.limits.messages_max {
            return Err(SessionError::Full(self.meta.id, self.limits.messages_max));
        }
        self.last_seq += 1;
        self.dedup.insert(key, (self.last_seq, now_ms));
        Ok(Post::New(ChatMessage {
            seq: self.last_seq,
            from,
            client_msg_id: client_msg_id.to_string(),
            text: text.to_string(),
            sent_at_ms: now_ms,
        }))
    }

    /// Take back the newest post, whose write storage refused before accepting it (nothing
    /// was written), so the seq is handed out again and a retry is not a duplicate.
    pub fn undo_post(&mut self, message: &ChatMessage) {
        if message.seq == self.last_seq && self.last_seq > self.durable_seq {
            self.last_seq -= 1;
            self.dedup.remove(&(message.from, message.client_msg_id.clone()));
        }
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
        debug_assert_eq!(message.seq, self.durable_seq + 1, "durable out of order");
        self.durable_seq = message.seq;
        self.tail.push_back(message);
        while self.tail.len() > self.limits.tail_max {
            self.tail.pop_front();
        }
    }

    /// Durable messages with seq > `after_seq`, at most `max` of them.
    pub fn replay(&self, after_seq: Seq, max: usize) -> Replay {
        if after_seq >= self.durable_seq {
            return Replay::Messages { messages: Vec::new(), has_more: false };
        }
        match self.tail.front() {
            Some(first) if first.seq <= after_seq + 1 => {
                // Search rather than index: seqs are gapless except after a failed write.
                let start = self.tail.partition_point(|m| m.seq <= after_seq);
                let messages: Vec<ChatMessage> = self.tail.iter().skip(start).take(max).cloned().collect();
                let has_more = messages.last().is_some_and(|m| m.seq < self.durable_seq);
                Replay::Messages { messages, has_more }
            }
            _ => Replay::FromStorage { durable_seq: self.durable_seq },
        }
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
