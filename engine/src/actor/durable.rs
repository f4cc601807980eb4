//! Ordered durable writes for one conversation actor (a chat session, a team channel): the
//! mechanism both share. A write is submitted to the group commit with what must happen once
//! it is durable; writes finish in any order, but their effects are released strictly in
//! submission order ([`Pipeline`]), so a subscriber never sees seq 6 before 5 and a caller is
//! answered only once its write and every earlier one are durable.
//!
//! Storage reports finished writes on one channel per actor (not one per write), so a group
//! commit that finishes many of one actor's writes wakes it once. The channel has room for
//! every write the pipeline may hold, so reporting never blocks the writer thread.

use switchboard_storage::{Batch, Storage, StorageError};
use tokio::sync::mpsc;

use crate::domain::pipeline::Pipeline;
use crate::EngineError;

/// A write's outcome, sent by the storage writer thread to the actor that submitted it.
pub(crate) type Written = (u64, Result<(), StorageError>);

/// The writes in flight of one actor, each with its effect `P`.
pub(crate) struct DurableWrites<P> {
    pipeline: Pipeline<(P, Option<EngineError>)>,
    tx: mpsc::Sender<Written>,
    rx: Option<mpsc::Receiver<Written>>,
    /// Most writes in flight: the bound of the pipeline and of the report channel.
    max: usize,
}

impl<P> DurableWrites<P> {
    /// At most `max` writes in flight.
    pub(crate) fn new(max: usize) -> DurableWrites<P> {
        let (tx, rx) = mpsc::channel(max.max(1));
        DurableWrites { pipeline: Pipeline::default(), tx, rx: Some(rx), max }
    }

    /// The stream of finished writes, for the actor to add to its context once (at start).
    pub(crate) fn reports(&mut self) -> Option<impl futures_util::Stream<Item = Written>> {
        let mut rx = self.rx.take()?;
        Some(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
    }

    pub(crate) fn len(&self) -> usize {
        self.pipeline.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pipeline.is_empty()
    }

    /// The effect of write `write` while it is in flight (to add a waiter to it).
    pub(crate) fn get_mut(&mut self, write: u64) -> Option<&mut P> {
        self.pipeline.get_mut(write).map(|(p, _)| p)
    }

    /// Submit `batch`; `effect` is released by [`DurableWrites::written`] once it is durable.
    /// When storage refuses the write outright (its queue, or this actor's, is full) nothing
    /// was written: the effect comes back with the error, for the caller to take its change
    /// back and tell its waiters.
    pub(crate) fn submit(
        &mut self,
        storage: &Storage,
        batch: Batch,
        effect: P,
    ) -> Result<u64, (P, EngineError)> {
        let write = self.pipeline.next_id();
        let done = self.tx.clone();
        let submitted = if self.pipeline.len() >= self.max {
            Err(StorageError::Overloaded)
        } else {
            // `try_send` cannot fail for lack of room (the channel fits the whole pipeline);
            // it fails only when the actor is gone, and then nobody waits for the answer.
            storage.submit(batch, Box::new(move |result| drop(done.try_send((write, result)))))
        };
        if let Err(e) = submitted {
            return Err((effect, storage_failure(e)));
        }
        let pushed = self.pipeline.push((effect, None));
        debug_assert_eq!(pushed, write);
        Ok(write)
    }

    /// Write `write` finished: the effects now releasable, in submission order, each with
    /// the error of its own write if that failed.
    pub(crate) fn written(
        &mut self,
        write: u64,
        result: Result<(), StorageError>,
    ) -> Vec<(P, Option<EngineError>)> {
        if let Err(e) = result {
            if let Some((_, failure)) = self.pipeline.get_mut(write) {
                *failure = Some(storage_failure(e));
            }
        }
        self.pipeline.complete(write)
    }
}

/// The engine error of a refused or failed write.
pub(crate) fn storage_failure(error: StorageError) -> EngineError {
    match error {
        StorageError::Overloaded => EngineError::Overloaded("storage write queue is full"),
        other => EngineError::Storage(other),
    }
}
