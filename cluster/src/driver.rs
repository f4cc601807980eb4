//! The lease driver: one task per node that, every third of a lease, renews this node's
//! heartbeat, reads the membership and every shard's lease, and carries out
//! [`crate::lease::plan`] with compare-and-set writes. A shard it takes is served only
//! after its fence entry is applied ([`crate::fence`]); a shard whose renewal fails, or
//! whose lease runs out unrenewed (a paused process, NATS gone), stops being written at
//! once ([`Ownership`]).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::kv;
use bytes::Bytes;
use futures_util::future::join_all;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use switchboard_engine::ownership::Ownership;
use switchboard_engine::{now_ms, Engine};
use tokio::sync::oneshot;

use crate::applier::FencePayload;
use crate::lease::{plan, LeaseValue, Seen, Step};
use crate::log::{publish, EntryIds, Pending, Waiting};
use crate::nats::{Nats, KIND_FENCE};
use crate::{ClusterConfig, ClusterError};

/// How much earlier than its lease a node stops writing a shard: room for clock drift
/// between nodes and for the time a renewal took to be stored.
const SKEW_MS: u64 = 250;

/// A node's heartbeat in the membership bucket.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Heartbeat {
    until_ms: u64,
    /// Distinguishes two processes started with one name.
    incarnation: u64,
}

/// The key of a shard's lease.
pub fn lease_key(shard: u32) -> String {
    format!("shard-{shard}")
}

pub(crate) struct Driver {
    pub(crate) nats: Nats,
    pub(crate) config: ClusterConfig,
    pub(crate) ownership: Arc<Ownership>,
    pub(crate) engine: Engine,
    pub(crate) pending: Arc<Pending>,
    pub(crate) ids: Arc<Mutex<EntryIds>>,
    pub(crate) incarnation: u64,
    /// The log position applied here (by the applier), for the replication lag.
    pub(crate) applied: Arc<std::sync::atomic::AtomicU64>,
}

impl Driver {
    /// Refuse to start under a name a live process uses; wait out the heartbeat of this
    /// node's own previous life (a restart after a crash) instead.
    pub(crate) async fn claim_name(&self) -> Result<(), ClusterError> {
        let read = || async {
            match self.nats.nodes.entry(self.config.node.as_str()).await {
                Ok(Some(entry)) => {
                    serde_json::from_slice::<Heartbeat>(&entry.value).ok().map(|h| (h, entry.revision))
                }
                _ => None,
            }
        };
        let Some((beat, revision)) = read().await else { return Ok(()) };
        if beat.until_ms <= now_ms() {
            return Ok(());
        }
        tracing::info!(target: "cluster", node = %self.config.node, "a heartbeat under this name is current; waiting for it to lapse");
        tokio::time::sleep(self.config.lease + Duration::from_millis(SKEW_MS)).await;
        match read().await {
            Some((_, now)) if now != revision => Err(ClusterError::NameTaken(self.config.node.clone())),
            _ => Ok(()),
        }
    }

