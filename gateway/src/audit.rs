//! What an operator reviews later: administrative actions (target `audit`: who, what, when)
//! and authentication failures (target `auth`, with the peer's address). Failures are
//! counted in `switchboard_auth_failures_total` always, but logged at most
//! [`AUTH_FAILURE_LINES_PER_S`] times a second: someone guessing tokens must not be able to
//! flood the log (the next line says how many were left out). No secret is ever a field:
//! a token is neither logged nor hashed into a line.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most authentication-failure lines logged per second.
pub const AUTH_FAILURE_LINES_PER_S: u32 = 5;

/// Which credential failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// An agent token in `auth`.
    Agent,
    /// A visitor's session token in `resume_chat`.
    Session,
    /// The administrator token on the HTTP API.
    Admin,
    /// An email and password on the console's sign-in.
    Console,
}

impl Credential {
    fn as_str(self) -> &'static str {
        match self {
            Credential::Agent => "agent_token",
            Credential::Console => "console_password",
            Credential::Session => "session_token",
            Credential::Admin => "admin_token",
        }
    }
}

/// The log's rate limit: a one-second window and what it left out.
struct Window {
    start: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

static WINDOW: Mutex<Window> = Mutex::new(Window { start: None, logged: 0, suppressed: 0 });

/// Record a failed authentication from `peer`.
pub fn auth_failed(peer: SocketAddr, credential: Credential, reason: &str) {
    metrics::counter!("switchboard_auth_failures_total").increment(1);
    let suppressed = {
        let mut window = WINDOW.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        if window.start.is_none_or(|start| now.duration_since(start) >= Duration::from_secs(1)) {
            window.start = Some(now);
            window.logged = 0;
        }
        if window.logged >= AUTH_FAILURE_LINES_PER_S {
            window.suppressed += 1;
            return;
        }
        window.logged += 1;
        std::mem::take(&mut window.suppressed)
    };
    tracing::warn!(target: "auth", %peer, credential = credential.as_str(), reason, suppressed, "authentication failed");
}

/// Record an administrative action. `who` is the credential used (today the one
/// administrator token, so `admin`) and `peer` where it came from; `what` names the action
/// (`agent.create`, `backup.create`); `detail` says what it touched.
pub fn admin_action(who: &str, peer: Option<SocketAddr>, what: &'static str, detail: &str) {
    metrics::counter!("switchboard_admin_actions_total", "action" => what).increment(1);
    let peer = peer.map(|p| p.to_string()).unwrap_or_else(|| "local".into());
    tracing::info!(target: "audit", who, peer, action = what, detail, "admin action");
}

/// Actions [`admin_action`] records, for exporting their counters from the start.
pub const ADMIN_ACTIONS: &[&str] = &[
    "agent.create",
    "agent.update",
    "agent.rotate_token",
    "backup.create",
    "department.create",
    "department.update",
    "department.add_agent",
    "department.remove_agent",
    "ticket.create",
];
