//! Finding contacts: by the start of any word of the name, the start of the email, or the
//! start of the phone number's digits; case-insensitive. Each index is read by one bounded
//! range scan, so a search costs the same however many contacts there are.

use std::collections::BTreeSet;

use switchboard_storage::contacts::name_terms;
use switchboard_storage::{ContactIndex, Storage};

use crate::domain::contact::Contact;
use crate::{convert, Engine, EngineError};

/// Most contacts one search returns: a pick list for an agent, not an export.
pub const SEARCH_RESULTS_MAX: usize = 50;

/// Most name-index entries a search of several words reads to find names holding all of
/// them: bounds its work; a query this unselective should be narrowed.
pub const SEARCH_SCAN_MAX: usize = 1000;

/// Largest search query, in bytes (as the longest name).
pub const QUERY_BYTES_MAX: usize = 128;

impl Engine {
    /// Up to `limit` (at most [`SEARCH_RESULTS_MAX`]) contacts matching `query`, by id:
    /// those with a name word starting with each of the query's words (`ada lo` finds Ada
    /// Lovelace), an email starting with the query, or phone digits starting with the
    /// query's digits (when the query looks like a phone number: digits, spaces, `+ - ( ) .`).
    /// When more match than `limit`, which ones are returned is unspecified; a longer query
    /// narrows it.
    pub async fn search_contacts(&self, query: String, limit: usize) -> Result<Vec<Contact>, EngineError> {
        let limit = limit.clamp(1, SEARCH_RESULTS_MAX);
        let found = self.hub.read(move |storage| Ok(search(storage, &query, limit)?)).await?;
        Ok(found.into_iter().map(convert::contact).collect())
    }
}

fn search(
    storage: &Storage,
    query: &str,
    limit: usize,
) -> Result<Vec<switchboard_storage::ContactRecord>, switchboard_storage::StorageError> {
    let query = query.trim();
    let mut ids = BTreeSet::new();
    let words = name_terms(query);
    let mut by_name = Vec::new();
    if let Some(longest) = words.iter().max_by_key(|w| w.len()) {
        // One word: its first `limit` entries are matches. Several: read more, keep those
        // whose name holds every word.
        let scan = if words.len() == 1 { limit } else { SEARCH_SCAN_MAX };
        for id in storage.contact_ids(ContactIndex::Name, longest, scan)? {
            if by_name.len() >= limit {
                break;
            }
            let Some(record) = storage.contact(id)? else { continue };
            let terms = name_terms(&record.name);
            if words.iter().all(|w| terms.iter().any(|t| t.starts_with(w.as_str()))) {
                ids.insert(id);
                by_name.push(record);
            }
        }
    }
    if !query.contains(char::is_whitespace) {
        ids.extend(storage.contact_ids(ContactIndex::Email, query, limit)?);
    }
    let phone_like = query.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if phone_like {
        ids.extend(storage.contact_ids(ContactIndex::Phone, query, limit)?);
    }
    let mut out = Vec::new();
    for id in ids.into_iter().take(limit) {
        match by_name.iter().position(|r| r.id == id) {
            Some(i) => out.push(by_name.swap_remove(i)),
            None => out.extend(storage.contact(id)?),
        }
    }
    Ok(out)
}
