//! The actors that drive the domain state machines.
//!
//! - [`session::SessionActor`]: one per loaded chat session; owns a
//!   [`crate::domain::session::Session`], its durable-write pipeline, its subscribers, and its
//!   own supervision (panic → rebuild from storage, restart budget → quarantine).
//! - [`registry::Registry`]: finds or lazily starts a session's actor on one of the arbiters.

pub mod registry;
pub mod session;
