//! Liveness and readiness, for load balancers and orchestrators.
//!
//! - `/healthz` (liveness): the process answers HTTP. It fails only when the process is
//!   wedged; restart on failure.
//! - `/readyz` (readiness): this node should get traffic. It fails (503, with the reason)
//!   while draining or when storage cannot take a write: a probe record goes through the
//!   group-commit writer exactly as a chat message would, within [`PROBE_TIMEOUT`] (in
//!   cluster mode through the replicated log, so it fails too while NATS is lost). Route
//!   traffic away on failure; do not restart for it.
//!
//! A probe is a real fsync, and the routes need no credentials: one probe runs at a time
//! and its verdict is reused for [`PROBE_REUSE`], so probing (or scraping `/metrics`, which
//! reports the same verdict) cannot be turned into a flood of writes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_engine::Engine;
use tokio::sync::Mutex;

use crate::drain::Drain;

/// How long the readiness probe's write may take before the node counts as not ready.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a probe's verdict is reused.
pub const PROBE_REUSE: Duration = Duration::from_secs(1);

/// Readiness with its probe cache. Cheap to clone.
#[derive(Clone)]
pub struct Health {
    engine: Engine,
    drain: Drain,
    last: Arc<Mutex<Option<(Instant, Result<(), String>)>>>,
}

impl Health {
    pub fn new(engine: Engine, drain: Drain) -> Health {
        Health { engine, drain, last: Arc::default() }
    }

    /// Whether this node should get traffic, and if not, why. Also sets `switchboard_ready`.
    pub async fn readiness(&self) -> Result<(), String> {
        let ownership = self.engine.ownership();
        let verdict = if self.drain.is_draining() {
            Err("draining: this node is shutting down".to_string())
        } else if !ownership.connected() {
            Err("cluster: this node has lost NATS (the replicated log); it cannot write".to_string())
        } else if ownership.is_cluster() && ownership.owned(switchboard_engine::now_ms()).is_empty() {
            // New chats are created in this node's own shards: none yet (it is joining).
            Err("cluster: this node owns no shard yet (joining)".to_string())
        } else {
            let mut last = self.last.lock().await;
            match &*last {
                Some((at, verdict)) if at.elapsed() < PROBE_REUSE => verdict.clone(),
                _ => {
                    let verdict = self.probe().await;
                    *last = Some((Instant::now(), verdict.clone()));
                    verdict
                }
            }
        };
        metrics::gauge!("switchboard_ready").set(if verdict.is_ok() { 1.0 } else { 0.0 });
        verdict
    }

    async fn probe(&self) -> Result<(), String> {
        match tokio::time::timeout(PROBE_TIMEOUT, self.engine.probe_storage()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("storage cannot take a write: {e}")),
            Err(_) => Err(format!("storage did not complete a write within {} s", PROBE_TIMEOUT.as_secs())),
        }
    }
}
