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
    /// A disabled agent cannot authenticate.
    #[serde(default)]
    pub disabled: bool,
    /// Live: open authenticated connections (0 in a creation's answer).
    #[serde(default)]
    pub connections: usize,
    /// Live: chats held plus slots reserved for offers and accepts in progress.
    #[serde(default)]
    pub load: u32,
    /// The console sign-in email, if one is set.
    #[serde(default)]
    pub email: Option<String>,
    /// Administers the server from the console.
    #[serde(default)]
    pub admin: bool,
}

/// `PATCH /api/v1/agents/{id}` request body: only the fields present change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateAgent {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub max_concurrent_chats: Option<u32>,
    #[serde(default)]
    pub disabled: Option<bool>,
    /// Administers the server from the console.
    #[serde(default)]
    pub admin: Option<bool>,
}

/// `PUT /api/v1/sessions/{id}/priority` request and response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionPriority {
    /// Higher is served first; within ±`limits::PRIORITY_MAX`.
    pub priority: i64,
}

/// `POST /api/v1/agents/{id}/token` response body: the new token, shown only here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRotated {
    pub agent_id: AgentId,
    pub token: String,
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

/// `POST /api/v1/departments` and `PATCH /api/v1/departments/{id}` request body: the
/// fields present are set (`name` is required to create). Settings left out default on
/// creation (manual mode, 30 s offers, at most 3 new chats per agent per minute, keep an
/// offline agent's chats) and stay as they are on a change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepartmentChanges {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub automatic: Option<bool>,
    #[serde(default)]
    pub auto_accept: Option<bool>,
    #[serde(default)]
    pub offer_timeout_ms: Option<u64>,
    #[serde(default)]
    pub ramp_max: Option<u32>,
    #[serde(default)]
    pub ramp_window_ms: Option<u64>,
    #[serde(default)]
    pub requeue_on_offline: Option<bool>,
    /// Business hours: absent leaves them, `null` clears them (always open).
    #[serde(default, deserialize_with = "crate::hours::present", skip_serializing_if = "Option::is_none")]
    pub hours: Option<Option<crate::hours::BusinessHours>>,
}

/// A department as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DepartmentSummary {
    pub department_id: u64,
    pub name: String,
    pub automatic: bool,
    pub auto_accept: bool,
    pub offer_timeout_ms: u64,
    pub ramp_max: u32,
    pub ramp_window_ms: u64,
    /// An offline agent's active chats return to the queue (otherwise they stay with it).
    #[serde(default)]
    pub requeue_on_offline: bool,
    /// Member agents, ascending.
    pub agents: Vec<AgentId>,
    /// Business hours (`null`: always open).
    #[serde(default)]
    pub hours: Option<crate::hours::BusinessHours>,
}

/// One routing decision about a session (`GET /api/v1/sessions/{id}/routing`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingDecision {
    pub at_ms: u64,
    /// The department that made the decision (a chat transferred to a department has
    /// decisions from both).
    pub department_id: u64,
    pub agent_id: AgentId,
    /// `offered`, `accepted`, `auto_accepted`, `declined`, `expired`, `taken`, `unavailable`,
    /// `transfer_offered` (chosen to receive a chat transferred to the department).
    pub outcome: String,
    /// The agent's chats (offers pending included) and capacity at the decision.
    pub load: u32,
    pub capacity: u32,
    /// How long the agent had gone without an assignment (`null`: never assigned).
    pub idle_ms: Option<u64>,
    /// Agents passed over because they let this chat pass before.
    pub skipped: Vec<AgentId>,
    /// Eligible agents considered.
    pub candidates: usize,
}

/// Limits of department settings (inclusive).
pub const OFFER_TIMEOUT_MS_RANGE: (u64, u64) = (1_000, 600_000);
/// See [`OFFER_TIMEOUT_MS_RANGE`].
pub const RAMP_MAX_RANGE: (u32, u32) = (1, 1_000);
/// See [`OFFER_TIMEOUT_MS_RANGE`].
pub const RAMP_WINDOW_MS_RANGE: (u64, u64) = (1_000, 3_600_000);

/// Largest `POST /api/v1/contacts/import` body, in bytes: a thousand contacts (the most one
/// import holds) of a few hundred bytes each, with room for notes. Every other route keeps
/// [`HTTP_BODY_BYTES_MAX`].
pub const CONTACT_IMPORT_BODY_BYTES_MAX: u64 = 1024 * 1024;

/// `POST /api/v1/contacts` request body, and one entry of an import. Texts are trimmed; an
/// optional field that is empty, blank or `null` is absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewContact {
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
}

/// `PATCH /api/v1/contacts/{id}` request body: only the fields present change; `null`
/// clears an optional field (`name` cannot be cleared: `"name": null` is refused).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactPatch {
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub company: Option<Option<String>>,
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub notes: Option<Option<String>>,
}

/// A field that is present (even as `null`) is `Some`; an absent one takes the default,
/// `None`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// A contact as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactInfo {
    pub contact_id: u64,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub notes: Option<String>,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

/// `GET /api/v1/contacts` response body: one page, by `contact_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactPage {
    pub contacts: Vec<ContactInfo>,
    /// More contacts follow: ask again with `after_id` = the last `contact_id` here.
    pub has_more: bool,
}

/// `GET /api/v1/contacts/search` response body, by `contact_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactMatches {
    pub contacts: Vec<ContactInfo>,
}

/// `POST /api/v1/contacts/import` request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactImport {
    pub contacts: Vec<NewContact>,
}

/// `POST /api/v1/contacts/import` response body (200): the new ids, in the entries' order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactsImported {
    pub imported: usize,
    pub contact_ids: Vec<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_tells_absent_from_null() {
        let patch: ContactPatch = serde_json::from_str(r#"{"email": null, "phone": "123"}"#).unwrap();
        assert_eq!(patch.name, None);
        assert_eq!(patch.email, Some(None));
        assert_eq!(patch.phone, Some(Some("123".into())));
        assert_eq!(patch.company, None);
        let back = serde_json::to_value(&patch).unwrap();
        assert_eq!(back, serde_json::json!({"email": null, "phone": "123"}));
        assert!(serde_json::from_str::<ContactPatch>(r#"{"mail": "a@b.co"}"#).is_err());
        assert!(serde_json::from_str::<ContactPatch>(r#"{"name": null}"#).is_err());
    }
}

/// `POST /api/v1/folders` (`name` required) and `PATCH /api/v1/folders/{id}` request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FolderChanges {
    /// 1 to 64 bytes, not blank; unique ignoring ASCII case.
    #[serde(default)]
    pub name: Option<String>,
    /// The folder's new place, 0 = first (the others shift).
    #[serde(default)]
    pub position: Option<u32>,
}

/// `PUT /api/v1/channels/{id}/folder` request and response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveChannel {
    /// The folder, or `null` for none.
    pub folder_id: Option<u64>,
}
