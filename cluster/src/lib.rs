//! Switchboard's cluster mode: several nodes sharing one replicated log on NATS JetStream
//! (docs/CLUSTER.md). One machine with RocksDB alone stays the default; nothing here runs
//! unless `--cluster-nats` is given.
//!
//! # Layout
//! - [`config`]: [`ClusterConfig`] and the limits.
//! - [`nats`]: connecting, and every stream, bucket, key and header the cluster uses.
//! - [`lease`]: which shard leases to renew, take or hand over, as plain rules.
//! - [`fence`]: which writes the log refuses after a takeover, as a plain rule.
//! - [`log`]: the storage writer's [`Replicator`](switchboard_storage::replication::Replicator):
//!   groups of batches published as log entries, acknowledged by JetStream.
//! - [`applier`]: every entry applied in log order to the local RocksDB, and this node's
//!   writes completed once applied.
//! - [`order`]: each node's writes applied in the order it made them, as a plain rule.
//! - [`bus`]: the relay's wire on core NATS: a client's frames to the node owning its
//!   session, and that node's answers and events back.
//! - [`driver`]: the lease task: heartbeats, renewals, takeovers with fences, losses.
//!
//! # The guarantees
//! - A write is acknowledged only after JetStream stored its entry on a majority of the
//!   log's replicas and this node applied it: losing a node, or its disk, loses nothing
//!   acknowledged.
//! - A shard has one writer at a time: its lease holder. A former holder's writes after
//!   the takeover's fence are refused by every node alike.

pub mod applier;
pub mod bus;
pub mod config;
pub mod driver;
pub mod error;
pub mod fence;
pub mod lease;
pub mod log;
pub mod nats;
pub mod order;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};

pub use config::ClusterConfig;
pub use error::ClusterError;
use switchboard_engine::ownership::Ownership;
use switchboard_engine::Engine;
use switchboard_storage::replication::{Group, Replicator};
use switchboard_storage::Storage;
use tokio::sync::{mpsc, watch};

use crate::log::{EntryIds, Pending};
use crate::nats::{Nats, LOG_STREAM};

/// A node's membership of its cluster, from connecting to serving.
pub struct Cluster {
    config: ClusterConfig,
    nats: Nats,
    ownership: Arc<Ownership>,
    pending: Arc<Pending>,
    ids: Arc<Mutex<EntryIds>>,
    log: log::Log,
    groups: Option<mpsc::Receiver<Group>>,
    applied: Arc<AtomicU64>,
    incarnation: u64,
    engine: Arc<OnceLock<Engine>>,
}

impl Cluster {
    /// Check the settings, connect to NATS, open the log and the buckets, and check that
    /// the cluster's schema version and shard count are this build's.
    pub async fn connect(config: ClusterConfig) -> Result<Cluster, ClusterError> {
        config.validate().map_err(ClusterError::Settings)?;
        let ownership = Arc::new(Ownership::cluster(config.shards));
        let nats = nats::connect(&config, ownership.clone()).await?;
        let (log, groups) = log::channel();
        Ok(Cluster {
            ids: Arc::new(Mutex::new(EntryIds::new(&config.node))),
            config,
            nats,
            ownership,
            pending: Arc::default(),
            log,
            groups: Some(groups),
            applied: Arc::default(),
            incarnation: rand::random(),
            engine: Arc::default(),
        })
    }

    /// What the storage writer hands its groups to ([`Storage::open_replicated`]).
    pub fn replicator(&self) -> Arc<dyn Replicator> {
        Arc::new(self.log.clone())
    }

    /// This node's end of the relay (core NATS), for the gateway.
    pub fn bus(&self) -> bus::Bus {
        bus::Bus::new(self.nats.client.clone(), self.config.node.clone())
    }

    /// Which shards this node may write; give it to the engine.
    pub fn ownership(&self) -> Arc<Ownership> {
        self.ownership.clone()
    }

    /// Start appending and applying the log to `storage`, and wait until everything the
    /// log held when this was called is applied here (a new or wiped node rebuilds its
    /// database from the log now).
    pub async fn catch_up(&mut self, storage: Storage) -> Result<u64, ClusterError> {
        let target = {
            let mut stream = self
                .nats
                .js
                .get_stream(LOG_STREAM)
                .await
                .map_err(|e| ClusterError::JetStream(format!("opening the log: {e}")))?;
            stream
                .info()
                .await
                .map_err(|e| ClusterError::JetStream(format!("reading the log: {e}")))?
                .state
                .last_sequence
        };
        let position = storage.log_applied()?;
        let fences = fence::Fences::from_stored(storage.fences()?);
        let order = order::Order::from_stored(storage.origins()?);
        let (progress, mut watching) = watch::channel(position);
        let applier = applier::Applier {
            js: self.nats.js.clone(),
            storage,
            pending: self.pending.clone(),
            fences,
            order,
            position,
            applied: self.applied.clone(),
            progress,
            node: self.config.node.clone(),
            engine: self.engine.clone(),
        };
        tokio::spawn(applier.run());
        if let Some(groups) = self.groups.take() {
            let appender = log::Appender {
                js: self.nats.js.clone(),
                pending: self.pending.clone(),
                node: self.config.node.clone(),
                ids: self.ids.clone(),
                timeout: self.config.append_timeout,
            };
            tokio::spawn(appender.run(groups));
        }
        tracing::info!(target: "cluster", from = position, to = target, "applying the log");
        while *watching.borrow_and_update() < target {
            if watching.changed().await.is_err() {
                return Err(ClusterError::JetStream("the log applier stopped".into()));
            }
        }
        tracing::info!(target: "cluster", position = target, "caught up with the log");
        Ok(target)
    }

    /// Join the membership and hold shard leases for `engine`, for ever.
    pub async fn serve(self, engine: Engine) -> Result<(), ClusterError> {
        let _ = self.engine.set(engine.clone());
        let driver = driver::Driver {
            nats: self.nats,
            config: self.config,
            ownership: self.ownership,
            engine,
            pending: self.pending,
            ids: self.ids,
            incarnation: self.incarnation,
            applied: self.applied.clone(),
        };
        driver.claim_name().await?;
        tokio::spawn(driver.run());
        Ok(())
    }
}
