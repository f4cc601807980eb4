//! Fair assignment over real connections: departments, offers (accept, decline, expiry),
//! presence and its grace period, capacity, places in line, the decision log, restart, and
//! the bad input of each.

use std::time::Duration;

use switchboard_client::Client;
use switchboard_protocol::codec::Encoding;
use switchboard_protocol::http::DepartmentSummary;
use switchboard_protocol::{ErrorCode, Presence, Request, ServerFrame, SessionId, SessionState};

use crate::support::*;

/// An admin HTTP call; returns (status, JSON body).
async fn admin(
    server: &TestServer,
    method: &str,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    server.admin_call(method, path, Some(body)).await
}

/// Create an automatic department and put `agents` in it.
async fn automatic(server: &TestServer, name: &str, extra: serde_json::Value, agents: &[u64]) -> u64 {
    let mut body = serde_json::json!({"name": name, "automatic": true});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let (status, created) = admin(server, "POST", "/api/v1/departments", body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["department_id"].as_u64().unwrap();
    for agent in agents {
        let (status, body) =
            admin(server, "PUT", &format!("/api/v1/departments/{id}/agents/{agent}"), serde_json::json!({}))
                .await;
        assert_eq!(status, 200, "{body}");
    }
    id
}

async fn visitor_in(server: &TestServer, department: &str) -> (Client, SessionId) {
    let client = server.connect(Encoding::Json).await;
    let reply = client
        .call(Request::StartChat {
            name: Some("Vera".into()),
            email: None,
            page_url: None,
            first_message: None,
            client_msg_id: None,
            department: Some(department.into()),
        })
        .await
        .unwrap();
    let ServerFrame::ChatStarted { session, .. } = reply else { panic!("{reply:?}") };
    (client, session.session_id)
}

async fn next_offer(agent: &mut Client) -> SessionId {
    wait_for(agent, |f| match f {
        ServerFrame::Offer { session, .. } => Some(session.session_id),
        _ => None,
    })
    .await
}

/// No offer arrives within the quiet period.
async fn no_offer(agent: &mut Client) {
    let deadline = tokio::time::Instant::now() + QUIET;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match agent.next_event(left).await {
            Ok(ServerFrame::Offer { session, .. }) => panic!("unexpected offer of {}", session.session_id),
            Ok(_) => continue,
            Err(_) => return,
        }
    }
}

