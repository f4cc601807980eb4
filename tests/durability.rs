//! Restart recovery (graceful and kill -9) and the durability promise: every acknowledged
//! message survives a SIGKILL exactly once and in order.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard_client::Client;
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

/// Messages acknowledged to one visitor: (client_msg_id, seq).
type Acked = Arc<Mutex<Vec<(String, u64)>>>;

/// Send pipelined messages until told to stop or the connection dies.
async fn send_until_killed(client: Client, sid: u64, acked: Acked, stop: Arc<AtomicBool>) {
    const WINDOW: usize = 16;
    const MESSAGES_MAX: u64 = 9_000;
    let mut in_flight = VecDeque::new();
    let mut n = 0u64;
    loop {
        // Bounded below the 10,000-message session limit.
        while in_flight.len() < WINDOW && !stop.load(Ordering::Relaxed) && n < MESSAGES_MAX {
            let id = format!("m{n}");
            n += 1;
            match client.send(say(sid, &id, &format!("text of {id}"))).await {
                Ok((_, rx)) => in_flight.push_back((id, rx)),
                Err(_) => return,
            }
        }
        let Some((id, rx)) = in_flight.pop_front() else { return };
        match client.wait(rx).await {
            Ok(ServerFrame::MessageAck { seq, client_msg_id, .. }) => {
                assert_eq!(client_msg_id, id);
                acked.lock().unwrap().push((id, seq));
            }
            Ok(other) => panic!("unexpected reply {other:?}"),
            Err(_) => return, // the server died: this message was not acknowledged
        }
    }
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
    let mut total_acked = 0;
    for (sid, acked) in sessions {
        let acked = acked.lock().unwrap().clone();
        total_acked += acked.len();
        let stored = transcript(&agent, sid).await;
        let seqs: Vec<u64> = stored.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, (1..=stored.len() as u64).collect::<Vec<_>>(), "no gaps in session {sid}");
        let by_seq: HashMap<u64, &String> = stored.iter().map(|(s, t)| (*s, t)).collect();
        for (id, seq) in &acked {
            assert_eq!(
                by_seq.get(seq).map(|t| t.as_str()),
                Some(format!("text of {id}").as_str()),
                "acked {id} lost"
            );
        }
        let numbers: Vec<u64> =
            stored.iter().map(|(_, t)| t.trim_start_matches("text of m").parse().unwrap()).collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "stored in the order sent in session {sid}");
        let mut texts: Vec<&String> = stored.iter().map(|(_, t)| t).collect();
        texts.sort();
        texts.dedup();
        assert_eq!(texts.len(), stored.len(), "no duplicates in session {sid}");
    }
    assert!(total_acked > 100, "the test must acknowledge real traffic before the kill (got {total_acked})");
}
