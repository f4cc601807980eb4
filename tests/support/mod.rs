//! Test harness: start, stop, kill and restart the server process; create agents; connect
//! clients.

#![allow(dead_code)]

pub mod browser;
pub mod checker;
pub mod cluster;
pub mod receiver;

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard_client::Client;
use switchboard_protocol::codec::Encoding;
use switchboard_protocol::http::AgentCreated;
use switchboard_protocol::startup;
use switchboard_protocol::{Request, ServerFrame, SessionId, SessionInfo};

/// How long a test waits for an event it expects.
pub const WAIT: Duration = Duration::from_secs(10);
/// How long a test waits to be sure an event does NOT come.
pub const QUIET: Duration = Duration::from_millis(300);

/// A server process over a data directory that outlives restarts.
pub struct TestServer {
    dir: tempfile::TempDir,
    child: Option<Child>,
    pub addr: String,
    pub quic_addr: String,
    extra: Vec<String>,
    /// Where stderr (the log) goes, when captured; appended to across restarts.
    log_path: Option<PathBuf>,
    /// Every line the server printed on stdout, across restarts.
    stdout: Arc<Mutex<Vec<String>>>,
    /// The HTTP address to listen on: `127.0.0.1:0`, or the last one for
    /// [`TestServer::restart_same_port`].
    http_addr: String,
}

impl TestServer {
    /// Start a server on a fresh data directory, with the visitor rate limit raised out of
    /// the way (tests that pipeline many visitor messages need that).
    pub fn start() -> TestServer {
        TestServer::start_with(&["--visitor-rate-per-s", "1000000", "--visitor-burst", "1000000"])
    }

    /// Start a server with extra `serve` flags.
    pub fn start_with(extra: &[&str]) -> TestServer {
        TestServer::start_in(tempfile::tempdir().expect("tempdir"), extra, false)
    }

    /// Start a server whose log (stderr) is kept in `<data dir>/server.log`; pass `--log`
    /// in `extra` to choose the level (default `error`).
    pub fn start_logged(extra: &[&str]) -> TestServer {
        TestServer::start_in(tempfile::tempdir().expect("tempdir"), extra, true)
    }

    /// Start a server on `dir` (e.g. one inside a small tmpfs).
    pub fn start_in(dir: tempfile::TempDir, extra: &[&str], logged: bool) -> TestServer {
        let extra = extra.iter().map(|s| s.to_string()).collect();
        let log_path = logged.then(|| dir.path().join("server.log"));
        let mut server = TestServer {
            dir,
            child: None,
            addr: String::new(),
            quic_addr: String::new(),
            extra,
            log_path,
            stdout: Arc::default(),
            http_addr: "127.0.0.1:0".into(),
        };
        server.spawn();
        server
    }

