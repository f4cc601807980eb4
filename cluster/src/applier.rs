//! The replicated log's reading side: every node applies every entry, in log order, to its
//! own RocksDB, which is therefore an index and cache of the log. Writes of fenced-off
//! leases are left out ([`crate::fence`]), the same way on every node. The position
//! applied and the fences are stored in the same RocksDB write as the entry, so a restart
//! resumes exactly after the last entry applied, and a node whose disk was lost rebuilds
//! from the start of the log.
//!
//! When the entry is this node's own, the applier completes its batches: only now is a
//! write acknowledged, once it is both in the replicated log and readable here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_nats::jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
use async_nats::jetstream::{self, Message};
use futures_util::StreamExt;
use switchboard_engine::Engine;
use switchboard_storage::replication::decode_entry;
use switchboard_storage::{Storage, StorageError};
use tokio::sync::watch;

use crate::fence::Fences;
use crate::log::{Pending, Waiting};
use crate::nats::{HEADER_KIND, HEADER_ORIGIN, KIND_FENCE, KIND_WRITES, LOG_STREAM};
use crate::order::{Order, Verdict};

/// Pause before re-opening the consumer after NATS or the local database failed.
const REOPEN_PAUSE: Duration = Duration::from_millis(250);

/// A fence entry's payload: the shard and the lease revision it was taken under.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct FencePayload {
    pub shard: u32,
    pub lease: u64,
}

pub(crate) struct Applier {
    pub(crate) js: jetstream::Context,
    pub(crate) storage: Storage,
    pub(crate) pending: Arc<Pending>,
    pub(crate) fences: Fences,
    /// Each origin's highest write entry applied ([`crate::order`]).
    pub(crate) order: Order,
    pub(crate) position: u64,
    /// The last position applied, for readiness and the metrics.
    pub(crate) applied: Arc<AtomicU64>,
    pub(crate) progress: watch::Sender<u64>,
    /// This node's name: entries from other nodes are also shown to the engine.
    pub(crate) node: String,
    /// The engine, once started, to follow other nodes' writes ([`Engine::follow_remote`]).
    pub(crate) engine: Arc<OnceLock<Engine>>,
}

impl Applier {
    /// Apply the log from where this database left off, for ever (re-opening the consumer
    /// whenever NATS drops it).
    pub(crate) async fn run(mut self) {
        loop {
            if let Err(e) = self.follow().await {
                tracing::warn!(target: "cluster", error = %e, position = self.position, "log consumer stopped; re-opening");
            }
            tokio::time::sleep(REOPEN_PAUSE).await;
        }
    }

    async fn follow(&mut self) -> Result<(), String> {
        let stream = self.js.get_stream(LOG_STREAM).await.map_err(|e| e.to_string())?;
        let deliver_policy = DeliverPolicy::ByStartSequence { start_sequence: self.position + 1 };
        let consumer = stream
            .create_consumer(OrderedConfig { deliver_policy, ..Default::default() })
            .await
            .map_err(|e| e.to_string())?;
        let mut messages = consumer.messages().await.map_err(|e| e.to_string())?;
        while let Some(message) = messages.next().await {
            let message = message.map_err(|e| e.to_string())?;
            self.apply(&message).map_err(|e| format!("applying to the local database: {e}"))?;
        }
        Err("the consumer ended".into())
    }

    fn apply(&mut self, message: &Message) -> Result<(), StorageError> {
        let Ok(info) = message.info() else { return Ok(()) };
        let position = info.stream_sequence;
        if position <= self.position {
            return Ok(());
        }
        let header =
            |name: &str| message.headers.as_ref().and_then(|h| h.get(name)).map(|v| v.as_str().to_string());
        let id = header(async_nats::header::NATS_MESSAGE_ID.as_ref()).unwrap_or_default();
        match header(HEADER_KIND).as_deref() {
            Some(KIND_WRITES) => {
                let remote = header(HEADER_ORIGIN).is_none_or(|origin| origin != self.node);
                self.apply_writes(&id, &message.payload, position, remote)?
            }
            Some(KIND_FENCE) => self.apply_fence(&id, &message.payload, position)?,
            other => {
                tracing::warn!(target: "cluster", position, kind = ?other, "log entry of an unknown kind skipped");
                metrics::counter!("switchboard_cluster_entries_skipped_total").increment(1);
                self.storage.apply_entry(&[], &[], None, position)?;
            }
        }
        self.position = position;
        self.applied.store(position, Ordering::Release);
        metrics::gauge!("switchboard_cluster_log_applied").set(position as f64);
        let _ = self.progress.send(position);
        Ok(())
    }

