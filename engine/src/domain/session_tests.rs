use super::*;

const LIMITS: SessionLimits =
    SessionLimits { text_bytes_max: 10, messages_max: 5, tail_max: 3, dedup_max: 5 };

fn waiting() -> Session {
    let meta = SessionMeta {
        id: 1,
        state: State::Waiting,
        visitor: Visitor::default(),
        token_sha256: String::new(),
        agent_id: None,
        created_at_ms: 0,
        accepted_at_ms: None,
        closed_at_ms: None,
        department_id: DEFAULT_DEPARTMENT,
        priority: 0,
        contact_id: None,
    };
    Session::restore(meta, Vec::new(), LIMITS)
}

fn post_durable(s: &mut Session, from: Participant, id: &str) -> Seq {
    match s.post(from, id, "hi", 5).unwrap() {
        Post::New(m) => {
            let seq = m.seq;
            s.message_durable(m);
            seq
        }
        Post::Duplicate { seq, .. } => seq,
    }
}

#[test]
fn lifecycle_waiting_active_closed() {
    let mut s = waiting();
    assert_eq!(post_durable(&mut s, Participant::Visitor, "v1"), 1);
    let meta = s.accept(7, 10).unwrap().unwrap();
    assert_eq!((meta.state, meta.agent_id, meta.accepted_at_ms), (State::Active, Some(7), Some(10)));
    assert_eq!(post_durable(&mut s, Participant::Agent(7), "a1"), 2);
    let closed = s.close(7, 20).unwrap();
    assert_eq!((closed.state, closed.closed_at_ms), (State::Closed, Some(20)));
    assert_eq!(s.snapshot().last_seq, 2);
}

#[test]
fn who_may_do_what_in_each_state() {
    // (state setup, participant, action, expected)
    let mut s = waiting();
    assert_eq!(s.post(Participant::Agent(7), "x", "hi", 0), Err(SessionError::NotYours(1)));
    assert_eq!(s.close(7, 0), Err(SessionError::NotYours(1)));
    assert_eq!(s.typing(Participant::Visitor), Ok(()));
    s.accept(7, 0).unwrap();
    assert_eq!(s.accept(8, 0), Err(SessionError::AlreadyTaken(1)));
    assert_eq!(s.accept(7, 0), Ok(None), "accepting your own session again is a no-op");
    assert_eq!(s.post(Participant::Agent(8), "x", "hi", 0), Err(SessionError::NotYours(1)));
    assert_eq!(s.close(8, 0), Err(SessionError::NotYours(1)));
    assert_eq!(s.typing(Participant::Agent(8)), Err(SessionError::NotYours(1)));
    s.close(7, 0).unwrap();
    assert_eq!(s.accept(8, 0), Err(SessionError::Closed(1)));
    assert_eq!(s.close(7, 0), Err(SessionError::Closed(1)));
    assert_eq!(s.post(Participant::Visitor, "y", "hi", 0), Err(SessionError::Closed(1)));
    assert_eq!(s.typing(Participant::Visitor), Err(SessionError::Closed(1)));
}

#[test]
fn duplicate_client_ids_return_the_original_seq() {
    let mut s = waiting();
    assert_eq!(post_durable(&mut s, Participant::Visitor, "m"), 1);
    assert_eq!(
        s.post(Participant::Visitor, "m", "other text", 9),
        Ok(Post::Duplicate { seq: 1, sent_at_ms: 5 })
    );
    assert_eq!(post_durable(&mut s, Participant::Visitor, "n"), 2);
}

#[test]
fn client_ids_are_scoped_per_sender_and_retries_survive_closing() {
    let mut s = waiting();
    assert_eq!(post_durable(&mut s, Participant::Visitor, "m1"), 1);
    s.accept(7, 0).unwrap();
    assert_eq!(post_durable(&mut s, Participant::Agent(7), "m1"), 2, "same id, other sender: a new message");
    s.close(7, 0).unwrap();
    assert_eq!(s.post(Participant::Visitor, "m1", "hi", 0), Ok(Post::Duplicate { seq: 1, sent_at_ms: 5 }));
    assert_eq!(s.post(Participant::Visitor, "m2", "hi", 0), Err(SessionError::Closed(1)));
}

