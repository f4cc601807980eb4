//! The ordered, durable conversation log that chat sessions and team channels share: gapless
//! sequence numbers, idempotency by (author, client message id), the durable mark and the
//! in-memory tail that replays missed messages. Pure: the owner persists what [`Log::append`]
//! hands out and reports durability back, in seq order ([`super::pipeline::Pipeline`]).
//! Who may append is the owner's rule (a session's participants, a channel's members), not
//! the log's.
//!
//! Invariant: `durable_seq <= last_seq`; every seq in `1..=last_seq` was handed out exactly
//! once; seqs become durable in order.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

use super::types::Seq;

/// One entry of a log: a message with its seq, its author and the author's id for it.
pub trait Entry: Clone {
    /// Who wrote it: client message ids are scoped per author.
    type Author: Copy + Eq + Hash;
    fn seq(&self) -> Seq;
    fn author(&self) -> Self::Author;
    fn client_msg_id(&self) -> &str;
    fn sent_at_ms(&self) -> u64;
}

/// A log's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    /// Largest message text in bytes.
    pub text_bytes_max: usize,
    /// Most messages one log may hold (a bound on storage per conversation).
    pub messages_max: u64,
    /// Most recent durable messages kept in memory for replay.
    pub tail_max: usize,
    /// Most recent client message ids remembered for idempotency: a retry of an older one
    /// is a new message. Sessions remember all (`messages_max`); a long-lived channel
    /// remembers a window, so its memory does not grow with its history.
    pub dedup_max: usize,
}

/// Why the log refused an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogError {
    /// The text is empty or longer than allowed.
    BadText { len: usize, max: usize },
    /// The log holds its maximum number of messages.
    Full { max: u64 },
}

/// What an append gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// A new seq at `sent_at_ms`: build the entry, persist it, then report it with
    /// [`Log::durable`].
    New { seq: Seq, sent_at_ms: u64 },
    /// This client message id was already appended as `seq` at `sent_at_ms`; nothing new to
    /// write. The original may still be in flight (`seq` > [`Log::durable_seq`]).
    Duplicate { seq: Seq, sent_at_ms: u64 },
}

/// Outcome of a replay request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay<M> {
    /// The missed messages (at most the asked number) and whether more remain.
    Messages { messages: Vec<M>, has_more: bool },
    /// The range starts before the in-memory tail: read it from storage up to `durable_seq`.
    FromStorage { durable_seq: Seq },
}

/// A conversation's log.
#[derive(Debug, Clone)]
pub struct Log<M: Entry> {
    limits: LogLimits,
    last_seq: Seq,
    durable_seq: Seq,
    /// (author, client message id) → (seq, sent_at_ms).
    dedup: HashMap<(M::Author, String), (Seq, u64)>,
    /// The keys of `dedup`, oldest first (what to forget beyond `dedup_max`).
    dedup_order: VecDeque<(M::Author, String)>,
    tail: VecDeque<M>,
}

impl<M: Entry> Log<M> {
    /// Rebuild a log from its newest stored entries, oldest first (at least the newest
    /// `dedup_max` of them, or all).
    pub fn restore(entries: Vec<M>, limits: LogLimits) -> Log<M> {
        let last = entries.last().map_or(0, |m| m.seq());
        let mut log = Log {
            limits,
            last_seq: last,
            durable_seq: last,
            dedup: HashMap::new(),
            dedup_order: VecDeque::new(),
            tail: VecDeque::new(),
        };
        let skip = entries.len().saturating_sub(limits.dedup_max);
        for m in entries.iter().skip(skip) {
            log.remember(m.author(), m.client_msg_id(), m.seq(), m.sent_at_ms());
        }
        let skip = entries.len().saturating_sub(limits.tail_max);
        log.tail = entries.into_iter().skip(skip).collect();
        log
    }

    fn remember(&mut self, author: M::Author, client_msg_id: &str, seq: Seq, sent_at_ms: u64) {
        let key = (author, client_msg_id.to_string());
        if self.dedup.insert(key.clone(), (seq, sent_at_ms)).is_none() {
            self.dedup_order.push_back(key);
        }
        while self.dedup_order.len() > self.limits.dedup_max {
            if let Some(old) = self.dedup_order.pop_front() {
                self.dedup.remove(&old);
            }
        }
    }

