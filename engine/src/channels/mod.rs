//! Team channels (docs/CHANNELS.md): Slack-like conversations among agents, each a
//! [`crate::domain::channel::Channel`] driven by its own actor over the conversation
//! mechanism chat sessions share ([`crate::actor::durable`], [`crate::domain::log`]).
//!
//! - [`directory`]: every channel's summary (name, visibility, members) for listing and
//!   name uniqueness, loaded at start; the channel actors keep it current.
//! - [`actor`]: one actor per loaded channel: the only writer of its records; posts are
//!   acknowledged once durable and fanned out to every connected member.
//! - [`registry`]: finds or lazily starts a channel's actor.
//! - [`facade`]: the `Engine` methods for channels.
//! - [`folders`]: channel folders (administrators' API) and moving channels between them.
//! - [`convert`]: records ↔ domain types.

pub(crate) mod actor;
pub(crate) mod convert;
pub mod directory;
pub mod facade;
pub mod folders;
pub(crate) mod registry;

pub use directory::ChannelSummary;
pub use facade::{ChannelAnswer, ChannelView, History, HistoryPage};
