//! Team channels in storage: their records, the batch operations that write them and the
//! reads that load them. The families are declared in [`crate::catalog`]; keys come from
//! [`crate::keys`].

use rocksdb::{Direction, IteratorMode};
use serde::{Deserialize, Serialize};

use crate::records::Record;
use crate::store::{corrupt, decode};
use crate::writer::cf_handle;
use crate::{catalog, keys, Batch, Storage, StorageError};

/// One channel (`channel` family).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelRecord {
    pub v: u8,
    pub id: u64,
    pub name: String,
    pub description: String,
    pub topic: String,
    pub folder_id: Option<u64>,
    pub private: bool,
    pub archived: bool,
    pub created_by: u64,
    pub created_at_ms: u64,
}

/// A member's standing, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoredRole {
    Admin,
    Member,
}

/// One membership (`channel_member` family); channel and agent are in the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelMemberRecord {
    pub v: u8,
    pub role: StoredRole,
    pub joined_at_ms: u64,
}

/// One channel message (`channel_message` family); channel and seq are in the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelMessageRecord {
    pub v: u8,
    pub author: u64,
    pub client_msg_id: String,
    pub text: String,
    pub sent_at_ms: u64,
    pub edited_at_ms: Option<u64>,
    pub deleted: bool,
    pub mentions: Vec<u64>,
}

/// One channel folder (`folder` family).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FolderRecord {
    pub v: u8,
    pub id: u64,
    pub name: String,
    /// Folders are listed by position, then id.
    pub position: u32,
    pub created_at_ms: u64,
}

impl Record for ChannelRecord {
    const NAMED: bool = true;
    fn version(&self) -> u8 {
        self.v
    }
}

impl Record for ChannelMemberRecord {
    const NAMED: bool = true;
    fn version(&self) -> u8 {
        self.v
    }
}

impl Record for ChannelMessageRecord {
    const NAMED: bool = false;
    fn version(&self) -> u8 {
        self.v
    }
}

impl Record for FolderRecord {
    const NAMED: bool = true;
    fn version(&self) -> u8 {
        self.v
    }
}

impl Batch {
    /// Write a channel's metadata.
    pub fn put_channel(&mut self, record: &ChannelRecord) -> &mut Batch {
        self.put(catalog::CHANNEL, &keys::id(record.id), record.encode())
    }

    /// Add (or rewrite) a membership.
    pub fn put_channel_member(
        &mut self,
        channel: u64,
        agent: u64,
        record: &ChannelMemberRecord,
    ) -> &mut Batch {
        self.put(catalog::CHANNEL_MEMBER, &keys::pair(channel, agent), record.encode())
    }

    /// End a membership (and forget the member's read position).
    pub fn delete_channel_member(&mut self, channel: u64, agent: u64) -> &mut Batch {
        self.delete(catalog::CHANNEL_MEMBER, &keys::pair(channel, agent));
        self.delete(catalog::CHANNEL_READ, &keys::pair(channel, agent))
    }

    /// Record that `agent` has read `channel` up to `seq`.
    pub fn put_channel_read(&mut self, channel: u64, agent: u64, seq: u64) -> &mut Batch {
        self.put(catalog::CHANNEL_READ, &keys::pair(channel, agent), seq.to_be_bytes().to_vec())
    }

    /// Write message `seq` of `channel` (a new one, or an edit or deletion of it).
    pub fn put_channel_message(
        &mut self,
        channel: u64,
        seq: u64,
        record: &ChannelMessageRecord,
    ) -> &mut Batch {
        self.put(catalog::CHANNEL_MESSAGE, &keys::pair(channel, seq), record.encode())
    }

    /// Write a folder.
    pub fn put_folder(&mut self, record: &FolderRecord) -> &mut Batch {
        self.put(catalog::FOLDER, &keys::id(record.id), record.encode())
    }

    /// Delete a folder (its channels are rewritten by the caller).
    pub fn delete_folder(&mut self, id: u64) -> &mut Batch {
        self.delete(catalog::FOLDER, &keys::id(id))
    }
}