    /// Newest durable seq.
    pub fn durable_seq(&self) -> Seq {
        self.durable_seq
    }

    /// The limits this log enforces.
    pub fn limits(&self) -> LogLimits {
        self.limits
    }

    /// An earlier append of this author's client message id, if any.
    pub fn duplicate(&self, author: M::Author, client_msg_id: &str) -> Option<Appended> {
        let key = (author, client_msg_id.to_string());
        self.dedup.get(&key).map(|&(seq, sent_at_ms)| Appended::Duplicate { seq, sent_at_ms })
    }

    /// Hand out the next seq for `author`'s message `client_msg_id` of `text_len` bytes, or
    /// return the earlier append of the same id.
    pub fn append(
        &mut self,
        author: M::Author,
        client_msg_id: &str,
        text_len: usize,
        now_ms: u64,
    ) -> Result<Appended, LogError> {
        if let Some(earlier) = self.duplicate(author, client_msg_id) {
            return Ok(earlier);
        }
        let max = self.limits.text_bytes_max;
        if text_len == 0 || text_len > max {
            return Err(LogError::BadText { len: text_len, max });
        }
        if self.last_seq >= self.limits.messages_max {
            return Err(LogError::Full { max: self.limits.messages_max });
        }
        self.last_seq += 1;
        self.remember(author, client_msg_id, self.last_seq, now_ms);
        Ok(Appended::New { seq: self.last_seq, sent_at_ms: now_ms })
    }

    /// Take back the newest append, whose write storage refused before accepting it
    /// (nothing was written), so the seq is handed out again and a retry is not a duplicate.
    pub fn undo(&mut self, entry: &M) {
        if entry.seq() == self.last_seq && self.last_seq > self.durable_seq {
            self.last_seq -= 1;
            let key = (entry.author(), entry.client_msg_id().to_string());
            self.dedup.remove(&key);
            if self.dedup_order.back() == Some(&key) {
                self.dedup_order.pop_back();
            }
        }
    }

    /// Report that `entry` is durable. Entries must be reported in seq order.
    pub fn durable(&mut self, entry: M) {
        debug_assert_eq!(entry.seq(), self.durable_seq + 1, "durable out of order");
        self.durable_seq = entry.seq();
        self.tail.push_back(entry);
        while self.tail.len() > self.limits.tail_max {
            self.tail.pop_front();
        }
    }

    /// Replace a durable entry still in the tail (an edit or a deletion made durable).
    pub fn replace(&mut self, entry: M) {
        let at = self.tail.partition_point(|m| m.seq() < entry.seq());
        if let Some(slot) = self.tail.get_mut(at).filter(|m| m.seq() == entry.seq()) {
            *slot = entry;
        }
    }

    /// A durable entry still in the tail.
    pub fn get(&self, seq: Seq) -> Option<&M> {
        let at = self.tail.partition_point(|m| m.seq() < seq);
        self.tail.get(at).filter(|m| m.seq() == seq)
    }

    /// Durable entries with seq > `after_seq`, at most `max` of them.
    pub fn replay(&self, after_seq: Seq, max: usize) -> Replay<M> {
        if after_seq >= self.durable_seq {
            return Replay::Messages { messages: Vec::new(), has_more: false };
        }
        match self.tail.front() {
            Some(first) if first.seq() <= after_seq + 1 => {
                // Search rather than index: seqs are gapless except after a failed write.
                let start = self.tail.partition_point(|m| m.seq() <= after_seq);
                let messages: Vec<M> = self.tail.iter().skip(start).take(max).cloned().collect();
                let has_more = messages.last().is_some_and(|m| m.seq() < self.durable_seq);
                Replay::Messages { messages, has_more }
            }
            _ => Replay::FromStorage { durable_seq: self.durable_seq },
        }
    }
}

#[cfg(test)]
#[path = "log_tests.rs"]
mod tests;
