//! Why a node could not join or stay in its cluster.

/// Cluster failures at start-up (a running node reports trouble through metrics, readiness
/// and the `cluster_unavailable` error instead).
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The settings are wrong (node name, replicas, lease).
    #[error("cluster settings: {0}")]
    Settings(String),
    /// No NATS server answered within the connect timeout.
    #[error("cannot reach NATS at {urls}: {detail}")]
    Unreachable { urls: String, detail: String },
    /// NATS answered but JetStream refused to set up or open the log or a bucket.
    #[error("JetStream: {0}")]
    JetStream(String),
    /// The cluster's data was written by a different storage schema than this build's.
    #[error(
        "schema mismatch: the cluster stores schema version {cluster}, this build uses {ours}; \
         run the same version on every node (upgrade the cluster as a whole)"
    )]
    SchemaMismatch { cluster: String, ours: u32 },
    /// The cluster was created with another shard count.
    #[error("the cluster has {cluster} shards, this node is configured for {ours}")]
    ShardsMismatch { cluster: u32, ours: u32 },
    /// Another live node already uses this node name.
    #[error("node name {0:?} is in use by a live node")]
    NameTaken(String),
    /// The local database failed while catching up with the log.
    #[error("local database: {0}")]
    Storage(#[from] switchboard_storage::StorageError),
}
