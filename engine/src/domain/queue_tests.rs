use super::*;

fn snap(id: SessionId, state: State, agent: Option<AgentId>, last_seq: Seq) -> SessionSnapshot {
    SessionSnapshot {
        meta: SessionMeta {
            id,
            state,
            visitor: Visitor::default(),
            token_sha256: String::new(),
            agent_id: agent,
            created_at_ms: id,
            accepted_at_ms: None,
            closed_at_ms: None,
            department_id: DEFAULT_DEPARTMENT,
            priority: 0,
            contact_id: None,
        },
        last_seq,
    }
}

fn ids(list: &[&SessionSnapshot]) -> Vec<SessionId> {
    list.iter().map(|s| s.meta.id).collect()
}

#[test]
fn sessions_move_between_lists_by_state() {
    let mut q = QueueView::new(2);
    for id in [3, 1, 2] {
        q.upsert(snap(id, State::Waiting, None, 0));
    }
    q.upsert(snap(1, State::Active, Some(9), 0));
    let [w, a, c] = q.lists();
    assert_eq!((ids(&w), ids(&a), ids(&c)), (vec![2, 3], vec![1], vec![]));
    for id in [1, 2, 3] {
        q.upsert(snap(id, State::Closed, None, 0));
    }
    let [w, a, c] = q.lists();
    assert_eq!((ids(&w), ids(&a), ids(&c)), (vec![], vec![], vec![3, 2]), "closed is bounded, newest first");
}

#[test]
fn agent_load_counts_active_sessions_and_reservations() {
    let mut q = QueueView::new(10);
    assert!(q.try_reserve(9, 2));
    q.upsert(snap(1, State::Active, Some(9), 0));
    q.release(9);
    assert!(q.try_reserve(9, 2));
    assert!(!q.try_reserve(9, 2), "one active plus one reserved is the max of 2");
    q.release(9);
    q.upsert(snap(1, State::Closed, Some(9), 0));
    assert!(q.try_reserve(9, 1), "closing frees the slot");
}

#[test]
fn unread_counts_follow_messages_and_read_markers() {
    let mut q = QueueView::new(10);
    q.upsert(snap(1, State::Waiting, None, 0));
    let updated = q.on_message(1, 1, Participant::Visitor).expect("waiting sessions announce");
    assert_eq!(q.unread(&updated, 5), 1);
    q.on_message(1, 2, Participant::Visitor);
    q.mark_read(1, 5, 1);
    let s = q.get(1).unwrap().clone();
    assert_eq!((q.unread(&s, 5), q.unread(&s, 6)), (1, 2));
    q.upsert(snap(1, State::Active, Some(5), 2));
    assert_eq!(q.on_message(1, 3, Participant::Agent(5)), None, "active sessions do not broadcast");
    let s = q.get(1).unwrap().clone();
    assert_eq!((q.unread(&s, 5), q.unread(&s, 6)), (0, 3), "posting marks your own read");
    q.mark_read(1, 5, 1);
    assert_eq!(q.unread(&s, 5), 0, "markers never go backwards");
}
