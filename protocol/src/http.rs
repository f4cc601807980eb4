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

/// Body of every HTTP error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpError {
    pub code: ErrorCode,
    pub message: String,
}
