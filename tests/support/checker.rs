//! A history checker in the style of Jepsen's: clients record every write they attempted
//! and every acknowledgement they got; after the faults, the final state is read back; the
//! checker counts what a correct system never shows. Each writer sends `m0, m1, …` in
//! order, one session per writer.
//!
//! - **lost**: acknowledged, but missing from the final read (or at another seq);
//! - **duplicated**: one client message id stored more than once;
//! - **reordered**: stored out of the order sent, or seqs with a gap;
//! - **unexpected**: stored, but never attempted by anyone.

use std::collections::{BTreeMap, HashMap, HashSet};

use switchboard_protocol::SessionId;

/// What the clients did.
#[derive(Debug, Default, Clone)]
pub struct History {
    /// Per session: every client message id sent (acknowledged or not).
    pub attempted: BTreeMap<SessionId, HashSet<String>>,
    /// Per session: (client message id, seq) of every acknowledgement.
    pub acked: BTreeMap<SessionId, Vec<(String, u64)>>,
}

impl History {
    pub fn attempt(&mut self, session: SessionId, id: &str) {
        self.attempted.entry(session).or_default().insert(id.to_string());
    }

    pub fn ack(&mut self, session: SessionId, id: &str, seq: u64) {
        self.acked.entry(session).or_default().push((id.to_string(), seq));
    }

    pub fn acknowledged(&self) -> usize {
        self.acked.values().map(Vec::len).sum()
    }
}

/// The counts; all must be zero.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub acknowledged: usize,
    pub lost: usize,
    pub duplicated: usize,
    pub reordered: usize,
    pub unexpected: usize,
}

impl Verdict {
    pub fn clean(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.reordered == 0 && self.unexpected == 0
    }
}

/// The client message id a stored text names (`text of <id>`), if any.
fn id_of(text: &str) -> Option<&str> {
    text.strip_prefix("text of ")
}

fn number(id: &str) -> Option<u64> {
    id.trim_start_matches(|c: char| c.is_ascii_alphabetic()).parse().ok()
}

/// Check `history` against `finals`: per session, the final transcript as (seq, text).
pub fn check(history: &History, finals: &HashMap<SessionId, Vec<(u64, String)>>) -> Verdict {
    let mut verdict = Verdict { acknowledged: history.acknowledged(), ..Verdict::default() };
    let empty = Vec::new();
    let nothing = HashSet::new();
    let sessions: HashSet<SessionId> = history.attempted.keys().chain(finals.keys()).copied().collect();
    for session in sessions {
        let stored = finals.get(&session).unwrap_or(&empty);
        let attempted = history.attempted.get(&session).unwrap_or(&nothing);
        let mut seen: HashMap<&str, u64> = HashMap::new();
        let mut previous: Option<u64> = None;
        for (i, (seq, text)) in stored.iter().enumerate() {
            if *seq != i as u64 + 1 {
                verdict.reordered += 1;
            }
            let Some(id) = id_of(text) else {
                verdict.unexpected += 1;
                continue;
            };
            if !attempted.contains(id) {
                verdict.unexpected += 1;
            }
            match seen.entry(id) {
                std::collections::hash_map::Entry::Occupied(_) => verdict.duplicated += 1,
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(*seq);
                }
            }
            let n = number(id);
            if let (Some(p), Some(n)) = (previous, n) {
                if n < p {
                    verdict.reordered += 1;
                }
            }
            previous = n.or(previous);
        }
        for (id, seq) in history.acked.get(&session).unwrap_or(&Vec::new()) {
            if seen.get(id.as_str()) != Some(seq) {
                verdict.lost += 1;
            }
        }
    }
    verdict
}

#[test]
fn the_checker_counts_each_kind_of_anomaly() {
    let mut h = History::default();
    for i in 0..4 {
        h.attempt(1, &format!("m{i}"));
    }
    h.ack(1, "m0", 1);
    h.ack(1, "m1", 2);
    let text = |id: &str| format!("text of {id}");
    let good: HashMap<_, _> =
        [(1, vec![(1, text("m0")), (2, text("m1")), (3, text("m2")), (4, text("m3"))])].into();
    assert_eq!(check(&h, &good), Verdict { acknowledged: 2, ..Verdict::default() });
    // m1 lost, m0 twice, m3 before m2, a message nobody sent.
    let bad: HashMap<_, _> =
        [(1, vec![(1, text("m0")), (2, text("m0")), (3, text("m3")), (4, text("m2")), (5, text("zz9"))])]
            .into();
    let verdict = check(&h, &bad);
    assert_eq!(verdict.lost, 1, "{verdict:?}");
    assert_eq!(verdict.duplicated, 1, "{verdict:?}");
    assert_eq!(verdict.reordered, 1, "{verdict:?}");
    assert_eq!(verdict.unexpected, 1, "{verdict:?}");
    assert!(!verdict.clean());
}
