//! [`Storage`]: open the database, submit batches to the group-commit writer, and read.
//!
//! Reads are synchronous point lookups and bounded range scans; they hit the memtable or
//! the block cache in the common case. Callers on an async runtime keep them off hot loops.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rocksdb::{ColumnFamilyDescriptor, Direction, IteratorMode, Options, DB};

use crate::records::Record;
use crate::writer::{self, cf_handle, Completion, WriterHandle};
use crate::{
    catalog, keys, AgentRecord, Batch, DecisionRecord, DepartmentRecord, Durability, MessageRecord,
    SessionRecord, StorageError,
};

/// Storage settings.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// What a completed write promises. Default: [`Durability::Fsync`].
    pub durability: Durability,
    /// Most batches waiting for the writer. At about 300 bytes a message this bounds the
    /// queue near 20 MiB; a full queue answers `Overloaded` instead of growing.
    pub write_queue_max: usize,
    /// Most batches written under one fsync. Large enough that a burst from thousands of
    /// sessions shares one sync, small enough that one write stays well under a millisecond
    /// of RocksDB work.
    pub batch_max: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig { durability: Durability::Fsync, write_queue_max: 65_536, batch_max: 1024 }
    }
}

/// Handle to the database. Cheap to clone; the writer thread stops when the last clone drops.
#[derive(Clone)]
pub struct Storage {
    pub(crate) db: Arc<DB>,
    writer: Arc<Writer>,
    /// The database directory (for its write-ahead log files and in error messages).
    pub(crate) dir: Arc<std::path::PathBuf>,
    /// The options the database was opened with: they hold RocksDB's statistics.
    pub(crate) options: Arc<Options>,
}

/// The writer thread and its queue. Dropped with the last `Storage` clone: the queue closes,
/// the thread finishes what was queued, and the drop waits for it, so the database is never
/// torn down (or the process exited) under a running writer.
struct Writer {
    handle: Option<WriterHandle>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.handle.take();
        let thread = self.thread.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Storage {
    /// Open (or create) the database in `dir`.
    pub fn open(dir: &Path, config: &StorageConfig) -> Result<Storage, StorageError> {
        Storage::open_with(dir, config, writer::Sink::Local(config.durability))
    }

    /// Open the database in `dir` as a node of a cluster: every submitted batch goes to
    /// `log` (the replicated log), and the database is written only by the log's applier
    /// ([`Storage::apply_entry`]). See [`crate::replication`].
    pub fn open_replicated(
        dir: &Path,
        config: &StorageConfig,
        log: Arc<dyn crate::replication::Replicator>,
    ) -> Result<Storage, StorageError> {
        Storage::open_with(dir, config, writer::Sink::Replicated(log))
    }

    fn open_with(dir: &Path, config: &StorageConfig, sink: writer::Sink) -> Result<Storage, StorageError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        // Tickers only (write stalls, for the metrics): no histograms, no timers.
        options.enable_statistics();
        options.set_statistics_level(rocksdb::statistics::StatsLevel::ExceptHistogramOrTimers);
        let families = catalog::ALL.iter().map(|name| ColumnFamilyDescriptor::new(*name, Options::default()));
        let db = Arc::new(DB::open_cf_descriptors(&options, dir, families)?);
        check_schema(&db)?;
        let (writer, thread) = writer::spawn(db.clone(), sink, config.write_queue_max, config.batch_max);
        let writer = Writer { handle: Some(writer), thread: Mutex::new(Some(thread)) };
        Ok(Storage {
            db,
            writer: Arc::new(writer),
            dir: Arc::new(dir.to_path_buf()),
            options: Arc::new(options),
        })
    }

    /// Queue `batch` for the writer; `done` runs once it is durable (or failed).
    pub fn submit(&self, batch: Batch, done: Completion) -> Result<(), StorageError> {
        self.writer.handle.as_ref().ok_or(StorageError::Closed)?.submit(batch, done)
    }

