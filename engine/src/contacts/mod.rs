//! Contacts: the people a support centre knows, created, changed, listed, found and
//! imported in bulk through the administration API, and linked to a visitor's chat when
//! the visitor gives a contact's email at `start_chat` (one index lookup).
//!
//! The field rules live in [`crate::domain::contact`]; the records and their lookup
//! indexes in `switchboard_storage::contacts`. Here: the one rule that needs storage (an
//! email belongs to at most one contact) and the writes. Contact writes take one lock,
//! [`ContactBook::writes`], so two requests cannot both find an email free and both take
//! it; they are administration, rare enough that one at a time costs nothing.
//!
//! - [`search`]: finding contacts by a word of the name, an email or phone digits.
//! - [`import`]: the all-or-nothing bulk import.

pub mod import;
pub mod search;

use crate::ids::IdCounter;

use switchboard_storage::{catalog, Batch, ContactRecord, Storage};

use crate::domain::contact::{self, Contact, ContactChanges, ContactDraft};
use crate::{convert, now_ms, ContactId, Engine, EngineError, Visitor};

/// Most contacts one page of [`Engine::list_contacts`] holds: a page stays well under a
/// megabyte even with every field at its longest.
pub const CONTACTS_PAGE_MAX: usize = 200;

/// The contacts' shared state: the next id, and the lock that serialises contact writes.
pub(crate) struct ContactBook {
    pub(crate) next_id: IdCounter,
    /// Held from the email check to the durable write of a contact change or import.
    writes: tokio::sync::Mutex<()>,
}

impl ContactBook {
    pub(crate) fn load(storage: &Storage, shards: u32) -> Result<ContactBook, EngineError> {
        let next_id = IdCounter::above(storage.max_id(catalog::CONTACT)?, shards);
        Ok(ContactBook { next_id, writes: tokio::sync::Mutex::new(()) })
    }
}

impl Engine {
    /// Create a contact (durable before it returns). Refused when its email is another
    /// contact's (case-insensitive).
    pub async fn create_contact(&self, draft: ContactDraft) -> Result<Contact, EngineError> {
        let fields = contact::validate(draft)?;
        let _writing = self.contacts.writes.lock().await;
        if let Some(email) = fields.email.clone() {
            if let Some(other) = self.hub.read(move |s| Ok(s.contact_by_email(&email)?)).await? {
                return Err(email_taken(fields.email.as_deref().unwrap_or_default(), other));
            }
        }
        let now = now_ms();
        let contact = Contact {
            id: self.new_id(&self.contacts.next_id)?,
            fields,
            created_at_ms: now,
            updated_at_ms: now,
        };
        let mut batch = Batch::new();
        batch.put_contact(&convert::contact_record(&contact), None);
        self.write(batch).await?;
        Ok(contact)
    }

    /// Change the fields `changes` names (durable before it returns); its index entries
    /// move with it. Refused when the new email is another contact's.
    pub async fn update_contact(
        &self,
        id: ContactId,
        changes: ContactChanges,
    ) -> Result<Contact, EngineError> {
        let _writing = self.contacts.writes.lock().await;
        let old = self.contact_record(id).await?;
        let current = convert::contact(old.clone());
        let fields = contact::apply(current.fields.clone(), changes)?;
        if let Some(email) = fields.email.clone().filter(|e| !same_email(current.fields.email.as_deref(), e))
        {
            if let Some(other) = self.hub.read(move |s| Ok(s.contact_by_email(&email)?)).await? {
                if other != id {
                    return Err(email_taken(fields.email.as_deref().unwrap_or_default(), other));
                }
            }
        }
        let contact = Contact { fields, updated_at_ms: now_ms().max(current.created_at_ms), ..current };
        let mut batch = Batch::new();
        batch.put_contact(&convert::contact_record(&contact), Some(&old));
        self.write(batch).await?;
        Ok(contact)
    }

    /// A contact by id.
    pub async fn get_contact(&self, id: ContactId) -> Result<Contact, EngineError> {
        self.contact_record(id).await.map(convert::contact)
    }

    /// Up to `limit` (at most [`CONTACTS_PAGE_MAX`]) contacts with an id above `after_id`,
    /// by id, and whether more follow.
    pub async fn list_contacts(
        &self,
        after_id: ContactId,
        limit: usize,
    ) -> Result<(Vec<Contact>, bool), EngineError> {
        let limit = limit.clamp(1, CONTACTS_PAGE_MAX);
        let mut page = self.hub.read(move |s| Ok(s.contacts(after_id, limit + 1)?)).await?;
        let has_more = page.len() > limit;
        page.truncate(limit);
        Ok((page.into_iter().map(convert::contact).collect(), has_more))
    }

    /// The contact a visitor's email names (case-insensitive), if any: one index lookup.
    pub(crate) async fn contact_of(&self, visitor: &Visitor) -> Result<Option<ContactId>, EngineError> {
        let Some(email) = visitor.email.clone().filter(|e| !e.trim().is_empty()) else { return Ok(None) };
        self.hub.read(move |s| Ok(s.contact_by_email(&email)?)).await
    }

    async fn contact_record(&self, id: ContactId) -> Result<ContactRecord, EngineError> {
        self.hub.read(move |s| Ok(s.contact(id)?)).await?.ok_or(EngineError::UnknownContact(id))
    }
}

/// True when `email` is `current` up to case (a change of case keeps the same contact).
fn same_email(current: Option<&str>, email: &str) -> bool {
    current.is_some_and(|c| {
        switchboard_storage::contacts::email_term(c) == switchboard_storage::contacts::email_term(email)
    })
}

fn email_taken(email: &str, other: ContactId) -> EngineError {
    EngineError::DuplicateContact(format!("`email` {email} is already contact {other}'s"))
}