    /// The log so far (with `start_logged`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path.as_ref().expect("started with start_logged"))
            .unwrap_or_default()
    }

    /// Every stdout line so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    fn spawn(&mut self) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        command.args(["serve", "--http-addr", &self.http_addr, "--quic-addr", "127.0.0.1:0", "--data-dir"]);
        command.arg(self.dir.path());
        if !self.extra.iter().any(|a| a == "--log") {
            command.args(["--log", "error"]);
        }
        let stderr = match &self.log_path {
            Some(path) => Stdio::from(
                std::fs::OpenOptions::new().create(true).append(true).open(path).expect("log file"),
            ),
            None => Stdio::inherit(),
        };
        let mut child = command
            .args(&self.extra)
            .env_remove("NO_COLOR")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn switchboard");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = self.stdout.clone();
        std::thread::spawn(move || {
            let mut quic = String::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line.clone());
                if let Some(addr) = line.strip_prefix(startup::QUIC_LISTENING) {
                    quic = addr.to_string();
                }
                if let Some(addr) = line.strip_prefix(startup::HTTP_LISTENING) {
                    let _ = tx.send((addr.to_string(), quic.clone()));
                }
            }
        });
        let (addr, quic_addr) =
            rx.recv_timeout(Duration::from_secs(60)).expect("server did not report its address");
        self.addr = addr;
        self.quic_addr = quic_addr;
        self.child = Some(child);
    }

    /// `ws://…/ws`
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// `http://…`
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The value of `series` (a metric's name with its labels, as `/metrics` prints it).
    pub async fn metric(&self, series: &str) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.http_url())).await.unwrap().text().await.unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{series} ")))
            .unwrap_or_else(|| panic!("no {series} in /metrics:\n{text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    /// The value of `series`, or `None` when the server does not answer (killed, paused)
    /// or does not export it.
    pub async fn try_metric(&self, series: &str) -> Option<f64> {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().ok()?;
        let text = client.get(format!("{}/metrics", self.http_url())).send().await.ok()?.text().await.ok()?;
        let line = text.lines().find(|l| l.starts_with(&format!("{series} ")))?;
        line.rsplit(' ').next()?.parse().ok()
    }

    /// An administrator HTTP call with the admin token; returns (status, JSON body, or
    /// `null`). `None`: an empty body (`Content-Length: 0`).
    pub async fn admin_call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let url = format!("{}{path}", self.http_url());
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let request = reqwest::Client::new().request(method, url).bearer_auth(self.admin_token());
        let request = match body {
            Some(body) => request.json(&body),
            None => request.body(""),
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// The administrator token: the one given with `--admin-token`, else the generated one.
    pub fn admin_token(&self) -> String {
        if let Some(i) = self.extra.iter().position(|a| a == "--admin-token") {
            return self.extra[i + 1].clone();
        }
        std::fs::read_to_string(self.dir.path().join("admin-token"))
            .expect("admin token file")
            .trim()
            .to_string()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Pause (SIGSTOP) or resume (SIGCONT) the server.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.pid().to_string()]).status().expect("kill");
        assert!(status.success());
    }

    /// True while the server process runs.
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// SIGKILL the server and wait for it to die.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().expect("kill -9");
        child.wait().expect("reap");
    }

    /// Send SIGTERM without waiting.
    pub fn signal_term(&self) {
        let child = self.child.as_ref().expect("running");
        let status =
            Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill -TERM");
        assert!(status.success());
    }

    /// Wait for the server to exit (after `signal_term`).
    pub fn wait_exit(&mut self) -> ExitStatus {
        self.child.take().expect("running").wait().expect("reap")
    }

    /// SIGTERM the server and wait for a clean exit.
    pub fn terminate(&mut self) {
        let mut child = self.child.take().expect("running");
        let status =
            Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill -TERM");
        assert!(status.success());
        let exit = child.wait().expect("reap");
        assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
    }

    /// Start again on the same data directory (a new port).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the server first");
        self.spawn();
    }

    /// Start again on the same data directory and the same HTTP address, as a restarted
    /// production server would: clients (browsers) reconnect to the URL they had.
    pub fn restart_same_port(&mut self) {
        assert!(self.child.is_none(), "stop the server first");
        self.http_addr = self.addr.clone();
        self.spawn();
    }

    /// A QUIC connector trusting this server's self-signed certificate.
    pub fn quic_connector(&self) -> switchboard_client::QuicConnector {
        let cert = self.dir.path().join("quic-cert.pem");
        switchboard_client::QuicConnector::new("127.0.0.1:0".parse().unwrap(), &cert).expect("quic connector")
    }

    /// Connect a client over QUIC.
    pub async fn connect_quic(&self) -> Client {
        self.quic_connector()
            .connect(self.quic_addr.parse().unwrap(), "localhost")
            .await
            .expect("quic connect")
    }

    /// Create an agent over the HTTP API; returns (agent_id, token).
    pub async fn create_agent(&self, name: &str, max_chats: u32) -> (u64, String) {
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1/agents", self.http_url()))
            .bearer_auth(self.admin_token())
            .json(&serde_json::json!({"display_name": name, "max_concurrent_chats": max_chats}))
            .send()
            .await
            .expect("create agent");
        assert_eq!(response.status(), 201);
        let created: AgentCreated = response.json().await.expect("agent body");
        (created.agent.agent_id, created.token)
    }

    /// Connect a client.
    pub async fn connect(&self, encoding: Encoding) -> Client {
        Client::connect(&self.ws_url(), encoding).await.expect("connect")
    }

    /// Create an agent, connect and authenticate it.
    pub async fn agent(&self, name: &str) -> (Client, u64, String) {
        let (id, token) = self.create_agent(name, 10).await;
        let client = self.agent_with_token(&token).await;
        (client, id, token)
    }

    /// An agent who can sign in to the console with `email` and `password`; returns its id.
    pub async fn console_agent(&self, name: &str, email: &str, password: &str) -> u64 {
        let (id, _) = self.create_agent(name, 5).await;
        let login = serde_json::json!({"email": email, "password": password});
        let (status, body) = self.admin_call("PUT", &format!("/api/v1/agents/{id}/login"), Some(login)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, serde_json::json!({"agent_id": id, "email": email, "has_password": true}));
        id
    }

    /// Connect and authenticate with an existing agent token.
    pub async fn agent_with_token(&self, token: &str) -> Client {
        let client = self.connect(Encoding::MsgPack).await;
        let reply = client.call(Request::Auth { token: token.into() }).await.expect("auth");
        assert!(matches!(reply, ServerFrame::Authed { .. }), "{reply:?}");
        client
    }

    /// Connect a visitor and start a chat; returns (client, session_id, session_token).
    pub async fn visitor(&self, name: &str, first: Option<&str>) -> (Client, SessionId, String) {
        let client = self.connect(Encoding::Json).await;
        let reply = client.call(start_chat(name, first)).await.expect("start chat");
        match reply {
            ServerFrame::ChatStarted { session, session_token, .. } => {
                (client, session.session_id, session_token)
            }
            other => panic!("expected chat_started, got {other:?}"),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A `start_chat` request.
pub fn start_chat(name: &str, first: Option<&str>) -> Request {
    Request::StartChat {
        name: Some(name.into()),
        email: Some(format!("{}@example.com", name.to_lowercase())),
        page_url: Some("https://example.com/help".into()),
        first_message: first.map(str::to_string),
        client_msg_id: first.map(|_| "first".to_string()),
        department: None,
    }
}

/// A `send_message` request.
pub fn say(session_id: SessionId, client_msg_id: &str, text: &str) -> Request {
    Request::SendMessage { session_id, client_msg_id: client_msg_id.into(), text: text.into() }
}

/// Wait for the first event matching `pick`, skipping others.
pub async fn wait_for<T>(client: &mut Client, mut pick: impl FnMut(&ServerFrame) -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame = client.next_event(left).await.expect("expected event did not arrive");
        if let Some(found) = pick(&frame) {
            return found;
        }
    }
}

/// The error code of an `error` frame, panicking on anything else.
pub fn error_code(frame: &ServerFrame) -> switchboard_protocol::ErrorCode {
    match frame {
        ServerFrame::Error { code, .. } => *code,
        other => panic!("expected an error frame, got {other:?}"),
    }
}

/// The queue lists of a `queue` reply as session ids.
pub fn queue_ids(frame: &ServerFrame) -> (Vec<SessionId>, Vec<SessionId>, Vec<SessionId>) {
    let ids = |l: &Vec<SessionInfo>| l.iter().map(|s| s.session_id).collect();
    match frame {
        ServerFrame::Queue { waiting, active, closed, .. } => (ids(waiting), ids(active), ids(closed)),
        other => panic!("expected a queue reply, got {other:?}"),
    }
}

/// The full transcript of a session as (seq, text), read page by page.
pub async fn transcript(agent: &Client, session_id: SessionId) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let reply = agent
            .call(Request::History { session_id, after_seq: after, limit: Some(200) })
            .await
            .expect("history");
        let ServerFrame::History { messages, has_more, .. } = reply else { panic!("expected history") };
        for m in &messages {
            out.push((m.seq, m.text.clone()));
            after = m.seq;
        }
        if !has_more {
            return out;
        }
    }
}

