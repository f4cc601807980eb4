//! Answers to a connection's requests. A session actor answers straight into the asking
//! connection's queue (its [`Outbox`], tagged with the request id), the same queue its
//! events travel in: no channel, future or task per request.
//!
//! Every request handed to an actor is answered exactly once: [`Reply`] answers `internal`
//! if it is dropped unanswered (the actor panicked or stopped with the command queued), and
//! the engine [`Reply::cancel`]s it when it returns the error itself instead.

use std::sync::Arc;

use crate::domain::types::*;
use crate::hub::Hub;
use crate::outbox::Outbox;
use crate::EngineError;

/// A durable post (or a retry of one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub session_id: SessionId,
    pub seq: Seq,
    pub sent_at_ms: u64,
    /// The client's id for the message, echoed in the acknowledgement.
    pub client_msg_id: String,
    /// The client message id had been posted before; nothing new was written.
    pub duplicate: bool,
}

/// The answer to an attach: missed messages and whether more remain (then not subscribed).
#[derive(Debug, Clone)]
pub struct Attached {
    pub session: SessionSnapshot,
    pub messages: Vec<ChatMessage>,
    pub has_more: bool,
}

/// What a session actor answers.
#[derive(Debug, Clone)]
pub enum Answer {
    /// The session is this agent's (durable).
    Accepted(SessionSnapshot),
    /// The session is closed (durable).
    Closed(SessionSnapshot),
    /// The message is durable.
    Posted(Posted),
    /// Subscribed (unless `has_more`), with the missed messages.
    Attached(Attached),
    /// Done; nothing to report (typing, detach).
    Done,
    /// A team channel's answer.
    Channel(crate::channels::ChannelAnswer),
}

/// Where an answer goes: a connection's queue and the request id it answers.
#[derive(Clone)]
pub struct ReplyTo {
    pub outbox: Outbox,
    pub req: u64,
}

/// Releases an agent's reserved chat slot when dropped.
pub(crate) struct Reservation {
    pub(crate) hub: Arc<Hub>,
    pub(crate) agent: AgentId,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.hub.queue().release(self.agent);
        // A slot that did not become a chat is free again: departments may offer it.
        for actor in self.hub.routing.of_agent(self.agent) {
            actor.do_send(crate::routing::queue_actor::QueueMsg::CapacityChanged);
        }
    }
}

/// Puts a chat back in its department's line if the accept routing handed over is refused
/// (a storage failure, the actor crashed): the router let the chat go when it chose the
/// agent, and the session, still waiting, must not drop out of routing.
pub(crate) struct Requeue {
    pub(crate) hub: Arc<Hub>,
    pub(crate) session: SessionId,
}

impl Requeue {
    fn run(self) {
        let waiting = self.hub.queue().get(self.session).filter(|s| s.meta.state == State::Waiting).cloned();
        if let Some(snapshot) = waiting {
            self.hub.enqueue(&snapshot);
        }
    }
}

/// The actor's handle for answering one request exactly once.
pub(crate) struct Reply {
    to: Option<ReplyTo>,
    /// Held until the answer is sent (an accept's capacity reservation).
    hold: Option<Reservation>,
    /// Run if the request fails or is never answered.
    requeue: Option<Requeue>,
}

impl Reply {
    pub(crate) fn new(to: ReplyTo, hold: Option<Reservation>) -> Reply {
        Reply { to: Some(to), hold, requeue: None }
    }

    /// If this request fails (or is never answered), the chat goes back in line.
    pub(crate) fn requeue_on_failure(mut self, requeue: Requeue) -> Reply {
        self.requeue = Some(requeue);
        self
    }

    /// A reply nobody waits for that holds a reservation until the command is answered
    /// (an automatic assignment).
    pub(crate) fn holding(hold: Reservation) -> Reply {
        Reply { to: None, hold: Some(hold), requeue: None }
    }

    /// A reply nobody waits for (the engine's own commands).
    pub(crate) fn silent() -> Reply {
        Reply { to: None, hold: None, requeue: None }
    }

    /// Answer. Whatever the reply held is released after the answer is queued.
    pub(crate) fn send(mut self, answer: Result<Answer, EngineError>) {
        let requeue = self.requeue.take().filter(|_| answer.is_err());
        if let Some(to) = self.to.take() {
            to.outbox.answer(to.req, answer);
        }
        // The slot is released before the chat is queued again, so it can be offered to it.
        self.hold = None;
        if let Some(requeue) = requeue {
            requeue.run();
        }
    }

    /// Give up answering: the caller reports the error itself.
    pub(crate) fn cancel(&mut self) {
        self.to = None;
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if let Some(to) = self.to.take() {
            let error = "the session failed while handling this request; it was restarted";
            to.outbox.answer(to.req, Err(EngineError::Internal(error.into())));
        }
        self.hold = None;
        if let Some(requeue) = self.requeue.take() {
            requeue.run();
        }
    }
}

/// A reply for a caller without a connection (the HTTP API, the engine itself), and the
/// answer it will get.
pub(crate) fn oneshot_reply() -> (Reply, impl std::future::Future<Output = Result<Answer, EngineError>>) {
    let (to, answer) = oneshot_reply_to();
    (Reply::new(to, None), answer)
}

/// [`oneshot_reply`] for the engine's own methods that take a [`ReplyTo`].
pub(crate) fn oneshot_reply_to() -> (ReplyTo, impl std::future::Future<Output = Result<Answer, EngineError>>)
{
    let (outbox, mut inbox) = Outbox::channel(crate::outbox::ConnId::MAX, 1, 1);
    let to = ReplyTo { outbox, req: 0 };
    let answer = async move {
        loop {
            match inbox.recv().await {
                Some(crate::outbox::Outgoing::Answer { answer, .. }) => return answer,
                Some(
                    crate::outbox::Outgoing::Event(_)
                    | crate::outbox::Outgoing::Broadcast(_)
                    | crate::outbox::Outgoing::Relayed(_)
                    | crate::outbox::Outgoing::Encoded(_),
                ) => continue,
                None => return Err(EngineError::Internal("the actor stopped before answering".into())),
            }
        }
    };
    (to, answer)
}
