//! Each node's writes apply in the order that node made them, as a plain rule.
//!
//! A node names its entries `<node>.<incarnation>.<n>`, `n` counting up
//! ([`crate::log::EntryIds`]), and publishes its write entries one after another. A publish
//! retried across a NATS failover could still reach the log after a later entry of the
//! same node; applied, two writes of one record would then be inverted. So every node's
//! applier admits a write entry only if its `n` is above the highest already applied for
//! its origin (`<node>.<incarnation>`), and leaves a late one out. The rule reads only the
//! log, and the marks are stored with the entry they admit, so every node (and a node
//! rebuilding from the log) drops exactly the same entries.

use std::collections::HashMap;

/// What the rule says about one write entry.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// Apply it, and store `n` as its origin's mark in the same write.
    InOrder { origin: &'a str, n: u64 },
    /// A later entry of its origin is already applied: leave it out.
    Late { origin: &'a str, n: u64, applied: u64 },
    /// The id is not `<origin>.<n>` (not written by this build): applied unordered.
    Unnamed,
}

/// The highest entry number applied per origin.
#[derive(Debug, Default)]
pub struct Order {
    applied: HashMap<String, u64>,
}

impl Order {
    /// From the marks stored by earlier applies.
    pub fn from_stored(marks: Vec<(String, u64)>) -> Order {
        Order { applied: marks.into_iter().collect() }
    }

    /// Judge the write entry named `id`. Nothing changes until [`Order::applied`].
    pub fn judge<'a>(&self, id: &'a str) -> Verdict<'a> {
        let Some((origin, n)) = id.rsplit_once('.').and_then(|(o, n)| Some((o, n.parse::<u64>().ok()?)))
        else {
            return Verdict::Unnamed;
        };
        match self.applied.get(origin) {
            Some(&applied) if n <= applied => Verdict::Late { origin, n, applied },
            _ => Verdict::InOrder { origin, n },
        }
    }

    /// Record that `origin`'s entry `n` was applied.
    pub fn applied(&mut self, origin: &str, n: u64) {
        self.applied.insert(origin.to_string(), n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_of_one_origin_apply_only_in_increasing_order() {
        let mut order = Order::default();
        assert_eq!(order.judge("n1.00ab.1"), Verdict::InOrder { origin: "n1.00ab", n: 1 });
        order.applied("n1.00ab", 1);
        // Entry 2 was retried across a failover; 3 landed first.
        assert_eq!(order.judge("n1.00ab.3"), Verdict::InOrder { origin: "n1.00ab", n: 3 });
        order.applied("n1.00ab", 3);
        assert_eq!(order.judge("n1.00ab.2"), Verdict::Late { origin: "n1.00ab", n: 2, applied: 3 });
        assert_eq!(order.judge("n1.00ab.3"), Verdict::Late { origin: "n1.00ab", n: 3, applied: 3 });
        // Gaps are fine (fences share the numbering), and origins are independent.
        assert_eq!(order.judge("n1.00ab.9"), Verdict::InOrder { origin: "n1.00ab", n: 9 });
        assert_eq!(order.judge("n2.00cd.1"), Verdict::InOrder { origin: "n2.00cd", n: 1 });
        // A restarted node is a new origin.
        assert_eq!(order.judge("n1.00ff.1"), Verdict::InOrder { origin: "n1.00ff", n: 1 });
    }

    #[test]
    fn node_names_with_dots_and_unnamed_ids() {
        let order = Order::from_stored(vec![("eu.node.1.00ab".into(), 5)]);
        assert_eq!(
            order.judge("eu.node.1.00ab.4"),
            Verdict::Late { origin: "eu.node.1.00ab", n: 4, applied: 5 }
        );
        assert_eq!(order.judge("eu.node.1.00ab.6"), Verdict::InOrder { origin: "eu.node.1.00ab", n: 6 });
        assert_eq!(order.judge(""), Verdict::Unnamed);
        assert_eq!(order.judge("nodots"), Verdict::Unnamed);
        assert_eq!(order.judge("n1.x"), Verdict::Unnamed);
    }
}
