//! Tickets over real connections: made from a chat with its transcript, once per session
//! (over WebSocket and HTTP), shown on the session, listed and read; bad requests refused;
//! and the helpdesk webhook against a real local HTTP receiver: signed, with an idempotency
//! key, retried through failures and hangs, and after a kill -9 every ticket delivered.

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use switchboard_protocol::{ErrorCode, Request, ServerFrame, TicketInfo};

use crate::support::receiver::{Answer, Receiver};
use crate::support::*;

const SECRET: &str = "webhook-test-secret";

/// An admin HTTP call; returns (status, JSON body).
async fn admin(server: &TestServer, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    // `None`: an empty body (`Content-Length: 0`), a ticket with the default subject.
    server.admin_call(method, path, body).await
}

/// `create_ticket` over WebSocket: the ticket, or the error code.
pub(crate) async fn create(
    agent: &switchboard_client::Client,
    session_id: u64,
    subject: Option<&str>,
) -> Result<TicketInfo, ErrorCode> {
    let request = Request::CreateTicket {
        session_id: Some(session_id),
        channel_id: None,
        seq: None,
        subject: subject.map(str::to_string),
    };
    match agent.call(request).await {
        Ok(ServerFrame::Ticket { ticket, .. }) => Ok(ticket),
        Err(switchboard_client::ClientError::Server { code, .. }) => Err(code),
        other => panic!("expected a ticket or an error, got {other:?}"),
    }
}

/// The session's `ticket_id` as the queue lists it.
pub(crate) async fn listed_ticket_id(agent: &switchboard_client::Client, session_id: u64) -> Option<u64> {
    let ServerFrame::Queue { waiting, active, closed, .. } = agent.call(Request::ListQueue {}).await.unwrap()
    else {
        panic!("expected a queue reply")
    };
    let all = waiting.iter().chain(&active).chain(&closed);
    all.into_iter().find(|s| s.session_id == session_id).expect("listed").ticket_id
}

