//! Graceful drain: on shutdown readiness fails first ([`Drain::announce`]); then every
//! protocol connection stops reading new requests, waits for the answers to those in flight
//! (durable writes, normally milliseconds), sends them, then closes with
//! [`CLOSE_GOING_AWAY`] and a `shutting_down` error telling the client to resume elsewhere.
//! The server waits for the connections, and for HTTP requests in progress, to be gone, up
//! to its grace period, before it syncs storage and exits.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{watch, Notify};

/// WebSocket close code (and QUIC application error code) of a drained connection: RFC
/// 6455's "going away".
pub const CLOSE_GOING_AWAY: u16 = 1001;

/// The reason sent with [`CLOSE_GOING_AWAY`].
pub const DRAIN_REASON: &str =
    "server shutting down: reconnect and resume (another node, or this one after restart)";

/// Shared drain state: the signal, and the count of live protocol connections.
#[derive(Clone)]
pub struct Drain {
    inner: Arc<Inner>,
}

struct Inner {
    /// Readiness fails (set first, possibly a delay before `started`).
    announced: AtomicBool,
    started: watch::Sender<bool>,
    live: AtomicUsize,
    idle: Notify,
}

impl Default for Drain {
    fn default() -> Self {
        Drain::new()
    }
}

impl Drain {
    /// Not draining, no connections.
    pub fn new() -> Drain {
        let (started, _) = watch::channel(false);
        let inner = Inner {
            announced: AtomicBool::new(false),
            started,
            live: AtomicUsize::new(0),
            idle: Notify::new(),
        };
        Drain { inner: Arc::new(inner) }
    }

    /// Whether a drain was announced (readiness fails from then on).
    pub fn is_draining(&self) -> bool {
        self.inner.announced.load(Ordering::Acquire)
    }

    /// Announce the drain: readiness fails, while everything else still serves (so load
    /// balancers can notice before the listeners close).
    pub fn announce(&self) {
        self.inner.announced.store(true, Ordering::Release);
        metrics::gauge!("switchboard_draining").set(1.0);
    }

    /// Begin: every connection is told (announcing it too, if not yet done).
    pub fn start(&self) {
        self.announce();
        self.inner.started.send_replace(true);
    }

    /// Register a live connection or HTTP request; the guard counts it until dropped.
    pub fn enter(&self) -> Live {
        self.inner.live.fetch_add(1, Ordering::AcqRel);
        Live { drain: self.clone(), signal: self.inner.started.subscribe() }
    }

    /// Protocol connections open and HTTP requests in progress now.
    pub fn live(&self) -> usize {
        self.inner.live.load(Ordering::Acquire)
    }

    /// Resolves once no protocol connection is open and no HTTP request in progress.
    pub async fn idle(&self) {
        loop {
            let notified = self.inner.idle.notified();
            if self.live() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// One live connection's registration and its view of the drain signal.
pub struct Live {
    drain: Drain,
    signal: watch::Receiver<bool>,
}

impl Live {
    /// Resolves when the drain begins (at once if it already has). Cancel-safe.
    pub async fn draining(&mut self) {
        // The sender lives as long as the `Drain` this guard holds, so this cannot fail.
        let _ = self.signal.wait_for(|started| *started).await;
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if self.drain.inner.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.drain.inner.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn connections_hear_the_drain_and_idle_waits_for_the_last_one() {
        let drain = Drain::new();
        let mut first = drain.enter();
        let second = drain.enter();
        assert_eq!(drain.live(), 2);
        assert!(tokio::time::timeout(Duration::from_millis(20), first.draining()).await.is_err());
        drain.start();
        assert!(drain.is_draining());
        first.draining().await;
        drop(first);
        assert!(tokio::time::timeout(Duration::from_millis(20), drain.idle()).await.is_err());
        drop(second);
        drain.idle().await;
        // A connection registered after the start hears it at once.
        drain.enter().draining().await;
    }
}
