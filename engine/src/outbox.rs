//! Each connection's bounded queue of events and answers. The engine delivers events with
//! [`Outbox::deliver`], which never waits: when the events' share of the queue is full the
//! connection is marked overflowed, and the gateway closes it with a reason (the client
//! resumes from its last seq). A slow client therefore costs only its own queue, never
//! another client's latency. Answers to the connection's own requests
//! ([`Outbox::answer`]) travel in the same queue, in room reserved for them: a connection
//! has at most `answers_max` requests in flight, so an answer always fits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use std::collections::VecDeque;
use std::sync::atomic::AtomicUsize;
use std::sync::{Mutex, OnceLock};

use bytes::Bytes;
use switchboard_protocol::codec::Encoding;
use tokio::sync::Notify;

use crate::answer::Answer;
use crate::domain::types::*;
use crate::EngineError;

/// Identifies one client connection for the server's lifetime.
pub type ConnId = u64;

/// Something a connection is told without having asked.
#[derive(Debug, Clone)]
pub enum Event {
    /// To agents: a new waiting session, with the receiving agent's unread count.
    SessionCreated { session: Arc<SessionSnapshot>, unread: u64 },
    /// A session changed; `unread` is the receiving agent's count (`None` for visitors).
    SessionUpdated { session: Arc<SessionSnapshot>, unread: Option<u64> },
    /// A new durable message in a session the connection is attached to; `received` is
    /// when its session actor took the post (the start of its delivery latency).
    Message { session_id: SessionId, message: Arc<ChatMessage>, received: std::time::Instant },
    /// Someone started or stopped typing in an attached session.
    Typing { session_id: SessionId, from: Participant, typing: bool },
    /// To an agent: this waiting session is offered to it until `expires_at_ms`.
    Offer { session: Arc<SessionSnapshot>, expires_at_ms: u64 },
    /// To an agent: its offer of this session is void, and why.
    OfferWithdrawn { session_id: SessionId, reason: &'static str },
    /// To an agent: another agent hands it this active session, with a note; through
    /// `department` when the chat was transferred to a department (it moves there).
    TransferOffer {
        session: Arc<SessionSnapshot>,
        from: AgentId,
        department: Option<crate::DepartmentId>,
        note: Option<String>,
        expires_at_ms: u64,
    },
    /// To the agent who asked for a transfer: the receiver declined it or let it expire.
    TransferRefused { session_id: SessionId, to: AgentId, reason: &'static str },
    /// To a waiting visitor: its place in line and the estimated wait.
    QueuePosition { session_id: SessionId, position: u32, estimated_wait_ms: Option<u64> },
    /// To every connected member: a new durable message in a channel.
    ChannelMessage { channel_id: u64, message: Arc<crate::domain::channel::ChannelMessage> },
    /// To every connected member: a channel message was edited or deleted.
    ChannelMessageChanged { channel_id: u64, message: Arc<crate::domain::channel::ChannelMessage> },
    /// To every connected member: the channel's metadata changed (archived, topic, folder).
    ChannelUpdated { channel: Arc<crate::channels::ChannelSummary> },
    /// To the channel's members and to `agent`: `agent` joined (`joined`) or left the channel.
    ChannelMembership { channel: Arc<crate::channels::ChannelSummary>, agent: AgentId, joined: bool },
}

/// One event for many connections (a channel's members, a session's subscribers): built
/// once, and encoded once per wire encoding. The first connection of each encoding to send
/// it encodes it; every other connection sends the same bytes (a reference count, no copy
/// on WebSocket). Fan-out to N members therefore costs one encoding, not N.
#[derive(Debug)]
pub struct Broadcast {
    pub event: Event,
    /// The encoded frame, per encoding (`Encoding::index`).
    encoded: [OnceLock<Bytes>; Encoding::COUNT],
}

impl Broadcast {
    /// Share `event`.
    pub fn new(event: Event) -> Arc<Broadcast> {
        Arc::new(Broadcast { event, encoded: Default::default() })
    }

    /// The event's frame in `encoding`: `encode` runs for the first caller of each
    /// encoding, later callers get its bytes.
    pub fn encoded(&self, encoding: Encoding, encode: impl FnOnce(&Event) -> Vec<u8>) -> Bytes {
        let encoded = self.encoded[encoding.index()].get_or_init(|| {
            metrics::counter!("switchboard_broadcast_encodings_total").increment(1);
            Bytes::from(encode(&self.event))
        });
        encoded.clone()
    }
}

/// What a connection's queue carries.
#[derive(Debug)]
pub enum Outgoing {
    /// Something it is told without having asked.
    Event(Event),
    /// Something it is told along with other connections (encoded once for all of them).
    Broadcast(Arc<Broadcast>),
    /// The answer to its request `req`.
    Answer { req: u64, answer: Result<Answer, EngineError> },
    /// Cluster mode: a frame already encoded by another node, for this connection's
    /// request or subscription there (`gateway::relay`): sent as it is.
    Relayed(bytes::Bytes),
    /// Cluster mode: an event of another node's channel, encoded there in both encodings
    /// (the connection sends the one it speaks).
    Encoded(Arc<[bytes::Bytes; 2]>),
}

impl Outgoing {
    /// The event carried, shared or not; `None` for an answer.
    pub fn event(&self) -> Option<&Event> {
        match self {
            Outgoing::Event(event) => Some(event),
            Outgoing::Broadcast(shared) => Some(&shared.event),
            Outgoing::Answer { .. } | Outgoing::Relayed(_) | Outgoing::Encoded(_) => None,
        }
    }
}

/// Result of a delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Queued for the connection.
    Queued,
    /// An optional event left out because the connection's queue is over half full.
    Skipped,
    /// The queue was full: the connection is now marked overflowed and will be closed.
    Overflowed,
    /// The connection is gone.
    Gone,
}

/// Slots a drained queue keeps allocated; beyond this it frees its memory once empty.
const QUEUE_KEPT_SLOTS: usize = 8;

/// The queue both sides share. A plain deque under a lock (taken for a push or a pop,
/// never across an await) rather than a channel: it allocates nothing until the first
/// event and gives a burst's memory back once drained, so an idle connection holds none.
struct Shared {
    queue: Mutex<VecDeque<Outgoing>>,
    /// Wakes the receiver when something was queued or the last sender left.
    ready: Notify,
    /// Live `Outbox` clones; the inbox ends when it reaches zero.
    senders: AtomicUsize,
    receiver_alive: AtomicBool,
    overflowed: AtomicBool,
    /// The connection's credential was revoked (agent disabled, token rotated).
    revoked: AtomicBool,
    /// Cluster mode: what this connection follows moved to another node, or the node
    /// serving it went away: it is closed, to reconnect and resume.
    moved: AtomicBool,
    overflow_notify: Notify,
    /// Events queued beyond this count as overflow; answers may use `answers_max` more.
    events_max: usize,
    answers_max: usize,
}

/// The engine's handle for sending events to one connection. Cheap to clone.
pub struct Outbox {
    id: ConnId,
    shared: Arc<Shared>,
}

/// The connection's receiving side.
pub struct Inbox {
    shared: Arc<Shared>,
}

impl Clone for Outbox {
    fn clone(&self) -> Outbox {
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        Outbox { id: self.id, shared: self.shared.clone() }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.ready.notify_one();
        }
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.shared.receiver_alive.store(false, Ordering::Release);
    }
}