    /// Write `batch` and wait for it: for start-up and admin paths, not hot paths.
    pub fn write_blocking(&self, batch: Batch) -> Result<(), StorageError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.submit(batch, Box::new(move |result| drop(tx.send(result))))?;
        rx.recv().map_err(|_| StorageError::Closed)?
    }

    /// Make every completed write durable on disk (matters in `Buffered` mode; in `Fsync`
    /// mode it already is). Call on graceful shutdown.
    pub fn sync_wal(&self) -> Result<(), StorageError> {
        Ok(self.db.flush_wal(true)?)
    }

    /// Write every memtable to SST files, so the next start replays no write-ahead log
    /// (restart time stays flat however much was written). Call on graceful shutdown,
    /// after [`sync_wal`](Storage::sync_wal); a crash is still recovered from the log.
    pub fn flush_memtables(&self) -> Result<(), StorageError> {
        for name in crate::catalog::ALL {
            if let Some(family) = self.db.cf_handle(name) {
                self.db.flush_cf(family)?;
            }
        }
        Ok(())
    }

    /// Stop RocksDB's background flushes and compactions and wait for the running ones: the
    /// last step before the process exits, which otherwise may tear down RocksDB's static
    /// state under a background thread (an abort, "pthread lock: Invalid argument"). Writes
    /// already synced stay durable; the next open resumes compaction.
    pub fn stop_background_work(&self) {
        self.db.cancel_all_background_work(true);
    }

    /// Drop this handle; if it is the last one, wait for the writer thread to finish the
    /// queued writes and release the database (so it can be reopened in the same process).
    pub fn close(self) {
        drop(self);
    }

    /// A session's metadata.
    pub fn session(&self, id: u64) -> Result<Option<SessionRecord>, StorageError> {
        self.get_record(catalog::SESSION, &keys::id(id))
    }

    /// An agent.
    pub fn agent(&self, id: u64) -> Result<Option<AgentRecord>, StorageError> {
        self.get_record(catalog::AGENT, &keys::id(id))
    }

    /// Every agent, by id.
    pub fn agents(&self) -> Result<Vec<AgentRecord>, StorageError> {
        self.every_record(catalog::AGENT)
    }

    /// Every department, by id.
    pub fn departments(&self) -> Result<Vec<DepartmentRecord>, StorageError> {
        self.every_record(catalog::DEPARTMENT)
    }

    /// Every record of a small family (agents, departments), in key order.
    pub(crate) fn every_record<R: Record>(&self, cf_name: &'static str) -> Result<Vec<R>, StorageError> {
        let cf = cf_handle(&self.db, cf_name)?;
        let mut records = Vec::new();
        for item in self.db.iterator_cf(cf, IteratorMode::Start) {
            let (key, value) = item?;
            records.push(decode(cf_name, &key, &value)?);
        }
        Ok(records)
    }

    /// Up to `limit` messages of a session with seq > `after_seq`, oldest first.
    pub fn messages(
        &self,
        session_id: u64,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<(u64, MessageRecord)>, StorageError> {
        let cf = cf_handle(&self.db, catalog::SESSION_MESSAGE)?;
        let start = keys::pair(session_id, after_seq.saturating_add(1));
        let mut out = Vec::new();
        if after_seq == u64::MAX {
            return Ok(out);
        }
        for item in self.db.iterator_cf(cf, IteratorMode::From(&start, Direction::Forward)) {
            let (key, value) = item?;
            let Some((sid, seq)) = keys::decode_pair(&key) else { break };
            if sid != session_id || out.len() >= limit {
                break;
            }
            out.push((seq, decode(catalog::SESSION_MESSAGE, &key, &value)?));
        }
        Ok(out)
    }

    /// Up to `limit` routing decisions about a session, oldest first.
    pub fn decisions(&self, session_id: u64, limit: usize) -> Result<Vec<DecisionRecord>, StorageError> {
        let cf = cf_handle(&self.db, catalog::SESSION_ROUTING)?;
        let start = keys::id(session_id);
        let mut out = Vec::new();
        for item in self.db.iterator_cf(cf, IteratorMode::From(&start, Direction::Forward)) {
            let (key, value) = item?;
            if key.len() != 24 || key[..8] != start || out.len() >= limit {
                break;
            }
            out.push(decode(catalog::SESSION_ROUTING, &key, &value)?);
        }
        Ok(out)
    }

    /// The newest message seq of a session (0 when it has none).
    pub fn last_seq(&self, session_id: u64) -> Result<u64, StorageError> {
        let cf = cf_handle(&self.db, catalog::SESSION_MESSAGE)?;
        let end = keys::pair(session_id, u64::MAX);
        let mut iter = self.db.iterator_cf(cf, IteratorMode::From(&end, Direction::Reverse));
        match iter.next() {
            Some(item) => {
                let (key, _) = item?;
                Ok(match keys::decode_pair(&key) {
                    Some((sid, seq)) if sid == session_id => seq,
                    _ => 0,
                })
            }
            None => Ok(0),
        }
    }

    /// Every WAITING or ACTIVE session, by id (oldest first).
    pub fn open_sessions(&self) -> Result<Vec<SessionRecord>, StorageError> {
        let cf = cf_handle(&self.db, catalog::SESSION_OPEN)?;
        let mut out = Vec::new();
        for item in self.db.iterator_cf(cf, IteratorMode::Start) {
            let (key, _) = item?;
            let id =
                keys::decode_id(&key).ok_or_else(|| corrupt(catalog::SESSION_OPEN, &key, "key length"))?;
            match self.session(id)? {
                Some(record) => out.push(record),
                None => return Err(corrupt(catalog::SESSION_OPEN, &key, "indexed session missing")),
            }
        }
        Ok(out)
    }

    /// Up to `limit` closed sessions, most recently closed first.
    pub fn recently_closed(&self, limit: usize) -> Result<Vec<SessionRecord>, StorageError> {
        let cf = cf_handle(&self.db, catalog::SESSION_CLOSED)?;
        let mut out = Vec::new();
        for item in self.db.iterator_cf(cf, IteratorMode::End) {
            if out.len() >= limit {
                break;
            }
            let (key, _) = item?;
            let (_, id) = keys::decode_pair(&key)
                .ok_or_else(|| corrupt(catalog::SESSION_CLOSED, &key, "key length"))?;
            if let Some(record) = self.session(id)? {
                out.push(record);
            }
        }
        Ok(out)
    }

    /// Read markers of a session: (agent_id, seq) pairs.
    pub fn read_markers(&self, session_id: u64) -> Result<Vec<(u64, u64)>, StorageError> {
        let cf = cf_handle(&self.db, catalog::SESSION_READ)?;
        let start = keys::pair(session_id, 0);
        let mut out = Vec::new();
        for item in self.db.iterator_cf(cf, IteratorMode::From(&start, Direction::Forward)) {
            let (key, value) = item?;
            match keys::decode_pair(&key) {
                Some((sid, agent)) if sid == session_id => {
                    let seq = keys::decode_id(&value)
                        .ok_or_else(|| corrupt(catalog::SESSION_READ, &key, "value length"))?;
                    out.push((agent, seq));
                }
                _ => break,
            }
        }
        Ok(out)
    }

    /// Largest id in an id-keyed family (`agent` or `session`), 0 when empty.
    pub fn max_id(&self, cf_name: &'static str) -> Result<u64, StorageError> {
        let cf = cf_handle(&self.db, cf_name)?;
        match self.db.iterator_cf(cf, IteratorMode::End).next() {
            Some(item) => {
                let (key, _) = item?;
                keys::decode_id(&key).ok_or_else(|| corrupt(cf_name, &key, "key length"))
            }
            None => Ok(0),
        }
    }

    /// A `meta` entry.
    pub fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get_cf(cf_handle(&self.db, catalog::META)?, name.as_bytes())?)
    }

    pub(crate) fn get_record<R: Record>(
        &self,
        cf_name: &'static str,
        key: &[u8],
    ) -> Result<Option<R>, StorageError> {
        let cf = cf_handle(&self.db, cf_name)?;
        match self.db.get_pinned_cf(cf, key)? {
            Some(value) => Ok(Some(decode(cf_name, key, &value)?)),
            None => Ok(None),
        }
    }
}

