//! The replicated log's writing side: the storage writer thread hands each group of
//! batches to [`Log::append`]; a task merges what has queued, cuts it into entries, and
//! publishes them one at a time to JetStream, each with a unique entry id (so a retried
//! publish is stored once), waiting for JetStream's acknowledgement (stored on a majority
//! of the stream's replicas) before the next. The batches are
//! completed by the applier ([`crate::applier`]) once it has applied the entry to this
//! node's database, with each batch's own verdict (accepted, or fenced off). A publish that
//! fails for longer than the append timeout completes its batches with
//! `StorageError::Unreplicated` instead: nothing is acknowledged that is not in the log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use async_nats::HeaderMap;
use bytes::Bytes;
use switchboard_storage::replication::{encode_batches, Group, Replicator};
use switchboard_storage::writer::Completion;
use switchboard_storage::{Batch, StorageError};
use tokio::sync::{mpsc, oneshot};

use crate::config::ENTRY_BYTES_MAX;
use crate::nats::{HEADER_KIND, HEADER_ORIGIN, KIND_WRITES, LOG_SUBJECT};

/// Groups waiting for the appender task: the writer thread blocks when it is full (and
/// its own bounded queue then answers `Overloaded`).
const GROUPS_QUEUED_MAX: usize = 64;

/// Batches merged into one publishing round at most (cut further into entries by size).
const BATCHES_PER_ROUND_MAX: usize = 4096;

/// Pause between publish attempts of one entry while NATS does not answer.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Who waits for an entry to be applied.
pub(crate) enum Waiting {
    /// The batches' completions, in entry order.
    Writes { completions: Vec<Completion>, since: Instant },
    /// A fence: the lease driver, to serve the shard once it is applied.
    Fence(oneshot::Sender<()>),
}

/// Entries this node published and has not seen applied yet, by entry id.
#[derive(Default)]
pub(crate) struct Pending {
    map: Mutex<HashMap<String, Waiting>>,
}

impl Pending {
    pub(crate) fn insert(&self, id: String, waiting: Waiting) {
        self.map.lock().expect("pending lock").insert(id, waiting);
    }

    /// The entry `id` starts publishing now: its writes' wait is counted from here.
    fn publishing(&self, id: &str) {
        if let Some(Waiting::Writes { since, .. }) = self.map.lock().expect("pending lock").get_mut(id) {
            *since = Instant::now();
        }
    }

    pub(crate) fn take(&self, id: &str) -> Option<Waiting> {
        self.map.lock().expect("pending lock").remove(id)
    }

    /// Fail every write waiting longer than `max` (its entry was published, but the applier
    /// has not seen it: the consumer is down).
    fn expire(&self, max: Duration) {
        let expired: Vec<Waiting> = {
            let mut map = self.map.lock().expect("pending lock");
            let old: Vec<String> = map
                .iter()
                .filter(|(_, w)| matches!(w, Waiting::Writes { since, .. } if since.elapsed() > max))
                .map(|(id, _)| id.clone())
                .collect();
            old.iter().filter_map(|id| map.remove(id)).collect()
        };
        for waiting in expired {
            fail(waiting, "the log did not come back with the entry in time");
        }
    }
}

pub(crate) fn fail(waiting: Waiting, why: &str) {
    if let Waiting::Writes { completions, .. } = waiting {
        metrics::counter!("switchboard_cluster_append_failures_total").increment(completions.len() as u64);
        for done in completions {
            done(Err(StorageError::Unreplicated(why.to_string())));
        }
    }
}

/// The writer thread's side. Cheap to clone.
#[derive(Clone)]
pub struct Log {
    tx: mpsc::Sender<Group>,
}

impl Replicator for Log {
    fn append(&self, group: Group) {
        if let Err(refused) = self.tx.blocking_send(group) {
            for (_, done) in refused.0.batches {
                done(Err(StorageError::Closed));
            }
        }
    }
}

/// Names entries uniquely across nodes and restarts: `<node>.<incarnation>.<n>`.
pub(crate) struct EntryIds {
    prefix: String,
    next: u64,
}

impl EntryIds {
    pub(crate) fn new(node: &str) -> EntryIds {
        EntryIds { prefix: format!("{node}.{:016x}", rand::random::<u64>()), next: 0 }
    }

    pub(crate) fn next(&mut self) -> String {
        self.next += 1;
        format!("{}.{}", self.prefix, self.next)
    }
}

/// What the appender task needs.
pub(crate) struct Appender {
    pub(crate) js: jetstream::Context,
    pub(crate) pending: Arc<Pending>,
    pub(crate) node: String,
    pub(crate) ids: Arc<Mutex<EntryIds>>,
    pub(crate) timeout: Duration,
}