impl Outbox {
    /// A connected pair with room for `events_max` events and `answers_max` answers.
    pub fn channel(id: ConnId, events_max: usize, answers_max: usize) -> (Outbox, Inbox) {
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            ready: Notify::new(),
            senders: AtomicUsize::new(1),
            receiver_alive: AtomicBool::new(true),
            overflowed: AtomicBool::new(false),
            revoked: AtomicBool::new(false),
            moved: AtomicBool::new(false),
            overflow_notify: Notify::new(),
            events_max,
            answers_max,
        });
        (Outbox { id, shared: shared.clone() }, Inbox { shared })
    }

    /// An outbox whose connection is already gone: everything delivered to it is dropped
    /// (a subscriber for an assignment no connection asked for).
    pub fn closed() -> Outbox {
        Outbox::channel(0, 1, 1).0
    }

    /// Close the connection: its credential no longer holds (the agent was disabled or its
    /// token rotated). The connection ends as on overflow, with its own close code.
    pub fn revoke(&self) {
        self.shared.revoked.store(true, Ordering::Release);
        self.shared.overflow_notify.notify_waiters();
    }

    /// Cluster mode: close the connection because a session it follows is now served by
    /// another node (or the node relaying for it is gone); the client reconnects and
    /// resumes. The connection ends as on overflow, with its own close code.
    pub fn moved(&self) {
        self.shared.moved.store(true, Ordering::Release);
        self.shared.overflow_notify.notify_waiters();
    }

    /// Queue a frame another node encoded for this connection (cluster mode), counted
    /// against the events' room like any event.
    pub fn relay(&self, frame: bytes::Bytes) -> Delivery {
        self.queue(Outgoing::Relayed(frame), self.shared.events_max)
    }

    /// Queue another node's event, encoded there in both encodings (cluster mode), like
    /// any event.
    pub fn deliver_encoded(&self, frames: &Arc<[bytes::Bytes; 2]>) -> Delivery {
        self.queue(Outgoing::Encoded(frames.clone()), self.shared.events_max)
    }

    /// The connection this outbox belongs to.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// True when the connection has gone away or overflowed (stop delivering to it).
    pub fn is_closed(&self) -> bool {
        !self.shared.receiver_alive.load(Ordering::Acquire) || self.shared.overflowed.load(Ordering::Relaxed)
    }

    /// Queue an event that may be skipped: only while the queue is less than half full, so
    /// a burst of optional events (typing, badge updates) never overflows a connection.
    pub fn offer(&self, event: Event) -> Delivery {
        if self.half_full() {
            return Delivery::Skipped;
        }
        self.deliver(event)
    }

    /// More than half the events' room is taken (an optional event is skipped, and counted).
    fn half_full(&self) -> bool {
        let queued = self.shared.queue.lock().expect("outbox lock").len();
        let full = queued * 2 > self.shared.events_max;
        if full {
            metrics::counter!("switchboard_events_skipped_total").increment(1);
        }
        full
    }

    /// Queue an event without waiting.
    pub fn deliver(&self, event: Event) -> Delivery {
        self.queue(Outgoing::Event(event), self.shared.events_max)
    }

    /// Queue a shared event without waiting (as [`Outbox::deliver`]).
    pub fn deliver_shared(&self, event: &Arc<Broadcast>) -> Delivery {
        self.queue(Outgoing::Broadcast(event.clone()), self.shared.events_max)
    }

    /// Queue a shared event that may be skipped (as [`Outbox::offer`]).
    pub fn offer_shared(&self, event: &Arc<Broadcast>) -> Delivery {
        if self.half_full() {
            return Delivery::Skipped;
        }
        self.deliver_shared(event)
    }

    /// Queue the answer to request `req` (into the room reserved for answers).
    pub fn answer(&self, req: u64, answer: Result<Answer, EngineError>) -> Delivery {
        self.queue(Outgoing::Answer { req, answer }, self.shared.events_max + self.shared.answers_max)
    }

    /// Queue `item` if fewer than `max` items are queued; otherwise the connection has
    /// overflowed (for answers: only if more were in flight than allowed).
    fn queue(&self, item: Outgoing, max: usize) -> Delivery {
        if !self.shared.receiver_alive.load(Ordering::Acquire) {
            return Delivery::Gone;
        }
        {
            let mut queue = self.shared.queue.lock().expect("outbox lock");
            if queue.len() < max {
                queue.push_back(item);
                drop(queue);
                self.shared.ready.notify_one();
                return Delivery::Queued;
            }
        }
        if !self.shared.overflowed.swap(true, Ordering::Relaxed) {
            metrics::counter!("switchboard_send_queue_overflows_total").increment(1);
            self.shared.overflow_notify.notify_one();
        }
        Delivery::Overflowed
    }
}

