//! The seam for cluster mode: instead of writing to RocksDB itself, the writer thread hands
//! each group of batches to a [`Replicator`] (the cluster crate's replicated log), and the
//! database is then written by whoever applies that log, through [`Storage::apply_entry`].
//!
//! This module knows bytes, not NATS: an [`Entry`] is a group of batches encoded as
//! MessagePack, each batch tagged with the shard and lease it was written under (its
//! fencing token, see [`Owner`]). Deciding whether a fenced batch is accepted is the
//! applier's business; storing what it accepted, together with how far the log has been
//! applied, in one RocksDB write, is this module's.

use rocksdb::{WriteBatch, WriteOptions};
use serde::{Deserialize, Serialize};

use crate::writer::{cf_handle, Completion, Op};
use crate::{catalog, Batch, Storage, StorageError};

/// `meta` key: the last log position applied to this database (u64 big-endian).
pub const META_LOG_APPLIED: &str = "log_applied";
/// `meta` key prefix: a shard's fence, the highest lease taken over in the log (u64 BE).
pub const META_FENCE_PREFIX: &str = "fence/";
/// `meta` key prefix: the highest entry number applied per writing node and incarnation
/// (u64 BE), so the applier's order rule resumes where it left off.
pub const META_ORIGIN_PREFIX: &str = "origin/";

/// The shard a batch belongs to and the lease its writer held: the fencing token. A batch
/// without an owner (agents, departments, contacts: records any node may write) is never
/// fenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub shard: u32,
    pub lease: u64,
}

/// What the writer hands over: one group of batches and their completions. The replicator
/// must call every completion exactly once (with `Ok` only once the batch is in the
/// replicated log and applied to this database).
pub struct Group {
    pub batches: Vec<(Batch, Completion)>,
}

/// The replicated log, as the writer thread sees it. `append` may block the writer thread
/// (that is the back-pressure: the writer's bounded queue fills and callers get
/// `Overloaded`), never forever.
pub trait Replicator: Send + Sync + 'static {
    fn append(&self, group: Group);
}

/// One put or delete as it travels in the log.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct WireOp {
    cf: String,
    key: serde_bytes::ByteBuf,
    /// `None` deletes.
    value: Option<serde_bytes::ByteBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct WireBatch {
    owner: Option<Owner>,
    ops: Vec<WireOp>,
}

/// A decoded log entry's batches, in order.
#[derive(Debug, Clone)]
pub struct Entry {
    pub batches: Vec<Batch>,
}

/// Encode the batches of a group for the log (array-encoded MessagePack).
pub fn encode_batches<'a>(batches: impl Iterator<Item = &'a Batch>) -> Vec<u8> {
    let wire: Vec<WireBatch> = batches
        .map(|b| WireBatch {
            owner: b.owner,
            ops: b
                .ops
                .iter()
                .map(|op| match op {
                    Op::Put { cf, key, value } => WireOp {
                        cf: (*cf).to_string(),
                        key: serde_bytes::ByteBuf::from(key.clone()),
                        value: Some(serde_bytes::ByteBuf::from(value.clone())),
                    },
                    Op::Delete { cf, key } => WireOp {
                        cf: (*cf).to_string(),
                        key: serde_bytes::ByteBuf::from(key.clone()),
                        value: None,
                    },
                })
                .collect(),
        })
        .collect();
    rmp_serde::to_vec(&wire).expect("a batch always encodes")
}

/// Decode a log entry. Column families are checked against the catalog: an entry naming
/// one this build does not know (a newer schema) is refused, not half-applied.
pub fn decode_entry(bytes: &[u8]) -> Result<Entry, StorageError> {
    let corrupt = |detail: String| StorageError::Corrupt { cf: "log", key_hex: String::new(), detail };
    let wire: Vec<WireBatch> = rmp_serde::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    let mut batches = Vec::with_capacity(wire.len());
    for w in wire {
        let mut batch = Batch::new();
        batch.owner = w.owner;
        for op in w.ops {
            let cf = catalog::ALL
                .iter()
                .find(|name| **name == op.cf)
                .ok_or_else(|| corrupt(format!("unknown column family {:?}", op.cf)))?;
            match op.value {
                Some(value) => batch.put(cf, &op.key, value.into_vec()),
                None => batch.delete(cf, &op.key),
            };
        }
        batches.push(batch);
    }
    Ok(Entry { batches })
}

