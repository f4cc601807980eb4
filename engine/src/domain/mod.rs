//! The chat rules as plain state machines: no I/O, no clock reads, no runtime. Time comes in
//! as `now_ms` arguments; what must happen comes out as returned values. The actors in
//! [`crate::actor`] drive these and carry out the effects.
//!
//! - [`log::Log`]: the ordered, durable conversation log sessions and channels share
//!   (gapless seqs, idempotency by client message id, the replay tail).
//! - [`session::Session`]: one chat session's lifecycle and who may post, over a `Log`.
//! - [`channel::Channel`]: one team channel's members, roles, posting, edits and deletions,
//!   archiving, read positions and mentions, over a `Log`.
//! - [`pipeline::Pipeline`]: completes concurrent durable writes strictly in order.
//! - [`queue::QueueView`]: the chat queue (waiting, active, recently closed), agent loads
//!   and read markers.
//! - [`routing::Router`]: fair assignment in one department: queue order, offers and their
//!   timeouts, load-based choice, burst control, places in line, decisions with reasons.
//! - [`contact`]: a contact's fields, their rules and how a change applies.
//! - [`ticket`]: a ticket, its transcript (bounded), default subject and the webhook's
//!   retry schedule.
//! - [`hours::Hours`]: a department's business hours in its time zone: open now, opening next.
//! - [`restart::RestartBudget`]: how many actor restarts a window allows before escalating.

pub mod channel;
pub mod contact;
pub mod hours;
pub mod log;
pub mod pipeline;
pub mod queue;
pub mod restart;
pub mod routing;
pub mod session;
pub mod ticket;
pub mod types;

pub use types::*;