    fn apply_writes(
        &mut self,
        id: &str,
        payload: &[u8],
        position: u64,
        remote: bool,
    ) -> Result<(), StorageError> {
        let origin = match self.order.judge(id) {
            Verdict::InOrder { origin, n } => Some((origin, n)),
            Verdict::Unnamed => None,
            Verdict::Late { origin, n, applied } => {
                // Every node leaves it out alike; a writer of ours waiting for it hears why.
                tracing::warn!(target: "cluster", position, origin, n, applied, "log entry landed after a later one of its node; left out");
                metrics::counter!("switchboard_cluster_entries_skipped_total").increment(1);
                self.storage.apply_entry(&[], &[], None, position)?;
                if let Some(waiting) = self.pending.take(id) {
                    crate::log::fail(waiting, "the entry reached the log after a later one of this node");
                }
                return Ok(());
            }
        };
        let entry = match decode_entry(payload) {
            Ok(entry) => entry,
            Err(e) => {
                // Every node skips it alike; a writer of ours waiting for it hears why.
                tracing::error!(target: "cluster", position, error = %e, "undecodable log entry skipped");
                metrics::counter!("switchboard_cluster_entries_skipped_total").increment(1);
                self.storage.apply_entry(&[], &[], origin, position)?;
                self.mark(origin);
                if let Some(Waiting::Writes { completions, .. }) = self.pending.take(id) {
                    for done in completions {
                        done(Err(e.clone()));
                    }
                }
                return Ok(());
            }
        };
        let verdicts: Vec<bool> = entry.batches.iter().map(|b| self.fences.admits(b.owner())).collect();
        let accepted: Vec<_> =
            entry.batches.iter().zip(&verdicts).filter(|(_, ok)| **ok).map(|(b, _)| b).collect();
        let fenced = verdicts.iter().filter(|ok| !**ok).count();
        if fenced > 0 {
            metrics::counter!("switchboard_cluster_fenced_writes_total").increment(fenced as u64);
        }
        self.storage.apply_entry(&accepted, &[], origin, position)?;
        self.mark(origin);
        if remote {
            if let Some(engine) = self.engine.get() {
                engine.follow_remote(&accepted);
            }
        }
        if let Some(Waiting::Writes { completions, since }) = self.pending.take(id) {
            metrics::histogram!("switchboard_cluster_append_seconds").record(since.elapsed().as_secs_f64());
            for ((done, ok), batch) in completions.into_iter().zip(verdicts).zip(&entry.batches) {
                if ok {
                    done(Ok(()));
                } else {
                    let owner = batch.owner().expect("only tagged batches are fenced");
                    done(Err(StorageError::Fenced { shard: owner.shard, lease: owner.lease }));
                }
            }
        }
        Ok(())
    }

    fn mark(&mut self, origin: Option<(&str, u64)>) {
        if let Some((origin, n)) = origin {
            self.order.applied(origin, n);
        }
    }

    fn apply_fence(&mut self, id: &str, payload: &[u8], position: u64) -> Result<(), StorageError> {
        let fence: Option<FencePayload> = rmp_serde::from_slice(payload).ok();
        let mut raised = Vec::new();
        if let Some(FencePayload { shard, lease }) = fence {
            if self.fences.raise(shard, lease) {
                raised.push((shard, lease));
            }
        }
        self.storage.apply_entry(&[], &raised, None, position)?;
        if let Some(Waiting::Fence(applied)) = self.pending.take(id) {
            let _ = applied.send(());
        }
        Ok(())
    }
}
