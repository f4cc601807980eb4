//! The actors that drive the domain state machines.
//!
//! - [`session::SessionActor`]: one per loaded chat session; owns a
//!   [`crate::domain::session::Session`], its durable-write pipeline and its subscribers.
//! - [`registry::Registry`]: finds or lazily starts a session's actor on one of the arbiters.
//! - [`durable::DurableWrites`] and [`subscribers::Subscribers`]: the conversation mechanism
//!   sessions and channels share: writes submitted to the group commit whose effects are
//!   released strictly in order once durable, and the bounded list of live subscribers.
//! - [`supervisor::Supervised`]: their shared supervision (panic → rebuild from storage once
//!   writes finish, restart budget → quarantine).
//! - [`slots::Slots`]: their shared registry of live actors (lazy start, idle stop by
//!   generation, quarantine).

pub(crate) mod durable;
pub mod registry;
pub mod session;
pub(crate) mod slots;
pub(crate) mod subscribers;
pub(crate) mod supervisor;