    pub(crate) async fn run(self) {
        let mut tick = tokio::time::interval(self.config.tick());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.turn().await {
                tracing::warn!(target: "cluster", error = %e, "lease turn failed");
            }
            let owned = self.ownership.owned(now_ms()).len();
            metrics::gauge!("switchboard_cluster_shards_owned").set(owned as f64);
        }
    }

    async fn turn(&self) -> Result<(), String> {
        let now = now_ms();
        let lease_ms = self.config.lease.as_millis() as u64;
        let beat = Heartbeat { until_ms: now + lease_ms, incarnation: self.incarnation };
        let beat = Bytes::from(serde_json::to_vec(&beat).expect("a heartbeat encodes"));
        self.nats.nodes.put(self.config.node.as_str(), beat).await.map_err(|e| format!("heartbeat: {e}"))?;
        let live = self.live_nodes(now).await?;
        metrics::gauge!("switchboard_cluster_nodes_live").set(live.len() as f64);
        let leases = self.read_leases().await?;
        let owners = leases
            .iter()
            .map(|seen| match &seen.value {
                Some(v) if !v.node.is_empty() && v.until_ms > now => {
                    Some(std::sync::Arc::from(v.node.as_str()))
                }
                _ => None,
            })
            .collect();
        self.ownership.set_view(owners, live.clone());
        self.measure_lag().await;
        // A lease that no longer names this node (it was paused or cut off, and another node
        // took the shard) stops being served now, whatever this node believed.
        for (shard, seen) in leases.iter().enumerate() {
            if !seen.value.as_ref().is_some_and(|v| v.node == self.config.node) {
                self.lose(shard as u32, "the lease names another node");
            }
        }
        // Renewals and handovers first, then the takeovers together: a takeover waits for
        // its fence (at most a lease), and must not hold up the renewals of the others.
        let (takes, others): (Vec<Step>, Vec<Step>) = plan(&self.config.node, now, lease_ms, &live, &leases)
            .into_iter()
            .partition(|step| matches!(step, Step::Acquire { .. }));
        for step in others {
            self.carry_out(step, now, lease_ms).await;
        }
        join_all(takes.into_iter().map(|step| self.carry_out(step, now, lease_ms))).await;
        Ok(())
    }

    /// `switchboard_cluster_replication_lag`: entries in the log not yet applied here.
    async fn measure_lag(&self) {
        if let Ok(mut stream) = self.nats.js.get_stream(crate::nats::LOG_STREAM).await {
            if let Ok(info) = stream.info().await {
                let applied = self.applied.load(std::sync::atomic::Ordering::Acquire);
                let lag = info.state.last_sequence.saturating_sub(applied);
                metrics::gauge!("switchboard_cluster_replication_lag").set(lag as f64);
            }
        }
    }

    async fn live_nodes(&self, now: u64) -> Result<Vec<String>, String> {
        let mut keys = self.nats.nodes.keys().await.map_err(|e| format!("membership: {e}"))?;
        let mut names = Vec::new();
        while let Some(key) = keys.next().await {
            names.push(key.map_err(|e| format!("membership: {e}"))?);
        }
        let entries = join_all(names.iter().map(|name| self.nats.nodes.entry(name.as_str()))).await;
        let mut live: Vec<String> = names
            .into_iter()
            .zip(entries)
            .filter_map(|(name, entry)| {
                let entry = entry.ok()??;
                let beat: Heartbeat = serde_json::from_slice(&entry.value).ok()?;
                (beat.until_ms > now).then_some(name)
            })
            .collect();
        if !live.contains(&self.config.node) {
            live.push(self.config.node.clone());
        }
        live.sort();
        Ok(live)
    }

    async fn read_leases(&self) -> Result<Vec<Seen>, String> {
        let reads = join_all((0..self.config.shards).map(|s| self.nats.leases.entry(lease_key(s)))).await;
        reads
            .into_iter()
            .map(|read| match read.map_err(|e| format!("leases: {e}"))? {
                Some(entry) if entry.operation == kv::Operation::Put => {
                    Ok(Seen { value: LeaseValue::decode(&entry.value), revision: entry.revision })
                }
                Some(entry) => Ok(Seen { value: None, revision: entry.revision }),
                None => Ok(Seen { value: None, revision: 0 }),
            })
            .collect()
    }

    async fn carry_out(&self, step: Step, now: u64, lease_ms: u64) {
        let leases = &self.nats.leases;
        let mine =
            Bytes::from(LeaseValue { node: self.config.node.clone(), until_ms: now + lease_ms }.encode());
        match step {
            Step::Renew { shard, revision } => match leases.update(lease_key(shard), mine, revision).await {
                Ok(revision) => self.hold(shard, revision, now, lease_ms).await,
                // Another node changed the lease first: it is theirs now.
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                    self.lose(shard, &e.to_string())
                }
                // NATS slow or failing over: keep it; if renewals keep failing its certain
                // time runs out and writes are refused as `cluster_unavailable` meanwhile.
                Err(e) => {
                    tracing::warn!(target: "cluster", shard, error = %e, "lease renewal failed; retrying")
                }
            },
            Step::Acquire { shard, revision } => {
                let taken = if revision == 0 {
                    leases.create(lease_key(shard), mine).await.map_err(|e| e.to_string())
                } else {
                    leases.update(lease_key(shard), mine, revision).await.map_err(|e| e.to_string())
                };
                match taken {
                    Ok(revision) => {
                        // A fresh takeover: whatever this node held before is stale.
                        self.lose(shard, "taken again under a new lease");
                        self.hold(shard, revision, now, lease_ms).await
                    }
                    Err(e) => {
                        tracing::debug!(target: "cluster", shard, error = %e, "lease taken by another node first")
                    }
                }
            }
            Step::Release { shard, revision } => {
                self.ownership.revoke(shard);
                self.engine.shard_lost(shard);
                let free = Bytes::from(LeaseValue { node: String::new(), until_ms: now }.encode());
                match leases.update(lease_key(shard), free, revision).await {
                    Ok(_) => tracing::info!(target: "cluster", shard, "shard handed over"),
                    Err(e) => {
                        tracing::warn!(target: "cluster", shard, error = %e, "handing a shard over failed")
                    }
                }
            }
        }
    }

    /// The lease of `shard` is ours under `revision` from `now`: extend what we serve, or
    /// fence the shard and start serving it.
    async fn hold(&self, shard: u32, revision: u64, now: u64, lease_ms: u64) {
        let certain = now + lease_ms - SKEW_MS;
        if self.ownership.lease_of(shard) != 0 {
            self.ownership.extend(shard, certain);
            metrics::counter!("switchboard_cluster_lease_renewals_total").increment(1);
            return;
        }
        match self.fence(shard, revision).await {
            Ok(()) => {
                self.ownership.grant(shard, revision, certain);
                if let Err(e) = self.engine.shard_taken(shard) {
                    tracing::error!(target: "cluster", shard, error = %e, "reading the shard after its takeover failed");
                    self.ownership.revoke(shard);
                    return;
                }
                metrics::counter!("switchboard_cluster_lease_acquisitions_total").increment(1);
            }
            Err(e) => {
                tracing::warn!(target: "cluster", shard, error = %e, "fencing a taken shard failed; not serving it yet")
            }
        }
    }

    fn lose(&self, shard: u32, why: &str) {
        if self.ownership.lease_of(shard) != 0 {
            self.ownership.revoke(shard);
            self.engine.shard_lost(shard);
            metrics::counter!("switchboard_cluster_lease_losses_total").increment(1);
            tracing::warn!(target: "cluster", shard, error = %why, "shard lease lost; no longer writing it");
        }
    }

    /// Append the fence for `shard` under `lease` and wait until it is applied here.
    async fn fence(&self, shard: u32, lease: u64) -> Result<(), String> {
        let id = self.ids.lock().expect("ids lock").next();
        let (tx, rx) = oneshot::channel();
        self.pending.insert(id.clone(), Waiting::Fence(tx));
        let payload =
            Bytes::from(rmp_serde::to_vec(&FencePayload { shard, lease }).expect("a fence encodes"));
        // At most a lease: a takeover that cannot fence in that time is tried again.
        let timeout = self.config.lease;
        let (id, outcome) =
            publish(self.nats.js.clone(), self.config.node.clone(), id, KIND_FENCE, payload, timeout).await;
        if let Err(e) = outcome {
            self.pending.take(&id);
            return Err(e);
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(())) => Ok(()),
            _ => {
                self.pending.take(&id);
                Err("the fence was not applied in time".into())
            }
        }
    }
}
