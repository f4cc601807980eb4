//! Reconnect and resume: exactly what was missed, no gaps, no duplicates; idempotent retries.

use switchboard_protocol::limits::REPLAY_MESSAGES_MAX;
use switchboard_protocol::{Request, ServerFrame};

use crate::support::*;

#[tokio::test]
async fn a_visitor_resumes_from_its_last_seq_and_gets_exactly_what_it_missed() {
    let server = TestServer::start();
    let (agent, _, _) = server.agent("Ann").await;
    let (visitor, sid, token) = server.visitor("Vic", Some("hello")).await;
    agent.call(Request::Accept { session_id: sid }).await.unwrap();
    drop(visitor);

    for i in 0..3 {
        agent.call(say(sid, &format!("a{i}"), &format!("while you were away {i}"))).await.unwrap();
    }
    let mut visitor = server.connect(switchboard_protocol::codec::Encoding::Json).await;
    let reply = visitor.call(Request::ResumeChat { session_token: token, after_seq: 1 }).await.unwrap();
    let ServerFrame::Attached { messages, has_more, session, .. } = reply else { panic!("{reply:?}") };
    let seqs: Vec<u64> = messages.iter().map(|m| m.seq).collect();
    assert_eq!((seqs, has_more, session.last_seq), (vec![2, 3, 4], false, 4));

    // Live again: the next message arrives once, as seq 5.
    agent.call(say(sid, "a3", "welcome back")).await.unwrap();
    let got = wait_for(&mut visitor, |f| match f {
        ServerFrame::Message { message, .. } => Some(message.seq),
        _ => None,
    })
    .await;
    assert_eq!(got, 5);
    tokio::time::sleep(QUIET).await;
    assert!(
        visitor.drain_events().iter().all(|f| !matches!(f, ServerFrame::Message { .. })),
        "no duplicates"
    );
}

#[tokio::test]
async fn an_agent_resumes_its_sessions_after_reconnecting() {
    let server = TestServer::start();
    let (agent, _, token) = server.agent("Ann").await;
    let (visitor, sid, _) = server.visitor("Vic", None).await;
    agent.call(Request::Accept { session_id: sid }).await.unwrap();
    agent.call(say(sid, "a0", "hi")).await.unwrap();
    drop(agent);
    for i in 0..4 {
        visitor.call(say(sid, &format!("v{i}"), &format!("are you there {i}"))).await.unwrap();
    }
    let mut agent = server.agent_with_token(&token).await;
    let queue = agent.call(Request::ListQueue {}).await.unwrap();
    let ServerFrame::Queue { active, .. } = &queue else { panic!() };
    assert_eq!((active[0].session_id, active[0].unread), (sid, Some(4)));
    let reply = agent.call(Request::Attach { session_id: sid, after_seq: 1 }).await.unwrap();
    let ServerFrame::Attached { messages, has_more, .. } = reply else { panic!("{reply:?}") };
    assert_eq!((messages.iter().map(|m| m.seq).collect::<Vec<_>>(), has_more), (vec![2, 3, 4, 5], false));
    visitor.call(say(sid, "v9", "great")).await.unwrap();
    let seq = wait_for(&mut agent, |f| match f {
        ServerFrame::Message { message, .. } => Some(message.seq),
        _ => None,
    })
    .await;
    assert_eq!(seq, 6);
}

#[tokio::test]
async fn a_long_absence_resumes_in_pages_without_gaps_or_duplicates() {
    let server = TestServer::start();
    let (agent, _, _) = server.agent("Ann").await;
    let (visitor, sid, token) = server.visitor("Vic", None).await;
    agent.call(Request::Accept { session_id: sid }).await.unwrap();
    drop(visitor);
    let total = REPLAY_MESSAGES_MAX as u64 + 100;
    let mut pending = Vec::new();
    for i in 0..total {
        pending.push(agent.send(say(sid, &format!("m{i}"), &format!("message {i}"))).await.unwrap().1);
    }
    for rx in pending {
        assert!(matches!(agent.wait(rx).await.unwrap(), ServerFrame::MessageAck { .. }));
    }
    let mut visitor = server.connect(switchboard_protocol::codec::Encoding::MsgPack).await;
    let mut received: Vec<u64> = Vec::new();
    let mut pages = 0;
    loop {
        let after_seq = received.last().copied().unwrap_or(0);
        let reply =
            visitor.call(Request::ResumeChat { session_token: token.clone(), after_seq }).await.unwrap();
        let ServerFrame::Attached { messages, has_more, .. } = reply else { panic!("{reply:?}") };
        assert!(messages.len() <= REPLAY_MESSAGES_MAX);
        received.extend(messages.iter().map(|m| m.seq));
        pages += 1;
        if !has_more {
            break;
        }
    }
    assert_eq!(pages, 2);
    assert_eq!(received, (1..=total).collect::<Vec<u64>>(), "every message once, in order");
    agent.call(say(sid, "live", "still here")).await.unwrap();
    let seq = wait_for(&mut visitor, |f| match f {
        ServerFrame::Message { message, .. } => Some(message.seq),
        _ => None,
    })
    .await;
    assert_eq!(seq, total + 1);
    assert_eq!(transcript(&agent, sid).await.len() as u64, total + 1, "history pages agree");
}

