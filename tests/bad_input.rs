//! Bad input of every kind gets a specific error; the server keeps running; nothing stored
//! is lost. Each case checks the connection is still usable where that is safe.

use std::time::Duration;

use switchboard_client::tungstenite::protocol::frame::coding::{Data, OpCode};
use switchboard_client::tungstenite::protocol::frame::Frame;
use switchboard_client::tungstenite::Message;
use switchboard_client::Client;
use switchboard_protocol::codec::Encoding;
use switchboard_protocol::limits::{FRAME_BYTES_MAX_DEFAULT, TEXT_BYTES_MAX};
use switchboard_protocol::{ErrorCode, Request, ServerFrame};

use crate::support::*;

/// The next `error` frame's (re, code).
async fn next_error(client: &mut Client) -> (Option<u64>, ErrorCode) {
    wait_for(client, |f| match f {
        ServerFrame::Error { re, code, .. } => Some((*re, *code)),
        _ => None,
    })
    .await
}

/// The connection still answers a request.
async fn still_usable(client: &Client) {
    let reply = client.request(Request::ListQueue {}).await.expect("connection still usable");
    assert!(matches!(reply, ServerFrame::Queue { .. } | ServerFrame::Error { .. }), "{reply:?}");
}

#[tokio::test]
async fn undecodable_and_ill_typed_frames_get_specific_errors_and_the_connection_lives() {
    let server = TestServer::start();
    let (mut agent, _, _) = server.agent("Ann").await;
    // (raw message, expected re, expected code)
    let cases: Vec<(Message, Option<u64>, ErrorCode)> = vec![
        (Message::Binary(vec![0xc1, 0xff, 0x00].into()), None, ErrorCode::MalformedFrame),
        (Message::Text("this is not json".into()), None, ErrorCode::MalformedFrame),
        (Message::Text("[1,2]".into()), None, ErrorCode::MalformedFrame),
        (Message::Text(r#"{"type":"accept"}"#.into()), None, ErrorCode::InvalidRequest),
        (Message::Text(r#"{"type":"teleport","req":41}"#.into()), Some(41), ErrorCode::UnknownType),
        (Message::Text(r#"{"type":"accept","req":42}"#.into()), Some(42), ErrorCode::InvalidRequest),
        (
            Message::Text(r#"{"type":"accept","req":43,"session_id":"seven"}"#.into()),
            Some(43),
            ErrorCode::InvalidRequest,
        ),
        (
            Message::Text(r#"{"type":"history","req":44,"session_id":1,"limit":100000}"#.into()),
            Some(44),
            ErrorCode::InvalidRequest,
        ),
        (
            Message::Text(
                r#"{"type":"send_message","req":45,"session_id":1,"client_msg_id":"","text":"x"}"#.into(),
            ),
            Some(45),
            ErrorCode::InvalidRequest,
        ),
        (
            Message::Text(r#"{"type":"accept","req":46,"session_id":999999}"#.into()),
            Some(46),
            ErrorCode::UnknownSession,
        ),
    ];
    for (message, re, code) in cases {
        agent.send_raw(message.clone()).await.unwrap();
        assert_eq!(next_error(&mut agent).await, (re, code), "for {message:?}");
        still_usable(&agent).await;
    }
}

#[tokio::test]
async fn oversized_frames_close_that_connection_only() {
    let server = TestServer::start();
    let (agent, _, _) = server.agent("Ann").await;
    let (visitor, sid, _) = server.visitor("Vic", Some("before")).await;

    // Text over the protocol's limit but inside the frame limit: refused, connection lives.
    let long = "x".repeat(TEXT_BYTES_MAX + 1);
    let refused = visitor.request(say(sid, "long", &long)).await.unwrap();
    assert_eq!(error_code(&refused), ErrorCode::TextTooLong);
    let ok = visitor.call(say(sid, "ok", "fits")).await.unwrap();
    assert!(matches!(ok, ServerFrame::MessageAck { seq: 2, .. }));

    // A frame over the frame limit: error frame, then close 1009.
    let mut big = server.connect(Encoding::MsgPack).await;
    big.send_raw(Message::Binary(vec![0u8; FRAME_BYTES_MAX_DEFAULT + 1].into())).await.unwrap();
    assert_eq!(next_error(&mut big).await, (None, ErrorCode::FrameTooLarge));
    let (code, _) = big.closed(WAIT).await.unwrap();
    assert_eq!(code, 1009);

    // Everyone else is unaffected and nothing stored changed.
    still_usable(&agent).await;
    assert_eq!(transcript(&agent, sid).await, vec![(1, "before".to_string()), (2, "fits".to_string())]);
}

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_closes_with_1007() {
    let server = TestServer::start();
    let mut client = server.connect(Encoding::Json).await;
    let frame = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    client.send_raw(Message::Frame(frame)).await.unwrap();
    assert_eq!(next_error(&mut client).await, (None, ErrorCode::InvalidUtf8));
    let (code, _) = client.closed(WAIT).await.unwrap();
    assert_eq!(code, 1007);
    let (agent, _, _) = server.agent("Still fine").await;
    still_usable(&agent).await;
}

#[tokio::test]
async fn unauthorised_actions_are_refused_with_specific_codes() {
    let server = TestServer::start();
    let (ann, _, _) = server.agent("Ann").await;
    let (bob, _, _) = server.agent("Bob").await;
    let (visitor_a, sa, _) = server.visitor("A", Some("mine")).await;
    let (_visitor_b, sb, _) = server.visitor("B", Some("other")).await;
    ann.call(Request::Accept { session_id: sa }).await.unwrap();
    let anonymous = server.connect(Encoding::Json).await;

    // (client, request, expected code)
    let cases: Vec<(&Client, Request, ErrorCode)> = vec![
        (&visitor_a, say(sb, "x", "let me in"), ErrorCode::Forbidden),
        (&visitor_a, Request::Typing { session_id: sb, typing: true }, ErrorCode::Forbidden),
        (&visitor_a, Request::History { session_id: sb, after_seq: 0, limit: None }, ErrorCode::Forbidden),
        (&visitor_a, Request::Accept { session_id: sa }, ErrorCode::Forbidden),
        (&visitor_a, Request::Auth { token: "1.abc".into() }, ErrorCode::BadToken),
        (&visitor_a, start_chat("Again", None), ErrorCode::WrongRole),
        (&bob, Request::Close { session_id: sa }, ErrorCode::NotYourSession),
        (&bob, say(sa, "b", "hijack"), ErrorCode::NotYourSession),
        (&bob, Request::Close { session_id: sb }, ErrorCode::NotYourSession),
        (&bob, Request::Accept { session_id: sa }, ErrorCode::AlreadyTaken),
        (&bob, Request::Attach { session_id: 424242, after_seq: 0 }, ErrorCode::UnknownSession),
        (&anonymous, Request::ListQueue {}, ErrorCode::NotAuthenticated),
        (&anonymous, say(sa, "n", "hi"), ErrorCode::NotAuthenticated),
        (&anonymous, Request::Auth { token: "garbage".into() }, ErrorCode::BadToken),
        (&anonymous, Request::Auth { token: "1.0000".into() }, ErrorCode::BadToken),
        (
            &anonymous,
            Request::ResumeChat { session_token: format!("{sa}.wrong"), after_seq: 0 },
            ErrorCode::BadToken,
        ),
    ];
    for (client, request, code) in cases {
        let reply = client.request(request.clone()).await.unwrap();
        assert_eq!(error_code(&reply), code, "for {request:?}");
    }
    ann.call(Request::Close { session_id: sa }).await.unwrap();
    let reply = bob.request(Request::Accept { session_id: sa }).await.unwrap();
    assert_eq!(error_code(&reply), ErrorCode::SessionClosed, "accepting a closed session");

    // Nothing stored changed.
    assert_eq!(transcript(&ann, sa).await, vec![(1, "mine".to_string())]);
    assert_eq!(transcript(&ann, sb).await, vec![(1, "other".to_string())]);
}

#[tokio::test]
async fn the_http_api_refuses_bad_credentials_and_bodies() {
    let server = TestServer::start();
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/agents", server.http_url());
    let body = serde_json::json!({"display_name": "X", "max_concurrent_chats": 2});
    // (authorization header, body, expected status, expected code)
    let cases: Vec<(Option<String>, String, u16, &str)> = vec![
        (None, body.to_string(), 401, "unauthorized"),
        (Some("Bearer wrong".into()), body.to_string(), 401, "unauthorized"),
        (Some(format!("Bearer {}", server.admin_token())), "{not json".into(), 400, "invalid_request"),
        (
            Some(format!("Bearer {}", server.admin_token())),
            r#"{"display_name":"","max_concurrent_chats":1}"#.into(),
            400,
            "invalid_request",
        ),
        (
            Some(format!("Bearer {}", server.admin_token())),
            r#"{"display_name":"A","max_concurrent_chats":0}"#.into(),
            400,
            "invalid_request",
        ),
        (
            Some(format!("Bearer {}", server.admin_token())),
            format!(r#"{{"display_name":"{}","max_concurrent_chats":1}}"#, "x".repeat(20_000)),
            413,
            "invalid_request",
        ),
        (Some(format!("Bearer{}", server.admin_token())), body.to_string(), 401, "unauthorized"),
    ];
    for (auth, body, status, code) in cases {
        let mut request = http.post(&url).header("content-type", "application/json").body(body.clone());
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "for {}", &body[..body.len().min(80)]);
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["code"], code);
    }
    let missing = http.get(format!("{}/nope", server.http_url())).send().await.unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    let plain_ws = http.get(format!("{}/ws", server.http_url())).send().await.unwrap();
    assert_eq!(plain_ws.status().as_u16(), 400, "GET /ws without an upgrade");
    let health = http.get(format!("{}/healthz", server.http_url())).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let metrics =
        http.get(format!("{}/metrics", server.http_url())).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("switchboard_"), "metrics are exported");
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[tokio::test]
async fn a_visitor_flooding_messages_is_rate_limited_and_agents_keep_their_connection() {
    let server = TestServer::start_with(&["--visitor-rate-per-s", "5", "--visitor-burst", "10"]);
    let (agent, _, _) = server.agent("Ann").await;
    let (visitor, sid, _) = server.visitor("Flood", None).await;
    let mut pending = Vec::new();
    for i in 0..40 {
        pending.push(visitor.send(say(sid, &format!("f{i}"), "spam")).await.unwrap().1);
    }
    let mut acked = 0;
    let mut limited = 0;
    for rx in pending {
        match visitor.wait(rx).await.unwrap() {
            ServerFrame::MessageAck { .. } => acked += 1,
            other => {
                assert_eq!(error_code(&other), ErrorCode::RateLimited);
                limited += 1;
            }
        }
    }
    // The burst of 10 passes; refill at 5/s adds one per 200 ms of a slow run.
    assert!((10..=15).contains(&acked), "the burst passes, the rest is limited: {acked} acked");
    assert_eq!(acked + limited, 40);
    // The agent heard about the session's activity without being disconnected.
    still_usable(&agent).await;
    assert_eq!(transcript(&agent, sid).await.len(), acked);
}

#[tokio::test]
async fn a_connection_that_never_identifies_itself_is_closed() {
    let server = TestServer::start_with(&["--anonymous-timeout-ms", "300"]);
    let mut idle = server.connect(Encoding::Json).await;
    assert_eq!(next_error(&mut idle).await, (None, ErrorCode::NotAuthenticated));
    let (code, _) = idle.closed(WAIT).await.unwrap();
    assert_eq!(code, 4001);
}

#[tokio::test]
async fn a_client_still_sending_an_oversized_message_gets_the_error_and_1009() {
    use futures_util::{SinkExt, StreamExt};
    let server = TestServer::start();
    let (mut ws, _) = tokio_tungstenite::connect_async(server.ws_url()).await.unwrap();
    // 64 KiB in 997-byte frames (Autobahn case 1.2.8), all written before reading: the
    // server refuses the message after 16 KiB while the rest is still on the way.
    let frames = (64 << 10) / 997 + 1;
    for i in 0..frames {
        let opcode = OpCode::Data(if i == 0 { Data::Binary } else { Data::Continue });
        let frame = Frame::message(vec![0u8; 997], opcode, i == frames - 1);
        ws.send(Message::Frame(frame)).await.expect("the server drains instead of resetting");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(matches!(ws.next().await, Some(Ok(Message::Binary(_)))), "the error frame");
    match ws.next().await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1009),
        other => panic!("expected a 1009 close, got {other:?}"),
    }
}
