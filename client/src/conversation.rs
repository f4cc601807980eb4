//! One chat session from one participant's side, with the protocol's idempotency and
//! resume rules built in:
//!
//! - every message gets a fresh `client_msg_id` (`<prefix>-<n>`); a message stays in the
//!   outbox until its `message_ack` arrives, and [`Conversation::resume`] re-sends what was
//!   never acknowledged with the *same* ids, so a retry can never create a duplicate;
//! - received messages are applied by seq: duplicates are dropped, and `last_seq` is the
//!   highest seq up to which every message was seen, which is what resuming sends;
//! - [`Conversation::resume`] (on a new connection) pages through `attached` replies until
//!   `has_more` is false, so nothing missed is skipped.

use std::collections::{BTreeMap, VecDeque};

use switchboard_protocol::{Message, Request, Sender, ServerFrame, SessionId, SessionInfo};

use crate::{Client, ClientError};

/// Who this side of the conversation is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Side {
    /// The visitor, holding its session token.
    Visitor { session_token: String },
    /// An agent (already authenticated on the connection it uses).
    Agent,
}

/// A chat session as seen by one participant.
#[derive(Debug)]
pub struct Conversation {
    pub session_id: SessionId,
    pub side: Side,
    /// Highest seq up to which every message has been received.
    pub last_seq: u64,
    prefix: String,
    next_id: u64,
    /// Sent, not yet acknowledged: (client_msg_id, text), oldest first.
    unacked: VecDeque<(String, String)>,
    /// Received beyond `last_seq` (a gap is waiting to be filled).
    ahead: BTreeMap<u64, Message>,
}

impl Conversation {
    /// Track `session` from `side`; `prefix` makes this participant's message ids unique
    /// (e.g. a device id).
    pub fn new(session_id: SessionId, side: Side, prefix: impl Into<String>) -> Conversation {
        Conversation {
            session_id,
            side,
            last_seq: 0,
            prefix: prefix.into(),
            next_id: 1,
            unacked: VecDeque::new(),
            ahead: BTreeMap::new(),
        }
    }

    /// Start a chat as a visitor on `client`.
    pub async fn start(
        client: &Client,
        name: Option<String>,
        prefix: &str,
    ) -> Result<(Conversation, SessionInfo), ClientError> {
        let request = Request::StartChat {
            name,
            email: None,
            page_url: None,
            first_message: None,
            client_msg_id: None,
            department: None,
        };
        match client.call(request).await? {
            ServerFrame::ChatStarted { session_token, session, .. } => {
                let side = Side::Visitor { session_token };
                Ok((Conversation::new(session.session_id, side, prefix), session))
            }
            other => Err(unexpected(other)),
        }
    }

    /// Accept a waiting session as an agent on `client` (authenticated).
    pub async fn accept(
        client: &Client,
        session_id: SessionId,
        prefix: &str,
    ) -> Result<(Conversation, SessionInfo), ClientError> {
        match client.call(Request::Accept { session_id }).await? {
            ServerFrame::Accepted { session, .. } => {
                let mut conversation = Conversation::new(session_id, Side::Agent, prefix);
                conversation.last_seq = session.last_seq;
                Ok((conversation, session))
            }
            other => Err(unexpected(other)),
        }
    }

    /// Send a message and wait for its durable acknowledgement; returns its seq. On any
    /// failure the message stays queued and is re-sent, with the same id, by `resume`.
    pub async fn send(&mut self, client: &Client, text: &str) -> Result<u64, ClientError> {
        let id = format!("{}-{}", self.prefix, self.next_id);
        self.next_id += 1;
        self.unacked.push_back((id.clone(), text.to_string()));
        self.send_queued(client, &id, text).await
    }

