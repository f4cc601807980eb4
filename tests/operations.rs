//! What an operator relies on: logs (no secret in them, connections, authentication
//! failures, the audit trail), the graceful drain, readiness, the metrics, and backups.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_protocol::codec::Encoding;
use switchboard_protocol::http::CheckpointCreated;
use switchboard_protocol::{ErrorCode, Request, ServerFrame};

use crate::support::*;

const RAISED_RATE: [&str; 4] = ["--visitor-rate-per-s", "1000000", "--visitor-burst", "1000000"];

/// The log's JSON lines.
fn json_lines(log: &str) -> Vec<serde_json::Value> {
    log.lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"))
        })
        .collect()
}

fn has(lines: &[serde_json::Value], pick: impl Fn(&serde_json::Value) -> bool) -> bool {
    lines.iter().any(pick)
}

/// Wait until the log contains `needle` `count` times (connection lines are written as
/// connections end, asynchronously).
async fn log_eventually(server: &TestServer, needle: &str, count: usize) {
    let deadline = Instant::now() + WAIT;
    while server.log().matches(needle).count() < count {
        assert!(Instant::now() < deadline, "the log never had {count}× {needle:?}:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn json_logs_record_connections_failures_and_admin_actions_and_never_a_token() {
    // At debug: every library's debug lines, and the session lifecycle, are checked too.
    let mut server = TestServer::start_logged(&["--log", "debug", "--log-format", "json"]);
    let admin_token = server.admin_token();
    let shown = server.stdout_lines().iter().filter(|l| l.contains(&admin_token)).count();
    assert_eq!(shown, 1, "the generated admin token is printed once on stdout");

    let (agent, agent_id, agent_token) = server.agent("Ann").await;
    let (visitor, sid, session_token) = server.visitor("Vera", Some("hello")).await;
    agent.call(Request::Accept { session_id: sid }).await.unwrap();
    agent.call(say(sid, "a1", "how can I help?")).await.unwrap();
    agent.call(Request::Close { session_id: sid }).await.unwrap();
    let intruder = server.connect(Encoding::Json).await;
    let wrong_agent = "not-an-agent-token-0123456789";
    let reply = intruder.request(Request::Auth { token: wrong_agent.into() }).await.unwrap();
    assert_eq!(error_code(&reply), ErrorCode::BadToken);
    let wrong_session = "not-a-session-token-0123456789";
    let reply = intruder
        .request(Request::ResumeChat { session_token: wrong_session.into(), after_seq: 0 })
        .await
        .unwrap();
    assert_eq!(error_code(&reply), ErrorCode::BadToken);
    let wrong_admin = "not-the-admin-token-0123456789";
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/agents", server.http_url()))
        .bearer_auth(wrong_admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    drop((agent, visitor, intruder));
    log_eventually(&server, "connection closed", 3).await;
    server.terminate();

    let log = server.log();
    let secrets =
        [admin_token.as_str(), &agent_token, &session_token, wrong_agent, wrong_session, wrong_admin];
    for secret in secrets {
        assert!(!log.contains(secret), "a token is in the log:\n{log}");
    }
    assert!(!log.contains('\u{1b}'), "no colour codes in a log that is not a terminal");
    let lines = json_lines(&log);
    let field = |line: &serde_json::Value, name: &str| line.get(name).cloned().unwrap_or_default();
    assert!(has(&lines, |l| field(l, "message") == "connection opened" && field(l, "transport") == "ws"));
    assert!(has(&lines, |l| {
        field(l, "message") == "connection closed"
            && field(l, "role") == "agent"
            && field(l, "close_code") == 1000
            && l.get("duration_ms").is_some_and(|d| d.is_u64())
    }));
    for credential in ["agent_token", "session_token", "admin_token"] {
        assert!(
            has(&lines, |l| field(l, "message") == "authentication failed"
                && field(l, "credential") == credential
                && field(l, "peer").as_str().is_some_and(|p| p.starts_with("127.0.0.1:"))),
            "no authentication failure line for {credential}:\n{log}"
        );
    }
    assert!(
        has(&lines, |l| field(l, "target") == "audit"
            && field(l, "action") == "agent.create"
            && field(l, "who") == "admin"
            && field(l, "detail").as_str().is_some_and(|d| d.contains(&format!("agent {agent_id}")))
            && l.get("timestamp").is_some()),
        "no audit line for the agent's creation:\n{log}"
    );
    for step in ["shutdown: draining", "shutdown: every connection closed", "shutdown: storage synced"] {
        assert!(has(&lines, |l| field(l, "message").as_str().is_some_and(|m| m.starts_with(step))), "{step}");
    }
}

#[tokio::test]
async fn human_logs_have_no_colour_off_a_terminal() {
    let mut server = TestServer::start_logged(&["--log", "info"]);
    server.terminate();
    let log = server.log();
    assert!(log.contains("switchboard started"), "{log}");
    assert!(!log.contains('\u{1b}'), "ANSI codes in a log file:\n{log}");
    assert!(!log.contains(&server.admin_token()), "the admin token is in the log");
}

#[tokio::test]
async fn authentication_failures_are_counted_always_but_logged_at_a_bounded_rate() {
    let mut server = TestServer::start_logged(&["--log", "info", "--log-format", "json"]);
    let intruder = server.connect(Encoding::MsgPack).await;
    let began = Instant::now();
    for i in 0..200 {
        let reply = intruder.request(Request::Auth { token: format!("guess-{i}") }).await.unwrap();
        assert_eq!(error_code(&reply), ErrorCode::BadToken);
    }
    let metrics = scrape(&server).await;
    assert_eq!(sample(&metrics, "switchboard_auth_failures_total"), Some(200.0));
    let elapsed_s = began.elapsed().as_secs() as usize;
    server.terminate();
    let logged = server.log().matches("authentication failed").count();
    let bound = 5 * (elapsed_s + 2);
    assert!(
        logged >= 1 && logged <= bound,
        "200 failures in {elapsed_s} s, {logged} lines (at most {bound})"
    );
}

#[tokio::test]
async fn sigterm_drains_clients_mid_stream_lose_nothing_acknowledged_and_see_1001() {
    let mut server = TestServer::start_logged(&[&RAISED_RATE[..], &["--log", "info"]].concat());
    let (mut agent, _, token) = server.agent("Ann").await;
    let quic_agent = server.connect_quic().await;
    let authed = quic_agent.call(Request::Auth { token: token.clone() }).await.unwrap();
    assert!(matches!(authed, ServerFrame::Authed { .. }), "{authed:?}");
    let stop = Arc::new(AtomicBool::new(false));
    let (mut tasks, mut sessions, mut watchers) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..4 {
        let (visitor, sid, vtoken) = server.visitor(&format!("V{i}"), None).await;
        agent.call(Request::Accept { session_id: sid }).await.unwrap();
        // A second connection of the same visitor only watches, to see the close.
        let watcher = server.connect(Encoding::Json).await;
        watcher.call(Request::ResumeChat { session_token: vtoken, after_seq: 0 }).await.unwrap();
        watchers.push(watcher);
        let acked: Acked = Arc::default();
        sessions.push((sid, acked.clone()));
        tasks.push(tokio::spawn(send_until_killed(visitor, sid, acked, stop.clone())));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.signal_term();
    let shutting_down = wait_for(&mut agent, |f| match f {
        ServerFrame::Error { code: ErrorCode::ShuttingDown, message, .. } => Some(message.clone()),
        _ => None,
    })
    .await;
    assert!(shutting_down.contains("resume"), "{shutting_down}");
    for client in watchers.iter().chain([&agent, &quic_agent]) {
        let (code, reason) = client.closed(WAIT).await.expect("the server closes every connection");
        assert_eq!(code, 1001, "{reason}");
        assert!(reason.contains("resume"), "{reason}");
    }
    for task in tasks {
        task.await.unwrap();
    }
    let exit = server.wait_exit();
    assert!(exit.success(), "a drained server exits 0: {exit:?}");
    let log = server.log();
    for step in ["shutdown: draining", "no longer accepting", "every connection closed", "storage synced"] {
        assert!(log.contains(step), "the log lacks {step:?}:\n{log}");
    }

    server.restart();
    let agent = server.agent_with_token(&token).await;
    let acked = check_acknowledged(&agent, &sessions).await;
    assert!(acked > 100, "real traffic was acknowledged before the drain (got {acked})");
    // Unlike after a kill -9, nothing was written that was not acknowledged: every request
    // the server had read was answered before the close.
    for (sid, acked) in &sessions {
        let stored = transcript(&agent, *sid).await.len();
        assert_eq!(stored, acked.lock().unwrap().len(), "session {sid}: stored = acknowledged");
    }
}

/// `GET /metrics` as text.
async fn scrape(server: &TestServer) -> String {
    let response = reqwest::get(format!("{}/metrics", server.http_url())).await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// The value of the first sample whose line starts with `series` (name and labels).
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?;
        let value = rest.strip_prefix(' ')?;
        value.parse().ok()
    })
}

#[tokio::test]
async fn a_fresh_server_exports_every_documented_metric_and_traffic_moves_them() {
    let server = TestServer::start();
    let fresh = scrape(&server).await;
    let documented = include_str!("../deploy/metrics.txt");
    let documented: Vec<&str> =
        documented.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    let exports = |scraped: &str, name: &str| {
        scraped.lines().any(|line| {
            !line.starts_with('#')
                && [name.to_string(), format!("{name}_bucket"), format!("{name}_count")]
                    .iter()
                    .any(|n| line.starts_with(&format!("{n} ")) || line.starts_with(&format!("{n}{{")))
        })
    };
    // Series labelled by agent exist from the agent's creation; a fresh server has none.
    const PER_AGENT: &[&str] = &["switchboard_agent_active_chats"];
    for name in documented.iter().filter(|n| !PER_AGENT.contains(n)) {
        assert!(exports(&fresh, name), "a fresh server does not export {name}:\n{fresh}");
    }
    let version = format!("version=\"{}\"", env!("CARGO_PKG_VERSION"));
    assert!(
        fresh.lines().any(|l| l.starts_with("switchboard_build_info{")
            && l.contains(&version)
            && l.contains("commit=\"")
            && l.ends_with(" 1")),
        "{fresh}"
    );
    assert!(sample(&fresh, "process_resident_memory_bytes").unwrap() > 1e6);
    assert!(sample(&fresh, "process_open_fds").unwrap() > 5.0);
    assert_eq!(sample(&fresh, "switchboard_ready"), Some(1.0));
    assert_eq!(sample(&fresh, "switchboard_errors_total{code=\"bad_token\"}"), Some(0.0));

    let (agent, _, _) = server.agent("Ann").await;
    let (mut visitor, sid, _) = server.visitor("Vera", None).await;
    agent.call(Request::Accept { session_id: sid }).await.unwrap();
    for i in 0..20 {
        agent.call(say(sid, &format!("a{i}"), "hello")).await.unwrap();
    }
    wait_for(&mut visitor, |f| {
        matches!(f, ServerFrame::Message { message, .. } if message.client_msg_id == "a19").then_some(())
    })
    .await;
    let bad = server.connect(Encoding::Json).await;
    bad.request(Request::Auth { token: "wrong".into() }).await.unwrap();
    let after = scrape(&server).await;
    for name in PER_AGENT {
        assert!(exports(&after, name), "{name} is not exported once an agent exists:\n{after}");
    }
    assert_eq!(sample(&after, "switchboard_agent_active_chats{agent=\"1\"}"), Some(1.0), "{after}");
    assert!(sample(&after, "switchboard_delivery_latency_seconds_count").unwrap() >= 20.0, "{after}");
    assert_eq!(sample(&after, "switchboard_errors_total{code=\"bad_token\"}"), Some(1.0));
    assert!(after.lines().any(|l| l.starts_with("switchboard_http_requests_total")
        && l.contains("route=\"/api/v1/agents\"")
        && l.contains("status=\"201\"")
        && l.ends_with(" 1")));
    assert!(sample(&after, "switchboard_rocksdb_wal_bytes").unwrap() > 0.0);
    assert!(sample(&after, "switchboard_connections_opened_total{transport=\"ws\"}").unwrap() >= 3.0);
}

#[tokio::test]
async fn readyz_answers_ready_and_healthz_is_liveness() {
    let server = TestServer::start();
    let ready = reqwest::get(format!("{}/readyz", server.http_url())).await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    let health = reqwest::get(format!("{}/healthz", server.http_url())).await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn readyz_fails_while_draining_on_a_kept_alive_connection() {
    let mut server = TestServer::start_logged(&["--shutdown-grace-ms", "3000", "--log", "info"]);
    let http = reqwest::Client::new();
    let url = format!("{}/readyz", server.http_url());
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    // A connection that never reads keeps the drain busy for a while (its close times out).
    let stalled = stalled_agent(&server).await;
    server.signal_term();
    let deadline = Instant::now() + WAIT;
    let body = loop {
        let response = http.get(&url).send().await.expect("the kept-alive connection still answers");
        if response.status() == 503 {
            break response.json::<serde_json::Value>().await.unwrap();
        }
        assert!(Instant::now() < deadline, "readiness never failed during the drain");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(body["status"], "not_ready");
    assert!(body["reason"].as_str().unwrap().contains("draining"), "{body}");
    drop(stalled);
    let exit = server.wait_exit();
    assert!(exit.success(), "{exit:?}:\n{}", server.log());
}

/// A raw WebSocket connection that authenticated as an agent and then never reads: its close cannot complete until the server gives up on it.
async fn stalled_agent(server: &TestServer) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_, token) = server.create_agent("Stalled", 5).await;
    let mut tcp = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
    let request = format!(
        "GET /ws?encoding=json HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        server.addr
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = [0u8; 512];
    let n = tcp.read(&mut response).await.unwrap();
    assert!(String::from_utf8_lossy(&response[..n]).starts_with("HTTP/1.1 101"));
    let auth = format!(r#"{{"type":"auth","req":1,"token":"{token}"}}"#);
    tcp.write_all(&masked_text_frame(auth.as_bytes())).await.unwrap();
    tcp
}

/// A client-to-server WebSocket text frame (masked, as clients must).
fn masked_text_frame(payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

#[tokio::test]
async fn a_checkpoint_restores_into_a_new_data_directory() {
    let mut server = TestServer::start_logged(&["--log", "info", "--log-format", "json"]);
    let (agent, _, token) = server.agent("Ann").await;
    let (visitor, sid, _) = server.visitor("Vera", Some("before the backup")).await;
    agent.call(Request::Accept { session_id: sid }).await.unwrap();
    let output = std::process::Command::new(binary())
        .args(["backup", "create", "--name", "nightly", "--server", &server.http_url(), "--admin-token"])
        .arg(server.admin_token())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let path = stdout.lines().find_map(|l| l.strip_prefix("path: ")).expect("path line").to_string();
    assert!(path.ends_with("backups/nightly"), "{path}");
    visitor.call(say(sid, "later", "after the backup")).await.unwrap();

    // The same name again is refused; so are a bad name and a missing token.
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/admin/checkpoints", server.http_url());
    let again =
        http.post(&url).bearer_auth(server.admin_token()).json(&serde_json::json!({"name": "nightly"}));
    assert_eq!(again.send().await.unwrap().status(), 409);
    let bad = http.post(&url).bearer_auth(server.admin_token()).json(&serde_json::json!({"name": "../x"}));
    let bad = bad.send().await.unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.json::<serde_json::Value>().await.unwrap()["code"], "invalid_request");
    assert_eq!(http.post(&url).json(&serde_json::json!({})).send().await.unwrap().status(), 401);
    let unnamed = http.post(&url).bearer_auth(server.admin_token()).json(&serde_json::json!({}));
    let unnamed: CheckpointCreated = unnamed.send().await.unwrap().json().await.unwrap();
    assert!(unnamed.name.starts_with("checkpoint-"), "{unnamed:?}");
    drop((agent, visitor));
    server.terminate();
    assert!(server.log().contains("backup.create"), "the checkpoint is in the audit log");

    // Restore into a fresh data directory and serve from it.
    let restored = tempfile::tempdir().unwrap();
    let restore = |from: &str| {
        std::process::Command::new(binary())
            .args(["backup", "restore", "--from", from, "--data-dir"])
            .arg(restored.path())
            .output()
            .unwrap()
    };
    let output = restore(&path);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let refused = restore(&path);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("already holds a database"));
    let not_a_checkpoint = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(binary())
        .args(["backup", "restore", "--from"])
        .arg(not_a_checkpoint.path())
        .arg("--data-dir")
        .arg(not_a_checkpoint.path().join("data"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not a checkpoint"));

    let server = TestServer::start_in(restored, &[], false);
    let agent = server.agent_with_token(&token).await;
    let texts: Vec<String> = transcript(&agent, sid).await.into_iter().map(|(_, t)| t).collect();
    assert_eq!(texts, ["before the backup"], "the checkpoint holds what was written before it");
}

#[tokio::test]
async fn with_a_shutdown_delay_readiness_fails_while_new_connections_are_still_served() {
    let mut server = TestServer::start_with(&["--shutdown-delay-ms", "1500"]);
    let url = format!("{}/readyz", server.http_url());
    server.signal_term();
    let deadline = Instant::now() + WAIT;
    loop {
        // A new client (a new connection) each time: the listener still accepts.
        let response = reqwest::Client::new().get(&url).send().await.expect("still accepting");
        if response.status() == 503 {
            let body: serde_json::Value = response.json().await.unwrap();
            assert!(body["reason"].as_str().unwrap().contains("draining"), "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "readiness never failed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // During the delay a visitor can still start a chat.
    let (_visitor, sid, _) = server.visitor("Late", Some("still there?")).await;
    assert!(sid > 0);
    assert!(server.wait_exit().success());
}
