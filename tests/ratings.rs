//! Chat ratings over the protocol: a visitor rates its closed chat once (1 to 5, a
//! comment); agents see it in `SessionInfo.rating`, after a restart too; operators in
//! `switchboard_chat_ratings_total`. Every refusal is a specific error and stores nothing.

use switchboard_protocol::{ErrorCode, Request, ServerFrame};

use crate::support::{error_code, wait_for, TestServer};

fn rate(session_id: u64, score: u8, comment: Option<&str>) -> Request {
    Request::RateChat { session_id, score, comment: comment.map(str::to_string) }
}

#[tokio::test]
async fn a_visitor_rates_its_closed_chat_once_and_agents_see_it() {
    let mut server = TestServer::start();
    let (ann, _, _) = server.agent("Ann").await;
    let (visitor, session, token) = server.visitor("Vera", Some("hello")).await;
    // Not before the chat has ended.
    let early = visitor.request(rate(session, 5, None)).await.unwrap();
    assert_eq!(error_code(&early), ErrorCode::InvalidRequest, "{early:?}");
    ann.call(Request::Accept { session_id: session }).await.unwrap();
    ann.call(Request::Close { session_id: session }).await.unwrap();

    // Bad scores, an over-long comment, someone else's chat, an agent: refused.
    let (other, _, _) = server.visitor("Otto", None).await;
    let cases = [
        (&visitor, rate(session, 0, None), ErrorCode::InvalidRequest),
        (&visitor, rate(session, 6, None), ErrorCode::InvalidRequest),
        (&visitor, rate(session, 4, Some(&"x".repeat(1001))), ErrorCode::InvalidRequest),
        (&other, rate(session, 1, None), ErrorCode::Forbidden),
        (&ann, rate(session, 1, None), ErrorCode::Forbidden),
    ];
    for (client, request, code) in cases {
        let answer = client.request(request.clone()).await.unwrap();
        assert_eq!(error_code(&answer), code, "{request:?} -> {answer:?}");
    }

    // The rating itself; agents are told.
    let mut watcher = server.agent("Bob").await.0;
    let reply = visitor.call(rate(session, 4, Some("  quick and kind  "))).await.unwrap();
    assert!(matches!(reply, ServerFrame::Ok { .. }), "{reply:?}");
    let seen = wait_for(&mut watcher, |f| match f {
        ServerFrame::SessionUpdated { session: s } if s.session_id == session => s.rating.clone(),
        _ => None,
    })
    .await;
    assert_eq!((seen.score, seen.comment.as_deref()), (4, Some("quick and kind")));
    // Once only.
    let again = visitor.request(rate(session, 1, None)).await.unwrap();
    assert_eq!(error_code(&again), ErrorCode::InvalidRequest);
    assert_eq!(server.metric("switchboard_chat_ratings_total{score=\"4\"}").await, 1.0);
    assert_eq!(server.metric("switchboard_chat_ratings_total{score=\"1\"}").await, 0.0);

    // Stored: after a restart the agents' queue and the resuming visitor still see it.
    server.terminate();
    server.restart();
    let (ann, _, _) = server.agent("Ann2").await;
    let queue = ann.call(Request::ListQueue {}).await.unwrap();
    let ServerFrame::Queue { closed, .. } = queue else { panic!("{queue:?}") };
    let listed = closed.iter().find(|s| s.session_id == session).expect("the closed chat is listed");
    assert_eq!(listed.rating.as_ref().map(|r| r.score), Some(4));
    let visitor = server.connect(switchboard_protocol::Encoding::Json).await;
    let resumed = visitor.call(Request::ResumeChat { session_token: token, after_seq: 0 }).await.unwrap();
    let ServerFrame::Attached { session: s, .. } = resumed else { panic!("{resumed:?}") };
    assert_eq!(s.rating.map(|r| r.score), Some(4));
}