#[test]
fn text_and_count_limits() {
    let mut s = waiting();
    assert_eq!(s.post(Participant::Visitor, "e", "", 0), Err(SessionError::BadText { len: 0, max: 10 }));
    assert_eq!(
        s.post(Participant::Visitor, "l", "01234567890", 0),
        Err(SessionError::BadText { len: 11, max: 10 })
    );
    for i in 0..5 {
        post_durable(&mut s, Participant::Visitor, &format!("m{i}"));
    }
    assert_eq!(s.post(Participant::Visitor, "m9", "hi", 0), Err(SessionError::Full(1, 5)));
}

#[test]
fn replay_serves_the_tail_and_defers_older_ranges_to_storage() {
    let mut s = waiting();
    for i in 0..5 {
        post_durable(&mut s, Participant::Visitor, &format!("m{i}"));
    }
    // tail holds seqs 3, 4, 5
    let seqs = |r: Replay| match r {
        Replay::Messages { messages, has_more } => {
            (messages.iter().map(|m| m.seq).collect::<Vec<_>>(), has_more)
        }
        Replay::FromStorage { durable_seq } => (vec![durable_seq * 100], false),
    };
    assert_eq!(seqs(s.replay(5, 10)), (vec![], false));
    assert_eq!(seqs(s.replay(2, 10)), (vec![3, 4, 5], false));
    assert_eq!(seqs(s.replay(2, 2)), (vec![3, 4], true));
    assert_eq!(seqs(s.replay(4, 10)), (vec![5], false));
    assert_eq!(seqs(s.replay(1, 10)), (vec![500], false), "seq 2 is not in the tail");
}

#[test]
fn pending_messages_are_not_replayed_until_durable() {
    let mut s = waiting();
    let Post::New(m) = s.post(Participant::Visitor, "a", "hi", 0).unwrap() else { panic!() };
    assert_eq!(s.replay(0, 10), Replay::Messages { messages: vec![], has_more: false });
    s.message_durable(m.clone());
    assert_eq!(s.replay(0, 10), Replay::Messages { messages: vec![m], has_more: false });
}

#[test]
fn a_refused_write_can_be_undone() {
    let mut s = waiting();
    post_durable(&mut s, Participant::Visitor, "a");
    let Post::New(m) = s.post(Participant::Visitor, "b", "hi", 0).unwrap() else { panic!() };
    s.undo_post(&m);
    let Post::New(again) = s.post(Participant::Visitor, "b", "hi", 0).unwrap() else {
        panic!("not a duplicate")
    };
    assert_eq!(again.seq, 2, "the seq is handed out again");
    let before = s.meta().clone();
    s.accept(7, 1).unwrap();
    s.undo_meta(before.clone());
    assert_eq!(s.meta(), &before);
    assert_eq!(s.accept(8, 2).unwrap().unwrap().agent_id, Some(8));
}

#[test]
fn only_the_holding_agent_can_hand_a_session_over() {
    let mut s = waiting();
    assert_eq!(s.reassign(1, 2, None), Err(SessionError::NotYours(s.meta().id)), "waiting: nobody holds it");
    s.accept(1, 10).unwrap();
    assert_eq!(s.reassign(3, 2, None), Err(SessionError::NotYours(s.meta().id)));
    let meta = s.reassign(1, 2, None).unwrap();
    assert_eq!((meta.agent_id, meta.state, meta.accepted_at_ms), (Some(2), State::Active, Some(10)));
    assert_eq!(meta.department_id, DEFAULT_DEPARTMENT, "a transfer to an agent keeps the department");
    let meta = s.reassign(2, 3, Some(9)).unwrap();
    assert_eq!((meta.agent_id, meta.department_id), (Some(3), 9), "a transfer to a department moves it");
    s.close(3, 20).unwrap();
    assert_eq!(s.reassign(3, 1, None), Err(SessionError::Closed(s.meta().id)));
}

#[test]
fn a_requeued_session_waits_again_without_an_agent() {
    let mut s = waiting();
    s.accept(1, 10).unwrap();
    assert_eq!(s.requeue(2), Err(SessionError::NotYours(s.meta().id)));
    let meta = s.requeue(1).unwrap();
    assert_eq!((meta.state, meta.agent_id, meta.accepted_at_ms), (State::Waiting, None, None));
    assert!(s.accept(2, 20).unwrap().is_some(), "another agent may take it");
}
