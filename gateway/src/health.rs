//! Liveness and readiness, for load balancers and orchestrators.
//!
//! - `/healthz` (liveness): the process answers HTTP. It fails only when the process is
//!   wedged; restart on failure.
//! - `/readyz` (readiness): this node should get traffic. It fails (503, with the reason)
//!   while draining or when storage cannot take a write: a probe record goes through the
//!   group-commit writer exactly as a chat message would, within [`PROBE_TIMEOUT`]. Route
//!   traffic away on failure; do not restart for it.

use std::time::Duration;

use switchboard_engine::Engine;

use crate::drain::Drain;

/// How long the readiness probe's write may take before the node counts as not ready.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether this node should get traffic, and if not, why. Also sets `switchboard_ready`.
pub async fn readiness(engine: &Engine, drain: &Drain) -> Result<(), String> {
    let verdict = if drain.is_draining() {
        Err("draining: this node is shutting down".to_string())
    } else {
        match tokio::time::timeout(PROBE_TIMEOUT, engine.probe_storage()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("storage cannot take a write: {e}")),
            Err(_) => Err(format!("storage did not complete a write within {} s", PROBE_TIMEOUT.as_secs())),
        }
    };
    metrics::gauge!("switchboard_ready").set(if verdict.is_ok() { 1.0 } else { 0.0 });
    verdict
}