/// Path of the built binary (for subcommand tests).
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_switchboard"))
}

/// Messages acknowledged to one visitor: (client_msg_id, seq).
pub type Acked = Arc<Mutex<Vec<(String, u64)>>>;

/// Send pipelined messages until told to stop or the connection dies.
pub async fn send_until_killed(client: Client, sid: u64, acked: Acked, stop: Arc<AtomicBool>) {
    const WINDOW: usize = 16;
    const MESSAGES_MAX: u64 = 9_000;
    let mut in_flight = VecDeque::new();
    let mut n = 0u64;
    let mut closed = false;
    loop {
        // Bounded below the 10,000-message session limit.
        while !closed && in_flight.len() < WINDOW && !stop.load(Ordering::Relaxed) && n < MESSAGES_MAX {
            let id = format!("m{n}");
            n += 1;
            match client.send(say(sid, &id, &format!("text of {id}"))).await {
                Ok((_, rx)) => in_flight.push_back((id, rx)),
                // Closed: still collect the answers that arrived before the close.
                Err(_) => closed = true,
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

/// After a crash or a drain: every acknowledged message of each session is stored exactly
/// once, in the order sent, with no gap. Returns how many were acknowledged in all.
pub async fn check_acknowledged(agent: &Client, sessions: &[(SessionId, Acked)]) -> usize {
    let mut total_acked = 0;
    for (sid, acked) in sessions {
        let sid = *sid;
        let acked = acked.lock().unwrap().clone();
        total_acked += acked.len();
        let stored = transcript(agent, sid).await;
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
    total_acked
}

/// A raw WebSocket (JSON) with a tiny receive buffer that sends `requests` (numbered 1, 2,
/// …) and then never reads: a client too slow for its events.
pub async fn stalled_client(
    server: &TestServer,
    requests: Vec<Request>,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    use futures_util::SinkExt;
    use switchboard_client::tungstenite::Message;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(server.addr.parse().unwrap()).await.unwrap();
    let (mut ws, _) =
        tokio_tungstenite::client_async(format!("{}?encoding=json", server.ws_url()), tcp).await.unwrap();
    for (req, request) in (1..).zip(requests) {
        let frame = switchboard_protocol::ClientFrame { req, request };
        let bytes = switchboard_protocol::codec::encode_client(&frame, Encoding::Json);
        ws.send(Message::Text(String::from_utf8(bytes).unwrap().into())).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    ws
}

/// Read a stalled client's socket to its end: whether it was sent the
/// `send_queue_overflow` error, and its close code.
pub async fn read_to_close(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
) -> (bool, Option<u16>) {
    use futures_util::StreamExt;
    use switchboard_client::tungstenite::Message;
    let mut overflow_error = false;
    let close = tokio::time::timeout(WAIT, async {
        while let Some(Ok(message)) = ws.next().await {
            match message {
                Message::Text(text) if text.contains("send_queue_overflow") => overflow_error = true,
                Message::Close(frame) => return frame.map(|f| u16::from(f.code)),
                _ => {}
            }
        }
        None
    })
    .await
    .expect("the stalled client was closed in time");
    (overflow_error, close)
}

/// Send `requests` pipelined, at most 200 unanswered at once, and check each answer with
/// `acked` (it must be the acknowledgement expected).
pub async fn send_pipelined(
    client: &Client,
    requests: impl IntoIterator<Item = Request>,
    acked: impl Fn(&ServerFrame) -> bool,
) {
    let mut pending = Vec::new();
    for request in requests {
        pending.push(client.send(request).await.unwrap().1);
        if pending.len() >= 200 {
            for rx in pending.drain(..) {
                let answer = client.wait(rx).await.unwrap();
                assert!(acked(&answer), "{answer:?}");
            }
        }
    }
    for rx in pending {
        let answer = client.wait(rx).await.unwrap();
        assert!(acked(&answer), "{answer:?}");
    }
}
