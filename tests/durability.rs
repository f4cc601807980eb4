//! Restart recovery (graceful and kill -9) and the durability promise: every acknowledged
//! message survives a SIGKILL exactly once and in order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use switchboard_protocol::codec::Encoding;
use switchboard_protocol::{Request, ServerFrame, SessionState};

use crate::support::*;

/// Build a queue with sessions in every state, stop the server with `stop`, restart, and
/// check that everything is back.
async fn state_survives(stop: impl FnOnce(&mut TestServer)) {
    let mut server = TestServer::start();
    let (agent, agent_id, token) = server.agent("Ann").await;
    let mut sessions = Vec::new();
    let mut visitor_tokens = Vec::new();
    for name in ["First", "Second", "Third", "Fourth"] {
        let (visitor, sid, vtoken) = server.visitor(name, Some(&format!("{name} needs help"))).await;
        visitor.call(say(sid, "second", "still waiting")).await.unwrap();
        sessions.push(sid);
        visitor_tokens.push(vtoken);
    }
    let [s1, s2, s3, s4] = sessions[..] else { unreachable!() };
    agent.call(Request::Accept { session_id: s2 }).await.unwrap();
    agent.call(say(s2, "a", "on it")).await.unwrap();
    agent.call(Request::Accept { session_id: s4 }).await.unwrap();
    agent.call(Request::Close { session_id: s4 }).await.unwrap();
    let before = transcript(&agent, s2).await;
    drop(agent);

    stop(&mut server);
    server.restart();

    let agent = server.agent_with_token(&token).await;
    let queue = agent.call(Request::ListQueue {}).await.unwrap();
    assert_eq!(queue_ids(&queue), (vec![s1, s3], vec![s2], vec![s4]), "waiting keeps its order");
    let ServerFrame::Queue { waiting, active, .. } = &queue else { unreachable!() };
    assert_eq!((active[0].agent_id, active[0].state), (Some(agent_id), SessionState::Active));
    assert_eq!(waiting[0].last_seq, 2);
    assert_eq!(transcript(&agent, s2).await, before);

    // The visitor's token still resumes; the closed session still refuses messages.
    let visitor = server.connect(Encoding::Json).await;
    let reply = visitor
        .call(Request::ResumeChat { session_token: visitor_tokens[0].clone(), after_seq: 0 })
        .await
        .unwrap();
    let ServerFrame::Attached { messages, .. } = reply else { panic!("{reply:?}") };
    assert_eq!(messages.len(), 2);
    let ack = visitor.call(say(s1, "third", "back again")).await.unwrap();
    assert!(matches!(ack, ServerFrame::MessageAck { seq: 3, .. }), "{ack:?}");
    let refused = agent.request(say(s4, "late", "hello")).await.unwrap();
    assert_eq!(error_code(&refused), switchboard_protocol::ErrorCode::SessionClosed);

    // New sessions never reuse an id.
    let (_v, fresh, _) = server.visitor("Fifth", None).await;
    assert!(fresh > s4);
}

#[tokio::test]
async fn state_survives_a_graceful_restart() {
    state_survives(TestServer::terminate).await;
}

#[tokio::test]
async fn state_survives_kill_9() {
    state_survives(TestServer::kill9).await;
}

#[tokio::test]
async fn every_acknowledged_message_survives_sigkill_exactly_once_in_order() {
    let mut server = TestServer::start();
    let (agent, _, token) = server.agent("Ann").await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let mut sessions = Vec::new();
    for i in 0..8 {
        let (visitor, sid, _) = server.visitor(&format!("V{i}"), None).await;
        if i % 2 == 0 {
            agent.call(Request::Accept { session_id: sid }).await.unwrap();
        }
        let acked: Acked = Arc::default();
        sessions.push((sid, acked.clone()));
        tasks.push(tokio::spawn(send_until_killed(visitor, sid, acked, stop.clone())));
    }
    drop(agent);
    // Let the writers run, then kill the server while they are mid-flight.
    tokio::time::sleep(Duration::from_millis(700)).await;
    server.kill9();
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    server.restart();
    let agent = server.agent_with_token(&token).await;
    let total_acked = check_acknowledged(&agent, &sessions).await;
    assert!(total_acked > 100, "the test must acknowledge real traffic before the kill (got {total_acked})");
}
