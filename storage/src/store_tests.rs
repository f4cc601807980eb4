use super::*;
use crate::{StoredSender, StoredState};

fn open(dir: &Path) -> Storage {
    Storage::open(dir, &StorageConfig::default()).unwrap()
}

fn session(id: u64, closed_at_ms: Option<u64>) -> SessionRecord {
    SessionRecord {
        v: 1,
        id,
        state: if closed_at_ms.is_some() { StoredState::Closed } else { StoredState::Waiting },
        visitor_name: None,
        visitor_email: None,
        page_url: None,
        token_sha256: String::new(),
        agent_id: None,
        created_at_ms: id,
        accepted_at_ms: None,
        closed_at_ms,
        department_id: None,
        priority: 0,
        contact_id: None,
    }
}

fn message(text: &str) -> MessageRecord {
    MessageRecord {
        v: 1,
        from: StoredSender::Visitor,
        agent_id: None,
        client_msg_id: text.into(),
        text: text.into(),
        sent_at_ms: 1,
    }
}

#[test]
fn writes_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let storage = open(dir.path());
        let mut batch = Batch::new();
        batch.put_session(&session(1, None));
        batch.put_message(1, 1, &message("a")).put_message(1, 2, &message("b"));
        batch.put_read_marker(1, 9, 2);
        storage.write_blocking(batch).unwrap();
        storage.close();
    }
    let storage = open(dir.path());
    assert_eq!(storage.session(1).unwrap(), Some(session(1, None)));
    assert_eq!(storage.last_seq(1).unwrap(), 2);
    let texts: Vec<_> = storage.messages(1, 0, 10).unwrap().into_iter().map(|(s, m)| (s, m.text)).collect();
    assert_eq!(texts, vec![(1, "a".to_string()), (2, "b".to_string())]);
    assert_eq!(storage.read_markers(1).unwrap(), vec![(9, 2)]);
    assert_eq!(storage.max_id(catalog::SESSION).unwrap(), 1);
}

#[test]
fn message_scans_stay_inside_their_session() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path());
    let mut batch = Batch::new();
    for sid in 1..=3 {
        for seq in 1..=5 {
            batch.put_message(sid, seq, &message(&format!("{sid}-{seq}")));
        }
    }
    storage.write_blocking(batch).unwrap();
    let page = storage.messages(2, 2, 2).unwrap();
    let seqs: Vec<u64> = page.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, vec![3, 4]);
    assert!(page.iter().all(|(_, m)| m.text.starts_with("2-")));
    assert_eq!(storage.messages(3, 5, 10).unwrap().len(), 0);
    assert_eq!(storage.last_seq(2).unwrap(), 5);
    assert_eq!(storage.last_seq(4).unwrap(), 0);
    assert_eq!(storage.last_seq(0).unwrap(), 0);
}

#[test]
fn open_and_closed_indexes_follow_session_state() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path());
    let mut batch = Batch::new();
    for id in 1..=4 {
        batch.put_session(&session(id, None));
    }
    storage.write_blocking(batch).unwrap();
    let mut batch = Batch::new();
    batch.put_session(&session(2, Some(50))).put_session(&session(4, Some(40)));
    storage.write_blocking(batch).unwrap();
    let open_ids: Vec<u64> = storage.open_sessions().unwrap().iter().map(|s| s.id).collect();
    assert_eq!(open_ids, vec![1, 3]);
    let closed_ids: Vec<u64> = storage.recently_closed(10).unwrap().iter().map(|s| s.id).collect();
    assert_eq!(closed_ids, vec![2, 4], "most recently closed first");
    assert_eq!(storage.recently_closed(1).unwrap().len(), 1);
}

#[test]
fn concurrent_submitters_all_complete_in_group_commits() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path());
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let storage = storage.clone();
            std::thread::spawn(move || {
                for seq in 1..=50 {
                    let mut batch = Batch::new();
                    batch.put_message(t, seq, &message("x"));
                    storage.write_blocking(batch).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for t in 0..8 {
        assert_eq!(storage.messages(t, 0, 100).unwrap().len(), 50);
    }
}

#[test]
fn corrupt_values_are_reported_not_misread() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path());
    let cf = cf_handle(&storage.db, catalog::SESSION).unwrap();
    storage.db.put_cf(cf, keys::id(5), b"\xc1garbage").unwrap();
    match storage.session(5) {
        Err(StorageError::Corrupt { cf, key_hex, .. }) => {
            assert_eq!(cf, catalog::SESSION);
            assert_eq!(key_hex, "0000000000000005");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn a_full_queue_refuses_instead_of_growing() {
    let dir = tempfile::tempdir().unwrap();
    let config = StorageConfig { write_queue_max: 1, batch_max: 1, ..StorageConfig::default() };
    let storage = Storage::open(dir.path(), &config).unwrap();
    let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(0);
    // The first job blocks the writer thread inside its completion until released.
    storage
        .submit(
            Batch::new(),
            Box::new(move |_| {
                let _ = release_rx.recv();
            }),
        )
        .unwrap();
    let mut refused = false;
    for _ in 0..100 {
        if let Err(StorageError::Overloaded) = storage.submit(Batch::new(), Box::new(|_| {})) {
            refused = true;
            break;
        }
    }
    release_tx.send(()).unwrap();
    assert!(refused, "a queue of one must refuse while the writer is busy");
}

#[test]
fn flushed_memtables_read_back_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let storage = open(dir.path());
        let mut batch = Batch::new();
        batch.put_session(&session(1, None)).put_message(1, 1, &message("kept"));
        storage.write_blocking(batch).unwrap();
        storage.sync_wal().unwrap();
        storage.flush_memtables().unwrap();
        storage.close();
    }
    let storage = open(dir.path());
    let texts: Vec<_> = storage.messages(1, 0, 10).unwrap().into_iter().map(|(_, m)| m.text).collect();
    assert_eq!(texts, vec!["kept".to_string()]);
}

#[test]
fn a_sessions_decisions_read_back_oldest_first_and_stay_inside_their_session() {
    let dir = tempfile::tempdir().unwrap();
    let decision = |at_ms: u64, agent_id: u64, outcome: &str| DecisionRecord {
        v: 1,
        at_ms,
        department_id: 1,
        agent_id,
        outcome: outcome.into(),
        load: 1,
        capacity: 4,
        idle_ms: None,
        skipped: vec![3],
        candidates: 2,
    };
    {
        let storage = open(dir.path());
        let mut batch = Batch::new();
        batch.put_decision(7, 2, &decision(20, 1, "accepted"));
        batch.put_decision(7, 1, &decision(20, 1, "offered"));
        batch.put_decision(7, 0, &decision(10, 2, "declined"));
        batch.put_decision(6, 3, &decision(5, 9, "offered"));
        batch.put_decision(8, 4, &decision(1, 9, "offered"));
        storage.write_blocking(batch).unwrap();
        storage.close();
    }
    let storage = open(dir.path());
    let read: Vec<(u64, String)> =
        storage.decisions(7, 100).unwrap().into_iter().map(|d| (d.at_ms, d.outcome)).collect();
    assert_eq!(read, [(10, "declined".into()), (20, "offered".into()), (20, "accepted".into())]);
    assert_eq!(storage.decisions(7, 2).unwrap().len(), 2, "the limit holds");
    assert!(storage.decisions(9, 100).unwrap().is_empty());
    assert_eq!(storage.decisions(7, 1).unwrap()[0], decision(10, 2, "declined"));
}
