use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Note {
    seq: Seq,
    by: u8,
    id: String,
    at: u64,
}

impl Entry for Note {
    type Author = u8;
    fn seq(&self) -> Seq {
        self.seq
    }
    fn author(&self) -> u8 {
        self.by
    }
    fn client_msg_id(&self) -> &str {
        &self.id
    }
    fn sent_at_ms(&self) -> u64 {
        self.at
    }
}

const LIMITS: LogLimits = LogLimits { text_bytes_max: 10, messages_max: 4, tail_max: 2, dedup_max: 100 };

fn note(seq: Seq, by: u8, id: &str) -> Note {
    Note { seq, by, id: id.into(), at: seq * 10 }
}

#[test]
fn seqs_are_gapless_and_ids_are_scoped_per_author() {
    let mut log: Log<Note> = Log::restore(vec![], LIMITS);
    assert_eq!(log.append(1, "m1", 3, 5), Ok(Appended::New { seq: 1, sent_at_ms: 5 }));
    assert_eq!(log.append(2, "m1", 3, 6), Ok(Appended::New { seq: 2, sent_at_ms: 6 }), "another author");
    assert_eq!(log.append(1, "m1", 3, 7), Ok(Appended::Duplicate { seq: 1, sent_at_ms: 5 }));
    assert_eq!(log.durable_seq(), 0, "nothing durable until reported");
    log.durable(note(1, 1, "m1"));
    log.durable(note(2, 2, "m1"));
    assert_eq!(log.durable_seq(), 2);
}

#[test]
fn bad_text_and_a_full_log_are_refused_without_using_a_seq() {
    let mut log: Log<Note> = Log::restore(vec![], LIMITS);
    assert_eq!(log.append(1, "a", 0, 1), Err(LogError::BadText { len: 0, max: 10 }));
    assert_eq!(log.append(1, "a", 11, 1), Err(LogError::BadText { len: 11, max: 10 }));
    for i in 1..=4 {
        assert!(matches!(log.append(1, &format!("m{i}"), 1, 1), Ok(Appended::New { seq, .. }) if seq == i));
    }
    assert_eq!(log.append(1, "m5", 1, 1), Err(LogError::Full { max: 4 }));
    assert!(
        matches!(log.append(1, "m4", 1, 1), Ok(Appended::Duplicate { seq: 4, .. })),
        "retries still answer"
    );
}

#[test]
fn an_undone_append_gives_its_seq_back_and_forgets_the_id() {
    let mut log: Log<Note> = Log::restore(vec![note(1, 1, "a")], LIMITS);
    assert_eq!(log.append(1, "b", 1, 20), Ok(Appended::New { seq: 2, sent_at_ms: 20 }));
    log.undo(&Note { seq: 2, by: 1, id: "b".into(), at: 20 });
    assert_eq!(log.append(1, "b", 1, 30), Ok(Appended::New { seq: 2, sent_at_ms: 30 }));
    // A durable entry is never undone.
    log.durable(Note { seq: 2, by: 1, id: "b".into(), at: 30 });
    log.undo(&Note { seq: 2, by: 1, id: "b".into(), at: 30 });
    assert!(matches!(log.append(1, "b", 1, 40), Ok(Appended::Duplicate { seq: 2, .. })));
}

#[test]
fn replay_serves_the_tail_and_sends_older_ranges_to_storage() {
    let stored = vec![note(1, 1, "a"), note(2, 1, "b"), note(3, 2, "c")];
    let log = Log::restore(stored, LIMITS);
    assert_eq!(log.replay(3, 10), Replay::Messages { messages: vec![], has_more: false });
    assert_eq!(log.replay(2, 10), Replay::Messages { messages: vec![note(3, 2, "c")], has_more: false });
    assert_eq!(log.replay(1, 1), Replay::Messages { messages: vec![note(2, 1, "b")], has_more: true });
    assert_eq!(log.replay(0, 10), Replay::FromStorage { durable_seq: 3 }, "seq 1 left the tail");
    // Restored ids still deduplicate, even those out of the tail.
    let mut log = log;
    assert!(matches!(log.append(1, "a", 1, 1), Ok(Appended::Duplicate { seq: 1, .. })));
}

#[test]
fn a_durable_entry_in_the_tail_can_be_replaced_and_read() {
    let mut log = Log::restore(vec![note(1, 1, "a"), note(2, 1, "b")], LIMITS);
    let edited = Note { at: 99, ..note(2, 1, "b") };
    log.replace(edited.clone());
    assert_eq!(log.get(2), Some(&edited));
    log.replace(note(7, 1, "z"));
    assert_eq!(log.get(7), None, "not in the tail: nothing to replace");
}

#[test]
fn only_the_newest_ids_are_remembered_beyond_the_window() {
    let limits = LogLimits { messages_max: 100, dedup_max: 2, ..LIMITS };
    let mut log: Log<Note> = Log::restore(vec![note(1, 1, "a"), note(2, 1, "b"), note(3, 1, "c")], limits);
    assert!(matches!(log.append(1, "a", 1, 1), Ok(Appended::New { seq: 4, .. })), "a fell out of the window");
    assert!(matches!(log.append(1, "c", 1, 1), Ok(Appended::Duplicate { seq: 3, .. })));
    assert!(matches!(log.append(1, "b", 1, 1), Ok(Appended::New { seq: 5, .. })), "a's retry pushed b out");
}