pub(crate) fn decode<R: Record>(cf: &'static str, key: &[u8], value: &[u8]) -> Result<R, StorageError> {
    R::decode(value).map_err(|detail| corrupt(cf, key, &detail))
}

pub(crate) fn corrupt(cf: &'static str, key: &[u8], detail: &str) -> StorageError {
    let key_hex = key.iter().map(|b| format!("{b:02x}")).collect();
    StorageError::Corrupt { cf, key_hex, detail: detail.to_string() }
}

/// Write the schema version into a new database; refuse a database of another version.
fn check_schema(db: &DB) -> Result<(), StorageError> {
    let cf = cf_handle(db, catalog::META)?;
    match db.get_cf(cf, catalog::META_SCHEMA_VERSION)? {
        None => {
            let mut options = rocksdb::WriteOptions::default();
            options.set_sync(true);
            let mut batch = rocksdb::WriteBatch::default();
            batch.put_cf(cf, catalog::META_SCHEMA_VERSION, catalog::SCHEMA_VERSION.to_be_bytes());
            db.write_opt(batch, &options)?;
            Ok(())
        }
        Some(bytes) if bytes.as_slice() == catalog::SCHEMA_VERSION.to_be_bytes() => Ok(()),
        Some(bytes) => Err(corrupt(
            catalog::META,
            catalog::META_SCHEMA_VERSION.as_bytes(),
            &format!("schema version {bytes:?} is not {}", catalog::SCHEMA_VERSION),
        )),
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
