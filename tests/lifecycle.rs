//! The whole live-chat lifecycle over real sockets.

use switchboard_protocol::codec::Encoding;
use switchboard_protocol::{ErrorCode, Request, Sender, ServerFrame, SessionState};

use crate::support::*;

#[tokio::test]
async fn a_chat_from_start_to_close() {
    let server = TestServer::start();
    let (mut ann, ann_id, _) = server.agent("Ann").await;
    let (mut bob, _, _) = server.agent("Bob").await;

    // A visitor starts a chat: it is WAITING and every agent hears of it, with unread 1.
    let (mut visitor, sid, _) = server.visitor("Vera", Some("My order is late")).await;
    for agent in [&mut ann, &mut bob] {
        let created = wait_for(agent, |f| match f {
            ServerFrame::SessionCreated { session } => Some(session.clone()),
            _ => None,
        })
        .await;
        assert_eq!(
            (created.session_id, created.state, created.unread),
            (sid, SessionState::Waiting, Some(1))
        );
        assert_eq!(created.visitor.name.as_deref(), Some("Vera"));
        assert_eq!(created.visitor.email.as_deref(), Some("vera@example.com"));
    }
    let queue = ann.call(Request::ListQueue {}).await.unwrap();
    assert_eq!(queue_ids(&queue), (vec![sid], vec![], vec![]));

    // Ann accepts: ACTIVE with Ann; every agent's view is updated; the visitor is told.
    let accepted = ann.call(Request::Accept { session_id: sid }).await.unwrap();
    let ServerFrame::Accepted { session, .. } = accepted else { panic!("{accepted:?}") };
    assert_eq!(
        (session.state, session.agent_id, session.agent_name.as_deref()),
        (SessionState::Active, Some(ann_id), Some("Ann"))
    );
    let updated = wait_for(&mut bob, |f| match f {
        ServerFrame::SessionUpdated { session } if session.state == SessionState::Active => {
            Some(session.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(updated.agent_id, Some(ann_id));
    let told = wait_for(&mut visitor, |f| match f {
        ServerFrame::SessionUpdated { session } => Some(session.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        (told.state, told.agent_name.as_deref(), told.unread),
        (SessionState::Active, Some("Ann"), None)
    );
    let queue = bob.call(Request::ListQueue {}).await.unwrap();
    assert_eq!(queue_ids(&queue), (vec![], vec![sid], vec![]));

    // Messages both ways, with seqs, and typing indicators that are not stored.
    let typing = visitor.call(Request::Typing { session_id: sid, typing: true }).await.unwrap();
    assert!(matches!(typing, ServerFrame::Ok { .. }));
    let t = wait_for(&mut ann, |f| match f {
        ServerFrame::Typing { session_id, from, typing, .. } => Some((*session_id, *from, *typing)),
        _ => None,
    })
    .await;
    assert_eq!(t, (sid, Sender::Visitor, true));
    let ack = ann.call(say(sid, "a1", "Let me check that for you")).await.unwrap();
    let ServerFrame::MessageAck { seq, duplicate, .. } = ack else { panic!("{ack:?}") };
    assert_eq!((seq, duplicate), (2, false));
    let got = wait_for(&mut visitor, |f| match f {
        ServerFrame::Message { message, .. } => Some(message.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        (got.seq, got.from, got.agent_id, got.text.as_str()),
        (2, Sender::Agent, Some(ann_id), "Let me check that for you")
    );
    visitor.call(say(sid, "v2", "Thanks!")).await.unwrap();
    let got = wait_for(&mut ann, |f| match f {
        ServerFrame::Message { message, .. } => Some(message.clone()),
        _ => None,
    })
    .await;
    assert_eq!((got.seq, got.from, got.text.as_str()), (3, Sender::Visitor, "Thanks!"));

    // Unread counts: Ann's own message marked the session read up to 2; Bob read nothing.
    let queue = ann.call(Request::ListQueue {}).await.unwrap();
    let ServerFrame::Queue { active, .. } = &queue else { panic!() };
    assert_eq!(active[0].unread, Some(1));
    ann.call(Request::MarkRead { session_id: sid, seq: 3 }).await.unwrap();
    let queue = ann.call(Request::ListQueue {}).await.unwrap();
    let ServerFrame::Queue { active, .. } = &queue else { panic!() };
    assert_eq!(active[0].unread, Some(0));
    let queue = bob.call(Request::ListQueue {}).await.unwrap();
    let ServerFrame::Queue { active, .. } = &queue else { panic!() };
    assert_eq!(active[0].unread, Some(3));

    // Ann closes: CLOSED; the visitor is told; later messages are refused.
    let closed = ann.call(Request::Close { session_id: sid }).await.unwrap();
    let ServerFrame::Closed { session, .. } = closed else { panic!("{closed:?}") };
    assert_eq!(session.state, SessionState::Closed);
    let told = wait_for(&mut visitor, |f| match f {
        ServerFrame::SessionUpdated { session } if session.state == SessionState::Closed => {
            Some(session.clone())
        }
        _ => None,
    })
    .await;
    assert!(told.closed_at_ms.is_some());
    let refused = visitor.request(say(sid, "v3", "Hello?")).await.unwrap();
    assert_eq!(error_code(&refused), ErrorCode::SessionClosed);
    let queue = bob.call(Request::ListQueue {}).await.unwrap();
    assert_eq!(queue_ids(&queue), (vec![], vec![], vec![sid]));

    // The transcript holds exactly the three messages.
    let texts: Vec<String> = transcript(&ann, sid).await.into_iter().map(|(_, t)| t).collect();
    assert_eq!(texts, vec!["My order is late", "Let me check that for you", "Thanks!"]);
}

#[tokio::test]
async fn json_and_msgpack_clients_talk_to_each_other() {
    let server = TestServer::start();
    let (_, token) = server.create_agent("Jo", 3).await;
    let agent = server.connect(Encoding::Json).await;
    agent.call(Request::Auth { token }).await.unwrap();
    let visitor = server.connect(Encoding::MsgPack).await;
    let ServerFrame::ChatStarted { session, .. } = visitor.call(start_chat("Max", None)).await.unwrap()
    else {
        panic!()
    };
    agent.call(Request::Accept { session_id: session.session_id }).await.unwrap();
    let ack = visitor.call(say(session.session_id, "m1", "grüße 👋")).await.unwrap();
    assert!(matches!(ack, ServerFrame::MessageAck { seq: 1, .. }), "{ack:?}");
    let texts = transcript(&agent, session.session_id).await;
    assert_eq!(texts, vec![(1, "grüße 👋".to_string())]);
}

#[tokio::test]
async fn agents_are_created_by_the_admin_cli_and_http_api() {
    let server = TestServer::start();
    let output = std::process::Command::new(binary())
        .args(["agent", "create", "--name", "Cli Agent", "--max-chats", "7", "--server"])
        .arg(server.http_url())
        .arg("--data-dir")
        .arg(server.data_dir())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let token = stdout.lines().find_map(|l| l.strip_prefix("token: ")).expect("token line").to_string();
    assert!(stdout.contains("max_concurrent_chats: 7"), "{stdout}");
    let agent = server.agent_with_token(&token).await;
    assert!(matches!(agent.call(Request::ListQueue {}).await.unwrap(), ServerFrame::Queue { .. }));

    let listed = std::process::Command::new(binary())
        .args(["agent", "list", "--server"])
        .arg(server.http_url())
        .args(["--admin-token", &server.admin_token()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).contains("Cli Agent"));

    // A wrong admin token is refused by the CLI with the server's reason.
    let refused = std::process::Command::new(binary())
        .args(["agent", "list", "--admin-token", "wrong", "--server"])
        .arg(server.http_url())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("unauthorized"));
}