impl Storage {
    /// Every channel, by id.
    pub fn channels(&self) -> Result<Vec<ChannelRecord>, StorageError> {
        self.every_record(catalog::CHANNEL)
    }

    /// One channel.
    pub fn channel(&self, id: u64) -> Result<Option<ChannelRecord>, StorageError> {
        let cf = cf_handle(&self.db, catalog::CHANNEL)?;
        let key = keys::id(id);
        match self.db.get_cf(cf, key)? {
            Some(value) => Ok(Some(decode(catalog::CHANNEL, &key, &value)?)),
            None => Ok(None),
        }
    }

    /// Every folder, by id.
    pub fn folders(&self) -> Result<Vec<FolderRecord>, StorageError> {
        self.every_record(catalog::FOLDER)
    }

    /// A channel's members with their read positions (0 when none is stored), by agent id.
    pub fn channel_members(
        &self,
        channel: u64,
    ) -> Result<Vec<(u64, ChannelMemberRecord, u64)>, StorageError> {
        let reads: std::collections::HashMap<u64, u64> = self
            .pairs(catalog::CHANNEL_READ, channel)?
            .into_iter()
            .map(|(agent, value)| {
                let seq = keys::decode_id(&value).ok_or_else(|| {
                    corrupt(catalog::CHANNEL_READ, &keys::pair(channel, agent), "value length")
                })?;
                Ok((agent, seq))
            })
            .collect::<Result<_, StorageError>>()?;
        self.pairs(catalog::CHANNEL_MEMBER, channel)?
            .into_iter()
            .map(|(agent, value)| {
                let key = keys::pair(channel, agent);
                let record = decode(catalog::CHANNEL_MEMBER, &key, &value)?;
                Ok((agent, record, reads.get(&agent).copied().unwrap_or(0)))
            })
            .collect()
    }

    /// Up to `limit` messages of a channel with seq > `after_seq`, oldest first.
    pub fn channel_messages_after(
        &self,
        channel: u64,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<(u64, ChannelMessageRecord)>, StorageError> {
        let Some(from) = after_seq.checked_add(1) else { return Ok(Vec::new()) };
        self.channel_scan(channel, keys::pair(channel, from), Direction::Forward, limit)
    }

    /// Up to `limit` messages of a channel with seq < `before_seq`, newest first.
    pub fn channel_messages_before(
        &self,
        channel: u64,
        before_seq: u64,
        limit: usize,
    ) -> Result<Vec<(u64, ChannelMessageRecord)>, StorageError> {
        let Some(to) = before_seq.checked_sub(1) else { return Ok(Vec::new()) };
        self.channel_scan(channel, keys::pair(channel, to), Direction::Reverse, limit)
    }

    fn channel_scan(
        &self,
        channel: u64,
        start: [u8; 16],
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<(u64, ChannelMessageRecord)>, StorageError> {
        let cf = cf_handle(&self.db, catalog::CHANNEL_MESSAGE)?;
        let mut out = Vec::new();
        for item in self.db.iterator_cf(cf, IteratorMode::From(&start, direction)) {
            let (key, value) = item?;
            let Some((id, seq)) = keys::decode_pair(&key) else { break };
            if id != channel || out.len() >= limit {
                break;
            }
            out.push((seq, decode(catalog::CHANNEL_MESSAGE, &key, &value)?));
        }
        Ok(out)
    }

    /// The (second id, raw value) of every `first ++ second` key of a pair-keyed family.
    fn pairs(&self, cf_name: &'static str, first: u64) -> Result<Vec<(u64, Box<[u8]>)>, StorageError> {
        let cf = cf_handle(&self.db, cf_name)?;
        let start = keys::pair(first, 0);
        let mut out = Vec::new();
        for item in self.db.iterator_cf(cf, IteratorMode::From(&start, Direction::Forward)) {
            let (key, value) = item?;
            match keys::decode_pair(&key) {
                Some((id, second)) if id == first => out.push((second, value)),
                _ => break,
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
#[path = "channels_tests.rs"]
mod tests;