/// The log's writing side and the receiver its task drains.
pub(crate) fn channel() -> (Log, mpsc::Receiver<Group>) {
    let (tx, rx) = mpsc::channel(GROUPS_QUEUED_MAX);
    (Log { tx }, rx)
}

impl Appender {
    /// Publish the log's entries one after another: while one awaits JetStream, the groups
    /// arriving meanwhile queue up and are merged into the next (group commit over the
    /// log). One entry at a time keeps this node's entries in the log in the order they
    /// were made, even when a publish is retried across a NATS failover; the applier's
    /// order rule ([`crate::order`]) drops any that still lands late.
    pub(crate) async fn run(self, mut groups: mpsc::Receiver<Group>) {
        let pending = self.pending.clone();
        let expire_after = self.timeout * 2;
        let sweeper = tokio::spawn(async move {
            let mut sweep = tokio::time::interval(expire_after / 2);
            loop {
                sweep.tick().await;
                pending.expire(expire_after);
            }
        });
        while let Some(first) = groups.recv().await {
            let mut batches = first.batches;
            while batches.len() < BATCHES_PER_ROUND_MAX {
                match groups.try_recv() {
                    Ok(more) => batches.extend(more.batches),
                    Err(_) => break,
                }
            }
            for (id, payload) in self.entries(Group { batches }) {
                self.pending.publishing(&id);
                let (id, outcome) = self.publish(id, KIND_WRITES, payload).await;
                if let Err(why) = outcome {
                    if let Some(waiting) = self.pending.take(&id) {
                        tracing::warn!(target: "cluster", entry = %id, error = %why, "log append failed; writes refused");
                        fail(waiting, &why);
                    }
                }
            }
        }
        sweeper.abort();
    }

    /// Cut a group into entries below [`ENTRY_BYTES_MAX`], registering each as pending.
    /// A batch too large for any entry is refused on its own.
    fn entries(&self, group: Group) -> Vec<(String, Bytes)> {
        let mut out = Vec::new();
        let mut current: Vec<(Batch, Completion)> = Vec::new();
        let mut bytes = 0;
        let flush = |current: &mut Vec<(Batch, Completion)>, out: &mut Vec<(String, Bytes)>| {
            if current.is_empty() {
                return;
            }
            let payload = Bytes::from(encode_batches(current.iter().map(|(b, _)| b)));
            let id = self.ids.lock().expect("ids lock").next();
            let completions = current.drain(..).map(|(_, done)| done).collect();
            self.pending.insert(id.clone(), Waiting::Writes { completions, since: Instant::now() });
            out.push((id, payload));
        };
        for (batch, done) in group.batches {
            let size = batch.bytes_hint();
            if size > ENTRY_BYTES_MAX {
                done(Err(StorageError::Unreplicated(format!(
                    "a write of {size} bytes is larger than a log entry may be ({ENTRY_BYTES_MAX})"
                ))));
                continue;
            }
            if bytes + size > ENTRY_BYTES_MAX {
                flush(&mut current, &mut out);
                bytes = 0;
            }
            bytes += size;
            current.push((batch, done));
        }
        flush(&mut current, &mut out);
        out
    }

    /// Publish one entry until JetStream acknowledges it or the timeout passes; retries
    /// carry the same id, so JetStream keeps one copy.
    pub(crate) fn publish(
        &self,
        id: String,
        kind: &'static str,
        payload: Bytes,
    ) -> impl std::future::Future<Output = (String, Result<u64, String>)> + 'static {
        publish(self.js.clone(), self.node.clone(), id, kind, payload, self.timeout)
    }
}

/// See [`Appender::publish`]; the fence path uses it too.
pub(crate) async fn publish(
    js: jetstream::Context,
    node: String,
    id: String,
    kind: &'static str,
    payload: Bytes,
    timeout: Duration,
) -> (String, Result<u64, String>) {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last_error = String::from("timed out");
    loop {
        let mut headers = HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, id.as_str());
        headers.insert(HEADER_KIND, kind);
        headers.insert(HEADER_ORIGIN, node.as_str());
        let began = Instant::now();
        let attempt = async {
            let ack = js
                .publish_with_headers(LOG_SUBJECT, headers, payload.clone())
                .await
                .map_err(|e| e.to_string())?;
            ack.await.map_err(|e| e.to_string())
        };
        match tokio::time::timeout_at(deadline, attempt).await {
            Ok(Ok(ack)) => {
                metrics::histogram!("switchboard_cluster_nats_round_trip_seconds")
                    .record(began.elapsed().as_secs_f64());
                return (id, Ok(ack.sequence));
            }
            Ok(Err(e)) => last_error = e,
            Err(_) => return (id, Err(format!("no acknowledgement from JetStream in time ({last_error})"))),
        }
        if tokio::time::Instant::now() + RETRY_PAUSE >= deadline {
            return (id, Err(last_error));
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}
