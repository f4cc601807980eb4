//! Visitors' ratings of closed chats (`session_rating`): one record per rated session, in its
//! own family rather than the session's record, whose only writer is the session actor.
//! That a session is rated at most once is the engine's rule (checked under its lock).

use serde::{Deserialize, Serialize};

use crate::records::Record;
use crate::store::decode;
use crate::writer::cf_handle;
use crate::{catalog, keys, Batch, Storage, StorageError};

/// A visitor's rating of a chat (`session_rating` family).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatingRecord {
    pub v: u8,
    /// 1 (bad) to 5 (great).
    pub score: u8,
    pub comment: Option<String>,
    pub rated_at_ms: u64,
}

impl Record for RatingRecord {
    const NAMED: bool = true;
    fn version(&self) -> u8 {
        self.v
    }
}

impl Batch {
    /// Store the rating of `session_id`.
    pub fn put_rating(&mut self, session_id: u64, record: &RatingRecord) -> &mut Batch {
        self.put(catalog::SESSION_RATING, &keys::id(session_id), record.encode())
    }
}

impl Storage {
    /// The rating of `session_id`, if the visitor rated it.
    pub fn rating(&self, session_id: u64) -> Result<Option<RatingRecord>, StorageError> {
        let cf = cf_handle(&self.db, catalog::SESSION_RATING)?;
        let key = keys::id(session_id);
        match self.db.get_pinned_cf(cf, key)? {
            Some(value) => Ok(Some(decode(catalog::SESSION_RATING, &key, &value)?)),
            None => Ok(None),
        }
    }
}
