//! Each connection's bounded event queue. The engine delivers events with [`Outbox::deliver`],
//! which never waits: when the queue is full the connection is marked overflowed, and the
//! gateway closes it with a reason (the client resumes from its last seq). A slow client
//! therefore costs only its own queue, never another client's latency.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, Notify};

use crate::domain::types::*;

/// Identifies one client connection for the server's lifetime.
pub type ConnId = u64;

/// Something a connection is told without having asked.
#[derive(Debug, Clone)]
pub enum Event {
    /// To agents: a new waiting session, with the receiving agent's unread count.
    SessionCreated { session: Arc<SessionSnapshot>, unread: u64 },
    /// A session changed; `unread` is the receiving agent's count (`None` for visitors).
    SessionUpdated { session: Arc<SessionSnapshot>, unread: Option<u64> },
    /// A new durable message in a session the connection is attached to.
    Message { session_id: SessionId, message: Arc<ChatMessage> },
    /// Someone started or stopped typing in an attached session.
    Typing { session_id: SessionId, from: Participant, typing: bool },
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

struct Signal {
    overflowed: AtomicBool,
    notify: Notify,
}

/// The engine's handle for sending events to one connection. Cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    id: ConnId,
    tx: mpsc::Sender<Event>,
    signal: Arc<Signal>,
}

/// The connection's receiving side.
pub struct Inbox {
    rx: mpsc::Receiver<Event>,
    signal: Arc<Signal>,
}

impl Outbox {
    /// A connected pair with room for `capacity` events.
    pub fn channel(id: ConnId, capacity: usize) -> (Outbox, Inbox) {
        let (tx, rx) = mpsc::channel(capacity);
        let signal = Arc::new(Signal { overflowed: AtomicBool::new(false), notify: Notify::new() });
        (Outbox { id, tx, signal: signal.clone() }, Inbox { rx, signal })
    }

    /// The connection this outbox belongs to.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// True when the connection has gone away or overflowed (stop delivering to it).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed() || self.signal.overflowed.load(Ordering::Relaxed)
    }

    /// Queue an event that may be skipped: only while the queue is less than half full, so
    /// a burst of optional events (typing, badge updates) never overflows a connection.
    pub fn offer(&self, event: Event) -> Delivery {
        if self.tx.capacity() * 2 < self.tx.max_capacity() {
            metrics::counter!("switchboard_events_skipped_total").increment(1);
            return Delivery::Skipped;
        }
        self.deliver(event)
    }

    /// Queue an event without waiting.
    pub fn deliver(&self, event: Event) -> Delivery {
        match self.tx.try_send(event) {
            Ok(()) => Delivery::Queued,
            Err(mpsc::error::TrySendError::Closed(_)) => Delivery::Gone,
            Err(mpsc::error::TrySendError::Full(_)) => {
                if !self.signal.overflowed.swap(true, Ordering::Relaxed) {
                    metrics::counter!("switchboard_send_queue_overflows_total").increment(1);
                    self.signal.notify.notify_one();
                }
                Delivery::Overflowed
            }
        }
    }
}

impl Inbox {
    /// The next event; `None` when every outbox is dropped.
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// A handle that resolves once this connection's queue has overflowed; separate from
    /// the inbox so a task can wait on both at once.
    pub fn overflow(&self) -> Overflow {
        Overflow { signal: self.signal.clone() }
    }
}

/// Waits for a connection's overflow.
pub struct Overflow {
    signal: Arc<Signal>,
}

impl Overflow {
    /// True once the queue has overflowed.
    pub fn happened(&self) -> bool {
        self.signal.overflowed.load(Ordering::Relaxed)
    }

    /// Resolves once the queue has overflowed.
    pub async fn wait(&self) {
        loop {
            let notified = self.signal.notify.notified();
            if self.signal.overflowed.load(Ordering::Relaxed) {
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
        let (outbox, _inbox) = Outbox::channel(1, 4);
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
        let (outbox, mut inbox) = Outbox::channel(1, 2);
        assert_eq!(outbox.deliver(typing()), Delivery::Queued);
        assert_eq!(outbox.deliver(typing()), Delivery::Queued);
        assert_eq!(outbox.deliver(typing()), Delivery::Overflowed);
        assert!(outbox.is_closed());
        inbox.overflow().wait().await;
        assert!(inbox.recv().await.is_some());
        drop(inbox);
        let (outbox, inbox) = Outbox::channel(2, 2);
        drop(inbox);
        assert_eq!(outbox.deliver(typing()), Delivery::Gone);
    }
}