impl Inbox {
    /// The next event or answer; `None` once every outbox is dropped and the queue is
    /// empty. Cancel-safe: an item leaves the queue only when this returns it.
    pub async fn recv(&mut self) -> Option<Outgoing> {
        loop {
            let notified = self.shared.ready.notified();
            {
                let mut queue = self.shared.queue.lock().expect("outbox lock");
                if let Some(item) = queue.pop_front() {
                    if queue.is_empty() && queue.capacity() > QUEUE_KEPT_SLOTS {
                        // A burst is over: give its memory back (an idle connection holds
                        // no more than a few slots).
                        queue.shrink_to(0);
                    }
                    return Some(item);
                }
                if self.shared.senders.load(Ordering::Acquire) == 0 {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// A handle that resolves once this connection's queue has overflowed; separate from
    /// the inbox so a task can wait on both at once.
    pub fn overflow(&self) -> Overflow {
        Overflow { shared: self.shared.clone() }
    }
}

/// Waits for a connection's overflow.
pub struct Overflow {
    shared: Arc<Shared>,
}

impl Overflow {
    /// True once the queue has overflowed.
    pub fn happened(&self) -> bool {
        self.shared.overflowed.load(Ordering::Relaxed)
    }

    /// True once the connection's credential was revoked.
    pub fn revoked(&self) -> bool {
        self.shared.revoked.load(Ordering::Acquire)
    }

    /// True once what the connection follows moved to another node (cluster mode).
    pub fn moved(&self) -> bool {
        self.shared.moved.load(Ordering::Acquire)
    }

    /// Resolves once the queue has overflowed or the credential was revoked.
    pub async fn wait(&self) {
        loop {
            let notified = self.shared.overflow_notify.notified();
            if self.shared.overflowed.load(Ordering::Relaxed) || self.revoked() || self.moved() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typing() -> Event {
        Event::Typing { session_id: 1, from: Participant::Visitor, typing: true }
    }

    #[tokio::test]
    async fn optional_events_are_skipped_before_the_queue_fills() {
        let (outbox, _inbox) = Outbox::channel(1, 4, 2);
        // Offers go in while at least half the queue is free (2 of 4 after two) …
        for _ in 0..3 {
            assert_eq!(outbox.offer(typing()), Delivery::Queued);
        }
        // … and are skipped once less than half is free; required events still fit.
        assert_eq!(outbox.offer(typing()), Delivery::Skipped);
        assert_eq!(outbox.deliver(typing()), Delivery::Queued);
        assert!(!outbox.is_closed(), "skipping never overflows the connection");
    }

    #[tokio::test]
    async fn overflow_marks_the_connection_instead_of_waiting() {
        let (outbox, mut inbox) = Outbox::channel(1, 2, 1);
        assert_eq!(outbox.deliver(typing()), Delivery::Queued);
        assert_eq!(outbox.deliver(typing()), Delivery::Queued);
        assert_eq!(outbox.deliver(typing()), Delivery::Overflowed);
        assert!(outbox.is_closed());
        // The answer's reserved room is still there.
        assert_eq!(outbox.answer(7, Ok(Answer::Done)), Delivery::Queued);
        inbox.overflow().wait().await;
        assert!(inbox.recv().await.is_some());
        drop(inbox);
        let (outbox, inbox) = Outbox::channel(2, 2, 1);
        drop(inbox);
        assert_eq!(outbox.deliver(typing()), Delivery::Gone);
    }

    #[tokio::test]
    async fn a_broadcast_is_encoded_once_per_encoding_for_every_connection() {
        let shared = Broadcast::new(typing());
        let mut boxes = Vec::new();
        for id in 0..10 {
            let (outbox, inbox) = Outbox::channel(id, 4, 1);
            assert_eq!(outbox.deliver_shared(&shared), Delivery::Queued);
            boxes.push((outbox, inbox));
        }
        let encodings = std::cell::Cell::new(0);
        let mut frames = Vec::new();
        for (i, (_, inbox)) in boxes.iter_mut().enumerate() {
            let Some(Outgoing::Broadcast(event)) = inbox.recv().await else { panic!("a shared event") };
            let encoding = if i % 2 == 0 { Encoding::Json } else { Encoding::MsgPack };
            frames.push(event.encoded(encoding, |e| {
                encodings.set(encodings.get() + 1);
                format!("{encoding:?} {e:?}").into_bytes()
            }));
        }
        assert_eq!(encodings.get(), 2, "one encoding per wire encoding, not one per connection");
        assert!(
            frames.iter().step_by(2).all(|f| f.as_ptr() == frames[0].as_ptr()),
            "the same bytes, not copies"
        );
        assert!(frames[1].starts_with(b"MsgPack") && frames[0].starts_with(b"Json"));
    }
}
