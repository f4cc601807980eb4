//! Contacts and their lookup indexes. A contact's record lives in `contact`; its email
//! (lower-cased), each distinct word of its name (lower-cased letters and digits) and its
//! phone's digits are index terms in `contact_by_email`, `contact_by_name` and
//! `contact_by_phone` (key layouts in [`crate::catalog`]). A prefix lookup is one bounded
//! range scan over an index family.
//!
//! The terms are derived here, from the record, in one place: the writes that keep the
//! indexes in step and the lookups that read them cannot disagree. What a valid email or
//! phone number is, and whether an email may be used twice, is the engine's business.

use rocksdb::{Direction, IteratorMode};

use crate::store::{corrupt, decode};
use crate::writer::cf_handle;
use crate::{catalog, keys, Batch, ContactRecord, Storage, StorageError};

/// Which contact index a lookup reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactIndex {
    /// `contact_by_email`: the prefix is lower-cased.
    Email,
    /// `contact_by_name`: the prefix is one word, lower-cased.
    Name,
    /// `contact_by_phone`: only the prefix's ASCII digits count.
    Phone,
}

impl ContactIndex {
    fn family(self) -> &'static str {
        match self {
            ContactIndex::Email => catalog::CONTACT_BY_EMAIL,
            ContactIndex::Name => catalog::CONTACT_BY_NAME,
            ContactIndex::Phone => catalog::CONTACT_BY_PHONE,
        }
    }

    /// The index term of `text` (a stored value or a query prefix).
    pub fn term(self, text: &str) -> String {
        match self {
            ContactIndex::Email => email_term(text),
            ContactIndex::Name => text.trim().to_lowercase().replace('\0', ""),
            ContactIndex::Phone => phone_term(text),
        }
    }
}

/// An email's index term: trimmed and lower-cased (without NUL, the key separator).
pub fn email_term(email: &str) -> String {
    email.trim().to_lowercase().replace('\0', "")
}

/// A phone number's index term: its ASCII digits.
pub fn phone_term(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).collect()
}

/// A name's index terms: its words (runs of letters and digits), lower-cased, each once.
pub fn name_terms(name: &str) -> Vec<String> {
    let mut words: Vec<String> =
        name.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect();
    words.sort();
    words.dedup();
    words
}

/// Every index key of a contact, with its family.
fn index_keys(record: &ContactRecord) -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    if let Some(email) = &record.email {
        out.push((catalog::CONTACT_BY_EMAIL, keys::term_id(&email_term(email), record.id)));
    }
    for word in name_terms(&record.name) {
        out.push((catalog::CONTACT_BY_NAME, keys::term_id(&word, record.id)));
    }
    if let Some(phone) = record.phone.as_deref().map(phone_term).filter(|p| !p.is_empty()) {
        out.push((catalog::CONTACT_BY_PHONE, keys::term_id(&phone, record.id)));
    }
    out
}

impl Batch {
    /// Write a contact and keep its index entries in step: `previous` (the stored version,
    /// when this is a change) loses its entries, the new version gets its own, in this batch.
    pub fn put_contact(&mut self, record: &ContactRecord, previous: Option<&ContactRecord>) -> &mut Batch {
        if let Some(previous) = previous {
            for (family, key) in index_keys(previous) {
                self.delete(family, &key);
            }
        }
        for (family, key) in index_keys(record) {
            self.put(family, &key, Vec::new());
        }
        self.put(catalog::CONTACT, &keys::id(record.id), crate::records::Record::encode(record))
    }
}

impl Storage {
    /// A contact.
    pub fn contact(&self, id: u64) -> Result<Option<ContactRecord>, StorageError> {
        self.get_record(catalog::CONTACT, &keys::id(id))
    }

    /// Up to `limit` contacts with an id above `after_id`, by id.
    pub fn contacts(&self, after_id: u64, limit: usize) -> Result<Vec<ContactRecord>, StorageError> {
        let mut out = Vec::new();
        let Some(first) = after_id.checked_add(1) else { return Ok(out) };
        let cf = cf_handle(&self.db, catalog::CONTACT)?;
        let start = keys::id(first);
        for item in self.db.iterator_cf(cf, IteratorMode::From(&start, Direction::Forward)) {
            if out.len() >= limit {
                break;
            }
            let (key, value) = item?;
            out.push(decode(catalog::CONTACT, &key, &value)?);
        }
        Ok(out)
    }

    /// The contact whose email is `email` (case-insensitive), if any.
    pub fn contact_by_email(&self, email: &str) -> Result<Option<u64>, StorageError> {
        let mut exact = email_term(email).into_bytes();
        if exact.is_empty() {
            return Ok(None);
        }
        exact.push(0);
        Ok(self.scan(catalog::CONTACT_BY_EMAIL, &exact, 1)?.into_iter().next())
    }

    /// Up to `limit` distinct contacts whose `index` term starts with `prefix` (normalised
    /// as that index's terms are), in the index's order (term, then id). An empty prefix
    /// finds nothing.
    pub fn contact_ids(
        &self,
        index: ContactIndex,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<u64>, StorageError> {
        let term = index.term(prefix);
        if term.is_empty() {
            return Ok(Vec::new());
        }
        self.scan(index.family(), term.as_bytes(), limit)
    }

    /// Distinct ids of the index entries starting with `prefix`, at most `limit`.
    fn scan(&self, family: &'static str, prefix: &[u8], limit: usize) -> Result<Vec<u64>, StorageError> {
        let cf = cf_handle(&self.db, family)?;
        let mut out: Vec<u64> = Vec::new();
        for item in self.db.iterator_cf(cf, IteratorMode::From(prefix, Direction::Forward)) {
            if out.len() >= limit {
                break;
            }
            let (key, _) = item?;
            if !key.starts_with(prefix) {
                break;
            }
            let (_, id) = keys::decode_term_id(&key).ok_or_else(|| corrupt(family, &key, "key layout"))?;
            if !out.contains(&id) {
                out.push(id);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
#[path = "contacts_tests.rs"]
mod tests;
