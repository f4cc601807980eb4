//! The Switchboard engine: live-chat sessions as supervised actors over plain state machines,
//! the chat queue, agents and their credentials. It persists through `switchboard-storage`
//! and knows nothing of sockets or wire formats: the gateway converts wire frames to the
//! calls of [`Engine`] and the [`Event`]s it delivers back to frames.
//!
//! # Layout
//! - [`domain`]: the rules, without I/O: [`domain::session::Session`],
//!   [`domain::queue::QueueView`], [`domain::pipeline::Pipeline`],
//!   [`domain::restart::RestartBudget`].
//! - [`actor`]: the session actor that drives a `Session` (mailbox, durable writes,
//!   delivery, supervision) and the registry that places actors on arbiters.
//! - [`engine`]: [`Engine`], the facade the gateway calls; [`operations`] adds what
//!   operators ask of it (storage probe and statistics, checkpoints).
//! - [`answer`]: what actors answer ([`Answer`]) and how: straight into the asking
//!   connection's queue ([`ReplyTo`]), exactly once.
//! - [`hub`]: shared state: the queue view, online agents, agent directory.
//! - [`outbox`]: each connection's bounded queue ([`Outbox`]/[`Inbox`]) of [`Event`]s and
//!   answers ([`Outgoing`]).
//! - [`routing`]: fair assignment: departments and their queue actors (docs/ROUTING.md).
//! - [`contacts`]: contacts (create, change, list, search, bulk import) and the link of a
//!   visitor's chat to the contact whose email it gave.
//! - [`tickets`]: tickets made from chat sessions (idempotent, transcript as description),
//!   listed and read, and the helpdesk webhook's durable outbox ([`tickets::deliveries`]).
//! - [`offline`]: whether a department takes chats now (business hours, agents online) and
//!   the message a visitor leaves instead, made a ticket.
//! - [`agents`]: agent administration beyond creation (capacity, disable, token rotation,
//!   live state).
//! - [`console`]: the agent console's sign-in: email and argon2id password, console
//!   sessions (cookie secrets stored hashed), sign-out closing their connections.
//! - [`ownership`]: cluster mode's view of which shards this node may write, and the
//!   fencing token each write carries (docs/CLUSTER.md); on one machine, everything.
//! - [`replica`]: cluster mode: other nodes' writes reflected in what the engine holds in
//!   memory (agents, id counters).
//! - [`auth`]: token generation and checking.
//! - [`convert`]: domain ⇄ storage record conversion.
//!
//! # Threads
//! Session actors live on `EngineConfig::arbiters` actix arbiters (one per core by default),
//! the shards; the gateway runs its connections on the same threads
//! ([`Engine::spawn_on_shard`]).
//! Durable writes go to storage's single writer thread; actors never block on an fsync.

pub mod actor;
pub mod agents;
pub mod answer;
pub mod auth;
pub mod channels;
pub mod commands;
pub mod config;
pub mod console;
pub mod contacts;
pub mod convert;
pub mod domain;
pub mod engine;
pub mod error;
pub mod hub;
pub(crate) mod ids;
pub mod offline;
pub mod operations;
pub mod outbox;
pub mod ownership;
pub mod ratings;
pub mod replica;
pub mod routing;
pub mod tickets;

pub use agents::AgentState;
pub use answer::{Answer, Attached, Posted, ReplyTo};
pub use config::EngineConfig;
pub use domain::types::*;
pub use engine::{Engine, QueueListing, StartedChat};
pub use error::EngineError;
pub use hub::AgentProfile;
pub use outbox::{Broadcast, ConnId, Delivery, Event, Inbox, Outbox, Outgoing, Overflow};
pub use routing::TransferTo;
pub use switchboard_storage::{StorageError, StorageStats};

/// Milliseconds since the Unix epoch: the one place the engine reads the clock. The domain
/// state machines receive this value as an argument.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