#[tokio::test]
async fn an_automatic_department_offers_to_the_least_loaded_agent_and_the_visitor_sees_who_serves() {
    let server = TestServer::start();
    let (mut ann, ann_id, _) = server.agent("Ann").await;
    let (mut bob, bob_id, _) = server.agent("Bob").await;
    let sales = automatic(&server, "sales", serde_json::json!({}), &[ann_id, bob_id]).await;
    let (mut visitor, first) = visitor_in(&server, "sales").await;
    // Both hold nothing; neither was ever assigned: the lower id, Ann, gets it.
    assert_eq!(next_offer(&mut ann).await, first);
    let reply = ann.call(Request::AcceptOffer { session_id: first }).await.unwrap();
    let ServerFrame::Accepted { session, .. } = reply else { panic!("{reply:?}") };
    assert_eq!((session.agent_id, session.department_id), (Some(ann_id), sales));
    let name = wait_for(&mut visitor, |f| match f {
        ServerFrame::SessionUpdated { session } if session.state == SessionState::Active => {
            session.agent_name.clone()
        }
        _ => None,
    })
    .await;
    assert_eq!(name, "Ann");
    // Ann now holds one: the next chat goes to Bob.
    let (_v2, second) = visitor_in(&server, "sales").await;
    assert_eq!(next_offer(&mut bob).await, second);
    no_offer(&mut ann).await;
    // Why did the first chat go to Ann?
    let (status, decisions) =
        admin(&server, "GET", &format!("/api/v1/sessions/{first}/routing"), serde_json::json!({})).await;
    assert_eq!(status, 200);
    let outcomes: Vec<&str> =
        decisions.as_array().unwrap().iter().map(|d| d["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["offered", "accepted"]);
    assert_eq!(decisions[0]["agent_id"], ann_id);
    assert_eq!(decisions[0]["candidates"], 2);
}

#[tokio::test]
async fn a_declined_or_expired_offer_goes_to_the_next_agent_and_a_stale_accept_is_refused() {
    let server = TestServer::start();
    let (mut ann, ann_id, _) = server.agent("Ann").await;
    let (mut bob, bob_id, _) = server.agent("Bob").await;
    automatic(&server, "support", serde_json::json!({"offer_timeout_ms": 1000}), &[ann_id, bob_id]).await;
    let (_visitor, session) = visitor_in(&server, "support").await;
    assert_eq!(next_offer(&mut ann).await, session);
    let reply = ann.call(Request::DeclineOffer { session_id: session }).await.unwrap();
    assert!(matches!(reply, ServerFrame::Ok { .. }), "{reply:?}");
    assert_eq!(next_offer(&mut bob).await, session);
    // Bob lets it expire: it is withdrawn from Bob and, everyone having passed, goes round.
    let reason = wait_for(&mut bob, |f| match f {
        ServerFrame::OfferWithdrawn { session_id, reason } if *session_id == session => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert_eq!(reason, "expired");
    assert_eq!(next_offer(&mut ann).await, session);
    let stale = bob.request(Request::AcceptOffer { session_id: session }).await.unwrap();
    assert_eq!(error_code(&stale), ErrorCode::OfferUnavailable);
    let not_offered = bob.request(Request::DeclineOffer { session_id: session }).await.unwrap();
    assert_eq!(error_code(&not_offered), ErrorCode::OfferUnavailable);
    let reply = ann.call(Request::AcceptOffer { session_id: session }).await.unwrap();
    assert!(matches!(reply, ServerFrame::Accepted { .. }), "{reply:?}");
}

#[tokio::test]
async fn capacity_is_never_exceeded_and_a_closed_chat_frees_the_next_offer_at_once() {
    let server = TestServer::start();
    let (id, token) = server.create_agent("Solo", 1).await;
    let mut solo = server.agent_with_token(&token).await;
    automatic(&server, "vip", serde_json::json!({"auto_accept": true}), &[id]).await;
    let (_a, first) = visitor_in(&server, "vip").await;
    let (_b, second) = visitor_in(&server, "vip").await;
    let assigned = wait_for(&mut solo, |f| match f {
        ServerFrame::SessionUpdated { session } if session.state == SessionState::Active => {
            Some(session.session_id)
        }
        _ => None,
    })
    .await;
    assert_eq!(assigned, first, "auto-accept assigns the first chat");
    // The second waits: capacity 1 is never exceeded, even though the agent is online.
    let queue = solo.call(Request::ListQueue {}).await.unwrap();
    let (waiting, active, _) = queue_ids(&queue);
    assert_eq!((waiting, active), (vec![second], vec![first]));
    // The chat closes: the second is assigned at once (no sweep).
    solo.call(Request::Close { session_id: first }).await.unwrap();
    let assigned = wait_for(&mut solo, |f| match f {
        ServerFrame::SessionUpdated { session } if session.state == SessionState::Active => {
            Some(session.session_id)
        }
        _ => None,
    })
    .await;
    assert_eq!(assigned, second);
}

#[tokio::test]
async fn away_agents_get_no_offers_and_coming_back_online_dispatches_at_once() {
    let server = TestServer::start();
    let (mut ann, ann_id, _) = server.agent("Ann").await;
    automatic(&server, "night", serde_json::json!({}), &[ann_id]).await;
    let reply = ann.call(Request::SetPresence { presence: Presence::Away }).await.unwrap();
    assert!(matches!(reply, ServerFrame::Ok { .. }));
    let (_visitor, session) = visitor_in(&server, "night").await;
    no_offer(&mut ann).await;
    ann.call(Request::SetPresence { presence: Presence::Online }).await.unwrap();
    assert_eq!(next_offer(&mut ann).await, session);
}

#[tokio::test]
async fn a_disconnected_agent_keeps_its_offer_through_the_grace_period_then_it_moves_on() {
    // The grace period is long against the 300 ms quiet check below.
    let server = TestServer::start_with(&["--presence-grace-ms", "2000"]);
    let (mut ann, ann_id, _) = server.agent("Ann").await;
    let (bob_id, bob_token) = server.create_agent("Bob", 5).await;
    automatic(&server, "field", serde_json::json!({}), &[ann_id, bob_id]).await;
    let (_visitor, session) = visitor_in(&server, "field").await;
    assert_eq!(next_offer(&mut ann).await, session);
    drop(ann);
    // Bob connects after Ann dropped: within the grace period nothing moves …
    let mut bob = server.agent_with_token(&bob_token).await;
    no_offer(&mut bob).await;
    // … then Ann counts as offline and her offer goes to Bob.
    assert_eq!(next_offer(&mut bob).await, session);
}

#[tokio::test]
async fn waiting_visitors_learn_their_place_in_line_as_it_changes() {
    let server = TestServer::start();
    let (agent, _, _) = server.agent("Ann").await;
    let (mut first, s1) = visitor_in(&server, "general").await;
    let (mut second, s2) = visitor_in(&server, "general").await;
    let position = |s: SessionId| {
        move |f: &ServerFrame| match f {
            ServerFrame::QueuePosition { session_id, position, .. } if *session_id == s => Some(*position),
            _ => None,
        }
    };
    assert_eq!(wait_for(&mut first, position(s1)).await, 1);
    assert_eq!(wait_for(&mut second, position(s2)).await, 2);
    agent.call(Request::Accept { session_id: s1 }).await.unwrap();
    assert_eq!(wait_for(&mut second, position(s2)).await, 1, "the chat ahead left the line");
}

#[tokio::test]
async fn waiting_chats_are_offered_again_after_a_restart() {
    let mut server = TestServer::start();
    let (ann_id, token) = server.create_agent("Ann", 5).await;
    automatic(&server, "sales", serde_json::json!({}), &[ann_id]).await;
    let (_visitor, session) = visitor_in(&server, "sales").await;
    server.kill9();
    server.restart();
    let mut ann = server.agent_with_token(&token).await;
    assert_eq!(next_offer(&mut ann).await, session);
    let (status, departments) = admin(&server, "GET", "/api/v1/departments", serde_json::json!({})).await;
    assert_eq!(status, 200);
    let departments: Vec<DepartmentSummary> = serde_json::from_value(departments).unwrap();
    let names: Vec<&str> = departments.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["general", "sales"]);
    assert!(departments[1].automatic && departments[1].agents == [ann_id]);
    assert_eq!(departments[0].agents, [ann_id], "new agents join the default department");
}

#[tokio::test]
async fn bad_routing_input_gets_specific_errors_and_changes_nothing() {
    let server = TestServer::start();
    let (agent, agent_id, _) = server.agent("Ann").await;
    // An unknown department in start_chat.
    let client = server.connect(Encoding::Json).await;
    let reply = client
        .request(Request::StartChat {
            name: None,
            email: None,
            page_url: None,
            first_message: None,
            client_msg_id: None,
            department: Some("nowhere".into()),
        })
        .await
        .unwrap();
    assert_eq!(error_code(&reply), ErrorCode::UnknownDepartment);
    // Offers of sessions that do not exist or are not waiting.
    assert_eq!(
        error_code(&agent.request(Request::AcceptOffer { session_id: 999 }).await.unwrap()),
        ErrorCode::OfferUnavailable
    );
    // A visitor cannot answer offers or set presence.
    let (visitor, sid, _) = server.visitor("Vera", None).await;
    assert_eq!(
        error_code(&visitor.request(Request::AcceptOffer { session_id: sid }).await.unwrap()),
        ErrorCode::Forbidden
    );
    assert_eq!(
        error_code(&visitor.request(Request::SetPresence { presence: Presence::Online }).await.unwrap()),
        ErrorCode::Forbidden
    );
    // HTTP: bad names, duplicates, ranges, unknown ids.
    let cases = [
        (
            "POST",
            "/api/v1/departments".to_string(),
            serde_json::json!({"name": "Bad Name"}),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/v1/departments".to_string(),
            serde_json::json!({"name": "general"}),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/v1/departments".to_string(),
            serde_json::json!({"name": "x", "offer_timeout_ms": 5}),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/v1/departments".to_string(),
            serde_json::json!({"name": "x", "ramp_max": 0}),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/v1/departments".to_string(),
            serde_json::json!({"name": "x", "colour": "red"}),
            400,
            "invalid_request",
        ),
        (
            "PATCH",
            "/api/v1/departments/77".to_string(),
            serde_json::json!({"automatic": true}),
            404,
            "unknown_department",
        ),
        (
            "PUT",
            "/api/v1/departments/77/agents/1".to_string(),
            serde_json::json!({}),
            404,
            "unknown_department",
        ),
        (
            "PUT",
            "/api/v1/departments/1/agents/4242".to_string(),
            serde_json::json!({}),
            400,
            "invalid_request",
        ),
        ("GET", "/api/v1/sessions/4242/routing".to_string(), serde_json::json!({}), 404, "unknown_session"),
    ];
    for (method, path, body, status, code) in cases {
        let (got, answer) = admin(&server, method, &path, body.clone()).await;
        assert_eq!((got, answer["code"].as_str()), (status, Some(code)), "{method} {path} {body}: {answer}");
    }
    let (_, departments) = admin(&server, "GET", "/api/v1/departments", serde_json::json!({})).await;
    assert_eq!(departments.as_array().unwrap().len(), 1, "nothing was created: {departments}");
    assert_eq!(departments[0]["agents"], serde_json::json!([agent_id]));
    // Without the admin token.
    let response = reqwest::get(format!("{}/api/v1/departments", server.http_url())).await.unwrap();
    assert_eq!(response.status(), 401);
    drop(client);
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[tokio::test]
async fn the_department_cli_creates_updates_lists_and_manages_members() {
    let server = TestServer::start();
    let (agent, _) = server.create_agent("Ann", 3).await;
    let run = |args: &[&str]| admin_cli(&server, "department", args);
    let (ok, out, err) =
        run(&["create", "--name", "billing", "--automatic", "true", "--offer-timeout-ms", "5000"]);
    assert!(ok, "{err}");
    assert_eq!(out, "2\tbilling\tautomatic (offers 5000 ms)\t\talways open\n", "no members yet");
    let (ok, out, _) = run(&["add-agent", "2", &agent.to_string()]);
    assert!(ok);
    assert_eq!(out, format!("2\tbilling\tautomatic (offers 5000 ms)\t{agent}\talways open\n"));
    let (ok, _, err) = run(&[
        "update",
        "2",
        "--name",
        "invoices",
        "--auto-accept",
        "true",
        "--hours",
        "mon-wed 09:00-17:00; sat 10:00-12:30",
        "--time-zone",
        "Europe/Berlin",
    ]);
    assert!(ok, "{err}");
    let (ok, out, _) = run(&["list"]);
    assert!(ok);
    let hours = "Europe/Berlin: mon 09:00-17:00, tue 09:00-17:00, wed 09:00-17:00, sat 10:00-12:30";
    assert_eq!(
        out,
        format!(
            "1\tgeneral\tmanual\t{agent}\talways open\n2\tinvoices\tautomatic (auto-accept)\t{agent}\t{hours}\n"
        )
    );
    // Bad hours are refused by the server with the reason, and change nothing.
    let (ok, _, err) = run(&["update", "2", "--hours", "mon 09:00-25:00", "--time-zone", "Europe/Berlin"]);
    assert!(!ok && err.contains("not a time of day"), "{err}");
    let (ok, _, err) = run(&["update", "2", "--hours", "mon 09:00-17:00", "--time-zone", "Mars/Olympus"]);
    assert!(!ok && err.contains("not a time zone"), "{err}");
    let (ok, _, err) = run(&["update", "2", "--hours", "mon 09:00-17:00"]);
    assert!(!ok && err.contains("--time-zone"), "{err}");
    let (ok, out, _) = run(&["update", "2", "--hours", "none"]);
    assert!(ok && out.ends_with("\talways open\n"), "{out}");
    let (ok, _, err) = run(&["remove-agent", "9", "1"]);
    assert!(!ok);
    assert!(err.contains("unknown_department"), "{err}");
}

#[tokio::test]
async fn agents_can_be_resized_disabled_and_given_a_new_token() {
    let server = TestServer::start();
    let (agent_id, token) = server.create_agent("Ann", 1).await;
    let ann = server.agent_with_token(&token).await;
    let path = format!("/api/v1/agents/{agent_id}");
    // A raised capacity shows in the listing with the live state.
    let (status, body) = admin(&server, "PATCH", &path, serde_json::json!({"max_concurrent_chats": 3})).await;
    assert_eq!((status, body["max_concurrent_chats"].as_u64()), (200, Some(3)), "{body}");
    let (_, listed) = admin(&server, "GET", "/api/v1/agents", serde_json::json!({})).await;
    assert_eq!(
        (listed[0]["connections"].as_u64(), listed[0]["load"].as_u64()),
        (Some(1), Some(0)),
        "{listed}"
    );
    // Bad values are refused and change nothing.
    let (status, body) = admin(&server, "PATCH", &path, serde_json::json!({"max_concurrent_chats": 0})).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_request")));
    let (status, _) =
        admin(&server, "PATCH", "/api/v1/agents/999", serde_json::json!({"disabled": true})).await;
    assert_eq!(status, 404);
    // A new token: the old one stops working and the open connection is closed (4003).
    let (status, rotated) = admin(&server, "POST", &format!("{path}/token"), serde_json::json!({})).await;
    assert_eq!(status, 200);
    let (code, _) = ann.closed(WAIT).await.unwrap();
    assert_eq!(code, 4003);
    let stale = server.connect(Encoding::MsgPack).await;
    assert_eq!(
        error_code(&stale.request(Request::Auth { token: token.clone() }).await.unwrap()),
        ErrorCode::BadToken
    );
    let fresh = rotated["token"].as_str().unwrap().to_string();
    let ann = server.agent_with_token(&fresh).await;
    // Disabled: its connection is closed and its token refused; enabled again, it works.
    let (status, body) = admin(&server, "PATCH", &path, serde_json::json!({"disabled": true})).await;
    assert_eq!((status, body["disabled"].as_bool()), (200, Some(true)));
    let (code, reason) = ann.closed(WAIT).await.unwrap();
    assert_eq!(code, 4003, "{reason}");
    let refused = server.connect(Encoding::MsgPack).await;
    assert_eq!(
        error_code(&refused.request(Request::Auth { token: fresh.clone() }).await.unwrap()),
        ErrorCode::BadToken
    );
    admin(&server, "PATCH", &path, serde_json::json!({"disabled": false})).await;
    server.agent_with_token(&fresh).await;
}

#[tokio::test]
async fn a_plain_accept_of_a_chat_offered_to_you_uses_the_offer_slot() {
    let server = TestServer::start();
    let (id, token) = server.create_agent("Solo", 1).await;
    let mut solo = server.agent_with_token(&token).await;
    automatic(&server, "one", serde_json::json!({}), &[id]).await;
    let (_visitor, session) = visitor_in(&server, "one").await;
    let (_other, other) = visitor_in(&server, "one").await;
    assert_eq!(next_offer(&mut solo).await, session);
    // Its one slot is reserved for the offer: `accept` of that chat takes it …
    let reply = solo.call(Request::Accept { session_id: session }).await.unwrap();
    assert!(matches!(reply, ServerFrame::Accepted { .. }), "{reply:?}");
    // … while any other chat is still refused at capacity.
    let refused = solo.request(Request::Accept { session_id: other }).await.unwrap();
    assert_eq!(error_code(&refused), ErrorCode::AgentAtCapacity);
}

#[tokio::test]
async fn kill_9_while_assigning_loses_no_chat_and_assigns_none_twice() {
    let mut server = TestServer::start();
    let mut agents = Vec::new();
    for name in ["A", "B", "C"] {
        agents.push(server.create_agent(name, 10).await);
    }
    let ids: Vec<u64> = agents.iter().map(|(id, _)| *id).collect();
    // No burst control here: every chat can be assigned at once.
    automatic(&server, "burst", serde_json::json!({"auto_accept": true, "ramp_max": 100}), &ids).await;
    let mut online = Vec::new();
    for (_, token) in &agents {
        online.push(server.agent_with_token(token).await);
    }
    let mut started = Vec::new();
    let mut visitors = Vec::new();
    for _ in 0..30 {
        let (visitor, session) = visitor_in(&server, "burst").await;
        started.push(session);
        visitors.push(visitor);
    }
    // Assignments are being written: kill the server in the middle of them.
    server.kill9();
    drop((online, visitors));
    server.restart();
    let mut online = Vec::new();
    for (_, token) in &agents {
        online.push(server.agent_with_token(token).await);
    }
    // Every chat that was started ends up active, with exactly one agent, none over capacity.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let queue = online[0].call(Request::ListQueue {}).await.unwrap();
        let ServerFrame::Queue { waiting, active, .. } = &queue else { panic!("{queue:?}") };
        if waiting.is_empty() {
            let mut sessions: Vec<SessionId> = active.iter().map(|s| s.session_id).collect();
            sessions.sort_unstable();
            let mut expected = started.clone();
            expected.sort_unstable();
            assert_eq!(sessions, expected, "every started chat is active exactly once");
            for agent in &ids {
                let held = active.iter().filter(|s| s.agent_id == Some(*agent)).count();
                assert!(held <= 10, "agent {agent} holds {held} chats over its capacity of 10");
            }
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "chats still waiting after the restart: {waiting:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_transfer_hands_the_chat_over_with_its_transcript_and_can_be_declined_or_expire() {
    let server = TestServer::start();
    let (mut ann, ann_id, _) = server.agent("Ann").await;
    let (mut bob, bob_id, _) = server.agent("Bob").await;
    let (offline_id, _) = server.create_agent("Cy", 5).await;
    let (mut visitor, session, _) = server.visitor("Vera", Some("my invoice is wrong")).await;
    ann.call(Request::Accept { session_id: session }).await.unwrap();
    ann.call(say(session, "a1", "let me get billing")).await.unwrap();
    // Bad transfers: to someone not connected, to yourself, of a chat you do not hold.
    let refused = ann.request(transfer(session, offline_id)).await.unwrap();
    assert_eq!(error_code(&refused), ErrorCode::AgentUnavailable);
    assert_eq!(
        error_code(&ann.request(transfer(session, ann_id)).await.unwrap()),
        ErrorCode::AgentUnavailable
    );
    assert_eq!(error_code(&bob.request(transfer(session, ann_id)).await.unwrap()), ErrorCode::NotYourSession);
    assert_eq!(
        error_code(&bob.request(Request::AcceptTransfer { session_id: session }).await.unwrap()),
        ErrorCode::OfferUnavailable
    );
    // Bob declines: Ann hears it and keeps the chat.
    assert!(matches!(ann.call(transfer(session, bob_id)).await.unwrap(), ServerFrame::Ok { .. }));
    let (note, from) = wait_for(&mut bob, |f| match f {
        ServerFrame::TransferOffer { session: s, note, from_agent_id, .. } if s.session_id == session => {
            Some((note.clone(), *from_agent_id))
        }
        _ => None,
    })
    .await;
    assert_eq!((note.as_deref(), from), (Some("billing question"), ann_id));
    assert_eq!(
        error_code(&ann.request(transfer(session, bob_id)).await.unwrap()),
        ErrorCode::InvalidRequest,
        "one pending at a time"
    );
    bob.call(Request::DeclineTransfer { session_id: session }).await.unwrap();
    let reason = wait_for(&mut ann, |f| match f {
        ServerFrame::TransferRefused { session_id, reason, .. } if *session_id == session => {
            Some(reason.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(reason, "declined");
    // Asked again, Bob accepts: the chat is his, with its transcript; the visitor sees him.
    ann.call(transfer(session, bob_id)).await.unwrap();
    wait_for(&mut bob, |f| matches!(f, ServerFrame::TransferOffer { .. }).then_some(())).await;
    let reply = bob.call(Request::AcceptTransfer { session_id: session }).await.unwrap();
    let ServerFrame::Accepted { session: info, .. } = reply else { panic!("{reply:?}") };
    assert_eq!(info.agent_id, Some(bob_id));
    let name = wait_for(&mut visitor, |f| match f {
        ServerFrame::SessionUpdated { session: s } if s.agent_id == Some(bob_id) => s.agent_name.clone(),
        _ => None,
    })
    .await;
    assert_eq!(name, "Bob");
    let texts: Vec<String> = transcript(&bob, session).await.into_iter().map(|(_, t)| t).collect();
    assert_eq!(texts, ["my invoice is wrong", "let me get billing"]);
    assert!(matches!(
        bob.call(say(session, "b1", "Bob here")).await.unwrap(),
        ServerFrame::MessageAck { .. }
    ));
    assert_eq!(
        error_code(&ann.request(say(session, "a2", "still me?")).await.unwrap()),
        ErrorCode::NotYourSession
    );
    // Loads moved with the chat.
    let (_, agents) = admin(&server, "GET", "/api/v1/agents", serde_json::json!({})).await;
    let load =
        |id: u64| agents.as_array().unwrap().iter().find(|a| a["agent_id"] == id).unwrap()["load"].as_u64();
    assert_eq!((load(ann_id), load(bob_id)), (Some(0), Some(1)));
}

#[tokio::test]
async fn an_unanswered_transfer_expires_and_releases_the_receivers_slot() {
    let server = TestServer::start();
    let (mut ann, _, _) = server.agent("Ann").await;
    let (bob_id, bob_token) = server.create_agent("Bob", 1).await;
    let mut bob = server.agent_with_token(&bob_token).await;
    admin(&server, "PATCH", "/api/v1/departments/1", serde_json::json!({"offer_timeout_ms": 1000})).await;
    let (_visitor, session, _) = server.visitor("Vera", None).await;
    let (_other, other, _) = server.visitor("Wes", None).await;
    ann.call(Request::Accept { session_id: session }).await.unwrap();
    ann.call(transfer(session, bob_id)).await.unwrap();
    // Bob's one slot is held for the transfer meanwhile.
    assert_eq!(
        error_code(&bob.request(Request::Accept { session_id: other }).await.unwrap()),
        ErrorCode::AgentAtCapacity
    );
    let reason = wait_for(&mut ann, |f| match f {
        ServerFrame::TransferRefused { session_id, reason, .. } if *session_id == session => {
            Some(reason.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(reason, "expired");
    wait_for(&mut bob, |f| {
        matches!(f, ServerFrame::OfferWithdrawn { reason, .. } if reason == "expired").then_some(())
    })
    .await;
    assert!(matches!(
        bob.call(Request::Accept { session_id: other }).await.unwrap(),
        ServerFrame::Accepted { .. }
    ));
}

#[tokio::test]
async fn a_transfer_to_a_department_goes_to_its_least_loaded_member_and_moves_the_chat_there() {
    let server = TestServer::start();
    let (mut ann, ann_id, _) = server.agent("Ann").await;
    let (bob, bob_id, _) = server.agent("Bob").await;
    let (mut cy, cy_id, _) = server.agent("Cy").await;
    let (dee_id, _) = server.create_agent("Dee", 5).await;
    let billing =
        automatic(&server, "billing", serde_json::json!({"automatic": false}), &[bob_id, cy_id]).await;
    automatic(&server, "solo", serde_json::json!({}), &[ann_id]).await;
    automatic(&server, "nobody-online", serde_json::json!({}), &[dee_id]).await;
    let (_busy, busy, _) = server.visitor("Wes", None).await;
    bob.call(Request::Accept { session_id: busy }).await.unwrap();
    let (_visitor, session, _) = server.visitor("Vera", Some("my invoice is wrong")).await;
    ann.call(Request::Accept { session_id: session }).await.unwrap();
    let to = |department: Option<&str>, agent: Option<u64>| Request::Transfer {
        session_id: session,
        to_agent_id: agent,
        to_department: department.map(str::to_string),
        note: None,
    };
    // Bad transfers: no such department, both or neither target, nobody available.
    let code = |f: ServerFrame| error_code(&f);
    assert_eq!(code(ann.request(to(Some("nope"), None)).await.unwrap()), ErrorCode::UnknownDepartment);
    assert_eq!(
        code(ann.request(to(Some("billing"), Some(bob_id))).await.unwrap()),
        ErrorCode::InvalidRequest
    );
    assert_eq!(code(ann.request(to(None, None)).await.unwrap()), ErrorCode::InvalidRequest);
    assert_eq!(
        code(ann.request(to(Some("solo"), None)).await.unwrap()),
        ErrorCode::DepartmentUnavailable,
        "the sender is its only member"
    );
    assert_eq!(
        code(ann.request(to(Some("nobody-online"), None)).await.unwrap()),
        ErrorCode::DepartmentUnavailable
    );
    // To billing: Cy (0 chats) rather than Bob (1); Cy hears which department it came through.
    ann.call(Request::Transfer {
        session_id: session,
        to_agent_id: None,
        to_department: Some("billing".into()),
        note: Some("invoice".into()),
    })
    .await
    .unwrap();
    let (department, note) = wait_for(&mut cy, |f| match f {
        ServerFrame::TransferOffer { session: s, department_id, note, .. } if s.session_id == session => {
            Some((*department_id, note.clone()))
        }
        _ => None,
    })
    .await;
    assert_eq!((department, note.as_deref()), (Some(billing), Some("invoice")));
    assert_eq!(
        code(bob.request(Request::AcceptTransfer { session_id: session }).await.unwrap()),
        ErrorCode::OfferUnavailable,
        "offered to Cy, not to Bob"
    );
    let reply = cy.call(Request::AcceptTransfer { session_id: session }).await.unwrap();
    let ServerFrame::Accepted { session: info, .. } = reply else { panic!("{reply:?}") };
    assert_eq!((info.agent_id, info.department_id), (Some(cy_id), billing));
    // The decision is on record with its reason.
    let (status, decisions) =
        admin(&server, "GET", &format!("/api/v1/sessions/{session}/routing"), serde_json::json!({})).await;
    assert_eq!(status, 200, "{decisions}");
    let last = decisions.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["agent_id"].as_u64(), last["outcome"].as_str()),
        (Some(cy_id), Some("transfer_offered"))
    );
    // Ann no longer holds it.
    assert_eq!(code(ann.request(say(session, "a1", "me?")).await.unwrap()), ErrorCode::NotYourSession);
    let _ = &mut ann;
}

#[tokio::test]
async fn a_higher_priority_chat_is_served_first_and_keeps_its_priority_across_a_restart() {
    let mut server = TestServer::start();
    let (ann_id, token) = server.create_agent("Ann", 1).await;
    let ann = server.agent_with_token(&token).await;
    let vip = automatic(&server, "vip", serde_json::json!({"auto_accept": true}), &[ann_id]).await;
    // Ann's one slot is taken; three chats wait in order.
    let (_v0, first) = visitor_in(&server, "vip").await;
    let (_v1, a) = visitor_in(&server, "vip").await;
    let (_v2, b) = visitor_in(&server, "vip").await;
    let (_v3, c) = visitor_in(&server, "vip").await;
    let waiting_order = |frame: ServerFrame| match frame {
        ServerFrame::Queue { waiting, .. } => {
            waiting.iter().map(|s| (s.session_id, s.priority)).collect::<Vec<_>>()
        }
        other => panic!("{other:?}"),
    };
    let order = waiting_order(ann.call(Request::ListQueue {}).await.unwrap());
    assert_eq!(order, [(a, 0), (b, 0), (c, 0)]);
    // An agent raises c; the administrator raises b less.
    let reply = ann.call(Request::SetPriority { session_id: c, priority: 10 }).await.unwrap();
    assert!(matches!(reply, ServerFrame::Ok { .. }), "{reply:?}");
    let (status, body) =
        admin(&server, "PUT", &format!("/api/v1/sessions/{b}/priority"), serde_json::json!({"priority": 3}))
            .await;
    assert_eq!((status, body["priority"].as_i64()), (200, Some(3)));
    let order = waiting_order(ann.call(Request::ListQueue {}).await.unwrap());
    assert_eq!(order, [(c, 10), (b, 3), (a, 0)]);
    // Bad input: out of range, unknown session, a visitor, the HTTP body.
    let code = |f: ServerFrame| error_code(&f);
    let big = Request::SetPriority { session_id: a, priority: 1_000_000 };
    assert_eq!(code(ann.request(big).await.unwrap()), ErrorCode::InvalidRequest);
    let unknown = Request::SetPriority { session_id: 999_999, priority: 1 };
    assert_eq!(code(ann.request(unknown).await.unwrap()), ErrorCode::UnknownSession);
    let (visitor, _, _) = server.visitor("Vi", None).await;
    let sneaky = Request::SetPriority { session_id: a, priority: 1000 };
    assert_eq!(code(visitor.request(sneaky).await.unwrap()), ErrorCode::Forbidden);
    let path = format!("/api/v1/sessions/{a}/priority");
    let (status, body) = admin(&server, "PUT", &path, serde_json::json!({"priority": -5000})).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_request")));
    let (status, _) = admin(&server, "PUT", &path, serde_json::json!({"urgent": true})).await;
    assert_eq!(status, 400);
    let (status, body) =
        admin(&server, "PUT", "/api/v1/sessions/999999/priority", serde_json::json!({"priority": 1})).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("unknown_session")));
    let order = waiting_order(ann.call(Request::ListQueue {}).await.unwrap());
    assert_eq!(order[..3], [(c, 10), (b, 3), (a, 0)], "nothing changed");
    // After kill -9 the order and priorities hold; closing Ann's chat hands her c first.
    drop(ann);
    server.kill9();
    server.restart();
    let mut ann = server.agent_with_token(&token).await;
    let order = waiting_order(ann.call(Request::ListQueue {}).await.unwrap());
    assert_eq!(order[..3], [(c, 10), (b, 3), (a, 0)]);
    // The decision that gave Ann her first chat was stored: it outlives the crash.
    let (status, decisions) =
        admin(&server, "GET", &format!("/api/v1/sessions/{first}/routing"), serde_json::json!({})).await;
    assert_eq!(status, 200, "{decisions}");
    let first_decision = &decisions[0];
    assert_eq!(
        (first_decision["agent_id"].as_u64(), first_decision["outcome"].as_str()),
        (Some(ann_id), Some("auto_accepted"))
    );
    assert_eq!(first_decision["department_id"].as_u64(), Some(vip));
    ann.call(Request::Close { session_id: first }).await.unwrap();
    let assigned = wait_for(&mut ann, |f| match f {
        ServerFrame::SessionUpdated { session }
            if session.agent_id == Some(ann_id) && session.state == SessionState::Active =>
        {
            Some(session.session_id)
        }
        _ => None,
    })
    .await;
    assert_eq!(assigned, c);
    let (status, body) = admin(
        &server,
        "PUT",
        &format!("/api/v1/sessions/{first}/priority"),
        serde_json::json!({"priority": 1}),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (409, Some("session_closed")));
}

fn transfer(session_id: SessionId, to_agent_id: u64) -> Request {
    Request::Transfer {
        session_id,
        to_agent_id: Some(to_agent_id),
        to_department: None,
        note: Some("billing question".into()),
    }
}

#[tokio::test]
async fn with_requeue_on_offline_an_offline_agents_chats_go_back_to_the_queue() {
    let server = TestServer::start();
    let (mut ann, ann_id, _) = server.agent("Ann").await;
    let (bob_id, bob_token) = server.create_agent("Bob", 5).await;
    automatic(&server, "care", serde_json::json!({"requeue_on_offline": true}), &[ann_id, bob_id]).await;
    let (mut visitor, session) = visitor_in(&server, "care").await;
    assert_eq!(next_offer(&mut ann).await, session);
    ann.call(Request::AcceptOffer { session_id: session }).await.unwrap();
    let mut bob = server.agent_with_token(&bob_token).await;
    // Ann goes offline: her chat waits again (the visitor sees it) and goes to Bob.
    ann.call(Request::SetPresence { presence: Presence::Offline }).await.unwrap();
    wait_for(&mut visitor, |f| match f {
        ServerFrame::SessionUpdated { session: s }
            if s.state == SessionState::Waiting && s.agent_id.is_none() =>
        {
            Some(())
        }
        _ => None,
    })
    .await;
    assert_eq!(next_offer(&mut bob).await, session);
    let reply = bob.call(Request::AcceptOffer { session_id: session }).await.unwrap();
    let ServerFrame::Accepted { session: info, .. } = reply else { panic!("{reply:?}") };
    assert_eq!(info.agent_id, Some(bob_id));
    let (_, departments) = admin(&server, "GET", "/api/v1/departments", serde_json::json!({})).await;
    assert_eq!(departments[1]["requeue_on_offline"], true);
}

#[tokio::test]
async fn the_agent_cli_updates_and_rotates() {
    let server = TestServer::start();
    let (id, _) = server.create_agent("Ann", 2).await;
    let run = |args: &[&str]| {
        let (ok, out, _) = admin_cli(&server, "agent", args);
        (ok, out)
    };
    let (ok, out) = run(&["update", &id.to_string(), "--max-chats", "7", "--disabled", "true"]);
    assert!(ok);
    assert_eq!(out, format!("{id}\t7\tdisabled\tAnn\n"));
    let (ok, out) = run(&["rotate-token", &id.to_string()]);
    assert!(ok);
    let token = out.lines().find_map(|l| l.strip_prefix("token: ")).unwrap().to_string();
    run(&["update", &id.to_string(), "--disabled", "false"]);
    server.agent_with_token(&token).await;
    let (ok, _) = run(&["update", "999", "--max-chats", "3"]);
    assert!(!ok, "an unknown agent is an error");
}

/// Run `switchboard <command> <args>` against the server as its administrator; returns
/// (success, stdout, stderr).
fn admin_cli(server: &TestServer, command: &str, args: &[&str]) -> (bool, String, String) {
    let output = std::process::Command::new(binary())
        .arg(command)
        .args(args)
        .args(["--server", &server.http_url(), "--admin-token", &server.admin_token()])
        .output()
        .unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).to_string();
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}
