//! Stored records and their encodings. Every record starts with a version field `v`;
//! decoding checks it, so a future format change is detected instead of misread.
//!
//! - [`SessionRecord`], [`AgentRecord`], [`DepartmentRecord`], [`DecisionRecord`] and
//!   [`ContactRecord`] are map-encoded (`rmp_serde::to_vec_named`): they
//!   are few and rewritten on change, so field names buy easy evolution.
//! - [`MessageRecord`] is array-encoded (`rmp_serde::to_vec`): messages are the bulk of the
//!   data, so field names would cost space. Fields are only ever appended.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The version every record in this schema carries.
pub const RECORD_VERSION: u8 = 1;

/// Lifecycle state of a stored session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoredState {
    Waiting,
    Active,
    Closed,
}

/// One chat session's metadata (`session` family).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub v: u8,
    pub id: u64,
    pub state: StoredState,
    pub visitor_name: Option<String>,
    pub visitor_email: Option<String>,
    pub page_url: Option<String>,
    /// Hex SHA-256 of the visitor's session token secret.
    pub token_sha256: String,
    pub agent_id: Option<u64>,
    pub created_at_ms: u64,
    pub accepted_at_ms: Option<u64>,
    pub closed_at_ms: Option<u64>,
    /// The department it was started in (absent in records written before departments).
    #[serde(default)]
    pub department_id: Option<u64>,
    /// Its queue priority (higher first).
    #[serde(default)]
    pub priority: i64,
    /// The contact whose email the visitor gave (absent in records written before contacts).
    #[serde(default)]
    pub contact_id: Option<u64>,
}

/// Who wrote a stored message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoredSender {
    Visitor,
    Agent,
}

/// One chat message (`session_message` family); its session and seq are in the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub v: u8,
    pub from: StoredSender,
    pub agent_id: Option<u64>,
    pub client_msg_id: String,
    pub text: String,
    pub sent_at_ms: u64,
}

/// One agent (`agent` family).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentRecord {
    pub v: u8,
    pub id: u64,
    pub display_name: String,
    pub max_concurrent_chats: u32,
    /// Hex SHA-256 of the agent token secret.
    pub token_sha256: String,
    pub created_at_ms: u64,
    /// A disabled agent cannot authenticate (absent in records from before it existed).
    #[serde(default)]
    pub disabled: bool,
    /// The email the agent signs in to the console with (absent: no console sign-in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The console password as an argon2id PHC string (absent: none set yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_phc: Option<String>,
    /// The password was set by an administrator: the agent must choose their own at the
    /// next sign-in before using the console (absent: false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub password_temporary: bool,
    /// The agent administers the server from the console (absent: false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub admin: bool,
}

/// One department (`department` family): its name, routing settings and members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DepartmentRecord {
    pub v: u8,
    pub id: u64,
    pub name: String,
    pub automatic: bool,
    pub auto_accept: bool,
    pub offer_timeout_ms: u64,
    pub ramp_max: u32,
    pub ramp_window_ms: u64,
    /// Active chats of an agent gone offline return to the queue.
    #[serde(default)]
    pub requeue_on_offline: bool,
    /// Member agents, ascending.
    pub agents: Vec<u64>,
    pub created_at_ms: u64,
    /// Business hours (absent: always open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<HoursRecord>,
}

/// A department's business hours: its IANA time zone and weekly spans as
/// `(day 0 = Monday, open minute, close minute)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoursRecord {
    pub time_zone: String,
    pub spans: Vec<(u8, u16, u16)>,
}

/// One routing decision about a session (`session_routing` family): who was chosen, how it
/// ended, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub v: u8,
    pub at_ms: u64,
    pub department_id: u64,
    pub agent_id: u64,
    /// The outcome's wire name (`offered`, `accepted`, …).
    pub outcome: String,
    /// The agent's chats (reservations included) and capacity at the decision.
    pub load: u32,
    pub capacity: u32,
    pub idle_ms: Option<u64>,
    pub skipped: Vec<u64>,
    pub candidates: u32,
}

/// One contact (`contact` family): a person the support centre knows. Its email, name words
/// and phone digits are indexed (`contact_by_*`), kept in step by [`crate::Batch::put_contact`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactRecord {
    pub v: u8,
    pub id: u64,
    pub name: String,
    /// As given (trimmed); indexed lower-cased.
    pub email: Option<String>,
    /// As given (trimmed); indexed by its digits.
    pub phone: Option<String>,
    pub company: Option<String>,
    pub notes: Option<String>,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

/// A record type with a fixed encoding.
pub trait Record: Serialize + DeserializeOwned {
    /// Whether this record is map-encoded (field names) or array-encoded.
    const NAMED: bool;
    /// The record's version field.
    fn version(&self) -> u8;

    /// Encode the record.
    fn encode(&self) -> Vec<u8> {
        // Plain data with string-keyed structs: serialization cannot fail.
        if Self::NAMED {
            rmp_serde::to_vec_named(self).expect("record serializes")
        } else {
            rmp_serde::to_vec(self).expect("record serializes")
        }
    }

    /// Decode a record, rejecting versions this code does not know.
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let record: Self = rmp_serde::from_slice(bytes).map_err(|e| e.to_string())?;
        if record.version() != RECORD_VERSION {
            return Err(format!("unsupported record version {}", record.version()));
        }
        Ok(record)
    }
}

impl Record for SessionRecord {
    const NAMED: bool = true;
    fn version(&self) -> u8 {
        self.v
    }
}

impl Record for AgentRecord {
    const NAMED: bool = true;
    fn version(&self) -> u8 {
        self.v
    }
}

impl Record for DepartmentRecord {
    const NAMED: bool = true;
    fn version(&self) -> u8 {
        self.v
    }
}

impl Record for DecisionRecord {
    const NAMED: bool = true;
    fn version(&self) -> u8 {
        self.v
    }
}

impl Record for ContactRecord {
    const NAMED: bool = true;
    fn version(&self) -> u8 {
        self.v
    }
}

impl Record for MessageRecord {
    const NAMED: bool = false;
    fn version(&self) -> u8 {
        self.v
    }
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
