//! Ordered completion of concurrent writes. Writes are submitted in order and may complete
//! in any order (callbacks, task scheduling); their effects (acknowledgements, deliveries)
//! must still happen strictly in submission order, so a client never sees seq 6 before 5.

use std::collections::VecDeque;

/// A FIFO of in-flight writes, each carrying the effects to release once it and every
/// earlier write is durable.
#[derive(Debug)]
pub struct Pipeline<T> {
    next_id: u64,
    entries: VecDeque<(u64, Option<T>, bool)>,
}

impl<T> Default for Pipeline<T> {
    fn default() -> Self {
        Pipeline { next_id: 1, entries: VecDeque::new() }
    }
}

impl<T> Pipeline<T> {
    /// Register a new in-flight write; returns its id.
    /// The id the next [`push`](Pipeline::push) will return.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    pub fn push(&mut self, effects: T) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.entries.push_back((id, Some(effects), false));
        id
    }

    /// Mark write `id` durable; returns the effects now releasable, in submission order.
    pub fn complete(&mut self, id: u64) -> Vec<T> {
        if let Some(entry) = self.entries.iter_mut().find(|e| e.0 == id) {
            entry.2 = true;
        }
        let mut ready = Vec::new();
        while matches!(self.entries.front(), Some((_, _, true))) {
            let (_, effects, _) = self.entries.pop_front().expect("front exists");
            ready.extend(effects);
        }
        ready
    }

    /// Mutable access to a pending write's effects (to attach another waiter).
    pub fn get_mut(&mut self, id: u64) -> Option<&mut T> {
        self.entries.iter_mut().find(|e| e.0 == id).and_then(|e| e.1.as_mut())
    }

    /// Number of writes not yet released.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_in_submission_order_whatever_the_completion_order() {
        let mut p = Pipeline::default();
        let ids: Vec<u64> = ["a", "b", "c", "d"].into_iter().map(|e| p.push(e)).collect();
        assert_eq!(p.complete(ids[2]), Vec::<&str>::new());
        assert_eq!(p.complete(ids[1]), Vec::<&str>::new());
        assert_eq!(p.complete(ids[0]), vec!["a", "b", "c"]);
        assert_eq!(p.len(), 1);
        assert_eq!(p.complete(ids[3]), vec!["d"]);
        assert!(p.is_empty());
        assert_eq!(p.complete(99), Vec::<&str>::new(), "unknown ids are ignored");
    }
}
