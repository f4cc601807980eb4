//! Cluster settings, with their defaults and the reasons for them.

use std::time::Duration;

use switchboard_engine::ownership::CLUSTER_SHARDS;

/// How a node joins a cluster. Only the binary fills it (flags, environment, file).
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// NATS servers, comma-separated (`nats://127.0.0.1:4222,nats://127.0.0.2:4222`). The
    /// client connects to one and fails over to the others.
    pub nats_urls: String,
    /// This node's name: unique in the cluster, 1 to [`NODE_NAME_BYTES_MAX`] of `A-Z a-z
    /// 0-9 - _` (it is a key in the membership bucket and appears in every log entry).
    pub node: String,
    /// Shards ids are grouped into (`id % shards`). Fixed for the life of a cluster.
    pub shards: u32,
    /// Copies JetStream keeps of the log and of the lease buckets. 3 survives the loss of
    /// one NATS server with a majority left; 1 is for trying it on one NATS server.
    pub replicas: usize,
    /// How long a lease (and a node's heartbeat) lasts without renewal. A dead node's
    /// shards move after about this long; a shorter lease moves them sooner but renews
    /// more often (one compare-and-set per shard per third of it).
    pub lease: Duration,
    /// How long start-up waits for NATS before it gives up with an error.
    pub connect_timeout: Duration,
    /// How long a write may wait for the replicated log before it is refused
    /// (`cluster_unavailable`). Retries within it reuse the entry's id, so JetStream
    /// stores it at most once; it must stay well inside JetStream's duplicate window (120
    /// s). Long enough to ride out a NATS server's death (JetStream elects new leaders for
    /// what it led in a few seconds). Entries are published one at a time, so while one is
    /// retried the writes behind it wait (and the writer's bounded queue answers
    /// `overloaded` when it fills).
    pub append_timeout: Duration,
}

/// Longest node name.
pub const NODE_NAME_BYTES_MAX: usize = 32;

/// Largest log entry. NATS refuses payloads above its `max_payload` (1 MiB by default); a
/// group of batches is cut into entries below this, and a single batch above it refused.
pub const ENTRY_BYTES_MAX: usize = 900 * 1024;

impl ClusterConfig {
    /// The defaults for a node named `node` on `nats_urls`.
    pub fn new(nats_urls: impl Into<String>, node: impl Into<String>) -> ClusterConfig {
        ClusterConfig {
            nats_urls: nats_urls.into(),
            node: node.into(),
            shards: CLUSTER_SHARDS,
            replicas: 3,
            lease: Duration::from_millis(3_000),
            connect_timeout: Duration::from_secs(5),
            append_timeout: Duration::from_secs(30),
        }
    }

    /// Check the settings a cluster depends on.
    pub fn validate(&self) -> Result<(), String> {
        let name_ok = !self.node.is_empty()
            && self.node.len() <= NODE_NAME_BYTES_MAX
            && self.node.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(format!(
                "node name {:?} must be 1 to {NODE_NAME_BYTES_MAX} of A-Z a-z 0-9 - _",
                self.node
            ));
        }
        if self.nats_urls.trim().is_empty() {
            return Err("no NATS server given".into());
        }
        if !(1..=5).contains(&self.replicas) {
            return Err(format!("replicas must be 1 to 5, not {}", self.replicas));
        }
        if self.lease < Duration::from_millis(500) {
            return Err("the lease must be at least 500 ms".into());
        }
        Ok(())
    }

    /// How often the lease driver runs: three renewals per lease, so one lost round trip
    /// does not lose a lease.
    pub fn tick(&self) -> Duration {
        self.lease / 3
    }
}
