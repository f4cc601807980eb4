//! Many agents press Accept at the same moment: exactly one wins.

use switchboard_protocol::{ErrorCode, Request, ServerFrame};

use crate::support::*;

#[tokio::test]
async fn exactly_one_of_many_simultaneous_accepts_wins() {
    let server = TestServer::start();
    let mut agents = Vec::new();
    for i in 0..12 {
        agents.push(server.agent(&format!("Agent {i}")).await);
    }
    for round in 0..5 {
        let (_visitor, sid, _) = server.visitor(&format!("Visitor {round}"), Some("help")).await;
        // Send every accept before reading any answer.
        let mut pending = Vec::new();
        for (client, _, _) in &agents {
            pending.push(client.send(Request::Accept { session_id: sid }).await.unwrap().1);
        }
        let mut winners = Vec::new();
        let mut taken = 0;
        for ((client, id, _), rx) in agents.iter().zip(pending) {
            match client.wait(rx).await.unwrap() {
                ServerFrame::Accepted { session, .. } => {
                    assert_eq!(session.agent_id, Some(*id));
                    winners.push(*id);
                }
                other => {
                    assert_eq!(error_code(&other), ErrorCode::AlreadyTaken);
                    taken += 1;
                }
            }
        }
        assert_eq!((winners.len(), taken), (1, agents.len() - 1), "round {round}");
        let queue = agents[0].0.call(Request::ListQueue {}).await.unwrap();
        let ServerFrame::Queue { active, .. } = queue else { panic!() };
        let listed = active.iter().find(|s| s.session_id == sid).expect("listed as active");
        assert_eq!(listed.agent_id, Some(winners[0]));
    }
}

#[tokio::test]
async fn an_agent_at_capacity_cannot_accept_more() {
    let server = TestServer::start();
    let (_, token) = server.create_agent("Solo", 1).await;
    let agent = server.agent_with_token(&token).await;
    let (_v1, s1, _) = server.visitor("One", None).await;
    let (_v2, s2, _) = server.visitor("Two", None).await;
    agent.call(Request::Accept { session_id: s1 }).await.unwrap();
    let refused = agent.request(Request::Accept { session_id: s2 }).await.unwrap();
    assert_eq!(error_code(&refused), ErrorCode::AgentAtCapacity);
    agent.call(Request::Close { session_id: s1 }).await.unwrap();
    assert!(matches!(
        agent.call(Request::Accept { session_id: s2 }).await.unwrap(),
        ServerFrame::Accepted { .. }
    ));
}
