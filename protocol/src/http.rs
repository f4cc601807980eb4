//! JSON bodies of the HTTP administration API (`/api/v1/...`), shared by the server and the
//! `switchboard agent` subcommands.

use serde::{Deserialize, Serialize};

use crate::{AgentId, ErrorCode};

/// Header carrying the administrator token: `Authorization: Bearer <token>`.
pub const AUTHORIZATION_SCHEME: &str = "Bearer";

/// Largest accepted HTTP request body, in bytes.
pub const HTTP_BODY_BYTES_MAX: u64 = 16 * 1024;

/// Largest agent display name, in bytes.
pub const AGENT_NAME_BYTES_MAX: usize = 128;

/// Largest allowed `max_concurrent_chats`.
pub const AGENT_CHATS_MAX: u32 = 1000;

/// `POST /api/v1/agents` request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAgent {
    pub display_name: String,
    pub max_concurrent_chats: u32,
}

/// An agent as the API lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSummary {
    pub agent_id: AgentId,
    pub display_name: String,
    pub max_concurrent_chats: u32,
}

/// `POST /api/v1/agents` response body (201): the token is shown only here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentCreated {
    pub agent: AgentSummary,
    pub token: String,
}

/// Largest checkpoint name, in bytes (names are `[A-Za-z0-9._-]`, not starting with `.`).
pub const CHECKPOINT_NAME_BYTES_MAX: usize = 64;

/// `POST /api/v1/admin/checkpoints` request body (optional: an empty body takes the
/// default name `checkpoint-<unix ms>`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCheckpoint {
    #[serde(default)]
    pub name: Option<String>,
}

/// `POST /api/v1/admin/checkpoints` response body (201).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointCreated {
    pub name: String,
    /// The checkpoint's directory on the server: an openable copy of the database.
    pub path: String,
    pub created_at_ms: u64,
}

/// `GET /readyz` body: `status` is `ready` (200) or `not_ready` (503) with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Readiness {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Body of every HTTP error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpError {
    pub code: ErrorCode,
    pub message: String,
}
