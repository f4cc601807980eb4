//! Agent console sign-in sessions (`console_session`): one record per signed-in browser,
//! keyed by the SHA-256 of its cookie secret so the database never holds a usable cookie.
//! Whether a session is still valid (expiry, a disabled agent) is the engine's business.

use rocksdb::IteratorMode;
use serde::{Deserialize, Serialize};

use crate::records::Record;
use crate::store::decode;
use crate::writer::cf_handle;
use crate::{catalog, Batch, Storage, StorageError};

/// One console session (`console_session` family).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsoleSessionRecord {
    pub v: u8,
    pub agent_id: u64,
    pub created_at_ms: u64,
    pub expires_at_ms: u64,
}

impl Record for ConsoleSessionRecord {
    const NAMED: bool = true;
    fn version(&self) -> u8 {
        self.v
    }
}

impl Batch {
    /// Store a console session under the SHA-256 of its secret.
    pub fn put_console_session(
        &mut self,
        secret_sha256: &[u8; 32],
        record: &ConsoleSessionRecord,
    ) -> &mut Batch {
        self.put(catalog::CONSOLE_SESSION, secret_sha256, record.encode())
    }

    /// End a console session.
    pub fn delete_console_session(&mut self, secret_sha256: &[u8; 32]) -> &mut Batch {
        self.delete(catalog::CONSOLE_SESSION, secret_sha256)
    }
}

impl Storage {
    /// The console session whose secret hashes to `secret_sha256`, if any.
    pub fn console_session(
        &self,
        secret_sha256: &[u8; 32],
    ) -> Result<Option<ConsoleSessionRecord>, StorageError> {
        let db = &self.db;
        let cf = cf_handle(db, catalog::CONSOLE_SESSION)?;
        match db.get_pinned_cf(cf, secret_sha256)? {
            Some(value) => Ok(Some(decode(catalog::CONSOLE_SESSION, secret_sha256, &value)?)),
            None => Ok(None),
        }
    }

    /// Every console session (key = the secret's SHA-256), for expiry sweeps.
    pub fn console_sessions(&self) -> Result<Vec<([u8; 32], ConsoleSessionRecord)>, StorageError> {
        let db = &self.db;
        let cf = cf_handle(db, catalog::CONSOLE_SESSION)?;
        let mut out = Vec::new();
        for item in db.iterator_cf(cf, IteratorMode::Start) {
            let (key, value) = item?;
            let Ok(hash) = <[u8; 32]>::try_from(&key[..]) else {
                return Err(crate::store::corrupt(catalog::CONSOLE_SESSION, &key, "key length"));
            };
            out.push((hash, decode(catalog::CONSOLE_SESSION, &key, &value)?));
        }
        Ok(out)
    }
}
