//! The single write path: a dedicated writer thread that drains a bounded queue of batches,
//! writes everything it drained as one RocksDB write batch with one WAL sync (group commit),
//! and only then completes each submitted batch.
//!
//! Callers never block on I/O: they submit a [`Batch`] with a completion callback and go on.
//! While one fsync runs, new batches queue up; the next loop turn takes all of them (up to
//! [`StorageConfig::batch_max`](crate::StorageConfig)), so the fsync cost is shared.

use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use rocksdb::{WriteBatch, WriteOptions, DB};

use crate::records::Record;
use crate::replication::{Group, Owner, Replicator};
use crate::{
    catalog, keys, AgentRecord, DecisionRecord, DepartmentRecord, MessageRecord, SessionRecord, StorageError,
};

/// What "written" means when a batch completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Complete after the WAL is fsynced: survives process crash and power loss.
    #[default]
    Fsync,
    /// Complete after the WAL reached the OS page cache: survives a process crash (kill -9),
    /// not a power loss. For benchmarks.
    Buffered,
}

/// One put or delete, named by column family.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Put { cf: &'static str, key: Vec<u8>, value: Vec<u8> },
    Delete { cf: &'static str, key: Vec<u8> },
}

/// A set of writes applied atomically. Built with the typed helpers below, so keys and
/// values always go through the codec.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub(crate) ops: Vec<Op>,
    /// In cluster mode, the shard and lease this batch is written under (its fencing token).
    pub(crate) owner: Option<Owner>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Number of operations in the batch.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The column family and key of every put, in order: for a node following another
    /// node's writes (cluster mode) to refresh what it keeps in memory.
    pub fn puts(&self) -> impl Iterator<Item = (&'static str, &[u8])> {
        self.ops.iter().filter_map(|op| match op {
            Op::Put { cf, key, .. } => Some((*cf, key.as_slice())),
            Op::Delete { .. } => None,
        })
    }

    /// The column family and key of every put and delete, in order.
    pub fn keys(&self) -> impl Iterator<Item = (&'static str, &[u8])> {
        self.ops.iter().map(|op| match op {
            Op::Put { cf, key, .. } | Op::Delete { cf, key } => (*cf, key.as_slice()),
        })
    }

    /// About how many bytes the batch takes in a log entry (keys, values and a little per
    /// operation): to cut groups into entries below the log's size limit.
    pub fn bytes_hint(&self) -> usize {
        self.ops
            .iter()
            .map(|op| match op {
                Op::Put { key, value, .. } => key.len() + value.len() + 24,
                Op::Delete { key, .. } => key.len() + 24,
            })
            .sum::<usize>()
            + 16
    }

    /// Tag the batch with the shard and lease it is written under (cluster mode): the
    /// replicated log refuses it once another node has taken the shard over.
    pub fn owned_by(&mut self, owner: Owner) -> &mut Batch {
        self.owner = Some(owner);
        self
    }

    /// The shard and lease the batch was tagged with, if any.
    pub fn owner(&self) -> Option<Owner> {
        self.owner
    }

    pub(crate) fn put(&mut self, cf: &'static str, key: &[u8], value: Vec<u8>) -> &mut Batch {
        self.ops.push(Op::Put { cf, key: key.to_vec(), value });
        self
    }

    pub(crate) fn delete(&mut self, cf: &'static str, key: &[u8]) -> &mut Batch {
        self.ops.push(Op::Delete { cf, key: key.to_vec() });
        self
    }

    /// Write a session's metadata and keep the open/closed indexes in step with its state.
    pub fn put_session(&mut self, record: &SessionRecord) -> &mut Batch {
        self.put(catalog::SESSION, &keys::id(record.id), record.encode());
        match record.closed_at_ms {
            None => self.put(catalog::SESSION_OPEN, &keys::id(record.id), Vec::new()),
            Some(closed_at) => {
                self.delete(catalog::SESSION_OPEN, &keys::id(record.id));
                self.put(catalog::SESSION_CLOSED, &keys::pair(closed_at, record.id), Vec::new())
            }
        }
    }

    /// Append message `seq` of `session_id`.
    pub fn put_message(&mut self, session_id: u64, seq: u64, record: &MessageRecord) -> &mut Batch {
        self.put(catalog::SESSION_MESSAGE, &keys::pair(session_id, seq), record.encode())
    }

    /// Write an agent.
    pub fn put_agent(&mut self, record: &AgentRecord) -> &mut Batch {
        self.put(catalog::AGENT, &keys::id(record.id), record.encode())
    }

    /// Write a department (its settings and members).
    pub fn put_department(&mut self, record: &DepartmentRecord) -> &mut Batch {
        self.put(catalog::DEPARTMENT, &keys::id(record.id), record.encode())
    }

    /// Record a routing decision about `session_id` (`n` tells apart decisions of one
    /// millisecond).
    pub fn put_decision(&mut self, session_id: u64, n: u64, record: &DecisionRecord) -> &mut Batch {
        self.put(catalog::SESSION_ROUTING, &keys::triple(session_id, record.at_ms, n), record.encode())
    }

    /// Record that `agent_id` has read `session_id` up to `seq`.
    pub fn put_read_marker(&mut self, session_id: u64, agent_id: u64, seq: u64) -> &mut Batch {
        let value = seq.to_be_bytes().to_vec();
        self.put(catalog::SESSION_READ, &keys::pair(session_id, agent_id), value)
    }

    /// Write a `meta` entry.
    pub fn put_meta(&mut self, name: &str, value: Vec<u8>) -> &mut Batch {
        self.put(catalog::META, name.as_bytes(), value)
    }
}

