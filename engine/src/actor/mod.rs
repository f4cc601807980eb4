//! The actors that drive the domain state machines.
//!
//! - [`session::SessionActor`]: one per loaded chat session; owns a
//!   [`crate::domain::session::Session`], its durable-write pipeline, its subscribers, and its
//!   own supervision (panic → rebuild from storage, restart budget → quarantine).
//! - [`registry::Registry`]: finds or lazily starts a session's actor on one of the arbiters.
//! - [`durable::DurableWrites`] and [`subscribers::Subscribers`]: the conversation mechanism
//!   sessions and channels share: writes submitted to the group commit whose effects are
//!   released strictly in order once durable, and the bounded list of live subscribers.

pub(crate) mod durable;
pub mod registry;
pub mod session;
pub(crate) mod subscribers;
