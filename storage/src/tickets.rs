//! Helpdesk tickets in storage: the ticket records (`ticket`), the link from a session to
//! its ticket (`session_ticket`, also what makes creating one idempotent) and the webhook
//! outbox (`ticket_outbox`, keyed by the next attempt's time so the due deliveries come
//! first in one scan). Key layouts are in [`crate::catalog`].
//!
//! A new ticket, its link and its outbox entry are written by one [`Batch::put_ticket`]:
//! after a crash there is either all of it or none. Whether a session may get a ticket,
//! and when to retry a delivery, is the engine's business.

use rocksdb::{Direction, IteratorMode};
use serde::{Deserialize, Serialize};

use crate::records::Record;
use crate::store::{corrupt, decode};
use crate::writer::cf_handle;
use crate::{catalog, keys, Batch, Storage, StorageError};

/// One ticket (`ticket` family). Its source is a chat session (`session_id`) or, later, a
/// channel message (`channel_id` and `channel_seq`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketRecord {
    pub v: u8,
    pub id: u64,
    pub subject: String,
    pub requester_name: Option<String>,
    pub requester_email: Option<String>,
    /// The transcript as text (bounded by the engine, truncation noted in the text).
    pub description: String,
    pub session_id: Option<u64>,
    pub channel_id: Option<u64>,
    pub channel_seq: Option<u64>,
    /// The agent who asked for it; `None` when the administrator API did.
    pub created_by: Option<u64>,
    pub created_at_ms: u64,
    /// The session's contact, when it has one.
    pub contact_id: Option<u64>,
    /// Made from a message a visitor left for this department while it was closed or
    /// unstaffed (absent: not such a ticket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_for_department: Option<u64>,
}

/// A ticket waiting for delivery to the helpdesk webhook (`ticket_outbox` family); when
/// to try next is in the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxRecord {
    pub v: u8,
    pub ticket_id: u64,
    /// Attempts made so far (0: never tried).
    pub attempts: u32,
    /// Why the last attempt failed (bounded by the engine).
    pub last_error: Option<String>,
    pub queued_at_ms: u64,
}

impl Record for TicketRecord {
    const NAMED: bool = true;
    fn version(&self) -> u8 {
        self.v
    }
}

impl Record for OutboxRecord {
    const NAMED: bool = true;
    fn version(&self) -> u8 {
        self.v
    }
}

/// An outbox entry as read: when it is due, and the entry.
pub type OutboxEntry = (u64, OutboxRecord);

impl Batch {
    /// Write a new ticket, the link from its session (if it has one) and, when `outbox` is
    /// given, its webhook delivery due at `due_at_ms`: all in this one batch.
    pub fn put_ticket(&mut self, record: &TicketRecord, outbox: Option<(u64, &OutboxRecord)>) -> &mut Batch {
        self.put(catalog::TICKET, &keys::id(record.id), record.encode());
        if let Some(session) = record.session_id {
            self.put(catalog::SESSION_TICKET, &keys::id(session), keys::id(record.id).to_vec());
        }
        if let (Some(channel), Some(seq)) = (record.channel_id, record.channel_seq) {
            self.put(catalog::CHANNEL_TICKET, &keys::pair(channel, seq), keys::id(record.id).to_vec());
        }
        if let Some((due_at_ms, entry)) = outbox {
            self.put(catalog::TICKET_OUTBOX, &keys::pair(due_at_ms, entry.ticket_id), entry.encode());
        }
        self
    }

    /// Move an outbox entry from `due_at_ms` to `next_at_ms` with its new state.
    pub fn reschedule_delivery(
        &mut self,
        due_at_ms: u64,
        next_at_ms: u64,
        entry: &OutboxRecord,
    ) -> &mut Batch {
        self.delete(catalog::TICKET_OUTBOX, &keys::pair(due_at_ms, entry.ticket_id));
        self.put(catalog::TICKET_OUTBOX, &keys::pair(next_at_ms, entry.ticket_id), entry.encode())
    }

    /// Remove a delivered ticket's outbox entry.
    pub fn delete_delivery(&mut self, due_at_ms: u64, ticket_id: u64) -> &mut Batch {
        self.delete(catalog::TICKET_OUTBOX, &keys::pair(due_at_ms, ticket_id))
    }
}

impl Storage {
    /// A ticket.
    pub fn ticket(&self, id: u64) -> Result<Option<TicketRecord>, StorageError> {
        self.get_record(catalog::TICKET, &keys::id(id))
    }

    /// Up to `limit` tickets with an id above `after_id`, by id.
    pub fn tickets(&self, after_id: u64, limit: usize) -> Result<Vec<TicketRecord>, StorageError> {
        let mut out = Vec::new();
        let Some(first) = after_id.checked_add(1) else { return Ok(out) };
        let cf = cf_handle(&self.db, catalog::TICKET)?;
        let start = keys::id(first);
        for item in self.db.iterator_cf(cf, IteratorMode::From(&start, Direction::Forward)) {
            if out.len() >= limit {
                break;
            }
            let (key, value) = item?;
            out.push(decode(catalog::TICKET, &key, &value)?);
        }
        Ok(out)
    }

    /// The ticket made from a session, if any.
    pub fn session_ticket(&self, session_id: u64) -> Result<Option<u64>, StorageError> {
        let cf = cf_handle(&self.db, catalog::SESSION_TICKET)?;
        let key = keys::id(session_id);
        match self.db.get_pinned_cf(cf, key)? {
            Some(value) => keys::decode_id(&value)
                .map(Some)
                .ok_or_else(|| corrupt(catalog::SESSION_TICKET, &key, "value length")),
            None => Ok(None),
        }
    }

    /// The ticket made from message `seq` of a channel, if any.
    pub fn channel_ticket(&self, channel_id: u64, seq: u64) -> Result<Option<u64>, StorageError> {
        let cf = cf_handle(&self.db, catalog::CHANNEL_TICKET)?;
        let key = keys::pair(channel_id, seq);
        match self.db.get_pinned_cf(cf, key)? {
            Some(value) => keys::decode_id(&value)
                .map(Some)
                .ok_or_else(|| corrupt(catalog::CHANNEL_TICKET, &key, "value length")),
            None => Ok(None),
        }
    }

    /// Up to `limit` outbox entries, soonest due first (due or not: the caller compares).
    pub fn deliveries(&self, limit: usize) -> Result<Vec<OutboxEntry>, StorageError> {
        let cf = cf_handle(&self.db, catalog::TICKET_OUTBOX)?;
        let mut out = Vec::new();
        for item in self.db.iterator_cf(cf, IteratorMode::Start) {
            if out.len() >= limit {
                break;
            }
            let (key, value) = item?;
            let (due, _) =
                keys::decode_pair(&key).ok_or_else(|| corrupt(catalog::TICKET_OUTBOX, &key, "key length"))?;
            out.push((due, decode(catalog::TICKET_OUTBOX, &key, &value)?));
        }
        Ok(out)
    }

    /// How many outbox entries there are (read once at start for the pending gauge; the
    /// outbox holds only undelivered tickets, so this does not grow with history).
    pub fn deliveries_pending(&self) -> Result<u64, StorageError> {
        let cf = cf_handle(&self.db, catalog::TICKET_OUTBOX)?;
        let mut n = 0;
        for item in self.db.iterator_cf(cf, IteratorMode::Start) {
            item?;
            n += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
#[path = "tickets_tests.rs"]
mod tests;