impl Storage {
    /// Write the accepted batches of one log entry, the new fences, its origin's entry
    /// number, and the log position, in one RocksDB write. Not synced: the replicated log is
    /// the truth, and a lost tail is re-applied from it (the position is lost with it). The
    /// applier is the only caller.
    pub fn apply_entry(
        &self,
        batches: &[&Batch],
        fences: &[(u32, u64)],
        origin: Option<(&str, u64)>,
        position: u64,
    ) -> Result<(), StorageError> {
        let db = &self.db;
        let mut write = WriteBatch::default();
        for batch in batches {
            for op in &batch.ops {
                match op {
                    Op::Put { cf, key, value } => write.put_cf(cf_handle(db, cf)?, key, value),
                    Op::Delete { cf, key } => write.delete_cf(cf_handle(db, cf)?, key),
                }
            }
        }
        let meta = cf_handle(db, catalog::META)?;
        for (shard, lease) in fences {
            write.put_cf(meta, format!("{META_FENCE_PREFIX}{shard}"), lease.to_be_bytes());
        }
        if let Some((origin, n)) = origin {
            write.put_cf(meta, format!("{META_ORIGIN_PREFIX}{origin}"), n.to_be_bytes());
        }
        write.put_cf(meta, META_LOG_APPLIED, position.to_be_bytes());
        let mut options = WriteOptions::default();
        options.set_sync(false);
        db.write_opt(write, &options)?;
        Ok(())
    }

    /// The last log position applied to this database (0: none).
    pub fn log_applied(&self) -> Result<u64, StorageError> {
        Ok(self.meta(META_LOG_APPLIED)?.map_or(0, |b| be_u64(&b)))
    }

    /// Every shard fence stored by [`apply_entry`](Storage::apply_entry).
    pub fn fences(&self) -> Result<Vec<(u32, u64)>, StorageError> {
        Ok(self
            .meta_marks(META_FENCE_PREFIX)?
            .into_iter()
            .filter_map(|(shard, lease)| Some((shard.parse().ok()?, lease)))
            .collect())
    }

    /// Every origin's highest entry number stored by [`apply_entry`](Storage::apply_entry).
    pub fn origins(&self) -> Result<Vec<(String, u64)>, StorageError> {
        self.meta_marks(META_ORIGIN_PREFIX)
    }

    /// The `meta` keys under `prefix` (the prefix cut off) with their u64 values.
    fn meta_marks(&self, prefix: &str) -> Result<Vec<(String, u64)>, StorageError> {
        let meta = cf_handle(&self.db, catalog::META)?;
        let mut out = Vec::new();
        let iter = self
            .db
            .iterator_cf(meta, rocksdb::IteratorMode::From(prefix.as_bytes(), rocksdb::Direction::Forward));
        for item in iter {
            let (key, value) = item?;
            let Some(name) = key.strip_prefix(prefix.as_bytes()) else { break };
            if let Ok(name) = std::str::from_utf8(name) {
                out.push((name.to_string(), be_u64(&value)));
            }
        }
        Ok(out)
    }
}

fn be_u64(bytes: &[u8]) -> u64 {
    let mut raw = [0u8; 8];
    let n = bytes.len().min(8);
    raw[8 - n..].copy_from_slice(&bytes[..n]);
    u64::from_be_bytes(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MessageRecord, StorageConfig, StoredSender};

    fn message(text: &str) -> MessageRecord {
        MessageRecord {
            v: 1,
            from: StoredSender::Visitor,
            agent_id: None,
            client_msg_id: "c1".into(),
            text: text.into(),
            sent_at_ms: 5,
        }
    }

    #[test]
    fn an_entry_round_trips_and_applies_with_its_position_and_fences() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path(), &StorageConfig::default()).unwrap();
        let mut a = Batch::new();
        a.put_message(7, 1, &message("hello"));
        a.owned_by(Owner { shard: 7, lease: 42 });
        let mut b = Batch::new();
        b.put_meta("x", vec![1]);
        let bytes = encode_batches([&a, &b].into_iter());
        let entry = decode_entry(&bytes).unwrap();
        assert_eq!(entry.batches.len(), 2);
        assert_eq!(entry.batches[0].owner(), Some(Owner { shard: 7, lease: 42 }));
        assert_eq!(entry.batches[1].owner(), None);
        storage.apply_entry(&[&entry.batches[0]], &[(7, 42), (3, 9)], Some(("n1.00ab", 4)), 11).unwrap();
        assert_eq!(storage.messages(7, 0, 10).unwrap()[0].1.text, "hello");
        assert_eq!(storage.meta("x").unwrap(), None, "a batch left out is not written");
        assert_eq!(storage.log_applied().unwrap(), 11);
        assert_eq!(storage.fences().unwrap(), vec![(3, 9), (7, 42)]);
        assert_eq!(storage.origins().unwrap(), vec![("n1.00ab".to_string(), 4)]);
        storage.apply_entry(&[], &[], Some(("n1.00ab", 6)), 12).unwrap();
        assert_eq!(storage.origins().unwrap(), vec![("n1.00ab".to_string(), 6)]);
        assert_eq!(storage.fences().unwrap(), vec![(3, 9), (7, 42)], "fences are unchanged");
    }

    #[test]
    fn an_entry_naming_an_unknown_family_is_refused() {
        let wire = vec![WireBatch {
            owner: None,
            ops: vec![WireOp { cf: "future".into(), key: serde_bytes::ByteBuf::from(vec![1]), value: None }],
        }];
        let bytes = rmp_serde::to_vec(&wire).unwrap();
        let err = decode_entry(&bytes).unwrap_err();
        assert!(err.to_string().contains("unknown column family"), "{err}");
        assert!(decode_entry(b"\xc1garbage").is_err());
    }
}
