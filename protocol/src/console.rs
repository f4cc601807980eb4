//! The agent console's HTTP bodies (docs/PROTOCOL.md §13, "Agent console"): signing in and
//! out, who is signed in, and the administrator setting an agent's sign-in.

use serde::{Deserialize, Serialize};

use crate::AgentId;

/// The console session cookie's name.
pub const CONSOLE_COOKIE: &str = "sb_console";

/// `POST /api/v1/console/sign-in` request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub email: String,
    pub password: String,
}

/// `POST /api/v1/console/sign-in` and `GET /api/v1/console/me` answer: the signed-in agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleAgent {
    pub agent_id: AgentId,
    pub display_name: String,
    pub email: Option<String>,
    /// When the console session ends (ms since the epoch); sign in again after it.
    pub expires_at_ms: u64,
    /// The password was set by an administrator: choose your own
    /// (`POST /api/v1/console/password`) before the console can connect.
    #[serde(default)]
    pub must_change_password: bool,
    /// The agent administers the server: the console shows the administration pages, and
    /// the admin HTTP API accepts this session's cookie from the console's own pages.
    #[serde(default)]
    pub admin: bool,
}

/// `POST /api/v1/console/password` request body: the signed-in agent's new password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

/// `PUT /api/v1/agents/{id}/login` request body (administrator): the fields present are set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetLogin {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// With `password`: a one-time password the agent must replace at the first sign-in.
    #[serde(default)]
    pub temporary: bool,
}

/// `PUT /api/v1/agents/{id}/login` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginSet {
    pub agent_id: AgentId,
    pub email: Option<String>,
    /// Whether the agent has a console password.
    pub has_password: bool,
}
