//! When nobody can chat, over real connections: `department_status` follows the
//! department's business hours (set over the admin API, in its own time zone) and whether
//! any of its agents is connected; `leave_message` makes a ticket with the visitor's details
//! (linked to the contact with that email), kept across a kill -9; bad hours and bad
//! messages are refused with the reason and nothing stored.

use serde_json::{json, Value};
use switchboard_protocol::codec::Encoding;
use switchboard_protocol::{ErrorCode, Request, ServerFrame};

use switchboard_client::tungstenite::Message;

use crate::support::*;

const DAY_MS: u64 = 24 * 60 * 60 * 1000;
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// The weekday index (0 = Monday) of UTC day `days` since 1970-01-01 (a Thursday).
fn weekday(days: u64) -> usize {
    ((days + 3) % 7) as usize
}

fn status(frame: &ServerFrame) -> (bool, bool, Option<u64>, Option<String>) {
    match frame {
        ServerFrame::DepartmentStatus { open, agents_online, next_open_ms, time_zone, .. } => {
            (*open, *agents_online, *next_open_ms, time_zone.clone())
        }
        other => panic!("expected department_status, got {other:?}"),
    }
}

fn leave(department: Option<&str>, name: &str, email: &str, text: &str) -> Request {
    Request::LeaveMessage {
        department: department.map(Into::into),
        name: name.into(),
        email: email.into(),
        text: text.into(),
        page_url: Some("https://shop.example/pricing".into()),
    }
}

async fn set_hours(server: &TestServer, department: u64, hours: Value) -> (u16, Value) {
    server
        .admin_call("PATCH", &format!("/api/v1/departments/{department}"), Some(json!({ "hours": hours })))
        .await
}