/// The transcript's lines without their `[time] ` prefixes (continuation lines as they are).
fn lines_without_times(description: &str) -> Vec<String> {
    description
        .lines()
        .map(|line| match line.strip_prefix('[').and_then(|l| l.split_once("] ")) {
            Some((time, rest)) => {
                assert_eq!(time.len(), 20, "ISO-8601 UTC time: {time}");
                assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{time}");
                rest.to_string()
            }
            None => line.to_string(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_holds_the_transcript_and_a_session_gets_one_ticket() {
    let mut server = TestServer::start();
    let (ann, ann_id, ann_token) = server.agent("Ann").await;
    let (bob, _, _) = server.agent("Bob").await;
    let (visitor, sid, _) = server.visitor("Ada", Some("My order is late")).await;
    assert!(matches!(
        ann.call(Request::Accept { session_id: sid }).await.unwrap(),
        ServerFrame::Accepted { .. }
    ));
    assert!(matches!(
        ann.call(say(sid, "a1", "Sorry to hear that.\nLet me check.")).await.unwrap(),
        ServerFrame::MessageAck { .. }
    ));
    assert!(matches!(
        visitor.call(say(sid, "v2", "Order 42")).await.unwrap(),
        ServerFrame::MessageAck { .. }
    ));
    assert_eq!(listed_ticket_id(&ann, sid).await, None);

    let ticket = create(&ann, sid, None).await.unwrap();
    assert!(
        ticket.subject.starts_with("Chat with Ada (20") && ticket.subject.ends_with(')'),
        "{}",
        ticket.subject
    );
    assert_eq!(
        lines_without_times(&ticket.description),
        ["Ada: My order is late", "Ann: Sorry to hear that.", "    Let me check.", "Ada: Order 42"]
    );
    assert_eq!(ticket.requester_name.as_deref(), Some("Ada"));
    assert_eq!(ticket.requester_email.as_deref(), Some("ada@example.com"));
    assert_eq!((ticket.session_id, ticket.channel_id, ticket.channel_seq), (Some(sid), None, None));
    assert_eq!(ticket.created_by, Some(ann_id));

    // Idempotent, whoever asks and whatever the subject: the same ticket, unchanged.
    assert_eq!(create(&bob, sid, Some("Another subject")).await, Ok(ticket.clone()));
    let (status, again) = admin(&server, "POST", &format!("/api/v1/sessions/{sid}/ticket"), None).await;
    assert_eq!((status, again["ticket_id"].as_u64()), (200, Some(ticket.ticket_id)), "{again}");
    assert_eq!(again, serde_json::to_value(&ticket).unwrap());
    let (status, got) = admin(&server, "GET", &format!("/api/v1/tickets/{}", ticket.ticket_id), None).await;
    assert_eq!((status, &got), (200, &serde_json::to_value(&ticket).unwrap()));
    assert_eq!(listed_ticket_id(&ann, sid).await, Some(ticket.ticket_id), "the session shows its ticket");

    // Refused: a visitor, an unknown session, a bad subject.
    assert_eq!(create(&visitor, sid, None).await, Err(ErrorCode::Forbidden));
    assert_eq!(create(&ann, 999, None).await, Err(ErrorCode::UnknownSession));
    let (_, other, _) = server.visitor("Grace", None).await;
    assert_eq!(create(&ann, other, Some(&"x".repeat(201))).await, Err(ErrorCode::InvalidRequest));
    assert_eq!(create(&ann, other, Some("two\nlines")).await, Err(ErrorCode::InvalidRequest));

    // Over HTTP: 201 when new, a chosen subject, no agent; an empty body is fine.
    let (status, second) = admin(
        &server,
        "POST",
        &format!("/api/v1/sessions/{other}/ticket"),
        Some(json!({"subject": " Refund "})),
    )
    .await;
    assert_eq!(
        (status, &second["subject"], &second["created_by"]),
        (201, &json!("Refund"), &Value::Null),
        "{second}"
    );
    assert_eq!(second["description"], "(the chat has no messages)");
    let (_, third_session, _) = server.visitor("Hedy", Some("hi")).await;
    let (status, _) = admin(&server, "POST", &format!("/api/v1/sessions/{third_session}/ticket"), None).await;
    assert_eq!(status, 201);
    let ids = |page: &Value| -> Vec<u64> {
        page["tickets"].as_array().unwrap().iter().map(|t| t["ticket_id"].as_u64().unwrap()).collect()
    };
    let pages = [
        ("/api/v1/tickets?limit=2", vec![1, 2], true),
        ("/api/v1/tickets?after_id=2&limit=2", vec![3], false),
        ("/api/v1/tickets", vec![1, 2, 3], false),
    ];
    for (path, expected, more) in pages {
        let (status, page) = admin(&server, "GET", path, None).await;
        assert_eq!(status, 200, "{path}: {page}");
        assert_eq!((ids(&page), page["has_more"].as_bool().unwrap()), (expected, more), "{path}");
    }
    let refused = [
        ("GET", "/api/v1/tickets/99", 404, "unknown_ticket"),
        ("POST", "/api/v1/sessions/999/ticket", 404, "unknown_session"),
        ("GET", "/api/v1/tickets?limit=21", 400, "invalid_request"),
        ("GET", "/api/v1/tickets?page=2", 400, "invalid_request"),
    ];
    for (method, path, status, code) in refused {
        let (got, body) = admin(&server, method, path, None).await;
        assert_eq!((got, body["code"].as_str()), (status, Some(code)), "{method} {path}: {body}");
    }
    let (got, body) =
        admin(&server, "POST", &format!("/api/v1/sessions/{sid}/ticket"), Some(json!({"subjet": "x"}))).await;
    assert_eq!((got, body["code"].as_str()), (400, Some("invalid_request")), "{body}");
    let anonymous = reqwest::get(format!("{}/api/v1/tickets", server.http_url())).await.unwrap();
    assert_eq!(anonymous.status(), 401);

    // The ticket and the link survive a crash.
    drop((ann, bob, visitor));
    server.kill9();
    server.restart();
    let ann = server.agent_with_token(&ann_token).await;
    assert_eq!(listed_ticket_id(&ann, sid).await, Some(ticket.ticket_id));
    assert_eq!(create(&ann, sid, None).await, Ok(ticket));
    let (_, page) = admin(&server, "GET", "/api/v1/tickets", None).await;
    assert_eq!(ids(&page), vec![1, 2, 3]);
}

/// A server delivering to `receiver`, with a short request time limit and fast retries.
fn webhook_server(receiver: &Receiver) -> TestServer {
    TestServer::start_with(&[
        "--ticket-webhook-url",
        &receiver.url,
        "--ticket-webhook-secret",
        SECRET,
        "--ticket-webhook-timeout-ms",
        "500",
        "--ticket-webhook-retry-base-ms",
        "50",
    ])
}

/// Start a chat and make it a ticket over HTTP; returns the ticket id.
async fn ticket_of_new_chat(server: &TestServer, name: &str) -> u64 {
    let (_visitor, sid, _) = server.visitor(name, Some("please help")).await;
    let body = Some(json!({"subject": name}));
    let (status, ticket) = admin(server, "POST", &format!("/api/v1/sessions/{sid}/ticket"), body).await;
    assert_eq!(status, 201, "{ticket}");
    ticket["ticket_id"].as_u64().unwrap()
}

/// A metric's value on `/metrics` (the first series whose line starts with `series `).

/// Wait (bounded) until the server's pending gauge reads `n`.
async fn wait_pending(server: &TestServer, n: f64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while server.metric("switchboard_ticket_webhook_pending").await != n {
        assert!(tokio::time::Instant::now() < deadline, "pending never reached {n}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_gets_each_ticket_signed_with_its_idempotency_key() {
    let receiver = Receiver::start(|_, _| Answer::Status(204)).await;
    let server = webhook_server(&receiver);
    let id = ticket_of_new_chat(&server, "Ada").await;
    receiver.wait_until("the ticket", |r| !r.is_empty()).await;
    let request = receiver.received()[0].clone();
    assert_eq!(request.key(), format!("ticket-{id}"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("x-switchboard-attempt"), Some("1"));
    let timestamp: u64 = request.header("x-switchboard-timestamp").unwrap().parse().unwrap();
    assert!(timestamp > 1_700_000_000, "Unix seconds: {timestamp}");
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&request.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(request.header("x-switchboard-signature"), Some(expected.as_str()));
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    let (_, ticket) = admin(&server, "GET", &format!("/api/v1/tickets/{id}"), None).await;
    assert_eq!(
        body,
        json!({"event": "ticket.created", "idempotency_key": format!("ticket-{id}"), "ticket": ticket})
    );
    wait_pending(&server, 0.0).await;
    assert_eq!(server.metric("switchboard_ticket_webhook_deliveries_total{result=\"delivered\"}").await, 1.0);
    tokio::time::sleep(QUIET).await;
    assert_eq!(receiver.received().len(), 1, "delivered once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_webhook_is_retried_until_it_takes_the_ticket() {
    // 500, then 401 (a misconfiguration is retried too), then 200.
    let receiver = Receiver::start(|_, before| match before {
        0 => Answer::Status(500),
        1 => Answer::Status(401),
        _ => Answer::Status(200),
    })
    .await;
    let server = webhook_server(&receiver);
    let id = ticket_of_new_chat(&server, "Ada").await;
    receiver.wait_until("the third attempt", |r| r.len() >= 3).await;
    wait_pending(&server, 0.0).await;
    let requests = receiver.received();
    let attempts: Vec<(String, Option<&str>, Option<u16>)> =
        requests.iter().map(|r| (r.key(), r.header("x-switchboard-attempt"), r.status)).collect();
    let key = format!("ticket-{id}");
    assert_eq!(
        attempts,
        vec![
            (key.clone(), Some("1"), Some(500)),
            (key.clone(), Some("2"), Some(401)),
            (key, Some("3"), Some(200))
        ]
    );
    assert!(requests.windows(2).all(|w| w[0].body == w[1].body), "every attempt sends the same body");
    assert_eq!(
        server.metric("switchboard_ticket_webhook_deliveries_total{result=\"http_error\"}").await,
        2.0
    );
    assert_eq!(server.metric("switchboard_ticket_webhook_deliveries_total{result=\"delivered\"}").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_webhook_times_out_and_other_tickets_still_go() {
    // The ticket subjected "Hang" gets no answer to its first attempt; everything else 200.
    let receiver = Receiver::start(|request, before| {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        if body["ticket"]["subject"] == "Hang" && before == 0 {
            Answer::Hang
        } else {
            Answer::Status(200)
        }
    })
    .await;
    let server = webhook_server(&receiver);
    let hung = ticket_of_new_chat(&server, "Hang").await;
    receiver.wait_until("the hanging attempt", |r| !r.is_empty()).await;
    let others = [ticket_of_new_chat(&server, "Ada").await, ticket_of_new_chat(&server, "Bob").await];
    receiver
        .wait_until("every ticket delivered", |r| r.iter().filter(|r| r.status == Some(200)).count() == 3)
        .await;
    let order: Vec<(String, Option<u16>)> = receiver.summary();
    let hung_key = format!("ticket-{hung}");
    let first_success = order.iter().position(|(_, s)| *s == Some(200)).unwrap();
    assert_ne!(order[first_success].0, hung_key, "other tickets went while one hung: {order:?}");
    for id in others {
        assert!(order.iter().any(|(k, s)| *k == format!("ticket-{id}") && *s == Some(200)), "{order:?}");
    }
    assert_eq!(
        order.iter().filter(|(k, _)| *k == hung_key).count(),
        2,
        "timed out once, then delivered: {order:?}"
    );
    wait_pending(&server, 0.0).await;
    assert_eq!(server.metric("switchboard_ticket_webhook_deliveries_total{result=\"timeout\"}").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_kill_9_during_delivery_every_ticket_is_delivered_at_least_once() {
    const TICKETS: u64 = 12;
    // A slow helpdesk (400 ms an answer, 4 at once) that also fails every fourth ticket's
    // first attempt: when the server is killed, some tickets are delivered, some are being
    // sent, some wait for a retry and some for a first attempt.
    let receiver = Receiver::start(|request, before| {
        let id: u64 = request.key().trim_start_matches("ticket-").parse().unwrap();
        let status = if id % 4 == 1 && before == 0 { 503 } else { 200 };
        Answer::Delayed(400, status)
    })
    .await;
    let mut server = webhook_server(&receiver);
    let mut ids = Vec::new();
    for n in 0..TICKETS {
        ids.push(ticket_of_new_chat(&server, &format!("Visitor{n}")).await);
    }
    assert_eq!(ids, (1..=TICKETS).collect::<Vec<_>>());
    receiver.wait_until("two deliveries", |_| receiver.delivered().len() >= 2).await;
    server.kill9();
    let before = receiver.delivered().len() as u64;
    assert!(before < TICKETS, "killed during delivery ({before} of {TICKETS} delivered)");

    server.restart();
    let expected: Vec<String> = {
        let mut keys: Vec<String> = ids.iter().map(|id| format!("ticket-{id}")).collect();
        keys.sort();
        keys
    };
    receiver.wait_until("every ticket delivered", |_| receiver.delivered() == expected).await;
    wait_pending(&server, 0.0).await;
    // At least once: a ticket whose answer the killed server never recorded came again, with
    // the same key and body, for the receiver to drop.
    let requests = receiver.received();
    for key in &expected {
        let bodies: Vec<&Vec<u8>> = requests.iter().filter(|r| r.key() == *key).map(|r| &r.body).collect();
        assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{key}: the same body every time");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_message_becomes_one_ticket_with_its_replies_and_reaches_the_webhook() {
    let receiver = Receiver::start(|_, _| Answer::Status(204)).await;
    let server = webhook_server(&receiver);
    let (ann, _, _) = server.agent("Ann Lee").await;
    let (bob, bob_id, _) = server.agent("Bob").await;
    let (cy, _, _) = server.agent("Cy").await;
    let create_channel = |name: &str, private| Request::CreateChannel {
        name: name.into(),
        description: None,
        private,
        folder_id: None,
        invite: vec![bob_id],
    };
    let channel = match ann.call(create_channel("support-floor", true)).await.unwrap() {
        ServerFrame::Channel { channel, .. } => channel.channel_id,
        other => panic!("{other:?}"),
    };
    let say = |id: &str, text: &str| Request::SendChannelMessage {
        channel_id: channel,
        client_msg_id: id.into(),
        text: text.into(),
    };
    ann.call(say("a0", "morning all")).await.unwrap();
    bob.call(say("b1", "Printer on floor 3 is down\nit shows E42")).await.unwrap();
    ann.call(say("a2", "I'll call the vendor")).await.unwrap();
    // `/ticket 2` from the channel: the message, its author, the reply after it.
    let text = match ann.call(run_text(channel, "/ticket #2")).await.unwrap() {
        ServerFrame::CommandResult { text, .. } => text,
        other => panic!("{other:?}"),
    };
    assert!(text.starts_with("Ticket #1 created: Printer on floor 3 is down"), "{text}");
    let (_, ticket) = admin(&server, "GET", "/api/v1/tickets/1", None).await;
    assert_eq!(
        (&ticket["channel_id"], &ticket["channel_seq"], &ticket["session_id"], &ticket["requester_name"]),
        (&json!(channel), &json!(2), &Value::Null, &json!("Bob"))
    );
    let description = ticket["description"].as_str().unwrap();
    let lines = lines_without_times(description);
    assert_eq!(
        lines,
        [
            "Switchboard: Raised from message 2 in #support-floor",
            "Bob: Printer on floor 3 is down",
            "    it shows E42",
            "Ann Lee: I'll call the vendor",
        ],
        "{description}"
    );
    // Asking again (over the protocol, and over HTTP) gives the same ticket.
    let request =
        Request::CreateTicket { session_id: None, channel_id: Some(channel), seq: Some(2), subject: None };
    match bob.call(request).await.unwrap() {
        ServerFrame::Ticket { ticket: again, .. } => assert_eq!(again.ticket_id, 1),
        other => panic!("{other:?}"),
    }
    let (status, again) =
        admin(&server, "POST", &format!("/api/v1/channels/{channel}/messages/2/ticket"), None).await;
    assert_eq!((status, &again["ticket_id"]), (200, &json!(1)));
    // Another message over HTTP, with a subject.
    let body = Some(json!({"subject": "Vendor call"}));
    let (status, made) =
        admin(&server, "POST", &format!("/api/v1/channels/{channel}/messages/3/ticket"), body).await;
    assert_eq!((status, &made["ticket_id"], &made["subject"]), (201, &json!(2), &json!("Vendor call")));
    // Refusals, each specific; nothing is created by them.
    let code = |f: ServerFrame| error_code(&f);
    assert_eq!(
        code(cy.request(run_text(channel, "/ticket 2")).await.unwrap()),
        ErrorCode::UnknownChannel,
        "private"
    );
    let ticket_of = |channel_id, seq| Request::CreateTicket {
        session_id: None,
        channel_id: Some(channel_id),
        seq: Some(seq),
        subject: None,
    };
    assert_eq!(
        code(ann.request(ticket_of(channel, 99)).await.unwrap()),
        ErrorCode::InvalidRequest,
        "no such message"
    );
    assert_eq!(code(ann.request(ticket_of(999, 1)).await.unwrap()), ErrorCode::UnknownChannel);
    let both =
        Request::CreateTicket { session_id: Some(1), channel_id: Some(channel), seq: Some(1), subject: None };
    assert_eq!(code(ann.request(both).await.unwrap()), ErrorCode::InvalidRequest, "one source only");
    let neither =
        Request::CreateTicket { session_id: None, channel_id: Some(channel), seq: None, subject: None };
    assert_eq!(code(ann.request(neither).await.unwrap()), ErrorCode::InvalidRequest);
    ann.call(Request::DeleteChannelMessage { channel_id: channel, seq: 1 }).await.unwrap();
    assert_eq!(code(ann.request(ticket_of(channel, 1)).await.unwrap()), ErrorCode::InvalidRequest, "deleted");
    let usage = match ann.call(run_text(channel, "/ticket printer")).await.unwrap() {
        ServerFrame::CommandResult { text, .. } => text,
        other => panic!("{other:?}"),
    };
    assert!(usage.contains("Usage: /ticket <message number> [subject]"), "{usage}");
    let (status, _) = admin(&server, "POST", "/api/v1/channels/999/messages/1/ticket", None).await;
    assert_eq!(status, 404);
    let (_, page) = admin(&server, "GET", "/api/v1/tickets", None).await;
    assert_eq!(page["tickets"].as_array().unwrap().len(), 2, "only the two tickets exist");
    // Both reach the helpdesk.
    receiver.wait_until("both tickets", |r| r.len() >= 2).await;
    let mut keys: Vec<String> = receiver.received().iter().map(|r| r.key()).collect();
    keys.sort();
    assert_eq!(keys, ["ticket-1", "ticket-2"]);
}

fn run_text(channel: u64, text: &str) -> Request {
    Request::RunCommand { channel_id: Some(channel), session_id: None, text: text.into() }
}