/// Called once with the batch's outcome, on the writer thread: keep it short (send on a
/// channel, wake a task).
pub type Completion = Box<dyn FnOnce(Result<(), StorageError>) + Send>;

pub(crate) struct Job {
    pub(crate) batch: Batch,
    pub(crate) submitted: Instant,
    pub(crate) done: Completion,
}

/// The submitting side of the writer queue.
#[derive(Clone)]
pub(crate) struct WriterHandle {
    tx: Sender<Job>,
}

impl WriterHandle {
    pub(crate) fn submit(&self, batch: Batch, done: Completion) -> Result<(), StorageError> {
        let job = Job { batch, submitted: Instant::now(), done };
        self.tx.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => StorageError::Overloaded,
            TrySendError::Disconnected(_) => StorageError::Closed,
        })
    }
}

/// Where the writer thread sends what it drained.
pub(crate) enum Sink {
    /// One node: write to RocksDB itself, with the configured durability.
    Local(Durability),
    /// Cluster mode: hand each group to the replicated log, which applies it.
    Replicated(Arc<dyn Replicator>),
}

/// Start the writer thread. It runs until every [`WriterHandle`] is dropped.
pub(crate) fn spawn(
    db: Arc<DB>,
    sink: Sink,
    queue_max: usize,
    batch_max: usize,
) -> (WriterHandle, std::thread::JoinHandle<()>) {
    let (tx, rx) = crossbeam_channel::bounded(queue_max);
    let thread = std::thread::Builder::new()
        .name("storage-writer".into())
        .spawn(move || match sink {
            Sink::Local(durability) => run(db, durability, batch_max, rx),
            Sink::Replicated(log) => run_replicated(log.as_ref(), batch_max, rx),
        })
        .expect("spawn storage writer thread");
    (WriterHandle { tx }, thread)
}

/// Cluster mode: drain like [`run`], and hand the group over. Latency and errors are
/// recorded where the log completes the batches.
fn run_replicated(log: &dyn Replicator, batch_max: usize, rx: Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batches = Vec::with_capacity(batch_max.min(64));
        batches.push((first.batch, first.done));
        while batches.len() < batch_max {
            match rx.try_recv() {
                Ok(job) => batches.push((job.batch, job.done)),
                Err(_) => break,
            }
        }
        metrics::histogram!("switchboard_group_commit_batch_size").record(batches.len() as f64);
        log.append(Group { batches });
    }
}

fn run(db: Arc<DB>, durability: Durability, batch_max: usize, rx: Receiver<Job>) {
    let mut options = WriteOptions::default();
    options.set_sync(durability == Durability::Fsync);
    let mut jobs: Vec<Job> = Vec::with_capacity(batch_max);
    let mut failing = false;
    while let Ok(first) = rx.recv() {
        jobs.push(first);
        while jobs.len() < batch_max {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let result = write_all(&db, &options, &jobs);
        match &result {
            Err(e) => {
                metrics::counter!("switchboard_storage_write_errors_total").increment(jobs.len() as u64);
                // Logged when writes start failing, not for every batch of a full disk.
                if !failing {
                    tracing::error!(error = %e, "storage writes are failing");
                }
                failing = true;
            }
            Ok(()) if failing => {
                tracing::warn!("storage writes succeed again");
                failing = false;
            }
            Ok(()) => {}
        }
        metrics::histogram!("switchboard_group_commit_batch_size").record(jobs.len() as f64);
        for job in jobs.drain(..) {
            metrics::histogram!("switchboard_append_latency_seconds")
                .record(job.submitted.elapsed().as_secs_f64());
            (job.done)(result.clone());
        }
    }
}

fn write_all(db: &DB, options: &WriteOptions, jobs: &[Job]) -> Result<(), StorageError> {
    let mut batch = WriteBatch::default();
    for job in jobs {
        for op in &job.batch.ops {
            match op {
                Op::Put { cf, key, value } => batch.put_cf(cf_handle(db, cf)?, key, value),
                Op::Delete { cf, key } => batch.delete_cf(cf_handle(db, cf)?, key),
            }
        }
    }
    db.write_opt(batch, options)?;
    Ok(())
}

pub(crate) fn cf_handle<'a>(db: &'a DB, name: &str) -> Result<&'a rocksdb::ColumnFamily, StorageError> {
    db.cf_handle(name).ok_or_else(|| StorageError::Db(format!("column family {name} missing")))
}