    async fn send_queued(&mut self, client: &Client, id: &str, text: &str) -> Result<u64, ClientError> {
        let request = Request::SendMessage {
            session_id: self.session_id,
            client_msg_id: id.to_string(),
            text: text.to_string(),
        };
        match client.call(request).await? {
            ServerFrame::MessageAck { seq, sent_at_ms, .. } => {
                self.unacked.retain(|(queued, _)| queued != id);
                // The server does not echo our own messages back as events: count ours as
                // seen, so `last_seq` moves past them and a resume does not replay them.
                let from = match self.side {
                    Side::Visitor { .. } => Sender::Visitor,
                    Side::Agent => Sender::Agent,
                };
                let own = Message {
                    seq,
                    from,
                    agent_id: None,
                    client_msg_id: id.to_string(),
                    text: text.to_string(),
                    sent_at_ms,
                };
                self.apply(vec![own]);
                Ok(seq)
            }
            other => Err(unexpected(other)),
        }
    }

    /// Messages sent but not acknowledged yet.
    pub fn unacked(&self) -> usize {
        self.unacked.len()
    }

    /// Apply a frame received on the connection; returns the messages of this session that
    /// are new and now in order (possibly several, when a gap was filled).
    pub fn observe(&mut self, frame: &ServerFrame) -> Vec<Message> {
        match frame {
            ServerFrame::Message { session_id, message } if *session_id == self.session_id => {
                self.apply(vec![message.clone()])
            }
            _ => Vec::new(),
        }
    }

    fn apply(&mut self, messages: Vec<Message>) -> Vec<Message> {
        for message in messages {
            if message.seq > self.last_seq {
                self.ahead.insert(message.seq, message);
            }
        }
        let mut ready = Vec::new();
        while let Some(message) = self.ahead.remove(&(self.last_seq + 1)) {
            self.last_seq = message.seq;
            ready.push(message);
        }
        ready
    }

    /// After (re)connecting `client` (an agent connection must be authenticated first):
    /// fetch everything after `last_seq`, page by page, subscribe again, then re-send every
    /// unacknowledged message with its original id. Returns the missed messages in order.
    pub async fn resume(&mut self, client: &Client) -> Result<Vec<Message>, ClientError> {
        let mut missed = Vec::new();
        loop {
            let request = match &self.side {
                Side::Visitor { session_token } => {
                    Request::ResumeChat { session_token: session_token.clone(), after_seq: self.last_seq }
                }
                Side::Agent => Request::Attach { session_id: self.session_id, after_seq: self.last_seq },
            };
            let ServerFrame::Attached { messages, has_more, .. } = client.call(request).await? else {
                return Err(ClientError::Closed(client.close_info()));
            };
            missed.extend(self.apply(messages));
            if !has_more {
                break;
            }
        }
        let queued: Vec<(String, String)> = self.unacked.iter().cloned().collect();
        for (id, text) in queued {
            self.send_queued(client, &id, &text).await?;
        }
        Ok(missed)
    }
}

fn unexpected(frame: ServerFrame) -> ClientError {
    match frame {
        ServerFrame::Error { code, message, .. } => ClientError::Server { code, message },
        other => ClientError::Server {
            code: switchboard_protocol::ErrorCode::Internal,
            message: format!("unexpected reply {other:?}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(seq: u64) -> ServerFrame {
        ServerFrame::Message {
            session_id: 1,
            message: Message {
                seq,
                from: Sender::Agent,
                agent_id: Some(2),
                client_msg_id: format!("a{seq}"),
                text: format!("t{seq}"),
                sent_at_ms: 0,
            },
        }
    }

    #[test]
    fn messages_apply_in_seq_order_once() {
        let mut c = Conversation::new(1, Side::Agent, "x");
        // (frame seq, seqs released)
        let script: [(u64, Vec<u64>); 5] =
            [(1, vec![1]), (3, vec![]), (3, vec![]), (2, vec![2, 3]), (1, vec![])];
        for (seq, expected) in script {
            let released: Vec<u64> = c.observe(&message(seq)).iter().map(|m| m.seq).collect();
            assert_eq!(released, expected, "after seq {seq}");
        }
        assert_eq!(c.last_seq, 3);
    }
}
