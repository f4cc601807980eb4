//! What operators ask of the engine, beside the chat itself: readiness, storage statistics
//! for the metrics, and checkpoints for backups.

use std::path::PathBuf;

use switchboard_storage::StorageStats;
use tokio::sync::oneshot;

use crate::{now_ms, Engine, EngineError};

impl Engine {
    /// Write the readiness probe through the group-commit writer, as a chat message would
    /// be written, and wait until it is durable.
    pub async fn probe_storage(&self) -> Result<(), EngineError> {
        let (tx, rx) = oneshot::channel();
        self.hub.storage.probe(now_ms(), Box::new(move |result| drop(tx.send(result))))?;
        rx.await.map_err(|_| EngineError::Internal("storage writer stopped".into()))??;
        Ok(())
    }

    /// RocksDB's properties and statistics (in-memory counters; cheap).
    pub fn storage_stats(&self) -> Result<StorageStats, EngineError> {
        Ok(self.hub.storage.stats()?)
    }

    /// Make a RocksDB checkpoint in `dir` (which must not exist), on the blocking pool.
    pub async fn checkpoint(&self, dir: PathBuf) -> Result<(), EngineError> {
        self.hub.read(move |storage| Ok(storage.checkpoint(&dir)?)).await
    }
}
