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
}

/// `PUT /api/v1/agents/{id}/login` request body (administrator): the fields present are set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetLogin {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

/// `PUT /api/v1/agents/{id}/login` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginSet {
    pub agent_id: AgentId,
    pub email: Option<String>,
    /// Whether the agent has a console password.
    pub has_password: bool,
}
