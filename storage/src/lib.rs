//! Switchboard's durable storage: one RocksDB database, one column family per record kind or
//! relation, fixed-width big-endian keys, versioned MessagePack values, and a single write
//! path with group commit.
//!
//! This crate is the only one that names `rocksdb`. It knows records and keys, not chat
//! rules: it never decides whether a write is allowed, it only makes it durable.
//!
//! # Layout
//! - [`catalog`]: every column family, its key layout and value type, in one place.
//! - [`keys`]: the key codec (big-endian so byte order is numeric order).
//! - [`records`]: the stored record types and their versioned encodings.
//! - [`writer`]: the group-commit writer thread; [`Batch`] is what it writes atomically.
//! - [`store`]: [`Storage`], the handle: open, submit batches, read.
//! - [`channels`]: team channels' records, writes and reads (members, read positions,
//!   messages, folders).
//! - [`contacts`]: contacts and their lookup indexes (email, name words, phone digits):
//!   the index terms, [`Batch::put_contact`] and the prefix scans.
//! - [`tickets`]: helpdesk tickets, the session → ticket link, and the webhook outbox (due
//!   deliveries first): [`Batch::put_ticket`] writes all three at once.
//! - [`console`]: agent console sign-in sessions, keyed by their secret's hash.
//! - [`replication`]: cluster mode's seam: batches tagged with their shard's lease, the
//!   log entry codec, the [`replication::Replicator`] the writer hands groups to, and
//!   [`Storage::apply_entry`], the applier's write.
//! - [`operations`]: what operators need of it: [`StorageStats`] (RocksDB's own
//!   properties), a write probe for readiness, and checkpoints for backups.
//!
//! # Durability
//! [`Durability::Fsync`] (the default) completes a submitted batch only after RocksDB's
//! write-ahead log holding it has been fsynced: it survives a process crash and a power
//! loss. Concurrent batches that reach the writer while an fsync is running share the next
//! one (group commit). [`Durability::Buffered`] completes after the write reached the WAL in
//! the operating system's page cache: it survives a process crash (`kill -9`) but not a
//! power loss or kernel crash. It exists for benchmarks.

pub mod catalog;
pub mod channels;
pub mod console;
pub mod contacts;
pub mod keys;
pub mod operations;
pub mod ratings;
pub mod records;
pub mod replication;
pub mod store;
pub mod tickets;
pub mod writer;

pub use channels::{ChannelMemberRecord, ChannelMessageRecord, ChannelRecord, FolderRecord, StoredRole};
pub use console::ConsoleSessionRecord;
pub use contacts::ContactIndex;
pub use operations::StorageStats;
pub use ratings::RatingRecord;
pub use records::{
    AgentRecord, ContactRecord, DecisionRecord, DepartmentRecord, HoursRecord, MessageRecord, SessionRecord,
    StoredSender, StoredState,
};
pub use store::{Storage, StorageConfig};
pub use tickets::{OutboxRecord, TicketRecord};
pub use writer::{Batch, Durability};

/// Storage failures. Callers branch on `Overloaded` (retry later) versus the rest.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    /// RocksDB reported an error (I/O, corruption detected by RocksDB, options).
    #[error("rocksdb: {0}")]
    Db(String),
    /// A stored value could not be decoded: the database holds bytes this code cannot read.
    #[error("corrupt record in {cf} at key {key_hex}: {detail}")]
    Corrupt { cf: &'static str, key_hex: String, detail: String },
    /// The writer's queue is full; the write was not accepted.
    #[error("write queue full")]
    Overloaded,
    /// The writer thread has stopped (the storage is shutting down).
    #[error("storage is closed")]
    Closed,
    /// Cluster mode: the replicated log could not be reached, so nothing was written.
    #[error("replicated log unavailable: {0}")]
    Unreplicated(String),
    /// Cluster mode: the batch's shard was taken over by another node (its lease is
    /// fenced off); the write was refused.
    #[error("shard {shard} is now owned by another node (lease {lease} fenced)")]
    Fenced { shard: u32, lease: u64 },
}

impl From<rocksdb::Error> for StorageError {
    fn from(e: rocksdb::Error) -> Self {
        StorageError::Db(e.into_string())
    }
}
