//! What operators need of storage: RocksDB's own numbers for the metrics, a write probe for
//! readiness, and checkpoints for backups.

use std::path::Path;

use rocksdb::properties;
use rocksdb::statistics::Ticker;

use crate::writer::{cf_handle, Completion};
use crate::{catalog, Batch, Storage, StorageError};

/// RocksDB's view of the database, read from its properties and statistics (no parsing of
/// its text dumps). Sizes are summed over every column family.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageStats {
    /// Estimated bytes of live data (what a full compaction would leave).
    pub live_data_bytes: u64,
    /// Bytes of SST files the current version uses.
    pub sst_bytes: u64,
    /// Bytes of write-ahead log files on disk. RocksDB has no property for it: the `*.log`
    /// files of the database directory are summed.
    pub wal_bytes: u64,
    /// Bytes held by memtables (active and immutable).
    pub memtable_bytes: u64,
    /// Bytes compaction estimates it must rewrite to bring every level under its target.
    pub pending_compaction_bytes: u64,
    /// Compactions running now.
    pub running_compactions: u64,
    /// Writes are stopped (too many memtables or level-0 files): every write waits.
    pub write_stopped: bool,
    /// While writes are delayed, the rate RocksDB lets them through (bytes/s); 0 otherwise.
    pub delayed_write_rate_bytes: u64,
    /// Background errors (flush or compaction failures) since open; after one, RocksDB
    /// refuses writes until it recovers.
    pub background_errors: u64,
    /// Microseconds writes spent stalled since open.
    pub stall_micros: u64,
}

impl Storage {
    /// Read RocksDB's properties and statistics. Cheap (in-memory counters and a directory
    /// listing): fine every few seconds.
    pub fn stats(&self) -> Result<StorageStats, StorageError> {
        let mut stats = StorageStats::default();
        for name in catalog::ALL {
            let cf = cf_handle(&self.db, name)?;
            let value = |property| self.db.property_int_value_cf(cf, property).map(|v| v.unwrap_or(0));
            stats.live_data_bytes += value(properties::ESTIMATE_LIVE_DATA_SIZE)?;
            stats.sst_bytes += value(properties::LIVE_SST_FILES_SIZE)?;
            stats.memtable_bytes += value(properties::CUR_SIZE_ALL_MEM_TABLES)?;
            stats.pending_compaction_bytes += value(properties::ESTIMATE_PENDING_COMPACTION_BYTES)?;
        }
        // Database-wide values (any column family answers the same).
        let value = |property| self.db.property_int_value(property).map(|v| v.unwrap_or(0));
        stats.running_compactions = value(properties::NUM_RUNNING_COMPACTIONS)?;
        stats.write_stopped = value(properties::IS_WRITE_STOPPED)? != 0;
        stats.delayed_write_rate_bytes = value(properties::ACTUAL_DELAYED_WRITE_RATE)?;
        stats.background_errors = value(properties::BACKGROUND_ERRORS)?;
        stats.stall_micros = self.options.get_ticker_count(Ticker::StallMicros);
        stats.wal_bytes = wal_bytes(&self.dir).map_err(|e| {
            StorageError::Db(format!("listing the write-ahead log in {}: {e}", self.dir.display()))
        })?;
        Ok(stats)
    }

    /// Write one small record through the group-commit writer, exactly as a chat message
    /// is written; `done` gets the outcome. Readiness asks this: a node whose disk is full,
    /// read-only or failing cannot take the write.
    pub fn probe(&self, now_ms: u64, done: Completion) -> Result<(), StorageError> {
        let mut batch = Batch::new();
        batch.put_meta(catalog::META_READINESS_PROBE, now_ms.to_be_bytes().to_vec());
        self.submit(batch, done)
    }

    /// Make a consistent, openable copy of the database in `dir` (which must not exist):
    /// memtables are flushed first and SST files are hard-linked when `dir` is on the same
    /// filesystem, so it is cheap. Blocking: call off the async threads.
    pub fn checkpoint(&self, dir: &Path) -> Result<(), StorageError> {
        let checkpoint = rocksdb::checkpoint::Checkpoint::new(&self.db)?;
        checkpoint
            .create_checkpoint(dir)
            .map_err(|e| StorageError::Db(format!("checkpoint into {}: {}", dir.display(), e.into_string())))
    }
}

fn wal_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.path().extension().is_some_and(|e| e == "log") {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MessageRecord, StorageConfig, StoredSender};

    fn message(text: &str) -> MessageRecord {
        MessageRecord {
            v: crate::records::RECORD_VERSION,
            from: StoredSender::Visitor,
            agent_id: None,
            client_msg_id: String::new(),
            text: text.into(),
            sent_at_ms: 1,
        }
    }

    #[test]
    fn stats_see_the_write_ahead_log_and_the_memtable_grow() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path(), &StorageConfig::default()).unwrap();
        let before = storage.stats().unwrap();
        let mut batch = Batch::new();
        for seq in 1..=200 {
            batch.put_message(7, seq, &message(&"x".repeat(500)));
        }
        storage.write_blocking(batch).unwrap();
        let after = storage.stats().unwrap();
        assert!(after.wal_bytes >= before.wal_bytes + 100_000, "{before:?} → {after:?}");
        assert!(after.memtable_bytes > before.memtable_bytes, "{before:?} → {after:?}");
        assert!(!after.write_stopped);
        assert_eq!(after.background_errors, 0);
        storage.flush_memtables().unwrap();
        assert!(storage.stats().unwrap().sst_bytes > 0);
    }

    #[test]
    fn a_checkpoint_opens_as_a_database_with_the_data_and_refuses_an_existing_dir() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(&dir.path().join("db"), &StorageConfig::default()).unwrap();
        let mut batch = Batch::new();
        batch.put_message(3, 1, &message("kept"));
        storage.write_blocking(batch).unwrap();
        let copy = dir.path().join("checkpoint");
        storage.checkpoint(&copy).unwrap();
        let error = storage.checkpoint(&copy).unwrap_err().to_string();
        assert!(error.contains("checkpoint"), "{error}");
        let mut batch = Batch::new();
        batch.put_message(3, 2, &message("after the checkpoint"));
        storage.write_blocking(batch).unwrap();
        drop(storage);
        let restored = Storage::open(&copy, &StorageConfig::default()).unwrap();
        let messages = restored.messages(3, 0, 10).unwrap();
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert_eq!(messages[0].1.text, "kept");
    }

    #[test]
    fn the_probe_is_a_durable_write() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path(), &StorageConfig::default()).unwrap();
        let (tx, rx) = crossbeam_channel::bounded(1);
        storage.probe(42, Box::new(move |result| drop(tx.send(result)))).unwrap();
        rx.recv().unwrap().unwrap();
        // Reopened (the writer joined, the database closed): the probe was on disk.
        storage.close();
        let reopened = Storage::open(dir.path(), &StorageConfig::default()).unwrap();
        assert_eq!(reopened.meta(catalog::META_READINESS_PROBE).unwrap(), Some(42u64.to_be_bytes().to_vec()));
    }
}