#[tokio::test]
async fn the_status_follows_business_hours_in_the_departments_zone_and_agents_online() {
    let server = TestServer::start();
    let visitor = server.connect(Encoding::Json).await;
    let ask = Request::DepartmentStatus { department: None };
    // No hours: always open; nobody connected yet.
    assert_eq!(status(&visitor.request(ask.clone()).await.unwrap()), (true, false, None, None));
    let (agent, _, _) = server.agent("Ann").await;
    assert_eq!(status(&visitor.request(ask.clone()).await.unwrap()), (true, true, None, None));

    // Open only tomorrow (UTC) from 10:00 to 11:00: closed now, opening then.
    let today = now_ms() / DAY_MS;
    let tomorrow = DAYS[weekday(today + 1)];
    let hours = json!({"time_zone": "UTC", "weekly": [{"day": tomorrow, "open": "10:00", "close": "11:00"}]});
    let (code, body) = set_hours(&server, 1, hours.clone()).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["hours"], hours, "shown as set");
    let opens = (today + 1) * DAY_MS + 10 * 60 * 60 * 1000;
    assert_eq!(
        status(&visitor.request(ask.clone()).await.unwrap()),
        (false, true, Some(opens), Some("UTC".into()))
    );
    // The same span in a zone 14 hours ahead of UTC opens 14 hours earlier.
    let kiritimati = json!({"time_zone": "Pacific/Kiritimati", "weekly": [{"day": tomorrow, "open": "10:00", "close": "11:00"}]});
    set_hours(&server, 1, kiritimati).await;
    let (open, _, next, zone) = status(&visitor.request(ask.clone()).await.unwrap());
    let earlier = opens - 14 * 60 * 60 * 1000;
    // Unless that moment is already past: then it is open now, or a week on.
    assert!(
        (!open && next == Some(earlier)) || (open && next.is_none()) || next == Some(earlier + 7 * DAY_MS),
        "{open} {next:?}"
    );
    assert_eq!(zone.as_deref(), Some("Pacific/Kiritimati"));

    // Every day, all day: open; `null` clears the hours.
    let always: Vec<Value> =
        DAYS.iter().map(|d| json!({"day": d, "open": "00:00", "close": "24:00"})).collect();
    set_hours(&server, 1, json!({"time_zone": "Europe/Berlin", "weekly": always})).await;
    assert_eq!(status(&visitor.request(ask.clone()).await.unwrap()).0, true);
    let (code, body) = set_hours(&server, 1, Value::Null).await;
    assert_eq!((code, &body["hours"]), (200, &Value::Null));

    // An agent who leaves takes the department's only online agent with it.
    drop(agent);
    let mut left = false;
    for _ in 0..100 {
        if !status(&visitor.request(ask.clone()).await.unwrap()).1 {
            left = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(left, "agents_online went false after the agent disconnected");

    // A department by name; an unknown one is refused.
    let reply = visitor.request(Request::DepartmentStatus { department: Some("nope".into()) }).await.unwrap();
    assert_eq!(error_code(&reply), ErrorCode::UnknownDepartment);
}

#[tokio::test]
async fn bad_hours_are_refused_with_the_reason_and_change_nothing() {
    let server = TestServer::start();
    let good =
        json!({"time_zone": "Europe/Berlin", "weekly": [{"day": "mon", "open": "09:00", "close": "17:00"}]});
    assert_eq!(set_hours(&server, 1, good.clone()).await.0, 200);
    let span = |day: &str, open: &str, close: &str| json!({"day": day, "open": open, "close": close});
    let cases = [
        (json!({"time_zone": "Mars/Olympus", "weekly": []}), "not a time zone"),
        (json!({"time_zone": "UTC", "weekly": [span("mon", "9:00", "17:00")]}), "not a time of day"),
        (json!({"time_zone": "UTC", "weekly": [span("mon", "09:00", "24:30")]}), "not a time of day"),
        (json!({"time_zone": "UTC", "weekly": [span("mon", "17:00", "09:00")]}), "close after it opens"),
        (
            json!({"time_zone": "UTC", "weekly": [span("tue", "09:00", "13:00"), span("tue", "12:00", "18:00")]}),
            "overlap on tue",
        ),
        (json!({"time_zone": "UTC", "weekly": vec![span("mon", "09:00", "10:00"); 29]}), "at most 28"),
        (json!({"time_zone": "UTC", "weekly": [span("someday", "09:00", "10:00")]}), "unknown variant"),
        (json!({"time_zone": "UTC", "weekly": [], "holidays": []}), "unknown field"),
    ];
    for (hours, reason) in cases {
        let (code, body) = set_hours(&server, 1, hours.clone()).await;
        assert_eq!((code, body["code"].as_str()), (400, Some("invalid_request")), "{hours}: {body}");
        assert!(body["message"].as_str().unwrap().contains(reason), "{hours}: {body}");
    }
    let (_, departments) = server.admin_call("GET", "/api/v1/departments", None).await;
    assert_eq!(departments[0]["hours"], good, "the good hours stayed");
    // A new department may be created with hours.
    let (code, created) = server
        .admin_call("POST", "/api/v1/departments", Some(json!({"name": "night", "hours": good.clone()})))
        .await;
    assert_eq!((code, &created["hours"]), (201, &good), "{created}");
}

#[tokio::test]
async fn a_left_message_becomes_a_ticket_that_survives_kill_9() {
    let mut server = TestServer::start();
    let (code, contact) = server
        .admin_call(
            "POST",
            "/api/v1/contacts",
            Some(json!({"name": "Ada Lovelace", "email": "ada@example.com"})),
        )
        .await;
    assert_eq!(code, 201, "{contact}");
    let (code, _) = server.admin_call("POST", "/api/v1/departments", Some(json!({"name": "sales"}))).await;
    assert_eq!(code, 201);
    let visitor = server.connect(Encoding::Json).await;
    let reply = visitor
        .request(leave(Some("sales"), "Ada", "Ada@Example.com", "Please call me back <b>today</b>"))
        .await;
    let ticket_id = match reply.unwrap() {
        ServerFrame::MessageLeft { ticket_id, .. } => ticket_id,
        other => panic!("expected message_left, got {other:?}"),
    };
    let check = |ticket: &Value| {
        assert_eq!(ticket["source"], "left_message", "{ticket}");
        assert_eq!(ticket["department_id"], 2);
        assert_eq!(ticket["requester_name"], "Ada");
        assert_eq!(ticket["requester_email"], "Ada@Example.com");
        assert_eq!(ticket["contact_id"], contact["contact_id"], "linked by email, whatever its case");
        assert_eq!(ticket["session_id"], Value::Null);
        let description = ticket["description"].as_str().unwrap();
        assert!(description.starts_with("Please call me back <b>today</b>"), "{description}");
        assert!(description.contains("https://shop.example/pricing"), "{description}");
        assert!(ticket["subject"].as_str().unwrap().starts_with("Message from Ada ("), "{ticket}");
    };
    let (_, ticket) = server.admin_call("GET", &format!("/api/v1/tickets/{ticket_id}"), None).await;
    check(&ticket);
    assert_eq!(server.metric("switchboard_left_messages_total").await, 1.0);
    server.kill9();
    server.restart();
    let (code, ticket) = server.admin_call("GET", &format!("/api/v1/tickets/{ticket_id}"), None).await;
    assert_eq!(code, 200, "acknowledged means durable");
    check(&ticket);
}

#[tokio::test]
async fn bad_left_messages_are_refused_and_nothing_is_stored() {
    let server = TestServer::start();
    let visitor = server.connect(Encoding::Json).await;
    let long = "x".repeat(4097);
    let cases = [
        (leave(None, "Ada", "not-an-email", "hi"), ErrorCode::InvalidRequest, "not an email"),
        (leave(None, "  ", "ada@example.com", "hi"), ErrorCode::InvalidRequest, "`name` is required"),
        (leave(None, "Ada", "ada@example.com", " \n "), ErrorCode::InvalidRequest, "`text` is empty"),
        (leave(None, "Ada", "ada@example.com", &long), ErrorCode::InvalidRequest, "longer than 4096"),
        (leave(Some("nope"), "Ada", "ada@example.com", "hi"), ErrorCode::UnknownDepartment, "nope"),
    ];
    for (request, code, text) in cases {
        match visitor.request(request.clone()).await.unwrap() {
            ServerFrame::Error { code: got, message, .. } => {
                assert_eq!(got, code, "{request:?}: {message}");
                assert!(message.contains(text), "{message}");
            }
            other => panic!("{request:?} was not refused: {other:?}"),
        }
    }
    // Missing fields are a malformed frame, named.
    let mut raw = server.connect(Encoding::Json).await;
    raw.send_raw(Message::Text(r#"{"type":"leave_message","req":1,"name":"Ada","text":"hi"}"#.into()))
        .await
        .unwrap();
    let reply = raw.next_event(std::time::Duration::from_secs(10)).await.unwrap();
    assert!(
        matches!(&reply, ServerFrame::Error { re: Some(1), code: ErrorCode::InvalidRequest, message }
            if message.contains("email")),
        "{reply:?}"
    );
    let (_, page) = server.admin_call("GET", "/api/v1/tickets", None).await;
    assert_eq!(page["tickets"], json!([]), "nothing stored");

    // Agents do not leave messages; a connection leaves at most three good ones (the five
    // refused above, on this same connection, did not count).
    let (agent, _, _) = server.agent("Ann").await;
    let reply = agent.request(leave(None, "Ada", "ada@example.com", "hi")).await.unwrap();
    assert_eq!(error_code(&reply), ErrorCode::WrongRole);
    for n in 0..3 {
        let reply =
            visitor.request(leave(None, "Ada", "ada@example.com", &format!("note {n}"))).await.unwrap();
        assert!(matches!(reply, ServerFrame::MessageLeft { .. }), "{reply:?}");
    }
    let reply = visitor.request(leave(None, "Ada", "ada@example.com", "one more")).await.unwrap();
    assert_eq!(error_code(&reply), ErrorCode::LimitReached);
    let (_, page) = server.admin_call("GET", "/api/v1/tickets", None).await;
    assert_eq!(page["tickets"].as_array().unwrap().len(), 3);

    // New connections from the same address get ten in a burst in all, then `rate_limited`.
    let mut left = 3;
    'connections: for _ in 0..5 {
        let again = server.connect(Encoding::Json).await;
        for _ in 0..3 {
            match again.request(leave(None, "Ada", "ada@example.com", "again")).await.unwrap() {
                ServerFrame::MessageLeft { .. } => left += 1,
                ServerFrame::Error { code: ErrorCode::RateLimited, .. } => break 'connections,
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(left, 10, "the address's burst");
    let (_, page) = server.admin_call("GET", "/api/v1/tickets?limit=20", None).await;
    assert_eq!(page["tickets"].as_array().unwrap().len(), 10);
    // The server still serves.
    let (_, sid, _) = server.visitor("Bea", Some("hello")).await;
    assert!(sid > 0);
}
