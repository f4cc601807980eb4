//! The bulk import: every entry is checked first (its fields, its email against the other
//! entries and against the stored contacts), and only then is the whole import written, in
//! one atomic batch. One bad entry refuses the import, naming the entry (1-based); nothing
//! is half-imported.

use std::collections::HashMap;

use switchboard_storage::contacts::email_term;
use switchboard_storage::Batch;

use super::email_taken;
use crate::domain::contact::{self, Contact, ContactDraft, ContactFields};
use crate::{convert, now_ms, Engine, EngineError};

/// Most contacts one import holds. One import is one RocksDB batch (a record and about four
/// index entries per contact) and one fsync, and its body is parsed whole in memory; a
/// thousand is a morning's spreadsheet and keeps the batch a few megabytes at most. Larger
/// lists go in several imports, each all-or-nothing.
pub const IMPORT_ENTRIES_MAX: usize = 1000;

impl Engine {
    /// Import `drafts` all together or not at all; the new contacts, in the drafts' order.
    pub async fn import_contacts(&self, drafts: Vec<ContactDraft>) -> Result<Vec<Contact>, EngineError> {
        if drafts.len() > IMPORT_ENTRIES_MAX {
            return Err(EngineError::ImportTooLarge { entries: drafts.len(), max: IMPORT_ENTRIES_MAX });
        }
        let fields = check_entries(drafts)?;
        let _writing = self.contacts.writes.lock().await;
        let emails: Vec<Option<String>> = fields.iter().map(|f| f.email.clone()).collect();
        let taken = self
            .hub
            .read(move |storage| {
                for (i, email) in emails.iter().enumerate() {
                    let Some(email) = email else { continue };
                    if let Some(other) = storage.contact_by_email(email)? {
                        return Ok(Some((i, email.clone(), other)));
                    }
                }
                Ok(None)
            })
            .await?;
        if let Some((i, email, other)) = taken {
            return Err(refused(i, email_taken(&email, other)));
        }
        let now = now_ms();
        let mut contacts = Vec::with_capacity(fields.len());
        for fields in fields {
            let id = self.new_id(&self.contacts.next_id)?;
            contacts.push(Contact { id, fields, created_at_ms: now, updated_at_ms: now });
        }
        let mut batch = Batch::new();
        for contact in &contacts {
            batch.put_contact(&convert::contact_record(contact), None);
        }
        if !batch.is_empty() {
            self.write(batch).await?;
        }
        Ok(contacts)
    }
}

/// Each entry's fields, or the first entry that is invalid or repeats an earlier email.
fn check_entries(drafts: Vec<ContactDraft>) -> Result<Vec<ContactFields>, EngineError> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::with_capacity(drafts.len());
    for (i, draft) in drafts.into_iter().enumerate() {
        let fields = contact::validate(draft).map_err(|e| refused(i, e.into()))?;
        if let Some(email) = &fields.email {
            if let Some(first) = seen.insert(email_term(email), i) {
                let message = format!("`email` {email} is also entry {}'s", first + 1);
                return Err(refused(i, EngineError::DuplicateContact(message)));
            }
        }
        out.push(fields);
    }
    Ok(out)
}

/// The import's refusal for the entry at index `i` (named 1-based).
fn refused(i: usize, reason: EngineError) -> EngineError {
    EngineError::ImportRefused { entry: i + 1, reason: Box::new(reason) }
}
