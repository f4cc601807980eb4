//! The live subscribers of one conversation (a chat session, a team channel): connections
//! that receive its events, bounded, with closed connections dropped as they are noticed.
//! Each event is built once and encoded once ([`Broadcast`]); a slow subscriber only ever
//! fills its own queue, which cuts it off by itself (the connection closes with its
//! overflow code and resumes).

use crate::outbox::{Broadcast, ConnId, Event, Outbox};

/// One subscriber: who it is (`W`: a session's participant, a channel's member) and its
/// connection's queue.
#[derive(Clone)]
pub(crate) struct Subscribed<W> {
    pub(crate) who: W,
    pub(crate) outbox: Outbox,
}

/// A bounded list of subscribers.
pub(crate) struct Subscribers<W> {
    list: Vec<Subscribed<W>>,
    max: usize,
}

impl<W: Copy> Subscribers<W> {
    /// At most `max` subscribers.
    pub(crate) fn new(max: usize) -> Subscribers<W> {
        Subscribers { list: Vec::new(), max }
    }

    /// Subscribe a connection, replacing its earlier subscription; false (and counted) when
    /// the list is full.
    pub(crate) fn add(&mut self, who: W, outbox: Outbox) -> bool {
        self.list.retain(|s| !s.outbox.is_closed() && s.outbox.id() != outbox.id());
        if self.list.len() >= self.max {
            metrics::counter!("switchboard_subscribers_refused_total").increment(1);
            return false;
        }
        self.list.push(Subscribed { who, outbox });
        true
    }

    /// Cluster mode: the conversation moved to another node. Every subscriber's connection
    /// is closed to reconnect and resume there.
    pub(crate) fn evict_all(&mut self) {
        for subscriber in self.list.drain(..) {
            subscriber.outbox.moved();
        }
    }

    /// Unsubscribe a connection.
    pub(crate) fn remove(&mut self, conn: ConnId) {
        self.list.retain(|s| s.outbox.id() != conn);
    }

    /// No live subscriber (closed connections are dropped first).
    pub(crate) fn is_empty(&mut self) -> bool {
        self.list.retain(|s| !s.outbox.is_closed());
        self.list.is_empty()
    }

    /// Queue `event` for every subscriber `filter` selects, except the origin connection.
    /// `must`: the event must arrive (a full queue cuts the subscriber off); otherwise it
    /// is a hint skipped for a busy connection (typing indicators).
    pub(crate) fn deliver(
        &mut self,
        event: &Event,
        origin: Option<ConnId>,
        must: bool,
        filter: impl Fn(W) -> bool,
    ) {
        self.list.retain(|s| !s.outbox.is_closed());
        let mut shared: Option<std::sync::Arc<Broadcast>> = None;
        for s in self.list.iter().filter(|s| Some(s.outbox.id()) != origin && filter(s.who)) {
            let shared = shared.get_or_insert_with(|| Broadcast::new(event.clone()));
            if must {
                s.outbox.deliver_shared(shared);
            } else {
                s.outbox.offer_shared(shared);
            }
        }
    }
}