#[tokio::test]
async fn a_retried_send_never_creates_a_duplicate() {
    let server = TestServer::start();
    let (agent, _, _) = server.agent("Ann").await;
    let (visitor, sid, _) = server.visitor("Vic", None).await;
    agent.call(Request::Accept { session_id: sid }).await.unwrap();
    // Two sends with the same id in flight at once, then a third after the ack.
    let (_, first) = visitor.send(say(sid, "same-id", "only once")).await.unwrap();
    let (_, second) = visitor.send(say(sid, "same-id", "only once")).await.unwrap();
    let first = visitor.wait(first).await.unwrap();
    let second = visitor.wait(second).await.unwrap();
    let third = visitor.call(say(sid, "same-id", "only once")).await.unwrap();
    let acks: Vec<(u64, bool)> = [first, second, third]
        .iter()
        .map(|f| match f {
            ServerFrame::MessageAck { seq, duplicate, .. } => (*seq, *duplicate),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(acks, vec![(1, false), (1, true), (1, true)]);
    assert_eq!(transcript(&agent, sid).await, vec![(1, "only once".to_string())]);
}

#[tokio::test]
async fn the_client_library_resumes_and_retries_without_gaps_or_duplicates() {
    use switchboard_client::Conversation;

    let server = TestServer::start();
    let (agent_client, _, token) = server.agent("Ann").await;
    let visitor_client = server.connect(switchboard_protocol::codec::Encoding::MsgPack).await;
    let (mut visitor, _) = Conversation::start(&visitor_client, Some("Vi".into()), "web-1").await.unwrap();
    let (mut agent, _) = Conversation::accept(&agent_client, visitor.session_id, "desk-7").await.unwrap();
    for text in ["one", "two"] {
        visitor.send(&visitor_client, text).await.unwrap();
    }
    // The agent's connection drops; the visitor keeps talking; the agent resumes.
    drop(agent_client);
    visitor.send(&visitor_client, "three").await.unwrap();
    let agent_client = server.agent_with_token(&token).await;
    let missed: Vec<String> =
        agent.resume(&agent_client).await.unwrap().into_iter().map(|m| m.text).collect();
    assert_eq!(missed, vec!["one", "two", "three"]);

    // The visitor's connection is gone and a message is sent on a new connection before
    // resuming: refused, so it stays queued; resume re-sends it with the same id, and a
    // second resume re-sends nothing: stored exactly once.
    drop(visitor_client);
    let not_yet_resumed = server.connect(switchboard_protocol::codec::Encoding::MsgPack).await;
    assert!(visitor.send(&not_yet_resumed, "four").await.is_err(), "not resumed yet: refused");
    assert_eq!(visitor.unacked(), 1);
    let fresh = server.connect(switchboard_protocol::codec::Encoding::MsgPack).await;
    visitor.resume(&fresh).await.unwrap();
    assert_eq!(visitor.unacked(), 0);
    visitor.resume(&fresh).await.unwrap();
    let texts: Vec<String> = transcript(&server.agent("Audit").await.0, visitor.session_id)
        .await
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert_eq!(texts, vec!["one", "two", "three", "four"]);
}

#[tokio::test]
async fn a_replay_far_larger_than_the_socket_buffers_arrives_whole_over_json() {
    // 500 messages of 2,000 bytes: the `attached` reply is over 1 MB in JSON, far beyond
    // tungstenite's write buffer and the client's frame limit.
    let server = TestServer::start();
    let (agent, _, token) = server.agent("Ann").await;
    let (_visitor, sid, _) = server.visitor("Vic", None).await;
    agent.call(Request::Accept { session_id: sid }).await.unwrap();
    let text = "x".repeat(2000);
    for i in 0..REPLAY_MESSAGES_MAX {
        agent.call(say(sid, &format!("a{i}"), &text)).await.unwrap();
    }
    let reader = server.connect(switchboard_protocol::codec::Encoding::Json).await;
    reader.call(Request::Auth { token }).await.unwrap();
    let reply = reader.call(Request::Attach { session_id: sid, after_seq: 0 }).await.unwrap();
    let ServerFrame::Attached { messages, .. } = reply else { panic!("{reply:?}") };
    assert_eq!(messages.len(), REPLAY_MESSAGES_MAX);
    assert!(messages.iter().all(|m| m.text == text));
    // The connection is still in order afterwards.
    assert!(matches!(reader.call(Request::ListQueue {}).await.unwrap(), ServerFrame::Queue { .. }));
}
